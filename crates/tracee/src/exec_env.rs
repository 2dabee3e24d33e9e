//! The recorder's `LD_PRELOAD` entry, put back into the environment a
//! program passes to `execve`: the library's constructor took it out of
//! `environ` (see `syscallbuf::environment`), and the new image needs it
//! for the loader to load the library again.
//!
//! The program's own array is left alone. A copy with the entry appended is
//! written below the thread's stack pointer (under the red zone, where
//! nothing the program keeps can be) and the exec is pointed at it. The
//! recorder puts the overwritten bytes and the register back when the exec
//! fails; replay, which runs only the execs that succeeded, writes the same
//! copy at the same place before each, so memory and the new image's stack
//! are the same in both.

use crate::{maps, Pid, ProcessMemory};
use syscallbuf::environment::{is_recorders_preload, recorders_preload_value, PRELOAD_KEY};
use trace::event::Regs;

/// What the x86-64 ABI lets a function keep below its stack pointer.
const RED_ZONE: u64 = 128;
/// The most entries looked at; the kernel's own limit on the strings'
/// total size keeps real environments far below this.
const MAX_ENTRIES: usize = 1 << 17;
/// The longest entry read.
const MAX_ENTRY_LEN: usize = 1 << 17;

/// An exec pointed at a copy of its environment with the entry added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedPreload {
    /// The environment argument the program passed.
    original_envp: u64,
    /// Where the copy was written, and the bytes that were there before.
    scratch: u64,
    overwritten: Vec<u8>,
}

/// The register holding the environment argument of `nr`.
fn envp_register(regs: &mut Regs, nr: u64) -> Option<&mut u64> {
    match nr as i64 {
        libc::SYS_execve => Some(&mut regs.rdx),
        libc::SYS_execveat => Some(&mut regs.r10),
        _ => None,
    }
}

/// At the entry stop of `nr` (execve or execveat) in `pid`: points the
/// environment argument in `regs` at a copy that ends with the recorder's
/// entry for `library`. The caller sets the registers. `None` where nothing
/// changed: the program's array cannot be read (the kernel will answer
/// EFAULT), it already ends with the entry, or there is no writable room
/// below the stack pointer.
pub fn add_preload(
    pid: Pid,
    mem: &ProcessMemory,
    regs: &mut Regs,
    nr: u64,
    library: &[u8],
) -> Option<AddedPreload> {
    let rsp = regs.rsp;
    let envp_slot = envp_register(regs, nr)?;
    let original_envp = *envp_slot;
    let entries = read_pointer_array(mem, original_envp)?;
    let mut own_preload = None;
    for (i, &ptr) in entries.iter().enumerate() {
        let last = i + 1 == entries.len();
        // Only the entries that could matter are read whole.
        let head = mem.read(ptr, PRELOAD_KEY.len()).ok();
        if head.as_deref() != Some(PRELOAD_KEY) && !last {
            continue;
        }
        let entry = mem.read_cstring_bytes(ptr, MAX_ENTRY_LEN).ok()?;
        if last && is_recorders_preload(&entry) {
            return None;
        }
        if let Some(value) = entry.strip_prefix(PRELOAD_KEY) {
            own_preload = Some(value.to_vec());
        }
    }
    let mut value = vec![0u8; library.len() + 1 + own_preload.as_ref().map_or(0, Vec::len)];
    let len = recorders_preload_value(library, own_preload.as_deref(), &mut value)?;
    let mut entry = PRELOAD_KEY.to_vec();
    entry.extend_from_slice(&value[..len]);
    entry.push(0);

    let array_len = 8 * (entries.len() + 2);
    let total = (array_len + entry.len()) as u64;
    let scratch = rsp.checked_sub(RED_ZONE + total)? & !15;
    if !writable(pid, scratch, total) {
        return None;
    }
    let overwritten = mem.read(scratch, total as usize).ok()?;
    let entry_addr = scratch + array_len as u64;
    let mut copy = Vec::with_capacity(total as usize);
    for ptr in entries.iter().copied().chain([entry_addr, 0]) {
        copy.extend_from_slice(&ptr.to_le_bytes());
    }
    copy.extend_from_slice(&entry);
    mem.write(scratch, &copy).ok()?;
    *envp_slot = scratch;
    Some(AddedPreload {
        original_envp,
        scratch,
        overwritten,
    })
}

/// After an exec that failed: the bytes and the register as the program
/// left them.
pub fn undo(mem: &ProcessMemory, regs: &mut Regs, nr: u64, added: &AddedPreload) {
    // The process may be gone (a fatal signal); nothing then to put back.
    let _ = mem.write(added.scratch, &added.overwritten);
    if let Some(slot) = envp_register(regs, nr) {
        *slot = added.original_envp;
    }
}

/// The pointers of a null-terminated array (an empty list for a null
/// array, as the kernel reads it), or `None` if it cannot be read.
fn read_pointer_array(mem: &ProcessMemory, addr: u64) -> Option<Vec<u64>> {
    let mut pointers = Vec::new();
    if addr == 0 {
        return Some(pointers);
    }
    let mut cursor = addr;
    loop {
        // A page at a time: the array may end just before an unmapped one.
        let to_page_end = 4096 - (cursor % 4096);
        let words = (to_page_end / 8).max(1) as usize;
        let bytes = mem.read(cursor, words * 8).ok()?;
        for word in bytes.chunks_exact(8) {
            let ptr = u64::from_le_bytes(word.try_into().ok()?);
            if ptr == 0 {
                return Some(pointers);
            }
            if pointers.len() >= MAX_ENTRIES {
                return None;
            }
            pointers.push(ptr);
        }
        cursor += (words * 8) as u64;
    }
}

/// Whether `[addr, addr + len)` lies in one writable mapping: the kernel
/// reads the copy as the program could, and a write through /proc would
/// go even into a guard page the kernel then cannot read.
fn writable(pid: Pid, addr: u64, len: u64) -> bool {
    maps::all_writable(pid, &[(addr, len)])
}
