//! `replay replay`.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Do not re-emit the program's stdout and stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Step through the recording at a prompt (docs/interactive.md).
    #[arg(short = 'i', long)]
    interactive: bool,
    /// With --interactive: stop where SPEC matches (replay dump --filter grammar); repeatable.
    #[arg(
        short = 'b',
        long = "breakpoint",
        value_name = "SPEC",
        requires = "interactive"
    )]
    breakpoints: Vec<String>,
    /// Trace directory or name (default: the newest recording).
    trace: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<Status> {
    let root = trace::default_trace_root();
    let trace_dir = trace::resolve_trace(&root, args.trace.as_deref())?;
    if args.interactive {
        return crate::interactive_cmd::run(trace_dir, args.breakpoints);
    }
    let outcome = replayer::replay(&replayer::ReplayOptions {
        trace_dir: trace_dir.clone(),
        quiet: args.quiet,
    })
    .with_context(|| format!("cannot replay {}", trace_dir.display()))?;
    if let Some(truncated) = &outcome.truncated {
        eprintln!(
            "replay: {truncated}; replayed the {} events recorded before that",
            outcome.events
        );
        return Ok(Status::Code(1));
    }
    match &outcome.outcome {
        Some(trace::TraceOutcome::Interrupted { reason }) => {
            eprintln!(
                "replay: the recording stopped early ({reason}); replayed the {} events recorded before that",
                outcome.events
            );
            Ok(Status::Code(1))
        }
        Some(recorded) => Ok(Status::from(recorded)),
        None => Ok(Status::Code(1)),
    }
}
