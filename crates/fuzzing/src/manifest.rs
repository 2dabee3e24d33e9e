//! The manifest parser (and `TraceReader::open`, which validates it against
//! the stream headers) on arbitrary bytes.
use std::path::PathBuf;
use std::sync::OnceLock;

use trace::{Manifest, TraceOutcome, TraceReader, TraceWriter};

fn template() -> &'static (tempfile::TempDir, PathBuf) {
    static T: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("t");
        TraceWriter::create(&dir, crate::template_header())
            .expect("create")
            .finish(TraceOutcome::Exited { code: 0 })
            .expect("finish");
        (root, dir)
    })
}

pub fn run(input: &[u8]) {
    let dir = &template().1;
    std::fs::write(dir.join("manifest"), input).expect("write manifest");
    let _ = Manifest::load(dir);
    if let Ok(reader) = TraceReader::open(dir) {
        let _ = reader.scan();
        if let Ok(iter) = reader.events() {
            for event in iter.take(16) {
                if event.is_err() {
                    break;
                }
            }
        }
    }
}
