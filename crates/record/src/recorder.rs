//! The recorder's event loop.

use crate::event_log::EventLog;
use crate::exec_checks::is_set_id;
use crate::output::OutputMatcher;
use crate::schedule::Scheduler;
use crate::task::{proc_ids, InFlight, RunState, Task};
use crate::{RecordError, RecordOptions, RecordOutcome};
use std::collections::HashMap;
use std::path::Path;
use trace::event::EventKind;
use trace::{TraceHeader, TraceOutcome, TraceWriter};
use tracee::proc_stat::ThreadStat;
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::{Pid, ProcessMemory};

/// SIGTERM and SIGHUP stop the recording (the trace stays valid); SIGINT
/// and SIGQUIT from a terminal reach the tracee on their own and only wake
/// the recorder, as does its own SIGALRM.
fn install_signal_handlers() -> Result<(), RecordError> {
    use nix::sys::signal::Signal;
    let setup = |e: nix::Error| RecordError::Setup(format!("cannot install signal handlers: {e}"));
    tracee::tracer::note_stop_requests(&[Signal::SIGTERM, Signal::SIGHUP]).map_err(setup)?;
    // SIGALRM: the recorder's own wake-up while a tracee is group-stopped.
    tracee::tracer::interrupt_waits_on(&[Signal::SIGINT, Signal::SIGQUIT, Signal::SIGALRM])
        .map_err(setup)
}

/// Recording ends early with this reason; the trace stays valid.
pub(crate) struct StopRecording(pub(crate) String);

pub(crate) enum Failure {
    Stop(StopRecording),
    Fatal(RecordError),
}

impl<E: Into<RecordError>> From<E> for Failure {
    fn from(e: E) -> Failure {
        match e.into() {
            RecordError::Stopped(reason) => Failure::Stop(StopRecording(reason)),
            RecordError::Tracee(tracee::TraceeError::StopRequested(signo)) => {
                Failure::Stop(StopRecording(format!(
                    "the recorder received signal {signo} and stopped recording"
                )))
            }
            fatal => Failure::Fatal(fatal),
        }
    }
}

pub(crate) type Step<T = ()> = Result<T, Failure>;

pub(crate) struct Recorder {
    pub(crate) log: EventLog,
    pub(crate) tasks: HashMap<Pid, Task>,
    pub(crate) memories: HashMap<Pid, ProcessMemory>,
    pub(crate) scheduler: Scheduler,
    /// The syscall buffer is on: threads run under PTRACE_CONT and traced
    /// syscalls arrive as seccomp stops.
    pub(crate) buffering: bool,
    /// The program runs under a seccomp filter of the recorder's: the
    /// syscall buffer's, or one that stops calls through the legacy
    /// vsyscall page. The program must not see it.
    pub(crate) recorder_filter: bool,
    /// The recorder set no_new_privs for the buffer's seccomp filter (it
    /// must without CAP_SYS_ADMIN): a setuid exec then silently keeps the
    /// caller's privileges.
    pub(crate) set_no_new_privs: bool,
    /// The library's path as `LD_PRELOAD` names it, while buffering: the
    /// recorder adds it back to the environment of every exec.
    pub(crate) preload_library: Option<Vec<u8>>,
    pub(crate) hooks: HashMap<Pid, crate::buffered::HookState>,
    /// New tasks whose fork event was seen, with what they inherit from
    /// the forking thread (taken at the event: the forking process may be
    /// gone by the time the child's first stop is handled).
    pub(crate) forked_by: HashMap<Pid, crate::buffered::ForkedBy>,
    pub(crate) output: OutputMatcher,
    /// Files some process of the recording mapped `MAP_SHARED`, or
    /// `MAP_PRIVATE` through a descriptor it may write (whose pages not yet
    /// copied show later writes to the file): writes to them and their
    /// resizing are logged for replay's copies.
    pub(crate) shared_files: std::collections::HashSet<trace::event::FileIdentity>,
    /// Some process of the recording made a fanotify group whose
    /// listener answers for opens and reads (see
    /// `note_permission_listener`).
    pub(crate) permission_listener: bool,
    /// Processes a fatal signal or an `exit_group` is killing, until their
    /// last thread is reaped.
    killed_processes: std::collections::HashSet<Pid>,
    /// The running thread found asleep inside a buffered call while others
    /// waited, and since when.
    asleep_in_buffer: Option<(Pid, std::time::Instant)>,
    /// (process, return address) of traced syscalls known to be made with
    /// `syscall`, not `int $0x80`, so that the check reads memory once.
    pub(crate) syscall_sites: std::collections::HashSet<(Pid, u64)>,
    /// Processes that opened a `/proc/PID/mem` for writing.
    pub(crate) proc_mem_writers: std::collections::HashSet<Pid>,
    /// Processes that opened a `/proc` file the recorder rewrites, and
    /// the text it serves them (`proc_views.rs`).
    pub(crate) proc_views: crate::proc_views::ProcViews,
    /// The ptrace stops of the threads that are gone, by process
    /// (`switch_counts.rs`).
    pub(crate) exited_stops: crate::switch_counts::ExitedStops,
    /// The CPU features CPUID hides from the program, by their
    /// `/proc/cpuinfo` names.
    pub(crate) hidden_cpu_flags: Vec<String>,
    /// Processes that took a SIGCONT since their last stop signal: a
    /// thread whose group-stop is reported only now goes on at once.
    pub(crate) continued: std::collections::HashSet<Pid>,
    /// Threads stopped by SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU with the rest
    /// of their process (a group-stop): left in their stop until a SIGCONT.
    pub(crate) group_stopped: std::collections::BTreeSet<Pid>,
    /// The table every CPUID the program executes is answered from, where
    /// CPUID faults (see `cpuid.rs`).
    pub(crate) cpuid: Option<std::sync::Arc<crate::cpuid::CpuidAnswers>>,
    /// The CPUs the program may run on natively (the recorder's own, before
    /// it pinned anything), which `sched_getaffinity` shows.
    pub(crate) native_affinity: Option<Vec<u8>>,
    initial_pid: Pid,
    initial_outcome: Option<TraceOutcome>,
}

pub fn record(options: RecordOptions) -> Result<RecordOutcome, RecordError> {
    let mut env = options.env.clone();
    let mut options = options;
    if is_set_id(&options.program) {
        // The buffer's seccomp filter needs no_new_privs, under which the
        // kernel would run this program without its privileges; without
        // the buffer the exec is refused below, as it must be.
        options.syscall_buffer = None;
    }
    if let Some(library) = &options.syscall_buffer {
        preload(&mut env, library);
    }
    // Before anything is pinned: the CPUs the program would have natively.
    let native_affinity = tracee::spawn::starting_affinity();
    let cpu = tracee::spawn::choose_cpu();
    let cpuid_answers = crate::cpuid::answers(&options, cpu);
    let header = TraceHeader {
        command: options.argv.clone(),
        env: env.clone(),
        cwd: std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        start_unix_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        machine: cpuid_answers
            .clone()
            .unwrap_or_else(host::machine::without_cpuid),
        tick_semantics: trace::TICKS_STATE_MATCH.into(),
        pmu: tracee::perf::branch_counter().map(str::to_string),
        cpu: u32::try_from(cpu).ok(),
        cpuid_faulting: cpuid_answers.is_some(),
        hidden_cpu_features: match cpuid_answers {
            Some(_) => options.hidden_cpu_features.clone(),
            None => Vec::new(),
        },
    };
    let hidden_cpu_flags = header.hidden_cpu_features.clone();
    // The writer's compression thread starts before this thread is pinned
    // to the tracee's CPU, and off it, so that the two never take turns.
    tracee::spawn::avoid_cpu(cpu);
    // With faulting the header has the table already.
    let machine = cpuid_answers
        .is_none()
        .then(|| host::machine::in_background(options.machine_cache.clone()));
    let header_cpuid = cpuid_answers
        .as_ref()
        .map(|m| std::sync::Arc::new(crate::cpuid::CpuidAnswers::new(m)));
    let mut writer = TraceWriter::create(&options.trace_dir, header)?;
    if let Some(dir) = &options.link_cache {
        writer.set_link_cache(dir.clone());
    }
    install_signal_handlers()?;
    let untraced_ip = options
        .syscall_buffer
        .as_ref()
        .map(|_| syscallbuf::UNTRACED_RETURN);
    let pid = tracee::spawn::spawn_pinned(&options.program, &options.argv, &env, untraced_ip, cpu)
        .map_err(|e| match e {
            tracee::spawn::SpawnError::Tracee(e) => RecordError::Tracee(e),
            other => RecordError::Setup(other.to_string()),
        })?;
    tracee::tracer::raise_fd_limit();
    let mut recorder = Recorder {
        log: EventLog::new(writer),
        tasks: HashMap::new(),
        memories: HashMap::new(),
        scheduler: Scheduler::new(options.timeslice_ns, options.chaos_seed),
        buffering: untraced_ip.is_some(),
        recorder_filter: seccomp_filters(&pid.to_string()) > seccomp_filters("self"),
        set_no_new_privs: untraced_ip.is_some()
            && no_new_privs(&pid.to_string())
            && !no_new_privs("self"),
        preload_library: options
            .syscall_buffer
            .as_ref()
            .map(|library| library.as_os_str().as_encoded_bytes().to_vec()),
        shared_files: Default::default(),
        permission_listener: false,
        killed_processes: Default::default(),
        asleep_in_buffer: None,
        syscall_sites: Default::default(),
        proc_mem_writers: Default::default(),
        proc_views: Default::default(),
        exited_stops: Default::default(),
        hidden_cpu_flags,
        continued: Default::default(),
        group_stopped: Default::default(),
        cpuid: header_cpuid,
        native_affinity,
        hooks: HashMap::new(),
        forked_by: HashMap::new(),
        output: OutputMatcher::new(),
        initial_pid: pid,
        initial_outcome: None,
    };
    recorder.add_task(pid, pid)?;
    // The child waits at the exit of its exec: the first event logged.
    if let Some(task) = recorder.tasks.get_mut(&pid) {
        task.started = true;
        let execve = libc::SYS_execve as u64;
        task.syscall = Some(InFlight::plain(execve, 0, [0; 6], (execve, [0; 6])));
        task.pending_stop = Some(Stop::Syscall);
    }
    recorder.scheduler.enqueue(pid);

    let stopped_early = match recorder.run() {
        Ok(()) => None,
        Err(Failure::Stop(StopRecording(reason))) => Some(reason),
        Err(Failure::Fatal(e)) => {
            recorder.kill_all();
            let _ = recorder.log.flush();
            return Err(e);
        }
    };
    if stopped_early.is_some() {
        recorder.kill_all();
    }
    let events = recorder.log.next_index();
    let outcome = match (&stopped_early, recorder.initial_outcome.clone()) {
        (Some(reason), _) => TraceOutcome::Interrupted {
            reason: reason.clone(),
        },
        (None, Some(outcome)) => outcome,
        (None, None) => TraceOutcome::Interrupted {
            reason: "the traced program vanished without an exit status".into(),
        },
    };
    recorder
        .log
        .finish(machine.map(|m| m.wait()), outcome.clone())?;
    Ok(RecordOutcome {
        outcome,
        events,
        stopped_early,
    })
}

/// What became of a queued thread's stop while it waited for the CPU.
enum Queued {
    /// It is still in the stop it was queued with.
    InItsStop,
    /// A SIGKILL took it out of that stop; this is its next report.
    Reported(WaitResult),
    /// It is dead, or its exit was logged already.
    Gone,
}

impl Recorder {
    fn run(&mut self) -> Step {
        /// `interrupt_wait_in_a_second`'s delay.
        const WAKE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
        let mut wake_armed_at: Option<std::time::Instant> = None;
        loop {
            if let Some(sig) = tracee::tracer::stop_requested() {
                return Err(Failure::Stop(StopRecording(format!(
                    "the recorder received signal {sig} and stopped recording"
                ))));
            }
            let running_killed = self
                .scheduler
                .running()
                .and_then(|r| self.tasks.get(&r))
                .is_some_and(|r| self.killed_processes.contains(&r.tgid));
            if running_killed {
                self.scheduler.cpu_released();
            }
            if self.scheduler.running().is_none() {
                if let Some(tid) = self.scheduler.next_ready() {
                    self.process(tid)?;
                    continue;
                }
                if self.continue_group_stopped()? {
                    continue;
                }
            }
            if self.tasks.is_empty() {
                return Ok(());
            }
            let others_wait = self.scheduler.running().is_some() && self.scheduler.anyone_waiting();
            let wake_due = wake_armed_at.is_none_or(|at| at.elapsed() >= WAKE_AFTER);
            if (!self.group_stopped.is_empty() || others_wait) && wake_due {
                // A SIGCONT from outside the recording shows in no stop, and
                // neither does the death of a running thread whose exit
                // stop went by unreported. Armed once a second, not at every
                // stop: this loop is the recorder's hottest path.
                tracee::tracer::interrupt_wait_in_a_second();
                wake_armed_at = Some(std::time::Instant::now());
            }
            match ptrace::wait_any_interruptible() {
                Ok(Some(w)) => {
                    let handled = self.on_wait(w);
                    self.unless_killed(handled)?
                }
                Ok(None) => {
                    self.release_cpu_of_the_dead();
                    self.stop_if_asleep_in_buffer()?;
                    continue;
                }
                Err(tracee::TraceeError::Wait(nix::Error::ECHILD)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// A running thread that is dead (a zombie group leader, say: resumed
    /// just as it reached its exit stop, it passed that stop unreported,
    /// and no report comes before the others of its group are gone) holds
    /// the CPU no longer, so that the others can exit.
    fn release_cpu_of_the_dead(&mut self) {
        let Some(running) = self.scheduler.running() else {
            return;
        };
        if ThreadStat::read(running).is_none_or(|stat| stat.is_dead()) {
            tracing::debug!(tid = running, "the running thread died unreported");
            self.process_killed(running);
            self.scheduler.cpu_released();
        }
    }

    /// A call the syscall buffer makes without a stop may still wait for
    /// another thread of the recording (a stat of a FUSE file the program
    /// serves itself), which cannot run while the sleeper holds the CPU.
    /// Rather than wait for ever, the recording stops once the running
    /// thread has slept there for `ASLEEP_IN_BUFFER_LIMIT` while others
    /// waited.
    fn stop_if_asleep_in_buffer(&mut self) -> Result<(), Failure> {
        let running = self
            .scheduler
            .running()
            .filter(|_| self.scheduler.anyone_waiting())
            .filter(|&tid| asleep_in_buffered_call(tid));
        let Some(tid) = running else {
            self.asleep_in_buffer = None;
            return Ok(());
        };
        let since = match self.asleep_in_buffer {
            Some((asleep, since)) if asleep == tid => since,
            _ => {
                self.asleep_in_buffer
                    .insert((tid, std::time::Instant::now()))
                    .1
            }
        };
        if since.elapsed() < ASLEEP_IN_BUFFER_LIMIT {
            return Ok(());
        }
        Err(self.refuse(
            tid,
            format!(
                "the thread has waited {} s inside a syscall the syscall buffer made \
                 without a stop, most likely for another thread of the recording (a FUSE \
                 file system the program serves itself, say), which cannot run meanwhile; \
                 record with --no-syscall-buffer",
                ASLEEP_IN_BUFFER_LIMIT.as_secs()
            ),
        ))
    }

    pub(crate) fn add_task(&mut self, tid: Pid, tgid: Pid) -> Result<(), RecordError> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.memories.entry(tgid) {
            match ProcessMemory::open(tid) {
                Ok(memory) => {
                    e.insert(memory);
                }
                // Killed before the recorder got to it (an exit_group or a
                // SIGKILL racing with its creation): its death is reported
                // next, and nothing of its memory is needed before that.
                Err(tracee::TraceeError::Proc { source, .. })
                    if matches!(source.raw_os_error(), Some(libc::ESRCH | libc::ENOENT)) =>
                {
                    tracing::debug!(tid, "a new task vanished before its first stop");
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.tasks
            .entry(tid)
            .or_insert_with(|| Task::new(tid, tgid));
        Ok(())
    }

    pub(crate) fn task(&mut self, tid: Pid) -> Result<&mut Task, RecordError> {
        self.tasks
            .get_mut(&tid)
            .ok_or_else(|| RecordError::Setup(format!("internal error: unknown task {tid}")))
    }

    pub(crate) fn memory(&self, tgid: Pid) -> Result<&ProcessMemory, RecordError> {
        self.memories.get(&tgid).ok_or_else(|| {
            RecordError::Setup(format!(
                "internal error: no memory handle for process {tgid}"
            ))
        })
    }

    pub(crate) fn log(
        &mut self,
        tid: Pid,
        kind: EventKind,
        payloads: Vec<Vec<u8>>,
    ) -> Result<(), RecordError> {
        if !matches!(kind, EventKind::Buffered { .. }) {
            // What the thread did through its buffer came before this.
            match self.flush_buffer(tid) {
                Ok(()) => {}
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Stop(StopRecording(reason))) => {
                    return Err(RecordError::Stopped(reason))
                }
            }
        }
        let pid = self.tasks.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        if let EventKind::SyscallEntry { regs, .. } = &kind {
            if tracee::stack_print::enabled() {
                if let Ok(mem) = self.memory(pid) {
                    tracee::stack_print::log_at_syscall(tid, mem, regs.rsp, self.log.next_index());
                }
            }
        }
        self.log.push(tid, pid, kind, payloads)?;
        Ok(())
    }

    pub(crate) fn resume_user(&mut self, tid: Pid, signal: i32) -> Step {
        self.new_slice(tid);
        self.resume_in_slice(tid, signal)
    }

    /// Resumes `tid` into user code with its time slice running on: a
    /// stop that ran no user code (a merged signal) must not start the
    /// slice again, or a timer faster than the slice keeps it from ever
    /// ending.
    pub(crate) fn resume_in_slice(&mut self, tid: Pid, signal: i32) -> Step {
        // Under a filter of the program's own, a call it fails or traps
        // never reaches the buffer's filter, whose stops the recorder
        // otherwise waits for: such a thread stops at every syscall entry.
        let how = if self.buffering && !self.task(tid)?.modes.own_seccomp {
            Resume::Continue
        } else {
            Resume::Syscall
        };
        ptrace::resume(tid, how, signal)?;
        let task = self.task(tid)?;
        task.state = RunState::Running;
        task.buffer_dirty = true;
        self.scheduler.now_running(tid);
        Ok(())
    }

    pub(crate) fn on_wait(&mut self, w: WaitResult) -> Step {
        match w {
            WaitResult::Exited(tid, code) => self.on_death(tid, TraceOutcome::Exited { code }),
            WaitResult::Signaled(tid, signal, core_dumped) => {
                self.process_killed(tid);
                self.on_death(
                    tid,
                    TraceOutcome::Signaled {
                        signal,
                        core_dumped,
                    },
                )
            }
            WaitResult::Stopped(tid, stop) => {
                if let Stop::Event { event, message } = stop {
                    if event == libc::PTRACE_EVENT_EXIT
                        && (libc::WIFSIGNALED(message as i32) || self.sibling_execs(tid))
                    {
                        self.process_killed(tid);
                    }
                }
                if !self.tasks.contains_key(&tid) {
                    // A new task can report its first stop before its
                    // parent's fork/clone event does.
                    let tgid = proc_ids(tid).map(|(tgid, _)| tgid).unwrap_or(tid);
                    self.add_task(tid, tgid)?;
                }
                let was_running = self.scheduler.stopped(tid);
                let stop = match stop {
                    Stop::Event { event, .. } if event == libc::PTRACE_EVENT_SECCOMP => {
                        if self.task(tid)?.syscall.is_some() {
                            // Its entry stop came first (it ran under
                            // PTRACE_SYSCALL); the exit stop follows.
                            return self.seccomp_stop_after_entry(tid);
                        }
                        Stop::Syscall
                    }
                    other => other,
                };
                match stop {
                    // An exiting thread clears its tid word and wakes joiners
                    // once resumed: a memory effect, so it waits its turn like
                    // a syscall exit instead of racing with the running thread.
                    Stop::Event { event, message } if event != libc::PTRACE_EVENT_EXIT => {
                        self.on_ptrace_event(tid, event, message)
                    }
                    _ => {
                        let task = self.task(tid)?;
                        task.state = RunState::Stopped;
                        task.pending_stop = Some(stop);
                        // Replay runs a thread's user code just before its
                        // next event, so that event must be logged before
                        // anything that completed while the code ran.
                        if was_running {
                            self.scheduler.stopped_while_running(tid);
                        } else {
                            self.scheduler.enqueue(tid);
                            self.someone_waits();
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    /// Whether another thread of `tid`'s process is in `execve`: an exit
    /// stop then means the exec got past its point of no return and is
    /// killing every other thread.
    fn sibling_execs(&self, tid: Pid) -> bool {
        let Some(tgid) = self.tasks.get(&tid).map(|t| t.tgid) else {
            return false;
        };
        self.tasks.iter().any(|(&other, task)| {
            other != tid
                && task.tgid == tgid
                && task
                    .syscall
                    .as_ref()
                    .is_some_and(|call| syscall_model::execs(call.nr))
        })
    }

    /// A fatal signal, an `exit_group` or another thread's exec is killing
    /// `tid` and with it every (other) thread of its process. A thread of
    /// it that runs user code will not stop again before its exit, and a
    /// group leader not even there: it is reported only once the others
    /// are gone, which they cannot be while they wait for it to stop
    /// first. None of them counts as running from here (see
    /// [`Recorder::run`]).
    pub(crate) fn process_killed(&mut self, tid: Pid) {
        if let Some(task) = self.tasks.get(&tid) {
            self.killed_processes.insert(task.tgid);
        }
    }

    /// An exec in `tgid` killed its other threads; the process itself
    /// lives on in the new image.
    pub(crate) fn exec_survived(&mut self, tgid: Pid) {
        self.killed_processes.remove(&tgid);
    }

    fn on_death(&mut self, tid: Pid, outcome: TraceOutcome) -> Step {
        if tid == self.initial_pid {
            self.initial_outcome = Some(outcome);
        }
        self.scheduler.forget(tid);
        if let Some(task) = self.tasks.remove(&tid) {
            self.exited_stops.thread_gone(tid, task.tgid);
            if !self.tasks.values().any(|t| t.tgid == task.tgid) {
                self.memories.remove(&task.tgid);
                self.killed_processes.remove(&task.tgid);
                self.proc_views.forget(task.tgid);
                self.exited_stops.process_gone(task.tgid);
            }
        }
        Ok(())
    }

    fn process(&mut self, tid: Pid) -> Step {
        let Some(task) = self.tasks.get(&tid) else {
            return Ok(());
        };
        // A preempted thread killed while it waited in the queue reports its
        // exit stop: that stop is what it does next. Resumed as if into
        // user code instead, it would count as the running thread while it
        // dies, and a dying group leader is not reported until its other
        // threads, still queued, have exited: the recorder waited forever.
        let exiting = matches!(
            task.pending_stop,
            Some(Stop::Event { event, .. }) if event == libc::PTRACE_EVENT_EXIT
        );
        let (preempted, tgid) = (task.preempted, task.tgid);
        if !exiting {
            match self.killed_in_the_queue(tid, tgid, preempted)? {
                Queued::Reported(reported) => {
                    let handled = self.on_wait(reported);
                    return self.unless_killed(handled);
                }
                Queued::Gone => {
                    // Its exit went by already (a zombie group leader waits
                    // for the rest of its group); nothing of it is left to do.
                    self.scheduler.stopped(tid);
                    let task = self.task(tid)?;
                    task.preempted = false;
                    task.pending_stop = None;
                    task.state = RunState::InKernel;
                    return Ok(());
                }
                Queued::InItsStop => {}
            }
        }
        let task = self.task(tid)?;
        task.preempted = false;
        let handled = if preempted && !exiting {
            self.resume_user(tid, 0)
        } else {
            let Some(stop) = task.pending_stop.take() else {
                return Ok(());
            };
            match stop {
                Stop::Syscall if task.syscall.is_none() => self.syscall_entry(tid),
                Stop::Syscall => self.syscall_exit(tid),
                Stop::Signal(sig) => self.signal_stop(tid, sig),
                Stop::Event { event, message } => self.on_ptrace_event(tid, event, message),
            }
        };
        self.unless_killed(handled)
    }

    /// The exit stop of a queued thread that was killed while it waited
    /// (an `exit_group`, another thread's exec, a fatal signal): a SIGKILL
    /// wakes a thread out of its ptrace stop, so the stop it waited with
    /// is stale, and resuming it would lose the exit's report.
    fn killed_in_the_queue(
        &self,
        tid: Pid,
        tgid: Pid,
        preempted: bool,
    ) -> Result<Queued, RecordError> {
        if self.tasks.get(&tid).is_some_and(|t| t.exit_seen) {
            return Ok(Queued::Gone);
        }
        let dying = self.killed_processes.contains(&tgid);
        let exec_beside = self.sibling_execs(tid);
        if !preempted && !dying && !exec_beside {
            return Ok(Queued::InItsStop);
        }
        if let Some(reported) = ptrace::poll_for(tid)? {
            return Ok(Queued::Reported(reported));
        }
        if !dying && !exec_beside {
            return Ok(Queued::InItsStop);
        }
        let stat = ThreadStat::read(tid);
        if stat.as_ref().is_some_and(ThreadStat::is_dead) {
            return Ok(Queued::Gone);
        }
        // In a dying process the exit stop is certain but may not be
        // reached yet: a resume made just as it is reached would pass it
        // unreported (a group leader then stays a zombie that never stops,
        // counted as running). Only a SIGKILL takes a thread out of its
        // ptrace stop, so one that left it is on its way there too.
        let woken = stat.is_some_and(|stat| !stat.in_tracing_stop());
        if (dying && preempted) || woken {
            return Ok(Queued::Reported(ptrace::wait_for(tid)?));
        }
        Ok(Queued::InItsStop)
    }

    /// A task can be killed while its stop waits in the queue (another
    /// thread called exit_group, or SIGKILL came from outside): ptrace then
    /// answers ESRCH. What it was doing never completes, and its exit is
    /// logged when wait reports it.
    fn unless_killed(&mut self, handled: Step) -> Step {
        let gone = match &handled {
            Err(Failure::Fatal(RecordError::Tracee(e))) => e.gone_task(),
            _ => None,
        };
        let Some(tid) = gone.filter(|tid| self.tasks.contains_key(tid)) else {
            return handled;
        };
        tracing::debug!(tid, "task was killed while stopped");
        self.scheduler.stopped(tid);
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.state = RunState::InKernel;
            task.preempted = false;
        }
        Ok(())
    }

    fn kill_all(&mut self) {
        let groups: Vec<Pid> = self.tasks.values().map(|t| t.tgid).collect();
        for tgid in groups {
            tracee::tracer::kill_process(tgid);
        }
        // Stops already reported but not yet processed get no new report: a
        // task held at its exit stop would wait there forever, SIGKILL or not.
        for task in self.tasks.values().filter(|t| t.state == RunState::Stopped) {
            let _ = ptrace::resume(task.tid, Resume::Continue, 0);
        }
        // Reap so that nothing outlives the recorder.
        while !self.tasks.is_empty() {
            match ptrace::wait_any() {
                Ok(WaitResult::Exited(tid, _) | WaitResult::Signaled(tid, _, _)) => {
                    self.tasks.remove(&tid);
                }
                Ok(WaitResult::Stopped(tid, _)) => {
                    let _ = ptrace::resume(tid, Resume::Continue, 0);
                }
                Err(_) => break,
            }
        }
    }
}

/// How long the running thread may sleep in a buffered call while others
/// wait: see [`Recorder::stop_if_asleep_in_buffer`].
const ASLEEP_IN_BUFFER_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `tid` sleeps in a syscall made at the buffer's untraced
/// syscall instruction (`/proc/TID/syscall` ends with the user pc).
fn asleep_in_buffered_call(tid: Pid) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{tid}/syscall")) else {
        return false;
    };
    let pc = text
        .split_whitespace()
        .last()
        .and_then(|pc| pc.strip_prefix("0x"));
    pc.and_then(|pc| u64::from_str_radix(pc, 16).ok()) == Some(syscallbuf::UNTRACED_RETURN)
        && tracee::ptrace::is_blocked(tid)
}

/// Whether `/proc/PROCESS/status` says no_new_privs is set.
/// How many seccomp filters `process` runs under.
fn seccomp_filters(process: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Seccomp_filters:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn no_new_privs(process: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .is_ok_and(|status| status.lines().any(|l| l == "NoNewPrivs:\t1"))
}

/// Appends the recorder's `LD_PRELOAD` entry, last, naming the syscall
/// buffer's library and then whatever the program's own `LD_PRELOAD`
/// (left where it is) names; see `syscallbuf::environment`.
fn preload(env: &mut Vec<(String, String)>, library: &Path) {
    let library = library.to_string_lossy().into_owned();
    let value = match env.iter().rev().find(|(k, _)| k == "LD_PRELOAD") {
        Some((_, own)) if !own.is_empty() => format!("{library}:{own}"),
        _ => library,
    };
    env.push(("LD_PRELOAD".into(), value));
}
