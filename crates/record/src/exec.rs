//! Capturing the state an exec produced: the loaded binaries, the address
//! space layout, and the initial stack (argv, env, auxv, AT_RANDOM bytes).

use crate::RecordError;
use std::path::Path;
use trace::event::{ExecInfo, FileRef, Mapping, MemWrite, Regs};
use trace::TraceWriter;
use tracee::{maps, Pid, ProcessMemory};

const AT_NULL: u64 = 0;
/// Bounds on what a sane initial stack holds; past them the stack is damaged.
const MAX_STRINGS: usize = 1 << 16;
const MAX_AUXV: usize = 256;

pub struct CapturedExec {
    pub info: ExecInfo,
    /// Bytes in `Event::data_ranges()` order: the stack, then mapping contents.
    pub payloads: Vec<Vec<u8>>,
}

/// Records everything replay needs to recreate this exact process image.
pub fn capture(
    tid: Pid,
    mem: &ProcessMemory,
    writer: &mut TraceWriter,
    regs: Regs,
) -> Result<CapturedExec, RecordError> {
    let exe_link = std::fs::read_link(format!("/proc/{tid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut exe = writer.store_file(Path::new(&format!("/proc/{tid}/exe")), true)?;
    exe.path = exe_link;

    let mut mappings = Vec::new();
    let mut payloads = Vec::new();
    let mut contents = Vec::new();
    let mut stack_end = None;
    for entry in maps::read(tid)? {
        if entry.name == "[stack]" {
            stack_end = Some(entry.end);
        }
        let file = if entry.is_file() {
            Some(store_mapped_file(tid, &entry, writer)?)
        } else {
            None
        };
        // A writable file mapping right after exec still holds the file's
        // bytes, except where the kernel zeroed the tail of the page that
        // ends a data segment. Replay maps the stored file there, so only
        // the pages from the first that differs are recorded: python's
        // data segment is most of a megabyte that replay would otherwise
        // decompress and write (copying every page) before the program
        // starts.
        let content = match &file {
            Some(stored) if entry.writable => {
                let mut bytes = mem.read(entry.start, (entry.end - entry.start) as usize)?;
                let same = writer.stored_file_prefix(stored, entry.offset, &bytes);
                if same == bytes.len() {
                    None
                } else {
                    bytes.drain(..same);
                    contents.push(bytes);
                    Some(MemWrite {
                        addr: entry.start + same as u64,
                        len: entry.end - entry.start - same as u64,
                    })
                }
            }
            _ => None,
        };
        mappings.push(Mapping {
            start: entry.start,
            end: entry.end,
            prot: entry.prot(),
            shared: entry.shared,
            offset: entry.offset,
            name: entry.name.clone(),
            file,
            contents: content,
        });
    }
    let stack_end = stack_end.ok_or_else(|| {
        RecordError::Setup(format!("task {tid} has no [stack] mapping after exec"))
    })?;
    let stack = MemWrite {
        addr: regs.rsp,
        len: stack_end - regs.rsp,
    };
    // One read of the whole initial stack, parsed here: word by word it
    // was a /proc read per pointer, a few hundred per exec.
    let mut stack_bytes = mem.read(stack.addr, stack.len as usize)?;
    let InitialStack {
        argv,
        env_count,
        auxv,
    } = edit_and_parse_stack(mem, regs.rsp, &mut stack_bytes)?;
    payloads.push(stack_bytes);
    payloads.extend(contents);
    Ok(CapturedExec {
        info: ExecInfo {
            exe,
            argv,
            env_count,
            regs,
            stack,
            mappings,
            auxv,
        },
        payloads,
    })
}

fn store_mapped_file(
    tid: Pid,
    entry: &maps::MapEntry,
    writer: &mut TraceWriter,
) -> Result<FileRef, RecordError> {
    // map_files names the exact file that is mapped, even if its path has
    // since been replaced or deleted.
    let exact = format!("/proc/{tid}/map_files/{:x}-{:x}", entry.start, entry.end);
    // Each file is mapped several times (text, data, bss): after the first,
    // its metadata finds the blob without opening the file again.
    let stored = match std::fs::metadata(&exact) {
        Ok(md) => writer.store_file_with_metadata(Path::new(&exact), &md, false),
        Err(_) => writer.store_file(Path::new(&exact), false),
    };
    let mut file = match stored {
        Ok(f) => f,
        Err(_) => writer.store_file(Path::new(&entry.name), false)?,
    };
    file.path = entry.name.clone();
    Ok(file)
}

/// What the initial stack says about the new program.
struct InitialStack {
    argv: Vec<String>,
    env_count: u64,
    auxv: Vec<(u64, u64)>,
}

/// Walks argc/argv/envp/auxv in `stack` (the bytes from the initial stack
/// pointer `rsp` to the stack's end).
fn edit_and_parse_stack(
    mem: &ProcessMemory,
    rsp: u64,
    stack: &mut [u8],
) -> Result<InitialStack, RecordError> {
    let damaged = || {
        RecordError::Setup(format!(
            "initial stack at {rsp:#x} is not laid out as the ELF ABI says"
        ))
    };
    let offset_of = |addr: u64| usize::try_from(addr.checked_sub(rsp)?).ok();
    let word = |stack: &[u8], addr: u64| -> Result<u64, RecordError> {
        let bytes = offset_of(addr)
            .and_then(|at| stack.get(at..at.checked_add(8)?))
            .ok_or_else(damaged)?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(raw))
    };
    let argc = word(stack, rsp)? as usize;
    if argc > MAX_STRINGS {
        return Err(damaged());
    }
    let mut argv = Vec::with_capacity(argc);
    for i in 0..argc {
        let ptr = word(stack, rsp + 8 + 8 * i as u64)?;
        // The strings normally sit higher up on the same stack.
        let inside = offset_of(ptr).and_then(|at| {
            let rest = stack.get(at..)?;
            let len = rest.iter().position(|&b| b == 0)?;
            Some(String::from_utf8_lossy(&rest[..len]).into_owned())
        });
        argv.push(match inside {
            Some(arg) => arg,
            None => mem.read_cstring(ptr, 1 << 17)?,
        });
    }
    let mut cursor = rsp + 8 + 8 * argc as u64 + 8;
    let mut env_count = 0u64;
    loop {
        if env_count as usize > MAX_STRINGS {
            return Err(damaged());
        }
        let ptr = word(stack, cursor)?;
        cursor += 8;
        if ptr == 0 {
            break;
        }
        env_count += 1;
    }
    let mut auxv = Vec::new();
    loop {
        if auxv.len() > MAX_AUXV {
            return Err(damaged());
        }
        let key = word(stack, cursor)?;
        let value = word(stack, cursor + 8)?;
        auxv.push((key, value));
        cursor += 16;
        if key == AT_NULL {
            break;
        }
    }
    Ok(InitialStack {
        argv,
        env_count,
        auxv,
    })
}
