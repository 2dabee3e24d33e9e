//! Laying out a replayed process's memory exactly as it was recorded.

use crate::task::ReplayProcess;
use crate::ReplayError;
use std::path::Path;
use trace::event::{ExecInfo, FileRef, Mapping};
use trace::TraceReader;
use tracee::inject::{self, SyscallSite};
use tracee::{maps, Pid, ProcessMemory};

/// Where replay puts its injection page: far below where the kernel's
/// top-down mmap allocator reaches in practice, and above any brk heap.
const SCRATCH_CANDIDATES: [u64; 3] = [0x6fff_ffff_0000, 0x5fff_ffff_0000, 0x4fff_ffff_0000];
const PAGE: u64 = 4096;
pub const SCRATCH_LEN: u64 = 2 * PAGE;
/// Offset of the path buffer inside the scratch page.
const PATH_OFFSET: u64 = 64;
const MAX_PATH: usize = 4000;

const SPECIAL_MAPPINGS: [&str; 4] = ["[stack]", "[vdso]", "[vvar]", "[vsyscall]"];

fn is_special(name: &str) -> bool {
    SPECIAL_MAPPINGS.contains(&name) || name.starts_with("[vvar")
}

fn check(what: &str, result: i64) -> Result<u64, ReplayError> {
    if syscall_model::is_error_result(result) {
        return Err(ReplayError::Setup(format!(
            "replay could not {what}: {}",
            std::io::Error::from_raw_os_error(-result as i32)
        )));
    }
    Ok(result as u64)
}

/// Protections for replay's own pages: code pages are readable and
/// executable, data pages readable and writable, and none both writable and
/// executable, which a process that set `PR_SET_MDWE` may not map. The
/// tracer writes code through `/proc/PID/mem`, which needs no write
/// permission.
const CODE_PROT: u64 = (libc::PROT_READ | libc::PROT_EXEC) as u64;
const DATA_PROT: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;

/// Maps `len` bytes of replay's own at exactly `addr` (or fails, returning
/// what mmap did): code, except `data_len` bytes from `data_at` that the
/// program or the kernel write (a probe's scratch words, syscall results).
pub fn map_own_pages(
    tid: Pid,
    mem: &ProcessMemory,
    site: SyscallSite,
    addr: u64,
    len: u64,
    (data_at, data_len): (u64, u64),
) -> Result<Result<(), i64>, ReplayError> {
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
    let result = inject::syscall(
        tid,
        mem,
        site,
        libc::SYS_mmap,
        [addr, len, CODE_PROT, flags, u64::MAX, 0],
    )?;
    if result as u64 != addr {
        return Ok(Err(result));
    }
    // Dropping exec to gain write is allowed under MDWE; the reverse is not.
    let protected = inject::syscall(
        tid,
        mem,
        site,
        libc::SYS_mprotect,
        [addr + data_at, data_len, DATA_PROT, 0, 0, 0],
    )?;
    check("make its data page writable", protected)?;
    Ok(Ok(()))
}

/// Maps the scratch page using a temporarily patched `syscall` at rip: its
/// first page holds the `syscall` instruction and the path buffer, its
/// second what the kernel writes back.
pub fn create_scratch(tid: Pid, mem: &ProcessMemory) -> Result<u64, ReplayError> {
    for addr in SCRATCH_CANDIDATES {
        let data = (PAGE, SCRATCH_LEN - PAGE);
        if map_own_pages(tid, mem, SyscallSite::PatchRip, addr, SCRATCH_LEN, data)?.is_ok() {
            // syscall; int3 — the int3 catches a runaway return from an injection.
            mem.write(addr, &[0x0f, 0x05, 0xcc])?;
            return Ok(addr);
        }
    }
    Err(ReplayError::Setup(
        "replay could not map its injection page: every candidate address is taken".into(),
    ))
}

/// Where injected syscalls run: the scratch page once there is one.
pub fn syscall_site(process: &ReplayProcess) -> SyscallSite {
    match process.scratch {
        Some(addr) => SyscallSite::At(addr),
        None => SyscallSite::PatchRip,
    }
}

/// Runs one syscall in the process through its scratch page.
pub fn run_syscall(
    tid: Pid,
    process: &ReplayProcess,
    nr: i64,
    args: [u64; 6],
) -> Result<i64, ReplayError> {
    Ok(inject::syscall(
        tid,
        &process.memory,
        syscall_site(process),
        nr,
        args,
    )?)
}

/// Writes a NUL-terminated path into the scratch page; returns its address.
pub fn write_path(process: &ReplayProcess, path: &Path) -> Result<u64, ReplayError> {
    let scratch = process.scratch.ok_or_else(|| {
        ReplayError::Setup("internal error: no injection page in this process".into())
    })?;
    let mut bytes = path.as_os_str().as_encoded_bytes().to_vec();
    if bytes.len() > MAX_PATH {
        return Err(ReplayError::Setup(format!(
            "trace path {} is too long for replay's injection page",
            path.display()
        )));
    }
    bytes.push(0);
    process.memory.write(scratch + PATH_OFFSET, &bytes)?;
    Ok(scratch + PATH_OFFSET)
}

/// A file-backed mapping to recreate.
#[derive(Clone, Copy)]
pub struct FileMapping<'a> {
    pub file: &'a FileRef,
    pub addr: u64,
    pub len: u64,
    pub prot: u64,
    pub offset: u64,
}

impl<'a> FileMapping<'a> {
    /// The mapping an mmap with these arguments made at `addr`.
    pub fn of_mmap(file: &'a FileRef, addr: u64, args: &[u64; 6]) -> FileMapping<'a> {
        FileMapping {
            file,
            addr,
            len: args[1],
            prot: args[2],
            offset: args[5],
        }
    }
}

/// Descriptors of blobs a process keeps open, at most; past this each
/// mapping opens and closes its blob again.
const MAX_BLOB_FDS: usize = 128;

/// Maps part of a captured file at exactly the recorded address, privately
/// (a shared mapping would let the replay write into the trace's `files/`).
pub fn map_file(
    tid: Pid,
    process: &mut ReplayProcess,
    reader: &TraceReader,
    mapping: FileMapping<'_>,
) -> Result<(), ReplayError> {
    let file = mapping.file;
    let (fd, keep) = match process.blob_fds.get(&file.sha256) {
        Some(&fd) => (fd, true),
        None => {
            let blob = reader.verified_file(file)?;
            let fd = open_in_tracee(tid, process, &blob, libc::O_RDONLY)?;
            let keep = process.blob_fds.len() < MAX_BLOB_FDS;
            if keep {
                process.blob_fds.insert(file.sha256.clone(), fd);
            }
            (fd, keep)
        }
    };
    let mapped = map_fd_at(tid, process, &mapping, libc::MAP_PRIVATE, fd);
    if !keep {
        run_syscall(tid, process, libc::SYS_close, [fd, 0, 0, 0, 0, 0])?;
    }
    mapped
}

/// Maps replay's shared copy of a file (see `shared_files`) at exactly the
/// recorded address, so that other mappings of it, this process's forks
/// included, see the same memory: `MAP_SHARED`, or `MAP_PRIVATE` (`share`)
/// for a private mapping, whose pages not yet copied then show the writes
/// replay applies to the copy, as the file's did.
pub fn map_shared_file(
    tid: Pid,
    process: &ReplayProcess,
    copy: &Path,
    mapping: FileMapping<'_>,
    share: i32,
) -> Result<(), ReplayError> {
    let fd = open_in_tracee(tid, process, copy, libc::O_RDWR)?;
    let mapped = map_fd_at(tid, process, &mapping, share, fd);
    run_syscall(tid, process, libc::SYS_close, [fd, 0, 0, 0, 0, 0])?;
    mapped
}

/// Opens `path` in the tracee (close-on-exec); returns the fd.
fn open_in_tracee(
    tid: Pid,
    process: &ReplayProcess,
    path: &Path,
    flags: i32,
) -> Result<u64, ReplayError> {
    let path_addr = write_path(process, path)?;
    let fd = run_syscall(
        tid,
        process,
        libc::SYS_openat,
        [
            libc::AT_FDCWD as u64,
            path_addr,
            (flags | libc::O_CLOEXEC) as u64,
            0,
            0,
            0,
        ],
    )?;
    check(&format!("open {} to map it", path.display()), fd)
}

fn map_fd_at(
    tid: Pid,
    process: &ReplayProcess,
    mapping: &FileMapping<'_>,
    share: i32,
    fd: u64,
) -> Result<(), ReplayError> {
    let FileMapping {
        file,
        addr,
        len,
        prot,
        offset,
    } = *mapping;
    let mapped = run_syscall(
        tid,
        process,
        libc::SYS_mmap,
        [
            addr,
            len,
            prot,
            (share | libc::MAP_FIXED) as u64,
            fd,
            offset,
        ],
    )?;
    let mapped = check(&format!("map {} at {addr:#x}", file.path), mapped)?;
    if mapped != addr {
        return Err(ReplayError::Setup(format!(
            "replay mapped {} at {mapped:#x} instead of {addr:#x}",
            file.path
        )));
    }
    Ok(())
}

fn map_anonymous(tid: Pid, process: &ReplayProcess, m: &Mapping) -> Result<(), ReplayError> {
    let share = if m.shared {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    let result = run_syscall(
        tid,
        process,
        libc::SYS_mmap,
        [
            m.start,
            m.end - m.start,
            m.prot as u64,
            (share | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u64,
            u64::MAX,
            0,
        ],
    )?;
    check(&format!("map anonymous memory at {:#x}", m.start), result)?;
    Ok(())
}

/// After a real exec in replay, replaces the kernel's fresh image with the
/// recorded one: the loader and every other mapping come from `files/`, the
/// writable file mappings and the initial stack get their recorded bytes.
/// The task must be at the exec's syscall-exit stop.
pub fn restore_exec_image(
    tid: Pid,
    process: &mut ReplayProcess,
    reader: &TraceReader,
    info: &ExecInfo,
    stack_bytes: &[u8],
    contents: &[Vec<u8>],
) -> Result<(), ReplayError> {
    process.scratch = Some(create_scratch(tid, &process.memory)?);
    // The exec closed them (close-on-exec).
    process.blob_fds.clear();
    process.auxv = info.auxv.clone();
    // The new image loads its own library, which says hello again.
    process.library_words = None;
    process.exe = Some(reader.verified_file(&info.exe)?);
    let scratch = process.scratch.unwrap_or_default();
    for entry in maps::read(tid)? {
        if is_special(&entry.name) || (scratch..scratch + SCRATCH_LEN).contains(&entry.start) {
            continue;
        }
        let result = run_syscall(
            tid,
            process,
            libc::SYS_munmap,
            [entry.start, entry.end - entry.start, 0, 0, 0, 0],
        )?;
        check(&format!("unmap {:#x}", entry.start), result)?;
    }
    let mut contents = contents.iter();
    for m in &info.mappings {
        if is_special(&m.name) {
            continue;
        }
        match &m.file {
            Some(file) => map_file(
                tid,
                process,
                reader,
                FileMapping {
                    file,
                    addr: m.start,
                    len: m.end - m.start,
                    prot: m.prot as u64,
                    offset: m.offset,
                },
            )?,
            None => map_anonymous(tid, process, m)?,
        }
        if let Some(recorded) = m.contents {
            let bytes = contents.next().ok_or_else(|| {
                ReplayError::Setup("trace is inconsistent: exec mapping contents missing".into())
            })?;
            // Format 1 recorded whole mappings (addr == start); format 2
            // only the pages from the first that differs from the file.
            process.memory.write(recorded.addr, bytes)?;
        }
    }
    let stack = maps::read(tid)?
        .into_iter()
        .find(|e| e.name == "[stack]")
        .ok_or_else(|| ReplayError::Setup("replayed process has no [stack] mapping".into()))?;
    let recorded_end = info.stack.addr + info.stack.len;
    if stack.end != recorded_end || stack.start > info.stack.addr {
        return Err(ReplayError::Setup(format!(
            "the replayed stack spans {:#x}-{:#x} but the recorded initial stack needs {:#x}-{recorded_end:#x}; is address-space randomization forced on (personality)?",
            stack.start, stack.end, info.stack.addr
        )));
    }
    process.memory.write(info.stack.addr, stack_bytes)?;
    Ok(())
}
