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
            return self.hide_cpu_flags(tid, tgid, args, result);
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
        self.edit_read(tid, tgid, args, result, |text, mut len, may_shrink| {
            if format == Format::Status {
                let tgid = target_tgid as u64;
                len = syscallbuf::status::hide_recorder(text, len, tgid, marks, may_shrink);
            }
            proc_views::show_state(text, len, format, state, may_shrink)
        })
    }

    /// The cpuinfo text the read put in its buffer with the hidden
    /// features' flags blanked out (the same length: nothing moves).
    fn hide_cpu_flags(&mut self, tid: Pid, tgid: Pid, args: &[u64; 6], result: i64) -> Step<i64> {
        if self.hidden_cpu_flags.is_empty() {
            return Ok(result);
        }
        let hidden = self.hidden_cpu_flags.clone();
        self.edit_read(tid, tgid, args, result, |text, len, _| {
            let hidden: Vec<&str> = hidden.iter().map(String::as_str).collect();
            proc_views::hide_cpu_flags(text, &hidden);
            len
        })
    }
}

/// The path `fd` of `tid` was opened with.
fn fd_path(tid: Pid, fd: u64) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    Some(link.as_os_str().as_bytes().to_vec())
}
