//! Reading a trace: manifest validation, streaming event iteration with
//! payloads, file store lookups, and a whole-trace scan for `replay info`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::chunk::{Chunk, ChunkReader, StreamKind, Truncation};
use crate::error::TraceError;
use crate::event::{Event, EventKind, FileRef};
use crate::manifest::Manifest;
use crate::read_ahead::ReadAhead;
use crate::store::{hash_file, is_valid_sha, FILES_DIR};
use crate::verify::VERIFIED_FILES;
use crate::{DATA_NAME, EVENTS_NAME, MAX_EVENT_PAYLOAD, MAX_MEM_WRITE};

/// An open trace directory.
#[derive(Debug)]
pub struct TraceReader {
    dir: PathBuf,
    manifest: Manifest,
    /// Blobs whose sha256 `verified_file` has checked, or is checking.
    checks: std::sync::Arc<crate::verify::BlobChecks>,
}

/// One event with its payload bytes, one `Vec` per `event.data_ranges()`
/// entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub event: Event,
    pub payloads: Vec<Vec<u8>>,
}

/// Result of reading a whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub events: u64,
    /// Counted like [`crate::TraceSummary::processes`].
    pub processes: u64,
    /// Counted like [`crate::TraceSummary::threads`].
    pub threads: u64,
    pub data_bytes: u64,
    pub last_time_ns: u64,
    /// Threads preempted in user code for another thread (time slice).
    pub preemptions: u64,
    /// Asynchronous signals delivered at a preemption point in user code.
    pub signal_preemptions: u64,
    /// Where an incomplete trace stopped early (see
    /// [`EventIter::truncation`]); `None` for a complete one.
    pub truncation: Option<Truncation>,
}

impl TraceReader {
    /// Opens and validates the manifest and both stream headers.
    pub fn open(dir: &Path) -> Result<TraceReader, TraceError> {
        match fs::metadata(dir) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(TraceError::NotATrace {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(TraceError::io(dir, e)),
        }
        let manifest = Manifest::load(dir)?;
        let reader = TraceReader {
            dir: dir.to_path_buf(),
            manifest,
            checks: std::sync::Arc::new(crate::verify::BlobChecks::remembered_in(
                dir.join(VERIFIED_FILES),
            )),
        };
        // Header checks happen in open() so a bad trace fails early; only
        // the headers: a read-ahead started here would decompress chunks
        // nobody takes, on the CPU the real one needs (5 ms of a python
        // replay waited on that).
        for kind in [StreamKind::Events, StreamKind::Data] {
            ChunkReader::open(&reader.stream_path(kind), kind, reader.manifest.complete)?;
        }
        Ok(reader)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_complete(&self) -> bool {
        self.manifest.complete
    }

    fn stream_path(&self, kind: StreamKind) -> PathBuf {
        self.dir.join(match kind {
            StreamKind::Events => EVENTS_NAME,
            StreamKind::Data => DATA_NAME,
        })
    }

    fn stream(&self, kind: StreamKind) -> Result<ReadAhead, TraceError> {
        let reader = ChunkReader::open(&self.stream_path(kind), kind, self.manifest.complete)?;
        Ok(ReadAhead::start(reader, kind, 0))
    }

    /// Streaming iterator over events in order, each with its payloads.
    pub fn events(&self) -> Result<EventIter, TraceError> {
        self.iter(false)
    }

    fn iter(&self, skip_payloads: bool) -> Result<EventIter, TraceError> {
        Ok(EventIter {
            dir: self.dir.clone(),
            events: self.stream(StreamKind::Events)?,
            data: self.stream(StreamKind::Data)?,
            complete: self.manifest.complete,
            expected_totals: self
                .manifest
                .totals
                .as_ref()
                .filter(|_| self.manifest.complete)
                .map(|t| (t.events, t.data_bytes)),
            skip_payloads,
            buffered_in_columns: self.manifest.format_version >= 2,
            chunk: None,
            pos: 0,
            in_chunk: 0,
            next_index: 0,
            data_chunk: Vec::new(),
            data_pos: 0,
            data_chunk_at: (0, 0),
            data_offset: 0,
            truncation: None,
            done: false,
        })
    }

    /// Path of a blob in `files/`, checking that it exists.
    pub fn file_path(&self, file: &FileRef) -> Result<PathBuf, TraceError> {
        if !is_valid_sha(&file.sha256) {
            return Err(TraceError::InvalidFileRef {
                sha: file.sha256.clone(),
                path: file.path.clone(),
            });
        }
        let p = self.dir.join(FILES_DIR).join(&file.sha256);
        match fs::metadata(&p) {
            Ok(md) if md.is_file() => Ok(p),
            Ok(_) => Err(TraceError::FileMissing {
                sha: file.sha256.clone(),
                path: file.path.clone(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TraceError::FileMissing {
                sha: file.sha256.clone(),
                path: file.path.clone(),
            }),
            Err(e) => Err(TraceError::io(p, e)),
        }
    }

    /// Like `verify_file`, but hashes each blob only the first time: replay
    /// maps the same libraries again and again, and must still never run a
    /// blob that was altered after recording.
    pub fn verified_file(&self, file: &FileRef) -> Result<PathBuf, TraceError> {
        let path = self.file_path(file)?;
        match self.checks.check(&file.sha256, &path)? {
            Some(size) if size == file.size => Ok(path),
            _ => Err(TraceError::FileCorrupt {
                sha: file.sha256.clone(),
                path: file.path.clone(),
            }),
        }
    }

    /// Starts checking every stored blob on a background thread, so that
    /// `verified_file` seldom has to hash one while the caller waits.
    pub fn verify_files_in_background(&self) {
        self.checks
            .check_all_in_background(self.dir.join(FILES_DIR));
    }

    /// Re-hashes the blob and compares it with the reference.
    pub fn verify_file(&self, file: &FileRef) -> Result<PathBuf, TraceError> {
        let p = self.file_path(file)?;
        let (sha, size) = hash_file(&p)?;
        if sha != file.sha256 || size != file.size {
            return Err(TraceError::FileCorrupt {
                sha: file.sha256.clone(),
                path: file.path.clone(),
            });
        }
        Ok(p)
    }

    /// Reads the whole trace, validating every chunk, and counts what is in
    /// it. Payloads are checked for presence but not collected.
    pub fn scan(&self) -> Result<ScanReport, TraceError> {
        let mut it = self.iter(true)?;
        let mut r = ScanReport {
            events: 0,
            processes: 1,
            threads: 1,
            data_bytes: 0,
            last_time_ns: 0,
            preemptions: 0,
            signal_preemptions: 0,
            truncation: None,
        };
        for item in &mut it {
            let ev = item?.event;
            r.events += 1;
            r.last_time_ns = ev.time_ns;
            r.data_bytes += ev.data_ranges().iter().map(|m| m.len).sum::<u64>();
            match ev.kind {
                EventKind::TaskStart { thread, .. } => {
                    r.threads += 1;
                    if !thread {
                        r.processes += 1;
                    }
                }
                EventKind::Preempt { reason, .. } => match reason {
                    crate::event::PreemptReason::Timeslice => r.preemptions += 1,
                    crate::event::PreemptReason::Signal => r.signal_preemptions += 1,
                },
                _ => {}
            }
        }
        r.truncation = it.truncation().cloned();
        Ok(r)
    }
}

/// Streaming iterator over a trace's events. Holds at most one chunk of
/// each stream plus the current event's payloads.
pub struct EventIter {
    /// The trace directory, to open the streams again for a copy.
    dir: PathBuf,
    events: ReadAhead,
    data: ReadAhead,
    complete: bool,
    /// (events, data bytes) from a complete manifest, to catch a stream
    /// that lost whole chunks at its end.
    expected_totals: Option<(u64, u64)>,
    skip_payloads: bool,
    /// Syscall buffer records are stored in columns (format 2 on).
    buffered_in_columns: bool,
    chunk: Option<Chunk>,
    /// Read position within `chunk.payload`.
    pos: usize,
    /// Frames decoded from the current chunk.
    in_chunk: u32,
    next_index: u64,
    data_chunk: Vec<u8>,
    data_pos: usize,
    /// (seq, file offset) of `data_chunk`, for error messages.
    data_chunk_at: (u64, u64),
    /// Logical data offset just past `data_chunk`.
    data_offset: u64,
    truncation: Option<Truncation>,
    done: bool,
}

/// Outcome of pulling payload bytes from the data stream.
enum Fill {
    Done,
    /// The data stream of an incomplete trace ended first.
    Truncated,
}

impl EventIter {
    /// After the iterator returned `None`: where an incomplete trace stopped
    /// early, i.e. a stream ends inside a chunk or an event's payload is
    /// missing. `None` when every chunk written is whole and was read (for
    /// an incomplete trace too: check `TraceReader::is_complete`).
    pub fn truncation(&self) -> Option<&Truncation> {
        self.truncation.as_ref()
    }

    fn events_corrupt(&self, what: String) -> TraceError {
        let (chunk, offset) = match &self.chunk {
            Some(c) => (c.seq, c.offset),
            None => self.events.position(),
        };
        TraceError::Corrupt {
            stream: StreamKind::Events.name().into(),
            chunk,
            offset,
            what,
        }
    }

    /// Ensures a chunk with unread frames is loaded; `false` at the end.
    fn load_chunk(&mut self) -> Result<bool, TraceError> {
        if let Some(c) = &self.chunk {
            if self.pos < c.payload.len() {
                return Ok(true);
            }
            if self.in_chunk != c.item_count {
                return Err(self.events_corrupt(format!(
                    "chunk declares {} events but holds {}",
                    c.item_count, self.in_chunk
                )));
            }
        }
        self.chunk = None;
        loop {
            match self.events.next_chunk(self.next_index)? {
                Some(c) if c.payload.is_empty() && c.item_count == 0 => continue,
                Some(c) => {
                    self.chunk = Some(c);
                    self.pos = 0;
                    self.in_chunk = 0;
                    return Ok(true);
                }
                None => return Ok(false),
            }
        }
    }

    fn decode_next(&mut self) -> Result<Event, TraceError> {
        let Some(c) = &self.chunk else {
            return Err(self.events_corrupt("no chunk loaded".into()));
        };
        let at = self.pos;
        let rest = c.payload.get(at..).unwrap_or_default();
        let Some((len_bytes, rest)) = rest.split_first_chunk::<4>() else {
            return Err(self.events_corrupt(format!(
                "frame length at payload byte {at} runs past the chunk end"
            )));
        };
        let len = u32::from_le_bytes(*len_bytes) as usize;
        let Some(frame) = rest.get(..len) else {
            return Err(self.events_corrupt(format!(
                "frame at payload byte {at} claims {len} bytes, past the chunk end"
            )));
        };
        let event = match postcard::take_from_bytes::<Event>(frame) {
            Ok((ev, [])) => ev,
            Ok((_, extra)) => {
                return Err(self.events_corrupt(format!(
                    "frame at payload byte {at} has {} bytes after the event",
                    extra.len()
                )))
            }
            Err(e) => {
                return Err(self.events_corrupt(format!(
                    "frame at payload byte {at} does not decode as an event: {e}"
                )))
            }
        };
        if self.in_chunk >= c.item_count {
            return Err(self.events_corrupt(format!(
                "chunk holds more frames than the {} it declares",
                c.item_count
            )));
        }
        if event.index != self.next_index {
            return Err(self.events_corrupt(format!(
                "event index {} at payload byte {at}, expected {}",
                event.index, self.next_index
            )));
        }
        self.pos = at + 4 + len;
        self.in_chunk += 1;
        Ok(event)
    }

    /// Copies `len` bytes of the data stream into `out` (or skips them).
    fn fill(&mut self, len: u64, mut out: Option<&mut Vec<u8>>) -> Result<Fill, TraceError> {
        let mut left = len;
        while left > 0 {
            let avail = self.data_chunk.get(self.data_pos..).unwrap_or_default();
            if avail.is_empty() {
                match self.data.next_chunk(self.data_offset)? {
                    Some(c) => {
                        self.data_chunk_at = (c.seq, c.offset);
                        self.data_offset += c.payload.len() as u64;
                        self.data_chunk = c.payload;
                        self.data_pos = 0;
                        continue;
                    }
                    None if self.complete => {
                        let (chunk, offset) = self.data.position();
                        return Err(TraceError::Corrupt {
                            stream: StreamKind::Data.name().into(),
                            chunk,
                            offset,
                            what: format!(
                                "the stream ends {left} bytes short of the payload of event {}",
                                self.next_index
                            ),
                        });
                    }
                    None => return Ok(Fill::Truncated),
                }
            }
            let take = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let (Some(out), Some(bytes)) = (out.as_deref_mut(), avail.get(..take)) {
                out.extend_from_slice(bytes);
            }
            self.data_pos += take;
            left -= take as u64;
        }
        Ok(Fill::Done)
    }

    /// Checks what a complete trace must satisfy once all events are read.
    fn check_clean_end(&mut self) -> Result<(), TraceError> {
        if !self.complete {
            // Set only when the file ends inside a chunk: ending on a chunk
            // boundary loses nothing that was written.
            self.truncation = self.events.take_truncation();
            return Ok(());
        }
        let leftover = self.data_chunk.len().saturating_sub(self.data_pos);
        let consumed = self.data_offset - leftover as u64;
        if let Some((events, data_bytes)) = self.expected_totals {
            if events != self.next_index || data_bytes != consumed {
                let (chunk, offset) = self.events.position();
                return Err(TraceError::Corrupt {
                    stream: StreamKind::Events.name().into(),
                    chunk,
                    offset,
                    what: format!(
                        "the manifest records {events} events and {data_bytes} data bytes, the \
                         streams hold {} and {consumed} (whole chunks are missing at the end)",
                        self.next_index
                    ),
                });
            }
        }
        let (chunk, offset) = if leftover > 0 {
            self.data_chunk_at
        } else {
            self.data.position()
        };
        if leftover > 0 || self.data.next_chunk(self.data_offset)?.is_some() {
            return Err(TraceError::Corrupt {
                stream: StreamKind::Data.name().into(),
                chunk,
                offset,
                what: format!("trailing data after data byte {consumed} that no event refers to"),
            });
        }
        Ok(())
    }

    fn next_event(&mut self) -> Result<Option<RecordedEvent>, TraceError> {
        if !self.load_chunk()? {
            self.check_clean_end()?;
            return Ok(None);
        }
        let event = self.decode_next()?;
        let ranges = event.data_ranges();
        let mut total = 0u64;
        for r in &ranges {
            total = total.saturating_add(r.len);
            if r.len > MAX_MEM_WRITE || total > MAX_EVENT_PAYLOAD {
                return Err(self.events_corrupt(format!(
                    "event {} claims a payload of {} bytes at {:#x} (limits: {MAX_MEM_WRITE} \
                     per range, {MAX_EVENT_PAYLOAD} per event)",
                    event.index, r.len, r.addr
                )));
            }
        }
        let mut payloads = Vec::with_capacity(if self.skip_payloads { 0 } else { ranges.len() });
        for r in &ranges {
            let mut buf = Vec::new();
            let out = if self.skip_payloads {
                None
            } else {
                Some(&mut buf)
            };
            if let Fill::Truncated = self.fill(r.len, out)? {
                // Stop before an event whose bytes never reached the disk.
                self.data.note_stop(format!(
                    "the payload of event {} was never written; reading stops before it",
                    event.index
                ));
                self.truncation = self.data.take_truncation();
                return Ok(None);
            }
            if !self.skip_payloads {
                payloads.push(buf);
            }
        }
        if self.buffered_in_columns && matches!(event.kind, EventKind::Buffered { .. }) {
            for payload in &mut payloads {
                let mut records = vec![0u8; payload.len()];
                syscallbuf::records_from_columns(payload, &mut records).map_err(|bad| {
                    self.events_corrupt(format!(
                        "the syscall buffer records of event {} are damaged at byte {}",
                        event.index, bad.offset
                    ))
                })?;
                *payload = records;
            }
        }
        self.next_index += 1;
        Ok(Some(RecordedEvent { event, payloads }))
    }
}

impl EventIter {
    /// A second iterator at the same place, reading the same files on its
    /// own: a snapshot of a replay takes one, and continues from it later
    /// without reading the events before it again.
    pub fn try_clone(&self) -> Result<EventIter, TraceError> {
        let events_first = match &self.chunk {
            Some(c) => self.next_index + u64::from(c.item_count.saturating_sub(self.in_chunk)),
            None => self.next_index,
        };
        let reopen = |kind: StreamKind, ahead: &ReadAhead, first: u64| {
            if ahead.has_ended() {
                return Ok(ReadAhead::ended_at(kind, ahead.position()));
            }
            let name = match kind {
                StreamKind::Events => EVENTS_NAME,
                StreamKind::Data => DATA_NAME,
            };
            let mut reader = ChunkReader::open(&self.dir.join(name), kind, self.complete)?;
            reader.seek_to(ahead.position())?;
            Ok::<_, TraceError>(ReadAhead::start(reader, kind, first))
        };
        Ok(EventIter {
            dir: self.dir.clone(),
            events: reopen(StreamKind::Events, &self.events, events_first)?,
            data: reopen(StreamKind::Data, &self.data, self.data_offset)?,
            complete: self.complete,
            expected_totals: self.expected_totals,
            skip_payloads: self.skip_payloads,
            buffered_in_columns: self.buffered_in_columns,
            chunk: self.chunk.clone(),
            pos: self.pos,
            in_chunk: self.in_chunk,
            next_index: self.next_index,
            data_chunk: self.data_chunk.clone(),
            data_pos: self.data_pos,
            data_chunk_at: self.data_chunk_at,
            data_offset: self.data_offset,
            truncation: self.truncation.clone(),
            done: self.done,
        })
    }
}

impl Iterator for EventIter {
    type Item = Result<RecordedEvent, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_event() {
            Ok(Some(ev)) => Some(Ok(ev)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
