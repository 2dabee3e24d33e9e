//! Ending the process with the recorded program's status.

use trace::TraceOutcome;

/// What the `replay` process itself should end with.
pub enum Status {
    Code(i32),
    Signal(i32),
}

impl From<&TraceOutcome> for Status {
    fn from(outcome: &TraceOutcome) -> Status {
        match *outcome {
            TraceOutcome::Exited { code } => Status::Code(code),
            TraceOutcome::Signaled { signal, .. } => Status::Signal(signal),
            TraceOutcome::Interrupted { .. } => Status::Code(1),
        }
    }
}

/// Exits with `status`, re-raising a fatal signal so that shells see the
/// same death as the recorded program's (128+N when the signal cannot kill us).
pub fn exit_with(status: Status) -> ! {
    match status {
        Status::Code(code) => std::process::exit(code),
        Status::Signal(signal) => {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            // SAFETY: resetting a disposition and raising a signal in our own process.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, signal);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                // A core dump of `replay` itself would be misleading.
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::raise(signal);
            }
            std::process::exit(128 + signal)
        }
    }
}
