//! Files the recorded processes mapped `MAP_SHARED`.
//!
//! A shared mapping is how processes of one recording talk without
//! syscalls: a semaphore in `/dev/shm` that a parent mapped before forking
//! its workers, a file two processes map by name. The captured copy in
//! `files/` may never be written, and private mappings of it would give
//! each process its own copy, so replay keeps one writable in-memory file
//! per recorded file (by device and inode) and maps that shared instead.
//! Threads run in the recorded order, so every process reads what it read
//! during recording.

use crate::ReplayError;
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use trace::event::{FileIdentity, FileRef};
use trace::TraceReader;

/// How large replay's copies of shared files are at least.
const SPARSE_LEN: u64 = 1 << 32;

#[derive(Default)]
pub struct SharedFiles {
    files: HashMap<FileIdentity, File>,
}

impl SharedFiles {
    /// A path the tracee can open read-write to map the replay's copy of
    /// the recorded file: made from the captured bytes the first time, and
    /// never rewritten after (what the recorded processes wrote is there).
    pub fn path_for(
        &mut self,
        reader: &TraceReader,
        file: &FileRef,
        identity: FileIdentity,
    ) -> Result<PathBuf, ReplayError> {
        let setup = |what: &str, e: std::io::Error| {
            ReplayError::Setup(format!(
                "cannot {what} the shared copy of {} for replay: {e}",
                file.path
            ))
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = self.files.entry(identity) {
            let blob = reader.verified_file(file)?;
            let name = c"replay-shared-file";
            let fd = memfd_create(name, MemFdCreateFlag::MFD_CLOEXEC)
                .map_err(|e| setup("create", e.into()))?;
            let mut copy = File::from(fd);
            let mut source = File::open(&blob).map_err(|e| setup("read", e))?;
            std::io::copy(&mut source, &mut copy).map_err(|e| setup("fill", e))?;
            slot.insert(copy);
        }
        let copy = &self.files[&identity];
        let len = copy.metadata().map_err(|e| setup("inspect", e))?.len();
        // The recording may grow the file (ftruncate) and its mappings
        // (mremap) with no new mmap event, so the copy is made large from
        // the start: sparse, it costs nothing until a page is touched.
        let wanted = file.size.max(SPARSE_LEN);
        if wanted > len {
            copy.set_len(wanted).map_err(|e| setup("grow", e))?;
        }
        use std::os::fd::AsRawFd;
        Ok(PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            copy.as_raw_fd()
        )))
    }
}
