//! Positions in user code without a hardware counter.
//!
//! rr names a point in a thread's execution by its count of retired
//! conditional branches. Without a PMU, `replay` names the point by the
//! whole state there instead: registers plus the memory the loop around it
//! writes. The first time replay sees that state at that address is, by
//! construction, a point indistinguishable from the recorded one (see
//! docs/determinism.md for the argument and its limits).
//!
//! - [`insn`] decodes one single-stepped instruction.
//! - [`pass`] follows the recorder's single steps until a loop closes and
//!   picks a point where replay can plant its probe.
//! - [`probe`] generates the in-process comparison replay plants there.
//! - [`syscall_hook`] generates the patch that sends a libc syscall
//!   instruction to the syscall buffer (the same decode-and-relocate
//!   machinery, for recording speed rather than positions).

#![forbid(unsafe_code)]

pub mod insn;
pub mod pass;
pub mod probe;
pub mod syscall_hook;
