//! What the library knows about a descriptor before it writes to it: its
//! type and identity, cached per fd under the tracer's fd generation word,
//! and from those whether a write may be buffered and whether it goes to
//! the recorder's own stdout or stderr.

use crate::libc_consts::*;
use crate::{untraced, FACTS_VALID, FD_CACHE, FD_CACHE_LEN, SHARED};
use core::sync::atomic::Ordering;
use syscallbuf::plan::{sys, How, FIONREAD, STATX_LEN};
use syscallbuf::{
    FD_CACHE_DISABLED, FD_CACHE_PAUSED, FD_GENERATION_WORD, OUTPUT_MARK_STDERR, OUTPUT_MARK_STDOUT,
    SHARED_FILE_WRITES_TRACED,
};

/// What the hook needs to know about an fd: its type and identity.
pub(crate) struct FdKind {
    pub(crate) file_type: u32,
    dev: u64,
    ino: u64,
    /// (major, minor) of a device file.
    rdev: (u32, u32),
}

/// The type and identity of `fd`, from an untraced statx that asks for
/// nothing else. fstat would also read the timestamps, and on kernels with
/// fine-grained timestamps a file whose times were read gets its inode
/// dirtied by the next write: a stat before every small write made the
/// writes three times slower.
pub(crate) fn fd_kind(fd: u64) -> Option<FdKind> {
    let mut statx = [0u8; STATX_LEN];
    let r = untraced(
        sys::STATX,
        [
            fd,
            c"".as_ptr() as u64,
            AT_EMPTY_PATH,
            STATX_TYPE | STATX_INO,
            statx.as_mut_ptr() as u64,
            0,
        ],
    );
    if r != 0 {
        return None;
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([statx[at], statx[at + 1], statx[at + 2], statx[at + 3]]);
    let mut ino = [0u8; 8];
    ino.copy_from_slice(&statx[STATX_INO_OFFSET..STATX_INO_OFFSET + 8]);
    let mode = u32::from(u16::from_le_bytes([
        statx[STATX_MODE_OFFSET],
        statx[STATX_MODE_OFFSET + 1],
    ]));
    Some(FdKind {
        file_type: mode & S_IFMT,
        dev: makedev(
            u32_at(STATX_DEV_MAJOR_OFFSET),
            u32_at(STATX_DEV_MINOR_OFFSET),
        ),
        ino: u64::from_le_bytes(ino),
        rdev: (
            u32_at(STATX_RDEV_MAJOR_OFFSET),
            u32_at(STATX_RDEV_MINOR_OFFSET),
        ),
    })
}

/// glibc's encoding of a device number, as `st_dev` carries it.
fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
}

/// The file type bits of `fd`.
pub(crate) fn file_type(fd: u64) -> Option<u32> {
    fd_kind(fd).map(|k| k.file_type)
}

/// What decides how a write to an fd is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteTarget {
    Socket = 0,
    /// A file, a block device or /dev/null: waits only for the disk.
    Disk = 1,
    Pipe = 2,
    Other = 3,
}

/// The write target of `fd` and the output mark of writes to it, from the
/// fd cache while its generation holds, else from a statx (a syscall that
/// cost a quarter of a small pipe write's time in the hook). `None`: the
/// fd cannot be examined (closed, say).
fn write_facts(fd: u64) -> Option<(WriteTarget, u64)> {
    let generation = SHARED[FD_GENERATION_WORD].load(Ordering::Acquire);
    let slot = usize::try_from(fd)
        .ok()
        .filter(|&fd| fd < FD_CACHE_LEN && generation & (FD_CACHE_DISABLED | FD_CACHE_PAUSED) == 0)
        .map(|fd| &FD_CACHE[fd]);
    if let Some(slot) = slot {
        let entry = slot.load(Ordering::Relaxed);
        if entry & FACTS_VALID != 0 && entry >> 8 == generation & (u64::MAX >> 8) {
            let target = match (entry >> 2) & 3 {
                0 => WriteTarget::Socket,
                1 => WriteTarget::Disk,
                2 => WriteTarget::Pipe,
                _ => WriteTarget::Other,
            };
            return Some((target, entry & 3));
        }
    }
    let kind = fd_kind(fd)?;
    let target = match kind.file_type {
        S_IFSOCK => WriteTarget::Socket,
        S_IFREG | S_IFBLK => WriteTarget::Disk,
        S_IFCHR if kind.rdev == DEV_NULL => WriteTarget::Disk,
        S_IFIFO => WriteTarget::Pipe,
        _ => WriteTarget::Other,
    };
    let mark = recorder_output_mark(fd, kind.dev, kind.ino);
    if let Some(slot) = slot {
        // Tagged with the generation read before the statx: a close on
        // another thread meanwhile leaves the entry stale from the start.
        slot.store(
            generation << 8 | FACTS_VALID | (target as u64) << 2 | mark,
            Ordering::Relaxed,
        );
    }
    Some((target, mark))
}

/// Whether the recorder asked to see every change to a regular file: some
/// process of the recording maps one shared (docs/decisions/0011).
pub(crate) fn shared_file_writes_traced() -> bool {
    SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed) & SHARED_FILE_WRITES_TRACED != 0
}

/// After a buffered close: whatever the cache knew may be another file's
/// fd next.
pub(crate) fn fds_changed() {
    SHARED[FD_GENERATION_WORD].fetch_add(1, Ordering::AcqRel);
}

/// How a write of `len` bytes to `fd` is made in process, if it can be,
/// and the output mark of its record: not to a socket, and to a pipe only
/// when it all fits now. A write that does not wait could otherwise return
/// short where the program's blocking write would have written everything.
pub(crate) fn write_plan(fd: u64, len: u64, no_wait: How) -> Option<(How, u64)> {
    let Some((target, mark)) = write_facts(fd) else {
        return Some((no_wait, 0));
    };
    let how = match target {
        WriteTarget::Socket => None,
        // A file waits only for the disk: written as the program asked,
        // without a no-wait attempt that ext4 refuses for most appends.
        // /dev/null never waits (and refuses no-wait writes).
        WriteTarget::Disk => (!shared_file_writes_traced()).then_some(How::Plain),
        // Up to PIPE_BUF a pipe write is atomic: all of it or EAGAIN.
        WriteTarget::Pipe if len <= PIPE_BUF => Some(no_wait),
        WriteTarget::Pipe => {
            let capacity = untraced(sys::FCNTL, [fd, F_GETPIPE_SZ, 0, 0, 0, 0]);
            let mut unread = 0i32;
            let r = untraced(
                sys::IOCTL,
                [fd, FIONREAD, (&raw mut unread) as u64, 0, 0, 0],
            );
            let fits =
                capacity > 0 && r == 0 && len <= (capacity - i64::from(unread)).max(0) as u64;
            fits.then_some(no_wait)
        }
        _ => Some(no_wait),
    };
    how.map(|how| (how, mark))
}

/// `OUTPUT_MARK_STDOUT`/`_STDERR` when the file is the recorder's stdout or
/// stderr (both the same file, a terminal: the program's fd decides, as
/// the tracer does for traced writes), else 0.
fn recorder_output_mark(fd: u64, dev: u64, ino: u64) -> u64 {
    let ids: [u64; 4] = core::array::from_fn(|i| SHARED[i].load(Ordering::Relaxed));
    let is_out = ino != 0 && ids[0] == dev && ids[1] == ino;
    let is_err = ino != 0 && ids[2] == dev && ids[3] == ino;
    match (is_out, is_err) {
        (true, true) if fd == 2 => OUTPUT_MARK_STDERR,
        (true, _) => OUTPUT_MARK_STDOUT,
        (false, true) => OUTPUT_MARK_STDERR,
        (false, false) => 0,
    }
}
