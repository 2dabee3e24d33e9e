//! The content-addressed `files/` store: executables, libraries and mapped
//! files, so that replay does not depend on the filesystem staying the same.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, TraceError};
use crate::event::FileRef;

pub const FILES_DIR: &str = "files";

const BLOB_MODE: u32 = 0o600;
const EXEC_BLOB_MODE: u32 = 0o700;

/// A sha256 that can safely name a file: exactly 64 lowercase hex digits,
/// so a damaged trace cannot point outside `files/`.
pub fn is_valid_sha(sha: &str) -> bool {
    sha.len() == 64 && sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Identity of a file's content as far as stat can tell; two stores of the
/// same unchanged libc hit the cache instead of rehashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

#[derive(Debug, Clone)]
struct Stored {
    sha256: String,
    size: u64,
    executable: bool,
}

pub struct FileStore {
    dir: PathBuf,
    cache: HashMap<StatKey, Stored>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    pub fn new(dir: PathBuf) -> FileStore {
        FileStore {
            dir,
            cache: HashMap::new(),
        }
    }

    pub fn store_file(&mut self, path: &Path, executable: bool) -> Result<FileRef, TraceError> {
        let mut f = File::open(path).at(path)?;
        let md = f.metadata().at(path)?;
        let key = StatKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
        };
        let display = path.to_string_lossy().into_owned();
        if let Some(s) = self.cache.get(&key).cloned() {
            let blob = self.dir.join(&s.sha256);
            if blob.exists() {
                if executable && !s.executable {
                    set_mode(&blob, EXEC_BLOB_MODE)?;
                    if let Some(e) = self.cache.get_mut(&key) {
                        e.executable = true;
                    }
                }
                return Ok(FileRef {
                    path: display,
                    sha256: s.sha256,
                    size: s.size,
                });
            }
        }
        let (tmp, mut out) = self.temp_file()?;
        let copied = copy_hashing(&mut f, &mut out, path, &tmp);
        drop(out);
        let (sha256, size) = match copied {
            Ok(v) => v,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let executable = self.install(&tmp, &sha256, size, executable)?;
        self.cache.insert(
            key,
            Stored {
                sha256: sha256.clone(),
                size,
                executable,
            },
        );
        Ok(FileRef {
            path: display,
            sha256,
            size,
        })
    }

    pub fn store_bytes(
        &mut self,
        display_path: &str,
        bytes: &[u8],
        executable: bool,
    ) -> Result<FileRef, TraceError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let size = bytes.len() as u64;
        let blob = self.dir.join(&sha256);
        if blob_matches(&blob, size) {
            if executable {
                set_mode(&blob, EXEC_BLOB_MODE)?;
            }
        } else {
            let (tmp, mut out) = self.temp_file()?;
            let written = out.write_all(bytes).at(&tmp);
            drop(out);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            self.install(&tmp, &sha256, size, executable)?;
        }
        Ok(FileRef {
            path: display_path.to_string(),
            sha256,
            size,
        })
    }

    fn temp_file(&self) -> Result<(PathBuf, File), TraceError> {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".blob-{}-{n}.trace-tmp", std::process::id()));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(BLOB_MODE)
            .open(&tmp)
            .at(&tmp)?;
        Ok((tmp, f))
    }

    /// Moves a finished temp file to its content address, or drops it when
    /// an identical blob is already there. Returns whether the blob is
    /// executable now.
    fn install(
        &self,
        tmp: &Path,
        sha256: &str,
        size: u64,
        executable: bool,
    ) -> Result<bool, TraceError> {
        let blob = self.dir.join(sha256);
        if blob_matches(&blob, size) {
            let _ = fs::remove_file(tmp);
            if executable {
                set_mode(&blob, EXEC_BLOB_MODE)?;
                return Ok(true);
            }
            return Ok(is_executable(&blob));
        }
        let mode = if executable {
            EXEC_BLOB_MODE
        } else {
            BLOB_MODE
        };
        let result = set_mode(tmp, mode).and_then(|()| fs::rename(tmp, &blob).at(&blob));
        if result.is_err() {
            let _ = fs::remove_file(tmp);
        }
        result.map(|()| executable)
    }
}

fn blob_matches(blob: &Path, size: u64) -> bool {
    fs::metadata(blob).is_ok_and(|m| m.is_file() && m.len() == size)
}

fn is_executable(blob: &Path) -> bool {
    fs::metadata(blob).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
}

/// Sets the mode explicitly: creation modes are filtered by the umask.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), TraceError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

fn copy_hashing(
    src: &mut File,
    dst: &mut File,
    src_path: &Path,
    dst_path: &Path,
) -> Result<(String, u64), TraceError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TraceError::io(src_path, e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        dst.write_all(chunk).at(dst_path)?;
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Streams a blob through sha256, returning the hash and size.
pub fn hash_file(path: &Path) -> Result<(String, u64), TraceError> {
    let mut f = File::open(path).at(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TraceError::io(path, e)),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}
