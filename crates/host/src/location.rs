//! Where traces live: the trace root, per-recording directory names, and
//! the `latest-trace` link that `replay` uses when no trace is named.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use trace::{set_mode, IoContext, TraceError};

pub const LATEST_NAME: &str = "latest-trace";

/// `$REPLAY_TRACE_DIR`, else `$XDG_DATA_HOME/replay`, else
/// `$HOME/.local/share/replay`.
pub fn default_trace_root() -> PathBuf {
    trace_root_from(|k| std::env::var_os(k), home_from_passwd)
}

/// The environment is passed in so tests need not touch the process's.
fn trace_root_from(
    env: impl Fn(&str) -> Option<OsString>,
    passwd_home: impl Fn() -> Option<PathBuf>,
) -> PathBuf {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set("REPLAY_TRACE_DIR") {
        return p;
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(p) = set("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return p.join("replay");
    }
    let home = set("HOME")
        .or_else(passwd_home)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/replay")
}

fn home_from_passwd() -> Option<PathBuf> {
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: passwd is plain data; all-zero is a valid value to overwrite.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, writable memory of the stated
    // size for the duration of the call.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pw.pw_dir.is_null() {
        return None;
    }
    // SAFETY: on success pw_dir points to a NUL-terminated string inside
    // `buf`, which is still alive.
    let dir = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) };
    Some(PathBuf::from(OsStr::from_bytes(dir.to_bytes())))
}

/// Creates every missing directory of `path` with mode 0700, set explicitly
/// because the umask filters creation modes. Existing directories are left
/// as the user made them.
fn create_private_dirs(path: &Path) -> Result<(), TraceError> {
    let mut missing = Vec::new();
    let mut p = path;
    loop {
        match fs::metadata(p) {
            Ok(md) if md.is_dir() => break,
            Ok(_) => {
                return Err(TraceError::io(
                    p,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "exists and is not a directory",
                    ),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p.to_path_buf());
                match p.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => p = parent,
                    _ => break,
                }
            }
            Err(e) => return Err(TraceError::io(p, e)),
        }
    }
    for dir in missing.iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => set_mode(dir, 0o700)?,
            // Someone else made it meanwhile; fine.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(TraceError::io(dir, e)),
        }
    }
    Ok(())
}

/// A trace-name prefix from an executable path: its basename, with
/// characters that would confuse a shell or a path replaced.
fn trace_basename(exe: &str) -> String {
    let base = exe.rsplit('/').find(|s| !s.is_empty()).unwrap_or("");
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        "trace".to_string()
    } else {
        clean
    }
}

/// Creates `root` if needed and a new empty directory
/// `root/<exe basename>-<n>` for the smallest free `n`, race-free against
/// concurrent recorders because `mkdir` either creates or fails.
/// The trace root's cache of stored files that later recordings hard-link
/// (`.file-links`, private like the root, which is created if needed).
pub fn link_cache_dir(root: &Path) -> Result<PathBuf, TraceError> {
    create_private_dirs(root)?;
    Ok(root.join(".file-links"))
}

/// Where the trace root keeps facts about this machine that are slow to
/// read (this boot's CPUID table), created private when first written.
pub fn machine_cache_dir(root: &Path) -> PathBuf {
    root.join(".machine")
}

pub fn allocate_trace_dir(root: &Path, exe: &str) -> Result<PathBuf, TraceError> {
    create_private_dirs(root)?;
    let base = trace_basename(exe);
    let prefix = format!("{base}-");
    // One directory listing instead of a mkdir per existing trace.
    let mut taken: HashSet<u64> = HashSet::new();
    for entry in fs::read_dir(root).at(root)? {
        let entry = entry.at(root)?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix(&prefix))
            .and_then(|s| s.parse::<u64>().ok())
        {
            taken.insert(n);
        }
    }
    let mut n = 0u64;
    loop {
        while taken.contains(&n) {
            n += 1;
        }
        let dir = root.join(format!("{prefix}{n}"));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                set_mode(&dir, 0o700)?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                taken.insert(n);
            }
            Err(e) => return Err(TraceError::io(dir, e)),
        }
    }
}

/// `dir` relative to `root` when it lies inside it, so the link survives
/// moving the whole root; absolute otherwise.
fn link_target(root: &Path, dir: &Path) -> PathBuf {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (croot, cdir) = (canon(root), canon(dir));
    match cdir.strip_prefix(&croot) {
        Ok(rel)
            if !rel.as_os_str().is_empty()
                && rel.components().all(|c| matches!(c, Component::Normal(_))) =>
        {
            rel.to_path_buf()
        }
        _ => cdir,
    }
}

static LINK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Points `root/latest-trace` at `dir`, replacing any previous link in one
/// rename so readers never see it missing.
pub fn update_latest(root: &Path, dir: &Path) -> Result<(), TraceError> {
    let target = link_target(root, dir);
    let n = LINK_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = root.join(format!(
        ".{LATEST_NAME}.{}.{n}.trace-tmp",
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp).at(&tmp)?;
    let link = root.join(LATEST_NAME);
    if let Err(e) = fs::rename(&tmp, &link) {
        let _ = fs::remove_file(&tmp);
        return Err(TraceError::io(link, e));
    }
    Ok(())
}

/// Which trace a command means: `None` is the latest recording; a path that
/// exists is used as is; otherwise a name inside `root`.
pub fn resolve_trace(root: &Path, arg: Option<&Path>) -> Result<PathBuf, TraceError> {
    let Some(arg) = arg else {
        let link = root.join(LATEST_NAME);
        if fs::symlink_metadata(&link).is_err() {
            return Err(TraceError::NoRecordings {
                root: root.to_path_buf(),
            });
        }
        // Resolved so that messages show the real trace name.
        return fs::canonicalize(&link).map_err(|e| {
            TraceError::io(
                link,
                io::Error::new(
                    e.kind(),
                    format!("latest-trace link points to a trace that no longer exists ({e})"),
                ),
            )
        });
    };
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let in_root = root.join(arg);
    if in_root.exists() {
        return Ok(in_root);
    }
    Err(TraceError::TraceNotFound {
        arg: arg.to_path_buf(),
        in_root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn root_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let no_passwd = || None;
        assert_eq!(
            trace_root_from(
                env(&[
                    ("REPLAY_TRACE_DIR", "/t"),
                    ("XDG_DATA_HOME", "/x"),
                    ("HOME", "/h")
                ]),
                no_passwd
            ),
            PathBuf::from("/t")
        );
        assert_eq!(
            trace_root_from(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]), no_passwd),
            PathBuf::from("/x/replay")
        );
        assert_eq!(
            trace_root_from(
                env(&[
                    ("REPLAY_TRACE_DIR", ""),
                    ("XDG_DATA_HOME", "rel"),
                    ("HOME", "/h")
                ]),
                no_passwd
            ),
            PathBuf::from("/h/.local/share/replay")
        );
        assert_eq!(
            trace_root_from(env(&[]), || Some(PathBuf::from("/pw"))),
            PathBuf::from("/pw/.local/share/replay")
        );
        // The real function must not panic whatever the environment holds.
        let _ = default_trace_root();
    }

    #[test]
    fn allocate_latest_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/b/root");
        let err = resolve_trace(&root, None).unwrap_err();
        assert!(matches!(err, TraceError::NoRecordings { .. }), "{err}");
        assert!(err.to_string().contains("run `replay record` first"));

        let d0 = allocate_trace_dir(&root, "/usr/bin/ls").unwrap();
        assert_eq!(d0, root.join("ls-0"));
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&d0), 0o700);
        let d1 = allocate_trace_dir(&root, "ls").unwrap();
        assert_eq!(d1, root.join("ls-1"));
        fs::remove_dir(&d0).unwrap();
        assert_eq!(allocate_trace_dir(&root, "ls").unwrap(), d0);
        fs::create_dir(root.join("ls-2")).unwrap();
        assert_eq!(allocate_trace_dir(&root, "ls").unwrap(), root.join("ls-3"));
        assert_eq!(
            allocate_trace_dir(&root, "/").unwrap(),
            root.join("trace-0")
        );
        assert_eq!(
            allocate_trace_dir(&root, "..").unwrap(),
            root.join("trace-1")
        );
        assert_eq!(
            allocate_trace_dir(&root, "./my prog/").unwrap(),
            root.join("my_prog-0")
        );

        update_latest(&root, &d1).unwrap();
        let link = root.join(LATEST_NAME);
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("ls-1"));
        assert_eq!(
            resolve_trace(&root, None).unwrap(),
            fs::canonicalize(&d1).unwrap()
        );
        update_latest(&root, &d0).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("ls-0"));
        // No temp links left behind.
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("trace-tmp"))
            .collect();
        assert!(leftovers.is_empty());

        assert_eq!(resolve_trace(&root, Some(&d1)).unwrap(), d1);
        assert_eq!(
            resolve_trace(&root, Some(Path::new("ls-1"))).unwrap(),
            root.join("ls-1")
        );
        let err = resolve_trace(&root, Some(Path::new("nope-7"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("nope-7") && msg.contains(&*root.join("nope-7").to_string_lossy()));

        fs::remove_dir(&d0).unwrap();
        let err = resolve_trace(&root, None).unwrap_err();
        assert!(err.to_string().contains("no longer exists"), "{err}");

        // A trace directory outside the root gets an absolute link.
        let outside = tmp.path().join("elsewhere");
        fs::create_dir(&outside).unwrap();
        update_latest(&root, &outside).unwrap();
        assert_eq!(
            fs::read_link(&link).unwrap(),
            fs::canonicalize(&outside).unwrap()
        );
    }

    #[test]
    fn concurrent_allocation_gives_distinct_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || allocate_trace_dir(&root, "x").unwrap())
            })
            .collect();
        let mut dirs: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        dirs.sort();
        dirs.dedup();
        assert_eq!(dirs.len(), 8);
    }
}
