//! The trace reader on arbitrary `events` and `data` streams: chunk framing,
//! decompression, event decoding and payload lookup must fail with an error,
//! never panic, hang or allocate without bound.
//!
//! Input: one selector byte (bit 0: the manifest says the recording was
//! complete or cut off), a little-endian u32 length of the `events` file,
//! then the `events` bytes, then the `data` bytes.
use std::path::PathBuf;
use std::sync::OnceLock;

use trace::{TraceOutcome, TraceReader, TraceWriter};

/// Two template traces with valid manifests, made once per process.
fn templates() -> &'static (tempfile::TempDir, [PathBuf; 2]) {
    static T: OnceLock<(tempfile::TempDir, [PathBuf; 2])> = OnceLock::new();
    T.get_or_init(|| {
        let root = tempfile::tempdir().expect("temp dir");
        let header = crate::template_header;
        let partial = root.path().join("partial");
        // Dropping an unfinished writer leaves an incomplete manifest.
        drop(TraceWriter::create(&partial, header()).expect("create"));
        let complete = root.path().join("complete");
        TraceWriter::create(&complete, header())
            .expect("create")
            .finish(TraceOutcome::Exited { code: 0 })
            .expect("finish");
        (root, [partial, complete])
    })
}

pub fn run(input: &[u8]) {
    let Some((&sel, rest)) = input.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let split = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (events, data) = rest.split_at(split);
    let dir = &templates().1[usize::from(sel & 1)];
    std::fs::write(dir.join("events"), events).expect("write events");
    std::fs::write(dir.join("data"), data).expect("write data");
    let Ok(reader) = TraceReader::open(dir) else {
        return;
    };
    if let Ok(iter) = reader.events() {
        // Bounded: a valid chunk holds a bounded number of events.
        for event in iter.take(1 << 16) {
            if event.is_err() {
                break;
            }
        }
    }
    let _ = reader.scan();
    // The analysis views consume whatever the reader accepts.
    let opts = analyze::dump::DumpOptions::default();
    let _ = analyze::dump::dump(
        &reader,
        &analyze::NoInputs,
        &opts,
        &mut std::io::sink(),
        None,
    );
}
