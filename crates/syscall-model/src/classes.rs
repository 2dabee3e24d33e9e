//! strace-like trace classes (`%file`, `%desc`, ...), as a small bit set.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of strace trace classes. `Classes::FILE | Classes::DESC` is what
/// `openat` belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Classes(u16);

impl Classes {
    /// `%file`: takes a file name argument.
    pub const FILE: Classes = Classes(1 << 0);
    /// `%desc`: works on or returns a file descriptor.
    pub const DESC: Classes = Classes(1 << 1);
    /// `%network`: sockets.
    pub const NETWORK: Classes = Classes(1 << 2);
    /// `%process`: process life cycle (fork, exec, wait, exit, kill ...).
    pub const PROCESS: Classes = Classes(1 << 3);
    /// `%signal`: signal related.
    pub const SIGNAL: Classes = Classes(1 << 4);
    /// `%memory`: memory mapping.
    pub const MEMORY: Classes = Classes(1 << 5);
    /// `%ipc`: SysV IPC.
    pub const IPC: Classes = Classes(1 << 6);
    /// `%creds`: user/group ids and capabilities.
    pub const CREDS: Classes = Classes(1 << 7);
    /// `%clock`: reads or changes system clocks.
    pub const CLOCK: Classes = Classes(1 << 8);
    /// `%stat`: stat-like calls (stat, fstat, lstat, newfstatat, statx).
    pub const STAT: Classes = Classes(1 << 9);

    const NAMED: [(Classes, &'static str); 10] = [
        (Classes::FILE, "file"),
        (Classes::DESC, "desc"),
        (Classes::NETWORK, "network"),
        (Classes::PROCESS, "process"),
        (Classes::SIGNAL, "signal"),
        (Classes::MEMORY, "memory"),
        (Classes::IPC, "ipc"),
        (Classes::CREDS, "creds"),
        (Classes::CLOCK, "clock"),
        (Classes::STAT, "stat"),
    ];

    /// The empty set.
    pub const fn empty() -> Classes {
        Classes(0)
    }

    /// Every class.
    pub const fn all() -> Classes {
        Classes((1 << 10) - 1)
    }

    /// Raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// From raw bits; unknown bits are dropped.
    pub const fn from_bits(bits: u16) -> Classes {
        Classes(bits & Classes::all().0)
    }

    /// True if no class is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if every class in `other` is also in `self` (and `other` is not empty).
    pub const fn contains(self, other: Classes) -> bool {
        other.0 != 0 && self.0 & other.0 == other.0
    }

    /// True if `self` and `other` share a class.
    pub const fn intersects(self, other: Classes) -> bool {
        self.0 & other.0 != 0
    }

    /// Const-friendly union.
    pub const fn union(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }

    /// Parses one class name: `"file"`, `"%file"` (also `"%net"` for network,
    /// `"%%stat"` for stat). Case-insensitive.
    pub fn from_name(name: &str) -> Option<Classes> {
        let n = name.trim().trim_start_matches('%').to_ascii_lowercase();
        let n = match n.as_str() {
            "net" => "network",
            "creds" | "cred" => "creds",
            other => other,
        };
        Classes::NAMED
            .iter()
            .find(|(_, s)| *s == n)
            .map(|(c, _)| *c)
    }

    /// Names (without `%`) of the classes in this set, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Classes::NAMED
            .iter()
            .filter(|(c, _)| self.contains(*c))
            .map(|(_, s)| *s)
            .collect()
    }
}

impl BitOr for Classes {
    type Output = Classes;
    fn bitor(self, rhs: Classes) -> Classes {
        Classes(self.0 | rhs.0)
    }
}

impl BitOrAssign for Classes {
    fn bitor_assign(&mut self, rhs: Classes) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Classes {
    type Output = Classes;
    fn bitand(self, rhs: Classes) -> Classes {
        Classes(self.0 & rhs.0)
    }
}

impl fmt::Display for Classes {
    /// `%file|%desc`, or `-` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str("|")?;
            }
            first = false;
            write!(f, "%{n}")?;
        }
        Ok(())
    }
}
