//! Which syscalls the preload library makes itself, recording their results
//! in the buffer, and what each reads and writes: the library's part of the
//! syscall model, kept `no_std` and dependency-free for the library.
//!
//! The full model (`replay-syscall-model`) checks this table in its tests: every
//! buffered call's writes must be what the model says the kernel writes.

use sys::*;

/// Numbers of the syscalls the library buffers (x86_64).
pub mod sys {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const CLOSE: u64 = 3;
    pub const STAT: u64 = 4;
    pub const FSTAT: u64 = 5;
    pub const LSTAT: u64 = 6;
    pub const POLL: u64 = 7;
    pub const LSEEK: u64 = 8;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const IOCTL: u64 = 16;
    pub const PREAD64: u64 = 17;
    pub const PWRITE64: u64 = 18;
    pub const ACCESS: u64 = 21;
    pub const GETPID: u64 = 39;
    pub const RECVFROM: u64 = 45;
    pub const UNAME: u64 = 63;
    pub const FCNTL: u64 = 72;
    pub const GETCWD: u64 = 79;
    pub const READLINK: u64 = 89;
    pub const GETTIMEOFDAY: u64 = 96;
    pub const GETRLIMIT: u64 = 97;
    pub const GETRUSAGE: u64 = 98;
    pub const SYSINFO: u64 = 99;
    pub const GETUID: u64 = 102;
    pub const GETGID: u64 = 104;
    pub const GETEUID: u64 = 107;
    pub const GETEGID: u64 = 108;
    pub const GETPPID: u64 = 110;
    pub const GETTID: u64 = 186;
    pub const GETXATTR: u64 = 191;
    pub const LGETXATTR: u64 = 192;
    pub const FGETXATTR: u64 = 193;
    pub const LISTXATTR: u64 = 194;
    pub const LLISTXATTR: u64 = 195;
    pub const FLISTXATTR: u64 = 196;
    pub const TIME: u64 = 201;
    pub const GETDENTS64: u64 = 217;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const EPOLL_WAIT: u64 = 232;
    pub const OPENAT: u64 = 257;
    pub const NEWFSTATAT: u64 = 262;
    pub const READLINKAT: u64 = 267;
    pub const FACCESSAT: u64 = 269;
    pub const PRLIMIT64: u64 = 302;
    pub const GETRANDOM: u64 = 318;
    pub const STATX: u64 = 332;
    pub const FACCESSAT2: u64 = 439;
}

/// Syscalls the library can buffer, with the number of arguments each
/// takes; the tracer patches only the sites of these. Anything else at a
/// patched site takes the traced path. A test in the syscall model checks
/// the counts against its argument kinds, and this list against [`plan`].
pub const BUFFERED: &[(u64, usize)] = &[
    (READ, 3),
    (WRITE, 3),
    (CLOSE, 1),
    (STAT, 2),
    (FSTAT, 2),
    (LSTAT, 2),
    (POLL, 3),
    (LSEEK, 3),
    (RT_SIGACTION, 4),   // queries
    (RT_SIGPROCMASK, 4), // queries
    (IOCTL, 3),          // TCGETS, FIONREAD
    (PREAD64, 4),
    (PWRITE64, 4),
    (ACCESS, 2),
    (GETPID, 0),
    (RECVFROM, 6), // no source address
    (UNAME, 1),
    (FCNTL, 3), // F_GETFD, F_GETFL, F_SETFD
    (GETCWD, 2),
    (READLINK, 3),
    (GETTIMEOFDAY, 2),
    (GETRLIMIT, 2),
    (GETRUSAGE, 2),
    (SYSINFO, 1),
    (GETUID, 0),
    (GETGID, 0),
    (GETEUID, 0),
    (GETEGID, 0),
    (GETPPID, 0),
    (GETTID, 0),
    (GETXATTR, 4),
    (LGETXATTR, 4),
    (FGETXATTR, 4),
    (LISTXATTR, 3),
    (LLISTXATTR, 3),
    (FLISTXATTR, 3),
    (TIME, 1),
    (GETDENTS64, 3),
    (CLOCK_GETTIME, 2),
    (EPOLL_WAIT, 4),
    (OPENAT, 4),
    (NEWFSTATAT, 4),
    (READLINKAT, 4),
    (FACCESSAT, 3),
    (PRLIMIT64, 4), // queries
    (GETRANDOM, 3),
    (STATX, 5),
    (FACCESSAT2, 4),
];

/// `TCGETS` and `FIONREAD`, the ioctl requests the library buffers.
pub const TCGETS: u64 = 0x5401;
pub const FIONREAD: u64 = 0x541b;
/// `F_GETFD`, `F_SETFD`, `F_GETFL`.
const FCNTL_FD_FLAGS: core::ops::RangeInclusive<u64> = 1..=3;
pub const MSG_DONTWAIT: u64 = 0x40;
pub const MSG_WAITALL: u64 = 0x100;
/// recv(2): return the real length of a datagram longer than the buffer,
/// or (on a stream) discard the bytes, writing nothing.
pub const MSG_TRUNC: u64 = 0x20;
pub const POLLFD_LEN: usize = 8;
pub const EPOLL_EVENT_LEN: usize = 12;
/// More descriptors than this go through ptrace (the record must fit).
pub const MAX_POLL_FDS: u64 = 4096;
pub const STAT_LEN: usize = 144;
/// The kernel's struct sigaction with an 8-byte mask.
pub const KERNEL_SIGACTION_LEN: usize = 32;
pub const RLIMIT_LEN: usize = 16;
pub const RUSAGE_LEN: usize = 144;
pub const SYSINFO_LEN: usize = 112;
pub const STATX_LEN: usize = 256;
/// The kernel's `struct termios` (`TCGETS`), smaller than glibc's.
pub const KERNEL_TERMIOS_LEN: usize = 36;

/// What a buffered call reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    pub input: Input,
    pub output: Output,
    /// Upper bound of the bytes the record carries.
    pub max_bytes: usize,
    pub how: How,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    None,
    /// A NUL-terminated path.
    Path(u64),
    /// `result` bytes at this address (what write sent).
    Sent(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    None,
    /// This many bytes at this address when the call succeeds.
    Fixed(u64, usize),
    /// `result` bytes at this address.
    Received(u64),
    /// `result` items of this size at this address (epoll events).
    Items(u64, usize),
    /// `result` bytes at this address, at most this many: with a size of 0
    /// the xattr calls return the size they would need and write nothing.
    Bounded(u64, usize),
}

/// How the call is made without ever blocking the thread indefinitely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Plain,
    /// read/pread: try without waiting; a pipe or socket with no data
    /// takes the traced path, a regular file is read normally.
    ReadNoWait {
        offset: Option<u64>,
    },
    WriteNoWait {
        offset: Option<u64>,
    },
    /// openat: only files and directories, which never block on open.
    Open,
    /// recvfrom: with MSG_DONTWAIT added; nothing to read takes the traced
    /// path unless the program asked not to wait.
    RecvNoWait,
    /// poll/epoll_wait: first with a zero timeout; nothing ready takes the
    /// traced path unless the program's timeout was zero.
    PollNoWait {
        timeout_arg: usize,
    },
    /// `rdtsc` (`rdtscp` with `aux`) with the counter made readable for
    /// the one instruction: the low half is the result, the high half (and
    /// the aux value) go to the saved rdx (and rcx) at the first argument.
    ReadTsc {
        aux: bool,
    },
}

pub const PATH_MAX: usize = 4096;
const RUSAGE_CHILDREN: i64 = -1;

/// How the library makes syscall `nr` with arguments `a` without the
/// tracer, or `None`: the call takes the traced path.
pub fn plan(nr: u64, a: &[u64; 6]) -> Option<Plan> {
    let p = |input, output, max_bytes, how| {
        Some(Plan {
            input,
            output,
            max_bytes,
            how,
        })
    };
    let n = |len: u64| usize::try_from(len).ok();
    match nr {
        READ => p(
            Input::None,
            Output::Received(a[1]),
            n(a[2])?,
            How::ReadNoWait { offset: None },
        ),
        WRITE => p(
            Input::Sent(a[1]),
            Output::None,
            n(a[2])?,
            How::WriteNoWait { offset: None },
        ),
        PREAD64 => p(
            Input::None,
            Output::Received(a[1]),
            n(a[2])?,
            How::ReadNoWait { offset: Some(a[3]) },
        ),
        PWRITE64 => p(
            Input::Sent(a[1]),
            Output::None,
            n(a[2])?,
            How::WriteNoWait { offset: Some(a[3]) },
        ),
        CLOSE | LSEEK | GETPID | GETUID | GETGID | GETEUID | GETEGID | GETPPID | GETTID => {
            p(Input::None, Output::None, 0, How::Plain)
        }
        STAT | LSTAT => p(
            Input::Path(a[0]),
            Output::Fixed(a[1], STAT_LEN),
            PATH_MAX + STAT_LEN,
            How::Plain,
        ),
        FSTAT => p(
            Input::None,
            Output::Fixed(a[1], STAT_LEN),
            STAT_LEN,
            How::Plain,
        ),
        IOCTL => match a[1] {
            TCGETS => p(
                Input::None,
                Output::Fixed(a[2], KERNEL_TERMIOS_LEN),
                KERNEL_TERMIOS_LEN,
                How::Plain,
            ),
            FIONREAD => p(Input::None, Output::Fixed(a[2], 4), 4, How::Plain),
            _ => None,
        },
        ACCESS => p(Input::Path(a[0]), Output::None, PATH_MAX, How::Plain),
        UNAME => p(Input::None, Output::Fixed(a[0], 390), 390, How::Plain),
        // Queries only: with no new action or mask they change nothing that
        // replay would have to recreate (Python asks for every signal's
        // handler at startup). Setting calls take the traced path.
        RT_SIGACTION if a[1] == 0 => p(
            Input::None,
            Output::Fixed(a[2], KERNEL_SIGACTION_LEN),
            KERNEL_SIGACTION_LEN,
            How::Plain,
        ),
        RT_SIGPROCMASK if a[1] == 0 => p(Input::None, Output::Fixed(a[2], 8), 8, How::Plain),
        // getrlimit, getrusage, sysinfo; prlimit64 without a new limit.
        GETRLIMIT => p(
            Input::None,
            Output::Fixed(a[1], RLIMIT_LEN),
            RLIMIT_LEN,
            How::Plain,
        ),
        // The saved rdx, and rcx after it, are what the instruction writes
        // besides eax.
        crate::RDTSC => p(
            Input::None,
            Output::Fixed(a[0], 8),
            8,
            How::ReadTsc { aux: false },
        ),
        crate::RDTSCP => p(
            Input::None,
            Output::Fixed(a[0], 16),
            16,
            How::ReadTsc { aux: true },
        ),
        // A process's or thread's own counts take the traced path: the
        // recorder takes its ptrace stops out of the voluntary context
        // switches there (the children's are theirs to keep).
        GETRUSAGE if a[0] as i64 != RUSAGE_CHILDREN => None,
        GETRUSAGE => p(
            Input::None,
            Output::Fixed(a[1], RUSAGE_LEN),
            RUSAGE_LEN,
            How::Plain,
        ),
        SYSINFO => p(
            Input::None,
            Output::Fixed(a[0], SYSINFO_LEN),
            SYSINFO_LEN,
            How::Plain,
        ),
        PRLIMIT64 if a[2] == 0 => p(
            Input::None,
            Output::Fixed(a[3], RLIMIT_LEN),
            RLIMIT_LEN,
            How::Plain,
        ),
        // F_GETFD, F_SETFD, F_GETFL
        FCNTL if FCNTL_FD_FLAGS.contains(&a[1]) => p(Input::None, Output::None, 0, How::Plain),
        GETCWD => p(Input::None, Output::Received(a[0]), n(a[1])?, How::Plain),
        READLINK => p(
            Input::Path(a[0]),
            Output::Received(a[1]),
            PATH_MAX.checked_add(n(a[2])?)?,
            How::Plain,
        ),
        GETTIMEOFDAY if a[1] == 0 => p(Input::None, Output::Fixed(a[0], 16), 16, How::Plain),
        TIME => p(Input::None, Output::Fixed(a[0], 8), 8, How::Plain),
        GETDENTS64 => p(Input::None, Output::Received(a[1]), n(a[2])?, How::Plain),
        CLOCK_GETTIME => p(Input::None, Output::Fixed(a[1], 16), 16, How::Plain),
        OPENAT => p(Input::Path(a[1]), Output::None, PATH_MAX, How::Open),
        NEWFSTATAT => p(
            Input::Path(a[1]),
            Output::Fixed(a[2], STAT_LEN),
            PATH_MAX + STAT_LEN,
            How::Plain,
        ),
        READLINKAT => p(
            Input::Path(a[1]),
            Output::Received(a[2]),
            PATH_MAX.checked_add(n(a[3])?)?,
            How::Plain,
        ),
        FACCESSAT | FACCESSAT2 => p(Input::Path(a[1]), Output::None, PATH_MAX, How::Plain),
        GETRANDOM => p(Input::None, Output::Received(a[0]), n(a[1])?, How::Plain),
        // getxattr, lgetxattr (ls -l asks for ACLs and labels per file).
        GETXATTR | LGETXATTR => p(
            Input::Path(a[0]),
            Output::Bounded(a[2], n(a[3])?),
            PATH_MAX.checked_add(n(a[3])?)?,
            How::Plain,
        ),
        FGETXATTR => p(
            Input::None,
            Output::Bounded(a[2], n(a[3])?),
            n(a[3])?,
            How::Plain,
        ),
        // listxattr, llistxattr, flistxattr
        LISTXATTR | LLISTXATTR => p(
            Input::Path(a[0]),
            Output::Bounded(a[1], n(a[2])?),
            PATH_MAX.checked_add(n(a[2])?)?,
            How::Plain,
        ),
        FLISTXATTR => p(
            Input::None,
            Output::Bounded(a[1], n(a[2])?),
            n(a[2])?,
            How::Plain,
        ),
        // poll: the pollfd array comes back with revents filled in.
        POLL if a[1] <= MAX_POLL_FDS => p(
            Input::None,
            Output::Fixed(a[0], n(a[1])? * POLLFD_LEN),
            n(a[1])? * POLLFD_LEN,
            How::PollNoWait { timeout_arg: 2 },
        ),
        // recvfrom without a source address (recv), not waiting for all,
        // and writing no more than it returns (MSG_TRUNC may do either
        // less or more).
        RECVFROM if a[4] == 0 && a[3] & (MSG_WAITALL | MSG_TRUNC) == 0 => p(
            Input::None,
            Output::Received(a[1]),
            n(a[2])?,
            How::RecvNoWait,
        ),
        EPOLL_WAIT if a[2] <= MAX_POLL_FDS => p(
            Input::None,
            Output::Items(a[1], EPOLL_EVENT_LEN),
            n(a[2])? * EPOLL_EVENT_LEN,
            How::PollNoWait { timeout_arg: 3 },
        ),
        STATX => p(
            Input::Path(a[1]),
            Output::Fixed(a[4], 256),
            PATH_MAX + 256,
            How::Plain,
        ),
        _ => None,
    }
}

impl Plan {
    /// True if the call sends bytes to an fd, which may be the recorder's
    /// stdout or stderr.
    pub fn writes_to_fd(&self) -> bool {
        matches!(self.how, How::WriteNoWait { .. })
    }

    /// The memory the call wrote, given its result: address and length
    /// (length 0 when it wrote none).
    pub fn written(&self, result: i64) -> (u64, usize) {
        match self.output {
            Output::Fixed(addr, len) if result >= 0 && addr != 0 => (addr, len),
            Output::Received(addr) if result > 0 => (addr, (result as usize).min(self.max_bytes)),
            Output::Bounded(addr, cap) if result > 0 && addr != 0 => {
                (addr, (result as usize).min(cap))
            }
            Output::Items(addr, each) if result > 0 => {
                (addr, (result as usize * each).min(self.max_bytes))
            }
            _ => (0, 0),
        }
    }
}
