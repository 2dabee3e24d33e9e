//! x86_64 syscall model for replay: names, strace classes, replay policy, and
//! — the precise part — exactly which tracee memory the kernel wrote during a
//! syscall. All of it is one table with one row per syscall (`rows.rs`, the
//! row type in `row.rs`); the functions here look a call up in it.
//!
//! The recorder calls [`outputs`] at every syscall exit, reads the returned
//! ranges from the tracee and logs them; replay writes the same bytes back
//! instead of running the syscall (unless [`replay_policy`] says `Execute`).
//! A syscall, ioctl request, prctl option ... that the model does not know is
//! an error, never a guess.
//!
//! Modelling rules used throughout:
//! * A range may be a little larger than what the kernel strictly wrote (e.g.
//!   a whole `struct pollfd` instead of just `revents`): the recorder reads the
//!   bytes as they are after the syscall, so writing them back is harmless.
//!   A range must never be smaller.
//! * Ranges of length 0 and ranges at address 0 are omitted.
//! * Failing syscalls (`-4095 <= ret < 0`) write nothing unless noted
//!   (interrupted `poll`, `nanosleep`'s `rem`, `capget`'s header, ...).

#![forbid(unsafe_code)]

pub mod abi;
mod blocking;
mod classes;
mod clone;
pub mod compat;
pub mod decode;
mod inputs;
mod ioctl;
mod misc;
pub mod names;
mod net;
mod outputs;
mod policy;
mod row;
mod rows;
mod writes;

pub use blocking::may_block;
pub use classes::Classes;
pub use clone::{clone_source, CloneRequest, CloneSource};
pub use inputs::{inputs, INPUT_BUFFER_CAP};
pub use outputs::{is_error_result, is_modelled, outputs, Out};
pub use policy::{
    is_restart_code, replay_policy, uses_restart_block, ERESTARTNOHAND, ERESTARTNOINTR,
    ERESTARTSYS, ERESTART_RESTARTBLOCK,
};
pub use row::{
    Activity, Args, At, Blocking, Exit, FdEffect, FdWrite, MaskAt, ReadsHook, Replay, Returns,
    Sent, Syscall, TaskEffect, Writes, WritesHook,
};
/// Syscall numbers by name, as the table's rows are keyed.
pub use syscalls::Sysno;

pub use rows::{
    changes_mappings, classes, creates_task, execs, known, known_syscalls, layout_in_memory, name,
    number, syscall, task_effect,
};

/// Reads tracee memory. Implemented by the recorder over process_vm_readv.
pub trait MemoryReader {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError>;
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read tracee memory at {addr:#x} ({len} bytes): {detail}")]
pub struct MemoryError {
    pub addr: u64,
    pub len: usize,
    pub detail: String,
}

/// A range of tracee memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRange {
    pub addr: u64,
    pub len: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("syscall {nr} is not supported by replay's syscall model; recording stopped so that the trace is never silently wrong")]
    UnknownSyscall { nr: u64 },
    #[error("{name} is not supported by replay yet ({detail}); recording stopped so that the trace is never silently wrong")]
    Unsupported { name: &'static str, detail: String },
    #[error("ioctl request {request:#x} on fd {fd} is not supported by replay's syscall model; recording stopped so that the trace is never silently wrong")]
    UnknownIoctl { fd: i64, request: u64 },
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayPolicy {
    /// Result and memory writes come from the log; the kernel never runs it during replay.
    Emulate,
    /// Runs in the kernel during replay too (it shapes the address space, registers or signal state); replay checks its result equals the recorded one.
    Execute,
}

/// True if the ioctl model knows `request` (the kernel's `unsigned int cmd`;
/// upper bits are ignored).
pub fn is_known_ioctl(request: u64) -> bool {
    ioctl::is_known_request(request)
}

#[cfg(test)]
mod tests;

/// Why the recorder answers syscall `nr` with `args` ENOSYS without
/// running it, when it does: a feature whose effects happen outside any
/// syscall (docs/decisions/0019), as a whole call or as an ioctl request.
pub fn absent_because(nr: u64, args: &Args) -> Option<&'static str> {
    if nr == Sysno::ioctl.id() as u64 {
        return ioctl::absent_because(args[1]);
    }
    syscall(nr).and_then(|row| row.absent_because())
}
