//! Soak (issue 8): record and replay the thread, signal and process test
//! programs many times and count mismatches. Ignored by default; run with
//! `scripts/soak [N]` or
//! `REPLAY_SOAK_N=100 cargo test --test hardening_soak -- --ignored --nocapture`.

mod common;

use common::{program, TraceRoot};

#[test]
#[ignore = "long: run through scripts/soak"]
fn soak_threads_signals_procs() {
    let n: usize = std::env::var("REPLAY_SOAK_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let programs: Vec<_> = ["threads", "signals", "procs"]
        .into_iter()
        .map(|p| (p, program(p)))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for round in 0..n {
        for (name, exe) in &programs {
            let root = TraceRoot::new();
            let rec = root.record("t", &[exe.to_str().unwrap()]);
            let rep = root.replay("t");
            let recorded_ok = !String::from_utf8_lossy(&rec.stderr).contains("replay:");
            if recorded_ok && rep.stdout == rec.stdout && rep.status.code() == rec.status.code() {
                passed += 1;
            } else {
                failed += 1;
                eprintln!(
                    "round {round} {name}: MISMATCH\n--- recorded ({:?}) ---\n{}{}\n--- replayed ({:?}) ---\n{}{}",
                    rec.status,
                    String::from_utf8_lossy(&rec.stdout),
                    String::from_utf8_lossy(&rec.stderr),
                    rep.status,
                    String::from_utf8_lossy(&rep.stdout),
                    String::from_utf8_lossy(&rep.stderr),
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert_eq!(failed, 0, "{passed} passed, {failed} failed");
}
