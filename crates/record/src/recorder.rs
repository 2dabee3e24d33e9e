//! The recorder's event loop.

use crate::exec;
use crate::output::OutputMatcher;
use crate::task::{proc_ids, InFlight, RunState, Task};
use crate::{RecordError, RecordOptions, RecordOutcome};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;
use syscall_model::{MemoryError, MemoryReader, ModelError};
use trace::event::{Event, EventKind, MemWrite, Regs, SyscallExtra};
use trace::{MachineInfo, TraceHeader, TraceOutcome, TraceWriter};
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::{regs, Pid, ProcessMemory};

/// Signal that asked the recorder to stop (SIGTERM, SIGHUP), or 0.
static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_terminate(sig: libc::c_int) {
    INTERRUPTED_BY.store(sig, Ordering::SeqCst);
}

extern "C" fn on_terminal_signal(_sig: libc::c_int) {
    // The terminal sends SIGINT/SIGQUIT to the whole foreground group, so the
    // tracee gets its own copy; the recorder keeps going and follows it.
}

fn install_signal_handlers() {
    let set = |sig: libc::c_int, handler: extern "C" fn(libc::c_int)| {
        // SAFETY: the handlers only store to an atomic, which is async-signal-safe.
        // No SA_RESTART, so a blocked waitpid returns EINTR and the loop can react.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    };
    set(libc::SIGTERM, on_terminate);
    set(libc::SIGHUP, on_terminate);
    set(libc::SIGINT, on_terminal_signal);
    set(libc::SIGQUIT, on_terminal_signal);
}

const SYS_RSEQ: u64 = libc::SYS_rseq as u64;

/// Syscalls that map, unmap or reprotect memory (see
/// [`Recorder::exit_in_place`]).
fn changes_mappings(nr: u64) -> bool {
    matches!(
        nr as i64,
        libc::SYS_mmap
            | libc::SYS_munmap
            | libc::SYS_mremap
            | libc::SYS_mprotect
            | libc::SYS_brk
            | libc::SYS_madvise
            | libc::SYS_shmat
            | libc::SYS_shmdt
    )
}

fn is_error_result(result: i64) -> bool {
    (-4095..0).contains(&result)
}

struct Reader<'a>(&'a ProcessMemory);

impl MemoryReader for Reader<'_> {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        if len > 1 << 30 {
            return Err(MemoryError {
                addr,
                len,
                detail: "range larger than 1 GiB".into(),
            });
        }
        self.0.read(addr, len).map_err(|e| MemoryError {
            addr,
            len,
            detail: e.to_string(),
        })
    }
}

/// Recording ends early with this reason; the trace stays valid.
pub(crate) struct StopRecording(String);

/// auxv key set to 1 when an exec gained privileges.
const AT_SECURE: u64 = 23;

pub(crate) enum Failure {
    Stop(StopRecording),
    Fatal(RecordError),
}

impl<E: Into<RecordError>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Fatal(e.into())
    }
}

pub(crate) type Step<T = ()> = Result<T, Failure>;

pub(crate) struct Recorder {
    pub(crate) writer: TraceWriter,
    pub(crate) tasks: HashMap<Pid, Task>,
    pub(crate) memories: HashMap<Pid, ProcessMemory>,
    pub(crate) ready: VecDeque<Pid>,
    /// The front of `ready` is the stop of the thread that ran user code
    /// last, and must be logged before anything else.
    pub(crate) front_pinned: bool,
    pub(crate) running: Option<Pid>,
    pub(crate) timeslice_ns: u64,
    pub(crate) chaos: Option<crate::schedule::Chaos>,
    /// The syscall buffer is on: threads run under PTRACE_CONT and traced
    /// syscalls arrive as seccomp stops.
    pub(crate) buffering: bool,
    pub(crate) hooks: HashMap<Pid, crate::syscallbuf::HookState>,
    /// New tasks whose fork event was seen: the forking thread, and whether
    /// the child has a copy of its memory (a plain fork).
    pub(crate) forked_by: HashMap<Pid, (Pid, bool)>,
    pub(crate) output: OutputMatcher,
    next_index: u64,
    start: Instant,
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
    let cpu = tracee::spawn::choose_cpu();
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
        machine: MachineInfo::without_cpuid(),
        tick_semantics: trace::TICKS_STATE_MATCH.into(),
        pmu: tracee::perf::branch_counter().map(str::to_string),
        cpu: u32::try_from(cpu).ok(),
    };
    // The writer's compression thread starts before this thread is pinned
    // to the tracee's CPU, and off it, so that the two never take turns.
    tracee::spawn::avoid_cpu(cpu);
    let machine = MachineInfo::in_background(options.machine_cache.clone());
    let mut writer = TraceWriter::create(&options.trace_dir, header)?;
    if let Some(dir) = &options.link_cache {
        writer.set_link_cache(dir.clone());
    }
    install_signal_handlers();
    let untraced_ip = options
        .syscall_buffer
        .as_ref()
        .map(|_| syscallbuf::UNTRACED_RETURN);
    let pid = tracee::spawn::spawn_pinned(&options.program, &options.argv, &env, untraced_ip, cpu)
        .map_err(|e| match e {
            tracee::spawn::SpawnError::Tracee(e) => RecordError::Tracee(e),
            other => RecordError::Setup(other.to_string()),
        })?;
    raise_fd_limit();
    let mut recorder = Recorder {
        writer,
        tasks: HashMap::new(),
        memories: HashMap::new(),
        ready: VecDeque::new(),
        front_pinned: false,
        running: None,
        timeslice_ns: options.timeslice_ns,
        chaos: options.chaos_seed.map(crate::schedule::Chaos::new),
        buffering: untraced_ip.is_some(),
        hooks: HashMap::new(),
        forked_by: HashMap::new(),
        output: OutputMatcher::new(),
        next_index: 0,
        start: Instant::now(),
        initial_pid: pid,
        initial_outcome: None,
    };
    recorder.add_task(pid, pid)?;
    // The child waits at the exit of its exec: the first event logged.
    if let Some(task) = recorder.tasks.get_mut(&pid) {
        task.started = true;
        task.syscall = Some(InFlight {
            nr: libc::SYS_execve as u64,
            rip: 0,
            args: [0; 6],
            model: (libc::SYS_execve as u64, [0; 6]),
            forced: None,
        });
        task.pending_stop = Some(Stop::Syscall);
    }
    recorder.ready.push_back(pid);

    let stopped_early = match recorder.run() {
        Ok(()) => None,
        Err(Failure::Stop(StopRecording(reason))) => Some(reason),
        Err(Failure::Fatal(e)) => {
            recorder.kill_all();
            let _ = recorder.writer.flush();
            return Err(e);
        }
    };
    if stopped_early.is_some() {
        recorder.kill_all();
    }
    let events = recorder.next_index;
    let outcome = match (&stopped_early, recorder.initial_outcome.clone()) {
        (Some(reason), _) => TraceOutcome::Interrupted {
            reason: reason.clone(),
        },
        (None, Some(outcome)) => outcome,
        (None, None) => TraceOutcome::Interrupted {
            reason: "the traced program vanished without an exit status".into(),
        },
    };
    recorder.writer.set_machine(machine.wait());
    recorder.writer.finish(outcome.clone())?;
    Ok(RecordOutcome {
        outcome,
        events,
        stopped_early,
    })
}

impl Recorder {
    fn run(&mut self) -> Step {
        loop {
            let sig = INTERRUPTED_BY.load(Ordering::SeqCst);
            if sig != 0 {
                return Err(Failure::Stop(StopRecording(format!(
                    "the recorder received signal {sig} and stopped recording"
                ))));
            }
            if self.running.is_none() {
                if let Some(tid) = self.next_ready() {
                    self.process(tid)?;
                    continue;
                }
            }
            if self.tasks.is_empty() {
                return Ok(());
            }
            match ptrace::wait_any_interruptible() {
                Ok(Some(w)) => {
                    let handled = self.on_wait(w);
                    self.unless_killed(handled)?
                }
                Ok(None) => continue,
                Err(tracee::TraceeError::Wait(nix::Error::ECHILD)) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn add_task(&mut self, tid: Pid, tgid: Pid) -> Result<(), RecordError> {
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
                    return Err(RecordError::Setup(reason))
                }
            }
        }
        let pid = self.tasks.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        let event = Event {
            index: self.next_index,
            tid,
            pid,
            time_ns: self.start.elapsed().as_nanos() as u64,
            kind,
        };
        self.next_index += 1;
        self.writer.push_event(event, payloads)?;
        Ok(())
    }

    pub(crate) fn resume_user(&mut self, tid: Pid, signal: i32) -> Step {
        self.new_slice(tid);
        let how = if self.buffering {
            Resume::Continue
        } else {
            Resume::Syscall
        };
        ptrace::resume(tid, how, signal)?;
        let task = self.task(tid)?;
        task.state = RunState::Running;
        task.buffer_dirty = true;
        self.running = Some(tid);
        Ok(())
    }

    pub(crate) fn on_wait(&mut self, w: WaitResult) -> Step {
        match w {
            WaitResult::Exited(tid, code) => self.on_death(tid, TraceOutcome::Exited { code }),
            WaitResult::Signaled(tid, signal, core_dumped) => self.on_death(
                tid,
                TraceOutcome::Signaled {
                    signal,
                    core_dumped,
                },
            ),
            WaitResult::Stopped(tid, stop) => {
                if !self.tasks.contains_key(&tid) {
                    // A new task can report its first stop before its
                    // parent's fork/clone event does.
                    let tgid = proc_ids(tid).map(|(tgid, _)| tgid).unwrap_or(tid);
                    self.add_task(tid, tgid)?;
                }
                let was_running = self.running == Some(tid);
                if was_running {
                    self.running = None;
                }
                let stop = match stop {
                    Stop::Event { event, .. } if event == libc::PTRACE_EVENT_SECCOMP => {
                        if self.task(tid)?.syscall.is_some() {
                            // Its entry stop came first (it ran under
                            // PTRACE_SYSCALL); the exit stop follows.
                            ptrace::resume(tid, Resume::Syscall, 0)?;
                            return Ok(());
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
                            self.ready.push_front(tid);
                            self.front_pinned = true;
                        } else {
                            self.ready.push_back(tid);
                            self.someone_waits();
                        }
                        Ok(())
                    }
                }
            }
        }
    }

    fn on_death(&mut self, tid: Pid, outcome: TraceOutcome) -> Step {
        if tid == self.initial_pid {
            self.initial_outcome = Some(outcome);
        }
        if self.running == Some(tid) {
            self.running = None;
        }
        self.ready.retain(|&t| t != tid);
        if let Some(task) = self.tasks.remove(&tid) {
            if !self.tasks.values().any(|t| t.tgid == task.tgid) {
                self.memories.remove(&task.tgid);
            }
        }
        Ok(())
    }

    /// Event stops happen inside the kernel, so most never conflict with the
    /// thread that runs user code and are handled at once.
    fn on_ptrace_event(&mut self, tid: Pid, event: i32, message: u64) -> Step {
        match event {
            libc::PTRACE_EVENT_FORK | libc::PTRACE_EVENT_VFORK | libc::PTRACE_EVENT_CLONE => {
                let child = message as Pid;
                if !self.tasks.contains_key(&child) {
                    let tgid = if event == libc::PTRACE_EVENT_CLONE {
                        proc_ids(child).map(|(tgid, _)| tgid).unwrap_or(child)
                    } else {
                        child
                    };
                    self.add_task(child, tgid)?;
                }
                self.forked_by
                    .insert(child, (tid, event == libc::PTRACE_EVENT_FORK));
                self.fd_cache_at_clone(tid)?;
            }
            libc::PTRACE_EVENT_EXEC => {
                let former = message as Pid;
                if former != tid {
                    // A non-leader thread exec'd and took over the leader's tid.
                    if let Some(mut task) = self.tasks.remove(&former) {
                        task.tid = tid;
                        self.tasks.insert(tid, task);
                    }
                }
                let tgid = self.task(tid)?.tgid;
                self.memories.insert(tgid, ProcessMemory::open(tid)?);
                // The kernel removed the old timer with the old image.
                self.task(tid)?.timer = None;
            }
            libc::PTRACE_EVENT_EXIT => {
                let status = message as i32;
                self.log(tid, EventKind::TaskExit { status }, Vec::new())?;
                ptrace::resume(tid, Resume::Continue, 0)?;
                self.task(tid)?.state = RunState::InKernel;
                if tid != self.task(tid)?.tgid {
                    // The kernel clears CLONE_CHILD_CLEARTID and wakes joiners
                    // after this stop; let that finish before anyone else
                    // runs, or pthread_join would race with it.
                    let death = tracee::ptrace::wait_for_death(tid)?;
                    self.on_wait(death)?;
                }
                return Ok(());
            }
            _ => {}
        }
        ptrace::resume(tid, Resume::Syscall, 0)?;
        self.task(tid)?.state = RunState::InKernel;
        Ok(())
    }

    fn process(&mut self, tid: Pid) -> Step {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return Ok(());
        };
        let handled = if std::mem::take(&mut task.preempted) {
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
        if self.running == Some(tid) {
            self.running = None;
        }
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.state = RunState::InKernel;
            task.preempted = false;
        }
        Ok(())
    }

    fn refuse(&self, tid: Pid, error: ModelError) -> Failure {
        let pid = self.tasks.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        Failure::Stop(StopRecording(format!(
            "{error} (process {pid}, thread {tid}, after event {})",
            self.next_index
        )))
    }

    fn syscall_entry(&mut self, tid: Pid) -> Step {
        let mut entry_regs = regs::get(tid)?;
        if self.buffering && entry_regs.rip == syscallbuf::UNTRACED_RETURN {
            // The buffer's own syscall, seen only because the thread ran
            // under PTRACE_SYSCALL: it is the library's to record.
            ptrace::resume(tid, Resume::Continue, 0)?;
            let task = self.task(tid)?;
            task.state = RunState::InKernel;
            task.buffer_dirty = true;
            return Ok(());
        }
        let nr = entry_regs.orig_rax;
        let args = entry_regs.syscall_args();
        let (tgid, restartable) = {
            let task = self.task(tid)?;
            (task.tgid, task.restartable.take())
        };
        let model = match restartable {
            Some(interrupted) if nr == libc::SYS_restart_syscall as u64 => interrupted,
            _ => (nr, args),
        };
        // Refuse what the model cannot describe before the kernel runs it.
        let probe = syscall_model::outputs(
            model.0,
            &model.1,
            -(libc::ENOSYS as i64),
            &Reader(self.memory(tgid)?),
        );
        if let Err(e @ (ModelError::UnknownSyscall { .. } | ModelError::Unsupported { .. })) = probe
        {
            return Err(self.refuse(tid, e));
        }
        let (inputs, input_bytes) = {
            let mem = self.memory(tgid)?;
            let mut inputs = Vec::new();
            let mut bytes = Vec::new();
            for r in syscall_model::inputs(model.0, &model.1, &Reader(mem)) {
                // The model saw it readable; a page unmapped since is simply skipped.
                if let Ok(b) = mem.read(r.addr, r.len as usize) {
                    inputs.push(MemWrite {
                        addr: r.addr,
                        len: r.len,
                    });
                    bytes.push(b);
                }
            }
            (inputs, bytes)
        };
        self.log(
            tid,
            EventKind::SyscallEntry {
                regs: entry_regs,
                inputs,
            },
            input_bytes,
        )?;
        let mut forced = None;
        let is_exec = nr == libc::SYS_execve as u64 || nr == libc::SYS_execveat as u64;
        if self.buffering && is_exec && self.execs_set_id(tid, tgid, nr, &args) {
            return Err(Failure::Stop(StopRecording(format!(
                "{} of a setuid/setgid program would gain privileges, which the syscall \
                 buffer's no_new_privs filter silently prevents; recording stopped so that \
                 the trace is never silently wrong (process {tgid}, thread {tid}, after \
                 event {}); record with --no-syscall-buffer to have the exec refused at \
                 its exit instead",
                syscall_model::name(nr).unwrap_or("execve"),
                self.next_index
            ))));
        }
        if nr == syscallbuf::CONTROL_SYSCALL {
            let answer = self.control(tid, tgid, &args)?;
            entry_regs.orig_rax = u64::MAX;
            regs::set(tid, &entry_regs)?;
            forced = Some((answer, "answered by the recorder (syscall buffer control)"));
        } else if nr == SYS_RSEQ {
            entry_regs.orig_rax = u64::MAX;
            regs::set(tid, &entry_regs)?;
            forced = Some((
                -(libc::ENOSYS as i64),
                "rseq registration refused: restartable sequences depend on preemption points replay cannot reproduce",
            ));
        }
        let task = self.task(tid)?;
        task.syscall = Some(InFlight {
            nr,
            rip: entry_regs.rip,
            args,
            model,
            forced,
        });
        task.anchor_regs = None;
        // A signal held back while the thread ran user code is re-sent now,
        // so the kernel delivers it right after this syscall: an anchor.
        if task.reinjecting.is_none() {
            if let Some(info) = task.held_signals.pop_front() {
                let signo = ptrace::siginfo_signo(&info);
                task.reinjecting = Some(info);
                ptrace::tgkill(tgid, tid, signo)?;
            }
        }
        ptrace::resume(tid, Resume::Syscall, 0)?;
        self.task(tid)?.state = RunState::InKernel;
        if changes_mappings(nr) {
            return self.exit_in_place(tid);
        }
        Ok(())
    }

    /// Runs a syscall that changes the address space to its exit and logs
    /// that exit at once, before any other thread's event. Replay applies
    /// mappings in trace order; while a munmap was in the kernel, another
    /// thread's mmap could complete, reuse the freed range and be logged
    /// first, and replay then mapped it before freeing the range and lost
    /// it (a thread's syscall buffer, in many_short_lived_threads).
    fn exit_in_place(&mut self, tid: Pid) -> Step {
        loop {
            match ptrace::wait_for(tid)? {
                // Under PTRACE_SYSCALL the seccomp stop follows the entry.
                WaitResult::Stopped(_, Stop::Event { event, .. })
                    if event == libc::PTRACE_EVENT_SECCOMP =>
                {
                    ptrace::resume(tid, Resume::Syscall, 0)?;
                }
                WaitResult::Stopped(_, Stop::Syscall) => {
                    self.task(tid)?.state = RunState::Stopped;
                    return self.syscall_exit(tid);
                }
                other => return self.on_wait(other),
            }
        }
    }

    fn syscall_exit(&mut self, tid: Pid) -> Step {
        let mut exit_regs = regs::get(tid)?;
        let (tgid, inflight) = {
            let task = self.task(tid)?;
            (task.tgid, task.syscall.take())
        };
        let Some(InFlight {
            nr,
            args,
            model,
            forced,
            ..
        }) = inflight
        else {
            return Ok(());
        };
        let mut result = exit_regs.rax as i64;
        let mut extra = None;
        if let Some((value, reason)) = forced {
            exit_regs.rax = value as u64;
            exit_regs.orig_rax = nr;
            regs::set(tid, &exit_regs)?;
            result = value;
            extra = Some(SyscallExtra::Suppressed {
                reason: reason.to_string(),
            });
        }
        let is_exec =
            (nr == libc::SYS_execve as u64 || nr == libc::SYS_execveat as u64) && result == 0;
        let ranges = if is_exec {
            Vec::new()
        } else {
            match syscall_model::outputs(model.0, &model.1, result, &Reader(self.memory(tgid)?)) {
                Ok(r) => r,
                Err(e) => return Err(self.refuse(tid, e)),
            }
        };
        let mut writes = Vec::with_capacity(ranges.len());
        let mut payloads = Vec::with_capacity(ranges.len());
        {
            let mem = self.memory(tgid)?;
            for r in ranges {
                payloads.push(mem.read(r.addr, r.len as usize)?);
                writes.push(MemWrite {
                    addr: r.addr,
                    len: r.len,
                });
            }
        }
        if extra.is_none() {
            extra = self.syscall_extra(tid, tgid, nr, &args, result, exit_regs, &mut payloads)?;
        }
        self.log(
            tid,
            EventKind::SyscallExit {
                nr,
                result,
                writes,
                extra,
            },
            payloads,
        )?;
        self.note_fd_changes(tgid, nr, &args, result)?;
        // Not where the kernel may still restart the call (it moves rip
        // back over the `syscall` the patch replaces); plain errors are
        // fine, and `ls -l`'s getxattr calls nearly all fail.
        if !syscall_model::is_restart_code(result) {
            self.patch_site(tid, nr, &mut exit_regs)?;
        }
        let task = self.task(tid)?;
        task.anchor_regs = Some(exit_regs);
        const ERESTART_RESTARTBLOCK: i64 = -516;
        if result == ERESTART_RESTARTBLOCK {
            task.restartable = Some(model);
        }
        self.resume_user(tid, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn syscall_extra(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
        result: i64,
        exit_regs: Regs,
        payloads: &mut Vec<Vec<u8>>,
    ) -> Step<Option<SyscallExtra>> {
        if is_error_result(result) {
            return Ok(None);
        }
        let nr = nr as i64;
        Ok(match nr {
            libc::SYS_execve | libc::SYS_execveat => {
                if self.buffering {
                    self.map_untraced_page(tid, tgid)?;
                }
                for task in self.tasks.values_mut().filter(|t| t.tgid == tgid) {
                    task.buffer = None;
                }
                let mem = self.memories.get(&tgid).ok_or_else(|| {
                    RecordError::Setup(format!(
                        "internal error: no memory handle for process {tgid}"
                    ))
                })?;
                let captured = exec::capture(tid, mem, &mut self.writer, exit_regs)?;
                // A setuid/setgid or file-capability exec (AT_SECURE): the
                // kernel drops ADDR_NO_RANDOMIZE for it, so its randomized
                // layout could not be recreated on replay. Refuse it.
                if captured
                    .info
                    .auxv
                    .iter()
                    .any(|&(k, v)| k == AT_SECURE && v != 0)
                {
                    return Err(Failure::Stop(StopRecording(format!(
                        "{} of {} gained privileges (setuid/setgid or file capabilities): \
                         the kernel randomizes its address space, which replay cannot \
                         reproduce; recording stopped so that the trace is never silently \
                         wrong (process {tgid}, thread {tid}, after event {})",
                        syscall_model::name(nr as u64).unwrap_or("execve"),
                        captured.info.exe.path,
                        self.next_index
                    ))));
                }
                payloads.extend(captured.payloads);
                Some(SyscallExtra::Exec(Box::new(captured.info)))
            }
            libc::SYS_mmap if args[3] & libc::MAP_ANONYMOUS as u64 == 0 => self
                .mapped_file(tid, args[4] as i32)?
                .map(|file| SyscallExtra::MmapFile { file }),
            libc::SYS_write
            | libc::SYS_writev
            | libc::SYS_pwrite64
            | libc::SYS_pwritev
            | libc::SYS_pwritev2
                if result > 0 =>
            {
                self.output
                    .classify(tid, args[0] as i64)
                    .map(|stream| SyscallExtra::Output { stream })
            }
            libc::SYS_clone | libc::SYS_clone3 | libc::SYS_fork | libc::SYS_vfork if result > 0 => {
                let thread = match nr {
                    libc::SYS_clone => args[0] & libc::CLONE_THREAD as u64 != 0,
                    libc::SYS_clone3 => {
                        let flags = self.memory(tgid)?.read_u64(args[0])?;
                        flags & libc::CLONE_THREAD as u64 != 0
                    }
                    _ => false,
                };
                Some(SyscallExtra::NewTask {
                    child: result as Pid,
                    thread,
                })
            }
            _ => None,
        })
    }

    /// Captures the file behind a file-backed mmap so the trace replays after
    /// the file changed or disappeared.
    fn mapped_file(&mut self, tid: Pid, fd: i32) -> Step<Option<trace::event::FileRef>> {
        let proc_path = format!("/proc/{tid}/fd/{fd}");
        let target = std::fs::read_link(&proc_path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = std::fs::metadata(&proc_path).map_err(|e| {
            Failure::Stop(StopRecording(format!(
                "cannot inspect the file behind mmap of fd {fd} in thread {tid}: {e}"
            )))
        })?;
        if meta.is_file() {
            let mut file =
                self.writer
                    .store_file_with_metadata(Path::new(&proc_path), &meta, false)?;
            file.path = target;
            return Ok(Some(file));
        }
        if target == "/dev/zero" {
            return Ok(None);
        }
        Err(Failure::Stop(StopRecording(format!(
            "mmap of {target} (fd {fd}) is not supported: only regular files and /dev/zero can be mapped during recording"
        ))))
    }

    pub(crate) fn start_task(&mut self, tid: Pid) -> Step {
        let task = self.task(tid)?;
        task.started = true;
        let tgid = task.tgid;
        let thread = tgid != tid;
        let parent = if thread {
            tgid
        } else {
            proc_ids(tid).map(|(_, ppid)| ppid).unwrap_or(0)
        };
        let forked_by = self.forked_by.remove(&tid);
        if !thread {
            self.inherit_buffer(parent, tid, forked_by)?;
        }
        self.log(tid, EventKind::TaskStart { parent, thread }, Vec::new())?;
        self.resume_user(tid, 0)
    }

    fn kill_all(&mut self) {
        let groups: Vec<Pid> = self.tasks.values().map(|t| t.tgid).collect();
        for tgid in groups {
            // SAFETY: plain kill(2) of a process we trace.
            unsafe { libc::kill(tgid, libc::SIGKILL) };
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

/// Each traced thread holds one time-slice fd in the recorder; a program
/// with a thousand threads would exhaust the usual soft limit of 1024. The
/// tracee was spawned already, so its own limits stay as they were.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write one rlimit struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Puts the syscall buffer's library first in `LD_PRELOAD`.
fn preload(env: &mut Vec<(String, String)>, library: &Path) {
    let library = library.to_string_lossy().into_owned();
    match env.iter_mut().find(|(k, _)| k == "LD_PRELOAD") {
        Some((_, value)) if !value.is_empty() => *value = format!("{library}:{value}"),
        Some((_, value)) => *value = library,
        None => env.push(("LD_PRELOAD".into(), library)),
    }
}

/// A setuid or setgid file: executing it would gain privileges.
fn is_set_id(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|m| m.permissions().mode() & (libc::S_ISUID | libc::S_ISGID) != 0)
}

impl Recorder {
    /// Whether the exec at this entry names a setuid/setgid file (relative
    /// paths resolved against the tracee's cwd or dirfd).
    fn execs_set_id(&self, tid: Pid, tgid: Pid, nr: u64, args: &[u64; 6]) -> bool {
        let (dirfd, path_arg) = if nr == libc::SYS_execveat as u64 {
            (args[0] as i32, args[1])
        } else {
            (libc::AT_FDCWD, args[0])
        };
        let Ok(mem) = self.memory(tgid) else {
            return false;
        };
        let Ok(path) = mem.read_cstring(path_arg, 4096) else {
            return false;
        };
        let base = if dirfd == libc::AT_FDCWD {
            format!("/proc/{tid}/cwd")
        } else {
            format!("/proc/{tid}/fd/{dirfd}")
        };
        let full = if path.starts_with('/') {
            std::path::PathBuf::from(&path)
        } else {
            Path::new(&base).join(&path)
        };
        is_set_id(&full)
    }
}
