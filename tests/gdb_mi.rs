//! gdb/MI, the protocol VS Code's cpptools, Emacs and CLion drive gdb with:
//! `gdb --interpreter=mi3` against a replay, forward and backward, with
//! breakpoints, a watchpoint, frames, variable objects, expressions and
//! threads.

mod common;

use common::mi::{field, Mi};
use common::{program, start_gdb_server, TraceRoot};
use std::io::Write;

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
