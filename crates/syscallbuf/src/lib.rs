//! The syscall buffer's protocol, shared by the preload library (which
//! fills the buffer while recording and drains it while replaying) and the
//! tracer. `no_std` and allocation-free so that the preload library can use
//! it from inside any syscall of any program.
//!
//! A thread's buffer is one anonymous mapping: a [`Header`], then records
//! packed one after another. Each record is a [`RecordHead`], the bytes the
//! syscall read from memory (`input_len`), the bytes it wrote
//! (`output_len`), padded to 8 bytes.

#![no_std]
#![forbid(unsafe_code)]

pub mod environment;
pub mod plan;
pub mod proc_views;

pub use plan::BUFFERED;

/// The one syscall number the library uses to talk to the tracer. Linux
/// does not define it, so without a tracer it fails with ENOSYS and the
/// library stays out of the way.
pub const CONTROL_SYSCALL: u64 = 0x7270;
/// `control(OP_HELLO, hook_entry, stub_area, stub_area_len, traced_return,
/// shared_words)`: the library is loaded in this process. Answers
/// [`MODE_RECORD`] or [`MODE_REPLAY`]. `shared_words` points at
/// [`SHARED_WORDS`] u64s the tracer writes: the (device, inode) of its
/// stdout and stderr, then [`FD_GENERATION_WORD`].
///
/// The number changes whenever the buffer's layout or this call's
/// arguments do: a library from another build of replay then says hello
/// with a number the recorder does not know, gets ENOSYS, and stays out of
/// the way (every call traced) instead of filling a buffer the recorder
/// would misread.
pub const OP_HELLO: u64 = 4;
/// The hello of libraries from before the buffer's checksum (session 12).
/// Replay and analysis accept it in the traces those recorded.
pub const OP_HELLO_BEFORE_CHECKSUMS: u64 = 1;

/// Whether `op` is a hello of this library or of an earlier one.
pub fn is_hello(op: u64) -> bool {
    op == OP_HELLO || op == OP_HELLO_BEFORE_CHECKSUMS
}
pub const SHARED_WORDS: usize = 5;
/// The library keeps what it learned about an fd before a write (its type,
/// whether it is the recorder's stdout or stderr) tagged with this word's
/// value, and trusts it only while the word is unchanged. Whoever closes or
/// replaces an fd advances it: the library after a buffered close, the
/// tracer after a traced close, dup2, dup3 or close_range, and after a
/// vfork-style child that shared the memory but not the fd table is done.
pub const FD_GENERATION_WORD: usize = 4;
/// Set in that word for good where one memory serves two fd tables at once
/// (CLONE_VM without CLONE_FILES, or the reverse): nothing is kept then.
pub const FD_CACHE_DISABLED: u64 = 1 << 63;
/// Set while a vfork child runs on the parent's memory with its own fd
/// table; cleared (and the generation advanced) when the parent returns.
pub const FD_CACHE_PAUSED: u64 = 1 << 62;
/// Set in that word once the process maps a file `MAP_SHARED`: writes to
/// regular files then take the traced path, where the tracer sees which
/// ones land in a mapped file (replay keeps its own copy of that mapping).
pub const SHARED_FILE_WRITES_TRACED: u64 = 1 << 61;
/// Set in that word once the process installs a seccomp filter of its
/// own: a call the filter traps would raise SIGSYS inside the library,
/// where replay has no syscall to stop at, so every call takes the traced
/// path.
pub const ALL_CALLS_TRACED: u64 = 1 << 60;
/// Set in that word while a thread of the process asked for `rdtsc` to
/// fault (`PR_TSC_SIGSEGV`): the library's reads of the time-stamp counter
/// then run the instruction itself, which faults to the tracer, which
/// gives the program its SIGSEGV (or, for a thread that did not ask, the
/// counter).
pub const TSC_READS_TRACED: u64 = 1 << 59;
/// The numbers the library records a program's `rdtsc` and `rdtscp` under
/// in its buffer, as if they were syscalls (past every real one): the
/// tracer patches the instruction to call the library, which reads the
/// counter without a stop.
pub const RDTSC: u64 = 0x10_0000;
pub const RDTSCP: u64 = RDTSC + 1;

/// Whether `nr` is a buffered read of the time-stamp counter.
pub fn is_tsc_read(nr: u64) -> bool {
    nr == RDTSC || nr == RDTSCP
}

/// Set in that word once the process opens a `/proc` file the recorder
/// rewrites (a recorded task's status or stat, `/proc/cpuinfo`): its reads
/// of procfs files then take the traced path, where the recorder shows
/// what a native run would (see [`proc_views`]).
pub const PROC_READS_TRACED: u64 = 1 << 58;
/// `control(OP_REGISTER, buffer, len)`: the calling thread's buffer.
pub const OP_REGISTER: u64 = 2;
/// `control(OP_DIVERGED, nr, expected_nr, offset, args)`: replay found
/// another syscall than the recording made; `offset` is where the recorded
/// record starts after the header, `args` points to the call's six
/// arguments.
pub const OP_DIVERGED: u64 = 3;
/// `control(OP_DIVERGED, …, DIVERGED_INPUT)`: the same call with the same
/// arguments, but the bytes it reads (a write's data, a path) differ from
/// the record's.
pub const DIVERGED_INPUT: u64 = 1;

pub const MODE_RECORD: i64 = 1;
pub const MODE_REPLAY: i64 = 2;

/// A page the tracer maps at this fixed address after every exec, holding
/// `syscall; ret`. The seccomp filter lets syscalls made from it run
/// without stopping; every other syscall instruction stops for the tracer.
/// The address must be the same in every process image because a seccomp
/// filter cannot be changed after exec.
pub const UNTRACED_PAGE: u64 = 0x7000_0000;
/// What the kernel reports as the instruction pointer of that syscall.
pub const UNTRACED_RETURN: u64 = UNTRACED_PAGE + 2;
pub const UNTRACED_CODE: [u8; 3] = [0x0f, 0x05, 0xc3];

/// A write record whose `output_addr` is one of these (with no output
/// bytes) went to the recorder's stdout or stderr: replay prints its input
/// there. Real output addresses are never this low.
pub const OUTPUT_MARK_STDOUT: u64 = 1;
pub const OUTPUT_MARK_STDERR: u64 = 2;

pub const BUFFER_LEN: usize = 256 * 1024;
pub const HEADER_LEN: usize = core::mem::size_of::<Header>();
pub const RECORD_HEAD_LEN: usize = core::mem::size_of::<RecordHead>();

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Header {
    /// Recording: bytes of complete records. Replay: bytes the tracer put
    /// there for the thread to consume.
    pub used: u32,
    /// Replay: bytes consumed so far.
    pub consumed: u32,
    /// The hook is running on this thread; a syscall made meanwhile (from a
    /// signal handler) takes the traced path.
    pub busy: u32,
    /// Recording: [`fold_checksum`] of the records up to `used`, so that
    /// the tracer finds records the program overwrote before they were
    /// logged.
    pub checksum: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordHead {
    /// This record's length, padding included.
    pub size: u32,
    pub nr: u32,
    pub result: i64,
    pub args: [u64; 6],
    /// Memory the syscall read (a path, written bytes): for display and
    /// for output re-emitted on replay.
    pub input_addr: u64,
    pub input_len: u32,
    /// Memory the syscall wrote, restored on replay.
    pub output_len: u32,
    pub output_addr: u64,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.used.to_le_bytes());
        out[4..8].copy_from_slice(&self.consumed.to_le_bytes());
        out[8..12].copy_from_slice(&self.busy.to_le_bytes());
        out[12..16].copy_from_slice(&self.checksum.to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            used: word(0),
            consumed: word(4),
            busy: word(8),
            checksum: word(12),
        }
    }
}

/// Folds one committed record (its `size` bytes, padding included) into
/// the buffer's running checksum. A word-at-a-time hash in four lanes:
/// cheap next to the syscall and the copy it checks, and any change to a
/// record's bytes changes it with near certainty. It guards against
/// accidents, not a program that recomputes it.
pub fn fold_checksum(previous: u32, record: &[u8]) -> u32 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |bytes: &[u8]| {
        let mut w = [0u8; 8];
        w[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(w)
    };
    let mix = |lane: u64, w: u64| {
        let x = (lane ^ w).wrapping_mul(K);
        x ^ (x >> 32)
    };
    let mut lanes = [
        u64::from(previous) ^ K,
        K.rotate_left(16),
        K.rotate_left(32),
        K.rotate_left(48),
    ];
    let mut blocks = record.chunks_exact(32);
    for block in &mut blocks {
        lanes[0] = mix(lanes[0], word(&block[0..8]));
        lanes[1] = mix(lanes[1], word(&block[8..16]));
        lanes[2] = mix(lanes[2], word(&block[16..24]));
        lanes[3] = mix(lanes[3], word(&block[24..32]));
    }
    for (i, rest) in blocks.remainder().chunks(8).enumerate() {
        lanes[i] = mix(lanes[i], word(rest));
    }
    let h = lanes[0]
        ^ lanes[1].rotate_left(17)
        ^ lanes[2].rotate_left(31)
        ^ lanes[3].rotate_left(47)
        ^ record.len() as u64;
    let h = mix(h, K);
    (h ^ (h >> 29)) as u32
}

/// The padded size of a record with these payloads.
pub const fn record_size(input_len: usize, output_len: usize) -> usize {
    (RECORD_HEAD_LEN + input_len + output_len + 7) & !7
}

/// One record, borrowed from a buffer's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub head: RecordHead,
    pub input: &'a [u8],
    pub output: &'a [u8],
}

/// What is wrong with a run of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    pub offset: usize,
}

/// Walks the records in `bytes`; yields `Err` once at the first record that
/// does not fit, then stops.
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
}

pub fn records(bytes: &[u8]) -> Records<'_> {
    Records { bytes, offset: 0 }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.offset..];
        let bad = Malformed {
            offset: self.offset,
        };
        if rest.len() < RECORD_HEAD_LEN {
            self.offset = self.bytes.len();
            return Some(Err(bad));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let u64_at = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&rest[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let mut args = [0u64; 6];
        for (k, a) in args.iter_mut().enumerate() {
            *a = u64_at(16 + 8 * k);
        }
        let head = RecordHead {
            size: u32_at(0),
            nr: u32_at(4),
            result: u64_at(8) as i64,
            args,
            input_addr: u64_at(64),
            input_len: u32_at(72),
            output_len: u32_at(76),
            output_addr: u64_at(80),
        };
        let size = head.size as usize;
        let needed = record_size(head.input_len as usize, head.output_len as usize);
        if size != needed || size > rest.len() {
            self.offset = self.bytes.len();
            return Some(Err(bad));
        }
        let input_end = RECORD_HEAD_LEN + head.input_len as usize;
        let record = Record {
            head,
            input: &rest[RECORD_HEAD_LEN..input_end],
            output: &rest[input_end..input_end + head.output_len as usize],
        };
        self.offset += size;
        Some(Ok(record))
    }
}

/// Sizes read from the head at the start of `bytes`: (record size, input
/// length, output length).
fn head_sizes(bytes: &[u8]) -> (usize, usize, usize) {
    let u32_at = |i: usize| {
        u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize
    };
    (u32_at(0), u32_at(72), u32_at(76))
}

/// Rearranges well-formed `records` (the buffer's layout) into `columns`,
/// which must be as long: every head, then every input, then every output,
/// then zeros where the records' padding was. Heads, paths and results
/// each resemble their own kind: stored so, the records of `ls -lR`
/// compress to three quarters of the size.
pub fn records_to_columns(records: &[u8], columns: &mut [u8]) -> Result<(), Malformed> {
    if columns.len() != records.len() {
        return Err(Malformed { offset: 0 });
    }
    let mut inputs_len = 0;
    let mut heads_len = 0;
    for record in self::records(records) {
        let record = record?;
        heads_len += RECORD_HEAD_LEN;
        inputs_len += record.input.len();
    }
    let (mut head_at, mut input_at, mut output_at) = (0, heads_len, heads_len + inputs_len);
    let mut offset = 0;
    for record in self::records(records) {
        let record = record?;
        columns[head_at..head_at + RECORD_HEAD_LEN]
            .copy_from_slice(&records[offset..offset + RECORD_HEAD_LEN]);
        columns[input_at..input_at + record.input.len()].copy_from_slice(record.input);
        columns[output_at..output_at + record.output.len()].copy_from_slice(record.output);
        head_at += RECORD_HEAD_LEN;
        input_at += record.input.len();
        output_at += record.output.len();
        offset += record.head.size as usize;
    }
    columns[output_at..].fill(0);
    Ok(())
}

/// The inverse of [`records_to_columns`]: `records` (as long as `columns`)
/// gets the buffer's layout back. Damaged input is an error, never a panic:
/// `offset` is where in `columns` the head that did not fit starts.
pub fn records_from_columns(columns: &[u8], records: &mut [u8]) -> Result<(), Malformed> {
    if columns.len() != records.len() {
        return Err(Malformed { offset: 0 });
    }
    // How many heads: their record sizes add up to the whole length.
    let (mut count, mut rows_len, mut inputs_len, mut outputs_len) = (0usize, 0usize, 0, 0);
    while rows_len < columns.len() {
        let at = count * RECORD_HEAD_LEN;
        let Some(head) = columns.get(at..at + RECORD_HEAD_LEN) else {
            return Err(Malformed { offset: at });
        };
        let (size, input_len, output_len) = head_sizes(head);
        if size != record_size(input_len, output_len) || size > columns.len() - rows_len {
            return Err(Malformed { offset: at });
        }
        rows_len += size;
        inputs_len += input_len;
        outputs_len += output_len;
        count += 1;
    }
    let heads_len = count * RECORD_HEAD_LEN;
    if heads_len + inputs_len + outputs_len > columns.len() {
        return Err(Malformed { offset: heads_len });
    }
    let (mut input_at, mut output_at) = (heads_len, heads_len + inputs_len);
    let mut offset = 0;
    for k in 0..count {
        let head = &columns[k * RECORD_HEAD_LEN..(k + 1) * RECORD_HEAD_LEN];
        let (size, input_len, output_len) = head_sizes(head);
        let record = &mut records[offset..offset + size];
        record[..RECORD_HEAD_LEN].copy_from_slice(head);
        let (input, rest) = record[RECORD_HEAD_LEN..].split_at_mut(input_len);
        input.copy_from_slice(&columns[input_at..input_at + input_len]);
        let (output, padding) = rest.split_at_mut(output_len);
        output.copy_from_slice(&columns[output_at..output_at + output_len]);
        padding.fill(0);
        input_at += input_len;
        output_at += output_len;
        offset += size;
    }
    Ok(())
}

/// True if the library may buffer syscall `nr` (for some arguments).
pub fn is_buffered(nr: u64) -> bool {
    BUFFERED.iter().any(|&(n, _)| n == nr)
}

/// The arguments of a buffered call that the kernel reads: the registers
/// past its count hold whatever the caller left there, which a recording
/// and its replay need not agree on, so they are stored and compared as 0.
pub fn significant_args(nr: u64, mut args: [u64; 6]) -> [u64; 6] {
    let count = BUFFERED
        .iter()
        .find(|&&(n, _)| n == nr)
        .map_or(6, |&(_, count)| count);
    for arg in args.iter_mut().skip(count) {
        *arg = 0;
    }
    args
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn the_checksum_changes_with_any_byte_and_chains() {
        let record: Vec<u8> = (0..200u32).map(|i| (i * 7) as u8).collect();
        let base = fold_checksum(0, &record);
        assert_eq!(base, fold_checksum(0, &record), "deterministic");
        for at in [0, 1, 31, 32, 100, 199] {
            let mut changed = record.clone();
            changed[at] ^= 1;
            assert_ne!(fold_checksum(0, &changed), base, "byte {at}");
        }
        assert_ne!(fold_checksum(0, &record[..192]), base, "length counts");
        assert_ne!(fold_checksum(1, &record), base, "the previous sum counts");
        let chained = fold_checksum(fold_checksum(0, &record[..96]), &record[96..]);
        assert_ne!(chained, base, "records fold one by one");
    }

    fn push(buf: &mut Vec<u8>, nr: u32, input: &[u8], output: &[u8]) {
        let size = record_size(input.len(), output.len());
        let start = buf.len();
        buf.resize(start + size, 0);
        let r = &mut buf[start..];
        r[0..4].copy_from_slice(&(size as u32).to_le_bytes());
        r[4..8].copy_from_slice(&nr.to_le_bytes());
        r[8..16].copy_from_slice(&(-2i64).to_le_bytes());
        r[72..76].copy_from_slice(&(input.len() as u32).to_le_bytes());
        r[76..80].copy_from_slice(&(output.len() as u32).to_le_bytes());
        r[RECORD_HEAD_LEN..RECORD_HEAD_LEN + input.len()].copy_from_slice(input);
        let o = RECORD_HEAD_LEN + input.len();
        r[o..o + output.len()].copy_from_slice(output);
    }

    #[test]
    fn records_round_trip_and_truncation_is_reported() {
        assert_eq!(RECORD_HEAD_LEN, 88);
        let mut buf = Vec::new();
        push(&mut buf, 1, b"hello", b"");
        push(&mut buf, 0, b"", b"abc");
        let all: Vec<_> = records(&buf).collect();
        assert_eq!(all.len(), 2);
        let first = all[0].unwrap();
        assert_eq!((first.head.nr, first.head.result), (1, -2));
        assert_eq!(first.input, b"hello");
        assert_eq!(all[1].unwrap().output, b"abc");
        let cut = &buf[..buf.len() - 3];
        let last = records(cut).last().unwrap();
        assert!(last.is_err());
    }

    #[test]
    fn records_survive_the_column_layout_and_damage_is_an_error() {
        let mut buf = Vec::new();
        push(&mut buf, 332, b"/usr/include/stdio.h", &[7u8; 256]);
        push(&mut buf, 191, b"/usr/include/stdio.h", b"");
        push(&mut buf, 0, b"", b"abcde");
        push(&mut buf, 3, b"", b"");
        let mut columns = std::vec![0xffu8; buf.len()];
        records_to_columns(&buf, &mut columns).unwrap();
        // Heads first, then the inputs back to back.
        assert_eq!(&columns[..RECORD_HEAD_LEN], &buf[..RECORD_HEAD_LEN]);
        let inputs = 4 * RECORD_HEAD_LEN;
        assert_eq!(
            &columns[inputs..inputs + 40],
            b"/usr/include/stdio.h/usr/include/stdio.h"
        );
        let mut back = std::vec![0xffu8; buf.len()];
        records_from_columns(&columns, &mut back).unwrap();
        assert_eq!(back, buf);
        assert!(records_from_columns(&[], &mut []).is_ok());

        // A head whose sizes do not add up, or that claims more than there
        // is, is reported where it starts.
        let mut bad = columns.clone();
        bad[RECORD_HEAD_LEN + 72] = 200;
        let err = records_from_columns(&bad, &mut back).unwrap_err();
        assert_eq!(err.offset, RECORD_HEAD_LEN);
        assert!(records_from_columns(&columns[..100], &mut back[..100]).is_err());
        assert!(records_to_columns(&buf[..buf.len() - 8], &mut columns[..buf.len() - 8]).is_err());
        assert!(records_to_columns(&buf, &mut columns[..8]).is_err());
    }
}
