//! Debugger run control over a replay: software breakpoints (int3),
//! hardware watchpoints (DR0–DR3), instruction stepping, and running until
//! one of them fires.
//!
//! Breakpoint bytes are only in memory while a thread runs user code; at
//! every stop they are taken out again, so whoever reads memory (gdb, the
//! divergence checks, syscall injection) sees the program's own bytes.

use super::{Applied, Expect, ReplaySession};
use crate::task::{ReplayState, ReplayTask};
use crate::ReplayError;
use std::collections::BTreeSet;
use trace::event::{Event, EventKind};
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult, SIGINFO_SIZE};
use tracee::ptrace::{SI_KERNEL, TRAP_HWBKPT, TRAP_TRACE};
use tracee::{debugreg, regs, Pid};

const INT3: u8 = 0xcc;

/// Why a debugger-driven run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStop {
    /// A software breakpoint; the thread's rip is at the breakpoint address.
    Breakpoint { tid: RecordedTid },
    /// A hardware watchpoint fired after the access at `addr`.
    Watchpoint { tid: RecordedTid, addr: u64 },
    /// One instruction (or one whole syscall) of `tid` was executed.
    Stepped { tid: RecordedTid },
    /// The recording has no more events.
    End,
    /// [`ReplaySession::run`] saw its interrupt flag (Ctrl-C in gdb) and
    /// stopped between two events; `tid` made the last one.
    Interrupted { tid: RecordedTid },
    /// With [`ReplaySession::set_report_processes`]: thread `tid`'s last
    /// event made process `child` (a fork, vfork or clone without
    /// CLONE_THREAD).
    Forked {
        tid: RecordedTid,
        child: RecordedTid,
    },
    /// With [`ReplaySession::set_report_processes`]: the last thread of
    /// process `pid` (not the last process) ended, with this wait status.
    ProcessExited { pid: RecordedTid, status: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    Write,
    ReadWrite,
    /// A hardware breakpoint: the thread stops before executing the
    /// instruction there, and memory is never patched, so an address that
    /// is not the start of an instruction simply never fires.
    Execute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watchpoint {
    addr: u64,
    len: u64,
    kind: WatchKind,
}

#[derive(Default)]
pub(super) struct DebugState {
    breakpoints: BTreeSet<u64>,
    watchpoints: Vec<Watchpoint>,
    /// int3 bytes now in tracee memory: (recorded pid, address, original byte).
    inserted: Vec<(RecordedTid, u64, u8)>,
    /// Why the last interrupted advance stopped.
    pub(super) stop: Option<RunStop>,
    /// The last thread waits at its final exit syscall, not executed.
    parked_at_exit: bool,
    /// Threads whose debug registers hold watchpoints; disarmed once the
    /// debugger deletes them all.
    armed: std::collections::HashSet<Pid>,
    /// Set from another thread to stop a [`ReplaySession::run`] at the next
    /// event (Ctrl-C in gdb).
    interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Where a backwards search stops (see `sentinel`).
    pub(super) sentinel: Option<super::sentinel::Sentinel>,
    /// Processes the debugger does not see (it detached from them, or saw
    /// them end): its breakpoints and watchpoints do not fire in them.
    ignored: BTreeSet<RecordedTid>,
    /// Whether `run` stops after an event that made a process or ended
    /// one (gdb's fork events and process exits).
    report_processes: bool,
    /// The process the last replayed event made, if it made one.
    pub(super) forked: Option<RecordedTid>,
}

impl DebugState {
    pub(super) fn active(&self) -> bool {
        !self.breakpoints.is_empty() || !self.watchpoints.is_empty() || self.sentinel.is_some()
    }

    pub(super) fn parked_at_exit(&self) -> bool {
        self.parked_at_exit
    }

    pub(super) fn has_inserted(&self) -> bool {
        !self.inserted.is_empty() || self.sentinel.as_ref().is_some_and(|s| s.inserted())
    }

    /// Whether a breakpoint lies in the bytes from `start` to `end`.
    pub(super) fn breakpoint_within(&self, start: u64, end: u64) -> bool {
        self.breakpoints.range(start..end).next().is_some()
    }

    /// Whether resuming at `rip` first steps the instruction there
    /// unpatched: a breakpoint's, or the sentinel's (whose probe would
    /// otherwise find the same registers again at once).
    fn steps_over(&self, rip: u64) -> bool {
        self.breakpoints.contains(&rip) || self.sentinel.as_ref().is_some_and(|s| s.at() == rip)
    }

    /// Debug registers 0.. that hold the debugger's watchpoints; a probe's
    /// code guard takes the ones above.
    pub(super) fn watchpoints_in_use(&self) -> usize {
        self.watchpoints.len()
    }

    /// DR7 bits for the debugger's watchpoints.
    pub(super) fn watch_dr7(&self) -> u64 {
        dr7_for(&self.watchpoints)
    }
}

fn dr7_for(watchpoints: &[Watchpoint]) -> u64 {
    let mut dr7 = 0u64;
    for (i, w) in watchpoints.iter().enumerate() {
        let rw = match w.kind {
            WatchKind::Write => 0b01,
            WatchKind::ReadWrite => 0b11,
            WatchKind::Execute => 0b00,
        };
        let len = match w.len {
            _ if w.kind == WatchKind::Execute => 0b00,
            1 => 0b00,
            2 => 0b01,
            8 => 0b10,
            _ => 0b11,
        };
        dr7 |= 1 << (2 * i);
        dr7 |= (rw | (len << 2)) << (16 + 4 * i);
    }
    dr7
}

impl ReplaySession {
    pub fn set_breakpoint(&mut self, addr: u64) {
        self.debug.breakpoints.insert(addr);
    }

    pub fn remove_breakpoint(&mut self, addr: u64) -> bool {
        self.debug.breakpoints.remove(&addr)
    }

    /// Processes (recorded pids) in which breakpoints and watchpoints do
    /// not fire: those a debugger detached from after a fork, or saw end.
    pub fn set_ignored_processes(&mut self, processes: BTreeSet<RecordedTid>) {
        self.debug.ignored = processes;
    }

    /// Makes [`ReplaySession::run`] stop with [`RunStop::Forked`] after
    /// each event that makes a process, and with [`RunStop::ProcessExited`]
    /// after one that ends a process the debugger still sees:
    /// gdb follows processes this way.
    pub fn set_report_processes(&mut self, stop: bool) {
        self.debug.report_processes = stop;
    }

    /// Adds a hardware watchpoint; x86_64 has four debug registers.
    pub fn set_watchpoint(&mut self, addr: u64, len: u64, kind: WatchKind) -> bool {
        let len = if kind == WatchKind::Execute { 1 } else { len };
        if self.debug.watchpoints.len() >= 4
            || !matches!(len, 1 | 2 | 4 | 8)
            || !addr.is_multiple_of(len)
        {
            return false;
        }
        self.debug.watchpoints.push(Watchpoint { addr, len, kind });
        true
    }

    pub fn remove_watchpoint(&mut self, addr: u64, len: u64) -> bool {
        let before = self.debug.watchpoints.len();
        self.debug
            .watchpoints
            .retain(|w| !(w.addr == addr && w.len == len));
        before != self.debug.watchpoints.len()
    }

    /// True when the next event ends the last process (its exit_group, or
    /// the exit of its last thread): a debugger stops there, with the
    /// program still alive to inspect and reverse from, as rr does.
    pub fn at_final_exit(&mut self) -> Result<bool, ReplayError> {
        // A breakpoint may have stopped the thread on its way there.
        let next = match &self.interrupted {
            Some(pending) => pending,
            None => match self.events.peek_first()? {
                Some(next) => next,
                None => return Ok(true),
            },
        };
        let EventKind::SyscallEntry { regs, .. } = &next.event.kind else {
            return Ok(false);
        };
        let nr = regs.orig_rax;
        let pid = next.event.pid;
        let live: Vec<&ReplayTask> = self
            .tasks
            .values()
            .filter(|t| t.state != ReplayState::Dead)
            .collect();
        let only_this_process = live.iter().all(|t| t.rec_pid == pid);
        Ok(only_this_process
            && match syscall_model::task_effect(nr) {
                syscall_model::TaskEffect::EndsProcess => true,
                syscall_model::TaskEffect::EndsThread => live.len() == 1,
                _ => false,
            })
    }

    /// Runs the last thread up to its final exit syscall and parks it there,
    /// not executed, so a debugger can still look at the program.
    fn park_at_final_exit(&mut self) -> Result<RunStop, ReplayError> {
        if self.debug.parked_at_exit {
            return Ok(RunStop::End);
        }
        let next = match self.interrupted.take() {
            Some(pending) => pending,
            None => match self.events.next() {
                Some(next) => next?,
                None => return Ok(RunStop::End),
            },
        };
        let mut next = next;
        let event = next.event.clone();
        while self.advance(&event, Expect::Syscall)? == Applied::Interrupted {
            self.interrupted = Some(next);
            if let Some(stop) = self.debug.stop.take() {
                return Ok(stop);
            }
            // Stopped for a snapshot on the way.
            self.snapshot_if_due();
            next = self.interrupted.take().expect("set above");
        }
        if let Some(task) = self.tasks.get_mut(&event.tid) {
            task.prefetched = Some(WaitResult::Stopped(task.real, Stop::Syscall));
        }
        self.interrupted = Some(next);
        self.debug.parked_at_exit = true;
        Ok(RunStop::End)
    }

    /// Replays events until a breakpoint or watchpoint fires, or the end
    /// (parked at the last process's exit).
    pub fn run(&mut self) -> Result<RunStop, ReplayError> {
        Ok(self
            .run_until(u64::MAX)?
            .expect("no event count reaches u64::MAX"))
    }

    /// As [`ReplaySession::run`], but stops with `None` once `events`
    /// events have been replayed, before any code that follows the last.
    pub fn run_until(&mut self, events: u64) -> Result<Option<RunStop>, ReplayError> {
        let mut last_tid = None;
        loop {
            if self.replayed >= events && self.interrupted.is_none() {
                return Ok(None);
            }
            if self.debug.parked_at_exit || self.at_final_exit()? {
                return self.park_at_final_exit().map(Some);
            }
            let interrupted = self
                .debug
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.swap(false, std::sync::atomic::Ordering::SeqCst));
            if interrupted {
                let tid = match last_tid {
                    Some(tid) => tid,
                    None => self.next_event_thread()?.unwrap_or_default(),
                };
                return Ok(Some(RunStop::Interrupted { tid }));
            }
            self.debug.forked = None;
            match self.step_debug()? {
                DebugStep::Event(e) => {
                    last_tid = Some(e.tid);
                    if let Some(stop) = self.process_change(&e)? {
                        return Ok(Some(stop));
                    }
                }
                DebugStep::Stopped(stop) => return Ok(Some(stop)),
                DebugStep::End => return Ok(Some(RunStop::End)),
            }
        }
    }

    /// The stop a debugger that follows processes wants after `event`: the
    /// process it made, or the process it ended.
    fn process_change(&mut self, event: &Event) -> Result<Option<RunStop>, ReplayError> {
        let forked = self.debug.forked.take();
        if !self.debug.report_processes {
            return Ok(None);
        }
        if let Some(child) = forked {
            self.hold_new_task(child)?;
            return Ok(Some(RunStop::Forked {
                tid: event.tid,
                child,
            }));
        }
        let EventKind::TaskExit { status } = event.kind else {
            return Ok(None);
        };
        let pid = event.pid;
        let process_ended = !self
            .tasks
            .values()
            .any(|t| t.rec_pid == pid && t.state != ReplayState::Dead);
        Ok((process_ended && !self.debug.ignored.contains(&pid))
            .then_some(RunStop::ProcessExited { pid, status }))
    }

    /// Waits up to `limit` for `real`'s next stop, giving up early with
    /// [`ReplayError::Interrupted`] when the interrupt flag is raised.
    pub(super) fn wait_interruptibly(
        &self,
        real: Pid,
        limit: std::time::Duration,
    ) -> Result<Option<tracee::WaitResult>, ReplayError> {
        const SLICE: std::time::Duration = std::time::Duration::from_millis(100);
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let Some(stop) = ptrace::wait_for_within(real, left.min(SLICE))? {
                return Ok(Some(stop));
            }
            let interrupted = self
                .debug
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::SeqCst));
            if interrupted {
                return Err(ReplayError::Interrupted);
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// Lets `flag` stop [`ReplaySession::run`] between two events.
    pub fn set_interrupt(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.debug.interrupt = Some(flag);
    }

    /// The thread whose event comes next in the recording.
    pub fn next_event_thread(&mut self) -> Result<Option<RecordedTid>, ReplayError> {
        if let Some(pending) = &self.interrupted {
            return Ok(Some(pending.event.tid));
        }
        Ok(self.events.peek_first()?.map(|e| e.event.tid))
    }

    /// Executes one instruction of `tid` (a whole syscall if it is at one),
    /// first replaying the events that the recording has before that
    /// thread's turn. Breakpoints elsewhere may stop it earlier.
    pub fn step_instruction(&mut self, tid: RecordedTid) -> Result<RunStop, ReplayError> {
        // Replay up to the thread's turn: its code runs just before its next event.
        loop {
            let ready = self.tasks.get(&tid).map(|t| t.state) == Some(ReplayState::Ready);
            let next = self.next_event_thread()?;
            if ready && (next == Some(tid) || next.is_none()) {
                break;
            }
            if next.is_none() || self.debug.parked_at_exit {
                return Ok(RunStop::End);
            }
            if self.at_final_exit()? {
                return self.park_at_final_exit();
            }
            match self.step_debug()? {
                DebugStep::Event(_) => {}
                DebugStep::Stopped(stop) => return Ok(stop),
                DebugStep::End => return Ok(RunStop::End),
            }
        }
        if self.at_next_preemption_point(tid)? {
            // The recording switched threads here: replay that first, then
            // step once it is this thread's turn again.
            return match self.step_debug()? {
                DebugStep::Event(_) => self.step_instruction(tid),
                DebugStep::Stopped(stop) => Ok(stop),
                DebugStep::End => Ok(RunStop::End),
            };
        }
        let (real, pid) = {
            let t = self.tasks.get(&tid).expect("checked ready above");
            (t.real, t.rec_pid)
        };
        let rip = regs::get(real)?.rip;
        let code = self.read_memory(pid, rip, 3).unwrap_or_default();
        let at_event = matches!(
            code.as_slice(),
            [0x0f, 0x05, _] | [0x0f, 0x31, _] | [0x0f, 0x01, 0xf9]
        );
        if at_event && (self.debug.parked_at_exit || self.at_final_exit()?) {
            return self.park_at_final_exit();
        }
        if at_event || self.tasks.get(&tid).map(|t| t.prefetched.is_some()) == Some(true) {
            // A syscall or trapped rdtsc: the step is the recorded event(s)
            // that make the thread ready to run user code again.
            loop {
                match self.step_debug()? {
                    DebugStep::Event(e) if e.tid == tid => {
                        if self.tasks.get(&tid).map(|t| t.state) != Some(ReplayState::InSyscall) {
                            return Ok(RunStop::Stepped { tid });
                        }
                    }
                    DebugStep::Event(_) => {}
                    DebugStep::Stopped(stop) => return Ok(stop),
                    DebugStep::End => return Ok(RunStop::End),
                }
            }
        }
        let signal = self
            .tasks
            .get_mut(&tid)
            .map(ReplayTask::take_signal)
            .unwrap_or(0);
        self.set_watch_registers(real)?;
        // A single step runs the program's own instruction, not a probe's jump.
        let probe = self.tasks.get(&tid).and_then(|t| t.probe.clone());
        if let Some(p) = probe.as_ref().filter(|p| p.planted) {
            self.process(pid)?.memory.write(p.at, &p.original)?;
        }
        ptrace::resume(real, Resume::SingleStep, signal)?;
        let stop = ptrace::wait_for(real)?;
        let answered = self.step_answered_cpuid(real, pid, &stop)?;
        if let Some(mut p) = probe {
            // The step may have written those bytes itself (a JIT).
            let now = self.process(pid)?.memory.read(p.at, p.original.len())?;
            p.planted = false;
            self.take_program_bytes(pid, &mut p, &now)?;
            if let Some(task) = self.tasks.get_mut(&tid) {
                task.probe = Some(p);
            }
        }
        let is_trap = matches!(stop, WaitResult::Stopped(_, Stop::Signal(libc::SIGTRAP)))
            && ptrace::get_siginfo(real)?
                .map(|i| matches!(ptrace::siginfo_code(&i), TRAP_TRACE | TRAP_HWBKPT))
                .unwrap_or(false);
        if is_trap {
            if let Some(addr) = self.watch_hit(real) {
                return Ok(RunStop::Watchpoint { tid, addr });
            }
        } else if answered {
            // A trapped CPUID, answered: the step is done.
        } else if let Some(task) = self.tasks.get_mut(&tid) {
            // Something recorded happened on this instruction (a fault, a
            // signal): the next advance picks it up as its stop.
            task.prefetched = Some(stop);
        }
        Ok(RunStop::Stepped { tid })
    }

    /// Resumes a ready thread toward its next event with breakpoints and
    /// watchpoints armed. When stepping over a breakpoint already produced
    /// the thread's next stop, that stop is prefetched instead.
    pub(super) fn resume_user_code(
        &mut self,
        real: Pid,
        pid: RecordedTid,
        signal: i32,
    ) -> Result<(), ReplayError> {
        if !self.debug.active() {
            if !self.debug.armed.is_empty() {
                self.set_watch_registers(real)?;
            }
            ptrace::resume(real, Resume::Syscall, signal)?;
            return Ok(());
        }
        let mut signal = signal;
        let rip = regs::get(real)?.rip;
        if self.debug.steps_over(rip) {
            // Execute the instruction under the breakpoint first, unpatched.
            ptrace::resume(real, Resume::SingleStep, signal)?;
            signal = 0;
            let stop = ptrace::wait_for(real)?;
            let stepped = matches!(stop, WaitResult::Stopped(_, Stop::Signal(libc::SIGTRAP)))
                && ptrace::get_siginfo(real)?
                    .map(|i| ptrace::siginfo_code(&i) == TRAP_TRACE)
                    .unwrap_or(false)
                || self.step_answered_cpuid(real, pid, &stop)?;
            if !stepped {
                if let Some(task) = self.tasks.values_mut().find(|t| t.real == real) {
                    task.prefetched = Some(stop);
                }
                return Ok(());
            }
        }
        if !self.debug.ignored.contains(&pid) {
            self.insert_breakpoints(pid);
        }
        self.insert_sentinel(real, pid)?;
        self.set_watch_registers(real)?;
        ptrace::resume(real, Resume::Syscall, signal)?;
        Ok(())
    }

    fn insert_breakpoints(&mut self, pid: RecordedTid) {
        let addresses: Vec<u64> = self
            .debug
            .breakpoints
            .iter()
            .copied()
            .filter(|&addr| !self.inside_probe(pid, addr))
            .collect();
        for addr in addresses {
            self.insert_int3(pid, addr);
        }
    }

    /// Writes an `int3` at `addr` in process `pid`, remembering the byte.
    pub(super) fn insert_int3(&mut self, pid: RecordedTid, addr: u64) {
        let Some(process) = self.processes.get(&pid) else {
            return;
        };
        if let Ok(original) = process.memory.read(addr, 1) {
            if process.memory.write(addr, &[INT3]).is_ok() {
                self.debug.inserted.push((pid, addr, original[0]));
            }
        }
    }

    /// Takes every inserted int3, and the sentinel, out of memory again.
    pub(super) fn remove_breakpoints(&mut self) {
        for (pid, addr, original) in std::mem::take(&mut self.debug.inserted) {
            if let Some(process) = self.processes.get(&pid) {
                let _ = process.memory.write(addr, &[original]);
            }
        }
        self.remove_sentinel();
    }

    fn set_watch_registers(&mut self, real: Pid) -> Result<(), ReplayError> {
        let ignored = self
            .tasks
            .values()
            .find(|t| t.real == real)
            .is_some_and(|t| self.debug.ignored.contains(&t.rec_pid));
        // A probe's code guard gives up the registers the debugger now needs.
        let in_use = self.debug.watchpoints.len();
        let guard = match self
            .tasks
            .values_mut()
            .find(|t| t.real == real)
            .and_then(|t| t.probe.as_mut())
        {
            Some(probe) => {
                probe.guard.retain(|&(i, _)| i >= in_use);
                super::code_guard::guard_dr7(&probe.guard)
            }
            None => 0,
        };
        if self.debug.watchpoints.is_empty() || ignored {
            if self.debug.armed.remove(&real) {
                debugreg::write(real, debugreg::CONTROL, guard)?;
            }
            return Ok(());
        }
        for (i, w) in self.debug.watchpoints.iter().enumerate() {
            debugreg::write(real, i, w.addr)?;
        }
        self.debug.armed.insert(real);
        Ok(debugreg::write(
            real,
            debugreg::CONTROL,
            dr7_for(&self.debug.watchpoints) | guard,
        )?)
    }

    /// The watched address whose debug register fired, clearing DR6.
    fn watch_hit(&self, real: Pid) -> Option<u64> {
        let dr6 = debugreg::read(real, debugreg::STATUS).unwrap_or(0);
        let _ = debugreg::write(real, debugreg::STATUS, 0);
        self.debug
            .watchpoints
            .iter()
            .enumerate()
            .find(|(i, _)| dr6 & (1 << i) != 0)
            .map(|(_, w)| w.addr)
    }

    /// Recognises a SIGTRAP that a breakpoint or watchpoint of ours caused.
    /// For a breakpoint, rewinds rip onto the breakpoint address.
    pub(super) fn debug_trap(
        &mut self,
        tid: RecordedTid,
        real: Pid,
        info: &[u8; SIGINFO_SIZE],
    ) -> Result<Option<RunStop>, ReplayError> {
        let code = ptrace::siginfo_code(info);
        if code == SI_KERNEL {
            let mut r = regs::get(real)?;
            let addr = r.rip.wrapping_sub(1);
            // The int3 bytes are already out of memory again; the set says
            // whether one of ours was at that address.
            if self.debug.steps_over(addr) {
                r.rip = addr;
                regs::set(real, &r)?;
                return Ok(Some(RunStop::Breakpoint { tid }));
            }
            if self.at_sentinel_hit(real, r.rip)? {
                return Ok(Some(RunStop::Breakpoint { tid }));
            }
        }
        if code == TRAP_HWBKPT {
            if let Some(addr) = self.watch_hit(real) {
                return Ok(Some(RunStop::Watchpoint { tid, addr }));
            }
        }
        Ok(None)
    }
}

/// One step of a debugger-driven replay.
pub enum DebugStep {
    Event(Box<Event>),
    Stopped(RunStop),
    End,
}
