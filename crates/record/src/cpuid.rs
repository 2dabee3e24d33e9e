//! CPUID faulting while recording: every CPUID the program executes traps,
//! and the recorder answers it from the table in the trace's header, with
//! the hidden features cleared. Nothing is logged per call: replay answers
//! from the same table. See docs/decisions/0015-cpuid-faulting.md.

use crate::recorder::{Recorder, Step};
use crate::{RecordError, RecordOptions};
use trace::MachineInfo;
use tracee::cpuid::{ARCH_GET_CPUID, ARCH_SET_CPUID};
use tracee::inject::{self, SyscallSite};
use tracee::ptrace::SIGINFO_SIZE;
use tracee::Pid;

pub(crate) use host::cpu_features::CpuidAnswers;

/// The table the program will be answered from, with the hidden features
/// cleared; `None` where CPUID cannot fault, and the program reads the CPU
/// itself.
pub(crate) fn answers(options: &RecordOptions, cpu: usize) -> Option<MachineInfo> {
    if host::cpu_features::cpuid_faulting_turned_off() {
        // For comparing with a recording that reads the CPU (and for CPUs
        // whose faulting misbehaves): the trace is then tied to this CPU.
        tracing::info!("CPUID faulting turned off by REPLAY_CPUID_FAULTING=off");
        return None;
    }
    if !host::cpu_features::cpuid_faulting_available() {
        tracing::warn!(
            "this machine cannot make CPUID fault (no cpuid_fault in /proc/cpuinfo), so the \
             program reads the CPU itself: the trace replays only on this CPU model, and \
             RDRAND and RDSEED stay visible to the program"
        );
        return None;
    }
    let mut machine = match &options.machine_cache {
        Some(dir) => host::machine::current_cached(dir),
        None => host::machine::current(),
    };
    // The program runs pinned to `cpu`: it reads that core's APIC id, as
    // it would natively.
    host::machine::as_seen_on_cpu(&mut machine.cpuid, cpu);
    let hidden: Vec<&str> = options
        .hidden_cpu_features
        .iter()
        .map(String::as_str)
        .collect();
    host::cpu_features::hide(&mut machine.cpuid, &hidden);
    Some(machine)
}

impl Recorder {
    /// Makes CPUID fault in the thread that just exec'd (the kernel turns
    /// faulting off at exec; threads and children inherit it).
    pub(crate) fn fault_on_cpuid(&mut self, tid: Pid, tgid: Pid) -> Result<(), RecordError> {
        if self.cpuid.is_none() {
            return Ok(());
        }
        let mem = self.memory(tgid)?;
        let result = inject::syscall(
            tid,
            mem,
            SyscallSite::PatchRip,
            libc::SYS_arch_prctl,
            [ARCH_SET_CPUID, 0, 0, 0, 0, 0],
        )?;
        if result != 0 {
            // The trace says every CPUID was answered from its table; one
            // the CPU answered instead would replay differently.
            return Err(RecordError::Setup(format!(
                "cannot make CPUID fault in process {tgid} after its exec: {}",
                std::io::Error::from_raw_os_error(-result as i32)
            )));
        }
        Ok(())
    }

    /// Answers the CPUID `tid` stopped on, if its stop is one. True when it
    /// did; the thread then stands after the instruction.
    pub(crate) fn answer_cpuid(
        &mut self,
        tid: Pid,
        sig: i32,
        info: &[u8; SIGINFO_SIZE],
    ) -> Result<bool, RecordError> {
        if !tracee::cpuid::may_be_trapped(sig, info) {
            return Ok(false);
        }
        let Some(answers) = self.cpuid.as_ref().map(std::sync::Arc::clone) else {
            return Ok(false);
        };
        let tgid = self.task(tid)?.tgid;
        let mem = self.memory(tgid)?;
        Ok(tracee::cpuid::answer_if_trapped(
            tid,
            mem,
            sig,
            info,
            |leaf, subleaf| answers.answer(leaf, subleaf),
        )?)
    }

    /// ARCH_GET_CPUID and ARCH_SET_CPUID, answered by the recorder, which
    /// keeps CPUID faulting for itself: the program sees CPUID enabled, and
    /// a request to make it fault gets ENODEV, the answer of a machine
    /// without faulting (which is what the kernel answers where the
    /// recorder has no faulting either). Replay never runs them. None for
    /// any other call.
    pub(crate) fn program_cpuid_mode(&self, nr: u64, args: &[u64; 6]) -> Step<Option<i64>> {
        if nr != libc::SYS_arch_prctl as u64 {
            return Ok(None);
        }
        Ok(match (args[0], args[1]) {
            (ARCH_GET_CPUID, _) => Some(1),
            (ARCH_SET_CPUID, 0) => Some(-(libc::ENODEV as i64)),
            (ARCH_SET_CPUID, _) => Some(0),
            _ => None,
        })
    }
}
