//! Where the bytes a syscall *read from* tracee memory come from.
//!
//! Traces record input memory (paths, sent buffers up to 4 KiB, sockaddrs)
//! in `SyscallEntry::inputs`, which the record carries. Older traces do not,
//! and buffers can be cut short, so the decoder also asks an optional
//! [`InputSource`] and prints the raw pointer when neither has the bytes,
//! exactly as strace does when it cannot read tracee memory.

/// A source of syscall input memory, keyed by the syscall's entry event.
pub trait InputSource {
    /// Bytes at `addr` as the syscall at `event_index` saw them, or `None`
    /// when unknown. `len` is a maximum: for strings the answer may be
    /// shorter (up to and without the NUL).
    fn input(&self, event_index: u64, addr: u64, len: usize) -> Option<&[u8]>;
}

/// The source used until traces capture input memory: knows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoInputs;

impl InputSource for NoInputs {
    fn input(&self, _event_index: u64, _addr: u64, _len: usize) -> Option<&[u8]> {
        None
    }
}

/// Input bytes for `rec` at `addr`: the record's own capture first, then
/// the extra source.
pub fn lookup<'a>(
    source: &'a dyn InputSource,
    rec: &'a crate::SyscallRecord,
    addr: u64,
    len: usize,
) -> Option<&'a [u8]> {
    if addr == 0 {
        return None;
    }
    rec.input_at(addr, len)
        .or_else(|| source.input(rec.index, addr, len))
}
