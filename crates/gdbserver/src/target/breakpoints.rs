//! Breakpoints and watchpoints as gdb sets them, a process at a time, over
//! the replay's one set for all processes.

use super::ReplayTarget;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint,
    SwBreakpointOps, WatchKind,
};
use gdbstub::target::TargetResult;
use trace::RecordedTid;

impl ReplayTarget {
    /// The process gdb's breakpoint requests are about: the one its last
    /// `Hg` named, alive or not, else the current thread's.
    fn breakpoint_process(&self) -> RecordedTid {
        self.named_process()
            .or_else(|| self.pid_of(self.current))
            .unwrap_or_default()
    }
}

impl Breakpoints for ReplayTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

/// `hbreak`: gdb never sees the breakpoint bytes (they are only in memory
/// while replayed code runs), so an int3 behaves exactly like a debug
/// register and keeps DR0–DR3 free for watchpoints.
impl HwBreakpoint for ReplayTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.add_sw_breakpoint(addr, kind)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, kind: usize) -> TargetResult<bool, Self> {
        self.remove_sw_breakpoint(addr, kind)
    }
}

impl SwBreakpoint for ReplayTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let pid = self.breakpoint_process();
        self.breakpoint_owners.entry(addr).or_default().insert(pid);
        self.config.breakpoints.insert(addr);
        Ok(true)
    }

    /// Out of the replay once no process gdb sees has it.
    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let pid = self.breakpoint_process();
        let Some(owners) = self.breakpoint_owners.get_mut(&addr) else {
            return Ok(false);
        };
        owners.remove(&pid);
        if owners.is_empty() {
            self.breakpoint_owners.remove(&addr);
            self.config.breakpoints.remove(&addr);
        }
        Ok(true)
    }
}

impl HwWatchpoint for ReplayTarget {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let usable = self.config.watchpoints.len() < 4
            && matches!(len, 1 | 2 | 4 | 8)
            && addr.is_multiple_of(len);
        if !usable {
            return Ok(false);
        }
        self.config
            .watchpoints
            .push((addr, len, !matches!(kind, WatchKind::Write)));
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        _kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let before = self.config.watchpoints.len();
        self.config
            .watchpoints
            .retain(|w| !(w.0 == addr && w.1 == len));
        Ok(before != self.config.watchpoints.len())
    }
}
