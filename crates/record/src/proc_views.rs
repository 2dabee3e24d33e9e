//! `/proc` files whose text shows the recorder, edited to what a native
//! run would read (`syscallbuf::proc_views`): another task's state (the
//! kernel shows every task the recorder holds as stopped by its tracer,
//! `t`, where natively it runs, or a signal stopped it, `T`; and its status
//! names the recorder as its tracer), and `/proc/cpuinfo`'s flags for the
//! features CPUID hides. Once a process opens such a file its reads of
//! procfs files take the traced path, and their text is edited here
//! before it is logged, so replay returns the edited bytes.

use crate::recorder::{Recorder, Step};
use crate::syscalls::Returned;
use std::os::unix::ffi::OsStrExt;
use syscall_model::Returns;
use syscallbuf::proc_views::{self, Format};
use tracee::Pid;

impl Recorder {
    /// After an open's exit: a file the recorder edits opened.
    pub(crate) fn note_proc_view_open(&mut self, call: &Returned) -> Step {
        let Returned {
            tid,
            tgid,
            nr,
            result,
            ..
        } = *call;
        let opens_fd = syscall_model::syscall(nr).is_some_and(|row| {
            row.returns == Returns::Fd
                && row
                    .arg_of_kind(syscall_model::decode::ArgKind::Path)
                    .is_some()
        });
        let edited = |path: &[u8]| proc_views::edited_by_recorder(path);
        if !opens_fd || result < 0 || !fd_path(tid, result as u64).is_some_and(|p| edited(&p)) {
            return Ok(());
        }
        if self.proc_view_readers.insert(tgid) {
            self.update_fd_generation(tgid, |g| g | syscallbuf::PROC_READS_TRACED)?;
        }
        Ok(())
    }

    /// At a traced read's exit: a read of a recorded task's state file
    /// shows the state a native run would, and no tracer; one of
    /// cpuinfo no hidden flag. Returns the read's result, shorter where
    /// the text got shorter.
    pub(crate) fn show_native_proc_view(
        &mut self,
        tid: Pid,
        nr: u64,
        args: &[u64; 6],
        result: i64,
    ) -> Step<i64> {
        let is_read = nr == libc::SYS_read as u64 || nr == libc::SYS_pread64 as u64;
        let tgid = self.task(tid)?.tgid;
        if !is_read || result <= 0 || !self.proc_view_readers.contains(&tgid) {
            return Ok(result);
        }
        let Some(path) = fd_path(tid, args[0]) else {
            return Ok(result);
        };
        if path == proc_views::CPUINFO {
            return self.hide_cpu_flags(tgid, args[1], result);
        }
        let Some((target, format)) = proc_views::state_file(&path) else {
            return Ok(result);
        };
        let target = target as Pid;
        let Some(target_tgid) = self.tasks.get(&target).map(|t| t.tgid) else {
            // Not a task of the recording: nothing of ours shows there.
            return Ok(result);
        };
        let state = if self.group_stopped.contains(&target) {
            b'T'
        } else {
            b'R'
        };
        let marks = self.recorder_marks(target)?;
        let mem = self.memory(tgid)?;
        let original = mem.read(args[1], result as usize)?;
        let mut text = original.clone();
        let may_shrink = (result as u64) < args[2];
        let mut len = text.len();
        if format == Format::Status {
            len = syscallbuf::status::hide_recorder(
                &mut text,
                len,
                target_tgid as u64,
                marks,
                may_shrink,
            );
        }
        len = proc_views::show_state(&mut text, len, format, state, may_shrink);
        if text == original && len == original.len() {
            return Ok(result);
        }
        mem.write(args[1], &text[..len])?;
        if len != original.len() {
            let mut regs = tracee::regs::get(tid)?;
            regs.rax = len as u64;
            tracee::regs::set(tid, &regs)?;
        }
        Ok(len as i64)
    }

    /// The cpuinfo text the read put at `buf` with the hidden features'
    /// flags blanked out (the same length: nothing moves).
    fn hide_cpu_flags(&mut self, tgid: Pid, buf: u64, result: i64) -> Step<i64> {
        if self.hidden_cpu_flags.is_empty() {
            return Ok(result);
        }
        let hidden: Vec<&str> = self.hidden_cpu_flags.iter().map(String::as_str).collect();
        let mem = self.memory(tgid)?;
        let original = mem.read(buf, result as usize)?;
        let mut text = original.clone();
        proc_views::hide_cpu_flags(&mut text, &hidden);
        if text != original {
            mem.write(buf, &text)?;
        }
        Ok(result)
    }
}

/// The path `fd` of `tid` was opened with.
fn fd_path(tid: Pid, fd: u64) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    Some(link.as_os_str().as_bytes().to_vec())
}
