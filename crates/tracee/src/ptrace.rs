//! ptrace requests and decoding of wait statuses into stops.

use crate::{Pid, TraceeError};
use nix::sys::ptrace::{self, Options};
use nix::unistd::Pid as NixPid;

/// Raw size of `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;

/// Why a tracee is in a ptrace stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Syscall entry or exit (TRACESYSGOOD); the caller knows which.
    Syscall,
    /// A `PTRACE_EVENT_*` stop with its event message.
    Event { event: i32, message: u64 },
    /// Signal-delivery-stop (or a group-stop, which `get_siginfo` tells apart).
    Signal(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    Stopped(Pid, Stop),
    Exited(Pid, i32),
    Signaled(Pid, i32, bool),
}

impl WaitResult {
    pub fn pid(&self) -> Pid {
        match *self {
            WaitResult::Stopped(p, _)
            | WaitResult::Exited(p, _)
            | WaitResult::Signaled(p, _, _) => p,
        }
    }
}

/// How to resume a stopped tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Stop at the next syscall entry or exit.
    Syscall,
    /// Run until a signal or event.
    Continue,
    SingleStep,
}

pub fn options() -> Options {
    Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEEXIT
        | Options::PTRACE_O_TRACESECCOMP
        | Options::PTRACE_O_EXITKILL
}

pub fn set_options(pid: Pid) -> Result<(), TraceeError> {
    ptrace::setoptions(NixPid::from_raw(pid), options()).map_err(|source| TraceeError::Ptrace {
        request: "SETOPTIONS",
        pid,
        source,
    })
}

pub fn resume(pid: Pid, how: Resume, signal: i32) -> Result<(), TraceeError> {
    let request = match how {
        Resume::Syscall => libc::PTRACE_SYSCALL,
        Resume::Continue => libc::PTRACE_CONT,
        Resume::SingleStep => libc::PTRACE_SINGLESTEP,
    };
    // SAFETY: a resume request takes no pointer; `data` carries the signal number.
    let rc = unsafe { libc::ptrace(request, pid, 0usize, signal as usize) };
    if rc < 0 {
        let err = nix::Error::last();
        if err == nix::Error::ESRCH {
            // Killed while stopped (SIGKILL, a sibling's exit_group): it is
            // gone or going, and waitpid still reports how it ended.
            return Ok(());
        }
        return Err(TraceeError::Ptrace {
            request: "resume",
            pid,
            source: err,
        });
    }
    Ok(())
}

pub fn event_message(pid: Pid) -> Result<u64, TraceeError> {
    ptrace::getevent(NixPid::from_raw(pid))
        .map(|m| m as u64)
        .map_err(|source| TraceeError::Ptrace {
            request: "GETEVENTMSG",
            pid,
            source,
        })
}

/// The data (`SECCOMP_RET_DATA`) of the filter that made a seccomp stop.
pub fn seccomp_return_data(pid: Pid) -> Result<u32, TraceeError> {
    Ok((event_message(pid)? & 0xffff) as u32)
}

/// The raw siginfo of a signal-delivery-stop; `None` for a group-stop.
pub fn get_siginfo(pid: Pid) -> Result<Option<[u8; SIGINFO_SIZE]>, TraceeError> {
    let mut buf = [0u8; SIGINFO_SIZE];
    // SAFETY: GETSIGINFO writes one siginfo_t (128 bytes) into `buf`, which is that large.
    let rc = unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, pid, 0usize, buf.as_mut_ptr()) };
    if rc < 0 {
        let err = nix::Error::last();
        if err == nix::Error::EINVAL {
            return Ok(None);
        }
        return Err(TraceeError::Ptrace {
            request: "GETSIGINFO",
            pid,
            source: err,
        });
    }
    Ok(Some(buf))
}

pub fn set_siginfo(pid: Pid, info: &[u8; SIGINFO_SIZE]) -> Result<(), TraceeError> {
    // SAFETY: SETSIGINFO reads one siginfo_t (128 bytes) from `info`, which is that large.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SETSIGINFO, pid, 0usize, info.as_ptr()) };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: "SETSIGINFO",
            pid,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// `si_code` of a raw siginfo.
pub fn siginfo_code(info: &[u8; SIGINFO_SIZE]) -> i32 {
    i32::from_le_bytes([info[8], info[9], info[10], info[11]])
}

/// SIGTRAP `si_code`s: an `int3`-style breakpoint, a single step, a
/// hardware breakpoint or watchpoint, and anything the kernel raised itself
/// (an `int3` executed by the program).
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
pub const TRAP_HWBKPT: i32 = 4;
pub const SI_KERNEL: i32 = 0x80;

/// `si_addr` of a raw siginfo of a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE):
/// the address that faulted.
pub fn siginfo_fault_addr(info: &[u8; SIGINFO_SIZE]) -> u64 {
    let mut addr = [0u8; 8];
    addr.copy_from_slice(&info[16..24]);
    u64::from_le_bytes(addr)
}

/// `si_signo` of a raw siginfo.
pub fn siginfo_signo(info: &[u8; SIGINFO_SIZE]) -> i32 {
    i32::from_le_bytes([info[0], info[1], info[2], info[3]])
}

/// Signals that can be raised by an instruction (a fault or trap).
pub fn is_fault_kind(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    )
}

/// A signal the instruction at rip raised (positive `si_code`), as opposed
/// to one sent by a process, a timer or the kernel.
pub fn is_synchronous(sig: i32, info: &[u8; SIGINFO_SIZE]) -> bool {
    is_fault_kind(sig) && siginfo_code(info) > 0
}

fn decode(pid: Pid, status: i32) -> WaitResult {
    if libc::WIFEXITED(status) {
        return WaitResult::Exited(pid, libc::WEXITSTATUS(status));
    }
    if libc::WIFSIGNALED(status) {
        return WaitResult::Signaled(pid, libc::WTERMSIG(status), libc::WCOREDUMP(status));
    }
    let sig = libc::WSTOPSIG(status);
    let event = status >> 16;
    if sig == (libc::SIGTRAP | 0x80) {
        WaitResult::Stopped(pid, Stop::Syscall)
    } else if event != 0 {
        // A seccomp stop's message is the filter's return data, which ours
        // never sets: one ptrace call saved per traced syscall.
        let message = if event == libc::PTRACE_EVENT_SECCOMP {
            0
        } else {
            event_message(pid).unwrap_or(0)
        };
        WaitResult::Stopped(pid, Stop::Event { event, message })
    } else {
        WaitResult::Stopped(pid, Stop::Signal(sig))
    }
}

fn wait_raw(pid: Pid, flags: i32) -> Result<Option<WaitResult>, TraceeError> {
    loop {
        match wait_once(pid, flags) {
            // A tracee that never reports must not keep the tracer from
            // stopping when asked to.
            Err(TraceeError::Wait(nix::Error::EINTR)) => {
                if let Some(signo) = crate::tracer::stop_requested() {
                    return Err(TraceeError::StopRequested(signo));
                }
            }
            other => return other,
        }
    }
}

/// Waits for any tracee; `Ok(None)` when a signal to the tracer interrupted
/// the wait, so the caller can look at why.
pub fn wait_any_interruptible() -> Result<Option<WaitResult>, TraceeError> {
    match wait_once(-1, 0) {
        Err(TraceeError::Wait(nix::Error::EINTR)) => Ok(None),
        other => other,
    }
}

fn wait_once(pid: Pid, flags: i32) -> Result<Option<WaitResult>, TraceeError> {
    let mut status = 0;
    // SAFETY: waitpid writes one int through the valid pointer.
    let rc = unsafe { libc::waitpid(pid, &mut status, flags | libc::__WALL) };
    if rc < 0 {
        return Err(TraceeError::Wait(nix::Error::last()));
    }
    if rc == 0 {
        return Ok(None);
    }
    let result = decode(rc, status);
    if let WaitResult::Stopped(tid, _) = result {
        STOPS.with_borrow_mut(|stops| *stops.entry(tid).or_default() += 1);
    }
    Ok(Some(result))
}

thread_local! {
    /// How many ptrace stops each tracee has reported to this thread.
    static STOPS: std::cell::RefCell<std::collections::HashMap<Pid, u64>> =
        Default::default();
}

/// How many ptrace stops `tid` has reported so far: each one is a
/// voluntary context switch of the tracee that a native run does not make.
pub fn stops_reported(tid: Pid) -> u64 {
    STOPS.with_borrow(|stops| stops.get(&tid).copied().unwrap_or(0))
}

/// Forgets `tid`'s count of stops (it is gone, and its number may be
/// given to a new task).
pub fn forget_stops(tid: Pid) {
    STOPS.with_borrow_mut(|stops| stops.remove(&tid));
}

/// Waits for the next state change of any tracee.
pub fn wait_any() -> Result<WaitResult, TraceeError> {
    blocking(wait_raw(-1, 0))
}

/// Waits for the next state change of one tracee.
pub fn wait_for(pid: Pid) -> Result<WaitResult, TraceeError> {
    blocking(wait_raw(pid, 0))
}

/// A state change of one tracee that has already happened, if any.
pub fn poll_for(pid: Pid) -> Result<Option<WaitResult>, TraceeError> {
    wait_raw(pid, libc::WNOHANG)
}

/// A state change of any tracee that already happened, without waiting.
pub fn poll_any() -> Result<Option<WaitResult>, TraceeError> {
    poll_for(-1)
}

/// Waits for one tracee's next state change for at most `limit`; `None`
/// when it is still running then. Polls, backing off from 20 µs to 2 ms, so
/// a quick stop costs little extra latency.
pub fn wait_for_within(
    pid: Pid,
    limit: std::time::Duration,
) -> Result<Option<WaitResult>, TraceeError> {
    let deadline = std::time::Instant::now() + limit;
    let mut pause = std::time::Duration::from_micros(20);
    loop {
        if let Some(w) = wait_raw(pid, libc::WNOHANG)? {
            return Ok(Some(w));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(2));
    }
}

/// Whether the thread sleeps in the kernel (state `S` or `D` in
/// /proc/<tid>/stat): a syscall it was resumed into has blocked.
pub fn is_blocked(tid: Pid) -> bool {
    crate::proc_stat::ThreadStat::read(tid).is_some_and(|stat| stat.is_blocked())
}

/// Waits until a thread that was resumed after its exit event is gone,
/// letting through any stop it still reports on the way.
pub fn wait_for_death(tid: Pid) -> Result<WaitResult, TraceeError> {
    loop {
        match wait_for(tid)? {
            WaitResult::Stopped(_, _) => resume(tid, Resume::Continue, 0)?,
            death => return Ok(death),
        }
    }
}

/// A blocking waitpid never returns 0; treat it as the error it would be.
fn blocking(result: Result<Option<WaitResult>, TraceeError>) -> Result<WaitResult, TraceeError> {
    result?.ok_or(TraceeError::Wait(nix::Error::ECHILD))
}

/// Sends a signal to one thread.
pub fn tgkill(tgid: Pid, tid: Pid, signal: i32) -> Result<(), TraceeError> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, signal) };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: "tgkill",
            pid: tid,
            source: nix::Error::last(),
        });
    }
    Ok(())
}
