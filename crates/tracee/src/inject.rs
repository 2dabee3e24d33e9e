//! Running a syscall inside a stopped tracee.
//!
//! The tracee must be in a stop where it is not inside a syscall (a syscall
//! exit stop, a signal stop or an event stop). Its registers are saved, it is
//! pointed at a `syscall` instruction with the wanted number and arguments,
//! run to the syscall's exit stop, and put back exactly as it was.

use crate::memory::ProcessMemory;
use crate::ptrace::{self, Resume, Stop, WaitResult};
use crate::{regs, Pid, TraceeError};

const SYSCALL_INSN: [u8; 2] = [0x0f, 0x05];

/// Where to find a `syscall` instruction in the tracee.
#[derive(Debug, Clone, Copy)]
pub enum SyscallSite {
    /// A known `syscall` instruction (a scratch page, or the instruction the
    /// tracee itself just executed).
    At(u64),
    /// Write one over the current rip for the duration, then restore it.
    PatchRip,
}

pub fn syscall(
    pid: Pid,
    mem: &ProcessMemory,
    site: SyscallSite,
    nr: i64,
    args: [u64; 6],
) -> Result<i64, TraceeError> {
    syscall_keeping_signals(pid, mem, site, nr, args, None)
}

/// [`syscall`], with the asynchronous signals that arrive meanwhile added
/// to `arrived` (as their siginfo) instead of dropped, where given: a
/// recorder must deliver them later.
pub fn syscall_keeping_signals(
    pid: Pid,
    mem: &ProcessMemory,
    site: SyscallSite,
    nr: i64,
    args: [u64; 6],
    mut arrived: Option<&mut Vec<[u8; ptrace::SIGINFO_SIZE]>>,
) -> Result<i64, TraceeError> {
    let saved = regs::get(pid)?;
    let (addr, patched) = match site {
        SyscallSite::At(addr) => (addr, None),
        SyscallSite::PatchRip => {
            let original = mem.read(saved.rip, SYSCALL_INSN.len())?;
            mem.write(saved.rip, &SYSCALL_INSN)?;
            (saved.rip, Some(original))
        }
    };
    let mut call = saved;
    call.rip = addr;
    call.rax = nr as u64;
    // -1 keeps the kernel's syscall-restart logic away from the saved state.
    call.orig_rax = u64::MAX;
    regs::set_syscall_args(&mut call, &args);
    regs::set(pid, &call)?;
    let what = format!("syscall {nr}");
    run_to_syscall_stop(pid, &what, arrived.as_deref_mut())?;
    run_to_syscall_stop(pid, &what, arrived)?;
    let result = regs::get(pid)?.rax as i64;
    tracing::debug!(pid, nr, ?args, result, "injected syscall");
    if let Some(original) = patched {
        mem.write(addr, &original)?;
    }
    regs::set(pid, &saved)?;
    Ok(result)
}

/// Resumes to the next syscall stop, dropping asynchronous signals that the
/// real kernel sends meanwhile (replay injects signals from the log
/// instead), or keeping their siginfo in `arrived`.
fn run_to_syscall_stop(
    pid: Pid,
    what: &str,
    mut arrived: Option<&mut Vec<[u8; ptrace::SIGINFO_SIZE]>>,
) -> Result<(), TraceeError> {
    ptrace::resume(pid, Resume::Syscall, 0)?;
    loop {
        match ptrace::wait_for(pid)? {
            WaitResult::Stopped(_, Stop::Syscall) => return Ok(()),
            // Under the syscall buffer's seccomp filter the injected syscall
            // also reports a seccomp stop between entry and exit.
            WaitResult::Stopped(_, Stop::Event { event, .. })
                if event == libc::PTRACE_EVENT_SECCOMP =>
            {
                ptrace::resume(pid, Resume::Syscall, 0)?;
            }
            WaitResult::Stopped(_, Stop::Signal(sig)) if is_droppable(sig) => {
                match arrived.as_deref_mut() {
                    Some(arrived) => arrived.extend(ptrace::get_siginfo(pid)?),
                    None => tracing::debug!(pid, sig, "dropping signal during injection"),
                }
                ptrace::resume(pid, Resume::Syscall, 0)?;
            }
            other => {
                return Err(TraceeError::Injection {
                    pid,
                    what: what.to_string(),
                    stop: format!("{other:?}"),
                })
            }
        }
    }
}

fn is_droppable(sig: i32) -> bool {
    !ptrace::is_fault_kind(sig)
}

/// Forks the stopped thread `pid` by running `clone` in it at the
/// `syscall` instruction at `site`: the child is a copy of the process
/// with this one thread, sharing nothing, attached to this tracer (the
/// tracee has `PTRACE_O_TRACECLONE`) and left at its first stop with
/// `pid`'s registers as they were before the call. Its exit signal is 0:
/// the process it forked from is never told it exists. Returns the child.
pub fn fork(pid: Pid, site: u64) -> Result<Pid, TraceeError> {
    clone(pid, site, [0; 6], "a fork for a snapshot")
}

/// Starts a thread in `pid`'s process (`clone` with the thread flags and
/// `clear_child_tid` for `CLONE_CHILD_CLEARTID`), stopped at its first
/// stop with `pid`'s registers, for the caller to give it its own.
pub fn spawn_thread(pid: Pid, site: u64, clear_child_tid: Option<u64>) -> Result<Pid, TraceeError> {
    let mut flags = libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM;
    if clear_child_tid.is_some() {
        flags |= libc::CLONE_CHILD_CLEARTID;
    }
    let args = [flags as u64, 0, 0, clear_child_tid.unwrap_or(0), 0, 0];
    clone(pid, site, args, "a thread for a snapshot")
}

fn clone(pid: Pid, site: u64, args: [u64; 6], what: &str) -> Result<Pid, TraceeError> {
    let saved = regs::get(pid)?;
    let mut call = saved;
    call.rip = site;
    call.rax = libc::SYS_clone as u64;
    call.orig_rax = u64::MAX;
    regs::set_syscall_args(&mut call, &args);
    regs::set(pid, &call)?;
    run_to_syscall_stop(pid, what, None)?;
    ptrace::resume(pid, Resume::Syscall, 0)?;
    let child = loop {
        match ptrace::wait_for(pid)? {
            WaitResult::Stopped(_, Stop::Event { event, message })
                if event == libc::PTRACE_EVENT_CLONE || event == libc::PTRACE_EVENT_FORK =>
            {
                break message as Pid;
            }
            WaitResult::Stopped(_, Stop::Event { event, .. })
                if event == libc::PTRACE_EVENT_SECCOMP =>
            {
                ptrace::resume(pid, Resume::Syscall, 0)?;
            }
            WaitResult::Stopped(_, Stop::Signal(sig)) if is_droppable(sig) => {
                ptrace::resume(pid, Resume::Syscall, 0)?;
            }
            other => {
                // The clone failed (out of memory, a pid limit): it returned
                // without a child.
                let errno = regs::get(pid).map(|r| -(r.rax as i64)).unwrap_or(0);
                let _ = regs::set(pid, &saved);
                return Err(TraceeError::Injection {
                    pid,
                    what: what.to_string(),
                    stop: format!("{other:?} (result {errno})"),
                });
            }
        }
    };
    run_to_syscall_stop(pid, what, None)?;
    regs::set(pid, &saved)?;
    // The child's first stop: SIGSTOP for a tracer that attached the
    // classic way, an event stop for one that seized.
    match ptrace::wait_for(child)? {
        WaitResult::Stopped(_, _) => {}
        other => {
            return Err(TraceeError::Injection {
                pid: child,
                what: what.to_string(),
                stop: format!("{other:?}"),
            })
        }
    }
    regs::set(child, &saved)?;
    tracing::debug!(pid, child, what, "cloned");
    Ok(child)
}
