//! Structures the kernel wrote, rendered like strace's abbreviated output.

use super::fmt::{flags, quote_cstr, sigset, symbol, AF};

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(off..off + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}
pub fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn file_type(mode: u32) -> &'static str {
    match mode & 0o170000 {
        0o140000 => "S_IFSOCK",
        0o120000 => "S_IFLNK",
        0o100000 => "S_IFREG",
        0o060000 => "S_IFBLK",
        0o040000 => "S_IFDIR",
        0o020000 => "S_IFCHR",
        0o010000 => "S_IFIFO",
        _ => "0",
    }
}

/// `S_IFREG|0644` (with S_ISUID... spelled out like strace).
pub fn mode_t(mode: u32) -> String {
    let mut s = file_type(mode).to_string();
    let extra = flags(
        u64::from(mode & 0o7000),
        &[
            (0o4000, "S_ISUID"),
            (0o2000, "S_ISGID"),
            (0o1000, "S_ISVTX"),
        ],
        "",
    );
    if !extra.is_empty() {
        s.push('|');
        s.push_str(&extra);
    }
    s.push_str(&format!("|{:04o}", mode & 0o777));
    s
}

fn makedev(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let hex = |v: u64| {
        if v == 0 {
            "0".into()
        } else {
            format!("{v:#x}")
        }
    };
    format!("makedev({}, {})", hex(major), hex(minor))
}

/// Fields of an x86_64 `struct stat` that analysis needs.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    pub rdev: u64,
    pub size: i64,
}

pub fn parse_stat(b: &[u8]) -> Option<Stat> {
    Some(Stat {
        dev: u64_at(b, 0)?,
        ino: u64_at(b, 8)?,
        mode: u32_at(b, 24)?,
        rdev: u64_at(b, 40)?,
        size: u64_at(b, 48)? as i64,
    })
}

pub fn stat(b: &[u8]) -> Option<String> {
    let st = parse_stat(b)?;
    let kind = st.mode & 0o170000;
    Some(if kind == 0o020000 || kind == 0o060000 {
        format!(
            "{{st_mode={}, st_rdev={}, ...}}",
            mode_t(st.mode),
            makedev(st.rdev)
        )
    } else {
        format!("{{st_mode={}, st_size={}, ...}}", mode_t(st.mode), st.size)
    })
}

/// `struct statx`, abbreviated as strace abbreviates it.
pub fn statx(b: &[u8]) -> Option<String> {
    let mask = u32_at(b, 0)?;
    let attributes = u64_at(b, 8)?;
    let mode = u32::from(u16::from_le_bytes(b.get(28..30)?.try_into().ok()?));
    let size = u64_at(b, 40)?;
    let attributes = if attributes == 0 {
        "0".to_string()
    } else {
        format!("{attributes:#x}")
    };
    Some(format!(
        "{{stx_mask={}, stx_attributes={attributes}, stx_mode={}, stx_size={size}, ...}}",
        flags(mask.into(), super::fmt::STATX_MASK, "0"),
        mode_t(mode),
    ))
}

pub fn timespec(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{tv_sec={}, tv_nsec={}}}",
        u64_at(b, 0)? as i64,
        u64_at(b, 8)? as i64
    ))
}

pub fn timeval(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{tv_sec={}, tv_usec={}}}",
        u64_at(b, 0)? as i64,
        u64_at(b, 8)? as i64
    ))
}

fn rlim(v: u64) -> String {
    if v == u64::MAX {
        "RLIM64_INFINITY".into()
    } else if v != 0 && v.is_multiple_of(1024) {
        format!("{}*1024", v / 1024)
    } else {
        v.to_string()
    }
}

pub fn rlimit(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{rlim_cur={}, rlim_max={}}}",
        rlim(u64_at(b, 0)?),
        rlim(u64_at(b, 8)?)
    ))
}

/// A parsed socket address, for display and for endpoint lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SockAddr {
    Inet { ip: String, port: u16 },
    Unix(String),
    Other(u16),
}

impl std::fmt::Display for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SockAddr::Inet { ip, port } if ip.contains(':') => write!(f, "[{ip}]:{port}"),
            SockAddr::Inet { ip, port } => write!(f, "{ip}:{port}"),
            SockAddr::Unix(p) => write!(f, "unix:{p}"),
            SockAddr::Other(fam) => write!(f, "family {fam}"),
        }
    }
}

pub fn parse_sockaddr(b: &[u8]) -> Option<SockAddr> {
    let family = u16_at(b, 0)?;
    match family {
        2 => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let ip = b.get(4..8)?;
            Some(SockAddr::Inet {
                ip: format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
                port,
            })
        }
        10 => {
            let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
            let raw: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SockAddr::Inet {
                ip: std::net::Ipv6Addr::from(raw).to_string(),
                port,
            })
        }
        1 => {
            let path = b.get(2..).unwrap_or(&[]);
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            Some(SockAddr::Unix(
                String::from_utf8_lossy(&path[..end]).into_owned(),
            ))
        }
        f => Some(SockAddr::Other(f)),
    }
}

pub fn sockaddr(b: &[u8]) -> Option<String> {
    let family = u16_at(b, 0)?;
    let fam = symbol(u64::from(family), AF);
    Some(match parse_sockaddr(b)? {
        SockAddr::Inet { ip, port } if family == 2 => format!(
            "{{sa_family={fam}, sin_port=htons({port}), sin_addr=inet_addr(\"{ip}\")}}"
        ),
        SockAddr::Inet { ip, port } => format!(
            "{{sa_family={fam}, sin6_port=htons({port}), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"{ip}\", &sin6_addr), sin6_scope_id=0}}"
        ),
        SockAddr::Unix(p) => format!("{{sa_family={fam}, sun_path=\"{p}\"}}"),
        SockAddr::Other(_) => format!("{{sa_family={fam}, ...}}"),
    })
}

/// In the order strace prints them.
const SA_FLAGS: &[(u64, &str)] = &[
    (0x04000000, "SA_RESTORER"),
    (0x08000000, "SA_ONSTACK"),
    (0x10000000, "SA_RESTART"),
    (0x40000000, "SA_NODEFER"),
    (0x80000000, "SA_RESETHAND"),
    (4, "SA_SIGINFO"),
    (1, "SA_NOCLDSTOP"),
    (2, "SA_NOCLDWAIT"),
];

/// The kernel's `struct sigaction` (handler, flags, restorer, mask).
pub fn sigaction(b: &[u8]) -> Option<String> {
    let handler = u64_at(b, 0)?;
    let fl = u64_at(b, 8)?;
    let restorer = u64_at(b, 16)?;
    let mask = u64_at(b, 24)?;
    let h = match handler {
        0 => "SIG_DFL".to_string(),
        1 => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    let mut s = format!(
        "{{sa_handler={h}, sa_mask={}, sa_flags={}",
        sigset(mask),
        flags(fl, SA_FLAGS, "0")
    );
    if fl & 0x04000000 != 0 {
        s.push_str(&format!(", sa_restorer={restorer:#x}"));
    }
    s.push('}');
    Some(s)
}

pub fn utsname(b: &[u8], max: usize) -> Option<String> {
    let field = |i: usize| b.get(i * 65..(i + 1) * 65).map(|f| quote_cstr(f, max));
    Some(format!(
        "{{sysname={}, nodename={}, ...}}",
        field(0)?,
        field(1)?
    ))
}

/// A wait status as strace writes it inside `[...]`.
pub fn wait_status(status: i32) -> String {
    let sig = status & 0x7f;
    if sig == 0 {
        format!(
            "[{{WIFEXITED(s) && WEXITSTATUS(s) == {}}}]",
            (status >> 8) & 0xff
        )
    } else if sig == 0x7f {
        format!(
            "[{{WIFSTOPPED(s) && WSTOPSIG(s) == {}}}]",
            crate::errno::signal_name((status >> 8) & 0xff)
        )
    } else {
        let core = if status & 0x80 != 0 {
            " && WCOREDUMP(s)"
        } else {
            ""
        };
        format!(
            "[{{WIFSIGNALED(s) && WTERMSIG(s) == {}{core}}}]",
            crate::errno::signal_name(sig)
        )
    }
}

pub fn int_pair(b: &[u8]) -> Option<String> {
    Some(format!(
        "[{}, {}]",
        u32_at(b, 0)? as i32,
        u32_at(b, 4)? as i32
    ))
}

pub fn int_pair_values(b: &[u8]) -> Option<(i32, i32)> {
    Some((u32_at(b, 0)? as i32, u32_at(b, 4)? as i32))
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
const CLONE_CHILD_CLEARTID: u64 = 0x0020_0000;
const CLONE_SETTLS: u64 = 0x0008_0000;
const CLONE_CHILD_SETTID: u64 = 0x0100_0000;

/// clone3's `struct clone_args` as strace shows it at entry: the fields the
/// flags make meaningful, then the exit signal, stack and TLS.
pub fn clone_args(b: &[u8]) -> Option<String> {
    let field = |i: usize| u64_at(b, 8 * i);
    let flags = field(0)?;
    let mut out = vec![format!("flags={}", super::fmt::clone_flags(flags))];
    if flags & CLONE_PIDFD != 0 {
        out.push(format!("pidfd={}", super::fmt::ptr(field(1)?)));
    }
    if flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID) != 0 {
        out.push(format!("child_tid={}", super::fmt::ptr(field(2)?)));
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        out.push(format!("parent_tid={}", super::fmt::ptr(field(3)?)));
    }
    let exit_signal = field(4)?;
    out.push(match exit_signal {
        0 => "exit_signal=0".to_string(),
        s => format!("exit_signal={}", crate::errno::signal_name(s as i32)),
    });
    out.push(format!("stack={}", super::fmt::ptr(field(5)?)));
    out.push(match field(6)? {
        0 => "stack_size=0".to_string(),
        size => format!("stack_size={size:#x}"),
    });
    if flags & CLONE_SETTLS != 0 {
        out.push(format!("tls={}", super::fmt::ptr(field(7)?)));
    }
    Some(format!("{{{}}}", out.join(", ")))
}

/// What clone3 wrote back for the parent, strace's ` => {parent_tid=[N]}`:
/// `written` reads a 4-byte word the call wrote.
pub fn clone_args_returned(b: &[u8], written: impl Fn(u64) -> Option<i32>) -> Option<String> {
    let flags = u64_at(b, 0)?;
    let mut out = Vec::new();
    if flags & CLONE_PIDFD != 0 {
        out.push(format!("pidfd=[{}]", written(u64_at(b, 8)?)?));
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        out.push(format!("parent_tid=[{}]", written(u64_at(b, 24)?)?));
    }
    (!out.is_empty()).then(|| format!(" => {{{}}}", out.join(", ")))
}

const FS_MAGIC: &[(u64, &str)] = &[
    (0xef53, "EXT2_SUPER_MAGIC"),
    (0x0102_1994, "TMPFS_MAGIC"),
    (0x9fa0, "PROC_SUPER_MAGIC"),
    (0x6265_6572, "SYSFS_MAGIC"),
    (0x794c_7630, "OVERLAYFS_SUPER_MAGIC"),
    (0x5846_5342, "XFS_SUPER_MAGIC"),
    (0x9123_683e, "BTRFS_SUPER_MAGIC"),
    (0x6367_7270, "CGROUP2_SUPER_MAGIC"),
    (0x0027_e0eb, "CGROUP_SUPER_MAGIC"),
    (0x1cd1, "DEVPTS_SUPER_MAGIC"),
    (0x6969, "NFS_SUPER_MAGIC"),
    (0x6573_5546, "FUSE_SUPER_MAGIC"),
    (0x7371_7368, "SQUASHFS_MAGIC"),
    (0x8584_58f6, "RAMFS_MAGIC"),
    (0x6462_6720, "DEBUGFS_MAGIC"),
    (0x7363_6673, "SECURITYFS_MAGIC"),
    (0x1980_0202, "MQUEUE_MAGIC"),
    (0x9584_58f6, "HUGETLBFS_MAGIC"),
    (0xcafe_4a11, "BPF_FS_MAGIC"),
    (0x7472_6163, "TRACEFS_MAGIC"),
    (0x6165_676c, "PSTOREFS_MAGIC"),
    (0x0187, "AUTOFS_SUPER_MAGIC"),
    (0x4249_4e4d, "BINFMTFS_MAGIC"),
    (0x6265_6570, "CONFIGFS_MAGIC"),
    (0xde5e_81e4, "EFIVARFS_MAGIC"),
    (0x6e73_6673, "NSFS_MAGIC"),
    (0x5346_544e, "NTFS_SB_MAGIC"),
    (0x4d44, "MSDOS_SUPER_MAGIC"),
    (0x0102_1997, "V9FS_MAGIC"),
    (0x6e66_7364, "NFSD_MAGIC"),
];

const MOUNT_FLAGS: &[(u64, &str)] = &[
    (0x1, "ST_RDONLY"),
    (0x2, "ST_NOSUID"),
    (0x4, "ST_NODEV"),
    (0x8, "ST_NOEXEC"),
    (0x10, "ST_SYNCHRONOUS"),
    (0x20, "ST_VALID"),
    (0x40, "ST_MANDLOCK"),
    (0x400, "ST_NOATIME"),
    (0x800, "ST_NODIRATIME"),
    (0x1000, "ST_RELATIME"),
    (0x2000, "ST_NOSYMFOLLOW"),
];

fn hex_or_zero(value: u64) -> String {
    if value == 0 {
        "0".into()
    } else {
        format!("{value:#x}")
    }
}

/// `struct statfs` (statfs, fstatfs), every field as strace prints it.
pub fn statfs(b: &[u8]) -> Option<String> {
    let field = |i: usize| u64_at(b, 8 * i);
    let magic = field(0)?;
    let fs_type = match FS_MAGIC.iter().find(|(m, _)| *m == magic) {
        Some((_, name)) => name.to_string(),
        None => format!("{magic:#x}"),
    };
    let fsid = [u32_at(b, 56)?, u32_at(b, 60)?].map(|v| hex_or_zero(u64::from(v)));
    Some(format!(
        "{{f_type={fs_type}, f_bsize={}, f_blocks={}, f_bfree={}, f_bavail={}, f_files={}, \
         f_ffree={}, f_fsid={{val=[{}, {}]}}, f_namelen={}, f_frsize={}, f_flags={}}}",
        field(1)?,
        field(2)?,
        field(3)?,
        field(4)?,
        field(5)?,
        field(6)?,
        fsid[0],
        fsid[1],
        field(8)?,
        field(9)?,
        flags(field(10)?, MOUNT_FLAGS, "0"),
    ))
}

const STACK_FLAGS: &[(u64, &str)] = &[
    (1, "SS_ONSTACK"),
    (2, "SS_DISABLE"),
    (0x8000_0000, "SS_AUTODISARM"),
];

/// `stack_t` (sigaltstack).
pub fn stack_t(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{ss_sp={}, ss_flags={}, ss_size={}}}",
        super::fmt::ptr(u64_at(b, 0)?),
        flags(u64::from(u32_at(b, 8)?), STACK_FLAGS, "0"),
        u64_at(b, 16)?
    ))
}

/// A CPU mask (`sched_getaffinity`): the numbers of the CPUs in it.
pub fn cpu_mask(b: &[u8]) -> Option<String> {
    let cpus: Vec<String> = b
        .iter()
        .enumerate()
        .flat_map(|(byte, bits)| {
            (0..8)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| (byte * 8 + bit).to_string())
        })
        .collect();
    Some(format!("[{}]", cpus.join(" ")))
}

/// A list of group ids (`getgroups`).
pub fn gid_list(b: &[u8]) -> Option<String> {
    let ids: Vec<String> = b
        .chunks_exact(4)
        .filter_map(|c| c.try_into().ok().map(u32::from_ne_bytes))
        .map(|id| id.to_string())
        .collect();
    Some(format!("[{}]", ids.join(", ")))
}

const EPOLL_EVENTS: &[(u64, &str)] = &[
    (0x1, "EPOLLIN"),
    (0x2, "EPOLLPRI"),
    (0x4, "EPOLLOUT"),
    (0x8, "EPOLLERR"),
    (0x10, "EPOLLHUP"),
    (0x20, "EPOLLNVAL"),
    (0x40, "EPOLLRDNORM"),
    (0x80, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"),
    (0x200, "EPOLLWRBAND"),
    (0x400, "EPOLLMSG"),
    (0x2000, "EPOLLRDHUP"),
    (0x1000_0000, "EPOLLEXCLUSIVE"),
    (0x2000_0000, "EPOLLWAKEUP"),
    (0x4000_0000, "EPOLLONESHOT"),
    (0x8000_0000, "EPOLLET"),
];

/// `struct epoll_event` (packed: 4 bytes of events, 8 of data), as
/// epoll_ctl reads it.
pub fn epoll_event(e: &[u8]) -> Option<String> {
    let mask = u32_at(e, 0)?;
    let data = u64_at(e, 4)?;
    Some(format!(
        "{{events={}, data={{u32={}, u64={data}}}}}",
        flags(u64::from(mask), EPOLL_EVENTS, "0"),
        data as u32
    ))
}

/// The events epoll_wait returned.
pub fn epoll_events(b: &[u8]) -> Option<String> {
    let events: Option<Vec<String>> = b.chunks_exact(12).map(epoll_event).collect();
    Some(format!("[{}]", events?.join(", ")))
}
