//! The replayer: re-executes a recorded run so that it does exactly what it
//! did during recording.
//!
//! User code runs for real. Syscalls are emulated from the log, except the
//! few that shape the address space or task state, which run in the kernel at
//! the recorded addresses. Threads run one at a time in the recorded order.
//! Every event is checked against the log; a mismatch stops with a
//! divergence report instead of silently doing something else.

#![forbid(unsafe_code)]

mod address_space;
mod divergence;
mod lookahead;
mod point_retry;
mod session;
mod shared_files;
mod task;

use std::path::PathBuf;

pub use divergence::Divergence;
pub use point_retry::{PointChoice, PointRetry};
pub use session::{
    DebugStep, DivertedRun, DivertedStop, ReplaySession, RunStop, StepOutcome, ThreadInfo,
    WatchKind,
};

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub trace_dir: PathBuf,
    /// Do not re-emit the tracee's stdout/stderr.
    pub quiet: bool,
}

/// How a replay ended.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// The recorded outcome (exit code or signal), when the trace has one.
    pub outcome: Option<trace::TraceOutcome>,
    pub events: u64,
    /// Set when the trace ends early (interrupted recording): what was replayed.
    pub truncated: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error("replay failed: {0}")]
    Tracee(#[from] tracee::TraceeError),
    #[error("{0}")]
    Divergence(Box<Divergence>),
    #[error("{0}")]
    Setup(String),
    /// The interrupt flag (Ctrl-C in gdb) stopped a thread that was running
    /// user code toward a point no event marks; the session cannot go on
    /// from there.
    #[error("interrupted (Ctrl-C) while a thread ran toward its recorded preemption point")]
    Interrupted,
    /// The replay cannot be copied at this moment (see
    /// [`ReplaySession::fork_session`]); a later moment may do.
    #[error("no snapshot can be taken here: {0}")]
    NoSnapshot(String),
}

/// How many times one replay starts again for missed points: each costs a
/// whole replay, so a trace that needs more is reported as diverged.
const MAX_POINT_RETRIES: u32 = 16;

/// How long a replay that diverged keeps going back for a point that may
/// have matched the wrong pass before it reports the divergence.
const WRONG_PASS_SEARCH_TIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Replays a whole trace from start to end. A preemption point missed only
/// because of memory the program never initialised is gone back for (see
/// `point_retry`): the replay starts again, without printing twice. So is a
/// divergence that a recent point's match may explain: the replay starts
/// again with that point taking its next match (`WrongPassSearch`).
pub fn replay(options: &ReplayOptions) -> Result<ReplayOutcome, ReplayError> {
    let mut printed = 0;
    let mut attempts = 0;
    let saved_choices = point_retry::load_saved(&options.trace_dir);
    let mut wrong_pass = point_retry::WrongPassSearch::default();
    let mut first_divergence = None;
    let mut search_started = None;
    loop {
        attempts += 1;
        let replayed = (|| {
            let mut session = ReplaySession::start(&options.trace_dir, options.quiet)?;
            session.print_output_from(printed);
            while let StepOutcome::Event(_) = session.step()? {}
            Ok(session.finish())
        })();
        match replayed {
            Err(ReplayError::Divergence(d))
                if d.retry.is_some() && attempts <= MAX_POINT_RETRIES =>
            {
                let retry = d.retry.expect("checked above");
                tracing::debug!(?retry, "going back for a preemption point");
                point_retry::remember(&options.trace_dir, retry);
                printed = printed.max(retry.replayed);
            }
            // No near miss explains it: an earlier point may have matched
            // a pass that only looked like the recorded one.
            Err(ReplayError::Divergence(d)) => {
                let searching_since = *search_started.get_or_insert_with(std::time::Instant::now);
                let trial = (attempts <= MAX_POINT_RETRIES
                    && searching_since.elapsed() < WRONG_PASS_SEARCH_TIME)
                    .then(|| wrong_pass.next_trial(&options.trace_dir, d.event, &d.matched_points))
                    .flatten();
                printed = printed.max(d.replayed);
                // What is reported if going back does not help: the first.
                let first = first_divergence.take().unwrap_or(d);
                let Some(point) = trial else {
                    if saved_choices {
                        point_retry::forget_saved(&options.trace_dir);
                    }
                    session::finish_cpu_check();
                    return Err(ReplayError::Divergence(first));
                };
                tracing::debug!(
                    point,
                    diverged_at = first.event,
                    "going back to pass over the match of an earlier preemption point"
                );
                first_divergence = Some(first);
            }
            Err(e) => {
                if saved_choices {
                    point_retry::forget_saved(&options.trace_dir);
                }
                session::finish_cpu_check();
                return Err(e);
            }
            Ok(outcome) => {
                if attempts > 1 {
                    point_retry::save(&options.trace_dir);
                }
                return Ok(outcome);
            }
        }
    }
}
