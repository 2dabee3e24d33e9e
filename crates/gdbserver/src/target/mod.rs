//! The gdbstub target: gdb's view of a replay.

mod breakpoints;
mod monitor;

use crate::arch::{X86_64Linux, X86_64Regs};
use crate::diversion::Diversion;
use crate::timeline::{Config, Here, Op, Timeline};
use crate::GdbServerError;
use gdbstub::common::{Signal, Tid};
use gdbstub::target::ext::auxv::{Auxv, AuxvOps};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::reverse_exec::{
    ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::BreakpointsOps;
use gdbstub::target::ext::exec_file::{ExecFile, ExecFileOps};
use gdbstub::target::ext::monitor_cmd::MonitorCmdOps;
use gdbstub::target::{Target, TargetError, TargetResult};
use replayer::RunStop;
use std::collections::BTreeSet;
use std::path::Path;
use trace::RecordedTid;

/// What gdb asked the next resume to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    Continue,
    Step(RecordedTid),
    ReverseContinue,
    ReverseStep(RecordedTid),
}

/// What the last resume ended with, in gdb's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Breakpoint(RecordedTid),
    Watch(RecordedTid, u64, bool),
    Stepped(RecordedTid),
    /// The end of the recording: gdb sees a SIGKILL it can reverse from.
    End(RecordedTid),
    /// Reverse execution reached the start of the recording.
    Start(RecordedTid),
    /// Ctrl-C in gdb stopped a `continue` between two events.
    Interrupted(RecordedTid),
    /// Code gdb runs in a diversion raised this signal.
    Signal(RecordedTid, i32),
    /// The thread's last event made this process (gdb's fork event).
    Forked(RecordedTid, RecordedTid),
    /// This process (not the last) ended with this wait status; gdb's
    /// current thread is the second.
    ProcessExited(RecordedTid, i32, RecordedTid),
}

/// How a gdb command that could not complete ended.
#[derive(Debug)]
pub enum Failed {
    /// The replay is back where the command started, in thread `tid`.
    Recovered { reason: String, tid: RecordedTid },
    /// Not even that worked: the session ends.
    Lost(GdbServerError),
}

pub struct ReplayTarget {
    pub timeline: Timeline,
    config: Config,
    pub pending: Pending,
    /// Thread gdb last stopped in.
    pub current: RecordedTid,
    /// `monitor checkpoint`: saved positions, as the operations that reach them.
    checkpoints: Vec<Vec<Op>>,
    /// Files gdb opened through host I/O.
    pub open_files: crate::host_io::OpenFiles,
    /// gdb's connection, watched for Ctrl-C while a `continue` runs.
    pub interrupt_source: Option<std::net::TcpStream>,
    /// The copy of the replay gdb changes and runs code in, while it
    /// evaluates an expression that calls a function.
    diversion: Option<Diversion>,
    /// What gdb's console should show before the next stop.
    pub notes: Vec<String>,
    /// The processes gdb sees as inferiors, shared with the connection
    /// that names each thread's process.
    pub processes: crate::processes::SharedProcesses,
    /// The processes each breakpoint is in, as gdb sees it. The replay
    /// has one set of breakpoints for all processes, but gdb inserts and
    /// removes them a process at a time: before it lets go of one side of
    /// a fork it removes them from that side only, and the other keeps
    /// them. A fork child starts with its parent's, as its memory does.
    breakpoint_owners: std::collections::BTreeMap<u64, BTreeSet<RecordedTid>>,
}

fn tid_of(tid: Tid) -> RecordedTid {
    RecordedTid(tid.get() as i32)
}

fn gdb_tid(tid: RecordedTid) -> Option<Tid> {
    Tid::new(tid.raw() as usize)
}

impl ReplayTarget {
    /// A target parked after `events` recorded events (at least the exec, so
    /// that gdb starts at the program's first instruction), in the main
    /// thread of process `pid` when given.
    pub fn new(trace_dir: &Path, start: crate::StartAt) -> Result<ReplayTarget, GdbServerError> {
        let pid = start.pid;
        let mut timeline = Timeline::start(trace_dir)?;
        if start.at_end {
            timeline.forward(Op::ToEvent(1))?;
            timeline.forward(Op::Run(Config::default()))?;
        } else {
            timeline.forward(Op::ToEvent(start.events.max(1)))?;
        }
        let threads = timeline.session.threads();
        let current = match pid {
            Some(p) => match threads.iter().find(|t| t.pid == p && t.tid == p) {
                Some(t) => t.tid,
                None => {
                    return Err(GdbServerError::Start(format!(
                        "process {p} is not alive at event {}; `replay ps` shows when it runs",
                        timeline.session.position()
                    )))
                }
            },
            None => threads.first().map(|t| t.tid).unwrap_or(RecordedTid(1)),
        };
        let target = ReplayTarget {
            timeline,
            config: Config::default(),
            pending: Pending::Continue,
            current,
            checkpoints: Vec::new(),
            open_files: Default::default(),
            interrupt_source: None,
            diversion: None,
            notes: Vec::new(),
            processes: Default::default(),
            breakpoint_owners: Default::default(),
        };
        target.show_processes();
        Ok(target)
    }

    /// Tells the connection which process each live thread belongs to.
    pub fn show_processes(&self) {
        let threads = self.session().threads();
        self.processes.borrow_mut().set_threads(
            threads
                .iter()
                .map(|t| (t.tid.raw() as u64, t.pid.raw() as u64)),
        );
    }

    /// The process gdb's requests without a thread (auxv) are about: the
    /// one it chose last, else the current thread's.
    fn chosen_process(&self) -> Option<RecordedTid> {
        self.named_process()
            .filter(|&pid| self.session().threads().iter().any(|t| t.pid == pid))
            .or_else(|| self.pid_of(self.current))
    }

    /// The process gdb's last `Hg` named, alive or not.
    fn named_process(&self) -> Option<RecordedTid> {
        let named = self.processes.borrow().chosen();
        named.map(|pid| RecordedTid(pid as i32))
    }

    /// The session gdb sees: the diversion while there is one.
    fn session(&self) -> &replayer::ReplaySession {
        self.diversion
            .as_ref()
            .map_or(&self.timeline.session, |d| &d.session)
    }

    /// The session gdb may change: the diversion, begun now if needed.
    fn diverted(
        &mut self,
        tid: RecordedTid,
    ) -> Result<&mut replayer::ReplaySession, GdbServerError> {
        if self.diversion.is_none() {
            self.diversion = Some(Diversion::begin(&mut self.timeline.session, tid)?);
        }
        Ok(&mut self.diversion.as_mut().expect("just begun").session)
    }

    fn pid_of(&self, tid: RecordedTid) -> Option<RecordedTid> {
        let threads = self.session().threads();
        threads
            .iter()
            .find(|t| t.tid == tid)
            .or_else(|| threads.first())
            .map(|t| t.pid)
    }

    fn here(&mut self) -> Here {
        let tid = self.current;
        self.timeline.here(Some(tid))
    }

    fn outcome_of(&mut self, stop: RunStop) -> Outcome {
        match stop {
            RunStop::Breakpoint { tid } => {
                self.current = tid;
                Outcome::Breakpoint(tid)
            }
            RunStop::Watchpoint { tid, addr } => {
                self.current = tid;
                let read = self.config.watchpoints.iter().any(|w| w.0 == addr && w.2);
                Outcome::Watch(tid, addr, read)
            }
            RunStop::Stepped { tid } => {
                self.current = tid;
                Outcome::Stepped(tid)
            }
            RunStop::Forked { tid, child } => {
                if let Some(parent) = self.pid_of(tid) {
                    for owners in self.breakpoint_owners.values_mut() {
                        if owners.contains(&parent) {
                            owners.insert(child);
                        }
                    }
                }
                // A process gdb saw end is back when the replay makes it
                // again (going forward after going back before its fork).
                self.processes.borrow_mut().born(child.raw() as u64);
                self.current = tid;
                Outcome::Forked(tid, child)
            }
            RunStop::ProcessExited { pid, status } => {
                if !self.visible(self.current) {
                    if let Some(tid) = self.visible_threads().first() {
                        self.current = *tid;
                    }
                }
                Outcome::ProcessExited(pid, status, self.current)
            }
            RunStop::End => {
                if let Some(tid) = self.visible_threads().first() {
                    self.current = *tid;
                }
                Outcome::End(self.current)
            }
            RunStop::Interrupted { tid } => {
                if self.timeline.session.regs(tid).is_ok() && self.visible(tid) {
                    self.current = tid;
                }
                Outcome::Interrupted(self.current)
            }
        }
    }

    /// The live threads of the processes gdb sees.
    fn visible_threads(&self) -> Vec<RecordedTid> {
        let processes = self.processes.borrow();
        self.session()
            .threads()
            .iter()
            .filter(|t| !processes.is_gone(t.pid.raw() as u64))
            .map(|t| t.tid)
            .collect()
    }

    fn visible(&self, tid: RecordedTid) -> bool {
        self.visible_threads().contains(&tid)
    }

    /// Takes in what gdb said through the connection: whether it follows
    /// forks, and which processes it no longer sees.
    fn follow_gdb(&mut self) {
        let processes = self.processes.borrow();
        self.config.report_processes = processes.client_follows_forks();
        self.config.ignored_processes = processes
            .gone()
            .map(|pid| RecordedTid(pid as i32))
            .collect();
    }

    /// Carries out what gdb asked for with its last resume. A command that
    /// cannot complete (a divergence, a limit, a replay error) leaves the
    /// replay where it was before the command, and the error says why: the
    /// session goes on.
    pub fn run_pending(&mut self) -> Result<Outcome, Failed> {
        self.follow_gdb();
        if let Some(diversion) = self.diversion.take() {
            let reverse = matches!(
                self.pending,
                Pending::ReverseContinue | Pending::ReverseStep(_)
            );
            if reverse || diversion.restored() {
                diversion.end();
            } else {
                self.diversion = Some(diversion);
                return self.run_diverted();
            }
        }
        let before = self.timeline.path.clone();
        let reason = match self.try_pending() {
            Ok(outcome) => return Ok(outcome),
            Err(e) => e.to_string(),
        };
        tracing::info!(%reason, "a gdb command failed; going back to where it started");
        match self.timeline.restore(before) {
            Ok(_) => Err(Failed::Recovered {
                reason,
                tid: self.current,
            }),
            Err(e) => Err(Failed::Lost(GdbServerError::Start(format!(
                "{reason}; then the replay could not be brought back to where the command \
                 started: {e}"
            )))),
        }
    }

    /// Runs code gdb set up in the diversion (the function an expression
    /// calls). A failure throws the diversion away: gdb sees the replay
    /// where it was.
    fn run_diverted(&mut self) -> Result<Outcome, Failed> {
        let step = match self.pending {
            Pending::Step(tid) => Some(tid),
            _ => None,
        };
        let diversion = self.diversion.as_mut().expect("run_pending checked");
        match diversion.run(step, &self.config.breakpoints, &mut self.notes) {
            Ok(outcome) => Ok(outcome),
            Err(e) => {
                if let Some(diversion) = self.diversion.take() {
                    diversion.end();
                }
                Err(Failed::Recovered {
                    reason: format!("running the expression's code failed: {e}"),
                    tid: self.current,
                })
            }
        }
    }

    fn try_pending(&mut self) -> Result<Outcome, GdbServerError> {
        match self.pending {
            Pending::Continue => {
                let stop =
                    self.watching_for_ctrl_c(|t| t.timeline.forward(Op::Run(t.config.clone())));
                Ok(self.outcome_of(stop?))
            }
            Pending::Step(tid) => {
                let tid = if self.timeline.session.regs(tid).is_ok() {
                    tid
                } else {
                    self.current
                };
                let stop = self.timeline.forward(Op::Step(tid))?;
                Ok(self.outcome_of(stop))
            }
            Pending::ReverseContinue => {
                let here = self.here();
                // Going backwards, gdb expects no fork events.
                let config = Config {
                    report_processes: false,
                    ..self.config.clone()
                };
                let stop =
                    self.watching_for_ctrl_c(|t| t.timeline.reverse_continue(&config, &here));
                match stop? {
                    Some(stop) => Ok(self.outcome_of(stop)),
                    None => Ok(self.at_start()),
                }
            }
            Pending::ReverseStep(tid) => {
                let here = self.timeline.here(Some(tid));
                if self.timeline.reverse_step(tid, &here)? {
                    self.current = tid;
                    Ok(Outcome::Stepped(tid))
                } else {
                    self.timeline.reverse_continue(&Config::default(), &here)?;
                    Ok(self.at_start())
                }
            }
        }
    }

    /// Runs `command` while a thread watches gdb's connection for Ctrl-C,
    /// which stops the replay at its next event.
    fn watching_for_ctrl_c<T>(
        &mut self,
        command: impl FnOnce(&mut Self) -> Result<T, GdbServerError>,
    ) -> Result<T, GdbServerError> {
        self.timeline
            .interrupt
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let watch = self
            .interrupt_source
            .as_ref()
            .and_then(|stream| crate::interrupt::watch(stream, &self.timeline.interrupt));
        let result = command(self);
        if let Some(watch) = watch {
            watch.stop();
        }
        result
    }

    fn at_start(&mut self) -> Outcome {
        // The first event is the exec; stop right after it, at the program's
        // first instruction.
        let _ = self.timeline.forward(Op::ToEvent(1));
        if let Some(t) = self.timeline.session.threads().first() {
            self.current = t.tid;
        }
        Outcome::Start(self.current)
    }
}

impl Target for ReplayTarget {
    type Arch = X86_64Linux;
    type Error = GdbServerError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn guard_rail_implicit_sw_breakpoints(&self) -> bool {
        true
    }

    fn support_auxv(&mut self) -> Option<AuxvOps<'_, Self>> {
        Some(self)
    }

    fn support_exec_file(&mut self) -> Option<ExecFileOps<'_, Self>> {
        Some(self)
    }

    fn support_host_io(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoOps<'_, Self>> {
        Some(self)
    }
}

/// Copies the part of `data` at `offset` into `buf`, as qXfer reads want.
fn xfer(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = (offset as usize).min(data.len());
    let n = (data.len() - start).min(length).min(buf.len());
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

impl Auxv for ReplayTarget {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let pid = self.chosen_process().ok_or(TargetError::NonFatal)?;
        let auxv = self
            .timeline
            .session
            .auxv(pid)
            .map_err(|_| TargetError::NonFatal)?;
        let bytes: Vec<u8> = auxv
            .iter()
            .flat_map(|(k, v)| k.to_le_bytes().into_iter().chain(v.to_le_bytes()))
            .collect();
        Ok(xfer(&bytes, offset, length, buf))
    }
}

impl ExecFile for ReplayTarget {
    fn get_exec_file(
        &self,
        pid: Option<gdbstub::common::Pid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        // gdb names the process whose executable it wants (the connection
        // leaves that request's pid as gdb sent it).
        let pid = pid
            .map(|pid| RecordedTid(pid.get() as i32))
            .or_else(|| self.chosen_process())
            .ok_or(TargetError::NonFatal)?;
        let exe = self
            .timeline
            .session
            .exe(pid)
            .ok()
            .flatten()
            .ok_or(TargetError::NonFatal)?;
        Ok(xfer(
            exe.as_os_str().as_encoded_bytes(),
            offset,
            length,
            buf,
        ))
    }
}

impl MultiThreadBase for ReplayTarget {
    fn read_registers(&mut self, regs: &mut X86_64Regs, tid: Tid) -> TargetResult<(), Self> {
        let tid = tid_of(tid);
        let session = self.session();
        regs.gprs = session.regs(tid).map_err(|e| {
            tracing::debug!(%tid, "gdb read registers of a thread that has none now: {e}");
            TargetError::NonFatal
        })?;
        regs.fxsave = session.fpregs(tid).unwrap_or([0; 512]);
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86_64Regs, tid: Tid) -> TargetResult<(), Self> {
        // gdb writes orig_rax = -1 on its own when it resumes after a
        // syscall; that one is accepted and ignored. Any other change goes
        // to a diversion: the replay itself cannot be changed.
        let tid = tid_of(tid);
        let session = self.session();
        let current = session.regs(tid).map_err(|_| TargetError::NonFatal)?;
        let fxsave = session.fpregs(tid).unwrap_or([0; 512]);
        let new_fxsave = crate::arch::overlay_fxsave(&regs.fxsave, &fxsave);
        let mut proposed = current;
        proposed.orig_rax = regs.gprs.orig_rax;
        if regs.gprs == proposed && new_fxsave == fxsave {
            return Ok(());
        }
        let diverted = self.diverted(tid).map_err(refused_change)?;
        diverted.set_regs(tid, &regs.gprs).map_err(failed_change)?;
        if new_fxsave != fxsave {
            diverted
                .set_fpregs(tid, &new_fxsave)
                .map_err(failed_change)?;
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let Some(pid) = self.pid_of(tid_of(tid)) else {
            return Err(TargetError::NonFatal);
        };
        // Read page by page so a range running into unmapped memory still
        // returns its readable part, as gdb expects.
        let mut done = 0;
        while done < data.len() {
            let addr = start + done as u64;
            let chunk = ((4096 - addr % 4096) as usize).min(data.len() - done);
            match self.session().read_memory(pid, addr, chunk) {
                Ok(bytes) => {
                    data[done..done + chunk].copy_from_slice(&bytes);
                    done += chunk;
                }
                Err(_) => break,
            }
        }
        if done == 0 {
            return Err(TargetError::NonFatal);
        }
        Ok(done)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        let tid = tid_of(tid);
        let pid = self.pid_of(tid).ok_or(TargetError::NonFatal)?;
        if self
            .session()
            .read_memory(pid, start, data.len())
            .ok()
            .as_deref()
            == Some(data)
        {
            return Ok(());
        }
        self.diverted(tid)
            .map_err(refused_change)?
            .write_memory(pid, start, data)
            .map_err(failed_change)
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        // The thread gdb stopped in comes first: gdb takes the first one as
        // the thread a new connection's stop (`?`) happened in.
        self.show_processes();
        let mut threads = self.visible_threads();
        threads.sort_by_key(|&tid| tid != self.current);
        for tid in threads.into_iter().filter_map(gdb_tid) {
            thread_is_active(tid);
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for ReplayTarget {
    fn resume(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.pending = Pending::Continue;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, Tid, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, Tid, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for ReplayTarget {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.pending = Pending::Step(tid_of(tid));
        Ok(())
    }
}

impl MultiThreadSchedulerLocking for ReplayTarget {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        // Threads always run in the recorded order; running one thread alone
        // would leave the recording. The request is accepted and the replay
        // keeps its order, which is what gdb observes anyway.
        Ok(())
    }
}

impl ReverseCont<Tid> for ReplayTarget {
    fn reverse_cont(&mut self) -> Result<(), Self::Error> {
        self.pending = Pending::ReverseContinue;
        Ok(())
    }
}

impl ReverseStep<Tid> for ReplayTarget {
    fn reverse_step(&mut self, tid: Tid) -> Result<(), Self::Error> {
        self.pending = Pending::ReverseStep(tid_of(tid));
        Ok(())
    }
}

/// A change gdb asked for that no diversion could take (the replay cannot
/// be copied here, say inside a syscall): refused, and logged with why.
fn refused_change(e: GdbServerError) -> TargetError<GdbServerError> {
    tracing::info!("cannot begin a diversion for gdb's change: {e}");
    TargetError::Errno(libc::EPERM as u8)
}

/// A change the diversion could not make (an unmapped address, say).
fn failed_change(e: replayer::ReplayError) -> TargetError<GdbServerError> {
    tracing::debug!("gdb's change to the diversion failed: {e}");
    TargetError::NonFatal
}
