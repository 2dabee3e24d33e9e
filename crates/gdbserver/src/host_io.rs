//! gdb's host I/O (vFile packets): gdb reads the program's binaries and
//! libraries through the server. Files the recording used come from the
//! trace's `files/`, so symbols match what ran even when the originals have
//! changed since; anything else (separate debug info) is read from this
//! machine. Everything is read-only.

use crate::target::ReplayTarget;
use gdbstub::target::ext::host_io::{
    FsKind, HostIo, HostIoClose, HostIoCloseOps, HostIoErrno, HostIoError, HostIoFstat,
    HostIoFstatOps, HostIoOpen, HostIoOpenFlags, HostIoOpenMode, HostIoOpenOps, HostIoPread,
    HostIoPreadOps, HostIoResult, HostIoSetfs, HostIoSetfsOps, HostIoStat,
};
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use trace::event::{EventKind, SyscallExtra};

/// Recorded path of every captured file -> its blob in `files/`.
pub fn captured_files(trace_dir: &Path) -> HashMap<String, PathBuf> {
    let mut files = HashMap::new();
    let Ok(reader) = trace::TraceReader::open(trace_dir) else {
        return files;
    };
    let Ok(events) = reader.events() else {
        return files;
    };
    for recorded in events.flatten() {
        let EventKind::SyscallExit {
            extra: Some(extra), ..
        } = &recorded.event.kind
        else {
            continue;
        };
        let refs: Vec<&trace::event::FileRef> = match extra {
            SyscallExtra::MmapFile { file } | SyscallExtra::MmapShared { file, .. } => vec![file],
            SyscallExtra::Exec(info) => std::iter::once(&info.exe)
                .chain(info.mappings.iter().filter_map(|m| m.file.as_ref()))
                .collect(),
            _ => continue,
        };
        for file in refs {
            if let Ok(blob) = reader.file_path(file) {
                files.insert(file.path.clone(), blob);
            }
        }
    }
    files
}

#[derive(Default)]
pub struct OpenFiles {
    next: u32,
    files: HashMap<u32, File>,
    captured: Option<HashMap<String, PathBuf>>,
}

fn errno(e: HostIoErrno) -> HostIoError<crate::GdbServerError> {
    HostIoError::Errno(e)
}

impl HostIo for ReplayTarget {
    fn support_open(&mut self) -> Option<HostIoOpenOps<'_, Self>> {
        Some(self)
    }
    fn support_close(&mut self) -> Option<HostIoCloseOps<'_, Self>> {
        Some(self)
    }
    fn support_pread(&mut self) -> Option<HostIoPreadOps<'_, Self>> {
        Some(self)
    }
    fn support_fstat(&mut self) -> Option<HostIoFstatOps<'_, Self>> {
        Some(self)
    }
    fn support_setfs(&mut self) -> Option<HostIoSetfsOps<'_, Self>> {
        Some(self)
    }
}

impl HostIoOpen for ReplayTarget {
    fn open(
        &mut self,
        filename: &[u8],
        flags: HostIoOpenFlags,
        _mode: HostIoOpenMode,
    ) -> HostIoResult<u32, Self> {
        if flags.intersects(
            HostIoOpenFlags::O_WRONLY | HostIoOpenFlags::O_RDWR | HostIoOpenFlags::O_CREAT,
        ) {
            return Err(errno(HostIoErrno::EPERM));
        }
        let name = String::from_utf8_lossy(filename).into_owned();
        let trace_dir = self.timeline.trace_dir().to_path_buf();
        let open = &mut self.open_files;
        let captured = open
            .captured
            .get_or_insert_with(|| captured_files(&trace_dir));
        let path = captured
            .get(&name)
            .cloned()
            .unwrap_or_else(|| PathBuf::from(&name));
        let file = File::open(&path).map_err(|_| errno(HostIoErrno::ENOENT))?;
        open.next += 1;
        open.files.insert(open.next, file);
        Ok(open.next)
    }
}

impl HostIoClose for ReplayTarget {
    fn close(&mut self, fd: u32) -> HostIoResult<(), Self> {
        self.open_files
            .files
            .remove(&fd)
            .map(|_| ())
            .ok_or(errno(HostIoErrno::EBADF))
    }
}

impl HostIoPread for ReplayTarget {
    fn pread(
        &mut self,
        fd: u32,
        count: usize,
        offset: u64,
        buf: &mut [u8],
    ) -> HostIoResult<usize, Self> {
        let file = self
            .open_files
            .files
            .get(&fd)
            .ok_or(errno(HostIoErrno::EBADF))?;
        let n = count.min(buf.len());
        Ok(file.read_at(&mut buf[..n], offset)?)
    }
}

impl HostIoFstat for ReplayTarget {
    fn fstat(&mut self, fd: u32) -> HostIoResult<HostIoStat, Self> {
        let file = self
            .open_files
            .files
            .get(&fd)
            .ok_or(errno(HostIoErrno::EBADF))?;
        let m = file.metadata()?;
        Ok(HostIoStat {
            st_dev: m.dev() as u32,
            st_ino: m.ino() as u32,
            st_mode: HostIoOpenMode::from_bits_truncate(m.mode()),
            st_nlink: m.nlink() as u32,
            st_uid: m.uid(),
            st_gid: m.gid(),
            st_rdev: m.rdev() as u32,
            st_size: m.size(),
            st_blksize: m.blksize(),
            st_blocks: m.blocks(),
            st_atime: m.atime() as u32,
            st_mtime: m.mtime() as u32,
            st_ctime: m.ctime() as u32,
        })
    }
}

impl HostIoSetfs for ReplayTarget {
    fn setfs(&mut self, _fs: FsKind) -> HostIoResult<(), Self> {
        // One process tree, one filesystem view: the trace's.
        Ok(())
    }
}
