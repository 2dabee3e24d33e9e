//! Records a program, replays the recording, and prints it the way strace
//! would, through the libraries' public API only (what `replay record`,
//! `replay replay` and `replay dump` do, without the command line).
//!
//! ```text
//! cargo run --example record_replay_dump -- /bin/date +%N
//! ```
//!
//! Without arguments it records `sh -c 'echo pid $$ at $(date +%N) ns'`,
//! whose output differs in every native run and is the same in every
//! replay.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        argv = ["sh", "-c", "echo pid $$ at $(date +%N) ns"]
            .map(String::from)
            .to_vec();
    }
    let program = find_program(&argv[0])?;

    let trace_dir = std::env::temp_dir().join(format!("replay-example-{}", std::process::id()));
    std::fs::create_dir(&trace_dir)
        .with_context(|| format!("cannot create {}", trace_dir.display()))?;

    // Record, without the syscall buffer: the preload library lives next
    // to the `replay` binary, which an example does not know.
    println!("== recording {argv:?}");
    let recorded = record::record(record::RecordOptions {
        program,
        argv,
        env: std::env::vars().collect(),
        trace_dir: trace_dir.clone(),
        timeslice_ns: record::DEFAULT_TIMESLICE_NS,
        chaos_seed: None,
        syscall_buffer: None,
        link_cache: None,
        machine_cache: None,
        hidden_cpu_features: host::cpu_features::HIDDEN_BY_DEFAULT
            .iter()
            .map(|s| s.to_string())
            .collect(),
    })?;
    println!("   {} events, {:?}", recorded.events, recorded.outcome);

    // Replay: the program runs again and prints what it printed then.
    println!("== replaying");
    let replayed = replayer::replay(&replayer::ReplayOptions {
        trace_dir: trace_dir.clone(),
        quiet: false,
    })?;
    if replayed.outcome.as_ref() != Some(&recorded.outcome) {
        bail!(
            "the replay ended {:?}, the recording {:?}",
            replayed.outcome,
            recorded.outcome
        );
    }

    // The recording as data: the strace view of its syscalls.
    println!("== the recording's syscalls");
    let reader = trace::TraceReader::open(&trace_dir)?;
    let options = analyze::dump::DumpOptions::default();
    let mut stdout = std::io::stdout().lock();
    analyze::dump::dump(&reader, &analyze::NoInputs, &options, &mut stdout, None)?;

    std::fs::remove_dir_all(&trace_dir)?;
    Ok(())
}

/// `name` as a path, looked up in `$PATH` when it has no slash.
fn find_program(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| format!("{name} is not in $PATH"))
}
