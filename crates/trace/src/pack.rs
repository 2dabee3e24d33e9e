//! One-file traces (`replay pack`): every file of a trace directory in a
//! single file that can be copied anywhere and replayed from.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! "REPLAYPACK" version:u16
//! entry*: b'F' path_len:u16 path mode:u16 original_len:u64 stored_len:u64
//!         method:u8 sha256(original):[32] stored bytes
//! end:    b'E' sha256(every byte before this b'E'):[32]
//! ```
//!
//! `method` 0 stores the bytes as they are, 1 as one zstd frame. Paths are
//! relative, `/`-separated, and never leave the directory. `mode` keeps
//! the owner's permission bits (stored executables must stay executable). Unpacking checks
//! every file's hash and the digest of the whole pack, so a damaged or
//! truncated pack is refused with the first thing found wrong, and nothing
//! of it is left behind.

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, TraceError};

const MAGIC: &[u8; 10] = b"REPLAYPACK";
const VERSION: u16 = 1;
const FILE_TAG: u8 = b'F';
const END_TAG: u8 = b'E';
const STORED: u8 = 0;
const ZSTD: u8 = 1;
const ZSTD_LEVEL: i32 = 3;
/// Paths in a trace are short (`files/<sha256>`); anything longer is damage.
const MAX_PATH: usize = 512;
const OWNER_BITS: u32 = 0o700;

/// What [`pack`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackSummary {
    pub files: u64,
    /// Bytes of the trace directory's files.
    pub original_bytes: u64,
    /// Bytes of the pack.
    pub packed_bytes: u64,
}

/// Whether `path` starts like a pack (a file, not a trace directory).
pub fn is_pack(path: &Path) -> bool {
    let mut head = [0u8; MAGIC.len()];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == MAGIC
}

/// Writes every file under `trace_dir` into the new file `out` (mode 0600,
/// written under a temporary name and renamed, so an interrupted pack
/// leaves no half file behind).
pub fn pack(trace_dir: &Path, out: &Path) -> Result<PackSummary, TraceError> {
    if !trace_dir.join("manifest").is_file() {
        return Err(TraceError::NotATrace {
            path: trace_dir.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    list_files(trace_dir, Path::new(""), &mut files)?;
    files.sort();
    let tmp = out.with_file_name(format!(
        ".{}.{}.tmp",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let written = write_pack(trace_dir, &files, &tmp).and_then(|summary| {
        fs::rename(&tmp, out).at(out)?;
        Ok(summary)
    });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<(), TraceError> {
    let dir = root.join(rel);
    for entry in fs::read_dir(&dir).at(&dir)? {
        let entry = entry.at(&dir)?;
        let name = rel.join(entry.file_name());
        let kind = entry.file_type().at(&entry.path())?;
        if kind.is_dir() {
            list_files(root, &name, out)?;
        } else if kind.is_file() {
            out.push(name);
        }
        // Symbolic links (none in a trace) and sockets are not trace data.
    }
    Ok(())
}

/// Writes bytes through to `inner` while hashing them.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_pack(trace_dir: &Path, files: &[PathBuf], tmp: &Path) -> Result<PackSummary, TraceError> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .at(tmp)?;
    let mut out = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        len: 0,
    };
    let mut summary = PackSummary {
        files: 0,
        original_bytes: 0,
        packed_bytes: 0,
    };
    out.write_all(MAGIC).at(tmp)?;
    out.write_all(&VERSION.to_le_bytes()).at(tmp)?;
    for rel in files {
        let path = trace_dir.join(rel);
        let original = fs::read(&path).at(&path)?;
        let name = rel.to_string_lossy();
        let compressed =
            zstd::bulk::compress(&original, ZSTD_LEVEL).map_err(|e| TraceError::io(&path, e))?;
        let (method, stored) = if compressed.len() < original.len() {
            (ZSTD, compressed.as_slice())
        } else {
            (STORED, original.as_slice())
        };
        out.write_all(&[FILE_TAG]).at(tmp)?;
        out.write_all(&(name.len() as u16).to_le_bytes()).at(tmp)?;
        out.write_all(name.as_bytes()).at(tmp)?;
        let mode = fs::metadata(&path).at(&path)?.permissions().mode() & OWNER_BITS;
        out.write_all(&(mode as u16).to_le_bytes()).at(tmp)?;
        out.write_all(&(original.len() as u64).to_le_bytes())
            .at(tmp)?;
        out.write_all(&(stored.len() as u64).to_le_bytes())
            .at(tmp)?;
        out.write_all(&[method]).at(tmp)?;
        out.write_all(&Sha256::digest(&original)).at(tmp)?;
        out.write_all(stored).at(tmp)?;
        summary.files += 1;
        summary.original_bytes += original.len() as u64;
    }
    let digest = out.hash.clone().finalize();
    out.write_all(&[END_TAG]).at(tmp)?;
    out.write_all(&digest).at(tmp)?;
    summary.packed_bytes = out.len;
    let file = out
        .inner
        .into_inner()
        .map_err(|e| TraceError::io(tmp, e.into_error()))?;
    file.sync_all().at(tmp)?;
    Ok(summary)
}

/// Reads bytes from `inner` while hashing them.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks `pack_file` into `dir`, which must not exist yet (it is created
/// 0700, its files 0600). On any error `dir` is removed again.
pub fn unpack(pack_file: &Path, dir: &Path) -> Result<PackSummary, TraceError> {
    fs::DirBuilder::new().mode(0o700).create(dir).at(dir)?;
    let unpacked = read_pack(pack_file, dir);
    if unpacked.is_err() {
        let _ = fs::remove_dir_all(dir);
    }
    unpacked
}

fn damaged(pack_file: &Path, detail: impl Into<String>) -> TraceError {
    TraceError::PackDamaged {
        path: pack_file.to_path_buf(),
        detail: detail.into(),
    }
}

fn read_pack(pack_file: &Path, dir: &Path) -> Result<PackSummary, TraceError> {
    let file = fs::File::open(pack_file).at(pack_file)?;
    let total = file.metadata().at(pack_file)?.len();
    let mut input = HashingReader {
        inner: BufReader::new(file),
        hash: Sha256::new(),
    };
    let eof = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => damaged(pack_file, "it ends early (truncated)"),
        _ => TraceError::io(pack_file, e),
    };
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic).map_err(eof)?;
    if &magic != MAGIC {
        return Err(damaged(pack_file, "it does not start like a replay pack"));
    }
    let version = u16::from_le_bytes(read_array(&mut input).map_err(eof)?);
    if version > VERSION {
        return Err(TraceError::UnsupportedVersion {
            found: u32::from(version),
            supported: u32::from(VERSION),
        });
    }
    let mut summary = PackSummary {
        files: 0,
        original_bytes: 0,
        packed_bytes: total,
    };
    loop {
        let digest_so_far = input.hash.clone().finalize();
        let [tag] = read_array(&mut input).map_err(eof)?;
        match tag {
            END_TAG => {
                let recorded: [u8; 32] = read_array(&mut input).map_err(eof)?;
                if recorded[..] != digest_so_far[..] {
                    return Err(damaged(pack_file, "its digest does not match its contents"));
                }
                let mut rest = [0u8; 1];
                if input.read(&mut rest).at(pack_file)? != 0 {
                    return Err(damaged(pack_file, "bytes follow its end"));
                }
                if !dir.join("manifest").is_file() {
                    return Err(damaged(pack_file, "it holds no trace manifest"));
                }
                return Ok(summary);
            }
            FILE_TAG => {
                let len =
                    read_file_entry(&mut input, pack_file, total, dir).map_err(|e| match e {
                        TraceError::Io { source, .. }
                            if source.kind() == io::ErrorKind::UnexpectedEof =>
                        {
                            damaged(pack_file, "it ends early (truncated)")
                        }
                        other => other,
                    })?;
                summary.files += 1;
                summary.original_bytes += len;
            }
            other => {
                return Err(damaged(
                    pack_file,
                    format!("an entry has the unknown tag {other:#04x}"),
                ))
            }
        }
    }
}

fn read_array<const N: usize>(input: &mut impl Read) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Reads one file entry and writes the file; returns its length.
fn read_file_entry(
    input: &mut impl Read,
    pack_file: &Path,
    total: u64,
    dir: &Path,
) -> Result<u64, TraceError> {
    let at = |e| TraceError::io(pack_file, e);
    let path_len = usize::from(u16::from_le_bytes(read_array(input).map_err(at)?));
    if path_len == 0 || path_len > MAX_PATH {
        return Err(damaged(
            pack_file,
            format!("a path is {path_len} bytes long"),
        ));
    }
    let mut name = vec![0u8; path_len];
    input.read_exact(&mut name).map_err(at)?;
    let rel = safe_relative_path(&name)
        .ok_or_else(|| damaged(pack_file, "a path leaves the trace directory"))?;
    // The owner's bits only, and never less than read-write: the files
    // are private to whoever unpacks them.
    let mode = u32::from(u16::from_le_bytes(read_array(input).map_err(at)?)) & OWNER_BITS | 0o600;
    let original_len = u64::from_le_bytes(read_array(input).map_err(at)?);
    let stored_len = u64::from_le_bytes(read_array(input).map_err(at)?);
    let [method] = read_array(input).map_err(at)?;
    let sha: [u8; 32] = read_array(input).map_err(at)?;
    if stored_len > total {
        return Err(damaged(
            pack_file,
            format!(
                "{} claims {stored_len} bytes, more than the pack holds",
                rel.display()
            ),
        ));
    }
    let target = dir.join(&rel);
    if let Some(parent) = target.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .at(parent)?;
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&target)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                damaged(pack_file, format!("{} appears twice", rel.display()))
            }
            _ => TraceError::io(&target, e),
        })?;
    let mut out = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        len: 0,
    };
    let mut stored = input.take(stored_len);
    let copied = match method {
        STORED => io::copy(&mut stored, &mut out),
        ZSTD => zstd::stream::read::Decoder::new(&mut stored)
            .and_then(|decoder| io::copy(&mut decoder.take(original_len + 1), &mut out)),
        other => {
            return Err(damaged(
                pack_file,
                format!("{} is stored with unknown method {other}", rel.display()),
            ))
        }
    };
    let copied = copied.map_err(|e| match e.kind() {
        io::ErrorKind::Other | io::ErrorKind::InvalidData => damaged(
            pack_file,
            format!("{} does not decompress ({e})", rel.display()),
        ),
        _ => TraceError::io(&target, e),
    })?;
    if stored.limit() != 0 {
        return Err(damaged(pack_file, "it ends early (truncated)"));
    }
    if copied != original_len || out.hash.clone().finalize()[..] != sha[..] {
        return Err(damaged(
            pack_file,
            format!("{} does not match its sha256", rel.display()),
        ));
    }
    out.flush().at(&target)?;
    Ok(original_len)
}

/// `name` as a relative path of plain components, or None.
fn safe_relative_path(name: &[u8]) -> Option<PathBuf> {
    let text = std::str::from_utf8(name).ok()?;
    let path = Path::new(text);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(part) if !part.is_empty()));
    (plain && path.components().count() > 0 && !text.contains('\0')).then(|| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_trace(dir: &Path) {
        fs::create_dir_all(dir.join("files")).unwrap();
        fs::write(dir.join("manifest"), b"{\"format_version\":3}").unwrap();
        fs::write(dir.join("events"), vec![7u8; 10_000]).unwrap();
        fs::write(dir.join("files/abc"), b"\x7fELF and some code").unwrap();
        fs::set_permissions(dir.join("files/abc"), fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_pack_unpacks_to_the_same_files() {
        let tmp = tempfile::tempdir().unwrap();
        let trace = tmp.path().join("t");
        sample_trace(&trace);
        let file = tmp.path().join("t.pack");
        let summary = pack(&trace, &file).unwrap();
        assert_eq!(summary.files, 3);
        assert!(summary.packed_bytes < summary.original_bytes, "compressed");
        assert!(is_pack(&file) && !is_pack(&trace.join("events")));
        let out = tmp.path().join("u");
        assert_eq!(unpack(&file, &out).unwrap().files, 3);
        for rel in ["manifest", "events", "files/abc"] {
            assert_eq!(
                fs::read(out.join(rel)).unwrap(),
                fs::read(trace.join(rel)).unwrap()
            );
        }
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o700);
        assert_eq!(mode(&out.join("files/abc")), 0o700, "executable, private");
        assert_eq!(mode(&out.join("events")), 0o600);
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn every_damage_is_refused_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let trace = tmp.path().join("t");
        sample_trace(&trace);
        let file = tmp.path().join("t.pack");
        pack(&trace, &file).unwrap();
        let good = fs::read(&file).unwrap();
        let damaged_file = tmp.path().join("bad.pack");
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for cut in [5, 12, 40, good.len() / 2, good.len() - 1] {
            cases.push(good[..cut].to_vec());
        }
        for flip in [3, 13, 20, good.len() / 2, good.len() - 40, good.len() - 2] {
            let mut bad = good.clone();
            bad[flip] ^= 0x20;
            cases.push(bad);
        }
        let mut trailing = good.clone();
        trailing.push(0);
        cases.push(trailing);
        for (i, bytes) in cases.iter().enumerate() {
            fs::write(&damaged_file, bytes).unwrap();
            let out = tmp.path().join(format!("u{i}"));
            let err = unpack(&damaged_file, &out).expect_err("damage must be found");
            let text = err.to_string();
            assert!(
                text.contains("bad.pack") && !out.exists(),
                "case {i}: {text}"
            );
        }
    }

    #[test]
    fn paths_never_leave_the_directory() {
        assert!(safe_relative_path(b"files/abc").is_some());
        for bad in [&b"../x"[..], b"/etc/passwd", b"files/../../x", b"", b"a\0b"] {
            assert!(safe_relative_path(bad).is_none(), "{bad:?}");
        }
    }
}
