//! Calls through the legacy vsyscall page (`time`, `gettimeofday`,
//! `getcpu` at 0xffffffffff600000, as programs linked before 2012 make
//! them). The kernel emulates them without a syscall instruction; the
//! recorder's seccomp filter stops the thread there, at a seccomp stop with
//! the call's number and arguments. The recorder answers the call itself,
//! logs it as that syscall, and makes the kernel skip its emulation
//! (`orig_rax` = -1): the kernel then returns to the caller with the
//! recorder's result. Replay stops at the same place and does the same with
//! the recorded answer.

use trace::event::Regs;
use trace::EventKind;
use tracee::{regs, Pid};

use crate::recorder::{Recorder, Step};
use crate::task::InFlight;

impl Recorder {
    pub(crate) fn emulate_vsyscall(&mut self, tid: Pid, entry_regs: Regs) -> Step {
        let nr = entry_regs.orig_rax;
        let args = entry_regs.syscall_args();
        let Some(answer) = tracee::vsyscall::answer(tid, nr) else {
            return Err(self.refuse(
                tid,
                format!(
                    "the program called syscall {nr} through the legacy vsyscall page, which \
                     only emulates time, gettimeofday and getcpu; recording stopped so that \
                     the trace is never silently wrong"
                ),
            ));
        };
        self.log(
            tid,
            EventKind::SyscallEntry {
                regs: entry_regs,
                inputs: Vec::new(),
            },
            Vec::new(),
        )?;
        let tgid = self.task(tid)?.tgid;
        for (arg, bytes) in &answer.stores {
            let addr = args[*arg];
            if addr == 0 {
                continue;
            }
            if self.memory(tgid)?.write(addr, bytes).is_err() {
                return Err(self.refuse(
                    tid,
                    format!(
                        "the program passed {addr:#x}, which it cannot write, to a call \
                         through the legacy vsyscall page; the kernel would kill it with \
                         SIGSEGV, which replay cannot reproduce; recording stopped"
                    ),
                ));
            }
        }
        let mut skipped = entry_regs;
        skipped.orig_rax = u64::MAX;
        skipped.rax = answer.result as u64;
        regs::set(tid, &skipped)?;
        let task = self.task(tid)?;
        task.syscall = Some(InFlight::plain(nr, entry_regs.rip, args, (nr, args)));
        task.anchor_regs = None;
        self.syscall_exit(tid)
    }
}
