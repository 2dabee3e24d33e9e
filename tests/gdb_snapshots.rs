//! Reverse execution on recordings long enough that going back by replaying
//! from the start would not answer: a stretch of user code seconds long
//! between two events, with snapshots taken inside it. Every assertion is on
//! what the real gdb printed, against what the recorded program printed.

mod common;

use common::{gdb_batch, program, start_gdb_server, TraceRoot};

/// Calls of the 2,000-step loop in `long_compute`: about 0.8 s of user
/// code, almost all in one stretch between two events.
const CALLS: u64 = 300_000;

fn value_after(text: &str, tag: &str) -> String {
    text.split(tag)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {tag:?} in:\n{text}"))
        .to_string()
}

/// The number of snapshots `monitor snapshots` says were taken inside
/// stretches of user code.
fn inside_stretches(text: &str) -> u64 {
    text.split(" inside stretches of user code")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `monitor snapshots` answer in:\n{text}"))
}

fn serve_and_debug(
    root: &TraceRoot,
    exe: &std::path::Path,
    env: &[(&str, &str)],
    commands: &[&str],
) -> String {
    let mut replay = root.cmd();
    replay.envs(env.iter().copied());
    let mut server = start_gdb_server(replay, &[], &root.trace("t"));
    let text = gdb_batch(server.port, exe, commands);
    let status = server.child.wait().expect("server ends after gdb detaches");
    let log = server.log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        status.success(),
        "gdb server failed: {status:?}\n{log}\n{text}"
    );
    assert!(!text.contains("Remote connection closed"), "{text}");
    text
}

#[test]
fn reverse_execution_inside_a_long_stretch_of_user_code() {
    let root = TraceRoot::new();
    let exe = program("long_compute");
    let calls = CALLS.to_string();
    let out = root.record("t", &[exe.to_str().expect("utf-8"), &calls]);
    assert!(out.status.success(), "{}", common::show(&out));
    let recorded = String::from_utf8_lossy(&out.stdout);
    let acc = value_after(&recorded, "acc=");
    let text = serve_and_debug(
        &root,
        &exe,
        &[],
        &[
            "break marker",
            "continue",
            "print/u acc",
            "monitor checkpoint",
            // The call instruction is millions of instructions after the
            // last event: single-stepping from there never arrives.
            "reverse-stepi",
            "x/i $pc",
            "stepi",
            "x/i $pc",
            "delete",
            "watch checkpoint_counter",
            "reverse-continue",
            "print checkpoint_counter",
            "delete",
            "monitor snapshots",
            "break work",
            "reverse-continue",
            "print i",
            "reverse-finish",
            // From the call in the hot loop: every pass through it matches
            // the sentinel's address, and only the last its registers.
            "watch checkpoint_counter",
            "reverse-continue",
            "print checkpoint_counter",
            "delete",
            "monitor restart 1",
            "stepi",
            "print/u sink",
            "continue",
        ],
    );
    assert_eq!(
        value_after(&text, "$1 = "),
        acc,
        "the recorded value:\n{text}"
    );
    // checkpoint_counter is written every CALLS/10 + 1 calls; going back
    // from marker stops at the last write, before it is made.
    let every = CALLS / 10 + 1;
    let last_write = (CALLS - 1) / every * every;
    let instructions: Vec<&str> = text.lines().filter(|l| l.starts_with("=> ")).collect();
    assert_eq!(instructions.len(), 2, "{text}");
    assert!(
        instructions[0].contains("call") && instructions[0].contains("<marker>"),
        "reverse-stepi from marker's entry lands on the call: {text}"
    );
    assert!(
        instructions[1].contains("<marker>:"),
        "stepi goes forward onto marker again: {text}"
    );
    assert!(
        inside_stretches(&text) > 0,
        "snapshots were taken inside the stretch of user code: {text}"
    );
    assert_eq!(
        value_after(&text, "$3 = "),
        last_write.to_string(),
        "reverse-continue from the write reaches the call of work in its iteration: {text}"
    );
    assert!(
        text.split("reverse-finish")
            .nth(1)
            .unwrap_or(&text)
            .contains("in main"),
        "reverse-finish returns to the caller: {text}"
    );
    assert!(
        text.contains(&format!("Old value = {last_write}")),
        "the watchpoint fires at the last write: {text}"
    );
    assert_eq!(
        value_after(&text, "$2 = "),
        (last_write - every).to_string(),
        "{text}"
    );
    assert_eq!(
        value_after(&text, "$4 = "),
        (last_write - every).to_string(),
        "watch + reverse-continue from inside the loop: {text}"
    );
    assert_eq!(
        value_after(&text, "$5 = "),
        acc,
        "after restart and a step, marker has stored the recorded value: {text}"
    );
    assert!(
        text.contains("Program received signal SIGKILL"),
        "forward to the end: {text}"
    );
}

#[test]
fn snapshots_of_processes_sharing_memory_keep_their_own_copy() {
    let root = TraceRoot::new();
    let exe = program("shared_counter_fork");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", common::show(&out));
    let recorded: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("counter=").nth(1))
        .map(str::to_string)
        .collect();
    assert_eq!(recorded.len(), 4, "{}", common::show(&out));
    // Snapshots often enough that each of the child's stretches has some.
    let text = serve_and_debug(
        &root,
        &exe,
        &[("REPLAY_SNAPSHOT_INTERVAL_MS", "20")],
        &[
            "break observed",
            "continue",
            "continue",
            "continue",
            "continue",
            "print/u value",
            // Back over three of the child's stretches, then forward again
            // through copies of them: each must read its own page.
            "reverse-continue",
            "reverse-continue",
            "reverse-continue",
            "print/u value",
            "continue",
            "print/u value",
            "continue",
            "print/u value",
            "monitor snapshots",
        ],
    );
    assert_eq!(value_after(&text, "$1 = "), recorded[3], "{text}");
    assert_eq!(value_after(&text, "$2 = "), recorded[0], "{text}");
    assert_eq!(value_after(&text, "$3 = "), recorded[1], "{text}");
    assert_eq!(value_after(&text, "$4 = "), recorded[2], "{text}");
    assert!(inside_stretches(&text) > 0, "{text}");
}

#[test]
fn snapshots_copy_every_thread_of_a_process() {
    let root = TraceRoot::new();
    let exe = program("threads_compute");
    let out = root.record("t", &[exe.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", common::show(&out));
    let recorded = String::from_utf8_lossy(&out.stdout).into_owned();
    let total = value_after(&recorded, "total=");
    let chunk_value = |thread: &str, chunk: &str| {
        value_after(&recorded, &format!("thread={thread} chunk={chunk} value="))
    };
    let text = serve_and_debug(
        &root,
        &exe,
        &[("REPLAY_SNAPSHOT_INTERVAL_MS", "20")],
        &[
            "break all_done",
            "continue",
            "print/u total",
            "break chunk_done",
            "reverse-continue",
            "print thread",
            "print chunk",
            "print/u value",
            "reverse-continue",
            "print thread",
            "print chunk",
            "print/u value",
            "monitor snapshots",
            // Forward from copies of all three threads, through the joins
            // (the kernel clears each thread's tid at its exit).
            "delete 2",
            "continue",
            "print/u total",
        ],
    );
    assert_eq!(value_after(&text, "$1 = "), total, "{text}");
    for first in [2, 5] {
        let thread = value_after(&text, &format!("${first} = "));
        let chunk = value_after(&text, &format!("${} = ", first + 1));
        assert_eq!(
            value_after(&text, &format!("${} = ", first + 2)),
            chunk_value(&thread, &chunk),
            "thread {thread}'s chunk {chunk}: {text}"
        );
    }
    assert!(inside_stretches(&text) > 0, "{text}");
    assert_eq!(value_after(&text, "$8 = "), total, "{text}");
}
