//! `replay`: record a program once, replay it exactly as often as needed.
//!
//! This binary only parses the command line and presents results; the work
//! is done by the crates under `crates/`.

#![forbid(unsafe_code)]

mod analyze_cmd;
mod exit;
mod gdb_cmd;
mod info;
mod interactive_cmd;
mod record_cmd;
mod replay_cmd;
mod shell;
mod traces;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "replay",
    version,
    about = "Deterministic record and replay for Linux x86_64, without hardware performance counters"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and record everything nondeterministic it does.
    Record(record_cmd::RecordArgs),
    /// Re-execute a recording exactly (the newest one by default).
    Replay(replay_cmd::ReplayArgs),
    /// Describe a recording: command, exit status, events, processes, size.
    Info {
        /// Trace directory, name, or pack (default: the newest recording).
        trace: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Replay under gdb: serve the replay and start gdb connected to it.
    Debug {
        /// Trace directory, name, or pack (default: the newest recording).
        trace: Option<PathBuf>,
        #[command(flatten)]
        start: gdb_cmd::StartArgs,
        /// The debugger to run instead of gdb: a gdb-compatible program
        /// such as gdb-multiarch, rust-gdb or cgdb.
        #[arg(long, value_name = "CMD", default_value = "gdb")]
        debugger: String,
        /// Extra arguments for gdb (after --), e.g. -- -ex 'break main'.
        #[arg(last = true)]
        gdb_args: Vec<String>,
    },
    /// Print the recorded syscalls the way strace does.
    Dump(analyze_cmd::DumpArgs),
    /// Count calls, errors and time per syscall (strace -c), with percentiles.
    Stats(analyze_cmd::StatsArgs),
    /// Show the process tree: pids, parents, exit status, commands, threads.
    Ps(analyze_cmd::PsArgs),
    /// Reports: security findings, performance, or a one-screen summary.
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Compare two recordings; exit 0 when equivalent, 1 when different, 2 on error.
    Diff(analyze_cmd::DiffArgs),
    /// List files, network connections, processes or the environment.
    Extract(analyze_cmd::ExtractArgs),
    /// Convert to json, jsonl, csv or Chrome/Perfetto trace events.
    Export(analyze_cmd::ExportArgs),
    /// Write a trace into one file that replays anywhere (`replay replay FILE`).
    Pack(traces::PackArgs),
    /// Unpack a file made by `replay pack` into a trace directory.
    Unpack(traces::UnpackArgs),
    /// List the recordings in the trace root: name, date, size, state, command.
    Ls(traces::LsArgs),
    /// Delete recordings.
    Rm(traces::RmArgs),
    /// Print a completion script: `source <(replay completions bash)`.
    Completions(shell::CompletionsArgs),
    /// Print the man page: `replay man > replay.1`.
    Man,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REPLAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => record_cmd::run(args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Info { trace, json } => analyze_cmd::quiet_broken_pipe(info::run(trace, json)),
        Command::Debug {
            trace,
            start,
            debugger,
            gdb_args,
        } => gdb_cmd::debug(trace, &start, &debugger, gdb_args),
        Command::Dump(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::dump(args)),
        Command::Stats(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::stats(args)),
        Command::Ps(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::ps(args)),
        Command::Analyze(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::analyze(args)),
        Command::Diff(args) => analyze_cmd::diff(args),
        Command::Extract(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::extract(args)),
        Command::Export(args) => analyze_cmd::quiet_broken_pipe(analyze_cmd::export(args)),
        Command::Pack(args) => traces::pack(args),
        Command::Unpack(args) => traces::unpack(args),
        Command::Ls(args) => analyze_cmd::quiet_broken_pipe(traces::ls(args)),
        Command::Rm(args) => traces::rm(args),
        Command::Completions(args) => analyze_cmd::quiet_broken_pipe(shell::completions(args)),
        Command::Man => analyze_cmd::quiet_broken_pipe(shell::man()),
    };
    traces::remove_unpacked();
    match result {
        Ok(status) => exit::exit_with(status),
        Err(error) => {
            eprintln!("replay: {}", exit::describe(&error));
            std::process::exit(1);
        }
    }
}
