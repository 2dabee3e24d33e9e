//! `replay record`.

use crate::exit::Status;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct RecordArgs {
    /// Write the trace to this directory (must not exist, or be empty)
    /// instead of a new `<exe>-<n>` directory in the trace root.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// CPU time (microseconds) a thread runs user code before the recorder
    /// checks whether another thread should run. Shorter slices switch
    /// threads more often; replay cost does not depend on it.
    #[arg(long = "timeslice-us", value_name = "MICROSECONDS", default_value_t = record::DEFAULT_TIMESLICE_NS / 1000,
          value_parser = clap::value_parser!(u64).range(10..=10_000_000))]
    timeslice_us: u64,
    /// Chaos mode: random time slices, random choices among ready threads
    /// and random preemption points, so that rare interleavings show up.
    /// The recording replays exactly like any other.
    #[arg(long)]
    chaos: bool,
    /// Seed for --chaos (default: from the clock). Printed when chaos is on.
    #[arg(long, value_name = "SEED", requires = "chaos")]
    chaos_seed: Option<u64>,
    /// Record libc's common syscalls inside the process (the syscall
    /// buffer) instead of through ptrace: much faster for syscall-heavy
    /// programs. The default; see docs/decisions/0009-syscall-buffer.md.
    #[arg(long = "syscall-buffer", conflicts_with = "no_syscall_buffer")]
    syscall_buffer: bool,
    /// Record every syscall through ptrace, without the preload library
    /// (slower; the program's environment then has no LD_PRELOAD).
    #[arg(long = "no-syscall-buffer")]
    no_syscall_buffer: bool,
    /// Hide a CPU feature from the program: a /proc/cpuinfo flag name
    /// (avx2, sha_ni, ...) or a group (avx512, tsx, amx). Repeatable.
    /// RDRAND and RDSEED are hidden by default, so that programs take their
    /// random numbers from getrandom, which is recorded. Needs CPUID
    /// faulting (cpuid_fault in /proc/cpuinfo); without it the program sees
    /// the whole CPU and the trace replays only on this CPU model.
    #[arg(long = "hide-cpu-feature", value_name = "FEATURE")]
    hide_cpu_feature: Vec<String>,
    /// Let the program see a feature hidden by default (rdrand, rdseed, rdpid).
    /// Repeatable.
    #[arg(long = "keep-cpu-feature", value_name = "FEATURE")]
    keep_cpu_feature: Vec<String>,
    /// Set an environment variable for the recorded program only.
    /// Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env_assignment)]
    env: Vec<(String, String)>,
    /// Keep an environment variable out of the recorded program and the
    /// trace altogether (a token, a password). Repeatable.
    #[arg(long = "env-unset", value_name = "NAME")]
    env_unset: Vec<String>,
    /// The program to run, and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// This process's environment, less `unset`, with `set` applied in order.
fn program_environment(set: &[(String, String)], unset: &[String]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .filter(|(name, _)| !unset.contains(name))
        .collect();
    for (name, value) in set {
        match env.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => env.push((name.clone(), value.clone())),
        }
    }
    env
}

fn parse_env_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("\"{text}\" is not NAME=VALUE")),
    }
}

/// Finds `program` the way execvp would, so a missing program is reported
/// before anything is started.
fn resolve_program(program: &str) -> Result<PathBuf> {
    let is_executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = PathBuf::from(program);
        if !path.exists() {
            bail!("cannot record {program}: no such file");
        }
        if !is_executable(&path) {
            bail!("cannot record {program}: not an executable file");
        }
        return Ok(path);
    }
    let search = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&search)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
        .with_context(|| format!("cannot record {program}: command not found in PATH"))
}

pub fn run(args: RecordArgs) -> Result<Status> {
    let program = resolve_program(&args.command[0])?;
    let hidden_cpu_features =
        host::cpu_features::hidden_set(&args.hide_cpu_feature, &args.keep_cpu_feature)
            .map_err(anyhow::Error::msg)
            .context("cannot record with that CPU feature mask")?;
    let chaos_seed = args.chaos.then(|| {
        args.chaos_seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
    });
    if let Some(seed) = chaos_seed {
        eprintln!("replay: chaos mode, seed {seed}");
    }
    let exe_name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    let root = host::default_trace_root();
    let trace_dir = match &args.output {
        Some(dir) => {
            if dir.exists()
                && dir
                    .read_dir()
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                bail!(
                    "cannot record into {}: it exists and is not an empty directory",
                    dir.display()
                );
            }
            dir.clone()
        }
        None => host::allocate_trace_dir(&root, &exe_name)
            .with_context(|| format!("cannot create a trace directory in {}", root.display()))?,
    };
    let env = program_environment(&args.env, &args.env_unset);
    let outcome = record::record(record::RecordOptions {
        program,
        argv: args.command.clone(),
        env,
        trace_dir: trace_dir.clone(),
        timeslice_ns: args.timeslice_us * 1000,
        chaos_seed,
        syscall_buffer: if args.syscall_buffer || !args.no_syscall_buffer {
            preload_library()
        } else {
            None
        },
        link_cache: host::link_cache_dir(&root)
            .inspect_err(|e| tracing::warn!("stored files will be copied, not linked: {e}"))
            .ok(),
        machine_cache: Some(host::machine_cache_dir(&root)),
        hidden_cpu_features: hidden_cpu_features
            .into_iter()
            .map(str::to_string)
            .collect(),
    })
    .with_context(|| {
        format!(
            "recording failed; the partial trace is in {}",
            trace_dir.display()
        )
    })?;
    if args.output.is_none() {
        if let Err(e) = host::update_latest(&root, &trace_dir) {
            tracing::warn!("could not update latest-trace: {e}");
        }
    }
    if let Some(reason) = &outcome.stopped_early {
        eprintln!(
            "replay: recording stopped early: {reason}\nreplay: the trace up to that point ({} events) is in {}",
            outcome.events,
            trace_dir.display()
        );
        return Ok(Status::Code(1));
    }
    tracing::info!(events = outcome.events, dir = %trace_dir.display(), "recording saved");
    Ok(Status::from(&outcome.outcome))
}

/// The syscall buffer's library: `REPLAY_PRELOAD` if set, else next to this
/// binary (where cargo builds it). Without it, recording still works, every
/// syscall through ptrace.
fn preload_library() -> Option<PathBuf> {
    const NAME: &str = "libreplay_preload.so";
    let path = match std::env::var_os("REPLAY_PRELOAD") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe().ok()?.parent()?.join(NAME),
    };
    if path.is_file() {
        return Some(path);
    }
    eprintln!(
        "replay: warning: {} not found, recording without the syscall buffer (slower); \
         build it with `cargo build --workspace` or set REPLAY_PRELOAD",
        path.display()
    );
    None
}
