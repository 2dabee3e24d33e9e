//! The program's own seccomp filters, beside the recorder's.
//!
//! The recorder's filter lets the library's buffered calls run without a
//! stop and makes every other call stop for the tracer; without the
//! buffer, it stops only calls through the legacy vsyscall page. A filter the
//! program adds runs too, and its ERRNO, TRAP or KILL outranks the
//! recorder's TRACE: the call never stops. So a thread under a filter of
//! its own is stepped with PTRACE_SYSCALL, whose entry stop comes before
//! any filter, and the library stops buffering in that process.
//!
//! What the program asks about seccomp, no_new_privs and its tracer
//! (`prctl`, its own `/proc/self/status`) is answered as if the recorder's
//! filter were not there.
//!
//! A filter of the program's own that returns `SECCOMP_RET_TRACE` makes
//! the call fail with ENOSYS natively, where the program has no tracer of
//! its own. Traced, it stops for the recorder instead (its stop carries
//! the program's return data, not ours), which skips the call and gives
//! it that ENOSYS.
//!
//! Strict mode cannot be entered under a filter, so under the recorder's
//! the recorder enforces it: the request succeeds, the thread is stepped at
//! every syscall entry like one with a filter of its own, and a call
//! strict mode forbids gets the kernel's answer, SIGKILL at its entry.

use crate::recorder::{Recorder, Step};
use crate::syscalls::Returned;
use syscall_model::is_error_result;
use tracee::ptrace::{self, Resume};
use tracee::{regs, Pid};

/// Why a call a filter of the program's own traced failed with ENOSYS.
const NO_TRACER_OF_ITS_OWN: &str = "a seccomp filter of the program's own returned \
     SECCOMP_RET_TRACE, and the program has no tracer of its own: the kernel skips the call";

impl Recorder {
    /// The seccomp mode the program sees: the syscall buffer's filter is
    /// the recorder's. Strict mode cannot be set under that filter (the
    /// kernel refuses it), so the recorder takes it on itself.
    pub(crate) fn seccomp_query(
        &mut self,
        tid: Pid,
        nr: u64,
        args: &[u64; 6],
    ) -> Step<Option<i64>> {
        const PR_GET_SECCOMP: u64 = 21;
        const PR_SET_SECCOMP: u64 = 22;
        const PR_GET_NO_NEW_PRIVS: u64 = 39;
        const SECCOMP_SET_MODE_STRICT: u64 = 0;
        const SECCOMP_MODE_STRICT: u64 = 1;
        const SECCOMP_MODE_FILTER: i64 = 2;
        if !self.recorder_filter {
            return Ok(None);
        }
        let strict_request = match nr as i64 {
            libc::SYS_prctl if args[0] == PR_GET_SECCOMP => {
                let own = self.task(tid)?.modes.own_seccomp;
                return Ok(Some(if own { SECCOMP_MODE_FILTER } else { 0 }));
            }
            libc::SYS_prctl
                if args[0] == PR_GET_NO_NEW_PRIVS
                    && args[1..5] == [0; 4]
                    && self.set_no_new_privs =>
            {
                return Ok(Some(i64::from(self.task(tid)?.modes.own_no_new_privs)));
            }
            libc::SYS_prctl => args[0] == PR_SET_SECCOMP && args[1] == SECCOMP_MODE_STRICT,
            libc::SYS_seccomp => args[0] == SECCOMP_SET_MODE_STRICT,
            _ => false,
        };
        if !strict_request {
            return Ok(None);
        }
        if nr == libc::SYS_seccomp as u64 && (args[1] != 0 || args[2] != 0) {
            // The kernel's answer to strict mode with flags or a filter.
            return Ok(Some(-(libc::EINVAL as i64)));
        }
        let task = self.task(tid)?;
        task.modes.strict_seccomp = true;
        task.modes.own_seccomp = true;
        let tgid = task.tgid;
        // The library's buffered calls would not stop: every call of the
        // process goes to the tracer from now on.
        self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)?;
        Ok(Some(0))
    }

    /// At a syscall entry of a thread in the strict mode the recorder
    /// enforces: a call strict mode forbids kills the thread before it
    /// runs, as the kernel does (`SIGKILL`). Returns whether it does.
    pub(crate) fn strict_seccomp_kills(&mut self, tid: Pid, nr: u64, rip: u64) -> Step<bool> {
        let task = self.task(tid)?;
        let tgid = task.tgid;
        if !task.modes.strict_seccomp || self.is_library_call(tgid, rip) {
            return Ok(false);
        }
        let allowed = [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_exit,
            libc::SYS_rt_sigreturn,
        ];
        if nr == syscallbuf::CONTROL_SYSCALL || allowed.contains(&(nr as i64)) {
            return Ok(false);
        }
        if self.tasks.values().any(|t| t.tgid == tgid && t.tid != tid) {
            // The kernel ends only this thread; a SIGKILL would end all.
            return Err(self.refuse(
                tid,
                "a thread in strict seccomp mode made a forbidden call while other threads \
                 run, which ends only that thread; the recorder cannot end one thread of \
                 several under the syscall buffer; record with --no-syscall-buffer",
            ));
        }
        // Pending at the entry stop, SIGKILL keeps the call from running.
        tracee::ptrace::tgkill(tgid, tid, libc::SIGKILL)?;
        Ok(true)
    }

    /// After a syscall's exit: a seccomp filter the program installed
    /// itself. The thread then stops at every syscall entry (see
    /// `resume_user`), and the process's library stops buffering: a call
    /// the filter traps would raise SIGSYS inside the library, where replay
    /// has no syscall to stop at.
    pub(crate) fn note_own_seccomp(&mut self, call: &Returned) -> Step {
        let Returned {
            tid,
            tgid,
            nr,
            args,
            result,
        } = *call;
        const PR_SET_SECCOMP: u64 = 22;
        const PR_SET_NO_NEW_PRIVS: u64 = 38;
        const SECCOMP_MODE_FILTER: u64 = 2;
        const SECCOMP_SET_MODE_FILTER: u64 = 1;
        const SECCOMP_FILTER_FLAG_TSYNC: u64 = 1;
        if nr == libc::SYS_prctl as u64 && args[0] == PR_SET_NO_NEW_PRIVS && result == 0 {
            self.task(tid)?.modes.own_no_new_privs = true;
            return Ok(());
        }
        let (installed, all_threads) = match nr as i64 {
            libc::SYS_prctl => (
                args[0] == PR_SET_SECCOMP && args[1] == SECCOMP_MODE_FILTER,
                false,
            ),
            libc::SYS_seccomp => (
                args[0] == SECCOMP_SET_MODE_FILTER,
                args[1] & SECCOMP_FILTER_FLAG_TSYNC != 0,
            ),
            _ => (false, false),
        };
        if !installed || is_error_result(result) {
            return Ok(());
        }
        for task in self.tasks.values_mut() {
            if task.tid == tid || (all_threads && task.tgid == tgid) {
                task.modes.own_seccomp = true;
            }
        }
        self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)
    }

    /// At a seccomp stop of `tid`: whether a filter of the program's own
    /// made it (its return data is not ours). Read only for a thread under
    /// such a filter, as it costs a ptrace call.
    pub(crate) fn stopped_by_own_filter(&mut self, tid: Pid) -> Step<bool> {
        if !self.task(tid)?.modes.own_seccomp {
            return Ok(false);
        }
        Ok(ptrace::seccomp_return_data(tid)? != tracee::spawn::RECORDER_TRACE_DATA)
    }

    /// A seccomp stop that came after the entry stop of `tid`'s call (it
    /// runs under PTRACE_SYSCALL). One the program's own filter made
    /// skips the call, which then fails with ENOSYS as natively, where no
    /// tracer of the program's own is attached.
    pub(crate) fn seccomp_stop_after_entry(&mut self, tid: Pid) -> Step {
        if self.stopped_by_own_filter(tid)? {
            let mut skipped = regs::get(tid)?;
            skipped.orig_rax = u64::MAX;
            regs::set(tid, &skipped)?;
            if let Some(call) = self.task(tid)?.syscall.as_mut() {
                call.forced = Some((-(libc::ENOSYS as i64), NO_TRACER_OF_ITS_OWN));
            }
        }
        ptrace::resume(tid, Resume::Syscall, 0)?;
        Ok(())
    }

    /// Which of the recorder's marks show in `tid`'s status.
    pub(crate) fn recorder_marks(&mut self, tid: Pid) -> Step<crate::proc_text::Marks> {
        let task = self.task(tid)?;
        let (own_seccomp, own_no_new_privs) = (task.modes.own_seccomp, task.modes.own_no_new_privs);
        Ok(crate::proc_text::Marks {
            seccomp_filter: self.recorder_filter && !own_seccomp,
            no_new_privs: self.set_no_new_privs && !own_no_new_privs,
        })
    }
}
