//! Probes in the replayed processes: where they go, planting and removing
//! them, and hiding them from every view of the program's memory.

use super::preempt::{probe_mode, PointState, PAGE};
use super::ReplaySession;
use crate::address_space;
use crate::point_retry::{self, PointChoice};
use crate::ReplayError;
use position::probe::NearMisses;
use trace::event::{Event, Regs, WatchedWord};
use trace::RecordedTid;
use tracee::{maps, Pid};

/// A probe planted in a replayed process.
#[derive(Debug, Clone)]
pub struct ActiveProbe {
    pub at: u64,
    /// The program's own bytes under the patch.
    pub original: Vec<u8>,
    pub page: u64,
    pub hit: u64,
    pub resume_miss: u64,
    /// The jump written over `original`.
    pub patch: Vec<u8>,
    /// Whether `patch` is in memory. It is not while the program's bytes
    /// there are no code yet (a JIT has still to write it).
    pub planted: bool,
    /// Debug registers that trap the thread's writes to the patched bytes:
    /// (register index, 8-byte aligned address). See `code_guard`.
    pub guard: Vec<(usize, u64)>,
    /// The recorded state the probe compares, to build it again.
    pub target: Regs,
    pub words: Vec<WatchedWord>,
    /// `EventKind::Preempt`'s `vector_state` and `mxcsr`.
    pub vector_state: Vec<u8>,
    pub mxcsr: u32,
    /// What an earlier attempt of this replay chose for this point's near
    /// misses (see `point_retry`).
    pub choice: Option<PointChoice>,
    /// The preemption event the probe looks for.
    pub event: u64,
    /// Full matches still to pass over (`PointChoice::Later`).
    pub skip: u64,
}

impl ReplaySession {
    pub(super) fn plant_probe(
        &mut self,
        event: &Event,
        real: Pid,
        pid: RecordedTid,
        point: &PointState<'_>,
    ) -> Result<ActiveProbe, ReplayError> {
        let at = point.regs.rip;
        let process = self.process(pid)?;
        let patch_len = usize::from(point.patch_len);
        if patch_len < position::pass::PATCH_MIN as usize {
            return Err(self.divergence(
                event,
                "preemption point without room for a probe",
                "a patchable point".into(),
                format!("{patch_len} bytes at {at:#x}"),
            ));
        }
        let page = probe_page(process.real_pid, at).ok_or_else(|| {
            self.divergence(
                event,
                "no free page within 2 GiB of a preemption point",
                format!("room for a probe near {at:#x}"),
                "an address space full around it".into(),
            )
        })?;
        // The probe writes its counters on its first page; the tracer
        // writes the code after it.
        let mapped = address_space::map_own_pages(
            real,
            &process.memory,
            address_space::syscall_site(process),
            page,
            position::probe::PROBE_LEN,
            (0, position::probe::DATA_LEN),
        )?;
        if let Err(result) = mapped {
            return Err(self.divergence(
                event,
                "could not map the probe page for a preemption point",
                format!("a page at {page:#x}"),
                format!("mmap returned {result}"),
            ));
        }
        let original = process.memory.read(at, patch_len)?;
        let mut probe = ActiveProbe {
            at,
            original,
            page,
            hit: 0,
            resume_miss: 0,
            patch: Vec::new(),
            planted: false,
            guard: Vec::new(),
            target: *point.regs,
            words: point.memory.to_vec(),
            vector_state: point.vector_state.to_vec(),
            mxcsr: point.mxcsr,
            choice: point_retry::choice(&self.trace_dir, event.index),
            event: event.index,
            skip: 0,
        };
        // Bytes that are no code yet (a JIT writes the loop during this
        // stretch) wait for the guard to report them written.
        self.build_probe(pid, &mut probe)?;
        self.guard_probe(real, &mut probe)?;
        tracing::debug!(
            at,
            page,
            words = point.memory.len(),
            planted = probe.planted,
            "probe planted"
        );
        Ok(probe)
    }

    /// Builds the probe's code for the program's bytes in `probe.original`
    /// and writes it and the jump into the process. Returns false, with the
    /// program's bytes left alone, when they are no code the probe can
    /// displace.
    pub(super) fn build_probe(
        &self,
        pid: RecordedTid,
        probe: &mut ActiveProbe,
    ) -> Result<bool, ReplayError> {
        // Planted again (a JIT rewrote the code), the probe keeps counting.
        let counters = match self.near_misses(pid, probe)? {
            Some(counters) => counters,
            None => NearMisses::new(match probe.choice {
                Some(PointChoice::Accept(pass)) => pass,
                _ => 0,
            }),
        };
        let built = match position::probe::build(
            probe.at,
            &probe.original,
            probe.page,
            position::probe::PointTarget {
                regs: &probe.target,
                words: &probe.words,
                vector: trace::VectorState::parse(&probe.vector_state).map(|recorded| {
                    position::probe::VectorTarget {
                        mxcsr: probe.mxcsr,
                        xmm: recorded.xmm,
                        x87: recorded.x87,
                        // Compared at a hit instead where the probe cannot.
                        ymm_high: if position::probe::AVX_IN_XSAVE_AREA
                            == tracee::vector_state::avx_range()
                        {
                            recorded.ymm_high
                        } else {
                            &[]
                        },
                    }
                }),
            },
            probe_mode(probe.choice, probe.event),
            counters,
        ) {
            Ok(built) => built,
            Err(e) => {
                tracing::debug!(error = %e, "no probe for these bytes");
                return Ok(false);
            }
        };
        let memory = &self.process(pid)?.memory;
        memory.write(probe.page, &built.code)?;
        memory.write(probe.at, &built.patch)?;
        probe.hit = built.hit;
        probe.resume_miss = built.resume_miss;
        probe.patch = built.patch;
        probe.planted = true;
        Ok(true)
    }

    pub(super) fn remove_probe(
        &self,
        real: Pid,
        pid: RecordedTid,
        probe: &ActiveProbe,
    ) -> Result<(), ReplayError> {
        self.unguard_probe(real, probe)?;
        let process = self.process(pid)?;
        if probe.planted {
            process.memory.write(probe.at, &probe.original)?;
        }
        address_space::run_syscall(
            real,
            process,
            libc::SYS_munmap,
            [probe.page, position::probe::PROBE_LEN, 0, 0, 0, 0],
        )?;
        Ok(())
    }

    /// Replaces probe bytes in `bytes` (read at `addr` in process `pid`)
    /// with the program's own, so that debuggers never see a probe.
    pub(super) fn hide_probes(&self, pid: RecordedTid, addr: u64, bytes: &mut [u8]) {
        for probe in self
            .tasks
            .values()
            .filter(|t| t.rec_pid == pid)
            .filter_map(|t| t.probe.as_ref())
        {
            for (i, &b) in probe.original.iter().enumerate() {
                let a = probe.at + i as u64;
                if a >= addr && a < addr + bytes.len() as u64 {
                    bytes[(a - addr) as usize] = b;
                }
            }
        }
    }

    /// Whether a planted probe's patch in process `pid` overlaps the bytes
    /// from `start` to `end`.
    pub(super) fn probe_window_overlaps(&self, pid: RecordedTid, start: u64, end: u64) -> bool {
        self.tasks
            .values()
            .filter(|t| t.rec_pid == pid)
            .filter_map(|t| t.probe.as_ref())
            .any(|p| p.at < end && start < p.at + p.original.len() as u64)
    }

    /// Whether a breakpoint at `addr` would land inside a planted probe's
    /// jump (the probe's first byte may carry one: it is executed as is).
    pub(super) fn inside_probe(&self, pid: RecordedTid, addr: u64) -> bool {
        self.tasks
            .values()
            .filter(|t| t.rec_pid == pid)
            .filter_map(|t| t.probe.as_ref())
            .any(|p| addr > p.at && addr < p.at + p.original.len() as u64)
    }
}

/// A free page within jump range of `at`, as close to it as possible.
pub(super) fn probe_page(real_pid: Pid, at: u64) -> Option<u64> {
    const REACH: u64 = (1 << 31) - 2 * PAGE;
    const LOWEST: u64 = 0x10000;
    const HIGHEST: u64 = 0x7fff_ffff_f000;
    // The main stack grows down into the gap below it, and the kernel keeps
    // a 1 MiB guard there: a probe inside it would stop the stack growing.
    const STACK_GUARD: u64 = 1 << 20;
    let mut maps = maps::read(real_pid).ok()?;
    maps.sort_by_key(|m| m.start);
    let stack = maps.iter().find(|m| m.name == "[stack]").map(|m| m.start);
    let mut gaps = Vec::new();
    let mut previous_end = LOWEST;
    for m in &maps {
        if m.start > previous_end {
            gaps.push((previous_end, m.start));
        }
        previous_end = previous_end.max(m.end);
    }
    if previous_end < HIGHEST {
        gaps.push((previous_end, HIGHEST));
    }
    gaps.iter()
        .filter(|(start, end)| end - start >= position::probe::PROBE_LEN)
        .flat_map(|&(start, end)| [start, end - position::probe::PROBE_LEN])
        .filter(|&page| page.abs_diff(at) < REACH)
        .filter(|&page| {
            stack.is_none_or(|s| page >= s || page + position::probe::PROBE_LEN + STACK_GUARD <= s)
        })
        .min_by_key(|&page| page.abs_diff(at))
}
