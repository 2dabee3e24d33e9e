//! A replay in progress, advanced one recorded event at a time.

mod buffered;
mod code_guard;
mod cpuid;
mod debug;
mod diversion;
mod lifecycle;
mod pause;
mod preempt;
mod probes;
mod sentinel;
mod snapshot;
mod syscalls;
mod tasks;

pub use cpuid::finish_cpu_check;
pub use debug::{DebugStep, RunStop, WatchKind};
pub use diversion::{DivertedRun, DivertedStop};
pub use probes::ActiveProbe;

use syscalls::exec_payloads;
use trace::RecordedTid;

use crate::address_space;
use crate::divergence::{syscall_name, RecentEvents};
use crate::lookahead::Lookahead;
use crate::task::{InSyscall, ReplayProcess, ReplayState, ReplayTask};
use crate::{Divergence, ReplayError, ReplayOutcome};
use std::collections::HashMap;
use std::path::Path;
use trace::event::{Event, EventKind, Regs, SyscallExtra};
use trace::{RecordedEvent, TraceReader};
use tracee::ptrace::{self, Resume, Stop, WaitResult, SIGINFO_SIZE};
use tracee::{regs, Pid, ProcessMemory};

/// A live thread of the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Recorded thread id (what the program saw).
    pub tid: RecordedTid,
    /// Recorded process id.
    pub pid: RecordedTid,
    /// Thread id of the replayed thread on this machine now.
    pub real_tid: Pid,
    /// False until the thread's start event has been replayed.
    pub started: bool,
}

pub enum StepOutcome {
    /// One more event was replayed.
    Event(Box<Event>),
    /// The trace has no more events.
    End,
}

/// Whether an event was fully replayed or a debugger stop interrupted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Done,
    Interrupted,
}

/// What the next stop of a resumed thread must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Syscall,
    Signal(i32),
    Rdtsc,
    /// The `int3` of the thread's preemption probe.
    Probe,
}

impl ReplaySession {
    /// What the thread was expected to stop at, for a divergence message.
    fn describe(&self, tid: RecordedTid, expect: Expect) -> String {
        match expect {
            Expect::Syscall => "a syscall".into(),
            Expect::Signal(sig) => format!("signal {sig}"),
            Expect::Rdtsc => "an rdtsc".into(),
            Expect::Probe => match self.tasks.get(&tid).and_then(|t| t.probe.as_ref()) {
                Some(probe) if probe.planted => {
                    format!("its preemption point at {:#x}", probe.at)
                }
                // The bytes there never became code a probe can displace.
                Some(probe) => format!(
                    "its preemption point at {:#x}, where no probe could be built over the \
                     program's bytes",
                    probe.at
                ),
                None => "its preemption point".into(),
            },
        }
    }
}

fn is_fault_signal(sig: i32, info: &[u8; SIGINFO_SIZE]) -> bool {
    ptrace::is_synchronous(sig, info)
}

pub struct ReplaySession {
    reader: TraceReader,
    events: Lookahead,
    tasks: HashMap<RecordedTid, ReplayTask>,
    processes: HashMap<RecordedTid, ReplayProcess>,
    recent: RecentEvents,
    /// Breakpoints, watchpoints and the stop a debugger run ended with.
    debug: debug::DebugState,
    /// An event whose replay a breakpoint interrupted; it is finished first.
    interrupted: Option<RecordedEvent>,
    replayed: u64,
    quiet: bool,
    /// Output of events before this many was printed by an earlier attempt.
    print_from: u64,
    /// The trace directory as given, naming the trace's point choices.
    trace_dir: std::path::PathBuf,
    /// Whether `REPLAY_TEST_SPOIL_POINT` changed a point already.
    spoiled_a_point: bool,
    /// The last preemption events replayed, oldest first.
    matched_points: Vec<u64>,
    ended: bool,
    /// Replay's copies of the files the recording mapped `MAP_SHARED`.
    shared_files: crate::shared_files::SharedFiles,
    /// The recording's CPUID table, which answers every CPUID the program
    /// executes when the recording made CPUID fault.
    cpuid: Option<host::cpu_features::CpuidAnswers>,
    /// Copies the replay takes of itself for a debugger (see `snapshot`).
    auto_snapshots: Option<snapshot::AutoSnapshots>,
}

impl ReplaySession {
    pub fn start(trace_dir: &Path, quiet: bool) -> Result<ReplaySession, ReplayError> {
        let reader = TraceReader::open(trace_dir)?;
        // The debugger and the interactive prompt start sessions of their
        // own: they take what earlier replays chose too.
        crate::point_retry::load_saved(trace_dir);
        let cpu = replay_cpu(reader.manifest().header.cpu);
        // Blob hashing (and any thread started later) stays off the CPU the
        // tracee and this thread take turns on.
        tracee::spawn::avoid_cpu(cpu);
        reader.verify_files_in_background();
        trace::check_tick_semantics(&reader.manifest().header.tick_semantics)
            .map_err(ReplayError::Setup)?;
        let cpuid = cpuid::answers(&reader.manifest().header)?;
        let mut events = Lookahead::new(reader.events()?);
        // Every background thread is started: this thread moves to the
        // tracee's CPU now rather than at the spawn, or it would take turns
        // with the read-ahead threads on the other CPU while waiting for
        // the first chunk (a millisecond of every replay, with one CPU idle).
        // spawn_pinned reports a failure.
        let _ = tracee::spawn::pin_current_thread(cpu);
        let first = match events.peek_first()? {
            Some(e) => e.clone(),
            None => {
                return Err(ReplayError::Setup(format!(
                    "trace {} holds no events; nothing to replay",
                    trace_dir.display()
                )))
            }
        };
        let (initial_tid, initial_pid) = (first.event.tid, first.event.pid);
        let EventKind::SyscallExit {
            writes,
            extra: Some(SyscallExtra::Exec(info)),
            ..
        } = &first.event.kind
        else {
            return Err(ReplayError::Setup(format!(
                "trace {} does not start with the program's exec; it was not written by this version of replay",
                trace_dir.display()
            )));
        };
        let exe = reader.verified_file(&info.exe)?;
        let header = &reader.manifest().header;
        // Orphans of replayed processes come back to us to be reaped.
        tracee::tracer::become_subreaper()
            .map_err(|e| ReplayError::Setup(format!("cannot become a subreaper: {e}")))?;
        let real = tracee::spawn::spawn_pinned(&exe, &header.command, &header.env, None, cpu)
            .map_err(|e| match e {
                tracee::spawn::SpawnError::Tracee(e) => ReplayError::Tracee(e),
                other => ReplayError::Setup(other.to_string()),
            })?;
        let mut process = ReplayProcess {
            real_pid: real,
            memory: ProcessMemory::open(real)?,
            scratch: None,
            auxv: Vec::new(),
            exe: None,
            exiting: false,
            blob_fds: HashMap::new(),
            library_words: None,
        };
        let (stack, contents) = exec_payloads(&first, writes.len())?;
        address_space::restore_exec_image(real, &mut process, &reader, info, stack, contents)?;
        if cpuid.is_some() {
            cpuid::fault_on_cpuid(real, &process)?;
        }
        let mut tasks = HashMap::new();
        tasks.insert(
            initial_tid,
            ReplayTask {
                syscall: Some(InSyscall {
                    regs: info.regs,
                    real_result: Some(0),
                    int80_nr: None,
                }),
                ..ReplayTask::new(real, initial_pid, ReplayState::InSyscall)
            },
        );
        let mut processes = HashMap::new();
        processes.insert(initial_pid, process);
        Ok(ReplaySession {
            reader,
            events,
            tasks,
            processes,
            recent: RecentEvents::new(),
            debug: debug::DebugState::default(),
            interrupted: None,
            replayed: 0,
            quiet,
            print_from: 0,
            trace_dir: trace_dir.to_path_buf(),
            spoiled_a_point: false,
            matched_points: Vec::new(),
            ended: false,
            shared_files: Default::default(),
            cpuid,
            auto_snapshots: None,
        })
    }

    pub fn reader(&self) -> &TraceReader {
        &self.reader
    }

    /// The threads of the replay that are still alive, by recorded ids.
    pub fn threads(&self) -> Vec<ThreadInfo> {
        let mut threads: Vec<ThreadInfo> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state != ReplayState::Dead)
            .map(|(&tid, t)| ThreadInfo {
                tid,
                pid: t.rec_pid,
                real_tid: t.real,
                started: !matches!(t.state, ReplayState::New | ReplayState::Created),
            })
            .collect();
        threads.sort_by_key(|t| t.tid);
        threads
    }

    /// The real tid of a thread (recorded tid) that is alive now.
    fn live_thread(&self, tid: RecordedTid) -> Result<Pid, ReplayError> {
        self.thread_to_inspect(tid)
            .and_then(|real| match self.tasks.get(&tid).map(|t| t.state) {
                Some(ReplayState::Created) => Err(ReplayError::Setup(format!(
                    "thread {tid} has not started at this point of the replay"
                ))),
                _ => Ok(real),
            })
    }

    /// As [`ReplaySession::live_thread`], and also a new process's thread
    /// held at its first stop (at a fork a debugger stopped at), whose
    /// registers are the program's but which cannot run yet.
    fn thread_to_inspect(&self, tid: RecordedTid) -> Result<Pid, ReplayError> {
        self.tasks
            .get(&tid)
            .filter(|t| !matches!(t.state, ReplayState::Dead | ReplayState::New))
            .map(|t| t.real)
            .ok_or_else(|| {
                ReplayError::Setup(format!(
                    "thread {tid} is not alive at this point of the replay"
                ))
            })
    }

    /// Registers of a thread (recorded tid) as the replayed thread has them now.
    pub fn regs(&self, tid: RecordedTid) -> Result<Regs, ReplayError> {
        Ok(regs::get(self.thread_to_inspect(tid)?)?)
    }

    /// The x87/SSE state (FXSAVE layout) of a thread.
    pub fn fpregs(&self, tid: RecordedTid) -> Result<[u8; 512], ReplayError> {
        Ok(regs::get_fpregs(self.thread_to_inspect(tid)?)?)
    }

    /// The recorded auxv of a process's last exec.
    pub fn auxv(&self, pid: RecordedTid) -> Result<Vec<(u64, u64)>, ReplayError> {
        Ok(self.process(pid)?.auxv.clone())
    }

    /// The binary a process is running, as stored in the trace's `files/`.
    pub fn exe(&self, pid: RecordedTid) -> Result<Option<std::path::PathBuf>, ReplayError> {
        Ok(self.process(pid)?.exe.clone())
    }

    /// Memory of a process (recorded pid) as the replay has it now.
    pub fn read_memory(
        &self,
        pid: RecordedTid,
        addr: u64,
        len: usize,
    ) -> Result<Vec<u8>, ReplayError> {
        let mut bytes = self.process(pid)?.memory.read(addr, len)?;
        self.hide_probes(pid, addr, &mut bytes);
        Ok(bytes)
    }

    /// The replayed process's address space. Mappings of captured files
    /// name their `files/<sha256>` blob.
    pub fn mappings(&self, pid: RecordedTid) -> Result<Vec<tracee::maps::MapEntry>, ReplayError> {
        Ok(tracee::maps::read(self.process(pid)?.real_pid)?)
    }

    /// Number of events replayed so far.
    /// Output the first `events` events print was printed already (by an
    /// attempt that went back for a preemption point): not again.
    pub fn print_output_from(&mut self, events: u64) {
        self.print_from = events;
    }

    pub fn position(&self) -> u64 {
        self.replayed
    }

    /// Replays the next recorded event.
    pub fn step(&mut self) -> Result<StepOutcome, ReplayError> {
        match self.step_debug()? {
            DebugStep::Event(e) => Ok(StepOutcome::Event(e)),
            DebugStep::End => Ok(StepOutcome::End),
            DebugStep::Stopped(stop) => Err(ReplayError::Setup(format!(
                "internal error: {stop:?} while no debugger is attached"
            ))),
        }
    }

    /// Replays the next recorded event, or stops early at a breakpoint or
    /// watchpoint; the interrupted event is finished by the next call.
    pub fn step_debug(&mut self) -> Result<DebugStep, ReplayError> {
        if self.ended {
            return Ok(DebugStep::End);
        }
        self.snapshot_if_due();
        let recorded = match self.interrupted.take() {
            Some(e) => e,
            None => match self.events.next() {
                Some(next) => next?,
                None => {
                    self.ended = true;
                    return Ok(DebugStep::End);
                }
            },
        };
        let mut recorded = recorded;
        while self.apply(&recorded)? == Applied::Interrupted {
            self.interrupted = Some(recorded);
            let Some(stop) = self.debug.stop.take() else {
                // Stopped for a snapshot inside the stretch of user code
                // before this event: take it, and go on.
                self.snapshot_if_due();
                recorded = self.interrupted.take().expect("set above");
                continue;
            };
            return Ok(DebugStep::Stopped(stop));
        }
        self.recent.push(&recorded.event);
        self.replayed += 1;
        Ok(DebugStep::Event(Box::new(recorded.event)))
    }

    /// Ends the replay: kills what is left and reports the recorded outcome.
    pub fn finish(mut self) -> ReplayOutcome {
        let truncated =
            if self.reader.is_complete() {
                None
            } else {
                Some(self.events.truncation().unwrap_or_else(|| {
                    "the recording was interrupted before it finished".to_string()
                }))
            };
        self.kill_all();
        ReplayOutcome {
            outcome: self.reader.manifest().outcome.clone(),
            events: self.replayed,
            truncated,
        }
    }

    fn kill_all(&mut self) {
        for process in self.processes.values() {
            tracee::tracer::kill_process(process.real_pid);
        }
        self.processes.clear();
        // Wait for this session's own threads only: other sessions in this
        // process (a debugger's probes) have live tracees too. Leaders last,
        // because the kernel reports a leader's death after its threads'.
        let mut threads: Vec<(bool, Pid)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.state != ReplayState::Dead)
            .map(|(&tid, t)| (tid == t.rec_pid, t.real))
            .collect();
        threads.sort();
        for (_, real) in threads {
            // A killed tracee still stops at PTRACE_EVENT_EXIT and waits there.
            while let Ok(WaitResult::Stopped(pid, _)) = ptrace::wait_for(real) {
                let _ = ptrace::resume(pid, Resume::Continue, 0);
            }
        }
        self.tasks.clear();
        // Orphans handed to us as subreaper: reap whatever is already dead.
        tracee::tracer::reap_dead_children();
    }

    fn divergence(
        &self,
        event: &Event,
        what: &str,
        expected: String,
        found: String,
    ) -> ReplayError {
        ReplayError::Divergence(Box::new(Divergence {
            event: event.index,
            tid: event.tid,
            what: what.to_string(),
            expected,
            found,
            recent: self.recent.snapshot(),
            retry: None,
            matched_points: self.matched_points.clone(),
            replayed: self.replayed,
        }))
    }

    fn task(&mut self, event: &Event) -> Result<&mut ReplayTask, ReplayError> {
        if !self.tasks.contains_key(&event.tid) {
            return Err(self.divergence(
                event,
                "event for a thread replay does not know",
                format!("thread {} to exist", event.tid),
                "no such thread in the replay".into(),
            ));
        }
        Ok(self.tasks.get_mut(&event.tid).expect("checked above"))
    }

    fn process(&self, rec_pid: RecordedTid) -> Result<&ReplayProcess, ReplayError> {
        self.processes
            .get(&rec_pid)
            .ok_or_else(|| no_process(rec_pid))
    }

    fn apply(&mut self, recorded: &RecordedEvent) -> Result<Applied, ReplayError> {
        let event = &recorded.event;
        tracing::debug!(event = %crate::divergence::summarize(event), "replaying");
        if self.tasks.get(&event.tid).is_some_and(|t| t.killed_by_exec) {
            let exec_returns = matches!(
                event.kind,
                EventKind::SyscallExit { nr, .. } if syscall_model::execs(nr)
            ) && self.tasks.values().any(|t| t.renamed_to == Some(event.tid));
            if !exec_returns {
                // Logged while the exec tore the thread down; it is gone.
                return Ok(Applied::Done);
            }
        }
        match self.apply_kind(recorded) {
            // The kernel was already killing the process when this was
            // logged (the exit of a syscall it cut short, the patch of that
            // call's site); the thread is gone now, as it was soon after then.
            Err(ReplayError::Tracee(_))
                if self.processes.get(&event.pid).is_some_and(|p| p.exiting) =>
            {
                if let Some(task) = self.tasks.get_mut(&event.tid) {
                    task.syscall = None;
                    task.state = ReplayState::Exiting;
                }
                Ok(Applied::Done)
            }
            other => other,
        }
    }

    fn apply_kind(&mut self, recorded: &RecordedEvent) -> Result<Applied, ReplayError> {
        let event = &recorded.event;
        match &event.kind {
            EventKind::SyscallEntry { regs, inputs } => self.syscall_entry(recorded, regs, inputs),
            EventKind::SyscallExit {
                nr, result, extra, ..
            } => self
                .syscall_exit(recorded, *nr, *result, extra.as_ref())
                .map(|_| Applied::Done),
            EventKind::Signal {
                signo,
                origin,
                siginfo,
                regs,
            } => self.signal(event, *signo, *origin, siginfo, regs),
            EventKind::Rdtsc { regs } => self.rdtsc(event, regs),
            EventKind::Preempt {
                regs,
                vector_state,
                mxcsr,
                memory,
                patch_len,
                ..
            } => self.preempt(
                event,
                preempt::PointState {
                    regs,
                    vector_state,
                    mxcsr: *mxcsr,
                    memory,
                    patch_len: *patch_len,
                },
            ),
            EventKind::TaskStart { .. } => self.task_start(event).map(|_| Applied::Done),
            EventKind::TaskExit { .. } => self.task_exit(event).map(|_| Applied::Done),
            EventKind::Buffered { records, outputs } => self.buffered(recorded, records, outputs),
            EventKind::CodePatch {
                writes,
                resume_from,
                resume_to,
            } => self.code_patch(recorded, writes, *resume_from, *resume_to),
            EventKind::RseqAbort {
                rseq_cs,
                from,
                abort_ip,
            } => self.rseq_abort(event, *rseq_cs, *from, *abort_ip),
            EventKind::KernelWrite { writes } => {
                let memory = &self.process(event.pid)?.memory;
                for (w, bytes) in writes.iter().zip(&recorded.payloads) {
                    memory.write(w.addr, bytes)?;
                }
                Ok(Applied::Done)
            }
            EventKind::StubPage { addr, len } => self.stub_page(event, *addr, *len),
        }
    }

    /// The page the recorder mapped for stubs, mapped here too.
    fn stub_page(&mut self, event: &Event, addr: u64, len: u64) -> Result<Applied, ReplayError> {
        let real = self.task(event)?.real;
        let process = self.process(event.pid)?;
        let site = crate::address_space::syscall_site(process);
        let mapped =
            crate::address_space::map_own_pages(real, &process.memory, site, addr, len, (0, 0))?;
        if let Err(result) = mapped {
            return Err(self.divergence(
                event,
                "could not map the recorder's stub page",
                format!("{len} bytes at {addr:#x}"),
                format!("mmap returned {result}"),
            ));
        }
        Ok(Applied::Done)
    }

    /// Resumes a ready thread until its next stop, which must be `expect`.
    /// Signals the real kernel sends during replay are dropped: the log says
    /// which signals to deliver and where.
    fn advance(&mut self, event: &Event, expect: Expect) -> Result<Applied, ReplayError> {
        let applied = self.run_until_stop(event, expect)?;
        // A probe hit may be an earlier pass than the point; the preemption
        // checks the buffer once it is at the point itself.
        if applied == Applied::Done && !matches!(expect, Expect::Probe) {
            self.check_buffer_drained(event)?;
        }
        Ok(applied)
    }

    fn run_until_stop(&mut self, event: &Event, expect: Expect) -> Result<Applied, ReplayError> {
        let task = self.task(event)?;
        if task.state != ReplayState::Ready {
            let state = task.state;
            return Err(self.divergence(
                event,
                "thread is not where the recording says it is",
                "a thread ready to run".into(),
                format!("{state:?}"),
            ));
        }
        let real = task.real;
        let pid = task.rec_pid;
        let signal = task.take_signal();
        if task.prefetched.is_none() {
            self.resume_user_code(real, pid, signal)?;
        }
        loop {
            let prefetched = self
                .tasks
                .get_mut(&event.tid)
                .and_then(|t| t.prefetched.take());
            let tgid = self.process(pid)?.real_pid;
            let stop = match (prefetched, expect) {
                (Some(stop), _) => stop,
                (None, Expect::Probe) => {
                    // No pause for a snapshot here: the probe's time limit
                    // would start again after each one.
                    let limit = preempt::preempt_limit();
                    match self.wait_interruptibly(real, limit)? {
                        Some(stop) => stop,
                        None => {
                            return Err(self.divergence(
                                event,
                                "the thread never reached its recorded preemption point",
                                "the recorded registers and memory at that point".into(),
                                format!("no match after {} s of running", limit.as_secs()),
                            ))
                        }
                    }
                }
                (None, _) => {
                    let pause = self.arm_pause(tgid, real);
                    let waited = ptrace::wait_for(real);
                    self.disarm_pause(pause, real);
                    waited?
                }
            };
            self.remove_breakpoints();
            tracing::trace!(
                ?stop,
                ?expect,
                rip = regs::get(real).map(|r| r.rip).unwrap_or(0),
                "replayed thread stopped"
            );
            match stop {
                WaitResult::Stopped(_, Stop::Syscall) if expect == Expect::Syscall => {
                    return Ok(Applied::Done)
                }
                // A call through the legacy vsyscall page, which only the
                // spawn's seccomp filter stops (see record's vsyscall.rs).
                WaitResult::Stopped(_, Stop::Event { event: ev, .. })
                    if ev == libc::PTRACE_EVENT_SECCOMP && expect == Expect::Syscall =>
                {
                    return Ok(Applied::Done)
                }
                // A call seccomp lets through unseen (uretprobe), which the
                // buffered recording therefore never stopped at: it runs,
                // and the signal it forces is the one expected.
                WaitResult::Stopped(_, Stop::Syscall)
                    if matches!(expect, Expect::Signal(_)) && forces_its_signal(real) =>
                {
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                WaitResult::Stopped(_, Stop::Signal(sig)) if self.is_pause(real, sig) => {
                    self.debug.stop = None;
                    return Ok(Applied::Interrupted);
                }
                WaitResult::Stopped(_, Stop::Signal(sig)) => {
                    if let Some(applied) = self.on_signal_stop(event, expect, real, pid, sig)? {
                        return Ok(applied);
                    }
                }
                WaitResult::Stopped(_, Stop::Event { event: ev, .. })
                    if ev != libc::PTRACE_EVENT_EXIT =>
                {
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                other => {
                    let found = match other {
                        WaitResult::Stopped(_, Stop::Syscall) => {
                            let nr = regs::get(real).map(|r| r.orig_rax).unwrap_or(u64::MAX);
                            format!("a {} syscall", syscall_name(nr))
                        }
                        other => format!("{other:?}"),
                    };
                    return Err(self.divergence(
                        event,
                        "the replayed thread stopped somewhere else",
                        self.describe(event.tid, expect),
                        found,
                    ));
                }
            }
        }
    }

    /// A signal stop while running to the event's stop: what it ends in,
    /// or `None` where the thread runs on.
    fn on_signal_stop(
        &mut self,
        event: &Event,
        expect: Expect,
        real: Pid,
        pid: RecordedTid,
        sig: i32,
    ) -> Result<Option<Applied>, ReplayError> {
        let Some(info) = ptrace::get_siginfo(real)? else {
            ptrace::resume(real, Resume::Syscall, 0)?;
            return Ok(None);
        };
        if self.answer_cpuid(real, pid, sig, &info)? {
            self.resume_user_code(real, pid, 0)?;
            return Ok(None);
        }
        let guard_fired = expect == Expect::Probe
            && sig == libc::SIGTRAP
            && ptrace::siginfo_code(&info) == ptrace::TRAP_HWBKPT
            && self.code_guard_fired(event.tid, real)?;
        if sig == libc::SIGTRAP {
            if let Some(stop) = self.debug_trap(event.tid, real, &info)? {
                self.debug.stop = Some(stop);
                return Ok(Some(Applied::Interrupted));
            }
        }
        match expect {
            Expect::Signal(want) if want == sig => return Ok(Some(Applied::Done)),
            Expect::Rdtsc if sig == libc::SIGSEGV && ptrace::siginfo_code(&info) == 0x80 => {
                return Ok(Some(Applied::Done))
            }
            Expect::Probe if guard_fired => {
                self.resume_user_code(real, pid, 0)?;
            }
            Expect::Probe if sig == libc::SIGTRAP && self.at_probe_hit(event.tid, real) => {
                return Ok(Some(Applied::Done))
            }
            Expect::Probe
                if (sig == libc::SIGTRAP || is_fault_signal(sig, &info))
                    && self.step_over_window_entry(event, real, sig)? =>
            {
                self.resume_user_code(real, pid, 0)?;
            }
            _ if is_fault_signal(sig, &info) => {
                let rip = regs::get(real).map(|r| r.rip).unwrap_or(0);
                return Err(self.divergence(
                    event,
                    "the replayed program faulted where the recorded one did not",
                    self.describe(event.tid, expect),
                    format!(
                        "signal {sig} at rip {rip:#x} (address {:#x})",
                        ptrace::siginfo_fault_addr(&info)
                    ),
                ));
            }
            _ => {
                tracing::debug!(sig, "dropping a signal the real kernel sent during replay");
                self.resume_user_code(real, pid, 0)?;
            }
        }
        Ok(None)
    }

    fn compare_regs(&self, event: &Event, recorded: &Regs, real: Pid) -> Result<Regs, ReplayError> {
        let found = regs::get(real)?;
        let mut diffs = regs::differences(recorded, &found);
        if diffs.is_empty() {
            return Ok(found);
        }
        if let Some(as_traced) = self.int80_as_traced(event, &found)? {
            // The trace keeps such a call as its x86_64 equivalent; the
            // thread's own registers are what replay resumes it with.
            diffs = regs::differences(recorded, &as_traced);
            if diffs.is_empty() {
                return Ok(found);
            }
        }
        let expected = diffs
            .iter()
            .map(|(n, e, _)| format!("{n}={e:#x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let got = diffs
            .iter()
            .map(|(n, _, f)| format!("{n}={f:#x}"))
            .collect::<Vec<_>>()
            .join(" ");
        Err(self.divergence(event, "registers differ", expected, got))
    }
}

impl ReplaySession {
    /// A syscall stop made with `int $0x80`, as the recorder traced it:
    /// its x86_64 equivalent (`syscall_model::compat`).
    fn int80_as_traced(&self, event: &Event, found: &Regs) -> Result<Option<Regs>, ReplayError> {
        let memory = &self.process(event.pid)?.memory;
        if !regs::made_by_int80(memory, found.rip) {
            return Ok(None);
        }
        Ok(syscall_model::compat::native_equivalent(found.orig_rax)
            .map(|native| found.with_syscall(native, found.i386_syscall_args())))
    }
}

/// Whether `real` is stopped at a syscall that replay runs even where it
/// failed, for the signal its failure forces.
fn forces_its_signal(real: Pid) -> bool {
    regs::get(real).is_ok_and(|r| {
        syscall_model::syscall(r.orig_rax).is_some_and(|row| row.runs_even_failing())
    })
}

fn no_process(rec_pid: RecordedTid) -> ReplayError {
    ReplayError::Setup(format!(
        "internal error: no replayed process for pid {rec_pid}"
    ))
}

/// The recording's CPU when this replay may use it (CPUID tells a program
/// which CPU it runs on), else one chosen as for a recording.
fn replay_cpu(recorded: Option<u32>) -> usize {
    match recorded.and_then(|c| usize::try_from(c).ok()) {
        Some(cpu) if tracee::spawn::cpu_allowed(cpu) => cpu,
        Some(cpu) => {
            tracing::warn!(
                "the recording ran on CPU {cpu}, which this replay may not use; a program \
                 that reads its CPU's APIC id with CPUID may diverge"
            );
            tracee::spawn::choose_cpu()
        }
        None => tracee::spawn::choose_cpu(),
    }
}
