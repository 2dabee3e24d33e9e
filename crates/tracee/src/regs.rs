//! Register access, converting between the kernel layout and [`trace::event::Regs`].

use crate::{Pid, TraceeError};
use nix::sys::ptrace;
use nix::unistd::Pid as NixPid;
use trace::event::Regs;

pub fn from_kernel(r: &libc::user_regs_struct) -> Regs {
    Regs {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.rbp,
        rbx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.rax,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        orig_rax: r.orig_rax,
        rip: r.rip,
        cs: r.cs,
        eflags: r.eflags,
        rsp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
    }
}

pub fn to_kernel(r: &Regs) -> libc::user_regs_struct {
    libc::user_regs_struct {
        r15: r.r15,
        r14: r.r14,
        r13: r.r13,
        r12: r.r12,
        rbp: r.rbp,
        rbx: r.rbx,
        r11: r.r11,
        r10: r.r10,
        r9: r.r9,
        r8: r.r8,
        rax: r.rax,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        orig_rax: r.orig_rax,
        rip: r.rip,
        cs: r.cs,
        eflags: r.eflags,
        rsp: r.rsp,
        ss: r.ss,
        fs_base: r.fs_base,
        gs_base: r.gs_base,
        ds: r.ds,
        es: r.es,
        fs: r.fs,
        gs: r.gs,
    }
}

pub fn get(pid: Pid) -> Result<Regs, TraceeError> {
    ptrace::getregs(NixPid::from_raw(pid))
        .map(|r| from_kernel(&r))
        .map_err(|source| TraceeError::Ptrace {
            request: "GETREGS",
            pid,
            source,
        })
}

pub fn set(pid: Pid, regs: &Regs) -> Result<(), TraceeError> {
    ptrace::setregs(NixPid::from_raw(pid), to_kernel(regs)).map_err(|source| TraceeError::Ptrace {
        request: "SETREGS",
        pid,
        source,
    })
}

/// Sets the syscall arguments in ABI order.
pub fn set_syscall_args(regs: &mut Regs, args: &[u64; 6]) {
    regs.rdi = args[0];
    regs.rsi = args[1];
    regs.rdx = args[2];
    regs.r10 = args[3];
    regs.r8 = args[4];
    regs.r9 = args[5];
}

/// Registers compared for divergence detection, with why-not notes.
///
/// `eflags` bit 16 (RF) and bit 8 (TF) depend on how the tracer resumed the
/// thread, not on the program, so they are masked out.
pub fn differences(expected: &Regs, found: &Regs) -> Vec<(&'static str, u64, u64)> {
    const IGNORED_FLAGS: u64 = (1 << 16) | (1 << 8);
    expected
        .named()
        .iter()
        .zip(found.named().iter())
        .filter_map(|(&(name, e), &(_, f))| {
            let (e, f) = if name == "eflags" {
                (e & !IGNORED_FLAGS, f & !IGNORED_FLAGS)
            } else {
                (e, f)
            };
            (e != f).then_some((name, e, f))
        })
        .collect()
}

/// The FXSAVE image of the thread's x87/SSE state (512 bytes).
pub fn get_fpregs(pid: Pid) -> Result<[u8; 512], TraceeError> {
    let mut area = [0u8; 512];
    // SAFETY: GETFPREGS writes one user_fpregs_struct (512 bytes) into `area`.
    let rc = unsafe { libc::ptrace(libc::PTRACE_GETFPREGS, pid, 0usize, area.as_mut_ptr()) };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: "GETFPREGS",
            pid,
            source: nix::Error::last(),
        });
    }
    Ok(area)
}

/// Sets the thread's x87/SSE state from an FXSAVE image (512 bytes).
pub fn set_fpregs(pid: Pid, area: &[u8; 512]) -> Result<(), TraceeError> {
    // SAFETY: SETFPREGS reads one user_fpregs_struct (512 bytes) from
    // `area`, which outlives the call.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SETFPREGS, pid, 0usize, area.as_ptr()) };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: "SETFPREGS",
            pid,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// `NT_X86_XSTATE`: the thread's XSAVE area (standard form).
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Room for any XSAVE area the kernel reports (AMX needs about 11 KiB).
const XSTATE_MAX: usize = 16 * 1024;

/// The thread's XSAVE area, as long as the kernel reports it.
pub fn get_xstate(pid: Pid) -> Result<Vec<u8>, TraceeError> {
    let mut area = vec![0u8; XSTATE_MAX];
    let len = xstate_request(pid, libc::PTRACE_GETREGSET, "GETREGSET", &mut area)?;
    area.truncate(len);
    Ok(area)
}

/// Writes a thread's XSAVE area, as [`get_xstate`] read it.
pub fn set_xstate(pid: Pid, area: &[u8]) -> Result<(), TraceeError> {
    let mut copy = area.to_vec();
    xstate_request(pid, libc::PTRACE_SETREGSET, "SETREGSET", &mut copy).map(|_| ())
}

/// One `NT_X86_XSTATE` regset request over `area`; returns the length the
/// kernel used.
fn xstate_request(
    pid: Pid,
    request: libc::c_uint,
    name: &'static str,
    area: &mut [u8],
) -> Result<usize, TraceeError> {
    let mut iov = libc::iovec {
        iov_base: area.as_mut_ptr().cast(),
        iov_len: area.len(),
    };
    // SAFETY: GETREGSET writes and SETREGSET reads at most iov_len bytes
    // of `area`, which outlives the call; the kernel stores the length it
    // used in iov_len.
    let rc = unsafe {
        libc::ptrace(
            request,
            pid,
            NT_X86_XSTATE as usize,
            &mut iov as *mut libc::iovec,
        )
    };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: name,
            pid,
            source: nix::Error::last(),
        });
    }
    Ok(iov.iov_len)
}

/// Whether the syscall a thread stopped at, returning to `rip`, was made
/// with `int $0x80` (the two bytes before the return address): the kernel
/// then runs it from its i386 table.
pub fn made_by_int80(memory: &crate::ProcessMemory, rip: u64) -> bool {
    const INT80: [u8; 2] = [0xcd, 0x80];
    rip.checked_sub(2)
        .is_some_and(|site| memory.read(site, 2).is_ok_and(|bytes| bytes == INT80))
}
