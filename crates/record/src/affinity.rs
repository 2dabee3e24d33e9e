//! The one CPU the recorder pins the program to stays out of its view:
//! until a thread sets its own affinity, `sched_getaffinity` answers with
//! the CPUs it would have natively, so that `nproc`, a JVM's choice of
//! collector and a runtime's thread-pool size come out as they do natively.
//! Replay returns the recorded answer.

use tracee::Pid;

use crate::recorder::{Recorder, Step};

impl Recorder {
    /// The task a `sched_{get,set}affinity` with `pid` names, when it is one
    /// of the recording's.
    fn affinity_target(&self, tid: Pid, pid: u64) -> Option<Pid> {
        let target = match pid as i32 {
            0 => tid,
            other => other,
        };
        self.tasks.contains_key(&target).then_some(target)
    }

    /// At the exit of a successful `sched_setaffinity`: the target thread's
    /// CPUs are the program's from now on.
    pub(crate) fn note_own_affinity(&mut self, tid: Pid, args: &[u64; 6]) {
        if let Some(target) = self.affinity_target(tid, args[0]) {
            if let Some(task) = self.tasks.get_mut(&target) {
                task.modes.own_affinity = true;
            }
        }
    }

    /// At the entry of a `sched_setattr` that asks for SCHED_DEADLINE: the
    /// kernel grants it only to a thread whose affinity spans every CPU of
    /// its root domain, as the program's does natively, so a thread still
    /// on the recorder's pin gets its native CPUs back first (and keeps
    /// them, as after a `sched_setaffinity` of its own).
    pub(crate) fn unpin_for_deadline(&mut self, tid: Pid, tgid: Pid, args: &[u64; 6]) -> Step {
        const SCHED_DEADLINE: u32 = 6;
        let policy = self.memory(tgid)?.read(args[1].wrapping_add(4), 4);
        let deadline = policy.is_ok_and(|bytes| bytes == SCHED_DEADLINE.to_le_bytes());
        let Some(target) = self.affinity_target(tid, args[0]).filter(|_| deadline) else {
            return Ok(());
        };
        if self
            .tasks
            .get(&target)
            .is_some_and(|t| t.modes.own_affinity)
        {
            return Ok(());
        }
        if tracee::spawn::set_native_affinity(target) {
            if let Some(task) = self.tasks.get_mut(&target) {
                task.modes.own_affinity = true;
            }
        }
        Ok(())
    }

    /// At the exit of a successful `sched_getaffinity` (`result` bytes
    /// written at `args[2]`) about a thread still on the recorder's pin:
    /// the native CPUs written over the pinned one, before the bytes are
    /// recorded.
    pub(crate) fn show_native_affinity(&mut self, tid: Pid, args: &[u64; 6], result: i64) -> Step {
        let Some(native) = self.native_affinity.clone() else {
            return Ok(());
        };
        let Some(target) = self.affinity_target(tid, args[0]) else {
            return Ok(());
        };
        if result <= 0 || self.task(target)?.modes.own_affinity {
            return Ok(());
        }
        let mut mask = native;
        mask.resize(result as usize, 0);
        let tgid = self.task(tid)?.tgid;
        self.memory(tgid)?.write(args[2], &mask)?;
        Ok(())
    }
}
