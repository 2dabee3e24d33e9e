//! Signal stops: asynchronous signals held for a state-matched point or an
//! anchor, synchronous faults, the time slice's own SIGTRAP, and the
//! trapped `rdtsc` the recorder emulates.

use crate::recorder::{Recorder, Step};
use crate::RecordError;
use trace::event::{EventKind, PreemptReason, Regs, SignalOrigin};
use tracee::ptrace::{self, SIGINFO_SIZE};
use tracee::{regs, Pid, ProcessMemory};

/// How many handlers' return addresses a thread keeps (see
/// `Task::handler_returns`); nested deeper, a patch may still land under
/// one, as before they were kept.
const HANDLER_RETURNS_KEPT: usize = 32;

/// Where `struct sigcontext` is in a signal frame, from the handler's
/// stack pointer: the return address, then `struct ucontext`'s flags, link
/// and `stack_t`.
const SIGCONTEXT_IN_FRAME: u64 = 8 + 8 + 8 + 24;
/// Its general registers up to `rip`.
const SIGCONTEXT_GPRS_LEN: usize = 17 * 8;

/// How many signals in a row are delivered right where a handler returned
/// before the next one waits for the program's own code to run.
const HANDLER_CHAIN_LIMIT: u32 = 8;

impl Recorder {
    pub(crate) fn signal_stop(&mut self, tid: Pid, sig: i32) -> Step {
        let Some(info) = ptrace::get_siginfo(tid)? else {
            // A group-stop (job control): natively the thread stays stopped
            // until a SIGCONT, and so it does here (see
            // `continue_group_stopped`).
            let tgid = self.task(tid)?.tgid;
            if self.continued.contains(&tgid) {
                // Stopped before the SIGCONT, reported after it.
                return self.resume_user(tid, 0);
            }
            tracing::debug!(tid, sig, "group-stop");
            self.group_stopped.insert(tid);
            return Ok(());
        };
        let started = self.task(tid)?.started;
        if !started && sig == libc::SIGSTOP {
            return self.start_task(tid);
        }
        let code = ptrace::siginfo_code(&info);
        let tgid = self.task(tid)?.tgid;
        if sig == libc::SIGTRAP && code == tracee::perf::TRAP_PERF {
            return self.on_slice_end(tid);
        }
        if self.answer_cpuid(tid, sig, &info)? {
            return self.resume_user(tid, 0);
        }
        if sig == libc::SIGSEGV && code == 0x80 && !self.task(tid)?.modes.tsc_sigsegv {
            if let Some(len) = rdtsc_length(self.memory(tgid)?, tid)? {
                return self.emulate_rdtsc(tid, len);
            }
        }
        let task = self.task(tid)?;
        let reinjected = task
            .reinjecting
            .filter(|re| ptrace::siginfo_signo(re) == sig);
        if let Some(original) = reinjected {
            task.reinjecting = None;
            ptrace::set_siginfo(tid, &original)?;
            return self.deliver(tid, sig, original, SignalOrigin::Asynchronous);
        }
        if ptrace::is_synchronous(sig, &info) {
            return self.deliver(tid, sig, info, SignalOrigin::Synchronous);
        }
        let at_anchor = self.at_anchor(tid)?;
        let at_fresh_handler = !at_anchor && self.at_fresh_handler(tid)?;
        let task = self.task(tid)?;
        // Due where the program has run none of its own code since the
        // last delivery: as a handler returned, or as one starts.
        let chained = (at_anchor && task.anchor_after_handler) || at_fresh_handler;
        task.handler_chain = if chained { task.handler_chain + 1 } else { 0 };
        if chained && task.handler_chain > HANDLER_CHAIN_LIMIT {
            // Signals due each time a handler returns, or nested into each
            // handler as it starts: a timer faster than a delivery costs
            // the recorder (100 µs ITIMER_REAL here; 250 µs beside a kill
            // storm, whose handlers nest) ran the next handler at once,
            // again and again, and the program made no progress at all.
            // Held, the signal waits for a slice of the program's own code
            // and a state-matched point, as natively it would wait for
            // the timer's next tick.
            if self.merges_with_held(tid, sig)? {
                return self.resume_in_slice(tid, 0);
            }
            self.task(tid)?.held_signals.push_back(info);
            return self.resume_user(tid, 0);
        }
        if at_anchor || at_fresh_handler {
            return self.deliver(tid, sig, info, SignalOrigin::Asynchronous);
        }
        if self.merges_with_held(tid, sig)? {
            return self.resume_in_slice(tid, 0);
        }
        let task = self.task(tid)?;
        // Arrived while user code ran: its position cannot be reproduced
        // without a PMU, so it is held and delivered at a state-matched
        // point, or at the thread's next syscall if none is found.
        task.held_signals.push_back(info);
        self.preempt(tid, PreemptReason::Signal)
    }

    /// Whether `sig` merges with a signal of the same number the recorder
    /// holds for `tid`: a standard signal is pending once at most, so one
    /// the recorder holds is still pending for the program, and another
    /// merges with it as the kernel would merge them (a fast interval
    /// timer would otherwise queue more deliveries than natively).
    fn merges_with_held(&mut self, tid: Pid, sig: i32) -> Step<bool> {
        let held = |info: &[u8; ptrace::SIGINFO_SIZE]| ptrace::siginfo_signo(info) == sig;
        Ok(sig < libc::SIGRTMIN() && self.task(tid)?.held_signals.iter().any(held))
    }

    /// A stop signal starts a new stopped period for the thread's process; a
    /// SIGCONT ends it for every thread, reported already or not.
    fn note_job_control(&mut self, tid: Pid, sig: i32) -> Step {
        let tgid = self.task(tid)?.tgid;
        match sig {
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => {
                self.continued.remove(&tgid);
            }
            libc::SIGCONT => {
                self.continued.insert(tgid);
                let stopped: Vec<Pid> = self
                    .group_stopped
                    .iter()
                    .copied()
                    .filter(|t| self.tasks.get(t).is_some_and(|t| t.tgid == tgid))
                    .collect();
                for tid in stopped {
                    self.wake_group_stopped(tid)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn wake_group_stopped(&mut self, tid: Pid) -> Step {
        self.group_stopped.remove(&tid);
        // A thread that died while stopped is gone from the tasks too.
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.preempted = true;
            self.scheduler.enqueue(tid);
        }
        Ok(())
    }

    /// Puts the group-stopped threads of processes a SIGCONT has reached
    /// back in the ready queue. Under ptrace a SIGCONT does not end the
    /// stop by itself (only the tracer can); it shows as pending.
    pub(crate) fn continue_group_stopped(&mut self) -> Step<bool> {
        const SIGCONT_BIT: u64 = 1 << (libc::SIGCONT - 1);
        if self.group_stopped.is_empty() {
            return Ok(false);
        }
        let stopped: Vec<Pid> = self.group_stopped.iter().copied().collect();
        let mut woken = false;
        for tid in stopped {
            let continued = tracee::signal_state::SignalState::read(tid)
                .map_or(true, |state| state.pending & SIGCONT_BIT != 0);
            if continued {
                self.wake_group_stopped(tid)?;
                woken = true;
            }
        }
        Ok(woken)
    }

    /// True if `tid` has run no user code since its last anchor (a syscall
    /// exit, a delivered signal): the kernel is still on its way back to
    /// user space, delivering signals or restarting the call.
    pub(crate) fn at_anchor(&mut self, tid: Pid) -> Step<bool> {
        let task = self.task(tid)?;
        if task.anchor_in_user_code == Some(false) {
            // Nothing was due when the thread left that point: the signal
            // came later, and a loop may have brought it back there.
            return Ok(false);
        }
        let Some(anchor) = task.anchor_regs else {
            return Ok(false);
        };
        let now = regs::get(tid)?;
        Ok(Regs {
            orig_rax: anchor.orig_rax,
            ..now
        } == anchor)
    }

    /// Makes `regs`, a place inside user code, `tid`'s anchor (see
    /// `Task::anchor_in_user_code`).
    pub(crate) fn anchor_in_user_code(
        &mut self,
        tid: Pid,
        regs: Regs,
        after_handler: bool,
    ) -> Step {
        let due = signal_due(tid);
        let task = self.task(tid)?;
        task.anchor_regs = Some(regs);
        task.anchor_in_user_code = Some(due);
        task.anchor_after_handler = after_handler;
        Ok(())
    }

    /// True if `tid` stands at the entry of the handler of the signal it
    /// was last given, no user instruction run since: the frame at its
    /// stack pointer saved the registers of that delivery stop. Several
    /// signals unblocked at once reach the tracer this way, one stop per
    /// frame, and natively run nested, the last one's handler first.
    fn at_fresh_handler(&mut self, tid: Pid) -> Step<bool> {
        let Some(delivered) = self.task(tid)?.last_delivery else {
            return Ok(false);
        };
        let tgid = self.task(tid)?.tgid;
        let now = regs::get(tid)?;
        let Ok(saved) = self
            .memory(tgid)?
            .read(now.rsp + SIGCONTEXT_IN_FRAME, SIGCONTEXT_GPRS_LEN)
        else {
            return Ok(false);
        };
        let word = |i: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&saved[8 * i..8 * i + 8]);
            u64::from_le_bytes(raw)
        };
        // struct sigcontext: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
        // rsp, rip. rax and rip are left out: the kernel rewinds a call it
        // restarts (rip back over the `syscall`, rax its number).
        let kept = [
            (word(0), delivered.r8),
            (word(1), delivered.r9),
            (word(2), delivered.r10),
            (word(4), delivered.r12),
            (word(5), delivered.r13),
            (word(6), delivered.r14),
            (word(7), delivered.r15),
            (word(8), delivered.rdi),
            (word(9), delivered.rsi),
            (word(10), delivered.rbp),
            (word(11), delivered.rbx),
            (word(12), delivered.rdx),
            (word(15), delivered.rsp),
        ];
        let rip = word(16);
        Ok(kept.iter().all(|(a, b)| a == b) && (rip == delivered.rip || rip + 2 == delivered.rip))
    }

    pub(crate) fn deliver(
        &mut self,
        tid: Pid,
        sig: i32,
        info: [u8; SIGINFO_SIZE],
        origin: SignalOrigin,
    ) -> Step {
        self.note_job_control(tid, sig)?;
        let regs = regs::get(tid)?;
        tracing::debug!(
            tid,
            sig,
            code = ptrace::siginfo_code(&info),
            rip = regs.rip,
            ?origin,
            "signal logged for delivery"
        );
        self.log(
            tid,
            EventKind::Signal {
                signo: sig,
                origin,
                siginfo: info.to_vec(),
                regs,
            },
            Vec::new(),
        )?;
        let caught = tracee::signal_state::SignalState::read(tid)
            .is_ok_and(|state| state.caught & (1u64 << (sig - 1)) != 0);
        let task = self.task(tid)?;
        if caught {
            task.last_delivery = Some(regs);
            if task.handler_returns.len() == HANDLER_RETURNS_KEPT {
                task.handler_returns.pop_front();
            }
            task.handler_returns.push_back(regs.rip);
        }
        // A signal without a handler (SIGCONT, one ignored) pushes no frame:
        // the last handler's entry is still where the thread stands, and a
        // signal delivered next still nests on that handler's frame.
        if task.anchor_in_user_code.is_some() {
            // That one is taken; another may still be due before any user
            // instruction, or may come only after the thread ran on.
            let due = signal_due(tid);
            self.task(tid)?.anchor_in_user_code = Some(due);
        }
        // The anchor stays: a second signal that stops the thread before it
        // runs any user code (the first one ignored, the syscall not yet
        // restarted) is at the same place. Stepping toward a point from
        // there would run the restarted syscall inside a single step, where
        // no syscall stop reports it.
        self.resume_user(tid, sig)
    }

    fn emulate_rdtsc(&mut self, tid: Pid, len: u64) -> Step {
        let mut r = regs::get(tid)?;
        let (tsc, aux) = tracee::tracer::read_tsc(len == 3);
        r.rax = tsc & 0xffff_ffff;
        r.rdx = tsc >> 32;
        if len == 3 {
            // The thread's own CPU, which is not the recorder's once the
            // program set its own affinity.
            r.rcx = match tracee::tracer::cpu_of(tid) {
                Some((cpu, node)) => u64::from(node << 12 | cpu),
                None => u64::from(aux),
            };
        }
        r.rip += len;
        regs::set(tid, &r)?;
        self.log(tid, EventKind::Rdtsc { regs: r }, Vec::new())?;
        self.task(tid)?.anchor_regs = None;
        self.patch_tsc_site(tid, len, &mut r)?;
        self.resume_user(tid, 0)
    }
}

/// Whether a signal is pending for `tid` that it does not block: the
/// kernel delivers it before the thread runs another user instruction.
fn signal_due(tid: Pid) -> bool {
    tracee::signal_state::SignalState::read(tid).is_ok_and(|s| s.pending & !s.blocked != 0)
}

/// Length of the rdtsc (2) or rdtscp (3) instruction at the thread's rip.
fn rdtsc_length(mem: &ProcessMemory, tid: Pid) -> Result<Option<u64>, RecordError> {
    let rip = regs::get(tid)?.rip;
    let Ok(bytes) = mem.read(rip, 3) else {
        return Ok(None);
    };
    Ok(match bytes.as_slice() {
        [0x0f, 0x31, _] => Some(2),
        [0x0f, 0x01, 0xf9] => Some(3),
        _ => None,
    })
}
