//! Replaying the syscalls that change the process tree: clone, fork and
//! vfork make real tasks the recording's ids map to, and an exec replaces
//! the image with the recorded one and reaps the threads it killed.

use super::syscalls::exec_payloads;
use super::{cpuid, ReplaySession};
use crate::address_space::{self, SCRATCH_LEN};
use crate::task::{ReplayProcess, ReplayState, ReplayTask};
use crate::ReplayError;
use syscall_model::abi::{self, CloneArgsHead};
use syscall_model::CloneSource;
use trace::event::{Event, EventKind, Regs, SyscallExtra};
use trace::RecordedEvent;
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::{regs, Pid, ProcessMemory};

/// What the recording says a clone made.
pub(super) struct RecordedClone {
    /// The call's result: the tid as the parent saw it, which the kernel
    /// also wrote for it.
    pub(super) result: i64,
    /// The recording's name for the child in its events, where the
    /// recorder logged one: the same but from inside a PID namespace.
    pub(super) tid: Option<RecordedTid>,
}

impl ReplaySession {
    pub(super) fn replay_exec(
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
        let blob = self.reader.verified_file(&info.exe)?;
        let path = address_space::write_path(self.process(event.pid)?, &blob)?;
        let leader = (event.tid != event.pid)
            .then(|| self.tasks.get(&event.pid).map(|t| (t.real, t.state)))
            .flatten();
        if nr == libc::SYS_execveat {
            current.orig_rax = libc::SYS_execve as u64;
            current.rsi = args[2];
            current.rdx = args[3];
        }
        current.rdi = path;
        // As the recorder did: the same copy at the same place, so that a
        // vfork parent finds the same bytes below its child's stack.
        if let Some(library) = self.reader.manifest().header.preload_library() {
            tracee::exec_env::add_preload(
                real,
                &self.process(event.pid)?.memory,
                &mut current,
                libc::SYS_execve as u64,
                library.as_bytes(),
            );
        }
        regs::set(real, &current)?;
        // Entry stop -> PTRACE_EVENT_EXEC -> exit stop.
        ptrace::resume(real, Resume::Syscall, 0)?;
        let real = match leader {
            Some((leader_real, leader_state)) => {
                self.reap_for_exec(event, leader_real, leader_state)?
            }
            None => {
                // The exec waits until the other threads are gone, and each
                // stops at its exit event on the way.
                self.reap_threads_killed_by_exec(event);
                real
            }
        };
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
        for task in self.tasks.values_mut().filter(|t| t.rec_pid == event.pid) {
            task.buffer = None;
            task.buffer_filled = false;
        }
        let process = self.processes.get_mut(&event.pid).ok_or_else(|| {
            ReplayError::Setup("internal error: exec in an unknown process".into())
        })?;
        let (stack_bytes, contents) = exec_payloads(exit, writes.len())?;
        address_space::restore_exec_image(
            real,
            process,
            &self.reader,
            info,
            stack_bytes,
            contents,
        )?;
        if self.cpuid.is_some() {
            cpuid::fault_on_cpuid(real, process)?;
        }
        Ok(())
    }

    /// Waits for the death of every thread of the exec'ing process other
    /// than the exec'ing thread and the leader: the kernel kills them.
    fn reap_threads_killed_by_exec(&mut self, event: &Event) {
        let others: Vec<(RecordedTid, Pid)> = self
            .tasks
            .iter()
            .filter(|(&tid, t)| {
                t.rec_pid == event.pid
                    && tid != event.tid
                    && tid != event.pid
                    && t.state != ReplayState::Dead
            })
            .map(|(&tid, t)| (tid, t.real))
            .collect();
        // A thread that never ran (still New, its first stop unreported) dies
        // too, and the exec waits until it has been reaped like the others.
        for (tid, real) in others {
            let _ = ptrace::wait_for_death(real);
            if let Some(t) = self.tasks.get_mut(&tid) {
                t.state = ReplayState::Dead;
                t.killed_by_exec = true;
            }
        }
    }

    /// An exec from a thread other than the leader: the kernel kills every
    /// other thread (each stops at its exit event first), and the exec'ing
    /// thread takes over the leader's tid. Returns that tid, where the exec
    /// goes on. The recording names the thread by the leader's tid from the
    /// exec's exit on; the other threads' exit events are already done.
    fn reap_for_exec(
        &mut self,
        event: &Event,
        leader_real: Pid,
        leader_state: ReplayState,
    ) -> Result<Pid, ReplayError> {
        self.reap_threads_killed_by_exec(event);
        if leader_state != ReplayState::Dead {
            // The leader stops at its exit event; its death is never
            // reported, because its tid lives on in the exec'ing thread.
            if let Ok(WaitResult::Stopped(_, Stop::Event { .. })) = ptrace::wait_for(leader_real) {
                ptrace::resume(leader_real, Resume::Continue, 0)?;
            }
        }
        if let Some(leader) = self.tasks.get_mut(&event.pid) {
            leader.state = ReplayState::Dead;
            leader.killed_by_exec = true;
        }
        let task = self.task(event)?;
        task.real = leader_real;
        task.renamed_to = Some(event.pid);
        Ok(leader_real)
    }

    pub(super) fn replay_clone(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        nr: i64,
        args: &[u64; 6],
        recorded: RecordedClone,
    ) -> Result<i64, ReplayError> {
        let (flags, child_tid_addr, parent_tid_addr) =
            self.clone_to_run(event, &mut current, nr, args)?;
        let child = self.run_clone(event, real, &current)?;
        let thread = flags & libc::CLONE_THREAD as u64 != 0;
        let seen_tid = recorded.result as i32;
        let recorded_child = recorded.tid.unwrap_or(RecordedTid(seen_tid));
        if flags & libc::CLONE_PARENT_SETTID as u64 != 0 && parent_tid_addr != 0 {
            // The kernel wrote the new tid before either task ran, and the
            // child may read it (pthread's own tid) before the parent's exit
            // event comes in the log, so the recorded tid goes there now.
            self.process(event.pid)?
                .memory
                .write(parent_tid_addr, &seen_tid.to_le_bytes())?;
        }
        let child_pid = if thread { event.pid } else { recorded_child };
        if !thread {
            self.debug.forked = Some(recorded_child);
            // A forked child runs the parent's program until it execs.
            let parent = self.process(event.pid)?;
            let (scratch, auxv, exe) = (parent.scratch, parent.auxv.clone(), parent.exe.clone());
            // The child has copies of the parent's descriptors, blobs too.
            let blob_fds = parent.blob_fds.clone();
            let library_words = parent.library_words;
            self.processes.insert(
                recorded_child,
                ReplayProcess {
                    real_pid: child,
                    memory: ProcessMemory::open(child)?,
                    scratch,
                    auxv,
                    exe,
                    exiting: false,
                    blob_fds,
                    library_words,
                },
            );
        }
        // The child's own view of its tid: the parent's, unless the child
        // starts a PID namespace, in which it is 1.
        let own_tid = if flags & libc::CLONE_NEWPID as u64 != 0 {
            1
        } else {
            seen_tid
        };
        let mut fixup = (flags & libc::CLONE_CHILD_SETTID as u64 != 0 && child_tid_addr != 0)
            .then_some((child_tid_addr, own_tid));
        let mut state = ReplayState::New;
        if let Some((addr, tid)) = fixup.filter(|_| flags & libc::CLONE_VM as u64 != 0) {
            // The kernel writes the real tid as the child first runs, into
            // memory the parent shares and may read before the child's
            // start event comes in the log (a raw clone's caller waiting
            // on that word): once the child is at its first stop, nothing
            // writes it again, and the recorded tid goes there now.
            match super::lifecycle::first_stop(child)? {
                WaitResult::Stopped(..) => {}
                other => return Err(self.died_before_starting(event, other)),
            }
            self.process(event.pid)?
                .memory
                .write(addr, &tid.to_le_bytes())?;
            fixup = None;
            state = ReplayState::Created;
        }
        // A new process keeps the thread's buffer (its copy, or the shared
        // one after vfork); a new thread gets its own.
        let buffer = if thread {
            None
        } else {
            self.tasks.get(&event.tid).and_then(|t| t.buffer)
        };
        self.tasks.insert(
            recorded_child,
            ReplayTask {
                child_tid_fixup: fixup,
                clone_regs: Some((nr as u64, *args)),
                clear_child_tid: (flags & libc::CLONE_CHILD_CLEARTID as u64 != 0
                    && child_tid_addr != 0)
                    .then_some(child_tid_addr),
                buffer,
                ..ReplayTask::new(child, child_pid, state)
            },
        );
        Ok(regs::get(real)?.rax as i64)
    }

    /// The registers (and, for clone3, the argument struct) of the clone
    /// replay runs, and the recorded call's flags, child-tid and parent-tid
    /// addresses.
    fn clone_to_run(
        &mut self,
        event: &Event,
        current: &mut Regs,
        nr: i64,
        args: &[u64; 6],
    ) -> Result<(u64, u64, u64), ReplayError> {
        // The recorder traced an untraced child too (and replay must); vfork
        // would block the parent until the child execs, but replay decides
        // when each task runs, and sharing memory is what matters.
        let untraced = (libc::CLONE_VFORK | libc::CLONE_UNTRACED) as u64;
        let source = syscall_model::clone_source(nr as u64, args).ok_or_else(|| {
            ReplayError::Setup(format!("internal error: syscall {nr} makes no task"))
        })?;
        Ok(match source {
            CloneSource::Registers(request) => {
                // fork and vfork run as the clone they are.
                current.orig_rax = libc::SYS_clone as u64;
                current.rdi = request.flags & !untraced;
                current.rsi = request.stack;
                current.rdx = request.parent_tid;
                current.r10 = request.child_tid;
                current.r8 = request.tls;
                (request.flags, request.child_tid, request.parent_tid)
            }
            CloneSource::Memory { addr, size } => {
                let process = self.process(event.pid)?;
                let size = size.min(128) as usize;
                let mut clone_args = process.memory.read(addr, size)?;
                if clone_args.len() < 32 {
                    return Err(self.divergence(
                        event,
                        "clone3 with a short argument struct",
                        "≥ 32 bytes".into(),
                        format!("{size}"),
                    ));
                }
                let head: CloneArgsHead = abi::read(&clone_args).unwrap_or_default();
                let (flags, child_tid, parent_tid) = (head.flags, head.child_tid, head.parent_tid);
                clone_args[0..8].copy_from_slice(&(flags & !untraced).to_le_bytes());
                let scratch = process.scratch.ok_or_else(|| {
                    ReplayError::Setup("internal error: no injection page".into())
                })?;
                let copy = scratch + SCRATCH_LEN - 256;
                process.memory.write(copy, &clone_args)?;
                current.rdi = copy;
                (flags, child_tid, parent_tid)
            }
        })
    }

    /// Runs the clone in the kernel; the new task's real tid.
    fn run_clone(&mut self, event: &Event, real: Pid, current: &Regs) -> Result<Pid, ReplayError> {
        regs::set(real, current)?;
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
        Ok(child)
    }

    /// From the exit of an exec from a non-main thread on, the recording
    /// calls that thread by the leader's tid.
    pub(super) fn take_over_renamed(&mut self, tid: RecordedTid) {
        if self
            .tasks
            .get(&tid)
            .is_some_and(|t| t.state != ReplayState::Dead)
        {
            return;
        }
        let Some(old) = self
            .tasks
            .iter()
            .find(|(_, t)| t.renamed_to == Some(tid))
            .map(|(&old, _)| old)
        else {
            return;
        };
        if let Some(mut task) = self.tasks.remove(&old) {
            task.renamed_to = None;
            self.tasks.insert(tid, task);
        }
    }
}
