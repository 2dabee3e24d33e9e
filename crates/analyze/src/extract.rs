//! `replay extract`: files, network connections, processes, environment.

use std::collections::BTreeMap;
use syscall_model::Sysno;
use trace::RecordedTid;

use serde::Serialize;
use trace::{SyscallExtra, TraceReader};

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

fn op_of(sysno: Option<Sysno>) -> Option<&'static str> {
    Some(match sysno {
        Some(Sysno::read | Sysno::pread64 | Sysno::readv | Sysno::preadv | Sysno::preadv2) => {
            "read"
        }
        Some(
            Sysno::write
            | Sysno::pwrite64
            | Sysno::writev
            | Sysno::pwritev
            | Sysno::pwritev2
            | Sysno::truncate
            | Sysno::ftruncate,
        ) => "write",
        Some(Sysno::execve | Sysno::execveat) => "exec",
        Some(
            Sysno::stat
            | Sysno::lstat
            | Sysno::fstat
            | Sysno::newfstatat
            | Sysno::statx
            | Sysno::access
            | Sysno::faccessat
            | Sysno::faccessat2
            | Sysno::readlink
            | Sysno::readlinkat
            | Sysno::statfs,
        ) => "stat",
        Some(Sysno::unlink | Sysno::unlinkat | Sysno::rmdir) => "unlink",
        Some(Sysno::open | Sysno::openat | Sysno::openat2 | Sysno::creat) => "open",
        Some(Sysno::mmap) => "mmap",
        Some(Sysno::rename | Sysno::renameat | Sysno::renameat2) => "rename",
        Some(
            Sysno::chmod
            | Sysno::fchmod
            | Sysno::fchmodat
            | Sysno::chown
            | Sysno::fchown
            | Sysno::fchownat
            | Sysno::lchown,
        ) => "chmod",
        Some(Sysno::mkdir | Sysno::mkdirat) => "mkdir",
        Some(Sysno::getdents64 | Sysno::getdents) => "list",
        _ => return None,
    })
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
            let sysno = rec.sysno();
            let ok = rec.result.is_some() && rec.errno().is_none();
            let touched = ctx.touched(rec);
            if let Some(op) = op_of(sysno) {
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
            let sock_call = matches!(
                sysno,
                Some(
                    Sysno::connect
                        | Sysno::bind
                        | Sysno::accept
                        | Sysno::accept4
                        | Sysno::sendto
                        | Sysno::recvfrom
                        | Sysno::sendmsg
                        | Sysno::recvmsg
                        | Sysno::read
                        | Sysno::write
                        | Sysno::readv
                        | Sysno::writev
                        | Sysno::listen
                )
            );
            if sock_call {
                ctx.after(&item);
                let new_fd = matches!(sysno, Some(Sysno::accept | Sysno::accept4));
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
                            match sysno {
                                Some(
                                    Sysno::sendto | Sysno::sendmsg | Sysno::write | Sysno::writev,
                                ) => c.bytes_sent += n,
                                Some(
                                    Sysno::recvfrom | Sysno::recvmsg | Sysno::read | Sysno::readv,
                                ) => c.bytes_received += n,
                                _ => {}
                            }
                        }
                    }
                }
                return Ok(());
            }
            if let Some(SyscallExtra::Exec(_)) = &rec.extra {
                // touched() already listed the exe under "exec".
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
