//! gdb/MI, the protocol VS Code's cpptools, Emacs and CLion drive gdb with:
//! `gdb --interpreter=mi3` against a replay, forward and backward, with
//! breakpoints, a watchpoint, frames, variable objects, expressions and
//! threads.

mod common;

use common::{program, start_gdb_server, TraceRoot};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// An MI session: commands in, result and async records out.
struct Mi {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    transcript: String,
}

impl Mi {
    fn start(exe: &std::path::Path) -> Mi {
        let mut child = Command::new("gdb")
            .args(["--interpreter=mi3", "-q", "-nx"])
            .arg(exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gdb must be installed");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        let mut mi = Mi {
            child,
            input,
            output,
            transcript: String::new(),
        };
        mi.until(|l| l.starts_with("(gdb)"));
        mi
    }

    /// Reads records until one satisfies `done`; returns it.
    fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
        loop {
            let mut line = String::new();
            let n = self.output.read_line(&mut line).expect("read gdb");
            assert!(n > 0, "gdb ended; transcript:\n{}", self.transcript);
            self.transcript.push_str(&line);
            if done(line.trim_end()) {
                return line.trim_end().to_string();
            }
        }
    }

    /// Sends `command` and returns its result record (`^done`, `^error`,
    /// `^connected`, ...).
    fn command(&mut self, command: &str) -> String {
        writeln!(self.input, "{command}").expect("write to gdb");
        self.transcript.push_str(&format!(">>> {command}\n"));
        self.until(|l| l.starts_with('^'))
    }

    /// Sends an execution command and returns its `*stopped` record.
    fn run(&mut self, command: &str) -> String {
        let result = self.command(command);
        assert!(
            result.starts_with("^running"),
            "{command}: {result}\n{}",
            self.transcript
        );
        self.until(|l| l.starts_with("*stopped"))
    }
}

fn field<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    let start = record.find(&format!("{name}=\""))? + name.len() + 2;
    let end = record[start..].find('"')? + start;
    Some(&record[start..end])
}

#[test]
fn an_mi_session_goes_forward_and_back() {
    let root = TraceRoot::new();
    let exe = program("debugme");
    let recorded = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(recorded.status.success());
    let mut server = start_gdb_server(root.cmd(), &[], &root.trace("t"));
    let port = server.port;

    let mut mi = Mi::start(&exe);
    let connected = mi.command(&format!("-target-select extended-remote 127.0.0.1:{port}"));
    assert!(connected.starts_with("^connected"), "{}", mi.transcript);

    let bp = mi.command("-break-insert compute");
    assert_eq!(field(&bp, "func"), Some("compute"), "{bp}");
    let hit = mi.run("-exec-continue");
    assert_eq!(field(&hit, "reason"), Some("breakpoint-hit"), "{hit}");
    let first_x = field(&hit, "value").expect("x").to_string();

    let frames = mi.command("-stack-list-frames");
    assert!(
        frames.starts_with("^done,stack=")
            && frames.contains("func=\"compute\"")
            && frames.contains("func=\"main\""),
        "{frames}"
    );
    let x = mi.command("-data-evaluate-expression x");
    assert_eq!(field(&x, "value"), Some(first_x.as_str()), "{x}");
    let var = mi.command("-var-create v * counter");
    assert_eq!(field(&var, "name"), Some("v"), "{var}");

    let next = mi.run("-exec-next");
    assert_eq!(field(&next, "reason"), Some("end-stepping-range"), "{next}");
    let step = mi.run("-exec-step");
    assert_eq!(field(&step, "reason"), Some("end-stepping-range"), "{step}");
    let finish = mi.run("-exec-finish");
    assert_eq!(
        field(&finish, "reason"),
        Some("function-finished"),
        "{finish}"
    );
    assert_eq!(field(&finish, "func"), Some("main"), "{finish}");

    // The second call, then back to the first.
    let second = mi.run("-exec-continue");
    assert_eq!(field(&second, "reason"), Some("breakpoint-hit"), "{second}");
    assert_ne!(field(&second, "value"), Some(first_x.as_str()), "{second}");
    let back_step = mi.run("-exec-step --reverse");
    assert_eq!(field(&back_step, "func"), Some("main"), "{back_step}");
    let back_next = mi.run("-exec-next --reverse");
    assert_eq!(field(&back_next, "func"), Some("main"), "{back_next}");
    let back = mi.run("-exec-continue --reverse");
    assert_eq!(field(&back, "reason"), Some("breakpoint-hit"), "{back}");
    assert_eq!(field(&back, "value"), Some(first_x.as_str()), "{back}");
    mi.run("-exec-next");
    // reverse-finish goes back to compute's entry first: with breakpoint 1
    // still there, gdb would stop on it, as it does live.
    mi.command("-break-delete 1");
    let back_out = mi.run("-exec-finish --reverse");
    assert_eq!(field(&back_out, "func"), Some("main"), "{back_out}");

    let watch = mi.command("-break-watch counter");
    assert!(watch.starts_with("^done,wpt="), "{watch}");
    let written = mi.run("-exec-continue");
    assert_eq!(
        field(&written, "reason"),
        Some("watchpoint-trigger"),
        "{written}"
    );
    let threads = mi.command("-thread-info");
    assert!(
        threads.starts_with("^done,threads=[") && threads.contains("target-id=\"Thread "),
        "{threads}"
    );
    let updates = mi.command("-var-update v");
    assert!(updates.starts_with("^done,changelist="), "{updates}");

    mi.command("-target-detach");
    let _ = writeln!(mi.input, "-gdb-exit");
    let _ = mi.child.wait();
    let status = server
        .child
        .wait()
        .expect("the server ends after gdb detaches");
    assert!(status.success(), "{status:?}");
}
