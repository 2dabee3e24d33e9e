//! Interactive replay: `replay replay --interactive`.
//!
//! A prompt over a replay in progress. Breakpoints are filter SPECs in the
//! grammar `replay dump --filter` uses (crates/analyze parses both), stops
//! print the event the way `replay dump` does, and `regs`/`mem`/`bt` read the
//! real replayed process at that point. Semantics: docs/interactive.md.

#![forbid(unsafe_code)]

mod cursor;
mod render;
mod repl;
mod symbols;

use std::path::PathBuf;

pub use repl::{run, run_script};

/// What `replay replay --interactive` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub trace_dir: PathBuf,
    /// `--breakpoint SPEC`, set before the first prompt.
    pub breakpoints: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InteractiveError {
    #[error(transparent)]
    Replay(#[from] replayer::ReplayError),
    #[error(transparent)]
    Trace(#[from] trace::TraceError),
    #[error(transparent)]
    Filter(#[from] analyze::FilterError),
    #[error("internal error: the decoded view and the replay are out of step: {0}")]
    OutOfStep(String),
    #[error("cannot read commands: {0}")]
    Input(String),
}
