//! `outputs()`: the memory each syscall writes, computed at syscall exit.

use crate::abi::{self, Iovec};
use crate::row::{At, Exit, Writes};
use crate::{MemRange, MemoryError, MemoryReader, ModelError};
use libc as l;

/// `sizeof(struct stat)` on x86_64.
pub(crate) const STAT_SIZE: u64 = 144;
/// `sizeof(struct statx)`.
pub(crate) const STATX_SIZE: u64 = 256;
/// `sizeof(struct statfs)` on x86_64.
pub(crate) const STATFS_SIZE: u64 = 120;
/// `sizeof(struct rusage)`.
pub(crate) const RUSAGE_SIZE: u64 = 144;
/// The original `struct rseq`: the fields the kernel keeps are in it.
pub(crate) const RSEQ_SIZE: u64 = 32;
/// `sizeof(siginfo_t)`.
pub(crate) const SIGINFO_SIZE: u64 = 128;
/// `sizeof(struct timespec)` / `struct timeval`.
pub(crate) const TIMESPEC_SIZE: u64 = 16;
/// `sizeof(struct itimerspec)` / `struct itimerval`.
pub(crate) const ITIMER_SIZE: u64 = 32;
/// `sizeof(struct timex)` on x86_64.
pub(crate) const TIMEX_SIZE: u64 = 208;
/// `sizeof(struct epoll_event)` (packed on x86_64).
pub(crate) const EPOLL_EVENT_SIZE: u64 = 12;
/// `sizeof(struct io_event)`.
pub(crate) const IO_EVENT_SIZE: u64 = 32;

/// Collects the ranges a syscall wrote, dropping empty ones and ones at
/// address 0.
#[derive(Debug, Default)]
pub struct Out(Vec<MemRange>);

impl Out {
    pub(crate) fn add(&mut self, addr: u64, len: u64) {
        if addr != 0 && len != 0 {
            self.0.push(MemRange { addr, len });
        }
    }
}

/// True for a raw syscall return value that is a negative errno (the
/// kernel's `IS_ERR_VALUE`): -4095..=-1. Anything else, even negative (an
/// address high in memory), is a result.
pub fn is_error_result(ret: i64) -> bool {
    (-4095..0).contains(&ret)
}

/// True if the call succeeded.
pub(crate) fn ok(ret: i64) -> bool {
    !is_error_result(ret)
}

/// `ret` as a byte/element count (0 on failure).
pub(crate) fn count(ret: i64) -> u64 {
    if ret > 0 {
        ret as u64
    } else {
        0
    }
}

/// Errno values a syscall interrupted by a signal shows at the ptrace exit
/// stop: EINTR, ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ENOIOCTLCMD,
/// ERESTART_RESTARTBLOCK.
pub(crate) fn interrupted(ret: i64) -> bool {
    ret == -(l::EINTR as i64) || (-516..=-512).contains(&ret)
}

pub(crate) fn is_err(ret: i64, errno: i32) -> bool {
    ret == -(errno as i64)
}

pub(crate) fn read_array<const N: usize>(
    mem: &dyn MemoryReader,
    addr: u64,
) -> Result<[u8; N], ModelError> {
    let bytes = mem.read_bytes(addr, N)?;
    bytes
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ModelError::Memory(MemoryError {
                addr,
                len: N,
                detail: format!("short read ({} bytes)", bytes.len()),
            })
        })
}

pub(crate) fn read_u32(mem: &dyn MemoryReader, addr: u64) -> Result<u32, ModelError> {
    Ok(u32::from_le_bytes(read_array::<4>(mem, addr)?))
}

pub(crate) fn read_u64(mem: &dyn MemoryReader, addr: u64) -> Result<u64, ModelError> {
    Ok(u64::from_le_bytes(read_array::<8>(mem, addr)?))
}

/// `UIO_MAXIOV`: the kernel rejects larger iovec counts.
const IOV_MAX: u64 = 1024;

/// Reads `cnt` iovecs (16 bytes each: base, len) at `addr`.
pub(crate) fn read_iovecs(
    mem: &dyn MemoryReader,
    addr: u64,
    cnt: u64,
) -> Result<Vec<(u64, u64)>, ModelError> {
    let cnt = cnt.min(IOV_MAX) as usize;
    if cnt == 0 || addr == 0 {
        return Ok(Vec::new());
    }
    let len = cnt * 16;
    let bytes = mem.read_bytes(addr, len)?;
    if bytes.len() < len {
        return Err(ModelError::Memory(MemoryError {
            addr,
            len,
            detail: format!("short read ({} bytes)", bytes.len()),
        }));
    }
    Ok(abi::read_all::<Iovec>(&bytes)
        .map(|iov| (iov.base, iov.len))
        .collect())
}

/// Spreads `total` bytes over an iovec array, in order, as the kernel fills it.
pub(crate) fn distribute(
    out: &mut Out,
    mem: &dyn MemoryReader,
    iov: u64,
    iovcnt: u64,
    total: u64,
) -> Result<(), ModelError> {
    if total == 0 {
        return Ok(());
    }
    let mut left = total;
    for (base, len) in read_iovecs(mem, iov, iovcnt)? {
        if left == 0 {
            break;
        }
        let n = len.min(left);
        out.add(base, n);
        left -= n;
    }
    Ok(())
}

pub(crate) fn unsupported(name: &'static str, detail: impl Into<String>) -> ModelError {
    ModelError::Unsupported {
        name,
        detail: detail.into(),
    }
}

/// Memory the kernel wrote during this syscall, computed at syscall EXIT:
/// `args` are the entry arguments, `ret` the raw return value (negative errno
/// on failure), `mem` reads the tracee's memory as it is now (after the
/// syscall). Ranges with len 0 are omitted.
///
/// For `Execute` syscalls the kernel repeats the writes during replay; the
/// ranges returned for them (old signal actions/masks, clone's parent tid, ...)
/// hold the same bytes and are harmless to write back.
///
/// `restart_syscall` is `Unsupported` here: its effects are those of the
/// interrupted syscall, so the recorder should call `outputs` with the number
/// and arguments of that syscall instead.
pub fn outputs(
    nr: u64,
    args: &[u64; 6],
    ret: i64,
    mem: &dyn MemoryReader,
) -> Result<Vec<MemRange>, ModelError> {
    let row = crate::syscall(nr).ok_or(ModelError::UnknownSyscall { nr })?;
    let mut out = Out::default();
    match row.writes {
        Writes::Nothing => {}
        Writes::Returned { buf, cap } => out.add(args[buf], count(ret).min(args[cap])),
        Writes::OnSuccess(structs) => {
            if ok(ret) {
                for At(arg, len) in structs {
                    out.add(args[*arg], *len);
                }
            }
        }
        Writes::Hook(hook) => hook(&Exit { args, ret, mem }, &mut out)?,
        Writes::NotImplemented => {
            if !is_err(ret, l::ENOSYS) {
                return Err(unsupported(
                    row.name,
                    format!("this kernel implements it (returned {ret}); replay only knows it as ENOSYS"),
                ));
            }
        }
        Writes::Refused(reason) => return Err(unsupported(row.name, reason)),
        Writes::Absent(reason) => {
            if !is_err(ret, l::ENOSYS) {
                return Err(unsupported(row.name, reason));
            }
        }
    }
    Ok(out.0)
}

/// True if [`outputs`] knows syscall `nr` (it may still answer
/// `Unsupported` for it, or for some of its arguments); false if it answers
/// `UnknownSyscall`.
pub fn is_modelled(nr: u64) -> bool {
    crate::syscall(nr).is_some()
}
