//! CPUID faulting: a thread whose CPUID instructions trap
//! (`arch_prctl(ARCH_SET_CPUID, 0)`) stops with SIGSEGV on each one, and
//! the tracer answers it in the thread's registers.

use crate::memory::ProcessMemory;
use crate::ptrace::{self, SIGINFO_SIZE};
use crate::{regs, Pid, TraceeError};

/// `arch_prctl` code that turns CPUID on (1) or makes it fault (0).
pub const ARCH_SET_CPUID: u64 = 0x1012;
/// `arch_prctl` code that says whether CPUID runs (1) or faults (0).
pub const ARCH_GET_CPUID: u64 = 0x1011;

const CPUID_INSN: [u8; 2] = [0x0f, 0xa2];
/// The `si_code` of a fault the kernel raises itself (a general protection
/// fault such as a trapped CPUID or rdtsc).
const SI_KERNEL: i32 = 0x80;

/// Whether a stop with `sig` and `info` can be a trapped CPUID (a fault
/// the kernel raised itself): cheap, for callers that look anything up
/// before [`answer_if_trapped`].
pub fn may_be_trapped(sig: i32, info: &[u8; SIGINFO_SIZE]) -> bool {
    sig == libc::SIGSEGV && ptrace::siginfo_code(info) == SI_KERNEL
}

/// Answers the CPUID that `tid` stopped on, when its stop (`sig`, `info`)
/// is a trapped CPUID: puts `answer(leaf, subleaf)` in eax..edx and moves
/// past the instruction, as the CPU would have. False for any other stop,
/// which is left as it was.
pub fn answer_if_trapped(
    tid: Pid,
    mem: &ProcessMemory,
    sig: i32,
    info: &[u8; SIGINFO_SIZE],
    answer: impl Fn(u32, u32) -> [u32; 4],
) -> Result<bool, TraceeError> {
    if !may_be_trapped(sig, info) {
        return Ok(false);
    }
    let mut r = regs::get(tid)?;
    if mem.read(r.rip, CPUID_INSN.len()).ok().as_deref() != Some(&CPUID_INSN[..]) {
        return Ok(false);
    }
    let (leaf, subleaf) = (r.rax as u32, r.rcx as u32);
    let [eax, ebx, ecx, edx] = answer(leaf, subleaf);
    tracing::trace!(tid, rip = r.rip, leaf, subleaf, "trapped CPUID answered");
    // CPUID writes the 32-bit registers, which clears their upper halves.
    r.rax = u64::from(eax);
    r.rbx = u64::from(ebx);
    r.rcx = u64::from(ecx);
    r.rdx = u64::from(edx);
    r.rip += CPUID_INSN.len() as u64;
    regs::set(tid, &r)?;
    Ok(true)
}
