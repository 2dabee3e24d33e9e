//! A recording that ends early stays replayable up to where it ended, and no
//! tracee outlives the recorder.

mod common;

use common::{program, start_recording_ticker, TraceRoot};
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Starts recording the ticker, waits until it has printed `lines` lines,
/// sends `signal` to the recorder, and returns what the tracee printed and
/// the tracee's pid.
fn record_and_interrupt(root: &TraceRoot, signal: i32, lines: usize) -> (String, i32) {
    let (mut child, pid, mut reader) = start_recording_ticker(root, 500);
    let mut printed = format!("pid {pid}\n");
    for _ in 1..lines {
        reader.read_line(&mut printed).expect("read tracee output");
    }
    // SAFETY: sending a signal to our own child process.
    unsafe { libc_kill(child.id() as i32, signal) };
    let _ = child.wait();
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    printed.push_str(&rest);
    (printed, pid)
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn assert_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.contains(") Z ") || state.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tracee {pid} outlived its recorder: {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `replay info` of trace "t", which must read.
fn info(root: &TraceRoot) -> String {
    let info = root
        .cmd()
        .arg("info")
        .arg(root.trace("t"))
        .output()
        .expect("run info");
    assert!(info.status.success(), "{}", stderr(&info));
    String::from_utf8_lossy(&info.stdout).into_owned()
}

fn assert_replays_a_prefix(root: &TraceRoot, recorded: &str) {
    let info_text = info(root);
    assert!(
        info_text.contains("complete:     no") || info_text.contains("stopped early"),
        "{info_text}"
    );
    let replayed = root.replay("t");
    let out = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        !replayed.status.success(),
        "an interrupted replay must not claim success"
    );
    assert!(
        out.starts_with("pid "),
        "replay printed nothing of the prefix: {out:?} / {}",
        stderr(&replayed)
    );
    assert!(
        recorded.starts_with(&*out),
        "replay is not a prefix of the recording:\n{out}\n---\n{recorded}"
    );
    let err = stderr(&replayed);
    assert!(
        err.starts_with("replay: ") && !err.contains("panicked"),
        "{err}"
    );
    assert!(
        err.contains("interrupted") || err.contains("stopped early"),
        "{err}"
    );
}

#[test]
fn sigkill_of_the_recorder() {
    let root = TraceRoot::new();
    let (recorded, pid) = record_and_interrupt(&root, 9, 20);
    assert_gone(pid);
    assert_replays_a_prefix(&root, &recorded);
}

#[test]
fn sigterm_to_the_recorder() {
    let root = TraceRoot::new();
    let (recorded, pid) = record_and_interrupt(&root, 15, 10);
    assert_gone(pid);
    assert_replays_a_prefix(&root, &recorded);
}

#[test]
fn tracee_killed_by_sigkill() {
    let root = TraceRoot::new();
    let (mut child, pid, mut reader) = start_recording_ticker(&root, 500);
    let first = format!("pid {pid}\n");
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: killing the tracee, a descendant of this test.
    unsafe { libc_kill(pid, 9) };
    let status = child.wait().expect("recorder ends");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("read");
    let recorded = first + &rest;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "record re-raises SIGKILL"
    );
    let replayed = root.replay("t");
    assert_eq!(String::from_utf8_lossy(&replayed.stdout), recorded);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&replayed.status),
        Some(9)
    );
}

#[test]
fn unknown_ioctl_stops_recording_with_its_name() {
    let exe = program("unknown_ioctl");
    let root = TraceRoot::new();
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ioctl request 0x894c"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("after"),
        "the unknown ioctl must not complete"
    );
    let replayed = root.replay("t");
    assert_eq!(String::from_utf8_lossy(&replayed.stdout), "before\n");
    assert!(
        stderr(&replayed).contains("stopped early"),
        "{}",
        stderr(&replayed)
    );
}

/// SIGTERM reaches the recorder while it waits for one thread's syscall to
/// return: a write to its stdout, a pipe nobody reads, which it waits for
/// in place. It stops there too, rather than wait for ever, and keeps what
/// it recorded.
#[test]
fn sigterm_while_the_recorder_waits_for_a_blocked_write() {
    let root = TraceRoot::new();
    let mut child = root
        .cmd()
        .args(["record", "-o"])
        .arg(root.trace("t"))
        .args(["--", "cat", "/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the recorder");
    // Nothing reads the pipe: cat's first write that does not fit blocks.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc_kill(child.id() as i32, 15) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the recorder") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the recorder did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert!(!status.success(), "{err}");
    assert!(err.contains("signal 15"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let info_text = info(&root);
    assert!(
        info_text.contains("complete:     no") || info_text.contains("stopped early"),
        "{info_text}"
    );
}
