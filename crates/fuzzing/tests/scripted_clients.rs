//! The scripted clients the `gdb_packets` and `interactive_commands` fuzz
//! targets drive really talk to a replay: for gdb a stop reply, registers,
//! memory, a continue to the end of the recording and a reverse continue
//! back to its start; for the prompt, stops, breakpoints and errors.

/// One replay at a time in this process: a finishing session reaps any
/// dead child (it is the subreaper of its processes' orphans), which would
/// take another session's child's report from it.
static ONE_REPLAY_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_REPLAY_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn answers(packets: &str) -> String {
    let bytes = fuzzing::gdb_packets::answers(packets.as_bytes()).expect("a session");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_scripted_session_gets_real_answers() {
    let _serial = one_at_a_time();
    let text = answers("qSupported:swbreak+;multiprocess+\n?\nHg0\ng\nqfThreadInfo\nc\nbc\nD");
    assert!(text.contains("ReverseContinue+"), "{text}");
    // The first stop, registers, the thread list.
    assert!(text.contains("$T05") || text.contains("$S05"), "{text}");
    // Registers (answering `g`, after `Hg0`'s OK) come hex and
    // run-length encoded: `*` and a count after a repeated digit.
    let bodies: Vec<&str> = text
        .split('$')
        .skip(1)
        .filter_map(|p| p.split('#').next())
        .collect();
    let registers = bodies[3];
    assert!(
        registers.len() > 50 && !registers.starts_with('E') && registers.contains('*'),
        "no register packet in {text}"
    );
    assert!(text.contains("$mp"), "{text}");
    // Continue runs to the end of the recording; reverse continue comes
    // back to its start (a replay-log stop).
    assert!(text.contains("X09") || text.contains("T09"), "{text}");
    assert!(text.contains("replaylog:begin"), "{text}");
}

#[test]
fn nonsense_gets_errors_not_a_dropped_session() {
    let _serial = one_at_a_time();
    let text = answers("mffffffffffffffff,10\nZ0,0,1\nqRcmd,7a7a7a\nM400000,4:00000000\n?");
    assert!(
        text.contains("$E"),
        "memory outside the process is an error: {text}"
    );
    // The session goes on after the errors: the last request is answered.
    assert!(
        text.trim_end().ends_with(|c: char| c.is_ascii_hexdigit()),
        "{text}"
    );
    assert!(text.matches('$').count() >= 5, "{text}");
}

/// The prompt the `interactive_commands` target drives, run from a script.
#[test]
fn a_scripted_prompt_steps_and_refuses_what_it_cannot_do() {
    let _serial = one_at_a_time();
    let text = fuzzing::interactive_commands::output(
        b"next\nwhere\nbreak syscall:write\ncontinue\nmem 0xffffffffffffffff 16\nfrobnicate\ngdb\ngoto 99999999\n",
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("replaying "), "{text}");
    assert_eq!(lines[1], lines[2], "where repeats the stop: {text}");
    assert!(
        lines[3].starts_with("breakpoint 1: syscall:write"),
        "{text}"
    );
    assert!(
        lines[4].contains("write("),
        "continue stops at the write: {text}"
    );
    assert!(
        lines[5].starts_with("error: cannot read 16 bytes"),
        "{text}"
    );
    assert!(lines[6].starts_with("error: unknown command"), "{text}");
    assert!(lines[7].contains("gdb is not available"), "{text}");
    assert!(
        lines[8].contains("reached the end of the recording"),
        "{text}"
    );
}
