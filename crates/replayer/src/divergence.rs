//! What replay reports when the re-execution stops matching the recording.

use std::collections::VecDeque;
use std::fmt;
use trace::event::{Event, EventKind};
use trace::RecordedTid;

/// A replay that no longer matches its recording.
#[derive(Debug, Clone)]
pub struct Divergence {
    pub event: u64,
    pub tid: RecordedTid,
    pub what: String,
    pub expected: String,
    pub found: String,
    /// Summaries of the events replayed just before, oldest first.
    pub recent: Vec<String>,
    /// Set when the divergence is a preemption point missed on memory
    /// words alone, which a new attempt may take (`point_retry`).
    pub retry: Option<crate::PointRetry>,
    /// The preemption events replayed before it, oldest first (the most
    /// recent few): where a new attempt may pass over a wrong match.
    pub matched_points: Vec<u64>,
    /// Events replayed before it, whose output was printed.
    pub replayed: u64,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replay diverged from the recording at event {} (thread {}): {}; expected {}, found {}",
            self.event, self.tid, self.what, self.expected, self.found
        )?;
        if !self.recent.is_empty() {
            write!(f, "\n  last events replayed:")?;
            for line in &self.recent {
                write!(f, "\n    {line}")?;
            }
        }
        write!(
            f,
            "\n  the trace may come from another machine or kernel, or the program depends on something replay does not capture; run with REPLAY_LOG=debug for details"
        )
    }
}

/// A short ring of recent events for divergence reports.
#[derive(Clone)]
pub struct RecentEvents {
    lines: VecDeque<String>,
}

impl RecentEvents {
    const KEEP: usize = 8;

    pub fn new() -> RecentEvents {
        RecentEvents {
            lines: VecDeque::with_capacity(Self::KEEP),
        }
    }

    pub fn push(&mut self, event: &Event) {
        if self.lines.len() == Self::KEEP {
            self.lines.pop_front();
        }
        self.lines.push_back(summarize(event));
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Where `found` first differs from `expected`, and a window of each from
/// a little before it: a difference past the start used to show as equal
/// text. Returns (first differing byte, window start, expected, found).
pub fn bytes_difference(expected: &[u8], found: &[u8]) -> (usize, usize, String, String) {
    let first = expected
        .iter()
        .zip(found)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(found.len()));
    let from = first.saturating_sub(16);
    let show = |b: &[u8]| {
        let window = b.get(from..b.len().min(from + 64)).unwrap_or_default();
        format!("{:?}", String::from_utf8_lossy(window))
    };
    (first, from, show(expected), show(found))
}

pub fn syscall_name(nr: u64) -> String {
    match nr {
        syscallbuf::RDTSC => "rdtsc".to_string(),
        syscallbuf::RDTSCP => "rdtscp".to_string(),
        _ => syscall_model::name(nr)
            .map(str::to_string)
            .unwrap_or_else(|| format!("syscall_{nr}")),
    }
}

pub fn summarize(event: &Event) -> String {
    let what = match &event.kind {
        EventKind::SyscallEntry { regs, .. } => format!("{} entry", syscall_name(regs.orig_rax)),
        EventKind::SyscallExit { nr, result, .. } => format!("{} = {result}", syscall_name(*nr)),
        EventKind::Signal { signo, origin, .. } => format!("signal {signo} ({origin:?})"),
        EventKind::Rdtsc { .. } => "rdtsc".to_string(),
        EventKind::Preempt { regs, reason, .. } => {
            format!("preempted at {:#x} ({reason:?})", regs.rip)
        }
        EventKind::TaskStart { parent, thread } => {
            format!(
                "{} started by {parent}",
                if *thread { "thread" } else { "process" }
            )
        }
        EventKind::TaskExit { status } => format!("exit (status {status:#x})"),
        EventKind::Buffered { records, .. } => {
            format!("{} bytes of buffered syscalls", records.len)
        }
        EventKind::RseqAbort { from, abort_ip, .. } => {
            format!("restartable sequence at {from:#x} aborted to {abort_ip:#x}")
        }
        EventKind::KernelWrite { writes } => {
            format!(
                "{} ranges written by the kernel in a blocked syscall",
                writes.len()
            )
        }
        EventKind::CodePatch {
            resume_from: 0,
            writes,
            ..
        } => format!("{} vDSO functions made syscalls", writes.len()),
        EventKind::CodePatch { resume_from, .. } => {
            format!("the site before {resume_from:#x} patched")
        }
        EventKind::StubPage { addr, len } => {
            format!("{len} bytes for stubs mapped at {addr:#x}")
        }
    };
    format!(
        "#{} [pid {} tid {}] {what}",
        event.index, event.pid, event.tid
    )
}
