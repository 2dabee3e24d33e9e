//! `replay replay --interactive`: the prompt lives in crates/interactive.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub fn run(trace_dir: PathBuf, breakpoints: Vec<String>) -> Result<Status> {
    interactive::run(&interactive::Options {
        trace_dir: trace_dir.clone(),
        breakpoints,
    })
    .with_context(|| format!("interactive replay of {}", trace_dir.display()))?;
    Ok(Status::Code(0))
}
