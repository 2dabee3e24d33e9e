//! Per-process state every consumer needs while streaming: descriptor
//! table, process names, and the paths/addresses a syscall touched.

use std::collections::HashMap;

use trace::{RecordedTid, SyscallExtra};

use crate::decode::structs::{parse_sockaddr, SockAddr};
use crate::fds::{input_path, FdKind, FdTable};
use crate::filter::{EventView, ViewKind};
use crate::inputs::{lookup, InputSource};
use crate::pairing::{Item, SyscallRecord};
use syscall_model::decode::{arg_kinds, ArgKind};

pub struct Context<'a> {
    pub inputs: &'a dyn InputSource,
    pub fds: FdTable,
    comm: HashMap<RecordedTid, String>,
    /// The recorded command's name, for threads with none of their own yet.
    command: Option<String>,
    tid_pid: HashMap<RecordedTid, RecordedTid>,
}

/// Paths and socket addresses a syscall involves.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    pub paths: Vec<String>,
    pub addrs: Vec<SockAddr>,
}

fn base_name(s: &str) -> String {
    s.rsplit('/').next().unwrap_or(s).to_string()
}

impl<'a> Context<'a> {
    pub fn new(inputs: &'a dyn InputSource, command: &[String]) -> Context<'a> {
        Context {
            inputs,
            fds: FdTable::new(),
            comm: HashMap::new(),
            command: command.first().map(|c| base_name(c)),
            tid_pid: HashMap::new(),
        }
    }

    pub fn comm(&self, pid: RecordedTid) -> Option<&str> {
        self.comm
            .get(&pid)
            .or(self.command.as_ref())
            .map(String::as_str)
    }

    /// What `rec` touched, computed before [`Context::after`] so that a
    /// `close` still knows its path.
    pub fn touched(&self, rec: &SyscallRecord) -> Touched {
        let mut t = Touched::default();
        for (i, kind) in arg_kinds(rec.nr).iter().enumerate() {
            match kind {
                ArgKind::Path => {
                    // "" (AT_EMPTY_PATH) names the descriptor, not a path.
                    if let Some(p) =
                        input_path(self.inputs, rec, rec.args[i]).filter(|p| !p.is_empty())
                    {
                        t.paths.push(p);
                    }
                }
                ArgKind::Fd => {
                    if let Some(e) = self.fds.get(rec.pid, rec.args[i] as i32) {
                        if let Some(p) = &e.path {
                            t.paths.push(p.clone());
                        }
                        if let FdKind::Socket { local, remote, .. } = &e.kind {
                            t.addrs.extend(local.iter().chain(remote.iter()).cloned());
                        }
                    }
                }
                // Every address the call names, and the peer it learns
                // (its own address, from getsockname, is not the call's).
                ArgKind::PeerAddr(len) | ArgKind::LocalAddr(len) => {
                    let addr = lookup(self.inputs, rec, rec.args[i], rec.args[*len] as usize);
                    t.addrs.extend(addr.and_then(parse_sockaddr));
                }
                ArgKind::PeerAddrOut => {
                    t.addrs
                        .extend(rec.written(rec.args[i], 128).and_then(parse_sockaddr));
                }
                _ => {}
            }
        }
        if let Some(file) = rec.extra.as_ref().and_then(SyscallExtra::mapped_file) {
            t.paths.push(file.path.clone());
        }
        if let Some(SyscallExtra::Exec(info)) = &rec.extra {
            t.paths.push(info.exe.path.clone());
        }
        t.paths.dedup();
        t
    }

    /// Applies an item's effects (descriptors, process names).
    pub fn after(&mut self, item: &Item) {
        match item {
            Item::Syscall { record, .. } => {
                self.tid_pid.insert(record.tid, record.pid);
                self.fds.update(record, self.inputs);
                if let Some(SyscallExtra::Exec(info)) = &record.extra {
                    let name = info
                        .argv
                        .first()
                        .cloned()
                        .unwrap_or_else(|| info.exe.path.clone());
                    self.comm.insert(record.pid, base_name(&name));
                }
            }
            Item::TaskStart {
                tid,
                pid,
                parent,
                thread,
                ..
            } => {
                self.fds.task_start(*tid, *pid, *parent, *thread);
                let ppid = self.tid_pid.get(parent).copied().unwrap_or(*parent);
                if let Some(c) = self.comm(ppid).map(str::to_string) {
                    self.comm.entry(*pid).or_insert(c);
                }
                self.tid_pid.insert(*tid, *pid);
            }
            _ => {}
        }
    }

    /// The filter view of an item.
    pub fn view<'v>(&'v self, item: &'v Item, touched: &'v Touched) -> EventView<'v> {
        let kind = match item {
            Item::Unfinished(r) | Item::Syscall { record: r, .. } => ViewKind::Syscall(r),
            Item::Signal { signo, .. } => ViewKind::Signal(*signo),
            Item::TaskStart { .. } => ViewKind::TaskStart,
            Item::TaskExit { status, .. } => ViewKind::TaskExit(*status),
            Item::Preempt { .. } => ViewKind::Preempt,
            Item::Rdtsc { .. } => ViewKind::Other,
        };
        let (tid, pid) = match item {
            Item::Unfinished(r) | Item::Syscall { record: r, .. } => (r.tid, r.pid),
            Item::Signal { tid, pid, .. }
            | Item::TaskStart { tid, pid, .. }
            | Item::TaskExit { tid, pid, .. }
            | Item::Rdtsc { tid, pid, .. }
            | Item::Preempt { tid, pid, .. } => (*tid, *pid),
        };
        EventView {
            index: item.index(),
            pid,
            tid,
            kind,
            comm: self.comm(pid),
            paths: &touched.paths,
            addrs: &touched.addrs,
        }
    }
}
