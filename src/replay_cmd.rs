//! `replay replay`.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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
    /// Serve the replay to gdb on [ADDR:]PORT (127.0.0.1 unless an address
    /// is given; port 0 picks a free one) and print the command to connect.
    #[arg(long, value_name = "[ADDR:]PORT", conflicts_with = "interactive")]
    gdb: Option<String>,
    /// With --gdb: where the session starts.
    #[command(flatten)]
    start: crate::gdb_cmd::StartArgs,
    /// Trace directory, name, or pack (default: the newest recording).
    trace: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<Status> {
    let root = host::default_trace_root();
    let trace_dir = crate::traces::locate(args.trace.as_deref())?;
    if std::io::stderr().is_terminal() || !is_under(&trace_dir, &root) {
        // Replay executes the binaries stored in the trace: say which, so a
        // trace from elsewhere cannot run something unannounced.
        if let Some(line) = notice(&trace_dir) {
            eprintln!("{line}");
        }
    }
    if let Some(spec) = &args.gdb {
        let start = crate::gdb_cmd::start_at(&trace_dir, &args.start)?;
        return crate::gdb_cmd::serve(trace_dir, spec, start);
    }
    if args.start.given() {
        anyhow::bail!("--goto, --at-end, --pid and --onfork choose where a gdb session starts: use them with --gdb (or `replay debug`)");
    }
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

fn is_under(dir: &Path, root: &Path) -> bool {
    match (dir.canonicalize(), root.canonicalize()) {
        (Ok(d), Ok(r)) => d.starts_with(r),
        _ => false,
    }
}

/// `replay: replaying /usr/bin/ls (recorded 2026-11-22 03:05:09 UTC on
/// host)`, or `None` when the manifest cannot be read (replay itself then
/// reports why).
fn notice(dir: &Path) -> Option<String> {
    let m = trace::Manifest::load(dir).ok()?;
    let argv0 = m.header.command.first().map(String::as_str).unwrap_or("?");
    Some(format!(
        "replay: replaying {argv0} (recorded {} on {})",
        utc(m.header.start_unix_ns / 1_000_000_000),
        m.header.machine.hostname
    ))
}

/// `YYYY-MM-DD HH:MM:SS UTC` for seconds since the epoch (Howard Hinnant's
/// civil-from-days; no date crate needed for one line).
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(super::utc(1_795_316_301), "2026-11-22 02:58:21 UTC");
    }
}
