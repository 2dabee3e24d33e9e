//! The strace-style argument decoders on arbitrary syscall records: any
//! number, arguments, result and captured memory (input and output ranges
//! placed at the argument addresses, so pointer arguments find bytes).
//! Also the filter matcher against the same record.
use analyze::decode::{exit_line, signal_line, Decoder};
use analyze::filter::{EventView, ViewKind};
use analyze::{Filter, NoInputs, SyscallRecord};
use trace::{MemWrite, RecordedTid, Regs};

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u64(&mut self) -> u64 {
        let n = self.0.len().min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

pub fn run(input: &[u8]) {
    let mut b = Bytes(input);
    let head = b.u64();
    let nr = head & 0x3ff;
    let mut args = [0u64; 6];
    for a in &mut args {
        // Small values often, so flag and enum tables are hit.
        let v = b.u64();
        *a = if v & 1 == 0 { v >> 56 } else { v };
    }
    let result = match (head >> 16) & 3 {
        0 => None,
        1 => Some(-(((head >> 20) & 0xfff) as i64)),
        _ => Some((b.u64() as i64) >> ((head >> 24) & 63)),
    };
    // Captured memory at up to three argument addresses each way.
    let ranges = |count: u64, b: &mut Bytes<'_>| {
        (0..count)
            .map(|_| {
                let at = args[(b.u64() % 6) as usize];
                let bytes = b.take((b.0.first().copied().unwrap_or(0) as usize) * 4);
                (
                    MemWrite {
                        addr: at,
                        len: bytes.len() as u64,
                    },
                    bytes,
                )
            })
            .collect::<Vec<_>>()
    };
    let inputs = ranges((head >> 32) % 4, &mut b);
    let writes = ranges((head >> 34) % 4, &mut b);
    let rec = SyscallRecord {
        index: 0,
        exit_index: result.map(|_| 1),
        tid: RecordedTid(1),
        pid: RecordedTid(1),
        nr,
        args,
        regs: Regs::default(),
        entry_ns: 0,
        exit_ns: result.map(|_| head >> 40),
        result,
        inputs,
        writes,
        extra: None,
    };
    let dec = Decoder {
        inputs: &NoInputs,
        strsize: ((head >> 36) & 0x7f) as usize,
        fds: None,
    };
    let _ = dec.call(&rec);
    let _ = dec.ret(&rec);
    let _ = exit_line(args[0] as i32);
    let _ = signal_line(args[1] as i32, &b.take(128));
    // Whatever text is left, as a filter, matched against this record.
    if let Ok(spec) = std::str::from_utf8(b.0) {
        if let Ok(f) = Filter::parse(spec) {
            let view = EventView {
                index: 0,
                pid: RecordedTid(1),
                tid: RecordedTid(1),
                kind: ViewKind::Syscall(&rec),
                comm: Some("fuzz"),
                paths: &[],
                addrs: &[],
            };
            let _ = f.matches(&view);
        }
    }
}
