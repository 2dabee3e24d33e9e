//! Debugging a replay with the real gdb, in batch mode: every assertion is
//! on what gdb printed.

mod common;

use common::{port_in, program, start_gdb_server, GdbServer, TraceRoot};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The recorded values `debugme` printed.
struct Recorded {
    time: String,
    random: String,
}

fn record_debugme(root: &TraceRoot) -> Recorded {
    let exe = program("debugme");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
            .to_string()
    };
    Recorded {
        time: field("time"),
        random: field("random"),
    }
}

/// Starts `replay replay --gdb 127.0.0.1:0` and returns it with its port.
fn serve(root: &TraceRoot, trace: &str) -> (Server, u16) {
    serve_with(root, trace, &[])
}

/// [`serve`] with start options (`--at-end`, `--pid NAME`, ...).
fn serve_with(root: &TraceRoot, trace: &str, options: &[&str]) -> (Server, u16) {
    let server = start_gdb_server(root.cmd(), options, &root.trace(trace));
    let port = server.port;
    (server, port)
}

type Server = GdbServer;

fn gdb(port: u16, exe: &std::path::Path, commands: &[&str]) -> String {
    common::gdb_batch(port, exe, commands)
}

fn finish(mut server: Server) {
    let status = server.child.wait().expect("server ends after gdb detaches");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(status.success(), "gdb server failed: {status:?}\n{log}");
}

/// Records the test program `name` (with `options`) and runs gdb with
/// `commands` against its replay. Returns what the program printed when
/// recorded, and what gdb printed.
fn record_and_debug(name: &str, options: &[&str], commands: &[&str]) -> (String, String) {
    let root = TraceRoot::new();
    let exe = program(name);
    let out = root.record_with("t", options, &[exe.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (server, port) = serve(&root, "t");
    let text = gdb(port, &exe, commands);
    finish(server);
    (String::from_utf8_lossy(&out.stdout).into_owned(), text)
}

#[test]
fn breakpoints_prints_backtrace_finish_watchpoint_and_end() {
    let root = TraceRoot::new();
    let recorded = record_debugme(&root);
    let (server, port) = serve(&root, "t");
    let exe = program("debugme");
    let out = gdb(
        port,
        &exe,
        &[
            "break compute",
            "continue",
            "print seed_time",
            "print seed_random",
            "print x",
            "bt",
            "finish",
            "delete",
            "watch counter",
            "continue",
            "delete",
            "break write",
            "continue",
            "bt",
            "delete",
            "continue",
            "info registers rip",
        ],
    );
    finish(server);
    assert!(out.contains("Breakpoint 1, compute (x="), "{out}");
    assert!(
        out.contains(&format!("$1 = {}", recorded.time)),
        "time() must be the recorded one:\n{out}"
    );
    assert!(
        out.contains(&format!("$2 = {}", recorded.random)),
        "getrandom must be the recorded one:\n{out}"
    );
    assert!(out.contains("#1  ") && out.contains("in main ()"), "{out}");
    assert!(out.contains("Value returned is"), "{out}");
    assert!(
        out.contains("Hardware watchpoint")
            && out.contains("Old value")
            && out.contains("New value"),
        "{out}"
    );
    assert!(
        out.contains("Breakpoint 3, ") && out.contains("write"),
        "libc breakpoint: {out}"
    );
    assert!(
        out.contains("Program received signal SIGKILL"),
        "end of the recording: {out}"
    );
    assert!(
        out.contains("_exit"),
        "the program is parked in its exit: {out}"
    );
}

#[test]
fn reverse_continue_next_stepi_finish_and_back_to_the_start() {
    let root = TraceRoot::new();
    record_debugme(&root);
    let (server, port) = serve(&root, "t");
    let exe = program("debugme");
    let out = gdb(
        port,
        &exe,
        &[
            "break compute",
            "continue",
            "print x",
            "continue",
            "continue",
            "reverse-continue",
            "print x",
            "next",
            "next",
            "reverse-next",
            "print doubled == x * 2",
            "info registers rip",
            "reverse-stepi",
            "info registers rip",
            "reverse-finish",
            "delete",
            "reverse-continue",
            "continue",
        ],
    );
    finish(server);
    let value = |n: usize| -> i64 {
        let tag = format!("${n} = ");
        out.split(&tag)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {tag} in:\n{out}"))
    };
    let first_x = value(1);
    // Three calls forward, one back: the second call, whose x is first_x + 1.
    assert_eq!(
        value(2),
        first_x + 1,
        "reverse-continue must reach the previous hit:\n{out}"
    );
    assert_eq!(
        value(3),
        1,
        "reverse-next lands after the assignment:\n{out}"
    );
    let rips: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("rip"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .collect();
    assert_eq!(rips.len(), 2, "{out}");
    assert!(
        rips[1] < rips[0] && rips[0] - rips[1] <= 15,
        "reverse-stepi goes back one instruction: {rips:x?}\n{out}"
    );
    let after_finish = out.split("reverse-finish").last().unwrap_or(&out);
    assert!(
        after_finish.contains("in main ()"),
        "reverse-finish returns to the caller: {out}"
    );
    assert!(
        out.contains("No more reverse-execution history"),
        "back to the start: {out}"
    );
    assert!(
        out.contains("Program received signal SIGKILL"),
        "forward again to the end: {out}"
    );
}

#[test]
fn info_threads_on_a_threaded_recording() {
    let (_, out) = record_and_debug(
        "threads",
        &[],
        &[
            "break worker",
            "continue",
            "continue",
            "info threads",
            "monitor when",
        ],
    );
    // Threads are named by the recorded process and thread ids: one
    // process, several threads.
    let pids: std::collections::BTreeSet<&str> = out
        .split("Thread ")
        .skip(1)
        .filter_map(|rest| rest.split_once('.').map(|(pid, _)| pid))
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert!(
        pids.len() == 1 && out.matches("Thread ").count() >= 2,
        "{out}"
    );
    assert!(out.contains("worker"), "{out}");
    assert!(out.contains("Current event:"), "{out}");
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let root = TraceRoot::new();
    record_debugme(&root);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = root
        .cmd()
        .args(["replay", "--gdb", &port.to_string()])
        .arg(root.trace("t"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("replay: ") && err.contains("cannot listen on 127.0.0.1:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_client_sending_garbage_ends_the_session_cleanly() {
    use std::io::Write;
    let root = TraceRoot::new();
    record_debugme(&root);
    let (server, port) = serve(&root, "t");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(b"$zzz#00garbage\x00\xff").expect("send");
    drop(stream);
    finish(server);
}

#[test]
fn goto_starts_later_and_checkpoints_restart() {
    let root = TraceRoot::new();
    record_debugme(&root);
    let exe = program("debugme");
    // Event 60 is past the program's startup: the session starts there.
    let mut server = root
        .cmd()
        .args(["replay", "--gdb", "127.0.0.1:0", "--goto", "60"])
        .arg(root.trace("t"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gdb server");
    let mut lines = BufReader::new(server.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        lines
            .read_line(&mut line)
            .expect("server says where it listens");
    }
    let port = port_in(&line);
    let out = gdb(
        port,
        &exe,
        &[
            "monitor when",
            "break compute",
            "continue",
            "monitor checkpoint",
            "print x",
            "continue",
            "print x",
            "monitor restart 1",
            "stepi",
            "print x",
        ],
    );
    assert!(server.wait().expect("server ends").success());
    assert!(out.contains("Current event: 60"), "{out}");
    assert!(out.contains("Checkpoint 1 at event"), "{out}");
    let values: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split(" = ").nth(1).filter(|_| l.starts_with('$')))
        .collect();
    assert_eq!(values.len(), 3, "{out}");
    assert_ne!(
        values[0], values[1],
        "the second hit is a later call:\n{out}"
    );
    assert_eq!(
        values[2], values[0],
        "restart 1 returns to the checkpoint's call:\n{out}"
    );
}

#[test]
fn interactive_prompt_hands_its_event_to_gdb() {
    use std::io::Write;
    let root = TraceRoot::new();
    let recorded = record_debugme(&root);
    let mut prompt = root
        .cmd()
        .args(["replay", "--interactive"])
        .arg(root.trace("t"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start interactive replay");
    let mut stdin = prompt.stdin.take().expect("stdin");
    stdin
        .write_all(b"break syscall:write\ncontinue\ngdb\n")
        .expect("commands");
    let mut lines = BufReader::new(prompt.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        assert!(
            lines.read_line(&mut line).expect("read") > 0,
            "prompt ended before serving gdb"
        );
    }
    let port = port_in(&line);
    let out = gdb(port, &program("debugme"), &["bt", "print seed_time"]);
    stdin.write_all(b"quit\n").expect("quit");
    drop(stdin);
    assert!(prompt.wait().expect("prompt ends").success());
    assert!(
        out.contains("write") && out.contains("in main ()"),
        "gdb sees the program inside write:\n{out}"
    );
    assert!(out.contains(&format!("$1 = {}", recorded.time)), "{out}");
}

#[test]
fn symbols_come_from_the_trace_when_the_binary_is_gone() {
    let root = TraceRoot::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("debugme");
    std::fs::copy(program("debugme"), &copy).expect("copy program");
    let out = root.record("t", &[copy.to_str().expect("utf-8")]);
    assert!(out.status.success());
    std::fs::remove_file(&copy).expect("delete the recorded binary");
    let (server, port) = serve(&root, "t");
    // No file for gdb: it asks the server for the executable and libraries.
    let mut cmd = Command::new("gdb");
    cmd.args(["-q", "-batch", "-nx"]);
    for c in [
        format!("target extended-remote 127.0.0.1:{port}"),
        "break compute".into(),
        "continue".into(),
        "info sharedlibrary".into(),
    ] {
        cmd.arg("-ex").arg(c);
    }
    let out = cmd.output().expect("gdb");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    finish(server);
    assert!(text.contains("Breakpoint 1, compute (x="), "{text}");
    assert!(
        text.contains("target:/lib/x86_64-linux-gnu/libc.so.6"),
        "{text}"
    );
}

/// A recording whose threads were preempted inside a loop without syscalls:
/// gdb runs to the final printf through every preemption point (with its
/// breakpoints planted), reads the recorded total, goes back to the start
/// and forward again to the same total.
/// Runs the racy counter's replay (recorded with short slices) under gdb
/// to its `printf`, back to the start and forward again, with `replay_env`
/// set for the server; gdb must print the recorded total both times.
fn racy_counter_forward_and_reverse(replay_env: &[(&str, &str)]) {
    let root = TraceRoot::new();
    let exe = program("racy_counter");
    let out = root.record_with(
        "t",
        &["--timeslice-us", "300"],
        &[exe.to_str().expect("utf-8")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = String::from_utf8_lossy(&out.stdout).into_owned();
    let total = recorded.split_whitespace().nth(1).expect("counter N of M");
    let mut replay = root.cmd();
    replay.envs(replay_env.iter().copied());
    let server = start_gdb_server(replay, &[], &root.trace("t"));
    let port = server.port;
    let text = gdb(
        port,
        &exe,
        &[
            "break printf",
            "continue",
            "print counter",
            "reverse-continue",
            "continue",
            "print counter",
        ],
    );
    finish(server);
    assert_eq!(
        text.matches(&format!("= {total}")).count(),
        2,
        "gdb printed the recorded total twice:\n{text}"
    );
    assert!(text.contains("No more reverse-execution history"), "{text}");
}

#[test]
fn preempted_threads_under_gdb_forward_and_reverse() {
    racy_counter_forward_and_reverse(&[]);
}

/// A preemption point whose memory words never match (one spoiled by
/// `REPLAY_TEST_SPOIL_POINT`, as an uninitialised word can be) is gone back
/// for under gdb too, forward and again after reverse execution (a new
/// session, which takes the same choice).
#[test]
fn a_point_missed_on_memory_is_gone_back_for_under_gdb() {
    racy_counter_forward_and_reverse(&[("REPLAY_TEST_SPOIL_POINT", "1")]);
}

/// Single-stepping a thread onto the point where the recorder preempted it
/// replays the switch: the main thread runs (and sets the flag) before the
/// stepped thread goes on, as in the recording.
#[test]
fn stepping_onto_a_preemption_point_lets_the_other_thread_run() {
    let (_, out) = record_and_debug(
        "spin_flag",
        &[],
        &[
            "break spin",
            "continue",
            "print flag",
            "delete",
            "stepi 12",
            "print flag",
            "continue",
        ],
    );
    let values: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(_, v)| v.trim()))
        .collect();
    assert_eq!(values, ["0", "1"], "{out}");
}

/// A command that cannot complete (here a continue into a preemption point
/// the replay cannot reach: the program used RDRAND) is reported to gdb with
/// the reason, the replay goes back to where the command started, and the
/// session goes on.
#[test]
fn a_failing_continue_is_an_error_and_the_session_goes_on() {
    let root = TraceRoot::new();
    let exe = program("rdrand_spin");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut command = root.cmd();
    command.env("REPLAY_PREEMPT_TIMEOUT_S", "2");
    let mut server = start_gdb_server(command, &[], &root.trace("t"));
    let port = server.port;
    let text = gdb(
        port,
        &exe,
        &[
            "info registers rip",
            "continue",
            "info registers rip",
            "print 6*7",
            "continue",
            "info registers rip",
            "print 7*6",
        ],
    );
    assert!(
        text.contains("replay: the command could not complete")
            && text.contains("never reached its recorded preemption point")
            && text.contains("back where the command started"),
        "{text}"
    );
    assert!(!text.contains("Remote connection closed"), "{text}");
    // gdb resumes several times for one `continue` (it stops at the
    // loader's library events on the way); the one that fails leaves the
    // replay where that resume began, so failing again ends at the same
    // place.
    let rips: Vec<&str> = text.lines().filter(|l| l.starts_with("rip")).collect();
    assert_eq!(rips.len(), 3, "{text}");
    assert_eq!(rips[1], rips[2], "the position stays where it was: {text}");
    assert_eq!(
        text.matches("never reached its recorded preemption point")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("$1 = 42") && text.contains("$2 = 42"),
        "the session answers after each failure: {text}"
    );
    let status = server.child.wait().expect("server ends after gdb detaches");
    assert!(status.success(), "{status:?}");
}

/// Sends one packet and acknowledges nothing (the server does not wait for
/// acks).
fn send_packet(stream: &mut std::net::TcpStream, body: &str) {
    use std::io::Write;
    let sum = body.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    stream
        .write_all(format!("${body}#{sum:02x}").as_bytes())
        .expect("send packet");
}

/// Reads what the server sends until `done` says it has it all, or the
/// deadline passes.
fn read_until(
    stream: &mut std::net::TcpStream,
    seconds: u64,
    done: impl Fn(&str) -> bool,
) -> String {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .expect("timeout");
    while !done(&text) && std::time::Instant::now() < deadline {
        if let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    text
}

/// Connects to the server on `port`, continues, and sends Ctrl-C after
/// `after_ms`. Returns the connection, what the server sent up to its
/// stop, and how long the stop took after the Ctrl-C.
fn continue_then_ctrl_c(
    port: u16,
    after_ms: u64,
) -> (std::net::TcpStream, String, std::time::Duration) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    send_packet(&mut stream, "?");
    let first = read_until(&mut stream, 10, |t| t.contains("$T"));
    assert!(first.contains("$T05"), "{first}");
    send_packet(&mut stream, "c");
    std::thread::sleep(std::time::Duration::from_millis(after_ms));
    let sent = std::time::Instant::now();
    stream.write_all(&[0x03]).expect("Ctrl-C");
    let stop = read_until(&mut stream, 20, |t| t.contains("$T"));
    (stream, stop, sent.elapsed())
}

/// Detaches the raw client and waits for the server to end cleanly.
fn detach(mut stream: std::net::TcpStream, server: Server) {
    send_packet(&mut stream, "D");
    let _ = read_until(&mut stream, 5, |t| t.contains("$OK"));
    drop(stream);
    finish(server);
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Ctrl-C (a 0x03 byte) stops a `continue` that would run for a minute (a
/// thread spins toward a preemption point replay cannot reach), gdb hears
/// why, and the session goes on from where the command started.
#[test]
fn ctrl_c_interrupts_a_long_continue() {
    let root = TraceRoot::new();
    let exe = program("rdrand_spin");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(out.status.success());
    let (server, port) = serve(&root, "t");
    let (mut stream, stop, took) = continue_then_ctrl_c(port, 1500);
    assert!(
        took < std::time::Duration::from_secs(10),
        "the interrupt took {took:?}"
    );
    assert!(stop.contains(&hex("interrupted (Ctrl-C)")), "{stop}");
    // SIGINT: gdb ends the command there, as for any Ctrl-C.
    assert!(
        stop.contains("$T02"),
        "a stop at the position before: {stop}"
    );
    // The session answers: registers, then a detach.
    send_packet(&mut stream, "g");
    let regs = read_until(&mut stream, 10, |t| {
        t.matches('$').count() >= 1 && t.contains('#')
    });
    assert!(regs.len() > 40 && !regs.contains("$E"), "{regs}");
    detach(stream, server);
}

/// Ctrl-C during a `continue` through many events stops at the next event
/// (SIGINT), from where gdb can go on to the end.
#[test]
fn ctrl_c_stops_a_continue_at_the_next_event() {
    let root = TraceRoot::new();
    let exe = program("syscall_loop");
    let out = root.record_with(
        "t",
        &["--no-syscall-buffer"],
        &[exe.to_str().expect("utf-8"), "20000"],
    );
    assert!(out.status.success());
    let (server, port) = serve(&root, "t");
    let (mut stream, stop, _) = continue_then_ctrl_c(port, 300);
    assert!(stop.contains("$T02"), "stopped by SIGINT: {stop}");
    send_packet(&mut stream, "qRcmd,7768656e");
    let when = read_until(&mut stream, 10, |t| t.contains("$OK"));
    send_packet(&mut stream, "c");
    let end = read_until(&mut stream, 60, |t| t.contains("$T") || t.contains("$X"));
    assert!(end.contains("$T09"), "continued to the end: {end}");
    assert!(when.contains("$O"), "monitor when answers: {when}");
    detach(stream, server);
}

/// rr's start options: at the end of the recording, in a process named by
/// its command, and just after a process was forked.
#[test]
fn sessions_start_at_the_end_in_a_named_process_or_at_a_fork() {
    let root = TraceRoot::new();
    let script = "/bin/echo one; /bin/echo two; /bin/true";
    let out = root.record("sh", &["/bin/sh", "-c", script]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ps = String::from_utf8_lossy(
        &root
            .cmd()
            .arg("ps")
            .arg(root.trace("sh"))
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let pid_of = |cmd: &str| -> String {
        ps.lines()
            .find(|l| l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ") == cmd)
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {cmd} in {ps}"))
            .to_string()
    };
    let sh = std::path::Path::new("/bin/sh");

    let (server, port) = serve_with(&root, "sh", &["--at-end"]);
    let text = gdb(
        port,
        sh,
        &["monitor when-end", "reverse-stepi", "monitor when"],
    );
    finish(server);
    let numbers: Vec<u64> = text
        .lines()
        .find(|l| l.starts_with("Last event: "))
        .unwrap_or_else(|| panic!("{text}"))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [last, current] = numbers[..] else {
        panic!("{text}")
    };
    // Parked at the final exit_group, whose entry and exit are the last
    // two events.
    assert!(current + 2 >= last && current <= last, "{text}");
    // Reverse execution works from there.
    assert!(text.contains("Current event: "), "{text}");
    assert!(
        !text.contains("No more reverse-execution history"),
        "{text}"
    );
    assert!(!text.contains("Remote connection closed"), "{text}");

    let true_pid = pid_of("/bin/true");
    let (server, port) = serve_with(&root, "sh", &["--pid", "true"]);
    let text = gdb(port, sh, &["info threads"]);
    finish(server);
    assert!(
        current_thread_is(&text, &true_pid),
        "stopped in /bin/true ({true_pid}): {text}"
    );

    let two_pid = pid_of("/bin/echo two");
    let (server, port) = serve_with(&root, "sh", &["--onfork", &two_pid]);
    let text = gdb(port, sh, &["info threads"]);
    finish(server);
    assert!(
        current_thread_is(&text, &two_pid),
        "stopped in the fork of {two_pid}: {text}"
    );

    let out = root
        .cmd()
        .args(["replay", "--gdb", "0", "--pid", "nosuch"])
        .arg(root.trace("sh"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded process is \"nosuch\""));
}

/// Whether gdb's `info threads` marks process `pid`'s main thread as the
/// current one (`Thread PID.TID`: one inferior per process).
fn current_thread_is(info_threads: &str, pid: &str) -> bool {
    info_threads
        .lines()
        .any(|l| l.starts_with('*') && l.contains(&format!("Thread {pid}.{pid} ")))
}

/// `replay debug --debugger CMD` runs another gdb-compatible program,
/// connected the same way (here a wrapper script around gdb).
#[test]
fn replay_debug_runs_the_debugger_it_is_given() {
    let root = TraceRoot::new();
    record_debugme(&root);
    let wrapper = root.path().join("my-gdb");
    let log = root.path().join("my-gdb.log");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"wrapper $*\" >> {}\nexec gdb -batch -nx \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = common::output_within_limit(
        root.cmd()
            .args(["debug", "--debugger"])
            .arg(&wrapper)
            .arg(root.trace("t"))
            .args(["--", "-ex", "monitor when"]),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Current event: 1"), "{text}");
    let args = std::fs::read_to_string(&log).expect("the wrapper ran");
    assert!(
        args.contains("target extended-remote 127.0.0.1:") && args.contains("monitor when"),
        "{args}"
    );
}
