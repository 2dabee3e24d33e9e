//! Checking stored blobs against their sha256 names, once per reader, and
//! ahead of need: replay starts hashing every blob on a background thread
//! so that a large executable (gcc's cc1) is usually checked by the time
//! the replayed program execs it, on the other CPU.

use std::collections::HashMap;
use std::fs;
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

#[derive(Default, Debug)]
pub(crate) struct BlobChecks {
    state: Mutex<HashMap<String, Check>>,
    finished: Condvar,
}

impl BlobChecks {
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

    #[test]
    fn a_blob_is_good_only_when_its_content_hashes_to_its_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let content = b"stored file";
        let sha = hex::encode(Sha256::digest(content));
        let good = dir.path().join(&sha);
        fs::write(&good, content).expect("write blob");
        let other_sha = hex::encode(Sha256::digest(b"something else"));
        let altered = dir.path().join(&other_sha);
        fs::write(&altered, content).expect("write blob");

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
}
