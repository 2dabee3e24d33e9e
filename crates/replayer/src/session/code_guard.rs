//! Keeping a preemption probe valid while the program writes its own code.
//!
//! A JIT compiles a hot loop while the thread runs toward its recorded
//! preemption point: the bytes at the point may be no code yet when replay
//! plants its probe, or old code the JIT overwrites (a V8 worker's loop was
//! compiled on the stack replacement path in the very stretch it was
//! preempted in). Either way the program's write would erase the probe's
//! jump and the thread would run past its point.
//!
//! So while a probe waits, debug registers the debugger does not use watch
//! the patched bytes for writes. Each write traps; replay works out which
//! bytes the program wrote, takes them as the program's own, and builds the
//! probe again over them, or leaves them alone until they decode.

use super::{ActiveProbe, ReplaySession};
use crate::ReplayError;
use trace::RecordedTid;
use tracee::{debugreg, Pid};

const WORD: u64 = 8;
const DEBUG_REGISTERS: usize = 4;
/// DR7 for one register: write-only (`01`), eight bytes (`10`).
const WRITE_8_BYTES: u64 = 0b01 | (0b10 << 2);
const DR6_HIT_BITS: u64 = 0b1111;

/// DR7 bits that enable the guard's registers.
pub(super) fn guard_dr7(guard: &[(usize, u64)]) -> u64 {
    guard.iter().fold(0, |dr7, &(i, _)| {
        dr7 | 1 << (2 * i) | WRITE_8_BYTES << (16 + 4 * i)
    })
}

/// The aligned words that cover `at..at + len`, as many as there are free
/// registers (those above the debugger's watchpoints), first bytes first.
fn guard_words(at: u64, len: u64, first_free: usize) -> Vec<(usize, u64)> {
    let first = at & !(WORD - 1);
    let words = (first..at + len).step_by(WORD as usize);
    (first_free..DEBUG_REGISTERS).rev().zip(words).collect()
}

impl ReplaySession {
    /// Arms the debug registers of `real` over the probe's bytes.
    pub(super) fn guard_probe(
        &self,
        real: Pid,
        probe: &mut ActiveProbe,
    ) -> Result<(), ReplayError> {
        let len = probe.original.len() as u64;
        probe.guard = guard_words(probe.at, len, self.debug.watchpoints_in_use());
        for &(i, addr) in &probe.guard {
            debugreg::write(real, i, addr)?;
        }
        Ok(debugreg::write(
            real,
            debugreg::CONTROL,
            self.debug.watch_dr7() | guard_dr7(&probe.guard),
        )?)
    }

    pub(super) fn unguard_probe(&self, real: Pid, probe: &ActiveProbe) -> Result<(), ReplayError> {
        if probe.guard.is_empty() {
            return Ok(());
        }
        Ok(debugreg::write(
            real,
            debugreg::CONTROL,
            self.debug.watch_dr7(),
        )?)
    }

    /// After a hardware-breakpoint trap of `tid`: whether its probe's guard
    /// fired. If so the probe now stands over the program's new bytes.
    pub(super) fn code_guard_fired(
        &mut self,
        tid: RecordedTid,
        real: Pid,
    ) -> Result<bool, ReplayError> {
        let Some(mut probe) = self.tasks.get(&tid).and_then(|t| t.probe.clone()) else {
            return Ok(false);
        };
        let mask = probe.guard.iter().fold(0, |m, &(i, _)| m | 1 << i);
        let dr6 = debugreg::read(real, debugreg::STATUS)?;
        if dr6 & mask & DR6_HIT_BITS == 0 {
            return Ok(false);
        }
        debugreg::write(real, debugreg::STATUS, dr6 & !mask)?;
        let pid = self.tasks.get(&tid).map(|t| t.rec_pid).unwrap_or_default();
        let now = self
            .process(pid)?
            .memory
            .read(probe.at, probe.original.len())?;
        self.take_program_bytes(pid, &mut probe, &now)?;
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.probe = Some(probe);
        }
        Ok(true)
    }

    /// Takes `now`, the bytes at the probe after the program wrote some of
    /// them, as the program's own, and plants the probe again over them.
    pub(super) fn take_program_bytes(
        &self,
        pid: RecordedTid,
        probe: &mut ActiveProbe,
        now: &[u8],
    ) -> Result<(), ReplayError> {
        if probe.planted && now == probe.patch {
            // The write hit neighbouring bytes of a guarded word.
            return Ok(());
        }
        let program: Vec<u8> = if probe.planted {
            // A byte that still holds the patch's value was not written
            // (the program writing the very byte of our jump there is
            // taken as no write).
            now.iter()
                .zip(&probe.patch)
                .zip(&probe.original)
                .map(|((&now, &patch), &own)| if now == patch { own } else { now })
                .collect()
        } else {
            now.to_vec()
        };
        tracing::debug!(
            at = probe.at,
            ?program,
            "the program wrote the bytes under a probe"
        );
        if probe.planted {
            self.process(pid)?.memory.write(probe.at, &program)?;
            probe.planted = false;
        }
        probe.original = program;
        self.build_probe(pid, probe)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_covers_the_patched_bytes_from_the_top_register_down() {
        assert_eq!(guard_words(0x1006, 5, 0), vec![(3, 0x1000), (2, 0x1008)]);
        assert_eq!(guard_words(0x1000, 8, 0), vec![(3, 0x1000)]);
        // Registers the debugger uses are left to it.
        assert_eq!(guard_words(0x1006, 5, 3), vec![(3, 0x1000)]);
        assert!(guard_words(0x1006, 5, 4).is_empty());
    }

    #[test]
    fn dr7_enables_eight_byte_write_watches() {
        assert_eq!(guard_dr7(&[(3, 0)]), 1 << 6 | 0b1001 << 28);
        assert_eq!(guard_dr7(&[(0, 0)]), 1 | 0b1001 << 16);
    }
}
