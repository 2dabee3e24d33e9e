//! A task's life as the kernel reports it: its first stop, which takes
//! what it inherits from the thread that made it, and the fork, exec and
//! exit events that add, rename and retire tasks.

use crate::recorder::{Recorder, Step};
use crate::task::{proc_ids, RunState};
use trace::event::{EventKind, RecordedTid};
use tracee::ptrace::{self, Resume, WaitResult};
use tracee::{regs, Pid, ProcessMemory};

/// How long a wait's entry waits for an exited process's death.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_millis(20);

impl Recorder {
    /// Event stops happen inside the kernel, so most never conflict with the
    /// thread that runs user code and are handled at once.
    pub(crate) fn on_ptrace_event(&mut self, tid: Pid, event: i32, message: u64) -> Step {
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
                // A forked child keeps its parent's descriptors.
                let (parent, child_process) = (self.task(tid)?.tgid, self.task(child)?.tgid);
                self.proc_views.inherit(parent, child_process);
                if self.proc_mem_writers.contains(&parent) {
                    self.proc_mem_writers.insert(child_process);
                }
                // The kernel reports a clone with SIGCHLD as a fork even with
                // CLONE_VM: only the flags say whether memory was copied.
                let copy_of_memory =
                    event == libc::PTRACE_EVENT_FORK && !self.clone_shares_memory(tid)?;
                let forked_by = self.forked_by_now(tid, copy_of_memory)?;
                self.forked_by.insert(child, forked_by);
                self.task(tid)?.new_child = Some(child);
                self.fd_cache_at_clone(tid)?;
                self.buffer_at_clone(tid)?;
            }
            libc::PTRACE_EVENT_EXEC => {
                let former = message as Pid;
                if former != tid {
                    // A non-leader thread exec'd and took over the leader's
                    // tid. The leader is gone, whether or not its exit was
                    // seen: it neither runs nor waits any more.
                    self.scheduler.forget(tid);
                    if let Some(mut task) = self.tasks.remove(&former) {
                        task.tid = tid;
                        self.tasks.insert(tid, task);
                    }
                }
                let tgid = self.task(tid)?.tgid;
                self.exec_survived(tgid);
                self.memories.insert(tgid, ProcessMemory::open(tid)?);
                // The kernel removed the old timer with the old image, and
                // the rseq registration.
                self.task(tid)?.timer = None;
                self.task(tid)?.rseq = None;
            }
            libc::PTRACE_EVENT_EXIT => {
                let status = message as i32;
                self.log(tid, EventKind::TaskExit { status }, Vec::new())?;
                self.task(tid)?.exit_seen = true;
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
        // What the child inherits; its first stop can come before the
        // fork event, and then the thread still in its fork says it.
        let forked_by = match self.forked_by.remove(&tid) {
            Some(known) => Some(known),
            None if !thread => self.forked_by_in_flight(parent)?,
            None => None,
        };
        let inherited = forked_by
            .as_ref()
            .map(|f| f.modes)
            .or_else(|| Some(self.tasks.get(&parent)?.modes))
            .unwrap_or_default();
        self.task(tid)?.modes = inherited;
        let rseq = match &forked_by {
            Some(f) => f.rseq,
            None if !thread => self.tasks.get(&parent).and_then(|p| p.rseq),
            None => None,
        };
        self.task(tid)?.rseq = rseq;
        if let Some((nr, args)) = forked_by.as_ref().and_then(|f| f.call) {
            if crate::syscalls::untraced_clone(nr, &args) {
                // The child starts with the registers of the clone the
                // recorder ran; it sees the flags the program passed.
                let mut child = regs::get(tid)?;
                child.rdi = args[0];
                regs::set(tid, &child)?;
            }
            let copied_struct = forked_by.as_ref().filter(|f| f.copy_of_memory);
            if let Some(flags) = copied_struct.and_then(|f| f.untraced_clone3_flags) {
                // Its copy of the clone3 struct, too.
                self.memory(tgid)?.write(args[0], &flags.to_le_bytes())?;
            }
        }
        if let Some(forked_by) = forked_by.filter(|_| !thread) {
            self.inherit_buffer(tid, forked_by)?;
        }
        self.log(
            tid,
            EventKind::TaskStart {
                parent: RecordedTid(parent),
                thread,
            },
            Vec::new(),
        )?;
        self.resume_user(tid, 0)
    }

    /// A fork that copies the process's memory: its thread is waited for
    /// in place until the copy is made (its fork event), before any other
    /// thread runs. Otherwise another thread's user code could run while
    /// the kernel copies, and whether the child's copy holds what it wrote
    /// (a mutex marked contended, a patched syscall site) would depend on
    /// the timing, where replay, which runs that code only before the
    /// thread's next event, always forks first.
    pub(crate) fn copies_memory_for_a_child(
        &mut self,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
    ) -> Step<bool> {
        let flags = self.clone_flags(tgid, nr, args)?;
        Ok(flags.is_some_and(|flags| flags & (libc::CLONE_VM | libc::CLONE_THREAD) as u64 == 0))
    }

    /// A traced child's zombie reaches its parent only once the tracer has
    /// waited for it, so a process whose exit the recorder let run but
    /// whose death it has not reaped yet still looks alive to a wait that
    /// does not block, even after a readable pidfd or a SIGCHLD told the
    /// parent it was gone. Their deaths are imminent: reaped before a wait
    /// runs. A group leader with threads left is not reapable natively
    /// either, and is left alone.
    pub(crate) fn settle_exited_processes(&mut self) -> Step {
        let exited: Vec<Pid> = self
            .tasks
            .values()
            .filter(|t| t.exit_seen && t.tid == t.tgid)
            .filter(|leader| {
                !self
                    .tasks
                    .values()
                    .any(|t| t.tgid == leader.tgid && t.tid != leader.tid)
            })
            .map(|t| t.tid)
            .collect();
        for tid in exited {
            // An exiting pid namespace's init first waits for the
            // namespace's other processes, which the recorder must reap:
            // not waited for here beyond a moment.
            let deadline = std::time::Instant::now() + SETTLE_LIMIT;
            while let Some(remaining) = deadline.checked_duration_since(std::time::Instant::now()) {
                match ptrace::wait_for_within(tid, remaining)? {
                    Some(WaitResult::Stopped(..)) => ptrace::resume(tid, Resume::Continue, 0)?,
                    Some(death) => {
                        self.on_wait(death)?;
                        break;
                    }
                    None => break,
                }
            }
        }
        Ok(())
    }
}
