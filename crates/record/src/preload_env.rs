//! Keeping the recorder's `LD_PRELOAD` entry out of the recorded program's
//! sight (see `syscallbuf::environment` for the whole scheme).
//!
//! At each exec the recorder adds the entry, last, to the environment the
//! program passed (`tracee::exec_env`). At the exec's exit, before any of
//! the new image's code runs, it:
//! - cuts the entry's string off the end of the range the kernel shows as
//!   `/proc/PID/environ` (`prctl(PR_SET_MM, PR_SET_MM_MAP)`, which needs no
//!   privilege when it changes nothing else);
//! - for a program without a dynamic loader (Go, static glibc), which never
//!   loads the library, takes the entry out of the initial stack itself,
//!   moving the auxiliary vector down over its slot so that the startup
//!   code, which finds that vector just after the environment's
//!   terminator, still finds it.
//!
//! With a loader, the library's constructor takes it out of `environ`.

use crate::recorder::{Recorder, Step};
use syscallbuf::environment::is_recorders_preload;
use trace::event::Regs;
use tracee::inject::{self, SyscallSite};
use tracee::{Pid, ProcessMemory};

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHNUM: u64 = 5;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PR_SET_MM: u64 = 35;
const PR_SET_MM_MAP: u64 = 14;
/// The largest environment range looked at (the kernel's own limit on a
/// new program's strings is a quarter of the stack limit).
const MAX_ENV_RANGE: u64 = 32 << 20;

/// The fields of `struct prctl_mm_map` before `auxv`, in order.
const MM_MAP_ADDRESSES: usize = 11;
/// `sizeof(struct prctl_mm_map)`: the addresses, the auxv pointer, its
/// size and the exe fd.
const MM_MAP_LEN: usize = 8 * MM_MAP_ADDRESSES + 8 + 4 + 4;

/// What became of the entry in a new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreloadEntry {
    /// The environment does not end with it.
    Absent,
    /// Still in `environ`, for the loader; the library removes it.
    LeftForTheLoader,
    /// Taken off the initial stack (no loader).
    Removed,
}

impl Recorder {
    /// At the exit of a successful exec in `tid`, whose registers are
    /// `regs`: hides the recorder's entry as the module says.
    pub(crate) fn hide_preload_entry(
        &mut self,
        tid: Pid,
        tgid: Pid,
        regs: &Regs,
    ) -> Step<PreloadEntry> {
        if !self.buffering {
            return Ok(PreloadEntry::Absent);
        }
        let Some(layout) = MmLayout::read(tid) else {
            return Ok(PreloadEntry::Absent);
        };
        let mem = self.memory(tgid)?;
        let Some(entry_start) = last_entry_if_recorders(mem, &layout) else {
            return Ok(PreloadEntry::Absent);
        };
        let mut map = layout;
        map.env_end = entry_start;
        let result = set_mm_map(tid, mem, regs.rsp, &map)?;
        if result != 0 {
            // An old kernel or one without CONFIG_CHECKPOINT_RESTORE: the
            // entry stays visible in /proc/PID/environ only.
            tracing::debug!(tid, result, "cannot shorten /proc/PID/environ");
        }
        if has_loader(mem, regs.rsp)? {
            return Ok(PreloadEntry::LeftForTheLoader);
        }
        Ok(
            match remove_from_initial_stack(mem, regs.rsp, entry_start)? {
                true => PreloadEntry::Removed,
                false => PreloadEntry::LeftForTheLoader,
            },
        )
    }
}

/// The address-space fields `PR_SET_MM_MAP` takes, as `/proc/PID/stat`
/// shows them right after an exec (when `brk` is still `start_brk`).
#[derive(Debug, Clone, Copy)]
struct MmLayout {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
}

impl MmLayout {
    fn read(tid: Pid) -> Option<MmLayout> {
        let stat = tracee::proc_stat::ThreadStat::read(tid)?;
        let field = |n: usize| stat.number(n);
        Some(MmLayout {
            start_code: field(26)?,
            end_code: field(27)?,
            start_stack: field(28)?,
            start_data: field(45)?,
            end_data: field(46)?,
            start_brk: field(47)?,
            arg_start: field(48)?,
            arg_end: field(49)?,
            env_start: field(50)?,
            env_end: field(51)?,
        })
    }

    fn to_bytes(self) -> [u8; MM_MAP_LEN] {
        let words = [
            self.start_code,
            self.end_code,
            self.start_data,
            self.end_data,
            self.start_brk,
            self.start_brk,
            self.start_stack,
            self.arg_start,
            self.arg_end,
            self.env_start,
            self.env_end,
        ];
        let mut bytes = [0u8; MM_MAP_LEN];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        // auxv = NULL and auxv_size = 0 leave the saved vector alone;
        // exe_fd = -1 leaves /proc/PID/exe alone.
        bytes[MM_MAP_LEN - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        bytes
    }
}

/// Where the last environment string starts, if it is the recorder's entry.
fn last_entry_if_recorders(mem: &ProcessMemory, layout: &MmLayout) -> Option<u64> {
    let len = layout.env_end.checked_sub(layout.env_start)?;
    if len == 0 || len > MAX_ENV_RANGE {
        return None;
    }
    let bytes = mem.read(layout.env_start, len as usize).ok()?;
    let body = bytes.strip_suffix(&[0])?;
    let start = body.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
    is_recorders_preload(&body[start..]).then_some(layout.env_start + start as u64)
}

/// Runs `prctl(PR_SET_MM, PR_SET_MM_MAP)` in `tid` with `map`, the struct
/// written below `rsp` for the call and the bytes there put back after.
fn set_mm_map(tid: Pid, mem: &ProcessMemory, rsp: u64, map: &MmLayout) -> Step<i64> {
    let at = (rsp - 4096) & !15;
    let saved = mem.read(at, MM_MAP_LEN)?;
    mem.write(at, &map.to_bytes())?;
    let result = inject::syscall(
        tid,
        mem,
        SyscallSite::PatchRip,
        libc::SYS_prctl,
        [PR_SET_MM, PR_SET_MM_MAP, at, MM_MAP_LEN as u64, 0, 0],
    );
    mem.write(at, &saved)?;
    Ok(result?)
}

/// The initial stack's auxiliary vector as (key, value) pairs, and where
/// the environment's terminator is.
fn initial_auxv(mem: &ProcessMemory, rsp: u64) -> Step<(u64, Vec<(u64, u64)>)> {
    let argc = mem.read_u64(rsp)?;
    let mut cursor = rsp + 8 * (argc + 2);
    while mem.read_u64(cursor)? != 0 {
        cursor += 8;
    }
    let terminator = cursor;
    let mut auxv = Vec::new();
    cursor += 8;
    loop {
        let key = mem.read_u64(cursor)?;
        auxv.push((key, mem.read_u64(cursor + 8)?));
        cursor += 16;
        if key == AT_NULL || auxv.len() > 256 {
            return Ok((terminator, auxv));
        }
    }
}

/// Whether the new image has a dynamic loader that reads `LD_PRELOAD` (its
/// program headers name an interpreter, or it is itself dynamic, as the
/// loader run as a program is).
fn has_loader(mem: &ProcessMemory, rsp: u64) -> Step<bool> {
    let (_, auxv) = initial_auxv(mem, rsp)?;
    let value = |key| auxv.iter().find(|&&(k, _)| k == key).map(|&(_, v)| v);
    let (Some(phdr), Some(phnum)) = (value(AT_PHDR), value(AT_PHNUM)) else {
        return Ok(true);
    };
    const PHDR_LEN: u64 = 56;
    let headers = mem.read(phdr, (phnum.min(512) * PHDR_LEN) as usize)?;
    Ok(headers.chunks_exact(PHDR_LEN as usize).any(|h| {
        let kind = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        kind == PT_INTERP || kind == PT_DYNAMIC
    }))
}

/// Takes the environment's last entry, whose string is at `entry`, off the
/// initial stack at `rsp`: its slot becomes the terminator and the
/// auxiliary vector moves down one word behind it. False if the stack is
/// not laid out that way.
fn remove_from_initial_stack(mem: &ProcessMemory, rsp: u64, entry: u64) -> Step<bool> {
    let (terminator, auxv) = initial_auxv(mem, rsp)?;
    let slot = terminator - 8;
    if mem.read_u64(slot)? != entry {
        return Ok(false);
    }
    let mut moved = Vec::with_capacity(8 + 16 * auxv.len() + 8);
    moved.extend_from_slice(&0u64.to_le_bytes());
    for (key, value) in &auxv {
        moved.extend_from_slice(&key.to_le_bytes());
        moved.extend_from_slice(&value.to_le_bytes());
    }
    // The vector's old last word, now past its end.
    moved.extend_from_slice(&0u64.to_le_bytes());
    mem.write(slot, &moved)?;
    Ok(true)
}
