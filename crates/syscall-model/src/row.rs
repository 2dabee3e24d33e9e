//! The shape of one row of the syscall table: everything replay knows about
//! one syscall, so that adding or changing a syscall touches one row (and a
//! hook, when the syscall is irregular) and nothing else.
//!
//! Rows are built with `const` builder methods so that the table in
//! `rows.rs` reads one line per syscall:
//!
//! ```text
//! row(Sysno::read, DESC).args(&[Fd, Buf(2), Size]).blocks().writes(Returned { buf: 1, cap: 2 }),
//! ```

use crate::decode::ArgKind;
use crate::outputs::Out;
use crate::{Classes, MemRange, MemoryReader, ModelError};
use syscalls::Sysno;

/// A syscall's six argument registers, in order (rdi, rsi, rdx, r10, r8, r9).
pub type Args = [u64; 6];

/// A syscall as the recorder sees it at its exit stop.
pub struct Exit<'a> {
    pub args: &'a Args,
    /// The raw return value: a negative errno on failure.
    pub ret: i64,
    /// The tracee's memory as it is after the call.
    pub mem: &'a dyn MemoryReader,
}

/// Computes the memory an irregular syscall wrote.
pub type WritesHook = fn(&Exit, &mut Out) -> Result<(), ModelError>;

/// Adds the memory an irregular syscall reads at entry (beyond the strings
/// its [`ArgKind::Path`] and [`ArgKind::Str`] arguments name).
pub type ReadsHook = fn(&Args, &dyn MemoryReader, &mut Vec<MemRange>);

/// A fixed-size struct the kernel writes at the address in argument `.0`:
/// `.1` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At(pub usize, pub u64);

/// The memory a syscall writes, computed at its exit.
#[derive(Clone, Copy)]
pub enum Writes {
    /// No tracee memory, whatever the arguments and result.
    Nothing,
    /// `ret` bytes, at most argument `cap`, into the buffer at argument `buf`.
    Returned { buf: usize, cap: usize },
    /// These structs, when the call succeeds.
    OnSuccess(&'static [At]),
    /// Worked out by a function: the layout depends on the arguments or on
    /// memory.
    Hook(WritesHook),
    /// Current kernels answer ENOSYS (`sys_ni_syscall`); a kernel that
    /// implements it is refused, since replay knows nothing else of it.
    NotImplemented,
    /// Replay refuses the call, for this reason, rather than record a trace
    /// that would be silently wrong.
    Refused(&'static str),
    /// The recorder answers ENOSYS without running the call, as a kernel
    /// built without the feature does, because the call's effects happen
    /// outside any syscall (for this reason). Programs are written to fall
    /// back when it is missing; a refusal would stop them all.
    Absent(&'static str),
}

/// Where a call that waits under a temporary signal mask (`rt_sigsuspend`,
/// `ppoll`, ...) finds the mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskAt {
    /// The argument is a pointer to the `sigset_t`.
    Arg(usize),
    /// The argument points to `{ const sigset_t *mask; size_t size; }`
    /// (`pselect6`); 0 means no mask.
    Behind(usize),
}

/// A call that writes bytes from memory into the file behind a descriptor
/// (`write`, `pwritev2`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdWrite {
    /// The argument holding the descriptor.
    pub fd: usize,
    /// Where the bytes come from.
    pub data: Sent,
    /// The argument holding an explicit file offset; -1 there, or no such
    /// argument, means the file's current position.
    pub offset: Option<usize>,
}

impl FdWrite {
    /// The file offset the call names, or `None` when it writes at the
    /// file's current position (and moves it).
    pub fn explicit_offset(&self, args: &Args) -> Option<u64> {
        self.offset
            .map(|i| args[i])
            .filter(|&offset| offset as i64 != -1)
    }
}

/// Where the bytes a call writes to a descriptor are in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// One buffer, at this argument.
    Buffer(usize),
    /// An iovec array at the first argument, as many as the second says.
    Iovecs(usize, usize),
}

/// What a successful call's return value is, for display and for
/// following descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// A number: a count, an id, 0.
    Value,
    /// An address (strace prints it in hex).
    Address,
    /// A new file descriptor.
    Fd,
    /// A thread id (a new task's, or the caller's own): replay's real one
    /// differs from the recorded one.
    Tid,
    /// Not a result: the interrupted context's rax, put back
    /// (`rt_sigreturn`).
    Restored,
}

/// What a call does to the task that makes it, or to the set of tasks:
/// the calls the recorder and replay follow with their own bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEffect {
    /// Nothing beyond its result and writes.
    None,
    /// Replaces the process's program (`execve`, `execveat`).
    Exec,
    /// Makes a new thread or process (`clone`, `clone3`, `fork`, `vfork`).
    NewTask,
    /// Ends the calling thread (`exit`).
    EndsThread,
    /// Ends every thread of the process (`exit_group`).
    EndsProcess,
}

/// What a successful call does to the process's descriptor table besides
/// returning a new descriptor ([`Returns::Fd`]), for the analyses that
/// follow descriptors.
#[derive(Clone, Copy)]
pub enum FdEffect {
    None,
    /// Closes the descriptor in argument 0.
    Closes,
    /// `close_range(first, last, flags)`: closes the range, or marks it
    /// close-on-exec.
    ClosesRange,
    /// Returns a copy of the descriptor in argument 0.
    Duplicates,
    /// [`FdEffect::Duplicates`] when the function says so, for these
    /// arguments (`fcntl(F_DUPFD)`).
    DuplicatesWhen(fn(&Args) -> bool),
    /// Writes two new descriptors (a pipe's ends, a socket pair) into the
    /// `int[2]` at this argument.
    Pair(usize),
}

/// What a call does to the file, directory, socket or process its
/// arguments name, as the audits (`replay extract`, `replay report`) sort
/// calls: one verb per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// None the audits follow.
    None,
    /// Reads a file's bytes (`read`, `preadv2`, ...).
    Read,
    /// Writes a file's bytes or changes its size (`write`, `ftruncate`).
    Write,
    /// Runs the file as a program.
    Exec,
    /// Looks at a file without opening it (`stat`, `access`, `readlink`),
    /// or asks a socket for an address.
    Inspect,
    /// Removes a name (`unlink`, `rmdir`).
    Remove,
    /// Opens a file by name.
    Open,
    /// Maps a file into memory.
    Map,
    /// Moves a name.
    Rename,
    /// Changes a file's mode or owner.
    ChangeAttributes,
    /// Makes a directory.
    MakeDir,
    /// Lists a directory.
    List,
    /// Connects a socket to a peer.
    Connect,
    /// Gives a socket its own address.
    Bind,
    /// Makes a socket accept connections.
    Listen,
    /// Takes a connection, as a new descriptor.
    Accept,
    /// Sends on a socket (`sendto`, `sendmsg`).
    Send,
    /// Receives on a socket (`recvfrom`, `recvmsg`).
    Receive,
    /// Changes the process's user or group ids or capabilities.
    ChangeCredentials,
    /// Reads or changes another process's memory or registers.
    ReachIntoProcess,
}

/// Whether replay runs the syscall in the kernel or feeds its recorded
/// result back.
#[derive(Clone, Copy)]
pub enum Replay {
    /// Result and memory writes come from the trace.
    Emulated,
    /// Runs for real: it shapes the address space, registers or signal state.
    Executed,
    /// Runs for real when the function says so, for these arguments.
    ExecutedWhen(fn(&Args) -> bool),
    /// Runs for real even where it failed in the recording, as its failure
    /// has an effect of its own (a signal the kernel forces).
    ExecutedEvenFailing,
}

/// Whether the syscall may wait an unbounded time (on another thread, the
/// network, a timer...). The scheduler must not wait on it.
#[derive(Clone, Copy)]
pub enum Blocking {
    Never,
    Always,
    /// Blocks when the function says so, for these arguments.
    When(fn(&Args) -> bool),
}

/// One row of the syscall table.
#[derive(Clone, Copy)]
pub struct Syscall {
    /// The x86_64 number.
    pub nr: u64,
    /// The kernel's name for it (`syscall_64.tbl`).
    pub name: &'static str,
    /// strace's trace classes.
    pub classes: Classes,
    /// How each argument prints; empty means "raw values".
    pub args: &'static [ArgKind],
    pub replay: Replay,
    pub blocking: Blocking,
    pub writes: Writes,
    pub reads: Option<ReadsHook>,
    /// A signal may interrupt it with `-ERESTART_RESTARTBLOCK`, and the
    /// kernel continues it as `restart_syscall`.
    pub restarts_through_block: bool,
    /// It maps, unmaps or changes the protection of memory, so a recorder
    /// that caches the memory map must read it again.
    pub changes_mappings: bool,
    /// Where it writes is read from structures in memory (an iovec array,
    /// a msghdr) that the kernel copied at the entry and the written data
    /// itself may overwrite: the recorder reads them at the entry too.
    pub layout_in_memory: bool,
    pub returns: Returns,
    /// It writes bytes into the file behind a descriptor.
    pub fd_write: Option<FdWrite>,
    /// It swaps in this temporary signal mask while it waits, and the
    /// kernel saves the old one for a handler that interrupts it.
    pub temporary_mask: Option<MaskAt>,
    pub task: TaskEffect,
    pub activity: Activity,
    pub fd_effect: FdEffect,
}

/// A row for `sysno` in `classes` (bits of [`Classes`]) that writes
/// nothing, never blocks and is emulated; the builder methods say what else
/// is true of it.
pub(crate) const fn row(sysno: Sysno, classes: u16) -> Syscall {
    numbered(sysno.id() as u64, sysno.name(), classes)
}

/// [`row`] for a call the kernel does not know by that number.
pub(crate) const fn numbered(nr: u64, name: &'static str, classes: u16) -> Syscall {
    Syscall {
        nr,
        name,
        classes: Classes::from_bits(classes),
        args: &[],
        replay: Replay::Emulated,
        blocking: Blocking::Never,
        writes: Writes::Nothing,
        reads: None,
        restarts_through_block: false,
        changes_mappings: false,
        layout_in_memory: false,
        temporary_mask: None,
        returns: Returns::Value,
        fd_write: None,
        task: TaskEffect::None,
        activity: Activity::None,
        fd_effect: FdEffect::None,
    }
}

impl Syscall {
    pub(crate) const fn args(mut self, kinds: &'static [ArgKind]) -> Syscall {
        self.args = kinds;
        self
    }

    pub(crate) const fn executed(mut self) -> Syscall {
        self.replay = Replay::Executed;
        self
    }

    pub(crate) const fn executed_even_failing(mut self) -> Syscall {
        self.replay = Replay::ExecutedEvenFailing;
        self
    }

    /// Whether replay runs the call even where it failed in the recording.
    pub fn runs_even_failing(&self) -> bool {
        matches!(self.replay, Replay::ExecutedEvenFailing)
    }

    pub(crate) const fn executed_when(mut self, when: fn(&Args) -> bool) -> Syscall {
        self.replay = Replay::ExecutedWhen(when);
        self
    }

    pub(crate) const fn blocks(mut self) -> Syscall {
        self.blocking = Blocking::Always;
        self
    }

    pub(crate) const fn blocks_when(mut self, when: fn(&Args) -> bool) -> Syscall {
        self.blocking = Blocking::When(when);
        self
    }

    /// Why the recorder answers this call ENOSYS without running it, when
    /// it does ([`Writes::Absent`]).
    pub fn absent_because(&self) -> Option<&'static str> {
        match self.writes {
            Writes::Absent(reason) => Some(reason),
            _ => None,
        }
    }

    pub(crate) const fn writes(mut self, writes: Writes) -> Syscall {
        self.writes = writes;
        self
    }

    pub(crate) const fn reads(mut self, reads: ReadsHook) -> Syscall {
        self.reads = Some(reads);
        self
    }

    pub(crate) const fn restarts_through_block(mut self) -> Syscall {
        self.restarts_through_block = true;
        self
    }

    pub(crate) const fn changes_mappings(mut self) -> Syscall {
        self.changes_mappings = true;
        self
    }

    pub(crate) const fn layout_in_memory(mut self) -> Syscall {
        self.layout_in_memory = true;
        self
    }

    pub(crate) const fn writes_to_fd(
        mut self,
        fd: usize,
        data: Sent,
        offset: Option<usize>,
    ) -> Syscall {
        self.fd_write = Some(FdWrite { fd, data, offset });
        self
    }

    pub(crate) const fn returns_fd(mut self) -> Syscall {
        self.returns = Returns::Fd;
        self
    }

    pub(crate) const fn returns_restored(mut self) -> Syscall {
        self.returns = Returns::Restored;
        self
    }

    pub(crate) const fn returns_tid(mut self) -> Syscall {
        self.returns = Returns::Tid;
        self
    }

    pub(crate) const fn returns_address(mut self) -> Syscall {
        self.returns = Returns::Address;
        self
    }

    pub(crate) const fn execs(mut self) -> Syscall {
        self.task = TaskEffect::Exec;
        self
    }

    pub(crate) const fn creates_task(mut self) -> Syscall {
        self.task = TaskEffect::NewTask;
        self
    }

    pub(crate) const fn ends_thread(mut self) -> Syscall {
        self.task = TaskEffect::EndsThread;
        self
    }

    pub(crate) const fn ends_process(mut self) -> Syscall {
        self.task = TaskEffect::EndsProcess;
        self
    }

    pub(crate) const fn does(mut self, activity: Activity) -> Syscall {
        self.activity = activity;
        self
    }

    pub(crate) const fn fd_effect(mut self, effect: FdEffect) -> Syscall {
        self.fd_effect = effect;
        self
    }

    pub(crate) const fn temporary_mask(mut self, at: MaskAt) -> Syscall {
        self.temporary_mask = Some(at);
        self
    }

    /// The first argument of this kind, if the call takes one.
    pub fn arg_of_kind(&self, kind: ArgKind) -> Option<usize> {
        self.args.iter().position(|k| *k == kind)
    }

    /// The open(2) flags the call opens its file with, where it opens one
    /// by name and says how (`openat2` keeps them in a struct: `None`).
    pub fn open_flags(&self, args: &Args) -> Option<u64> {
        const CREAT_FLAGS: u64 = (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64;
        if self.activity != Activity::Open {
            return None;
        }
        match self.arg_of_kind(ArgKind::OpenFlags) {
            Some(i) => Some(args[i]),
            // creat(2) is open(2) with these flags.
            None if self.nr == libc::SYS_creat as u64 => Some(CREAT_FLAGS),
            None => None,
        }
    }

    /// True if the call, with these arguments, returns a copy of the
    /// descriptor in its first argument.
    pub fn duplicates(&self, args: &Args) -> bool {
        match self.fd_effect {
            FdEffect::Duplicates => true,
            FdEffect::DuplicatesWhen(when) => when(args),
            _ => false,
        }
    }

    /// Whether the descriptors a successful call makes are close-on-exec.
    pub fn new_fds_close_on_exec(&self, args: &Args) -> bool {
        const O_CLOEXEC: u64 = libc::O_CLOEXEC as u64;
        const MFD_CLOEXEC: u64 = libc::MFD_CLOEXEC as u64;
        const F_DUPFD_CLOEXEC: u64 = libc::F_DUPFD_CLOEXEC as u64;
        // Calls that take open(2)-style flags (SOCK_CLOEXEC, EFD_CLOEXEC,
        // ... are O_CLOEXEC too) name them; the rest are irregular.
        if let Some(flags) = self.open_flags(args) {
            return flags & O_CLOEXEC != 0;
        }
        let fd_flags = self
            .args
            .iter()
            .position(|k| matches!(k, ArgKind::OpenFlags | ArgKind::NewFdFlags(_)));
        if let Some(i) = fd_flags {
            return args[i] & O_CLOEXEC != 0;
        }
        match self.nr as i64 {
            libc::SYS_socket | libc::SYS_socketpair => args[1] & O_CLOEXEC != 0,
            libc::SYS_memfd_create => args[1] & MFD_CLOEXEC != 0,
            libc::SYS_fcntl => args[1] == F_DUPFD_CLOEXEC,
            _ => false,
        }
    }

    /// True if replay runs this call, with these arguments, in the kernel.
    pub fn is_executed(&self, args: &Args) -> bool {
        match self.replay {
            Replay::Emulated => false,
            Replay::Executed | Replay::ExecutedEvenFailing => true,
            Replay::ExecutedWhen(when) => when(args),
        }
    }

    /// True if this call, with these arguments, may wait an unbounded time.
    pub fn may_block(&self, args: &Args) -> bool {
        match self.blocking {
            Blocking::Never => false,
            Blocking::Always => true,
            Blocking::When(when) => when(args),
        }
    }

    /// For a call that may block and whose only output is bytes into one
    /// buffer (`read`; `recvfrom` with no address to fill, which is
    /// `recv`): that buffer's argument and size.
    pub fn blocking_buffer(&self, args: &Args) -> Option<(usize, u64)> {
        if !self.may_block(args) {
            return None;
        }
        match self.writes {
            Writes::Returned { buf, cap } => Some((buf, args[cap])),
            _ if self.nr == libc::SYS_recvfrom as u64 && args[4] == 0 => Some((1, args[2])),
            _ => None,
        }
    }
}
