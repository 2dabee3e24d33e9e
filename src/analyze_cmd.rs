//! `replay dump|stats|ps|analyze|diff|extract|export`: command-line
//! parsing and presentation; the analyses live in the `analyze` crate.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use analyze::dump::{DumpOptions, StatusFilter};
use analyze::{Filter, NoInputs};
use anyhow::{bail, Context, Result};
use trace::TraceReader;

use crate::exit::Status;

/// Options every analysis command accepts.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// Color output: auto, always or never (NO_COLOR is honoured).
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
}

fn open(trace: Option<&Path>) -> Result<TraceReader> {
    let root = trace::default_trace_root();
    let dir = trace::resolve_trace(&root, trace)?;
    TraceReader::open(&dir).with_context(|| format!("cannot open trace {}", dir.display()))
}

/// A progress bar on stderr when it is a terminal; events are the unit.
fn progress(reader: &TraceReader) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let total = reader.manifest().totals.as_ref().map(|t| t.events)?;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} events ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn with_progress<T>(
    reader: &TraceReader,
    f: impl FnOnce(Option<analyze::Progress<'_>>) -> analyze::Result<T>,
) -> Result<T> {
    let bar = progress(reader);
    let result = match &bar {
        Some(b) => {
            let mut tick = |i: u64| {
                if i % 4096 == 0 {
                    b.set_position(i);
                }
            };
            f(Some(&mut tick))
        }
        None => f(None),
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(result?)
}

fn stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
}

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Trace directory or name (default: the newest recording).
    trace: Option<PathBuf>,
    /// strace-style qualifier: trace=NAME,%class,... or status=failed|successful.
    #[arg(short = 'e', value_name = "EXPR")]
    expr: Vec<String>,
    /// Show the time spent in each call (entry to exit).
    #[arg(short = 'T')]
    durations: bool,
    /// Prefix lines with the wall-clock time (-tt: microseconds).
    #[arg(short = 't', action = clap::ArgAction::Count)]
    time: u8,
    /// Print the paths of file descriptors.
    #[arg(short = 'y')]
    fd_paths: bool,
    /// Longest string to print before "..." (strace's -s).
    #[arg(short = 's', default_value_t = 32)]
    strsize: usize,
    /// Only this process or thread.
    #[arg(long)]
    pid: Option<i32>,
    /// Only events matching this SPEC (docs/filter-spec.md).
    #[arg(long)]
    filter: Option<String>,
    /// One JSON object per syscall and line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

fn parse_qualifiers(exprs: &[String], opts: &mut DumpOptions) -> Result<()> {
    for e in exprs {
        let (key, value) = e.split_once('=').unwrap_or(("trace", e.as_str()));
        match key {
            "trace" => {
                for name in value.split(',').filter(|n| !n.is_empty()) {
                    if name.starts_with('%') {
                        match analyze::syscall_model::Classes::from_name(name) {
                            Some(c) => opts.trace_classes |= c,
                            None => bail!("-e trace: unknown class {name}"),
                        }
                    } else {
                        match analyze::syscall_model::number(name) {
                            Some(nr) => opts.trace_nrs.push(nr),
                            None => bail!("-e trace: unknown syscall {name}"),
                        }
                    }
                }
            }
            "status" => {
                opts.status = match value {
                    "failed" => StatusFilter::Failed,
                    "successful" => StatusFilter::Successful,
                    "all" => StatusFilter::All,
                    v => bail!("-e status: expected failed, successful or all, not {v}"),
                }
            }
            k => bail!("-e: unsupported qualifier {k} (use trace= or status=)"),
        }
    }
    Ok(())
}

pub fn dump(args: DumpArgs) -> Result<Status> {
    let mut opts = DumpOptions {
        durations: args.durations,
        wall_clock: args.time > 0,
        fd_paths: args.fd_paths,
        strsize: args.strsize,
        pid: args.pid,
        json: args.json,
        ..DumpOptions::default()
    };
    parse_qualifiers(&args.expr, &mut opts)?;
    if let Some(spec) = &args.filter {
        opts.filter = Some(Filter::parse(spec)?);
    }
    let reader = open(args.trace.as_deref())?;
    let mut out = stdout();
    with_progress(&reader, |p| {
        analyze::dump::dump(&reader, &NoInputs, &opts, &mut out, p)
    })?;
    Ok(Status::Code(0))
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Trace directory or name (default: the newest recording).
    trace: Option<PathBuf>,
    /// Sort by: time, calls or errors.
    #[arg(short = 'S', default_value = "time", value_parser = ["time", "calls", "errors"])]
    sort: String,
    #[command(flatten)]
    common: Common,
}

pub fn stats(args: StatsArgs) -> Result<Status> {
    let reader = open(args.trace.as_deref())?;
    let rows = with_progress(&reader, |p| analyze::stats::collect(&reader, p))?;
    let sort = match args.sort.as_str() {
        "calls" => analyze::stats::SortBy::Calls,
        "errors" => analyze::stats::SortBy::Errors,
        _ => analyze::stats::SortBy::Time,
    };
    let mut out = stdout();
    analyze::stats::print(&rows, sort, &mut out)?;
    out.flush()?;
    Ok(Status::Code(0))
}

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Trace directory or name (default: the newest recording).
    trace: Option<PathBuf>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

pub fn ps(args: PsArgs) -> Result<Status> {
    let reader = open(args.trace.as_deref())?;
    let command = reader.manifest().header.command.clone();
    let procs = analyze::ps::collect(&reader, &command)?;
    let mut out = stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &procs)?;
        writeln!(out)?;
    } else {
        analyze::ps::print(&procs, &mut out)?;
    }
    out.flush()?;
    Ok(Status::Code(0))
}
