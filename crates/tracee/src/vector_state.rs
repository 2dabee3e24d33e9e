//! The floating-point and vector state a preemption point is named by.
//!
//! A loop may keep its counter anywhere the CPU keeps state: an x87
//! register, the upper half of a ymm register. Two passes that differ only
//! there look alike to a comparison of the general registers and xmm0-15.
//! So a point also carries the x87 state and the upper halves of ymm0-15,
//! which replay's probe compares in the tracee (`position::probe`).
//!
//! Not the AVX-512 state: glibc's EVEX string functions leave in zmm16-31
//! and the opmask registers bytes they read past a string's end, which
//! may be memory the program never initialised and replay does not
//! reproduce (a soak of real runtimes with them compared failed 8 in 10).

use crate::{regs, Pid, TraceeError};
use std::sync::OnceLock;

/// The state of one thread that a preemption point compares.
pub struct VectorState {
    /// xmm0-15 as FXSAVE stores them (256 bytes).
    pub xmm: Vec<u8>,
    /// The x87 state as `trace::VectorState` keeps it.
    pub x87: Vec<u8>,
    /// The upper halves of ymm0-15 (256 bytes; zeros without AVX).
    pub ymm_high: Vec<u8>,
    pub mxcsr: u32,
}

impl VectorState {
    /// The form `EventKind::Preempt` keeps (`trace::VectorState`).
    pub fn to_trace_bytes(&self) -> Vec<u8> {
        trace::VectorState {
            xmm: &self.xmm,
            x87: &self.x87,
            ymm_high: &self.ymm_high,
        }
        .to_bytes()
    }
}

/// Where the FXSAVE image keeps things (Intel SDM, FXSAVE layout): the
/// control and status words and the abridged tag byte, mxcsr, the x87
/// registers in 16-byte slots, xmm0-15.
const X87_WORDS: std::ops::Range<usize> = 0..5;
const MXCSR: std::ops::Range<usize> = 24..28;
const ST_REGS: usize = 32;
const ST_SLOT: usize = 16;
const ST_LEN: usize = trace::VectorState::X87_REGISTER_LEN;
const XMM: std::ops::Range<usize> = 160..416;

/// Reads the thread's state (one `PTRACE_GETREGSET`).
pub fn read(pid: Pid) -> Result<VectorState, TraceeError> {
    let area = regs::get_xstate(pid)?;
    if area.len() < XMM.end {
        // No XSAVE: the FXSAVE image alone.
        let fx = regs::get_fpregs(pid)?;
        return Ok(of_area(&fx));
    }
    Ok(of_area(&area))
}

/// The state in an XSAVE area (standard form) or FXSAVE image.
pub fn of_area(area: &[u8]) -> VectorState {
    let mut x87 = vec![0u8; trace::VectorState::X87_LEN];
    x87[X87_WORDS].copy_from_slice(&area[X87_WORDS]);
    for st in 0..8 {
        if trace::VectorState::x87_register_valid(&x87, st) {
            let from = ST_REGS + st * ST_SLOT;
            let to = 8 + st * ST_LEN;
            x87[to..to + ST_LEN].copy_from_slice(&area[from..from + ST_LEN]);
        }
    }
    let ymm_high = avx_range()
        .and_then(|range| area.get(range))
        .map_or_else(|| vec![0; trace::VectorState::YMM_HIGH_LEN], <[u8]>::to_vec);
    VectorState {
        xmm: area[XMM].to_vec(),
        x87,
        ymm_high,
        mxcsr: u32::from_le_bytes(area[MXCSR].try_into().unwrap_or_default()),
    }
}

/// Where the AVX component (the upper halves of ymm0-15) lies in the
/// standard-form XSAVE area, if this CPU and kernel have it (CPUID leaf
/// 0xD).
pub fn avx_range() -> Option<std::ops::Range<usize>> {
    static RANGE: OnceLock<Option<std::ops::Range<usize>>> = OnceLock::new();
    RANGE
        .get_or_init(|| {
            use std::arch::x86_64::{__cpuid, __cpuid_count};
            const OSXSAVE: u32 = 1 << 27;
            const AVX: u32 = 2;
            if __cpuid(0).eax < 0xD || __cpuid(1).ecx & OSXSAVE == 0 {
                // The kernel uses no XSAVE: the FXSAVE image is all there is.
                return None;
            }
            if __cpuid_count(0xD, 0).eax & (1 << AVX) == 0 {
                return None;
            }
            let leaf = __cpuid_count(0xD, AVX);
            let (size, offset) = (leaf.eax as usize, leaf.ebx as usize);
            (size == trace::VectorState::YMM_HIGH_LEN && offset > 0)
                .then_some(offset..offset + size)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fxsave_with(edit: impl Fn(&mut [u8])) -> Vec<u8> {
        let mut area = vec![0u8; 512];
        edit(&mut area);
        area
    }

    #[test]
    fn a_valid_x87_register_is_kept_and_the_xmm_bytes_are_apart() {
        let plain = of_area(&fxsave_with(|a| a[4] = 0xff));
        let counted = of_area(&fxsave_with(|a| {
            a[4] = 0xff;
            a[ST_REGS + 3 * ST_SLOT] = 7;
        }));
        assert_eq!(plain.xmm, counted.xmm);
        assert_ne!(plain.x87, counted.x87);
        assert_eq!(counted.x87[8 + 3 * ST_LEN], 7);
    }

    #[test]
    fn reserved_bytes_of_an_x87_slot_do_not_count() {
        let plain = of_area(&fxsave_with(|a| a[4] = 0xff));
        let padded = of_area(&fxsave_with(|a| {
            a[4] = 0xff;
            a[ST_REGS + ST_LEN] = 1;
        }));
        assert_eq!(plain.x87, padded.x87);
    }

    #[test]
    fn an_empty_x87_register_does_not_count() {
        // TOP = 6, tag: only physical register 6 (ST(0)) holds a value.
        let header = |a: &mut [u8]| {
            a[3] = 6 << 3;
            a[4] = 1 << 6;
        };
        let plain = of_area(&fxsave_with(header));
        let stale = of_area(&fxsave_with(|a| {
            header(a);
            a[ST_REGS + ST_SLOT] = 9; // ST(1): empty
        }));
        assert_eq!(plain.x87, stale.x87);
        let counted = of_area(&fxsave_with(|a| {
            header(a);
            a[ST_REGS] = 9; // ST(0): valid
        }));
        assert_eq!(counted.x87[8], 9);
    }

    #[test]
    fn mxcsr_and_xmm_are_read_from_their_places() {
        let state = of_area(&fxsave_with(|a| {
            a[MXCSR.start] = 0x80;
            a[XMM.start] = 9;
        }));
        assert_eq!(state.mxcsr, 0x80);
        assert_eq!(state.xmm.len(), 256);
        assert_eq!(state.xmm[0], 9);
    }
}
