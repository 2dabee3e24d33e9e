//! Multiplexed syscalls whose writes depend on a command argument: fcntl,
//! prctl, arch_prctl, futex, SysV IPC control, capget, keyctl, ...
//! An unknown command is `Unsupported`, never a guess.

use crate::outputs::{count, is_err, ok, read_u32, unsupported, Out};
use crate::row::{Args, Exit};
use crate::{is_error_result, ModelError};
use libc as l;

/// `fcntl(fd, F_DUPFD or F_DUPFD_CLOEXEC, lowest)` returns a copy of `fd`.
pub(crate) fn fcntl_duplicates(args: &Args) -> bool {
    matches!(args[1] as i32, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC)
}

pub(crate) fn fcntl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let cmd = a[1] as u32;
    match cmd {
        // F_GETLK (== F_GETLK64 on x86_64), F_OFD_GETLK: struct flock.
        5 | 36 => {
            if ok(ret) {
                out.add(a[2], 32);
            }
        }
        // F_GETOWN_EX (struct f_owner_ex), F_GETOWNER_UIDS (2 x uid_t),
        // F_GET_RW_HINT, F_GET_FILE_RW_HINT (u64).
        16 | 17 | 1035 | 1037 => {
            if ok(ret) {
                out.add(a[2], 8);
            }
        }
        // F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_SETLK, F_SETLKW,
        // F_SETOWN, F_GETOWN, F_SETSIG, F_GETSIG, F_SETOWN_EX, F_OFD_SETLK,
        // F_OFD_SETLKW, F_SETLEASE, F_GETLEASE, F_NOTIFY, F_DUPFD_QUERY,
        // F_CREATED_QUERY, F_DUPFD_CLOEXEC, F_SETPIPE_SZ, F_GETPIPE_SZ,
        // F_ADD_SEALS, F_GET_SEALS, F_SET_RW_HINT, F_SET_FILE_RW_HINT.
        0..=4 | 6..=11 | 15 | 37 | 38 | 1024..=1028 | 1030..=1034 | 1036 | 1038 => {}
        _ => return Err(unsupported("fcntl", format!("command {cmd}"))),
    }
    Ok(())
}

/// `PR_SET_MM`: moves the boundaries the kernel keeps of the address
/// space (code, data, heap, stack, arguments, environment, auxv). They
/// show only in `/proc` (whose reads replay returns as recorded) and in
/// where `brk` starts, for which replay runs the call again
/// (`policy::prctl`). A new `/proc/self/exe` comes from a descriptor
/// replay does not open: refused.
fn prctl_set_mm(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    const PR_SET_MM_EXE_FILE: u64 = 13;
    const PR_SET_MM_MAP: u64 = 14;
    const PR_SET_MM_MAP_SIZE: u64 = 15;
    /// `struct prctl_mm_map`'s `exe_fd`: after eleven addresses, the auxv
    /// pointer and its size.
    const EXE_FD_OFFSET: u64 = 11 * 8 + 8 + 4;
    let (a, ret) = (c.args, c.ret);
    if !ok(ret) {
        return Ok(());
    }
    let new_exe = match a[1] {
        PR_SET_MM_EXE_FILE => true,
        PR_SET_MM_MAP => read_u32(c.mem, a[2] + EXE_FD_OFFSET)? != u32::MAX,
        _ => false,
    };
    if new_exe {
        return Err(unsupported(
            "prctl",
            "PR_SET_MM replaces /proc/self/exe with a descriptor replay does not open",
        ));
    }
    if a[1] == PR_SET_MM_MAP_SIZE {
        out.add(a[2], 4);
    }
    Ok(())
}

pub(crate) fn prctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    const PR_GET_AUXV: u32 = 0x4155_5856;
    const PR_SET_VMA: u32 = 0x5356_4d41;
    const PR_SET_PTRACER: u32 = 0x5961_6d61;
    let option = a[0] as u32;
    let int_at_arg2 = |out: &mut Out, len: u64| {
        if ok(ret) {
            out.add(a[1], len);
        }
    };
    match option {
        // PR_GET_PDEATHSIG, PR_GET_UNALIGN, PR_GET_FPEMU, PR_GET_FPEXC,
        // PR_GET_ENDIAN, PR_GET_TSC, PR_GET_CHILD_SUBREAPER: int at arg2.
        2 | 5 | 9 | 11 | 19 | 25 | 37 => int_at_arg2(out, 4),
        // PR_GET_NAME: char[16].
        16 => int_at_arg2(out, 16),
        // PR_GET_TID_ADDRESS, PR_GET_SHADOW_STACK_STATUS: u64 at arg2.
        40 | 74 => int_at_arg2(out, 8),
        PR_GET_AUXV => out.add(a[1], count(ret).min(a[2])),
        // PR_SCHED_CORE: PR_SCHED_CORE_GET stores the cookie (u64) at arg5.
        62 => {
            if a[1] == 0 && ok(ret) {
                out.add(a[4], 8);
            }
        }
        35 => prctl_set_mm(c, out)?,
        59 => {
            return Err(unsupported(
                "prctl",
                "PR_SET_SYSCALL_USER_DISPATCH changes how syscalls are delivered",
            ))
        }
        // Options that return their result in the return value or only set
        // state: SET_PDEATHSIG, GET/SET_DUMPABLE, SET_UNALIGN, GET/SET_KEEPCAPS,
        // SET_FPEMU, SET_FPEXC, GET/SET_TIMING, SET_NAME, SET_ENDIAN,
        // GET/SET_SECCOMP, CAPBSET_READ/DROP, SET_TSC, GET/SET_SECUREBITS,
        // SET/GET_TIMERSLACK, TASK_PERF_EVENTS_*, MCE_KILL(_GET),
        // SET_CHILD_SUBREAPER, SET/GET_NO_NEW_PRIVS, SET/GET_THP_DISABLE,
        // MPX_*, SET/GET_FP_MODE, CAP_AMBIENT, SVE_*, GET/SET_SPECULATION_CTRL,
        // PAC_*, SET/GET_TAGGED_ADDR_CTRL, SET/GET_IO_FLUSHER, SME_*,
        // SET/GET_MDWE, SET/GET_MEMORY_MERGE, RISCV_*, PPC_*_DEXCR,
        // SET/LOCK_SHADOW_STACK_STATUS, TIMER_CREATE_RESTORE_IDS, FUTEX_HASH,
        // SET_VMA, SET_PTRACER.
        1
        | 3
        | 4
        | 6..=8
        | 10
        | 12..=15
        | 20..=24
        | 26..=34
        | 36
        | 38
        | 39
        | 41..=47
        | 50..=58
        | 60
        | 61
        | 63..=73
        | 75..=78
        | PR_SET_VMA
        | PR_SET_PTRACER => {}
        _ => return Err(unsupported("prctl", format!("option {option:#x}"))),
    }
    Ok(())
}

pub(crate) fn arch_prctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let code = a[0] as u32;
    match code {
        // ARCH_GET_FS, ARCH_GET_GS, ARCH_GET_XCOMP_SUPP, ARCH_GET_XCOMP_PERM,
        // ARCH_GET_XCOMP_GUEST_PERM, ARCH_GET_UNTAG_MASK,
        // ARCH_GET_MAX_TAG_BITS, ARCH_SHSTK_STATUS: u64 at arg2.
        0x1003 | 0x1004 | 0x1021 | 0x1022 | 0x1024 | 0x4001 | 0x4003 | 0x5005 => {
            if ok(ret) {
                out.add(a[1], 8);
            }
        }
        // ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_CPUID, ARCH_SET_CPUID,
        // ARCH_REQ_XCOMP_PERM, ARCH_REQ_XCOMP_GUEST_PERM, ARCH_MAP_VDSO_*,
        // ARCH_ENABLE_TAGGED_ADDR, ARCH_FORCE_TAGGED_SVA, ARCH_SHSTK_ENABLE,
        // _DISABLE, _LOCK, _UNLOCK.
        0x1001
        | 0x1002
        | 0x1011
        | 0x1012
        | 0x1023
        | 0x1025
        | 0x2001..=0x2003
        | 0x4002
        | 0x4004
        | 0x5001..=0x5004 => {}
        _ => return Err(unsupported("arch_prctl", format!("code {code:#x}"))),
    }
    Ok(())
}

pub(crate) fn futex(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    const PRIVATE_AND_CLOCK: u32 = 128 | 256;
    let cmd = a[1] as u32 & !PRIVATE_AND_CLOCK;
    // PI operations store owner tids / the waiters bit in the futex word
    // unless they failed before touching it.
    let pi_touched = !(is_err(ret, l::EFAULT) || is_err(ret, l::EINVAL) || is_err(ret, l::ENOSYS));
    match cmd {
        // WAIT, WAKE, FD, REQUEUE, CMP_REQUEUE, WAIT_BITSET, WAKE_BITSET.
        0..=4 | 9 | 10 => {}
        // FUTEX_WAKE_OP: the atomic op is applied to *uaddr2.
        5 => {
            if ok(ret) {
                out.add(a[4], 4);
            }
        }
        // LOCK_PI, UNLOCK_PI, TRYLOCK_PI, LOCK_PI2: *uaddr.
        6..=8 | 13 => {
            if pi_touched {
                out.add(a[0], 4);
            }
        }
        // WAIT_REQUEUE_PI, CMP_REQUEUE_PI: the PI futex *uaddr2.
        11 | 12 => {
            if pi_touched {
                out.add(a[4], 4);
            }
        }
        _ => return Err(unsupported("futex", format!("operation {:#x}", a[1]))),
    }
    Ok(())
}

/// IPC_64 is accepted and ignored by the kernel on x86_64.
const IPC_64: u32 = 0x100;

pub(crate) fn semctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let cmd = a[2] as u32 & !IPC_64;
    match cmd {
        // IPC_STAT, SEM_STAT, SEM_STAT_ANY: struct semid64_ds.
        2 | 18 | 20 => {
            if ok(ret) {
                out.add(a[3], 104);
            }
        }
        // IPC_INFO, SEM_INFO: struct seminfo.
        3 | 19 => {
            if ok(ret) {
                out.add(a[3], 40);
            }
        }
        13 => {
            if !is_error_result(ret) {
                return Err(unsupported(
                    "semctl",
                    "GETALL writes one u16 per semaphore and the count is not an argument",
                ));
            }
        }
        // IPC_RMID, IPC_SET, GETPID, GETVAL, GETNCNT, GETZCNT, SETVAL, SETALL.
        0 | 1 | 11 | 12 | 14..=17 => {}
        _ => return Err(unsupported("semctl", format!("command {cmd}"))),
    }
    Ok(())
}

pub(crate) fn shmctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let cmd = a[1] as u32 & !IPC_64;
    match cmd {
        // IPC_STAT, SHM_STAT, SHM_STAT_ANY: struct shmid64_ds.
        2 | 13 | 15 => {
            if ok(ret) {
                out.add(a[2], 112);
            }
        }
        // IPC_INFO: struct shminfo64.
        3 => {
            if ok(ret) {
                out.add(a[2], 72);
            }
        }
        // SHM_INFO: struct shm_info.
        14 => {
            if ok(ret) {
                out.add(a[2], 48);
            }
        }
        // IPC_RMID, IPC_SET, SHM_LOCK, SHM_UNLOCK.
        0 | 1 | 11 | 12 => {}
        _ => return Err(unsupported("shmctl", format!("command {cmd}"))),
    }
    Ok(())
}

pub(crate) fn msgctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let cmd = a[1] as u32 & !IPC_64;
    match cmd {
        // IPC_STAT, MSG_STAT, MSG_STAT_ANY: struct msqid64_ds.
        2 | 11 | 13 => {
            if ok(ret) {
                out.add(a[2], 120);
            }
        }
        // IPC_INFO, MSG_INFO: struct msginfo.
        3 | 12 => {
            if ok(ret) {
                out.add(a[2], 32);
            }
        }
        // IPC_RMID, IPC_SET.
        0 | 1 => {}
        _ => return Err(unsupported("msgctl", format!("command {cmd}"))),
    }
    Ok(())
}

/// capget(header, data): the kernel stores its preferred version in the
/// header when the caller's is unknown (EINVAL, or 0 with data == NULL);
/// data gets 1 (v1) or 2 (v2, v3) `struct __user_cap_data_struct` (12 bytes).
pub(crate) fn capget(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if ok(ret) || is_err(ret, l::EINVAL) {
        out.add(a[0], 4);
    }
    if ok(ret) && a[0] != 0 && a[1] != 0 {
        let n = match read_u32(mem, a[0])? {
            0x1998_0330 => 1,
            0x2007_1026 | 0x2008_0522 => 2,
            _ => 0,
        };
        out.add(a[1], n * 12);
    }
    Ok(())
}

pub(crate) fn keyctl(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    let op = a[0] as u32;
    match op {
        // DESCRIBE, READ, GET_SECURITY, DH_COMPUTE: buffer at arg3, size arg4;
        // the return value is the full length.
        6 | 11 | 17 | 23 => out.add(a[2], count(ret).min(a[3])),
        // CAPABILITIES: buffer at arg2, size arg3.
        31 => out.add(a[1], count(ret).min(a[2])),
        0..=5 | 7..=10 | 12..=16 | 18..=22 | 28..=30 | 32 => {}
        _ => return Err(unsupported("keyctl", format!("operation {op}"))),
    }
    Ok(())
}

/// name_to_handle_at(dirfd, path, handle, mount_id, flags).
pub(crate) fn name_to_handle_at(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    const AT_HANDLE_MNT_ID_UNIQUE: u64 = 0x001;
    let mnt_id_len = if a[4] & AT_HANDLE_MNT_ID_UNIQUE != 0 {
        8
    } else {
        4
    };
    if ok(ret) {
        // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; }
        let bytes = if a[2] != 0 {
            read_u32(mem, a[2])? as u64
        } else {
            0
        };
        out.add(a[2], 8 + bytes);
        out.add(a[3], mnt_id_len);
    } else if is_err(ret, l::EOVERFLOW) {
        // The needed size is stored in the header.
        out.add(a[2], 8);
        out.add(a[3], mnt_id_len);
    }
    Ok(())
}

pub(crate) fn syslog(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    match a[0] as u32 {
        // SYSLOG_ACTION_READ, _READ_ALL, _READ_CLEAR.
        2..=4 => out.add(a[1], count(ret).min(a[2])),
        0 | 1 | 5..=10 => {}
        t => return Err(unsupported("syslog", format!("type {t}"))),
    }
    Ok(())
}

pub(crate) fn modify_ldt(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    match a[0] as u32 {
        // Read the LDT / the default LDT.
        0 | 2 => out.add(a[1], count(ret).min(a[2])),
        1 | 0x11 => {}
        f if is_error_result(ret) => {
            let _ = f;
        }
        f => return Err(unsupported("modify_ldt", format!("function {f:#x}"))),
    }
    Ok(())
}

pub(crate) fn seccomp(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    match a[0] as u32 {
        // SET_MODE_STRICT, SET_MODE_FILTER, GET_ACTION_AVAIL.
        0..=2 => {}
        // SECCOMP_GET_NOTIF_SIZES: struct seccomp_notif_sizes (3 x u16).
        3 => {
            if ok(ret) {
                out.add(a[2], 6);
            }
        }
        op => return Err(unsupported("seccomp", format!("operation {op}"))),
    }
    Ok(())
}

/// `sysfs(2, index, buf)` copies a file system's name with its NUL; the
/// name is short (the longest registered is under 32 bytes), so its NUL
/// is found in the buffer after the call, a byte at a time (the buffer may
/// end at a page's end).
pub(crate) fn sysfs(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    const LONGEST_NAME: u64 = 256;
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if a[0] as u32 != 2 || is_error_result(ret) {
        return Ok(());
    }
    for len in 0..LONGEST_NAME {
        if mem.read_bytes(a[2].wrapping_add(len), 1)? == [0] {
            out.add(a[2], len + 1);
            return Ok(());
        }
    }
    Err(unsupported(
        "sysfs",
        "option 2 wrote a name longer than 256 bytes".to_string(),
    ))
}
