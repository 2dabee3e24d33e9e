//! The recorder's single-stepped walk from where the time slice ran out:
//! it ends when the thread comes back to an instruction it already ran (a
//! loop closed), and then picks the point replay will look for.

use crate::insn::{Decoded, InsnKind};
use std::collections::{HashMap, HashSet};

/// A `jmp rel32` is this long: the probe needs that many bytes at the point.
pub const PATCH_MIN: u64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub rip: u64,
    pub len: u8,
    pub kind: InsnKind,
}

/// Instructions in the order a thread ran them, one single-step each.
#[derive(Debug, Default)]
pub struct StepLog {
    steps: Vec<Step>,
    /// Index of the first arrival at each address.
    first_arrival: HashMap<u64, usize>,
    /// Addresses reached by a jump rather than by falling through.
    branch_targets: HashSet<u64>,
}

/// A loop the thread went round once: `steps[start..end]`, where the
/// instruction at `end` (not yet run) is the one at `start` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closure {
    pub start: usize,
    pub end: usize,
}

impl StepLog {
    pub fn new() -> StepLog {
        StepLog::default()
    }

    /// Notes the instruction about to run at `rip`. Returns the loop it
    /// closes, if the thread arrived here before.
    pub fn arrive(&mut self, rip: u64, decoded: &Decoded) -> Option<Closure> {
        let previous = self.steps.last().copied();
        // A `rep` string instruction stops once per iteration at the same rip
        // (and a step a signal stop came before arrives again); only a
        // fresh arrival counts.
        let fresh = previous.is_none_or(|p| p.rip != rip);
        if let Some(p) = previous {
            if fresh && p.rip.wrapping_add(u64::from(p.len)) != rip {
                self.branch_targets.insert(rip);
            }
        }
        let closure = if fresh {
            self.first_arrival.get(&rip).map(|&start| Closure {
                start,
                end: self.steps.len(),
            })
        } else {
            None
        };
        if fresh {
            self.first_arrival.entry(rip).or_insert(self.steps.len());
        }
        self.steps.push(Step {
            rip,
            len: decoded.len,
            kind: decoded.kind,
        });
        closure
    }

    /// Notes addresses that jumps the walk did not take can reach.
    pub fn add_branch_targets(&mut self, targets: impl IntoIterator<Item = u64>) {
        self.branch_targets.extend(targets);
    }

    /// The lowest address of the pass round `closure`, and the end of its
    /// highest instruction.
    pub fn span(&self, closure: Closure) -> (u64, u64) {
        let steps = &self.steps[closure.start..closure.end];
        let low = steps.iter().map(|s| s.rip).min().unwrap_or(0);
        let high = steps
            .iter()
            .map(|s| s.rip + u64::from(s.len))
            .max()
            .unwrap_or(0);
        (low, high)
    }

    /// The instruction addresses of one pass round `closure`, without the
    /// repeats of `rep` instructions, in the order they ran.
    pub fn pass(&self, closure: Closure) -> Vec<Step> {
        let mut pass: Vec<Step> = Vec::new();
        for s in &self.steps[closure.start..closure.end] {
            if pass.last().is_none_or(|p| p.rip != s.rip) {
                pass.push(*s);
            }
        }
        pass
    }

    /// The branch that took the thread back to an earlier address in one
    /// pass round `closure` (the loop's back edge), if one did.
    pub fn back_edge(&self, closure: Closure) -> Option<u64> {
        let pass = self.pass(closure);
        let next = pass.iter().skip(1).chain(pass.first());
        pass.iter()
            .zip(next)
            .find(|(from, to)| from.kind == InsnKind::Branch && to.rip <= from.rip)
            .map(|(from, _)| from.rip)
    }

    /// The points in the pass where replay can plant its probe, in the
    /// order the thread ran them (the loop head first): instructions from
    /// which whole instructions, run one after the other, cover at least
    /// [`PATCH_MIN`] bytes with no call, no anchor, no branch before the last
    /// one, and no address the thread jumped to inside them. Each comes
    /// with the length it covers.
    ///
    /// Points whose window is one instruction come first, in that order,
    /// then the others: a jump the walk never saw (into the loop from
    /// before it) can land on an instruction boundary inside a window of
    /// several, in the middle of the probe's jump, and only a window of
    /// one instruction has no such boundary.
    pub fn patch_points(&self, closure: Closure) -> Vec<(u64, u8)> {
        let pass = self.pass(closure);
        let (single, several): (Vec<_>, Vec<_>) = (0..pass.len())
            .filter_map(|k| window_at(&pass, k, &self.branch_targets).map(|w| (k, w)))
            .partition(|&(k, (_, len))| len == pass[k].len);
        single.into_iter().chain(several).map(|(_, w)| w).collect()
    }
}

fn window_at(pass: &[Step], k: usize, branch_targets: &HashSet<u64>) -> Option<(u64, u8)> {
    let n = pass.len();
    let start = pass[k].rip;
    let mut total = 0u64;
    for m in 0..n {
        let step = pass[(k + m) % n];
        if matches!(
            step.kind,
            InsnKind::Call | InsnKind::Anchor | InsnKind::Invalid | InsnKind::Unsteppable
        ) || step.len == 0
        {
            return None;
        }
        total += u64::from(step.len);
        if total >= PATCH_MIN {
            let inside = branch_targets
                .iter()
                .any(|&t| t > start && t < start + total);
            return (!inside).then_some((start, total as u8));
        }
        if step.kind == InsnKind::Branch {
            return None;
        }
        let next = pass[(k + m + 1) % n];
        if next.rip != step.rip + u64::from(step.len) {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(len: u8, kind: InsnKind) -> Decoded {
        Decoded {
            len,
            kind,
            writes: Vec::new(),
            repeated: false,
        }
    }

    /// `loop: mov eax,[rip+x] (6); add eax,1 (3); mov [rip+x],eax (6); jne loop (2)`
    fn run_counter_loop(log: &mut StepLog, from: u64) -> Option<Closure> {
        let body = [
            (from, 6, InsnKind::Sequential),
            (from + 6, 3, InsnKind::Sequential),
            (from + 9, 6, InsnKind::Sequential),
            (from + 15, 2, InsnKind::Branch),
        ];
        let mut closure = None;
        for _ in 0..2 {
            for &(rip, len, kind) in &body {
                if let Some(c) = log.arrive(rip, &insn(len, kind)) {
                    return Some(c).or(closure.take());
                }
            }
        }
        closure
    }

    #[test]
    fn a_loop_closes_at_its_first_repeated_address_and_patches_at_its_head() {
        let mut log = StepLog::new();
        log.arrive(0x900, &insn(5, InsnKind::Sequential));
        log.arrive(0x905, &insn(2, InsnKind::Branch));
        let closure = run_counter_loop(&mut log, 0x1000).expect("loop closes");
        assert_eq!(closure, Closure { start: 2, end: 6 });
        assert_eq!(log.patch_points(closure).first(), Some(&(0x1000, 6)));
    }

    #[test]
    fn windows_of_one_instruction_come_before_windows_of_several() {
        let mut log = StepLog::new();
        let body = [
            (0x3000, 3, InsnKind::Sequential),
            (0x3003, 3, InsnKind::Sequential),
            (0x3006, 5, InsnKind::Sequential),
            (0x300b, 2, InsnKind::Branch),
        ];
        let mut closure = None;
        for _ in 0..2 {
            for (rip, len, kind) in body {
                closure = closure.or(log.arrive(rip, &insn(len, kind)));
            }
        }
        let points = log.patch_points(closure.expect("loop closes"));
        assert_eq!(points, vec![(0x3006, 5), (0x3000, 6), (0x3003, 8)]);
    }

    #[test]
    fn a_jump_into_the_window_moves_the_patch_point() {
        let pass = [
            Step {
                rip: 0x2000,
                len: 3,
                kind: InsnKind::Sequential,
            },
            Step {
                rip: 0x2003,
                len: 4,
                kind: InsnKind::Sequential,
            },
            Step {
                rip: 0x2007,
                len: 6,
                kind: InsnKind::Sequential,
            },
            Step {
                rip: 0x200d,
                len: 2,
                kind: InsnKind::Branch,
            },
        ];
        let none = HashSet::new();
        assert_eq!(window_at(&pass, 0, &none), Some((0x2000, 7)));
        let into_second: HashSet<u64> = [0x2003].into_iter().collect();
        assert_eq!(window_at(&pass, 0, &into_second), None);
        assert_eq!(window_at(&pass, 1, &into_second), Some((0x2003, 10)));
        // From the last instruction, a branch comes before 5 bytes are covered.
        assert_eq!(window_at(&pass, 3, &none), None);
    }

    #[test]
    fn rep_iterations_are_not_loops_and_calls_are_never_patched() {
        let mut log = StepLog::new();
        let rep = Decoded {
            repeated: true,
            ..insn(2, InsnKind::Sequential)
        };
        assert!(log.arrive(0x10, &rep).is_none());
        assert!(log.arrive(0x10, &rep).is_none());

        let mut log = StepLog::new();
        log.arrive(0x100, &insn(5, InsnKind::Call));
        log.arrive(0x200, &insn(1, InsnKind::Branch));
        let c = log.arrive(0x100, &insn(5, InsnKind::Call)).expect("closes");
        assert!(log.patch_points(c).is_empty());
    }
}
