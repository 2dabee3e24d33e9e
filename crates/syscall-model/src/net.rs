//! poll/select and socket syscalls.

use crate::abi::{self, MsgHdr};
use crate::outputs::{count, distribute, interrupted, is_err, ok, read_u32, Out, TIMESPEC_SIZE};
use crate::{MemoryReader, ModelError};

/// `sizeof(struct sockaddr_storage)`: the kernel never writes a longer address.
const SOCKADDR_MAX: u64 = 128;
/// `sizeof(struct msghdr)` on x86_64.
const MSGHDR_SIZE: u64 = size_of::<MsgHdr>() as u64;
/// `sizeof(struct mmsghdr)` on x86_64 (msghdr, msg_len, padding).
const MMSGHDR_SIZE: u64 = 64;
/// `UIO_MAXIOV`: the kernel caps recvmmsg/sendmmsg's vlen at this.
const VLEN_MAX: u64 = 1024;

/// poll/ppoll: every `struct pollfd` (revents) is written back whenever
/// polling ran, also when a signal interrupted it; ppoll also writes the
/// remaining time to its timeout.
pub(crate) fn poll(out: &mut Out, a: &[u64; 6], ret: i64, timeout: Option<u64>) {
    if ok(ret) || interrupted(ret) {
        let nfds = a[1] as u32 as u64;
        out.add(a[0], nfds * 8);
        if let Some(ts) = timeout {
            out.add(ts, TIMESPEC_SIZE);
        }
    }
}

/// select/pselect6: the three fd sets on success; the remaining time
/// (struct timeval for select, struct timespec for pselect6, both 16 bytes)
/// also when interrupted.
pub(crate) fn select(out: &mut Out, a: &[u64; 6], ret: i64) {
    let nfds = a[0] as i32;
    if nfds < 0 {
        return;
    }
    if ok(ret) {
        let bytes = (nfds as u64).div_ceil(64) * 8;
        out.add(a[1], bytes);
        out.add(a[2], bytes);
        out.add(a[3], bytes);
    }
    if ok(ret) || interrupted(ret) {
        out.add(a[4], TIMESPEC_SIZE);
    }
}

/// A socket address returned through (`addr`, `*addrlen`): the kernel
/// stores the full address length in `*addrlen` and copies at most the
/// caller's buffer size (unknown at exit; bounded by sockaddr_storage).
pub(crate) fn sockaddr(
    out: &mut Out,
    mem: &dyn MemoryReader,
    addr: u64,
    addrlen: u64,
) -> Result<(), ModelError> {
    if addr == 0 || addrlen == 0 {
        return Ok(());
    }
    let len = read_u32(mem, addrlen)? as u64;
    out.add(addrlen, 4);
    out.add(addr, len.min(SOCKADDR_MAX));
    Ok(())
}

/// getsockopt(fd, level, name, optval, optlen): `*optlen` holds the length
/// written. SO_PEERSEC / SO_PEERGROUPS store the needed length on ERANGE.
pub(crate) fn getsockopt(
    out: &mut Out,
    mem: &dyn MemoryReader,
    a: &[u64; 6],
    ret: i64,
) -> Result<(), ModelError> {
    if a[4] == 0 {
        return Ok(());
    }
    if ok(ret) {
        let len = read_u32(mem, a[4])? as u64;
        out.add(a[4], 4);
        out.add(a[3], len);
    } else if is_err(ret, libc::ERANGE) {
        out.add(a[4], 4);
    }
    Ok(())
}

/// recvmsg's effect on one `struct msghdr` at `msg` that received `data`
/// bytes: msg_namelen / msg_controllen / msg_flags (the whole header), the
/// name, the control data, and the data spread over the iovecs.
pub(crate) fn recvmsg(
    out: &mut Out,
    mem: &dyn MemoryReader,
    msg: u64,
    data: u64,
) -> Result<(), ModelError> {
    if msg == 0 {
        return Ok(());
    }
    let hdr = mem.read_bytes(msg, MSGHDR_SIZE as usize)?;
    if hdr.len() < MSGHDR_SIZE as usize {
        return Err(ModelError::Memory(crate::MemoryError {
            addr: msg,
            len: MSGHDR_SIZE as usize,
            detail: format!("short read ({} bytes)", hdr.len()),
        }));
    }
    let hdr: MsgHdr = abi::read(&hdr).unwrap_or_default();
    out.add(msg, MSGHDR_SIZE);
    out.add(hdr.name, u64::from(hdr.namelen).min(SOCKADDR_MAX));
    out.add(hdr.control, hdr.controllen);
    distribute(out, mem, hdr.iov, hdr.iovlen, data)
}

/// recvmmsg(fd, msgvec, vlen, flags, timeout): for each of the `ret`
/// messages, msg_len and the recvmsg effects; the remaining timeout when at
/// least one message arrived.
pub(crate) fn recvmmsg(
    out: &mut Out,
    mem: &dyn MemoryReader,
    a: &[u64; 6],
    ret: i64,
) -> Result<(), ModelError> {
    let n = count(ret).min(a[2]).min(VLEN_MAX);
    for i in 0..n {
        let m = a[1].wrapping_add(i * MMSGHDR_SIZE);
        let len = read_u32(mem, m + MSGHDR_SIZE)? as u64;
        out.add(m + MSGHDR_SIZE, 4);
        recvmsg(out, mem, m, len)?;
    }
    if n > 0 {
        out.add(a[4], TIMESPEC_SIZE);
    }
    Ok(())
}

/// sendmmsg(fd, msgvec, vlen, flags): msg_len of each message sent.
pub(crate) fn sendmmsg(out: &mut Out, a: &[u64; 6], ret: i64) {
    let n = count(ret).min(a[2]).min(VLEN_MAX);
    for i in 0..n {
        out.add(a[1].wrapping_add(i * MMSGHDR_SIZE + MSGHDR_SIZE), 4);
    }
}
