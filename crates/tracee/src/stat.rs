//! The recorder's own look at a tracee's files, through `/proc/PID/fd/N`.
//!
//! A stat of a FUSE file asks its server, and a server that is a thread of
//! the recording is stopped while the recorder handles a stop: a plain
//! stat would wait for it for ever. `AT_STATX_DONT_SYNC` answers from the
//! attributes the kernel holds, which for local file systems are the
//! file's own and for FUSE are what its server said last; the identity
//! (device and inode) and type never go stale.

use std::ffi::CString;

/// What the recorder needs of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub size: u64,
}

impl FileStat {
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    pub fn is_fifo(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFIFO
    }
}

/// `path`'s attributes as the kernel holds them, following symlinks
/// (`/proc/PID/fd/N` names the open file itself).
pub fn cached(path: &str) -> Option<FileStat> {
    let path = CString::new(path).ok()?;
    // SAFETY: an all-zero statx is a valid value of the plain C struct.
    let mut info: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and outlives the call; `info` is a
    // valid statx the kernel fills.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_STATX_DONT_SYNC,
            libc::STATX_TYPE | libc::STATX_MODE | libc::STATX_INO | libc::STATX_SIZE,
            &mut info,
        )
    };
    if rc != 0 {
        return None;
    }
    Some(FileStat {
        dev: libc::makedev(info.stx_dev_major, info.stx_dev_minor),
        ino: info.stx_ino,
        mode: u32::from(info.stx_mode),
        size: info.stx_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn agrees_with_std_on_a_local_file() {
        let path = std::env::current_exe().unwrap();
        let ours = cached(path.to_str().unwrap()).unwrap();
        let std = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (ours.dev, ours.ino, ours.size),
            (std.dev(), std.ino(), std.len())
        );
        assert!(ours.is_file());
        assert!(!cached("/").unwrap().is_file());
        assert!(cached("/no/such/file").is_none());
    }
}
