//! Replaying signals, trapped rdtsc, and the start and end of threads.

use super::{Applied, Expect, ReplaySession};
use crate::divergence::syscall_name;
use crate::task::{ParkedExit, ReplayState};
use crate::ReplayError;
use trace::event::{Event, EventKind, Regs, SignalOrigin};
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult, SIGINFO_SIZE};
use tracee::{regs, Pid};

impl ReplaySession {
    pub(super) fn signal(
        &mut self,
        event: &Event,
        signo: i32,
        origin: SignalOrigin,
        siginfo: &[u8],
        recorded: &Regs,
    ) -> Result<Applied, ReplayError> {
        let (real, rec_pid, sent) = {
            let task = self.task(event)?;
            (
                task.real,
                task.rec_pid,
                std::mem::replace(&mut task.signal_sent, true),
            )
        };
        if origin == SignalOrigin::Asynchronous && !sent {
            let tgid = self.process(rec_pid)?.real_pid;
            ptrace::tgkill(tgid, real, signo)?;
        }
        if self.advance(event, Expect::Signal(signo))? == Applied::Interrupted {
            return Ok(Applied::Interrupted);
        }
        self.task(event)?.signal_sent = false;
        if origin == SignalOrigin::Asynchronous {
            let mut info = [0u8; SIGINFO_SIZE];
            let n = siginfo.len().min(SIGINFO_SIZE);
            info[..n].copy_from_slice(&siginfo[..n]);
            ptrace::set_siginfo(real, &info)?;
        }
        let found = regs::get(real)?;
        if recorded.orig_rax == u64::MAX && found.orig_rax != u64::MAX {
            // Recorded just after a syscall returned, by an interrupt before
            // the next instruction; here the signal comes on the syscall's
            // way out. Leaving the syscall behind (as the recording had)
            // keeps the kernel from treating it as one to restart.
            regs::set(
                real,
                &Regs {
                    orig_rax: u64::MAX,
                    ..found
                },
            )?;
        }
        self.compare_regs(event, recorded, real)?;
        self.task(event)?.pending_signal = Some(signo).filter(|&s| s != 0);
        Ok(Applied::Done)
    }

    pub(super) fn rdtsc(&mut self, event: &Event, recorded: &Regs) -> Result<Applied, ReplayError> {
        if self.advance(event, Expect::Rdtsc)? == Applied::Interrupted {
            return Ok(Applied::Interrupted);
        }
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
        Ok(Applied::Done)
    }

    pub(super) fn task_start(&mut self, event: &Event) -> Result<(), ReplayError> {
        let task = self.task(event)?;
        if task.state == ReplayState::Created {
            return self.task_started(event);
        }
        if task.state != ReplayState::New {
            let state = task.state;
            return Err(self.divergence(
                event,
                "task start for a running task",
                "a new task".into(),
                format!("{state:?}"),
            ));
        }
        match first_stop(task.real)? {
            WaitResult::Stopped(..) => {}
            WaitResult::Exited(..) | WaitResult::Signaled(..) if self.group_exiting(event) => {
                // Its process's exit_group already ran here: the kernel
                // killed the thread before its first stop, which the
                // recording happened to see first. Nothing of it is left
                // to replay but its exit.
                self.task(event)?.state = ReplayState::Dead;
                return Ok(());
            }
            other => return Err(self.died_before_starting(event, other)),
        }
        self.task_started(event)
    }

    /// Takes a new process's thread to its first stop now, rather than at
    /// its start event, so that a debugger stopped at the fork can read
    /// its registers.
    pub(super) fn hold_new_task(&mut self, tid: RecordedTid) -> Result<(), ReplayError> {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return Ok(());
        };
        if task.state != ReplayState::New {
            return Ok(());
        }
        match first_stop(task.real)? {
            WaitResult::Stopped(..) => {
                task.state = ReplayState::Created;
                Ok(())
            }
            other => Err(ReplayError::Setup(format!(
                "the new process {tid} ended before its first stop: {other:?}"
            ))),
        }
    }

    /// A new task that ended before its first stop, where the recording
    /// had it start.
    pub(super) fn died_before_starting(&self, event: &Event, found: WaitResult) -> ReplayError {
        self.divergence(
            event,
            "new task died before starting",
            "its first stop".into(),
            format!("{found:?}"),
        )
    }

    /// A new task at its first stop becomes ready to run its code.
    fn task_started(&mut self, event: &Event) -> Result<(), ReplayError> {
        let real = self.task(event)?.real;
        let task = self.task(event)?;
        task.state = ReplayState::Ready;
        if let Some((nr, args)) = task.clone_regs.take() {
            let mut child_regs = regs::get(real)?;
            child_regs.orig_rax = nr;
            regs::set_syscall_args(&mut child_regs, &args);
            regs::set(real, &child_regs)?;
        }
        if let Some((addr, tid)) = task.child_tid_fixup.take() {
            let rec_pid = task.rec_pid;
            self.process(rec_pid)?
                .memory
                .write(addr, &tid.to_le_bytes())?;
        }
        Ok(())
    }

    /// Whether the exit_group of `event`'s process has been released.
    fn group_exiting(&self, event: &Event) -> bool {
        self.tasks
            .get(&event.tid)
            .and_then(|t| self.processes.get(&t.rec_pid))
            .is_some_and(|p| p.exiting)
    }

    pub(super) fn task_exit(&mut self, event: &Event) -> Result<(), ReplayError> {
        let EventKind::TaskExit { status } = event.kind else {
            unreachable!("task_exit is only called for TaskExit events")
        };
        let task = self.task(event)?;
        let (real, rec_pid) = (task.real, task.rec_pid);
        // A new task can be killed before it runs any of its code (a parent
        // killing the child it just forked): it is still at its first stop.
        let parked = matches!(
            task.state,
            ReplayState::Ready | ReplayState::InSyscall | ReplayState::New | ReplayState::Created
        );
        if parked && libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL {
            // A SIGKILL from outside the recording has no delivery stop to
            // replay; deliver the same death now.
            // A thread that died with its group leader already is gone.
            if let Some(process) = self.processes.get(&rec_pid) {
                match ptrace::tgkill(process.real_pid, real, libc::SIGKILL) {
                    Err(e) if e.gone_task().is_some() => {}
                    other => other?,
                }
            }
        }
        // Release the parked exit this death comes from: the thread's own
        // exit or exit_group when it has one, else (it was killed) its
        // process's exit_group.
        let own = self
            .tasks
            .get(&event.tid)
            .and_then(|t| t.pending_exit)
            .is_some();
        let releases: Vec<RecordedTid> = if own {
            vec![event.tid]
        } else {
            self.tasks
                .iter()
                .filter(|(_, t)| t.rec_pid == rec_pid && t.pending_exit == Some(ParkedExit::Group))
                .map(|(&tid, _)| tid)
                .collect()
        };
        for tid in releases {
            let Some(t) = self.tasks.get_mut(&tid) else {
                continue;
            };
            let group = t.pending_exit.take() == Some(ParkedExit::Group);
            ptrace::resume(t.real, Resume::Syscall, 0)?;
            if group {
                if let Some(process) = self.processes.get_mut(&rec_pid) {
                    process.exiting = true;
                }
            }
        }
        let exiting = self.processes.get(&rec_pid).is_some_and(|p| p.exiting);
        // The program's own seccomp filter killed the recorded thread at a
        // call, with no stop for the tracer or after its entry stop.
        // Replay installed no filter: the death is dealt here.
        let killed_by_seccomp = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS;
        let task = self.task(event)?;
        match task.state {
            ReplayState::Dead => return Ok(()),
            ReplayState::InSyscall if killed_by_seccomp => {
                self.die_of_seccomp(event, real, CallStop::Exit)?
            }
            // The group exit kills it where it stands; running it further
            // would let it reach events the recording never saw.
            ReplayState::Ready if !exiting => {
                let signal = task.take_signal();
                ptrace::resume(real, Resume::Syscall, signal)?;
            }
            // Parked threads are woken by the SIGKILL of an exit_group or exec.
            _ => {}
        }
        if libc::WIFSIGNALED(status) {
            // A fatal signal kills every thread of the process: the events
            // its other threads logged while it did are the kernel's
            // doing, and they may be gone before replay reaches them.
            if let Some(process) = self.processes.get_mut(&rec_pid) {
                process.exiting = true;
            }
            self.deliver_held_signals(rec_pid, event.tid)?;
        }
        loop {
            let waited = if event.tid == event.pid {
                self.wait_for_leader(rec_pid, real)
            } else {
                ptrace::wait_for(real)
            };
            match waited {
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
                Ok(WaitResult::Stopped(_, Stop::Syscall)) if killed_by_seccomp => {
                    self.die_of_seccomp(event, real, CallStop::Entry)?;
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
        self.mark_robust_futexes_dead(event)?;
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

    /// Delivers the signals other threads of the process hold for their
    /// next resume. The signal that kills a process may be another
    /// thread's (a thread calling `abort`, say): replay stops that thread
    /// where the signal was delivered, and the recording may log the main
    /// thread's death before that thread's, so the process would never die
    /// while replay waited for it.
    fn deliver_held_signals(
        &mut self,
        rec_pid: RecordedTid,
        dying: RecordedTid,
    ) -> Result<(), ReplayError> {
        for task in self.tasks.iter_mut().filter_map(|(&tid, task)| {
            (tid != dying && task.rec_pid == rec_pid && task.state == ReplayState::Ready)
                .then_some(task)
        }) {
            if let Some(signal) = task.pending_signal.take() {
                match ptrace::resume(task.real, Resume::Syscall, signal) {
                    Err(e) if e.gone_task().is_some() => {}
                    other => other?,
                }
                task.state = ReplayState::Exiting;
            }
        }
        Ok(())
    }

    /// Ends `real`, stopped at the call a seccomp filter killed it at when
    /// recorded: its process with it when it is the last thread
    /// (`SECCOMP_RET_KILL_PROCESS`, or a lone thread), else the thread
    /// alone (`SECCOMP_RET_KILL_THREAD`), by turning the call into `exit`
    /// (at its exit stop, by running the `syscall` instruction again as
    /// `exit`). Either way nothing of the program runs on.
    fn die_of_seccomp(
        &mut self,
        event: &Event,
        real: Pid,
        stop: CallStop,
    ) -> Result<(), ReplayError> {
        let task = self.task(event)?;
        let rec_pid = task.rec_pid;
        let alone = !self.tasks.iter().any(|(&tid, t)| {
            tid != event.tid && t.rec_pid == rec_pid && t.state != ReplayState::Dead
        });
        if alone {
            let process = self.process(rec_pid)?;
            ptrace::tgkill(process.real_pid, real, libc::SIGKILL)?;
        } else {
            let mut exit = regs::get(real)?;
            match stop {
                CallStop::Entry => exit.orig_rax = libc::SYS_exit as u64,
                CallStop::Exit => {
                    const SYSCALL_LEN: u64 = 2;
                    exit.rip -= SYSCALL_LEN;
                    exit.rax = libc::SYS_exit as u64;
                }
            }
            exit.rdi = 0;
            regs::set(real, &exit)?;
        }
        ptrace::resume(real, Resume::Syscall, 0)?;
        Ok(())
    }

    /// The next stop or death of a process's main thread. A group leader
    /// killed with its process is reported only after its other threads
    /// are gone, and those stop at their own exit first: any that does is
    /// let through meanwhile (its own exit event finds it gone), or the
    /// wait would never end.
    fn wait_for_leader(
        &mut self,
        rec_pid: RecordedTid,
        leader: Pid,
    ) -> Result<WaitResult, tracee::TraceeError> {
        let others: Vec<RecordedTid> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.rec_pid == rec_pid && t.real != leader && t.state != ReplayState::Dead
            })
            .map(|(&tid, _)| tid)
            .collect();
        if others.is_empty() {
            return ptrace::wait_for(leader);
        }
        loop {
            if let Some(w) = ptrace::poll_for(leader)? {
                return Ok(w);
            }
            for tid in &others {
                let Some(task) = self.tasks.get_mut(tid).filter(|t| t.prefetched.is_none()) else {
                    continue;
                };
                match ptrace::poll_for(task.real) {
                    Ok(Some(WaitResult::Stopped(thread, Stop::Event { event, .. })))
                        if event == libc::PTRACE_EVENT_EXIT =>
                    {
                        let _ = ptrace::resume(thread, Resume::Continue, 0);
                    }
                    // Kept for the thread's own next event.
                    Ok(Some(other)) => task.prefetched = Some(other),
                    _ => {}
                }
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// Does what the kernel does with a dying thread's robust futexes: each
    /// one the thread still holds gets FUTEX_OWNER_DIED. The kernel recognises
    /// them by the thread's tid, and during replay the words hold the
    /// recorded tid, not the real one, so the kernel's own walk finds none.
    fn mark_robust_futexes_dead(&mut self, event: &Event) -> Result<(), ReplayError> {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
        const MAX_ENTRIES: usize = 2048;
        let Some(head) = self.task(event)?.robust_list else {
            return Ok(());
        };
        let Some(process) = self.processes.get(&event.pid) else {
            return Ok(());
        };
        let memory = &process.memory;
        let read_u64 = |addr: u64| memory.read_u64(addr).ok();
        let (Some(mut entry), Some(offset), Some(pending)) =
            (read_u64(head), read_u64(head + 8), read_u64(head + 16))
        else {
            return Ok(());
        };
        let tid = event.tid.raw() as u32;
        let mark = |entry: u64| {
            let addr = (entry & !1).wrapping_add(offset);
            if let Ok(bytes) = memory.read(addr, 4) {
                let word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                if word & FUTEX_TID_MASK == tid {
                    let _ = memory.write(
                        addr,
                        &((word & FUTEX_WAITERS) | FUTEX_OWNER_DIED).to_le_bytes(),
                    );
                }
            }
        };
        let mut seen = 0;
        while entry != head && entry != 0 && seen < MAX_ENTRIES {
            mark(entry);
            let Some(next) = read_u64(entry & !1) else {
                break;
            };
            entry = next;
            seen += 1;
        }
        if pending != 0 {
            mark(pending);
        }
        Ok(())
    }
}

/// Where a thread is stopped in a syscall.
#[derive(Debug, Clone, Copy)]
enum CallStop {
    Entry,
    Exit,
}

/// Waits for a new task's first stop: the SIGSTOP the kernel sends a child
/// it attaches to its tracer. What else it reports (its death) is returned.
pub(super) fn first_stop(real: Pid) -> Result<WaitResult, ReplayError> {
    loop {
        match ptrace::wait_for(real)? {
            stop @ WaitResult::Stopped(_, Stop::Signal(libc::SIGSTOP)) => return Ok(stop),
            WaitResult::Stopped(_, _) => ptrace::resume(real, Resume::Syscall, 0)?,
            other => return Ok(other),
        }
    }
}
