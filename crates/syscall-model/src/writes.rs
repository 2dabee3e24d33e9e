//! Hooks for the syscalls whose writes depend on their arguments, result or
//! memory: each row of `rows.rs` that says `Hook(writes::name)`.

use crate::outputs::{
    count, distribute, interrupted, is_err, ok, read_u32, read_u64, Out, EPOLL_EVENT_SIZE,
    IO_EVENT_SIZE, RUSAGE_SIZE, SIGINFO_SIZE, TIMESPEC_SIZE,
};
use crate::row::Exit;
use crate::{net, ModelError};
use libc as l;

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_PARENT_SETTID: u64 = 0x0010_0000;

pub(crate) fn readv(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    distribute(out, mem, a[1], a[2], count(ret))?;
    Ok(())
}

pub(crate) fn process_vm_readv(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    distribute(out, mem, a[1], a[2], count(ret))?;
    Ok(())
}

/// Advice that discards a page's contents. The kernel takes it only for
/// the caller's own memory (a remote process gets only the advice that
/// keeps contents), so the ranges are the caller's, and what they hold
/// after the call (zeros, or a file's bytes again) is logged.
pub(crate) fn process_madvise(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    const DISCARDING: [u64; 4] = [
        4,  // MADV_DONTNEED
        8,  // MADV_FREE
        9,  // MADV_REMOVE
        24, // MADV_DONTNEED_LOCKED
    ];
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if DISCARDING.contains(&a[3]) {
        distribute(out, mem, a[1], a[2], count(ret))?;
    }
    Ok(())
}

pub(crate) fn getxattrat(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    // struct xattr_args { u64 value; u32 size; u32 flags; } at args[4].
    if ret > 0 {
        let value = read_u64(mem, a[4])?;
        let size = read_u32(mem, a[4].wrapping_add(8))? as u64;
        out.add(value, count(ret).min(size));
    }
    Ok(())
}

pub(crate) fn mq_timedreceive(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[1], count(ret).min(a[2]));
        out.add(a[3], 4);
    }
    Ok(())
}

pub(crate) fn msgrcv(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // struct msgbuf { long mtype; char mtext[ret]; }
    if ok(ret) {
        out.add(a[1], 8 + count(ret).min(a[2]));
    }
    Ok(())
}

pub(crate) fn sched_getattr(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let a = c.args;
    // The kernel writes min(usize, its sizeof) and stores that in
    // attr->size; since Linux 6.x it also zeroes the rest of the caller's
    // usize bytes (copy_struct_to_user). All usize bytes, then: where an
    // older kernel leaves the tail alone, it holds what it held. A
    // successful call had usize at most a page.
    const MAX_ATTR: u64 = 4096;
    if ok(c.ret) && a[1] != 0 {
        out.add(a[1], a[2].min(MAX_ATTR));
    }
    Ok(())
}

pub(crate) fn sched_setattr(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // On E2BIG the kernel stores its struct size in attr->size.
    if is_err(ret, l::E2BIG) {
        out.add(a[1], 4);
    }
    Ok(())
}

pub(crate) fn getgroups(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if (a[0] as i32) > 0 {
        out.add(a[1], count(ret).saturating_mul(4));
    }
    Ok(())
}

pub(crate) fn mincore(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[2], a[1].div_ceil(4096));
    }
    Ok(())
}

pub(crate) fn get_mempolicy(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[0], 4);
        if a[2] > 0 {
            out.add(a[1], (a[2] - 1).div_ceil(64) * 8);
        }
    }
    Ok(())
}

pub(crate) fn move_pages(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[4], a[1].saturating_mul(4));
    }
    Ok(())
}

pub(crate) fn rt_sigpending(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[0], a[1]);
    }
    Ok(())
}

pub(crate) fn statmount(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    // The kernel stores the size it wrote in the buffer's first u32.
    if ok(ret) && a[1] != 0 {
        let size = read_u32(mem, a[1])? as u64;
        out.add(a[1], size.min(a[2]));
    }
    Ok(())
}

pub(crate) fn listmount(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    out.add(a[1], count(ret).min(a[2]).saturating_mul(8));
    Ok(())
}

pub(crate) fn lsm_get_self_attr(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if ok(ret) || is_err(ret, l::E2BIG) {
        out.add(a[2], 4);
    }
    if ok(ret) && a[1] != 0 && a[2] != 0 {
        let size = read_u32(mem, a[2])? as u64;
        out.add(a[1], size);
    }
    Ok(())
}

pub(crate) fn lsm_list_modules(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) || is_err(ret, l::E2BIG) {
        out.add(a[1], 4);
    }
    out.add(a[0], count(ret).saturating_mul(8));
    Ok(())
}

pub(crate) fn file_getattr(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // file_getattr(dfd, path, ufattr, usize, at_flags): usize bytes
    // (the tail beyond the kernel's struct is zeroed).
    if ok(ret) {
        out.add(a[2], a[3]);
    }
    Ok(())
}

pub(crate) fn rt_sigaction(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // struct kernel_sigaction: handler, flags, restorer, mask (8).
    if ok(ret) {
        out.add(a[2], a[3].saturating_add(24));
    }
    Ok(())
}

pub(crate) fn rt_sigprocmask(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ok(ret) {
        out.add(a[2], a[3]);
    }
    Ok(())
}

pub(crate) fn rt_sigtimedwait(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ret > 0 {
        out.add(a[1], SIGINFO_SIZE);
    }
    Ok(())
}

pub(crate) fn nanosleep(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if interrupted(ret) {
        out.add(a[1], TIMESPEC_SIZE);
    }
    Ok(())
}

pub(crate) fn clock_nanosleep(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    const TIMER_ABSTIME: u64 = 1;
    if interrupted(ret) && a[1] & TIMER_ABSTIME == 0 {
        out.add(a[3], TIMESPEC_SIZE);
    }
    Ok(())
}

pub(crate) fn wait4(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ret > 0 {
        out.add(a[1], 4);
        out.add(a[3], RUSAGE_SIZE);
    }
    Ok(())
}

pub(crate) fn waitid(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // infop is written whenever waitid returns 0 (zeroed with WNOHANG
    // and no child); rusage only when a child was reaped, which a
    // whole-struct over-approximation covers.
    if ret == 0 {
        out.add(a[2], SIGINFO_SIZE);
        out.add(a[4], RUSAGE_SIZE);
    }
    Ok(())
}

pub(crate) fn epoll_wait(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    out.add(a[1], count(ret).saturating_mul(EPOLL_EVENT_SIZE));
    Ok(())
}

pub(crate) fn io_getevents(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    out.add(a[3], count(ret).saturating_mul(IO_EVENT_SIZE));
    Ok(())
}

pub(crate) fn clone(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    // clone(flags, stack, parent_tid, child_tid, tls): the parent's
    // copy of parent_tid holds the new tid (CLONE_PARENT_SETTID) or a
    // pidfd (CLONE_PIDFD). CLONE_CHILD_SETTID writes happen in the child.
    if ret > 0 && a[0] & (CLONE_PARENT_SETTID | CLONE_PIDFD) != 0 {
        out.add(a[2], 4);
    }
    Ok(())
}

pub(crate) fn clone3(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    // struct clone_args { flags; pidfd; child_tid; parent_tid; ... }.
    if ret > 0 && a[0] != 0 {
        let flags = read_u64(mem, a[0])?;
        if flags & CLONE_PIDFD != 0 {
            out.add(read_u64(mem, a[0].wrapping_add(8))?, 4);
        }
        if flags & CLONE_PARENT_SETTID != 0 {
            out.add(read_u64(mem, a[0].wrapping_add(24))?, 4);
        }
    }
    Ok(())
}

pub(crate) fn copy_file_range(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    if ret > 0 {
        out.add(a[1], 8);
        out.add(a[3], 8);
    }
    Ok(())
}

pub(crate) fn poll(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    net::poll(out, a, ret, None);
    Ok(())
}

pub(crate) fn ppoll(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    net::poll(out, a, ret, Some(a[2]));
    Ok(())
}

pub(crate) fn select(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    net::select(out, a, ret);
    Ok(())
}

pub(crate) fn accept(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if ok(ret) {
        net::sockaddr(out, mem, a[1], a[2])?;
    }
    Ok(())
}

pub(crate) fn recvfrom(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if ok(ret) {
        out.add(a[1], count(ret).min(a[2]));
        net::sockaddr(out, mem, a[4], a[5])?;
    }
    Ok(())
}

pub(crate) fn getsockopt(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    net::getsockopt(out, mem, a, ret)?;
    Ok(())
}

pub(crate) fn recvmsg(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    if ok(ret) {
        net::recvmsg(out, mem, a[1], count(ret))?;
    }
    Ok(())
}

pub(crate) fn recvmmsg(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret, mem) = (c.args, c.ret, c.mem);
    net::recvmmsg(out, mem, a, ret)?;
    Ok(())
}

pub(crate) fn sendmmsg(c: &Exit, out: &mut Out) -> Result<(), ModelError> {
    let (a, ret) = (c.args, c.ret);
    net::sendmmsg(out, a, ret);
    Ok(())
}
