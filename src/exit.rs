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
            tracee::tracer::die_by_signal(signal);
            std::process::exit(128 + signal)
        }
    }
}

/// The error and its causes on one line. Library errors often show their
/// source in their own message already; such a cause is not repeated.
pub fn describe(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let inner = anyhow::anyhow!("ESRCH: No such process")
            .context("ptrace GETREGS failed: ESRCH: No such process");
        let outer = inner.context("recording failed");
        let text = describe(&outer);
        assert_eq!(
            text,
            "recording failed: ptrace GETREGS failed: ESRCH: No such process"
        );
        let plain = anyhow::anyhow!("disk full").context("cannot write");
        assert_eq!(describe(&plain), "cannot write: disk full");
    }
}
