//! Writing a trace. The recorder's thread only validates and encodes events;
//! compression and file I/O run on a background thread so that a slow disk
//! delays the tracee as little as possible.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::chunk::{StreamKind, MAX_UNCOMPRESSED, TARGET_CHUNK_BYTES, TARGET_CHUNK_EVENTS};
use crate::error::{IoContext, TraceError};
use crate::event::{Event, EventKind, FileRef};
use crate::handoff;
use crate::manifest::{ChunkInfo, Manifest, TraceHeader, TraceOutcome, TraceSummary};
use crate::store::{set_mode, FileStore, FILES_DIR};
use crate::stream_out::{DataChunk, StreamOut, ZSTD_LEVEL};
use crate::{DATA_NAME, EVENTS_NAME, MAX_EVENT_PAYLOAD, MAX_MEM_WRITE};

/// Longest time an event may sit in memory before it reaches the file, so
/// that a recorder killed by SIGKILL loses at most this much.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

type FailureSlot = Arc<Mutex<Option<TraceError>>>;

enum Msg {
    Event {
        frame: Vec<u8>,
        payloads: Vec<Vec<u8>>,
        /// The payload is a syscall buffer's records, stored in columns
        /// (see `syscallbuf::records_to_columns`).
        buffered: bool,
    },
    Flush(mpsc::Sender<()>),
    Finish,
}

/// Writes one trace directory. Dropping it without [`TraceWriter::finish`]
/// still flushes what was pushed, but leaves the manifest incomplete.
pub struct TraceWriter {
    dir: PathBuf,
    manifest: Manifest,
    tx: Option<handoff::Sender<Msg>>,
    worker: Option<JoinHandle<Result<Vec<ChunkInfo>, ()>>>,
    failure: FailureSlot,
    /// Set once an error was reported, so later calls fail too instead of
    /// writing after a gap.
    failed: Option<String>,
    store: FileStore,
    next_index: u64,
    data_bytes: u64,
    processes: u64,
    threads: u64,
    last_time_ns: u64,
    recorder_peak_kib: u64,
}

impl TraceWriter {
    /// Creates `dir` (must not exist; parent must) with mode 0700 and an
    /// incomplete manifest. An existing empty directory is accepted too, so
    /// that [`crate::location::allocate_trace_dir`] can reserve the name.
    pub fn create(dir: &Path, header: TraceHeader) -> Result<TraceWriter, TraceError> {
        match fs::symlink_metadata(dir) {
            Ok(md) => {
                let exists = |what: &str| {
                    TraceError::io(dir, io::Error::new(io::ErrorKind::AlreadyExists, what))
                };
                if !md.is_dir() {
                    return Err(exists("exists and is not a directory"));
                }
                if fs::read_dir(dir).at(dir)?.next().is_some() {
                    return Err(exists("directory exists and is not empty"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new().mode(0o700).create(dir).at(dir)?;
            }
            Err(e) => return Err(TraceError::io(dir, e)),
        }
        set_mode(dir, 0o700)?;
        let files = dir.join(FILES_DIR);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&files)
            .at(&files)?;
        set_mode(&files, 0o700)?;

        let manifest = Manifest::new(header);
        manifest.store(dir)?;
        let events = StreamOut::create(&dir.join(EVENTS_NAME), StreamKind::Events)?;
        let data = StreamOut::create(&dir.join(DATA_NAME), StreamKind::Data)?;

        let failure: FailureSlot = Arc::new(Mutex::new(None));
        let (tx, rx) = handoff::handoff();
        let slot = Arc::clone(&failure);
        let worker = std::thread::Builder::new()
            .name("replay-trace-writer".into())
            .spawn(move || {
                let result = Worker::new(events, data).and_then(|mut w| {
                    w.run(rx)?;
                    Ok(w.chunks)
                });
                match result {
                    Ok(chunks) => Ok(chunks),
                    Err(e) => {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        Err(())
                    }
                }
            })
            .map_err(|e| TraceError::WriterFailed {
                detail: format!("cannot start the background writer thread: {e}"),
            })?;

        Ok(TraceWriter {
            dir: dir.to_path_buf(),
            manifest,
            tx: Some(tx),
            worker: Some(worker),
            failure,
            failed: None,
            store: FileStore::new(dir.join(FILES_DIR)),
            next_index: 0,
            data_bytes: 0,
            processes: 1,
            threads: 1,
            last_time_ns: 0,
            recorder_peak_kib: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Links unchanged files stored by earlier recordings instead of
    /// copying them (see [`FileStore::set_link_cache`]).
    pub fn set_link_cache(&mut self, dir: PathBuf) {
        self.store.set_link_cache(dir);
    }

    /// Number of events pushed so far, which is also the index the next
    /// event must carry.
    pub fn event_count(&self) -> u64 {
        self.next_index
    }

    /// Appends one event; `payloads` are the bytes for `event.data_ranges()`,
    /// in order, with the same lengths.
    pub fn push_event(&mut self, event: Event, payloads: Vec<Vec<u8>>) -> Result<(), TraceError> {
        self.check_failed()?;
        if event.index != self.next_index {
            return Err(TraceError::PayloadMismatch {
                detail: format!(
                    "event index {} is out of sequence, expected {}",
                    event.index, self.next_index
                ),
            });
        }
        let ranges = event.data_ranges();
        if ranges.len() != payloads.len() {
            return Err(TraceError::PayloadMismatch {
                detail: format!(
                    "event {} has {} data ranges but {} payloads were given",
                    event.index,
                    ranges.len(),
                    payloads.len()
                ),
            });
        }
        let mut total = 0u64;
        for (i, (r, p)) in ranges.iter().zip(&payloads).enumerate() {
            if r.len != p.len() as u64 {
                return Err(TraceError::PayloadMismatch {
                    detail: format!(
                        "event {} range {i} at {:#x} is {} bytes but its payload is {} bytes",
                        event.index,
                        r.addr,
                        r.len,
                        p.len()
                    ),
                });
            }
            // Readers refuse larger ranges, so never write one.
            if r.len > MAX_MEM_WRITE {
                return Err(TraceError::PayloadMismatch {
                    detail: format!(
                        "event {} range {i} is {} bytes, more than the limit {MAX_MEM_WRITE}",
                        event.index, r.len
                    ),
                });
            }
            total += r.len;
        }
        if total > MAX_EVENT_PAYLOAD {
            return Err(TraceError::PayloadMismatch {
                detail: format!(
                    "event {} carries {total} payload bytes, more than the limit \
                     {MAX_EVENT_PAYLOAD}",
                    event.index
                ),
            });
        }

        // Length prefix first, patched after encoding, to encode in place.
        let frame =
            postcard::to_extend(&event, vec![0u8; 4]).map_err(|e| TraceError::WriterFailed {
                detail: format!("cannot encode event {}: {e}", event.index),
            })?;
        let body_len = frame.len() - 4;
        if frame.len() > MAX_UNCOMPRESSED as usize {
            return Err(TraceError::EventTooLarge {
                index: event.index,
                len: body_len as u64,
                limit: u64::from(MAX_UNCOMPRESSED) - 4,
            });
        }
        let mut frame = frame;
        frame[..4].copy_from_slice(&(body_len as u32).to_le_bytes());

        let weight = frame.len() + payloads.iter().map(Vec::len).sum::<usize>();
        let buffered = matches!(event.kind, EventKind::Buffered { .. });
        self.send(
            Msg::Event {
                frame,
                payloads,
                buffered,
            },
            weight,
        )?;
        self.next_index += 1;
        self.data_bytes += total;
        self.last_time_ns = event.time_ns;
        if let EventKind::TaskStart { thread, .. } = event.kind {
            self.threads += 1;
            if !thread {
                self.processes += 1;
            }
        }
        Ok(())
    }

    /// Copies a file into `files/`, content-addressed; unchanged files
    /// (same dev, inode, size, mtime) are not reread within this writer.
    pub fn store_file(&mut self, path: &Path, executable: bool) -> Result<FileRef, TraceError> {
        self.store.store_file(path, executable)
    }

    /// [`TraceWriter::store_file`] for a file whose metadata the caller has
    /// already, which spares the open when this trace stored it before.
    pub fn store_file_with_metadata(
        &mut self,
        path: &Path,
        md: &fs::Metadata,
        executable: bool,
    ) -> Result<FileRef, TraceError> {
        self.store.store_file_with_metadata(path, md, executable)
    }

    /// How many leading bytes of `bytes`, in whole pages, are exactly what
    /// the stored blob of `file` holds from `offset` on: what mapping that
    /// blob there gives back in replay. Any failure to read it counts as a
    /// difference.
    pub fn stored_file_prefix(&self, file: &FileRef, offset: u64, bytes: &[u8]) -> usize {
        use std::os::unix::fs::FileExt;
        const PAGE: usize = 4096;
        if !crate::store::is_valid_sha(&file.sha256) {
            return 0;
        }
        let Ok(blob) = File::open(self.dir.join(FILES_DIR).join(&file.sha256)) else {
            return 0;
        };
        let mut stored = vec![0u8; bytes.len()];
        let mut got = 0;
        while got < stored.len() {
            match blob.read_at(&mut stored[got..], offset + got as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        if got == bytes.len() && bytes == stored.as_slice() {
            return bytes.len();
        }
        bytes[..got]
            .chunks_exact(PAGE)
            .zip(stored[..got].chunks_exact(PAGE))
            .take_while(|(recorded, file)| recorded == file)
            .count()
            * PAGE
    }

    /// Like [`TraceWriter::store_file`] for bytes already in memory.
    pub fn store_bytes(
        &mut self,
        display_path: &str,
        bytes: &[u8],
        executable: bool,
    ) -> Result<FileRef, TraceError> {
        self.store.store_bytes(display_path, bytes, executable)
    }

    /// Writes every pending chunk to the stream files before returning (no
    /// fsync: this protects against the recorder dying, not the machine).
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.check_failed()?;
        let (ack_tx, ack_rx) = mpsc::channel();
        self.send(Msg::Flush(ack_tx), 0)?;
        if ack_rx.recv().is_err() {
            return Err(self.worker_gone());
        }
        self.check_failed()
    }

    /// The recording machine, known only after the trace was created (see
    /// [`crate::MachineInfo::in_background`]); stored by [`TraceWriter::finish`].
    pub fn set_machine(&mut self, machine: crate::MachineInfo) {
        self.manifest.header.machine = machine;
    }

    /// Writes everything out and rewrites the manifest as complete (no
    /// fsync, decision 0010).
    /// The recorder's own peak memory (KiB), which only it can measure,
    /// kept among the totals when the trace finishes.
    pub fn set_recorder_peak(&mut self, kib: u64) {
        self.recorder_peak_kib = kib;
    }

    pub fn finish(mut self, outcome: TraceOutcome) -> Result<TraceSummary, TraceError> {
        self.check_failed()?;
        if let Some(tx) = self.tx.take() {
            // A failed send means the worker already stopped; join says why.
            let _ = tx.send(Msg::Finish, 0, true);
        }
        let started = Instant::now();
        let chunks = self.join_worker()?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "trace streams written"
        );
        let summary = TraceSummary {
            events: self.next_index,
            data_bytes: self.data_bytes,
            processes: self.processes,
            threads: self.threads,
            duration_ns: self.last_time_ns,
            chunks,
            recorder_peak_kib: self.recorder_peak_kib,
        };
        let mut manifest = self.manifest.clone();
        manifest.complete = true;
        manifest.outcome = Some(outcome);
        manifest.totals = Some(summary.clone());
        manifest.store(&self.dir)?;
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "manifest stored as complete"
        );
        Ok(summary)
    }

    /// Events wait for a batch; anything else wakes the writer at once.
    fn send(&mut self, msg: Msg, weight: usize) -> Result<(), TraceError> {
        let urgent = !matches!(msg, Msg::Event { .. });
        let sent = match &self.tx {
            Some(tx) => tx.send(msg, weight, urgent).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.worker_gone())
        }
    }

    fn take_failure(&self) -> Option<TraceError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn check_failed(&mut self) -> Result<(), TraceError> {
        if let Some(detail) = &self.failed {
            return Err(TraceError::WriterFailed {
                detail: detail.clone(),
            });
        }
        match self.take_failure() {
            Some(e) => {
                self.failed = Some(e.to_string());
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// The error to report once the worker has stopped accepting messages.
    fn worker_gone(&mut self) -> TraceError {
        if let Some(h) = self.worker.take() {
            let _ = h.join();
        }
        match self.check_failed() {
            Err(e) => e,
            Ok(()) => {
                let detail = "the background writer thread stopped".to_string();
                self.failed = Some(detail.clone());
                TraceError::WriterFailed { detail }
            }
        }
    }

    fn join_worker(&mut self) -> Result<Vec<ChunkInfo>, TraceError> {
        let Some(h) = self.worker.take() else {
            return Err(self.worker_gone());
        };
        match h.join() {
            Ok(Ok(chunks)) => Ok(chunks),
            Ok(Err(())) => Err(self.worker_gone()),
            Err(_) => {
                let detail = "the background writer thread panicked".to_string();
                self.failed = Some(detail.clone());
                Err(TraceError::WriterFailed { detail })
            }
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        // Dropping the sender makes the worker write what it holds; the
        // manifest stays incomplete, which is what marks a cut-off trace.
        self.tx = None;
        if let Some(h) = self.worker.take() {
            match h.join() {
                Ok(Ok(_)) => {}
                Ok(Err(())) => {
                    if let Some(e) = self.take_failure() {
                        tracing::warn!("trace writer for {} failed: {e}", self.dir.display());
                    }
                }
                Err(_) => tracing::warn!("trace writer thread for {} panicked", self.dir.display()),
            }
        }
    }
}

/// A syscall buffer's records as the trace stores them: heads, inputs and
/// outputs each together, which compresses a quarter smaller than the
/// buffer's own layout (trace format 2). Done here, on the writer's thread,
/// not on the recorder's.
fn records_in_columns(records: Vec<u8>) -> Result<Vec<u8>, TraceError> {
    let mut columns = vec![0u8; records.len()];
    syscallbuf::records_to_columns(&records, &mut columns).map_err(|bad| {
        TraceError::WriterFailed {
            detail: format!(
                "a syscall buffer's records are malformed at byte {}",
                bad.offset
            ),
        }
    })?;
    Ok(columns)
}

struct Worker {
    events: StreamOut,
    data: StreamOut,
    compressor: zstd::bulk::Compressor<'static>,
    pending_events: Vec<u8>,
    pending_count: u32,
    /// Index of the first event in `pending_events`.
    pending_first: u64,
    pending_data: DataChunk,
    /// Logical offset of the pending data chunk's first byte in the data
    /// stream.
    data_offset: u64,
    pending_since: Option<Instant>,
    chunks: Vec<ChunkInfo>,
}

impl Worker {
    fn new(events: StreamOut, data: StreamOut) -> Result<Worker, TraceError> {
        let compressor =
            zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(|e| TraceError::WriterFailed {
                detail: format!("cannot create a zstd compressor: {e}"),
            })?;
        Ok(Worker {
            events,
            data,
            compressor,
            pending_events: Vec::new(),
            pending_count: 0,
            pending_first: 0,
            pending_data: DataChunk::default(),
            data_offset: 0,
            pending_since: None,
            chunks: Vec::new(),
        })
    }

    fn run(&mut self, mut rx: handoff::Receiver<Msg>) -> Result<(), TraceError> {
        loop {
            let deadline = self.pending_since.map(|since| since + FLUSH_INTERVAL);
            match rx.recv_until(deadline) {
                Ok(msg) => {
                    if self.handle(msg)? {
                        return Ok(());
                    }
                }
                Err(handoff::RecvError::Timeout) => {
                    // What was queued while waiting is as old as what is
                    // pending: it goes out with it.
                    while let Some(msg) = rx.try_recv() {
                        if self.handle(msg)? {
                            return Ok(());
                        }
                    }
                    self.flush_all()?;
                }
                Err(handoff::RecvError::Disconnected) => return self.flush_all(),
            }
        }
    }

    /// Returns whether the trace is finished.
    fn handle(&mut self, msg: Msg) -> Result<bool, TraceError> {
        match msg {
            Msg::Event {
                frame,
                mut payloads,
                buffered,
            } => {
                if buffered {
                    payloads = payloads
                        .into_iter()
                        .map(records_in_columns)
                        .collect::<Result<_, _>>()?;
                }
                self.add_event(frame, payloads)?
            }
            Msg::Flush(ack) => {
                self.flush_all()?;
                let _ = ack.send(());
            }
            Msg::Finish => {
                // No fsync of the streams: it protects only against the
                // machine crashing, and waited 25-40 ms here for a 32 MiB
                // trace, a fifth of the recording (decision 0010). Their
                // writeback started chunk by chunk.
                self.flush_all()?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn add_event(&mut self, frame: Vec<u8>, payloads: Vec<Vec<u8>>) -> Result<(), TraceError> {
        self.pending_since.get_or_insert_with(Instant::now);
        for p in &payloads {
            let mut rest = p.as_slice();
            while !rest.is_empty() {
                let target = self.data.data_chunk_target();
                let room = target.saturating_sub(self.pending_data.len);
                let (now, later) = rest.split_at(room.min(rest.len()));
                self.pending_data.push(now)?;
                rest = later;
                if self.pending_data.len >= target {
                    self.cut_data()?;
                }
            }
        }
        if self.pending_count > 0
            && self.pending_events.len() + frame.len() > MAX_UNCOMPRESSED as usize
        {
            self.cut_events()?;
        }
        self.pending_events.extend_from_slice(&frame);
        self.pending_count += 1;
        if self.pending_count >= TARGET_CHUNK_EVENTS
            || self.pending_events.len() >= TARGET_CHUNK_BYTES
        {
            self.cut_events()?;
        }
        Ok(())
    }

    fn cut_data(&mut self) -> Result<(), TraceError> {
        let Some((body, len)) = self.pending_data.finish()? else {
            return Ok(());
        };
        let info = self.data.append_chunk(&body, len, 0, self.data_offset)?;
        self.chunks.push(info);
        self.data_offset += len as u64;
        Ok(())
    }

    /// Writes pending data first, so that every events chunk on disk has
    /// all its payload bytes on disk before it.
    fn cut_events(&mut self) -> Result<(), TraceError> {
        self.cut_data()?;
        if self.pending_count == 0 {
            return Ok(());
        }
        let count = self.pending_count;
        let info = self.events.write_chunk(
            &mut self.compressor,
            &self.pending_events,
            count,
            self.pending_first,
        )?;
        self.chunks.push(info);
        self.pending_events.clear();
        self.pending_first += u64::from(count);
        self.pending_count = 0;
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), TraceError> {
        self.cut_events()?;
        self.cut_data()?;
        self.pending_since = None;
        Ok(())
    }
}
