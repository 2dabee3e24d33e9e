//! The recording as data: everything `replay dump|stats|ps|analyze|diff|
//! extract|export` shows is computed here, from a trace read as a stream.
//!
//! The central piece is [`pairing`], which turns the per-thread
//! `SyscallEntry`/`SyscallExit` event pairs into one [`SyscallRecord`] each
//! while keeping strace's notion of calls that were interrupted by other
//! threads' events. Everything else consumes those records in one pass, so
//! memory stays bounded by the number of live tasks and open descriptors,
//! not by the length of the recording.

#![forbid(unsafe_code)]

pub mod context;
pub mod decode;
pub mod diff;
pub mod dump;
pub mod errno;
pub mod export;
pub mod extract;
pub mod fds;
pub mod filter;
pub mod inputs;
pub mod pairing;
pub mod ps;
pub mod recorder_activity;
pub mod report;
pub mod secrets;
pub mod stats;

pub use filter::{EventView, Filter, FilterError};
pub use inputs::{InputSource, NoInputs};
pub use pairing::{Item, Pairing, SyscallRecord};

/// Why an analysis could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, AnalyzeError>;

/// Progress callback: called with the index of the event just consumed, so
/// a front end can draw a progress bar without this crate knowing about
/// terminals.
pub type Progress<'a> = &'a mut dyn FnMut(u64);
pub use syscall_model;
