//! Shared helpers: deterministic event generation and hand-made streams.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::Path;

use replay_trace::*;
use sha2::{Digest, Sha256};

pub fn header() -> TraceHeader {
    TraceHeader {
        command: vec!["/bin/true".into(), "--flag".into()],
        env: vec![("PATH".into(), "/usr/bin".into())],
        cwd: "/tmp".into(),
        start_unix_ns: 1_700_000_000_000_000_000,
        machine: MachineInfo::default(),
        tick_semantics: "anchors".into(),
        pmu: None,
        cpu: None,
        cpuid_faulting: false,
        hidden_cpu_features: Vec::new(),
    }
}

/// Deterministic, mildly compressible bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            if i % 4 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
            }
            (x >> ((i % 4) * 8)) as u8 & 0x7f
        })
        .collect()
}

fn regs(i: u64) -> Regs {
    Regs {
        rip: 0x40_0000 + i,
        rsp: 0x7ffc_0000_0000 - i * 8,
        rax: i,
        orig_rax: i % 300,
        ..Regs::default()
    }
}

fn file_ref(name: &str) -> FileRef {
    FileRef {
        path: name.into(),
        sha256: "ab".repeat(32),
        size: 1234,
    }
}

fn exec_event(i: u64, mapping_len: u64) -> EventKind {
    EventKind::SyscallExit {
        nr: 59,
        result: 0,
        writes: vec![],
        extra: Some(SyscallExtra::Exec(Box::new(ExecInfo {
            exe: file_ref("/bin/prog"),
            argv: vec!["prog".into(), "arg".into()],
            env_count: 3,
            regs: regs(i),
            stack: MemWrite {
                addr: 0x7ffc_0000_0000,
                len: 9000,
            },
            mappings: vec![
                Mapping {
                    start: 0x40_0000,
                    end: 0x40_1000,
                    prot: 5,
                    shared: false,
                    offset: 0,
                    name: "/bin/prog".into(),
                    file: Some(file_ref("/bin/prog")),
                    contents: None,
                },
                Mapping {
                    start: 0x60_0000,
                    end: 0x60_0000 + mapping_len,
                    prot: 3,
                    shared: false,
                    offset: 0x1000,
                    name: "/bin/prog".into(),
                    file: Some(file_ref("/bin/prog")),
                    contents: Some(MemWrite {
                        addr: 0x60_0000,
                        len: mapping_len,
                    }),
                },
                Mapping {
                    start: 0x7fff_0000,
                    end: 0x7fff_2000,
                    prot: 3,
                    shared: false,
                    offset: 0,
                    name: "[stack]".into(),
                    file: None,
                    contents: Some(MemWrite {
                        addr: 0x7fff_0000,
                        len: 0x2000,
                    }),
                },
            ],
            auxv: vec![(6, 4096), (25, 0x7fff_1000)],
        }))),
    }
}

/// `n` events of every kind; with `big`, a 5 MiB write and a 6 MiB mapping
/// image so that payloads span several data chunks.
pub fn gen_events(n: u64, big: bool) -> Vec<(Event, Vec<Vec<u8>>)> {
    if big {
        gen_events_sized(n, (5 << 20) + 1, 6 << 20)
    } else {
        gen_events_sized(n, 0, 20_000)
    }
}

/// `n` events of every kind, event 100 an exec whose writable mapping image
/// is `mapping_len` bytes, event 200 a read of `big_write` bytes (if not 0).
pub fn gen_events_sized(n: u64, big_write: u64, mapping_len: u64) -> Vec<(Event, Vec<Vec<u8>>)> {
    (0..n)
        .map(|i| {
            let kind = if i == 100 {
                exec_event(i, mapping_len)
            } else if i == 200 && big_write > 0 {
                EventKind::SyscallExit {
                    nr: 0,
                    result: big_write as i64,
                    writes: vec![MemWrite {
                        addr: 0x1000_0000,
                        len: big_write,
                    }],
                    extra: None,
                }
            } else {
                match i % 7 {
                    0 => EventKind::SyscallEntry {
                        regs: regs(i),
                        inputs: Vec::new(),
                    },
                    1 => EventKind::SyscallExit {
                        nr: i % 300,
                        result: -(i as i64 % 40),
                        writes: vec![MemWrite {
                            addr: 0x2000_0000 + i,
                            len: (i * 37) % 3000,
                        }],
                        extra: if i % 3 == 0 {
                            Some(SyscallExtra::Output {
                                stream: OutputStream::Stdout,
                            })
                        } else {
                            None
                        },
                    },
                    2 => EventKind::Rdtsc { regs: regs(i) },
                    3 => EventKind::Signal {
                        signo: 14,
                        origin: SignalOrigin::Asynchronous,
                        siginfo: pattern(i, 128),
                        regs: regs(i),
                    },
                    4 => EventKind::TaskStart {
                        parent: RecordedTid(100),
                        thread: i % 2 == 0,
                    },
                    5 => EventKind::SyscallExit {
                        nr: 0,
                        result: 7,
                        writes: vec![
                            MemWrite {
                                addr: 0x3000_0000,
                                len: 0,
                            },
                            MemWrite {
                                addr: 0x3000_1000,
                                len: if i % 350 == 5 { 70_000 } else { 64 },
                            },
                        ],
                        extra: Some(SyscallExtra::NewTask {
                            child: RecordedTid(i as i32),
                            thread: false,
                        }),
                    },
                    _ => EventKind::TaskExit { status: 0 },
                }
            };
            let event = Event {
                index: i,
                tid: RecordedTid(100 + (i % 3) as i32),
                pid: RecordedTid(100),
                time_ns: i * 1000,
                kind,
            };
            let payloads = event
                .data_ranges()
                .iter()
                .enumerate()
                .map(|(k, r)| pattern(i * 31 + k as u64, r.len as usize))
                .collect();
            (event, payloads)
        })
        .collect()
}

pub fn write_trace(dir: &Path, events: &[(Event, Vec<Vec<u8>>)]) -> TraceSummary {
    let mut w = TraceWriter::create(dir, header()).unwrap();
    for (e, p) in events {
        w.push_event(e.clone(), p.clone()).unwrap();
    }
    w.finish(TraceOutcome::Exited { code: 3 }).unwrap()
}

pub fn read_all(dir: &Path) -> (Vec<RecordedEvent>, Option<Truncation>) {
    let r = TraceReader::open(dir).unwrap();
    let mut it = r.events().unwrap();
    let evs: Vec<_> = (&mut it).map(|e| e.unwrap()).collect();
    (evs, it.truncation().cloned())
}

/// The first error the iterator yields, if any.
pub fn first_error(dir: &Path) -> Option<TraceError> {
    let r = match TraceReader::open(dir) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    let it = match r.events() {
        Ok(it) => it,
        Err(e) => return Some(e),
    };
    it.filter_map(|e| e.err()).next()
}

/// Marks a trace incomplete, as if the recorder had died.
pub fn mark_incomplete(dir: &Path) {
    let p = dir.join("manifest");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    m["complete"] = false.into();
    m["totals"] = serde_json::Value::Null;
    m["outcome"] = serde_json::Value::Null;
    fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

pub fn copy_trace(from: &Path, to: &Path) {
    fs::create_dir(to).unwrap();
    for name in ["manifest", "events", "data"] {
        fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

pub fn stream_header(kind: u16) -> Vec<u8> {
    let mut h = b"RPLYSTRM".to_vec();
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&kind.to_le_bytes());
    h.extend_from_slice(&[0; 4]);
    h
}

/// One chunk exactly as the format specifies, with lengths overridable to
/// lie.
pub fn chunk_bytes(
    seq: u32,
    item_count: u32,
    first_item: u64,
    payload: &[u8],
    lie: Option<(u32, u32)>,
) -> Vec<u8> {
    let body = zstd::bulk::compress(payload, 1).unwrap();
    let (clen, ulen) = lie.unwrap_or((body.len() as u32, payload.len() as u32));
    let mut c = b"RCHK".to_vec();
    c.extend_from_slice(&seq.to_le_bytes());
    c.extend_from_slice(&clen.to_le_bytes());
    c.extend_from_slice(&ulen.to_le_bytes());
    c.extend_from_slice(&item_count.to_le_bytes());
    c.extend_from_slice(&first_item.to_le_bytes());
    c.extend_from_slice(&Sha256::digest(&body));
    c.extend_from_slice(&body);
    c
}

/// Events chunk payload for the given frames.
pub fn frames(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        let b = postcard::to_stdvec(e).unwrap();
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

/// A trace directory made by hand: manifest plus the given stream bytes
/// (stream headers included by the caller).
pub fn handmade_trace(dir: &Path, complete: bool, events: &[u8], data: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    let mut m = Manifest::new(header());
    m.complete = complete;
    fs::write(dir.join("manifest"), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    fs::File::create(dir.join("events"))
        .unwrap()
        .write_all(events)
        .unwrap();
    fs::File::create(dir.join("data"))
        .unwrap()
        .write_all(data)
        .unwrap();
}

pub fn simple_event(index: u64, write_len: u64) -> Event {
    Event {
        index,
        tid: RecordedTid(1),
        pid: RecordedTid(1),
        time_ns: index,
        kind: EventKind::SyscallExit {
            nr: 0,
            result: 0,
            writes: vec![MemWrite {
                addr: 0x1000,
                len: write_len,
            }],
            extra: None,
        },
    }
}
