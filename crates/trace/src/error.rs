//! The single error type of the trace crate.
//!
//! Every message is one line that names what is wrong, where, and what the
//! user can do about it, because these errors end up verbatim in front of
//! someone running `replay`.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while writing or reading a trace.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("I/O error on {}: {source}{}", path.display(), io_hint(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "no manifest in {}: it is not a replay trace, or its recording was cut off before it \
         started; check the path",
        dir.display()
    )]
    ManifestMissing { dir: PathBuf },

    #[error(
        "manifest of trace {} is invalid: {detail}; the trace is damaged, re-record it",
        dir.display()
    )]
    ManifestInvalid { dir: PathBuf, detail: String },

    #[error(
        "trace format version {found} is newer than this replay supports (up to {supported}); \
         upgrade replay to read this trace"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error(
        "trace is corrupt: {stream} stream, chunk {chunk} at byte {offset}: {what} (the file was \
         damaged after recording; re-record, or use only the events before this chunk)"
    )]
    Corrupt {
        stream: String,
        chunk: u64,
        offset: u64,
        what: String,
    },

    #[error("{} is not a replay trace directory; pass a directory made by `replay record`", path.display())]
    NotATrace { path: PathBuf },

    #[error(
        "the trace's stored copy of {path} (files/{sha}) is missing; the trace was copied \
         without its files/ directory or damaged, re-record it"
    )]
    FileMissing { sha: String, path: String },

    #[error(
        "the trace's stored copy of {path} (files/{sha}) does not match its sha256; the file \
         was altered after recording, re-record the trace"
    )]
    FileCorrupt { sha: String, path: String },

    #[error(
        "the trace names a stored file for {path} with an invalid sha256 {sha:?}; the trace is \
         damaged, re-record it"
    )]
    InvalidFileRef { sha: String, path: String },

    #[error("event payloads do not match the event: {detail} (a bug in the recorder)")]
    PayloadMismatch { detail: String },

    #[error(
        "event {index} encodes to {len} bytes, more than a trace chunk can hold ({limit} bytes); \
         (a bug in the recorder)"
    )]
    EventTooLarge { index: u64, len: u64, limit: u64 },

    #[error(
        "trace writer failed: {detail}; the trace is incomplete, but what was recorded before \
         the failure can still be read"
    )]
    WriterFailed { detail: String },

    #[error(
        "pack {} is damaged: {detail}; copy it again from where it was made, or pack the \
         trace again",
        path.display()
    )]
    PackDamaged { path: PathBuf, detail: String },

    #[error("no recordings yet in {}; run `replay record` first", root.display())]
    NoRecordings { root: PathBuf },

    #[error(
        "no trace at {} or {}; pass a trace directory, or a trace name from the trace root",
        arg.display(),
        in_root.display()
    )]
    TraceNotFound { arg: PathBuf, in_root: PathBuf },
}

fn io_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::StorageFull => "; free some disk space or record to another directory",
        io::ErrorKind::PermissionDenied => "; check the permissions of that path",
        io::ErrorKind::NotFound => "; check that the path exists",
        io::ErrorKind::AlreadyExists => "; choose a path that does not exist yet",
        io::ErrorKind::UnexpectedEof => "; the file is shorter than expected",
        _ => "",
    }
}

impl TraceError {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> TraceError {
        TraceError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Attaches a path to an `io::Result`, so that every I/O error says where.
/// Attaches the path an I/O error happened at.
pub trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, TraceError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, TraceError> {
        self.map_err(|e| TraceError::io(path, e))
    }
}
