//! Replay policy (which syscalls replay runs for real) and blocking hints.

use crate::table::nr as x;
use crate::ReplayPolicy;
use libc as l;

/// Decides per call whether replay runs the syscall for real.
///
/// `Execute`: syscalls that shape the address space, registers/TLS or signal
/// state — mmap, munmap, mremap, mprotect, pkey_mprotect, brk, madvise (every
/// advice), arch_prctl, set_tid_address, set_robust_list, clone, clone3,
/// fork, vfork, execve, execveat, exit, exit_group, rt_sigaction,
/// rt_sigprocmask, sigaltstack, rt_sigreturn, shmat, shmdt, mlock, mlock2,
/// munlock, mlockall, munlockall, msync; also, for the same reasons,
/// remap_file_pages, mseal, map_shadow_stack (address space), pkey_alloc /
/// pkey_free (PKRU register), set_thread_area / modify_ldt (segments),
/// personality when it changes the persona (it affects later mmap/execve),
/// prctl(PR_SET_MDWE) (it changes what later mprotect calls may do), and
/// setrlimit/prlimit64 setting RLIMIT_STACK (where a stack overflows).
/// Everything else is `Emulate`.
pub fn replay_policy(nr: u64, args: &[u64; 6]) -> ReplayPolicy {
    let Ok(n) = i64::try_from(nr) else {
        return ReplayPolicy::Emulate;
    };
    let execute = match n {
        l::SYS_mmap
        | l::SYS_munmap
        | l::SYS_mremap
        | l::SYS_mprotect
        | l::SYS_pkey_mprotect
        | l::SYS_brk
        | l::SYS_madvise
        | l::SYS_arch_prctl
        | l::SYS_set_tid_address
        | l::SYS_set_robust_list
        | l::SYS_clone
        | l::SYS_clone3
        | l::SYS_fork
        | l::SYS_vfork
        | l::SYS_execve
        | l::SYS_execveat
        | l::SYS_exit
        | l::SYS_exit_group
        | l::SYS_rt_sigaction
        | l::SYS_rt_sigprocmask
        | l::SYS_sigaltstack
        | l::SYS_rt_sigreturn
        | l::SYS_shmat
        | l::SYS_shmdt
        | l::SYS_mlock
        | l::SYS_mlock2
        | l::SYS_munlock
        | l::SYS_mlockall
        | l::SYS_munlockall
        | l::SYS_msync => true,
        l::SYS_remap_file_pages
        | l::SYS_mseal
        | x::SYS_map_shadow_stack
        | l::SYS_pkey_alloc
        | l::SYS_pkey_free
        | l::SYS_set_thread_area
        | l::SYS_modify_ldt => true,
        // 0xffffffff only queries the current persona.
        l::SYS_personality => args[0] as u32 != 0xffff_ffff,
        // PR_SET_MDWE.
        l::SYS_prctl => args[0] as u32 == 65,
        // A new stack limit decides where the stack stops growing (and a
        // recursion overflows); replay runs it on its own process.
        l::SYS_setrlimit => args[0] as u32 == l::RLIMIT_STACK,
        l::SYS_prlimit64 => args[1] as u32 == l::RLIMIT_STACK && args[2] != 0,
        _ => false,
    };
    if execute {
        ReplayPolicy::Execute
    } else {
        ReplayPolicy::Emulate
    }
}

/// True if the syscall may block for an unbounded time (waiting on another
/// thread, process, the network, a terminal, a timer or a signal). The
/// scheduler uses it. Conservative: when the arguments cannot tell (fd type,
/// a timeout behind a pointer), the answer is true.
pub fn may_block(nr: u64, args: &[u64; 6]) -> bool {
    const WNOHANG: u64 = 1;
    const MSG_DONTWAIT: u64 = 0x40;
    const IPC_NOWAIT: u64 = 0o4000;
    const LOCK_NB: u64 = 4;
    const CLONE_VFORK: u64 = 0x4000;
    let Ok(n) = i64::try_from(nr) else {
        return false;
    };
    match n {
        // Reads/writes on fds that may be pipes, sockets, terminals, FIFOs.
        l::SYS_read
        | l::SYS_readv
        | l::SYS_write
        | l::SYS_writev
        | l::SYS_sendfile
        | l::SYS_splice
        | l::SYS_tee
        | l::SYS_vmsplice => true,
        // Opening a FIFO waits for the other end.
        l::SYS_open | l::SYS_openat | l::SYS_openat2 | l::SYS_creat => true,
        // Waiting for children / signals / time.
        l::SYS_wait4 => args[2] & WNOHANG == 0,
        l::SYS_waitid => args[3] & WNOHANG == 0,
        l::SYS_pause
        | l::SYS_rt_sigsuspend
        | l::SYS_rt_sigtimedwait
        | l::SYS_nanosleep
        | l::SYS_clock_nanosleep
        | l::SYS_restart_syscall => true,
        // The parent of a vfork waits until the child execs or exits.
        l::SYS_vfork => true,
        l::SYS_clone => args[0] & CLONE_VFORK != 0,
        l::SYS_clone3 => true,
        // Polling: a zero timeout returns at once.
        l::SYS_poll => args[2] as i32 != 0,
        l::SYS_epoll_wait | l::SYS_epoll_pwait => args[3] as i32 != 0,
        l::SYS_ppoll | l::SYS_select | l::SYS_pselect6 | l::SYS_epoll_pwait2 => true,
        // Futexes: the waiting operations.
        l::SYS_futex => matches!(args[1] as u32 & !(128 | 256), 0 | 6 | 9 | 11 | 13),
        l::SYS_futex_waitv | x::SYS_futex_wait => true,
        // Sockets.
        l::SYS_accept | l::SYS_accept4 | l::SYS_connect => true,
        l::SYS_recvfrom | l::SYS_recvmsg | l::SYS_recvmmsg => args[3] & MSG_DONTWAIT == 0,
        l::SYS_sendto | l::SYS_sendmsg | l::SYS_sendmmsg => args[3] & MSG_DONTWAIT == 0,
        // SysV IPC and message queues.
        l::SYS_msgrcv => args[4] & IPC_NOWAIT == 0,
        l::SYS_msgsnd => args[3] & IPC_NOWAIT == 0,
        l::SYS_semop | l::SYS_semtimedop | l::SYS_mq_timedreceive | l::SYS_mq_timedsend => true,
        // Locks.
        l::SYS_flock => args[1] & LOCK_NB == 0,
        // F_SETLKW, F_OFD_SETLKW.
        l::SYS_fcntl => matches!(args[1] as u32, 7 | 38),
        l::SYS_io_getevents | x::SYS_io_pgetevents => true,
        // SYSLOG_ACTION_READ waits for kernel messages.
        l::SYS_syslog => args[0] as u32 == 2,
        l::SYS_ioctl => crate::ioctl::request_may_block(args[1]),
        _ => false,
    }
}

/// Syscalls that the kernel may continue through `restart_syscall` after a
/// signal interrupted them (they return -ERESTART_RESTARTBLOCK, -516, at the
/// exit stop). The restarted call keeps the original argument registers, so
/// the recorder should model a `restart_syscall` with the number and
/// arguments of the interrupted syscall: `outputs(restart_syscall, ..)`
/// itself is `Unsupported`.
pub fn uses_restart_block(nr: u64) -> bool {
    let Ok(n) = i64::try_from(nr) else {
        return false;
    };
    matches!(
        n,
        l::SYS_nanosleep | l::SYS_clock_nanosleep | l::SYS_poll | l::SYS_futex | x::SYS_futex_wait
    )
}

/// The kernel's internal restart codes, as a syscall-exit stop shows them
/// (never returned to the program): on its way out the kernel makes the
/// call again, moving rip back over the `syscall`, unless a signal handler
/// decides otherwise.
pub const ERESTARTSYS: i64 = -512;
pub const ERESTARTNOINTR: i64 = -513;
pub const ERESTARTNOHAND: i64 = -514;
pub const ERESTART_RESTARTBLOCK: i64 = -516;

pub fn is_restart_code(result: i64) -> bool {
    matches!(
        result,
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
    )
}
