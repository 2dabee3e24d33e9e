//! Going backwards: to the last breakpoint hit before here, and to the
//! instruction before here.
//!
//! Both search forward from a snapshot before here: the latest one first,
//! then earlier ones, each covering the stretch of replay up to the next.
//! Without a PMU there is no count of instructions to name a point inside
//! a long stretch of user code by; a point is named by how many times
//! given breakpoints fire before it, then single steps. Reverse-stepi
//! guesses where the previous instruction is (the one that falls through
//! to here, the call here was called from, an earlier pass through here),
//! goes to the last time one of them ran before here, and single-steps the
//! few instructions left.

use crate::snapshots::Key;
use crate::timeline::{collect_snapshots, Config, Here, Op, Timeline};
use crate::GdbServerError;
use replayer::{ReplaySession, RunStop};
use trace::RecordedTid;

/// Longest walk of single steps a reverse-stepi takes from its guess.
/// A ptrace single step costs about 10 µs here, so this bounds the walk to
/// about 2 s where every guess missed.
const MAX_REVERSE_STEPS: u64 = 200_000;

/// How many snapshots a reverse-stepi walks from before it gives up.
const MAX_WALKS: u32 = 3;

/// While counting breakpoint hits, a snapshot at a hit this often.
const HIT_SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How many hardware breakpoints the guesses may take (x86 has four).
const HARDWARE_GUESSES: usize = 4;

/// Where a backwards search starts.
struct Base {
    /// A snapshot (by id), or the start of the recording.
    snapshot: Option<u64>,
    /// The operations that reach it from the start.
    path: Vec<Op>,
    /// An event snapshot: the events replayed there.
    event: Option<u64>,
    /// Events replayed there (inside the stretch before the next, for a
    /// snapshot that is not at an event boundary).
    events: u64,
}

impl Timeline {
    /// Places before `here` to search from, latest first: the snapshots
    /// before it, then the start.
    fn bases_before(&self, here: &Here) -> Vec<Base> {
        let mut bases: Vec<Base> = self
            .snapshots
            .before(&self.path, here.events)
            .into_iter()
            .filter_map(|id| self.snapshots.by_id(id).map(|i| (id, i)))
            .map(|(id, i)| {
                let snapshot = self.snapshots.get(i);
                let (path, event) = match &snapshot.key {
                    Key::Event(m) => (vec![Op::ToEvent(*m)], Some(*m)),
                    Key::Path(path) => (path.clone(), None),
                    Key::Stretch(id) => (vec![Op::From(*id)], None),
                };
                Base {
                    snapshot: Some(id),
                    path,
                    event,
                    events: snapshot.events,
                }
            })
            .collect();
        bases.push(Base {
            snapshot: None,
            path: Vec::new(),
            event: Some(0),
            events: 0,
        });
        bases
    }

    /// A replay at `base`; `None` when its snapshot was dropped meanwhile.
    fn open_base(&mut self, base: &Base) -> Result<Option<ReplaySession>, GdbServerError> {
        let mut session = match base.snapshot {
            Some(id) => match self.snapshots.by_id(id) {
                Some(i) => self.snapshots.fork(i)?.0,
                None => return Ok(None),
            },
            None => self.open_near(&[])?.0,
        };
        session.set_interrupt(self.interrupt.clone());
        session.snapshot_every(self.snapshots.interval());
        Ok(Some(session))
    }

    /// How many times `config` fires between `base` and `here` (or, with
    /// `until`, before that many events are replayed); `None` when the
    /// base is gone.
    fn count_hits(
        &mut self,
        base: &Base,
        config: &Config,
        here: &Here,
        until: Option<u64>,
    ) -> Result<Option<u64>, GdbServerError> {
        let Some(mut probe) = self.open_base(base)? else {
            return Ok(None);
        };
        config.apply(&mut probe);
        // A sentinel at here's rip recognises the moment `here` comes round
        // again: it stops where the thread has here's registers (in
        // process, where it can), or at every pass.
        let sentinel = match (here.tid, here.regs) {
            (Some(tid), Some(regs)) if !config.breakpoints.contains(&here.rip) => {
                probe.set_sentinel(tid, regs);
                Some(here.rip)
            }
            _ => None,
        };
        let mut on_the_way = base.path.clone();
        on_the_way.push(Op::Run(config.clone()));
        let mut kept_at = std::time::Instant::now();
        let counted = (|| {
            let mut hits = 0u64;
            loop {
                let ran = probe.run_until(until.unwrap_or(u64::MAX));
                collect_snapshots(&mut self.snapshots, &mut probe, &on_the_way);
                let Some(stop) = ran? else {
                    return Ok(hits);
                };
                let tid = match stop {
                    RunStop::Breakpoint { tid }
                    | RunStop::Watchpoint { tid, .. }
                    | RunStop::Stepped { tid }
                    | RunStop::Forked { tid, .. }
                    | RunStop::ProcessExited { pid: tid, .. } => tid,
                    RunStop::End => return Ok(hits),
                    RunStop::Interrupted { .. } => {
                        return Err(GdbServerError::Reverse("interrupted (Ctrl-C)".into()))
                    }
                };
                if at_here(&probe, tid, here) || probe.position() > here.events {
                    return Ok(hits);
                }
                let is_sentinel_only = matches!(stop, RunStop::Breakpoint { .. })
                    && sentinel.is_some()
                    && probe
                        .regs(tid)
                        .map(|r| Some(r.rip) == sentinel)
                        .unwrap_or(false);
                if !is_sentinel_only {
                    hits += 1;
                    on_the_way.push(Op::Run(config.clone()));
                    // The second pass (going to the last hit) starts from
                    // the latest of these, not from the base.
                    if kept_at.elapsed() >= HIT_SNAPSHOT_EVERY {
                        if let Ok(copy) = probe.fork_session() {
                            let at = on_the_way[..on_the_way.len() - 1].to_vec();
                            self.snapshots.add(Key::Path(at), copy, stop, Vec::new());
                        }
                        kept_at = std::time::Instant::now();
                    }
                }
            }
        })();
        tracing::debug!(base = ?base.path.first(), events = base.events, ?until, ?counted, "searched back from a snapshot");
        probe.finish();
        counted.map(Some)
    }

    /// Goes back to the last time a breakpoint or watchpoint of `config`
    /// fired before `here`; to the very start when none did. Returns the
    /// stop, or `None` at the start.
    pub fn reverse_continue(
        &mut self,
        config: &Config,
        here: &Here,
    ) -> Result<Option<RunStop>, GdbServerError> {
        // A base's search ends at the event boundary after the later base:
        // everything from that base on was searched already.
        let mut segment_end: Option<u64> = None;
        for base in self.bases_before(here) {
            let Some(hits) = self.count_hits(&base, config, here, segment_end)? else {
                continue;
            };
            if hits > 0 {
                let mut path = base.path.clone();
                path.extend(std::iter::repeat_n(Op::Run(config.clone()), hits as usize));
                let stop = self.restore(path)?;
                if let RunStop::Watchpoint { tid, .. } = stop {
                    // A watchpoint traps after the access. Going backwards,
                    // the access is undone: stop at the instruction that
                    // made it, with memory as it was before (as rr does).
                    let after = self.here(Some(tid));
                    self.reverse_step(tid, &after)?;
                }
                return Ok(Some(stop));
            }
            segment_end = Some(match base.event {
                Some(m) => m,
                None => base.events + 1,
            });
        }
        self.restore(Vec::new())?;
        Ok(None)
    }

    /// Goes back one instruction of `tid`. Returns false at the start.
    pub fn reverse_step(&mut self, tid: RecordedTid, here: &Here) -> Result<bool, GdbServerError> {
        if let Some(Op::Step(last)) = self.path.last() {
            if *last == tid {
                let mut path = self.path.clone();
                path.pop();
                self.restore(path)?;
                return Ok(true);
            }
        }
        if here.regs.is_none() {
            return Ok(false);
        }
        let guesses = self.previous_instruction_guesses(tid, here);
        tracing::debug!(?guesses, "guesses at the previous instruction");
        let mut walks_left = MAX_WALKS;
        for base in self.bases_before(here) {
            let Some(hits) = self.count_hits(&base, &guesses, here, None)? else {
                continue;
            };
            let mut path = base.path.clone();
            path.extend(std::iter::repeat_n(Op::Run(guesses.clone()), hits as usize));
            match self.steps_to_here(&path, tid, here)? {
                Some(0) if hits == 0 => {
                    // `here` is where the base is: the previous instruction
                    // comes before it. At an event snapshot that is the
                    // thread's last event (its syscall).
                    match base.event {
                        Some(0) => return Ok(false),
                        Some(m) if m == here.events => {
                            self.restore(vec![Op::ToEvent(m - 1)])?;
                            return Ok(true);
                        }
                        _ => continue,
                    }
                }
                Some(0) => continue,
                Some(steps) => {
                    path.extend(std::iter::repeat_n(Op::Step(tid), (steps - 1) as usize));
                    self.restore(path)?;
                    return Ok(true);
                }
                // Too far, or past here: an earlier snapshot may do.
                None if walks_left > 1 => walks_left -= 1,
                None => break,
            }
        }
        Err(GdbServerError::Reverse(format!(
            "could not find the previous instruction within {MAX_REVERSE_STEPS} single steps \
             of the nearest snapshots or of a guess at it; a breakpoint a little before here \
             and reverse-continue get there"
        )))
    }

    /// How many single steps of `tid` lead from the end of `path` to
    /// `here`; `None` beyond [`MAX_REVERSE_STEPS`] or past here.
    fn steps_to_here(
        &mut self,
        path: &[Op],
        tid: RecordedTid,
        here: &Here,
    ) -> Result<Option<u64>, GdbServerError> {
        let (mut probe, rest, _) = self.open_near(path)?;
        tracing::debug!(?rest, "walking to here from a snapshot");
        probe.set_interrupt(self.interrupt.clone());
        let walked = (|| {
            for op in &rest {
                Self::perform(&mut probe, op)?;
            }
            tracing::debug!(
                events = probe.position(),
                rip = ?probe.regs(tid).map(|r| r.rip),
                here = here.rip,
                "walking from"
            );
            let mut stepping = path.to_vec();
            stepping.push(Op::Step(tid));
            collect_snapshots(&mut self.snapshots, &mut probe, &stepping);
            // Points single steps pass are not worth keeping.
            probe.snapshot_every(None);
            let mut steps = 0u64;
            loop {
                if probe.position() == here.events && at_here(&probe, tid, here) {
                    return Ok(Some(steps));
                }
                if steps >= MAX_REVERSE_STEPS || probe.position() > here.events {
                    tracing::debug!(
                        steps,
                        events = probe.position(),
                        rip = ?probe.regs(tid).map(|r| r.rip),
                        "single steps did not reach here"
                    );
                    return Ok(None);
                }
                let stop = probe.step_instruction(tid)?;
                steps += 1;
                if stop == RunStop::End {
                    // Here may be the final exit, where the last thread is
                    // parked at its syscall.
                    return Ok(
                        (probe.position() == here.events && at_here(&probe, tid, here))
                            .then_some(steps),
                    );
                }
            }
        })();
        probe.finish();
        walked
    }

    /// Breakpoints at the places the instruction before `here` may be:
    /// here itself (a loop's earlier pass), the call here was called from
    /// (at a function's entry), and the instructions that end where here
    /// begins (straight-line code). Only the first two are certain to be
    /// instruction starts; the others get hardware breakpoints, which patch
    /// nothing.
    fn previous_instruction_guesses(&self, tid: RecordedTid, here: &Here) -> Config {
        let mut config = Config::default();
        config.breakpoints.insert(here.rip);
        let session = &self.session;
        let Some(pid) = session
            .threads()
            .iter()
            .find(|t| t.tid == tid)
            .map(|t| t.pid)
        else {
            return config;
        };
        let before = |end: u64, most: u64| {
            (1..=most)
                .rev()
                .find_map(|len| session.read_memory(pid, end - len, len as usize).ok())
                .unwrap_or_default()
        };
        let mut uncertain = Vec::new();
        let return_address = here
            .regs
            .and_then(|r| session.read_memory(pid, r.rsp, 8).ok())
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        if let Some(ret) = return_address.filter(|&r| r > 16) {
            match position::insn::call_before(&before(ret, 16), ret) {
                Some((call, Some(target))) if target == here.rip => {
                    // Here is the entry of the function that call called:
                    // nothing else is as likely.
                    config.breakpoints.insert(call);
                    return config;
                }
                Some((call, _)) => uncertain.push(call),
                None => {}
            }
        }
        uncertain.extend(position::insn::instructions_ending_at(
            &before(here.rip, 64),
            here.rip,
        ));
        for at in uncertain {
            if config.hardware_breakpoints.len() >= HARDWARE_GUESSES {
                break;
            }
            if !config.breakpoints.contains(&at) {
                config.hardware_breakpoints.insert(at);
            }
        }
        config
    }
}

/// Whether `probe`'s thread `tid` is exactly where `here` is.
fn at_here(probe: &ReplaySession, tid: RecordedTid, here: &Here) -> bool {
    let (Some(want), Ok(found)) = (here.regs, probe.regs(tid)) else {
        return false;
    };
    probe.position() == here.events && Some(tid) == here.tid && same_state(&want, &found)
}

/// The resume flag (set when a hardware breakpoint stopped the thread,
/// not when a software one did) and the trap flag say how the debugger
/// got there, not where the program is.
const HOW_STOPPED: u64 = 0x1_0000 | 0x100;

fn same_state(a: &trace::event::Regs, b: &trace::event::Regs) -> bool {
    let mut a = *a;
    let mut b = *b;
    a.eflags &= !HOW_STOPPED;
    b.eflags &= !HOW_STOPPED;
    a == b
}
