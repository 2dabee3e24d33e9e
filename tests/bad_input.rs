//! Bad input gets one clear error line and a non-zero status, never a panic.

mod common;

use common::{program, TraceRoot};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_clean_failure(out: &Output, expect: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success: {err}"
    );
    assert!(!err.contains("panicked"), "replay panicked: {err}");
    assert!(
        err.starts_with("replay: "),
        "error is not a clear replay message: {err}"
    );
    assert!(
        err.contains(expect),
        "error does not mention {expect:?}: {err}"
    );
}

fn recorded_trace(root: &TraceRoot) -> std::path::PathBuf {
    let exe = program("random");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    root.trace("t")
}

#[test]
fn nonexistent_program() {
    let root = TraceRoot::new();
    let out = root
        .cmd()
        .args(["record", "--", "/nonexistent/program"])
        .output()
        .expect("run");
    assert_clean_failure(&out, "/nonexistent/program");
    let out = root
        .cmd()
        .args(["record", "--", "no-such-command-xyz"])
        .output()
        .expect("run");
    assert_clean_failure(&out, "not found");
}

#[test]
fn missing_trace() {
    let root = TraceRoot::new();
    let out = root.cmd().args(["replay"]).output().expect("run");
    assert_clean_failure(&out, "no recordings");
    let out = root
        .cmd()
        .args(["replay", "/nonexistent/trace"])
        .output()
        .expect("run");
    assert_clean_failure(&out, "/nonexistent/trace");
    let out = root.cmd().args(["info", "nope"]).output().expect("run");
    assert_clean_failure(&out, "nope");
}

#[test]
fn flipped_byte_in_each_stream_is_reported_with_stream_and_chunk() {
    for stream in ["events", "data"] {
        let root = TraceRoot::new();
        let dir = recorded_trace(&root);
        let path = dir.join(stream);
        let mut bytes = std::fs::read(&path).expect("read stream");
        let at = bytes.len() - 5;
        bytes[at] ^= 0x40;
        std::fs::write(&path, &bytes).expect("write stream");
        let out = root.replay("t");
        assert_clean_failure(&out, stream);
        assert!(stderr(&out).contains("chunk"), "{}", stderr(&out));
    }
}

#[test]
fn truncated_trace_is_an_error_when_the_manifest_says_complete() {
    let root = TraceRoot::new();
    let dir = recorded_trace(&root);
    let path = dir.join("events");
    let len = std::fs::metadata(&path).expect("stat").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(len / 2).expect("truncate");
    let out = root.replay("t");
    assert_clean_failure(&out, "events");
}

#[test]
fn missing_or_garbage_manifest() {
    let root = TraceRoot::new();
    let dir = recorded_trace(&root);
    std::fs::write(dir.join("manifest"), b"{ not json").expect("write");
    let out = root.replay("t");
    assert_clean_failure(&out, "manifest");
    std::fs::remove_file(dir.join("manifest")).expect("remove");
    let out = root.replay("t");
    assert_clean_failure(&out, "manifest");
}

#[test]
fn missing_file_blob() {
    let root = TraceRoot::new();
    let dir = recorded_trace(&root);
    for entry in std::fs::read_dir(dir.join("files")).expect("files dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove blob");
    }
    let out = root.replay("t");
    assert_clean_failure(&out, "files");
}

#[test]
fn trace_is_private_and_latest_trace_points_at_it() {
    let root = TraceRoot::new();
    let exe = program("random");
    let out = root
        .cmd()
        .args(["record", "--", exe.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let latest = root.path().join("latest-trace");
    let dir = std::fs::canonicalize(&latest).expect("latest-trace resolves");
    assert_eq!(dir.file_name().and_then(|n| n.to_str()), Some("random-0"));
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in ["manifest", "events", "data"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    for entry in std::fs::read_dir(dir.join("files")).expect("files dir") {
        let m = mode(&entry.expect("entry").path());
        assert!(m == 0o600 || m == 0o700, "blob mode {m:o}");
    }
    // `replay replay` with no argument replays the newest recording.
    let replayed = root.cmd().arg("replay").output().expect("run");
    assert_eq!(replayed.stdout, out.stdout);
    // A second recording of the same program gets the next number.
    let out2 = root
        .cmd()
        .args(["record", "--", exe.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert!(out2.status.success());
    assert!(root.path().join("random-1").is_dir());
}

#[test]
fn info_describes_a_trace() {
    let root = TraceRoot::new();
    recorded_trace(&root);
    let out = root
        .cmd()
        .args(["info"])
        .arg(root.trace("t"))
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for field in [
        "command:",
        "outcome:      exited with status 0",
        "complete:     yes",
        "events:",
        "processes:    1",
        "ticks:        anchors",
    ] {
        assert!(text.contains(field), "info lacks {field:?}:\n{text}");
    }
}
