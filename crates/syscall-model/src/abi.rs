//! The kernel's x86_64 structs that syscalls pass by pointer, as plain
//! `#[repr(C)]` types read from a tracee's bytes: fields by name instead
//! of byte offsets. Reading checks the length and needs no alignment.

use bytemuck::{AnyBitPattern, Pod, Zeroable};

/// `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Iovec {
    pub base: u64,
    pub len: u64,
}

/// `struct msghdr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    _pad0: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: u32,
    _pad1: u32,
}

/// The first fields of `struct clone_args` (clone3), which every version of
/// the struct has.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct CloneArgsHead {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
}

/// `stack_t` (sigaltstack).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StackT {
    pub sp: u64,
    pub flags: u32,
    _pad: u32,
    pub size: u64,
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// The `T` at the start of `bytes`, or `None` when they are too few.
pub fn read<T: AnyBitPattern>(bytes: &[u8]) -> Option<T> {
    let head = bytes.get(..size_of::<T>())?;
    Some(bytemuck::pod_read_unaligned(head))
}

/// The whole `T`s `bytes` hold, in order.
pub fn read_all<T: AnyBitPattern>(bytes: &[u8]) -> impl Iterator<Item = T> + '_ {
    bytes
        .chunks_exact(size_of::<T>())
        .map(bytemuck::pod_read_unaligned)
}

/// The bytes of `value`, to write back into a tracee.
pub fn bytes_of<T: Pod>(value: &T) -> &[u8] {
    bytemuck::bytes_of(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_kernel() {
        assert_eq!(size_of::<Iovec>(), size_of::<libc::iovec>());
        assert_eq!(size_of::<MsgHdr>(), size_of::<libc::msghdr>());
        assert_eq!(size_of::<StackT>(), size_of::<libc::stack_t>());
        assert_eq!(size_of::<PollFd>(), size_of::<libc::pollfd>());
        assert_eq!(size_of::<CloneArgsHead>(), 32);
    }

    #[test]
    fn reads_fields_from_unaligned_bytes() {
        let mut bytes = vec![0u8; 1];
        bytes.extend_from_slice(&0x1122_u64.to_le_bytes());
        bytes.extend_from_slice(&7_u64.to_le_bytes());
        let iov: Iovec = read(&bytes[1..]).expect("16 bytes");
        assert_eq!((iov.base, iov.len), (0x1122, 7));
        assert!(read::<Iovec>(&bytes[2..]).is_none());
        assert_eq!(read_all::<Iovec>(&bytes[1..]).count(), 1);
    }
}
