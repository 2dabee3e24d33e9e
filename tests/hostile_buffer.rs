//! A program that scribbles over the syscall buffer the recorder keeps in
//! its memory (tests/programs/hostile_buffer.c) must end in a clear error
//! or a trace that replays exactly, never in a panic, a hang, or a replay
//! that silently differs from the recording.

mod common;

use common::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Records `mode` with the buffer on; returns the recording's output.
fn record(root: &TraceRoot, mode: &str) -> std::process::Output {
    let exe = program("hostile_buffer");
    let out = root.record_with(
        mode,
        &["--syscall-buffer"],
        &[exe.to_str().expect("utf-8 path"), mode],
    );
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{mode}: {stderr}");
    out
}

#[test]
fn damaged_records_stop_the_recording_with_a_clear_message() {
    let root = TraceRoot::new();
    for mode in ["huge-used", "garbage", "payload"] {
        let recorded = record(&root, mode);
        let stderr = text(&recorded.stderr);
        assert_eq!(recorded.status.code(), Some(1), "{mode}: {stderr}");
        assert!(
            stderr.contains("the program wrote into the syscall buffer")
                && stderr.contains("--no-syscall-buffer"),
            "{mode}: {stderr}"
        );
        // What was recorded before the damage replays, and says it ends
        // early.
        let replayed = root.replay(mode);
        assert_eq!(replayed.status.code(), Some(1), "{mode}");
        assert!(
            text(&replayed.stderr).contains("the recording stopped early"),
            "{mode}: {}",
            text(&replayed.stderr)
        );
        assert_eq!(replayed.stdout, recorded.stdout, "{mode}");
    }
}

#[test]
fn other_scribbles_replay_exactly_or_report_a_divergence() {
    let root = TraceRoot::new();
    for mode in ["busy", "zero"] {
        let recorded = record(&root, mode);
        assert!(
            recorded.status.success(),
            "{mode}: {}",
            text(&recorded.stderr)
        );
        assert!(text(&recorded.stdout).contains("buffer found"), "{mode}");
        let replayed = root.replay(mode);
        if replayed.status.success() {
            assert_eq!(text(&replayed.stdout), text(&recorded.stdout), "{mode}");
        } else {
            // The program read the buffer to find it, and replay's buffer
            // holds other bytes: a divergence, reported as one.
            let stderr = text(&replayed.stderr);
            assert!(stderr.contains("diverged"), "{mode}: {stderr}");
            assert!(!stderr.contains("panicked"), "{mode}: {stderr}");
        }
    }
}

#[test]
fn without_the_buffer_there_is_nothing_to_scribble_on() {
    let exe = program("hostile_buffer");
    let argv = [exe.to_str().expect("utf-8 path"), "payload"];
    let root = TraceRoot::new();
    let recorded = root.record_with("off", &["--no-syscall-buffer"], &argv);
    assert!(text(&recorded.stdout).starts_with("buffer absent\n"));
    assert_replays_match_recording(&root, "off", &argv, recorded);
}
