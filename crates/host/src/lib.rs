//! The machine replay runs on: the facts about its CPU and kernel that a
//! trace records (so that a replay elsewhere can say what differs), and
//! where this user's traces live. The trace format itself (`trace`) stays
//! free of both.

pub mod cpu_features;
mod cpuid_cache;
pub mod location;
pub mod machine;
pub mod vdso;

pub use location::{
    allocate_trace_dir, default_trace_root, link_cache_dir, machine_cache_dir, resolve_trace,
    update_latest,
};
pub use machine::PendingMachineInfo;
