//! The program's CPUID in replay. A recording that made CPUID fault
//! answered every CPUID from the table in its header; replay makes CPUID
//! fault too and answers from the same table, so the program takes the
//! same code paths on any CPU that has the features the table reports.
//! Other recordings let the program read the CPU, and replay warns when
//! this one differs.

use super::ReplaySession;
use crate::task::ReplayProcess;
use crate::{address_space, ReplayError};
use host::cpu_features::{self, CpuidAnswers};
use trace::RecordedTid;
use trace::{MachineInfo, TraceHeader};
use tracee::cpuid::ARCH_SET_CPUID;
use tracee::ptrace::{self, Stop, WaitResult, SIGINFO_SIZE};
use tracee::Pid;

/// This machine's facts, read once per process (reverse execution starts
/// many sessions) from the trace root's copy for this boot when that still
/// matches.
fn this_machine() -> &'static MachineInfo {
    static HERE: std::sync::OnceLock<MachineInfo> = std::sync::OnceLock::new();
    HERE.get_or_init(|| {
        let cache = host::machine_cache_dir(&host::default_trace_root());
        host::machine::current_cached(&cache)
    })
}

/// How the replayed program's CPUID is answered: from the trace's table
/// (`Some`) or by this CPU (`None`). Refuses a recording whose table
/// reports features this CPU lacks, and one that hid features from the
/// program when this machine cannot make CPUID fault.
pub(super) fn answers(header: &TraceHeader) -> Result<Option<CpuidAnswers>, ReplayError> {
    if !header.cpuid_faulting {
        warn_if_cpu_differs(&header.machine);
        return Ok(None);
    }
    let here = this_machine();
    let missing = cpu_features::missing_on(&header.machine, here);
    if !missing.is_empty() {
        return Err(ReplayError::Setup(format!(
            "this CPU lacks features the recorded program was told it had: {}; replay the \
             trace on a machine that has them (`replay info` shows the recording's CPU)",
            missing.join(", ")
        )));
    }
    if cpu_features::cpuid_faulting_available() {
        return Ok(Some(CpuidAnswers::new(&header.machine)));
    }
    // The program will read this CPU: only the recorded answers will do.
    let differences = header.machine.cpuid_differences(here);
    if differences.is_empty() {
        return Ok(None);
    }
    let hidden = match header.hidden_cpu_features.is_empty() {
        true => String::new(),
        false => format!(" (hiding {})", header.hidden_cpu_features.join(", ")),
    };
    Err(ReplayError::Setup(format!(
        "the recording answered the program's CPUID from its own table{hidden}, and this \
         machine cannot make CPUID fault (no cpuid_fault in /proc/cpuinfo), so the program \
         would read a different CPU ({} differences, first: {}); replay the trace on a \
         machine with CPUID faulting",
        differences.len(),
        differences[0]
    )))
}

/// Makes CPUID fault in a thread that has just exec'd (the kernel turns
/// faulting off at exec).
pub(super) fn fault_on_cpuid(tid: Pid, process: &ReplayProcess) -> Result<(), ReplayError> {
    let result = address_space::run_syscall(
        tid,
        process,
        libc::SYS_arch_prctl,
        [ARCH_SET_CPUID, 0, 0, 0, 0, 0],
    )?;
    if result != 0 {
        return Err(ReplayError::Setup(format!(
            "cannot make CPUID fault in the replayed process: {}",
            std::io::Error::from_raw_os_error(-result as i32)
        )));
    }
    Ok(())
}

impl ReplaySession {
    /// Answers the CPUID the thread stopped on (`sig`, `info`), if its stop
    /// is one. True when it did; the thread then stands after the
    /// instruction.
    pub(super) fn answer_cpuid(
        &self,
        real: Pid,
        rec_pid: RecordedTid,
        sig: i32,
        info: &[u8; SIGINFO_SIZE],
    ) -> Result<bool, ReplayError> {
        let Some(answers) = self
            .cpuid
            .as_ref()
            .filter(|_| tracee::cpuid::may_be_trapped(sig, info))
        else {
            return Ok(false);
        };
        let mem = &self.process(rec_pid)?.memory;
        Ok(tracee::cpuid::answer_if_trapped(
            real,
            mem,
            sig,
            info,
            |leaf, subleaf| answers.answer(leaf, subleaf),
        )?)
    }

    /// Answers a trapped CPUID that stopped a single step: the step is
    /// then done. False for any other stop.
    pub(super) fn step_answered_cpuid(
        &self,
        real: Pid,
        rec_pid: RecordedTid,
        stop: &WaitResult,
    ) -> Result<bool, ReplayError> {
        let WaitResult::Stopped(_, Stop::Signal(sig)) = *stop else {
            return Ok(false);
        };
        match ptrace::get_siginfo(real)? {
            Some(info) => self.answer_cpuid(real, rec_pid, sig, &info),
            None => Ok(false),
        }
    }
}

/// Compares the recording machine's CPUID table with this one's on a
/// thread of its own, once per process (reverse execution starts many
/// sessions): reading the table costs about a millisecond in a VM, which
/// replay need not wait for, since the answer is only a warning; and it
/// comes from the trace root's copy for this boot when that still matches
/// (as when recording). [`finish_cpu_check`] waits for it.
fn warn_if_cpu_differs(recorded: &trace::MachineInfo) {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let recorded = recorded.clone();
        let check = move || {
            let cache = host::machine_cache_dir(&host::default_trace_root());
            let here = host::machine::current_cached(&cache);
            let differences = recorded.cpuid_differences(&here);
            if !differences.is_empty() {
                tracing::warn!(
                    "this CPU differs from the recording machine's ({}); replay may diverge",
                    differences.join(", ")
                );
            }
        };
        let thread = std::thread::Builder::new()
            .name("replay-cpuid".into())
            .spawn(check)
            .ok();
        *CPU_CHECK.lock().unwrap_or_else(|p| p.into_inner()) = thread;
    });
}

static CPU_CHECK: std::sync::Mutex<Option<std::thread::JoinHandle<()>>> =
    std::sync::Mutex::new(None);

/// Waits until the CPU comparison has warned, if it will: a replay that
/// failed should say so before its error, since a different CPU explains
/// many divergences.
pub fn finish_cpu_check() {
    let thread = CPU_CHECK.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(thread) = thread {
        let _ = thread.join();
    }
}
