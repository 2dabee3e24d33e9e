//! A replay advanced in lockstep with the analysis view of the same trace.
//!
//! `ReplaySession::step` hands back the bare event; the decoded view
//! (payload bytes, entry/exit pairing, descriptor table, process names) comes
//! from a second, independent read of the trace through crates/analyze. Both
//! advance one event at a time and are checked to stay on the same index, so
//! what a stop prints is exactly what `replay dump` prints for that event,
//! while `regs`/`mem` read the real replayed process at that same point.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use trace::RecordedTid;

use analyze::context::{Context, Touched};
use analyze::decode::{exit_line, signal_line, Decoder};
use analyze::recorder_activity::RecorderActivity;
use analyze::{Filter, Item, NoInputs, Pairing, SyscallRecord};
use replayer::{ReplaySession, StepOutcome};
use trace::{EventIter, EventKind, RecordedEvent, SyscallExtra, TraceReader};

use crate::InteractiveError;

static NO_INPUTS: NoInputs = NoInputs;

/// Longest string shown in a one-line stop (strace's `-s`).
const LINE_STRSIZE: usize = 64;

/// A user breakpoint: a filter SPEC from the shared grammar.
pub struct Breakpoint {
    pub id: u32,
    pub spec: String,
    pub filter: Filter,
    pub hits: u64,
}

/// Where the replay is stopped, with everything `inspect` shows.
#[derive(Clone)]
pub struct Stop {
    /// The event just replayed (for a syscall: its exit event).
    pub event: u64,
    pub tid: RecordedTid,
    pub pid: RecordedTid,
    /// The strace-style line.
    pub line: String,
    /// For syscalls: the paired record and what it touched.
    pub record: Option<SyscallRecord>,
    /// Decoded arguments with descriptor paths (`3</etc/passwd>`).
    pub args_y: Vec<String>,
    /// Path of each descriptor argument, by argument position.
    pub fd_paths: Vec<(usize, String)>,
    /// Path behind a returned descriptor.
    pub ret_path: Option<String>,
    pub touched: Vec<String>,
}

/// What ends a forward run.
pub enum Until<'a> {
    /// The Nth next syscall/signal/exit of any thread.
    Stops(u64),
    /// The first stop any of these breakpoints matches.
    Breakpoints(&'a mut [Breakpoint]),
    /// Event N has been replayed.
    Event(u64),
}

pub enum RunEnd {
    /// Stopped; with the breakpoint id when one matched.
    Stopped(Box<Stop>, Option<u32>),
    /// The recording has no more events.
    Ended,
}

pub struct Cursor {
    dir: PathBuf,
    session: Option<ReplaySession>,
    events: EventIter,
    pairing: Pairing,
    /// Tells the recorder's own calls (its library's loading and control
    /// calls), which are no stops: they are not the program's.
    recorder: RecorderActivity,
    ctx: Context<'static>,
    ended: bool,
    /// Event indices of every stop passed since the start, in order; `back`
    /// counts in these.
    stops: Vec<u64>,
    /// Index of the last event replayed.
    current: Option<u64>,
    pub stop: Option<Stop>,
    /// sha256 of each captured file -> the path the program used.
    pub files: HashMap<String, String>,
    pub total_events: Option<u64>,
}

fn is_stop_item(item: &Item) -> bool {
    matches!(
        item,
        Item::Syscall { .. } | Item::Signal { .. } | Item::TaskExit { .. } | Item::Preempt { .. }
    )
}

fn fresh_analysis(dir: &Path) -> Result<(EventIter, Context<'static>), InteractiveError> {
    let reader = TraceReader::open(dir)?;
    let ctx = Context::new(&NO_INPUTS, &reader.manifest().header.command);
    Ok((reader.events()?, ctx))
}

/// How often one run goes back for missed preemption points.
const MAX_POINT_RETRIES: u32 = 4;

impl Cursor {
    pub fn open(dir: &Path) -> Result<Cursor, InteractiveError> {
        let session = ReplaySession::start(dir, true)?;
        let total_events = session
            .reader()
            .manifest()
            .totals
            .as_ref()
            .map(|t| t.events);
        let (events, ctx) = fresh_analysis(dir)?;
        let recorder = RecorderActivity::new(&session.reader().manifest().header);
        Ok(Cursor {
            dir: dir.to_path_buf(),
            session: Some(session),
            events,
            pairing: Pairing::new(),
            recorder,
            ctx,
            ended: false,
            stops: Vec::new(),
            current: None,
            stop: None,
            files: HashMap::new(),
            total_events,
        })
    }

    /// The trace being replayed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn session(&self) -> Option<&ReplaySession> {
        self.session.as_ref()
    }

    pub fn current(&self) -> Option<u64> {
        self.current
    }

    pub fn comm(&self, pid: RecordedTid) -> Option<&str> {
        self.ctx.comm(pid)
    }

    /// Starts over from the beginning with a fresh replay. Replay is
    /// deterministic, so stepping it to event N again reproduces exactly
    /// the state the first pass had at N.
    pub fn restart(&mut self) -> Result<(), InteractiveError> {
        if let Some(old) = self.session.take() {
            old.finish();
        }
        let session = ReplaySession::start(&self.dir, true)?;
        self.recorder = RecorderActivity::new(&session.reader().manifest().header);
        self.session = Some(session);
        let (events, ctx) = fresh_analysis(&self.dir)?;
        self.events = events;
        self.ctx = ctx;
        self.pairing = Pairing::new();
        self.ended = false;
        self.stops.clear();
        self.current = None;
        self.stop = None;
        Ok(())
    }

    /// The event index of the stop `n` stops before the current position.
    pub fn stop_before(&self, n: u64) -> Option<u64> {
        let cur = self.current?;
        // Stops strictly before the current event, plus the current one if
        // it is a stop: going back 1 from a stop lands on the previous stop.
        let before = self.stops.iter().take_while(|&&s| s < cur).count();
        let n = usize::try_from(n).ok()?;
        before
            .checked_sub(n)
            .and_then(|i| self.stops.get(i))
            .copied()
    }

    /// Moves so that event `target` is the last one replayed, restarting
    /// first when it is behind us.
    pub fn goto(&mut self, target: u64) -> Result<RunEnd, InteractiveError> {
        if self.current.is_some_and(|c| c >= target) {
            self.restart()?;
        }
        self.run(Until::Event(target))
    }

    pub fn run(&mut self, mut until: Until<'_>) -> Result<RunEnd, InteractiveError> {
        if self.session.is_none() {
            // The session went to gdb: come back to the same point.
            let back_to = self.current;
            self.restart()?;
            if let Some(c) = back_to {
                self.run(Until::Event(c))?;
            }
        }
        let started = Instant::now();
        let mut bar: Option<indicatif::ProgressBar> = None;
        let mut steps: u64 = 0;
        let mut retries = 0;
        let result = loop {
            if self.ended {
                break Ok(RunEnd::Ended);
            }
            steps += 1;
            if steps.is_multiple_of(4096) && bar.is_none() {
                bar = self.progress_bar(started);
            }
            if let Some(b) = &bar {
                if steps.is_multiple_of(1024) {
                    b.set_position(self.current.unwrap_or(0));
                }
            }
            match self.step_one(&mut until) {
                Ok(Some(end)) => break Ok(end),
                Ok(None) => {}
                // A preemption point missed only on memory words: replay
                // to here again, and the new session takes the point (see
                // `replayer::PointRetry`).
                Err(InteractiveError::Replay(replayer::ReplayError::Divergence(d)))
                    if d.retry.is_some() && retries < MAX_POINT_RETRIES =>
                {
                    retries += 1;
                    let back_to = self.current;
                    let went_back = self.restart().and_then(|()| match back_to {
                        Some(c) => self.run(Until::Event(c)).map(|_| ()),
                        None => Ok(()),
                    });
                    if let Err(e) = went_back {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        result
    }

    /// A progress bar on stderr, only when it is a terminal and the jump has
    /// already taken long enough to be worth one.
    fn progress_bar(&self, started: Instant) -> Option<indicatif::ProgressBar> {
        if started.elapsed() < Duration::from_millis(300) || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            self.total_events,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "replaying {bar:30} event {pos}/{len} ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    }

    /// Replays one event; `Some` when the run ends here.
    fn step_one(&mut self, until: &mut Until<'_>) -> Result<Option<RunEnd>, InteractiveError> {
        let session = self.session.as_mut().expect("run() made sure");
        let event = match session.step()? {
            StepOutcome::End => {
                self.ended = true;
                return Ok(Some(RunEnd::Ended));
            }
            StepOutcome::Event(e) => e,
        };
        let recorded = match self.events.next() {
            Some(r) => r?,
            None => {
                return Err(InteractiveError::OutOfStep(format!(
                    "the trace reader ended before event {}",
                    event.index
                )))
            }
        };
        if recorded.event.index != event.index {
            return Err(InteractiveError::OutOfStep(format!(
                "replay is at event {}, the trace reader at {}",
                event.index, recorded.event.index
            )));
        }
        self.current = Some(event.index);
        self.note_files(&recorded);
        let at_target = matches!(until, Until::Event(t) if *t == event.index);
        let entry_stop = if at_target {
            self.entry_stop(&recorded)
        } else {
            None
        };
        let mut items = Vec::new();
        self.pairing.push(recorded, &mut items);
        let mut found: Option<(Stop, Option<u32>)> = None;
        for item in &items {
            let touched = match item {
                Item::Syscall { record, .. } | Item::Unfinished(record) => self.ctx.touched(record),
                _ => Touched::default(),
            };
            let recorders = self.recorder.is_recorders(item);
            if is_stop_item(item) && !recorders {
                if self.stops.last() != Some(&event.index) {
                    self.stops.push(event.index);
                }
                let hit = match until {
                    Until::Stops(n) => {
                        *n = n.saturating_sub(1);
                        (*n == 0).then_some(None)
                    }
                    Until::Breakpoints(bps) => {
                        let view = self.ctx.view(item, &touched);
                        let mut hit = None;
                        for bp in bps.iter_mut() {
                            if bp.filter.matches(&view) {
                                bp.hits += 1;
                                hit.get_or_insert(Some(bp.id));
                            }
                        }
                        hit
                    }
                    Until::Event(t) => (*t == event.index).then_some(None),
                };
                if let (Some(bp), None) = (hit, &found) {
                    found = Some((self.render(item, &touched, event.index), bp));
                }
            }
            self.ctx.after(item);
        }
        if let Some((mut stop, bp)) = found {
            self.finish_stop(&mut stop);
            self.stop = Some(stop.clone());
            return Ok(Some(RunEnd::Stopped(Box::new(stop), bp)));
        }
        if at_target {
            let stop = entry_stop.unwrap_or_else(|| Stop {
                event: event.index,
                tid: event.tid,
                pid: event.pid,
                line: describe_other(&event.kind, event.index),
                record: None,
                args_y: Vec::new(),
                fd_paths: Vec::new(),
                ret_path: None,
                touched: Vec::new(),
            });
            self.stop = Some(stop.clone());
            return Ok(Some(RunEnd::Stopped(Box::new(stop), None)));
        }
        Ok(None)
    }

    /// Remembers the original path of every captured file, so backtraces
    /// name `/usr/lib/libc.so.6` rather than `files/<sha256>`.
    fn note_files(&mut self, recorded: &RecordedEvent) {
        if let EventKind::SyscallExit {
            extra: Some(extra), ..
        } = &recorded.event.kind
        {
            match extra {
                SyscallExtra::MmapFile { file } | SyscallExtra::MmapShared { file, .. } => {
                    self.files.insert(file.sha256.clone(), file.path.clone());
                }
                SyscallExtra::Exec(info) => {
                    self.files
                        .insert(info.exe.sha256.clone(), info.exe.path.clone());
                    for f in info.mappings.iter().filter_map(|m| m.file.as_ref()) {
                        self.files.insert(f.sha256.clone(), f.path.clone());
                    }
                }
                _ => {}
            }
        }
    }

    fn decoder(&self, with_fds: bool, strsize: usize) -> Decoder<'_> {
        Decoder {
            inputs: &NO_INPUTS,
            strsize,
            fds: with_fds.then_some(&self.ctx.fds),
        }
    }

    /// Renders a stop before its effects are applied to the descriptor
    /// table (a `close` still knows its path).
    fn render(&self, item: &Item, touched: &Touched, event: u64) -> Stop {
        let mut stop = Stop {
            event,
            tid: RecordedTid::default(),
            pid: RecordedTid::default(),
            line: String::new(),
            record: None,
            args_y: Vec::new(),
            fd_paths: Vec::new(),
            ret_path: None,
            touched: touched.paths.clone(),
        };
        match item {
            Item::Syscall { record, .. } | Item::Unfinished(record) => {
                let dec = self.decoder(false, LINE_STRSIZE);
                stop.tid = record.tid;
                stop.pid = record.pid;
                stop.line = format!("{} = {}", dec.call(record), dec.ret(record));
                stop.args_y = self.decoder(true, 4096).args(record);
                for (i, kind) in syscall_model::decode::arg_kinds(record.nr)
                    .iter()
                    .enumerate()
                {
                    if matches!(kind, syscall_model::decode::ArgKind::Fd) {
                        if let Some(p) = self.ctx.fds.path(record.pid, record.args[i] as i32) {
                            stop.fd_paths.push((i, p.to_string()));
                        }
                    }
                }
                stop.record = Some(record.clone());
            }
            Item::Signal {
                tid,
                pid,
                signo,
                siginfo,
                ..
            } => {
                (stop.tid, stop.pid) = (*tid, *pid);
                stop.line = signal_line(*signo, siginfo);
            }
            Item::TaskExit {
                tid, pid, status, ..
            } => {
                (stop.tid, stop.pid) = (*tid, *pid);
                stop.line = exit_line(*status);
            }
            Item::TaskStart { tid, pid, .. } | Item::Rdtsc { tid, pid, .. } => {
                (stop.tid, stop.pid) = (*tid, *pid);
                stop.line = format!("event {event}");
            }
            Item::Preempt {
                tid,
                pid,
                rip,
                reason,
                ..
            } => {
                (stop.tid, stop.pid) = (*tid, *pid);
                stop.line = format!("preempted at {rip:#x} ({reason:?})");
            }
        }
        stop
    }

    /// Facts known only after the call's effects: the returned descriptor's path.
    fn finish_stop(&self, stop: &mut Stop) {
        if let Some(rec) = &stop.record {
            if let Some(r) = rec.result.filter(|r| *r >= 0) {
                if analyze::decode::returns_fd(rec.nr) {
                    stop.ret_path = self.ctx.fds.path(rec.pid, r as i32).map(str::to_string);
                }
            }
        }
    }

    /// `goto` onto a syscall entry: the call as it starts, result unknown.
    fn entry_stop(&self, recorded: &RecordedEvent) -> Option<Stop> {
        let EventKind::SyscallEntry { regs, inputs } = &recorded.event.kind else {
            return None;
        };
        let e = &recorded.event;
        let record = SyscallRecord {
            index: e.index,
            exit_index: None,
            tid: e.tid,
            pid: e.pid,
            nr: regs.orig_rax,
            args: regs.syscall_args(),
            regs: *regs,
            entry_ns: e.time_ns,
            exit_ns: None,
            result: None,
            inputs: inputs
                .iter()
                .copied()
                .zip(recorded.payloads.iter().cloned())
                .collect(),
            writes: Vec::new(),
            extra: None,
        };
        let dec = self.decoder(false, LINE_STRSIZE);
        Some(Stop {
            event: e.index,
            tid: e.tid,
            pid: e.pid,
            line: format!(
                "{} <entered; the result is known at its exit event>",
                dec.call(&record)
            ),
            args_y: self.decoder(true, 4096).args(&record),
            fd_paths: Vec::new(),
            ret_path: None,
            touched: self.ctx.touched(&record).paths,
            record: Some(record),
        })
    }
}

fn describe_other(kind: &EventKind, index: u64) -> String {
    match kind {
        EventKind::Rdtsc { regs } => {
            format!("rdtsc (emulated; execution continues at {:#x})", regs.rip)
        }
        EventKind::TaskStart { parent, thread } => format!(
            "{} started (parent {parent})",
            if *thread { "thread" } else { "process" }
        ),
        _ => format!("event {index}"),
    }
}

impl Cursor {
    /// Ends the replay, killing what is left of the replayed processes.
    pub fn shutdown(mut self) {
        if let Some(s) = self.session.take() {
            s.finish();
        }
    }
}
