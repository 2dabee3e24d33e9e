//! Entry/exit pairing: the recording as a stream of whole syscalls.
//!
//! Threads run one at a time during recording, so an entry is usually
//! followed by its own exit. When another task's event comes in between
//! (a blocking read in one thread while another runs), the call is split
//! the way strace splits it: an [`Item::Unfinished`] when the interleaving
//! is first seen, and the whole record, flagged `resumed`, at the exit.

use std::collections::HashMap;

use trace::{
    EventKind, ExecInfo, MemWrite, OutputStream, RecordedEvent, RecordedTid, Regs, SignalOrigin,
    SyscallExtra, TraceReader,
};

use crate::recorder_activity::RecorderActivity;
use crate::Result;

/// One syscall from entry to exit.
#[derive(Debug, Clone)]
pub struct SyscallRecord {
    /// Index of the entry event; the record's identity ("event N").
    pub index: u64,
    /// Index of the exit event, when the call returned.
    pub exit_index: Option<u64>,
    pub tid: RecordedTid,
    pub pid: RecordedTid,
    pub nr: u64,
    pub args: [u64; 6],
    pub regs: Regs,
    pub entry_ns: u64,
    pub exit_ns: Option<u64>,
    /// Raw return value; `None` when the call never returned (exit,
    /// exit_group, a successful exec seen from the old image, the end of an
    /// interrupted recording).
    pub result: Option<i64>,
    /// Memory the kernel read (paths, sent buffers...), with its bytes.
    pub inputs: Vec<(MemWrite, Vec<u8>)>,
    /// Memory the kernel wrote, with its bytes.
    pub writes: Vec<(MemWrite, Vec<u8>)>,
    pub extra: Option<SyscallExtra>,
}

/// Where and when an event happened.
#[derive(Clone, Copy)]
struct Stamp {
    index: u64,
    tid: RecordedTid,
    pid: RecordedTid,
    time_ns: u64,
}

impl SyscallRecord {
    /// A call as its entry (or, for a fork child's first stop, its exit)
    /// shows it: number and registers, nothing returned yet.
    fn entered(event: Stamp, nr: u64, regs: Regs) -> SyscallRecord {
        SyscallRecord {
            index: event.index,
            exit_index: None,
            tid: event.tid,
            pid: event.pid,
            nr,
            args: regs.syscall_args(),
            regs,
            entry_ns: event.time_ns,
            exit_ns: None,
            result: None,
            inputs: Vec::new(),
            writes: Vec::new(),
            extra: None,
        }
    }

    /// A call of thread 7 that returned `result`, for tests.
    #[cfg(test)]
    pub(crate) fn returned(index: u64, nr: i64, args: [u64; 6], result: i64) -> SyscallRecord {
        SyscallRecord {
            index,
            exit_index: Some(index + 1),
            tid: RecordedTid(7),
            pid: RecordedTid(7),
            nr: nr as u64,
            args,
            regs: Regs::default(),
            entry_ns: 0,
            exit_ns: Some(0),
            result: Some(result),
            inputs: Vec::new(),
            writes: Vec::new(),
            extra: None,
        }
    }

    /// The syscall, when its number is one the kernel defines.
    pub fn sysno(&self) -> Option<syscall_model::Sysno> {
        usize::try_from(self.nr)
            .ok()
            .and_then(syscall_model::Sysno::new)
    }

    pub fn name(&self) -> String {
        syscall_model::name(self.nr)
            .map(str::to_string)
            .unwrap_or_else(|| format!("syscall_{}", self.nr))
    }

    /// `Some(errno)` when the call failed.
    pub fn errno(&self) -> Option<i32> {
        match self.result {
            Some(r) if syscall_model::is_error_result(r) => Some((-r) as i32),
            _ => None,
        }
    }

    pub fn duration_ns(&self) -> Option<u64> {
        self.exit_ns.map(|e| e.saturating_sub(self.entry_ns))
    }

    /// Input bytes recorded at `addr` (or covering it), at most `len`.
    pub fn input_at(&self, addr: u64, len: usize) -> Option<&[u8]> {
        slice_at(&self.inputs, addr, len)
    }

    /// Bytes the kernel wrote at exactly `addr` (or covering it), at most
    /// `len` of them.
    pub fn written(&self, addr: u64, len: usize) -> Option<&[u8]> {
        slice_at(&self.writes, addr, len)
    }
}

fn slice_at(ranges: &[(MemWrite, Vec<u8>)], addr: u64, len: usize) -> Option<&[u8]> {
    ranges.iter().find_map(|(w, bytes)| {
        if addr >= w.addr && addr < w.addr.saturating_add(w.len) {
            let start = (addr - w.addr) as usize;
            let end = bytes.len().min(start.saturating_add(len));
            bytes.get(start..end)
        } else {
            None
        }
    })
}

/// One element of the paired stream, in recording order.
#[derive(Debug, Clone)]
pub enum Item {
    /// A syscall whose exit is not next: strace's `<unfinished ...>`.
    Unfinished(SyscallRecord),
    /// A finished syscall (or one that never finishes: `result` is `None`).
    /// `resumed` is true when an `Unfinished` for it was emitted before.
    Syscall {
        record: SyscallRecord,
        resumed: bool,
    },
    Signal {
        index: u64,
        tid: RecordedTid,
        pid: RecordedTid,
        time_ns: u64,
        signo: i32,
        origin: SignalOrigin,
        siginfo: Vec<u8>,
    },
    TaskStart {
        index: u64,
        tid: RecordedTid,
        pid: RecordedTid,
        time_ns: u64,
        parent: RecordedTid,
        thread: bool,
    },
    TaskExit {
        index: u64,
        tid: RecordedTid,
        pid: RecordedTid,
        time_ns: u64,
        status: i32,
    },
    Rdtsc {
        index: u64,
        tid: RecordedTid,
        pid: RecordedTid,
        time_ns: u64,
    },
    /// The recorder switched away from a thread in the middle of its user
    /// code (rr's time-slice "SCHED" events), or delivered a signal there.
    Preempt {
        index: u64,
        tid: RecordedTid,
        pid: RecordedTid,
        time_ns: u64,
        rip: u64,
        reason: trace::event::PreemptReason,
    },
}

impl Item {
    pub fn index(&self) -> u64 {
        match self {
            Item::Unfinished(r) | Item::Syscall { record: r, .. } => r.index,
            Item::Signal { index, .. }
            | Item::TaskStart { index, .. }
            | Item::TaskExit { index, .. }
            | Item::Rdtsc { index, .. }
            | Item::Preempt { index, .. } => *index,
        }
    }

    pub fn pid(&self) -> RecordedTid {
        match self {
            Item::Unfinished(r) | Item::Syscall { record: r, .. } => r.pid,
            Item::Signal { pid, .. }
            | Item::TaskStart { pid, .. }
            | Item::TaskExit { pid, .. }
            | Item::Rdtsc { pid, .. }
            | Item::Preempt { pid, .. } => *pid,
        }
    }
}

struct Pending {
    record: SyscallRecord,
    announced: bool,
}

/// The exec that started the recording has no entry (the recorder made
/// it): its arguments are read from the image it produced, where the new
/// program finds them. The path is the one the exec was asked for (the
/// kernel keeps it for `AT_EXECFN`), not the file it resolved to; argv and
/// envp point at the arrays on the initial stack.
fn take_exec_arguments_from_image(record: &mut SyscallRecord, info: &ExecInfo, stack: &[u8]) {
    const AT_EXECFN: u64 = 31;
    let base = info.stack.addr;
    let offset = |addr: u64| usize::try_from(addr.checked_sub(base)?).ok();
    let word = |addr: u64| {
        let at = offset(addr)?;
        Some(u64::from_le_bytes(
            stack.get(at..at.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let Some(argc) = word(base) else {
        return;
    };
    let argv = base.saturating_add(8);
    record.args[1] = argv;
    record.args[2] = argv.saturating_add(argc.saturating_add(1).saturating_mul(8));
    let execfn = info.auxv.iter().find(|(key, _)| *key == AT_EXECFN);
    let Some(path) = execfn.and_then(|&(_, addr)| Some((addr, stack.get(offset(addr)?..)?))) else {
        return;
    };
    let (addr, rest) = path;
    if let Some(nul) = rest.iter().position(|&b| b == 0) {
        record.args[0] = addr;
        let bytes = rest[..=nul].to_vec();
        let range = MemWrite {
            addr,
            len: bytes.len() as u64,
        };
        record.inputs.push((range, bytes));
    }
}

/// Streaming pairing state. Feed events in order with [`Pairing::push`],
/// then call [`Pairing::finish`] for calls that never returned.
#[derive(Default)]
pub struct Pairing {
    pending: HashMap<RecordedTid, Pending>,
}

impl Pairing {
    pub fn new() -> Pairing {
        Pairing::default()
    }

    /// Consumes one event and appends what it completes to `out`.
    pub fn push(&mut self, ev: RecordedEvent, out: &mut Vec<Item>) {
        let RecordedEvent { event, payloads } = ev;
        let stamp = Stamp {
            index: event.index,
            tid: event.tid,
            pid: event.pid,
            time_ns: event.time_ns,
        };
        // A payload list shorter than its ranges (never in a valid trace)
        // just leaves ranges out, never panics.
        let tid = event.tid;
        // Any event of another task splits the calls still open elsewhere.
        for (other, p) in self.pending.iter_mut() {
            if *other != tid && !p.announced {
                p.announced = true;
                out.push(Item::Unfinished(p.record.clone()));
            }
        }
        match event.kind {
            EventKind::SyscallEntry { regs, inputs } => {
                // A new entry while one is pending means the old call never
                // returned to this thread (exec from the old image).
                if let Some(p) = self.pending.remove(&tid) {
                    out.push(Item::Syscall {
                        record: p.record,
                        resumed: p.announced,
                    });
                }
                let mut record = SyscallRecord::entered(stamp, regs.orig_rax, regs);
                record.inputs = inputs.into_iter().zip(payloads).collect();
                self.pending.insert(
                    tid,
                    Pending {
                        record,
                        announced: false,
                    },
                );
            }
            EventKind::SyscallExit {
                nr,
                result,
                writes,
                extra,
            } => {
                let (mut record, announced, entered) = match self.pending.remove(&tid) {
                    Some(p) => (p.record, p.announced, true),
                    // An exit without entry: the first stop of a fork child
                    // returning from clone, or the exec that started the
                    // recording. Keep it, with unknown arguments.
                    None => (
                        SyscallRecord::entered(stamp, nr, Regs::default()),
                        false,
                        false,
                    ),
                };
                record.exit_index = Some(event.index);
                record.exit_ns = Some(event.time_ns);
                record.result = Some(result);
                // The pid can change at exec (a thread exec'ing takes the
                // group leader's id); the exit is authoritative.
                record.pid = event.pid;
                let written = writes.len();
                if let (false, Some(SyscallExtra::Exec(info))) = (entered, &extra) {
                    if let Some(stack) = payloads.get(written) {
                        take_exec_arguments_from_image(&mut record, info, stack);
                    }
                }
                record.writes = writes.into_iter().zip(payloads).collect();
                record.extra = extra;
                out.push(Item::Syscall {
                    record,
                    resumed: announced,
                });
            }
            EventKind::Signal {
                signo,
                origin,
                siginfo,
                ..
            } => out.push(Item::Signal {
                index: event.index,
                tid,
                pid: event.pid,
                time_ns: event.time_ns,
                signo,
                origin,
                siginfo,
            }),
            EventKind::Preempt { regs, reason, .. } => out.push(Item::Preempt {
                index: event.index,
                tid,
                pid: event.pid,
                time_ns: event.time_ns,
                rip: regs.rip,
                reason,
            }),
            EventKind::Rdtsc { .. } => out.push(Item::Rdtsc {
                index: event.index,
                tid,
                pid: event.pid,
                time_ns: event.time_ns,
            }),
            EventKind::TaskStart { parent, thread } => out.push(Item::TaskStart {
                index: event.index,
                tid,
                pid: event.pid,
                time_ns: event.time_ns,
                parent,
                thread,
            }),
            EventKind::Buffered { outputs, .. } => {
                let bytes = payloads.into_iter().next().unwrap_or_default();
                buffered_records(stamp, &bytes, &outputs, out);
            }
            // Code the recorder rewrote is no part of what the program did,
            // a blocked syscall's early write belongs to that syscall, and
            // an aborted restartable sequence is the kernel's preemption.
            EventKind::CodePatch { .. }
            | EventKind::StubPage { .. }
            | EventKind::KernelWrite { .. }
            | EventKind::RseqAbort { .. } => {}
            EventKind::TaskExit { status } => {
                // exit/exit_group never return: close them as "= ?".
                if let Some(p) = self.pending.remove(&tid) {
                    out.push(Item::Syscall {
                        record: p.record,
                        resumed: p.announced,
                    });
                }
                out.push(Item::TaskExit {
                    index: event.index,
                    tid,
                    pid: event.pid,
                    time_ns: event.time_ns,
                    status,
                })
            }
        }
    }

    /// Calls still open at the end of the recording, in entry order.
    pub fn finish(&mut self, out: &mut Vec<Item>) {
        let mut rest: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        rest.sort_by_key(|p| p.record.index);
        out.extend(rest.into_iter().map(|p| Item::Syscall {
            record: p.record,
            resumed: p.announced,
        }));
    }
}

/// Runs `f` on every paired item of the trace that the program caused, in
/// order; what the recorder caused (see [`RecorderActivity`]) is left out.
pub fn for_each_item(
    reader: &TraceReader,
    progress: Option<crate::Progress<'_>>,
    mut f: impl FnMut(Item) -> Result<()>,
) -> Result<()> {
    for_each_item_marked(
        reader,
        progress,
        |item, recorders| {
            if recorders {
                Ok(())
            } else {
                f(item)
            }
        },
    )
}

/// Runs `f` on every paired item of the trace, in order, with whether the
/// recorder caused it.
pub fn for_each_item_marked(
    reader: &TraceReader,
    progress: Option<crate::Progress<'_>>,
    mut f: impl FnMut(Item, bool) -> Result<()>,
) -> Result<()> {
    let mut pairing = Pairing::new();
    let mut recorder = RecorderActivity::new(&reader.manifest().header);
    let mut buf = Vec::new();
    let mut progress = progress;
    for ev in reader.events()? {
        let ev = ev?;
        let index = ev.event.index;
        pairing.push(ev, &mut buf);
        for item in buf.drain(..) {
            let recorders = recorder.is_recorders(&item);
            f(item, recorders)?;
        }
        if let Some(p) = progress.as_mut() {
            p(index);
        }
    }
    pairing.finish(&mut buf);
    for item in buf.drain(..) {
        let recorders = recorder.is_recorders(&item);
        f(item, recorders)?;
    }
    Ok(())
}

/// Like [`for_each_item`], but whole syscalls only (no `Unfinished`).
pub fn for_each_syscall(
    reader: &TraceReader,
    progress: Option<crate::Progress<'_>>,
    mut f: impl FnMut(&SyscallRecord) -> Result<()>,
) -> Result<()> {
    for_each_item(reader, progress, |item| match item {
        Item::Syscall { record, .. } => f(&record),
        _ => Ok(()),
    })
}

/// The calls the syscall buffer made, from one drained buffer, as complete
/// records: they ran in the kernel without stops, so each is entry and exit
/// at once.
fn buffered_records(
    event: Stamp,
    bytes: &[u8],
    outputs: &[(u32, OutputStream)],
    out: &mut Vec<Item>,
) {
    let tid = event.tid;
    for (i, record) in syscallbuf::records(bytes).enumerate() {
        // A damaged trace would have failed its checksum first;
        // what parses is shown.
        let Ok(record) = record else { break };
        let range = |addr: u64, bytes: &[u8]| {
            (!bytes.is_empty()).then(|| {
                (
                    MemWrite {
                        addr,
                        len: bytes.len() as u64,
                    },
                    bytes.to_vec(),
                )
            })
        };
        let head = record.head;
        if syscallbuf::is_tsc_read(head.nr.into()) {
            // A patched rdtsc the library read: no syscall.
            out.push(Item::Rdtsc {
                index: event.index,
                tid,
                pid: event.pid,
                time_ns: event.time_ns,
            });
            continue;
        }
        let [rdi, rsi, rdx, r10, r8, r9] = head.args;
        let regs = Regs {
            orig_rax: head.nr as u64,
            rax: head.result as u64,
            rdi,
            rsi,
            rdx,
            r10,
            r8,
            r9,
            ..Regs::default()
        };
        let stream = outputs.iter().find(|(k, _)| *k as usize == i);
        out.push(Item::Syscall {
            record: SyscallRecord {
                index: event.index,
                exit_index: Some(event.index),
                tid,
                pid: event.pid,
                nr: head.nr as u64,
                args: head.args,
                regs,
                entry_ns: event.time_ns,
                exit_ns: Some(event.time_ns),
                result: Some(head.result),
                inputs: range(head.input_addr, record.input).into_iter().collect(),
                writes: range(head.output_addr, record.output).into_iter().collect(),
                extra: stream.map(|(_, stream)| SyscallExtra::Output { stream: *stream }),
            },
            resumed: false,
        });
    }
}
