//! The program's `rdtsc` and `rdtscp`. The recorder makes the instruction
//! fault (`PR_TSC_SIGSEGV`) so that it sees every read of the counter, at
//! the price of a stop each (about 60 µs). At a site it can patch it sends
//! the instruction here instead: recording, the counter is made readable
//! for this one instruction with two untraced `prctl`s and the value goes
//! into the buffer like a syscall's result (`syscallbuf::RDTSC`); replay
//! returns it from there. Where the buffer cannot take it, the entry code
//! runs the instruction as it is, with every register as at the site,
//! faulting to the recorder as any other site does (and to the program's
//! SIGSEGV handler where it asked for that).
//!
//! No signal handler runs between the two `prctl`s: the recorder holds a
//! signal that arrives while a thread is in the library until it is out.

use crate::{
    through_buffer, untraced, Saved, FD_GENERATION_WORD, MODE, SHARED, TAKE_RDTSC, TAKE_RDTSCP,
    TAKE_TRACED_PATH,
};
use core::arch::asm;
use core::sync::atomic::Ordering;
use syscallbuf::{ALL_CALLS_TRACED, MODE_RECORD, RDTSCP, TSC_READS_TRACED};

const SYS_PRCTL: u64 = 157;
const PR_SET_TSC: u64 = 26;
const PR_TSC_ENABLE: u64 = 1;
const PR_TSC_SIGSEGV: u64 = 2;

/// Answers the patched instruction whose registers `saved` holds: returns
/// eax, with edx (and ecx) put in `saved`, or `TAKE_RDTSC` (`TAKE_RDTSCP`)
/// for the entry code to run the instruction.
///
/// # Safety
/// `saved` points at the registers the entry code pushed.
pub(crate) unsafe fn read(saved: *mut Saved, nr: u64) -> i64 {
    let instruction = match nr {
        RDTSCP => TAKE_RDTSCP,
        _ => TAKE_RDTSC,
    };
    // SAFETY: the caller's; the slots are the entry code's own frame.
    let slot = unsafe { &raw mut (*saved).rdx } as u64;
    let word = SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed);
    // Replay has no such word: where the recording took the instruction's
    // own path, its buffer has no record here either.
    let traced = MODE.load(Ordering::Relaxed) == MODE_RECORD
        && word & (ALL_CALLS_TRACED | TSC_READS_TRACED) != 0;
    if traced {
        return instruction;
    }
    match through_buffer(nr, [slot, 0, 0, 0, 0, 0]) {
        TAKE_TRACED_PATH => instruction,
        low => low,
    }
}

/// Recording: the counter read with the instruction allowed for the
/// thread, its high half (and aux value) written at `slot` (and after
/// it). `None`, so that the instruction runs as it is, when the counter
/// cannot be made readable.
pub(crate) fn read_enabled(slot: u64, aux: bool) -> Option<i64> {
    if untraced(SYS_PRCTL, [PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0, 0]) != 0 {
        return None;
    }
    let (low, high, aux_value) = counter(aux);
    // Fails only for a bad argument: the counter faults again from here on.
    untraced(SYS_PRCTL, [PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0, 0]);
    // SAFETY: `slot` is the saved rdx of the entry code's frame, with the
    // saved rcx after it (see `read`).
    unsafe {
        *(slot as *mut u64) = high;
        if aux {
            *((slot + 8) as *mut u64) = aux_value;
        }
    }
    Some(low)
}

/// The instruction itself: (eax, edx, ecx), each zero-extended as the
/// instruction leaves them.
fn counter(aux: bool) -> (i64, u64, u64) {
    let (low, high, aux_value): (u32, u32, u32);
    // SAFETY: rdtsc and rdtscp only write these registers (or fault to the
    // tracer, which answers in them).
    unsafe {
        if aux {
            asm!("rdtscp", out("eax") low, out("edx") high, out("ecx") aux_value,
                options(nomem, nostack, preserves_flags));
        } else {
            asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
            aux_value = 0;
        }
    }
    (i64::from(low), u64::from(high), u64::from(aux_value))
}
