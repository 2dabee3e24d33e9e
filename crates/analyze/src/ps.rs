//! `replay ps`: the process tree with threads, exec chain and run time.

use std::collections::BTreeMap;
use std::io::Write;

use trace::{RecordedTid, SyscallExtra, TraceReader};

use crate::pairing::{for_each_item, Item};
use crate::Result;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Process {
    pub pid: RecordedTid,
    pub ppid: Option<RecordedTid>,
    /// Raw wait status of the last thread to exit, if it did.
    pub exit_status: Option<i32>,
    /// Every successful exec, in order (argv joined).
    pub execs: Vec<String>,
    pub threads: Vec<RecordedTid>,
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Process {
    pub fn exit_text(&self) -> String {
        match self.exit_status {
            None => "-".into(),
            Some(s) if s & 0x7f == 0 => ((s >> 8) & 0xff).to_string(),
            Some(s) => crate::errno::signal_name(s & 0x7f),
        }
    }
}

/// All processes in order of appearance.
pub fn collect(reader: &TraceReader, command: &[String]) -> Result<Vec<Process>> {
    let mut procs: BTreeMap<RecordedTid, Process> = BTreeMap::new();
    let mut order: Vec<RecordedTid> = Vec::new();
    let mut tid_pid: BTreeMap<RecordedTid, RecordedTid> = BTreeMap::new();
    let mut first = true;
    for_each_item(reader, None, |item| {
        let (tid, pid, ns) = match &item {
            Item::Syscall { record: r, .. } | Item::Unfinished(r) => {
                (r.tid, r.pid, r.exit_ns.unwrap_or(r.entry_ns))
            }
            Item::Signal {
                tid, pid, time_ns, ..
            }
            | Item::TaskStart {
                tid, pid, time_ns, ..
            }
            | Item::TaskExit {
                tid, pid, time_ns, ..
            }
            | Item::Rdtsc {
                tid, pid, time_ns, ..
            }
            | Item::Preempt {
                tid, pid, time_ns, ..
            } => (*tid, *pid, *time_ns),
        };
        #[allow(clippy::map_entry)] // the new entry also goes into `order`
        if !procs.contains_key(&pid) {
            let ppid = match &item {
                Item::TaskStart { parent, .. } => {
                    Some(tid_pid.get(parent).copied().unwrap_or(*parent))
                }
                _ => None,
            };
            let mut p = Process {
                pid,
                ppid,
                start_ns: ns,
                ..Process::default()
            };
            if first {
                p.execs.push(command.join(" "));
                first = false;
            }
            procs.insert(pid, p);
            order.push(pid);
        }
        tid_pid.insert(tid, pid);
        let p = procs.get_mut(&pid).expect("inserted above");
        p.end_ns = p.end_ns.max(ns);
        if !p.threads.contains(&tid) {
            p.threads.push(tid);
        }
        match &item {
            Item::Syscall { record, .. } => {
                if let Some(SyscallExtra::Exec(info)) = &record.extra {
                    let cmd = info.argv.join(" ");
                    // The first exec is the recorded command itself.
                    if p.execs.len() != 1 || p.execs[0] != cmd || p.ppid.is_some() {
                        p.execs.push(cmd);
                    }
                }
            }
            Item::TaskExit { status, .. } => p.exit_status = Some(*status),
            _ => {}
        }
        Ok(())
    })?;
    Ok(order.into_iter().filter_map(|p| procs.remove(&p)).collect())
}

pub fn print(procs: &[Process], out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{:>7} {:>7} {:>6} {:>10} {:>4}  CMD",
        "PID", "PPID", "EXIT", "TIME(s)", "THR"
    )?;
    fn walk(procs: &[Process], pid: RecordedTid, depth: usize, out: &mut dyn Write) -> Result<()> {
        let Some(p) = procs.iter().find(|p| p.pid == pid) else {
            return Ok(());
        };
        let cmd = p.execs.last().cloned().unwrap_or_default();
        writeln!(
            out,
            "{:>7} {:>7} {:>6} {:>10.6} {:>4}  {}{}",
            p.pid,
            p.ppid.map(|x| x.to_string()).unwrap_or_else(|| "-".into()),
            p.exit_text(),
            p.end_ns.saturating_sub(p.start_ns) as f64 / 1e9,
            p.threads.len(),
            "  ".repeat(depth),
            cmd
        )?;
        if p.execs.len() > 1 {
            writeln!(
                out,
                "{:>40}{}exec chain: {}",
                "",
                "  ".repeat(depth),
                p.execs.join(" -> ")
            )?;
        }
        if p.threads.len() > 1 {
            let t: Vec<String> = p.threads.iter().map(|t| t.to_string()).collect();
            writeln!(
                out,
                "{:>40}{}threads: {}",
                "",
                "  ".repeat(depth),
                t.join(" ")
            )?;
        }
        for child in procs.iter().filter(|c| c.ppid == Some(pid)) {
            walk(procs, child.pid, depth + 1, out)?;
        }
        Ok(())
    }
    for root in procs
        .iter()
        .filter(|p| p.ppid.is_none_or(|pp| !procs.iter().any(|q| q.pid == pp)))
    {
        walk(procs, root.pid, 0, out)?;
    }
    Ok(())
}
