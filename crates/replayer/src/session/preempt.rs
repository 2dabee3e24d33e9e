//! Replaying a preemption: running a thread's user code up to the first
//! point where its whole state equals the recorded one.
//!
//! The recorder logged the registers, SSE registers and the memory words the
//! loop writes. Replay plants an in-process probe at the point (see
//! `position::probe`), runs the thread, and takes the probe's `int3` as the
//! point once the SSE registers match too. A syscall, a fault, or no match
//! within the time limit is a divergence, never a hang.

use super::probes::ActiveProbe;
use super::{Applied, Expect, ReplaySession};
use crate::point_retry::{self, PointChoice, PointRetry};
use crate::task::ReplayState;
use crate::ReplayError;
use position::probe::{NearMisses, ProbeMode};
use std::time::Duration;
use trace::event::{Event, EventKind, Regs, WatchedWord};
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::{regs, Pid};

/// How far replay single-steps a thread toward a point in a loop too
/// small for a probe: from its last event, through the few instructions
/// before the loop, into it.
const SMALL_LOOP_STEPS: usize = 100_000;

/// How long a thread may run without reaching its recorded point. Replay of
/// a loop runs close to native speed, so this only ends runs that diverged.
/// `REPLAY_PREEMPT_TIMEOUT_S` overrides it.
pub(super) fn preempt_limit() -> Duration {
    let seconds = std::env::var("REPLAY_PREEMPT_TIMEOUT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

/// `REPLAY_PROBE_TRAP_EVERY_PASS=1` (or `=EVENT`, for that preemption
/// event only) makes probes trap on every pass so that `REPLAY_LOG=debug`
/// shows how each pass differed from the recorded point: the tool for
/// finding why a point was missed.
pub(super) fn probe_mode(choice: Option<PointChoice>, event: u64) -> ProbeMode {
    let trap_every_pass = std::env::var("REPLAY_PROBE_TRAP_EVERY_PASS")
        .is_ok_and(|v| v == "1" || v.parse() == Ok(event));
    if trap_every_pass {
        ProbeMode::TrapEveryPass
    } else if choice == Some(PointChoice::Score) {
        ProbeMode::Score
    } else {
        ProbeMode::Compare
    }
}

/// Flags that decide what code does next: CF PF AF ZF SF DF OF.
const STATE_FLAGS: u64 = 0xcd5;

pub(super) const PAGE: u64 = 4096;
const INT3: u8 = 0xcc;
const TRAP_FLAG: u64 = 0x100;

/// The recorded state at a preemption point.
pub(super) struct PointState<'a> {
    pub regs: &'a Regs,
    pub vector_state: &'a [u8],
    pub mxcsr: u32,
    pub memory: &'a [WatchedWord],
    pub patch_len: u8,
}

impl ReplaySession {
    pub(super) fn preempt(
        &mut self,
        event: &Event,
        point: PointState<'_>,
    ) -> Result<Applied, ReplayError> {
        let spoiled;
        let point = if point_retry::spoil_this_point(&mut self.spoiled_a_point, point.memory) {
            spoiled = point_retry::spoiled(point.memory);
            PointState {
                memory: &spoiled,
                ..point
            }
        } else {
            point
        };
        let (real, pid, state, prefetched) = {
            let task = self.task(event)?;
            (
                task.real,
                task.rec_pid,
                task.state,
                task.prefetched.is_some(),
            )
        };
        if state != ReplayState::Ready {
            return Err(self.divergence(
                event,
                "thread is not where the recording says it is",
                "a thread running user code".into(),
                format!("{state:?}"),
            ));
        }
        let mut skip = match point_retry::choice(&self.trace_dir, event.index) {
            Some(PointChoice::Later(n)) => n,
            _ => 0,
        };
        let here = !prefetched && self.at_point(event.tid, real, pid, &point, false)?;
        if here && skip == 0 {
            return self.finish_preempt(event, real, pid, point.regs);
        }
        if u64::from(point.patch_len) < position::pass::PATCH_MIN {
            // A loop too small for a probe (`for (;;);`), each pass of it
            // the same: the recorder chose it only so, and the thread is
            // stepped to its first arrival there.
            self.step_to_small_loop(event, real, pid, &point)?;
            return self.finish_preempt(event, real, pid, point.regs);
        }
        // Passing over the match the thread stands on: once the probe is
        // in, it runs the displaced instructions instead of the jump.
        if here {
            skip -= 1;
        }
        tracing::debug!(target_regs = ?point.regs, words = ?point.memory, "seeking preemption point");
        if self
            .tasks
            .get(&event.tid)
            .is_some_and(|t| t.probe.is_none())
        {
            if self.step_out_of_window(event, real, &point)? {
                return self.finish_preempt(event, real, pid, point.regs);
            }
            let mut probe = self.plant_probe(event, real, pid, &point)?;
            probe.skip = skip;
            if here && probe.planted {
                let mut r = regs::get(real)?;
                r.rip = probe.resume_miss;
                regs::set(real, &r)?;
            }
            self.task(event)?.probe = Some(probe);
        }
        loop {
            let Some(resume_miss) = self.task(event)?.probe.as_ref().map(|p| p.resume_miss) else {
                return Err(ReplayError::Setup(
                    "internal error: no probe planted for a preemption point".into(),
                ));
            };
            let advanced = match self.advance(event, Expect::Probe) {
                Err(ReplayError::Divergence(mut d)) => {
                    tracing::debug!(found = ?regs::get(real), "preemption point missed");
                    d.retry = self.retry_for_missed_point(event, pid)?;
                    return Err(ReplayError::Divergence(d));
                }
                other => other?,
            };
            if advanced == Applied::Interrupted {
                return Ok(Applied::Interrupted);
            }
            let full_match = self.at_point(event.tid, real, pid, &point, true)?;
            let passed_over = full_match && self.pass_over_match(event)?;
            if (full_match && !passed_over) || self.at_chosen_near_miss(event, real, pid, &point)? {
                return self.finish_preempt(event, real, pid, point.regs);
            }
            // The probe compares general registers and memory only; the
            // SSE registers differed, or an earlier attempt chose a later
            // match, so this pass is not the point.
            let mut r = regs::get(real)?;
            r.rip = resume_miss;
            regs::set(real, &r)?;
        }
    }

    /// At a full match: whether an earlier attempt chose to pass over it
    /// (`PointChoice::Later`), counting it off.
    fn pass_over_match(&mut self, event: &Event) -> Result<bool, ReplayError> {
        let Some(probe) = self.task(event)?.probe.as_mut() else {
            return Ok(false);
        };
        if probe.skip == 0 {
            return Ok(false);
        }
        probe.skip -= 1;
        tracing::debug!(
            left = probe.skip,
            "passing over a full match an earlier attempt ruled out"
        );
        Ok(true)
    }

    /// The probe's near-miss counters, if it was ever built.
    pub(super) fn near_misses(
        &self,
        pid: RecordedTid,
        probe: &ActiveProbe,
    ) -> Result<Option<NearMisses>, ReplayError> {
        if probe.hit == 0 {
            return Ok(None);
        }
        let bytes = self
            .process(pid)?
            .memory
            .read(probe.page + NearMisses::OFFSET, NearMisses::LEN)?;
        Ok(NearMisses::from_bytes(&bytes))
    }

    /// What a new attempt should do about a point this thread ran past.
    fn retry_for_missed_point(
        &mut self,
        event: &Event,
        pid: RecordedTid,
    ) -> Result<Option<PointRetry>, ReplayError> {
        let Some(probe) = self.task(event)?.probe.clone() else {
            return Ok(None);
        };
        // A process that is gone (it died at the divergence) has no
        // counters to read; the divergence itself is what to report then.
        let Some(counters) = self.near_misses(pid, &probe).ok().flatten() else {
            return Ok(None);
        };
        tracing::debug!(?counters, choice = ?probe.choice, "near misses at the missed point");
        let retry = point_retry::next_choice(probe.choice, counters.passes, counters.best_pass)
            .map(|choice| PointRetry {
                event: event.index,
                choice,
                replayed: self.replayed,
            });
        // A session started later in this process (a debugger going back)
        // takes the choice too.
        if let Some(retry) = retry {
            point_retry::remember(&self.trace_dir, retry);
        }
        Ok(retry)
    }

    /// Whether the probe trapped at the near miss an earlier attempt chose,
    /// with the general and SSE registers matching.
    fn at_chosen_near_miss(
        &mut self,
        event: &Event,
        real: Pid,
        pid: RecordedTid,
        point: &PointState<'_>,
    ) -> Result<bool, ReplayError> {
        let Some(probe) = self.task(event)?.probe.clone() else {
            return Ok(false);
        };
        let Some(PointChoice::Accept(pass)) = probe.choice else {
            return Ok(false);
        };
        let reached = self
            .near_misses(pid, &probe)?
            .is_some_and(|c| c.passes == pass);
        let without_words = PointState {
            memory: &[],
            ..*point
        };
        if reached && self.at_point(event.tid, real, pid, &without_words, true)? {
            tracing::debug!(pass, "took the near miss an earlier attempt chose");
            return Ok(true);
        }
        Ok(false)
    }

    /// A thread that resumes inside the bytes the probe would replace (a
    /// signal handler returned there) is first stepped past them, one
    /// instruction at a time, so it never runs half a jump. Returns true if
    /// it reached the point on the way.
    fn step_out_of_window(
        &mut self,
        event: &Event,
        real: Pid,
        point: &PointState<'_>,
    ) -> Result<bool, ReplayError> {
        let at = point.regs.rip;
        let end = at + u64::from(point.patch_len);
        let pid = event.pid;
        let rip = regs::get(real)?.rip;
        let inside = rip > at && rip < end;
        if inside && self.task(event)?.pending_signal.is_some() {
            // The signal goes first, with one step. A handler then starts
            // elsewhere; a signal without one (SIGCONT, an ignored one)
            // leaves the thread inside the window, to be stepped out of.
            let signal = self.task(event)?.take_signal();
            ptrace::resume(real, Resume::SingleStep, signal)?;
            ptrace::wait_for(real)?;
        } else if self.task(event)?.pending_signal.is_some() {
            return Ok(false);
        }
        self.step_within(event, real, at, end)?;
        let rip = regs::get(real)?.rip;
        Ok(rip == at && self.at_point(event.tid, real, pid, point, false)?)
    }

    /// A branch the recorder's walk never took may land inside the bytes
    /// the probe replaced: on their `int3` filler (the thread traps one
    /// byte on), or inside the `jmp` itself, where the bytes it meets fault
    /// before anything runs if it landed at one of the original
    /// instruction boundaries there. Puts the thread back where it landed,
    /// steps it over the original instructions, and plants the jump again.
    /// Returns false for any other stop.
    pub(super) fn step_over_window_entry(
        &mut self,
        event: &Event,
        real: Pid,
        sig: i32,
    ) -> Result<bool, ReplayError> {
        let Some(probe) = self.task(event)?.probe.clone() else {
            return Ok(false);
        };
        if !probe.planted {
            return Ok(false);
        }
        let mut r = regs::get(real)?;
        let end = probe.at + probe.patch.len() as u64;
        let landed = if sig == libc::SIGTRAP {
            let landed = r.rip.wrapping_sub(1);
            // Only at an instruction boundary of the original code: a
            // branch into the jump's own bytes runs them as code first and
            // may trap on the filler anywhere, in a state no longer the
            // program's.
            let on_filler = landed >= probe.at + position::pass::PATCH_MIN
                && landed < end
                && probe.patch[(landed - probe.at) as usize] == INT3
                && position::insn::instruction_starts(probe.at, &probe.original).contains(&landed);
            if !on_filler {
                return Ok(false);
            }
            landed
        } else {
            let inside = r.rip > probe.at && r.rip < probe.at + position::pass::PATCH_MIN;
            if !inside
                || !position::insn::instruction_starts(probe.at, &probe.original).contains(&r.rip)
            {
                return Ok(false);
            }
            r.rip
        };
        tracing::debug!(
            landed,
            at = probe.at,
            "a branch landed inside the probe's bytes"
        );
        let memory = &self.process(event.pid)?.memory;
        memory.write(probe.at, &probe.original)?;
        r.rip = landed;
        regs::set(real, &r)?;
        let stepped = self.step_within(event, real, probe.at, end);
        self.process(event.pid)?
            .memory
            .write(probe.at, &probe.patch)?;
        stepped.map(|_| true)
    }

    /// Whether `tid` stopped on its planted probe's `int3`.
    pub(super) fn at_probe_hit(&self, tid: RecordedTid, real: Pid) -> bool {
        let hit = self
            .tasks
            .get(&tid)
            .and_then(|t| t.probe.as_ref())
            .filter(|p| p.planted)
            .map(|p| p.hit);
        hit.is_some_and(|hit| regs::get(real).is_ok_and(|r| r.rip == hit + 1))
    }

    /// Single-steps the thread while its rip is strictly inside `at..end`.
    /// Steps the thread until it stands at `point`, a loop too small for
    /// a probe; a thread that does not get there within
    /// [`SMALL_LOOP_STEPS`] steps has diverged.
    fn step_to_small_loop(
        &mut self,
        event: &Event,
        real: Pid,
        pid: RecordedTid,
        point: &PointState<'_>,
    ) -> Result<(), ReplayError> {
        for _ in 0..SMALL_LOOP_STEPS {
            if regs::get(real)?.rip == point.regs.rip
                && self.at_point(event.tid, real, pid, point, false)?
            {
                return Ok(());
            }
            self.single_step(event, real)?;
        }
        Err(self.divergence(
            event,
            "the thread did not reach its preemption point in a small loop",
            format!("{:#x} with the recorded registers", point.regs.rip),
            format!("not there after {SMALL_LOOP_STEPS} steps"),
        ))
    }

    /// One single step of the thread toward a point; a signal the real
    /// kernel sent in replay (a real child's SIGCHLD) is dropped, as
    /// replay delivers only logged signals.
    fn single_step(&mut self, event: &Event, real: Pid) -> Result<(), ReplayError> {
        ptrace::resume(real, Resume::SingleStep, 0)?;
        match ptrace::wait_for(real)? {
            WaitResult::Stopped(_, Stop::Signal(libc::SIGTRAP)) => Ok(()),
            stop if self.step_answered_cpuid(real, event.pid, &stop)? => Ok(()),
            WaitResult::Stopped(_, Stop::Signal(sig))
                if !ptrace::get_siginfo(real)?
                    .is_some_and(|info| ptrace::is_synchronous(sig, &info)) =>
            {
                Ok(())
            }
            other => Err(self.divergence(
                event,
                "the thread stopped while stepping toward its preemption point",
                "a single step".into(),
                format!("{other:?}"),
            )),
        }
    }

    fn step_within(
        &mut self,
        event: &Event,
        real: Pid,
        at: u64,
        end: u64,
    ) -> Result<(), ReplayError> {
        for _ in 0..64 {
            let mut r = regs::get(real)?;
            if r.rip <= at || r.rip >= end {
                // Stepped over a `popf`, the kernel leaves the trap flag to
                // the program (the recorder clears it the same way).
                if r.eflags & TRAP_FLAG != 0 {
                    r.eflags &= !TRAP_FLAG;
                    regs::set(real, &r)?;
                }
                return Ok(());
            }
            self.single_step(event, real)?;
        }
        Err(self.divergence(
            event,
            "the thread did not leave the bytes of its preemption point",
            format!("rip outside {at:#x}..{end:#x}"),
            "still inside after 64 steps".into(),
        ))
    }

    /// Whether `tid`'s next event is a preemption whose point the thread is
    /// at now (a debugger stepped it there).
    pub(super) fn at_next_preemption_point(
        &mut self,
        tid: RecordedTid,
    ) -> Result<bool, ReplayError> {
        let next = match &self.interrupted {
            Some(e) => Some(e.event.clone()),
            None => self.events.peek_first()?.map(|e| e.event.clone()),
        };
        let Some(event) = next.filter(|e| e.tid == tid) else {
            return Ok(false);
        };
        let EventKind::Preempt {
            regs,
            vector_state,
            mxcsr,
            memory,
            patch_len,
            ..
        } = &event.kind
        else {
            return Ok(false);
        };
        let Some(task) = self.tasks.get(&tid) else {
            return Ok(false);
        };
        let point = PointState {
            regs,
            vector_state,
            mxcsr: *mxcsr,
            memory,
            patch_len: *patch_len,
        };
        self.at_point(tid, task.real, task.rec_pid, &point, false)
    }

    fn finish_preempt(
        &mut self,
        event: &Event,
        real: Pid,
        pid: RecordedTid,
        recorded: &Regs,
    ) -> Result<Applied, ReplayError> {
        if let Some(probe) = self.task(event)?.probe.take() {
            self.remove_probe(real, pid, &probe)?;
        }
        const KEPT_POINTS: usize = 16;
        if self.matched_points.len() == KEPT_POINTS {
            self.matched_points.remove(0);
        }
        self.matched_points.push(event.index);
        self.check_buffer_drained(event)?;
        let current = regs::get(real)?;
        // Only the kernel's bookkeeping (orig_rax, RF, TF) may differ here.
        regs::set(
            real,
            &Regs {
                orig_rax: current.orig_rax,
                ..*recorded
            },
        )?;
        Ok(Applied::Done)
    }

    /// The recorder moved the thread, switched out inside a restartable
    /// sequence's critical section, to the section's abort handler, and
    /// cleared its `rseq_cs` pointer, as the kernel does on preemption.
    pub(super) fn rseq_abort(
        &mut self,
        event: &Event,
        rseq_cs: u64,
        from: u64,
        abort_ip: u64,
    ) -> Result<Applied, ReplayError> {
        let real = self.task(event)?.real;
        let mut r = regs::get(real)?;
        if r.rip != from {
            return Err(self.divergence(
                event,
                "thread is not where the recording aborted its restartable sequence",
                format!("rip={from:#x}"),
                format!("rip={:#x}", r.rip),
            ));
        }
        self.process(event.pid)?
            .memory
            .write(rseq_cs, &0u64.to_le_bytes())?;
        r.rip = abort_ip;
        regs::set(real, &r)?;
        Ok(Applied::Done)
    }

    /// Whether the thread's state equals the recorded point. At the probe's
    /// `int3` (`in_probe`), rip is the probe's and stands for the point.
    fn at_point(
        &self,
        tid: RecordedTid,
        real: Pid,
        pid: RecordedTid,
        point: &PointState<'_>,
        in_probe: bool,
    ) -> Result<bool, ReplayError> {
        let found = regs::get(real)?;
        let recorded = point.regs;
        if !in_probe && found.rip != recorded.rip {
            return Ok(false);
        }
        let same = Regs {
            rip: recorded.rip,
            orig_rax: recorded.orig_rax,
            eflags: (found.eflags & STATE_FLAGS) | (recorded.eflags & !STATE_FLAGS),
            ..found
        } == *recorded;
        if !same {
            if in_probe {
                tracing::debug!(
                    differs = %register_differences(recorded, &found),
                    "a pass through the point with other registers"
                );
            }
            return Ok(false);
        }
        if !self.buffer_used_up(tid, pid)? {
            return Ok(false);
        }
        let found = tracee::vector_state::read(real)?;
        let same = trace::VectorState::parse(point.vector_state).is_some_and(|recorded| {
            found.xmm == recorded.xmm
                && (recorded.x87.is_empty() || found.x87 == recorded.x87)
                && (recorded.ymm_high.is_empty() || found.ymm_high == recorded.ymm_high)
        });
        if found.mxcsr != point.mxcsr || !same {
            tracing::debug!(
                mxcsr = found.mxcsr,
                recorded_mxcsr = point.mxcsr,
                "SSE, x87 or AVX state differs at a probe hit"
            );
            return Ok(false);
        }
        let memory = &self.process(pid)?.memory;
        for word in point.memory {
            let Ok(bytes) = memory.read(word.addr, usize::from(word.len)) else {
                return Ok(false);
            };
            let mut value = [0u8; 8];
            value[..bytes.len()].copy_from_slice(&bytes);
            if u64::from_le_bytes(value) != word.value {
                tracing::debug!(
                    addr = format_args!("{:#x}", word.addr),
                    len = word.len,
                    recorded = format_args!("{:#x}", word.value),
                    found = format_args!("{:#x}", u64::from_le_bytes(value)),
                    "a pass through the point with another memory word"
                );
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The general registers and state flags that differ, as `name recorded->found`.
fn register_differences(recorded: &Regs, found: &Regs) -> String {
    let pairs = [
        ("rax", recorded.rax, found.rax),
        ("rbx", recorded.rbx, found.rbx),
        ("rcx", recorded.rcx, found.rcx),
        ("rdx", recorded.rdx, found.rdx),
        ("rsi", recorded.rsi, found.rsi),
        ("rdi", recorded.rdi, found.rdi),
        ("rbp", recorded.rbp, found.rbp),
        ("rsp", recorded.rsp, found.rsp),
        ("r8", recorded.r8, found.r8),
        ("r9", recorded.r9, found.r9),
        ("r10", recorded.r10, found.r10),
        ("r11", recorded.r11, found.r11),
        ("r12", recorded.r12, found.r12),
        ("r13", recorded.r13, found.r13),
        ("r14", recorded.r14, found.r14),
        ("r15", recorded.r15, found.r15),
        ("fs_base", recorded.fs_base, found.fs_base),
        (
            "eflags",
            recorded.eflags & STATE_FLAGS,
            found.eflags & STATE_FLAGS,
        ),
    ];
    pairs
        .iter()
        .filter(|(_, r, f)| r != f)
        .map(|(name, r, f)| format!("{name} {r:#x}->{f:#x}"))
        .collect::<Vec<_>>()
        .join(", ")
}
