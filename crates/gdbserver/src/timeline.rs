//! Positions in a replay, and moving between them.
//!
//! A replay is deterministic, so any point of it is described exactly by the
//! debugger operations that led there from the start (run to the N-th event,
//! run until a breakpoint fires, step one instruction). Going anywhere,
//! backwards included, means taking the snapshot nearest before the place
//! (see `snapshots`), copying it, and performing the operations left.

use crate::snapshots::{Key, Snapshots};
use crate::GdbServerError;
use replayer::{ReplaySession, RunStop, WatchKind};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trace::RecordedTid;

/// Breakpoints and watchpoints in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub breakpoints: BTreeSet<u64>,
    pub watchpoints: Vec<(u64, u64, bool)>,
    /// Hardware breakpoints (reverse-stepi's guesses at the previous
    /// instruction: a wrong guess must not patch memory).
    pub hardware_breakpoints: BTreeSet<u64>,
    /// Processes gdb no longer sees (it detached from them after a fork,
    /// or saw them end): nothing fires in them.
    pub ignored_processes: BTreeSet<RecordedTid>,
    /// Stop after each event that makes a process (gdb's fork events).
    pub report_processes: bool,
}

impl Config {
    pub(crate) fn apply(&self, session: &mut ReplaySession) {
        for &bp in &self.breakpoints {
            session.set_breakpoint(bp);
        }
        for &bp in &self.hardware_breakpoints {
            session.set_watchpoint(bp, 1, WatchKind::Execute);
        }
        for &(addr, len, read) in &self.watchpoints {
            let kind = if read {
                WatchKind::ReadWrite
            } else {
                WatchKind::Write
            };
            session.set_watchpoint(addr, len, kind);
        }
        session.set_ignored_processes(self.ignored_processes.clone());
        session.set_report_processes(self.report_processes);
    }

    pub(crate) fn clear(&self, session: &mut ReplaySession) {
        for &bp in &self.breakpoints {
            session.remove_breakpoint(bp);
        }
        for &bp in &self.hardware_breakpoints {
            session.remove_watchpoint(bp, 1);
        }
        for &(addr, len, _) in &self.watchpoints {
            session.remove_watchpoint(addr, len);
        }
        session.set_ignored_processes(BTreeSet::new());
        session.set_report_processes(false);
    }
}

/// One forward operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Replay events, no breakpoints, until this many have been replayed.
    ToEvent(u64),
    /// Run with this configuration until it stops.
    Run(Config),
    /// Execute one instruction of this thread.
    Step(RecordedTid),
    /// Start from this stretch snapshot (see `snapshots`); only ever the
    /// first operation.
    From(u64),
}

/// Where the debugger is now: the thread it stopped in and its registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Here {
    pub events: u64,
    pub tid: Option<RecordedTid>,
    pub rip: u64,
    pub regs: Option<trace::event::Regs>,
    pub ended: bool,
}

pub struct Timeline {
    trace_dir: PathBuf,
    pub session: ReplaySession,
    /// How `session` got where it is.
    pub path: Vec<Op>,
    /// Set by Ctrl-C in gdb: stops a forward run at the next event.
    pub interrupt: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) snapshots: Snapshots,
    /// The stop the current position was reached with.
    last_stop: RunStop,
}

/// How often one operation goes back for missed preemption points.
const MAX_POINT_RETRIES: u32 = 4;

/// A position that took longer than this to reach is kept as a snapshot,
/// so that coming back to it (after a failed command, a step back) is
/// quick.
const KEEP_POSITIONS_SLOWER_THAN: Duration = Duration::from_millis(50);

impl Timeline {
    pub fn start(trace_dir: &Path) -> Result<Timeline, GdbServerError> {
        let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let snapshots = Snapshots::new();
        let mut session = ReplaySession::start(trace_dir, true)?;
        session.set_interrupt(interrupt.clone());
        session.snapshot_every(snapshots.interval());
        Ok(Timeline {
            trace_dir: trace_dir.to_path_buf(),
            session,
            path: Vec::new(),
            interrupt,
            snapshots,
            last_stop: RunStop::End,
        })
    }

    /// Performs one operation on `session`.
    pub(crate) fn perform(session: &mut ReplaySession, op: &Op) -> Result<RunStop, GdbServerError> {
        match op {
            Op::ToEvent(n) => {
                while session.position() < *n {
                    if matches!(session.step()?, replayer::StepOutcome::End) {
                        return Ok(RunStop::End);
                    }
                }
                Ok(RunStop::End)
            }
            Op::Run(config) => {
                config.apply(session);
                let stop = session.run();
                config.clear(session);
                Ok(stop?)
            }
            Op::Step(tid) => Ok(session.step_instruction(*tid)?),
            Op::From(id) => Err(GdbServerError::Reverse(format!(
                "the snapshot {id} this position starts from is gone"
            ))),
        }
    }

    /// Performs `op` now and remembers it. A preemption point missed only
    /// on memory words (see `replayer::PointRetry`) is gone back for: the
    /// session is built again to here, and takes the point this time.
    pub fn forward(&mut self, op: Op) -> Result<RunStop, GdbServerError> {
        let started = Instant::now();
        let mut retries = 0;
        let stop = loop {
            let performed = Self::perform(&mut self.session, &op);
            let mut on_the_way = self.path.clone();
            on_the_way.push(op.clone());
            collect_snapshots(&mut self.snapshots, &mut self.session, &on_the_way);
            match performed {
                Err(GdbServerError::Replay(replayer::ReplayError::Divergence(d)))
                    if d.retry.is_some() && retries < MAX_POINT_RETRIES =>
                {
                    retries += 1;
                    tracing::debug!(retry = ?d.retry, "going back for a preemption point");
                    self.rebuild(self.path.clone())?;
                }
                other => break other?,
            }
        };
        match stop {
            // Where an interrupted run stopped is an event count, which a
            // run with the same breakpoints would not stop at again.
            RunStop::Interrupted { .. } => {
                self.path = vec![Op::ToEvent(self.session.position())];
            }
            _ => match (self.path.as_slice(), &op) {
                // Consecutive event counts are one position.
                ([Op::ToEvent(_)], Op::ToEvent(_)) | ([], Op::ToEvent(_)) => {
                    self.path = vec![op];
                }
                _ => self.path.push(op),
            },
        }
        self.snapshots.set_current(&self.path);
        self.last_stop = stop;
        if started.elapsed() > KEEP_POSITIONS_SLOWER_THAN {
            self.keep_here(stop);
        }
        Ok(stop)
    }

    /// Makes the current position a checkpoint: a snapshot kept for the
    /// whole session. Returns the path that names it.
    pub fn checkpoint(&mut self) -> Vec<Op> {
        let stop = self.last_stop;
        self.keep_here(stop);
        self.snapshots.pin(&self.path);
        self.path.clone()
    }

    /// Keeps the current position as a snapshot.
    fn keep_here(&mut self, stop: RunStop) {
        match self.session.fork_session() {
            Ok(copy) => self
                .snapshots
                .add(Key::Path(self.path.clone()), copy, stop, Vec::new()),
            Err(e) => tracing::debug!("no snapshot of this position: {e}"),
        }
    }

    /// A new replay at the snapshot nearest before `path`, and the
    /// operations still to perform on it.
    pub(crate) fn open_near(
        &mut self,
        path: &[Op],
    ) -> Result<(ReplaySession, Vec<Op>, RunStop), GdbServerError> {
        if let Some((i, rest)) = self.snapshots.nearest(path) {
            match self.snapshots.fork(i) {
                Ok((mut session, stop)) => {
                    session.snapshot_every(self.snapshots.interval());
                    return Ok((session, rest, stop));
                }
                Err(e) => {
                    tracing::warn!("a snapshot could not be copied ({e}); replaying from the start")
                }
            }
        }
        let mut session = ReplaySession::start(&self.trace_dir, true)?;
        session.snapshot_every(self.snapshots.interval());
        Ok((session, path.to_vec(), RunStop::End))
    }

    /// Replaces the session by a new one that performs `path`.
    fn rebuild(&mut self, path: Vec<Op>) -> Result<RunStop, GdbServerError> {
        let started = Instant::now();
        let (mut session, rest, mut last) = self.open_near(&path)?;
        let done = path.len() - rest.len();
        let performed = (|| {
            for (i, op) in rest.iter().enumerate() {
                let performed = Self::perform(&mut session, op);
                collect_snapshots(&mut self.snapshots, &mut session, &path[..done + i + 1]);
                last = performed?;
            }
            Ok::<_, GdbServerError>(())
        })();
        if let Err(e) = performed {
            session.finish();
            return Err(e);
        }
        // Interruptible from now on, not while it got here.
        session.set_interrupt(self.interrupt.clone());
        // The old session's processes go away with it.
        let old = std::mem::replace(&mut self.session, session);
        old.finish();
        self.path = path;
        self.snapshots.set_current(&self.path);
        self.last_stop = last;
        if !rest.is_empty() && started.elapsed() > KEEP_POSITIONS_SLOWER_THAN {
            self.keep_here(last);
        }
        Ok(last)
    }

    pub fn trace_dir(&self) -> &Path {
        &self.trace_dir
    }

    /// Goes to the position `path` describes (a `monitor checkpoint`, or
    /// where a reverse command found it should be); returns the stop its
    /// last operation ended with.
    pub fn restore(&mut self, path: Vec<Op>) -> Result<RunStop, GdbServerError> {
        self.rebuild(path)
    }

    /// What `monitor snapshots` says.
    pub fn snapshot_summary(&self) -> (String, String) {
        self.snapshots.summary()
    }

    pub fn here(&mut self, tid: Option<RecordedTid>) -> Here {
        let events = self.session.position();
        let ended = self.session.next_event_thread().ok().flatten().is_none();
        let regs = tid.and_then(|t| self.session.regs(t).ok());
        Here {
            events,
            tid,
            rip: regs.map(|r| r.rip).unwrap_or(0),
            regs,
            ended,
        }
    }
}

/// Files the snapshots `session` took of itself while performing the last
/// of the operations `on_the_way`.
pub(crate) fn collect_snapshots(
    snapshots: &mut Snapshots,
    session: &mut ReplaySession,
    on_the_way: &[Op],
) {
    // A point inside a stretch is known to lie between the operation's
    // start and end only for operations that run freely to a stop; steps
    // may go past where they end up being cut.
    let free_running = matches!(on_the_way.last(), Some(Op::Run(_) | Op::ToEvent(_)));
    for copy in session.take_snapshots() {
        if copy.between_events() {
            let at = copy.position();
            snapshots.add(Key::Event(at), copy, RunStop::End, Vec::new());
        } else if free_running {
            let id = snapshots.next_id();
            snapshots.add(Key::Stretch(id), copy, RunStop::End, on_the_way.to_vec());
        } else {
            copy.finish();
        }
    }
    session.snapshot_every(snapshots.interval());
}

impl Drop for Timeline {
    fn drop(&mut self) {
        self.snapshots.clear();
    }
}
