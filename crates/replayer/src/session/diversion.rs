//! Diversions: a debugger that evaluates an expression calling a function
//! (`print f(x)`) writes registers and memory and runs code. The replay
//! itself never changes; the debugger works in a copy of it (a forked
//! session, see `snapshot.rs`) that is thrown away afterwards. Here is what
//! such a copy allows: writing its registers and memory, and running one of
//! its threads freely (not by the recording) until a breakpoint or a
//! signal. A syscall the copy will not make gets ENOSYS, and says why.

use super::ReplaySession;
use crate::ReplayError;
use std::collections::BTreeSet;
use trace::event::Regs;
use trace::RecordedTid;
use tracee::ptrace::{self, Resume, Stop, WaitResult};
use tracee::regs;

/// Why a thread running in a diversion stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DivertedStop {
    /// At one of the breakpoints it was given.
    Breakpoint,
    /// After one instruction.
    Stepped,
    /// The code raised this signal (not delivered).
    Signal(i32),
    /// The thread's process ended.
    Exited,
}

/// How a run in a diversion went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivertedRun {
    pub stop: DivertedStop,
    /// Why each syscall the code made and the diversion answered ENOSYS
    /// was not made.
    pub refused: Vec<String>,
}

impl ReplaySession {
    /// Sets a thread's registers. Only for a diversion: a replay changed
    /// this way no longer follows its recording.
    pub fn set_regs(&mut self, tid: RecordedTid, new: &Regs) -> Result<(), ReplayError> {
        Ok(regs::set(self.live_thread(tid)?, new)?)
    }

    /// Sets a thread's x87/SSE state (FXSAVE layout); only for a diversion.
    pub fn set_fpregs(&mut self, tid: RecordedTid, area: &[u8; 512]) -> Result<(), ReplayError> {
        Ok(regs::set_fpregs(self.live_thread(tid)?, area)?)
    }

    /// Makes the preload library of every process send its calls to the
    /// kernel (its traced path), not to the recorded results it replays:
    /// for a diversion, where code gdb runs makes calls the recording never
    /// made.
    pub fn send_library_calls_to_the_kernel(&mut self) -> Result<(), ReplayError> {
        let word = 8 * syscallbuf::FD_GENERATION_WORD as u64;
        for process in self.processes.values() {
            let Some(words) = process.library_words else {
                continue;
            };
            let flags = process.memory.read_u64(words + word)?;
            let flags = flags | syscallbuf::ALL_CALLS_TRACED;
            process.memory.write(words + word, &flags.to_le_bytes())?;
        }
        Ok(())
    }

    /// Writes a process's memory; only for a diversion.
    pub fn write_memory(
        &mut self,
        pid: RecordedTid,
        addr: u64,
        bytes: &[u8],
    ) -> Result<(), ReplayError> {
        Ok(self.process(pid)?.memory.write(addr, bytes)?)
    }

    /// Runs thread `tid` of a diversion by itself, one instruction when
    /// `step`, else until it reaches one of `breakpoints` (other than where
    /// it starts) or raises a signal. A syscall a diversion does not make
    /// (see [`diverted_call_allowed`]) returns ENOSYS. The other threads
    /// stay where they are.
    pub fn run_diverted(
        &mut self,
        tid: RecordedTid,
        breakpoints: &BTreeSet<u64>,
        step: bool,
    ) -> Result<DivertedRun, ReplayError> {
        let real = self.live_thread(tid)?;
        let pid = self.tasks.get(&tid).map_or(tid, |t| t.rec_pid);
        let start = regs::get(real)?.rip;
        let mut planted = Vec::new();
        if !step {
            let memory = &self.process(pid)?.memory;
            for &addr in breakpoints.iter().filter(|&&a| a != start) {
                if let Ok(byte) = memory.read(addr, 1) {
                    memory.write(addr, &[0xcc])?;
                    planted.push((addr, byte[0]));
                }
            }
        }
        let stop = run_thread(real, step, &planted);
        let memory = &self.process(pid)?.memory;
        for (addr, byte) in planted {
            let _ = memory.write(addr, &[byte]);
        }
        stop
    }
}

fn run_thread(
    real: tracee::Pid,
    step: bool,
    planted: &[(u64, u8)],
) -> Result<DivertedRun, ReplayError> {
    let mut refused = Vec::new();
    // At an entry stop: whether the call was refused (skipped), and so
    // gets ENOSYS at its exit.
    let mut in_syscall: Option<bool> = None;
    let stop = loop {
        let how = if step {
            Resume::SingleStep
        } else {
            Resume::Syscall
        };
        ptrace::resume(real, how, 0)?;
        match ptrace::wait_for(real)? {
            WaitResult::Stopped(_, Stop::Syscall) => {
                let mut r = regs::get(real)?;
                match in_syscall.take() {
                    Some(skipped) => {
                        if skipped {
                            r.rax = -(libc::ENOSYS as i64) as u64;
                            regs::set(real, &r)?;
                        }
                        if step {
                            break DivertedStop::Stepped;
                        }
                    }
                    None => {
                        let answer = diverted_call_allowed(&r);
                        if let Err(why) = &answer {
                            refused.push(why.clone());
                            r.orig_rax = u64::MAX;
                            regs::set(real, &r)?;
                        }
                        in_syscall = Some(answer.is_err());
                    }
                }
            }
            WaitResult::Stopped(_, Stop::Signal(libc::SIGTRAP)) => {
                if step {
                    break DivertedStop::Stepped;
                }
                let mut r = regs::get(real)?;
                let at = r.rip.wrapping_sub(1);
                if planted.iter().any(|&(addr, _)| addr == at) {
                    r.rip = at;
                    regs::set(real, &r)?;
                    break DivertedStop::Breakpoint;
                }
                break DivertedStop::Signal(libc::SIGTRAP);
            }
            WaitResult::Stopped(_, Stop::Signal(signal)) => break DivertedStop::Signal(signal),
            WaitResult::Stopped(_, Stop::Event { .. }) => {}
            WaitResult::Exited(..) | WaitResult::Signaled(..) => break DivertedStop::Exited,
        }
    };
    Ok(DivertedRun { stop, refused })
}

/// The syscalls code run in a diversion may make: output to the terminal
/// and memory management, which change nothing outside the copy. Anything
/// else could touch files, other processes or the replay's own descriptors.
pub fn diverted_call_allowed(r: &Regs) -> Result<(), String> {
    let nr = r.orig_rax as i64;
    let allowed = match nr {
        libc::SYS_write | libc::SYS_writev => matches!(r.rdi, 1 | 2),
        libc::SYS_mmap => r.r10 & libc::MAP_ANONYMOUS as u64 != 0,
        libc::SYS_munmap
        | libc::SYS_mremap
        | libc::SYS_brk
        | libc::SYS_mprotect
        | libc::SYS_madvise
        | libc::SYS_rt_sigprocmask => true,
        _ => false,
    };
    if allowed {
        return Ok(());
    }
    let name = syscall_model::name(r.orig_rax).unwrap_or("an unknown syscall");
    Err(format!(
        "the code gdb ran called {name}, which got ENOSYS: in the throw-away copy of the \
         replay that expressions run in, only output to the terminal and memory management \
         are made"
    ))
}
