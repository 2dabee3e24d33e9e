//! The memory a syscall *reads* at entry: path strings, buffers it sends,
//! socket addresses, argv, new signal actions, timeouts.
//!
//! The recorder stores these bytes so that the recording can be shown the way
//! strace shows a live run (`openat(AT_FDCWD, "/etc/hostname", ...)`), and
//! replay compares them with what the replayed program passes, which catches
//! a divergence at the first wrong argument instead of much later.
//!
//! Buffers are capped: the trace keeps at most [`INPUT_BUFFER_CAP`] bytes of
//! any one buffer, enough for display and for divergence checks.

use crate::decode::ArgKind;
use crate::row::Args;
use crate::{MemRange, MemoryReader};
use libc as l;

/// Largest prefix of a sent buffer kept in the trace.
pub const INPUT_BUFFER_CAP: u64 = 4096;
/// Longest path or string kept (PATH_MAX).
const MAX_STRING: u64 = 4096;
/// Most argv entries kept for exec.
const MAX_ARGV: u64 = 256;
/// Most iovecs followed for writev/sendmsg.
const MAX_IOVECS: u64 = 64;

/// Input ranges of syscall `nr` called with `args`. Memory that cannot be
/// read (a bad pointer the kernel will reject with EFAULT) is skipped: the
/// syscall's result says what happened.
pub fn inputs(nr: u64, args: &Args, mem: &dyn MemoryReader) -> Vec<MemRange> {
    let mut out = Vec::new();
    let Some(row) = crate::syscall(nr) else {
        return out;
    };
    for (i, kind) in row.args.iter().enumerate() {
        match *kind {
            ArgKind::Path | ArgKind::Str => push_string(&mut out, args[i], mem),
            ArgKind::PeerAddr(len) | ArgKind::LocalAddr(len) => {
                push_sockaddr(&mut out, args[i], args[len], mem)
            }
            ArgKind::IovecsIn(count) => push_iovecs(&mut out, args[i], args[count], mem),
            _ => {}
        }
    }
    if let Some(reads) = row.reads {
        reads(args, mem, &mut out);
    }
    out.retain(|r| r.addr != 0 && r.len != 0);
    out
}

/// The buffer `write`, `pwrite64` and `sendto` send.
pub(crate) fn sent_buffer(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], args[2].min(INPUT_BUFFER_CAP));
}

/// Only the iovec array: the buffers are outputs. Kept so that the
/// recording can show readv's iovecs the way strace does.
pub(crate) fn readv(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], args[2].min(MAX_IOVECS) * 16);
}

pub(crate) fn sendmsg(args: &Args, mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    // struct msghdr: name, namelen, iov, iovlen, control, controllen, flags.
    if let Ok(hdr) = mem.read_bytes(args[1], 56) {
        push(out, args[1], 56);
        let name = u64_at(&hdr, 0);
        let namelen = u64_at(&hdr, 8) & 0xffff_ffff;
        push_sockaddr(out, name, namelen, mem);
        push_iovecs(out, u64_at(&hdr, 16), u64_at(&hdr, 24), mem);
    }
}

/// `struct clone_args`, as far as the kernel reads it (the size argument),
/// kept for the dump: strace shows every field.
pub(crate) fn clone3(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    const CLONE_ARGS_SIZE_VER2: u64 = 88;
    push(out, args[0], args[1].min(CLONE_ARGS_SIZE_VER2));
}

/// The name `PR_SET_NAME` gives (at most 16 bytes), for the dump.
pub(crate) fn prctl(args: &Args, mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    const PR_SET_NAME: u64 = 15;
    const TASK_COMM_LEN: u64 = 16;
    if args[0] == PR_SET_NAME {
        let len = string_len(args[1], mem).unwrap_or(TASK_COMM_LEN);
        push(out, args[1], len.min(TASK_COMM_LEN));
    }
}

/// The new alternate stack (`stack_t`).
pub(crate) fn sigaltstack(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[0], 24);
}

/// capget's header (version, pid).
pub(crate) fn capget(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[0], 8);
}

/// capset's header and the sets it installs (two structs of three words
/// from version 2 on; reading 24 bytes covers version 1's one too).
pub(crate) fn capset(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[0], 8);
    push(out, args[1], 24);
}

/// The `struct epoll_event` an add or a modify reads.
pub(crate) fn epoll_ctl(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    const EPOLL_CTL_DEL: u64 = 2;
    const EPOLL_EVENT_SIZE: u64 = 12;
    if args[1] != EPOLL_CTL_DEL {
        push(out, args[3], EPOLL_EVENT_SIZE);
    }
}

pub(crate) fn execve(args: &Args, mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push_string_array(out, args[1], mem);
    push_pointer_array(out, args[2], mem);
}

pub(crate) fn execveat(args: &Args, mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push_string_array(out, args[2], mem);
    push_pointer_array(out, args[3], mem);
}

/// The new action (`struct kernel_sigaction`).
pub(crate) fn rt_sigaction(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], 32);
}

pub(crate) fn rt_sigprocmask(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], args[3].min(128));
}

/// The requested `timespec`.
pub(crate) fn nanosleep(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[0], 16);
}

/// The new limit `prlimit64` sets.
pub(crate) fn prlimit64(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[2], 16);
}

/// The limit `setrlimit` sets.
pub(crate) fn setrlimit(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], 16);
}

pub(crate) fn clock_nanosleep(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[2], 16);
}

/// The new `itimerval`.
pub(crate) fn setitimer(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[1], 32);
}

/// The new `itimerspec` of `timer_settime` and `timerfd_settime`.
pub(crate) fn timer_settime(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[2], 32);
}

/// The `pollfd` array of `poll` and `ppoll`.
pub(crate) fn poll(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[0], args[1].min(1024) * 8);
}

/// `struct open_how`.
pub(crate) fn openat2(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[2], args[3].min(64));
}

/// The option value.
pub(crate) fn setsockopt(args: &Args, _mem: &dyn MemoryReader, out: &mut Vec<MemRange>) {
    push(out, args[3], args[4].min(256));
}

/// A socket address of `len` bytes, as far as the kernel reads it: a
/// pathname AF_UNIX address ends at the NUL after its path. The rest of
/// `sockaddr_un` is padding that programs leave uninitialised (glibc's
/// nscd client does), holding whatever the stack held, such as vector
/// registers a lazy PLT binding saved there, which need not be the same
/// in replay; comparing it reported divergences that were none.
fn push_sockaddr(out: &mut Vec<MemRange>, addr: u64, len: u64, mem: &dyn MemoryReader) {
    let len = len.min(128);
    let unix_path_len = mem.read_bytes(addr, len as usize).ok().and_then(|b| {
        let family = u16::from_le_bytes(b.get(..2)?.try_into().ok()?);
        let path = b.get(2..)?;
        // An abstract address (leading NUL) uses every byte of `len`.
        let named = family == l::AF_UNIX as u16 && path.first().is_some_and(|&c| c != 0);
        let nul = path.iter().position(|&c| c == 0)?;
        named.then_some(2 + nul as u64 + 1)
    });
    push(out, addr, unix_path_len.unwrap_or(len));
}

fn push(out: &mut Vec<MemRange>, addr: u64, len: u64) {
    if addr != 0 && len != 0 {
        out.push(MemRange { addr, len });
    }
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes
        .get(offset..offset + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// Length of the NUL-terminated string at `addr` including its NUL, reading
/// page by page so that a string ending just before an unmapped page works.
fn string_len(addr: u64, mem: &dyn MemoryReader) -> Option<u64> {
    let mut len = 0u64;
    while len < MAX_STRING {
        let cur = addr.checked_add(len)?;
        let chunk = (4096 - cur % 4096).min(256).min(MAX_STRING - len);
        let bytes = mem.read_bytes(cur, chunk as usize).ok()?;
        if let Some(pos) = bytes.iter().position(|&b| b == 0) {
            return Some(len + pos as u64 + 1);
        }
        len += chunk;
    }
    Some(MAX_STRING)
}

fn push_string(out: &mut Vec<MemRange>, addr: u64, mem: &dyn MemoryReader) {
    if addr == 0 {
        return;
    }
    if let Some(len) = string_len(addr, mem) {
        push(out, addr, len);
    }
}

fn push_string_array(out: &mut Vec<MemRange>, array: u64, mem: &dyn MemoryReader) {
    for ptr in push_pointer_array(out, array, mem) {
        push_string(out, ptr, mem);
    }
}

/// A NULL-terminated array of pointers (exec's envp: strace counts its
/// entries), without what they point to. Returns the pointers.
fn push_pointer_array(out: &mut Vec<MemRange>, array: u64, mem: &dyn MemoryReader) -> Vec<u64> {
    if array == 0 {
        return Vec::new();
    }
    // The pointers a page at a time (a read apiece was two /proc reads per
    // argument), stopping at the page end in case the next is unmapped.
    let mut pointers = Vec::new();
    let mut cursor = array;
    'array: while (pointers.len() as u64) < MAX_ARGV {
        let words = ((4096 - cursor % 4096) / 8)
            .max(1)
            .min(MAX_ARGV - pointers.len() as u64);
        let Ok(block) = mem.read_bytes(cursor, (words * 8) as usize) else {
            break;
        };
        for word in block.chunks_exact(8) {
            let ptr = u64_at(word, 0);
            pointers.push(ptr);
            if ptr == 0 {
                break 'array;
            }
        }
        cursor += words * 8;
    }
    push(out, array, 8 * pointers.len() as u64);
    pointers
}

fn push_iovecs(out: &mut Vec<MemRange>, iov: u64, count: u64, mem: &dyn MemoryReader) {
    let count = count.min(MAX_IOVECS);
    let Ok(table) = mem.read_bytes(iov, (count * 16) as usize) else {
        return;
    };
    push(out, iov, count * 16);
    let mut budget = INPUT_BUFFER_CAP;
    for entry in table.chunks_exact(16) {
        if budget == 0 {
            break;
        }
        let len = u64_at(entry, 8).min(budget);
        push(out, u64_at(entry, 0), len);
        budget -= len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryError;
    use std::collections::BTreeMap;

    /// Flat fake memory: one byte per address in a map.
    struct Fake(BTreeMap<u64, u8>);

    impl Fake {
        fn with(items: &[(u64, &[u8])]) -> Fake {
            let mut m = BTreeMap::new();
            for (addr, bytes) in items {
                for (i, b) in bytes.iter().enumerate() {
                    m.insert(addr + i as u64, *b);
                }
            }
            Fake(m)
        }
    }

    /// Like real memory, readability is per page: a page holding any
    /// defined byte is mapped, and its other bytes read as zero.
    impl MemoryReader for Fake {
        fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
            let mapped = |a: u64| self.0.range(a & !4095..(a & !4095) + 4096).next().is_some();
            (0..len as u64)
                .map(|i| mapped(addr + i).then(|| self.0.get(&(addr + i)).copied().unwrap_or(0)))
                .collect::<Option<Vec<u8>>>()
                .ok_or(MemoryError {
                    addr,
                    len,
                    detail: "unmapped".into(),
                })
        }
    }

    #[test]
    fn openat_path_is_an_input() {
        let mem = Fake::with(&[(0x1000, b"/etc/hostname\0")]);
        let args = [(-100i64) as u64, 0x1000, 0, 0, 0, 0];
        let r = inputs(l::SYS_openat as u64, &args, &mem);
        assert_eq!(
            r,
            vec![MemRange {
                addr: 0x1000,
                len: 14
            }]
        );
    }

    #[test]
    fn unix_socket_address_ends_at_its_path_but_others_keep_their_length() {
        let mut named = vec![1u8, 0];
        named.extend_from_slice(b"/var/run/nscd/socket\0");
        named.extend_from_slice(&[0x25; 20]);
        let abstract_name = [1u8, 0, 0, b'x', b'y', 0, 0x25, 0x25];
        let inet = [
            2u8, 0, 0, 80, 127, 0, 0, 1, 0x25, 0x25, 0x25, 0x25, 0x25, 0x25, 0x25, 0x25,
        ];
        let mem = Fake::with(&[(0x1000, &named), (0x2000, &abstract_name), (0x3000, &inet)]);
        let connect =
            |addr: u64, len: u64| inputs(l::SYS_connect as u64, &[3, addr, len, 0, 0, 0], &mem);
        assert_eq!(
            connect(0x1000, 110),
            vec![MemRange {
                addr: 0x1000,
                len: 23
            }]
        );
        assert_eq!(
            connect(0x2000, 8),
            vec![MemRange {
                addr: 0x2000,
                len: 8
            }]
        );
        assert_eq!(
            connect(0x3000, 16),
            vec![MemRange {
                addr: 0x3000,
                len: 16
            }]
        );
    }

    #[test]
    fn write_buffer_is_capped() {
        let mem = Fake::with(&[]);
        let r = inputs(l::SYS_write as u64, &[1, 0x2000, 1 << 20, 0, 0, 0], &mem);
        assert_eq!(
            r,
            vec![MemRange {
                addr: 0x2000,
                len: INPUT_BUFFER_CAP
            }]
        );
    }

    #[test]
    fn execve_argv_array_and_strings() {
        let mut argv = Vec::new();
        argv.extend_from_slice(&0x3000u64.to_le_bytes());
        argv.extend_from_slice(&0x3010u64.to_le_bytes());
        argv.extend_from_slice(&0u64.to_le_bytes());
        let mem = Fake::with(&[
            (0x2000, b"/bin/ls\0"),
            (0x3000, b"ls\0"),
            (0x3010, b"-l\0"),
            (0x4000, &argv),
        ]);
        let r = inputs(l::SYS_execve as u64, &[0x2000, 0x4000, 0, 0, 0, 0], &mem);
        assert_eq!(
            r,
            vec![
                MemRange {
                    addr: 0x2000,
                    len: 8
                },
                MemRange {
                    addr: 0x4000,
                    len: 24
                },
                MemRange {
                    addr: 0x3000,
                    len: 3
                },
                MemRange {
                    addr: 0x3010,
                    len: 3
                },
            ]
        );
    }

    #[test]
    fn unreadable_string_is_skipped() {
        let mem = Fake::with(&[]);
        let r = inputs(l::SYS_openat as u64, &[0, 0xdead, 0, 0, 0, 0], &mem);
        assert!(r.is_empty());
    }
}
