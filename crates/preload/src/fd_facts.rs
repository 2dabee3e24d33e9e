//! What the library knows about a descriptor before it reads or writes
//! it: its type and identity, cached per fd under the tracer's fd
//! generation word, and from those whether a write may be buffered,
//! whether it goes to the recorder's own stdout or stderr, and whether a
//! read tries first without waiting.

use crate::libc_consts::*;
use crate::{untraced, FD_CACHE, FD_CACHE_LEN, SHARED};
use core::sync::atomic::{AtomicU64, Ordering};
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
    /// A regular file that looks empty on a filesystem without a device
    /// (procfs, cgroupfs, debugfs): its reads make their contents up, and
    /// refuse `RWF_NOWAIT`.
    made_up_contents: bool,
}

/// The type and identity of `fd`, from an untraced statx that asks for
/// nothing else. fstat would also read the timestamps, and on kernels with
/// fine-grained timestamps a file whose times were read gets its inode
/// dirtied by the next write: a stat before every small write made the
/// writes three times slower.
pub(crate) fn fd_kind(fd: u64) -> Option<FdKind> {
    let statx = statx_of(fd, STATX_TYPE | STATX_INO | STATX_SIZE)?;
    let u32_at =
        |at: usize| u32::from_le_bytes([statx[at], statx[at + 1], statx[at + 2], statx[at + 3]]);
    let file_type = mode_of(&statx) & S_IFMT;
    Some(FdKind {
        file_type,
        dev: makedev(
            u32_at(STATX_DEV_MAJOR_OFFSET),
            u32_at(STATX_DEV_MINOR_OFFSET),
        ),
        ino: u64_at(&statx, STATX_INO_OFFSET),
        rdev: (
            u32_at(STATX_RDEV_MAJOR_OFFSET),
            u32_at(STATX_RDEV_MINOR_OFFSET),
        ),
        made_up_contents: file_type == S_IFREG
            && u64_at(&statx, STATX_SIZE_OFFSET) == 0
            && u32_at(STATX_DEV_MAJOR_OFFSET) == 0,
    })
}

/// The file type bits and size of `fd`.
pub(crate) fn file_type_and_size(fd: u64) -> Option<(u32, u64)> {
    let statx = statx_of(fd, STATX_TYPE | STATX_SIZE)?;
    Some((mode_of(&statx) & S_IFMT, u64_at(&statx, STATX_SIZE_OFFSET)))
}

/// An untraced statx of `fd` that asks for `mask` only.
fn statx_of(fd: u64, mask: u64) -> Option<[u8; STATX_LEN]> {
    let mut statx = [0u8; STATX_LEN];
    let r = untraced(
        sys::STATX,
        [
            fd,
            c"".as_ptr() as u64,
            AT_EMPTY_PATH,
            mask,
            statx.as_mut_ptr() as u64,
            0,
        ],
    );
    (r == 0).then_some(statx)
}

fn mode_of(statx: &[u8; STATX_LEN]) -> u32 {
    u32::from(u16::from_le_bytes([
        statx[STATX_MODE_OFFSET],
        statx[STATX_MODE_OFFSET + 1],
    ]))
}

fn u64_at(statx: &[u8; STATX_LEN], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&statx[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// glibc's encoding of a device number, as `st_dev` carries it.
fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff)
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

/// Bits of a cache entry: `fd_generation << 8 | FACTS_VALID | NOT_WRITABLE
/// | NOT_READABLE | NO_WAIT_REFUSED | target << 2 | output mark`.
const FACTS_VALID: u64 = 0x80;
const NOT_WRITABLE: u64 = 0x40;
const NOT_READABLE: u64 = 0x20;
const NO_WAIT_REFUSED: u64 = 0x10;

/// What decides how a read or write of an fd is made.
#[derive(Clone, Copy)]
pub(crate) struct Facts {
    target: WriteTarget,
    output_mark: u64,
    /// The file refuses `RWF_NOWAIT` (procfs, terminals): an attempt
    /// would only count as one more read or write in the process's
    /// `/proc/PID/io`.
    pub(crate) no_wait_refused: bool,
    /// Opened for reading; a read of an fd that is not fails with EBADF
    /// before the kernel counts it, a no-wait attempt after.
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

impl Facts {
    /// A file or block device: waits only for the disk.
    pub(crate) fn is_disk(&self) -> bool {
        self.target == WriteTarget::Disk
    }

    fn encode(self) -> u64 {
        let bit = |set: bool, bit: u64| if set { bit } else { 0 };
        bit(self.no_wait_refused, NO_WAIT_REFUSED)
            | bit(!self.readable, NOT_READABLE)
            | bit(!self.writable, NOT_WRITABLE)
            | (self.target as u64) << 2
            | self.output_mark
    }

    fn decode(entry: u64) -> Self {
        let target = match (entry >> 2) & 3 {
            0 => WriteTarget::Socket,
            1 => WriteTarget::Disk,
            2 => WriteTarget::Pipe,
            _ => WriteTarget::Other,
        };
        Facts {
            target,
            output_mark: entry & 3,
            no_wait_refused: entry & NO_WAIT_REFUSED != 0,
            readable: entry & NOT_READABLE == 0,
            writable: entry & NOT_WRITABLE == 0,
        }
    }
}

/// `fd`'s facts, from the fd cache while its generation holds, else from a
/// statx and an `F_GETFL` (the statx alone cost a quarter of a small pipe
/// write's time in the hook). `None`: the fd cannot be examined (closed,
/// say).
pub(crate) fn facts(fd: u64) -> Option<Facts> {
    let generation = SHARED[FD_GENERATION_WORD].load(Ordering::Acquire);
    let slot = cache_slot(fd, generation);
    if let Some(slot) = slot {
        let entry = slot.load(Ordering::Relaxed);
        if is_current(entry, generation) {
            return Some(Facts::decode(entry));
        }
    }
    let kind = fd_kind(fd)?;
    let status = untraced(sys::FCNTL, [fd, F_GETFL, 0, 0, 0, 0]);
    if status < 0 {
        return None;
    }
    let status = status as u64;
    let access = if status & O_PATH != 0 {
        u64::MAX
    } else {
        status & O_ACCMODE
    };
    let target = match kind.file_type {
        S_IFSOCK => WriteTarget::Socket,
        S_IFREG | S_IFBLK => WriteTarget::Disk,
        S_IFCHR if kind.rdev == DEV_NULL => WriteTarget::Disk,
        S_IFIFO => WriteTarget::Pipe,
        _ => WriteTarget::Other,
    };
    let facts = Facts {
        target,
        output_mark: recorder_output_mark(fd, kind.dev, kind.ino),
        no_wait_refused: kind.made_up_contents
            || (kind.file_type == S_IFCHR && is_terminal_major(kind.rdev.0)),
        readable: access == O_RDONLY || access == O_RDWR,
        writable: access == O_WRONLY || access == O_RDWR,
    };
    if let Some(slot) = slot {
        // Tagged with the generation read before the statx: a close on
        // another thread meanwhile leaves the entry stale from the start.
        slot.store(
            generation << 8 | FACTS_VALID | facts.encode(),
            Ordering::Relaxed,
        );
    }
    Some(facts)
}

/// Terminals (the console, ttys, ptys): they refuse `RWF_NOWAIT`.
fn is_terminal_major(major: u32) -> bool {
    matches!(major, 4 | 5 | 136..=143)
}

/// `fd`'s entry in the fd cache, unless the cache is off.
fn cache_slot(fd: u64, generation: u64) -> Option<&'static AtomicU64> {
    usize::try_from(fd)
        .ok()
        .filter(|&fd| fd < FD_CACHE_LEN && generation & (FD_CACHE_DISABLED | FD_CACHE_PAUSED) == 0)
        .map(|fd| &FD_CACHE[fd])
}

/// Whether a cache entry was made under this fd generation.
fn is_current(entry: u64, generation: u64) -> bool {
    entry & FACTS_VALID != 0 && entry >> 8 == generation & (u64::MAX >> 8)
}

/// Notes that `fd`'s file refused a no-wait read or write, for its later
/// calls.
pub(crate) fn remember_no_wait_refused(fd: u64) {
    let generation = SHARED[FD_GENERATION_WORD].load(Ordering::Acquire);
    let Some(facts) = facts(fd) else {
        return;
    };
    if let Some(slot) = cache_slot(fd, generation) {
        // Only over the entry of this generation: one made under a later
        // generation may be another file's.
        let refused = Facts {
            no_wait_refused: true,
            ..facts
        };
        let _ = slot.compare_exchange(
            generation << 8 | FACTS_VALID | facts.encode(),
            generation << 8 | FACTS_VALID | refused.encode(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

/// Whether the recorder asked to see every change to a regular file: some
/// process of the recording maps one shared (docs/decisions/0011).
pub(crate) fn shared_file_writes_traced() -> bool {
    SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed) & SHARED_FILE_WRITES_TRACED != 0
}

/// Whether the recorder asked to see reads of procfs files: the process
/// opened another task's state file (`syscallbuf::proc_views`).
pub(crate) fn proc_reads_traced() -> bool {
    SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed) & syscallbuf::PROC_READS_TRACED != 0
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
    let Some(facts) = facts(fd) else {
        return Some((no_wait, 0));
    };
    if !facts.writable {
        // EBADF, and uncounted, as the program's own write.
        return Some((How::Plain, 0));
    }
    let how = match facts.target {
        WriteTarget::Socket => None,
        // A file waits only for the disk: written as the program asked,
        // without a no-wait attempt that ext4 refuses for most appends.
        // /dev/null never waits (and refuses no-wait writes).
        WriteTarget::Disk => (!shared_file_writes_traced()).then_some(How::Plain),
        _ if facts.no_wait_refused => None,
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
        WriteTarget::Other => Some(no_wait),
    };
    how.map(|how| (how, facts.output_mark))
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
