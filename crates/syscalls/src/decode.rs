//! Argument kinds for an strace-like view (scaffolding: covers the common
//! syscalls; others answer an empty slice, meaning "print raw hex").

use crate::table::nr as x;
use libc as l;

/// How to print one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A file descriptor.
    Fd,
    /// A directory fd for *at() calls (AT_FDCWD = -100).
    DirFd,
    /// A NUL-terminated path in tracee memory.
    Path,
    /// A NUL-terminated string in tracee memory.
    Str,
    /// A data buffer whose length is the argument at this index.
    Buf(usize),
    /// Signed int.
    Int,
    /// Unsigned int.
    UInt,
    /// A size or count (size_t).
    Size,
    /// A file offset.
    Offset,
    /// Hexadecimal.
    Hex,
    /// A pointer (printed as an address).
    Ptr,
    /// open(2) flags (O_RDONLY|O_CLOEXEC...).
    OpenFlags,
    /// AT_* flags.
    AtFlags,
    /// A file mode (octal).
    Mode,
    /// PROT_* bits.
    MmapProt,
    /// MAP_* flags.
    MmapFlags,
    /// A signal number.
    Signal,
    /// A process or thread id.
    Pid,
    /// lseek whence.
    Whence,
    /// An ioctl request.
    IoctlRequest,
    /// An fcntl command.
    FcntlCmd,
    /// A futex operation.
    FutexOp,
    /// CLONE_* flags.
    CloneFlags,
    /// A clock id.
    ClockId,
    /// A prctl option.
    PrctlOption,
}

use ArgKind::*;

/// Argument kinds of syscall `nr`, one per argument it takes; empty when
/// not described (print raw values then).
pub fn arg_kinds(nr: u64) -> &'static [ArgKind] {
    let Ok(n) = i64::try_from(nr) else {
        return &[];
    };
    match n {
        l::SYS_read | l::SYS_write => &[Fd, Buf(2), Size],
        l::SYS_pread64 | l::SYS_pwrite64 => &[Fd, Buf(2), Size, Offset],
        l::SYS_readv | l::SYS_writev => &[Fd, Ptr, Int],
        l::SYS_preadv | l::SYS_pwritev => &[Fd, Ptr, Int, Offset],
        l::SYS_preadv2 | l::SYS_pwritev2 => &[Fd, Ptr, Int, Offset, Hex],
        l::SYS_open => &[Path, OpenFlags, Mode],
        l::SYS_openat => &[DirFd, Path, OpenFlags, Mode],
        l::SYS_openat2 => &[DirFd, Path, Ptr, Size],
        l::SYS_creat => &[Path, Mode],
        l::SYS_close => &[Fd],
        l::SYS_close_range => &[UInt, UInt, Hex],
        l::SYS_stat | l::SYS_lstat => &[Path, Ptr],
        l::SYS_fstat => &[Fd, Ptr],
        l::SYS_newfstatat => &[DirFd, Path, Ptr, AtFlags],
        l::SYS_statx => &[DirFd, Path, AtFlags, Hex, Ptr],
        l::SYS_statfs => &[Path, Ptr],
        l::SYS_fstatfs => &[Fd, Ptr],
        l::SYS_lseek => &[Fd, Offset, Whence],
        l::SYS_mmap => &[Ptr, Size, MmapProt, MmapFlags, Fd, Offset],
        l::SYS_mprotect => &[Ptr, Size, MmapProt],
        l::SYS_pkey_mprotect => &[Ptr, Size, MmapProt, Int],
        l::SYS_munmap => &[Ptr, Size],
        l::SYS_mremap => &[Ptr, Size, Size, Hex, Ptr],
        l::SYS_madvise => &[Ptr, Size, Int],
        l::SYS_msync => &[Ptr, Size, Hex],
        l::SYS_mincore => &[Ptr, Size, Ptr],
        l::SYS_brk => &[Ptr],
        l::SYS_rt_sigaction => &[Signal, Ptr, Ptr, Size],
        l::SYS_rt_sigprocmask => &[Int, Ptr, Ptr, Size],
        l::SYS_rt_sigreturn => &[],
        l::SYS_ioctl => &[Fd, IoctlRequest, Hex],
        l::SYS_access => &[Path, Mode],
        l::SYS_faccessat => &[DirFd, Path, Mode],
        l::SYS_faccessat2 => &[DirFd, Path, Mode, AtFlags],
        l::SYS_pipe => &[Ptr],
        l::SYS_pipe2 => &[Ptr, OpenFlags],
        l::SYS_select => &[Int, Ptr, Ptr, Ptr, Ptr],
        l::SYS_pselect6 => &[Int, Ptr, Ptr, Ptr, Ptr, Ptr],
        l::SYS_poll => &[Ptr, UInt, Int],
        l::SYS_ppoll => &[Ptr, UInt, Ptr, Ptr, Size],
        l::SYS_dup => &[Fd],
        l::SYS_dup2 => &[Fd, Fd],
        l::SYS_dup3 => &[Fd, Fd, OpenFlags],
        l::SYS_nanosleep => &[Ptr, Ptr],
        l::SYS_clock_nanosleep => &[ClockId, Hex, Ptr, Ptr],
        l::SYS_clock_gettime | l::SYS_clock_getres => &[ClockId, Ptr],
        l::SYS_gettimeofday => &[Ptr, Ptr],
        l::SYS_getpid
        | l::SYS_getppid
        | l::SYS_gettid
        | l::SYS_getuid
        | l::SYS_geteuid
        | l::SYS_getgid
        | l::SYS_getegid
        | l::SYS_getpgrp
        | l::SYS_setsid
        | l::SYS_fork
        | l::SYS_vfork
        | l::SYS_pause
        | l::SYS_sched_yield
        | l::SYS_sync => &[],
        l::SYS_sendfile => &[Fd, Fd, Ptr, Size],
        l::SYS_socket => &[Int, Hex, Int],
        l::SYS_connect | l::SYS_bind => &[Fd, Ptr, UInt],
        l::SYS_accept | l::SYS_getsockname | l::SYS_getpeername => &[Fd, Ptr, Ptr],
        l::SYS_accept4 => &[Fd, Ptr, Ptr, Hex],
        l::SYS_sendto => &[Fd, Buf(2), Size, Hex, Ptr, UInt],
        l::SYS_recvfrom => &[Fd, Ptr, Size, Hex, Ptr, Ptr],
        l::SYS_sendmsg | l::SYS_recvmsg => &[Fd, Ptr, Hex],
        l::SYS_sendmmsg => &[Fd, Ptr, UInt, Hex],
        l::SYS_recvmmsg => &[Fd, Ptr, UInt, Hex, Ptr],
        l::SYS_shutdown => &[Fd, Int],
        l::SYS_listen => &[Fd, Int],
        l::SYS_socketpair => &[Int, Hex, Int, Ptr],
        l::SYS_setsockopt => &[Fd, Int, Int, Ptr, UInt],
        l::SYS_getsockopt => &[Fd, Int, Int, Ptr, Ptr],
        l::SYS_clone => &[CloneFlags, Ptr, Ptr, Ptr, Hex],
        l::SYS_clone3 => &[Ptr, Size],
        l::SYS_execve => &[Path, Ptr, Ptr],
        l::SYS_execveat => &[DirFd, Path, Ptr, Ptr, AtFlags],
        l::SYS_exit | l::SYS_exit_group => &[Int],
        l::SYS_wait4 => &[Pid, Ptr, Hex, Ptr],
        l::SYS_waitid => &[Int, Pid, Ptr, Hex, Ptr],
        l::SYS_kill => &[Pid, Signal],
        l::SYS_tkill => &[Pid, Signal],
        l::SYS_tgkill => &[Pid, Pid, Signal],
        l::SYS_uname => &[Ptr],
        l::SYS_fcntl => &[Fd, FcntlCmd, Hex],
        l::SYS_flock => &[Fd, Hex],
        l::SYS_fsync | l::SYS_fdatasync | l::SYS_fchdir | l::SYS_syncfs => &[Fd],
        l::SYS_truncate => &[Path, Offset],
        l::SYS_ftruncate => &[Fd, Offset],
        l::SYS_getdents | l::SYS_getdents64 => &[Fd, Ptr, Size],
        l::SYS_getcwd => &[Ptr, Size],
        l::SYS_chdir | l::SYS_rmdir | l::SYS_unlink | l::SYS_chroot => &[Path],
        l::SYS_rename | l::SYS_link | l::SYS_symlink => &[Path, Path],
        l::SYS_renameat => &[DirFd, Path, DirFd, Path],
        l::SYS_renameat2 => &[DirFd, Path, DirFd, Path, Hex],
        l::SYS_linkat => &[DirFd, Path, DirFd, Path, AtFlags],
        l::SYS_symlinkat => &[Path, DirFd, Path],
        l::SYS_mkdir => &[Path, Mode],
        l::SYS_mkdirat => &[DirFd, Path, Mode],
        l::SYS_unlinkat => &[DirFd, Path, AtFlags],
        l::SYS_readlink => &[Path, Ptr, Size],
        l::SYS_readlinkat => &[DirFd, Path, Ptr, Size],
        l::SYS_chmod => &[Path, Mode],
        l::SYS_fchmod => &[Fd, Mode],
        l::SYS_fchmodat => &[DirFd, Path, Mode],
        l::SYS_fchmodat2 => &[DirFd, Path, Mode, AtFlags],
        l::SYS_chown | l::SYS_lchown => &[Path, Int, Int],
        l::SYS_fchown => &[Fd, Int, Int],
        l::SYS_fchownat => &[DirFd, Path, Int, Int, AtFlags],
        l::SYS_umask => &[Mode],
        l::SYS_utimensat => &[DirFd, Path, Ptr, AtFlags],
        l::SYS_getrlimit | l::SYS_setrlimit => &[Int, Ptr],
        l::SYS_prlimit64 => &[Pid, Int, Ptr, Ptr],
        l::SYS_getrusage => &[Int, Ptr],
        l::SYS_sysinfo | l::SYS_times | l::SYS_time => &[Ptr],
        l::SYS_getgroups | l::SYS_setgroups => &[Int, Ptr],
        l::SYS_setuid | l::SYS_setgid => &[Int],
        l::SYS_getresuid | l::SYS_getresgid => &[Ptr, Ptr, Ptr],
        l::SYS_setpgid => &[Pid, Pid],
        l::SYS_getpgid | l::SYS_getsid => &[Pid],
        l::SYS_sigaltstack => &[Ptr, Ptr],
        l::SYS_rt_sigsuspend => &[Ptr, Size],
        l::SYS_rt_sigpending => &[Ptr, Size],
        l::SYS_rt_sigtimedwait => &[Ptr, Ptr, Ptr, Size],
        l::SYS_prctl => &[PrctlOption, Hex, Hex, Hex, Hex],
        l::SYS_arch_prctl => &[Hex, Hex],
        l::SYS_futex => &[Ptr, FutexOp, Int, Ptr, Ptr, Int],
        l::SYS_set_tid_address => &[Ptr],
        l::SYS_set_robust_list => &[Ptr, Size],
        l::SYS_get_robust_list => &[Pid, Ptr, Ptr],
        l::SYS_sched_getaffinity | l::SYS_sched_setaffinity => &[Pid, Size, Ptr],
        l::SYS_epoll_create => &[Int],
        l::SYS_epoll_create1 => &[OpenFlags],
        l::SYS_epoll_ctl => &[Fd, Int, Fd, Ptr],
        l::SYS_epoll_wait => &[Fd, Ptr, Int, Int],
        l::SYS_epoll_pwait => &[Fd, Ptr, Int, Int, Ptr, Size],
        l::SYS_epoll_pwait2 => &[Fd, Ptr, Int, Ptr, Ptr, Size],
        l::SYS_eventfd2 => &[UInt, OpenFlags],
        l::SYS_timerfd_create => &[ClockId, OpenFlags],
        l::SYS_signalfd4 => &[Fd, Ptr, Size, OpenFlags],
        l::SYS_inotify_init1 => &[OpenFlags],
        l::SYS_inotify_add_watch => &[Fd, Path, Hex],
        l::SYS_memfd_create => &[Str, Hex],
        l::SYS_getrandom => &[Ptr, Size, Hex],
        l::SYS_getxattr | l::SYS_lgetxattr => &[Path, Str, Ptr, Size],
        l::SYS_fgetxattr => &[Fd, Str, Ptr, Size],
        l::SYS_listxattr | l::SYS_llistxattr => &[Path, Ptr, Size],
        l::SYS_flistxattr => &[Fd, Ptr, Size],
        l::SYS_fadvise64 => &[Fd, Offset, Size, Int],
        l::SYS_fallocate => &[Fd, Hex, Offset, Offset],
        l::SYS_copy_file_range => &[Fd, Ptr, Fd, Ptr, Size, Hex],
        l::SYS_splice => &[Fd, Ptr, Fd, Ptr, Size, Hex],
        l::SYS_rseq => &[Ptr, UInt, Hex, Hex],
        l::SYS_getcpu => &[Ptr, Ptr, Ptr],
        l::SYS_alarm => &[UInt],
        l::SYS_setitimer => &[Int, Ptr, Ptr],
        l::SYS_getitimer => &[Int, Ptr],
        l::SYS_pidfd_open => &[Pid, Hex],
        l::SYS_shmget => &[Hex, Size, Hex],
        l::SYS_shmat => &[Int, Ptr, Hex],
        l::SYS_shmdt => &[Ptr],
        x::SYS_map_shadow_stack => &[Ptr, Size, Hex],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            arg_kinds(libc::SYS_openat as u64),
            &[DirFd, Path, OpenFlags, Mode]
        );
        assert_eq!(arg_kinds(libc::SYS_write as u64)[1], Buf(2));
        assert!(arg_kinds(9999).is_empty());
        // No table entry describes more than 6 arguments, and Buf points at
        // an argument that exists.
        for nr in crate::known_syscalls() {
            let k = arg_kinds(nr);
            assert!(k.len() <= 6);
            for kind in k {
                if let Buf(i) = kind {
                    assert!(*i < k.len(), "{nr}");
                }
            }
        }
    }
}
