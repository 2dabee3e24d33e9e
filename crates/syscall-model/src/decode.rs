//! Argument kinds for an strace-like view. Each row of the syscall table
//! lists its arguments' kinds; a row without them prints raw values.

/// How to print one syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A file descriptor.
    Fd,
    /// A directory fd for *at() calls (AT_FDCWD = -100).
    DirFd,
    /// A NUL-terminated path in tracee memory.
    Path,
    /// A NUL-terminated string in tracee memory.
    Str,
    /// A data buffer whose length is the argument at this index.
    Buf(usize),
    /// Signed int.
    Int,
    /// Unsigned int.
    UInt,
    /// A size or count (size_t).
    Size,
    /// A file offset.
    Offset,
    /// Hexadecimal.
    Hex,
    /// A pointer (printed as an address).
    Ptr,
    /// A socket address the kernel reads, naming the far end (connect's,
    /// sendto's destination); its length is the argument at this index.
    PeerAddr(usize),
    /// A socket address the kernel reads, naming the socket's own end
    /// (bind's); its length is the argument at this index.
    LocalAddr(usize),
    /// A socket address the kernel writes, naming the far end (accept's
    /// peer, recvfrom's source, getpeername's).
    PeerAddrOut,
    /// A socket address the kernel writes, naming the socket's own end
    /// (getsockname's).
    LocalAddrOut,
    /// A pointer to a 32-bit length the kernel updates (a `socklen_t`),
    /// printed `[n]`.
    LenOut,
    /// An iovec array the kernel gathers from, as many as the argument at
    /// this index says.
    IovecsIn(usize),
    /// An iovec array the kernel scatters into, as many as the argument at
    /// this index says.
    IovecsOut(usize),
    /// An array of `struct pollfd`, as many as the next argument says. The
    /// kernel writes each entry's `revents`; `fd` and `events` are inputs.
    PollFds,
    /// open(2) flags (O_RDONLY|O_CLOEXEC...).
    OpenFlags,
    /// AT_* flags.
    AtFlags,
    /// A file mode (octal).
    Mode,
    /// PROT_* bits.
    MmapProt,
    /// MAP_* flags.
    MmapFlags,
    /// A signal number.
    Signal,
    /// A process or thread id.
    Pid,
    /// lseek whence.
    Whence,
    /// An ioctl request.
    IoctlRequest,
    /// An fcntl command.
    FcntlCmd,
    /// A futex operation.
    FutexOp,
    /// CLONE_* flags.
    CloneFlags,
    /// A clock id.
    ClockId,
    /// A prctl option.
    PrctlOption,
    /// Bits named by this table (`0` when none is set).
    Flags(Names),
    /// The flags of a call that makes descriptors, named by this table;
    /// the close-on-exec one is `O_CLOEXEC`'s bit, as for every such call.
    NewFdFlags(Names),
    /// One value named by this table: an operation, a resource, a family.
    Named(Names),
    /// A struct the kernel reads.
    StructIn(Struct),
    /// A struct the kernel writes, shown after a successful call.
    StructOut(Struct),
}

/// Values and the names strace gives them ([`crate::names`]).
pub type Names = &'static [(u64, &'static str)];

/// A struct an argument points to, as strace shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Struct {
    Stat,
    Statfs,
    Statx,
    Timespec,
    Timeval,
    Rlimit,
    Sigaction,
    /// A 64-bit signal set.
    Sigset,
    StackT,
    /// Two ints: pipe's and socketpair's descriptors.
    IntPair,
    Utsname,
    /// An int wait status.
    WaitStatus,
    EpollEvent,
}

impl Struct {
    /// Its size in the x86_64 ABI.
    pub const fn size(self) -> usize {
        match self {
            Struct::Stat => crate::outputs::STAT_SIZE as usize,
            Struct::Statfs => crate::outputs::STATFS_SIZE as usize,
            Struct::Statx => crate::outputs::STATX_SIZE as usize,
            Struct::Timespec | Struct::Timeval | Struct::Rlimit => 16,
            Struct::Sigaction => 32,
            Struct::Sigset | Struct::IntPair => 8,
            Struct::StackT => 24,
            Struct::Utsname => 390,
            Struct::WaitStatus => 4,
            Struct::EpollEvent => 12,
        }
    }
}

/// Argument kinds of syscall `nr`, one per argument it takes; empty when
/// not described (print raw values then).
pub fn arg_kinds(nr: u64) -> &'static [ArgKind] {
    crate::syscall(nr).map_or(&[], |row| row.args)
}

#[cfg(test)]
mod tests {
    use super::ArgKind::*;
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            arg_kinds(libc::SYS_openat as u64),
            &[DirFd, Path, OpenFlags, Mode]
        );
        assert_eq!(arg_kinds(libc::SYS_write as u64)[1], Buf(2));
        assert!(arg_kinds(9999).is_empty());
        // No table entry describes more than 6 arguments, and a kind that
        // names another argument names one that exists.
        for nr in crate::known_syscalls() {
            let k = arg_kinds(nr);
            assert!(k.len() <= 6);
            for kind in k {
                if let Buf(i) | PeerAddr(i) | LocalAddr(i) | IovecsIn(i) | IovecsOut(i) = kind {
                    assert!(*i < k.len(), "{nr}");
                }
            }
        }
    }
}
