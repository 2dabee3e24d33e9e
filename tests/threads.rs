//! Threads taking a mutex in a time-dependent order replay in the recorded
//! order, every time.

mod common;

use common::{assert_native_runs_differ, assert_replay_matches, program, TraceRoot};

#[test]
fn mutex_order_of_four_threads_replays_exactly() {
    let exe = program("threads");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    for round in 0..20 {
        let out = assert_replay_matches(&root, &format!("threads-{round}"), &argv);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 20);
    }
}
