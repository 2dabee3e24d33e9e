//! The recorder: runs a program under ptrace and writes everything
//! nondeterministic it observes into a trace.
//!
//! Exactly one tracee thread runs user code at any moment; the others wait in
//! a ptrace stop or sit inside the kernel in a syscall. Switches happen only
//! at anchors (syscall stops, signal stops, exits), so the order of events in
//! the log fully determines how threads interleaved. See docs/design.md and
//! docs/determinism.md.

#![forbid(unsafe_code)]

mod affinity;
mod buffered;
mod cpuid;
mod entry_layout;
mod event_log;
mod exec;
mod exec_checks;
mod in_place;
mod lifecycle;
mod mappings;
mod output;
mod patch_sites;
mod preempt;
mod preload_env;
mod proc_mem;
mod proc_text;
mod proc_views;
mod recorder;
mod rseq;
mod schedule;
mod scratch;
mod seccomp;
mod signals;
mod switch_counts;
mod syscalls;
mod task;
mod vdso;
mod vsyscall;

use std::path::PathBuf;

pub use recorder::record;

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Resolved path of the program to run.
    pub program: PathBuf,
    /// argv, argv[0] included, as the program will see it.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// An existing, empty directory for the trace.
    pub trace_dir: PathBuf,
    /// CPU time a thread runs user code before the recorder looks whether
    /// another thread should run instead.
    pub timeslice_ns: u64,
    /// `--chaos`: random time slices and random choices among ready
    /// threads and preemption points, from this seed.
    pub chaos_seed: Option<u64>,
    /// The preload library of the in-process syscall buffer; `None` records
    /// every syscall through ptrace (`--no-syscall-buffer`).
    pub syscall_buffer: Option<PathBuf>,
    /// Where recordings of the same trace root share stored files by hard
    /// link (`None`: every file is copied).
    pub link_cache: Option<PathBuf>,
    /// Where recordings keep this boot's CPUID table (`None`: read it
    /// every time).
    pub machine_cache: Option<PathBuf>,
    /// CPUID flags (as `host::cpu_features` names them) cleared from the
    /// table the program is answered from, where CPUID can fault.
    pub hidden_cpu_features: Vec<String>,
}

/// The time slice when none is given: short enough that a thread spinning
/// on a flag lets the thread that will set it run soon.
pub const DEFAULT_TIMESLICE_NS: u64 = 2_000_000;

/// How the recording ended.
#[derive(Debug, Clone)]
pub struct RecordOutcome {
    pub outcome: trace::TraceOutcome,
    pub events: u64,
    /// Set when recording stopped early (unsupported syscall, interrupt…);
    /// the trace is still valid up to that point.
    pub stopped_early: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error(transparent)]
    Tracee(#[from] tracee::TraceeError),
    #[error("{0}")]
    Setup(String),
    /// Recording must end early, with the trace valid up to here; on its
    /// way up through `?` it turns back into a stop.
    #[error("{0}")]
    Stopped(String),
}
