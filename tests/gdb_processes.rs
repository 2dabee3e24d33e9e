//! One gdb inferior per recorded process, and forks followed the way gdb
//! follows them live: `detach-on-fork` (on by default) lets go of the
//! child, `detach-on-fork off` keeps both, a process's end is reported as
//! its exit, and going backwards stays within the processes gdb sees.

mod common;

use common::mi::{field, Mi};
use common::{gdb_batch, program, start_gdb_server, TraceRoot};
use std::io::Write;

/// What `two_processes` printed: the pids, the label, and each call's
/// value of `marker`.
struct Printed {
    parent_pid: String,
    child_pid: String,
    label: String,
    child_first: String,
    child_second: String,
    parent_value: String,
}

fn record_two_processes(root: &TraceRoot) -> (std::path::PathBuf, Printed) {
    let exe = program("two_processes");
    let recorded = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(recorded.status.success(), "{}", common::show(&recorded));
    let stdout = String::from_utf8_lossy(&recorded.stdout).into_owned();
    let words_of = |prefix: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {stdout}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // "child LABEL FIRST SECOND" and "parent PID child PID LABEL VALUE status 3"
    let child = words_of("child ");
    let parent = words_of("parent ");
    let printed = Printed {
        parent_pid: parent[1].clone(),
        child_pid: parent[3].clone(),
        label: parent[4].clone(),
        child_first: child[2].clone(),
        child_second: child[3].clone(),
        parent_value: parent[5].clone(),
    };
    (exe, printed)
}

/// gdb's output with optimised code's `NAME=NAME@entry=` shown as `NAME=`.
fn plain(out: String) -> String {
    out.replace("who=who@entry=", "who=")
        .replace("value=value@entry=", "value=")
}

fn finish(mut server: common::GdbServer) {
    let status = server.child.wait().expect("server ends with gdb");
    assert!(
        status.success(),
        "server failed: {}",
        server.log.lock().map(|l| l.clone()).unwrap_or_default()
    );
}

/// Records `two_processes`, runs gdb's `commands` on a replay of it, and
/// returns what gdb printed (see [`plain`]) and what the recording printed.
fn debug_two_processes(commands: &[&str]) -> (String, Printed) {
    let root = TraceRoot::new();
    let (exe, printed) = record_two_processes(&root);
    let server = start_gdb_server(root.cmd(), &[], &root.trace("t"));
    let out = plain(gdb_batch(server.port, &exe, commands));
    finish(server);
    (out, printed)
}

#[test]
fn gdb_lets_go_of_a_fork_child_by_default() {
    let (out, printed) = debug_two_processes(&[
        "break marker",
        "continue",
        "info inferiors",
        "finish",
        "reverse-continue",
        "reverse-continue",
        "continue",
        "continue",
    ]);
    assert!(
        out.contains(&format!(
            "[Detaching after fork from child process {}]",
            printed.child_pid
        )),
        "{out}"
    );
    // The child's two calls are not seen: the first stop is the parent's.
    let first_stop = out.split("Breakpoint 1, ").nth(1).unwrap_or("");
    assert!(first_stop.starts_with("marker (who=1,"), "{out}");
    assert!(
        out.contains(&format!("process {}", printed.parent_pid))
            && !out.contains(&format!("process {} ", printed.child_pid)),
        "one inferior, the parent, with its recorded pid: {out}"
    );
    assert!(
        out.contains(&format!("Value returned is $1 = {}", printed.parent_value)),
        "{out}"
    );
    // Backwards, the parent's call, then the start: the child's calls
    // stay out of sight. Forward again, the fork is followed again.
    assert!(out.contains("No more reverse-execution history"), "{out}");
    assert_eq!(
        out.matches("Breakpoint 1, marker (who=1,").count(),
        3,
        "{out}"
    );
    assert_eq!(out.matches("[Detaching after fork").count(), 2, "{out}");
    assert!(out.contains("Program received signal SIGKILL"), "{out}");
    assert!(!out.contains("Remote connection closed"), "{out}");
}

#[test]
fn with_detach_on_fork_off_each_process_is_an_inferior() {
    let (out, printed) = debug_two_processes(&[
        "set detach-on-fork off",
        "set schedule-multiple on",
        "break marker",
        "continue",
        "info inferiors",
        "print (int)strlen(label)",
        "print make_pair(7, 8)",
        "finish",
        "continue",
        "finish",
        "reverse-continue",
        "reverse-continue",
        "continue",
        "continue",
        "continue",
        "info inferiors",
        "inferior 1",
        "continue",
        "finish",
    ]);
    let (parent, child) = (&printed.parent_pid, &printed.child_pid);
    assert!(
        out.contains(&format!("[New inferior 2 (process {child})]")),
        "{out}"
    );
    assert!(
        out.contains(&format!("process {parent} ")) && out.contains(&format!("process {child} ")),
        "info inferiors lists both processes: {out}"
    );
    assert!(
        out.contains("Thread 2.1 hit Breakpoint 1.2, marker (who=2,"),
        "the child's first call, in inferior 2: {out}"
    );
    assert!(
        out.contains(&format!("$1 = {}", printed.label.len())),
        "{out}"
    );
    assert!(out.contains("$2 = {first = 7, second = 8}"), "{out}");
    assert!(
        out.contains(&format!("Value returned is $3 = {}", printed.child_first)),
        "{out}"
    );
    assert!(
        out.contains(&format!("Value returned is $4 = {}", printed.child_second)),
        "{out}"
    );
    // Back over the second call to the first, and forward again.
    let after_reverse: Vec<&str> = out
        .split("hit Breakpoint 1.2, marker (who=")
        .skip(1)
        .map(|rest| &rest[..1])
        .collect();
    assert_eq!(after_reverse, ["2", "3", "3", "2", "3"], "{out}");
    assert!(
        out.contains(&format!(
            "[Inferior 2 (process {child}) exited with code 03]"
        )),
        "{out}"
    );
    assert!(
        out.contains("Thread 1.1 hit Breakpoint 1.1, marker (who=1,"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Value returned is $5 = {}", printed.parent_value)),
        "the parent's call returns what it returned when recorded: {out}"
    );
    assert!(!out.contains("Remote connection closed"), "{out}");
}

/// What an IDE does over gdb/MI: thread groups per process with their pids,
/// expressions that call functions, reverse execution in the child, and
/// the replay going on exactly as recorded afterwards.
#[test]
fn an_mi_client_sees_a_thread_group_per_process() {
    let root = TraceRoot::new();
    let (exe, printed) = record_two_processes(&root);
    let mut server = start_gdb_server(root.cmd(), &[], &root.trace("t"));
    let mut mi = Mi::start(&exe);
    mi.command("-gdb-set detach-on-fork off");
    mi.command("-gdb-set schedule-multiple on");
    let connected = mi.command(&format!(
        "-target-select extended-remote 127.0.0.1:{}",
        server.port
    ));
    assert!(connected.starts_with("^connected"), "{}", mi.transcript);
    mi.command("-break-insert marker");

    let hit = mi.run("-exec-continue");
    assert_eq!(field(&hit, "reason"), Some("breakpoint-hit"), "{hit}");
    let who = mi.command("-data-evaluate-expression who");
    assert_eq!(field(&who, "value"), Some("2"), "{}", mi.transcript);
    let groups = mi.command("-list-thread-groups");
    assert!(
        groups.contains(&format!("pid=\"{}\"", printed.parent_pid))
            && groups.contains(&format!("pid=\"{}\"", printed.child_pid)),
        "{groups}"
    );
    let length = mi.command("-data-evaluate-expression (int)strlen(label)");
    let label_length = printed.label.len().to_string();
    assert_eq!(
        field(&length, "value"),
        Some(label_length.as_str()),
        "{length}"
    );
    let pair = mi.command("-data-evaluate-expression make_pair(5,6)");
    assert_eq!(
        field(&pair, "value"),
        Some("{first = 5, second = 6}"),
        "{pair}"
    );

    let second = mi.run("-exec-continue");
    assert_eq!(field(&second, "reason"), Some("breakpoint-hit"), "{second}");
    let who = mi.command("-data-evaluate-expression who");
    assert_eq!(field(&who, "value"), Some("3"), "{}", mi.transcript);
    let back = mi.run("-exec-continue --reverse");
    assert_eq!(field(&back, "reason"), Some("breakpoint-hit"), "{back}");
    let who = mi.command("-data-evaluate-expression who");
    assert_eq!(field(&who, "value"), Some("2"), "{}", mi.transcript);
    let finished = mi.run("-exec-finish");
    assert_eq!(
        field(&finished, "return-value"),
        Some(printed.child_first.as_str()),
        "{finished}"
    );
    let threads = mi.command("-thread-info");
    assert!(
        threads.contains(&format!(
            "target-id=\"Thread {}.{}\"",
            printed.child_pid, printed.child_pid
        )),
        "{threads}"
    );

    let exited = mi.run("-exec-continue");
    let exited = if field(&exited, "reason") == Some("breakpoint-hit") {
        mi.run("-exec-continue")
    } else {
        exited
    };
    assert_eq!(field(&exited, "reason"), Some("exited"), "{exited}");
    assert_eq!(field(&exited, "exit-code"), Some("03"), "{exited}");

    mi.command("-target-detach");
    let _ = writeln!(mi.input, "-gdb-exit");
    let _ = mi.child.wait();
    let status = server.child.wait().expect("server ends after gdb detaches");
    assert!(status.success(), "{status:?}");
}
