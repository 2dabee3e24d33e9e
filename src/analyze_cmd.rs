//! `replay dump|stats|ps|analyze|diff|extract|export`: command-line
//! parsing and presentation; the analyses live in the `analyze` crate.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use analyze::dump::{DumpOptions, StatusFilter};
use analyze::{Filter, NoInputs};
use anyhow::{bail, Context, Result};
use trace::TraceReader;

use crate::exit::Status;

/// When to colour output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

/// Options every analysis command accepts.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// Color output (NO_COLOR is honoured by auto).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

impl Common {
    /// Whether to colour stdout: `always` and `never` are explicit and win
    /// over the environment (as no-color.org suggests for flags); `auto`
    /// colours only a terminal, and only when `NO_COLOR` is unset or empty.
    fn colored(&self) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        }
    }
}

fn open(trace: Option<&Path>) -> Result<TraceReader> {
    let dir = crate::traces::locate(trace)?;
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
                if i.is_multiple_of(4096) {
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
    /// Trace directory, name, or pack (default: the newest recording).
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
    /// Also show the calls the recorder caused (loading its preload
    /// library, its control calls), marked /* recorder */.
    #[arg(long)]
    show_recorder: bool,
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
        pid: args.pid.map(trace::RecordedTid),
        json: args.json,
        color: args.common.colored(),
        show_recorder: args.show_recorder,
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
    /// Trace directory, name, or pack (default: the newest recording).
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
    /// Trace directory, name, or pack (default: the newest recording).
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

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Which report: security, performance or summary.
    #[arg(long, default_value = "summary", value_parser = ["security", "performance", "summary"])]
    report: String,
    /// Trace directory, name, or pack (default: the newest recording).
    trace: Option<PathBuf>,
    /// JSON (security report only).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

pub fn analyze(args: AnalyzeArgs) -> Result<Status> {
    let reader = open(args.trace.as_deref())?;
    let mut out = stdout();
    match args.report.as_str() {
        "security" => {
            let findings = analyze::report::security(&reader, &NoInputs)?;
            if args.json {
                serde_json::to_writer_pretty(&mut out, &findings)?;
                writeln!(out)?;
            } else {
                analyze::report::print_security(&findings, &mut out)?;
            }
        }
        "performance" => analyze::report::performance(&reader, &NoInputs, &mut out)?,
        _ => analyze::report::summary(&reader, &NoInputs, &mut out)?,
    }
    out.flush()?;
    Ok(Status::Code(0))
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The reference recording.
    baseline: PathBuf,
    /// The recording to compare with it.
    current: PathBuf,
    /// JSON report.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

/// Exit 0 when equivalent, 1 when different, 2 on error (like diff(1)).
pub fn diff(args: DiffArgs) -> Result<Status> {
    let run = || -> Result<bool> {
        let base = open(Some(&args.baseline))?;
        let cur = open(Some(&args.current))?;
        let report = analyze::diff::diff(&base, &cur, &NoInputs)?;
        let mut out = stdout();
        if args.json {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        } else {
            analyze::diff::print(&report, &mut out)?;
        }
        out.flush()?;
        Ok(report.equivalent)
    };
    match run() {
        Ok(true) => Ok(Status::Code(0)),
        Ok(false) => Ok(Status::Code(1)),
        Err(e) => {
            eprintln!("replay: {}", crate::exit::describe(&e));
            Ok(Status::Code(2))
        }
    }
}

#[derive(clap::Args, Debug)]
#[group(id = "what", required = true, multiple = false)]
pub struct ExtractArgs {
    /// Files accessed, with operations and bytes.
    #[arg(long, group = "what")]
    files: bool,
    /// Network connections.
    #[arg(long, group = "what")]
    network: bool,
    /// Processes with their command lines.
    #[arg(long, group = "what")]
    processes: bool,
    /// The recorded environment.
    #[arg(long, group = "what")]
    env: bool,
    /// Trace directory, name, or pack (default: the newest recording).
    trace: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

pub fn extract(args: ExtractArgs) -> Result<Status> {
    let reader = open(args.trace.as_deref())?;
    let x = analyze::extract::extract(&reader, &NoInputs)?;
    let mut out = stdout();
    if args.files {
        if args.json {
            serde_json::to_writer_pretty(&mut out, &x.files)?;
        } else {
            writeln!(
                out,
                "{:<24} {:>10} {:>10} {:>6}  PATH",
                "OPS", "READ", "WRITTEN", "CALLS"
            )?;
            for f in &x.files {
                writeln!(
                    out,
                    "{:<24} {:>10} {:>10} {:>6}  {}",
                    f.ops.join(","),
                    f.bytes_read,
                    f.bytes_written,
                    f.calls,
                    f.path
                )?;
            }
        }
    } else if args.network {
        if args.json {
            serde_json::to_writer_pretty(&mut out, &x.network)?;
        } else {
            writeln!(
                out,
                "{:>7} {:<10} {:<24} {:<24} {:>8} {:>8}",
                "PID", "PROTO", "LOCAL", "REMOTE", "SENT", "RECV"
            )?;
            for c in &x.network {
                let s = |a: &Option<String>| a.clone().unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{:>7} {:<10} {:<24} {:<24} {:>8} {:>8}",
                    c.pid,
                    c.protocol,
                    s(&c.local),
                    s(&c.remote),
                    c.bytes_sent,
                    c.bytes_received
                )?;
            }
        }
    } else if args.processes {
        if args.json {
            serde_json::to_writer_pretty(&mut out, &x.processes)?;
        } else {
            for p in &x.processes {
                writeln!(
                    out,
                    "{} {} {}",
                    p.pid,
                    p.ppid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    p.execs.join(" -> ")
                )?;
            }
        }
    } else if args.json {
        serde_json::to_writer_pretty(&mut out, &x.env)?;
    } else {
        for (k, v) in &x.env {
            writeln!(out, "{k}={v}")?;
        }
    }
    if args.json {
        writeln!(out)?;
    }
    out.flush()?;
    Ok(Status::Code(0))
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// json, jsonl, csv or chrome (Chrome/Perfetto trace-event JSON).
    #[arg(long, value_parser = ["json", "jsonl", "csv", "chrome"])]
    format: String,
    /// Trace directory, name, or pack (default: the newest recording).
    trace: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

pub fn export(args: ExportArgs) -> Result<Status> {
    use analyze::export::Format;
    let format = match args.format.as_str() {
        "json" => Format::Json,
        "jsonl" => Format::Jsonl,
        "csv" => Format::Csv,
        _ => Format::Chrome,
    };
    let reader = open(args.trace.as_deref())?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(stdout()),
    };
    with_progress(&reader, |p| {
        analyze::export::export(&reader, &NoInputs, format, &mut out, p)
    })?;
    Ok(Status::Code(0))
}

/// A reader that went away (`| head`) is not an error.
pub fn quiet_broken_pipe(result: Result<Status>) -> Result<Status> {
    match result {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.to_string().contains("Broken pipe")
            }) =>
        {
            Ok(Status::Code(0))
        }
        other => other,
    }
}
