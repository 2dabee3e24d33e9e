//! strace's primitive renderings: quoted strings, flag sets, symbolic
//! constants.

pub use syscall_model::names::*;

/// Quotes `bytes` like strace: C escapes, octal for the rest, and `...`
/// after the closing quote when `truncated`.
pub fn quote(bytes: &[u8], truncated: bool) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                s.push('\\');
                // Short octal, unless the next byte would read as a digit.
                let next_is_digit = matches!(bytes.get(i + 1), Some(b'0'..=b'7'));
                if next_is_digit {
                    s.push((b'0' + (c >> 6)) as char);
                    s.push((b'0' + ((c >> 3) & 7)) as char);
                } else if c >> 3 != 0 {
                    if c >> 6 != 0 {
                        s.push((b'0' + (c >> 6)) as char);
                    }
                    s.push((b'0' + ((c >> 3) & 7)) as char);
                }
                s.push((b'0' + (c & 7)) as char);
            }
        }
    }
    s.push('"');
    if truncated {
        s.push_str("...");
    }
    s
}

/// A buffer of `len` meaningful bytes, cut at `max` like `strace -s`.
pub fn quote_buf(bytes: &[u8], len: usize, max: usize) -> String {
    let shown = len.min(bytes.len()).min(max);
    quote(&bytes[..shown], len > max)
}

/// Random bytes as strace shows them: every byte in hex (`"\x1f\xa0"`).
pub fn quote_hex(bytes: &[u8], len: usize, max: usize) -> String {
    let shown = &bytes[..len.min(bytes.len()).min(max)];
    let hex: String = shown.iter().map(|b| format!("\\x{b:02x}")).collect();
    let more = if len > max { "..." } else { "" };
    format!("\"{hex}\"{more}")
}

/// A NUL-terminated string, cut at `max`.
pub fn quote_cstr(bytes: &[u8], max: usize) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = &bytes[..end];
    quote(&s[..s.len().min(max)], s.len() > max)
}

/// `A|B|0x40` from a table of (bit, name); `zero` when nothing is set.
pub fn flags(value: u64, table: &[(u64, &str)], zero: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = value;
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

/// A symbolic constant, or the number.
pub fn symbol(value: u64, table: &[(u64, &str)]) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| (value as i64).to_string())
}

pub fn ptr(value: u64) -> String {
    if value == 0 {
        "NULL".into()
    } else {
        format!("{value:#x}")
    }
}

/// strace's `%#03o`: a leading 0, at least three digits (`0644`, `000`).
pub fn octal(value: u64) -> String {
    format!("0{value:02o}")
}

/// open(2) flags: access mode first, as strace prints them.
pub fn open_flags(value: u64) -> String {
    let mode = match value & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = value & !3;
    if rest == 0 {
        mode.to_string()
    } else {
        format!("{mode}|{}", flags(rest, OPEN_FLAGS, ""))
    }
}

/// Flags for calls that only take O_CLOEXEC/O_NONBLOCK (pipe2, dup3...).
pub fn fd_flags(value: u64) -> String {
    flags(value, OPEN_FLAGS, "0")
}

/// fcntl commands that take no argument: strace shows two.
pub const FCNTL_WITHOUT_ARG: &[u64] = &[1, 3, 9, 11, 1025, 1032, 1034];
pub const F_DUPFD: u64 = 0;
pub const F_DUPFD_CLOEXEC: u64 = 1030;
pub const F_SETFD: u64 = 2;
pub const F_GETFD: u64 = 1;
pub const F_SETFL: u64 = 4;
pub const F_GETFL: u64 = 3;
pub const FD_FLAGS: &[(u64, &str)] = &[(1, "FD_CLOEXEC")];

pub const AT_FLAGS: &[(u64, &str)] = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x6000, "AT_STATX_DONT_SYNC"),
    (0x2000, "AT_STATX_FORCE_SYNC"),
];

/// statx's flags: AT_* bits, with the sync mode named even when it is the
/// default (0), as strace names it.
pub fn statx_flags(value: u64) -> String {
    const SYNC_TYPE: u64 = 0x6000;
    let rest = flags(value & !SYNC_TYPE, AT_FLAGS, "");
    let sync = match value & SYNC_TYPE {
        0 => "AT_STATX_SYNC_AS_STAT",
        0x2000 => "AT_STATX_FORCE_SYNC",
        0x4000 => "AT_STATX_DONT_SYNC",
        _ => "AT_STATX_FORCE_SYNC|AT_STATX_DONT_SYNC",
    };
    if rest.is_empty() {
        sync.to_string()
    } else {
        format!("{sync}|{rest}")
    }
}

pub const PROT: &[(u64, &str)] = &[
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (0x10, "PROT_SEM"),
    (0x01000000, "PROT_GROWSDOWN"),
    (0x02000000, "PROT_GROWSUP"),
];

pub const MAP: &[(u64, &str)] = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
];

pub fn mmap_flags(value: u64) -> String {
    let kind = match value & 0xf {
        1 => "MAP_SHARED",
        2 => "MAP_PRIVATE",
        3 => "MAP_SHARED_VALIDATE",
        _ => "",
    };
    let rest = flags(value & !0xf, MAP, "");
    match (kind.is_empty(), rest.is_empty()) {
        (false, true) => kind.to_string(),
        (false, false) => format!("{kind}|{rest}"),
        (true, false) => rest,
        (true, true) => "0".into(),
    }
}

pub const CLONE: &[(u64, &str)] = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
];

pub fn clone_flags(value: u64) -> String {
    let sig = (value & 0xff) as i32;
    let rest = flags(value & !0xff, CLONE, "");
    match (sig, rest.is_empty()) {
        (0, true) => "0".into(),
        (0, false) => rest,
        (s, true) => crate::errno::signal_name(s),
        (s, false) => format!("{rest}|{}", crate::errno::signal_name(s)),
    }
}

pub fn access_mode(value: u64) -> String {
    if value == 0 {
        return "F_OK".into();
    }
    flags(value, &[(4, "R_OK"), (2, "W_OK"), (1, "X_OK")], "F_OK")
}

pub const CLOCKS: &[(u64, &str)] = &[
    (0, "CLOCK_REALTIME"),
    (1, "CLOCK_MONOTONIC"),
    (2, "CLOCK_PROCESS_CPUTIME_ID"),
    (3, "CLOCK_THREAD_CPUTIME_ID"),
    (4, "CLOCK_MONOTONIC_RAW"),
    (5, "CLOCK_REALTIME_COARSE"),
    (6, "CLOCK_MONOTONIC_COARSE"),
    (7, "CLOCK_BOOTTIME"),
    (8, "CLOCK_REALTIME_ALARM"),
    (9, "CLOCK_BOOTTIME_ALARM"),
    (11, "CLOCK_TAI"),
];

pub const WHENCE: &[(u64, &str)] = &[
    (0, "SEEK_SET"),
    (1, "SEEK_CUR"),
    (2, "SEEK_END"),
    (3, "SEEK_DATA"),
    (4, "SEEK_HOLE"),
];

pub const FCNTL: &[(u64, &str)] = &[
    (0, "F_DUPFD"),
    (1, "F_GETFD"),
    (2, "F_SETFD"),
    (3, "F_GETFL"),
    (4, "F_SETFL"),
    (5, "F_GETLK"),
    (6, "F_SETLK"),
    (7, "F_SETLKW"),
    (8, "F_SETOWN"),
    (9, "F_GETOWN"),
    (1024, "F_SETLEASE"),
    (1025, "F_GETLEASE"),
    (1030, "F_DUPFD_CLOEXEC"),
    (1031, "F_SETPIPE_SZ"),
    (1032, "F_GETPIPE_SZ"),
    (1033, "F_ADD_SEALS"),
    (1034, "F_GET_SEALS"),
];

pub const FUTEX: &[(u64, &str)] = &[
    (0, "FUTEX_WAIT"),
    (1, "FUTEX_WAKE"),
    (2, "FUTEX_FD"),
    (3, "FUTEX_REQUEUE"),
    (4, "FUTEX_CMP_REQUEUE"),
    (5, "FUTEX_WAKE_OP"),
    (6, "FUTEX_LOCK_PI"),
    (7, "FUTEX_UNLOCK_PI"),
    (8, "FUTEX_TRYLOCK_PI"),
    (9, "FUTEX_WAIT_BITSET"),
    (10, "FUTEX_WAKE_BITSET"),
    (11, "FUTEX_WAIT_REQUEUE_PI"),
    (12, "FUTEX_CMP_REQUEUE_PI"),
    (13, "FUTEX_LOCK_PI2"),
];

pub fn futex_op(value: u64) -> String {
    let mut s = symbol(value & 0x7f, FUTEX);
    if value & 128 != 0 {
        s.push_str("_PRIVATE");
    }
    if value & 256 != 0 {
        s.push_str("|FUTEX_CLOCK_REALTIME");
    }
    s
}

pub fn socket_type(value: u64) -> String {
    let base = symbol(
        value & 0xf,
        &[
            (1, "SOCK_STREAM"),
            (2, "SOCK_DGRAM"),
            (3, "SOCK_RAW"),
            (4, "SOCK_RDM"),
            (5, "SOCK_SEQPACKET"),
            (10, "SOCK_PACKET"),
        ],
    );
    let rest = flags(
        value & !0xf,
        &[(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")],
        "",
    );
    if rest.is_empty() {
        base
    } else {
        format!("{base}|{rest}")
    }
}

pub const POLL_EVENTS: &[(u64, &str)] = &[
    (0x1, "POLLIN"),
    (0x2, "POLLPRI"),
    (0x4, "POLLOUT"),
    (0x8, "POLLERR"),
    (0x10, "POLLHUP"),
    (0x20, "POLLNVAL"),
    (0x40, "POLLRDNORM"),
    (0x80, "POLLRDBAND"),
    (0x100, "POLLWRNORM"),
    (0x200, "POLLWRBAND"),
    (0x400, "POLLMSG"),
    (0x2000, "POLLRDHUP"),
];

/// A 64-bit signal set as strace prints it: `[INT TERM]`, `~[]`.
pub fn sigset(mask: u64) -> String {
    let names = |m: u64| {
        (1..=64)
            .filter(|s| m & (1u64 << (s - 1)) != 0)
            .map(|s| {
                let n = crate::errno::signal_name(s);
                match n.strip_prefix("SIGRT_") {
                    Some("0") => "RTMIN".to_string(),
                    Some(r) => format!("RT_{r}"),
                    None => n.trim_start_matches("SIG").to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    if mask.count_ones() > 32 {
        format!("~[{}]", names(!mask))
    } else {
        format!("[{}]", names(mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_arguments_like_strace() {
        assert_eq!(
            statx_flags(0x900),
            "AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW|AT_NO_AUTOMOUNT"
        );
        assert_eq!(statx_flags(0x2000), "AT_STATX_FORCE_SYNC");
        assert_eq!(
            flags(0x25e, STATX_MASK, "0"),
            "STATX_MODE|STATX_NLINK|STATX_UID|STATX_GID|STATX_MTIME|STATX_SIZE"
        );
        assert_eq!(
            flags(0x17ff, STATX_MASK, "0"),
            "STATX_BASIC_STATS|STATX_MNT_ID"
        );
    }

    #[test]
    fn random_bytes_in_hex() {
        assert_eq!(quote_hex(&[0x00, 0xb1, 0x4c], 3, 32), "\"\\x00\\xb1\\x4c\"");
        assert_eq!(quote_hex(&[1, 2, 3], 3, 2), "\"\\x01\\x02\"...");
    }

    #[test]
    fn strings_like_strace() {
        assert_eq!(
            quote(b"\x7fELF\x02\x01\x01\x03\0\0", false),
            "\"\\177ELF\\2\\1\\1\\3\\0\\0\""
        );
        assert_eq!(quote(b"\x001", false), "\"\\0001\"");
        assert_eq!(quote_buf(b"hello world", 11, 5), "\"hello\"...");
        assert_eq!(open_flags(0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(mmap_flags(0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(flags(3, PROT, "PROT_NONE"), "PROT_READ|PROT_WRITE");
        assert_eq!(octal(0o644), "0644");
        assert_eq!(octal(0), "000");
        assert_eq!(sigset(1 << 1), "[INT]");
    }
}
