//! Restartable sequences, emulated (docs/decisions/0025). The kernel's
//! rseq writes the thread's CPU number into the program's memory and
//! moves the thread out of a critical section whenever it preempts it, at
//! moments replay cannot reproduce. So the kernel never sees a
//! registration: the recorder answers `rseq` as the kernel would, writes
//! the CPU fields itself (the thread stays on the recorder's one CPU, so
//! they change only when the program moves the thread), and aborts a
//! critical section where it switches the thread out, logging each write
//! and abort for replay.

use crate::recorder::{Recorder, Step};
use trace::event::{EventKind, MemWrite, Regs};
use tracee::Pid;

/// The original `struct rseq`, which every registration covers.
const ORIG_RSEQ_SIZE: u64 = 32;
const RSEQ_FLAG_UNREGISTER: u64 = 1;
const RSEQ_CPU_ID_UNINITIALIZED: u32 = u32::MAX;
/// Offsets in `struct rseq`.
const CPU_ID_START: u64 = 0;
const RSEQ_CS: u64 = 8;
const NODE_ID: u64 = 20;
const MM_CID: u64 = 24;
/// The highest user address on x86_64, as the kernel's `access_ok` and
/// `rseq_get_rseq_cs` check it.
const TASK_SIZE: u64 = 0x7fff_ffff_f000;

/// A thread's registered `struct rseq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RseqArea {
    pub addr: u64,
    pub len: u64,
    pub sig: u32,
}

/// What the kernel's `rseq` answers with the thread's registration
/// `current`: the new registration, or an error.
fn answer(current: Option<RseqArea>, args: &[u64; 6]) -> Result<Option<RseqArea>, i32> {
    let asked = RseqArea {
        addr: args[0],
        len: args[1] & u64::from(u32::MAX),
        sig: args[3] as u32,
    };
    let flags = args[2] as u32 as u64;
    if flags & RSEQ_FLAG_UNREGISTER != 0 {
        if flags & !RSEQ_FLAG_UNREGISTER != 0 {
            return Err(libc::EINVAL);
        }
        let Some(current) = current.filter(|c| c.addr == asked.addr) else {
            return Err(libc::EINVAL);
        };
        if current.len != asked.len {
            return Err(libc::EINVAL);
        }
        if current.sig != asked.sig {
            return Err(libc::EPERM);
        }
        return Ok(None);
    }
    if flags != 0 {
        return Err(libc::EINVAL);
    }
    if let Some(current) = current {
        if current.addr != asked.addr || current.len != asked.len {
            return Err(libc::EINVAL);
        }
        if current.sig != asked.sig {
            return Err(libc::EPERM);
        }
        return Err(libc::EBUSY);
    }
    let (feature_size, align) = kernel_rseq_sizes();
    let misaligned = |align: u64| !asked.addr.is_multiple_of(align.max(1));
    let valid = asked.len >= ORIG_RSEQ_SIZE
        && if asked.len == ORIG_RSEQ_SIZE {
            !misaligned(ORIG_RSEQ_SIZE)
        } else {
            !misaligned(align) && asked.len >= feature_size
        };
    if !valid {
        return Err(libc::EINVAL);
    }
    if asked
        .addr
        .checked_add(asked.len)
        .is_none_or(|end| end > TASK_SIZE)
    {
        return Err(libc::EFAULT);
    }
    Ok(Some(asked))
}

/// The kernel's `AT_RSEQ_FEATURE_SIZE` and `AT_RSEQ_ALIGN`, from the
/// recorder's own auxiliary vector (the same kernel); the 6.3 values on a
/// kernel older than those entries.
fn kernel_rseq_sizes() -> (u64, u64) {
    const AT_RSEQ_FEATURE_SIZE: u64 = 27;
    const AT_RSEQ_ALIGN: u64 = 28;
    let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
    let entry = |wanted: u64| {
        auxv.chunks_exact(16).find_map(|pair| {
            let word =
                |at: usize| u64::from_le_bytes(pair[at..at + 8].try_into().expect("8 bytes"));
            (word(0) == wanted).then(|| word(8))
        })
    };
    match (entry(AT_RSEQ_FEATURE_SIZE), entry(AT_RSEQ_ALIGN)) {
        (Some(size), Some(align)) if size > 0 && align > 0 => (size, align),
        _ => (28, 32),
    }
}

/// `struct rseq_cs`, the critical section a thread's `rseq_cs` names.
struct CriticalSection {
    start_ip: u64,
    post_commit_offset: u64,
    abort_ip: u64,
}

impl CriticalSection {
    fn parse(bytes: &[u8]) -> Option<CriticalSection> {
        let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let version = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
        let cs = CriticalSection {
            start_ip: u64_at(8)?,
            post_commit_offset: u64_at(16)?,
            abort_ip: u64_at(24)?,
        };
        // The kernel's own checks (`rseq_get_rseq_cs`); it kills a thread
        // whose section fails them, which replay need not reproduce.
        let sane = version == 0
            && cs.start_ip < TASK_SIZE
            && cs.start_ip.checked_add(cs.post_commit_offset)? < TASK_SIZE
            && cs.abort_ip < TASK_SIZE
            && cs.abort_ip.wrapping_sub(cs.start_ip) >= cs.post_commit_offset;
        sane.then_some(cs)
    }

    fn contains(&self, rip: u64) -> bool {
        rip.wrapping_sub(self.start_ip) < self.post_commit_offset
    }
}

impl Recorder {
    /// `rseq`, answered by the recorder; `None` for any other call.
    pub(crate) fn answer_rseq(&mut self, tid: Pid, nr: u64, args: &[u64; 6]) -> Step<Option<i64>> {
        if nr != libc::SYS_rseq as u64 {
            return Ok(None);
        }
        let current = self.task(tid)?.rseq;
        let registered = match answer(current, args) {
            Ok(registered) => registered,
            Err(errno) => return Ok(Some(-i64::from(errno))),
        };
        let fields = match registered {
            Some(area) => cpu_fields(area, tracee::tracer::cpu_of(tid)),
            // Unregistered: the kernel resets the fields it owns.
            None => cpu_fields(
                current.expect("answer() unregisters only a registration"),
                None,
            ),
        };
        let tgid = self.task(tid)?.tgid;
        let mem = self.memory(tgid)?;
        if fields
            .iter()
            .any(|(addr, value)| mem.write(*addr, value).is_err())
        {
            // The kernel would raise SIGSEGV on the return to user space;
            // an error is what the program can act on here.
            return Ok(Some(-i64::from(libc::EFAULT)));
        }
        self.task(tid)?.rseq = registered;
        Ok(Some(0))
    }

    /// Where the recorder switches `tid` out at a preemption point with
    /// registers `regs`: what the kernel does to a preempted thread's
    /// rseq. A critical section it is inside is aborted (the thread
    /// continues at the section's abort handler, and the returned
    /// registers say so); any section pointer is cleared.
    pub(crate) fn preempt_rseq(&mut self, tid: Pid, regs: Regs) -> Step<Regs> {
        let (tgid, Some(area)) = (self.task(tid)?.tgid, self.task(tid)?.rseq) else {
            return Ok(regs);
        };
        let pointer_at = area.addr + RSEQ_CS;
        let mem = self.memory(tgid)?;
        let Ok(pointer) = mem.read(pointer_at, 8) else {
            return Ok(regs);
        };
        let pointer = u64::from_le_bytes(pointer.try_into().expect("read 8 bytes"));
        if pointer == 0 {
            return Ok(regs);
        }
        let signed = |cs: &CriticalSection| {
            mem.read(cs.abort_ip.wrapping_sub(4), 4)
                .is_ok_and(|sig| sig == area.sig.to_le_bytes())
        };
        let aborted_to = mem
            .read(pointer, 32)
            .ok()
            .and_then(|bytes| CriticalSection::parse(&bytes))
            .filter(|cs| cs.contains(regs.rip) && signed(cs))
            .map(|cs| cs.abort_ip);
        mem.write(pointer_at, &0u64.to_le_bytes())?;
        let Some(abort_ip) = aborted_to else {
            self.log_kernel_write(tid, pointer_at, vec![0; 8])?;
            return Ok(regs);
        };
        let aborted = Regs {
            rip: abort_ip,
            ..regs
        };
        tracee::regs::set(tid, &aborted)?;
        tracing::debug!(tid, from = regs.rip, to = abort_ip, "rseq section aborted");
        self.log(
            tid,
            EventKind::RseqAbort {
                rseq_cs: pointer_at,
                from: regs.rip,
                abort_ip,
            },
            Vec::new(),
        )?;
        Ok(aborted)
    }

    /// After the program moved `tid` to other CPUs (`sched_setaffinity`):
    /// the kernel writes the new CPU into its rseq fields on the way back
    /// to user space.
    pub(crate) fn rseq_after_migration(&mut self, tid: Pid) -> Step {
        let (tgid, Some(area)) = (self.task(tid)?.tgid, self.task(tid)?.rseq) else {
            return Ok(());
        };
        for (addr, value) in cpu_fields(area, tracee::tracer::cpu_of(tid)) {
            if self.memory(tgid)?.write(addr, &value).is_ok() {
                self.log_kernel_write(tid, addr, value)?;
            }
        }
        Ok(())
    }

    fn log_kernel_write(&mut self, tid: Pid, addr: u64, bytes: Vec<u8>) -> Step {
        let writes = vec![MemWrite {
            addr,
            len: bytes.len() as u64,
        }];
        self.log(tid, EventKind::KernelWrite { writes }, vec![bytes])?;
        Ok(())
    }
}

/// The fields the kernel keeps in a registered `struct rseq`, each with
/// its address: the thread's CPU and its node, or, for `None`, the values
/// of an unregistered area. The concurrency id is 0: one thread runs at a
/// time.
fn cpu_fields(area: RseqArea, cpu_and_node: Option<(u32, u32)>) -> Vec<(u64, Vec<u8>)> {
    let (cpu_start, cpu_id, node) = match cpu_and_node {
        Some((cpu, node)) => (cpu, cpu, node),
        None => (0, RSEQ_CPU_ID_UNINITIALIZED, 0),
    };
    let mut both = cpu_start.to_le_bytes().to_vec();
    both.extend_from_slice(&cpu_id.to_le_bytes());
    vec![
        (area.addr + CPU_ID_START, both),
        (area.addr + NODE_ID, node.to_le_bytes().to_vec()),
        (area.addr + MM_CID, 0u32.to_le_bytes().to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(addr: u64, len: u64, flags: u64, sig: u64) -> [u64; 6] {
        [addr, len, flags, sig, 0, 0]
    }

    #[test]
    fn registration_follows_the_kernels_checks() {
        let area = RseqArea {
            addr: 0x1000,
            len: 32,
            sig: 0x5305_3053,
        };
        assert_eq!(
            answer(None, &args(0x1000, 32, 0, 0x5305_3053)),
            Ok(Some(area))
        );
        assert_eq!(answer(None, &args(0x1010, 32, 0, 1)), Err(libc::EINVAL));
        assert_eq!(answer(None, &args(0x1000, 16, 0, 1)), Err(libc::EINVAL));
        assert_eq!(answer(None, &args(0x1000, 32, 2, 1)), Err(libc::EINVAL));
        assert_eq!(answer(None, &args(TASK_SIZE, 32, 0, 1)), Err(libc::EFAULT));
        let again = args(0x1000, 32, 0, 0x5305_3053);
        assert_eq!(answer(Some(area), &again), Err(libc::EBUSY));
        assert_eq!(
            answer(Some(area), &args(0x1000, 32, 0, 7)),
            Err(libc::EPERM)
        );
        assert_eq!(
            answer(Some(area), &args(0x2000, 32, 0, 7)),
            Err(libc::EINVAL)
        );
        let unregister = args(0x1000, 32, RSEQ_FLAG_UNREGISTER, 0x5305_3053);
        assert_eq!(answer(Some(area), &unregister), Ok(None));
        assert_eq!(answer(None, &unregister), Err(libc::EINVAL));
        let wrong_sig = args(0x1000, 32, RSEQ_FLAG_UNREGISTER, 1);
        assert_eq!(answer(Some(area), &wrong_sig), Err(libc::EPERM));
    }

    #[test]
    fn a_section_contains_its_instructions_up_to_the_commit() {
        let mut bytes = vec![0u8; 32];
        bytes[8..16].copy_from_slice(&0x4000u64.to_le_bytes());
        bytes[16..24].copy_from_slice(&0x20u64.to_le_bytes());
        bytes[24..32].copy_from_slice(&0x5000u64.to_le_bytes());
        let cs = CriticalSection::parse(&bytes).expect("a valid section");
        assert!(cs.contains(0x4000) && cs.contains(0x401f));
        assert!(!cs.contains(0x4020) && !cs.contains(0x3fff));
        // An abort handler inside the section is refused, as by the kernel.
        bytes[24..32].copy_from_slice(&0x4010u64.to_le_bytes());
        assert!(CriticalSection::parse(&bytes).is_none());
    }
}
