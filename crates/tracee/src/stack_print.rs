//! A fingerprint of the bytes below a thread's stack pointer.
//!
//! Preemption points compare stack words, and a word the program never
//! initialised holds whatever earlier code left there. When recording and
//! replay leave different bytes, a point is missed. With
//! `REPLAY_DEBUG_STACK=1` recording and replay both log this fingerprint at
//! every syscall entry (`REPLAY_LOG=debug`), so the first event where the
//! two logs differ names the syscall after which the bytes drifted.

use crate::{regs, Pid, ProcessMemory};

/// Bytes folded into one hex digit group.
const BLOCK: u64 = 256;
/// Blocks below the stack pointer.
const BLOCKS: u64 = 32;

/// Whether `REPLAY_DEBUG_STACK=1` asked for fingerprints.
/// Read once: the recorder asks at every syscall entry.
pub fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("REPLAY_DEBUG_STACK").is_some_and(|v| v == "1"))
}

/// What recording and replay log at a syscall entry of `tid`, whose stack
/// pointer is `rsp`: the XSAVE header's XSTATE_BV (which components the CPU
/// held as in use), a hash of xmm0-15, the fingerprint of the bytes below
/// `rsp`, and all those bytes at the event `REPLAY_DEBUG_STACK_AT` names.
pub fn log_at_syscall(tid: Pid, mem: &ProcessMemory, rsp: u64, event: u64) {
    let mut print = below(mem, rsp);
    if let Ok(xstate) = regs::get_xstate(tid) {
        if let (Some(bv), Some(xmm)) = (xstate.get(512), xstate.get(160..416)) {
            print = format!("xstate_bv={bv:x} xmm={:04x} {print}", fold(xmm));
        }
    }
    tracing::debug!(event, tid, %print, "stack below sp");
    if let Some(dump) = dump_at(mem, rsp, event) {
        tracing::debug!("stack dump{dump}");
    }
}

/// One 4-digit group per 256 bytes below `rsp`, nearest first; `----` where
/// the bytes cannot be read.
fn below(mem: &ProcessMemory, rsp: u64) -> String {
    (1..=BLOCKS)
        .map(|i| {
            let start = rsp.saturating_sub(i * BLOCK);
            match mem.read(start, BLOCK as usize) {
                Ok(bytes) => format!("{:04x}", fold(&bytes)),
                Err(_) => "----".to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The raw bytes [rsp - 8 KiB, rsp) as hex, 32 bytes a line, for the
/// event `REPLAY_DEBUG_STACK_AT` names (or every event for `all`); None
/// for any other event.
fn dump_at(mem: &ProcessMemory, rsp: u64, event: u64) -> Option<String> {
    let wanted = std::env::var("REPLAY_DEBUG_STACK_AT").ok()?;
    if wanted != "all" && wanted.parse::<u64>().ok()? != event {
        return None;
    }
    let start = rsp.saturating_sub(BLOCKS * BLOCK);
    let bytes = mem.read(start, (BLOCKS * BLOCK) as usize).ok()?;
    Some(
        bytes
            .chunks(32)
            .enumerate()
            .map(|(i, line)| {
                let hex: String = line.iter().map(|b| format!("{b:02x}")).collect();
                format!("\n{:#x} {hex}", start + 32 * i as u64)
            })
            .collect(),
    )
}

/// FNV-1a, folded to 16 bits.
fn fold(bytes: &[u8]) -> u16 {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) as u16
}
