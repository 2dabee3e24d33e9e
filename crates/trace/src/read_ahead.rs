//! Reading a stream's chunks ahead of replay, on a thread of their own.
//!
//! Verifying a chunk's sha256 and decompressing it costs as much as the
//! tracee's own work on data-heavy programs (a 32 MiB read is 8 data
//! chunks). Done on the replaying thread, that time adds to every replay;
//! done here, it overlaps with the tracee running on the other CPU.

use std::sync::mpsc;

use crate::chunk::{Chunk, ChunkReader, StreamKind, Truncation};
use crate::error::TraceError;

/// Chunks decoded but not yet taken: enough to stay ahead, few enough
/// that a large trace costs a few chunks of memory (4 MiB each).
const AHEAD: usize = 2;

struct Fetched {
    /// The event index or data offset the reader required the chunk to
    /// start at.
    expected_first: u64,
    result: Result<Option<Chunk>, TraceError>,
    /// The reader's `position()` after this chunk.
    position: (u64, u64),
    /// Why the stream stopped early, sent with its end.
    truncation: Option<Truncation>,
}

/// A [`ChunkReader`] running on its own thread, with the same answers.
pub(crate) struct ReadAhead {
    kind: StreamKind,
    chunks: mpsc::Receiver<Fetched>,
    position: (u64, u64),
    truncation: Option<Truncation>,
    /// The stream's end (or an error) was taken; nothing more will come.
    ended: bool,
}

impl ReadAhead {
    /// Reads `reader`'s chunks on a thread; the first must start at event
    /// index or data offset `first`.
    pub(crate) fn start(mut reader: ChunkReader, kind: StreamKind, first: u64) -> ReadAhead {
        let position = reader.position();
        let (tx, chunks) = mpsc::sync_channel(AHEAD);
        let spawned = std::thread::Builder::new()
            .name("replay-read-ahead".into())
            .spawn(move || {
                let mut expected_first = first;
                loop {
                    let start = expected_first;
                    let result = reader.next_chunk(start);
                    let last = !matches!(result, Ok(Some(_)));
                    if let Ok(Some(chunk)) = &result {
                        // What the next chunk must start at: the events or
                        // bytes this one holds come first.
                        expected_first += match kind {
                            StreamKind::Events => u64::from(chunk.item_count),
                            StreamKind::Data => chunk.payload.len() as u64,
                        };
                    }
                    let fetched = Fetched {
                        expected_first: start,
                        result,
                        position: reader.position(),
                        truncation: if last { reader.take_truncation() } else { None },
                    };
                    // The consumer went away (replay stopped early).
                    if tx.send(fetched).is_err() || last {
                        return;
                    }
                }
            });
        let mut ahead = ReadAhead {
            kind,
            chunks,
            position,
            truncation: None,
            ended: false,
        };
        if let Err(e) = spawned {
            tracing::warn!("cannot start a read-ahead thread ({e}); reading stops here");
            ahead.ended = true;
        }
        ahead
    }

    /// A stream whose end was already reached at `position`.
    pub(crate) fn ended_at(kind: StreamKind, position: (u64, u64)) -> ReadAhead {
        let (_, chunks) = mpsc::sync_channel(1);
        ReadAhead {
            kind,
            chunks,
            position,
            truncation: None,
            ended: true,
        }
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.ended
    }

    /// (sequence number of the next chunk, byte offset where it starts).
    pub(crate) fn position(&self) -> (u64, u64) {
        self.position
    }

    pub(crate) fn take_truncation(&mut self) -> Option<Truncation> {
        self.truncation.take()
    }

    /// Records why reading stopped at a chunk boundary, unless a partial
    /// chunk already explains it.
    pub(crate) fn note_stop(&mut self, reason: String) {
        if self.truncation.is_none() {
            self.truncation = Some(Truncation {
                stream: self.kind.name().to_string(),
                chunk: self.position.0,
                offset: self.position.1,
                reason,
            });
        }
    }

    /// Next whole chunk, `Ok(None)` at the end of the readable stream, as
    /// [`ChunkReader::next_chunk`].
    pub(crate) fn next_chunk(&mut self, expected_first: u64) -> Result<Option<Chunk>, TraceError> {
        if self.ended {
            return Ok(None);
        }
        let Ok(fetched) = self.chunks.recv() else {
            self.ended = true;
            return Err(TraceError::Corrupt {
                stream: self.kind.name().to_string(),
                chunk: self.position.0,
                offset: self.position.1,
                what: "the read-ahead thread stopped".into(),
            });
        };
        self.position = fetched.position;
        if fetched.truncation.is_some() {
            self.truncation = fetched.truncation;
        }
        if !matches!(fetched.result, Ok(Some(_))) {
            self.ended = true;
        }
        if let Ok(Some(chunk)) = &fetched.result {
            if fetched.expected_first != expected_first {
                self.ended = true;
                return Err(TraceError::Corrupt {
                    stream: self.kind.name().to_string(),
                    chunk: chunk.seq,
                    offset: chunk.offset,
                    what: format!(
                        "chunk starts at {}, the reader expected {expected_first}",
                        fetched.expected_first
                    ),
                });
            }
        }
        fetched.result
    }
}
