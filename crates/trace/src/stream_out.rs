//! One stream file of a trace being written: chunk framing, compression
//! and writeback. The writer's thread owns one per stream.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::chunk::{
    stream_header, ChunkHeader, StreamKind, CHUNK_HEADER_LEN, MAX_COMPRESSED, MAX_UNCOMPRESSED,
    STREAM_HEADER_LEN, TARGET_CHUNK_BYTES,
};
use crate::error::{IoContext, TraceError};
use crate::manifest::ChunkInfo;
use crate::store::set_mode;

/// Fast enough to keep up with a busy tracee; traces compress well anyway.
pub(crate) const ZSTD_LEVEL: i32 = 1;
/// Size at which the first data chunk is cut (see
/// [`StreamOut::data_chunk_target`]).
const FIRST_DATA_CHUNK_BYTES: usize = 256 << 10;
/// Size of a stream file from which the writer starts its writeback
/// itself (see [`StreamOut::start_writeback`]).
const WRITEBACK_AFTER_BYTES: u64 = 8 << 20;

/// One stream file being appended to.
pub(crate) struct StreamOut {
    kind: StreamKind,
    path: PathBuf,
    file: File,
    offset: u64,
    seq: u32,
}

impl StreamOut {
    pub(crate) fn create(path: &Path, kind: StreamKind) -> Result<StreamOut, TraceError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .at(path)?;
        set_mode(path, 0o600)?;
        file.write_all(&stream_header(kind)).at(path)?;
        Ok(StreamOut {
            kind,
            path: path.to_path_buf(),
            file,
            offset: STREAM_HEADER_LEN as u64,
            seq: 0,
        })
    }

    /// Starts writing what this stream holds to the disk, without waiting,
    /// once it is large enough that a long recording would otherwise pile
    /// up dirty pages for the kernel to write all at once. A short
    /// recording leaves it to the kernel: submitting the I/O cost it about
    /// a millisecond of a CPU that the tracee shares.
    fn start_writeback(&self, end: u64) {
        use std::os::fd::AsRawFd;
        if end < WRITEBACK_AFTER_BYTES {
            return;
        }
        // The first time, everything written so far; then chunk by chunk.
        let start = if self.offset < WRITEBACK_AFTER_BYTES {
            0
        } else {
            self.offset
        };
        let (Ok(offset), Ok(len)) = (i64::try_from(start), i64::try_from(end - start)) else {
            return;
        };
        // SAFETY: sync_file_range on our own open fd; it only schedules I/O.
        // A failure (a filesystem without it) leaves everything to fsync.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                offset,
                len,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }

    pub(crate) fn write_chunk(
        &mut self,
        compressor: &mut zstd::bulk::Compressor<'static>,
        payload: &[u8],
        item_count: u32,
        first_item: u64,
    ) -> Result<ChunkInfo, TraceError> {
        let body = compressor
            .compress(payload)
            .map_err(|e| compression_failed(self.kind.name(), e))?;
        self.append_chunk(&body, payload.len(), item_count, first_item)
    }

    /// Size at which the next data chunk is cut: small at first, doubling up
    /// to [`TARGET_CHUNK_BYTES`]. Replay cannot use a byte of a chunk before
    /// the whole chunk is decompressed, and it needs the first event's
    /// payload (the initial stack and data segments) before the program
    /// can start: a first chunk of 4 MiB held a python3 replay back 4 ms.
    pub(crate) fn data_chunk_target(&self) -> usize {
        (FIRST_DATA_CHUNK_BYTES << self.seq.min(8)).min(TARGET_CHUNK_BYTES)
    }

    /// Appends a chunk whose body (one zstd frame) is `body`.
    pub(crate) fn append_chunk(
        &mut self,
        body: &[u8],
        uncompressed_len: usize,
        item_count: u32,
        first_item: u64,
    ) -> Result<ChunkInfo, TraceError> {
        if body.len() > MAX_COMPRESSED as usize || uncompressed_len > MAX_UNCOMPRESSED as usize {
            return Err(TraceError::WriterFailed {
                detail: format!(
                    "a {} chunk of {} bytes compressed to {} bytes, beyond the format's limits",
                    self.kind.name(),
                    uncompressed_len,
                    body.len()
                ),
            });
        }
        let sha: [u8; 32] = Sha256::digest(body).into();
        let header = ChunkHeader {
            seq: self.seq,
            compressed_len: body.len() as u32,
            uncompressed_len: uncompressed_len as u32,
            item_count,
            first_item,
            sha256: sha,
        };
        self.file.write_all(&header.encode()).at(&self.path)?;
        self.file.write_all(body).at(&self.path)?;
        self.start_writeback(self.offset + (CHUNK_HEADER_LEN + body.len()) as u64);
        let info = ChunkInfo {
            stream: self.kind.name().to_string(),
            seq: u64::from(self.seq),
            offset: self.offset,
            compressed_len: body.len() as u64,
            uncompressed_len: uncompressed_len as u64,
            sha256: hex::encode(sha),
        };
        self.offset += (CHUNK_HEADER_LEN + body.len()) as u64;
        self.seq += 1;
        Ok(info)
    }
}

/// The data chunk being filled, compressed as its bytes arrive: cutting it
/// then only ends the zstd frame. Compressing a whole 4 MiB chunk at the
/// end of a recording held the recorder's exit for 5 ms (`ls -lR`), a
/// sixth of the native run.
#[derive(Default)]
pub(crate) struct DataChunk {
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    /// Uncompressed bytes in the chunk.
    pub(crate) len: usize,
}

impl DataChunk {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<(), TraceError> {
        let encoder = match &mut self.encoder {
            Some(encoder) => encoder,
            None => self.encoder.insert(
                zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)
                    .map_err(|e| compression_failed("data", e))?,
            ),
        };
        encoder
            .write_all(bytes)
            .map_err(|e| compression_failed("data", e))?;
        self.len += bytes.len();
        Ok(())
    }

    /// The chunk's compressed body and uncompressed length, if it holds
    /// anything; the next byte starts a new chunk.
    pub(crate) fn finish(&mut self) -> Result<Option<(Vec<u8>, usize)>, TraceError> {
        let len = std::mem::take(&mut self.len);
        match self.encoder.take() {
            Some(encoder) if len > 0 => {
                let body = encoder
                    .finish()
                    .map_err(|e| compression_failed("data", e))?;
                Ok(Some((body, len)))
            }
            _ => Ok(None),
        }
    }
}

pub(crate) fn compression_failed(stream: &str, e: io::Error) -> TraceError {
    TraceError::WriterFailed {
        detail: format!("zstd compression of a {stream} chunk failed: {e}"),
    }
}
