//! Modes are set explicitly, whatever the umask. Alone in its own test
//! binary because the umask is process-wide.
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use replay_trace::*;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn trace_files_are_private_even_with_permissive_umask() {
    // SAFETY: umask only swaps an integer in the process; no memory involved.
    let old = unsafe { libc::umask(0) };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("prog-0");
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    let src = tmp.path().join("lib.so");
    fs::write(&src, b"library").unwrap();
    let lib = w.store_file(&src, false).unwrap();
    let exe = w.store_bytes("/bin/prog", b"\x7fELF...", true).unwrap();
    for (e, p) in gen_events(20, false) {
        w.push_event(e, p).unwrap();
    }
    w.finish(TraceOutcome::Exited { code: 0 }).unwrap();
    // SAFETY: as above.
    unsafe { libc::umask(old) };

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("files")), 0o700);
    for f in ["manifest", "events", "data"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&dir.join("files").join(&lib.sha256)), 0o600);
    assert_eq!(mode(&dir.join("files").join(&exe.sha256)), 0o700);
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        ["data", "events", "files", "manifest", "verified-files"]
    );
    assert_eq!(mode(&dir.join("verified-files")), 0o600);

    // A directory made by create() itself.
    let d2 = tmp.path().join("direct");
    // SAFETY: as above.
    let old = unsafe { libc::umask(0) };
    drop(TraceWriter::create(&d2, header()).unwrap());
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    assert_eq!(mode(&d2), 0o700);
    assert_eq!(mode(&d2.join("manifest")), 0o600);
}
