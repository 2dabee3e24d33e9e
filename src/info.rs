//! `replay info`.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use trace::{TraceOutcome, TraceReader};

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn describe(outcome: Option<&TraceOutcome>) -> String {
    match outcome {
        Some(TraceOutcome::Exited { code }) => format!("exited with status {code}"),
        Some(TraceOutcome::Signaled {
            signal,
            core_dumped,
        }) => format!(
            "killed by signal {signal}{}",
            if *core_dumped { " (core dumped)" } else { "" }
        ),
        Some(TraceOutcome::Interrupted { reason }) => format!("recording stopped early: {reason}"),
        None => "unknown (the recording did not finish)".into(),
    }
}

pub fn run(trace: Option<PathBuf>) -> Result<Status> {
    let root = host::default_trace_root();
    let dir = host::resolve_trace(&root, trace.as_deref())?;
    let reader = TraceReader::open(&dir)?;
    let manifest = reader.manifest();
    let header = &manifest.header;
    let scan = reader.scan()?;
    // Built first and written at once, so that `replay info | head` ends
    // quietly instead of panicking in println! on the closed pipe.
    let mut out = String::new();
    writeln!(out, "trace:        {}", dir.display())?;
    writeln!(out, "command:      {}", header.command.join(" "))?;
    writeln!(out, "cwd:          {}", header.cwd)?;
    writeln!(out, "outcome:      {}", describe(manifest.outcome.as_ref()))?;
    writeln!(
        out,
        "complete:     {}",
        match (&scan.truncation, manifest.complete) {
            (None, true) => "yes".to_string(),
            (Some(t), _) => format!(
                "no: the {} stream ends inside chunk {} at byte {} ({}); replay stops there",
                t.stream, t.chunk, t.offset, t.reason
            ),
            (None, false) =>
                "no: the recording was interrupted; every chunk written is intact".to_string(),
        }
    )?;
    writeln!(out, "events:       {}", scan.events)?;
    writeln!(out, "processes:    {}", scan.processes)?;
    writeln!(out, "threads:      {}", scan.threads)?;
    writeln!(out, "duration:     {:.3} s", scan.last_time_ns as f64 / 1e9)?;
    writeln!(
        out,
        "data:         {} bytes of recorded memory",
        scan.data_bytes
    )?;
    writeln!(out, "size on disk: {} bytes", dir_size(&dir))?;
    writeln!(out, "ticks:        {}", header.tick_semantics)?;
    writeln!(
        out,
        "pmu:          {}",
        header
            .pmu
            .as_deref()
            .unwrap_or("none (positions need none)")
    )?;
    writeln!(
        out,
        "preemptions:  {} in user code ({} to deliver a signal)",
        scan.preemptions + scan.signal_preemptions,
        scan.signal_preemptions
    )?;
    writeln!(out, "kernel:       {}", header.machine.kernel)?;
    if header.machine.cpuid.is_empty() {
        // Read while recording and stored when it finished.
        writeln!(out, "cpu:          unknown (the recorder did not finish)")?;
    } else {
        writeln!(
            out,
            "cpu:          {} {}",
            header.machine.cpu_vendor, header.machine.cpu_model
        )?;
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("cannot write to stdout")?;
    Ok(Status::Code(0))
}
