//! The trace being written: events numbered in the order they are logged,
//! and the files stored beside them.

use std::time::Instant;
use trace::event::{Event, EventKind, RecordedTid};
use trace::{TraceError, TraceOutcome, TraceWriter};
use tracee::Pid;

pub(crate) struct EventLog {
    writer: TraceWriter,
    next_index: u64,
    start: Instant,
}

impl EventLog {
    pub(crate) fn new(writer: TraceWriter) -> EventLog {
        EventLog {
            writer,
            next_index: 0,
            start: Instant::now(),
        }
    }

    /// The index the next event gets, which is also how many were logged.
    pub(crate) fn next_index(&self) -> u64 {
        self.next_index
    }

    pub(crate) fn push(
        &mut self,
        tid: Pid,
        pid: Pid,
        kind: EventKind,
        payloads: Vec<Vec<u8>>,
    ) -> Result<(), TraceError> {
        let event = Event {
            index: self.next_index,
            tid: RecordedTid(tid),
            pid: RecordedTid(pid),
            time_ns: self.start.elapsed().as_nanos() as u64,
            kind,
        };
        self.next_index += 1;
        self.writer.push_event(event, payloads)
    }

    /// Where files the events refer to (executables, mapped files) are
    /// stored.
    pub(crate) fn files(&mut self) -> &mut TraceWriter {
        &mut self.writer
    }

    pub(crate) fn flush(&mut self) -> Result<(), TraceError> {
        self.writer.flush()
    }

    pub(crate) fn finish(
        mut self,
        machine: Option<trace::MachineInfo>,
        outcome: TraceOutcome,
    ) -> Result<(), TraceError> {
        if let Some(machine) = machine {
            self.writer.set_machine(machine);
        }
        // Measured here, the compression of what is still queued aside:
        // the peak is a high-water mark, and the queue is bounded.
        let peak_kib = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
            .map(|usage| usage.max_rss().max(0) as u64)
            .unwrap_or(0);
        self.writer.set_recorder_peak(peak_kib);
        self.writer.finish(outcome).map(drop)
    }
}
