//! A gdb/MI session for the end-to-end tests: `gdb --interpreter=mi3`,
//! commands in, result and async records out.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// An MI session: commands in, result and async records out.
pub struct Mi {
    pub child: std::process::Child,
    pub input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    pub transcript: String,
}

impl Mi {
    pub fn start(exe: &std::path::Path) -> Mi {
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
    pub fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
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
    pub fn command(&mut self, command: &str) -> String {
        writeln!(self.input, "{command}").expect("write to gdb");
        self.transcript.push_str(&format!(">>> {command}\n"));
        self.until(|l| l.starts_with('^'))
    }

    /// Sends an execution command and returns its `*stopped` record.
    pub fn run(&mut self, command: &str) -> String {
        let result = self.command(command);
        assert!(
            result.starts_with("^running"),
            "{command}: {result}\n{}",
            self.transcript
        );
        self.until(|l| l.starts_with("*stopped"))
    }
}

pub fn field<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    let start = record.find(&format!("{name}=\""))? + name.len() + 2;
    let end = record[start..].find('"')? + start;
    Some(&record[start..end])
}
