//! Traced syscalls: what the recorder logs at a syscall's entry and exit
//! stops, and what it refuses.

use crate::entry_layout::EntryLayout;
use crate::exec;
use crate::exec_checks::randomized_layout;
use crate::in_place::locks_pi_futex;
use crate::mappings::private_mapping_follows_writes;
use crate::preload_env::PreloadEntry;
use crate::recorder::{Failure, Recorder, Step, StopRecording};
use crate::task::{InFlight, RunState};
use crate::RecordError;
use syscall_model::{
    is_error_result, MemoryError, MemoryReader, ModelError, Returns, TaskEffect, ERESTARTNOHAND,
};
use trace::event::{EventKind, MemWrite, RecordedTid, Regs, SyscallExtra};
use tracee::ptrace::{self, Resume};
use tracee::{regs, Pid, ProcessMemory};

/// The code segment selector of 32-bit user code (`__USER32_CS`).
const COMPAT_CODE_SEGMENT: u64 = 0x23;

/// auxv key set to 1 when an exec gained privileges.
const AT_SECURE: u64 = 23;

/// A traced syscall that just returned, as the rules that act after its
/// exit see it.
pub(crate) struct Returned {
    pub(crate) tid: Pid,
    pub(crate) tgid: Pid,
    pub(crate) nr: u64,
    pub(crate) args: [u64; 6],
    pub(crate) result: i64,
}

struct Reader<'a>(&'a ProcessMemory);

impl MemoryReader for Reader<'_> {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        if len > 1 << 30 {
            return Err(MemoryError {
                addr,
                len,
                detail: "range larger than 1 GiB".into(),
            });
        }
        self.0.read(addr, len).map_err(|e| MemoryError {
            addr,
            len,
            detail: e.to_string(),
        })
    }
}

impl Recorder {
    pub(crate) fn refuse(&self, tid: Pid, error: impl std::fmt::Display) -> Failure {
        let pid = self.tasks.get(&tid).map(|t| t.tgid).unwrap_or(tid);
        Failure::Stop(StopRecording(format!(
            "{error} (process {pid}, thread {tid}, after event {})",
            self.log.next_index()
        )))
    }

    /// Whether the syscall `tid` stopped at was made with `int $0x80`, not
    /// `syscall`.
    fn entered_by_int80(&mut self, tid: Pid, rip: u64) -> Step<bool> {
        let tgid = self.task(tid)?.tgid;
        // Every traced syscall passes here: a site seen once is not read
        // again (an exec forgets the process's sites).
        if self.syscall_sites.contains(&(tgid, rip)) {
            return Ok(false);
        }
        let int80 = regs::made_by_int80(self.memory(tgid)?, rip);
        if !int80 {
            self.syscall_sites.insert((tgid, rip));
        }
        Ok(int80)
    }

    /// The registers of the syscall `tid` stopped at as the trace keeps
    /// them: one made with `int $0x80` as its x86_64 equivalent
    /// (`syscall_model::compat`), which replay sees the same way.
    fn as_traced(&mut self, tid: Pid, entry_regs: Regs) -> Step<Regs> {
        if !self.entered_by_int80(tid, entry_regs.rip)? {
            return Ok(entry_regs);
        }
        match syscall_model::compat::native_equivalent(entry_regs.orig_rax) {
            Some(native) => Ok(entry_regs.with_syscall(native, entry_regs.i386_syscall_args())),
            None => Err(self.refuse(
                tid,
                format!(
                    "32-bit syscall {} (`int $0x80`) from 64-bit code is not supported: it \
                     follows the i386 table, and replay models only the i386 calls that \
                     have an x86_64 equivalent; recording stopped so that the trace is never \
                     silently wrong",
                    entry_regs.orig_rax
                ),
            )),
        }
    }

    pub(crate) fn syscall_entry(&mut self, tid: Pid) -> Step {
        let mut entry_regs = regs::get(tid)?;
        if self.buffering && entry_regs.rip == syscallbuf::UNTRACED_RETURN {
            // The buffer's own syscall, seen only because the thread ran
            // under PTRACE_SYSCALL: it is the library's to record.
            ptrace::resume(tid, Resume::Continue, 0)?;
            let task = self.task(tid)?;
            task.state = RunState::InKernel;
            task.buffer_dirty = true;
            return Ok(());
        }
        if tracee::spawn::VSYSCALL_PAGE.contains(&entry_regs.rip) {
            return self.emulate_vsyscall(tid, entry_regs);
        }
        let traced_regs = self.as_traced(tid, entry_regs)?;
        let nr = traced_regs.orig_rax;
        let args = traced_regs.syscall_args();
        if nr == libc::SYS_wait4 as u64 || nr == libc::SYS_waitid as u64 {
            self.settle_exited_processes()?;
        }
        let (tgid, restartable) = {
            let task = self.task(tid)?;
            (task.tgid, task.restartable.take())
        };
        let model = match restartable {
            Some(interrupted) if nr == libc::SYS_restart_syscall as u64 => interrupted,
            _ => (nr, args),
        };
        // What the model cannot describe runs only to be rejected: the
        // kernel's error is recorded, and a success stops the recording.
        let probe = syscall_model::outputs(
            model.0,
            &model.1,
            -(libc::ENOSYS as i64),
            &Reader(self.memory(tgid)?),
        );
        let unmodelled = match probe {
            // The kernel would reject ptrace because the recorder traces
            // the program already: that error is the recorder's, not what
            // the program gets natively.
            Err(e) if nr == libc::SYS_ptrace as u64 => return Err(self.refuse(tid, e)),
            Err(e @ (ModelError::UnknownSyscall { .. } | ModelError::Unsupported { .. })) => {
                Some(e.to_string())
            }
            _ => None,
        };
        let copied_output = self.output.copy_source(tid, nr, &args, |ptr| {
            let bytes = self.memories.get(&tgid)?.read(ptr, 8).ok()?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        });
        let entry_layout = match syscall_model::layout_in_memory(model.0) {
            true => Some(EntryLayout::read(
                model.0,
                &model.1,
                &Reader(self.memory(tgid)?),
            )),
            false => None,
        };
        let (inputs, input_bytes) = self.read_inputs(tgid, model)?;
        self.log(
            tid,
            EventKind::SyscallEntry {
                regs: traced_regs,
                inputs,
            },
            input_bytes,
        )?;
        if self.strict_seccomp_kills(tid, nr, entry_regs.rip)? {
            // The thread dies as it resumes; nothing else of the call runs.
            let task = self.task(tid)?;
            task.syscall = Some(InFlight::plain(nr, entry_regs.rip, args, model));
            task.anchor_regs = None;
            ptrace::resume(tid, Resume::Syscall, 0)?;
            self.task(tid)?.state = RunState::InKernel;
            return Ok(());
        }
        if untraced_clone(nr, &args) {
            // A child the recorder could not see would run unrecorded (and
            // outside the syscall buffer's protocol): it is traced like any
            // other, and the flag comes back at the exit.
            entry_regs.rdi &= !(libc::CLONE_UNTRACED as u64);
            regs::set(tid, &entry_regs)?;
        }
        let untraced_clone3_flags = self.clear_untraced_clone3(tgid, nr, &args)?;
        let added_preload = self.prepare_exec(tid, tgid, &mut entry_regs)?;
        if nr == libc::SYS_sched_setattr as u64 {
            self.unpin_for_deadline(tid, tgid, &args)?;
        }
        let forced = self.recorder_answer(tid, tgid, nr, &args)?;
        if forced.is_some() {
            // The kernel skips a call numbered -1; the answer goes in at the exit.
            entry_regs.orig_rax = u64::MAX;
            regs::set(tid, &entry_regs)?;
        }
        let scratch = if forced.is_none() && unmodelled.is_none() && model.0 == nr {
            self.move_buffer_to_scratch(tid, tgid, nr, &args, &mut entry_regs)?
        } else {
            None
        };
        let task = self.task(tid)?;
        task.syscall = Some(InFlight {
            forced,
            unmodelled,
            copied_output,
            added_preload,
            untraced_clone3_flags,
            entry_layout,
            scratch,
            ..InFlight::plain(nr, entry_regs.rip, args, model)
        });
        task.anchor_regs = None;
        // A signal held back while the thread ran user code is re-sent now,
        // so the kernel delivers it right after this syscall: an anchor.
        if task.reinjecting.is_none() {
            if let Some(info) = task.held_signals.pop_front() {
                let signo = ptrace::siginfo_signo(&info);
                task.reinjecting = Some(info);
                ptrace::tgkill(tgid, tid, signo)?;
            }
        }
        ptrace::resume(tid, Resume::Syscall, 0)?;
        self.task(tid)?.state = RunState::InKernel;
        if syscall_model::task_effect(nr) == TaskEffect::EndsProcess {
            // Every other thread of the process is being killed now.
            self.process_killed(tid);
        }
        if syscall_model::changes_mappings(nr)
            || self.writes_to_output(tid, nr, &args)
            || self.writes_shared_mapping(tid, nr, &args)
            || self.writes_other_memory(tid, tgid, nr, &args)
            || self.copies_memory_for_a_child(tgid, nr, &args)?
        {
            return self.exit_in_place(tid);
        }
        if let Some(word) = locks_pi_futex(nr, &args) {
            return self.log_pi_futex_block(tid, tgid, word);
        }
        Ok(())
    }

    /// The memory a syscall reads, as the model names it, with its bytes.
    fn read_inputs(
        &self,
        tgid: Pid,
        (nr, args): (u64, [u64; 6]),
    ) -> Result<(Vec<MemWrite>, Vec<Vec<u8>>), RecordError> {
        let mem = self.memory(tgid)?;
        let mut inputs = Vec::new();
        let mut bytes = Vec::new();
        for r in syscall_model::inputs(nr, &args, &Reader(mem)) {
            // The model saw it readable; a page unmapped since is simply skipped.
            if let Ok(b) = mem.read(r.addr, r.len as usize) {
                inputs.push(MemWrite {
                    addr: r.addr,
                    len: r.len,
                });
                bytes.push(b);
            }
        }
        Ok((inputs, bytes))
    }

    /// A call the recorder answers instead of the kernel, with the answer
    /// and why: its own control call, and the queries whose kernel answer
    /// would show the recorder's settings instead of the program's.
    fn recorder_answer(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<Option<(i64, &'static str)>, Failure> {
        if nr == syscallbuf::CONTROL_SYSCALL {
            let answer = self.control(tid, tgid, args)?;
            return Ok(Some((
                answer,
                "answered by the recorder (syscall buffer control)",
            )));
        }
        if let Some(answer) = self.program_tsc_mode(tid, tgid, nr, args)? {
            return Ok(Some((
                answer,
                "answered by the recorder, which keeps rdtsc trapping itself",
            )));
        }
        if let Some(answer) = self.program_cpuid_mode(nr, args)? {
            return Ok(Some((
                answer,
                "answered by the recorder, which keeps CPUID faulting itself",
            )));
        }
        if let Some(answer) = self.answer_rseq(tid, nr, args)? {
            return Ok(Some((
                answer,
                "answered by the recorder, which emulates restartable sequences",
            )));
        }
        if let Some(answer) = self.seccomp_query(tid, nr, args)? {
            return Ok(Some((
                answer,
                "answered by the recorder, whose own seccomp filter the program does not see",
            )));
        }
        Ok(syscall_model::absent_because(nr, args).map(|reason| (-(libc::ENOSYS as i64), reason)))
    }

    /// Right after an exec: the vDSO's clock functions become syscalls
    /// (see `vdso`), logged as a code patch that replay applies too.
    fn patch_vdso(&mut self, tid: Pid, tgid: Pid) -> Step {
        let Some(vdso) = tracee::maps::read(tid)?
            .into_iter()
            .find(|m| m.name == "[vdso]")
        else {
            return Ok(());
        };
        let mem = self.memory(tgid)?;
        let image = mem.read(vdso.start, (vdso.end - vdso.start) as usize)?;
        let patches = crate::vdso::patches(&image, vdso.start);
        if patches.is_empty() {
            return Ok(());
        }
        let mut writes = Vec::with_capacity(patches.len());
        let mut payloads = Vec::with_capacity(patches.len());
        for (addr, code) in patches {
            mem.write(addr, &code)?;
            writes.push(MemWrite {
                addr,
                len: code.len() as u64,
            });
            payloads.push(code);
        }
        self.log(
            tid,
            EventKind::CodePatch {
                writes,
                resume_from: 0,
                resume_to: 0,
            },
            payloads,
        )?;
        Ok(())
    }

    /// Whether a thread of `tgid` asked for `rdtsc` to fault.
    pub(crate) fn process_has_faulting_tsc(&self, tgid: Pid) -> bool {
        self.tasks
            .values()
            .any(|task| task.tgid == tgid && task.modes.tsc_sigsegv)
    }

    /// PR_GET_TSC and PR_SET_TSC, answered from the mode the program set:
    /// the real one stays PR_TSC_SIGSEGV, which the recorder needs to log
    /// every `rdtsc`. None for any other call.
    fn program_tsc_mode(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
    ) -> Step<Option<i64>> {
        const PR_GET_TSC: u64 = 25;
        const PR_SET_TSC: u64 = 26;
        const PR_TSC_ENABLE: u64 = 1;
        const PR_TSC_SIGSEGV: u64 = 2;
        if nr != libc::SYS_prctl as u64 {
            return Ok(None);
        }
        Ok(Some(match args[0] {
            PR_GET_TSC => {
                let mode = match self.task(tid)?.modes.tsc_sigsegv {
                    true => PR_TSC_SIGSEGV,
                    false => PR_TSC_ENABLE,
                } as i32;
                match self.memory(tgid)?.write(args[1], &mode.to_le_bytes()) {
                    Ok(()) => 0,
                    Err(_) => -(libc::EFAULT as i64),
                }
            }
            PR_SET_TSC => match args[1] {
                PR_TSC_ENABLE | PR_TSC_SIGSEGV => {
                    self.task(tid)?.modes.tsc_sigsegv = args[1] == PR_TSC_SIGSEGV;
                    // The library's reads of the counter fault to the
                    // recorder while a thread of the process wants SIGSEGV.
                    let faulting = self.process_has_faulting_tsc(tgid);
                    self.update_fd_generation(tgid, |g| match faulting {
                        true => g | syscallbuf::TSC_READS_TRACED,
                        false => g & !syscallbuf::TSC_READS_TRACED,
                    })?;
                    0
                }
                _ => -(libc::EINVAL as i64),
            },
            _ => return Ok(None),
        }))
    }

    pub(crate) fn syscall_exit(&mut self, tid: Pid) -> Step {
        let mut exit_regs = regs::get(tid)?;
        let (tgid, inflight) = {
            let task = self.task(tid)?;
            (task.tgid, task.syscall.take())
        };
        let Some(InFlight {
            nr,
            args,
            model,
            forced,
            unmodelled,
            copied_output,
            added_preload,
            untraced_clone3_flags,
            entry_layout,
            scratch,
            ..
        }) = inflight
        else {
            return Ok(());
        };
        if nr == libc::SYS_rt_sigreturn as u64 {
            // Back where the handler's signal interrupted the thread, which
            // from here counts as a thread running there (not at the
            // sigreturn's own instruction, as while in the call).
            self.task(tid)?.handler_returns.pop_back();
        }
        let mut result = exit_regs.rax as i64;
        if let Some(scratch) = scratch {
            self.buffer_back_from_scratch(tid, tgid, scratch, result, &mut exit_regs)?;
        }
        if let (Some(added), true) = (&added_preload, is_error_result(result)) {
            tracee::exec_env::undo(self.memory(tgid)?, &mut exit_regs, nr, added);
            regs::set(tid, &exit_regs)?;
        }
        if result == -(libc::EINTR as i64) && waits(nr, &args) && interrupted_by_ignored_signal(tid)
        {
            // Natively a signal the program ignores never interrupts a call;
            // traced, it wakes the thread so that the recorder sees it, and
            // calls like epoll_wait answer EINTR. With the code the kernel
            // restarts calls with when no handler runs, the call starts
            // again once the signal is gone, as if nothing had happened.
            exit_regs.rax = ERESTARTNOHAND as u64;
            regs::set(tid, &exit_regs)?;
            result = ERESTARTNOHAND;
        }
        if let Some(e) = unmodelled {
            if !is_error_result(result) {
                return Err(self.refuse(tid, e));
            }
            return self.log_rejected(tid, nr, result, exit_regs);
        }
        let mut extra = None;
        if untraced_clone(nr, &args) {
            exit_regs.rdi = args[0];
            regs::set(tid, &exit_regs)?;
        }
        if let Some(flags) = untraced_clone3_flags {
            // The parent sees its own struct again (a forked child's copy
            // is put back as it starts).
            self.memory(tgid)?.write(args[0], &flags.to_le_bytes())?;
        }
        if let Some((value, reason)) = forced {
            exit_regs.rax = value as u64;
            exit_regs.orig_rax = nr;
            regs::set(tid, &exit_regs)?;
            result = value;
            extra = Some(SyscallExtra::Suppressed {
                reason: reason.to_string(),
            });
        }
        if forced.is_none() {
            result = self.serve_proc_view(tid, nr, &args, result)?;
            exit_regs.rax = result as u64;
            match nr as i64 {
                libc::SYS_sched_getaffinity => self.show_native_affinity(tid, &args, result)?,
                libc::SYS_getrusage => self.show_native_rusage(tid, &args, result)?,
                libc::SYS_sched_setaffinity if result == 0 => {
                    self.note_own_affinity(tid, &args);
                    if args[0] == 0 || args[0] == tid as u64 {
                        self.rseq_after_migration(tid)?;
                    }
                }
                _ => {}
            }
        }
        let is_exec = syscall_model::execs(nr) && result == 0;
        let (writes, mut payloads) = if is_exec {
            (Vec::new(), Vec::new())
        } else {
            self.read_outputs(tid, tgid, model, result, entry_layout.as_ref())?
        };
        if let (None, Some((stream, source)), true) = (&extra, copied_output, result > 0) {
            let bytes = source.bytes(result as usize);
            let len = bytes.len() as u64;
            payloads.push(bytes);
            extra = Some(SyscallExtra::OutputCopied { stream, len });
        }
        if extra.is_none() {
            extra = self.syscall_extra(tid, tgid, nr, &args, result, exit_regs, &mut payloads)?;
        }
        self.log(
            tid,
            EventKind::SyscallExit {
                nr,
                result,
                writes,
                extra,
            },
            payloads,
        )?;
        if is_exec {
            self.patch_vdso(tid, tgid)?;
        }
        let returned = Returned {
            tid,
            tgid,
            nr,
            args,
            result,
        };
        self.note_effects(&returned)?;
        // Not where the kernel may still restart the call (it moves rip
        // back over the `syscall` the patch replaces); plain errors are
        // fine, and `ls -l`'s getxattr calls nearly all fail.
        if !syscall_model::is_restart_code(result) {
            self.patch_site(tid, nr, &mut exit_regs)?;
        }
        if syscall_model::syscall(nr).is_some_and(|row| row.returns == Returns::Restored) {
            // It returns into the interrupted code, maybe a loop.
            self.anchor_in_user_code(tid, exit_regs, true)?;
        } else {
            let task = self.task(tid)?;
            task.anchor_regs = Some(exit_regs);
            task.anchor_in_user_code = None;
            task.anchor_after_handler = false;
        }
        let task = self.task(tid)?;
        if result == syscall_model::ERESTART_RESTARTBLOCK {
            task.restartable = Some(model);
        }
        let yields = nr == libc::SYS_sched_yield as u64;
        if yields {
            self.collect_stops_before_yield(tid)?;
        }
        if (yields || self.scheduler.turn_used_up(tid)) && self.scheduler.anyone_waiting() {
            return self.yield_cpu(tid);
        }
        self.resume_user(tid, 0)
    }

    /// A call the model cannot describe, rejected by the kernel: nothing
    /// happened but the error, which is all the exit logs.
    fn log_rejected(&mut self, tid: Pid, nr: u64, result: i64, exit_regs: Regs) -> Step {
        self.log(
            tid,
            EventKind::SyscallExit {
                nr,
                result,
                writes: Vec::new(),
                extra: None,
            },
            Vec::new(),
        )?;
        let task = self.task(tid)?;
        task.anchor_regs = Some(exit_regs);
        task.anchor_in_user_code = None;
        task.anchor_after_handler = false;
        self.resume_user(tid, 0)
    }

    /// The memory the call wrote, as the model names it, with its bytes.
    fn read_outputs(
        &mut self,
        tid: Pid,
        tgid: Pid,
        (nr, args): (u64, [u64; 6]),
        result: i64,
        entry_layout: Option<&EntryLayout>,
    ) -> Result<(Vec<MemWrite>, Vec<Vec<u8>>), Failure> {
        let mem = self.memory(tgid)?;
        let ranges = match entry_layout {
            Some(layout) => layout.outputs(nr, &args, result, &Reader(mem), |range| {
                mem.read(range.addr, range.len as usize).is_ok()
            }),
            None => syscall_model::outputs(nr, &args, result, &Reader(mem)),
        };
        let ranges = match ranges {
            Ok(ranges) => ranges,
            Err(e) => return Err(self.refuse(tid, e)),
        };
        let mem = self.memory(tgid)?;
        let mut writes = Vec::with_capacity(ranges.len());
        let mut payloads = Vec::with_capacity(ranges.len());
        for r in ranges {
            payloads.push(mem.read(r.addr, r.len as usize)?);
            writes.push(MemWrite {
                addr: r.addr,
                len: r.len,
            });
        }
        Ok((writes, payloads))
    }

    /// What the recorder keeps track of beyond the log: descriptors,
    /// the program's own seccomp filters, writers of other processes'
    /// memory.
    fn note_effects(&mut self, returned: &Returned) -> Step {
        self.note_fd_changes(returned)?;
        self.note_permission_listener(returned)?;
        self.note_own_seccomp(returned)?;
        self.note_proc_mem_open(returned)?;
        self.note_proc_view_open(returned)?;
        self.note_proc_mem_write(returned)?;
        self.note_process_vm_write(returned)
    }

    #[allow(clippy::too_many_arguments)]
    fn syscall_extra(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
        result: i64,
        exit_regs: Regs,
        payloads: &mut Vec<Vec<u8>>,
    ) -> Step<Option<SyscallExtra>> {
        if is_error_result(result) {
            return Ok(None);
        }
        let nr = nr as i64;
        Ok(match nr {
            _ if syscall_model::execs(nr as u64) => {
                if exit_regs.cs == COMPAT_CODE_SEGMENT {
                    return Err(self.refuse(
                        tid,
                        "the exec started a 32-bit program, which replay does not support \
                         (its syscalls, registers and memory layout are the i386 ones); \
                         recording stopped so that the trace is never silently wrong",
                    ));
                }
                self.fault_on_cpuid(tid, tgid)?;
                if self.buffering {
                    self.map_untraced_page(tid, tgid)?;
                }
                for task in self.tasks.values_mut().filter(|t| t.tgid == tgid) {
                    task.buffer = None;
                }
                self.syscall_sites.retain(|&(pid, _)| pid != tgid);
                let preload_entry = self.hide_preload_entry(tid, tgid, &exit_regs)?;
                let mem = self.memories.get(&tgid).ok_or_else(|| {
                    RecordError::Setup(format!(
                        "internal error: no memory handle for process {tgid}"
                    ))
                })?;
                let mut captured = exec::capture(tid, mem, self.log.files(), exit_regs)?;
                if preload_entry == PreloadEntry::LeftForTheLoader {
                    // The library takes it out before the program's code runs.
                    captured.info.env_count = captured.info.env_count.saturating_sub(1);
                }
                // A setuid/setgid or file-capability exec (AT_SECURE): the
                // kernel drops ADDR_NO_RANDOMIZE for it, so its randomized
                // layout could not be recreated on replay. Refuse it.
                let secure = captured
                    .info
                    .auxv
                    .iter()
                    .any(|&(k, v)| k == AT_SECURE && v != 0);
                if secure || randomized_layout(tid) {
                    let why = match secure {
                        true => {
                            "gained privileges (setuid/setgid or file capabilities), so \
                                 the kernel randomized its address space"
                        }
                        false => {
                            "runs with address-space randomization on (capabilities \
                                  gained at the exec, or the program's own personality())"
                        }
                    };
                    return Err(Failure::Stop(StopRecording(format!(
                        "{} of {} {why}, which replay cannot reproduce; recording stopped so \
                         that the trace is never silently wrong (process {tgid}, thread {tid}, \
                         after event {})",
                        syscall_model::name(nr as u64).unwrap_or("execve"),
                        captured.info.exe.path,
                        self.log.next_index()
                    ))));
                }
                payloads.extend(captured.payloads);
                Some(SyscallExtra::Exec(Box::new(captured.info)))
            }
            libc::SYS_mmap if args[3] & libc::MAP_ANONYMOUS as u64 == 0 => {
                let shared = args[3] & libc::MAP_TYPE as u64 != libc::MAP_PRIVATE as u64;
                match self.mapped_file(tid, args[4] as i32, (result as u64, args[1]))? {
                    Some((file, identity))
                        if shared
                            || self.shared_files.contains(&identity)
                            || private_mapping_follows_writes(tid, args[4], &file.path) =>
                    {
                        self.share_file(identity)?;
                        Some(SyscallExtra::MmapShared { file, identity })
                    }
                    Some((file, _)) => Some(SyscallExtra::MmapFile { file }),
                    None => None,
                }
            }
            libc::SYS_ftruncate => {
                self.shared_file_of(tid, args[0])
                    .map(|identity| SyscallExtra::SharedFileResize {
                        identity,
                        len: args[1],
                    })
            }
            libc::SYS_shmat => Some(self.attached_segment(tid, tgid, args[0], result as u64)?),
            _ if result > 0
                && syscall_model::syscall(nr as u64).is_some_and(|row| row.fd_write.is_some()) =>
            {
                match self.output.classify(tid, args[0] as i64) {
                    Some(stream) => Some(SyscallExtra::Output { stream }),
                    None => self.shared_file_write(tid, nr, args, result),
                }
            }
            _ if syscall_model::creates_task(nr as u64) && result > 0 => {
                let flags = self.clone_flags(tgid, nr as u64, args)?.unwrap_or(0);
                let thread = flags & libc::CLONE_THREAD as u64 != 0;
                let child = self.task(tid)?.new_child.take();
                let sets_shared_tid = flags & libc::CLONE_VM as u64 != 0
                    && flags & libc::CLONE_CHILD_SETTID as u64 != 0;
                if let (true, Some(child)) = (sets_shared_tid, child) {
                    self.let_child_write_its_tid(child)?;
                }
                Some(SyscallExtra::NewTask {
                    child: RecordedTid(child.unwrap_or(result as Pid)),
                    thread,
                })
            }
            _ => self.shared_file_change(tid, tgid, nr, args, result, payloads)?,
        })
    }
}

impl Recorder {
    /// The kernel writes a `CLONE_CHILD_SETTID` child's tid as the child
    /// first runs, into memory a `CLONE_VM` parent shares: whether the
    /// parent, resumed, reads it there or not depended on the scheduler.
    /// The recorder lets the child reach its first stop (the word written)
    /// before the parent goes on, as replay writes it at the clone.
    fn let_child_write_its_tid(&mut self, child: Pid) -> Step {
        let stopped = self
            .tasks
            .get(&child)
            .is_some_and(|t| t.started || t.pending_stop.is_some());
        if stopped {
            return Ok(());
        }
        let first = ptrace::wait_for(child)?;
        self.on_wait(first)
    }
}

/// A clone that asks the kernel not to let the tracer see the child.
pub(crate) fn untraced_clone(nr: u64, args: &[u64; 6]) -> bool {
    nr == libc::SYS_clone as u64 && args[0] & libc::CLONE_UNTRACED as u64 != 0
}

impl Recorder {
    /// A `clone3` asking for `CLONE_UNTRACED` keeps its flags in memory:
    /// they are cleared there before the kernel reads them, and the
    /// original flags returned, to be put back at the exit.
    fn clear_untraced_clone3(&mut self, tgid: Pid, nr: u64, args: &[u64; 6]) -> Step<Option<u64>> {
        if nr != libc::SYS_clone3 as u64 || args[1] < 8 {
            return Ok(None);
        }
        let memory = self.memory(tgid)?;
        // An unreadable struct makes the kernel answer EFAULT.
        let Ok(flags) = memory.read_u64(args[0]) else {
            return Ok(None);
        };
        if flags & libc::CLONE_UNTRACED as u64 == 0 {
            return Ok(None);
        }
        memory.write(
            args[0],
            &(flags & !(libc::CLONE_UNTRACED as u64)).to_le_bytes(),
        )?;
        Ok(Some(flags))
    }
}

/// True if the call may wait, which is how a signal interrupts it. Not
/// rt_sigreturn, whose "result" is the interrupted call's, put back.
fn waits(nr: u64, args: &[u64; 6]) -> bool {
    syscall_model::syscall(nr)
        .is_some_and(|row| row.may_block(args) && row.returns != syscall_model::Returns::Restored)
}

/// True if every signal that could have interrupted `tid`'s syscall is one
/// the program ignores (SIG_IGN, or a default action of nothing).
fn interrupted_by_ignored_signal(tid: Pid) -> bool {
    tracee::signal_state::SignalState::read(tid).is_ok_and(|state| state.only_ignored_deliverable())
}
