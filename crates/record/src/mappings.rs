//! Files and segments the program maps: what the trace keeps of them, and
//! which ones replay must share a copy of, so that writes to the file show
//! in the mapping as they did (docs/decisions/0011).

use crate::recorder::{Failure, Recorder, Step, StopRecording};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use trace::event::SyscallExtra;
use tracee::Pid;

impl Recorder {
    /// The identity of the file behind `fd`, if some process maps it shared.
    pub(crate) fn shared_file_of(&self, tid: Pid, fd: u64) -> Option<trace::event::FileIdentity> {
        if self.shared_files.is_empty() {
            return None;
        }
        let meta = std::fs::metadata(format!("/proc/{tid}/fd/{fd}")).ok()?;
        let identity = trace::event::FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        self.shared_files.contains(&identity).then_some(identity)
    }

    /// A write that landed in a file some process maps shared, and where.
    pub(crate) fn shared_file_write(
        &self,
        tid: Pid,
        nr: i64,
        args: &[u64; 6],
        result: i64,
    ) -> Option<SyscallExtra> {
        let identity = self.shared_file_of(tid, args[0])?;
        let explicit =
            syscall_model::syscall(nr as u64).and_then(|row| row.fd_write?.explicit_offset(args));
        let offset = match explicit {
            Some(offset) => offset,
            // From the current position, which the write moved past it.
            None => {
                crate::output::file_position(tid, args[0] as i64)?.checked_sub(result as u64)?
            }
        };
        Some(SyscallExtra::SharedFileWrite { identity, offset })
    }

    /// A SysV shared-memory segment just attached at `addr`: its bytes now,
    /// and an identity (the segment id, under a device number no file has)
    /// so that replay maps one shared copy per segment, as for files.
    pub(crate) fn attached_segment(
        &mut self,
        tid: Pid,
        tgid: Pid,
        shmid: u64,
        addr: u64,
    ) -> Step<SyscallExtra> {
        let len = tracee::maps::read(tid)?
            .into_iter()
            .find(|m| m.start == addr)
            .map_or(0, |m| m.end - m.start);
        let bytes = self.memory(tgid)?.read(addr, len as usize)?;
        let file = self
            .writer
            .store_bytes(&format!("SYSV shm {shmid}"), &bytes, false)?;
        let identity = trace::event::FileIdentity {
            dev: trace::event::SYSV_SHM_DEVICE,
            ino: shmid,
        };
        Ok(SyscallExtra::MmapShared { file, identity })
    }

    /// Captures the file behind a file-backed mmap so the trace replays after
    /// the file changed or disappeared.
    pub(crate) fn mapped_file(
        &mut self,
        tid: Pid,
        fd: i32,
    ) -> Step<Option<(trace::event::FileRef, trace::event::FileIdentity)>> {
        let proc_path = format!("/proc/{tid}/fd/{fd}");
        let target = std::fs::read_link(&proc_path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = std::fs::metadata(&proc_path).map_err(|e| {
            Failure::Stop(StopRecording(format!(
                "cannot inspect the file behind mmap of fd {fd} in thread {tid}: {e}"
            )))
        })?;
        if meta.is_file() {
            let mut file =
                self.writer
                    .store_file_with_metadata(Path::new(&proc_path), &meta, false)?;
            file.path = target;
            let identity = trace::event::FileIdentity {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            return Ok(Some((file, identity)));
        }
        if target == "/dev/zero" {
            return Ok(None);
        }
        Err(Failure::Stop(StopRecording(format!(
            "mmap of {target} (fd {fd}) is not supported: only regular files and /dev/zero can be mapped during recording"
        ))))
    }
}

/// Whether `fd` of `tid` was opened read-write (`/proc/TID/fdinfo`): a
/// private mapping made through it is of a file the program means to
/// write, and its pages not yet copied show those writes.
pub(crate) fn opened_for_writing(tid: Pid, fd: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
            .is_some_and(|flags| flags & libc::O_ACCMODE as u32 == libc::O_RDWR as u32)
    })
}
