//! The on-disk trace format of `replay`.
//!
//! A trace is a directory holding a JSON `manifest`, two chunked, zstd
//! compressed, sha256-checked streams (`events` and `data`) and a
//! content-addressed `files/` store. The byte layout is specified in
//! `docs/trace-format.md`; this crate is its only writer and reader.
//!
//! Traces must stay readable when the recorder dies mid-way, so the writer
//! orders its output (payload bytes before the events that refer to them,
//! whole chunks only, manifest replaced atomically), and the reader tells a
//! cut-off tail (fine for an incomplete trace) from damage (always an error).

mod chunk;
mod error;
pub mod event;
mod handoff;
mod machine;
mod manifest;
pub mod pack;
mod read_ahead;
mod reader;
mod store;
mod stream_out;
mod verify;
mod writer;

pub use chunk::{Truncation, MAX_COMPRESSED, MAX_UNCOMPRESSED};
pub use error::{IoContext, TraceError};
pub use event::*;
pub use machine::{normalize, CpuidLeaf, MachineInfo};
pub use manifest::{
    check_tick_semantics, ChunkInfo, Manifest, TraceHeader, TraceOutcome, TraceSummary,
    TICKS_ANCHORS, TICKS_STATE_MATCH,
};
pub use reader::{EventIter, RecordedEvent, ScanReport, TraceReader};
pub use store::set_mode;
pub use writer::TraceWriter;

/// Version of the stream layout and manifest schema. Readers refuse traces
/// with a larger number. 2: an exec mapping's `contents` may be a suffix of
/// the mapping instead of all of it. 3: `SyscallExtra::MmapShared`. 4:
/// `EventKind::RseqAbort`. 5: `EventKind::StubPage`, and buffered reads
/// of the time-stamp counter (`syscallbuf::RDTSC`).
pub const FORMAT_VERSION: u32 = 5;

/// Name of the events stream file inside a trace directory.
pub const EVENTS_NAME: &str = "events";
/// Name of the data stream file inside a trace directory.
pub const DATA_NAME: &str = "data";
/// Name of the manifest file inside a trace directory.
pub const MANIFEST_NAME: &str = manifest::MANIFEST_NAME;
/// Name of the content-addressed file store inside a trace directory.
pub const FILES_DIR: &str = store::FILES_DIR;

/// Largest single payload range (`MemWrite::len`) a trace may hold.
pub const MAX_MEM_WRITE: u64 = 1 << 30;
/// Largest total payload of one event.
pub const MAX_EVENT_PAYLOAD: u64 = 4 << 30;
