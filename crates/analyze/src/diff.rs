//! `replay diff`: are two recordings the same behaviour?
//!
//! Equivalence rule (docs/cli.md): same command, same exit outcome, and for
//! each process (matched by order of appearance, not by pid) the same
//! sequence of syscalls with the same decoded arguments and results once
//! addresses, pids/tids and clock values are normalised. Timing, the
//! environment and file/endpoint lists are reported but only the syscall
//! sequences, commands and outcomes decide. This needs each process's
//! sequence in memory (one short string per call).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use syscall_model::Sysno;

use serde::Serialize;
use similar::{capture_diff_slices, Algorithm, DiffOp};
use trace::TraceReader;

use crate::context::Context;
use crate::decode::Decoder;
use crate::inputs::InputSource;
use crate::pairing::{for_each_item, Item};
use crate::Result;

#[derive(Debug, Default, Serialize)]
pub struct DiffReport {
    pub equivalent: bool,
    pub command: Option<(String, String)>,
    pub outcome: Option<(String, String)>,
    pub env_only_baseline: Vec<String>,
    pub env_only_current: Vec<String>,
    pub env_changed: Vec<String>,
    pub files_only_baseline: Vec<String>,
    pub files_only_current: Vec<String>,
    pub endpoints_only_baseline: Vec<String>,
    pub endpoints_only_current: Vec<String>,
    pub processes: Vec<ProcessDiff>,
    pub duration_ns: (u64, u64),
}

#[derive(Debug, Default, Serialize)]
pub struct ProcessDiff {
    /// Position of the process in order of appearance.
    pub ordinal: usize,
    pub pids: (Option<i32>, Option<i32>),
    pub calls: (usize, usize),
    /// `-line`/`+line` hunks, capped.
    pub changes: Vec<String>,
    /// Syscalls whose results differ (getrandom, read...).
    pub differing_syscalls: Vec<String>,
}

struct Side {
    procs: Vec<(i32, Vec<String>)>,
    duration_ns: u64,
}

/// Replaces hex addresses, known pids and clock values with placeholders.
fn normalize(line: &str, pids: &HashMap<i32, usize>) -> String {
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && b.get(i + 1) == Some(&b'x') {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push_str("ADDR");
            i = j;
        } else if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let tok = &line[i..j];
            let preceding = &line[..i];
            let clock = preceding.ends_with("tv_sec=")
                || preceding.ends_with("tv_nsec=")
                || preceding.ends_with("tv_usec=");
            match tok.parse::<i32>().ok().and_then(|n| pids.get(&n)) {
                _ if clock => out.push('T'),
                Some(k) => out.push_str(&format!("PID{k}")),
                None => out.push_str(tok),
            }
            i = j;
        } else {
            let c = line[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn side(reader: &TraceReader, inputs: &dyn InputSource) -> Result<Side> {
    let header = reader.manifest().header.clone();
    let mut ctx = Context::new(inputs, &header.command);
    let mut order: Vec<i32> = Vec::new();
    let mut seqs: HashMap<i32, Vec<String>> = HashMap::new();
    let mut pids: HashMap<i32, usize> = HashMap::new();
    let mut last = 0;
    for_each_item(reader, None, |item| {
        // Where the scheduler switched threads is not behaviour to compare.
        if matches!(item, Item::Preempt { .. }) {
            return Ok(());
        }
        let (tid, pid) = match &item {
            Item::Syscall { record: r, .. } | Item::Unfinished(r) => (r.tid, r.pid),
            Item::TaskStart { tid, pid, .. }
            | Item::TaskExit { tid, pid, .. }
            | Item::Signal { tid, pid, .. }
            | Item::Rdtsc { tid, pid, .. }
            | Item::Preempt { tid, pid, .. } => (*tid, *pid),
        };
        for id in [pid.raw(), tid.raw()] {
            let n = pids.len();
            pids.entry(id).or_insert(n);
        }
        seqs.entry(pid.raw()).or_insert_with(|| {
            order.push(pid.raw());
            Vec::new()
        });
        if let Item::Syscall { record, .. } = &item {
            last = last.max(record.exit_ns.unwrap_or(record.entry_ns));
            let dec = Decoder {
                inputs,
                strsize: 32,
                fds: None,
            };
            let mut line = format!("{} = {}", dec.call(record), dec.ret(record));
            // glibc seeds malloc and hash tables with non-blocking
            // getrandom: different in every run of a deterministic program.
            if record.sysno() == Some(Sysno::getrandom) && record.args[2] & 1 != 0 {
                line = format!(
                    "getrandom(RANDOM, {}) = {}",
                    record.args[1],
                    dec.ret(record)
                );
            }
            seqs.get_mut(&pid.raw())
                .expect("inserted above")
                .push(normalize(&line, &pids));
        }
        ctx.after(&item);
        Ok(())
    })?;
    Ok(Side {
        procs: order
            .into_iter()
            .map(|p| (p, seqs.remove(&p).unwrap_or_default()))
            .collect(),
        duration_ns: last,
    })
}

fn only<T: Ord + Clone>(a: &BTreeSet<T>, b: &BTreeSet<T>) -> Vec<T> {
    a.difference(b).cloned().collect()
}

const MAX_CHANGES: usize = 40;

pub fn diff(base: &TraceReader, cur: &TraceReader, inputs: &dyn InputSource) -> Result<DiffReport> {
    let (hb, hc) = (&base.manifest().header, &cur.manifest().header);
    let mut r = DiffReport::default();
    let mut different = false;
    if hb.command != hc.command {
        r.command = Some((hb.command.join(" "), hc.command.join(" ")));
        different = true;
    }
    let (ob, oc) = (
        format!("{:?}", base.manifest().outcome),
        format!("{:?}", cur.manifest().outcome),
    );
    if ob != oc {
        r.outcome = Some((ob, oc));
        different = true;
    }
    let env_b: BTreeMap<_, _> = hb.env.iter().cloned().collect();
    let env_c: BTreeMap<_, _> = hc.env.iter().cloned().collect();
    r.env_only_baseline = env_b
        .keys()
        .filter(|k| !env_c.contains_key(*k))
        .cloned()
        .collect();
    r.env_only_current = env_c
        .keys()
        .filter(|k| !env_b.contains_key(*k))
        .cloned()
        .collect();
    r.env_changed = env_b
        .iter()
        .filter(|(k, v)| env_c.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k.clone())
        .collect();
    let (xb, xc) = (
        crate::extract::extract(base, inputs)?,
        crate::extract::extract(cur, inputs)?,
    );
    let fb: BTreeSet<String> = xb.files.iter().map(|f| f.path.clone()).collect();
    let fc: BTreeSet<String> = xc.files.iter().map(|f| f.path.clone()).collect();
    r.files_only_baseline = only(&fb, &fc);
    r.files_only_current = only(&fc, &fb);
    let ep = |x: &crate::extract::Extracted| -> BTreeSet<String> {
        x.network.iter().filter_map(|c| c.remote.clone()).collect()
    };
    r.endpoints_only_baseline = only(&ep(&xb), &ep(&xc));
    r.endpoints_only_current = only(&ep(&xc), &ep(&xb));
    let (sb, sc) = (side(base, inputs)?, side(cur, inputs)?);
    r.duration_ns = (sb.duration_ns, sc.duration_ns);
    let n = sb.procs.len().max(sc.procs.len());
    for i in 0..n {
        let empty = Vec::new();
        let (pb, a) = sb
            .procs
            .get(i)
            .map(|(p, s)| (Some(*p), s))
            .unwrap_or((None, &empty));
        let (pc, b) = sc
            .procs
            .get(i)
            .map(|(p, s)| (Some(*p), s))
            .unwrap_or((None, &empty));
        let mut pd = ProcessDiff {
            ordinal: i,
            pids: (pb, pc),
            calls: (a.len(), b.len()),
            ..ProcessDiff::default()
        };
        let mut names = BTreeSet::new();
        for op in capture_diff_slices(Algorithm::Myers, a, b) {
            let (old, new) = match op {
                DiffOp::Equal { .. } => continue,
                DiffOp::Delete {
                    old_index, old_len, ..
                } => (old_index..old_index + old_len, 0..0),
                DiffOp::Insert {
                    new_index, new_len, ..
                } => (0..0, new_index..new_index + new_len),
                DiffOp::Replace {
                    old_index,
                    old_len,
                    new_index,
                    new_len,
                } => (
                    old_index..old_index + old_len,
                    new_index..new_index + new_len,
                ),
            };
            for l in &a[old] {
                names.insert(l.split('(').next().unwrap_or("").to_string());
                if pd.changes.len() < MAX_CHANGES {
                    pd.changes.push(format!("-{l}"));
                }
            }
            for l in &b[new] {
                names.insert(l.split('(').next().unwrap_or("").to_string());
                if pd.changes.len() < MAX_CHANGES {
                    pd.changes.push(format!("+{l}"));
                }
            }
        }
        pd.differing_syscalls = names.into_iter().collect();
        if !pd.differing_syscalls.is_empty() || pb.is_none() || pc.is_none() {
            different = true;
            r.processes.push(pd);
        }
    }
    r.equivalent = !different;
    Ok(r)
}

pub fn print(r: &DiffReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if let Some((a, b)) = &r.command {
        writeln!(out, "command: {a}\n      -> {b}")?;
    }
    if let Some((a, b)) = &r.outcome {
        writeln!(out, "exit: {a} -> {b}")?;
    }
    let list = |out: &mut dyn std::io::Write, title: &str, v: &[String]| -> std::io::Result<()> {
        if !v.is_empty() {
            writeln!(out, "{title}: {}", v.join(", "))?;
        }
        Ok(())
    };
    list(out, "environment only in baseline", &r.env_only_baseline)?;
    list(out, "environment only in current", &r.env_only_current)?;
    list(out, "environment changed", &r.env_changed)?;
    list(out, "files only in baseline", &r.files_only_baseline)?;
    list(out, "files only in current", &r.files_only_current)?;
    list(
        out,
        "endpoints only in baseline",
        &r.endpoints_only_baseline,
    )?;
    list(out, "endpoints only in current", &r.endpoints_only_current)?;
    for p in &r.processes {
        let show = |p: Option<i32>| p.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "process #{} (pid {} -> {}): {} -> {} syscalls; differing: {}",
            p.ordinal,
            show(p.pids.0),
            show(p.pids.1),
            p.calls.0,
            p.calls.1,
            p.differing_syscalls.join(", ")
        )?;
        for c in &p.changes {
            writeln!(out, "  {c}")?;
        }
    }
    writeln!(
        out,
        "duration: {:.6} s -> {:.6} s",
        r.duration_ns.0 as f64 / 1e9,
        r.duration_ns.1 as f64 / 1e9
    )?;
    writeln!(
        out,
        "{}",
        if r.equivalent {
            "equivalent"
        } else {
            "different"
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_addresses_pids_and_clocks() {
        let pids: HashMap<i32, usize> = [(4242, 0)].into_iter().collect();
        assert_eq!(
            normalize("set_tid_address(0x7fff12) = 4242", &pids),
            "set_tid_address(ADDR) = PID0"
        );
        assert_eq!(
            normalize(
                "clock_gettime(CLOCK_REALTIME, {tv_sec=17, tv_nsec=5}) = 0",
                &pids
            ),
            "clock_gettime(CLOCK_REALTIME, {tv_sec=T, tv_nsec=T}) = 0"
        );
    }
}
