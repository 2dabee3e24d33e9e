//! `replay replay --interactive` driven through stdin (scripts) and
//! through a pseudo-terminal (line editing).

mod common;

use common::TraceRoot;
use std::io::Write;
use std::process::{Command, Stdio};

/// Records tests/programs/interactive_demo.c; returns the root, the trace
/// name and what the program printed.
fn recorded() -> (TraceRoot, String) {
    let root = TraceRoot::new();
    let exe = common::program("interactive_demo");
    let scratch = root.path().join("scratch");
    let out = root.record("demo", &[exe.to_str().unwrap(), scratch.to_str().unwrap()]);
    assert!(out.status.success(), "record failed: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("survived the fault"), "{stdout}");
    (root, stdout)
}

/// Runs the prompt with `script` on stdin; returns (status ok, stdout).
fn session(root: &TraceRoot, args: &[&str], script: &str) -> (bool, String) {
    let mut child = root
        .cmd()
        .args(["replay", "--interactive"])
        .args(args)
        .arg(root.trace("demo"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start replay");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "replay panicked:\n{stdout}\n{stderr}"
    );
    (out.status.success(), stdout)
}

/// The stop lines (`event N [pid P tid T] ...`) of a transcript.
fn stops(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            l.starts_with("event ") || l.starts_with("breakpoint ") && l.contains(": event ")
        })
        .collect()
}

#[test]
fn openat_breakpoint_shows_the_path_and_fd() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["--breakpoint", "syscall:openat"], "continue\n");
    assert!(ok, "{out}");
    let stop = stops(&out)[0];
    assert!(stop.contains("breakpoint 1: event "), "{out}");
    assert!(stop.contains("openat(AT_FDCWD, \""), "{out}");
    assert!(stop.contains("[pid "), "{out}");
    // The loader opening the recorder's preload library is not the
    // program's open.
    assert!(!stop.contains("libreplay_preload"), "{out}");
}

#[test]
fn file_prefix_breakpoint_stops_at_the_open_with_its_result() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &[], "break file:/etc/passwd\ncontinue\ninspect\n");
    assert!(ok, "{out}");
    let stop = stops(&out)[0];
    assert!(
        stop.contains("openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3 </etc/passwd>"),
        "{out}"
    );
    assert!(out.contains("return = 3  [fd -> /etc/passwd]"), "{out}");
    assert!(out.contains("duration = "), "{out}");
}

#[test]
fn write_breakpoint_shows_the_recorded_bytes() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "syscall:write"], "c\ninspect\n");
    assert!(ok, "{out}");
    assert!(
        stops(&out)[0].contains("write(1, \"hello interactive\\n\", 18) = 18"),
        "{out}"
    );
    assert!(
        out.contains("read by the kernel from 0x")
            && out.contains("(18 bytes): \"hello interactive\\n\""),
        "{out}"
    );
}

#[test]
fn next_steps_event_by_event() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &[], "next\nnext\nnext 3\nwhere\n");
    assert!(ok, "{out}");
    let events: Vec<u64> = stops(&out)
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{out}");
    // The first stop is the exec's exit (event 0); each next moves forward.
    assert_eq!(events[0], 0, "{out}");
    assert!(events[1] > events[0] && events[2] > events[1], "{out}");
    assert_eq!(events[2], events[3], "where repeats the stop: {out}");
    assert!(stops(&out)[0].contains("execve("), "{out}");
}

#[test]
fn handled_segv_stops_at_the_signal_and_the_replay_goes_on() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "signal:SIGSEGV"], "c\nbt\ndelete\nc\nc\n");
    assert!(ok, "{out}");
    assert!(
        stops(&out)[0].contains("--- SIGSEGV {si_signo=SIGSEGV, si_code=1, si_addr=0x10} ---"),
        "{out}"
    );
    assert!(
        out.contains("the replay reached the end of the recording"),
        "{out}"
    );
    // At the end the prompt stays and says so again.
    assert_eq!(out.matches("reached the end").count(), 2, "{out}");
}

#[test]
fn back_then_next_returns_to_the_same_event() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "syscall:write"], "c\nnext\nback\nnext\n");
    assert!(ok, "{out}");
    let s = stops(&out);
    assert_eq!(s.len(), 4, "{out}");
    assert_eq!(s[1], s[3], "{out}");
    assert!(s[0].ends_with(s[2]), "back lands on the write again: {out}");
}

#[test]
fn goto_moves_backwards_and_forwards() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &[], "next 20\ngoto 3\ngoto 7\nregs\n");
    assert!(ok, "{out}");
    let s = stops(&out);
    assert!(s[1].starts_with("event 3 "), "{out}");
    assert!(s[2].starts_with("event 7 "), "{out}");
    assert!(out.contains("rip "), "{out}");
}

#[test]
fn return_value_conditions_filter_stops() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "syscall:read if ret > 2000"], "c\n");
    assert!(ok, "{out}");
    let stop = stops(&out)[0];
    assert!(
        stop.contains(" read(") && stop.contains(", \"xxxx") && stop.ends_with("= 3000"),
        "{out}"
    );
}

#[test]
fn bad_commands_print_one_line_and_the_prompt_goes_on() {
    let (root, _) = recorded();
    let script = "frobnicate\nbreak nosuch:thing\nbreak syscall:nosuchcall\nmem zz 4\nnext zz\ndelete 9\ngoto zz\nnext\nquit\nnext\n";
    let (ok, out) = session(&root, &[], script);
    assert!(ok, "{out}");
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 7, "{out}");
    assert!(errors[1].contains("nosuch:thing"), "{out}");
    assert!(errors[6].contains("zz"), "{out}");
    // `next` after the errors works; the one after `quit` never runs.
    assert_eq!(stops(&out).len(), 1, "{out}");
}

#[test]
fn bad_breakpoint_flag_is_an_error() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "bogus:1"], "");
    assert!(!ok, "{out}");
}

#[test]
fn regs_and_mem_read_the_replayed_process() {
    let (root, printed) = recorded();
    let addr = printed
        .lines()
        .find_map(|l| l.strip_prefix("marker at "))
        .expect("program printed the marker address")
        .trim()
        .to_string();
    let script = format!("c\nregs\nmem {addr} 12\n");
    let (ok, out) = session(&root, &["-b", "syscall:write"], &script);
    assert!(ok, "{out}");
    assert!(out.contains("rip      0x"), "{out}");
    assert!(
        out.contains("rax      0x0000000000000012"),
        "write returned 18: {out}"
    );
    assert!(out.contains("|MARKER-12345|"), "{out}");
}

#[test]
fn bt_names_main() {
    let (root, _) = recorded();
    let (ok, out) = session(&root, &["-b", "syscall:write"], "c\nbt\n");
    assert!(ok, "{out}");
    let frames: Vec<&str> = out.lines().filter(|l| l.starts_with('#')).collect();
    assert!(frames.iter().any(|f| f.contains(" in main+")), "{out}");
    assert!(
        frames[0].contains("libc"),
        "frame 0 is in libc's write: {out}"
    );
}

#[test]
fn prompt_and_line_editing_through_a_pseudo_terminal() {
    let (root, _) = recorded();
    pty::check(&root);
}

mod pty {
    use super::*;
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::time::{Duration, Instant};

    pub fn check(root: &TraceRoot) {
        let (mut master, slave) = open_pty();
        let mut cmd: Command = root.cmd();
        cmd.args(["replay", "--interactive"])
            .arg(root.trace("demo"))
            .env("TERM", "xterm")
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        let mut child = cmd.spawn().expect("start replay on a pty");
        drop(cmd);
        // Reader thread: the master returns EIO once the child is gone.
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let wait_for = |what: &str, seen: &mut Vec<u8>| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !String::from_utf8_lossy(seen).contains(what) {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(b) => seen.extend(b),
                    Err(_) => panic!(
                        "no {what:?} on the terminal; saw:\n{}",
                        String::from_utf8_lossy(seen)
                    ),
                }
            }
        };
        wait_for("replay> ", &mut seen);
        // A typo, a backspace, and the rest: line editing must hand the
        // corrected command over.
        master.write_all(b"break syscall:wrx\x7fite\r").unwrap();
        wait_for("breakpoint 1: syscall:write", &mut seen);
        master.write_all(b"nexx\x7ft\r").unwrap();
        wait_for("execve(", &mut seen);
        master.write_all(b"c\r").unwrap();
        wait_for("write(1, \"hello interactive\\n\", 18) = 18", &mut seen);
        master.write_all(b"quit\r").unwrap();
        let status = child.wait().unwrap();
        let text = String::from_utf8_lossy(&seen).into_owned();
        assert!(status.success(), "{text}");
        assert!(!text.contains("unknown command"), "{text}");
        assert!(!text.contains("error:"), "{text}");
    }

    fn open_pty() -> (std::fs::File, OwnedFd) {
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 24,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors into the out-pointers; the
        // name and termios pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just returned by openpty and are
        // owned by nothing else.
        unsafe {
            (
                std::fs::File::from_raw_fd(master),
                OwnedFd::from_raw_fd(slave),
            )
        }
    }
}
