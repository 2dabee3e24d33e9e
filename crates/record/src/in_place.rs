//! Syscalls whose exit the recorder waits for right after their entry,
//! before any other thread's event: their order against other threads'
//! events matters to replay.

use crate::recorder::{Recorder, Step};
use crate::task::RunState;
use trace::event::{EventKind, MemWrite};
use tracee::ptrace::{self, Stop, WaitResult};
use tracee::Pid;

impl Recorder {
    /// A write to the recorder's own stdout or stderr finishes before any
    /// other thread runs: replay prints in log order, and two processes'
    /// writes still in the kernel together could reach the pipe in the
    /// other order than their exits are logged. (The reader is outside the
    /// recording, so waiting for it cannot deadlock the tracees.)
    pub(crate) fn writes_to_output(&self, tid: Pid, nr: u64, args: &[u64; 6]) -> bool {
        match syscall_model::syscall(nr).and_then(|row| row.fd_write) {
            Some(write) => self.output.classify(tid, args[write.fd] as i64).is_some(),
            None => false,
        }
    }

    /// A write into a file some process maps shared: its bytes show in the
    /// mapping as the kernel copies them, so no other thread may run until
    /// the exit is logged (replay puts them there at the exit).
    pub(crate) fn writes_shared_mapping(&self, tid: Pid, nr: u64, args: &[u64; 6]) -> bool {
        syscall_model::syscall(nr)
            .and_then(|row| row.fd_write)
            .is_some_and(|write| self.shared_file_of(tid, args[write.fd]).is_some())
    }

    /// Runs a syscall that changes the address space to its exit and logs
    /// that exit at once, before any other thread's event. Replay applies
    /// mappings in trace order; while a munmap was in the kernel, another
    /// thread's mmap could complete, reuse the freed range and be logged
    /// first, and replay then mapped it before freeing the range and lost
    /// it (a thread's syscall buffer, in many_short_lived_threads).
    pub(crate) fn exit_in_place(&mut self, tid: Pid) -> Step {
        loop {
            let stop = ptrace::wait_for(tid)?;
            if self.in_place_stop(tid, stop)? {
                return Ok(());
            }
        }
    }

    /// Handles a stop of a thread the recorder waits for in place; true
    /// once the syscall's exit (or whatever ended it) has been handled.
    fn in_place_stop(&mut self, tid: Pid, stop: WaitResult) -> Step<bool> {
        match stop {
            // Under PTRACE_SYSCALL the seccomp stop follows the entry.
            WaitResult::Stopped(_, Stop::Event { event, .. })
                if event == libc::PTRACE_EVENT_SECCOMP =>
            {
                self.seccomp_stop_after_entry(tid)?;
                Ok(false)
            }
            WaitResult::Stopped(_, Stop::Syscall) => {
                self.task(tid)?.state = RunState::Stopped;
                self.syscall_exit(tid)?;
                Ok(true)
            }
            other => {
                self.on_wait(other)?;
                Ok(true)
            }
        }
    }

    /// A thread that blocks in FUTEX_LOCK_PI has already marked the futex
    /// word contended (FUTEX_WAITERS), and the owner's user code reads that
    /// bit to decide whether to unlock through the kernel. Replay applies
    /// the call's writes only at its exit, so the word as the block left it
    /// is logged now, before any other thread runs.
    pub(crate) fn log_pi_futex_block(&mut self, tid: Pid, tgid: Pid, word: u64) -> Step {
        let deadline = std::time::Instant::now() + PI_BLOCK_WAIT;
        loop {
            let slice = std::time::Duration::from_micros(100);
            if let Some(stop) = ptrace::wait_for_within(tid, slice)? {
                // It returned without blocking: its exit has the word.
                if self.in_place_stop(tid, stop)? {
                    return Ok(());
                }
                continue;
            }
            if ptrace::is_blocked(tid) {
                let Ok(value) = self.memory(tgid)?.read(word, 4) else {
                    return Ok(());
                };
                self.log(
                    tid,
                    EventKind::KernelWrite {
                        writes: vec![MemWrite { addr: word, len: 4 }],
                    },
                    vec![value],
                )?;
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Ok(());
            }
        }
    }
}

/// How long the recorder waits for a FUTEX_LOCK_PI to block or return.
const PI_BLOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The futex word of a FUTEX_LOCK_PI or FUTEX_LOCK_PI2.
pub(crate) fn locks_pi_futex(nr: u64, args: &[u64; 6]) -> Option<u64> {
    const PRIVATE_AND_CLOCK: u64 = 128 | 256;
    let lock = matches!(args[1] & !PRIVATE_AND_CLOCK, 6 | 13);
    (nr == libc::SYS_futex as u64 && lock).then_some(args[0])
}
