//! `replay dump`: the recording as strace output (or JSON lines).

use std::collections::HashSet;
use std::io::Write;

use serde_json::json;
use syscall_model::Classes;
use trace::{RecordedTid, TraceReader};

use crate::context::{Context, Touched};
use crate::decode::{exit_line, signal_line, with_result, Decoder};
use crate::errno::errno_label;
use crate::filter::Filter;
use crate::inputs::InputSource;
use crate::pairing::{for_each_item_marked, Item, SyscallRecord};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Failed,
    Successful,
}

pub struct DumpOptions {
    /// `-e trace=`: syscall numbers and classes; empty means all.
    pub trace_nrs: Vec<u64>,
    pub trace_classes: Classes,
    pub status: StatusFilter,
    /// `-T`
    pub durations: bool,
    /// `-tt`
    pub wall_clock: bool,
    /// `-y`
    pub fd_paths: bool,
    /// `-s`
    pub strsize: usize,
    pub pid: Option<RecordedTid>,
    pub filter: Option<Filter>,
    pub json: bool,
    /// ANSI colour: syscall names bold, failed results red.
    pub color: bool,
    /// Also the calls the recorder caused (loading its preload library,
    /// its control calls), each marked `/* recorder */`.
    pub show_recorder: bool,
}

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

impl Default for DumpOptions {
    fn default() -> DumpOptions {
        DumpOptions {
            trace_nrs: Vec::new(),
            trace_classes: Classes::empty(),
            status: StatusFilter::All,
            durations: false,
            wall_clock: false,
            fd_paths: false,
            strsize: 32,
            pid: None,
            filter: None,
            json: false,
            color: false,
            show_recorder: false,
        }
    }
}

fn wall(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let us = (ns % 1_000_000_000) / 1000;
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{us:06}",
        day / 3600,
        (day / 60) % 60,
        day % 60
    )
}

struct Dumper<'o, 'w> {
    opts: &'o DumpOptions,
    out: &'w mut dyn Write,
    start_unix_ns: u64,
    tasks: HashSet<RecordedTid>,
    /// Unfinished lines printed, so their resumption is printed too.
    announced: HashSet<u64>,
    /// The item being written is the recorder's.
    recorders: bool,
}

impl Dumper<'_, '_> {
    fn selected_call(&self, rec: &SyscallRecord, view_ok: bool, finished: bool) -> bool {
        if self.opts.pid.is_some_and(|p| p != rec.pid && p != rec.tid) {
            return false;
        }
        let o = self.opts;
        let by_trace = (o.trace_nrs.is_empty() && o.trace_classes == Classes::empty())
            || o.trace_nrs.contains(&rec.nr)
            || syscall_model::classes(rec.nr) & o.trace_classes != Classes::empty();
        let by_status = !finished
            || match o.status {
                StatusFilter::All => true,
                StatusFilter::Failed => rec.errno().is_some(),
                StatusFilter::Successful => rec.result.is_some() && rec.errno().is_none(),
            };
        by_trace && by_status && view_ok
    }

    fn prefix(&self, tid: RecordedTid, ns: u64) -> String {
        let mut p = String::new();
        if self.tasks.len() > 1 {
            p.push_str(&format!("[pid {tid:>5}] "));
        }
        if self.opts.wall_clock {
            p.push_str(&wall(self.start_unix_ns + ns));
            p.push(' ');
        }
        p
    }

    /// `call` with the first occurrence of `name` in bold, when colouring.
    fn bold_name(&self, call: &str, name: &str) -> String {
        match call.find(name) {
            Some(i) if self.opts.color => format!(
                "{}{BOLD}{name}{RESET}{}",
                &call[..i],
                &call[i + name.len()..]
            ),
            _ => call.to_string(),
        }
    }

    fn line(&mut self, prefix: &str, body: &str) -> Result<()> {
        let mark = if self.recorders {
            " /* recorder */"
        } else {
            ""
        };
        writeln!(self.out, "{prefix}{body}{mark}")?;
        Ok(())
    }

    fn json_record(&mut self, rec: &SyscallRecord, dec: &Decoder<'_>) -> Result<()> {
        let v = json!({
            "event": rec.index,
            "exit_event": rec.exit_index,
            "pid": rec.pid,
            "tid": rec.tid,
            "syscall": rec.name(),
            "nr": rec.nr,
            "args": dec.args(rec),
            "raw_args": rec.args,
            "ret": rec.result,
            "errno": rec.errno().map(errno_label),
            "time_ns": rec.entry_ns,
            "wall_ns": self.start_unix_ns + rec.entry_ns,
            "duration_ns": rec.duration_ns(),
            "text": format!("{} = {}", dec.call(rec), dec.ret(rec)),
        });
        writeln!(self.out, "{v}")?;
        Ok(())
    }

    fn item(&mut self, item: &Item, ctx: &Context<'_>, touched: &Touched) -> Result<()> {
        let view_ok = self
            .opts
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(&ctx.view(item, touched)));
        let dec = Decoder {
            inputs: ctx.inputs,
            strsize: self.opts.strsize,
            fds: self.opts.fd_paths.then_some(&ctx.fds),
        };
        match item {
            Item::Unfinished(rec) => {
                // Decided at entry only when nothing needs the result.
                let needs_result = self.opts.status != StatusFilter::All
                    || self.opts.filter.as_ref().is_some_and(Filter::needs_result);
                if self.opts.json || needs_result || !self.selected_call(rec, view_ok, false) {
                    return Ok(());
                }
                self.announced.insert(rec.index);
                let p = self.prefix(rec.tid, rec.entry_ns);
                let (call, _) = dec.split_call(rec);
                let body = format!("{} <unfinished ...>", self.bold_name(&call, &rec.name()));
                self.line(&p, &body)?;
            }
            Item::Syscall { record: rec, .. } => {
                let was_announced = self.announced.remove(&rec.index);
                if !was_announced && !self.selected_call(rec, view_ok, true) {
                    return Ok(());
                }
                if self.opts.json {
                    return self.json_record(rec, &dec);
                }
                let ns = rec.exit_ns.unwrap_or(rec.entry_ns);
                let p = self.prefix(rec.tid, if was_announced { ns } else { rec.entry_ns });
                let call = if was_announced {
                    let (_, resumed) = dec.split_call(rec);
                    format!("<... {} resumed>{resumed}", rec.name())
                } else {
                    dec.call(rec)
                };
                let ret = dec.ret(rec);
                let mut body = with_result(p.chars().count(), &call, &ret);
                if self.opts.color {
                    // Padding was computed on the plain text, so escapes
                    // do not shift the result column.
                    let tail = body[call.len()..body.len() - ret.len()].to_string();
                    let ret = if rec.errno().is_some() {
                        format!("{RED}{ret}{RESET}")
                    } else {
                        ret
                    };
                    body = format!("{}{tail}{ret}", self.bold_name(&call, &rec.name()));
                }
                if self.opts.durations {
                    if let Some(d) = rec.duration_ns() {
                        body.push_str(&format!(
                            " <{}.{:06}>",
                            d / 1_000_000_000,
                            (d % 1_000_000_000) / 1000
                        ));
                    }
                }
                self.line(&p, &body)?;
            }
            Item::Signal {
                tid,
                time_ns,
                signo,
                siginfo,
                pid,
                ..
            } => {
                if self.opts.json || self.opts.pid.is_some_and(|p| p != *pid && p != *tid) {
                    return Ok(());
                }
                if self.opts.filter.is_some() && !view_ok {
                    return Ok(());
                }
                let p = self.prefix(*tid, *time_ns);
                self.line(&p, &signal_line(*signo, siginfo))?;
            }
            Item::TaskExit {
                tid,
                time_ns,
                status,
                pid,
                ..
            } => {
                if self.opts.json || self.opts.pid.is_some_and(|p| p != *pid && p != *tid) {
                    return Ok(());
                }
                if self.opts.filter.is_some() && !view_ok {
                    return Ok(());
                }
                let p = self.prefix(*tid, *time_ns);
                self.line(&p, &exit_line(*status))?;
            }
            Item::TaskStart { tid, .. } => {
                self.tasks.insert(*tid);
            }
            Item::Rdtsc { .. } | Item::Preempt { .. } => {}
        }
        Ok(())
    }
}

/// Writes the dump of the whole trace to `out`.
pub fn dump(
    reader: &TraceReader,
    inputs: &dyn InputSource,
    opts: &DumpOptions,
    out: &mut dyn Write,
    progress: Option<crate::Progress<'_>>,
) -> Result<()> {
    let header = &reader.manifest().header;
    let mut ctx = Context::new(inputs, &header.command);
    let mut d = Dumper {
        opts,
        out,
        start_unix_ns: header.start_unix_ns,
        tasks: HashSet::new(),
        announced: HashSet::new(),
        recorders: false,
    };
    for_each_item_marked(reader, progress, |item, recorders| {
        if recorders && !opts.show_recorder {
            return Ok(());
        }
        d.recorders = recorders;
        if let Item::Syscall { record, .. } | Item::Unfinished(record) = &item {
            d.tasks.insert(record.tid);
        }
        let touched = match &item {
            Item::Syscall { record, .. } | Item::Unfinished(record) => ctx.touched(record),
            _ => Touched::default(),
        };
        d.item(&item, &ctx, &touched)?;
        ctx.after(&item);
        Ok(())
    })?;
    d.out.flush()?;
    Ok(())
}
