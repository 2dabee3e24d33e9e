//! The single-core scheduler's decisions: which ready thread goes next,
//! when a thread running user code is preempted, and where.
//!
//! Nothing here needs to be reproducible: replay follows the log and never
//! decides anything, so `--chaos` may draw from any random source.

use crate::preempt::{self, Choice, Search};
use crate::recorder::{Recorder, Step};
use crate::task::RunState;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use trace::event::{EventKind, PreemptReason};
use tracee::proc_stat::ThreadStat;
use tracee::ptrace;
use tracee::Pid;

/// How long a woken thread gets to reach its stop before a yield.
const WOKEN_REPORT_WAIT: Duration = Duration::from_millis(2);

/// A small xorshift generator: the choices need variety, not quality.
pub struct Chaos {
    state: u64,
}

impl Chaos {
    pub fn new(seed: u64) -> Chaos {
        Chaos { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Slices from 50 µs to about 6.5 ms, spread over orders of magnitude so
    /// that both very short and long runs between switches happen.
    fn slice_ns(&mut self) -> u64 {
        50_000 << self.below(8)
    }
}

/// Which thread holds the single CPU and which wait for it. Only the
/// recorder's stop handling changes it, through these methods: a thread is
/// queued when its stop arrives, runs when taken from the queue, and the
/// thread that ran last is taken first (its next event must be logged
/// before anything that completed while it ran).
pub(crate) struct Scheduler {
    ready: VecDeque<Pid>,
    /// The front of `ready` is the stop of the thread that ran user code
    /// last, and must be logged before anything else.
    front_pinned: bool,
    running: Option<Pid>,
    /// The thread that has the CPU and since when: the stops it reaches
    /// while it runs come back to it, and only a switch to another thread
    /// starts a new turn.
    turn: Option<(Pid, Instant)>,
    timeslice_ns: u64,
    chaos: Option<Chaos>,
}

impl Scheduler {
    pub(crate) fn new(timeslice_ns: u64, chaos_seed: Option<u64>) -> Scheduler {
        Scheduler {
            ready: VecDeque::new(),
            front_pinned: false,
            running: None,
            turn: None,
            timeslice_ns,
            chaos: chaos_seed.map(Chaos::new),
        }
    }

    /// The thread whose stop is processed next.
    pub(crate) fn next_ready(&mut self) -> Option<Pid> {
        let pinned = std::mem::take(&mut self.front_pinned);
        let next = match &mut self.chaos {
            Some(chaos) if !pinned && self.ready.len() > 1 => {
                let i = chaos.below(self.ready.len());
                self.ready.remove(i)
            }
            _ => self.ready.pop_front(),
        }?;
        if self.turn.map(|(holder, _)| holder) != Some(next) {
            self.turn = Some((next, Instant::now()));
        }
        Some(next)
    }

    /// The thread holding the CPU gave it up: whoever runs next, even the
    /// same thread, starts a new turn.
    pub(crate) fn end_turn(&mut self) {
        self.turn = None;
    }

    /// Whether `tid` has had the CPU for a whole slice of real time. The
    /// slice timer counts only user time, and a thread that makes syscalls
    /// in a loop (mmap on a descriptor another thread keeps closing) spends
    /// little of it in user code: without this it kept the CPU for ever.
    pub(crate) fn turn_used_up(&self, tid: Pid) -> bool {
        self.turn.is_some_and(|(holder, since)| {
            holder == tid && since.elapsed() >= Duration::from_nanos(self.timeslice_ns)
        })
    }

    /// A stopped thread waits its turn behind the others.
    pub(crate) fn enqueue(&mut self, tid: Pid) {
        self.ready.push_back(tid);
    }

    /// The thread that was running user code stopped: its stop goes first.
    pub(crate) fn stopped_while_running(&mut self, tid: Pid) {
        self.ready.push_front(tid);
        self.front_pinned = true;
    }

    pub(crate) fn anyone_waiting(&self) -> bool {
        !self.ready.is_empty()
    }

    pub(crate) fn running(&self) -> Option<Pid> {
        self.running
    }

    pub(crate) fn is_running(&self, tid: Pid) -> bool {
        self.running == Some(tid)
    }

    pub(crate) fn now_running(&mut self, tid: Pid) {
        self.running = Some(tid);
    }

    /// The CPU is free: nobody runs user code now.
    pub(crate) fn cpu_released(&mut self) {
        self.running = None;
    }

    /// `tid` no longer runs user code; whether it did.
    pub(crate) fn stopped(&mut self, tid: Pid) -> bool {
        let was_running = self.is_running(tid);
        if was_running {
            self.running = None;
        }
        was_running
    }

    /// `tid` is gone: it neither runs nor waits.
    pub(crate) fn forget(&mut self, tid: Pid) {
        self.stopped(tid);
        self.ready.retain(|&t| t != tid);
    }

    fn slice_period(&mut self) -> Option<u64> {
        self.chaos.as_mut().map(Chaos::slice_ns)
    }

    fn point_choice(&mut self) -> Choice {
        match &mut self.chaos {
            Some(chaos) => Choice::Nth(chaos.below(64)),
            None => Choice::Nearest,
        }
    }
}

impl Recorder {
    /// The thread's time slice, opened the first time it runs while another
    /// task exists: even a disabled perf event costs about 7% on every
    /// ptrace stop, so a recording with one task never gets one. Without a
    /// timer the recording still works; a thread that spins without
    /// syscalls then waits for its own next anchor.
    fn timer(&mut self, tid: Pid) -> Option<&tracee::perf::SliceTimer> {
        let period = self.scheduler.timeslice_ns;
        let task = self.tasks.get_mut(&tid)?;
        if task.timer.is_none() && !task.timer_failed {
            match tracee::perf::SliceTimer::open(tid, period) {
                Ok(timer) => task.timer = Some(timer),
                Err(e) => {
                    task.timer_failed = true;
                    tracing::warn!("no time slice for thread {tid}: {e}");
                }
            }
        }
        task.timer.as_ref()
    }

    /// Called whenever a thread is resumed into user code. Its slice runs
    /// whenever another task exists: that task's stops reach the recorder
    /// only when it gets the CPU, which the running thread holds.
    pub(crate) fn new_slice(&mut self, tid: Pid) {
        // A signal held for a later point is delivered at a slice's end
        // too, a lone thread's included.
        let others = self.tasks.len() > 1
            || self
                .tasks
                .get(&tid)
                .is_some_and(|t| !t.held_signals.is_empty());
        let period = self.scheduler.slice_period();
        if !others {
            if let Some(timer) = self.tasks.get(&tid).and_then(|t| t.timer.as_ref()) {
                timer.disarm();
            }
            return;
        }
        if let Some(timer) = self.timer(tid) {
            if let Some(period) = period {
                timer.set_period(period);
            }
            timer.arm();
        }
    }

    /// A stop reached the ready queue while a thread runs user code (a new
    /// task, say): from now on the running thread's slice counts.
    pub(crate) fn someone_waits(&mut self) {
        if let Some(running) = self.scheduler.running() {
            if let Some(timer) = self.timer(running) {
                timer.arm();
            }
        }
    }

    /// The thread gives the CPU up at a syscall exit (already logged) while
    /// others wait: it called `sched_yield`, or its turn is used up. It goes
    /// behind them, as the kernel's yield puts it behind the threads of its
    /// priority. Kept running instead, a
    /// SCHED_FIFO pair that alternates by yielding natively ran one
    /// thread's whole loop first, and a thread spinning on yield while it
    /// waits for another kept the CPU for its whole slice.
    pub(crate) fn yield_cpu(&mut self, tid: Pid) -> Step {
        let task = self.task(tid)?;
        task.preempted = true;
        task.state = RunState::Stopped;
        self.scheduler.cpu_released();
        self.scheduler.end_turn();
        self.scheduler.enqueue(tid);
        Ok(())
    }

    /// Before a yield: stops other threads already reached (a thread this
    /// one woke with a futex, say) join the queue, so that the yield hands
    /// them the CPU as the kernel's would. A real-time thread's yield
    /// guarantees that to threads of its priority, and a thread made
    /// runnable in the kernel reports its stop only once it runs, which on
    /// the one CPU needs this thread stopped, as it is now: each such
    /// thread gets a moment to report.
    pub(crate) fn collect_stops_before_yield(&mut self, tid: Pid) -> Step {
        while let Some(stop) = ptrace::poll_any()? {
            self.on_wait(stop)?;
        }
        if self.scheduler.anyone_waiting()
            || !ThreadStat::read(tid).is_some_and(|stat| stat.is_realtime())
        {
            return Ok(());
        }
        let woken: Vec<Pid> = self
            .tasks
            .iter()
            .filter(|&(&other, task)| other != tid && task.state == RunState::InKernel)
            .map(|(&other, _)| other)
            .filter(|&other| ThreadStat::read(other).is_some_and(|stat| stat.is_runnable()))
            .collect();
        for other in woken {
            if let Some(stop) = ptrace::wait_for_within(other, WOKEN_REPORT_WAIT)? {
                self.on_wait(stop)?;
            }
        }
        Ok(())
    }

    /// The thread used up its slice while running user code.
    pub(crate) fn on_slice_end(&mut self, tid: Pid) -> Step {
        let waiting = self.scheduler.anyone_waiting() || !self.task(tid)?.held_signals.is_empty();
        if !waiting {
            return self.resume_user(tid, 0);
        }
        self.preempt(tid, PreemptReason::Timeslice)
    }

    /// Moves `tid`, stopped in user code, to a state-matched point and logs
    /// it. A held signal is then delivered there; otherwise the thread goes
    /// to the back of the ready queue.
    pub(crate) fn preempt(&mut self, tid: Pid, reason: PreemptReason) -> Step {
        let choice = self.scheduler.point_choice();
        let tgid = self.task(tid)?.tgid;
        let mut held = std::mem::take(&mut self.task(tid)?.held_signals);
        if let Some(timer) = &self.task(tid)?.timer {
            timer.disarm();
        }
        let hook_code = self.hooks.get(&tgid).map(|h| h.hook_code());
        let in_hook = |rip: u64| hook_code.iter().flatten().any(|range| range.contains(&rip));
        let cpuid = self.cpuid.clone();
        // A held signal waits for a point, and a thread alone has no time
        // slice to look again later: a search that finds no loop is made
        // again, longer, from where it stopped. Threads waiting for this
        // one get the next search at its next slice end made longer.
        let mut budget = self.task(tid)?.search_budget;
        let search = loop {
            let search = preempt::search(
                tid,
                self.memory(tgid)?,
                &mut held,
                choice,
                &in_hook,
                cpuid.as_deref(),
                budget,
            );
            let longer = (budget * 8).min(preempt::MAX_STEP_BUDGET);
            match search {
                Ok(Search::NoLoop) if !held.is_empty() && longer > budget => budget = longer,
                other => break other,
            }
        };
        // Stepped over a `popf`, the kernel leaves the trap flag to the
        // program, and the thread would trap at its next instruction once
        // resumed (a JVM died of that SIGTRAP); no program sets it itself.
        preempt::clear_trap_flag(tid)?;
        let task = self.task(tid)?;
        task.held_signals = held;
        // Single-stepping ran user code (though not the hook).
        task.buffer_dirty = true;
        task.search_budget = match &search {
            Ok(Search::NoLoop) => (budget * 8).min(preempt::MAX_STEP_BUDGET),
            _ => preempt::STEP_BUDGET,
        };

        let point = match search? {
            Search::Found(point) => point,
            // A thread about to make a syscall reaches its anchor by itself;
            // one in a loop too long to step waits for its next slice.
            Search::AtAnchor | Search::NoLoop => return self.resume_user(tid, 0),
            Search::Stopped(stop) => {
                self.scheduler.now_running(tid);
                return self.on_wait(stop);
            }
        };
        let regs = point.regs;
        self.log(
            tid,
            EventKind::Preempt {
                regs: point.regs,
                vector_state: point.vector_state,
                mxcsr: point.mxcsr,
                memory: point.memory,
                patch_len: point.patch_len,
                reason,
            },
            Vec::new(),
        )?;
        tracing::debug!(tid, rip = regs.rip, ?reason, "preempted");
        let regs = self.preempt_rseq(tid, regs)?;
        self.anchor_in_user_code(tid, regs, false)?;
        let task = self.task(tid)?;
        if task.reinjecting.is_none() {
            if let Some(info) = task.held_signals.pop_front() {
                // Delivered right here: the thread's next stop is this
                // signal's delivery, at the logged point.
                let signo = ptrace::siginfo_signo(&info);
                task.reinjecting = Some(info);
                ptrace::tgkill(tgid, tid, signo)?;
                return self.resume_user(tid, 0);
            }
        }
        task.preempted = true;
        task.state = crate::task::RunState::Stopped;
        self.scheduler.cpu_released();
        self.scheduler.enqueue(tid);
        Ok(())
    }
}
