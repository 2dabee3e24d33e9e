//! Writes into another process's memory (or the caller's own) that replay
//! does not make: through `/proc/PID/mem`, and with `process_vm_writev`.
//!
//! Opening `/proc/PID/mem` for writing takes the traced path (the library
//! leaves `/proc` opens with write access to the tracer), and the process's
//! later file writes are traced too. Each write is logged as a kernel write
//! of the bytes now in the target's memory, as the target's event; a target
//! outside the recording stops it. `process_vm_writev` is never buffered;
//! its writes are logged the same way, and one into a process outside the
//! recording changes nothing replay needs.

use crate::recorder::{Recorder, Step};
use crate::syscalls::Returned;
use syscall_model::decode::ArgKind;
use trace::event::{EventKind, MemWrite};
use tracee::Pid;

/// The pid whose memory a `/proc/PID/mem` (or `/proc/PID/task/TID/mem`)
/// path names.
fn proc_mem_target(path: &std::path::Path) -> Option<Pid> {
    let rest = path
        .to_str()?
        .strip_prefix("/proc/")?
        .strip_suffix("/mem")?;
    let pid = match rest.split_once("/task/") {
        Some((_, tid)) => tid,
        None => rest,
    };
    pid.parse().ok()
}

impl Recorder {
    /// After an open's exit: a `/proc/PID/mem` opened for writing.
    pub(crate) fn note_proc_mem_open(&mut self, call: &Returned) -> Step {
        let Returned {
            tid,
            tgid,
            nr,
            args,
            result,
        } = *call;
        // A call that opens a path with open(2) flags: open, openat.
        let Some(flags) = syscall_model::syscall(nr)
            .filter(|row| row.arg_of_kind(ArgKind::Path).is_some())
            .and_then(|row| row.arg_of_kind(ArgKind::OpenFlags))
            .map(|i| args[i])
        else {
            return Ok(());
        };
        if result < 0 || flags & libc::O_ACCMODE as u64 == libc::O_RDONLY as u64 {
            return Ok(());
        }
        let link = std::fs::read_link(format!("/proc/{tid}/fd/{result}"));
        if link.ok().as_deref().and_then(proc_mem_target).is_none() {
            return Ok(());
        }
        self.proc_mem_writers.insert(tgid);
        self.update_fd_generation(tgid, |g| g | syscallbuf::SHARED_FILE_WRITES_TRACED)
    }

    /// At a syscall's entry: whether it writes another thread's memory
    /// (a write through `/proc/PID/mem`, `process_vm_writev`). Its exit is
    /// then waited for before any other thread runs: a thread that polls
    /// the memory would otherwise see the bytes before the exit logs them,
    /// and in replay, where they land at the exit, never.
    pub(crate) fn writes_other_memory(
        &self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
    ) -> bool {
        if nr == libc::SYS_process_vm_writev as u64 {
            return true;
        }
        let Some(write) = syscall_model::syscall(nr).and_then(|row| row.fd_write) else {
            return false;
        };
        self.proc_mem_writers.contains(&tgid)
            && std::fs::read_link(format!("/proc/{tid}/fd/{}", args[write.fd]))
                .ok()
                .as_deref()
                .and_then(proc_mem_target)
                .is_some()
    }

    /// After a write's exit in a process that opened `/proc/PID/mem` for
    /// writing: the bytes it put in the target's memory, as a kernel write.
    pub(crate) fn note_proc_mem_write(&mut self, call: &Returned) -> Step {
        let Returned {
            tid,
            tgid,
            nr,
            args,
            result,
        } = *call;
        let Some(write) = syscall_model::syscall(nr).and_then(|row| row.fd_write) else {
            return Ok(());
        };
        if result <= 0 || !self.proc_mem_writers.contains(&tgid) {
            return Ok(());
        }
        let fd = args[write.fd];
        let Some(target) = std::fs::read_link(format!("/proc/{tid}/fd/{fd}"))
            .ok()
            .as_deref()
            .and_then(proc_mem_target)
        else {
            return Ok(());
        };
        let len = result as u64;
        let at = match write.explicit_offset(&args) {
            Some(offset) => offset,
            // The file position moved past what was written.
            None => match fd_position(tid, fd) {
                Some(position) => position.wrapping_sub(len),
                None => {
                    return Err(self.refuse(
                        tid,
                        "cannot tell where a write through /proc/PID/mem landed",
                    ))
                }
            },
        };
        // The kernel writes the target's memory: the event is the target's.
        let Some(target_tgid) = self.tasks.get(&target).map(|t| t.tgid) else {
            return Err(self.refuse(
                tid,
                format!(
                    "a write through /proc/{target}/mem changes the memory of a process \
                     outside the recording; recording stopped so that the trace is never \
                     silently wrong"
                ),
            ));
        };
        let bytes = self.memory(target_tgid)?.read(at, len as usize)?;
        self.log(
            target,
            EventKind::KernelWrite {
                writes: vec![MemWrite { addr: at, len }],
            },
            vec![bytes],
        )?;
        Ok(())
    }

    /// After `process_vm_writev`'s exit: the bytes it put in the target's
    /// memory, as the target's kernel write.
    pub(crate) fn note_process_vm_write(&mut self, call: &Returned) -> Step {
        let Returned {
            tgid,
            nr,
            args,
            result,
            ..
        } = *call;
        if nr != libc::SYS_process_vm_writev as u64 || result <= 0 {
            return Ok(());
        }
        let Some(target_tgid) = self.tasks.get(&(args[0] as Pid)).map(|t| t.tgid) else {
            return Ok(());
        };
        // The remote iovecs, filled in order up to the bytes written.
        const IOVEC_LEN: usize = 16;
        let count = args[4].min(1024) as usize;
        let iovecs = self.memory(tgid)?.read(args[3], count * IOVEC_LEN)?;
        let mut left = result as u64;
        let mut writes = Vec::new();
        let mut payloads = Vec::new();
        for iov in iovecs.chunks_exact(IOVEC_LEN) {
            if left == 0 {
                break;
            }
            let word = |at: usize| {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&iov[at..at + 8]);
                u64::from_le_bytes(raw)
            };
            let (base, len) = (word(0), word(8).min(left));
            if len == 0 {
                continue;
            }
            payloads.push(self.memory(target_tgid)?.read(base, len as usize)?);
            writes.push(MemWrite { addr: base, len });
            left -= len;
        }
        self.log(args[0] as Pid, EventKind::KernelWrite { writes }, payloads)?;
        Ok(())
    }
}

fn fd_position(tid: Pid, fd: u64) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn mem_paths_name_their_process() {
        assert_eq!(proc_mem_target(Path::new("/proc/42/mem")), Some(42));
        assert_eq!(proc_mem_target(Path::new("/proc/42/task/43/mem")), Some(43));
        assert_eq!(proc_mem_target(Path::new("/proc/42/maps")), None);
        assert_eq!(proc_mem_target(Path::new("/tmp/proc/42/mem")), None);
    }
}
