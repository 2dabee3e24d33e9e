//! What the recorder adds to the program's view of itself, taken back out
//! in process: its `LD_PRELOAD` entry in `environ`, and its marks in the
//! process's own `/proc/self/status` (see `syscallbuf::environment` and
//! `syscallbuf::status`).

use crate::{untraced, FD_GENERATION_WORD, SHARED};
use core::sync::atomic::Ordering;
use syscallbuf::plan::{sys, PATH_MAX};

/// Removes the recorder's `LD_PRELOAD` from the end of the environment
/// (see `syscallbuf::environment`): the loader has read it, and the
/// program must not see it. The array is the one `environ` points at; the
/// slot becomes its new terminator. Record and replay both run this, so
/// the memory stays the same in both.
///
/// # Safety
/// `envp` is null or a null-terminated array of NUL-terminated strings.
pub(crate) unsafe fn hide_recorders_preload(envp: *mut *const u8) {
    if envp.is_null() {
        return;
    }
    // SAFETY: (all of this function) the caller's contract; reads stop at
    // the terminators.
    unsafe {
        let mut count = 0;
        while !(*envp.add(count)).is_null() {
            count += 1;
        }
        let Some(last) = count.checked_sub(1).map(|i| envp.add(i)) else {
            return;
        };
        let entry = *last;
        let mut len = 0;
        while *entry.add(len) != 0 && len < PATH_MAX * 4 {
            len += 1;
        }
        if syscallbuf::environment::is_recorders_preload(core::slice::from_raw_parts(entry, len)) {
            *last = core::ptr::null();
        }
    }
}

/// A read of the process's own `/proc/PID/status`, with what the recorder
/// adds there taken out (see `syscallbuf::status`); returns its length.
pub(crate) fn hide_recorder_in_status(args: [u64; 6], result: i64) -> i64 {
    const NAME: &[u8] = b"Name:\t";
    let len = result as usize;
    // SAFETY: the kernel just wrote `result` bytes at args[1], which the
    // program handed over as its buffer for this read.
    let data = unsafe { core::slice::from_raw_parts_mut(args[1] as *mut u8, len) };
    if !data.starts_with(NAME) {
        return result;
    }
    let marks = syscallbuf::status::Marks {
        // The library buffers nothing once the program has a filter of its
        // own (ALL_CALLS_TRACED), so the only one is the recorder's.
        seccomp_filter: true,
        no_new_privs: SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed)
            & syscallbuf::NO_NEW_PRIVS_BY_RECORDER
            != 0,
    };
    let own_pid = untraced(sys::GETPID, [0; 6]) as u64;
    let may_shrink = (result as u64) < args[2];
    syscallbuf::status::hide_recorder(data, len, own_pid, marks, may_shrink) as i64
}
