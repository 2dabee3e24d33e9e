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

#[derive(Default)]
pub struct SharedFiles {
    files: HashMap<FileIdentity, File>,
}

impl SharedFiles {
    /// A path the tracee can open read-write to map the replay's copy of
    /// the recorded file: made from the captured bytes the first time, and
    /// after that changed only as the recording changed the file (writes
    /// and resizes come as their own events), or grown when a later mapping
    /// saw it larger.
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
        if file.size > len {
            copy.set_len(file.size).map_err(|e| setup("grow", e))?;
        }
        Ok(path_of(copy))
    }
}

impl SharedFiles {
    /// A recorded write into a file that has a shared copy here.
    pub fn write_at(
        &self,
        identity: FileIdentity,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), ReplayError> {
        use std::os::unix::fs::FileExt;
        let Some(copy) = self.files.get(&identity) else {
            // Not mapped yet here: its first mapping captured the bytes.
            return Ok(());
        };
        copy.write_all_at(bytes, offset).map_err(|e| {
            ReplayError::Setup(format!(
                "cannot write to replay's shared copy of a file: {e}"
            ))
        })
    }

    /// A recorded ftruncate of a file that has a shared copy here.
    pub fn resize(&self, identity: FileIdentity, len: u64) -> Result<(), ReplayError> {
        let Some(copy) = self.files.get(&identity) else {
            return Ok(());
        };
        copy.set_len(len).map_err(|e| {
            ReplayError::Setup(format!("cannot resize replay's shared copy of a file: {e}"))
        })
    }
}

/// A new memfd holding `len` bytes, for a snapshot's own copy of a
/// shared memory object.
pub fn new_copy(len: u64) -> Result<File, ReplayError> {
    let fd =
        memfd_create(c"replay-snapshot-shared", MemFdCreateFlag::MFD_CLOEXEC).map_err(|e| {
            ReplayError::Setup(format!(
                "cannot create a snapshot's copy of shared memory: {e}"
            ))
        })?;
    let copy = File::from(fd);
    copy.set_len(len).map_err(|e| {
        ReplayError::Setup(format!(
            "cannot size a snapshot's copy of shared memory: {e}"
        ))
    })?;
    Ok(copy)
}

/// The path another process opens `file` of this one by.
pub fn path_of(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        file.as_raw_fd()
    ))
}

impl SharedFiles {
    /// Copies of every file, for a snapshot: its processes write to their
    /// own. Returns them with each old copy's inode, which names the
    /// mappings to move over to the new one.
    pub fn copies(&self) -> Result<(SharedFiles, HashMap<u64, PathBuf>), ReplayError> {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let failed = |e: std::io::Error| {
            ReplayError::Setup(format!(
                "cannot copy a shared file's replay copy for a snapshot: {e}"
            ))
        };
        let mut files = HashMap::new();
        let mut by_inode = HashMap::new();
        for (&identity, old) in &self.files {
            let metadata = old.metadata().map_err(failed)?;
            let copy = new_copy(metadata.len())?;
            let mut buf = vec![0u8; 1 << 20];
            let mut at = 0u64;
            loop {
                let n = old.read_at(&mut buf, at).map_err(failed)?;
                if n == 0 {
                    break;
                }
                copy.write_all_at(&buf[..n], at).map_err(failed)?;
                at += n as u64;
            }
            by_inode.insert(metadata.ino(), path_of(&copy));
            files.insert(identity, copy);
        }
        Ok((SharedFiles { files }, by_inode))
    }
}
