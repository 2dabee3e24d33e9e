//! What each file descriptor of each process refers to, followed through
//! the recording: `-y` in dump, file and network lists in extract and the
//! reports.
//!
//! Paths come from the call that created the descriptor when its input
//! memory is known (an [`InputSource`] that has it), and otherwise from
//! later evidence: a file-backed mmap of the descriptor names the file.

use std::collections::HashMap;

use syscall_model::decode::ArgKind;
use syscall_model::{Activity, FdEffect, Returns, Syscall, Sysno};
use trace::{RecordedTid, SyscallExtra};

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
    procs: HashMap<RecordedTid, HashMap<i32, FdEntry>>,
    tid_pid: HashMap<RecordedTid, RecordedTid>,
}

/// Reads a NUL-terminated path argument from the input source.
pub fn input_path(inputs: &dyn InputSource, rec: &SyscallRecord, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let bytes = crate::inputs::lookup(inputs, rec, addr, 4096)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

/// An entry with no path, made by the call `rec`.
fn anonymous(rec: &SyscallRecord, kind: FdKind, cloexec: bool) -> FdEntry {
    FdEntry {
        path: None,
        kind,
        cloexec,
        opened_at: rec.index,
    }
}

impl FdTable {
    pub fn new() -> FdTable {
        FdTable::default()
    }

    pub fn get(&self, pid: RecordedTid, fd: i32) -> Option<&FdEntry> {
        self.procs.get(&pid)?.get(&fd)
    }

    pub fn path(&self, pid: RecordedTid, fd: i32) -> Option<&str> {
        self.get(pid, fd)?.path.as_deref()
    }

    pub fn observe(&mut self, tid: RecordedTid, pid: RecordedTid) {
        self.tid_pid.insert(tid, pid);
    }

    /// A new process inherits a copy of its parent's table.
    pub fn task_start(
        &mut self,
        tid: RecordedTid,
        pid: RecordedTid,
        parent: RecordedTid,
        thread: bool,
    ) {
        self.observe(tid, pid);
        if thread {
            return;
        }
        let parent_pid = self.tid_pid.get(&parent).copied().unwrap_or(parent);
        if let Some(table) = self.procs.get(&parent_pid).cloned() {
            self.procs.insert(pid, table);
        }
    }

    fn insert(&mut self, pid: RecordedTid, fd: i64, entry: FdEntry) {
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
        let Some(row) = syscall_model::syscall(rec.nr) else {
            return;
        };
        let cloexec = row.new_fds_close_on_exec(&a);
        match row.fd_effect {
            FdEffect::Closes => {
                if let Some(t) = self.procs.get_mut(&rec.pid) {
                    t.remove(&(a[0] as i32));
                }
                return;
            }
            FdEffect::ClosesRange => return self.close_range(rec.pid, a),
            FdEffect::Duplicates | FdEffect::DuplicatesWhen(_) => {
                if row.duplicates(&a) {
                    if let Some(mut e) = self.get(rec.pid, a[0] as i32).cloned() {
                        e.cloexec = cloexec;
                        self.insert(rec.pid, ret, e);
                    }
                }
                return;
            }
            FdEffect::Pair(at) => {
                if let Some((r, w)) = rec.written(a[at], 8).and_then(int_pair_values) {
                    for fd in [r, w] {
                        let pipe = anonymous(rec, FdKind::Pipe, cloexec);
                        self.insert(rec.pid, i64::from(fd), pipe);
                    }
                }
                return;
            }
            FdEffect::None => {}
        }
        match row.activity {
            Activity::Open => {
                let path = row.arg_of_kind(ArgKind::Path);
                let entry = FdEntry {
                    path: path.and_then(|i| input_path(inputs, rec, a[i])),
                    kind: FdKind::File,
                    cloexec,
                    opened_at: rec.index,
                };
                self.insert(rec.pid, ret, entry);
            }
            Activity::Accept => self.accepted(rec, ret),
            Activity::Connect | Activity::Bind | Activity::Inspect => {
                self.socket_address(rec, row, inputs)
            }
            Activity::Map => self.mapped(rec),
            Activity::Exec => {
                if let Some(t) = self.procs.get_mut(&rec.pid) {
                    t.retain(|_, e| !e.cloexec);
                }
            }
            // A socket's kind is in its arguments; a memfd's name is not a
            // path.
            _ if rec.nr == Sysno::socket.id() as u64 => {
                let kind = FdKind::Socket {
                    domain: a[0],
                    stype: a[1] & 0xf,
                    local: None,
                    remote: None,
                };
                self.insert(rec.pid, ret, anonymous(rec, kind, cloexec));
            }
            _ if rec.nr == Sysno::memfd_create.id() as u64 => {
                let entry = FdEntry {
                    path: input_path(inputs, rec, a[0]).map(|n| format!("/memfd:{n}")),
                    kind: FdKind::File,
                    cloexec,
                    opened_at: rec.index,
                };
                self.insert(rec.pid, ret, entry);
            }
            // Every other new descriptor (eventfd, timerfd, epoll, pidfd,
            // ...) is followed without a path, so that dup, close and exec
            // treat it as they would any other.
            _ if row.returns == Returns::Fd => {
                self.insert(rec.pid, ret, anonymous(rec, FdKind::Other, cloexec))
            }
            _ => {}
        }
    }

    /// `close_range(first, last, flags)`: closes the range, or with
    /// CLOSE_RANGE_CLOEXEC marks it close-on-exec.
    fn close_range(&mut self, pid: RecordedTid, a: [u64; 6]) {
        const CLOSE_RANGE_CLOEXEC: u64 = 4;
        let (first, last) = (a[0] as u32, a[1] as u32);
        let Some(t) = self.procs.get_mut(&pid) else {
            return;
        };
        let in_range = |fd: &i32| (first..=last).contains(&(*fd as u32));
        if a[2] & CLOSE_RANGE_CLOEXEC != 0 {
            t.iter_mut()
                .filter(|(fd, _)| in_range(fd))
                .for_each(|(_, e)| e.cloexec = true);
        } else {
            t.retain(|fd, _| !in_range(fd));
        }
    }

    /// An accepted connection: the listening socket's kind and address,
    /// and the peer the kernel wrote.
    fn accepted(&mut self, rec: &SyscallRecord, ret: i64) {
        let a = rec.args;
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
        let kind = FdKind::Socket {
            domain,
            stype,
            local,
            remote,
        };
        self.insert(rec.pid, ret, anonymous(rec, kind, false));
    }

    /// The address connect or bind gives a socket, or getsockname or
    /// getpeername learns: its own end's or its peer's.
    fn socket_address(&mut self, rec: &SyscallRecord, row: &Syscall, inputs: &dyn InputSource) {
        let a = rec.args;
        let Some((i, kind)) = row.args.iter().enumerate().find(|(_, k)| {
            matches!(
                k,
                ArgKind::PeerAddr(_)
                    | ArgKind::LocalAddr(_)
                    | ArgKind::PeerAddrOut
                    | ArgKind::LocalAddrOut
            )
        }) else {
            return;
        };
        let addr = match *kind {
            ArgKind::PeerAddr(len) | ArgKind::LocalAddr(len) => {
                crate::inputs::lookup(inputs, rec, a[i], a[len] as usize)
            }
            _ => rec.written(a[i], 128),
        };
        let Some(addr) = addr.and_then(parse_sockaddr) else {
            return;
        };
        if let Some(FdKind::Socket { local, remote, .. }) = self
            .procs
            .get_mut(&rec.pid)
            .and_then(|t| t.get_mut(&(a[0] as i32)))
            .map(|e| &mut e.kind)
        {
            if matches!(kind, ArgKind::PeerAddr(_) | ArgKind::PeerAddrOut) {
                *remote = Some(addr);
            } else {
                *local = Some(addr);
            }
        }
    }

    /// A file-backed mmap names the file behind a descriptor whose path
    /// was not known.
    fn mapped(&mut self, rec: &SyscallRecord) {
        let Some(f) = rec.extra.as_ref().and_then(SyscallExtra::mapped_file) else {
            return;
        };
        let fd = rec.args[4] as i32;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::NoInputs;

    fn call(index: u64, nr: i64, args: [u64; 6], result: i64) -> SyscallRecord {
        SyscallRecord::returned(index, nr, args, result)
    }

    #[test]
    fn every_call_that_returns_a_descriptor_is_followed() {
        let mut table = FdTable::new();
        table.update(&call(0, libc::SYS_eventfd2, [0; 6], 3), &NoInputs);
        table.update(
            &call(2, libc::SYS_timerfd_create, [1, 0, 0, 0, 0, 0], 4),
            &NoInputs,
        );
        assert_eq!(
            table.get(RecordedTid(7), 3).map(|e| &e.kind),
            Some(&FdKind::Other)
        );
        assert_eq!(table.get(RecordedTid(7), 4).map(|e| e.opened_at), Some(2));
        // A failed call opens nothing.
        table.update(&call(4, libc::SYS_eventfd2, [0; 6], -24), &NoInputs);
        assert!(table.get(RecordedTid(7), -24).is_none());
    }

    #[test]
    fn close_range_closes_or_marks_close_on_exec() {
        let mut table = FdTable::new();
        for fd in 3..8 {
            table.update(&call(0, libc::SYS_eventfd2, [0; 6], fd), &NoInputs);
        }
        table.update(
            &call(2, libc::SYS_close_range, [4, 5, 0, 0, 0, 0], 0),
            &NoInputs,
        );
        let open: Vec<i32> = (3..8)
            .filter(|fd| table.get(RecordedTid(7), *fd).is_some())
            .collect();
        assert_eq!(open, [3, 6, 7]);
        // CLOSE_RANGE_CLOEXEC, then an exec closes them.
        table.update(
            &call(
                4,
                libc::SYS_close_range,
                [6, u32::MAX as u64, 4, 0, 0, 0],
                0,
            ),
            &NoInputs,
        );
        table.update(&call(6, libc::SYS_execve, [0; 6], 0), &NoInputs);
        let open: Vec<i32> = (3..8)
            .filter(|fd| table.get(RecordedTid(7), *fd).is_some())
            .collect();
        assert_eq!(open, [3]);
    }

    #[test]
    fn dup3_onto_a_high_descriptor_keeps_its_own_flags() {
        let mut table = FdTable::new();
        table.update(&call(0, libc::SYS_eventfd2, [0; 6], 3), &NoInputs);
        // newfd 1030 is F_DUPFD_CLOEXEC's number, but this is dup3.
        table.update(
            &call(2, libc::SYS_dup3, [3, 1030, 0, 0, 0, 0], 1030),
            &NoInputs,
        );
        assert_eq!(
            table.get(RecordedTid(7), 1030).map(|e| e.cloexec),
            Some(false)
        );
        table.update(
            &call(4, libc::SYS_fcntl, [3, 1030, 10, 0, 0, 0], 10),
            &NoInputs,
        );
        assert_eq!(table.get(RecordedTid(7), 10).map(|e| e.cloexec), Some(true));
    }
}
