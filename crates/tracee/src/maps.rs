//! `/proc/<pid>/maps` parsing.

use crate::{Pid, TraceeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
    pub shared: bool,
    pub offset: u64,
    pub inode: u64,
    pub name: String,
}

impl MapEntry {
    pub fn prot(&self) -> u32 {
        let mut prot = 0;
        if self.readable {
            prot |= libc::PROT_READ as u32;
        }
        if self.writable {
            prot |= libc::PROT_WRITE as u32;
        }
        if self.executable {
            prot |= libc::PROT_EXEC as u32;
        }
        prot
    }

    /// True for mappings backed by a regular file (not `[stack]`, `[vdso]`, anonymous…).
    pub fn is_file(&self) -> bool {
        self.inode != 0 && self.name.starts_with('/')
    }
}

pub fn read(pid: Pid) -> Result<Vec<MapEntry>, TraceeError> {
    let path = format!("/proc/{pid}/maps");
    let text = std::fs::read_to_string(&path).map_err(|source| TraceeError::Proc {
        path: path.clone(),
        source,
    })?;
    Ok(text.lines().filter_map(parse_line).collect())
}

fn parse_line(line: &str) -> Option<MapEntry> {
    let mut fields = line.splitn(6, ' ');
    let range = fields.next()?;
    let perms = fields.next()?.as_bytes();
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let _dev = fields.next()?;
    let inode = fields.next()?.parse().ok()?;
    let name = fields.next().unwrap_or("").trim_start().to_string();
    let (start, end) = range.split_once('-')?;
    if perms.len() < 4 {
        return None;
    }
    Some(MapEntry {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        readable: perms[0] == b'r',
        writable: perms[1] == b'w',
        executable: perms[2] == b'x',
        shared: perms[3] == b's',
        offset,
        inode,
        name,
    })
}

/// Whether tasks `a` and `b` run on one address space (threads of a
/// process, or processes made with `CLONE_VM`), by `kcmp(KCMP_VM)`.
pub fn same_address_space(a: Pid, b: Pid) -> bool {
    const KCMP_VM: libc::c_long = 1;
    // SAFETY: kcmp takes two pids, a type and two integers it ignores for
    // KCMP_VM; it reads no memory of ours.
    let result = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::c_long::from(a),
            libc::c_long::from(b),
            KCMP_VM,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    result == 0
}

/// Whether each of `ranges` (start, length) lies inside one readable and
/// writable mapping of `pid`: where the program itself could write it.
pub fn all_writable(pid: Pid, ranges: &[(u64, u64)]) -> bool {
    read(pid).is_ok_and(|maps| {
        ranges.iter().all(|&(addr, len)| {
            maps.iter().any(|m| {
                m.readable && m.writable && m.start <= addr && addr.saturating_add(len) <= m.end
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_anonymous_lines() {
        let e = parse_line(
            "7ffff7fc3000-7ffff7fc5000 r-xp 00001000 fe:01 1234   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
        )
        .unwrap();
        assert_eq!(e.start, 0x7ffff7fc3000);
        assert!(e.executable && !e.writable && !e.shared);
        assert_eq!(e.offset, 0x1000);
        assert!(e.is_file());
        let s = parse_line(
            "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]",
        )
        .unwrap();
        assert_eq!(s.name, "[stack]");
        assert!(!s.is_file());
        let a = parse_line("7ffff7d00000-7ffff7d03000 rw-p 00000000 00:00 0 ").unwrap();
        assert_eq!(a.name, "");
    }
}
