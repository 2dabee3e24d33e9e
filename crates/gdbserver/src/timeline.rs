//! Positions in a replay and reverse execution by re-execution.
//!
//! A replay is deterministic, so any point of it is described exactly by the
//! debugger operations that led there from the start (run to the N-th event,
//! run until a breakpoint fires, step one instruction). Going backwards means
//! starting a fresh replay and performing a shorter list of operations; rr
//! speeds the same idea up with fork checkpoints, which this does not have
//! yet, so each reverse command costs a replay from the beginning.

use crate::GdbServerError;
use replayer::{ReplaySession, RunStop, WatchKind};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Breakpoints and watchpoints in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub breakpoints: BTreeSet<u64>,
    pub watchpoints: Vec<(u64, u64, bool)>,
}

impl Config {
    fn apply(&self, session: &mut ReplaySession) {
        for &bp in &self.breakpoints {
            session.set_breakpoint(bp);
        }
        for &(addr, len, read) in &self.watchpoints {
            let kind = if read {
                WatchKind::ReadWrite
            } else {
                WatchKind::Write
            };
            session.set_watchpoint(addr, len, kind);
        }
    }

    fn clear(&self, session: &mut ReplaySession) {
        for &bp in &self.breakpoints {
            session.remove_breakpoint(bp);
        }
        for &(addr, len, _) in &self.watchpoints {
            session.remove_watchpoint(addr, len);
        }
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
    Step(i32),
}

/// Where the debugger is now: the thread it stopped in and its registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Here {
    pub events: u64,
    pub tid: Option<i32>,
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
}

/// How often one operation goes back for missed preemption points.
const MAX_POINT_RETRIES: u32 = 4;

/// Longest stretch of single steps a reverse-step walks through.
const MAX_REVERSE_STEPS: u64 = 5_000_000;

fn fresh(trace_dir: &Path) -> Result<ReplaySession, GdbServerError> {
    Ok(ReplaySession::start(trace_dir, true)?)
}

impl Timeline {
    pub fn start(trace_dir: &Path) -> Result<Timeline, GdbServerError> {
        let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut session = fresh(trace_dir)?;
        session.set_interrupt(interrupt.clone());
        Ok(Timeline {
            trace_dir: trace_dir.to_path_buf(),
            session,
            path: Vec::new(),
            interrupt,
        })
    }

    /// Performs one operation on `session`.
    fn perform(session: &mut ReplaySession, op: &Op) -> Result<RunStop, GdbServerError> {
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
        }
    }

    /// Performs `op` now and remembers it. A preemption point missed only
    /// on memory words (see `replayer::PointRetry`) is gone back for: the
    /// session is built again to here, and takes the point this time.
    pub fn forward(&mut self, op: Op) -> Result<RunStop, GdbServerError> {
        let mut retries = 0;
        let stop = loop {
            match Self::perform(&mut self.session, &op) {
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
            RunStop::Interrupted { .. } => self.path.push(Op::ToEvent(self.session.position())),
            _ => self.path.push(op),
        }
        Ok(stop)
    }

    /// Replaces the session by a fresh one that performs `path`.
    fn rebuild(&mut self, path: Vec<Op>) -> Result<RunStop, GdbServerError> {
        let mut session = fresh(&self.trace_dir)?;
        let mut last = RunStop::End;
        for op in &path {
            last = Self::perform(&mut session, op)?;
        }
        // Interruptible from now on, not while it got here.
        session.set_interrupt(self.interrupt.clone());
        // The old session's processes go away with it.
        let old = std::mem::replace(&mut self.session, session);
        old.finish();
        self.path = path;
        Ok(last)
    }

    pub fn trace_dir(&self) -> &Path {
        &self.trace_dir
    }

    /// Goes to the position `path` describes (a `monitor checkpoint`).
    pub fn restore(&mut self, path: Vec<Op>) -> Result<(), GdbServerError> {
        self.rebuild(path).map(|_| ())
    }

    pub fn here(&mut self, tid: Option<i32>) -> Here {
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

    /// Goes back to the last time a breakpoint or watchpoint of `config`
    /// fired before `here`; to the very start when none did. Returns the
    /// stop, or `None` at the start.
    pub fn reverse_continue(
        &mut self,
        config: &Config,
        here: &Here,
    ) -> Result<Option<RunStop>, GdbServerError> {
        // Pass 1: count the hits before `here`. A sentinel breakpoint at
        // here's rip recognises the moment `here` comes round again.
        let mut probe = fresh(&self.trace_dir)?;
        probe.set_interrupt(self.interrupt.clone());
        config.apply(&mut probe);
        let sentinel =
            (here.regs.is_some() && !config.breakpoints.contains(&here.rip)).then_some(here.rip);
        if let Some(addr) = sentinel {
            probe.set_breakpoint(addr);
        }
        let mut hits = 0u64;
        loop {
            let stop = probe.run()?;
            let tid = match stop {
                RunStop::Breakpoint { tid }
                | RunStop::Watchpoint { tid, .. }
                | RunStop::Stepped { tid } => tid,
                RunStop::End => break,
                RunStop::Interrupted { .. } => {
                    probe.finish();
                    return Err(GdbServerError::Reverse("interrupted (Ctrl-C)".into()));
                }
            };
            let at_here = probe.position() == here.events
                && Some(tid) == here.tid
                && here.regs.is_some()
                && probe.regs(tid).ok() == here.regs;
            if at_here || probe.position() > here.events {
                break;
            }
            let is_sentinel_only = matches!(stop, RunStop::Breakpoint { .. })
                && sentinel.is_some()
                && probe
                    .regs(tid)
                    .map(|r| Some(r.rip) == sentinel)
                    .unwrap_or(false);
            if !is_sentinel_only {
                hits += 1;
            }
        }
        probe.finish();
        // Pass 2: stop at the last of those hits.
        let path = vec![Op::Run(config.clone()); hits as usize];
        let stop = self.rebuild(path)?;
        Ok((hits > 0).then_some(stop))
    }

    /// Goes back one instruction of `tid`. Returns false at the start.
    pub fn reverse_step(&mut self, tid: i32, here: &Here) -> Result<bool, GdbServerError> {
        if let Some(Op::Step(last)) = self.path.last() {
            if *last == tid {
                let mut path = self.path.clone();
                path.pop();
                self.rebuild(path)?;
                return Ok(true);
            }
        }
        let Some(target) = here.regs else {
            return Ok(false);
        };
        // Walk forward from the start of the thread's current stretch of
        // user code, one instruction at a time, until `here` comes round.
        let base = vec![Op::ToEvent(here.events)];
        let mut probe = fresh(&self.trace_dir)?;
        for op in &base {
            Self::perform(&mut probe, op)?;
        }
        let mut steps = 0u64;
        loop {
            if probe.position() == here.events && probe.regs(tid).ok() == Some(target) {
                break;
            }
            if steps >= MAX_REVERSE_STEPS || probe.position() > here.events {
                probe.finish();
                return Err(GdbServerError::Reverse(format!(
                    "could not find the previous instruction within {MAX_REVERSE_STEPS} steps"
                )));
            }
            if probe.step_instruction(tid)? == RunStop::End {
                break;
            }
            steps += 1;
        }
        probe.finish();
        if steps == 0 {
            // `here` is the first instruction of the stretch: the previous
            // one is the thread's last event (its syscall), before it.
            if here.events == 0 {
                return Ok(false);
            }
            self.rebuild(vec![Op::ToEvent(here.events - 1)])?;
            return Ok(true);
        }
        let mut path = base;
        path.extend(std::iter::repeat_n(Op::Step(tid), (steps - 1) as usize));
        self.rebuild(path)?;
        Ok(true)
    }
}
