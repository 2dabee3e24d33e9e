//! `replay export`: JSON, JSON lines, CSV and Chrome/Perfetto trace events.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::json;
use trace::TraceReader;

use crate::context::Context;
use crate::decode::Decoder;
use crate::errno::errno_name;
use crate::inputs::InputSource;
use crate::pairing::{for_each_item, Item, SyscallRecord};
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Jsonl,
    Csv,
    Chrome,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn record_json(rec: &SyscallRecord, dec: &Decoder<'_>) -> serde_json::Value {
    json!({
        "event": rec.index,
        "pid": rec.pid,
        "tid": rec.tid,
        "syscall": rec.name(),
        "args": dec.args(rec),
        "raw_args": rec.args,
        "ret": rec.result,
        "errno": rec.errno().and_then(errno_name),
        "time_ns": rec.entry_ns,
        "duration_ns": rec.duration_ns(),
    })
}

/// Streams the export; JSON and Chrome output are arrays written element
/// by element, so memory stays bounded.
pub fn export(
    reader: &TraceReader,
    inputs: &dyn InputSource,
    format: Format,
    out: &mut dyn Write,
    progress: Option<crate::Progress<'_>>,
) -> Result<()> {
    let header = reader.manifest().header.clone();
    let mut ctx = Context::new(inputs, &header.command);
    let mut first = true;
    let mut named: BTreeSet<(i32, i32)> = BTreeSet::new();
    match format {
        Format::Json => write!(out, "[")?,
        Format::Chrome => write!(out, "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[")?,
        Format::Csv => writeln!(
            out,
            "event,pid,tid,time_ns,duration_ns,syscall,args,ret,errno"
        )?,
        Format::Jsonl => {}
    }
    let sep = |out: &mut dyn Write, first: &mut bool| -> std::io::Result<()> {
        if !*first {
            write!(out, ",")?;
        }
        *first = false;
        writeln!(out)
    };
    for_each_item(reader, progress, |item| {
        if let Item::Syscall { record: rec, .. } = &item {
            let dec = Decoder {
                inputs,
                strsize: 32,
                fds: Some(&ctx.fds),
            };
            match format {
                Format::Jsonl => writeln!(out, "{}", record_json(rec, &dec))?,
                Format::Json => {
                    sep(out, &mut first)?;
                    write!(out, "{}", record_json(rec, &dec))?;
                }
                Format::Csv => writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{}",
                    rec.index,
                    rec.pid,
                    rec.tid,
                    rec.entry_ns,
                    rec.duration_ns().map(|d| d.to_string()).unwrap_or_default(),
                    rec.name(),
                    csv_field(&dec.args(rec).join(", ")),
                    rec.result
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "?".into()),
                    rec.errno().and_then(errno_name).unwrap_or_default()
                )?,
                Format::Chrome => {
                    for (tid, thread) in [(rec.pid, false), (rec.tid, true)] {
                        if named.insert((rec.pid.raw(), if thread { tid.raw() } else { -1 })) {
                            let name = if thread {
                                "thread_name"
                            } else {
                                "process_name"
                            };
                            let label = match thread {
                                false => {
                                    format!("{} ({})", ctx.comm(rec.pid).unwrap_or("?"), rec.pid)
                                }
                                true => format!("tid {tid}"),
                            };
                            sep(out, &mut first)?;
                            write!(
                                out,
                                "{}",
                                json!({"ph": "M", "name": name, "pid": rec.pid, "tid": rec.tid, "args": {"name": label}})
                            )?;
                        }
                    }
                    sep(out, &mut first)?;
                    write!(
                        out,
                        "{}",
                        json!({
                            "ph": "X",
                            "name": rec.name(),
                            "cat": "syscall",
                            "pid": rec.pid,
                            "tid": rec.tid,
                            "ts": rec.entry_ns as f64 / 1000.0,
                            "dur": rec.duration_ns().unwrap_or(0) as f64 / 1000.0,
                            "args": {
                                "event": rec.index,
                                "call": dec.call(rec),
                                "ret": dec.ret(rec),
                            },
                        })
                    )?;
                }
            }
        }
        ctx.after(&item);
        Ok(())
    })?;
    match format {
        Format::Json => writeln!(out, "\n]")?,
        Format::Chrome => writeln!(out, "\n]}}")?,
        _ => {}
    }
    out.flush()?;
    Ok(())
}
