//! The floating-point and vector state a preemption point is named by.
//!
//! A loop may keep its counter anywhere the CPU keeps state: an x87
//! register, the upper half of a ymm register, zmm16-31. Two passes that
//! differ only there look alike to a comparison of the general registers
//! and xmm0-15. So a point also carries the x87 registers and the upper
//! halves of ymm0-15, which replay's probe compares in the tracee
//! (`position::probe`), and a digest of the rest, which the tracer
//! compares at a hit: the x87 control, status and tag words, and the AVX,
//! AVX-512 opmask and upper-zmm components of the XSAVE area.

use crate::{regs, Pid, TraceeError};
use std::sync::OnceLock;

/// The state of one thread that a preemption point compares.
pub struct VectorState {
    /// xmm0-15 as FXSAVE stores them (256 bytes).
    pub xmm: Vec<u8>,
    /// The eight x87 register slots, reserved bytes zeroed (128 bytes).
    pub x87: Vec<u8>,
    /// The upper halves of ymm0-15 (256 bytes; zeros without AVX).
    pub ymm_high: Vec<u8>,
    pub mxcsr: u32,
    /// Digest of the x87 and the AVX/AVX-512 state.
    pub digest: [u8; trace::VectorState::DIGEST_LEN],
}

impl VectorState {
    /// The form `EventKind::Preempt` keeps (`trace::VectorState`).
    pub fn to_trace_bytes(&self) -> Vec<u8> {
        trace::VectorState {
            xmm: &self.xmm,
            x87: &self.x87,
            ymm_high: &self.ymm_high,
            digest: &self.digest,
        }
        .to_bytes()
    }
}

/// XSAVE components beyond SSE whose registers a loop can count in:
/// AVX (upper ymm halves), opmask, ZMM_Hi256, Hi16_ZMM.
const COMPONENTS: [u32; 4] = [2, 5, 6, 7];

/// Where the FXSAVE image keeps things (Intel SDM, FXSAVE layout).
const X87_WORDS: std::ops::Range<usize> = 0..5;
const MXCSR: std::ops::Range<usize> = 24..28;
const ST_REGS: usize = 32;
const ST_SLOT: usize = 16;
/// Bytes of each 16-byte x87 register slot that hold the register.
const ST_LEN: usize = 10;
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
    let mut digest = Fnv128::new();
    digest.add(&area[X87_WORDS]);
    let mut x87 = vec![0u8; 8 * ST_SLOT];
    for slot in 0..8 {
        let at = ST_REGS + slot * ST_SLOT;
        digest.add(&area[at..at + ST_LEN]);
        x87[slot * ST_SLOT..slot * ST_SLOT + ST_LEN].copy_from_slice(&area[at..at + ST_LEN]);
    }
    for (component, range) in component_ranges() {
        // A component this machine has and the recording's lacked (or the
        // other way round) is all zeros where the program never used it.
        let Some(bytes) = area.get(range.clone()) else {
            continue;
        };
        if bytes.iter().any(|&b| b != 0) {
            digest.add(&component.to_le_bytes());
            digest.add(bytes);
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
        digest: digest.finish(),
    }
}

/// Where the AVX component (the upper halves of ymm0-15) lies in the
/// standard-form XSAVE area, if this CPU and kernel have it.
pub fn avx_range() -> Option<std::ops::Range<usize>> {
    const AVX: u32 = 2;
    component_ranges()
        .iter()
        .find(|(c, range)| *c == AVX && range.len() == trace::VectorState::YMM_HIGH_LEN)
        .map(|(_, range)| range.clone())
}

/// Where each of [`COMPONENTS`] lies in the standard-form XSAVE area, on
/// this CPU (CPUID leaf 0xD).
fn component_ranges() -> &'static [(u32, std::ops::Range<usize>)] {
    static RANGES: OnceLock<Vec<(u32, std::ops::Range<usize>)>> = OnceLock::new();
    RANGES.get_or_init(|| {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        let max_leaf = __cpuid(0).eax;
        if max_leaf < 0xD {
            return Vec::new();
        }
        const OSXSAVE: u32 = 1 << 27;
        if __cpuid(1).ecx & OSXSAVE == 0 {
            // The kernel uses no XSAVE: the FXSAVE image is all there is.
            return Vec::new();
        }
        let supported = __cpuid_count(0xD, 0).eax;
        COMPONENTS
            .iter()
            .filter(|&&c| supported & (1 << c) != 0)
            .filter_map(|&c| {
                let leaf = __cpuid_count(0xD, c);
                let (size, offset) = (leaf.eax as usize, leaf.ebx as usize);
                (size > 0 && offset > 0).then_some((c, offset..offset + size))
            })
            .collect()
    })
}

/// FNV-1a over 128 bits: stable across builds and releases, which a
/// digest kept in traces must be.
struct Fnv128(u128);

impl Fnv128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;

    fn new() -> Self {
        Fnv128(Self::OFFSET)
    }

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> [u8; trace::VectorState::DIGEST_LEN] {
        self.0.to_le_bytes()
    }
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
    fn an_x87_register_changes_the_digest_and_not_the_xmm_bytes() {
        let plain = of_area(&fxsave_with(|_| {}));
        let counted = of_area(&fxsave_with(|a| a[ST_REGS + 3 * ST_SLOT] = 7));
        assert_eq!(plain.xmm, counted.xmm);
        assert_ne!(plain.digest, counted.digest);
    }

    #[test]
    fn reserved_bytes_of_an_x87_slot_do_not_count() {
        let plain = of_area(&fxsave_with(|_| {}));
        let padded = of_area(&fxsave_with(|a| a[ST_REGS + ST_LEN] = 1));
        assert_eq!(plain.digest, padded.digest);
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
