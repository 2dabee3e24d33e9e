//! Preemption without a PMU (issue: threads, async signals and preemption):
//! programs whose threads or signal handlers race with code that makes no
//! syscalls. Their output depends on exactly where a thread was preempted
//! or a signal landed, so two native runs differ; replay must reproduce the
//! recorded output every time. Each program is recorded many times, half of
//! them in `--chaos` mode, so that a flaky position shows up.

mod common;

use common::{
    assert_native_runs_differ, assert_replay_matches_with, output_within_limit, program, TraceRoot,
};

/// The `preemptions:` line of `replay info`: (all, for signals).
fn preemptions(root: &TraceRoot, name: &str) -> (u64, u64) {
    let line = root.info_field(name, "preemptions");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Records and replays `name` `rounds` times (odd rounds with `--chaos`,
/// even ones with a 300 µs time slice so that short threads are preempted
/// too), returning each recorded stdout and its preemption counts.
fn check_rounds(name: &str, rounds: usize) -> Vec<(String, (u64, u64))> {
    let exe = program(name);
    let argv = [exe.to_str().expect("utf-8 path")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    (0..rounds)
        .map(|round| {
            let trace = format!("{name}-{round}");
            let options: &[&str] = if round % 2 == 1 {
                &["--chaos"]
            } else {
                &["--timeslice-us", "300"]
            };
            let out = assert_replay_matches_with(&root, &trace, options, &argv);
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                preemptions(&root, &trace),
            )
        })
        .collect()
}

#[test]
fn racy_counter_replays_its_lost_updates() {
    let runs = check_rounds("racy_counter", 20);
    // A loaded machine can let a worker finish before the next one starts,
    // so not every recording needs a switch, but most must have one.
    let preempted = runs.iter().step_by(2).filter(|(_, (n, _))| *n > 0).count();
    assert!(
        preempted * 2 > runs.len() / 2,
        "most recordings with short slices switched threads in user code: {runs:?}"
    );
    // Preemption between the load and the store loses updates; chaos makes
    // that happen in some recordings, and replay reproduced each total.
    assert!(
        runs.iter()
            .any(|(out, _)| !out.starts_with("counter 12000000 ")),
        "no recording lost an update: {runs:?}"
    );
}

#[test]
fn a_loop_with_its_counter_only_in_memory_replays_its_samples() {
    let runs = check_rounds("memory_loop", 10);
    assert!(
        runs.iter().any(|(_, (n, _))| *n > 0),
        "the counting threads were preempted: {runs:?}"
    );
}

/// A loop whose registers start the same every round, inside a loop that
/// counts its rounds only in memory: a point inside the inner loop looks
/// the same in every round. The recorder lets such a loop run out before
/// it picks a point, so that the round counter's write is among the
/// words compared; before, replay stopped in the wrong round every time.
#[test]
fn a_register_loop_inside_a_memory_counted_loop_replays_its_rounds() {
    let runs = check_rounds("nested_memory_loop", 6);
    assert!(
        runs.iter().any(|(_, (n, _))| *n > 0),
        "the threads were preempted: {runs:?}"
    );
}

/// A thread runs a loop in 32-bit compatibility mode (code segment 0x23)
/// while a 1 ms timer interrupts it and another thread waits for the CPU.
/// The recorder picks no preemption point in 32-bit code (its walk and
/// replay's probe are 64-bit); replay planted a 64-bit probe there and
/// faulted before.
#[test]
fn a_thread_in_32_bit_code_is_preempted_only_back_in_64_bit_code() {
    check_rounds("compat_mode_loop", 2);
}

#[test]
fn spinning_worker_replays_its_exact_count() {
    let runs = check_rounds("atomic_spin", 20);
    assert!(
        runs.iter().all(|(_, (n, _))| *n > 0),
        "the spinning worker was preempted for the sleeping main thread: {runs:?}"
    );
    let counts: std::collections::HashSet<&String> = runs.iter().map(|(o, _)| o).collect();
    assert!(
        counts.len() > 1,
        "counts differ between recordings: {runs:?}"
    );
}

/// Loops that count only in xmm0, in the upper lanes of ymm0, or in an
/// x87 register: every pass has the same general registers, so the point
/// is named by the vector state. Before it was compared, replay took the
/// first pass (a wrong count); compared only by the tracer, every pass
/// trapped and replay took minutes.
#[test]
fn loops_that_count_in_vector_registers_stop_on_the_recorded_pass() {
    let runs = check_rounds("vector_register_spin", 4);
    assert!(
        runs.iter().all(|(_, (n, _))| *n > 0),
        "the spinning threads were preempted for the sleeping main thread: {runs:?}"
    );
}

#[test]
fn itimer_signals_land_inside_a_loop_without_syscalls() {
    let runs = check_rounds("itimer_compute", 10);
    for (out, (_, for_signals)) in &runs {
        assert_eq!(out.lines().count(), 20, "{out}");
        assert!(
            *for_signals > 0,
            "signals were delivered inside the loop: {out}"
        );
    }
}

#[test]
fn sigchld_ends_a_busy_wait() {
    let runs = check_rounds("sigchld_busywait", 10);
    for (out, (preempted, _)) in &runs {
        assert!(out.starts_with("child exited 7 after "), "{out}");
        // The loop makes no syscalls: only a preemption point lets the
        // child run, and SIGCHLD lands at one (for the signal, or the
        // point where the parent waited while the child exited).
        assert!(*preempted > 0, "the busy loop was preempted: {out}");
    }
}

#[test]
fn chaos_prints_its_seed_and_timeslice_is_validated() {
    let exe = program("racy_counter");
    let root = TraceRoot::new();
    let out = root.record_with(
        "chaos",
        &["--chaos", "--chaos-seed", "42"],
        &[exe.to_str().expect("utf-8")],
    );
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chaos mode, seed 42"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = root.record_with("bad", &["--timeslice-us", "0"], &["true"]);
    assert_eq!(bad.status.code(), Some(2), "clap rejects a zero slice");
}

/// A trace whose positions need something this replay cannot reproduce (a
/// PMU-based tick count) is refused in one line, before anything runs.
#[test]
fn unknown_tick_semantics_are_refused_clearly() {
    let root = TraceRoot::new();
    let rec = root.record("t", &["true"]);
    assert!(rec.status.success());
    let manifest = root.trace("t").join("manifest");
    let text = std::fs::read_to_string(&manifest).expect("read manifest");
    assert!(text.contains("anchors+state-match"), "{text}");
    std::fs::write(
        &manifest,
        text.replace("anchors+state-match", "intel-rcb-v9"),
    )
    .expect("write manifest");
    let out = root.replay("t");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("intel-rcb-v9") && err.contains("cannot reproduce"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("replay:")).count(),
        1,
        "{err}"
    );
}

/// RDRAND cannot be trapped, so a loop that spins on its value runs
/// differently on replay and never reaches the recorded preemption point:
/// replay must stop with one divergence report, not hang.
#[test]
fn an_unreachable_preemption_point_is_a_divergence_not_a_hang() {
    let exe = program("rdrand_spin");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    let rec = root.record("t", &argv);
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    assert!(
        preemptions(&root, "t").0 > 0,
        "the spinning worker was preempted"
    );
    let started = std::time::Instant::now();
    let out = root
        .cmd()
        .env("REPLAY_PREEMPT_TIMEOUT_S", "2")
        .arg("replay")
        .arg(root.trace("t"))
        .output()
        .expect("run replay");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("never reached its recorded preemption point"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// `--interactive -b preempt` stops where the recorder preempted a thread,
/// and the replayed thread is exactly there, also when the point's memory
/// words never match and replay has to go back for it.
#[test]
fn interactive_stops_at_preemption_points() {
    use std::io::Write;
    let exe = program("racy_counter");
    let root = TraceRoot::new();
    let rec = root.record_with(
        "t",
        &["--timeslice-us", "300"],
        &[exe.to_str().expect("utf-8")],
    );
    assert!(rec.status.success());
    assert!(preemptions(&root, "t").0 > 0);
    // The second time with the first point's words spoiled: the session
    // goes back for it (docs/decisions/0016) and still stops there.
    for spoil in ["0", "1"] {
        let mut child = root
            .cmd()
            .env("REPLAY_TEST_SPOIL_POINT", spoil)
            .args(["replay", "-i", "-b", "preempt"])
            .arg(root.trace("t"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start interactive replay");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"continue\nregs\nquit\n")
            .expect("write commands");
        let out = child.wait_with_output().expect("interactive replay ends");
        let text = String::from_utf8_lossy(&out.stdout);
        let rip = text
            .split("preempted at ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no preemption stop in:\n{text}"));
        let rip = u64::from_str_radix(rip.trim_start_matches("0x"), 16).expect("hex rip");
        assert!(
            text.contains(&format!("rip      {rip:#018x}")),
            "the thread is at the recorded point:\n{text}"
        );
    }
}

/// A word the program never initialised can hold other bytes in replay than
/// it did when recorded (the dynamic linker's `xsavec` leaves bytes that
/// depend on CPU state no tracer sees), so a point's memory words may never
/// match although its registers do. `REPLAY_TEST_SPOIL_POINT=1` makes
/// replay change one recorded word of the first point; replay must go back
/// and take the right pass anyway: the only near miss for the racy
/// counter, the closest of many for a loop that keeps its counter in memory
/// only (every pass has the same registers there).
#[test]
fn a_point_whose_memory_never_matches_is_gone_back_for() {
    for name in ["racy_counter", "memory_loop"] {
        let mut scored = false;
        let exe = program(name);
        let argv = [exe.to_str().expect("utf-8")];
        assert_native_runs_differ(&argv);
        let root = TraceRoot::new();
        // The first point is spoiled, and it may be the sampling main
        // thread's, where a register can tell the passes apart (one near
        // miss, taken at once): a third round gives a worker's point
        // another chance to be the first.
        let rounds = [["--chaos"], ["--timeslice-us=300"], ["--timeslice-us=300"]];
        for (round, options) in rounds.iter().enumerate() {
            let trace = format!("{name}-{round}");
            let rec = root.record_with(&trace, options, &argv);
            assert!(
                rec.status.success(),
                "{}",
                String::from_utf8_lossy(&rec.stderr)
            );
            if preemptions(&root, &trace).0 == 0 {
                continue;
            }
            let out = output_within_limit(
                root.cmd()
                    .env("REPLAY_TEST_SPOIL_POINT", "1")
                    .env("REPLAY_LOG", "replay_replayer=debug")
                    .arg("replay")
                    .arg(root.trace(&trace)),
            );
            let log = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&rec.stdout),
                "{name} {options:?}: {log}"
            );
            assert!(out.status.success(), "{log}");
            assert!(
                log.contains("took the near miss an earlier attempt chose"),
                "{name} {options:?}: the spoiled point was taken by going back: {log}"
            );
            scored |= log.contains("choice: Score");
            // The choice is kept in the trace: the next replay takes the
            // near miss at once, without starting again.
            let choices = root.trace(&trace).join("point-choices");
            let mode = std::fs::metadata(&choices)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
            assert_eq!(mode.ok(), Some(0o600), "{}", choices.display());
            let again = output_within_limit(
                root.cmd()
                    .env("REPLAY_TEST_SPOIL_POINT", "1")
                    .env("REPLAY_LOG", "replay_replayer=debug")
                    .arg("replay")
                    .arg(root.trace(&trace)),
            );
            let log = String::from_utf8_lossy(&again.stderr);
            assert_eq!(again.stdout, rec.stdout, "{log}");
            assert!(
                log.contains("took the near miss an earlier attempt chose")
                    && !log.contains("going back for a preemption point"),
                "{name} {options:?}: the saved choice was not taken at once: {log}"
            );
        }
        assert!(
            scored || name != "memory_loop",
            "the memory-only loop had several near misses, which were scored"
        );
    }
}
