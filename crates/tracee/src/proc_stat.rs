//! `/proc/TID/stat`: what the kernel says of a thread (proc(5) numbers
//! its fields from 1; the command name, field 2, may hold spaces and
//! parentheses, so fields are counted from its closing parenthesis).

use crate::Pid;

pub struct ThreadStat {
    /// Fields 3 onwards.
    fields: Vec<String>,
}

/// `SCHED_FIFO` and `SCHED_RR`, as field 41 (policy) gives them.
const REALTIME_POLICIES: [u64; 2] = [1, 2];

impl ThreadStat {
    pub fn read(tid: Pid) -> Option<ThreadStat> {
        let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
        let after_name = &stat[stat.rfind(')')? + 1..];
        Some(ThreadStat {
            fields: after_name.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// Field `n` as proc(5) numbers it (3 is the state).
    pub fn field(&self, n: usize) -> Option<&str> {
        self.fields.get(n.checked_sub(3)?).map(String::as_str)
    }

    pub fn number(&self, n: usize) -> Option<u64> {
        self.field(n)?.parse().ok()
    }

    /// Asleep in the kernel (interruptibly or not).
    pub fn is_blocked(&self) -> bool {
        matches!(self.field(3), Some("S" | "D"))
    }

    /// Exited: a zombie, or on its way out.
    pub fn is_dead(&self) -> bool {
        matches!(self.field(3), Some("Z" | "X"))
    }

    /// Stopped by its tracer (`t`), in a ptrace stop.
    pub fn in_tracing_stop(&self) -> bool {
        self.field(3) == Some("t")
    }

    /// Runnable, or running.
    pub fn is_runnable(&self) -> bool {
        self.field(3) == Some("R")
    }

    /// Scheduled by a real-time policy (SCHED_FIFO or SCHED_RR).
    pub fn is_realtime(&self) -> bool {
        self.number(41)
            .is_some_and(|policy| REALTIME_POLICIES.contains(&policy))
    }

    /// The CPU the thread last ran on (field 39).
    pub fn cpu(&self) -> Option<u32> {
        self.field(39)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_runs_and_is_not_realtime() {
        let me = ThreadStat::read(nix::unistd::gettid().as_raw()).expect("own stat");
        assert!(me.is_runnable());
        assert!(!me.is_blocked());
        assert!(!me.is_realtime());
        assert!(me.cpu().is_some());
        assert!(me.field(2).is_none());
    }
}
