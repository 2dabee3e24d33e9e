//! What each file descriptor of each process refers to, followed through
//! the recording: `-y` in dump, file and network lists in extract and the
//! reports.
//!
//! Paths come from the call that created the descriptor when its input
//! memory is known (an [`InputSource`] that has it), and otherwise from
//! later evidence: a file-backed mmap of the descriptor names the file.

use std::collections::HashMap;

use trace::{SyscallExtra, Tid};

use crate::decode::structs::{int_pair_values, parse_sockaddr, SockAddr};
use crate::inputs::InputSource;
use crate::pairing::SyscallRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    File,
    Socket {
        domain: u64,
        stype: u64,
        local: Option<SockAddr>,
        remote: Option<SockAddr>,
    },
    Pipe,
    Other,
}

#[derive(Debug, Clone)]
pub struct FdEntry {
    pub path: Option<String>,
    pub kind: FdKind,
    pub cloexec: bool,
    /// Entry event of the call that created it.
    pub opened_at: u64,
}

#[derive(Debug, Default)]
pub struct FdTable {
    procs: HashMap<Tid, HashMap<i32, FdEntry>>,
    tid_pid: HashMap<Tid, Tid>,
}

const O_CLOEXEC: u64 = 0o2000000;

/// Reads a NUL-terminated path argument from the input source.
pub fn input_path(inputs: &dyn InputSource, rec: &SyscallRecord, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let bytes = crate::inputs::lookup(inputs, rec, addr, 4096)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

impl FdTable {
    pub fn new() -> FdTable {
        FdTable::default()
    }

    pub fn get(&self, pid: Tid, fd: i32) -> Option<&FdEntry> {
        self.procs.get(&pid)?.get(&fd)
    }

    pub fn path(&self, pid: Tid, fd: i32) -> Option<&str> {
        self.get(pid, fd)?.path.as_deref()
    }

    pub fn observe(&mut self, tid: Tid, pid: Tid) {
        self.tid_pid.insert(tid, pid);
    }

    /// A new process inherits a copy of its parent's table.
    pub fn task_start(&mut self, tid: Tid, pid: Tid, parent: Tid, thread: bool) {
        self.observe(tid, pid);
        if thread {
            return;
        }
        let parent_pid = self.tid_pid.get(&parent).copied().unwrap_or(parent);
        if let Some(table) = self.procs.get(&parent_pid).cloned() {
            self.procs.insert(pid, table);
        }
    }

    fn insert(&mut self, pid: Tid, fd: i64, entry: FdEntry) {
        if let Ok(fd) = i32::try_from(fd) {
            self.procs.entry(pid).or_default().insert(fd, entry);
        }
    }

    /// Applies a finished syscall's effect on descriptors.
    pub fn update(&mut self, rec: &SyscallRecord, inputs: &dyn InputSource) {
        self.observe(rec.tid, rec.pid);
        let Some(ret) = rec.result else { return };
        if rec.errno().is_some() {
            return;
        }
        let a = rec.args;
        let name = syscall_model::name(rec.nr).unwrap_or("");
        let file = |path: Option<String>, cloexec: bool| FdEntry {
            path,
            kind: FdKind::File,
            cloexec,
            opened_at: rec.index,
        };
        match name {
            "open" | "creat" => {
                let p = input_path(inputs, rec, a[0]);
                self.insert(rec.pid, ret, file(p, a[1] & O_CLOEXEC != 0));
            }
            "openat" | "openat2" => {
                let p = input_path(inputs, rec, a[1]);
                let cloexec = name == "openat" && a[2] & O_CLOEXEC != 0;
                self.insert(rec.pid, ret, file(p, cloexec));
            }
            "memfd_create" => {
                let p = input_path(inputs, rec, a[0]).map(|n| format!("/memfd:{n}"));
                self.insert(rec.pid, ret, file(p, a[1] & 1 != 0));
            }
            "close" => {
                if let Some(t) = self.procs.get_mut(&rec.pid) {
                    t.remove(&(a[0] as i32));
                }
            }
            "dup" | "dup2" | "dup3" | "fcntl" => {
                if name == "fcntl" && a[1] != 0 && a[1] != 1030 {
                    return;
                }
                if let Some(mut e) = self.get(rec.pid, a[0] as i32).cloned() {
                    e.cloexec = (name == "dup3" && a[2] & O_CLOEXEC != 0) || a[1] == 1030;
                    self.insert(rec.pid, ret, e);
                }
            }
            "socket" => self.insert(
                rec.pid,
                ret,
                FdEntry {
                    path: None,
                    kind: FdKind::Socket {
                        domain: a[0],
                        stype: a[1] & 0xf,
                        local: None,
                        remote: None,
                    },
                    cloexec: a[1] & O_CLOEXEC != 0,
                    opened_at: rec.index,
                },
            ),
            "accept" | "accept4" => {
                let remote = rec.written(a[1], 128).and_then(parse_sockaddr);
                let parent = self.get(rec.pid, a[0] as i32).map(|e| e.kind.clone());
                let (domain, stype, local) = match parent {
                    Some(FdKind::Socket {
                        domain,
                        stype,
                        local,
                        ..
                    }) => (domain, stype, local),
                    _ => (0, 1, None),
                };
                self.insert(
                    rec.pid,
                    ret,
                    FdEntry {
                        path: None,
                        kind: FdKind::Socket {
                            domain,
                            stype,
                            local,
                            remote,
                        },
                        cloexec: false,
                        opened_at: rec.index,
                    },
                );
            }
            "connect" | "bind" | "getsockname" | "getpeername" => {
                let addr = if name == "connect" || name == "bind" {
                    crate::inputs::lookup(inputs, rec, a[1], a[2] as usize).and_then(parse_sockaddr)
                } else {
                    rec.written(a[1], 128).and_then(parse_sockaddr)
                };
                let Some(addr) = addr else { return };
                if let Some(FdKind::Socket { local, remote, .. }) = self
                    .procs
                    .get_mut(&rec.pid)
                    .and_then(|t| t.get_mut(&(a[0] as i32)))
                    .map(|e| &mut e.kind)
                {
                    if name == "connect" || name == "getpeername" {
                        *remote = Some(addr);
                    } else {
                        *local = Some(addr);
                    }
                }
            }
            "pipe" | "pipe2" | "socketpair" => {
                let at = if name == "socketpair" { a[3] } else { a[0] };
                if let Some((r, w)) = rec.written(at, 8).and_then(int_pair_values) {
                    for fd in [r, w] {
                        self.insert(
                            rec.pid,
                            i64::from(fd),
                            FdEntry {
                                path: None,
                                kind: FdKind::Pipe,
                                cloexec: false,
                                opened_at: rec.index,
                            },
                        );
                    }
                }
            }
            "mmap" => {
                if let Some(f) = rec.extra.as_ref().and_then(SyscallExtra::mapped_file) {
                    let fd = a[4] as i32;
                    if let Some(e) = self
                        .procs
                        .get_mut(&rec.pid)
                        .and_then(|t| t.get_mut(&fd))
                        .filter(|e| e.path.is_none())
                    {
                        e.path = Some(f.path.clone());
                    }
                }
            }
            "execve" | "execveat" => {
                if let Some(t) = self.procs.get_mut(&rec.pid) {
                    t.retain(|_, e| !e.cloexec);
                }
            }
            _ => {}
        }
    }
}
