//! Replay policy: which calls replay runs in the kernel, and the kernel's
//! restart codes.
//!
//! A row marked `executed()` runs for real during replay: it shapes the
//! address space, registers, TLS or signal state, which replay must
//! recreate rather than describe. The functions here decide it for the
//! calls where only some arguments do that.

use crate::row::Args;
use crate::ReplayPolicy;
use libc as l;

/// Decides per call whether replay runs the syscall for real. Unknown
/// numbers are emulated (the recorder has refused them already).
pub fn replay_policy(nr: u64, args: &Args) -> ReplayPolicy {
    match crate::syscall(nr) {
        Some(row) if row.is_executed(args) => ReplayPolicy::Execute,
        _ => ReplayPolicy::Emulate,
    }
}

/// `personality` changes the persona, which affects later mmap and execve,
/// unless it is 0xffffffff, which only asks.
pub(crate) fn personality(args: &Args) -> bool {
    args[0] as u32 != 0xffff_ffff
}

/// `prctl(PR_SET_MDWE)` changes what later mprotect calls may do;
/// `PR_SET_MM` with a new heap start or end, where brk works.
pub(crate) fn prctl(args: &Args) -> bool {
    const PR_SET_MM: u32 = 35;
    const PR_SET_MM_START_BRK: u64 = 6;
    const PR_SET_MM_BRK: u64 = 7;
    const PR_SET_MM_MAP: u64 = 14;
    const PR_SET_MDWE: u32 = 65;
    let moves_the_heap = args[0] as u32 == PR_SET_MM
        && matches!(args[1], PR_SET_MM_START_BRK | PR_SET_MM_BRK | PR_SET_MM_MAP);
    args[0] as u32 == PR_SET_MDWE || moves_the_heap
}

/// `arch_prctl` shapes the thread (its FS and GS bases, XSAVE permissions,
/// shadow stack), except the CPUID codes: the recorder answers those
/// itself while it keeps CPUID faulting (and replay keeps it the same way).
pub(crate) fn arch_prctl(args: &Args) -> bool {
    const ARCH_GET_CPUID: u64 = 0x1011;
    const ARCH_SET_CPUID: u64 = 0x1012;
    !matches!(args[0], ARCH_GET_CPUID | ARCH_SET_CPUID)
}

/// A new stack limit decides where the stack stops growing (and a recursion
/// overflows); replay sets it on its own process.
pub(crate) fn setrlimit(args: &Args) -> bool {
    args[0] as u32 == l::RLIMIT_STACK
}

/// [`setrlimit`], through `prlimit64` with a new limit.
pub(crate) fn prlimit64(args: &Args) -> bool {
    args[1] as u32 == l::RLIMIT_STACK && args[2] != 0
}

/// Syscalls that the kernel may continue through `restart_syscall` after a
/// signal interrupted them (they return -ERESTART_RESTARTBLOCK, -516, at the
/// exit stop). The restarted call keeps the original argument registers, so
/// the recorder should model a `restart_syscall` with the number and
/// arguments of the interrupted syscall: `outputs(restart_syscall, ..)`
/// itself is `Unsupported`.
pub fn uses_restart_block(nr: u64) -> bool {
    crate::syscall(nr).is_some_and(|row| row.restarts_through_block)
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
