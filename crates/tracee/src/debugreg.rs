//! The debug registers of a stopped tracee: DR0–DR3 (addresses), DR6
//! (which one fired) and DR7 (which are on, and how), read and written
//! through the kernel's `struct user` (PTRACE_PEEKUSER / POKEUSER).

use crate::{Pid, TraceeError};
use nix::sys::ptrace;
use nix::unistd::Pid as NixPid;

/// Offset of `u_debugreg` in the kernel's `struct user` on x86_64.
const DEBUGREG_OFFSET: usize = 848;

/// DR6, the status register: bit `i` says debug register `i` fired.
pub const STATUS: usize = 6;
/// DR7, the control register.
pub const CONTROL: usize = 7;

pub fn read(pid: Pid, index: usize) -> Result<u64, TraceeError> {
    let offset = (DEBUGREG_OFFSET + 8 * index) as ptrace::AddressType;
    ptrace::read_user(NixPid::from_raw(pid), offset)
        .map(|v| v as u64)
        .map_err(|source| TraceeError::Ptrace {
            request: "PEEKUSER (debug register)",
            pid,
            source,
        })
}

pub fn write(pid: Pid, index: usize, value: u64) -> Result<(), TraceeError> {
    let offset = (DEBUGREG_OFFSET + 8 * index) as ptrace::AddressType;
    ptrace::write_user(NixPid::from_raw(pid), offset, value as libc::c_long).map_err(|source| {
        TraceeError::Ptrace {
            request: "POKEUSER (debug register)",
            pid,
            source,
        }
    })
}
