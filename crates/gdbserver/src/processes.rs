//! One gdb inferior per recorded process.
//!
//! gdbstub 0.7 speaks gdb's multiprocess protocol, but it names every
//! thread `p1.TID`: all threads in one process. This layer sits between
//! gdbstub and the wire. In the answers that name threads, it puts each
//! thread's recorded process id in place of the 1 (`pPID.TID`), so gdb
//! makes an inferior of each process, with its own pid, executable and
//! memory. In gdb's requests it puts the 1 back. Recorded thread ids are
//! unique among the threads alive at one time, so the tid alone still
//! tells gdbstub which thread gdb means.

use gdbstub::conn::{Connection, ConnectionExt};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

/// The processes gdb can see: each live thread's process, and the process
/// gdb chose last with `Hg` (the one its memory and auxv reads are about).
#[derive(Debug, Default)]
pub struct Processes {
    process_of_thread: HashMap<u64, u64>,
    chosen: Option<u64>,
    /// Processes gdb no longer sees: it detached from them (after a fork,
    /// with `detach-on-fork`), or was told they ended. Going backwards
    /// does not bring them back: gdb has no way to see a process it saw
    /// end come back to life.
    gone: BTreeSet<u64>,
    /// Whether gdb said it takes fork events (`fork-events+`).
    client_follows_forks: bool,
    /// Whether packets still get `+` acknowledgements.
    acknowledging: bool,
    /// A process exit the next stop reply stands for: (pid, wait status).
    exit_to_report: Option<(u64, i32)>,
}

pub type SharedProcesses = Rc<RefCell<Processes>>;

impl Processes {
    /// Replaces the live threads with `threads`, as (tid, pid) pairs.
    pub fn set_threads(&mut self, threads: impl IntoIterator<Item = (u64, u64)>) {
        self.process_of_thread = threads.into_iter().collect();
    }

    pub fn gone(&self) -> impl Iterator<Item = u64> + '_ {
        self.gone.iter().copied()
    }

    pub fn is_gone(&self, pid: u64) -> bool {
        self.gone.contains(&pid)
    }

    /// Process `pid` was just made: gdb sees it from now on.
    pub fn born(&mut self, pid: u64) {
        self.gone.remove(&pid);
    }

    /// Makes the next stop reply the exit of process `pid` (`W` or `X`
    /// with its `process:` field), which gdbstub cannot send without
    /// ending the session.
    pub fn report_exit(&mut self, pid: u64, status: i32) {
        self.exit_to_report = Some((pid, status));
        self.gone.insert(pid);
    }

    /// The stop reply gdb gets for a process exit.
    fn exit_reply(pid: u64, status: i32) -> Vec<u8> {
        let reply = if libc::WIFSIGNALED(status) {
            format!("X{:02x};process:{pid:x}", libc::WTERMSIG(status))
        } else {
            format!("W{:02x};process:{pid:x}", libc::WEXITSTATUS(status))
        };
        reply.into_bytes()
    }

    pub fn client_follows_forks(&self) -> bool {
        self.client_follows_forks
    }

    /// Takes `D;PID` for a process while gdb still sees another one: gdb
    /// lets go of one side of a fork. Detaching from the last one is the
    /// end of the session, which gdbstub handles.
    fn detach(&mut self, request: &[u8]) -> bool {
        let Some(pid) = request
            .strip_prefix(b"D;")
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        else {
            return false;
        };
        let others_remain = self
            .process_of_thread
            .values()
            .any(|&p| p != pid && !self.gone.contains(&p));
        if others_remain {
            self.gone.insert(pid);
        }
        others_remain
    }

    /// The process gdb's last `Hg` chose, when it named one.
    pub fn chosen(&self) -> Option<u64> {
        self.chosen
    }

    /// A thread gdbstub has not been told of is a new process's first
    /// thread (a fork child), whose pid is its tid.
    fn process_of(&self, tid: u64) -> u64 {
        self.process_of_thread.get(&tid).copied().unwrap_or(tid)
    }

    /// The thread gdb means by "any thread of process `pid`": its main
    /// thread while that lives, else its lowest tid.
    fn any_thread_of(&self, pid: u64) -> Option<u64> {
        if self.process_of_thread.get(&pid) == Some(&pid) {
            return Some(pid);
        }
        self.process_of_thread
            .iter()
            .filter(|&(_, &p)| p == pid)
            .map(|(&t, _)| t)
            .min()
    }
}

/// One half of a thread id: a number, 0 (any) or -1 (all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    All,
    Number(u64),
}

impl Id {
    fn parse(text: &[u8]) -> Option<(Id, usize)> {
        if text.starts_with(b"-1") {
            return Some((Id::All, 2));
        }
        let digits = text.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let number = std::str::from_utf8(&text[..digits]).ok()?;
        u64::from_str_radix(number, 16)
            .ok()
            .map(|n| (Id::Number(n), digits))
    }

    fn write(self, out: &mut Vec<u8>) {
        match self {
            Id::All => out.extend_from_slice(b"-1"),
            Id::Number(n) => out.extend_from_slice(format!("{n:x}").as_bytes()),
        }
    }
}

/// Copies `payload`, replacing each `pPID.TID` thread id that starts at a
/// position `names_thread` accepts by what `rename` makes of it.
fn rename_thread_ids(
    payload: &[u8],
    names_thread: impl Fn(&[u8], usize) -> bool,
    mut rename: impl FnMut(Id, Id) -> (Id, Id),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 16);
    let mut i = 0;
    while i < payload.len() {
        if payload[i] == b'p' && names_thread(payload, i) {
            let parsed = Id::parse(&payload[i + 1..]).and_then(|(pid, pid_len)| {
                let dot = i + 1 + pid_len;
                (payload.get(dot) == Some(&b'.'))
                    .then_some(())
                    .and_then(|()| Id::parse(&payload[dot + 1..]))
                    .map(|(tid, tid_len)| (pid, tid, dot + 1 + tid_len))
            });
            if let Some((pid, tid, end)) = parsed {
                let (pid, tid) = rename(pid, tid);
                out.push(b'p');
                pid.write(&mut out);
                out.push(b'.');
                tid.write(&mut out);
                i = end;
                continue;
            }
        }
        out.push(payload[i]);
        i += 1;
    }
    out
}

/// Whether gdb's answer to `request` names threads (stop replies, thread
/// lists), so that its `p1.TID` ids need their processes.
fn answer_names_threads(request: &[u8]) -> bool {
    const NAMING: [&[u8]; 7] = [
        b"vCont;",
        b"qC",
        b"qfThreadInfo",
        b"qsThreadInfo",
        b"qXfer:threads:read",
        b"bc",
        b"bs",
    ];
    matches!(request, [b'?' | b'c' | b'C' | b's' | b'S', ..])
        || NAMING.iter().any(|prefix| request.starts_with(prefix))
}

/// gdbstub's answer as gdb should see it: each thread in its process.
fn to_gdb(answer: &[u8], processes: &Processes) -> Vec<u8> {
    let names_thread = |payload: &[u8], at: usize| {
        at == 0
            || matches!(payload[at - 1], b':' | b';' | b',')
            || payload[..at].ends_with(b"id=\"")
            || (at == 1 && payload[0] == b'm')
            || (at == 2 && payload.starts_with(b"QC"))
    };
    rename_thread_ids(answer, names_thread, |pid, tid| match (pid, tid) {
        (Id::Number(1), Id::Number(t)) if t != 0 => (Id::Number(processes.process_of(t)), tid),
        other => other,
    })
}

/// gdb's request as gdbstub should see it: one process, pid 1. `Hg`
/// remembers the process gdb chose; "any thread of process P" becomes one
/// of P's threads.
fn from_gdb(request: &[u8], processes: &mut Processes) -> Vec<u8> {
    let at: &[usize] = if request.starts_with(b"Hg") || request.starts_with(b"Hc") {
        &[2]
    } else if request.starts_with(b"T") {
        &[1]
    } else if request.starts_with(b"vCont;") {
        &[]
    } else {
        return request.to_vec();
    };
    let choosing = request.starts_with(b"Hg");
    let names_thread =
        |payload: &[u8], i: usize| at.contains(&i) || (at.is_empty() && payload[i - 1] == b':');
    rename_thread_ids(request, names_thread, |pid, tid| {
        let tid = match (pid, tid) {
            (Id::Number(p), Id::Number(0)) => {
                processes.any_thread_of(p).map_or(Id::Number(0), Id::Number)
            }
            _ => tid,
        };
        if choosing {
            processes.chosen = match (pid, tid) {
                (Id::Number(p), _) if p != 0 => Some(p),
                (_, Id::Number(t)) if t != 0 => Some(processes.process_of(t)),
                _ => processes.chosen,
            };
        }
        match pid {
            Id::All => (Id::All, tid),
            Id::Number(_) => (Id::Number(1), tid),
        }
    })
}

/// Undoes run-length encoding (`X*n`: n - 29 more of X), leaving escaped
/// bytes (`}X`) as they are.
fn expand_runs(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'}' if i + 1 < payload.len() => {
                out.extend_from_slice(&payload[i..i + 2]);
                i += 2;
            }
            b'*' if i + 1 < payload.len() && !out.is_empty() => {
                let repeated = *out.last().expect("checked");
                let count = payload[i + 1].saturating_sub(29) as usize;
                out.extend(std::iter::repeat_n(repeated, count));
                i += 2;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let sum = payload.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let mut packet = Vec::with_capacity(payload.len() + 4);
    packet.push(b'$');
    packet.extend_from_slice(payload);
    packet.extend_from_slice(format!("#{sum:02x}").as_bytes());
    packet
}

/// A piece of the byte stream: a byte outside packets (an ack, Ctrl-C), or
/// a whole packet's payload.
enum Piece<'a> {
    Byte(u8),
    Packet(&'a [u8]),
}

/// Splits `bytes` into pieces, in order. Returns how many bytes were
/// consumed: an unfinished packet at the end is left.
fn split_packets<'a>(bytes: &'a [u8], mut piece: impl FnMut(Piece<'a>)) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            piece(Piece::Byte(bytes[i]));
            i += 1;
            continue;
        }
        let Some(hash) = bytes[i..].iter().position(|&b| b == b'#') else {
            return i;
        };
        let end = i + hash + 3;
        if end > bytes.len() {
            return i;
        }
        piece(Piece::Packet(&bytes[i + 1..i + hash]));
        i = end;
    }
    i
}

/// A connection that shows gdb one inferior per recorded process.
pub struct PerProcess<C> {
    inner: C,
    processes: SharedProcesses,
    /// gdbstub's bytes since the last flush.
    outgoing: Vec<u8>,
    /// gdb's bytes, renamed, not yet read by gdbstub.
    incoming: VecDeque<u8>,
    /// Whether the answer to gdb's last request names threads.
    answer_names_threads: bool,
}

impl<C> PerProcess<C> {
    pub fn new(inner: C, processes: SharedProcesses) -> PerProcess<C> {
        PerProcess {
            inner,
            processes,
            outgoing: Vec::new(),
            incoming: VecDeque::new(),
            answer_names_threads: false,
        }
    }
}

impl<C: Connection<Error = std::io::Error>> Connection for PerProcess<C> {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.outgoing.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.outgoing.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        let bytes = std::mem::take(&mut self.outgoing);
        let mut wire = Vec::with_capacity(bytes.len() + 16);
        let mut processes = self.processes.borrow_mut();
        let renaming = self.answer_names_threads;
        tracing::trace!(renaming, out = %String::from_utf8_lossy(&bytes), "gdb answer");
        let consumed = split_packets(&bytes, |piece| match piece {
            Piece::Byte(byte) => wire.push(byte),
            Piece::Packet(payload) if renaming && payload.starts_with(b"T") => {
                match processes.exit_to_report.take() {
                    Some((pid, status)) => wire.extend(framed(&Processes::exit_reply(pid, status))),
                    None => wire.extend(framed(&to_gdb(&expand_runs(payload), &processes))),
                }
            }
            Piece::Packet(payload) if renaming => {
                wire.extend(framed(&to_gdb(&expand_runs(payload), &processes)))
            }
            Piece::Packet(payload) => wire.extend(framed(payload)),
        });
        drop(processes);
        self.outgoing = bytes[consumed..].to_vec();
        self.inner.write_all(&wire)?;
        self.inner.flush()
    }

    fn on_session_start(&mut self) -> Result<(), Self::Error> {
        self.inner.on_session_start()
    }
}

impl<C: ConnectionExt<Error = std::io::Error>> ConnectionExt for PerProcess<C> {
    fn read(&mut self) -> Result<u8, Self::Error> {
        if let Some(byte) = self.incoming.pop_front() {
            return Ok(byte);
        }
        let first = self.inner.read()?;
        if first != b'$' {
            return Ok(first);
        }
        let mut payload = Vec::new();
        loop {
            match self.inner.read()? {
                b'#' => break,
                byte => payload.push(byte),
            }
        }
        let checksum = [self.inner.read()?, self.inner.read()?];
        if payload.starts_with(b"qSupported:") {
            let mut processes = self.processes.borrow_mut();
            processes.client_follows_forks = payload
                .split(|&b| b == b';' || b == b':')
                .any(|feature| feature == b"fork-events+");
            processes.acknowledging = true;
        }
        if payload == b"QStartNoAckMode" {
            self.processes.borrow_mut().acknowledging = false;
        }
        if self.processes.borrow_mut().detach(&payload) {
            // Answered here: gdbstub would end the whole session.
            let acknowledging = self.processes.borrow().acknowledging;
            if acknowledging {
                self.inner.write(b'+')?;
            }
            self.inner.write_all(&framed(b"OK"))?;
            self.inner.flush()?;
            return self.read();
        }
        self.answer_names_threads = answer_names_threads(&payload);
        tracing::trace!(request = %String::from_utf8_lossy(&payload), "gdb request");
        let renamed = from_gdb(&payload, &mut self.processes.borrow_mut());
        if renamed == payload {
            self.incoming.extend(&payload);
            self.incoming.push_back(b'#');
            self.incoming.extend(checksum);
        } else {
            self.incoming.extend(framed(&renamed).into_iter().skip(1));
        }
        Ok(b'$')
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        match self.incoming.front() {
            Some(&byte) => Ok(Some(byte)),
            None => self.inner.peek(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_processes() -> Processes {
        let mut processes = Processes::default();
        // Process 0x100 with threads 0x100 and 0x102; its child 0x105.
        processes.set_threads([(0x100, 0x100), (0x102, 0x100), (0x105, 0x105)]);
        processes
    }

    #[test]
    fn answers_name_each_threads_process() {
        let processes = two_processes();
        let cases: [(&[u8], &[u8]); 5] = [
            (b"T05thread:p01.102;06:00;", b"T05thread:p100.102;06:00;"),
            (b"mp1.100,p1.102,p1.105", b"mp100.100,p100.102,p105.105"),
            (b"QCp1.105", b"QCp105.105"),
            (
                b"l<threads><thread id=\"p1.105\" name=\"p1.7\"/></threads>",
                b"l<threads><thread id=\"p105.105\" name=\"p1.7\"/></threads>",
            ),
            // A fork's child, not yet among the live threads.
            (
                b"T05fork:p1.1a0;thread:p1.100;",
                b"T05fork:p1a0.1a0;thread:p100.100;",
            ),
        ];
        for (answer, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&to_gdb(answer, &processes)),
                String::from_utf8_lossy(expected)
            );
        }
    }

    #[test]
    fn requests_go_back_to_one_process() {
        let mut processes = two_processes();
        let cases: [(&[u8], &[u8]); 6] = [
            (b"Hgp105.105", b"Hgp1.105"),
            (b"Hgp100.0", b"Hgp1.100"),
            (b"Hcp-1.-1", b"Hcp-1.-1"),
            (b"Tp100.102", b"Tp1.102"),
            (b"vCont;s:p100.102;c:p100.-1", b"vCont;s:p1.102;c:p1.-1"),
            (b"m7fff0000,8", b"m7fff0000,8"),
        ];
        for (request, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&from_gdb(request, &mut processes)),
                String::from_utf8_lossy(expected)
            );
        }
        assert_eq!(processes.chosen(), Some(0x100));
        from_gdb(b"Hgp105.105", &mut processes);
        assert_eq!(processes.chosen(), Some(0x105));
    }

    #[test]
    fn any_thread_of_a_process_whose_main_thread_ended() {
        let mut processes = Processes::default();
        processes.set_threads([(0x103, 0x100), (0x102, 0x100)]);
        assert_eq!(from_gdb(b"Hgp100.0", &mut processes), b"Hgp1.102");
    }

    #[test]
    fn runs_expand_and_escapes_stay() {
        assert_eq!(expand_runs(b"p1.10* "), b"p1.10000");
        assert_eq!(expand_runs(b"a}*b"), b"a}*b");
    }

    #[test]
    fn only_thread_naming_answers_are_renamed() {
        assert!(answer_names_threads(b"vCont;c:p1.-1"));
        assert!(answer_names_threads(b"?"));
        assert!(answer_names_threads(b"qXfer:threads:read::0,1000"));
        assert!(!answer_names_threads(b"qXfer:exec-file:read:100:0,1000"));
        assert!(!answer_names_threads(b"m400000,10"));
    }

    #[test]
    fn packets_split_from_acks_and_unfinished_tail() {
        let mut outside = Vec::new();
        let mut packets = Vec::new();
        let consumed = split_packets(b"+$OK#9a+$T05", |piece| match piece {
            Piece::Byte(b) => outside.push(b),
            Piece::Packet(p) => packets.push(p.to_vec()),
        });
        assert_eq!(outside, b"++");
        assert_eq!(packets, vec![b"OK".to_vec()]);
        assert_eq!(consumed, 8);
    }
}
