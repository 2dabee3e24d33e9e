//! `replay analyze --report security|performance|summary`.

use std::collections::BTreeMap;
use std::io::Write;
use syscall_model::decode::ArgKind;
use syscall_model::Activity;

use syscall_model::Classes;
use trace::{RecordedTid, SyscallExtra, TraceReader};

use crate::context::Context;
use crate::decode::Decoder;
use crate::inputs::InputSource;
use crate::pairing::{for_each_item, Item};
use crate::Result;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub category: &'static str,
    pub event: u64,
    pub pid: RecordedTid,
    pub detail: String,
    pub line: String,
}

fn is_secret(path: &str) -> bool {
    let base = path.rsplit('/').next().unwrap_or(path);
    matches!(
        path,
        "/etc/shadow" | "/etc/gshadow" | "/etc/sudoers" | "/etc/master.passwd"
    ) || path.starts_with("/etc/shadow")
        || path.contains("/.ssh/")
        || path.contains("/.aws/credentials")
        || path.contains("/.gnupg/")
        || base.ends_with(".pem")
        || base.ends_with(".key")
        || base == ".netrc"
        || base == ".pgpass"
        || base.contains("credentials")
        || base.starts_with("id_rsa")
        || base.starts_with("id_ed25519")
}

const SUSPICIOUS_EXECS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "fish", "python", "python3", "perl", "ruby", "node", "php",
    "lua", "curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "tftp",
];

/// Security findings, in recording order.
pub fn security(reader: &TraceReader, inputs: &dyn InputSource) -> Result<Vec<Finding>> {
    let header = reader.manifest().header.clone();
    let cwd = header.cwd.clone();
    let mut ctx = Context::new(inputs, &header.command);
    let mut findings = Vec::new();
    for_each_item(reader, None, |item| {
        if let Item::Syscall { record: rec, .. } = &item {
            let touched = ctx.touched(rec);
            let dec = Decoder {
                inputs,
                strsize: 32,
                fds: Some(&ctx.fds),
            };
            let line = format!("{} = {}", dec.call(rec), dec.ret(rec));
            let ok = rec.result.is_some() && rec.errno().is_none();
            let name = rec.name();
            let mut add = |category, detail: String| {
                findings.push(Finding {
                    category,
                    event: rec.index,
                    pid: rec.pid,
                    detail,
                    line: line.clone(),
                })
            };
            let row = syscall_model::syscall(rec.nr);
            let activity = row.map_or(Activity::None, |row| row.activity);
            let opens = matches!(activity, Activity::Open | Activity::Read | Activity::Map);
            for p in touched.paths.iter().filter(|p| is_secret(p)) {
                if opens && ok {
                    add("secret-read", format!("{name} of {p}"));
                }
            }
            match activity {
                Activity::ChangeCredentials => {
                    add("privilege", format!("{name} changes credentials"))
                }
                Activity::ChangeAttributes => {
                    let mode = row.and_then(|row| row.arg_of_kind(ArgKind::Mode));
                    if let Some(mode) = mode.map(|i| rec.args[i]).filter(|m| m & 0o6000 != 0) {
                        add(
                            "privilege",
                            format!("{name} sets setuid/setgid bits ({mode:o})"),
                        );
                    }
                }
                Activity::ReachIntoProcess => add(
                    "process-tampering",
                    format!("{name} on pid {}", rec.args[1] as i32),
                ),
                _ => {}
            }
            // A connection out: an address the call gives the kernel as
            // the far end (connect, sendto).
            let names_peer = row.is_some_and(|row| {
                row.args
                    .iter()
                    .any(|kind| matches!(kind, ArgKind::PeerAddr(_)))
            });
            if names_peer {
                for a in &touched.addrs {
                    if !matches!(a, crate::decode::structs::SockAddr::Unix(_)) {
                        add("network", format!("{name} to {a}"));
                    }
                }
            }
            if let Some(SyscallExtra::Exec(info)) = &rec.extra {
                let prog = info.exe.path.rsplit('/').next().unwrap_or("");
                let arg0 = info
                    .argv
                    .first()
                    .map(|a| a.rsplit('/').next().unwrap_or(a))
                    .unwrap_or("");
                let hit = SUSPICIOUS_EXECS.iter().any(|s| {
                    [prog, arg0].iter().any(|n| {
                        *n == *s
                            || n.strip_prefix(s)
                                .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit() || c == '.'))
                    })
                });
                if hit {
                    add(
                        "exec",
                        format!("exec of {} ({})", info.exe.path, info.argv.join(" ")),
                    );
                }
            }
            if let Some(flags) = row.and_then(|row| row.open_flags(&rec.args)) {
                if ok && flags & 3 != 0 || flags & 0o100 != 0 {
                    for p in &touched.paths {
                        let inside = p.starts_with(&cwd)
                            || p.starts_with("/tmp/")
                            || p.starts_with("/dev/")
                            || p.starts_with("/proc/self/")
                            || !p.starts_with('/');
                        if !inside {
                            add(
                                "write-outside",
                                format!("opens {p} for writing outside cwd and /tmp"),
                            );
                        }
                    }
                }
            }
        }
        ctx.after(&item);
        Ok(())
    })?;
    Ok(findings)
}

pub fn print_security(findings: &[Finding], out: &mut dyn Write) -> Result<()> {
    if findings.is_empty() {
        writeln!(out, "no security findings")?;
    }
    for f in findings {
        writeln!(
            out,
            "[{}] event {} pid {}: {}\n    {}",
            f.category, f.event, f.pid, f.detail, f.line
        )?;
    }
    Ok(())
}

/// Performance report.
pub fn performance(
    reader: &TraceReader,
    inputs: &dyn InputSource,
    out: &mut dyn Write,
) -> Result<()> {
    let mut by_class: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut slowest: Vec<(u64, u64, RecordedTid, String)> = Vec::new();
    let mut blocked: BTreeMap<RecordedTid, u64> = BTreeMap::new();
    let header = reader.manifest().header.clone();
    let mut ctx = Context::new(inputs, &header.command);
    for_each_item(reader, None, |item| {
        if let Item::Syscall { record: rec, .. } = &item {
            let d = rec.duration_ns().unwrap_or(0);
            let classes = syscall_model::classes(rec.nr);
            let label = if classes == Classes::empty() {
                "other".to_string()
            } else {
                classes.to_string()
            };
            let e = by_class.entry(label).or_default();
            e.0 += 1;
            e.1 += d;
            *blocked.entry(rec.pid).or_default() += d;
            let dec = Decoder {
                inputs,
                strsize: 32,
                fds: Some(&ctx.fds),
            };
            slowest.push((
                d,
                rec.index,
                rec.pid,
                format!("{} = {}", dec.call(rec), dec.ret(rec)),
            ));
            // Keep only the ten slowest: bounded memory.
            if slowest.len() > 64 {
                slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
                slowest.truncate(10);
            }
        }
        ctx.after(&item);
        Ok(())
    })?;
    writeln!(out, "time per syscall class:")?;
    for (class, (calls, ns)) in &by_class {
        writeln!(
            out,
            "  {class:<24} {calls:>8} calls {:>12.6} s",
            *ns as f64 / 1e9
        )?;
    }
    let ex = crate::extract::extract(reader, inputs)?;
    let mut files = ex.files.clone();
    files.sort_by(|a, b| {
        (b.bytes_read + b.bytes_written, b.calls).cmp(&(a.bytes_read + a.bytes_written, a.calls))
    });
    writeln!(out, "I/O hot files:")?;
    for f in files.iter().take(10) {
        writeln!(
            out,
            "  {:>10} B read {:>10} B written {:>6} calls  {}",
            f.bytes_read, f.bytes_written, f.calls, f.path
        )?;
    }
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    writeln!(out, "slowest calls:")?;
    for (d, ev, pid, line) in slowest.iter().take(10) {
        writeln!(
            out,
            "  {:>10.6} s  event {ev} pid {pid}: {line}",
            *d as f64 / 1e9
        )?;
    }
    writeln!(
        out,
        "per process (blocked = time inside syscalls, cpu = the rest of its lifetime):"
    )?;
    for p in &ex.processes {
        let life = p.end_ns.saturating_sub(p.start_ns);
        let b = blocked.get(&p.pid).copied().unwrap_or(0).min(life);
        writeln!(
            out,
            "  pid {:>7}  cpu {:>10.6} s  blocked {:>10.6} s  {}",
            p.pid,
            (life - b) as f64 / 1e9,
            b as f64 / 1e9,
            p.execs.last().cloned().unwrap_or_default()
        )?;
    }
    Ok(())
}

/// One screen about the recording.
pub fn summary(reader: &TraceReader, inputs: &dyn InputSource, out: &mut dyn Write) -> Result<()> {
    let m = reader.manifest();
    let stats = crate::stats::collect(reader, None)?;
    let ex = crate::extract::extract(reader, inputs)?;
    let findings = security(reader, inputs)?;
    let calls: u64 = stats.values().map(|r| r.calls).sum();
    let errors: u64 = stats.values().map(|r| r.errors).sum();
    writeln!(out, "command:     {}", m.header.command.join(" "))?;
    writeln!(out, "cwd:         {}", m.header.cwd)?;
    writeln!(out, "outcome:     {:?}", m.outcome)?;
    writeln!(out, "processes:   {}", ex.processes.len())?;
    writeln!(out, "syscalls:    {calls} ({errors} failed)")?;
    let mut top: Vec<_> = stats.iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1.calls));
    let top: Vec<String> = top
        .iter()
        .take(5)
        .map(|(n, r)| format!("{n} {}", r.calls))
        .collect();
    writeln!(out, "top calls:   {}", top.join(", "))?;
    writeln!(out, "files:       {}", ex.files.len())?;
    writeln!(out, "connections: {}", ex.network.len())?;
    writeln!(out, "security:    {} finding(s)", findings.len())?;
    for f in findings.iter().take(5) {
        writeln!(out, "  [{}] event {}: {}", f.category, f.event, f.detail)?;
    }
    Ok(())
}
