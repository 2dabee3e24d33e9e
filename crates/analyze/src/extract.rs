//! `replay extract`: files, network connections, processes, environment.

use std::collections::BTreeMap;
use syscall_model::Activity;
use trace::RecordedTid;

use serde::Serialize;
use trace::TraceReader;

use crate::context::Context;
use crate::decode::structs::SockAddr;
use crate::fds::FdKind;
use crate::inputs::InputSource;
use crate::pairing::{for_each_item, Item};
use crate::Result;

#[derive(Debug, Default, Clone, Serialize)]
pub struct FileUse {
    pub path: String,
    /// Operations seen: read, write, exec, stat, unlink, open, mmap...
    pub ops: Vec<String>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub calls: u64,
    /// First event that touched it.
    pub first_event: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Connection {
    pub pid: RecordedTid,
    pub protocol: String,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub event: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Extracted {
    pub files: Vec<FileUse>,
    pub network: Vec<Connection>,
    pub processes: Vec<crate::ps::Process>,
    pub env: Vec<(String, String)>,
}

/// The word `replay extract` lists a file operation under.
fn file_op(activity: Activity) -> Option<&'static str> {
    Some(match activity {
        Activity::Read => "read",
        Activity::Write => "write",
        Activity::Exec => "exec",
        Activity::Inspect => "stat",
        Activity::Remove => "unlink",
        Activity::Open => "open",
        Activity::Map => "mmap",
        Activity::Rename => "rename",
        Activity::ChangeAttributes => "chmod",
        Activity::MakeDir => "mkdir",
        Activity::List => "list",
        _ => return None,
    })
}

/// Whether a call on a socket carries data or changes its connection:
/// the calls a connection's entry and byte counts come from.
fn moves_socket_data(activity: Activity) -> bool {
    matches!(
        activity,
        Activity::Connect
            | Activity::Bind
            | Activity::Listen
            | Activity::Accept
            | Activity::Send
            | Activity::Receive
            | Activity::Read
            | Activity::Write
    )
}

fn proto(kind: &FdKind) -> String {
    match kind {
        FdKind::Socket { domain, stype, .. } => {
            let d = match domain {
                1 => "unix",
                2 => "ip",
                10 => "ip6",
                _ => "other",
            };
            let t = match stype {
                1 => "tcp",
                2 => "udp",
                _ => "raw",
            };
            if *domain == 1 {
                format!("unix/{}", if *stype == 1 { "stream" } else { "dgram" })
            } else {
                format!("{t}/{d}")
            }
        }
        _ => "?".into(),
    }
}

/// Everything extract reports, in one pass.
pub fn extract(reader: &TraceReader, inputs: &dyn InputSource) -> Result<Extracted> {
    let header = reader.manifest().header.clone();
    let mut ctx = Context::new(inputs, &header.command);
    let mut files: BTreeMap<String, FileUse> = BTreeMap::new();
    // Keyed by (pid, fd, opening event) so a reused descriptor number is a
    // new connection.
    let mut conns: BTreeMap<(RecordedTid, i32, u64), Connection> = BTreeMap::new();
    for_each_item(reader, None, |item| {
        if let Item::Syscall { record: rec, .. } = &item {
            let activity =
                syscall_model::syscall(rec.nr).map_or(Activity::None, |row| row.activity);
            let ok = rec.result.is_some() && rec.errno().is_none();
            let touched = ctx.touched(rec);
            if let Some(op) = file_op(activity) {
                let bytes = if ok {
                    rec.result.unwrap_or(0).max(0) as u64
                } else {
                    0
                };
                for p in &touched.paths {
                    let f = files.entry(p.clone()).or_insert_with(|| FileUse {
                        path: p.clone(),
                        first_event: rec.index,
                        ..FileUse::default()
                    });
                    f.calls += 1;
                    let op = if ok {
                        op.to_string()
                    } else {
                        format!("{op}(failed)")
                    };
                    if !f.ops.contains(&op) {
                        f.ops.push(op.clone());
                    }
                    match op.as_str() {
                        "read" => f.bytes_read += bytes,
                        "write" => f.bytes_written += bytes,
                        _ => {}
                    }
                }
            }
            // Network: a descriptor that is a socket.
            let fd = rec.args[0] as i32;
            if moves_socket_data(activity) {
                ctx.after(&item);
                let new_fd = activity == Activity::Accept;
                let key_fd = if new_fd {
                    rec.result.unwrap_or(-1) as i32
                } else {
                    fd
                };
                if let Some(e) = ctx.fds.get(rec.pid, key_fd) {
                    if let FdKind::Socket { local, remote, .. } = &e.kind {
                        let c = conns
                            .entry((rec.pid, key_fd, e.opened_at))
                            .or_insert_with(|| Connection {
                                pid: rec.pid,
                                protocol: proto(&e.kind),
                                event: rec.index,
                                ..Connection::default()
                            });
                        c.local = local.as_ref().map(SockAddr::to_string).or(c.local.take());
                        c.remote = remote.as_ref().map(SockAddr::to_string).or(c.remote.take());
                        if ok && !new_fd {
                            let n = rec.result.unwrap_or(0).max(0) as u64;
                            match activity {
                                Activity::Send | Activity::Write => c.bytes_sent += n,
                                Activity::Receive | Activity::Read => c.bytes_received += n,
                                _ => {}
                            }
                        }
                    }
                }
                return Ok(());
            }
        }
        ctx.after(&item);
        Ok(())
    })?;
    let processes = crate::ps::collect(reader, &header.command)?;
    let mut files: Vec<FileUse> = files.into_values().collect();
    files.sort_by_key(|f| f.first_event);
    Ok(Extracted {
        files,
        network: conns.into_values().collect(),
        processes,
        env: header.env.clone(),
    })
}
