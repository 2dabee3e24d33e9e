//! Choosing the point where a thread that runs user code is preempted.
//!
//! The time slice only says *when* to look. From wherever the thread was
//! interrupted, the recorder single-steps it until it comes back to an
//! instruction it already ran: one pass of the loop it is in. It then picks a
//! point on that loop where replay can plant its probe, steps to it, and
//! logs the state there: registers, SSE registers, and every memory word the
//! walk wrote. Replay stops at the first time that whole state recurs.
//!
//! A loop whose pass wrote no memory, and whose code can leave it only at
//! its back edge, is first let run to its exit (for a bounded time) and
//! the walk starts again there: its registers may be the same in every
//! round of an enclosing loop that counts in memory, and the walk on from
//! the exit sees that loop's writes.

use crate::RecordError;
use position::insn::{self, InsnKind, Written, MAX_INSN_LEN};
use position::pass::{Closure, StepLog};
use std::collections::VecDeque;
use trace::event::{Regs, WatchedWord};
use tracee::ptrace::{self, Resume, Stop, WaitResult, SIGINFO_SIZE};
use tracee::{regs, Pid, ProcessMemory};

/// Single steps cost about 26 µs here; a loop longer than this is left to
/// reach its next anchor or the next slice.
pub const STEP_BUDGET: usize = 2_000;

/// The most steps a search takes for a thread with a held signal, after
/// shorter searches found no loop: about three seconds here. A
/// program that loops without syscalls until its timer's handler sets a
/// flag (a benchmark's "run until the alarm") has a loop of thousands of
/// instructions, and its signal is held until a point is found.
pub const MAX_STEP_BUDGET: usize = 128_000;

/// The code segment of 64-bit user code (`__USER_CS`).
const USER64_CS: u64 = 0x33;

/// Memory words compared at the point, most recently written first kept.
const MAX_WORDS: usize = 48;

/// Stack words above rsp compared at the point as well. A loop that keeps
/// its counter in memory the walked pass did not write (an interpreter's
/// locals, while the pass ran one bytecode) would otherwise match on an
/// earlier iteration with the same registers. 96 words made a JIT'd JVM
/// under load drift less often (3 misses in 22 recordings, then 1 in 26).
/// The more words, the likelier one is an uninitialised local whose bytes
/// differ in replay (an `xsavec` left them); replay goes back for a point
/// missed that way (docs/decisions/0016), which let the count go from 32
/// back to 96.
const STACK_WORDS: u64 = 96;

/// A preemption point and the state that names it.
pub struct Point {
    pub regs: Regs,
    /// xmm0-15, then the digest of the rest (`tracee::vector_state`).
    pub vector_state: Vec<u8>,
    pub mxcsr: u32,
    pub memory: Vec<WatchedWord>,
    pub patch_len: u8,
}

pub enum Search {
    Found(Box<Point>),
    /// The next instruction reaches an anchor by itself (a syscall, rdtsc, a
    /// trap): no preemption is needed.
    AtAnchor,
    /// No loop closed within the step budget.
    NoLoop,
    /// The thread stopped for a reason of its own (a fault, an exit) while
    /// being stepped; that stop is its next event.
    Stopped(WaitResult),
}

/// Which of the loop's possible points to take.
#[derive(Debug, Clone, Copy)]
pub enum Choice {
    /// The first one from where the slice ran out: as close as possible to
    /// where the kernel would have preempted.
    Nearest,
    /// The n-th (modulo how many there are): `--chaos`.
    Nth(usize),
}

fn read_insn(mem: &ProcessMemory, rip: u64) -> Vec<u8> {
    // An instruction near the end of a mapping cannot be read 15 bytes long.
    let mut len = MAX_INSN_LEN;
    loop {
        if let Ok(bytes) = mem.read(rip, len) {
            return bytes;
        }
        if len == 1 {
            return Vec::new();
        }
        len = (len / 2).max(1);
    }
}

/// How far past a loop's last instruction the recorder looks for branches
/// back into it: code the pass skipped (an `else` path) usually sits there.
const BRANCH_SCAN_PAST: u64 = 256;
/// How far before a probe's window the recorder looks for jumps into it:
/// a compiler that rotates a loop enters it with a jump from just before it
/// into its middle (`jmp cond`), and a function like strcmp branches
/// forward over a few instructions; the walked pass runs neither (`sort`
/// and ld.so's strcmp each landed inside a probe's `jmp` that way).
const BRANCH_SCAN_BEFORE: u64 = 1024;
/// Decoding starts at this many byte offsets before the window, since the
/// instruction boundaries there are unknown; a target decoded from a wrong
/// boundary only rules out a point, never admits one.
const BRANCH_SCAN_ALIGNMENTS: u64 = 16;
/// How far after a window the recorder looks for jumps back into it, from
/// the window's end on (an instruction boundary): V8's graph reducer jumps
/// into the middle of a loop from 0x2d0 bytes past it.
const BRANCH_SCAN_AFTER: u64 = 4096;
/// Loops larger than this are not scanned as a whole.
const BRANCH_SCAN_MAX: u64 = 16 * 1024;

/// The direct branch targets in the code of a loop spanning `low..high`
/// and just past it, decoded from the loop's first instruction on.
fn branches_near(
    code: &dyn Fn(u64, usize) -> Option<Vec<u8>>,
    (low, high): (u64, u64),
) -> Vec<u64> {
    decode_targets(
        code,
        low,
        (high.saturating_sub(low) + BRANCH_SCAN_PAST).min(BRANCH_SCAN_MAX),
    )
}

/// Whether code near the window `at..at + len` may jump into it (past its
/// first byte): the 1 KiB before it, decoded from several guessed
/// boundaries, and the 4 KiB after it.
fn jumped_into(code: &dyn Fn(u64, usize) -> Option<Vec<u8>>, at: u64, len: u8) -> bool {
    let end = at + u64::from(len);
    let inside = |t: u64| t > at && t < end;
    let from_before = (0..BRANCH_SCAN_ALIGNMENTS).any(|shift| {
        let mut start = at.saturating_sub(BRANCH_SCAN_BEFORE - shift);
        // Code that starts closer (its mapping's first page) is read from
        // nearer.
        while start < at {
            if let Some(bytes) = code(start, (at - start) as usize) {
                return insn::direct_branch_targets(start, &bytes)
                    .into_iter()
                    .any(inside);
            }
            start += ((at - start) / 2).max(1);
        }
        false
    });
    from_before
        || decode_targets(code, end, BRANCH_SCAN_AFTER)
            .into_iter()
            .any(inside)
}

/// The direct branch targets in `len` bytes of code at `start`, fewer where
/// the mapping ends first.
fn decode_targets(code: &dyn Fn(u64, usize) -> Option<Vec<u8>>, start: u64, len: u64) -> Vec<u64> {
    let mut len = len as usize;
    while len > 0 {
        if let Some(bytes) = code(start, len) {
            return insn::direct_branch_targets(start, &bytes);
        }
        len /= 2;
    }
    Vec::new()
}

/// The x86 trap flag, which single-stepping sets.
const TRAP_FLAG: u64 = 0x100;

/// Clears the trap flag if the thread's registers show it set.
pub fn clear_trap_flag(tid: Pid) -> Result<(), RecordError> {
    let mut r = regs::get(tid)?;
    if r.eflags & TRAP_FLAG != 0 {
        r.eflags &= !TRAP_FLAG;
        regs::set(tid, &r)?;
    }
    Ok(())
}

/// Steps `tid` (stopped in user code) to a state-matched point. Asynchronous
/// signals that arrive meanwhile are added to `held`.
pub fn search(
    tid: Pid,
    mem: &ProcessMemory,
    held: &mut VecDeque<[u8; SIGINFO_SIZE]>,
    choice: Choice,
    in_syscall_hook: &dyn Fn(u64) -> bool,
    cpuid: Option<&crate::cpuid::CpuidAnswers>,
    budget: usize,
) -> Result<Search, RecordError> {
    let mut log = StepLog::new();
    let mut written: VecDeque<Written> = VecDeque::new();
    let mut target: Option<(u64, u8)> = None;
    let mut last_rip = None;
    let mut left_a_loop = false;
    // A loop too small for the probe's jump, at its last arrival.
    let mut small_loop_pass: Option<Regs> = None;
    for _ in 0..budget {
        let r = regs::get(tid)?;
        if r.cs != USER64_CS {
            // 32-bit compatibility-mode code (a far jump to another code
            // segment): the walk decodes, and replay's probe jumps, as
            // 64-bit code. The thread is looked at again later.
            return Ok(Search::NoLoop);
        }
        if in_syscall_hook(r.rip) {
            // The hook runs other code on replay; the thread reaches a
            // traced syscall soon enough (a full buffer makes one).
            return Ok(Search::AtAnchor);
        }
        if let Some((at, len)) = target {
            if r.rip == at && last_rip != Some(at) {
                return Ok(Search::Found(Box::new(point_here(
                    tid, mem, r, &written, len,
                )?)));
            }
        }
        let bytes = read_insn(mem, r.rip);
        let decoded = insn::decode(r.rip, &bytes, &r);
        match decoded.kind {
            InsnKind::Anchor | InsnKind::Invalid => return Ok(Search::AtAnchor),
            InsnKind::Unsteppable => return Ok(Search::NoLoop),
            _ => {}
        }
        if bytes.starts_with(&JUMP_TO_ITSELF) {
            // `for (;;);`: every pass the same, and none ends it but a
            // signal (see `is_idle_spin`).
            return Ok(Search::Found(Box::new(point_here(
                tid,
                mem,
                r,
                &written,
                JUMP_TO_ITSELF.len() as u8,
            )?)));
        }
        let closure = log.arrive(r.rip, &decoded);
        if let (None, Some(closure), false, true) =
            (target, closure, left_a_loop, written.is_empty())
        {
            // A loop that wrote nothing: its registers may repeat exactly
            // on each pass of a loop around it that keeps its count in
            // memory, and replay would stop at the wrong pass. Past its
            // exit the walk sees the enclosing loop's writes.
            let (low, high) = log.span(closure);
            let exit = log.back_edge(closure).and_then(|back_edge| {
                const MAX_LOOP_BYTES: u64 = 4096;
                let len = (high - low <= MAX_LOOP_BYTES).then_some(high - low)?;
                let code = mem.read(low, len as usize).ok()?;
                insn::only_exit_of_loop(low, &code, back_edge)
            });
            if let Some(exit) = exit {
                left_a_loop = true;
                match run_out_of_loop(tid, exit, held)? {
                    LeftLoop::Stopped(stop) => return Ok(Search::Stopped(stop)),
                    LeftLoop::Left | LeftLoop::StillInside => {
                        // The walk starts again from wherever it is now.
                        log = StepLog::new();
                        last_rip = None;
                        continue;
                    }
                }
            }
        }
        if let (None, Some(closure)) = (target, closure) {
            target = choose_patch_point(&mut log, closure, mem, choice);
            if let Some((at, len)) = target {
                if at == r.rip {
                    return Ok(Search::Found(Box::new(point_here(
                        tid, mem, r, &written, len,
                    )?)));
                }
            }
            let (low, high) = log.span(closure);
            let small = high - low < position::pass::PATCH_MIN;
            if target.is_none() && small && r.rip == low && is_idle_spin(mem, low, high) {
                // `for (;;);`, `pause; jmp`: no room for a probe, and the
                // thread never leaves it by itself (an alarm's handler ends
                // it, a parent kills it). Each pass leaves the state as it
                // found it, so the point is here; replay steps the thread
                // to it, and the first arrival matches.
                let unchanged = |before: &Regs| {
                    let mask = |mut regs: Regs| {
                        regs.eflags &= !TRAP_FLAG;
                        regs
                    };
                    mask(*before) == mask(r)
                };
                if small_loop_pass.as_ref().is_some_and(unchanged) {
                    return Ok(Search::Found(Box::new(point_here(
                        tid,
                        mem,
                        r,
                        &written,
                        (high - low) as u8,
                    )?)));
                }
                small_loop_pass = Some(r);
            }
        }
        let rep_end = decoded.repeated.then(|| r.rip + u64::from(decoded.len));
        for w in decoded.writes {
            written.retain(|x| *x != w);
            written.push_back(w);
            if written.len() > MAX_WORDS {
                written.pop_front();
            }
        }
        last_rip = Some(r.rip);
        match step_over(tid, mem, rep_end, cpuid)? {
            Stepped::Done => {}
            Stepped::Stopped(stop) => return Ok(Search::Stopped(stop)),
            // The step did not run: the signal stop came first. The signal
            // waits for the point like any other.
            Stepped::SignalFirst(info) => {
                held.push_back(info);
                last_rip = None;
            }
        }
    }
    Ok(Search::NoLoop)
}

/// The patch point to stop at in the loop the walk's log just closed: the
/// first usable one from the chosen one on, where no branch nearby lands
/// inside the probe's jump.
fn choose_patch_point(
    log: &mut StepLog,
    closure: Closure,
    mem: &ProcessMemory,
    choice: Choice,
) -> Option<(u64, u8)> {
    let code = |addr, len| mem.read(addr, len).ok();
    log.add_branch_targets(branches_near(&code, log.span(closure)));
    let points = log.patch_points(closure);
    // Each check decodes a few KiB, so only as many as needed are checked.
    let first = match choice {
        Choice::Nth(n) if !points.is_empty() => n % points.len(),
        _ => 0,
    };
    let in_order = (0..points.len()).map(|i| points[(first + i) % points.len()]);
    // A window that is one instruction has no boundary inside it that a
    // branch the walk never saw (an indirect one, one from far away) could
    // land on, running the jump's bytes as code: such points first.
    let one_instruction = |&(at, len): &(u64, u8)| {
        code(at, usize::from(len))
            .is_some_and(|bytes| insn::instruction_starts(at, &bytes).len() == 1)
    };
    in_order
        .clone()
        .filter(one_instruction)
        .chain(in_order)
        .find(|&(at, len)| !jumped_into(&code, at, len))
}

/// How one step of the walk ended.
enum Stepped {
    /// The instruction ran (a trapped CPUID was answered).
    Done,
    /// An asynchronous signal stopped the thread before the instruction ran.
    SignalFirst([u8; SIGINFO_SIZE]),
    /// Anything else: a fault, an exit, a syscall.
    Stopped(WaitResult),
}

/// Runs the thread's next instruction; a `rep` instruction, which ends
/// at `rep_end`, with all its iterations at once.
fn step_over(
    tid: Pid,
    mem: &ProcessMemory,
    rep_end: Option<u64>,
    cpuid: Option<&crate::cpuid::CpuidAnswers>,
) -> Result<Stepped, RecordError> {
    let stop = if let Some(end) = rep_end {
        run_to(tid, end)?
    } else {
        ptrace::resume(tid, Resume::SingleStep, 0)?;
        ptrace::wait_for(tid)?
    };
    let WaitResult::Stopped(_, Stop::Signal(sig)) = stop else {
        return Ok(Stepped::Stopped(stop));
    };
    let Some(info) = ptrace::get_siginfo(tid)? else {
        return Ok(Stepped::Stopped(stop));
    };
    if let Some(answers) = cpuid {
        let answer = |leaf, subleaf| answers.answer(leaf, subleaf);
        if tracee::cpuid::answer_if_trapped(tid, mem, sig, &info, answer)? {
            return Ok(Stepped::Done);
        }
    }
    let code = ptrace::siginfo_code(&info);
    Ok(match (sig, code) {
        (
            libc::SIGTRAP,
            ptrace::TRAP_TRACE | ptrace::TRAP_BRKPT | ptrace::TRAP_HWBKPT | tracee::perf::TRAP_PERF,
        ) => Stepped::Done,
        _ if ptrace::is_synchronous(sig, &info) => Stepped::Stopped(stop),
        _ => Stepped::SignalFirst(info),
    })
}

/// How long a loop that writes no memory may run on towards its exit:
/// longer, it is taken as it is (a spin-wait never exits while the
/// recorder holds the CPU).
const LOOP_EXIT_GUARD_NS: u64 = 2_000_000;

enum LeftLoop {
    /// At the instruction after the loop.
    Left,
    /// Still in it after the guard's time, or stopped by an asynchronous
    /// signal (now held); somewhere else in the loop than before.
    StillInside,
    /// The thread stopped for a reason of its own.
    Stopped(WaitResult),
}

/// Runs the thread at full speed until it leaves its loop at `exit`, for
/// at most `LOOP_EXIT_GUARD_NS` of its CPU time (a task-clock timer's
/// SIGTRAP ends the run). An asynchronous signal that arrives meanwhile
/// is added to `held`.
fn run_out_of_loop(
    tid: Pid,
    exit: u64,
    held: &mut VecDeque<[u8; SIGINFO_SIZE]>,
) -> Result<LeftLoop, RecordError> {
    let Ok(guard) = tracee::perf::SliceTimer::open(tid, LOOP_EXIT_GUARD_NS) else {
        return Ok(LeftLoop::StillInside);
    };
    guard.arm();
    let stop = run_to(tid, exit);
    guard.disarm();
    let stop = stop?;
    let WaitResult::Stopped(_, Stop::Signal(sig)) = stop else {
        return Ok(LeftLoop::Stopped(stop));
    };
    let Some(info) = ptrace::get_siginfo(tid)? else {
        return Ok(LeftLoop::Stopped(stop));
    };
    tracing::debug!(
        tid,
        exit,
        sig,
        "ran a loop that writes no memory towards its exit"
    );
    match (sig, ptrace::siginfo_code(&info)) {
        (libc::SIGTRAP, ptrace::TRAP_HWBKPT) if regs::get(tid)?.rip == exit => Ok(LeftLoop::Left),
        (libc::SIGTRAP, ptrace::TRAP_HWBKPT | tracee::perf::TRAP_PERF) => Ok(LeftLoop::StillInside),
        _ if ptrace::is_synchronous(sig, &info) => Ok(LeftLoop::Stopped(stop)),
        _ => {
            held.push_back(info);
            Ok(LeftLoop::StillInside)
        }
    }
}

/// Runs the thread until it reaches `next`, with an execution breakpoint
/// there (DR0): a `rep` string instruction, stepped, stops after each
/// element. Its end is the next instruction, whatever the count. A signal
/// or fault stops the thread before that, as a step would.
fn run_to(tid: Pid, next: u64) -> Result<WaitResult, RecordError> {
    use tracee::debugreg;
    /// DR7: local enable of DR0, as an execution breakpoint of length 1.
    const DR0_EXECUTE: u64 = 1;
    debugreg::write(tid, 0, next)?;
    debugreg::write(tid, debugreg::CONTROL, DR0_EXECUTE)?;
    ptrace::resume(tid, Resume::Continue, 0)?;
    let stop = ptrace::wait_for(tid)?;
    if matches!(stop, WaitResult::Stopped(..)) {
        debugreg::write(tid, debugreg::CONTROL, 0)?;
        debugreg::write(tid, debugreg::STATUS, 0)?;
    }
    Ok(stop)
}

/// Adds the words from rsp up (as far as the stack can be read) that no
/// written word already covers.
fn with_stack_words(
    mem: &ProcessMemory,
    rsp: u64,
    mut memory: Vec<WatchedWord>,
) -> Vec<WatchedWord> {
    let mut count = STACK_WORDS;
    let bytes = loop {
        match mem.read(rsp, (count * 8) as usize) {
            Ok(bytes) => break bytes,
            Err(_) if count > 1 => count /= 2,
            Err(_) => return memory,
        }
    };
    for (i, word) in bytes.chunks_exact(8).enumerate() {
        let addr = rsp + 8 * i as u64;
        let covered = memory
            .iter()
            .any(|w| w.addr < addr + 8 && addr < w.addr + u64::from(w.len));
        if !covered {
            memory.push(WatchedWord {
                addr,
                len: 8,
                value: u64::from_le_bytes(word.try_into().unwrap_or_default()),
            });
        }
    }
    memory
}

/// `jmp .`: a loop of one instruction, which the walk's log (made to
/// count a `rep` instruction's iterations as one arrival) never closes.
const JUMP_TO_ITSELF: [u8; 2] = [0xeb, 0xfe];

/// Whether the loop at `low..high` only waits: `pause`s or `nop`s, then a
/// short jump back to its start. It reads and writes nothing, so every
/// pass is the same and no other thread can end it.
fn is_idle_spin(mem: &ProcessMemory, low: u64, high: u64) -> bool {
    let Ok(code) = mem.read(low, (high - low) as usize) else {
        return false;
    };
    let mut rest = code.as_slice();
    loop {
        rest = match rest {
            [0xf3, 0x90, more @ ..] => more,
            [0x90, more @ ..] => more,
            _ => break,
        };
    }
    let [0xeb, displacement] = rest else {
        return false;
    };
    let jump_end = high as i64;
    jump_end + i64::from(*displacement as i8) == low as i64
}

fn point_here(
    tid: Pid,
    mem: &ProcessMemory,
    mut regs: Regs,
    written: &VecDeque<Written>,
    patch_len: u8,
) -> Result<Point, RecordError> {
    // Cleared before the thread runs on (see `clear_trap_flag`).
    regs.eflags &= !TRAP_FLAG;
    let state = tracee::vector_state::read(tid)?;
    let memory = written
        .iter()
        .filter_map(|w| {
            let bytes = mem.read(w.addr, usize::from(w.len)).ok()?;
            let mut value = [0u8; 8];
            value[..bytes.len()].copy_from_slice(&bytes);
            Some(WatchedWord {
                addr: w.addr,
                len: w.len,
                value: u64::from_le_bytes(value),
            })
        })
        .collect();
    let memory = with_stack_words(mem, regs.rsp, memory);
    Ok(Point {
        regs,
        vector_state: state.to_trace_bytes(),
        mxcsr: state.mxcsr,
        memory,
        patch_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GNU sort's line-splitting loop, rotated by the compiler: it is
    /// entered by `jmp` from just before it to its fourth byte, which the
    /// walked pass never executes. A window starting there is fine.
    #[test]
    fn a_jump_into_a_window_from_before_it_is_found() {
        let base = 0x7700u64;
        let mut code = vec![0x90u8; 0x100];
        let put = |code: &mut Vec<u8>, addr: u64, bytes: &[u8]| {
            let at = (addr - base) as usize;
            code[at..at + bytes.len()].copy_from_slice(bytes);
        };
        put(&mut code, 0x7772, &[0xeb, 0x19]); // jmp 0x778d
        put(&mut code, 0x778a, &[0x4d, 0x89, 0xdf]); // mov r15, r11
        put(&mut code, 0x778d, &[0x48, 0x8b, 0x54, 0x24, 0x08]); // mov rdx, [rsp+8]
        let read = |addr: u64, len: usize| {
            let at = addr.checked_sub(base)? as usize;
            code.get(at..at + len).map(<[u8]>::to_vec)
        };
        assert!(jumped_into(&read, 0x778a, 8));
        assert!(!jumped_into(&read, 0x778d, 5));
    }

    /// V8's graph reducer: a `jmp` from 0x2d0 bytes past a loop back into
    /// the middle of a window at its end.
    #[test]
    fn a_jump_back_into_a_window_from_after_it_is_found() {
        let base = 0x1000u64;
        let mut code = vec![0x90u8; 0x1000];
        // add rbx, 8 (4) at 0x1085; cmp rbx, rax (3) at 0x1089
        code[0x85..0x89].copy_from_slice(&[0x48, 0x83, 0xc3, 0x08]);
        code[0x89..0x8c].copy_from_slice(&[0x48, 0x39, 0xc3]);
        // jmp 0x1089 (rel32) at 0x135f
        let rel = (0x1089i64 - 0x1364) as i32;
        code[0x35f] = 0xe9;
        code[0x360..0x364].copy_from_slice(&rel.to_le_bytes());
        let read = |addr: u64, len: usize| {
            let at = addr.checked_sub(base)? as usize;
            code.get(at..at + len).map(<[u8]>::to_vec)
        };
        assert!(jumped_into(&read, 0x1085, 7));
        assert!(!jumped_into(&read, 0x1089, 5));
    }
}
