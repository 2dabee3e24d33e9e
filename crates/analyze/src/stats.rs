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

/// Per-syscall totals. Durations go into a [`Histogram`], so memory per
/// syscall name is bounded however long the recording is.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub calls: u64,
    pub errors: u64,
    pub total_ns: u64,
    pub durations: Histogram,
}

impl Row {
    /// The `p`th percentile of the call durations, in ns (see
    /// [`Histogram`] for the precision).
    pub fn percentile(&self, p: f64) -> u64 {
        self.durations.percentile(p)
    }
}

/// Sub-buckets per power of two: 2^5 = 32.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;

/// A log-bucketed latency histogram (the HDR histogram idea): values below
/// 32 ns have their own bucket; above, each power of two is split into 32
/// equal buckets, so a bucket is at most 1/32 of its values wide and a
/// percentile, reported as the bucket's middle (clamped to the exact
/// minimum and maximum), is within 1.6% of the exact one. At most
/// 60 * 32 buckets exist, whatever the number of calls.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    /// Count per bucket index, grown on demand.
    counts: Vec<u64>,
    n: u64,
    min: u64,
    max: u64,
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let mant = (v >> (e - SUB_BITS)) & (SUB - 1);
        ((e - SUB_BITS + 1) as u64 * SUB + mant) as usize
    }

    /// The smallest value in bucket `i` and the bucket's width.
    fn bounds(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < SUB {
            return (i, 1);
        }
        let shift = (i / SUB - 1) as u32;
        ((SUB + i % SUB) << shift, 1 << shift)
    }

    pub fn record(&mut self, v: u64) {
        let i = Self::index(v);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.min = if self.n == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.n += 1;
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Nearest-rank percentile, 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * (self.n - 1) as f64).round() as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                let (low, width) = Self::bounds(i);
                return (low + width / 2).clamp(self.min, self.max);
            }
        }
        self.max
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
            row.durations.record(d);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut prev = 0;
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = Histogram::index(v);
            assert!(i >= prev, "{v}");
            prev = i;
            let (low, width) = Histogram::bounds(i);
            assert!(
                v >= low && v - low < width,
                "{v} in bucket {i} = {low}+{width}"
            );
        }
    }

    #[test]
    fn percentiles_within_documented_precision() {
        let mut h = Histogram::default();
        let mut exact: Vec<u64> = (1..=10_000u64).map(|i| i * i * 37 % 9_999_991).collect();
        for v in &exact {
            h.record(*v);
        }
        exact.sort_unstable();
        for p in [0.0, 1.0, 50.0, 95.0, 99.0, 100.0] {
            let i = ((p / 100.0) * (exact.len() - 1) as f64).round() as usize;
            let (e, got) = (exact[i] as f64, h.percentile(p) as f64);
            assert!((got - e).abs() <= e * 0.016 + 1.0, "p{p}: {got} vs {e}");
        }
        assert_eq!(h.len(), 10_000);
        assert!(h.counts.len() <= 60 * 32);
        assert_eq!(Histogram::default().percentile(50.0), 0);
    }
}
