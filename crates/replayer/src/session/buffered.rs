//! Replaying the in-process syscall buffer: the recorded records go back
//! into the thread's buffer before it runs, the preload library returns
//! them without entering the kernel, and by the thread's next stop every
//! one must have been used.

use super::{Applied, ReplaySession};
use crate::divergence::syscall_name;
use crate::task::ReplayTask;
use crate::ReplayError;
use syscallbuf::{Header, CONTROL_SYSCALL, DIVERGED_INPUT, HEADER_LEN, OP_DIVERGED};
use trace::event::{Event, MemWrite, OutputStream, Regs};
use trace::RecordedEvent;
use trace::RecordedTid;
use tracee::regs;

impl ReplaySession {
    /// The answer replay gives the library's control syscall.
    pub(super) fn control_syscall(
        &mut self,
        event: &Event,
        args: &[u64; 6],
        recorded: i64,
    ) -> Result<i64, ReplayError> {
        match args[0] {
            op if syscallbuf::is_hello(op) && recorded == syscallbuf::MODE_RECORD => {
                if let Some(process) = self.processes.get_mut(&event.pid) {
                    process.library_words = (args[5] != 0).then_some(args[5]);
                }
                Ok(syscallbuf::MODE_REPLAY)
            }
            syscallbuf::OP_REGISTER if recorded == 0 => {
                self.task(event)?.buffer = Some(args[1]);
                Ok(0)
            }
            _ => Ok(recorded),
        }
    }

    pub(super) fn buffered(
        &mut self,
        recorded: &RecordedEvent,
        records: &MemWrite,
        outputs: &[(u32, OutputStream)],
    ) -> Result<Applied, ReplayError> {
        let event = &recorded.event;
        let task = self.task(event)?;
        let buffer = task.buffer;
        let expected = buffer.map(|b| b + HEADER_LEN as u64);
        if expected != Some(records.addr) {
            return Err(self.divergence(
                event,
                "buffered syscalls for a thread whose buffer is elsewhere",
                format!("a buffer at {:#x}", records.addr),
                buffer.map_or("no buffer".into(), |b| format!("{b:#x}")),
            ));
        }
        let bytes = recorded.payloads.first().map(Vec::as_slice).unwrap_or(&[]);
        let header = Header {
            used: bytes.len() as u32,
            ..Header::default()
        };
        let memory = &self.process(event.pid)?.memory;
        memory.write(records.addr, bytes)?;
        memory.write(records.addr - HEADER_LEN as u64, &header.to_bytes())?;
        for (i, record) in syscallbuf::records(bytes).enumerate() {
            let Ok(record) = record else {
                break;
            };
            if let Some((_, stream)) = outputs.iter().find(|(k, _)| *k as usize == i) {
                self.emit(*stream, record.input);
            }
        }
        self.task(event)?.buffer_filled = true;
        Ok(Applied::Done)
    }

    /// Called when a thread stopped at its next event after running user
    /// code: it must have used every record put into its buffer.
    pub(super) fn check_buffer_drained(&mut self, event: &Event) -> Result<(), ReplayError> {
        let Some(task) = self.tasks.get(&event.tid) else {
            return Ok(());
        };
        let real = task.real;
        if let Ok(r) = regs::get(real) {
            if r.orig_rax == CONTROL_SYSCALL && r.rdi == OP_DIVERGED && r.r9 == DIVERGED_INPUT {
                return Err(self.diverged_input(event, task, &r));
            }
            if r.orig_rax == CONTROL_SYSCALL && r.rdi == OP_DIVERGED {
                let (expected, found) = self.diverged_calls(event, task, &r);
                return Err(self.divergence(
                    event,
                    "the program made another buffered syscall than the recording",
                    expected,
                    found,
                ));
            }
        }
        let (Some(buffer), true) = (task.buffer, task.buffer_filled) else {
            return Ok(());
        };
        let memory = &self.process(event.pid)?.memory;
        let mut raw = [0u8; HEADER_LEN];
        raw.copy_from_slice(&memory.read(buffer, HEADER_LEN)?);
        let header = Header::from_bytes(&raw);
        if header.consumed != header.used {
            return Err(self.divergence(
                event,
                "the thread made fewer buffered syscalls than the recording",
                format!("{} bytes of records used", header.used),
                format!("{} bytes used", header.consumed),
            ));
        }
        memory.write(buffer, &Header::default().to_bytes())?;
        if let Some(task) = self.tasks.get_mut(&event.tid) {
            task.buffer_filled = false;
        }
        Ok(())
    }

    /// The recorded buffered call and the one the thread made, with their
    /// arguments, as the preload library reported them (`OP_DIVERGED`).
    fn diverged_calls(&self, event: &Event, task: &ReplayTask, r: &Regs) -> (String, String) {
        let show = |nr: u64, args: Option<[u64; 6]>| match args {
            Some(a) => format!(
                "buffered {}({})",
                syscall_name(nr),
                a.iter()
                    .map(|v| format!("{v:#x}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => format!("a buffered {}", syscall_name(nr)),
        };
        let memory = self.process(event.pid).ok().map(|p| &p.memory);
        let read_args = |addr: u64| -> Option<[u64; 6]> {
            let bytes = memory?.read(addr, 48).ok()?;
            let mut args = [0u64; 6];
            for (arg, word) in args.iter_mut().zip(bytes.chunks_exact(8)) {
                *arg = u64::from_le_bytes(word.try_into().ok()?);
            }
            Some(args)
        };
        // A record's six arguments follow its size, number and result.
        let recorded = task
            .buffer
            .and_then(|buffer| read_args(buffer + HEADER_LEN as u64 + r.r10 + 16));
        (show(r.rdx, recorded), show(r.rsi, read_args(r.r8)))
    }

    /// A buffered call made as recorded but with other bytes to read (the
    /// data a write sends, a path), as the preload library reported it.
    fn diverged_input(&self, event: &Event, task: &ReplayTask, r: &Regs) -> ReplayError {
        let name = syscall_name(r.rsi);
        let compared = || -> Option<(Vec<u8>, Vec<u8>)> {
            let memory = &self.process(event.pid).ok()?.memory;
            let at = task.buffer? + HEADER_LEN as u64 + r.r10;
            // A record starts with its size.
            let size = u32::from_le_bytes(memory.read(at, 4).ok()?.try_into().ok()?);
            let bytes = memory.read(at, size as usize).ok()?;
            let record = syscallbuf::records(&bytes).next()?.ok()?;
            let found = memory
                .read(record.head.input_addr, record.input.len())
                .ok()?;
            Some((record.input.to_vec(), found))
        };
        match compared() {
            Some((expected, found)) => {
                let (first, from, expected, found) =
                    crate::divergence::bytes_difference(&expected, &found);
                self.divergence(
                    event,
                    &format!(
                        "the program passed other bytes to a buffered {name} than the recording, from byte {first} on (shown from byte {from})"
                    ),
                    expected,
                    found,
                )
            }
            None => self.divergence(
                event,
                &format!("the program passed other bytes to a buffered {name} than the recording"),
                "the recorded bytes".into(),
                "other bytes".into(),
            ),
        }
    }

    /// Whether `tid` has used every buffered record put back for it. A
    /// preemption point's state can recur between two buffered syscalls
    /// (the recorder saw no anchor there): only the pass after the last
    /// record is the recorded one.
    pub(super) fn buffer_used_up(
        &self,
        tid: RecordedTid,
        pid: RecordedTid,
    ) -> Result<bool, ReplayError> {
        let Some(buffer) = self
            .tasks
            .get(&tid)
            .filter(|t| t.buffer_filled)
            .and_then(|t| t.buffer)
        else {
            return Ok(true);
        };
        let mut raw = [0u8; HEADER_LEN];
        raw.copy_from_slice(&self.process(pid)?.memory.read(buffer, HEADER_LEN)?);
        let header = Header::from_bytes(&raw);
        Ok(header.consumed == header.used)
    }

    /// The recorder patched a syscall site; the same bytes go in here, and
    /// the thread that just returned from that syscall moves onto the stub.
    pub(super) fn code_patch(
        &mut self,
        recorded: &RecordedEvent,
        writes: &[MemWrite],
        resume_from: u64,
        resume_to: u64,
    ) -> Result<Applied, ReplayError> {
        let event = &recorded.event;
        let real = self.task(event)?.real;
        let memory = &self.process(event.pid)?.memory;
        for (w, bytes) in writes.iter().zip(&recorded.payloads) {
            memory.write(w.addr, bytes)?;
        }
        let mut r = regs::get(real)?;
        if r.rip == resume_from {
            r.rip = resume_to;
            regs::set(real, &r)?;
        }
        Ok(Applied::Done)
    }
}
