//! Calls whose output may overwrite the structures that say where it goes:
//! a `readv` whose data lands on its own iovec array, a `recvmsg` whose
//! msghdr lies inside its buffer. The kernel copied those structures at
//! the entry; read again at the exit they name garbage. The recorder keeps
//! the bytes the model reads at the entry, and at the exit takes where the
//! call wrote both from those bytes and from memory as it is then (which
//! has what the kernel wrote back into the structures, a `recvmmsg`'s
//! `msg_len`): the model's ranges may be larger than what the kernel
//! wrote, never smaller.

use std::cell::RefCell;
use syscall_model::{MemRange, MemoryError, MemoryReader, ModelError};

/// A result that lets the model walk every structure: each hook stops at
/// its arguments' own count first.
const ANY_LENGTH: i64 = i32::MAX as i64;

/// The bytes the model read, at the entry, to find where a call writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryLayout(Vec<(u64, Vec<u8>)>);

impl EntryLayout {
    /// Reads the structures of call `nr` as they are before it runs.
    pub(crate) fn read(nr: u64, args: &[u64; 6], memory: &dyn MemoryReader) -> EntryLayout {
        let taking = Taking {
            memory,
            taken: RefCell::new(Vec::new()),
        };
        // What cannot be read now is read at the exit as it is then.
        let _ = syscall_model::outputs(nr, args, ANY_LENGTH, &taking);
        EntryLayout(taking.taken.into_inner())
    }

    /// Where the call wrote: from the structures as they were at the
    /// entry, and, where they still make sense, as they are now.
    /// `readable` says whether a range of the second kind can be read (the
    /// kernel could not have written one that cannot).
    pub(crate) fn outputs(
        &self,
        nr: u64,
        args: &[u64; 6],
        result: i64,
        memory: &dyn MemoryReader,
        readable: impl Fn(&MemRange) -> bool,
    ) -> Result<Vec<MemRange>, ModelError> {
        let as_at_entry = AsAtEntry {
            layout: self,
            memory,
        };
        let mut ranges = syscall_model::outputs(nr, args, result, &as_at_entry)?;
        if let Ok(now) = syscall_model::outputs(nr, args, result, memory) {
            for range in now {
                if !ranges.contains(&range) && readable(&range) {
                    ranges.push(range);
                }
            }
        }
        Ok(ranges)
    }
}

/// Reads memory and keeps what it read.
struct Taking<'a> {
    memory: &'a dyn MemoryReader,
    taken: RefCell<Vec<(u64, Vec<u8>)>>,
}

impl MemoryReader for Taking<'_> {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        let bytes = self.memory.read_bytes(addr, len)?;
        self.taken.borrow_mut().push((addr, bytes.clone()));
        Ok(bytes)
    }
}

/// Memory as the entry's reads saw it, else as it is now.
struct AsAtEntry<'a> {
    layout: &'a EntryLayout,
    memory: &'a dyn MemoryReader,
}

impl MemoryReader for AsAtEntry<'_> {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        let kept = self
            .layout
            .0
            .iter()
            .find(|(at, bytes)| *at == addr && bytes.len() == len);
        match kept {
            Some((_, bytes)) => Ok(bytes.clone()),
            None => self.memory.read_bytes(addr, len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Memory made of a few byte runs.
    struct Fake(RefCell<HashMap<u64, Vec<u8>>>);

    impl MemoryReader for Fake {
        fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
            let memory = self.0.borrow();
            let (start, bytes) = memory
                .iter()
                .find(|(start, bytes)| {
                    **start <= addr && addr + len as u64 <= **start + bytes.len() as u64
                })
                .ok_or(MemoryError {
                    addr,
                    len,
                    detail: "unmapped".into(),
                })?;
            let from = (addr - start) as usize;
            Ok(bytes[from..from + len].to_vec())
        }
    }

    fn iovec(base: u64, len: u64) -> Vec<u8> {
        [base.to_le_bytes(), len.to_le_bytes()].concat()
    }

    /// A readv whose first buffer is its own iovec array: the data then
    /// overwrites the array, and only the entry's copy names the second
    /// buffer.
    #[test]
    fn a_readv_over_its_own_iovecs_writes_where_the_entry_said() {
        const ARRAY: u64 = 0x1000;
        const SECOND: u64 = 0x2000;
        let array = [iovec(ARRAY, 32), iovec(SECOND, 16)].concat();
        let memory = Fake(RefCell::new(HashMap::from([
            (ARRAY, array),
            (SECOND, vec![0; 16]),
        ])));
        let args = [3, ARRAY, 2, 0, 0, 0];
        let layout = EntryLayout::read(libc::SYS_readv as u64, &args, &memory);
        // The file's bytes replace the array.
        memory.0.borrow_mut().insert(ARRAY, vec![0xab; 32]);
        let ranges = layout
            .outputs(libc::SYS_readv as u64, &args, 48, &memory, |_| false)
            .unwrap();
        assert!(
            ranges.contains(&MemRange {
                addr: ARRAY,
                len: 32
            }),
            "{ranges:?}"
        );
        assert!(
            ranges.contains(&MemRange {
                addr: SECOND,
                len: 16
            }),
            "{ranges:?}"
        );
    }
}
