//! The point a debugger's backwards search looks for while it replays a
//! stretch again: one thread with exactly the registers it had there.
//!
//! A breakpoint at that instruction stops the thread on every pass through
//! it, and inside a hot loop that is hundreds of thousands of ptrace stops a
//! second of replay. So where the instruction can be displaced on its own
//! (see `position::probe::displaceable_alone`), the sentinel is the same
//! in-process comparison a preemption point gets: a `jmp` to a page of
//! generated code that traps only when every general register and the
//! arithmetic flags are the ones looked for. Elsewhere an `int3` stands in.
//!
//! Like breakpoints, the patch is in memory only while replayed code runs.
//! Its pages stay mapped for the session (a throw-away copy used for one
//! search); copies taken from it get them unmapped, and a replayed mapping
//! that replaces them is noticed before the patch goes in again.

use super::ReplaySession;
use crate::address_space;
use crate::ReplayError;
use position::probe::{self, NearMisses, PointTarget, ProbeMode, DATA_LEN, PROBE_LEN};
use trace::event::Regs;
use trace::RecordedTid;
use tracee::{maps, Pid};

/// How many bytes of the probe's code are compared to tell that its pages
/// are still replay's own.
const CODE_CHECK_LEN: usize = 64;

pub(super) struct Sentinel {
    tid: RecordedTid,
    pid: RecordedTid,
    regs: Regs,
    /// The instruction at `regs.rip`, when the probe may displace it.
    displaced: Option<Vec<u8>>,
    planted: Option<Planted>,
    /// Planting failed once: the `int3` stands in from then on.
    failed: bool,
    /// The patch is in memory now.
    inserted: bool,
}

struct Planted {
    page: u64,
    /// Where the probe's `int3` is.
    hit: u64,
    patch: Vec<u8>,
    /// The first bytes of its code, to recognise its pages.
    code_head: Vec<u8>,
    /// Events replayed when the pages were last seen to be replay's own.
    checked_at: u64,
}

impl Sentinel {
    /// The address the sentinel stands for.
    pub(super) fn at(&self) -> u64 {
        self.regs.rip
    }

    pub(super) fn inserted(&self) -> bool {
        self.inserted
    }
}

impl ReplaySession {
    /// Makes the replay stop (as at a breakpoint at `regs.rip`) where
    /// thread `tid` has exactly these registers, and nowhere else it
    /// passes that instruction, as far as an in-process comparison can
    /// tell (elsewhere every pass stops). One sentinel at a time.
    pub fn set_sentinel(&mut self, tid: RecordedTid, regs: Regs) {
        let Some(pid) = self.tasks.get(&tid).map(|t| t.rec_pid) else {
            return;
        };
        let displaced = self.processes.get(&pid).and_then(|process| {
            let bytes = [position::insn::MAX_INSN_LEN, 8, 5]
                .iter()
                .find_map(|&len| process.memory.read(regs.rip, len).ok())?;
            let len = probe::displaceable_alone(regs.rip, &bytes)?;
            Some(bytes[..len].to_vec())
        });
        tracing::debug!(
            rip = regs.rip,
            in_process = displaced.is_some(),
            "sentinel set"
        );
        self.debug.sentinel = Some(Sentinel {
            tid,
            pid,
            regs,
            displaced,
            planted: None,
            failed: false,
            inserted: false,
        });
    }

    /// Puts the sentinel into process `pid`'s memory before a thread of it
    /// runs: the probe's patch where it can, otherwise an `int3`.
    pub(super) fn insert_sentinel(
        &mut self,
        real: Pid,
        pid: RecordedTid,
    ) -> Result<(), ReplayError> {
        let Some(sentinel) = self.debug.sentinel.as_ref() else {
            return Ok(());
        };
        if sentinel.pid != pid {
            return Ok(());
        }
        let at = sentinel.at();
        let patch_end = at + sentinel.displaced.as_ref().map_or(1, |d| d.len() as u64);
        let clashes = self.inside_probe(pid, at)
            || self.probe_window_overlaps(pid, at, patch_end)
            || self.debug.breakpoint_within(at + 1, patch_end);
        let use_probe = sentinel.displaced.is_some() && !sentinel.failed && !clashes;
        if use_probe && self.plant_sentinel(real, pid)? {
            let memory = &self.process(pid)?.memory;
            let Some(sentinel) = self.debug.sentinel.as_ref() else {
                return Ok(());
            };
            let (Some(displaced), Some(planted)) = (&sentinel.displaced, &sentinel.planted) else {
                return Ok(());
            };
            // Other code there now (an exec, a JIT): not the point looked for.
            let inserted = memory.read(at, displaced.len()).ok().as_ref() == Some(displaced)
                && memory.write(at, &planted.patch).is_ok();
            if let Some(sentinel) = self.debug.sentinel.as_mut() {
                sentinel.inserted = inserted;
            }
            return Ok(());
        }
        if self.inside_probe(pid, at) {
            return Ok(());
        }
        self.insert_int3(pid, at);
        Ok(())
    }

    /// Takes the sentinel's patch out of memory again.
    pub(super) fn remove_sentinel(&mut self) {
        let Some(sentinel) = self.debug.sentinel.as_mut() else {
            return;
        };
        if !std::mem::take(&mut sentinel.inserted) {
            return;
        }
        if let (Some(displaced), Some(process)) =
            (&sentinel.displaced, self.processes.get(&sentinel.pid))
        {
            let _ = process.memory.write(sentinel.at(), displaced);
        }
    }

    /// Whether a SIGTRAP at `rip` is the sentinel's probe finding its
    /// registers; rewinds the thread onto the instruction it stands for.
    pub(super) fn at_sentinel_hit(&self, real: Pid, rip: u64) -> Result<bool, ReplayError> {
        let Some(sentinel) = &self.debug.sentinel else {
            return Ok(false);
        };
        let Some(planted) = &sentinel.planted else {
            return Ok(false);
        };
        if rip.wrapping_sub(1) != planted.hit {
            return Ok(false);
        }
        let mut r = tracee::regs::get(real)?;
        r.rip = sentinel.at();
        tracee::regs::set(real, &r)?;
        tracing::trace!(tid = %sentinel.tid, "sentinel matched");
        Ok(true)
    }

    /// The sentinel's pages in process `pid`, which a copy of it unmaps.
    pub(super) fn sentinel_pages(&self, pid: RecordedTid) -> Option<u64> {
        let sentinel = self.debug.sentinel.as_ref()?;
        (sentinel.pid == pid).then_some(sentinel.planted.as_ref()?.page)
    }

    /// Maps and writes the probe, or checks that the pages mapped before
    /// are still replay's own. False when it cannot be planted.
    fn plant_sentinel(&mut self, real: Pid, pid: RecordedTid) -> Result<bool, ReplayError> {
        let replayed = self.replayed;
        let Some(sentinel) = self.debug.sentinel.as_ref() else {
            return Ok(false);
        };
        if let Some(planted) = &sentinel.planted {
            if planted.checked_at == replayed || self.still_ours(pid, planted)? {
                if let Some(planted) = self
                    .debug
                    .sentinel
                    .as_mut()
                    .and_then(|s| s.planted.as_mut())
                {
                    planted.checked_at = replayed;
                }
                return Ok(true);
            }
            tracing::debug!(
                page = planted.page,
                "a replayed mapping replaced the sentinel's pages"
            );
        }
        let at = sentinel.at();
        let regs = sentinel.regs;
        let Some(displaced) = sentinel.displaced.clone() else {
            return Ok(false);
        };
        let planted = self.map_sentinel(real, pid, at, &displaced, &regs)?;
        let Some(sentinel) = self.debug.sentinel.as_mut() else {
            return Ok(false);
        };
        sentinel.failed = planted.is_none();
        sentinel.planted = planted;
        Ok(!sentinel.failed)
    }

    fn map_sentinel(
        &self,
        real: Pid,
        pid: RecordedTid,
        at: u64,
        displaced: &[u8],
        regs: &Regs,
    ) -> Result<Option<Planted>, ReplayError> {
        let process = self.process(pid)?;
        let Some(page) = super::probes::probe_page(process.real_pid, at) else {
            return Ok(None);
        };
        let point = PointTarget {
            regs,
            words: &[],
            vector: None,
        };
        let built = match probe::build(
            at,
            displaced,
            page,
            point,
            ProbeMode::Compare,
            NearMisses::new(0),
        ) {
            Ok(built) => built,
            Err(e) => {
                tracing::debug!(error = %e, "no in-process sentinel");
                return Ok(None);
            }
        };
        let site = address_space::syscall_site(process);
        let mapped = address_space::map_own_pages(
            real,
            &process.memory,
            site,
            page,
            PROBE_LEN,
            (0, DATA_LEN),
        )?;
        if mapped.is_err() {
            return Ok(None);
        }
        process.memory.write(page, &built.code)?;
        let head = DATA_LEN as usize..(DATA_LEN as usize + CODE_CHECK_LEN).min(built.code.len());
        Ok(Some(Planted {
            page,
            hit: built.hit,
            patch: built.patch,
            code_head: built.code[head].to_vec(),
            checked_at: self.replayed,
        }))
    }

    /// Whether the probe's pages are still mapped as replay mapped them,
    /// holding its code: a replayed `mmap` with `MAP_FIXED` may have put
    /// the program's memory there, which the probe must never write.
    fn still_ours(&self, pid: RecordedTid, planted: &Planted) -> Result<bool, ReplayError> {
        let process = self.process(pid)?;
        let (data, code) = (planted.page, planted.page + DATA_LEN);
        let end = planted.page + PROBE_LEN;
        let maps = maps::read(process.real_pid)?;
        let covered = |start: u64, stop: u64, writable: bool, executable: bool| {
            maps.iter().any(|m| {
                m.start <= start
                    && m.end >= stop
                    && m.name.is_empty()
                    && m.inode == 0
                    && m.writable == writable
                    && m.executable == executable
            })
        };
        if !covered(data, code, true, false) || !covered(code, end, false, true) {
            return Ok(false);
        }
        Ok(process
            .memory
            .read(code, planted.code_head.len())
            .ok()
            .as_deref()
            == Some(planted.code_head.as_slice()))
    }
}
