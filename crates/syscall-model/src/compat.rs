//! Syscalls made with `int $0x80` from 64-bit code. The kernel runs them
//! from its i386 table, with i386 numbers and the arguments in ebx, ecx,
//! edx, esi, edi and ebp, 32 bits each. The calls below do in the i386 ABI
//! what an x86_64 call does, and write no more memory than it would: the
//! trace shows each as its x86_64 equivalent, so that recording, replay
//! and dump read it from the one model. Where an i386 struct is smaller
//! (a 32-bit `timespec`), the x86_64 range covers it, which the model's
//! rule allows.

use syscalls::Sysno;

/// Numbers at and above this are no syscall in either table: the kernel
/// answers ENOSYS, as it does to the same number made with `syscall`.
const BEYOND_BOTH_TABLES: u64 = 1024;

/// The x86_64 syscall that does what i386 syscall `i386_nr` does, if it is
/// one the model can take as its equivalent. `None` for the rest (the
/// calls that make processes or map memory, the 16-bit id calls, the calls
/// whose i386 struct is larger than the x86_64 one ...).
pub fn native_equivalent(i386_nr: u64) -> Option<u64> {
    if i386_nr >= BEYOND_BOTH_TABLES {
        return Some(i386_nr);
    }
    let native = match i386_nr {
        1 => Sysno::exit,
        3 => Sysno::read,
        4 => Sysno::write,
        5 => Sysno::open,
        6 => Sysno::close,
        10 => Sysno::unlink,
        12 => Sysno::chdir,
        13 => Sysno::time,
        15 => Sysno::chmod,
        19 => Sysno::lseek,
        20 => Sysno::getpid,
        27 => Sysno::alarm,
        29 => Sysno::pause,
        33 => Sysno::access,
        37 => Sysno::kill,
        38 => Sysno::rename,
        39 => Sysno::mkdir,
        40 => Sysno::rmdir,
        41 => Sysno::dup,
        42 => Sysno::pipe,
        60 => Sysno::umask,
        63 => Sysno::dup2,
        64 => Sysno::getppid,
        65 => Sysno::getpgrp,
        66 => Sysno::setsid,
        78 => Sysno::gettimeofday,
        83 => Sysno::symlink,
        85 => Sysno::readlink,
        122 => Sysno::uname,
        158 => Sysno::sched_yield,
        162 => Sysno::nanosleep,
        183 => Sysno::getcwd,
        199 => Sysno::getuid,
        200 => Sysno::getgid,
        201 => Sysno::geteuid,
        202 => Sysno::getegid,
        224 => Sysno::gettid,
        243 => Sysno::set_thread_area,
        244 => Sysno::get_thread_area,
        252 => Sysno::exit_group,
        265 => Sysno::clock_gettime,
        266 => Sysno::clock_getres,
        270 => Sysno::tgkill,
        355 => Sysno::getrandom,
        _ => return None,
    };
    Some(native.id() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalents_are_known_to_the_model_and_numbers_beyond_both_tables_stay() {
        for i386_nr in 0..BEYOND_BOTH_TABLES {
            if let Some(native) = native_equivalent(i386_nr) {
                assert!(
                    crate::syscall(native).is_some(),
                    "i386 {i386_nr} -> {native}"
                );
            }
        }
        assert_eq!(native_equivalent(100_000), Some(100_000));
        assert_eq!(native_equivalent(20), Some(libc::SYS_getpid as u64));
        // execve, fork, clone and mmap2 change what the recorder tracks.
        for process_or_mapping in [2, 11, 120, 190, 192] {
            assert_eq!(native_equivalent(process_or_mapping), None);
        }
    }
}
