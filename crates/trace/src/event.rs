//! Event types stored in the `events` stream.
//!
//! Every frame is one [`Event`]. Byte payloads (memory written by the kernel,
//! stack images, writable mapping contents) are not stored inline: the event
//! lists their addresses and lengths, and the bytes follow in the `data`
//! stream in the same order as they appear in the events. A reader that
//! consumes events in order therefore consumes `data` in order too.

use serde::{Deserialize, Serialize};

/// A thread or process id as the kernel reported it during recording.
/// Replay's real ids differ; this type keeps the two apart (the replayer's
/// real ones are `tracee::Pid`). On the wire it is the plain `i32`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[serde(transparent)]
pub struct RecordedTid(pub i32);

impl RecordedTid {
    pub fn raw(self) -> i32 {
        self.0
    }
}

impl std::fmt::Display for RecordedTid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Plain, as the number it was before it had a type: logs and messages
/// that show events stay as they were.
impl std::fmt::Debug for RecordedTid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The x86_64 general-purpose register file, laid out like the kernel's
/// `user_regs_struct` so that conversion is a field-by-field copy.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl Regs {
    /// Syscall arguments in x86_64 ABI order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// Syscall arguments in i386 ABI order (ebx, ecx, edx, esi, edi,
    /// ebp), 32 bits each: how the kernel reads a call made with
    /// `int $0x80`.
    pub fn i386_syscall_args(&self) -> [u64; 6] {
        [self.rbx, self.rcx, self.rdx, self.rsi, self.rdi, self.rbp]
            .map(|register| register & u64::from(u32::MAX))
    }

    /// These registers with `nr` and `args` where an x86_64 syscall has
    /// them.
    pub fn with_syscall(&self, nr: u64, args: [u64; 6]) -> Regs {
        Regs {
            orig_rax: nr,
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            ..*self
        }
    }

    /// Named registers, for divergence reports and `regs` views.
    pub fn named(&self) -> [(&'static str, u64); 27] {
        [
            ("rax", self.rax),
            ("rbx", self.rbx),
            ("rcx", self.rcx),
            ("rdx", self.rdx),
            ("rsi", self.rsi),
            ("rdi", self.rdi),
            ("rbp", self.rbp),
            ("rsp", self.rsp),
            ("r8", self.r8),
            ("r9", self.r9),
            ("r10", self.r10),
            ("r11", self.r11),
            ("r12", self.r12),
            ("r13", self.r13),
            ("r14", self.r14),
            ("r15", self.r15),
            ("rip", self.rip),
            ("eflags", self.eflags),
            ("orig_rax", self.orig_rax),
            ("fs_base", self.fs_base),
            ("gs_base", self.gs_base),
            ("cs", self.cs),
            ("ss", self.ss),
            ("ds", self.ds),
            ("es", self.es),
            ("fs", self.fs),
            ("gs", self.gs),
        ]
    }
}

/// A range of tracee memory whose bytes follow in the `data` stream.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemWrite {
    pub addr: u64,
    pub len: u64,
}

/// A file captured into the trace's content-addressed `files/` store.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Path the tracee used (or `/proc/<pid>/fd/<n>` resolved), for display.
    pub path: String,
    /// Lowercase hex sha256 of the content; the blob is `files/<sha256>`.
    pub sha256: String,
    pub size: u64,
}

/// One mapping of the address space right after an exec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// `PROT_*` bits.
    pub prot: u32,
    /// True for `MAP_SHARED` mappings.
    pub shared: bool,
    pub offset: u64,
    /// Name column of `/proc/pid/maps` (`[stack]`, `[vdso]`, a path, or empty).
    pub name: String,
    /// Backing file, when file-backed.
    pub file: Option<FileRef>,
    /// When set, these bytes of the mapping follow in `data`: for a
    /// writable file-backed mapping whose bytes differ from its file (the
    /// ELF loader zeroed a segment's last page), from the first page that
    /// differs to the end of the mapping; the rest is the file's. (Format
    /// 1 recorded every writable file-backed mapping whole.)
    pub contents: Option<MemWrite>,
}

/// Where a write to a file descriptor went during recording, when it reached
/// the recorder's own stdout or stderr. Replay re-emits exactly these.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Extra facts some syscalls need beyond result and memory writes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum SyscallExtra {
    /// A successful file-backed mmap: replay maps the same bytes from `files/`.
    MmapFile { file: FileRef },
    /// A successful exec: the new address space and initial stack.
    Exec(Box<ExecInfo>),
    /// The bytes written by write/writev/pwrite… that reached the recorder's
    /// stdout or stderr. The bytes are in tracee memory at replay time, so
    /// only the destination is stored.
    Output { stream: OutputStream },
    /// A successful clone/fork/vfork/clone3: the new task.
    NewTask { child: RecordedTid, thread: bool },
    /// The recorder changed the syscall (rseq registration made to fail,
    /// for example); the result is what the tracee saw.
    Suppressed { reason: String },
    /// A successful `MAP_SHARED` mmap of a file, or `shmat` of a SysV
    /// segment (format 3): `file` holds its bytes when it was mapped, and
    /// `identity` tells replay which mappings are of one file or segment,
    /// so that they share memory there as they did here.
    MmapShared {
        file: FileRef,
        identity: FileIdentity,
    },
    /// Bytes the kernel copied to the recorder's stdout or stderr from a
    /// file or pipe (sendfile, splice, copy_file_range, tee; format 3):
    /// they are in no memory replay has, so they follow the writes' payloads.
    OutputCopied { stream: OutputStream, len: u64 },
    /// A write (write, pwrite, writev…) into a file that some process of
    /// the recording maps `MAP_SHARED`, at this file offset (format 3):
    /// replay copies the written bytes into its copy of the mapping.
    SharedFileWrite { identity: FileIdentity, offset: u64 },
    /// An ftruncate of a file some process maps `MAP_SHARED` (format 3).
    SharedFileResize { identity: FileIdentity, len: u64 },
    /// Any other change to a file some process maps `MAP_SHARED`, made by
    /// a call whose bytes are in no memory replay has (copy_file_range,
    /// sendfile or splice into it, fallocate, truncate, an `O_TRUNC` open;
    /// format 3): the file is now `file_len` bytes long, and its `len`
    /// bytes at `offset` follow the writes' payloads as one more range.
    SharedFileChanged {
        identity: FileIdentity,
        file_len: u64,
        offset: u64,
        len: u64,
    },
}

impl SyscallExtra {
    /// The file an mmap mapped, shared or not.
    pub fn mapped_file(&self) -> Option<&FileRef> {
        match self {
            SyscallExtra::MmapFile { file } | SyscallExtra::MmapShared { file, .. } => Some(file),
            _ => None,
        }
    }
}

/// The `dev` of a [`FileIdentity`] that names a SysV shared-memory
/// segment (its `ino` is the segment id) rather than a file.
pub const SYSV_SHM_DEVICE: u64 = u64::MAX;

/// Which file on the recording machine a mapping was of: two shared
/// mappings with one identity see each other's writes.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
}

/// What an exec produced; replay recreates exactly this state.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// The binary the kernel loaded (after `#!` resolution).
    pub exe: FileRef,
    /// argv as the new program sees it.
    pub argv: Vec<String>,
    /// Number of environment strings (the strings are in the stack image).
    pub env_count: u64,
    /// Registers right after the exec (rip = loader entry, rsp = initial stack).
    pub regs: Regs,
    /// The initial stack from `regs.rsp` to the end of the `[stack]` mapping,
    /// auxv included (with `AT_SYSINFO_EHDR` turned into `AT_IGNORE`).
    pub stack: MemWrite,
    /// The address space as `/proc/pid/maps` showed it.
    pub mappings: Vec<Mapping>,
    /// The auxv pairs after the recorder's edits.
    pub auxv: Vec<(u64, u64)>,
}

/// How an asynchronous or synchronous signal reached a thread.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalOrigin {
    /// Raised by the instruction at `regs.rip` (fault, trap): replay expects
    /// the same signal to happen by itself at the same place.
    Synchronous,
    /// Sent by a process, a timer or the kernel: replay injects it at exactly
    /// this point in the event sequence.
    Asynchronous,
}

/// A word of memory that a preempted loop writes, and its value at the
/// preemption point.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedWord {
    pub addr: u64,
    /// 1, 2, 4 or 8 bytes.
    pub len: u8,
    pub value: u64,
}

/// The parts of `EventKind::Preempt::vector_state`: xmm0–xmm15 as FXSAVE
/// stores them (256 bytes); then, in traces made since the x87 and AVX
/// state counted (still format 3: older traces have the xmm bytes alone),
/// the x87 state ([`VectorState::X87_LEN`] bytes: the control word, the
/// status word and FXSAVE's abridged tag byte, 3 zero bytes, then ST(0) to
/// ST(7), 10 bytes each, zeros for an empty register: an empty register
/// keeps stale bits that a context switch may or may not clear), and the
/// upper halves of ymm0–ymm15 (256 bytes, XSAVE's AVX component; zeros
/// without AVX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorState<'a> {
    pub xmm: &'a [u8],
    /// Empty in older traces, as is `ymm_high`.
    pub x87: &'a [u8],
    pub ymm_high: &'a [u8],
}

impl<'a> VectorState<'a> {
    pub const XMM_LEN: usize = 256;
    pub const X87_LEN: usize = 8 + 8 * Self::X87_REGISTER_LEN;
    pub const X87_REGISTER_LEN: usize = 10;
    pub const YMM_HIGH_LEN: usize = 256;

    /// Splits the recorded bytes; `None` for a length no recorder writes.
    pub fn parse(bytes: &'a [u8]) -> Option<VectorState<'a>> {
        const FULL: usize = VectorState::XMM_LEN + VectorState::X87_LEN + VectorState::YMM_HIGH_LEN;
        match bytes.len() {
            Self::XMM_LEN => Some(VectorState {
                xmm: bytes,
                x87: &[],
                ymm_high: &[],
            }),
            FULL => {
                let (xmm, rest) = bytes.split_at(Self::XMM_LEN);
                let (x87, ymm_high) = rest.split_at(Self::X87_LEN);
                Some(VectorState { xmm, x87, ymm_high })
            }
            _ => None,
        }
    }

    /// Whether ST(`st`) holds a value, by the tag and the top of stack in
    /// the x87 header (`x87[..8]`).
    pub fn x87_register_valid(x87_header: &[u8], st: usize) -> bool {
        let status = u16::from_le_bytes([x87_header[2], x87_header[3]]);
        let top = usize::from(status >> 11) & 7;
        x87_header[4] & (1 << ((top + st) % 8)) != 0
    }

    /// The bytes a trace keeps.
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.xmm, self.x87, self.ymm_high].concat()
    }
}

/// Why the recorder stopped a thread in the middle of its user code.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreemptReason {
    /// Its time slice ran out while another thread was ready to run.
    Timeslice,
    /// An asynchronous signal arrived; it is delivered at this point.
    Signal,
}

/// The kind of thing that happened.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A syscall instruction stopped at entry. `regs.orig_rax` is the number;
    /// the arguments are `regs.syscall_args()`.
    SyscallEntry {
        regs: Regs,
        /// Memory the syscall reads (paths, sent buffers up to 4 KiB,
        /// socket addresses, argv…); bytes in `data`.
        inputs: Vec<MemWrite>,
    },
    /// The matching syscall returned.
    SyscallExit {
        nr: u64,
        /// Raw return value (negative errno on failure).
        result: i64,
        /// Memory the kernel wrote; bytes in `data`.
        writes: Vec<MemWrite>,
        extra: Option<SyscallExtra>,
    },
    /// A signal was delivered to the thread (handler run or default action).
    Signal {
        signo: i32,
        origin: SignalOrigin,
        /// The raw 128-byte `siginfo_t`.
        siginfo: Vec<u8>,
        regs: Regs,
    },
    /// rdtsc/rdtscp trapped (PR_SET_TSC) and was emulated.
    Rdtsc {
        /// Registers after emulation (rip advanced past the instruction).
        regs: Regs,
    },
    /// The recorder stopped the thread at a point in user code that no
    /// anchor marks (a loop that makes no syscalls). Replay finds the point
    /// again as the first time the thread is at `regs.rip` with exactly
    /// these registers, SSE registers and watched memory.
    Preempt {
        regs: Regs,
        /// The floating-point and vector registers: see [`VectorState`].
        vector_state: Vec<u8>,
        mxcsr: u32,
        /// Memory the loop around the point writes, with its values there.
        memory: Vec<WatchedWord>,
        /// Bytes from `regs.rip` that replay may overwrite with a jump to
        /// its probe: whole instructions that no jump the recorder saw lands
        /// inside. 0 when no such bytes exist there.
        patch_len: u8,
        reason: PreemptReason,
    },
    /// A new thread or process appeared (first stop of the child).
    TaskStart { parent: RecordedTid, thread: bool },
    /// The thread is exiting (PTRACE_EVENT_EXIT).
    TaskExit {
        /// Raw wait status the kernel will report for this thread.
        status: i32,
    },
    /// Syscalls the thread made through the in-process syscall buffer since
    /// its last event, logged just before its next one. The payload is the
    /// buffer's records as the preload library wrote them (see the
    /// `replay-syscallbuf` crate); replay puts them back into the buffer at
    /// `records.addr` for the library to return.
    Buffered {
        records: MemWrite,
        /// Records (by position) that wrote to the recorder's stdout or
        /// stderr, which replay re-emits.
        outputs: Vec<(u32, OutputStream)>,
    },
    /// The recorder rewrote code: at a syscall site so that it calls the
    /// syscall buffer (a thread stopped at `resume_from`, just after the old
    /// syscall instruction, continues at `resume_to`), or, with both 0, the
    /// vDSO's clock functions so that they make syscalls.
    CodePatch {
        writes: Vec<MemWrite>,
        resume_from: u64,
        resume_to: u64,
    },
    /// The kernel wrote this thread's memory while the thread was blocked
    /// in a syscall, before any other thread ran on (format 3): the futex
    /// word a blocked `FUTEX_LOCK_PI` marked as contended. Replay writes it
    /// here, since the syscall's own effects come only at its exit.
    KernelWrite { writes: Vec<MemWrite> },
    /// Where the recorder switched the thread out (its `Preempt` just
    /// before), it was inside a restartable sequence's critical section
    /// (format 4). As the kernel does on preemption, the thread's
    /// `rseq_cs` pointer, at `rseq_cs`, was cleared and the thread
    /// continues at the section's abort handler, `abort_ip`, instead of
    /// `from`.
    RseqAbort {
        rseq_cs: u64,
        from: u64,
        abort_ip: u64,
    },
    /// The recorder mapped `len` bytes at `addr` (format 5), readable and
    /// executable, for the stubs of sites too far from the syscall buffer's
    /// own stub area for a jump (a program's `rdtsc`, 2 GiB away from the
    /// library): replay maps them at the same point, and the `CodePatch`
    /// events that follow write there.
    StubPage { addr: u64, len: u64 },
}

/// One frame of the events stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the recording, starting at 0, gap-free.
    pub index: u64,
    /// Thread the event belongs to.
    pub tid: RecordedTid,
    /// Thread-group (process) id of that thread.
    pub pid: RecordedTid,
    /// Nanoseconds since the recording started (CLOCK_MONOTONIC).
    pub time_ns: u64,
    pub kind: EventKind,
}

impl Event {
    /// The byte ranges whose contents follow this event in the `data` stream,
    /// in order.
    pub fn data_ranges(&self) -> Vec<MemWrite> {
        match &self.kind {
            EventKind::SyscallEntry { inputs, .. } => inputs.clone(),
            EventKind::SyscallExit { writes, extra, .. } => {
                let mut ranges = writes.clone();
                match extra {
                    Some(SyscallExtra::Exec(info)) => {
                        ranges.push(info.stack);
                        ranges.extend(info.mappings.iter().filter_map(|m| m.contents));
                    }
                    // Bytes of no address: the output itself.
                    Some(
                        SyscallExtra::OutputCopied { len, .. }
                        | SyscallExtra::SharedFileChanged { len, .. },
                    ) => ranges.push(MemWrite { addr: 0, len: *len }),
                    _ => {}
                }
                ranges
            }
            EventKind::Buffered { records, .. } => vec![*records],
            EventKind::CodePatch { writes, .. } | EventKind::KernelWrite { writes } => {
                writes.clone()
            }
            _ => Vec::new(),
        }
    }
}
