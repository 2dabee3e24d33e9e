//! Expressions that call functions in the replayed program (`print f(x)`,
//! `call`), through gdb's command line and through gdb/MI: they run in a
//! diversion, a throw-away copy of the replay, and the replay goes on
//! exactly as recorded afterwards.

mod common;

use common::{gdb_batch, program, start_gdb_server, TraceRoot};

/// Records `expressions` and returns the root with its output line.
fn record() -> (TraceRoot, String) {
    let root = TraceRoot::new();
    let exe = program("expressions");
    let argv = [exe.to_str().expect("utf-8")];
    common::assert_native_runs_differ(&argv);
    let out = root.record("t", &argv);
    assert!(out.status.success(), "{}", common::show(&out));
    (root, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The recorded `buf` and its length, from the line the program printed.
fn recorded_buf(line: &str) -> (String, usize) {
    let buf = line
        .split_whitespace()
        .find(|w| w.starts_with("value-"))
        .expect("buf")
        .to_string();
    let len = buf.len();
    (buf, len)
}

fn finish(mut server: common::GdbServer) -> String {
    let status = server.child.wait().expect("server ends after gdb detaches");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(status.success(), "gdb server failed: {status:?}\n{log}");
    log
}

#[test]
fn expressions_call_functions_in_a_copy_and_the_replay_goes_on() {
    let (root, line) = record();
    let (buf, len) = recorded_buf(&line);
    let exe = program("expressions");
    // The replayed process's own stdout: where code gdb runs writes.
    let stdout_path = root.path().join("replay-stdout");
    let stdout = std::fs::File::create(&stdout_path).expect("stdout file");
    let server =
        common::start_gdb_server_with_stdout(root.cmd(), &[], &root.trace("t"), stdout.into());
    let text = gdb_batch(
        server.port,
        &exe,
        &[
            "break marker",
            "continue",
            "print (unsigned long) strlen(buf)",
            "print twice(21)",
            "print make_pair(8)",
            "print counter",
            "call bump()",
            "call bump()",
            "print counter",
            "print pid_of_me()",
            "print say(\"from gdb\\n\")",
            // Forward again: the copy is gone, the replay's own bump runs.
            "next",
            "next",
            "print counter",
            "print buf",
            // Back past the diversion, and a call there too.
            "reverse-continue",
            "print twice(counter)",
            "continue",
            "print counter",
            "continue",
        ],
    );
    finish(server);
    let value = |n: usize| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("${n} = ")))
            .unwrap_or_else(|| panic!("no ${n} in:\n{text}"))
            .to_string()
    };
    assert_eq!(value(1), len.to_string(), "{text}");
    assert_eq!(value(2), "42", "{text}");
    assert_eq!(value(3), "{first = 8, second = 16, ratio = 2}", "{text}");
    assert_eq!(value(4), "0", "{text}");
    // The calls changed the copy, which expressions see until gdb resumes.
    assert_eq!(value(5), "2", "{text}");
    // getpid is not made in the copy: ENOSYS, and gdb is told why.
    assert_eq!(value(6), "-38", "{text}");
    assert!(text.contains("called getpid, which got ENOSYS"), "{text}");
    // A write to the terminal is made, through the syscall buffer's
    // library too.
    assert_eq!(value(7), "9", "{text}");
    assert!(!text.contains("called write"), "{text}");
    let written = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    assert!(written.contains("from gdb"), "{written:?}\n{text}");
    // The replay's own counter: one bump, as recorded.
    assert_eq!(value(8), "1", "{text}");
    assert!(value(9).contains(&buf), "{text}");
    // Back at marker, before the program's bump.
    assert_eq!(value(10), "0", "{text}");
    assert_eq!(value(11), "1", "{text}");
    // The end of the recording, reached as recorded.
    assert!(text.contains("SIGKILL"), "{text}");
    assert!(!text.contains("could not complete"), "{text}");
}

#[test]
fn an_mi_client_evaluates_calls() {
    use std::io::{BufRead, BufReader, Write};
    let (root, line) = record();
    let (_, len) = recorded_buf(&line);
    let exe = program("expressions");
    let mut server = start_gdb_server(root.cmd(), &[], &root.trace("t"));
    let mut gdb = std::process::Command::new("gdb")
        .args(["--interpreter=mi3", "-q", "-nx"])
        .arg(&exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("gdb must be installed");
    let mut input = gdb.stdin.take().expect("stdin");
    let mut output = BufReader::new(gdb.stdout.take().expect("stdout"));
    let mut transcript = String::new();
    let mut until = |done: &dyn Fn(&str) -> bool| -> String {
        loop {
            let mut line = String::new();
            let n = output.read_line(&mut line).expect("read gdb");
            assert!(n > 0, "gdb ended:\n{transcript}");
            transcript.push_str(&line);
            if done(line.trim_end()) {
                return line.trim_end().to_string();
            }
        }
    };
    let mut send = |command: &str| writeln!(input, "{command}").expect("write to gdb");
    until(&|l| l.starts_with("(gdb)"));
    send(&format!(
        "-target-select extended-remote 127.0.0.1:{}",
        server.port
    ));
    until(&|l| l.starts_with("^connected"));
    send("-break-insert marker");
    until(&|l| l.starts_with('^'));
    send("-exec-continue");
    until(&|l| l.starts_with("*stopped,reason=\"breakpoint-hit\""));
    send("-data-evaluate-expression \"(unsigned long) strlen(buf)\"");
    let strlen = until(&|l| l.starts_with('^'));
    assert_eq!(strlen, format!("^done,value=\"{len}\""));
    send("-data-evaluate-expression \"make_pair(3).second\"");
    let second = until(&|l| l.starts_with('^'));
    assert_eq!(second, "^done,value=\"6\"");
    send("-exec-next");
    until(&|l| l.starts_with("*stopped,reason=\"end-stepping-range\""));
    send("-data-evaluate-expression counter");
    let counter = until(&|l| l.starts_with('^'));
    assert_eq!(counter, "^done,value=\"0\"");
    send("-target-detach");
    until(&|l| l.starts_with('^'));
    send("-gdb-exit");
    let _ = gdb.wait();
    let status = server.child.wait().expect("server ends after gdb detaches");
    assert!(status.success(), "{status:?}");
}
