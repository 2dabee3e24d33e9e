//! Checking stored blobs against their sha256 names, once per reader, and
//! ahead of need: replay starts hashing every blob on a background thread
//! so that a large executable (gcc's cc1) is usually checked by the time
//! the replayed program execs it, on the other CPU.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::TraceError;
use crate::store::{hash_file, is_valid_sha};

#[derive(Debug)]
enum Check {
    /// Some thread is hashing it now.
    Running,
    /// Hashed: the content's size, and whether its sha256 is its name.
    Done { size: u64, matches: bool },
}

/// The trace's list of blobs known good: `<sha256> <dev> <ino> <size>
/// <mtime_ns>` lines, written by the recorder for blobs it hashed as it
/// wrote them and by replay for blobs it hashed.
pub const VERIFIED_FILES: &str = "verified-files";

/// What stat says of a blob: a write through the filesystem changes its
/// mtime. (Not ctime: every new hard link to a blob, which is how later
/// recordings share it, changes that.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> Option<Stamp> {
        let md = fs::symlink_metadata(path).ok()?;
        Some(Stamp {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
        })
    }

    fn line(&self, sha: &str) -> String {
        format!(
            "{sha} {} {} {} {}\n",
            self.dev, self.ino, self.size, self.mtime_ns
        )
    }

    fn parse(line: &str) -> Option<(String, Stamp)> {
        let mut f = line.split(' ');
        let sha = f.next().filter(|s| is_valid_sha(s))?.to_string();
        let stamp = Stamp {
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            size: f.next()?.parse().ok()?,
            mtime_ns: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some((sha, stamp))
    }
}

/// A file of `<sha256> <dev> <ino> <size> <mtime_ns>` lines: blobs known to
/// hash to their name as long as stat still says the same of them.
pub(crate) fn read_memo(path: &Path) -> HashMap<String, Stamp> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(Stamp::parse)
        .collect()
}

/// Appends one line; best effort (a read-only trace is hashed every time).
pub(crate) fn append_memo(path: &Path, sha: &str, stamp: Stamp) {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut file) = file {
        let _ = file.write_all(stamp.line(sha).as_bytes());
    }
}

#[derive(Default, Debug)]
pub(crate) struct BlobChecks {
    state: Mutex<HashMap<String, Check>>,
    finished: Condvar,
    /// Blobs hashed good before, by the recorder or an earlier replay, as
    /// stat saw them then (the trace's `verified-files`): unchanged since,
    /// they need no hashing again.
    memo: HashMap<String, Stamp>,
    memo_path: Option<PathBuf>,
}

impl BlobChecks {
    /// Checks that trust, and add to, the good blobs listed in `memo_path`.
    pub(crate) fn remembered_in(memo_path: PathBuf) -> BlobChecks {
        BlobChecks {
            memo: read_memo(&memo_path),
            memo_path: Some(memo_path),
            ..BlobChecks::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Check>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The size of the blob named `sha` at `path` if its content hashes to
    /// its name, `None` if it does not. Hashes it here unless another
    /// thread already is, in which case it waits for that result.
    pub(crate) fn check(&self, sha: &str, path: &Path) -> Result<Option<u64>, TraceError> {
        let mut state = self.lock();
        loop {
            match state.get(sha) {
                Some(Check::Done { size, matches }) => return Ok(matches.then_some(*size)),
                Some(Check::Running) => {
                    state = self.finished.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                None => break,
            }
        }
        let stamp = Stamp::of(path);
        if let Some(stamp) = stamp.filter(|s| self.memo.get(sha) == Some(s)) {
            state.insert(
                sha.to_string(),
                Check::Done {
                    size: stamp.size,
                    matches: true,
                },
            );
            return Ok(Some(stamp.size));
        }
        state.insert(sha.to_string(), Check::Running);
        drop(state);
        let hashed = hash_file(path);
        let mut state = self.lock();
        let verdict = match &hashed {
            Ok((found, size)) => {
                let matches = found == sha;
                state.insert(
                    sha.to_string(),
                    Check::Done {
                        size: *size,
                        matches,
                    },
                );
                // Stamped before hashing: a write meanwhile changes mtime.
                if let (Some(stamp), Some(memo), true) = (stamp, &self.memo_path, matches) {
                    append_memo(memo, sha, stamp);
                }
                Ok(matches.then_some(*size))
            }
            Err(_) => {
                state.remove(sha);
                hashed.map(|_| None)
            }
        };
        self.finished.notify_all();
        verdict
    }

    /// Hashes every blob in `files` on a background thread. Failures are
    /// left for the foreground check to report when the blob is needed.
    pub(crate) fn check_all_in_background(self: &Arc<Self>, files: PathBuf) {
        let checks = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("replay-verify".into())
            .spawn(move || {
                let Ok(entries) = fs::read_dir(&files) else {
                    return;
                };
                for entry in entries.flatten() {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let claimed = is_valid_sha(&name) && !checks.lock().contains_key(&name);
                    if claimed {
                        let _ = checks.check(&name, &entry.path());
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::debug!("blobs are checked when needed: no background thread: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Writes `content` into `dir` under the sha256 of `named_for`; returns
    /// that name and the path.
    fn blob(dir: &Path, named_for: &[u8], content: &[u8]) -> (String, PathBuf) {
        let sha = hex::encode(Sha256::digest(named_for));
        let path = dir.join(&sha);
        fs::write(&path, content).expect("write blob");
        (sha, path)
    }

    #[test]
    fn a_blob_is_good_only_when_its_content_hashes_to_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (sha, good) = blob(dir.path(), b"stored file", b"stored file");
        let (other_sha, altered) = blob(dir.path(), b"something else", b"stored file");

        let checks = Arc::new(BlobChecks::default());
        checks.check_all_in_background(dir.path().to_path_buf());
        assert_eq!(checks.check(&sha, &good).expect("hash"), Some(11));
        assert_eq!(checks.check(&other_sha, &altered).expect("hash"), None);
        // Decided once: changing the file later does not change the verdict
        // of this reader (replay already used the blob it checked).
        fs::write(&good, b"changed").expect("rewrite blob");
        assert_eq!(checks.check(&sha, &good).expect("cached"), Some(11));
        let missing = dir.path().join("0".repeat(64));
        assert!(checks.check(&"0".repeat(64), &missing).is_err());
    }

    /// A later reader trusts a blob stat says is unchanged since it was
    /// hashed good, and hashes it again once it was written to.
    #[test]
    fn a_good_blob_is_remembered_until_it_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (sha, path) = blob(dir.path(), b"library", b"library");
        let memo = dir.path().join(VERIFIED_FILES);
        let first = BlobChecks::remembered_in(memo.clone());
        assert_eq!(first.check(&sha, &path).expect("hash"), Some(7));
        assert!(fs::read_to_string(&memo).expect("memo").starts_with(&sha));

        // Same size, other bytes: only a hash can tell, and the write
        // changed the blob's mtime, so the memo no longer vouches for it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&path, b"LIBRARY").expect("alter blob");
        let second = BlobChecks::remembered_in(memo.clone());
        assert_eq!(second.check(&sha, &path).expect("hash"), None);
    }
}
