//! Expressions that run code (`print f(x)`, `call`, pretty-printers that
//! call functions). gdb writes registers and memory, resumes the thread at
//! the function with a breakpoint at its return address, reads the result
//! and writes the registers back. All of it happens in a diversion: a copy
//! of the replay (a forked session) that is thrown away once gdb has put
//! the registers back and resumes the replay itself, or goes back in time.
//! The replay never sees a byte of it (decision 0020).

use crate::target::Outcome;
use crate::GdbServerError;
use replayer::{DivertedStop, ReplaySession};
use std::collections::BTreeSet;
use trace::event::Regs;
use trace::RecordedTid;

pub struct Diversion {
    pub session: ReplaySession,
    /// The thread whose registers gdb changed first, and what they were.
    tid: RecordedTid,
    original: Regs,
}

impl Diversion {
    /// A copy of `replay` as it is now, for gdb to change.
    pub fn begin(
        replay: &mut ReplaySession,
        tid: RecordedTid,
    ) -> Result<Diversion, GdbServerError> {
        let original = replay.regs(tid)?;
        let mut session = replay.fork_session()?;
        session.send_library_calls_to_the_kernel()?;
        tracing::debug!(%tid, "a diversion begins");
        Ok(Diversion {
            session,
            tid,
            original,
        })
    }

    /// Whether gdb has put the thread's registers back as they were when
    /// the diversion began: the expression is done, and a resume means the
    /// replay's own.
    pub fn restored(&self) -> bool {
        let Ok(mut now) = self.session.regs(self.tid) else {
            return true;
        };
        // How the thread was last resumed shows in the trap and resume
        // flags; gdb's own orig_rax write is not a change.
        const RESUME_FLAGS: u64 = (1 << 16) | (1 << 8);
        let mut then = self.original;
        now.orig_rax = then.orig_rax;
        now.eflags &= !RESUME_FLAGS;
        then.eflags &= !RESUME_FLAGS;
        now == then
    }

    /// Throws the copy away.
    pub fn end(self) {
        tracing::debug!(tid = %self.tid, "a diversion ends");
        let _ = self.session.finish();
    }

    /// Runs the copy: one instruction of `step`'s thread, or the diverted
    /// thread until a breakpoint or a signal. Syscalls the copy does not
    /// make are answered ENOSYS; `notes` gets why.
    pub fn run(
        &mut self,
        step: Option<RecordedTid>,
        breakpoints: &BTreeSet<u64>,
        notes: &mut Vec<String>,
    ) -> Result<Outcome, GdbServerError> {
        let tid = step.unwrap_or(self.tid);
        let run = self
            .session
            .run_diverted(tid, breakpoints, step.is_some())?;
        notes.extend(run.refused);
        Ok(match run.stop {
            DivertedStop::Breakpoint => Outcome::Breakpoint(tid),
            DivertedStop::Stepped => Outcome::Stepped(tid),
            DivertedStop::Signal(signal) => Outcome::Signal(tid, signal),
            DivertedStop::Exited => {
                notes.push(
                    "the code gdb ran ended its process (in the throw-away copy; the \
                     replay is unchanged)"
                        .into(),
                );
                Outcome::Signal(tid, libc::SIGKILL)
            }
        })
    }
}
