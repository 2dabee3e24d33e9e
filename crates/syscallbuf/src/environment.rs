//! The one environment variable the recorder adds, and how every party
//! recognises it.
//!
//! The dynamic loader loads the library only if `LD_PRELOAD` names it, but
//! a recorded program must not see that variable: not in `environ`, not in
//! `/proc/self/environ`, not in what it passes to its children. The
//! recorder therefore appends its own entry *last* in every environment it
//! starts a program with (`ld.so` takes the last `LD_PRELOAD` it finds, so
//! a program's own entry, wherever it is, stays untouched and is still
//! loaded, named after the library). The library's constructor removes
//! that last entry from `environ`; the recorder cuts it off the end of the
//! `/proc/PID/environ` range, and adds it again at every exec.

/// How the entry starts.
pub const PRELOAD_KEY: &[u8] = b"LD_PRELOAD=";

/// The library's file name, which the entry's first element ends with.
pub const LIBRARY_FILE_NAME: &[u8] = b"libreplay_preload.so";

/// True if `entry` (`NAME=value`, without its terminating NUL) is the
/// recorder's: `LD_PRELOAD` whose first element is this library.
pub fn is_recorders_preload(entry: &[u8]) -> bool {
    recorders_library(entry).is_some()
}

/// The library the recorder's entry names (its first element), or `None`
/// if `entry` is not the recorder's.
pub fn recorders_library(entry: &[u8]) -> Option<&[u8]> {
    let value = entry.strip_prefix(PRELOAD_KEY)?;
    let first = value
        .split(|&b| b == b':' || b == b' ')
        .next()
        .unwrap_or_default();
    let named = first == LIBRARY_FILE_NAME
        || first
            .strip_suffix(LIBRARY_FILE_NAME)
            .is_some_and(|dir| dir.ends_with(b"/"));
    named.then_some(first)
}

/// The value of the recorder's entry for `library`, given the value of the
/// last `LD_PRELOAD` the environment already has: the library first, then
/// what the program asked for, so that the loader (which takes the last
/// entry) loads both. Written into `out`; returns its length, or `None` if
/// `out` is too small.
pub fn recorders_preload_value(
    library: &[u8],
    existing: Option<&[u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut len = 0;
    let mut push = |bytes: &[u8]| -> Option<()> {
        out.get_mut(len..len + bytes.len())?.copy_from_slice(bytes);
        len += bytes.len();
        Some(())
    };
    push(library)?;
    if let Some(existing) = existing.filter(|e| !e.is_empty()) {
        push(b":")?;
        push(existing)?;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorders_entry_is_recognised_by_its_first_element() {
        assert!(is_recorders_preload(
            b"LD_PRELOAD=/opt/replay/libreplay_preload.so"
        ));
        assert!(is_recorders_preload(
            b"LD_PRELOAD=/opt/replay/libreplay_preload.so:/usr/lib/libjemalloc.so"
        ));
        assert!(is_recorders_preload(b"LD_PRELOAD=libreplay_preload.so"));
        assert!(!is_recorders_preload(
            b"LD_PRELOAD=/usr/lib/libjemalloc.so:/opt/libreplay_preload.so"
        ));
        assert!(!is_recorders_preload(
            b"LD_PRELOAD=/opt/notlibreplay_preload.so"
        ));
        assert!(!is_recorders_preload(b"LD_PRELOAD="));
        assert!(!is_recorders_preload(
            b"XLD_PRELOAD=/opt/libreplay_preload.so"
        ));
    }

    #[test]
    fn the_programs_own_preloads_follow_the_library() {
        let mut out = [0u8; 64];
        let n = recorders_preload_value(b"/r/libreplay_preload.so", Some(b"/a.so"), &mut out);
        assert_eq!(&out[..n.unwrap()], b"/r/libreplay_preload.so:/a.so");
        let n = recorders_preload_value(b"/r/libreplay_preload.so", Some(b""), &mut out);
        assert_eq!(&out[..n.unwrap()], b"/r/libreplay_preload.so");
        assert_eq!(
            recorders_preload_value(b"/r/libreplay_preload.so", Some(&[b'x'; 60]), &mut out),
            None
        );
    }
}
