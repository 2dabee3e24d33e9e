//! Byte layout of the `events` and `data` stream files (see
//! docs/trace-format.md) and a reader that yields whole, verified chunks.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{IoContext, TraceError};
use crate::FORMAT_VERSION;

pub const STREAM_MAGIC: &[u8; 8] = b"RPLYSTRM";
pub const STREAM_HEADER_LEN: usize = 16;
pub const CHUNK_MAGIC: &[u8; 4] = b"RCHK";
pub const CHUNK_HEADER_LEN: usize = 60;
/// Upper bound on a chunk's decompressed payload; readers reject larger
/// claims before allocating anything.
pub const MAX_UNCOMPRESSED: u32 = 64 << 20;
/// zstd falls back to raw blocks on incompressible input, so real output
/// stays far below this; anything larger is damage.
pub const MAX_COMPRESSED: u32 = (64 << 20) + (64 << 10);
/// Size at which the writer cuts a data chunk (and at which it cuts an
/// events chunk by encoded size).
pub const TARGET_CHUNK_BYTES: usize = 4 << 20;
/// Number of events after which the writer cuts an events chunk.
pub const TARGET_CHUNK_EVENTS: u32 = 4096;

/// Which of the two stream files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Events,
    Data,
}

impl StreamKind {
    pub fn code(self) -> u16 {
        match self {
            StreamKind::Events => 0,
            StreamKind::Data => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamKind::Events => "events",
            StreamKind::Data => "data",
        }
    }
}

pub fn stream_header(kind: StreamKind) -> [u8; STREAM_HEADER_LEN] {
    let mut h = [0u8; STREAM_HEADER_LEN];
    h[..8].copy_from_slice(STREAM_MAGIC);
    h[8..10].copy_from_slice(&(FORMAT_VERSION as u16).to_le_bytes());
    h[10..12].copy_from_slice(&kind.code().to_le_bytes());
    h
}

/// The fixed-size header in front of every chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHeader {
    pub seq: u32,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
    pub item_count: u32,
    pub first_item: u64,
    pub sha256: [u8; 32],
}

impl ChunkHeader {
    pub fn encode(&self) -> [u8; CHUNK_HEADER_LEN] {
        let mut h = [0u8; CHUNK_HEADER_LEN];
        h[0..4].copy_from_slice(CHUNK_MAGIC);
        h[4..8].copy_from_slice(&self.seq.to_le_bytes());
        h[8..12].copy_from_slice(&self.compressed_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        h[16..20].copy_from_slice(&self.item_count.to_le_bytes());
        h[20..28].copy_from_slice(&self.first_item.to_le_bytes());
        h[28..60].copy_from_slice(&self.sha256);
        h
    }

    /// Parses the fields; the magic is checked by the caller so that it can
    /// say where the damage is.
    pub fn decode(h: &[u8; CHUNK_HEADER_LEN]) -> ChunkHeader {
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[20..28]);
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&h[28..60]);
        ChunkHeader {
            seq: u32_at(4),
            compressed_len: u32_at(8),
            uncompressed_len: u32_at(12),
            item_count: u32_at(16),
            first_item: u64::from_le_bytes(first),
            sha256,
        }
    }
}

/// Where a stream stopped early in an incomplete trace.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// `events` or `data`.
    pub stream: String,
    /// Sequence number of the first chunk that is not wholly present.
    pub chunk: u64,
    /// Byte offset in the stream file where the readable prefix ends.
    pub offset: u64,
    pub reason: String,
}

/// One verified, decompressed chunk.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub seq: u64,
    /// Byte offset of the chunk header in the stream file.
    pub offset: u64,
    pub item_count: u32,
    pub payload: Vec<u8>,
}

/// Reads `buf.len()` bytes unless the file ends first; returns how many it got.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Sequential reader of one stream file.
///
/// Plain buffered reads rather than mmap: the recorder may still be
/// appending to (or a user truncating) the file, and a mapped page past EOF
/// would be a SIGBUS instead of an error.
pub struct ChunkReader {
    kind: StreamKind,
    path: PathBuf,
    file: io::BufReader<File>,
    /// Whether the manifest says the recording finished; decides whether a
    /// short file is damage or just the end of what was recorded.
    complete: bool,
    offset: u64,
    /// The file's length when opened (a capacity hint only).
    file_len: u64,
    next_seq: u64,
    truncation: Option<Truncation>,
    done: bool,
}

impl ChunkReader {
    /// Opens the stream file and validates its header.
    pub fn open(path: &Path, kind: StreamKind, complete: bool) -> Result<ChunkReader, TraceError> {
        let file = File::open(path).at(path)?;
        let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut r = ChunkReader {
            kind,
            path: path.to_path_buf(),
            file: io::BufReader::with_capacity(256 << 10, file),
            complete,
            offset: 0,
            file_len,
            next_seq: 0,
            truncation: None,
            done: false,
        };
        let mut h = [0u8; STREAM_HEADER_LEN];
        let got = read_full(&mut r.file, &mut h).at(path)?;
        if got < STREAM_HEADER_LEN {
            if complete {
                return Err(r.corrupt(0, "file ends inside the stream header".into()));
            }
            // The recorder died between creating the file and writing its
            // header: an empty recording.
            r.truncate(format!(
                "file ends inside the stream header ({got} of {STREAM_HEADER_LEN} bytes)"
            ));
            return Ok(r);
        }
        if &h[..8] != STREAM_MAGIC {
            return Err(r.corrupt(0, "bad stream magic (not a replay stream file)".into()));
        }
        let version = u16::from_le_bytes([h[8], h[9]]);
        if u32::from(version) > FORMAT_VERSION {
            return Err(TraceError::UnsupportedVersion {
                found: version.into(),
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(r.corrupt(0, "stream header has format version 0".into()));
        }
        let code = u16::from_le_bytes([h[10], h[11]]);
        if code != kind.code() {
            return Err(r.corrupt(
                0,
                format!(
                    "stream header says kind {code}, expected {} ({})",
                    kind.code(),
                    kind.name()
                ),
            ));
        }
        if h[12..16] != [0, 0, 0, 0] {
            return Err(r.corrupt(0, "reserved stream header bytes are not zero".into()));
        }
        r.offset = STREAM_HEADER_LEN as u64;
        Ok(r)
    }

    /// (sequence number of the next chunk, byte offset where it starts).
    pub fn position(&self) -> (u64, u64) {
        (self.next_seq, self.offset)
    }

    /// Continues at a chunk boundary another reader of this file reached
    /// (its [`ChunkReader::position`]).
    pub fn seek_to(&mut self, (seq, offset): (u64, u64)) -> Result<(), TraceError> {
        use std::io::Seek;
        self.file.seek(io::SeekFrom::Start(offset)).at(&self.path)?;
        self.next_seq = seq;
        self.offset = offset;
        Ok(())
    }

    pub fn take_truncation(&mut self) -> Option<Truncation> {
        self.truncation.take()
    }

    pub fn corrupt(&self, offset: u64, what: String) -> TraceError {
        TraceError::Corrupt {
            stream: self.kind.name().to_string(),
            chunk: self.next_seq,
            offset,
            what,
        }
    }

    fn truncate(&mut self, reason: String) {
        self.done = true;
        self.truncation = Some(Truncation {
            stream: self.kind.name().to_string(),
            chunk: self.next_seq,
            offset: self.offset,
            reason,
        });
    }

    /// Next whole chunk, `Ok(None)` at the end of the readable stream.
    /// `expected_first` is the event index or data offset the chunk must
    /// start at.
    pub fn next_chunk(&mut self, expected_first: u64) -> Result<Option<Chunk>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let start = self.offset;
        let mut hb = [0u8; CHUNK_HEADER_LEN];
        let got = read_full(&mut self.file, &mut hb).at(&self.path)?;
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        let seen = got.min(CHUNK_MAGIC.len());
        if hb.get(..seen) != CHUNK_MAGIC.get(..seen) {
            return Err(self.corrupt(
                start,
                "bad chunk magic (damaged data or trailing garbage)".into(),
            ));
        }
        if got < CHUNK_HEADER_LEN {
            if self.complete {
                return Err(self.corrupt(start, "file ends inside a chunk header".into()));
            }
            self.truncate(format!(
                "file ends inside a chunk header ({got} of {CHUNK_HEADER_LEN} bytes present)"
            ));
            return Ok(None);
        }
        let h = ChunkHeader::decode(&hb);
        if u64::from(h.seq) != self.next_seq {
            return Err(self.corrupt(
                start,
                format!(
                    "chunk sequence number {}, expected {}",
                    h.seq, self.next_seq
                ),
            ));
        }
        if h.compressed_len > MAX_COMPRESSED {
            return Err(self.corrupt(
                start,
                format!(
                    "chunk claims {} compressed bytes, more than the limit {MAX_COMPRESSED}",
                    h.compressed_len
                ),
            ));
        }
        if h.uncompressed_len > MAX_UNCOMPRESSED {
            return Err(self.corrupt(
                start,
                format!(
                    "chunk claims {} uncompressed bytes, more than the limit {MAX_UNCOMPRESSED}",
                    h.uncompressed_len
                ),
            ));
        }
        match self.kind {
            StreamKind::Data if h.item_count != 0 => {
                return Err(self.corrupt(
                    start,
                    format!("data chunk has item count {}, expected 0", h.item_count),
                ));
            }
            // Every frame has a 4-byte length prefix.
            StreamKind::Events if u64::from(h.item_count) * 4 > u64::from(h.uncompressed_len) => {
                return Err(self.corrupt(
                    start,
                    format!(
                        "chunk claims {} events in {} bytes",
                        h.item_count, h.uncompressed_len
                    ),
                ));
            }
            _ => {}
        }
        if h.first_item != expected_first {
            let what = match self.kind {
                StreamKind::Events => "first event index",
                StreamKind::Data => "data offset",
            };
            return Err(self.corrupt(
                start,
                format!(
                    "chunk {what} is {}, expected {expected_first}",
                    h.first_item
                ),
            ));
        }

        // Sized by what the file holds past this header, so a lying length
        // in a truncated file costs no more memory than the file has, and a
        // true one is read without growing (and copying) the buffer.
        let want = u64::from(h.compressed_len);
        let in_file = self
            .file_len
            .saturating_sub(start + CHUNK_HEADER_LEN as u64);
        let mut body = Vec::with_capacity(usize::try_from(want.min(in_file)).unwrap_or(0));
        (&mut self.file)
            .take(want)
            .read_to_end(&mut body)
            .at(&self.path)?;
        if (body.len() as u64) < want {
            if self.complete {
                return Err(self.corrupt(
                    start,
                    format!(
                        "file ends inside the chunk body ({} of {want} bytes present)",
                        body.len()
                    ),
                ));
            }
            self.truncate(format!(
                "file ends inside a chunk body ({} of {want} bytes present)",
                body.len()
            ));
            return Ok(None);
        }
        let digest: [u8; 32] = Sha256::digest(&body).into();
        if digest != h.sha256 {
            return Err(self.corrupt(start, "sha256 mismatch".into()));
        }
        let payload = decompress(&body, h.uncompressed_len)
            .map_err(|e| self.corrupt(start, format!("zstd decompression failed: {e}")))?;
        if payload.len() as u64 != u64::from(h.uncompressed_len) {
            return Err(self.corrupt(
                start,
                format!(
                    "chunk decompresses to {}{} bytes, header says {}",
                    if payload.len() as u64 > u64::from(h.uncompressed_len) {
                        "more than "
                    } else {
                        ""
                    },
                    payload.len(),
                    h.uncompressed_len
                ),
            ));
        }
        self.offset = start + CHUNK_HEADER_LEN as u64 + want;
        let chunk = Chunk {
            seq: self.next_seq,
            offset: start,
            item_count: h.item_count,
            payload,
        };
        self.next_seq += 1;
        Ok(Some(chunk))
    }
}

/// Decompresses into a buffer one byte larger than the declared size, which
/// is enough to detect a lie without letting a decompression bomb grow
/// further (the capacity is bounded by `MAX_UNCOMPRESSED`, checked by the
/// caller). In one call, not through a stream reader, which took a quarter
/// longer; replay waits for the first data chunk before the program
/// starts.
fn decompress(body: &[u8], uncompressed_len: u32) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(uncompressed_len as usize + 1);
    zstd::bulk::Decompressor::new()?.decompress_to_buffer(body, &mut out)?;
    Ok(out)
}
