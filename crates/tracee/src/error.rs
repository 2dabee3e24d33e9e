use crate::Pid;

/// A failed operation on a live tracee.
#[derive(Debug, thiserror::Error)]
pub enum TraceeError {
    #[error("ptrace {request} on task {pid} failed: {source}")]
    Ptrace {
        request: &'static str,
        pid: Pid,
        source: nix::Error,
    },
    #[error("cannot read memory of task {pid} at {addr:#x} ({len} bytes): {detail}")]
    MemoryRead {
        pid: Pid,
        addr: u64,
        len: usize,
        detail: String,
    },
    #[error("cannot write memory of task {pid} at {addr:#x} ({len} bytes): {detail}")]
    MemoryWrite {
        pid: Pid,
        addr: u64,
        len: usize,
        detail: String,
    },
    #[error("waitpid failed: {0}")]
    Wait(nix::Error),
    /// A signal asked the tracer to stop (see `tracer::note_stop_requests`)
    /// while it waited for one tracee.
    #[error("the tracer received signal {0} while it waited for a tracee")]
    StopRequested(i32),
    #[error("cannot read {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
    #[error("task {pid} stopped unexpectedly while injecting {what}: {stop}")]
    Injection {
        pid: Pid,
        what: String,
        stop: String,
    },
    #[error("perf_event_open for task {pid} failed: {source}")]
    Perf { pid: Pid, source: std::io::Error },
}

impl TraceeError {
    /// The task a ptrace request found no longer in a ptrace stop (ESRCH):
    /// a SIGKILL (from `exit_group` in another thread, or from outside) woke
    /// it, and its exit will be reported by wait.
    pub fn gone_task(&self) -> Option<Pid> {
        match self {
            TraceeError::Ptrace {
                source: nix::Error::ESRCH,
                pid,
                ..
            } => Some(*pid),
            _ => None,
        }
    }
}
