//! Managing traces: naming one on the command line (a directory, a name in
//! the trace root, or a one-file pack), `replay pack`, `unpack`, `ls` and
//! `rm`.

use crate::exit::Status;
use anyhow::{bail, Context, Result};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use trace::pack;

/// Packs unpacked for this command, removed when it ends.
static UNPACKED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The trace directory a command means: `None` is the newest recording; a
/// pack file is unpacked into a private temporary directory, removed by
/// [`remove_unpacked`] when the command ends.
pub fn locate(trace: Option<&Path>) -> Result<PathBuf> {
    let root = host::default_trace_root();
    let found = host::resolve_trace(&root, trace)?;
    if !found.is_file() {
        return Ok(found);
    }
    if !pack::is_pack(&found) {
        bail!(
            "{} is a file, not a trace directory or a pack made by `replay pack`",
            found.display()
        );
    }
    let dir = private_temp_dir()?;
    pack::unpack(&found, &dir)?;
    UNPACKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(dir.clone());
    tracing::debug!("unpacked {} into {}", found.display(), dir.display());
    Ok(dir)
}

/// Removes the directories [`locate`] unpacked packs into.
pub fn remove_unpacked() {
    let dirs = std::mem::take(&mut *UNPACKED.lock().unwrap_or_else(|p| p.into_inner()));
    for dir in dirs {
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!("cannot remove the unpacked trace {}: {e}", dir.display());
        }
    }
}

/// A path for a new directory only this process knows about yet.
fn private_temp_dir() -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Ok(std::env::temp_dir().join(format!("replay-unpacked-{}-{nanos:x}", std::process::id())))
}

#[derive(clap::Args)]
pub struct PackArgs {
    /// Trace directory, name, or pack (default: the newest recording).
    trace: Option<PathBuf>,
    /// The file to write (default: NAME.pack in the current directory).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn pack(args: PackArgs) -> Result<Status> {
    let dir = locate(args.trace.as_deref())?;
    let reader = trace::TraceReader::open(&dir)
        .with_context(|| format!("cannot open trace {}", dir.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{name}.pack")));
    if out.exists() {
        bail!(
            "cannot pack into {}: it exists; remove it or choose another -o",
            out.display()
        );
    }
    let summary = pack::pack(&dir, &out)
        .with_context(|| format!("cannot pack {} into {}", dir.display(), out.display()))?;
    eprintln!(
        "replay: packed {} ({} files, {} bytes) into {} ({} bytes)",
        dir.display(),
        summary.files,
        summary.original_bytes,
        out.display(),
        summary.packed_bytes
    );
    warn_about_secrets(&reader, &out.display().to_string())?;
    Ok(Status::Code(0))
}

/// Names the likely secrets `reader`'s trace holds, on stderr.
fn warn_about_secrets(reader: &trace::TraceReader, what: &str) -> Result<()> {
    let secrets = analyze::secrets::likely_secrets(reader).unwrap_or_else(|e| {
        eprintln!("replay: the files the program read were not checked for secrets: {e}");
        analyze::secrets::env_secrets(&reader.manifest().header)
    });
    if secrets.is_empty() {
        return Ok(());
    }
    eprintln!(
        "replay: warning: {what} holds what look like secrets, and anyone with it can read \
         them (record with --env-unset NAME to keep a variable out):"
    );
    for secret in secrets {
        eprintln!("  {secret}");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct UnpackArgs {
    /// A pack made by `replay pack`.
    file: PathBuf,
    /// The directory to create (default: a new one in the trace root,
    /// named after the pack).
    dir: Option<PathBuf>,
}

pub fn unpack(args: UnpackArgs) -> Result<Status> {
    if !args.file.is_file() {
        bail!("cannot unpack {}: no such file", args.file.display());
    }
    let dir = match args.dir {
        Some(dir) => dir,
        None => {
            let root = host::default_trace_root();
            let stem = args
                .file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "trace".into());
            let dir = host::allocate_trace_dir(&root, &stem)?;
            // Allocated empty; the pack's directory takes its place.
            std::fs::remove_dir(&dir).with_context(|| format!("cannot use {}", dir.display()))?;
            dir
        }
    };
    if dir.exists() {
        bail!(
            "cannot unpack into {}: it exists; choose a new directory",
            dir.display()
        );
    }
    let summary = pack::unpack(&args.file, &dir)?;
    println!("{}", dir.display());
    eprintln!(
        "replay: unpacked {} files ({} bytes) into {}",
        summary.files,
        summary.original_bytes,
        dir.display()
    );
    Ok(Status::Code(0))
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// One JSON object per trace instead of a table.
    #[arg(long, conflicts_with = "names")]
    json: bool,
    /// Names only, one per line (for scripts and shell completion).
    #[arg(long)]
    names: bool,
}

#[derive(serde::Serialize)]
struct Listed {
    name: String,
    command: String,
    start_unix_ns: u64,
    size: u64,
    complete: bool,
    outcome: String,
}

pub fn ls(args: LsArgs) -> Result<Status> {
    let root = host::default_trace_root();
    let mut listed = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("replay: no recordings yet in {}", root.display());
            return Ok(Status::Code(0));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", root.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !path.join("manifest").is_file() || path.is_symlink() {
            continue;
        }
        let Ok(manifest) = trace::Manifest::load(&path) else {
            listed.push(Listed {
                name,
                command: String::new(),
                start_unix_ns: 0,
                size: crate::info::dir_size(&path),
                complete: false,
                outcome: "damaged".into(),
            });
            continue;
        };
        listed.push(Listed {
            name,
            command: manifest.header.command.join(" "),
            start_unix_ns: manifest.header.start_unix_ns,
            size: crate::info::dir_size(&path),
            complete: manifest.complete,
            outcome: crate::info::describe(manifest.outcome.as_ref()),
        });
    }
    listed.sort_by_key(|l| l.start_unix_ns);
    let mut out = String::new();
    if args.names {
        for l in &listed {
            out.push_str(&l.name);
            out.push('\n');
        }
    } else if args.json {
        for l in &listed {
            out.push_str(&serde_json::to_string(l)?);
            out.push('\n');
        }
    } else {
        use std::fmt::Write as _;
        writeln!(
            out,
            "{:<24} {:<20} {:>10}  {:<11} COMMAND",
            "NAME", "RECORDED (UTC)", "SIZE", "STATE"
        )?;
        for l in &listed {
            writeln!(
                out,
                "{:<24} {:<20} {:>10}  {:<11} {}",
                l.name,
                crate::replay_cmd::utc(l.start_unix_ns / 1_000_000_000).trim_end_matches(" UTC"),
                human_size(l.size),
                if l.complete {
                    "complete"
                } else {
                    "interrupted"
                },
                l.command
            )?;
        }
    }
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("cannot write to stdout")?;
    Ok(Status::Code(0))
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Trace directories or names in the trace root.
    #[arg(required = true)]
    traces: Vec<PathBuf>,
}

pub fn rm(args: RmArgs) -> Result<Status> {
    let root = host::default_trace_root();
    let latest = std::fs::canonicalize(root.join(host::location::LATEST_NAME)).ok();
    // Every name is checked before anything is removed.
    let mut dirs = Vec::new();
    for arg in &args.traces {
        let dir = host::resolve_trace(&root, Some(arg))?;
        if !dir.is_dir() || !dir.join("manifest").is_file() {
            bail!(
                "{} is not a trace directory; nothing was removed",
                dir.display()
            );
        }
        dirs.push(dir);
    }
    for dir in dirs {
        let canonical = std::fs::canonicalize(&dir).ok();
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
        if canonical.is_some() && canonical == latest {
            let _ = std::fs::remove_file(root.join(host::location::LATEST_NAME));
        }
        eprintln!("replay: removed {}", dir.display());
    }
    Ok(Status::Code(0))
}
