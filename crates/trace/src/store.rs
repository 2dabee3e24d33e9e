//! The content-addressed `files/` store: executables, libraries and mapped
//! files, so that replay does not depend on the filesystem staying the same.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, TraceError};
use crate::event::FileRef;
use crate::verify::{append_memo, read_memo, Stamp, VERIFIED_FILES};

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
    /// Changed by every write and by `touch -d` alike, unlike mtime alone.
    ctime_ns: i128,
}

impl StatKey {
    fn of(md: &fs::Metadata) -> StatKey {
        StatKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
        }
    }

    /// The link cache's directory name for this key.
    fn name(&self) -> String {
        format!(
            "{:x}-{:x}-{:x}-{:x}-{:x}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }
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
    /// Shared by the recordings of one trace root: `<key>/<sha256>` is a
    /// hard link to a blob an earlier recording stored, so an unchanged
    /// libc or cc1 is linked instead of hashed and copied again.
    link_cache: Option<PathBuf>,
    /// The link cache's `verified` lines, read when first needed.
    cache_memo: Option<HashMap<String, Stamp>>,
}

/// The link cache's list of blobs known good (see [`crate::verify`]).
const CACHE_MEMO: &str = "verified";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    pub fn new(dir: PathBuf) -> FileStore {
        FileStore {
            dir,
            cache: HashMap::new(),
            link_cache: None,
            cache_memo: None,
        }
    }

    /// The trace's `verified-files`, next to `files/`.
    fn trace_memo(&self) -> Option<PathBuf> {
        Some(self.dir.parent()?.join(VERIFIED_FILES))
    }

    /// Notes a blob whose content this recording just hashed as it wrote
    /// it, in the trace (so replay need not hash it again) and in the link
    /// cache (so recordings that link it can say the same).
    fn vouch_for_written(&self, sha256: &str) {
        let Some(stamp) = Stamp::of(&self.dir.join(sha256)) else {
            return;
        };
        if let Some(memo) = self.trace_memo() {
            append_memo(&memo, sha256, stamp);
        }
        if let Some(cache) = &self.link_cache {
            append_memo(&cache.join(CACHE_MEMO), sha256, stamp);
        }
    }

    /// Notes a linked blob in the trace's memo if the link cache vouches
    /// for it unchanged since it was written.
    fn vouch_for_linked(&mut self, sha256: &str) {
        let Some(cache) = &self.link_cache else {
            return;
        };
        let memo = self
            .cache_memo
            .get_or_insert_with(|| read_memo(&cache.join(CACHE_MEMO)));
        let Some(known) = memo.get(sha256).copied() else {
            return;
        };
        if Stamp::of(&self.dir.join(sha256)) == Some(known) {
            if let Some(trace_memo) = self.trace_memo() {
                append_memo(&trace_memo, sha256, known);
            }
        }
    }

    /// Uses (and fills) the link cache in `dir`, created private if needed.
    /// Blobs are linked only within one filesystem; anything else copies.
    pub fn set_link_cache(&mut self, dir: PathBuf) {
        self.link_cache = Some(dir);
    }

    /// A blob an earlier recording stored for the same unchanged file,
    /// hard-linked into this trace. Every failure means "copy instead".
    fn link_from_cache(&self, key: &StatKey, executable: bool) -> Option<String> {
        let entry = self.link_cache.as_ref()?.join(key.name());
        let sha = fs::read_dir(&entry)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find(|name| is_valid_sha(name))?;
        let cached = entry.join(&sha);
        let blob = self.dir.join(&sha);
        if !blob_matches(&blob, key.size) {
            // Our own copy, private like every blob; the trace records its
            // sha256, which replay checks, so a damaged link is caught.
            let md = fs::symlink_metadata(&cached).ok()?;
            if !md.is_file() || md.len() != key.size || md.permissions().mode() & 0o077 != 0 {
                return None;
            }
            fs::hard_link(&cached, &blob).ok()?;
        }
        if executable && !is_executable(&blob) {
            set_mode(&blob, EXEC_BLOB_MODE).ok()?;
        }
        Some(sha)
    }

    /// Remembers a freshly stored blob for later recordings; best effort.
    fn add_to_link_cache(&self, key: &StatKey, sha256: &str) {
        let Some(cache) = &self.link_cache else {
            return;
        };
        let entry = cache.join(key.name());
        let created = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&entry);
        if created.is_ok() {
            let _ = fs::hard_link(self.dir.join(sha256), entry.join(sha256));
        }
    }

    /// Like [`FileStore::store_file`] for a file whose metadata the caller
    /// has already: a file this trace stored before (a library mapped by
    /// every process) is then not opened at all.
    pub fn store_file_with_metadata(
        &mut self,
        path: &Path,
        md: &fs::Metadata,
        executable: bool,
    ) -> Result<FileRef, TraceError> {
        match self.stored_before(&StatKey::of(md), path, executable)? {
            Some(file) => Ok(file),
            None => self.store_file(path, executable),
        }
    }

    fn stored_before(
        &mut self,
        key: &StatKey,
        path: &Path,
        executable: bool,
    ) -> Result<Option<FileRef>, TraceError> {
        let Some(s) = self.cache.get(key).cloned() else {
            return Ok(None);
        };
        let blob = self.dir.join(&s.sha256);
        if !blob.exists() {
            return Ok(None);
        }
        if executable && !s.executable {
            set_mode(&blob, EXEC_BLOB_MODE)?;
            if let Some(e) = self.cache.get_mut(key) {
                e.executable = true;
            }
        }
        Ok(Some(FileRef {
            path: path.to_string_lossy().into_owned(),
            sha256: s.sha256,
            size: s.size,
        }))
    }

    pub fn store_file(&mut self, path: &Path, executable: bool) -> Result<FileRef, TraceError> {
        let mut f = File::open(path).at(path)?;
        let md = f.metadata().at(path)?;
        let key = StatKey::of(&md);
        let display = path.to_string_lossy().into_owned();
        if let Some(file) = self.stored_before(&key, path, executable)? {
            return Ok(file);
        }
        if let Some(sha256) = self.link_from_cache(&key, executable) {
            self.vouch_for_linked(&sha256);
            self.cache.insert(
                key,
                Stored {
                    sha256: sha256.clone(),
                    size: key.size,
                    executable,
                },
            );
            return Ok(FileRef {
                path: display,
                sha256,
                size: key.size,
            });
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
        let existed = blob_matches(&self.dir.join(&sha256), size);
        let executable = self.install(&tmp, &sha256, size, executable)?;
        self.add_to_link_cache(&key, &sha256);
        if !existed {
            self.vouch_for_written(&sha256);
        }
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
            self.vouch_for_written(&sha256);
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
