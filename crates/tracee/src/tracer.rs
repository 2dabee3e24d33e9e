//! The tracer's own process, and whole-process operations on tracees: what
//! record and replay need beside ptrace, kept here so that neither of them
//! holds unsafe code.

use crate::Pid;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid as NixPid;
use std::sync::atomic::{AtomicI32, Ordering};

/// The last signal [`note_stop_requests`] caught, or 0.
static STOP_REQUESTED_BY: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop_request(signo: libc::c_int) {
    STOP_REQUESTED_BY.store(signo, Ordering::SeqCst);
}

extern "C" fn interrupt_only(_signo: libc::c_int) {}

fn catch(signals: &[Signal], handler: extern "C" fn(libc::c_int)) -> nix::Result<()> {
    // No SA_RESTART: a blocked waitpid returns EINTR, so the tracer's loop
    // sees the signal at once.
    let action = SigAction::new(
        SigHandler::Handler(handler),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for &signo in signals {
        // SAFETY: both handlers only store to an atomic (or do nothing),
        // which is async-signal-safe.
        unsafe { signal::sigaction(signo, &action) }?;
    }
    Ok(())
}

/// From now on these signals ask the tracer to stop: [`stop_requested`]
/// says which came last. They interrupt a blocked wait.
pub fn note_stop_requests(signals: &[Signal]) -> nix::Result<()> {
    catch(signals, note_stop_request)
}

/// From now on these signals only interrupt a blocked wait. A terminal
/// sends SIGINT and SIGQUIT to its whole foreground group, so the tracee
/// gets its own copy; the tracer keeps going and follows it.
pub fn interrupt_waits_on(signals: &[Signal]) -> nix::Result<()> {
    catch(signals, interrupt_only)
}

/// Interrupts the tracer's blocked wait in about a second (SIGALRM, which
/// [`interrupt_waits_on`] must have been given), for a check that no stop
/// reports: a SIGCONT sent from outside to a stopped tracee, say.
pub fn interrupt_wait_in_a_second() {
    nix::unistd::alarm::set(1);
}

/// The signal that asked the tracer to stop, if one did.
pub fn stop_requested() -> Option<i32> {
    Some(STOP_REQUESTED_BY.load(Ordering::SeqCst)).filter(|&signo| signo != 0)
}

/// Kills a whole process (thread group) at once. A process already gone is
/// not an error: killing is how the tracer cleans up.
pub fn kill_process(pid: Pid) {
    let _ = signal::kill(NixPid::from_raw(pid), Signal::SIGKILL);
}

/// Makes this process the reaper of its descendants' orphans, so that a
/// tracee's child whose parent died comes back here to be reaped.
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Reaps every child (orphans handed over included) that has already died,
/// without waiting for the others.
pub fn reap_dead_children() {
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
    while let Ok(status) = waitpid(NixPid::from_raw(-1), Some(flags)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit (the
/// tracer holds one fd per traced thread, and a program with a thousand
/// threads would exhaust the usual 1024). Tracees spawned before keep
/// their own limits.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// The CPU `tid` last ran on and its NUMA node (`/proc/TID/stat`, field
/// 39; the node 0 where the machine names none): what `getcpu` and
/// `rdtscp`'s TSC_AUX (`node << 12 | cpu`) tell the thread.
pub fn cpu_of(tid: Pid) -> Option<(u32, u32)> {
    let cpu = crate::proc_stat::ThreadStat::read(tid)?.cpu()?;
    let node = std::fs::read_dir(format!("/sys/devices/system/cpu/cpu{cpu}"))
        .ok()
        .and_then(|dir| {
            dir.flatten().find_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_prefix("node")?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0);
    Some((cpu, node))
}

/// The time-stamp counter as `rdtscp` (with its aux value) or `rdtsc`
/// reads it here, to answer a tracee's trapped read.
pub fn read_tsc(with_aux: bool) -> (u64, u32) {
    if with_aux {
        let mut aux = 0u32;
        // SAFETY: rdtscp exists on every x86_64 CPU this runs on and only
        // writes `aux`.
        let tsc = unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
        (tsc, aux)
    } else {
        // SAFETY: rdtsc has no memory effects.
        (unsafe { core::arch::x86_64::_rdtsc() }, 0)
    }
}

/// Ends this process by `signal` with its default action, as a recorded
/// program died, so that a shell sees the same death; returns only where
/// the signal's default action does not kill. No core dump of the tool
/// itself: it would be misleading.
pub fn die_by_signal(signal: i32) {
    // SAFETY: resetting a disposition, unblocking and raising a signal in
    // our own process, with structures initialised here.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::raise(signal);
    }
}
