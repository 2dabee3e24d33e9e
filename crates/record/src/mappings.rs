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
        let meta = tracee::stat::cached(&format!("/proc/{tid}/fd/{fd}"))?;
        let identity = trace::event::FileIdentity {
            dev: meta.dev,
            ino: meta.ino,
        };
        self.shared_files.contains(&identity).then_some(identity)
    }

    /// A file some process maps so that later changes to the file show in
    /// the mapping. From now on every process's writes to regular files
    /// take the traced path: any of them may have the file open, from
    /// before the mapping (a fork) or by name.
    pub(crate) fn share_file(&mut self, identity: trace::event::FileIdentity) -> Step {
        if !self.shared_files.insert(identity) {
            return Ok(());
        }
        // Processes that are gone keep their hook state until reaped.
        let processes: Vec<Pid> = self
            .hooks
            .keys()
            .copied()
            .filter(|tgid| self.memories.contains_key(tgid))
            .collect();
        for tgid in processes {
            self.update_fd_generation(tgid, |g| g | syscallbuf::SHARED_FILE_WRITES_TRACED)?;
        }
        Ok(())
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
        const RWF_APPEND: u64 = 0x10;
        let appends = fd_flags(tid, args[0]).is_some_and(|f| f & libc::O_APPEND as u32 != 0)
            || (nr == libc::SYS_pwritev2 && args[5] & RWF_APPEND != 0);
        let offset = match explicit {
            // An append ignores the offset it names and leaves the
            // position alone: the bytes are the file's last.
            Some(_) if appends => tracee::stat::cached(&format!("/proc/{tid}/fd/{}", args[0]))?
                .size
                .checked_sub(result as u64)?,
            Some(offset) => offset,
            // From the current position, which the write moved past it.
            None => {
                crate::output::file_position(tid, args[0] as i64)?.checked_sub(result as u64)?
            }
        };
        Some(SyscallExtra::SharedFileWrite { identity, offset })
    }

    /// A call that changed a file some process maps shared, with no bytes
    /// of the change in the caller's memory: the file's new length, and
    /// the bytes it changed, as they are now (pushed on `payloads`).
    pub(crate) fn shared_file_change(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: i64,
        args: &[u64; 6],
        result: i64,
        payloads: &mut Vec<Vec<u8>>,
    ) -> Step<Option<SyscallExtra>> {
        if self.shared_files.is_empty() || result < 0 {
            return Ok(None);
        }
        let Some(change) = self.file_change(tid, tgid, nr, args, result)? else {
            return Ok(None);
        };
        let Some(meta) = tracee::stat::cached(&change.path) else {
            return Ok(None);
        };
        let identity = trace::event::FileIdentity {
            dev: meta.dev,
            ino: meta.ino,
        };
        if !self.shared_files.contains(&identity) {
            return Ok(None);
        }
        let file_len = meta.size;
        let (offset, end) = match change.range {
            Some((start, end)) => (start.min(file_len), end.min(file_len)),
            None => (0, 0),
        };
        let len = end - offset;
        if len > trace::MAX_MEM_WRITE {
            return Err(Failure::Stop(StopRecording(format!(
                "{} changed {len} bytes of {} at once, which some process maps shared; \
                 a trace holds at most {} bytes per change, so recording stopped rather \
                 than replay a wrong copy (thread {tid})",
                syscall_model::name(nr as u64).unwrap_or("a call"),
                change.path,
                trace::MAX_MEM_WRITE
            ))));
        }
        let bytes = read_file_range(&change.path, offset, len as usize).map_err(|e| {
            Failure::Stop(StopRecording(format!(
                "cannot read {} after {} changed it (thread {tid}): {e}",
                change.path,
                syscall_model::name(nr as u64).unwrap_or("a call"),
            )))
        })?;
        payloads.push(bytes);
        Ok(Some(SyscallExtra::SharedFileChanged {
            identity,
            file_len,
            offset,
            len,
        }))
    }

    /// Which file a call changed without writing bytes from memory, and
    /// which of its bytes (`None`: only its length).
    fn file_change(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: i64,
        args: &[u64; 6],
        result: i64,
    ) -> Step<Option<FileChange>> {
        let fd_path = |fd: u64| format!("/proc/{tid}/fd/{fd}");
        // Bytes copied in from another file: they end where the offset
        // the call moved now is.
        let copied_to =
            |fd: u64, offset_at: u64, recorder: &mut Self| -> Step<Option<FileChange>> {
                if result == 0 {
                    return Ok(None);
                }
                let end = if offset_at != 0 {
                    let mut word = [0u8; 8];
                    recorder.memory(tgid)?.read_into(offset_at, &mut word)?;
                    u64::from_le_bytes(word)
                } else {
                    let Some(position) = crate::output::file_position(tid, fd as i64) else {
                        return Ok(None);
                    };
                    position
                };
                let start = end.saturating_sub(result as u64);
                Ok(Some(FileChange {
                    path: fd_path(fd),
                    range: Some((start, end)),
                }))
            };
        Ok(match nr {
            libc::SYS_copy_file_range | libc::SYS_splice => copied_to(args[2], args[3], self)?,
            libc::SYS_sendfile => copied_to(args[0], 0, self)?,
            libc::SYS_fallocate => {
                let (mode, offset, len) = (args[1] as i32, args[2], args[3]);
                let range = if mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0
                {
                    Some((offset, offset.saturating_add(len)))
                } else if mode & (libc::FALLOC_FL_COLLAPSE_RANGE | libc::FALLOC_FL_INSERT_RANGE)
                    != 0
                {
                    // Everything after the offset moved.
                    Some((offset, u64::MAX))
                } else {
                    None
                };
                Some(FileChange {
                    path: fd_path(args[0]),
                    range,
                })
            }
            libc::SYS_truncate => {
                let path = self
                    .memory(tgid)?
                    .read_cstring(args[0], libc::PATH_MAX as usize)?;
                let path = if path.starts_with('/') {
                    path
                } else {
                    format!("/proc/{tid}/cwd/{path}")
                };
                Some(FileChange { path, range: None })
            }
            libc::SYS_open | libc::SYS_openat | libc::SYS_creat => {
                let flags = match nr {
                    libc::SYS_open => args[1],
                    libc::SYS_openat => args[2],
                    _ => libc::O_TRUNC as u64,
                };
                (flags & libc::O_TRUNC as u64 != 0).then(|| FileChange {
                    path: fd_path(result as u64),
                    range: None,
                })
            }
            libc::SYS_openat2 => {
                // struct open_how starts with the flags.
                let mut word = [0u8; 8];
                self.memory(tgid)?.read_into(args[2], &mut word)?;
                (u64::from_le_bytes(word) & libc::O_TRUNC as u64 != 0).then(|| FileChange {
                    path: fd_path(result as u64),
                    range: None,
                })
            }
            _ => None,
        })
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
            .log
            .files()
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
        (mapped_at, mapped_len): (u64, u64),
    ) -> Step<Option<(trace::event::FileRef, trace::event::FileIdentity)>> {
        let mut proc_path = format!("/proc/{tid}/fd/{fd}");
        let mut meta = std::fs::metadata(&proc_path);
        // Another thread may close the descriptor, or open another file on
        // its number, once the mapping is made (the call returned before
        // this exit stop was handled, and that thread may run while the
        // file is read): a regular file is read through the mapping, which
        // keeps naming it. (Only a privileged recorder may open map_files.)
        if meta.as_ref().map_or(true, |m| m.is_file()) {
            if let Some(mapping) = mapping_file_path(tid, mapped_at, mapped_len) {
                if let Ok(mapped) = std::fs::metadata(&mapping) {
                    if mapped.is_file() {
                        meta = Ok(mapped);
                        proc_path = mapping;
                    }
                }
            }
        }
        let target = std::fs::read_link(&proc_path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = meta.map_err(|e| {
            Failure::Stop(StopRecording(format!(
                "cannot inspect the file behind mmap of fd {fd} in thread {tid}: {e}"
            )))
        })?;
        if target.starts_with("/secretmem") {
            return Err(Failure::Stop(StopRecording(format!(
                "mmap of a memfd_secret file (fd {fd}) is not supported: the kernel hides \
                 secret memory from every other process, the recorder included, so what \
                 the program and the kernel write there cannot be recorded"
            ))));
        }
        if meta.is_file() {
            let mut file =
                self.log
                    .files()
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

/// `/proc/TID/map_files/START-END` of the file mapping made at `addr`,
/// `len` bytes long: usually exactly the new mapping; where the kernel
/// merged it with a neighbour, the merged one from the maps.
fn mapping_file_path(tid: Pid, addr: u64, len: u64) -> Option<String> {
    const PAGE: u64 = 4096;
    let end = addr.checked_add(len.checked_add(PAGE - 1)? & !(PAGE - 1))?;
    let exact = format!("/proc/{tid}/map_files/{addr:x}-{end:x}");
    if std::fs::symlink_metadata(&exact).is_ok() {
        return Some(exact);
    }
    let entry = tracee::maps::read(tid)
        .ok()?
        .into_iter()
        .find(|m| (m.start..m.end).contains(&addr) && m.inode != 0)?;
    Some(format!(
        "/proc/{tid}/map_files/{:x}-{:x}",
        entry.start, entry.end
    ))
}

/// A file a call changed: a path that names it for the recorder, and the
/// byte range whose contents changed, if any did.
struct FileChange {
    path: String,
    range: Option<(u64, u64)>,
}

/// `len` bytes of the file at `path` from `offset`.
fn read_file_range(path: &str, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut bytes = vec![0u8; len];
    std::fs::File::open(path)?.read_exact_at(&mut bytes, offset)?;
    Ok(bytes)
}

/// The open(2) flags `fd` of `tid` was opened with (`/proc/TID/fdinfo`).
fn fd_flags(tid: Pid, fd: u64) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
}

/// Whether a private mapping through `fd` of `tid` may see later writes to
/// its file: the pages not yet copied show them. True when the descriptor
/// was opened read-write (the program means to write the file), and for a
/// read-only descriptor of a data file of the program's own (the program
/// may write it through another descriptor). Libraries and the system's
/// read-only data (`ld.so.cache`, locale archives, a JDK's modules) are
/// left out: every process maps them, and tracking them would send every
/// write to a regular file down the traced path (decision 0011).
pub(crate) fn private_mapping_follows_writes(tid: Pid, fd: u64, path: &str) -> bool {
    let Some(flags) = fd_flags(tid, fd) else {
        return false;
    };
    if flags & libc::O_ACCMODE as u32 == libc::O_RDWR as u32 {
        return true;
    }
    const SYSTEM_DIRS: [&str; 10] = [
        "/usr/", "/lib/", "/lib32/", "/lib64/", "/bin/", "/sbin/", "/etc/", "/opt/", "/nix/",
        "/snap/",
    ];
    path.starts_with('/')
        && !SYSTEM_DIRS.iter().any(|dir| path.starts_with(dir))
        && !is_elf_object(&format!("/proc/{tid}/fd/{fd}"))
}

/// Whether the file begins with the ELF magic: a library or program, which
/// nothing writes while it runs.
fn is_elf_object(path: &str) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}
