//! `replay replay --gdb` and `replay debug`: serve a replay to gdb.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

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
pub fn debug(trace: Option<PathBuf>, gdb_args: Vec<String>) -> Result<Status> {
    let trace_dir = crate::traces::locate(trace.as_deref())?;
    let exe = recorded_exe(&trace_dir);
    let (tx, rx) = std::sync::mpsc::channel();
    let server_dir = trace_dir.clone();
    let server = std::thread::spawn(move || {
        gdbserver::serve(
            &server_dir,
            "127.0.0.1:0",
            gdbserver::StartAt::default(),
            |bound| {
                let _ = tx.send(bound);
            },
        )
    });
    let Ok(bound) = rx.recv() else {
        return match server.join() {
            Ok(Err(e)) => Err(e).context("the replay could not start"),
            _ => anyhow::bail!("the gdb server stopped before it was ready"),
        };
    };
    let ip: IpAddr = bound.ip();
    let mut gdb = std::process::Command::new("gdb");
    gdb.arg("-q");
    if let Some(exe) = &exe {
        gdb.arg(exe);
    }
    gdb.arg("-ex")
        .arg(format!("target extended-remote {ip}:{}", bound.port()));
    gdb.args(&gdb_args);
    let status = gdb.status().context("cannot run gdb; is it installed?")?;
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
