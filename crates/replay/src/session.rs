//! A replay in progress, advanced one recorded event at a time.

use crate::address_space::{self, SCRATCH_LEN};
use crate::divergence::{syscall_name, RecentEvents};
use crate::lookahead::Lookahead;
use crate::task::{InSyscall, ReplayProcess, ReplayState, ReplayTask};
use crate::{Divergence, ReplayError, ReplayOutcome};
use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use syscall_model::ReplayPolicy;
use trace::event::{Event, EventKind, MemWrite, OutputStream, Regs, SignalOrigin, SyscallExtra};
use trace::{RecordedEvent, TraceReader};
use tracee::ptrace::{self, Resume, Stop, WaitResult, SIGINFO_SIZE};
use tracee::{regs, Pid, ProcessMemory};

const SYS_RSEQ: u64 = libc::SYS_rseq as u64;

pub enum StepOutcome {
    /// One more event was replayed.
    Event(Box<Event>),
    /// The trace has no more events.
    End,
}

/// What the next stop of a resumed thread must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Syscall,
    Signal(i32),
    Rdtsc,
}

fn is_error_result(result: i64) -> bool {
    (-4095..0).contains(&result)
}

fn is_fault_signal(sig: i32, info: &[u8; SIGINFO_SIZE]) -> bool {
    matches!(
        sig,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    ) && ptrace::siginfo_code(info) > 0
}

pub struct ReplaySession {
    reader: TraceReader,
    events: Lookahead,
    tasks: HashMap<i32, ReplayTask>,
    processes: HashMap<i32, ReplayProcess>,
    recent: RecentEvents,
    replayed: u64,
    quiet: bool,
    ended: bool,
}

impl ReplaySession {
    pub fn start(trace_dir: &Path, quiet: bool) -> Result<ReplaySession, ReplayError> {
        let reader = TraceReader::open(trace_dir)?;
        let differences = reader
            .manifest()
            .header
            .machine
            .cpuid_differences(&trace::MachineInfo::current());
        if !differences.is_empty() {
            tracing::warn!(
                "this CPU differs from the recording machine's ({}); replay may diverge",
                differences.join(", ")
            );
        }
        let mut events = Lookahead::new(reader.events()?);
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
        let exe = reader.file_path(&info.exe)?;
        let header = &reader.manifest().header;
        let cstr = |b: &[u8]| {
            CString::new(b).map_err(|_| {
                ReplayError::Setup("trace manifest holds a string with a NUL byte".into())
            })
        };
        let path = cstr(exe.as_os_str().as_bytes())?;
        let argv = header
            .command
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = header
            .env
            .iter()
            .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        // Orphans of replayed processes come back to us to be reaped.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        let cpu = tracee::spawn::choose_cpu();
        tracee::spawn::pin_current_thread(cpu)?;
        let real = tracee::spawn::spawn_traced(
            &path,
            &argv,
            &envp,
            tracee::spawn::SpawnOptions {
                trap_rdtsc: true,
                cpu: Some(cpu),
            },
        )
        .map_err(|e| match e {
            tracee::spawn::SpawnError::Tracee(e) => ReplayError::Tracee(e),
            e @ tracee::spawn::SpawnError::Exec { .. } => ReplayError::Setup(e.to_string()),
        })?;
        let mut process = ReplayProcess {
            real_pid: real,
            memory: ProcessMemory::open(real)?,
            scratch: None,
        };
        let (stack, contents) = exec_payloads(&first, writes.len())?;
        address_space::restore_exec_image(real, &mut process, &reader, info, stack, contents)?;
        let mut tasks = HashMap::new();
        tasks.insert(
            initial_tid,
            ReplayTask {
                real,
                rec_pid: initial_pid,
                state: ReplayState::InSyscall,
                pending_signal: 0,
                syscall: Some(InSyscall {
                    regs: info.regs,
                    real_result: Some(0),
                }),
                child_tid_fixup: None,
                clone_regs: None,
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
            replayed: 0,
            quiet,
            ended: false,
        })
    }

    pub fn reader(&self) -> &TraceReader {
        &self.reader
    }

    /// Number of events replayed so far.
    pub fn position(&self) -> u64 {
        self.replayed
    }

    /// Replays the next recorded event.
    pub fn step(&mut self) -> Result<StepOutcome, ReplayError> {
        if self.ended {
            return Ok(StepOutcome::End);
        }
        let Some(next) = self.events.next() else {
            self.ended = true;
            return Ok(StepOutcome::End);
        };
        let recorded = next?;
        self.apply(&recorded)?;
        self.recent.push(&recorded.event);
        self.replayed += 1;
        Ok(StepOutcome::Event(Box::new(recorded.event)))
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
            // SAFETY: plain kill(2) of a process this replay started.
            unsafe { libc::kill(process.real_pid, libc::SIGKILL) };
        }
        self.processes.clear();
        // Reap everything: our children, and orphans handed to us as
        // subreaper. A killed tracee still stops at PTRACE_EVENT_EXIT and
        // waits there to be resumed.
        loop {
            match ptrace::wait_any() {
                Ok(WaitResult::Stopped(pid, _)) => {
                    let _ = ptrace::resume(pid, Resume::Continue, 0);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
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

    fn process(&self, rec_pid: i32) -> Result<&ReplayProcess, ReplayError> {
        self.processes.get(&rec_pid).ok_or_else(|| {
            ReplayError::Setup(format!(
                "internal error: no replayed process for pid {rec_pid}"
            ))
        })
    }

    fn apply(&mut self, recorded: &RecordedEvent) -> Result<(), ReplayError> {
        let event = &recorded.event;
        tracing::debug!(event = %crate::divergence::summarize(event), "replaying");
        match &event.kind {
            EventKind::SyscallEntry { regs, inputs } => self.syscall_entry(recorded, regs, inputs),
            EventKind::SyscallExit {
                nr, result, extra, ..
            } => self.syscall_exit(recorded, *nr, *result, extra.as_ref()),
            EventKind::Signal {
                signo,
                origin,
                siginfo,
                regs,
            } => self.signal(event, *signo, *origin, siginfo, regs),
            EventKind::Rdtsc { regs } => self.rdtsc(event, regs),
            EventKind::TaskStart { .. } => self.task_start(event),
            EventKind::TaskExit { .. } => self.task_exit(event),
        }
    }

    /// Resumes a ready thread until its next stop, which must be `expect`.
    /// Signals the real kernel sends during replay are dropped: the log says
    /// which signals to deliver and where.
    fn advance(&mut self, event: &Event, expect: Expect) -> Result<(), ReplayError> {
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
        let signal = std::mem::take(&mut task.pending_signal);
        ptrace::resume(real, Resume::Syscall, signal)?;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(_, Stop::Syscall) if expect == Expect::Syscall => return Ok(()),
                WaitResult::Stopped(_, Stop::Signal(sig)) => {
                    let Some(info) = ptrace::get_siginfo(real)? else {
                        ptrace::resume(real, Resume::Syscall, 0)?;
                        continue;
                    };
                    match expect {
                        Expect::Signal(want) if want == sig => return Ok(()),
                        Expect::Rdtsc
                            if sig == libc::SIGSEGV && ptrace::siginfo_code(&info) == 0x80 =>
                        {
                            return Ok(())
                        }
                        _ if is_fault_signal(sig, &info) => {
                            let rip = regs::get(real).map(|r| r.rip).unwrap_or(0);
                            return Err(self.divergence(
                                event,
                                "the replayed program faulted where the recorded one did not",
                                format!("{expect:?}"),
                                format!("signal {sig} at rip {rip:#x}"),
                            ));
                        }
                        _ => {
                            tracing::debug!(
                                sig,
                                "dropping a signal the real kernel sent during replay"
                            );
                            ptrace::resume(real, Resume::Syscall, 0)?;
                        }
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
                        format!("{expect:?}"),
                        found,
                    ));
                }
            }
        }
    }

    fn compare_regs(&self, event: &Event, recorded: &Regs, real: Pid) -> Result<Regs, ReplayError> {
        let found = regs::get(real)?;
        let diffs = regs::differences(recorded, &found);
        if diffs.is_empty() {
            return Ok(found);
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

    /// Compares the memory the syscall reads (paths, sent bytes…) with the
    /// recording: a different argument is a divergence even when the
    /// registers agree.
    fn compare_inputs(
        &self,
        event: &Event,
        inputs: &[MemWrite],
        recorded: &[Vec<u8>],
    ) -> Result<(), ReplayError> {
        let memory = &self.process(event.pid)?.memory;
        for (range, expected) in inputs.iter().zip(recorded) {
            let found = memory
                .read(range.addr, range.len as usize)
                .unwrap_or_default();
            if &found != expected {
                let show =
                    |b: &[u8]| format!("{:?}", String::from_utf8_lossy(&b[..b.len().min(64)]));
                return Err(self.divergence(
                    event,
                    &format!("memory read by the syscall at {:#x} differs", range.addr),
                    show(expected),
                    show(&found),
                ));
            }
        }
        Ok(())
    }

    /// Runs the current syscall-entry stop to its exit stop.
    fn run_to_exit(&mut self, event: &Event, real: Pid) -> Result<(), ReplayError> {
        ptrace::resume(real, Resume::Syscall, 0)?;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(_, Stop::Syscall) => return Ok(()),
                WaitResult::Stopped(_, Stop::Signal(_))
                | WaitResult::Stopped(_, Stop::Event { .. }) => {
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                other => {
                    return Err(self.divergence(
                        event,
                        "the replayed thread died inside a syscall",
                        "the syscall to return".into(),
                        format!("{other:?}"),
                    ))
                }
            }
        }
    }

    /// Makes the kernel skip the syscall at this entry stop.
    fn skip_syscall(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
    ) -> Result<(), ReplayError> {
        current.orig_rax = u64::MAX;
        regs::set(real, &current)?;
        self.run_to_exit(event, real)
    }

    fn syscall_entry(
        &mut self,
        recorded_event: &RecordedEvent,
        recorded: &Regs,
        inputs: &[MemWrite],
    ) -> Result<(), ReplayError> {
        let event = &recorded_event.event;
        self.advance(event, Expect::Syscall)?;
        let real = self.task(event)?.real;
        let current = self.compare_regs(event, recorded, real)?;
        self.compare_inputs(event, inputs, &recorded_event.payloads)?;
        let nr = recorded.orig_rax;
        let args = recorded.syscall_args();
        let policy = if nr == SYS_RSEQ {
            ReplayPolicy::Emulate
        } else {
            syscall_model::replay_policy(nr, &args)
        };
        let mut real_result = None;
        match policy {
            ReplayPolicy::Emulate => self.skip_syscall(event, real, current)?,
            ReplayPolicy::Execute => {
                real_result = self.execute(event, real, current, nr, &args)?;
            }
        }
        let task = self.task(event)?;
        task.syscall = Some(InSyscall {
            regs: *recorded,
            real_result,
        });
        if task.state == ReplayState::Ready {
            task.state = ReplayState::InSyscall;
        }
        Ok(())
    }

    /// Runs a syscall that shapes the address space or task state for real,
    /// adjusted so that it produces the recorded effect. Returns its result.
    fn execute(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<Option<i64>, ReplayError> {
        let nr_i = nr as i64;
        if nr_i == libc::SYS_exit || nr_i == libc::SYS_exit_group {
            ptrace::resume(real, Resume::Syscall, 0)?;
            self.task(event)?.state = ReplayState::Exiting;
            return Ok(None);
        }
        let needs_exit = matches!(
            nr_i,
            libc::SYS_mmap
                | libc::SYS_mremap
                | libc::SYS_execve
                | libc::SYS_execveat
                | libc::SYS_clone
                | libc::SYS_clone3
                | libc::SYS_fork
                | libc::SYS_vfork
        );
        if !needs_exit {
            self.run_to_exit(event, real)?;
            return Ok(Some(regs::get(real)?.rax as i64));
        }
        let exit = self.events.peek_exit(event.tid)?.cloned();
        let (result, extra) = match &exit {
            Some(RecordedEvent {
                event:
                    Event {
                        kind: EventKind::SyscallExit { result, extra, .. },
                        ..
                    },
                ..
            }) => (*result, extra.clone()),
            _ => (-(libc::ENOSYS as i64), None),
        };
        tracing::debug!(result, ?extra, "look-ahead to the exit");
        // A failure (or a syscall the recording never saw return) is not
        // re-created: its result comes from the log.
        if is_error_result(result) || exit.is_none() {
            self.skip_syscall(event, real, current)?;
            return Ok(None);
        }
        match nr_i {
            libc::SYS_mmap => {
                if let Some(SyscallExtra::MmapFile { file }) = &extra {
                    self.skip_syscall(event, real, current)?;
                    let process = self.process(event.pid)?;
                    address_space::map_file(
                        real,
                        process,
                        &self.reader,
                        address_space::FileMapping {
                            file,
                            addr: result as u64,
                            len: args[1],
                            prot: args[2],
                            offset: args[5],
                        },
                    )?;
                    return Ok(Some(result));
                }
                current.rdi = result as u64;
                let flags =
                    (args[3] & !(libc::MAP_FIXED_NOREPLACE as u64)) | libc::MAP_FIXED as u64;
                current.r10 = flags;
                if args[3] & libc::MAP_ANONYMOUS as u64 == 0 {
                    // /dev/zero: the same thing as anonymous memory.
                    current.r10 |= libc::MAP_ANONYMOUS as u64;
                    current.r8 = u64::MAX;
                }
                regs::set(real, &current)?;
                self.run_to_exit(event, real)?;
                Ok(Some(regs::get(real)?.rax as i64))
            }
            libc::SYS_mremap => {
                if result as u64 != args[0] {
                    current.r10 = args[3] | (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
                    current.r8 = result as u64;
                    regs::set(real, &current)?;
                }
                self.run_to_exit(event, real)?;
                Ok(Some(regs::get(real)?.rax as i64))
            }
            libc::SYS_execve | libc::SYS_execveat => {
                let exit = exit.expect("checked above");
                self.replay_exec(event, real, current, nr_i, args, &exit)?;
                Ok(Some(0))
            }
            _ => self
                .replay_clone(event, real, current, nr_i, args, result)
                .map(Some),
        }
    }

    fn replay_exec(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        nr: i64,
        args: &[u64; 6],
        exit: &RecordedEvent,
    ) -> Result<(), ReplayError> {
        let EventKind::SyscallExit {
            writes,
            extra: Some(SyscallExtra::Exec(info)),
            ..
        } = &exit.event.kind
        else {
            return Err(self.divergence(
                event,
                "exec without a recorded image",
                "an exec record".into(),
                "none".into(),
            ));
        };
        let blob = self.reader.file_path(&info.exe)?;
        let path = address_space::write_path(self.process(event.pid)?, &blob)?;
        if nr == libc::SYS_execveat {
            current.orig_rax = libc::SYS_execve as u64;
            current.rsi = args[2];
            current.rdx = args[3];
        }
        current.rdi = path;
        regs::set(real, &current)?;
        // Entry stop -> PTRACE_EVENT_EXEC -> exit stop.
        ptrace::resume(real, Resume::Syscall, 0)?;
        let mut saw_exec = false;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(_, Stop::Event { event: ev, .. })
                    if ev == libc::PTRACE_EVENT_EXEC =>
                {
                    saw_exec = true;
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                WaitResult::Stopped(_, Stop::Syscall) if saw_exec => break,
                WaitResult::Stopped(_, Stop::Signal(_)) => {
                    ptrace::resume(real, Resume::Syscall, 0)?
                }
                other => {
                    return Err(self.divergence(
                        event,
                        "exec failed during replay",
                        format!("{} to start", info.exe.path),
                        format!("{other:?}"),
                    ))
                }
            }
        }
        let process = self.processes.get_mut(&event.pid).ok_or_else(|| {
            ReplayError::Setup("internal error: exec in an unknown process".into())
        })?;
        process.memory = ProcessMemory::open(real)?;
        process.scratch = None;
        let (stack_bytes, contents) = exec_payloads(exit, writes.len())?;
        address_space::restore_exec_image(
            real,
            process,
            &self.reader,
            info,
            stack_bytes,
            contents,
        )?;
        Ok(())
    }

    fn replay_clone(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        nr: i64,
        args: &[u64; 6],
        recorded_child: i64,
    ) -> Result<i64, ReplayError> {
        // vfork would block the parent until the child execs, but replay
        // decides when each task runs; sharing memory is what matters.
        let (flags, child_tid_addr) = match nr {
            libc::SYS_vfork => {
                current.orig_rax = libc::SYS_clone as u64;
                current.rdi = (libc::CLONE_VM | libc::SIGCHLD) as u64;
                current.rsi = 0;
                (libc::CLONE_VM as u64, 0)
            }
            libc::SYS_fork => (0, 0),
            libc::SYS_clone => {
                current.rdi = args[0] & !(libc::CLONE_VFORK as u64);
                (args[0], args[3])
            }
            _ => {
                let process = self.process(event.pid)?;
                let size = args[1].min(128) as usize;
                let mut clone_args = process.memory.read(args[0], size)?;
                if clone_args.len() < 24 {
                    return Err(self.divergence(
                        event,
                        "clone3 with a short argument struct",
                        "≥ 24 bytes".into(),
                        format!("{size}"),
                    ));
                }
                let flags = u64::from_le_bytes(clone_args[0..8].try_into().unwrap_or_default());
                let child_tid =
                    u64::from_le_bytes(clone_args[16..24].try_into().unwrap_or_default());
                clone_args[0..8]
                    .copy_from_slice(&(flags & !(libc::CLONE_VFORK as u64)).to_le_bytes());
                let scratch = process.scratch.ok_or_else(|| {
                    ReplayError::Setup("internal error: no injection page".into())
                })?;
                let copy = scratch + SCRATCH_LEN - 256;
                process.memory.write(copy, &clone_args)?;
                current.rdi = copy;
                (flags, child_tid)
            }
        };
        regs::set(real, &current)?;
        ptrace::resume(real, Resume::Syscall, 0)?;
        let mut child = None;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(
                    _,
                    Stop::Event {
                        event:
                            libc::PTRACE_EVENT_FORK
                            | libc::PTRACE_EVENT_VFORK
                            | libc::PTRACE_EVENT_CLONE,
                        message,
                    },
                ) => {
                    child = Some(message as Pid);
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                WaitResult::Stopped(_, Stop::Syscall) => break,
                WaitResult::Stopped(_, Stop::Signal(_)) => {
                    ptrace::resume(real, Resume::Syscall, 0)?
                }
                other => {
                    return Err(self.divergence(
                        event,
                        "clone failed during replay",
                        "a new task".into(),
                        format!("{other:?}"),
                    ))
                }
            }
        }
        let Some(child) = child else {
            let rax = regs::get(real)?.rax as i64;
            return Err(self.divergence(
                event,
                "clone failed during replay",
                "a new task".into(),
                format!("result {rax}"),
            ));
        };
        let thread = flags & libc::CLONE_THREAD as u64 != 0;
        let recorded_child = recorded_child as i32;
        let child_pid = if thread { event.pid } else { recorded_child };
        if !thread {
            let scratch = self.process(event.pid)?.scratch;
            self.processes.insert(
                recorded_child,
                ReplayProcess {
                    real_pid: child,
                    memory: ProcessMemory::open(child)?,
                    scratch,
                },
            );
        }
        let fixup = (flags & libc::CLONE_CHILD_SETTID as u64 != 0 && child_tid_addr != 0)
            .then_some(child_tid_addr);
        self.tasks.insert(
            recorded_child,
            ReplayTask {
                real: child,
                rec_pid: child_pid,
                state: ReplayState::New,
                pending_signal: 0,
                syscall: None,
                child_tid_fixup: fixup,
                clone_regs: Some((nr as u64, *args)),
            },
        );
        Ok(regs::get(real)?.rax as i64)
    }

    fn syscall_exit(
        &mut self,
        recorded: &RecordedEvent,
        nr: u64,
        result: i64,
        extra: Option<&SyscallExtra>,
    ) -> Result<(), ReplayError> {
        let event = &recorded.event;
        let task = self.task(event)?;
        let (state, inflight, real) = (task.state, task.syscall.take(), task.real);
        let Some(inflight) = inflight.filter(|_| state == ReplayState::InSyscall) else {
            return Err(self.divergence(
                event,
                "syscall exit without a replayed entry",
                format!("thread inside {}", syscall_name(nr)),
                format!("{state:?}"),
            ));
        };
        if let Some(real_result) = inflight.real_result {
            let nr_i = nr as i64;
            let tid_valued = matches!(
                nr_i,
                libc::SYS_clone
                    | libc::SYS_clone3
                    | libc::SYS_fork
                    | libc::SYS_vfork
                    | libc::SYS_set_tid_address
            );
            if !tid_valued && real_result != result {
                return Err(self.divergence(
                    event,
                    &format!(
                        "{} returned a different result when re-executed",
                        syscall_name(nr)
                    ),
                    format!("{result}"),
                    format!("{real_result}"),
                ));
            }
        }
        let EventKind::SyscallExit { writes, .. } = &event.kind else {
            unreachable!("syscall_exit is only called for SyscallExit events")
        };
        let process = self.process(event.pid)?;
        for (w, bytes) in writes.iter().zip(&recorded.payloads) {
            process.memory.write(w.addr, bytes)?;
        }
        if let Some(SyscallExtra::Output { stream }) = extra {
            let bytes = output_bytes(&process.memory, nr, &inflight.regs.syscall_args(), result)?;
            self.emit(*stream, &bytes);
        }
        let mut next = regs::get(real)?;
        match extra {
            Some(SyscallExtra::Exec(info)) => next = info.regs,
            // sigreturn just restored every register from the signal frame.
            _ if nr == libc::SYS_rt_sigreturn as u64 => {}
            _ => {
                next.rax = result as u64;
                next.orig_rax = nr;
                let a = inflight.regs.syscall_args();
                regs::set_syscall_args(&mut next, &a);
            }
        }
        regs::set(real, &next)?;
        self.task(event)?.state = ReplayState::Ready;
        Ok(())
    }

    fn emit(&self, stream: OutputStream, bytes: &[u8]) {
        if self.quiet {
            return;
        }
        // Output errors (a closed pipe) must not stop the replay itself.
        let _ = match stream {
            OutputStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|_| out.flush())
            }
            OutputStream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(bytes).and_then(|_| err.flush())
            }
        };
    }

    fn signal(
        &mut self,
        event: &Event,
        signo: i32,
        origin: SignalOrigin,
        siginfo: &[u8],
        recorded: &Regs,
    ) -> Result<(), ReplayError> {
        let (real, rec_pid) = {
            let task = self.task(event)?;
            (task.real, task.rec_pid)
        };
        if origin == SignalOrigin::Asynchronous {
            let tgid = self.process(rec_pid)?.real_pid;
            ptrace::tgkill(tgid, real, signo)?;
        }
        self.advance(event, Expect::Signal(signo))?;
        if origin == SignalOrigin::Asynchronous {
            let mut info = [0u8; SIGINFO_SIZE];
            let n = siginfo.len().min(SIGINFO_SIZE);
            info[..n].copy_from_slice(&siginfo[..n]);
            ptrace::set_siginfo(real, &info)?;
        }
        self.compare_regs(event, recorded, real)?;
        self.task(event)?.pending_signal = signo;
        Ok(())
    }

    fn rdtsc(&mut self, event: &Event, recorded: &Regs) -> Result<(), ReplayError> {
        self.advance(event, Expect::Rdtsc)?;
        let real = self.task(event)?.real;
        let found = regs::get(real)?;
        if found.rip + 2 != recorded.rip && found.rip + 3 != recorded.rip {
            return Err(self.divergence(
                event,
                "rdtsc at a different place",
                format!("rip {:#x}", recorded.rip),
                format!("rip {:#x}", found.rip),
            ));
        }
        regs::set(real, recorded)?;
        Ok(())
    }

    fn task_start(&mut self, event: &Event) -> Result<(), ReplayError> {
        let task = self.task(event)?;
        if task.state != ReplayState::New {
            let state = task.state;
            return Err(self.divergence(
                event,
                "task start for a running task",
                "a new task".into(),
                format!("{state:?}"),
            ));
        }
        let real = task.real;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(_, Stop::Signal(libc::SIGSTOP)) => break,
                WaitResult::Stopped(_, _) => ptrace::resume(real, Resume::Syscall, 0)?,
                other => {
                    return Err(self.divergence(
                        event,
                        "new task died before starting",
                        "its first stop".into(),
                        format!("{other:?}"),
                    ))
                }
            }
        }
        let task = self.task(event)?;
        task.state = ReplayState::Ready;
        if let Some((nr, args)) = task.clone_regs.take() {
            let mut child_regs = regs::get(real)?;
            child_regs.orig_rax = nr;
            regs::set_syscall_args(&mut child_regs, &args);
            regs::set(real, &child_regs)?;
        }
        if let Some(addr) = task.child_tid_fixup.take() {
            let rec_pid = task.rec_pid;
            self.process(rec_pid)?
                .memory
                .write(addr, &event.tid.to_le_bytes())?;
        }
        Ok(())
    }

    fn task_exit(&mut self, event: &Event) -> Result<(), ReplayError> {
        let EventKind::TaskExit { status } = event.kind else {
            unreachable!("task_exit is only called for TaskExit events")
        };
        let task = self.task(event)?;
        let (real, rec_pid) = (task.real, task.rec_pid);
        let parked = matches!(task.state, ReplayState::Ready | ReplayState::InSyscall);
        if parked && libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL {
            // A SIGKILL from outside the recording has no delivery stop to
            // replay; deliver the same death now.
            let tgid = self.process(rec_pid)?.real_pid;
            ptrace::tgkill(tgid, real, libc::SIGKILL)?;
        }
        let task = self.task(event)?;
        match task.state {
            ReplayState::Dead => return Ok(()),
            ReplayState::Ready => {
                let signal = std::mem::take(&mut task.pending_signal);
                ptrace::resume(real, Resume::Syscall, signal)?;
            }
            // Parked threads are woken by the SIGKILL of an exit_group or exec.
            _ => {}
        }
        loop {
            match ptrace::wait_for(real) {
                Ok(WaitResult::Stopped(_, Stop::Event { event: ev, .. }))
                    if ev == libc::PTRACE_EVENT_EXIT =>
                {
                    ptrace::resume(real, Resume::Continue, 0)?;
                    if event.tid != event.pid {
                        // As during recording: the thread's tid word is
                        // cleared before anything else runs.
                        ptrace::wait_for_death(real)?;
                    }
                    break;
                }
                Ok(WaitResult::Stopped(_, Stop::Signal(_))) => {
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                Ok(WaitResult::Stopped(_, Stop::Syscall)) => {
                    let nr = regs::get(real).map(|r| r.orig_rax).unwrap_or(u64::MAX);
                    return Err(self.divergence(
                        event,
                        "the replayed thread kept running where the recorded one exited",
                        "thread exit".into(),
                        format!("a {} syscall", syscall_name(nr)),
                    ));
                }
                Ok(WaitResult::Stopped(_, Stop::Event { .. })) => {
                    ptrace::resume(real, Resume::Syscall, 0)?
                }
                Ok(WaitResult::Exited(..) | WaitResult::Signaled(..)) | Err(_) => break,
            }
        }
        let task = self.task(event)?;
        task.state = ReplayState::Dead;
        let rec_pid = task.rec_pid;
        let group_alive = self
            .tasks
            .values()
            .any(|t| t.rec_pid == rec_pid && t.state != ReplayState::Dead);
        if !group_alive {
            self.processes.remove(&rec_pid);
        }
        Ok(())
    }
}

/// The stack image and writable-mapping contents of an exec exit event,
/// which follow its `writes` payloads.
fn exec_payloads(exit: &RecordedEvent, writes: usize) -> Result<(&[u8], &[Vec<u8>]), ReplayError> {
    let stack = exit.payloads.get(writes).ok_or_else(|| {
        ReplayError::Setup("trace is inconsistent: exec without its stack image".into())
    })?;
    Ok((stack, exit.payloads.get(writes + 1..).unwrap_or(&[])))
}

/// The bytes a write-family syscall sent, read back from replayed memory.
fn output_bytes(
    mem: &ProcessMemory,
    nr: u64,
    args: &[u64; 6],
    result: i64,
) -> Result<Vec<u8>, ReplayError> {
    let len = result.max(0) as usize;
    match nr as i64 {
        libc::SYS_write | libc::SYS_pwrite64 => Ok(mem.read(args[1], len)?),
        _ => {
            let count = args[2].min(1024) as usize;
            let iovecs = mem.read(args[1], count * 16)?;
            let mut out = Vec::with_capacity(len);
            for iov in iovecs.chunks_exact(16) {
                if out.len() >= len {
                    break;
                }
                let base = u64::from_le_bytes(iov[0..8].try_into().unwrap_or_default());
                let iov_len =
                    u64::from_le_bytes(iov[8..16].try_into().unwrap_or_default()) as usize;
                let take = iov_len.min(len - out.len());
                out.extend(mem.read(base, take)?);
            }
            Ok(out)
        }
    }
}
