//! `replay replay --gdb` and `replay debug`: serve a replay to gdb.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use trace::RecordedTid;

/// Where a gdb session starts: `replay debug` and `replay replay --gdb`.
#[derive(clap::Args, Debug, Default)]
pub struct StartArgs {
    /// Start the session after this many recorded events.
    #[arg(long, value_name = "EVENT", conflicts_with_all = ["at_end", "onfork"])]
    goto: Option<u64>,
    /// Start at the end of the recording (rr's -e): the last thread waits
    /// at its final exit, and reverse execution goes back from there.
    #[arg(long = "at-end", conflicts_with = "onfork")]
    at_end: bool,
    /// Stop in this recorded process, by pid or by command name; without
    /// --goto, from just after its first exec.
    #[arg(long, value_name = "PID|NAME")]
    pid: Option<String>,
    /// Start just after this process (pid or command name) was forked, in it.
    #[arg(long, value_name = "PID|NAME", conflicts_with = "pid")]
    onfork: Option<String>,
}

impl StartArgs {
    pub fn given(&self) -> bool {
        self.goto.is_some() || self.at_end || self.pid.is_some() || self.onfork.is_some()
    }
}

/// A recorded process as the start options name it.
struct Found {
    pid: RecordedTid,
    /// Its first event (the first thing it did after the fork).
    first_event: u64,
    /// The event of its first exec.
    first_exec: Option<u64>,
}

/// The process `spec` names: a recorded pid, or the command name of one
/// of its execs (the first such process; the others are listed).
fn find_process(trace_dir: &Path, spec: &str) -> Result<Found> {
    let reader = trace::TraceReader::open(trace_dir)?;
    let procs = analyze::ps::collect(&reader, &reader.manifest().header.command)?;
    let named = |p: &analyze::ps::Process| {
        p.execs.iter().any(|argv| {
            argv.split_whitespace()
                .next()
                .and_then(|argv0| argv0.rsplit('/').next())
                == Some(spec)
        })
    };
    let matching: Vec<RecordedTid> = match spec.parse::<i32>() {
        Ok(pid) => procs
            .iter()
            .filter(|p| p.pid == RecordedTid(pid))
            .map(|p| p.pid)
            .collect(),
        Err(_) => procs.iter().filter(|p| named(p)).map(|p| p.pid).collect(),
    };
    let Some(&pid) = matching.first() else {
        anyhow::bail!(
            "no recorded process is {spec:?}; `replay ps {}` lists them",
            trace_dir.display()
        );
    };
    if matching.len() > 1 {
        eprintln!(
            "replay: {spec} names {} processes; using the first, {pid} (the others: {})",
            matching.len(),
            matching[1..]
                .iter()
                .map(RecordedTid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut found = Found {
        pid,
        first_event: 0,
        first_exec: None,
    };
    let mut seen = false;
    for recorded in reader.events()? {
        let event = recorded?.event;
        if event.pid != pid {
            continue;
        }
        if !seen {
            found.first_event = event.index;
            seen = true;
        }
        let exec = matches!(
            event.kind,
            trace::event::EventKind::SyscallExit {
                result: 0,
                extra: Some(trace::event::SyscallExtra::Exec(_)),
                ..
            }
        );
        if exec {
            found.first_exec = Some(event.index);
            break;
        }
    }
    Ok(found)
}

/// Resolves the start options into where the server starts.
pub fn start_at(trace_dir: &Path, args: &StartArgs) -> Result<gdbserver::StartAt> {
    let Some(spec) = args.onfork.as_deref().or(args.pid.as_deref()) else {
        return Ok(gdbserver::StartAt {
            events: args.goto.unwrap_or(0),
            pid: None,
            at_end: args.at_end,
        });
    };
    let found = find_process(trace_dir, spec)?;
    let events = match (args.goto, &args.onfork) {
        (Some(n), _) => n,
        (None, Some(_)) => found.first_event + 1,
        (None, None) => found.first_exec.unwrap_or(found.first_event) + 1,
    };
    Ok(gdbserver::StartAt {
        events,
        pid: Some(found.pid),
        at_end: args.at_end,
    })
}

/// `PORT` alone means loopback: a replay exposes the program's memory, so
/// other hosts only get it when the user names an address.
fn listen_address(spec: &str) -> String {
    if spec.chars().all(|c| c.is_ascii_digit()) {
        format!("127.0.0.1:{spec}")
    } else {
        spec.to_string()
    }
}

fn connect_hint(bound: SocketAddr, exe: Option<&Path>) -> String {
    let exe = exe.map(|p| format!(" {}", p.display())).unwrap_or_default();
    format!("gdb -ex 'target extended-remote {bound}'{exe}")
}

/// The program's binary as stored in the trace, for gdb's symbols.
fn recorded_exe(trace_dir: &Path) -> Option<PathBuf> {
    let reader = trace::TraceReader::open(trace_dir).ok()?;
    let first = reader.events().ok()?.next()?.ok()?;
    match first.event.kind {
        trace::event::EventKind::SyscallExit {
            extra: Some(trace::event::SyscallExtra::Exec(info)),
            ..
        } => reader.file_path(&info.exe).ok(),
        _ => None,
    }
}

pub fn serve(trace_dir: PathBuf, spec: &str, start: gdbserver::StartAt) -> Result<Status> {
    let addr = listen_address(spec);
    if let Ok(socket) = addr.parse::<SocketAddr>() {
        if !socket.ip().is_loopback() {
            eprintln!(
                "replay: warning: serving on {} lets anyone who can reach it read the recorded program's memory",
                socket.ip()
            );
        }
    }
    let exe = recorded_exe(&trace_dir);
    gdbserver::serve(&trace_dir, &addr, start, |bound| {
        eprintln!("replay: gdb server listening on {bound}; connect with:");
        eprintln!("  {}", connect_hint(bound, exe.as_deref()));
    })
    .with_context(|| format!("cannot serve {} to gdb", trace_dir.display()))?;
    Ok(Status::Code(0))
}

/// Serves the replay on a free loopback port and runs gdb connected to it,
/// the way `rr replay` does.
pub fn debug(
    trace: Option<PathBuf>,
    start: &StartArgs,
    debugger: &str,
    gdb_args: Vec<String>,
) -> Result<Status> {
    let trace_dir = crate::traces::locate(trace.as_deref())?;
    let start = start_at(&trace_dir, start)?;
    let exe = recorded_exe(&trace_dir);
    let (tx, rx) = std::sync::mpsc::channel();
    let server_dir = trace_dir.clone();
    let server = std::thread::spawn(move || {
        gdbserver::serve(&server_dir, "127.0.0.1:0", start, |bound| {
            let _ = tx.send(bound);
        })
    });
    let Ok(bound) = rx.recv() else {
        return match server.join() {
            Ok(Err(e)) => Err(e).context("the replay could not start"),
            _ => anyhow::bail!("the gdb server stopped before it was ready"),
        };
    };
    let ip: IpAddr = bound.ip();
    let mut gdb = std::process::Command::new(debugger);
    gdb.arg("-q");
    if let Some(exe) = &exe {
        gdb.arg(exe);
    }
    gdb.arg("-ex")
        .arg(format!("target extended-remote {ip}:{}", bound.port()));
    gdb.args(&gdb_args);
    let status = gdb
        .status()
        .with_context(|| format!("cannot run {debugger}; is it installed?"))?;
    match server.join() {
        Ok(result) => result.context("the gdb server failed")?,
        Err(_) => anyhow::bail!("the gdb server thread panicked"),
    }
    Ok(Status::Code(status.code().unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_port_binds_loopback_only() {
        assert_eq!(listen_address("9999"), "127.0.0.1:9999");
        assert_eq!(listen_address("0.0.0.0:9999"), "0.0.0.0:9999");
        assert_eq!(listen_address("[::1]:1"), "[::1]:1");
    }
}
