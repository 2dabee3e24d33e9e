//! The syscall buffer's in-process half, preloaded into every recorded
//! program (`LD_PRELOAD`).
//!
//! The tracer patches libc's syscall instructions, once each, into jumps to
//! stubs it writes into [`replay_stub_area`]; a stub calls
//! `replay_hook_entry`, which hands the syscall to [`replay_syscall_hook`].
//! While recording, the hook makes the syscall from the untraced page
//! (the seccomp filter lets it through without a ptrace stop) and appends
//! a record of its result and the memory it wrote to the thread's buffer;
//! the tracer moves the records into the trace at the thread's next traced
//! event. While replaying, the tracer has put those records back into the
//! buffer and the hook returns them without entering the kernel.
//!
//! Calls that could block (a read from an empty pipe), that do not fit the
//! buffer, or that the hook does not know take the traced path, exactly as
//! without the library. The code allocates nothing and takes no locks, so
//! it is safe in any context a syscall is.

use core::arch::{asm, global_asm};
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use syscallbuf::plan::{plan, sys, How, Input, Plan, MSG_DONTWAIT, PATH_MAX};
use syscallbuf::{
    fold_checksum, record_size, significant_args, Header, RecordHead, BUFFER_LEN, CONTROL_SYSCALL,
    DIVERGED_INPUT, HEADER_LEN, MODE_RECORD, MODE_REPLAY, OP_DIVERGED, OP_HELLO, OP_REGISTER,
    RECORD_HEAD_LEN, UNTRACED_PAGE,
};
use syscallbuf::{ALL_CALLS_TRACED, FD_GENERATION_WORD, SHARED_WORDS};

/// Room for the stubs the tracer writes, in this library's text so that
/// they are within a 32-bit jump of libc.
const STUB_AREA_LEN: u64 = 64 * 1024;

/// The hook's own stack, mapped right after each thread's buffer.
const HOOK_STACK_LEN: usize = 64 * 1024;

// The library never unwinds: nothing in it panics on purpose, and a panic
// inside a syscall hook could not unwind through the program's frames
// anyway. Std still refers to the unwinder, which would make every recorded
// process load libgcc_s (7 traced syscalls, and its constructor's CPUID
// probes, a VM exit each). These hidden definitions satisfy those
// references inside the library only, so the linker (with --as-needed)
// leaves libgcc_s out; being hidden, they never stand in for the
// program's own unwinder. Reaching one is a bug: it traps.
global_asm!(
    ".pushsection .text.replay_no_unwind,\"ax\",@progbits",
    ".macro replay_no_unwind name",
    ".globl \\name",
    ".hidden \\name",
    ".type \\name, @function",
    "\\name:",
    "ud2",
    ".endm",
    "replay_no_unwind _Unwind_Backtrace",
    "replay_no_unwind _Unwind_DeleteException",
    "replay_no_unwind _Unwind_FindEnclosingFunction",
    "replay_no_unwind _Unwind_GetCFA",
    "replay_no_unwind _Unwind_GetDataRelBase",
    "replay_no_unwind _Unwind_GetIP",
    "replay_no_unwind _Unwind_GetIPInfo",
    "replay_no_unwind _Unwind_GetLanguageSpecificData",
    "replay_no_unwind _Unwind_GetRegionStart",
    "replay_no_unwind _Unwind_GetTextRelBase",
    "replay_no_unwind _Unwind_RaiseException",
    "replay_no_unwind _Unwind_Resume",
    "replay_no_unwind _Unwind_SetGR",
    "replay_no_unwind _Unwind_SetIP",
    ".purgem replay_no_unwind",
    ".popsection",
);

global_asm!(
    ".pushsection .text.replay_stubs,\"ax\",@progbits",
    ".p2align 12",
    ".globl replay_stub_area",
    ".hidden replay_stub_area",
    "replay_stub_area:",
    ".fill 65536, 1, 0xcc",
    ".popsection",
    // The one traced syscall instruction in this library; the tracer is
    // told its address so that it never patches it.
    ".globl replay_traced_syscall",
    ".hidden replay_traced_syscall",
    "replay_traced_syscall:",
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "mov r10, r8",
    "mov r8, r9",
    "mov r9, [rsp + 8]",
    "syscall",
    ".globl replay_traced_syscall_return",
    ".hidden replay_traced_syscall_return",
    "replay_traced_syscall_return:",
    "ret",
    // Entered from a stub with the syscall's registers, 128 bytes below the
    // caller's stack pointer (its red zone). Everything but rax survives, as
    // it would across a syscall; the SSE registers too, since the Rust code
    // may use them. The hook answers TAKE_TRACED_PATH when the call must
    // stop for the tracer.
    //
    // The registers are saved on the program's stack (the same bytes in
    // recording and replay), but the hook itself runs on this thread's hook
    // stack: recording makes syscalls and fills locals that replay does
    // not, and what that leaves below the program's stack pointer could
    // otherwise reach the program (uninitialised locals passed to a
    // syscall). It also keeps the hook off small signal stacks.
    // Every register as the entry code saved it (rax last).
    ".macro replay_pop_saved",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop rbx",
    "popfq",
    "pop rax",
    ".endm",
    ".globl replay_hook_entry",
    ".hidden replay_hook_entry",
    "replay_hook_entry:",
    "push rax",
    "pushfq",
    "push rbx",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "mov rbx, rsp",
    "and rsp, -16",
    // The SSE registers, then the hook stack's top if this call took it.
    "sub rsp, 272",
    "movdqu [rsp + 0], xmm0",
    "movdqu [rsp + 16], xmm1",
    "movdqu [rsp + 32], xmm2",
    "movdqu [rsp + 48], xmm3",
    "movdqu [rsp + 64], xmm4",
    "movdqu [rsp + 80], xmm5",
    "movdqu [rsp + 96], xmm6",
    "movdqu [rsp + 112], xmm7",
    "movdqu [rsp + 128], xmm8",
    "movdqu [rsp + 144], xmm9",
    "movdqu [rsp + 160], xmm10",
    "movdqu [rsp + 176], xmm11",
    "movdqu [rsp + 192], xmm12",
    "movdqu [rsp + 208], xmm13",
    "movdqu [rsp + 224], xmm14",
    "movdqu [rsp + 240], xmm15",
    "mov qword ptr [rsp + 256], 0",
    "call {stack}",
    "test rax, rax",
    "jz 3f",
    // The word at the top says the hook stack is in use: a signal handler
    // that interrupted the hook and makes a syscall of its own stays on
    // its own stack instead of overwriting the interrupted frames.
    "cmp qword ptr [rax - 8], 0",
    "jne 3f",
    "mov qword ptr [rax - 8], 1",
    "mov [rsp + 256], rax",
    "lea rsp, [rax - 16]",
    "3:",
    "mov rdi, rbx",
    "mov rsi, [rbx + 80]",
    "call {hook}",
    "mov rsp, rbx",
    "and rsp, -16",
    "sub rsp, 272",
    "mov rcx, [rsp + 256]",
    "test rcx, rcx",
    "jz 5f",
    "mov qword ptr [rcx - 8], 0",
    "5:",
    "movdqu xmm0, [rsp + 0]",
    "movdqu xmm1, [rsp + 16]",
    "movdqu xmm2, [rsp + 32]",
    "movdqu xmm3, [rsp + 48]",
    "movdqu xmm4, [rsp + 64]",
    "movdqu xmm5, [rsp + 80]",
    "movdqu xmm6, [rsp + 96]",
    "movdqu xmm7, [rsp + 112]",
    "movdqu xmm8, [rsp + 128]",
    "movdqu xmm9, [rsp + 144]",
    "movdqu xmm10, [rsp + 160]",
    "movdqu xmm11, [rsp + 176]",
    "movdqu xmm12, [rsp + 192]",
    "movdqu xmm13, [rsp + 208]",
    "movdqu xmm14, [rsp + 224]",
    "movdqu xmm15, [rsp + 240]",
    "mov rsp, rbx",
    "movabs rcx, 0x8000000000000000",
    "cmp rax, rcx",
    "je 2f",
    "inc rcx",
    "cmp rax, rcx",
    "je 6f",
    "inc rcx",
    "cmp rax, rcx",
    "je 7f",
    // The result goes where rax was saved.
    "mov [rsp + 80], rax",
    "replay_pop_saved",
    "ret",
    // The traced path: the syscall the program made, with every register
    // as the program left it, so that recording and replay stop here in
    // the same state whatever the hook did.
    "2:",
    "replay_pop_saved",
    "syscall",
    "ret",
    // The traced paths of a patched rdtsc and rdtscp: the instruction
    // itself, which faults to the tracer, every register as at the site.
    "6:",
    "replay_pop_saved",
    "rdtsc",
    "ret",
    "7:",
    "replay_pop_saved",
    "rdtscp",
    "ret",
    ".purgem replay_pop_saved",
    hook = sym replay_syscall_hook,
    stack = sym replay_hook_stack,
);

extern "C" {
    /// The C library's, which loaded this one.
    fn getauxval(kind: u64) -> u64;
    static replay_stub_area: u8;
    static replay_traced_syscall_return: u8;
    fn replay_traced_syscall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64;
    fn replay_hook_entry();
}

/// The argument registers `replay_hook_entry` saved, lowest address first
/// (rbx, the flags and rax follow). The entry code restores rdx and rcx
/// from here: a patched `rdtsc` answers through them.
#[repr(C)]
struct Saved {
    _r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
}

/// What the hook returns when the entry code must make the syscall itself
/// (traced). No buffered syscall can return it: results are -4095..-1 or
/// non-negative.
const TAKE_TRACED_PATH: i64 = i64::MIN;
/// What the hook returns when the entry code must run the patched
/// `rdtsc` (`rdtscp`) itself, which faults to the tracer.
const TAKE_RDTSC: i64 = TAKE_TRACED_PATH + 1;
const TAKE_RDTSCP: i64 = TAKE_TRACED_PATH + 2;

/// Written by the tracer (`syscallbuf::SHARED_WORDS`): first the (device,
/// inode) of the recorder's stdout and stderr, written at hello. A
/// buffered write there is marked with its stream (`OUTPUT_MARK_*` in the
/// record), so that replay prints what it wrote; the mark is made here
/// because the fd may be closed before the tracer sees the record. Then the
/// fd cache's generation (`FD_GENERATION_WORD`).
static SHARED: [AtomicU64; SHARED_WORDS] = [const { AtomicU64::new(0) }; SHARED_WORDS];

/// What a read or write needs to know about its fd, per fd below this
/// number.
const FD_CACHE_LEN: usize = 256;
/// See `fd_facts::facts`.
static FD_CACHE: [AtomicU64; FD_CACHE_LEN] = [const { AtomicU64::new(0) }; FD_CACHE_LEN];

/// 0 until the tracer answered the hello: no tracer, no buffering.
static MODE: AtomicI64 = AtomicI64::new(0);

/// Whether user code may read the fs base (`rdfsbase`): the kernel says so
/// in AT_HWCAP2.
static FSGSBASE: AtomicBool = AtomicBool::new(false);
const AT_HWCAP2: u64 = 26;
const HWCAP2_FSGSBASE: u64 = 1 << 1;

/// Whether this thread has thread-local storage to keep its buffer in. A
/// thread made by a raw `clone` with a null TLS pointer has none, and the
/// first thread-local access (through `%fs`) faulted where natively its
/// syscall would have run; such a thread takes the traced path. (Where
/// `rdfsbase` is not allowed, every thread is taken to have it.)
fn has_thread_locals() -> bool {
    if !FSGSBASE.load(Ordering::Relaxed) {
        return true;
    }
    let base: u64;
    // SAFETY: rdfsbase only reads the fs base into a register; the kernel
    // allows it in user mode (HWCAP2_FSGSBASE, checked above).
    unsafe { asm!("rdfsbase {}", out(reg) base, options(nomem, nostack, preserves_flags)) };
    base != 0
}

/// Buffer states besides an address.
const NO_BUFFER: usize = 0;
const BUFFER_FAILED: usize = 1;
/// Being mapped and registered: a signal handler that runs meanwhile (the
/// signal came at the mmap) takes the traced path instead of mapping a
/// second buffer that the tracer would then forget.
const BUFFER_PENDING: usize = 2;

thread_local! {
    static BUFFER: Cell<usize> = const { Cell::new(NO_BUFFER) };
}

fn traced(nr: u64, a: [u64; 6]) -> i64 {
    // SAFETY: a plain syscall with the program's own arguments, as the
    // patched instruction would have made it.
    unsafe { replay_traced_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) }
}

fn untraced(nr: u64, a: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: the page holds `syscall; ret` (mapped by the tracer before
    // the hello succeeded); the registers follow the syscall ABI and the
    // kernel clobbers only rcx and r11.
    unsafe {
        asm!(
            "call {page}",
            page = in(reg) UNTRACED_PAGE,
            inlateout("rax") nr as i64 => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

/// What glibc passes each `.init_array` function.
type InitFn = extern "C" fn(i32, *const *const u8, *mut *const u8);

#[used]
#[link_section = ".init_array"]
static INIT: InitFn = hello;

extern "C" fn hello(_argc: i32, _argv: *const *const u8, envp: *mut *const u8) {
    let stubs = &raw const replay_stub_area as u64;
    let traced_return = &raw const replay_traced_syscall_return as u64;
    let entry = replay_hook_entry as *const () as u64;
    let mode = traced(
        CONTROL_SYSCALL,
        [
            OP_HELLO,
            entry,
            stubs,
            STUB_AREA_LEN,
            traced_return,
            SHARED.as_ptr() as u64,
        ],
    );
    if mode == MODE_RECORD || mode == MODE_REPLAY {
        // SAFETY: getauxval reads the process's auxiliary vector, set up
        // before any code of this library runs.
        let hwcap2 = unsafe { getauxval(AT_HWCAP2) };
        FSGSBASE.store(hwcap2 & HWCAP2_FSGSBASE != 0, Ordering::Relaxed);
        MODE.store(mode, Ordering::Relaxed);
        // SAFETY: glibc passes the process's environment array, terminated
        // by a null pointer, each entry a NUL-terminated string.
        unsafe { invisible::hide_recorders_preload(envp) };
    }
}

/// This thread's buffer, mapped and registered on first use. A forked
/// child keeps its parent's (the tracer knows); a new thread starts
/// without one.
fn thread_buffer() -> Option<*mut u8> {
    if !has_thread_locals() {
        return None;
    }
    let current = BUFFER.with(Cell::get);
    match current {
        BUFFER_FAILED | BUFFER_PENDING => return None,
        NO_BUFFER => {}
        addr => return Some(addr as *mut u8),
    }
    BUFFER.with(|b| b.set(BUFFER_PENDING));
    let prot = (libc_consts::PROT_READ | libc_consts::PROT_WRITE) as u64;
    let flags = (libc_consts::MAP_PRIVATE | libc_consts::MAP_ANONYMOUS) as u64;
    let addr = traced(
        libc_consts::SYS_MMAP,
        [
            0,
            (BUFFER_LEN + HOOK_STACK_LEN) as u64,
            prot,
            flags,
            u64::MAX,
            0,
        ],
    );
    let registered = addr > 0
        && traced(
            CONTROL_SYSCALL,
            [OP_REGISTER, addr as u64, BUFFER_LEN as u64, 0, 0, 0],
        ) == 0;
    if !registered {
        BUFFER.with(|b| b.set(BUFFER_FAILED));
        return None;
    }
    BUFFER.with(|b| b.set(addr as usize));
    Some(addr as *mut u8)
}

/// Called by `replay_hook_entry`, on the program's stack, for the top of
/// this thread's hook stack (0: none, the hook runs where it is). It does
/// the same in recording and replay, so it leaves the same bytes behind.
extern "C" fn replay_hook_stack() -> u64 {
    thread_buffer().map_or(0, |buffer| {
        (buffer as u64) + (BUFFER_LEN + HOOK_STACK_LEN) as u64
    })
}

/// Called by `replay_hook_entry` for every syscall at a patched site, and
/// for every patched `rdtsc` (`nr` is then `syscallbuf::RDTSC`).
///
/// # Safety
/// `saved` points at the registers the entry code pushed.
unsafe extern "C" fn replay_syscall_hook(saved: *mut Saved, nr: u64) -> i64 {
    if syscallbuf::is_tsc_read(nr) {
        // SAFETY: the entry code passes its own stack frame.
        return unsafe { tsc::read(saved, nr) };
    }
    // SAFETY: the entry code passes its own stack frame.
    let s = unsafe { &*saved };
    let args = [s.rdi, s.rsi, s.rdx, s.r10, s.r8, s.r9];
    if SHARED[FD_GENERATION_WORD].load(Ordering::Relaxed) & ALL_CALLS_TRACED != 0 {
        return TAKE_TRACED_PATH;
    }
    through_buffer(nr, args)
}

/// Makes the call and records it (recording), or returns its recorded
/// result (replay); `TAKE_TRACED_PATH` where it must stop for the tracer.
fn through_buffer(nr: u64, args: [u64; 6]) -> i64 {
    let Some(plan) = plan(nr, &args) else {
        return TAKE_TRACED_PATH;
    };
    // Mapped already by `replay_hook_stack` unless that failed.
    let Some(buffer) = thread_buffer() else {
        return TAKE_TRACED_PATH;
    };
    let mode = MODE.load(Ordering::Relaxed);
    let header = buffer.cast::<Header>();
    // SAFETY: the buffer is this thread's own mapping, BUFFER_LEN long and
    // starting with a Header; a signal handler on this thread is the only
    // other user, and `busy` keeps it out.
    unsafe {
        if mode == 0 || core::ptr::read_volatile(&raw const (*header).busy) != 0 {
            return TAKE_TRACED_PATH;
        }
        core::ptr::write_volatile(&raw mut (*header).busy, 1);
        let result = if mode == MODE_RECORD {
            record(buffer, nr, args, plan)
        } else {
            replay(buffer, nr, args)
        };
        core::ptr::write_volatile(&raw mut (*header).busy, 0);
        result
    }
}

/// Constants from the kernel ABI, kept here so the library needs no libc
/// crate.
mod libc_consts {
    pub const SYS_MMAP: u64 = 9;
    pub const SYS_PREADV2: u64 = 327;
    pub const SYS_PWRITEV2: u64 = 328;
    pub const PROT_READ: i32 = 1;
    pub const PROT_WRITE: i32 = 2;
    pub const MAP_PRIVATE: i32 = 2;
    pub const MAP_ANONYMOUS: i32 = 0x20;
    pub const RWF_NOWAIT: u64 = 8;
    pub const EFAULT: i64 = 14;
    pub const EOPNOTSUPP: i64 = 95;
    pub const SEEK_CUR: u64 = 1;
    pub const ENOENT: i64 = 2;
    pub const O_CREAT: u64 = 0o100;
    pub const O_TRUNC: u64 = 0o1000;
    pub const O_NONBLOCK: u64 = 0o4000;
    pub const ENXIO: i64 = 6;
    pub const F_GETFL: u64 = 3;
    pub const F_SETFL: u64 = 4;
    pub const O_DIRECTORY: u64 = 0o200000;
    pub const O_PATH: u64 = 0o10000000;
    pub const O_ACCMODE: u64 = 0o3;
    pub const O_RDONLY: u64 = 0;
    pub const O_WRONLY: u64 = 1;
    pub const O_RDWR: u64 = 2;
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const PIPE_BUF: u64 = 4096;
    pub const F_GETPIPE_SZ: u64 = 1032;
    pub const S_IFIFO: u32 = 0o010000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const EAGAIN: i64 = 11;
    pub const EPIPE: i64 = 32;
    pub const EFBIG: i64 = 27;
    pub const STAT_MODE_OFFSET: usize = 24;
    pub const AT_EMPTY_PATH: u64 = 0x1000;
    pub const STATX_TYPE: u64 = 0x1;
    pub const STATX_INO: u64 = 0x100;
    pub const STATX_SIZE: u64 = 0x200;
    pub const STATX_SIZE_OFFSET: usize = 0x28;
    pub const STATX_MODE_OFFSET: usize = 0x1c;
    pub const STATX_INO_OFFSET: usize = 0x20;
    pub const STATX_DEV_MAJOR_OFFSET: usize = 0x88;
    pub const STATX_DEV_MINOR_OFFSET: usize = 0x8c;
    pub const STATX_RDEV_MAJOR_OFFSET: usize = 0x80;
    pub const STATX_RDEV_MINOR_OFFSET: usize = 0x84;
    pub const S_IFCHR: u32 = 0o020000;
    pub const DEV_NULL: (u32, u32) = (1, 3);
}
use libc_consts::*;

mod fd_facts;
mod invisible;
mod no_wait;
mod opens;
mod tsc;
use fd_facts::{fd_kind, fds_changed, write_plan};
use no_wait::perform;

/// Copies with `rep movsb` rather than through libc's memcpy: the hook
/// runs in the middle of the program's code, so nothing on its path calls
/// into libc, whose memcpy the program may interpose, and whose AVX-512
/// variants write ymm/zmm and mask registers that the entry code does not
/// save (it saves xmm0-15 only).
///
/// # Safety
/// As for `core::ptr::copy_nonoverlapping`.
unsafe fn copy_bytes(from: *const u8, to: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the caller guarantees `len` readable bytes at `from` and
    // writable ones at `to`, not overlapping; rep movsb copies forwards
    // (the direction flag is clear at every call by the ABI).
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rsi") from => _,
            inout("rdi") to => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Whether `len` bytes at `a` and `b` are equal, compared without libc
/// (see `copy_bytes`).
///
/// # Safety
/// `len` readable bytes at each.
unsafe fn same_bytes(a: *const u8, b: *const u8, len: usize) -> bool {
    // SAFETY: the caller guarantees `len` readable bytes at each.
    (0..len).all(|i| unsafe { core::ptr::read_volatile(a.add(i)) == *b.add(i) })
}

pub(crate) fn c_strlen(addr: u64, max: usize) -> usize {
    let mut len = 0;
    // SAFETY: the kernel just read this path successfully (the call did not
    // fail with EFAULT), so the bytes up to its NUL, at most PATH_MAX, are
    // readable.
    unsafe {
        while len < max && *((addr + len as u64) as *const u8) != 0 {
            len += 1;
        }
    }
    len
}

/// Recording: make the call and append its record.
///
/// # Safety
/// `buffer` is this thread's buffer, marked busy.
unsafe fn record(buffer: *mut u8, nr: u64, args: [u64; 6], plan: Plan) -> i64 {
    let header = buffer.cast::<Header>();
    // SAFETY: see the caller.
    let used = unsafe { core::ptr::read_volatile(&raw const (*header).used) } as usize;
    // The program can write here too: a `used` past the end sends the call
    // the traced way, where the tracer finds the damage.
    let Some(room) = (BUFFER_LEN - HEADER_LEN).checked_sub(used) else {
        return TAKE_TRACED_PATH;
    };
    if record_size(plan.max_bytes, 0) > room {
        // Full: the traced call makes the tracer drain the buffer.
        return TAKE_TRACED_PATH;
    }
    let (how, output_mark) = match plan.how {
        How::WriteNoWait { .. } => match write_plan(args[0], args[2], plan.how) {
            Some(planned) => planned,
            None => return TAKE_TRACED_PATH,
        },
        how => (how, 0),
    };
    let Some(result) = perform(nr, args, how) else {
        return TAKE_TRACED_PATH;
    };
    if result == -EPIPE || result == -EFBIG {
        // The kernel also raised SIGPIPE or SIGXFSZ, which the tracer could
        // only hold until the thread's next traced syscall (at exit_group a
        // program that should have died then lives on). Nothing was
        // written, so the call is made again traced, and the signal lands
        // at its exit, where it would have natively.
        return TAKE_TRACED_PATH;
    }
    if nr == sys::CLOSE {
        fds_changed();
    }
    let (input_addr, input_len) = match plan.input {
        // With its NUL, so that an empty path ("" with AT_EMPTY_PATH) shows.
        Input::Path(addr) if result != -EFAULT && addr != 0 => {
            (addr, c_strlen(addr, PATH_MAX - 1) + 1)
        }
        Input::Sent(addr) if result > 0 => (addr, (result as usize).min(plan.max_bytes)),
        _ => (0, 0),
    };
    let (output_addr, output_len) = match plan.written(result) {
        // A write to the recorder's stdout/stderr wrote no memory: the
        // address says which stream replay prints its input to.
        (_, 0) => (output_mark, 0),
        written => written,
    };
    let size = record_size(input_len, output_len);
    let head = RecordHead {
        size: size as u32,
        nr: nr as u32,
        result,
        args: significant_args(nr, args),
        input_addr,
        input_len: input_len as u32,
        output_len: output_len as u32,
        output_addr,
    };
    // SAFETY: `size` fits in `room` (bounded by max_bytes above); the
    // input and output ranges were just read or written by the kernel. The
    // record's bytes lie in this thread's own buffer, which only this hook
    // writes while the program behaves; the checksum exists to notice when
    // it does not.
    unsafe {
        let at = buffer.add(HEADER_LEN + used);
        core::ptr::write_unaligned(at.cast::<RecordHead>(), head);
        let data = at.add(RECORD_HEAD_LEN);
        copy_bytes(input_addr as *const u8, data, input_len);
        copy_bytes(output_addr as *const u8, data.add(input_len), output_len);
        let record = core::slice::from_raw_parts(at.cast_const(), size);
        let checksum = core::ptr::read_volatile(&raw const (*header).checksum);
        core::ptr::write_volatile(&raw mut (*header).checksum, fold_checksum(checksum, record));
        // Committed only now: the tracer reads up to `used`. (Stopped
        // between the two writes, the checksum counts one record more.)
        core::ptr::write_volatile(&raw mut (*header).used, (used + size) as u32);
    }
    result
}

/// Replaying: return the next recorded result and restore what the call
/// wrote, or make the call traced where the recording did.
///
/// # Safety
/// `buffer` is this thread's buffer, marked busy, filled by the tracer.
unsafe fn replay(buffer: *mut u8, nr: u64, args: [u64; 6]) -> i64 {
    let header = buffer.cast::<Header>();
    // SAFETY: see the caller; the tracer keeps `used` within the buffer.
    unsafe {
        let used = core::ptr::read_volatile(&raw const (*header).used) as usize;
        let consumed = core::ptr::read_volatile(&raw const (*header).consumed) as usize;
        if consumed >= used || used > BUFFER_LEN - HEADER_LEN {
            // Every record is used: the recording made this call traced
            // (the buffer was full, or the call would have blocked), which
            // is why the tracer logged the records before it.
            return TAKE_TRACED_PATH;
        }
        let at = buffer.add(HEADER_LEN + consumed);
        let head = core::ptr::read_unaligned(at.cast::<RecordHead>());
        let size = head.size as usize;
        let fits = size == record_size(head.input_len as usize, head.output_len as usize)
            && consumed + size <= used;
        if !fits || head.nr as u64 != nr || head.args != significant_args(nr, args) {
            // The tracer reads the recorded record at `consumed` and this
            // call's arguments at `args`, to say what differs.
            let found = args.as_ptr() as u64;
            return traced(
                CONTROL_SYSCALL,
                [OP_DIVERGED, nr, head.nr as u64, consumed as u64, found, 0],
            );
        }
        let recorded_input = at.add(RECORD_HEAD_LEN);
        if head.input_len > 0
            && !same_bytes(
                head.input_addr as *const u8,
                recorded_input,
                head.input_len as usize,
            )
        {
            // What a write sends and the path a call names must be what
            // the recording's were, or replay would print the recorded
            // output for a program that computed other.
            let found = args.as_ptr() as u64;
            return traced(
                CONTROL_SYSCALL,
                [
                    OP_DIVERGED,
                    nr,
                    head.nr as u64,
                    consumed as u64,
                    found,
                    DIVERGED_INPUT,
                ],
            );
        }
        let output = at.add(RECORD_HEAD_LEN + head.input_len as usize);
        // A write's output address may be an output mark, not memory.
        if head.output_len > 0 {
            copy_bytes(
                output,
                head.output_addr as *mut u8,
                head.output_len as usize,
            );
        }
        core::ptr::write_volatile(&raw mut (*header).consumed, (consumed + size) as u32);
        head.result
    }
}
