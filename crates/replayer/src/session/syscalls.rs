//! Replaying syscalls: emulated ones from the log, and the few that shape
//! the address space or task state for real, adjusted to the recording.

use super::{Applied, Expect, ReplaySession};
use crate::divergence::syscall_name;
use crate::task::{InSyscall, ParkedExit, ReplayState};
use crate::{address_space, ReplayError};
use std::io::Write;
use syscall_model::abi::{self, Iovec};
use syscall_model::decode::ArgKind;
use syscall_model::{is_error_result, ReplayPolicy};
use trace::event::{Event, EventKind, MemWrite, OutputStream, Regs, SignalOrigin, SyscallExtra};
use trace::RecordedEvent;
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::{regs, Pid, ProcessMemory};

use syscall_model::{
    MaskAt, Returns, Sent, TaskEffect, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS,
    ERESTART_RESTARTBLOCK,
};
/// `syscall` is 0f 05.
const SYSCALL_INSN_LEN: u64 = 2;
/// The kernel's sigset_t, as rt_sigsuspend takes it.
const SIGSET_SIZE: u64 = 8;

impl ReplaySession {
    /// For a syscall that waits under a temporary signal mask, the signal
    /// that interrupted it in the recording, if the log says one did.
    fn signal_interrupting_mask_wait(
        &mut self,
        event: &Event,
        nr: u64,
    ) -> Result<Option<i32>, ReplayError> {
        let swaps_mask = syscall_model::syscall(nr).is_some_and(|row| row.temporary_mask.is_some());
        if !swaps_mask {
            return Ok(None);
        }
        let interrupted = matches!(
            self.events.peek_exit(event.tid)?.map(|e| &e.event.kind),
            Some(EventKind::SyscallExit {
                result: -4 | ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK,
                ..
            })
        );
        if !interrupted {
            return Ok(None);
        }
        Ok(
            match self.events.peek_second(event.tid)?.map(|e| &e.event.kind) {
                Some(EventKind::Signal {
                    signo,
                    origin: SignalOrigin::Asynchronous,
                    ..
                }) => Some(*signo),
                _ => None,
            },
        )
    }

    /// The length of the memfd mapping replay made for a SysV segment at
    /// `addr`, if that is what is mapped there.
    fn attached_len(&self, real: Pid, addr: u64) -> Result<Option<u64>, ReplayError> {
        Ok(tracee::maps::read(real)?
            .into_iter()
            .find(|m| m.start == addr && m.name.contains("replay-shared-file"))
            .map(|m| m.end - m.start))
    }

    /// Where the temporary signal mask of a mask-swapping wait lies in the
    /// tracee, or None when the call keeps the thread's mask.
    fn temporary_mask(
        &self,
        pid: RecordedTid,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<Option<u64>, ReplayError> {
        let mask = match syscall_model::syscall(nr).and_then(|row| row.temporary_mask) {
            Some(MaskAt::Arg(i)) => args[i],
            Some(MaskAt::Behind(i)) if args[i] != 0 => {
                let pointer = self.process(pid)?.memory.read(args[i], 8)?;
                u64::from_le_bytes(pointer.try_into().unwrap_or_default())
            }
            _ => 0,
        };
        Ok((mask != 0).then_some(mask))
    }

    /// Compares the memory the syscall reads (paths, sent bytes…) with the
    /// recording: a different argument is a divergence even when the
    /// registers agree.
    pub(super) fn compare_inputs(
        &self,
        event: &Event,
        regs: &Regs,
        inputs: &[MemWrite],
        recorded: &[Vec<u8>],
    ) -> Result<(), ReplayError> {
        let memory = &self.process(event.pid)?.memory;
        let args = regs.syscall_args();
        let pollfds = syscall_model::syscall(regs.orig_rax)
            .and_then(|row| row.arg_of_kind(ArgKind::PollFds))
            .map(|i| args[i]);
        for (range, expected) in inputs.iter().zip(recorded) {
            let found = memory
                .read(range.addr, range.len as usize)
                .unwrap_or_default();
            let same = if pollfds == Some(range.addr) {
                same_pollfds(&found, expected)
            } else {
                &found == expected
            };
            if !same {
                let (first, from, expected, found) =
                    crate::divergence::bytes_difference(expected, &found);
                return Err(self.divergence(
                    event,
                    &format!(
                        "memory read by the syscall at {:#x} differs from byte {first} on (shown from byte {from})",
                        range.addr
                    ),
                    expected,
                    found,
                ));
            }
        }
        Ok(())
    }

    /// Runs the current syscall-entry stop to its exit stop.
    pub(super) fn run_to_exit(&mut self, event: &Event, real: Pid) -> Result<(), ReplayError> {
        ptrace::resume(real, Resume::Syscall, 0)?;
        loop {
            match ptrace::wait_for(real)? {
                WaitResult::Stopped(_, Stop::Syscall) => return Ok(()),
                WaitResult::Stopped(_, Stop::Signal(_))
                | WaitResult::Stopped(_, Stop::Event { .. }) => {
                    ptrace::resume(real, Resume::Syscall, 0)?;
                }
                other => {
                    return Err(self.divergence(
                        event,
                        "the replayed thread died inside a syscall",
                        "the syscall to return".into(),
                        format!("{other:?}"),
                    ))
                }
            }
        }
    }

    /// Makes the kernel skip the syscall at this entry stop. A call through
    /// the legacy vsyscall page has no exit stop: the kernel returns to the
    /// caller as soon as the thread resumes, so it stays here, where its
    /// exit event sets the result.
    pub(super) fn skip_syscall(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
    ) -> Result<(), ReplayError> {
        current.orig_rax = u64::MAX;
        regs::set(real, &current)?;
        if tracee::spawn::VSYSCALL_PAGE.contains(&current.rip) {
            return Ok(());
        }
        self.run_to_exit(event, real)
    }

    pub(super) fn syscall_entry(
        &mut self,
        recorded_event: &RecordedEvent,
        recorded: &Regs,
        inputs: &[MemWrite],
    ) -> Result<Applied, ReplayError> {
        let event = &recorded_event.event;
        if self.advance(event, Expect::Syscall)? == Applied::Interrupted {
            return Ok(Applied::Interrupted);
        }
        let real = self.task(event)?.real;
        let current = self.compare_regs(event, recorded, real)?;
        // Registers that match only as the trace keeps an `int $0x80` call.
        let int80_nr = (current.orig_rax != recorded.orig_rax
            || current.syscall_args() != recorded.syscall_args())
        .then_some(current.orig_rax);
        if tracee::stack_print::enabled() {
            let memory = &self.process(event.pid)?.memory;
            tracee::stack_print::log_at_syscall(real, memory, recorded.rsp, event.index);
        }
        self.compare_inputs(event, recorded, inputs, &recorded_event.payloads)?;
        let nr = recorded.orig_rax;
        let args = recorded.syscall_args();
        let policy = syscall_model::replay_policy(nr, &args);
        if let Some(signo) = self.signal_interrupting_mask_wait(event, nr)? {
            // The recorded wait swapped in a temporary signal mask and was
            // interrupted by `signo`. Only the real syscall reproduces the
            // mask the kernel saves for the handler, so queue the signal and
            // let it run.
            let (rec_pid, real) = {
                let task = self.task(event)?;
                task.signal_sent = true;
                (task.rec_pid, task.real)
            };
            let tgid = self.process(rec_pid)?.real_pid;
            // The fds, epoll sets and timeouts the program waited on do not
            // exist in replay (one of those numbers may be a descriptor of
            // replay's own, and be ready), so the wait becomes a plain wait
            // for signals under the same temporary mask: the kernel saves
            // the same mask for the handler, and the recorded result is
            // what the thread sees at the exit.
            let mut wait = current;
            match self.temporary_mask(event.pid, nr, &args)? {
                Some(mask) => {
                    wait.orig_rax = libc::SYS_rt_sigsuspend as u64;
                    wait.rdi = mask;
                    wait.rsi = SIGSET_SIZE;
                }
                None => wait.orig_rax = libc::SYS_pause as u64,
            }
            regs::set(real, &wait)?;
            ptrace::tgkill(tgid, real, signo)?;
            self.run_to_exit(event, real)?;
            let task = self.task(event)?;
            task.syscall = Some(InSyscall {
                regs: *recorded,
                real_result: None,
                int80_nr,
            });
            task.state = ReplayState::InSyscall;
            return Ok(Applied::Done);
        }
        if nr == libc::SYS_set_robust_list as u64 {
            self.task(event)?.robust_list = Some(args[0]);
        }
        if nr == libc::SYS_set_tid_address as u64 {
            self.task(event)?.clear_child_tid = (args[0] != 0).then_some(args[0]);
        }
        let mut real_result = None;
        match policy {
            ReplayPolicy::Emulate => self.skip_syscall(event, real, current)?,
            ReplayPolicy::Execute => {
                real_result = self.execute(event, real, current, nr, &args)?;
            }
        }
        let task = self.task(event)?;
        task.syscall = Some(InSyscall {
            regs: *recorded,
            real_result,
            int80_nr,
        });
        if task.state == ReplayState::Ready {
            task.state = ReplayState::InSyscall;
        }
        Ok(Applied::Done)
    }

    /// A thread that set its CPUs in the recording ran on them, where the
    /// instructions that read the CPU number (`lsl` of the per-CPU
    /// segment, `rdpid`) saw them: at the exit of a call that succeeded,
    /// replay moves its thread there too, as far as this machine allows.
    /// The call's answer is still the recorded one.
    fn follow_affinity(&mut self, event: &Event, args: &[u64; 6]) -> Result<(), ReplayError> {
        let target = match args[0] as i32 {
            0 => event.tid,
            tid => RecordedTid(tid),
        };
        let Some(real) = self.tasks.get(&target).map(|t| t.real) else {
            return Ok(());
        };
        let len = (args[1] as usize).min(std::mem::size_of::<libc::cpu_set_t>());
        let Ok(mask) = self.process(event.pid)?.memory.read(args[2], len) else {
            return Ok(());
        };
        if !tracee::spawn::set_affinity(real, &mask) {
            tracing::debug!(real, "could not move the thread to its recorded CPUs");
        }
        Ok(())
    }

    /// Runs a syscall that shapes the address space or task state for real,
    /// adjusted so that it produces the recorded effect. Returns its result.
    pub(super) fn execute(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<Option<i64>, ReplayError> {
        let nr_i = nr as i64;
        let effect = syscall_model::task_effect(nr);
        let parked = match effect {
            TaskEffect::EndsThread => Some(ParkedExit::Thread),
            TaskEffect::EndsProcess => Some(ParkedExit::Group),
            _ => None,
        };
        if let Some(parked) = parked {
            let task = self.task(event)?;
            task.state = ReplayState::Exiting;
            task.pending_exit = Some(parked);
            return Ok(None);
        }
        if nr_i == libc::SYS_shmdt {
            if let Some(len) = self.attached_len(real, args[0])? {
                // Replay's copy of the segment is a memfd mapping, which
                // shmdt does not know: it is unmapped instead.
                current.orig_rax = libc::SYS_munmap as u64;
                current.rsi = len;
                regs::set(real, &current)?;
            }
        }
        // Replay makes these as the recording did: the mapping at the
        // recorded address, the program the recorded exec loaded, the task
        // under the recorded tid. That needs the recorded exit first.
        let places_memory = matches!(nr_i, libc::SYS_mmap | libc::SYS_shmat | libc::SYS_mremap);
        let needs_exit = places_memory || matches!(effect, TaskEffect::Exec | TaskEffect::NewTask);
        if !needs_exit {
            if self.recorded_failure(event, nr)? || self.recorded_brk_failure(event, nr, args)? {
                // The kernel refused it in the recording (an mprotect of a
                // sealed memfd's mapping, say), so it changed nothing; replay's
                // own copies may lack what made it fail, so it is not run.
                self.skip_syscall(event, real, current)?;
                return Ok(None);
            }
            if nr_i == libc::SYS_prlimit64 && args[0] != 0 {
                if args[0] as i32 != event.pid.raw() {
                    // Another process's limit: nothing of this one's changes.
                    self.skip_syscall(event, real, current)?;
                    return Ok(None);
                }
                // The recorded pid is this process, under another number here.
                current.rdi = 0;
                regs::set(real, &current)?;
            }
            self.run_to_exit(event, real)?;
            return Ok(Some(regs::get(real)?.rax as i64));
        }
        let from_thread = effect == TaskEffect::Exec && event.tid != event.pid;
        // An exec from another thread returns in the group leader's name.
        let exit = if from_thread {
            self.events.peek_exec_exit_past_death(event.pid)?.cloned()
        } else {
            self.events.peek_exit(event.tid)?.cloned()
        };
        let (result, extra) = match &exit {
            Some(RecordedEvent {
                event:
                    Event {
                        kind: EventKind::SyscallExit { result, extra, .. },
                        ..
                    },
                ..
            }) => (*result, extra.clone()),
            _ => (-(libc::ENOSYS as i64), None),
        };
        tracing::debug!(result, ?extra, "look-ahead to the exit");
        // A failure (or a syscall the recording never saw return) is not
        // re-created: its result comes from the log.
        if is_error_result(result) || exit.is_none() {
            self.skip_syscall(event, real, current)?;
            return Ok(None);
        }
        match nr_i {
            libc::SYS_shmat => self.replay_shmat(event, real, current, args, result, extra),
            libc::SYS_mmap => self.replay_mmap(event, real, current, args, result, extra),
            libc::SYS_mremap => {
                if result as u64 != args[0] {
                    current.r10 = args[3] | (libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) as u64;
                    current.r8 = result as u64;
                    regs::set(real, &current)?;
                }
                self.run_to_exit(event, real)?;
                Ok(Some(regs::get(real)?.rax as i64))
            }
            _ if effect == TaskEffect::Exec => {
                let exit = exit.expect("checked above");
                self.replay_exec(event, real, current, nr_i, args, &exit)?;
                Ok(Some(0))
            }
            _ => self
                .replay_clone(
                    event,
                    real,
                    current,
                    nr_i,
                    args,
                    super::tasks::RecordedClone {
                        result,
                        tid: recorded_tid(&extra),
                    },
                )
                .map(Some),
        }
    }

    /// True if this is a `brk` that failed in the recording: it returns the
    /// old break, not the one asked for. A limit the program set
    /// (RLIMIT_DATA, RLIMIT_AS) refused it, which replay, not running
    /// `setrlimit`, would not.
    fn recorded_brk_failure(
        &mut self,
        event: &Event,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<bool, ReplayError> {
        if nr != libc::SYS_brk as u64 || args[0] == 0 {
            return Ok(false);
        }
        Ok(matches!(
            self.events.peek_exit(event.tid)?.map(|e| &e.event.kind),
            Some(EventKind::SyscallExit { result, .. }) if *result as u64 != args[0]
        ))
    }

    /// True if the recording says this call, whose result is a status,
    /// failed.
    fn recorded_failure(&mut self, event: &Event, nr: u64) -> Result<bool, ReplayError> {
        let row = syscall_model::syscall(nr);
        if row.is_some_and(|row| row.returns == Returns::Restored || row.runs_even_failing()) {
            return Ok(false);
        }
        Ok(matches!(
            self.events.peek_exit(event.tid)?.map(|e| &e.event.kind),
            Some(EventKind::SyscallExit { result, .. }) if is_error_result(*result)
        ))
    }

    /// A SysV segment attached in the recording: replay maps its own shared
    /// copy of the segment at the recorded address.
    fn replay_shmat(
        &mut self,
        event: &Event,
        real: Pid,
        current: Regs,
        args: &[u64; 6],
        result: i64,
        extra: Option<SyscallExtra>,
    ) -> Result<Option<i64>, ReplayError> {
        let Some(SyscallExtra::MmapShared { file, identity }) = &extra else {
            // A trace from before format 3: the real call.
            self.run_to_exit(event, real)?;
            return Ok(Some(regs::get(real)?.rax as i64));
        };
        self.skip_syscall(event, real, current)?;
        let copy = self.shared_files.path_for(&self.reader, file, *identity)?;
        let mut prot = libc::PROT_READ as u64;
        if args[2] & libc::SHM_RDONLY as u64 == 0 {
            prot |= libc::PROT_WRITE as u64;
        }
        if args[2] & libc::SHM_EXEC as u64 != 0 {
            prot |= libc::PROT_EXEC as u64;
        }
        address_space::map_shared_file(
            real,
            self.process(event.pid)?,
            &copy,
            address_space::FileMapping {
                file,
                addr: result as u64,
                len: file.size,
                prot,
                offset: 0,
            },
            libc::MAP_SHARED,
        )?;
        Ok(Some(result))
    }

    /// An mmap, made at the recorded address: a shared file mapping onto
    /// replay's shared copy, a private file mapping onto the file's blob,
    /// anonymous memory as itself.
    fn replay_mmap(
        &mut self,
        event: &Event,
        real: Pid,
        mut current: Regs,
        args: &[u64; 6],
        result: i64,
        extra: Option<SyscallExtra>,
    ) -> Result<Option<i64>, ReplayError> {
        if let Some(SyscallExtra::MmapShared { file, identity }) = &extra {
            self.skip_syscall(event, real, current)?;
            let copy = self.shared_files.path_for(&self.reader, file, *identity)?;
            let share = match args[3] & libc::MAP_TYPE as u64 {
                t if t == libc::MAP_PRIVATE as u64 => libc::MAP_PRIVATE,
                _ => libc::MAP_SHARED,
            };
            address_space::map_shared_file(
                real,
                self.process(event.pid)?,
                &copy,
                address_space::FileMapping::of_mmap(file, result as u64, args),
                share,
            )?;
            return Ok(Some(result));
        }
        if let Some(SyscallExtra::MmapFile { file }) = &extra {
            let open_blob = self.process(event.pid)?.blob_fds.get(&file.sha256).copied();
            if let Some(fd) = open_blob {
                // The program's own mmap, aimed at the blob it
                // already holds: no injection at all.
                current.rdi = result as u64;
                current.r10 = (libc::MAP_PRIVATE | libc::MAP_FIXED) as u64;
                current.r8 = fd;
                regs::set(real, &current)?;
                self.run_to_exit(event, real)?;
                return Ok(Some(regs::get(real)?.rax as i64));
            }
            self.skip_syscall(event, real, current)?;
            let process = self
                .processes
                .get_mut(&event.pid)
                .ok_or_else(|| super::no_process(event.pid))?;
            address_space::map_file(
                real,
                process,
                &self.reader,
                address_space::FileMapping::of_mmap(file, result as u64, args),
            )?;
            return Ok(Some(result));
        }
        current.rdi = result as u64;
        let flags = (args[3] & !(libc::MAP_FIXED_NOREPLACE as u64)) | libc::MAP_FIXED as u64;
        current.r10 = flags;
        if args[3] & libc::MAP_ANONYMOUS as u64 == 0 {
            // /dev/zero: the same thing as anonymous memory.
            current.r10 |= libc::MAP_ANONYMOUS as u64;
            current.r8 = u64::MAX;
        }
        regs::set(real, &current)?;
        self.run_to_exit(event, real)?;
        Ok(Some(regs::get(real)?.rax as i64))
    }

    pub(super) fn syscall_exit(
        &mut self,
        recorded: &RecordedEvent,
        nr: u64,
        result: i64,
        extra: Option<&SyscallExtra>,
    ) -> Result<(), ReplayError> {
        let event = &recorded.event;
        self.take_over_renamed(event.tid);
        let task = self.task(event)?;
        let (state, inflight, real) = (task.state, task.syscall.take(), task.real);
        let Some(inflight) = inflight.filter(|_| state == ReplayState::InSyscall) else {
            return Err(self.divergence(
                event,
                "syscall exit without a replayed entry",
                format!("thread inside {}", syscall_name(nr)),
                format!("{state:?}"),
            ));
        };
        if let Some(real_result) = inflight.real_result {
            let tid_valued =
                syscall_model::syscall(nr).is_some_and(|row| row.returns == Returns::Tid);
            if !tid_valued && real_result != result {
                return Err(self.divergence(
                    event,
                    &format!(
                        "{} returned a different result when re-executed",
                        syscall_name(nr)
                    ),
                    format!("{result}"),
                    format!("{real_result}"),
                ));
            }
        }
        if nr == libc::SYS_sched_setaffinity as u64 && result == 0 {
            self.follow_affinity(event, &inflight.regs.syscall_args())?;
        }
        let EventKind::SyscallExit { writes, .. } = &event.kind else {
            unreachable!("syscall_exit is only called for SyscallExit events")
        };
        let process = self.process(event.pid)?;
        for (w, bytes) in writes.iter().zip(&recorded.payloads) {
            process.memory.write(w.addr, bytes)?;
        }
        match extra {
            Some(SyscallExtra::SharedFileWrite { identity, offset }) => {
                let args = inflight.regs.syscall_args();
                let bytes = output_bytes(&process.memory, nr, &args, result)?;
                self.shared_files.write_at(*identity, *offset, &bytes)?;
            }
            Some(SyscallExtra::SharedFileResize { identity, len }) => {
                self.shared_files.resize(*identity, *len)?;
            }
            Some(SyscallExtra::SharedFileChanged {
                identity,
                file_len,
                offset,
                ..
            }) => {
                self.shared_files.resize(*identity, *file_len)?;
                if let Some(bytes) = recorded.payloads.get(writes.len()) {
                    self.shared_files.write_at(*identity, *offset, bytes)?;
                }
            }
            _ => {}
        }
        if let Some(SyscallExtra::OutputCopied { stream, .. }) = extra {
            if let Some(bytes) = recorded.payloads.get(writes.len()) {
                self.emit(*stream, bytes);
            }
        }
        if let Some(SyscallExtra::Output { stream }) = extra {
            let bytes = output_bytes(&process.memory, nr, &inflight.regs.syscall_args(), result)?;
            self.emit(*stream, &bytes);
        }
        let result = if nr == syscallbuf::CONTROL_SYSCALL {
            self.control_syscall(event, &inflight.regs.syscall_args(), result)?
        } else {
            result
        };
        let mut next = regs::get(real)?;
        match extra {
            Some(SyscallExtra::Exec(info)) => next = info.regs,
            // sigreturn just restored every register from the signal frame.
            _ if syscall_model::syscall(nr).is_some_and(|row| row.returns == Returns::Restored) => {
            }
            // The kernel must skip its own emulation, and return to the
            // caller with the recorded result.
            _ if tracee::spawn::VSYSCALL_PAGE.contains(&next.rip) => {
                next.rax = result as u64;
                next.orig_rax = u64::MAX;
            }
            // The kernel's i386 path left every register but rax as the
            // recording had it.
            _ if let Some(i386_nr) = inflight.int80_nr => {
                next.rax = result as u64;
                next.orig_rax = i386_nr;
            }
            _ => {
                next.rax = result as u64;
                next.orig_rax = nr;
                let a = inflight.regs.syscall_args();
                regs::set_syscall_args(&mut next, &a);
                if self.restarted_without_signal(event, result)? {
                    // The recorded thread was woken for a signal another
                    // thread took, and the kernel made the same call again
                    // on its way out. Nothing is pending here, so replay
                    // does what the kernel did.
                    next.rax = if result == ERESTART_RESTARTBLOCK {
                        libc::SYS_restart_syscall as u64
                    } else {
                        nr
                    };
                    next.rip -= SYSCALL_INSN_LEN;
                }
            }
        }
        regs::set(real, &next)?;
        self.task(event)?.state = ReplayState::Ready;
        Ok(())
    }

    /// Whether a syscall that ended with a restart code was made again at
    /// once: the thread's next event is not the signal that would have
    /// decided otherwise.
    fn restarted_without_signal(
        &mut self,
        event: &Event,
        result: i64,
    ) -> Result<bool, ReplayError> {
        if !syscall_model::is_restart_code(result) {
            return Ok(false);
        }
        Ok(!matches!(
            self.events.peek_next(event.tid)?.map(|e| &e.event.kind),
            Some(EventKind::Signal { .. }) | None
        ))
    }

    pub(super) fn emit(&self, stream: OutputStream, bytes: &[u8]) {
        if self.quiet || self.replayed < self.print_from {
            return;
        }
        // Output errors (a closed pipe) must not stop the replay itself.
        let _ = match stream {
            OutputStream::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|_| out.flush())
            }
            OutputStream::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(bytes).and_then(|_| err.flush())
            }
        };
    }
}

/// Whether two `struct pollfd` arrays ask the same: `revents` is written by
/// the kernel, never read, and the syscall buffer's zero-timeout attempt
/// clears it in recording before a poll that must wait goes through ptrace.
fn same_pollfds(found: &[u8], expected: &[u8]) -> bool {
    const POLLFD_LEN: usize = 8;
    const REVENTS_AT: usize = 6;
    found.len() == expected.len()
        && found
            .chunks(POLLFD_LEN)
            .zip(expected.chunks(POLLFD_LEN))
            .all(|(f, e)| f[..REVENTS_AT.min(f.len())] == e[..REVENTS_AT.min(e.len())])
}

/// The stack image and writable-mapping contents of an exec exit event,
/// which follow its `writes` payloads.
pub(super) fn exec_payloads(
    exit: &RecordedEvent,
    writes: usize,
) -> Result<(&[u8], &[Vec<u8>]), ReplayError> {
    let stack = exit.payloads.get(writes).ok_or_else(|| {
        ReplayError::Setup("trace is inconsistent: exec without its stack image".into())
    })?;
    Ok((stack, exit.payloads.get(writes + 1..).unwrap_or(&[])))
}

/// The bytes a write-family syscall sent, read back from replayed memory.
fn output_bytes(
    mem: &ProcessMemory,
    nr: u64,
    args: &[u64; 6],
    result: i64,
) -> Result<Vec<u8>, ReplayError> {
    let len = result.max(0) as usize;
    let sent = syscall_model::syscall(nr)
        .and_then(|row| row.fd_write)
        .map(|write| write.data);
    match sent {
        Some(Sent::Buffer(buf)) => Ok(mem.read(args[buf], len)?),
        Some(Sent::Iovecs(iov, count)) => {
            let count = args[count].min(1024) as usize;
            let iovecs = mem.read(args[iov], count * 16)?;
            let mut out = Vec::with_capacity(len);
            for iov in abi::read_all::<Iovec>(&iovecs) {
                if out.len() >= len {
                    break;
                }
                let take = (iov.len as usize).min(len - out.len());
                out.extend(mem.read(iov.base, take)?);
            }
            Ok(out)
        }
        None => Ok(Vec::new()),
    }
}

/// The recorder's id of the task a clone made: the same as the call's
/// result, except from inside a PID namespace, where the result is the
/// namespace's number for it.
fn recorded_tid(extra: &Option<SyscallExtra>) -> Option<RecordedTid> {
    match extra {
        Some(SyscallExtra::NewTask { child, .. }) => Some(*child),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::same_pollfds;

    #[test]
    fn pollfds_compare_fd_and_events_but_not_revents() {
        let recorded = [3, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0];
        let mut stale = recorded;
        stale[6] = 0x5a;
        stale[15] = 0x01;
        assert!(same_pollfds(&stale, &recorded));
        let mut other_fd = recorded;
        other_fd[8] = 5;
        assert!(!same_pollfds(&other_fd, &recorded));
        let mut other_events = recorded;
        other_events[4] = 4;
        assert!(!same_pollfds(&other_events, &recorded));
        assert!(!same_pollfds(&recorded[..8], &recorded));
    }
}
