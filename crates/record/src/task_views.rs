//! What the program reads of another task's state in `/proc`. The kernel
//! shows every task the recorder holds as stopped by its tracer (`t`),
//! where natively it runs, or a signal stopped it (`T`); and its status
//! names the recorder as its tracer. Once a process opens such a file its
//! reads of procfs files take the traced path (`syscallbuf::task_state`),
//! and their text is edited here before it is logged, so replay returns
//! what a native run would have read.

use crate::recorder::{Recorder, Step};
use crate::syscalls::Returned;
use std::os::unix::ffi::OsStrExt;
use syscall_model::Returns;
use syscallbuf::task_state::{self, Format};
use tracee::Pid;

impl Recorder {
    /// After an open's exit: another task's state file opened.
    pub(crate) fn note_task_state_open(&mut self, call: &Returned) -> Step {
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
        if !opens_fd || result < 0 || state_file_of(tid, result as u64).is_none() {
            return Ok(());
        }
        if self.task_state_readers.insert(tgid) {
            self.update_fd_generation(tgid, |g| g | syscallbuf::PROC_READS_TRACED)?;
        }
        Ok(())
    }

    /// At a traced read's exit: a read of a recorded task's state file
    /// shows the state a native run would, and no tracer. Returns the
    /// read's result, shorter where the text got shorter.
    pub(crate) fn show_native_task_state(
        &mut self,
        tid: Pid,
        nr: u64,
        args: &[u64; 6],
        result: i64,
    ) -> Step<i64> {
        let is_read = nr == libc::SYS_read as u64 || nr == libc::SYS_pread64 as u64;
        let tgid = self.task(tid)?.tgid;
        if !is_read || result <= 0 || !self.task_state_readers.contains(&tgid) {
            return Ok(result);
        }
        let Some((target, format)) = state_file_of(tid, args[0]) else {
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
        len = task_state::show_state(&mut text, len, format, state, may_shrink);
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
}

/// The task whose state `fd` of `tid` shows, when it is a state file.
fn state_file_of(tid: Pid, fd: u64) -> Option<(u32, Format)> {
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    task_state::state_file(link.as_os_str().as_bytes())
}
