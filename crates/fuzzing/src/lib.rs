//! The bodies of the fuzz targets: each `run` takes arbitrary bytes to one
//! place where outside input enters `replay`, and must return (an error
//! inside is fine) without panicking, hanging or allocating without bound.
//!
//! cargo-fuzz (`fuzz/`, nightly, `scripts/fuzz`) calls them under
//! libFuzzer. `tests/corpus.rs` calls them on the stable toolchain over
//! the saved corpus and generated inputs, so `scripts/test` builds every
//! body and a format change that breaks one fails CI.
#![forbid(unsafe_code)]

pub mod cpuid_table;
pub mod decode;
pub mod filter;
pub mod gdb_packets;
pub mod interactive_commands;
pub mod manifest;
pub mod pack;
mod recording;
pub mod syscall_buffer;
pub mod trace_reader;

/// The header of the template traces the reader targets write their
/// inputs into.
fn template_header() -> trace::TraceHeader {
    trace::TraceHeader {
        command: vec!["fuzz".into()],
        env: Vec::new(),
        cwd: "/".into(),
        start_unix_ns: 0,
        machine: trace::MachineInfo::default(),
        tick_semantics: "anchors".into(),
        pmu: None,
        cpu: None,
        cpuid_faulting: false,
        hidden_cpu_features: Vec::new(),
    }
}

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Body)] = &[
    ("cpuid_table", cpuid_table::run),
    ("decode", decode::run),
    ("filter", filter::run),
    ("gdb_packets", gdb_packets::run),
    ("interactive_commands", interactive_commands::run),
    ("manifest", manifest::run),
    ("pack", pack::run),
    ("syscall_buffer", syscall_buffer::run),
    ("trace_reader", trace_reader::run),
];
