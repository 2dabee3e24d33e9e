//! `replay info`.

use crate::exit::Status;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use trace::{TraceOutcome, TraceReader};

pub(crate) fn dir_size(dir: &Path) -> u64 {
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

pub(crate) fn describe(outcome: Option<&TraceOutcome>) -> String {
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

/// What `replay info` says, as `--json` writes it.
#[derive(serde::Serialize)]
struct Info {
    trace: PathBuf,
    command: Vec<String>,
    cwd: String,
    outcome: String,
    exit: Option<TraceOutcome>,
    complete: bool,
    /// Why the trace ends early, when it does.
    truncation: Option<String>,
    events: u64,
    processes: u64,
    threads: u64,
    duration_s: f64,
    recorded_memory_bytes: u64,
    size_bytes: u64,
    /// The recorder's own peak memory (0: not kept by the recorder that
    /// made the trace, or it did not finish).
    recorder_peak_kib: u64,
    ticks: String,
    pmu: Option<String>,
    preemptions: u64,
    signal_preemptions: u64,
    kernel: String,
    cpu_vendor: String,
    cpu_model: String,
    cpuid_faulting: bool,
    hidden_cpu_features: Vec<String>,
    secrets: Vec<analyze::secrets::Secret>,
    /// Why the files the program read could not be checked for secrets.
    secrets_unread: Option<String>,
}

pub fn run(trace: Option<PathBuf>, json: bool) -> Result<Status> {
    let dir = crate::traces::locate(trace.as_deref())?;
    let reader = TraceReader::open(&dir)?;
    let manifest = reader.manifest();
    let header = &manifest.header;
    let scan = reader.scan()?;
    // The files a damaged trace read past the damage are unknown; its
    // environment is in the header.
    let (secrets, secrets_unread) = match analyze::secrets::likely_secrets(&reader) {
        Ok(found) => (found, None),
        Err(e) => (
            analyze::secrets::env_secrets(header),
            Some(format!("files not checked: {e}")),
        ),
    };
    let info = Info {
        // A pack is named as given, not by the directory it was unpacked to.
        trace: trace.filter(|p| p.is_file()).unwrap_or_else(|| dir.clone()),
        command: header.command.clone(),
        cwd: header.cwd.clone(),
        outcome: describe(manifest.outcome.as_ref()),
        exit: manifest.outcome.clone(),
        complete: manifest.complete && scan.truncation.is_none(),
        truncation: scan.truncation.as_ref().map(|t| {
            format!(
                "the {} stream ends inside chunk {} at byte {} ({})",
                t.stream, t.chunk, t.offset, t.reason
            )
        }),
        events: scan.events,
        processes: scan.processes as u64,
        threads: scan.threads as u64,
        duration_s: scan.last_time_ns as f64 / 1e9,
        recorded_memory_bytes: scan.data_bytes,
        size_bytes: dir_size(&dir),
        recorder_peak_kib: manifest
            .totals
            .as_ref()
            .map_or(0, |totals| totals.recorder_peak_kib),
        ticks: header.tick_semantics.clone(),
        pmu: header.pmu.clone(),
        preemptions: scan.preemptions + scan.signal_preemptions,
        signal_preemptions: scan.signal_preemptions,
        kernel: header.machine.kernel.clone(),
        cpu_vendor: header.machine.cpu_vendor.clone(),
        cpu_model: header.machine.cpu_model.clone(),
        cpuid_faulting: header.cpuid_faulting,
        hidden_cpu_features: header.hidden_cpu_features.clone(),
        secrets,
        secrets_unread,
    };
    // Built first and written at once, so that `replay info | head` ends
    // quietly instead of panicking in println! on the closed pipe.
    let mut out = if json {
        serde_json::to_string_pretty(&info)? + "\n"
    } else {
        text(&info, manifest.complete, header.machine.cpuid.is_empty())?
    };
    if out.is_empty() {
        out.push('\n');
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("cannot write to stdout")?;
    Ok(Status::Code(0))
}

fn text(info: &Info, finished: bool, cpu_unknown: bool) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "trace:        {}", info.trace.display())?;
    writeln!(out, "command:      {}", info.command.join(" "))?;
    writeln!(out, "cwd:          {}", info.cwd)?;
    writeln!(out, "outcome:      {}", info.outcome)?;
    writeln!(
        out,
        "complete:     {}",
        match (&info.truncation, finished) {
            (None, true) => "yes".to_string(),
            (Some(t), _) => format!("no: {t}; replay stops there"),
            (None, false) =>
                "no: the recording was interrupted; every chunk written is intact".to_string(),
        }
    )?;
    writeln!(out, "events:       {}", info.events)?;
    writeln!(out, "processes:    {}", info.processes)?;
    writeln!(out, "threads:      {}", info.threads)?;
    writeln!(out, "duration:     {:.3} s", info.duration_s)?;
    writeln!(
        out,
        "data:         {} bytes of recorded memory",
        info.recorded_memory_bytes
    )?;
    writeln!(out, "size on disk: {} bytes", info.size_bytes)?;
    if info.recorder_peak_kib > 0 {
        writeln!(
            out,
            "recorder:     {:.1} MiB peak memory (the program's not counted)",
            info.recorder_peak_kib as f64 / 1024.0
        )?;
    }
    writeln!(out, "ticks:        {}", info.ticks)?;
    writeln!(
        out,
        "pmu:          {}",
        info.pmu.as_deref().unwrap_or("none (positions need none)")
    )?;
    writeln!(
        out,
        "preemptions:  {} in user code ({} to deliver a signal)",
        info.preemptions, info.signal_preemptions
    )?;
    writeln!(out, "kernel:       {}", info.kernel)?;
    if cpu_unknown {
        // Read while recording and stored when it finished.
        writeln!(out, "cpu:          unknown (the recorder did not finish)")?;
    } else {
        writeln!(out, "cpu:          {} {}", info.cpu_vendor, info.cpu_model)?;
    }
    writeln!(
        out,
        "cpuid:        {}",
        match (info.cpuid_faulting, info.hidden_cpu_features.is_empty()) {
            (true, true) => "answered from the trace's table (CPUID faulting)".to_string(),
            (true, false) => format!(
                "answered from the trace's table (CPUID faulting), hiding {}",
                info.hidden_cpu_features.join(", ")
            ),
            (false, _) =>
                "read from the CPU (no CPUID faulting): replays on this CPU model only".to_string(),
        }
    )?;
    if let Some(why) = &info.secrets_unread {
        writeln!(out, "secrets:      {} ({why})", secret_list(&info.secrets))?;
    } else if info.secrets.is_empty() {
        writeln!(out, "secrets:      none found")?;
    } else {
        writeln!(
            out,
            "secrets:      {} (anyone with this trace can read them)",
            secret_list(&info.secrets)
        )?;
    }
    Ok(out)
}

fn secret_list(secrets: &[analyze::secrets::Secret]) -> String {
    match secrets.is_empty() {
        true => "none found".into(),
        false => secrets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}
