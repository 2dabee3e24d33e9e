//! What the recorder adds to the program's view of itself, taken back out
//! in process: its `LD_PRELOAD` entry in `environ` (see
//! `syscallbuf::environment`). Its marks in `/proc/self/status` are the
//! recorder's to take out (`syscallbuf::proc_views`).

use syscallbuf::plan::PATH_MAX;

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
