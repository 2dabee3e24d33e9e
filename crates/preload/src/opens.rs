//! Buffered opens, made so that they never wait: an open that could
//! wait for another process (a FIFO's other end, a lease's holder) takes
//! the traced path, where the recorder runs the others meanwhile.

use crate::libc_consts::*;
use crate::{fd_kind, untraced};
use syscallbuf::plan::{sys, PATH_MAX, STAT_LEN};

/// `How::Open`: files and directories, and paths that do not exist.
pub(crate) fn open(nr: u64, a: [u64; 6]) -> Option<i64> {
    let flags = a[2];
    if flags & (O_DIRECTORY | O_PATH) == 0 {
        let mut stat = [0u8; STAT_LEN];
        let r = untraced(
            sys::NEWFSTATAT,
            [a[0], a[1], stat.as_mut_ptr() as u64, 0, 0, 0],
        );
        let mut mode = [0u8; 4];
        mode.copy_from_slice(&stat[STAT_MODE_OFFSET..STAT_MODE_OFFSET + 4]);
        let kind = u32::from_le_bytes(mode) & S_IFMT;
        if r != -EFAULT && flags & O_ACCMODE != 0 && is_proc_path(a[1]) {
            // A /proc/PID/mem written to changes memory: the
            // tracer must see that open.
            return None;
        }
        if r != -EFAULT && is_proc_path(a[1]) && edited_by_recorder(a[1]) {
            // The tracer shows what a native run would read there.
            return None;
        }
        if r == -ENOENT && flags & O_CREAT == 0 {
            return open_missing(nr, a);
        }
        if r == 0 && kind == S_IFREG {
            if flags & O_TRUNC != 0 && crate::fd_facts::shared_file_writes_traced() {
                // It empties the file, and a mapping of it shows that.
                return None;
            }
            return open_file_no_wait(nr, a);
        }
        let safe = (r == 0 && kind == S_IFDIR) || (r == -ENOENT && flags & O_CREAT != 0);
        if !safe {
            return None;
        }
    }
    Some(untraced(nr, a))
}

/// Opens the regular file `a` names without waiting: a lease another
/// process holds on it (`F_SETLEASE`) makes a plain open wait for that
/// process to give it up, which it cannot do while the tracer waits for
/// this thread. That open fails with EAGAIN instead and goes down the
/// traced path, where it may wait as the program's would.
fn open_file_no_wait(nr: u64, a: [u64; 6]) -> Option<i64> {
    let flags = a[2];
    let mut no_wait = a;
    no_wait[2] = flags | O_NONBLOCK;
    let fd = untraced(nr, no_wait);
    if fd == -EAGAIN && flags & O_NONBLOCK == 0 {
        return None;
    }
    if fd >= 0 {
        clear_nonblock_unless_asked(fd as u64, flags);
    }
    Some(fd)
}

/// Takes back the O_NONBLOCK the hook added to an open that `flags` did
/// not ask for.
fn clear_nonblock_unless_asked(fd: u64, flags: u64) {
    if flags & O_NONBLOCK != 0 {
        return;
    }
    let status = untraced(sys::FCNTL, [fd, F_GETFL, 0, 0, 0, 0]);
    if status >= 0 {
        untraced(
            sys::FCNTL,
            [fd, F_SETFL, status as u64 & !O_NONBLOCK, 0, 0, 0],
        );
    }
}

/// openat of a path that did not exist a moment ago: a compiler's include
/// search makes dozens of these, and each was a ptrace stop. Opened without
/// waiting, in case a FIFO or device appeared there meanwhile: such a file
/// is closed again and opened on the traced path, where the open may wait
/// as the program's would; anything else is what the program asked for.
fn open_missing(nr: u64, a: [u64; 6]) -> Option<i64> {
    let flags = a[2];
    let mut no_wait = a;
    no_wait[2] = flags | O_NONBLOCK;
    let fd = untraced(nr, no_wait);
    if fd < 0 {
        return (fd != -ENXIO).then_some(fd);
    }
    let fd_u = fd as u64;
    match fd_kind(fd_u).map(|k| k.file_type) {
        Some(S_IFREG | S_IFDIR) => {
            clear_nonblock_unless_asked(fd_u, flags);
            Some(fd)
        }
        _ => {
            untraced(sys::CLOSE, [fd_u, 0, 0, 0, 0, 0]);
            None
        }
    }
}

/// Whether the path at `addr` starts with "/proc/".
/// Whether the path at `addr` (which starts `/proc/`) names a file whose
/// text the recorder edits (`syscallbuf::proc_views`).
fn edited_by_recorder(addr: u64) -> bool {
    let len = crate::c_strlen(addr, PATH_MAX);
    // SAFETY: the kernel just read this path without EFAULT, and
    // `c_strlen` stopped at its NUL.
    let path = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
    syscallbuf::proc_views::edited_by_recorder(path)
}

fn is_proc_path(addr: u64) -> bool {
    const PREFIX: &[u8] = b"/proc/";
    // SAFETY: the kernel just read this path without EFAULT; the comparison
    // stops at the first byte that differs, so it never reads past the NUL.
    PREFIX
        .iter()
        .enumerate()
        .all(|(i, &want)| unsafe { *((addr + i as u64) as *const u8) } == want)
}
