//! strace-style rendering of one syscall record.
//!
//! Arguments the kernel read from tracee memory come from an
//! [`InputSource`]; when it has nothing the raw pointer is printed, as
//! strace does for unreadable memory. Memory the kernel wrote comes from
//! the record's own payloads.

mod caps;
pub mod fmt;
mod lines;
mod prctl;
pub mod structs;

pub use lines::{exit_line, first_output_arg, signal_line, with_result};

use syscall_model::abi::{self, PollFd};
use syscall_model::decode::{arg_kinds, ArgKind, Struct};
use syscall_model::Returns;
use syscall_model::Sysno;
use trace::SyscallExtra;

use crate::errno::{errno_label, errno_message, signal_name};
use crate::fds::FdTable;
use crate::inputs::InputSource;
use crate::pairing::SyscallRecord;
use fmt::*;

/// Rendering options shared by every line.
pub struct Decoder<'a> {
    pub inputs: &'a dyn InputSource,
    /// `-s`: longest string shown before `...`.
    pub strsize: usize,
    /// `-y`: descriptor paths, when known.
    pub fds: Option<&'a FdTable>,
}

/// Replaces argument `i`'s text, when the call has that argument.
fn set(out: &mut [String], i: usize, text: String) {
    if let Some(slot) = out.get_mut(i) {
        *slot = text;
    }
}

/// True if a successful call of syscall `nr` returns a new descriptor.
pub fn returns_fd(nr: u64) -> bool {
    syscall_model::syscall(nr).is_some_and(|row| row.returns == Returns::Fd)
}

const IOCTLS: &[(u64, &str)] = &[
    (0x5401, "TCGETS"),
    (0x5402, "TCSETS"),
    (0x5403, "TCSETSW"),
    (0x540f, "TIOCGPGRP"),
    (0x5410, "TIOCSPGRP"),
    (0x5413, "TIOCGWINSZ"),
    (0x541b, "FIONREAD"),
    (0x5421, "FIONBIO"),
    (0x5451, "FIOCLEX"),
];

impl Decoder<'_> {
    fn fd(&self, rec: &SyscallRecord, v: u64) -> String {
        let fd = v as i32;
        match self.fds.and_then(|t| t.path(rec.pid, fd)) {
            Some(p) => format!("{fd}<{p}>"),
            None => fd.to_string(),
        }
    }

    fn path(&self, rec: &SyscallRecord, addr: u64) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        match crate::inputs::lookup(self.inputs, rec, addr, 4096) {
            // Paths are never cut by -s in strace.
            Some(b) => quote_cstr(b, 4096),
            None => ptr(addr),
        }
    }

    fn string(&self, rec: &SyscallRecord, addr: u64) -> String {
        match crate::inputs::lookup(self.inputs, rec, addr, self.strsize + 1) {
            Some(b) => quote_cstr(b, self.strsize),
            None => ptr(addr),
        }
    }

    /// A data buffer: what the kernel wrote (read-like calls, `ret` bytes)
    /// or what it read (write-like calls, `len` bytes).
    fn buf(&self, rec: &SyscallRecord, addr: u64, len: u64) -> String {
        if rec.errno().is_some() || addr == 0 {
            return ptr(addr);
        }
        if let Some(b) = rec.written(addr, self.strsize) {
            let n = rec.result.unwrap_or(0).max(0) as usize;
            return quote_buf(b, n, self.strsize);
        }
        match crate::inputs::lookup(self.inputs, rec, addr, (len as usize).min(self.strsize)) {
            Some(b) => quote_buf(b, len as usize, self.strsize),
            // Nothing read (end of file): strace shows the empty string.
            None if rec.result == Some(0) => "\"\"".into(),
            None => ptr(addr),
        }
    }

    /// A `struct pollfd` array as strace shows it at entry:
    /// `[{fd=3, events=POLLIN}]`.
    fn pollfds(&self, rec: &SyscallRecord, addr: u64, count: u64) -> String {
        const POLLFD_LEN: usize = size_of::<PollFd>();
        const SHOWN: u64 = 64;
        let len = count.min(SHOWN) as usize * POLLFD_LEN;
        let Some(bytes) = crate::inputs::lookup(self.inputs, rec, addr, len) else {
            return ptr(addr);
        };
        let entries: Vec<String> = abi::read_all::<PollFd>(bytes)
            .map(|entry| {
                format!(
                    "{{fd={}, events={}}}",
                    entry.fd,
                    flags(u64::from(entry.events as u16), POLL_EVENTS, "0")
                )
            })
            .collect();
        let more = if count > SHOWN { ", ..." } else { "" };
        format!("[{}{more}]", entries.join(", "))
    }

    /// A pointer to a struct the kernel fills in, rendered by `f` when the
    /// call succeeded.
    fn out(
        &self,
        rec: &SyscallRecord,
        addr: u64,
        len: usize,
        f: impl Fn(&[u8]) -> Option<String>,
    ) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        if rec.errno().is_some() {
            return ptr(addr);
        }
        rec.written(addr, len)
            .and_then(f)
            .unwrap_or_else(|| ptr(addr))
    }

    /// An iovec array, strace's way:
    /// `[{iov_base="hello", iov_len=5}, ...]`. The array itself comes from
    /// the recorded input memory; the buffers from the input capture
    /// (writev: what was sent) or from the kernel's writes (readv: the
    /// first `ret` bytes, spread over the buffers in order).
    fn iovecs(&self, rec: &SyscallRecord, addr: u64, count: u64, filled: bool) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        // Records capture at most 64 iovecs; strace also elides long arrays.
        let shown = count.min(64) as usize;
        let Some(table) = crate::inputs::lookup(self.inputs, rec, addr, shown * 16) else {
            return ptr(addr);
        };
        if (filled && rec.errno().is_some()) || table.len() < shown * 16 {
            return ptr(addr);
        }
        let mut left = rec.result.unwrap_or(0).max(0) as u64;
        let mut items = Vec::with_capacity(shown);
        for entry in table.chunks_exact(16) {
            let word = |o: usize| u64::from_ne_bytes(entry[o..o + 8].try_into().unwrap_or([0; 8]));
            let (base, len) = (word(0), word(8));
            let data = if filled {
                let n = len.min(left);
                left -= n;
                if n == 0 {
                    Some("\"\"".to_string())
                } else {
                    rec.written(base, (n as usize).min(self.strsize))
                        .map(|b| quote_buf(b, n as usize, self.strsize))
                }
            } else {
                crate::inputs::lookup(self.inputs, rec, base, (len as usize).min(self.strsize))
                    .map(|b| quote_buf(b, len as usize, self.strsize))
            };
            let data = data.unwrap_or_else(|| ptr(base));
            items.push(format!("{{iov_base={data}, iov_len={len}}}"));
        }
        if count as usize > shown {
            items.push("...".into());
        }
        format!("[{}]", items.join(", "))
    }

    /// A pointer to a struct the kernel reads (needs input capture).
    fn input_struct(
        &self,
        rec: &SyscallRecord,
        addr: u64,
        len: usize,
        f: impl Fn(&[u8]) -> Option<String>,
    ) -> String {
        if addr == 0 {
            return "NULL".into();
        }
        crate::inputs::lookup(self.inputs, rec, addr, len)
            .and_then(f)
            .unwrap_or_else(|| ptr(addr))
    }

    fn generic(&self, rec: &SyscallRecord, i: usize, kind: ArgKind) -> String {
        let v = rec.args[i];
        match kind {
            ArgKind::Fd => self.fd(rec, v),
            ArgKind::DirFd if v as i32 == -100 => "AT_FDCWD".into(),
            ArgKind::DirFd => self.fd(rec, v),
            ArgKind::Path => self.path(rec, v),
            ArgKind::Str => self.string(rec, v),
            ArgKind::Buf(len_idx) => self.buf(rec, v, rec.args[len_idx]),
            ArgKind::Int | ArgKind::Pid => (v as i32).to_string(),
            ArgKind::UInt => (v as u32).to_string(),
            ArgKind::Size => v.to_string(),
            ArgKind::Offset => (v as i64).to_string(),
            ArgKind::Hex => {
                if v == 0 {
                    "0".into()
                } else {
                    format!("{v:#x}")
                }
            }
            ArgKind::Ptr => ptr(v),
            ArgKind::PeerAddr(len) | ArgKind::LocalAddr(len) => {
                self.input_struct(rec, v, rec.args[len] as usize, structs::sockaddr)
            }
            ArgKind::PeerAddrOut | ArgKind::LocalAddrOut => {
                self.out(rec, v, 128, structs::sockaddr)
            }
            ArgKind::LenOut => self.out(rec, v, 4, |b| {
                Some(format!(
                    "[{}]",
                    u32::from_ne_bytes(b.get(..4)?.try_into().ok()?)
                ))
            }),
            ArgKind::IovecsIn(count) => self.iovecs(rec, v, rec.args[count], false),
            ArgKind::IovecsOut(count) => self.iovecs(rec, v, rec.args[count], true),
            ArgKind::PollFds => self.pollfds(rec, v, rec.args[i + 1]),
            ArgKind::OpenFlags => open_flags(v),
            ArgKind::AtFlags => flags(v, AT_FLAGS, "0"),
            ArgKind::Mode => octal(v),
            ArgKind::MmapProt => flags(v, PROT, "PROT_NONE"),
            ArgKind::MmapFlags => mmap_flags(v),
            ArgKind::Signal => {
                if v == 0 {
                    "0".into()
                } else {
                    signal_name(v as i32)
                }
            }
            ArgKind::Whence => symbol(v, WHENCE),
            ArgKind::IoctlRequest => match IOCTLS.iter().find(|(r, _)| *r == v & 0xffff_ffff) {
                Some((_, n)) => n.to_string(),
                None => format!("{v:#x}"),
            },
            ArgKind::FcntlCmd => symbol(v, FCNTL),
            ArgKind::FutexOp => futex_op(v),
            ArgKind::CloneFlags => clone_flags(v),
            ArgKind::ClockId => match CLOCKS.iter().find(|(id, _)| *id == v) {
                Some((_, name)) => name.to_string(),
                // A process's or thread's CPU clock (a negative id).
                None => format!("{:#x} /* CLOCK_??? */", v as u32),
            },
            ArgKind::PrctlOption => v.to_string(),
            ArgKind::Flags(names) | ArgKind::NewFdFlags(names) => flags(v, names, "0"),
            ArgKind::Named(names) => symbol(v, names),
            ArgKind::StructIn(shape) => {
                self.input_struct(rec, v, shape.size(), |b| self.shown(shape, b))
            }
            ArgKind::StructOut(shape) => self.out(rec, v, shape.size(), |b| self.shown(shape, b)),
        }
    }

    /// A struct's fields, strace's way.
    fn shown(&self, shape: Struct, bytes: &[u8]) -> Option<String> {
        match shape {
            Struct::Stat => structs::stat(bytes),
            Struct::Statfs => structs::statfs(bytes),
            Struct::Statx => structs::statx(bytes),
            Struct::Timespec => structs::timespec(bytes),
            Struct::Timeval => structs::timeval(bytes),
            Struct::Rlimit => structs::rlimit(bytes),
            Struct::Sigaction => structs::sigaction(bytes),
            Struct::Sigset => structs::u64_at(bytes, 0).map(sigset),
            Struct::StackT => structs::stack_t(bytes),
            Struct::IntPair => structs::int_pair(bytes),
            Struct::Utsname => structs::utsname(bytes, self.strsize),
            Struct::WaitStatus => Some(structs::wait_status(i32::from_ne_bytes(
                bytes.get(..4)?.try_into().ok()?,
            ))),
            Struct::EpollEvent => structs::epoll_event(bytes),
        }
    }

    /// How many entries a NULL-terminated array of pointers (execve's
    /// envp) has, from the bytes captured at entry.
    fn pointer_count(&self, rec: &SyscallRecord, array: u64) -> Option<usize> {
        if array == 0 {
            return None;
        }
        (0..).find_map(|i: u64| {
            let slot = crate::inputs::lookup(self.inputs, rec, array + 8 * i, 8);
            match slot.map(|s| s.iter().all(|&b| b == 0)) {
                Some(true) => Some(Some(i as usize)),
                Some(false) => None,
                None => Some(None),
            }
        })?
    }

    /// A NULL-terminated array of strings (execve's argv) from the bytes
    /// captured at entry, each quoted.
    fn string_array(&self, rec: &SyscallRecord, array: u64) -> Option<Vec<String>> {
        let mut strings = Vec::new();
        for i in 0.. {
            let slot = crate::inputs::lookup(self.inputs, rec, array + 8 * i, 8)?;
            let at = u64::from_le_bytes(slot.try_into().ok()?);
            if at == 0 {
                return Some(strings);
            }
            let bytes = crate::inputs::lookup(self.inputs, rec, at, 4096)?;
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            strings.push(quote_cstr(&bytes[..end], self.strsize));
        }
        None
    }

    /// The decoded arguments, strace's way (some calls show fewer than
    /// they take, e.g. openat without O_CREAT has no mode).
    pub fn args(&self, rec: &SyscallRecord) -> Vec<String> {
        let sysno = rec.sysno();
        let a = rec.args;
        let kinds = arg_kinds(rec.nr);
        let mut out: Vec<String> = if kinds.is_empty() && syscall_model::name(rec.nr).is_none() {
            a.iter().map(|v| ptr(*v)).collect()
        } else {
            kinds
                .iter()
                .enumerate()
                .map(|(i, k)| self.generic(rec, i, *k))
                .collect()
        };
        self.describe_files_and_time(rec, sysno, &mut out);
        self.describe_signals_and_processes(rec, sysno, &mut out);
        self.describe_network_and_io(rec, sysno, &mut out);
        self.describe_descriptors(rec, sysno, &mut out);
        out
    }

    /// Descriptor flags under each call's own names, fcntl's arguments as
    /// its command takes them, and link targets.
    fn describe_descriptors(
        &self,
        rec: &SyscallRecord,
        sysno: Option<Sysno>,
        out: &mut Vec<String>,
    ) {
        let a = rec.args;
        match sysno {
            Some(Sysno::epoll_wait | Sysno::epoll_pwait | Sysno::epoll_pwait2) => {
                let shown = match rec.result {
                    Some(0) => "[]".to_string(),
                    Some(n) if n > 0 => self.out(rec, a[1], 12 * n as usize, structs::epoll_events),
                    _ => ptr(a[1]),
                };
                set(out, 1, shown);
            }
            Some(Sysno::fcntl) if FCNTL_WITHOUT_ARG.contains(&a[1]) => out.truncate(2),
            Some(Sysno::fcntl) if a[1] == F_DUPFD || a[1] == F_DUPFD_CLOEXEC => {
                set(out, 2, (a[2] as i32).to_string())
            }
            Some(Sysno::fcntl) if a[1] == F_SETFD => set(out, 2, flags(a[2], FD_FLAGS, "0")),
            Some(Sysno::fcntl) if a[1] == F_SETFL => set(out, 2, open_flags(a[2])),
            Some(Sysno::readlink | Sysno::readlinkat) => {
                let buf = usize::from(sysno == Some(Sysno::readlinkat)) + 1;
                set(out, buf, self.buf(rec, a[buf], a[buf + 1]));
            }
            _ => {}
        }
    }

    /// Paths, stat buffers, times and limits.
    fn describe_files_and_time(
        &self,
        rec: &SyscallRecord,
        sysno: Option<Sysno>,
        out: &mut Vec<String>,
    ) {
        let a = rec.args;
        match sysno {
            Some(Sysno::execve | Sysno::execveat) => {
                let base = usize::from(sysno == Some(Sysno::execveat));
                if let Some(SyscallExtra::Exec(info)) = &rec.extra {
                    if crate::inputs::lookup(self.inputs, rec, a[base], 1).is_none() {
                        set(out, base, quote(info.exe.path.as_bytes(), false));
                    }
                    let argv: Vec<String> = info
                        .argv
                        .iter()
                        .map(|s| quote_cstr(s.as_bytes(), self.strsize))
                        .collect();
                    set(out, base + 1, format!("[{}]", argv.join(", ")));
                    set(
                        out,
                        base + 2,
                        format!("{} /* {} vars */", ptr(a[base + 2]), info.env_count),
                    );
                } else if let Some(argv) = self.string_array(rec, a[base + 1]) {
                    // A failed exec, or an `<unfinished ...>` line (the
                    // exit and its exec image come later): the argv and
                    // envp captured at entry show.
                    set(out, base + 1, format!("[{}]", argv.join(", ")));
                    if let Some(vars) = self.pointer_count(rec, a[base + 2]) {
                        set(
                            out,
                            base + 2,
                            format!("{} /* {vars} vars */", ptr(a[base + 2])),
                        );
                    }
                }
            }
            Some(Sysno::open | Sysno::openat) => {
                let fi = usize::from(sysno == Some(Sysno::openat)) + 1;
                if a[fi] & 0o100 == 0 && a[fi] & 0o20200000 != 0o20200000 {
                    out.truncate(fi + 1);
                }
            }
            Some(Sysno::statx) => set(out, 2, statx_flags(a[2])),
            Some(Sysno::getcwd) if rec.result.is_some_and(|r| r > 0) => set(
                out,
                0,
                self.out(rec, a[0], a[1] as usize, |b| {
                    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                    Some(quote_cstr(&b[..end], self.strsize))
                }),
            ),
            Some(Sysno::access) => set(out, 1, access_mode(a[1])),
            Some(Sysno::faccessat | Sysno::faccessat2) => set(out, 2, access_mode(a[2])),
            // The end of the directory: nothing written, none listed.
            Some(Sysno::getdents64 | Sysno::getdents) if rec.result == Some(0) => {
                set(out, 1, format!("{} /* 0 entries */", ptr(a[1])))
            }
            Some(Sysno::getdents64 | Sysno::getdents) => set(
                out,
                1,
                self.out(rec, a[1], usize::MAX, |b| {
                    let n = rec.result.unwrap_or(0).max(0) as usize;
                    let (mut off, mut count) = (0usize, 0);
                    while off + 18 <= n.min(b.len()) {
                        let reclen = u16::from_ne_bytes([b[off + 16], b[off + 17]]) as usize;
                        if reclen == 0 {
                            break;
                        }
                        off += reclen;
                        count += 1;
                    }
                    Some(format!("{} /* {count} entries */", ptr(a[1])))
                }),
            ),
            _ => {}
        }
    }

    /// Signal actions and masks, processes, memory and the rest.
    fn describe_signals_and_processes(
        &self,
        rec: &SyscallRecord,
        sysno: Option<Sysno>,
        out: &mut Vec<String>,
    ) {
        let a = rec.args;
        match sysno {
            Some(Sysno::arch_prctl) => set(out, 1, ptr(a[1]).replace("NULL", "0")),
            Some(Sysno::prctl) => *out = self.prctl_arguments(rec),
            Some(Sysno::capget | Sysno::capset) => self.capabilities(rec, out),
            Some(Sysno::getcpu) => {
                for (i, addr) in a.iter().enumerate().take(2) {
                    let shown = self.out(rec, *addr, 4, |b| {
                        Some(format!("[{}]", u32::from_ne_bytes(b.try_into().ok()?)))
                    });
                    set(out, i, shown);
                }
            }
            Some(Sysno::sched_getaffinity) => {
                let len = rec.result.unwrap_or(0).max(0) as usize;
                set(out, 2, self.out(rec, a[2], len, structs::cpu_mask));
            }
            Some(Sysno::getgroups) => {
                let shown = match rec.result {
                    Some(0) if a[1] != 0 => "[]".to_string(),
                    Some(n) if n > 0 => self.out(rec, a[1], 4 * n as usize, structs::gid_list),
                    _ => ptr(a[1]),
                };
                set(out, 1, shown);
            }
            Some(Sysno::rseq) => {
                set(out, 1, format!("{:#x}", a[1]));
                set(out, 2, (a[2] as i32).to_string());
            }
            Some(Sysno::mmap) => {
                let off = if a[5] == 0 {
                    "0".into()
                } else {
                    format!("{:#x}", a[5])
                };
                set(out, 5, off);
            }
            Some(Sysno::futex) => {
                const FUTEX_WAIT_BITSET: u64 = 9;
                const FUTEX_BITSET_MATCH_ANY: u64 = 0xffff_ffff;
                if a[1] & 0x7f == FUTEX_WAIT_BITSET {
                    // No second address: strace shows the bitset after the
                    // timeout.
                    let bitset = if a[5] & 0xffff_ffff == FUTEX_BITSET_MATCH_ANY {
                        "FUTEX_BITSET_MATCH_ANY".to_string()
                    } else {
                        format!("{:#x}", a[5] & 0xffff_ffff)
                    };
                    out.truncate(4);
                    out.push(bitset);
                    return;
                }
                let keep = match a[1] & 0x7f {
                    1 => 3,
                    0 => 4,
                    _ => 6,
                };
                out.truncate(keep);
            }
            Some(Sysno::clone3) => {
                if let Some((args, returned)) = self.clone3_parts(rec) {
                    set(out, 0, format!("{args}{returned}"));
                }
            }
            Some(Sysno::clone) => {
                *out = vec![
                    format!("child_stack={}", ptr(a[1])),
                    format!("flags={}", clone_flags(a[0])),
                ];
                if a[0] & 0x100000 != 0 {
                    out.push(format!("parent_tid={}", ptr(a[2])));
                }
                if a[0] & 0x1200000 != 0 {
                    out.push(format!("child_tidptr={}", ptr(a[3])));
                }
                if a[0] & 0x80000 != 0 {
                    out.push(format!("tls={}", ptr(a[4])));
                }
            }
            _ => {}
        }
    }

    /// Sockets, addresses and data buffers.
    fn describe_network_and_io(
        &self,
        rec: &SyscallRecord,
        sysno: Option<Sysno>,
        out: &mut [String],
    ) {
        let a = rec.args;
        match sysno {
            Some(Sysno::getrandom) => {
                let n = rec.result.unwrap_or(0).max(0) as usize;
                let random = match rec.written(a[0], self.strsize) {
                    Some(bytes) if rec.errno().is_none() => quote_hex(bytes, n, self.strsize),
                    _ => ptr(a[0]),
                };
                set(out, 0, random);
            }
            Some(Sysno::socketpair) => set(out, 1, socket_type(a[1])),
            Some(Sysno::socket) => {
                set(out, 1, socket_type(a[1]));
                const AF_INET: u64 = 2;
                const AF_INET6: u64 = 10;
                let internet = matches!(a[0], AF_INET | AF_INET6);
                let proto = match a[2] {
                    0 if internet => "IPPROTO_IP".to_string(),
                    6 if internet => "IPPROTO_TCP".to_string(),
                    17 if internet => "IPPROTO_UDP".to_string(),
                    p => p.to_string(),
                };
                set(out, 2, proto);
            }
            _ => {}
        }
    }

    /// The return value without `= `: `3`, `-1 ENOENT (No such file or
    /// directory)`, `0x7f...`, `?`.
    pub fn ret(&self, rec: &SyscallRecord) -> String {
        let Some(r) = rec.result else {
            return "?".into();
        };
        if let Some(e) = rec.errno() {
            let ename = errno_label(e);
            let lead = if e >= 512 { "?" } else { "-1" };
            return format!("{lead} {ename} ({})", errno_message(e));
        }
        if rec.sysno() == Some(Sysno::fcntl) && r > 0 {
            match rec.args[1] {
                F_GETFD => return format!("{r:#x} (flags {})", flags(r as u64, FD_FLAGS, "0")),
                F_GETFL => return format!("{r:#x} (flags {})", open_flags(r as u64)),
                _ => {}
            }
        }
        match syscall_model::syscall(rec.nr).map(|row| row.returns) {
            Some(Returns::Address) => format!("{:#x}", r as u64),
            Some(Returns::Fd) => self.fd(rec, r as u64),
            _ => r.to_string(),
        }
    }

    pub fn call(&self, rec: &SyscallRecord) -> String {
        format!("{}({})", rec.name(), self.args(rec).join(", "))
    }

    /// A call another thread's event splits in two, as strace writes it:
    /// the text before ` <unfinished ...>` and the text after
    /// `<... NAME resumed>`. strace ends the first line after the last
    /// argument it decodes at entry.
    pub fn split_call(&self, rec: &SyscallRecord) -> (String, String) {
        if let Some((args, returned)) = self.clone3_parts(rec) {
            return (
                format!("{}({args}", rec.name()),
                format!("{returned}, {})", rec.args[1]),
            );
        }
        let args = self.args(rec);
        match lines::first_output_arg(rec.sysno()) {
            Some(first) => {
                let first = first.min(args.len());
                let entry = match first {
                    0 => format!("{}(", rec.name()),
                    _ => format!("{}({}, ", rec.name(), args[..first].join(", ")),
                };
                (entry, format!("{})", args[first..].join(", ")))
            }
            None => (format!("{}({}", rec.name(), args.join(", ")), ")".into()),
        }
    }

    /// clone3's argument struct and what it wrote back for the parent
    /// (empty when nothing), from the bytes captured at entry.
    fn clone3_parts(&self, rec: &SyscallRecord) -> Option<(String, String)> {
        const CLONE_ARGS_MIN: usize = 64;
        if rec.sysno() != Some(Sysno::clone3) {
            return None;
        }
        let bytes = crate::inputs::lookup(self.inputs, rec, rec.args[0], 88)?;
        let fields = bytes.get(..CLONE_ARGS_MIN)?;
        let args = structs::clone_args(fields)?;
        let returned = match rec.result {
            Some(tid) if tid > 0 => structs::clone_args_returned(fields, |addr| {
                let word = rec.written(addr, 4)?;
                Some(i32::from_ne_bytes(word.try_into().ok()?))
            })
            .unwrap_or_default(),
            _ => String::new(),
        };
        Some((args, returned))
    }
}

#[cfg(test)]
mod tests;
