//! Buffered access to the event stream, so replay can look ahead to a
//! syscall's exit while handling its entry (mmap needs the recorded address,
//! exec the recorded image, clone the recorded child).

use std::collections::VecDeque;
use trace::event::EventKind;
use trace::RecordedTid;
use trace::{EventIter, RecordedEvent, TraceError};

pub struct Lookahead {
    iter: EventIter,
    buffer: VecDeque<RecordedEvent>,
}

/// Look-ahead never reads further than this many events for one exit.
const MAX_LOOKAHEAD: usize = 1 << 20;

impl Lookahead {
    pub fn new(iter: EventIter) -> Lookahead {
        Lookahead {
            iter,
            buffer: VecDeque::new(),
        }
    }

    /// An independent copy at the same place in the stream.
    pub fn try_clone(&self) -> Result<Lookahead, TraceError> {
        Ok(Lookahead {
            iter: self.iter.try_clone()?,
            buffer: self.buffer.clone(),
        })
    }

    pub fn next(&mut self) -> Option<Result<RecordedEvent, TraceError>> {
        if let Some(e) = self.buffer.pop_front() {
            return Some(Ok(e));
        }
        self.iter.next()
    }

    /// The next event, without consuming it.
    pub fn peek_first(&mut self) -> Result<Option<&RecordedEvent>, TraceError> {
        if self.buffer.is_empty() {
            match self.iter.next() {
                Some(Ok(e)) => self.buffer.push_back(e),
                Some(Err(err)) => return Err(err),
                None => return Ok(None),
            }
        }
        Ok(self.buffer.front())
    }

    /// Position of the first buffered or upcoming event that `wanted`
    /// accepts, reading ahead at most [`MAX_LOOKAHEAD`] events.
    fn find(
        &mut self,
        wanted: impl Fn(&RecordedEvent) -> bool,
    ) -> Result<Option<usize>, TraceError> {
        let mut position = self.buffer.iter().position(&wanted);
        while position.is_none() && self.buffer.len() < MAX_LOOKAHEAD {
            match self.iter.next() {
                Some(Ok(e)) => {
                    let is_match = wanted(&e);
                    self.buffer.push_back(e);
                    if is_match {
                        position = Some(self.buffer.len() - 1);
                    }
                }
                Some(Err(err)) => return Err(err),
                None => break,
            }
        }
        Ok(position)
    }

    /// The next event of thread `tid` if it is a syscall exit.
    pub fn peek_exit(&mut self, tid: RecordedTid) -> Result<Option<&RecordedEvent>, TraceError> {
        Ok(self
            .peek_next(tid)?
            .filter(|e| matches!(e.event.kind, EventKind::SyscallExit { .. })))
    }

    /// The next event logged for `tid`.
    pub fn peek_next(&mut self, tid: RecordedTid) -> Result<Option<&RecordedEvent>, TraceError> {
        let position = self.find(|e| e.event.tid == tid)?;
        Ok(position.and_then(|p| self.buffer.get(p)))
    }

    /// The next exec's exit logged for `tid`, past its own exit event: an
    /// exec from another thread kills the leader (logged first), then
    /// returns in the leader's name. The leader may also finish a call of
    /// its own before it is killed (a syscall it was returning from), and
    /// that exit is not the exec's.
    pub fn peek_exec_exit_past_death(
        &mut self,
        tid: RecordedTid,
    ) -> Result<Option<&RecordedEvent>, TraceError> {
        let position = self.find(|e| {
            e.event.tid == tid
                && matches!(e.event.kind, EventKind::SyscallExit { nr, .. } if syscall_model::execs(nr))
        })?;
        Ok(position.and_then(|p| self.buffer.get(p)))
    }

    /// The event of thread `tid` that follows its next one.
    pub fn peek_second(&mut self, tid: RecordedTid) -> Result<Option<&RecordedEvent>, TraceError> {
        let mut seen = 0;
        let mut index = 0;
        loop {
            while index >= self.buffer.len() && self.buffer.len() < MAX_LOOKAHEAD {
                match self.iter.next() {
                    Some(Ok(e)) => self.buffer.push_back(e),
                    Some(Err(err)) => return Err(err),
                    None => return Ok(None),
                }
            }
            let Some(e) = self.buffer.get(index) else {
                return Ok(None);
            };
            if e.event.tid == tid {
                seen += 1;
                if seen == 2 {
                    return Ok(self.buffer.get(index));
                }
            }
            index += 1;
        }
    }

    pub fn truncation(&self) -> Option<String> {
        self.iter.truncation().map(|t| {
            format!(
                "the recording was interrupted: the {} stream ends inside chunk {} at byte {} ({})",
                t.stream, t.chunk, t.offset, t.reason
            )
        })
    }
}
