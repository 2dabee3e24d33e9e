//! `outputs()`: the memory each syscall writes, computed at syscall exit.

use crate::table::nr as x;
use crate::{ioctl, misc, net, quiet, MemRange, MemoryError, MemoryReader, ModelError};
use libc as l;

/// `sizeof(struct stat)` on x86_64.
const STAT_SIZE: u64 = 144;
/// `sizeof(struct statx)`.
const STATX_SIZE: u64 = 256;
/// `sizeof(struct statfs)` on x86_64.
const STATFS_SIZE: u64 = 120;
/// `sizeof(struct rusage)`.
const RUSAGE_SIZE: u64 = 144;
/// `sizeof(siginfo_t)`.
const SIGINFO_SIZE: u64 = 128;
/// `sizeof(struct timespec)` / `struct timeval`.
pub(crate) const TIMESPEC_SIZE: u64 = 16;
/// `sizeof(struct itimerspec)` / `struct itimerval`.
const ITIMER_SIZE: u64 = 32;
/// `sizeof(struct timex)` on x86_64.
const TIMEX_SIZE: u64 = 208;
/// `sizeof(struct epoll_event)` (packed on x86_64).
const EPOLL_EVENT_SIZE: u64 = 12;
/// `sizeof(struct io_event)`.
const IO_EVENT_SIZE: u64 = 32;

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PARENT_SETTID: u64 = 0x0010_0000;

/// Collects output ranges, dropping empty ones and ones at address 0.
#[derive(Debug, Default)]
pub(crate) struct Out(Vec<MemRange>);

impl Out {
    pub(crate) fn add(&mut self, addr: u64, len: u64) {
        if addr != 0 && len != 0 {
            self.0.push(MemRange { addr, len });
        }
    }
}

/// True for a raw return value that is a negative errno.
pub(crate) fn failed(ret: i64) -> bool {
    (-4095..0).contains(&ret)
}

/// True if the call succeeded.
pub(crate) fn ok(ret: i64) -> bool {
    !failed(ret)
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
    Ok(bytes
        .chunks_exact(16)
        .map(|c| {
            let base = u64::from_le_bytes(c[..8].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(c[8..].try_into().unwrap_or_default());
            (base, len)
        })
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
    let mut out = Out::default();
    model(nr, args, ret, mem, &mut out)?;
    Ok(out.0)
}

/// True if [`outputs`] handles syscall `nr` deliberately (it may still answer
/// `Unsupported` for it, or for some of its arguments); false if it answers
/// `UnknownSyscall`.
pub fn is_modelled(nr: u64) -> bool {
    struct NoMemory;
    impl MemoryReader for NoMemory {
        fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
            Err(MemoryError {
                addr,
                len,
                detail: "no memory".into(),
            })
        }
    }
    let ret = -(l::ENOSYS as i64);
    !matches!(
        outputs(nr, &[0; 6], ret, &NoMemory),
        Err(ModelError::UnknownSyscall { .. })
    )
}

fn model(
    nr: u64,
    a: &[u64; 6],
    ret: i64,
    mem: &dyn MemoryReader,
    out: &mut Out,
) -> Result<(), ModelError> {
    let unknown = ModelError::UnknownSyscall { nr };
    let Ok(n) = i64::try_from(nr) else {
        return Err(unknown);
    };
    let name = crate::name(nr).unwrap_or("syscall");
    if quiet::writes_nothing(n) {
        return Ok(());
    }
    if quiet::not_implemented(n) {
        if is_err(ret, l::ENOSYS) {
            return Ok(());
        }
        return Err(unsupported(
            name,
            format!("this kernel implements it (returned {ret}); replay only knows it as ENOSYS"),
        ));
    }
    if let Some(reason) = quiet::refused(n) {
        return Err(unsupported(name, reason));
    }
    match n {
        // ---- Reads into a buffer. ----
        l::SYS_read | l::SYS_pread64 => out.add(a[1], count(ret).min(a[2])),
        l::SYS_readv | l::SYS_preadv | l::SYS_preadv2 | l::SYS_vmsplice => {
            distribute(out, mem, a[1], a[2], count(ret))?;
        }
        l::SYS_process_vm_readv => distribute(out, mem, a[1], a[2], count(ret))?,
        l::SYS_getdents | l::SYS_getdents64 => out.add(a[1], count(ret).min(a[2])),
        l::SYS_getcwd => out.add(a[0], count(ret).min(a[1])),
        l::SYS_readlink => out.add(a[1], count(ret).min(a[2])),
        l::SYS_readlinkat => out.add(a[2], count(ret).min(a[3])),
        l::SYS_getrandom => out.add(a[0], count(ret).min(a[1])),
        l::SYS_getxattr | l::SYS_lgetxattr | l::SYS_fgetxattr => {
            out.add(a[2], count(ret).min(a[3]));
        }
        l::SYS_listxattr | l::SYS_llistxattr | l::SYS_flistxattr => {
            out.add(a[1], count(ret).min(a[2]));
        }
        x::SYS_listxattrat => out.add(a[3], count(ret).min(a[4])),
        x::SYS_getxattrat => {
            // struct xattr_args { u64 value; u32 size; u32 flags; } at args[4].
            if ret > 0 {
                let value = read_u64(mem, a[4])?;
                let size = read_u32(mem, a[4] + 8)? as u64;
                out.add(value, count(ret).min(size));
            }
        }
        l::SYS_mq_timedreceive => {
            if ok(ret) {
                out.add(a[1], count(ret).min(a[2]));
                out.add(a[3], 4);
            }
        }
        l::SYS_msgrcv => {
            // struct msgbuf { long mtype; char mtext[ret]; }
            if ok(ret) {
                out.add(a[1], 8 + count(ret).min(a[2]));
            }
        }

        // ---- Fixed-size structs written on success. ----
        l::SYS_stat | l::SYS_fstat | l::SYS_lstat => {
            if ok(ret) {
                out.add(a[1], STAT_SIZE);
            }
        }
        l::SYS_newfstatat => {
            if ok(ret) {
                out.add(a[2], STAT_SIZE);
            }
        }
        l::SYS_statx => {
            if ok(ret) {
                out.add(a[4], STATX_SIZE);
            }
        }
        l::SYS_statfs | l::SYS_fstatfs => {
            if ok(ret) {
                out.add(a[1], STATFS_SIZE);
            }
        }
        l::SYS_ustat => {
            if ok(ret) {
                out.add(a[1], 32);
            }
        }
        l::SYS_uname => {
            if ok(ret) {
                out.add(a[0], 390);
            }
        }
        l::SYS_sysinfo => {
            if ok(ret) {
                out.add(a[0], 112);
            }
        }
        l::SYS_times => {
            if ok(ret) {
                out.add(a[0], 32);
            }
        }
        l::SYS_time => {
            if ok(ret) {
                out.add(a[0], 8);
            }
        }
        l::SYS_gettimeofday => {
            if ok(ret) {
                out.add(a[0], TIMESPEC_SIZE);
                out.add(a[1], 8);
            }
        }
        l::SYS_clock_gettime | l::SYS_clock_getres => {
            if ok(ret) {
                out.add(a[1], TIMESPEC_SIZE);
            }
        }
        l::SYS_adjtimex => {
            if ok(ret) {
                out.add(a[0], TIMEX_SIZE);
            }
        }
        l::SYS_clock_adjtime => {
            if ok(ret) {
                out.add(a[1], TIMEX_SIZE);
            }
        }
        l::SYS_getrlimit => {
            if ok(ret) {
                out.add(a[1], 16);
            }
        }
        l::SYS_prlimit64 => {
            if ok(ret) {
                out.add(a[3], 16);
            }
        }
        l::SYS_getrusage => {
            if ok(ret) {
                out.add(a[1], RUSAGE_SIZE);
            }
        }
        l::SYS_getitimer => {
            if ok(ret) {
                out.add(a[1], ITIMER_SIZE);
            }
        }
        l::SYS_setitimer => {
            if ok(ret) {
                out.add(a[2], ITIMER_SIZE);
            }
        }
        l::SYS_timer_create => {
            if ok(ret) {
                out.add(a[2], 4);
            }
        }
        l::SYS_timer_settime | l::SYS_timerfd_settime => {
            if ok(ret) {
                out.add(a[3], ITIMER_SIZE);
            }
        }
        l::SYS_timer_gettime | l::SYS_timerfd_gettime => {
            if ok(ret) {
                out.add(a[1], ITIMER_SIZE);
            }
        }
        l::SYS_sched_getparam => {
            if ok(ret) {
                out.add(a[1], 4);
            }
        }
        l::SYS_sched_rr_get_interval => {
            if ok(ret) {
                out.add(a[1], TIMESPEC_SIZE);
            }
        }
        l::SYS_sched_getaffinity => out.add(a[2], count(ret).min(a[1])),
        l::SYS_sched_getattr => {
            // The kernel writes min(usize, its sizeof) and stores that in attr->size.
            if ok(ret) && a[1] != 0 {
                let size = read_u32(mem, a[1])? as u64;
                out.add(a[1], size.min(a[2]));
            }
        }
        l::SYS_sched_setattr => {
            // On E2BIG the kernel stores its struct size in attr->size.
            if is_err(ret, l::E2BIG) {
                out.add(a[1], 4);
            }
        }
        l::SYS_getcpu => {
            if ok(ret) {
                out.add(a[0], 4);
                out.add(a[1], 4);
            }
        }
        l::SYS_getgroups => {
            if (a[0] as i32) > 0 {
                out.add(a[1], count(ret) * 4);
            }
        }
        l::SYS_getresuid | l::SYS_getresgid => {
            if ok(ret) {
                out.add(a[0], 4);
                out.add(a[1], 4);
                out.add(a[2], 4);
            }
        }
        l::SYS_get_robust_list => {
            if ok(ret) {
                out.add(a[1], 8);
                out.add(a[2], 8);
            }
        }
        l::SYS_pipe | l::SYS_pipe2 => {
            if ok(ret) {
                out.add(a[0], 8);
            }
        }
        l::SYS_socketpair => {
            if ok(ret) {
                out.add(a[3], 8);
            }
        }
        l::SYS_mincore => {
            if ok(ret) {
                out.add(a[2], a[1].div_ceil(4096));
            }
        }
        l::SYS_get_mempolicy => {
            if ok(ret) {
                out.add(a[0], 4);
                if a[2] > 0 {
                    out.add(a[1], (a[2] - 1).div_ceil(64) * 8);
                }
            }
        }
        l::SYS_move_pages => {
            if ok(ret) {
                out.add(a[4], a[1].saturating_mul(4));
            }
        }
        l::SYS_mq_getsetattr => {
            if ok(ret) {
                out.add(a[2], 64);
            }
        }
        l::SYS_rt_sigpending => {
            if ok(ret) {
                out.add(a[0], a[1]);
            }
        }
        x::SYS_cachestat => {
            if ok(ret) {
                out.add(a[2], 40);
            }
        }
        x::SYS_statmount => {
            // The kernel stores the size it wrote in the buffer's first u32.
            if ok(ret) && a[1] != 0 {
                let size = read_u32(mem, a[1])? as u64;
                out.add(a[1], size.min(a[2]));
            }
        }
        x::SYS_listmount => out.add(a[1], count(ret).min(a[2]).saturating_mul(8)),
        x::SYS_lsm_get_self_attr => {
            if ok(ret) || is_err(ret, l::E2BIG) {
                out.add(a[2], 4);
            }
            if ok(ret) && a[1] != 0 && a[2] != 0 {
                let size = read_u32(mem, a[2])? as u64;
                out.add(a[1], size);
            }
        }
        x::SYS_lsm_list_modules => {
            if ok(ret) || is_err(ret, l::E2BIG) {
                out.add(a[1], 4);
            }
            out.add(a[0], count(ret) * 8);
        }
        x::SYS_file_getattr => {
            // file_getattr(dfd, path, ufattr, usize, at_flags): usize bytes
            // (the tail beyond the kernel's struct is zeroed).
            if ok(ret) {
                out.add(a[2], a[3]);
            }
        }

        // ---- Signals. ----
        l::SYS_rt_sigaction => {
            // struct kernel_sigaction: handler, flags, restorer, mask (8).
            if ok(ret) {
                out.add(a[2], 24 + a[3]);
            }
        }
        l::SYS_rt_sigprocmask => {
            if ok(ret) {
                out.add(a[2], a[3]);
            }
        }
        l::SYS_sigaltstack => {
            if ok(ret) {
                out.add(a[1], 24);
            }
        }
        l::SYS_rt_sigtimedwait => {
            if ret > 0 {
                out.add(a[1], SIGINFO_SIZE);
            }
        }

        // ---- Sleeping and waiting. ----
        l::SYS_nanosleep => {
            if interrupted(ret) {
                out.add(a[1], TIMESPEC_SIZE);
            }
        }
        l::SYS_clock_nanosleep => {
            const TIMER_ABSTIME: u64 = 1;
            if interrupted(ret) && a[1] & TIMER_ABSTIME == 0 {
                out.add(a[3], TIMESPEC_SIZE);
            }
        }
        l::SYS_wait4 => {
            if ret > 0 {
                out.add(a[1], 4);
                out.add(a[3], RUSAGE_SIZE);
            }
        }
        l::SYS_waitid => {
            // infop is written whenever waitid returns 0 (zeroed with WNOHANG
            // and no child); rusage only when a child was reaped, which a
            // whole-struct over-approximation covers.
            if ret == 0 {
                out.add(a[2], SIGINFO_SIZE);
                out.add(a[4], RUSAGE_SIZE);
            }
        }
        l::SYS_epoll_wait | l::SYS_epoll_pwait | l::SYS_epoll_pwait2 => {
            out.add(a[1], count(ret) * EPOLL_EVENT_SIZE);
        }
        l::SYS_io_getevents | x::SYS_io_pgetevents => out.add(a[3], count(ret) * IO_EVENT_SIZE),
        l::SYS_io_cancel => {
            if ok(ret) {
                out.add(a[2], IO_EVENT_SIZE);
            }
        }

        // ---- Processes. ----
        l::SYS_clone => {
            // clone(flags, stack, parent_tid, child_tid, tls): the parent's
            // copy of parent_tid holds the new tid (CLONE_PARENT_SETTID) or a
            // pidfd (CLONE_PIDFD). CLONE_CHILD_SETTID writes happen in the child.
            if ret > 0 && a[0] & (CLONE_PARENT_SETTID | CLONE_PIDFD) != 0 {
                out.add(a[2], 4);
            }
        }
        l::SYS_clone3 => {
            // struct clone_args { flags; pidfd; child_tid; parent_tid; ... }.
            if ret > 0 && a[0] != 0 {
                let flags = read_u64(mem, a[0])?;
                if flags & CLONE_PIDFD != 0 {
                    out.add(read_u64(mem, a[0] + 8)?, 4);
                }
                if flags & CLONE_PARENT_SETTID != 0 {
                    out.add(read_u64(mem, a[0] + 24)?, 4);
                }
            }
        }

        // ---- File offsets written back. ----
        l::SYS_sendfile => {
            if ok(ret) {
                out.add(a[2], 8);
            }
        }
        l::SYS_splice => {
            if ok(ret) {
                out.add(a[1], 8);
                out.add(a[3], 8);
            }
        }
        l::SYS_copy_file_range => {
            if ret > 0 {
                out.add(a[1], 8);
                out.add(a[3], 8);
            }
        }

        // ---- Polling and sockets (net.rs). ----
        l::SYS_poll => net::poll(out, a, ret, None),
        l::SYS_ppoll => net::poll(out, a, ret, Some(a[2])),
        l::SYS_select | l::SYS_pselect6 => net::select(out, a, ret),
        l::SYS_accept | l::SYS_accept4 | l::SYS_getsockname | l::SYS_getpeername => {
            if ok(ret) {
                net::sockaddr(out, mem, a[1], a[2])?;
            }
        }
        l::SYS_recvfrom => {
            if ok(ret) {
                out.add(a[1], count(ret).min(a[2]));
                net::sockaddr(out, mem, a[4], a[5])?;
            }
        }
        l::SYS_getsockopt => net::getsockopt(out, mem, a, ret)?,
        l::SYS_recvmsg => {
            if ok(ret) {
                net::recvmsg(out, mem, a[1], count(ret))?;
            }
        }
        l::SYS_recvmmsg => net::recvmmsg(out, mem, a, ret)?,
        l::SYS_sendmmsg => net::sendmmsg(out, a, ret),

        // ---- Multiplexed syscalls (misc.rs, ioctl.rs). ----
        l::SYS_ioctl => ioctl::outputs(out, mem, a, ret)?,
        l::SYS_fcntl => misc::fcntl(out, a, ret)?,
        l::SYS_prctl => misc::prctl(out, a, ret)?,
        l::SYS_arch_prctl => misc::arch_prctl(out, a, ret)?,
        l::SYS_futex => misc::futex(out, a, ret)?,
        l::SYS_semctl => misc::semctl(out, a, ret)?,
        l::SYS_shmctl => misc::shmctl(out, a, ret)?,
        l::SYS_msgctl => misc::msgctl(out, a, ret)?,
        l::SYS_capget => misc::capget(out, mem, a, ret)?,
        l::SYS_keyctl => misc::keyctl(out, a, ret)?,
        l::SYS_name_to_handle_at => misc::name_to_handle_at(out, mem, a, ret)?,
        l::SYS_syslog => misc::syslog(out, a, ret)?,
        l::SYS_modify_ldt => misc::modify_ldt(out, a, ret)?,
        l::SYS_seccomp => misc::seccomp(out, a, ret)?,
        l::SYS_sysfs => misc::sysfs(a, ret)?,
        l::SYS_set_thread_area => {
            // Stores the chosen GDT slot in u_info->entry_number.
            if ok(ret) {
                out.add(a[0], 4);
            }
        }
        l::SYS_get_thread_area => {
            if ok(ret) {
                out.add(a[0], 16);
            }
        }

        _ => return Err(unknown),
    }
    Ok(())
}
