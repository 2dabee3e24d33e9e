//! Everything that touches a live traced process: ptrace requests and stop
//! decoding, registers, memory, `/proc/<pid>/maps`, and injecting syscalls.
//!
//! Record and replay both build on this crate; it holds no policy.

pub mod cpuid;
pub mod debugreg;
mod error;
pub mod exec_env;
pub mod inject;
pub mod maps;
pub mod memory;
pub mod perf;
pub mod proc_stat;
pub mod ptrace;
pub mod regs;
pub mod signal_state;
pub mod spawn;
pub mod stack_print;
pub mod stat;
pub mod tracer;
pub mod vector_state;
pub mod vsyscall;

pub use error::TraceeError;
pub use memory::ProcessMemory;
pub use ptrace::{Stop, WaitResult};

/// Process or thread id.
pub type Pid = libc::pid_t;
