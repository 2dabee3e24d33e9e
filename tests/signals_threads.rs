//! Threads and signals that must replay exactly: each program's output
//! depends on timing, so two native runs differ, and replay must print what
//! the recording printed, every time.

mod common;

use common::{
    assert_native_runs_differ, assert_replay_matches, assert_replays_match_recording, program,
    start_recording_ticker, TraceRoot,
};
use std::io::BufRead;

fn check_many(name: &str, argv: &[&str], rounds: usize) -> String {
    assert_native_runs_differ(argv);
    let root = TraceRoot::new();
    let mut last = String::new();
    for round in 0..rounds {
        let out = assert_replay_matches(&root, &format!("{name}-{round}"), argv);
        last = String::from_utf8_lossy(&out.stdout).into_owned();
    }
    last
}

#[test]
fn altstack_restart_eintr_sigqueue_signalfd_pthread_kill_timers_alarm() {
    let exe = program("signal_kinds");
    let out = check_many("signals", &[exe.to_str().expect("utf-8")], 3);
    for expected in [
        "altstack=1",
        "eintr=1",
        "alarms=2",
        "timer=1",
        "thread_hits=1",
    ] {
        assert!(out.contains(expected), "{expected} missing: {out}");
    }
}

#[test]
fn many_short_lived_threads_robust_mutex_detached_and_exit_group() {
    let exe = program("many_threads");
    let out = check_many("threads", &[exe.to_str().expect("utf-8")], 5);
    assert!(
        out.contains("threads=150") && out.contains("robust=EOWNERDEAD"),
        "{out}"
    );
}

/// exit_group kills threads whose syscall or preemption stops are still
/// waiting to be processed; the recorder must let them go, not fail.
#[test]
fn exit_group_while_other_threads_call_and_spin() {
    let exe = program("exit_while_busy");
    let out = check_many("exit-busy", &[exe.to_str().expect("utf-8")], 8);
    assert!(out.starts_with("calls="), "{out}");
}

/// A thread execs while the main thread and a third thread block: the
/// kernel kills both and hands the leader's tid to the exec'ing thread.
/// Replay does the same exec for real and follows the rename.
#[test]
fn exec_from_a_non_main_thread() {
    let exe = program("exec_from_thread");
    let out = check_many("exec", &[exe.to_str().expect("utf-8")], 5);
    assert!(out.contains("exec from a thread"), "{out}");
}

/// Kills the CPU hog when the test ends, however it ends.
struct Hog(std::process::Child);

impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A thread starts six threads and execs at once. With a busy loop pinned
/// to the same CPU, some of those threads often never run before the exec
/// kills them; replay must reap them too (it used to wait for the exec
/// forever). Rounds go on until several recordings had such a thread (one
/// in five to ten here); the cap only bounds a machine where it never
/// happens.
#[test]
fn exec_kills_threads_that_never_ran() {
    let exe = program("exec_beside_new_thread");
    let exe = exe.to_str().expect("utf-8");
    assert_native_runs_differ(&[exe]);
    let _hog = Hog(std::process::Command::new("taskset")
        .args(["-c", "0", "sh", "-c", "while :; do :; done"])
        .spawn()
        .expect("taskset (util-linux) runs a busy loop"));
    let root = TraceRoot::new();
    let mut unstarted_rounds = 0;
    let mut rounds = 0;
    while unstarted_rounds < 3 && rounds < 150 {
        let name = format!("exec-new-{rounds}");
        let argv = ["taskset", "-c", "0", exe];
        // The recorder on the busy CPU too: on the other one the threads
        // always got to run first here (the recorder's CPU otherwise
        // follows its pid, which made whole test runs miss the case).
        let recorded = root.record_via(&["taskset", "-c", "0"], &name, &[], &argv);
        let out = assert_replays_match_recording(&root, &name, &argv, recorded);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("exec beside new threads"),
            "{out:?}"
        );
        // Seven threads and the exec'd echo each register a robust list
        // first thing; fewer means a thread died before its first syscall.
        let dump = root.cmd().arg("dump").arg(root.trace(&name)).output();
        let dump = String::from_utf8_lossy(&dump.expect("replay dump").stdout).into_owned();
        let started: std::collections::BTreeSet<&str> = dump
            .lines()
            .filter(|l| l.contains("] set_robust_list("))
            .filter_map(|l| l.split(']').next())
            .collect();
        if started.len() < 8 {
            unstarted_rounds += 1;
        }
        rounds += 1;
    }
    assert!(
        unstarted_rounds > 0,
        "in {rounds} recordings every thread ran before the exec, so the case was not tested"
    );
}

#[test]
fn python_threads_appending_to_one_list() {
    let script = "import threading,time\nout=[]\ndef w(i):\n    for k in range(300):\n        out.append(i)\n        if k % 50 == 0: time.sleep(0.0005)\nts=[threading.Thread(target=w,args=(i,)) for i in range(4)]\n[t.start() for t in ts]\n[t.join() for t in ts]\nprint(len(out), hash(tuple(out)), time.time())";
    let out = check_many("python", &["python3", "-c", script], 3);
    assert!(out.starts_with("1200 "), "{out}");
}

#[test]
fn sort_parallel_and_xz_two_threads() {
    let script = "head -c 300000 /dev/urandom | od -An -tu4 | tr -s ' ' '\\n' | sort --parallel=2 -S 1M -n | md5sum; \
                  head -c 2000000 /dev/urandom | xz -T2 -1 | wc -c";
    let out = check_many("sortxz", &["bash", "-c", script], 2);
    assert_eq!(out.lines().count(), 2, "{out}");
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// An external `kill` reaches the tracee while it runs or sleeps; the ticker
/// has no handler, so SIGUSR1 kills it and SIGINT (what Ctrl-C sends to the
/// foreground group) too. The recording must stay valid and replay the same
/// death.
fn external_signal_kills_and_replays(signal: i32) {
    let root = TraceRoot::new();
    let (mut child, pid, mut reader) = start_recording_ticker(&root, 40);
    let mut line = String::new();
    for _ in 0..5 {
        line.clear();
        reader.read_line(&mut line).expect("tick");
    }
    // SAFETY: signalling the tracee, a descendant of this test.
    unsafe { kill(pid, signal) };
    let status = child.wait().expect("recorder ends");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(signal)
    );
    let replayed = root.replay("t");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&replayed.status),
        Some(signal)
    );
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        text.lines().count() >= 6,
        "replay printed the ticks before the signal: {text}"
    );
}

#[test]
fn external_kill_usr1_is_recorded_and_replayed() {
    external_signal_kills_and_replays(10);
}

#[test]
fn sigint_goes_to_the_tracee_and_the_trace_stays_valid() {
    external_signal_kills_and_replays(2);
}
