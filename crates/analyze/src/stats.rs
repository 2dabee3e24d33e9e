//! `replay stats`: strace -c, with latency percentiles.

use std::collections::BTreeMap;
use std::io::Write;

use trace::TraceReader;

use crate::pairing::for_each_syscall;
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Time,
    Calls,
    Errors,
}

/// Per-syscall totals. Durations are kept per call so percentiles are
/// exact; that is 8 bytes per call, the one unbounded piece of state.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub durations: Vec<u64>,
}

impl Row {
    pub fn percentile(&self, p: f64) -> u64 {
        if self.durations.is_empty() {
            return 0;
        }
        let mut d = self.durations.clone();
        d.sort_unstable();
        let i = ((p / 100.0) * (d.len() - 1) as f64).round() as usize;
        d[i.min(d.len() - 1)]
    }
}

pub fn collect(
    reader: &TraceReader,
    progress: Option<crate::Progress<'_>>,
) -> Result<BTreeMap<String, Row>> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for_each_syscall(reader, progress, |rec| {
        let row = rows.entry(rec.name()).or_default();
        row.calls += 1;
        if rec.errno().is_some() {
            row.errors += 1;
        }
        if let Some(d) = rec.duration_ns() {
            row.total_ns += d;
            row.durations.push(d);
        }
        Ok(())
    })?;
    Ok(rows)
}

pub fn print(rows: &BTreeMap<String, Row>, sort: SortBy, out: &mut dyn Write) -> Result<()> {
    let mut list: Vec<(&String, &Row)> = rows.iter().collect();
    match sort {
        SortBy::Time => list.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0))),
        SortBy::Calls => list.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0))),
        SortBy::Errors => list.sort_by(|a, b| b.1.errors.cmp(&a.1.errors).then(a.0.cmp(b.0))),
    }
    let total_ns: u64 = rows.values().map(|r| r.total_ns).sum();
    writeln!(
        out,
        "% time     seconds  usecs/call     calls    errors   p50(us)   p95(us)   p99(us) syscall"
    )?;
    let rule = "------ ----------- ----------- --------- --------- --------- --------- --------- ----------------";
    writeln!(out, "{rule}")?;
    for (name, r) in &list {
        let pct = if total_ns == 0 {
            0.0
        } else {
            r.total_ns as f64 * 100.0 / total_ns as f64
        };
        let errors = if r.errors == 0 {
            String::new()
        } else {
            r.errors.to_string()
        };
        writeln!(
            out,
            "{pct:6.2} {:11.6} {:11} {:9} {errors:>9} {:9} {:9} {:9} {name}",
            r.total_ns as f64 / 1e9,
            r.total_ns / r.calls.max(1) / 1000,
            r.calls,
            r.percentile(50.0) / 1000,
            r.percentile(95.0) / 1000,
            r.percentile(99.0) / 1000,
        )?;
    }
    writeln!(out, "{rule}")?;
    let calls: u64 = rows.values().map(|r| r.calls).sum();
    let errors: u64 = rows.values().map(|r| r.errors).sum();
    writeln!(
        out,
        "100.00 {:11.6} {:11} {calls:9} {errors:>9} {:>9} {:>9} {:>9} total",
        total_ns as f64 / 1e9,
        total_ns / calls.max(1) / 1000,
        "",
        "",
        ""
    )?;
    Ok(())
}
