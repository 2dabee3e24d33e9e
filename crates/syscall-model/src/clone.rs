//! What a clone-family call asks for, wherever the call keeps it: implied
//! by the call (`fork`, `vfork`), in registers (`clone`), or in a struct in
//! memory (`clone3`). The recorder and replay decide sharing, threads and
//! tid writes from this one reading.

#[cfg(doc)]
use crate::abi::CloneArgsHead;
use crate::row::Args;
use syscalls::Sysno;

const CLONE_VM: u64 = 0x100;
const CLONE_VFORK: u64 = 0x4000;
const SIGCHLD: u64 = 17;

/// A clone request in the register form of `clone(2)`: what the kernel
/// makes of every clone-family call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloneRequest {
    /// `CLONE_*` flags, with the exit signal in the low byte.
    pub flags: u64,
    pub stack: u64,
    /// Where `CLONE_PARENT_SETTID` writes the new tid.
    pub parent_tid: u64,
    /// Where `CLONE_CHILD_SETTID` writes it and `CLONE_CHILD_CLEARTID`
    /// clears it.
    pub child_tid: u64,
    pub tls: u64,
}

/// Where a clone-family call's request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneSource {
    /// Known from the call and its registers.
    Registers(CloneRequest),
    /// In a `struct clone_args` of `size` bytes at `addr` (clone3), which
    /// begins with a [`CloneArgsHead`]; it keeps the exit signal in a
    /// field of its own.
    Memory { addr: u64, size: u64 },
}

/// The request of call `nr` with `args`, or `None` for a call that makes
/// no task.
pub fn clone_source(nr: u64, args: &Args) -> Option<CloneSource> {
    let in_registers = |flags, stack, parent_tid, child_tid, tls| {
        Some(CloneSource::Registers(CloneRequest {
            flags,
            stack,
            parent_tid,
            child_tid,
            tls,
        }))
    };
    match Sysno::new(nr as usize)? {
        Sysno::fork => in_registers(SIGCHLD, 0, 0, 0, 0),
        Sysno::vfork => in_registers(CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0),
        Sysno::clone => in_registers(args[0], args[1], args[2], args[3], args[4]),
        Sysno::clone3 => Some(CloneSource::Memory {
            addr: args[0],
            size: args[1],
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_family_call_has_a_request_and_no_other_call_does() {
        for row in crate::known() {
            let has = clone_source(row.nr, &[0; 6]).is_some();
            assert_eq!(
                has,
                crate::creates_task(row.nr),
                "{}: a clone request but no new task, or the other way",
                row.name
            );
        }
    }

    #[test]
    fn vfork_shares_memory_and_clone_keeps_its_registers() {
        let vfork = clone_source(Sysno::vfork.id() as u64, &[9; 6]);
        assert!(
            matches!(vfork, Some(CloneSource::Registers(r)) if r.flags & CLONE_VM != 0 && r.stack == 0)
        );
        let clone = clone_source(Sysno::clone.id() as u64, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            clone,
            Some(CloneSource::Registers(CloneRequest {
                flags: 1,
                stack: 2,
                parent_tid: 3,
                child_tid: 4,
                tls: 5
            }))
        );
    }
}
