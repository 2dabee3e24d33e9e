//! A blocking call's output buffer, moved out of the program's sight while
//! other threads run.
//!
//! A thread that blocks in `read` or `recv` lets the other threads run, and
//! the kernel fills the buffer whenever the data comes, maybe while another
//! thread spins in user code on that very memory. That thread would then
//! see the bytes change at a point no event names, and replay, which writes
//! them at the call's exit event, would leave it spinning. So the kernel
//! fills scratch space instead, and at the exit, handled when no other
//! thread runs, the bytes go into the program's buffer. (rr moves such
//! buffers into a scratch mapping of its own.)
//!
//! The scratch space is the thread's syscall buffer, empty while the thread
//! is in a traced call (its records are logged before the call's entry).
//! A thread without one uses its stack below the red zone, which the ABI
//! leaves free, and gets the old bytes back; only a stack the thread owns
//! alone (the main stack, or a mapping above a guard page) is used, never
//! memory that may be another's (a goroutine's stack in a heap).

use crate::recorder::Recorder;
use crate::RecordError;
use trace::event::Regs;
use tracee::{maps, regs, Pid};

/// The x86_64 ABI's red zone: below the stack pointer, the function's own.
const RED_ZONE: u64 = 128;
/// Larger buffers are left in place (a stack may not have the room).
const MAX_SCRATCH: u64 = 64 << 10;

/// A call's buffer argument, pointed at scratch space until the exit.
#[derive(Debug, Clone)]
pub struct ScratchBuffer {
    arg: usize,
    original: u64,
    at: u64,
    len: u64,
    /// The stack's bytes there before the call, put back at the exit
    /// (none for the syscall buffer, which nothing reads there).
    saved: Option<Vec<u8>>,
}

impl Recorder {
    /// Points the buffer argument of `tid`'s blocking call at scratch space
    /// when another task could watch the buffer: a thread of its process,
    /// or another process sharing the memory. `regs` are the thread's
    /// registers at the entry, changed in place.
    pub(crate) fn move_buffer_to_scratch(
        &mut self,
        tid: Pid,
        tgid: Pid,
        nr: u64,
        args: &[u64; 6],
        regs: &mut Regs,
    ) -> Result<Option<ScratchBuffer>, RecordError> {
        let Some((arg, len)) = syscall_model::syscall(nr).and_then(|row| row.blocking_buffer(args))
        else {
            return Ok(None);
        };
        // Who could watch the buffer: the process's other threads, or
        // other processes, where it lies in memory shared with them.
        let other_threads = self
            .tasks
            .values()
            .any(|task| task.tgid == tgid && task.tid != tid);
        let other_processes = self.tasks.values().any(|task| task.tgid != tgid);
        if !(other_threads || other_processes) || len == 0 || len > MAX_SCRATCH {
            return Ok(None);
        }
        let Ok(maps) = maps::read(tid) else {
            return Ok(None);
        };
        let original = args[arg];
        // The program's own buffer must be one it can write: a bad one
        // gets the kernel's EFAULT, as natively.
        let Some(buffer_map) = writable_map_of(&maps, original, len) else {
            return Ok(None);
        };
        if !other_threads && !buffer_map.shared {
            return Ok(None);
        }
        let syscall_buffer = self.task(tid)?.buffer;
        let (at, saved) = match syscall_buffer {
            Some(buffer) => ((buffer + syscallbuf::HEADER_LEN as u64 + 63) & !63, None),
            None => {
                let at = regs.rsp.wrapping_sub(RED_ZONE + len) & !63;
                let overlaps = original < regs.rsp && original.saturating_add(len) > at;
                if overlaps || !owned_stack(&maps, at, regs.rsp) {
                    return Ok(None);
                }
                let Ok(saved) = self.memory(tgid)?.read(at, len as usize) else {
                    return Ok(None);
                };
                (at, Some(saved))
            }
        };
        let mut moved = *args;
        moved[arg] = at;
        regs::set_syscall_args(regs, &moved);
        regs::set(tid, regs)?;
        Ok(Some(ScratchBuffer {
            arg,
            original,
            at,
            len,
            saved,
        }))
    }

    /// At the exit: the bytes the call returned go into the program's
    /// buffer, the stack gets its bytes back, and the argument register
    /// its value. A call the kernel restarts then runs on the program's
    /// buffer, moved again at its new entry.
    pub(crate) fn buffer_back_from_scratch(
        &mut self,
        tid: Pid,
        tgid: Pid,
        scratch: ScratchBuffer,
        result: i64,
        exit_regs: &mut Regs,
    ) -> Result<(), RecordError> {
        let memory = self.memory(tgid)?;
        if result > 0 {
            let filled = (result as u64).min(scratch.len) as usize;
            let bytes = memory.read(scratch.at, filled)?;
            memory.write(scratch.original, &bytes)?;
        }
        if let Some(saved) = &scratch.saved {
            memory.write(scratch.at, saved)?;
        }
        let mut args = exit_regs.syscall_args();
        args[scratch.arg] = scratch.original;
        regs::set_syscall_args(exit_regs, &args);
        regs::set(tid, exit_regs)?;
        Ok(())
    }
}

/// The readable, writable mapping `[addr, addr + len)` lies in, if one.
fn writable_map_of(maps: &[maps::MapEntry], addr: u64, len: u64) -> Option<&maps::MapEntry> {
    maps.iter()
        .find(|m| m.readable && m.writable && m.start <= addr && addr.saturating_add(len) <= m.end)
}

/// Whether `[from, to)` lies in a stack only its thread uses: the main
/// thread's, or a writable anonymous mapping right above a guard page (a
/// pthread stack). Anything else may hold other data below the stack
/// pointer.
fn owned_stack(maps: &[maps::MapEntry], from: u64, to: u64) -> bool {
    let Some(i) = maps.iter().position(|m| m.start <= from && to <= m.end) else {
        return false;
    };
    let stack = &maps[i];
    let guarded = i > 0 && {
        let below = &maps[i - 1];
        below.end == stack.start && !below.readable && !below.writable && !below.executable
    };
    stack.writable && (stack.name == "[stack]" || (stack.name.is_empty() && guarded))
}
