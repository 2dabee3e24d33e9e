//! The recorder is invisible, and what it cannot record it says so. A
//! recorded program sees what it sees natively (its prctl settings, its
//! environment, its CPUs, its I/O counts, the kernel's own errors and
//! faults); what the recorder cannot capture is either absent, as on a
//! kernel built without it, or refused at record time with a message that
//! names it, never a divergence at replay. `scripts/test` runs this file
//! with the syscall buffer and again without it.

mod common;

use common::{check_program, TraceRoot};

/// Syscalls the kernel rejects (an unknown number, an unknown fcntl
/// command, an invalid futex operation, bad pointers) are recorded with
/// the kernel's error instead of stopping the recording.
#[test]
fn rejected_syscalls_get_the_kernels_error() {
    let out = check_program("rejected_syscalls", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("syscall(-1): Function not implemented"),
        "{text}"
    );
    assert!(text.contains("fcntl 9999: Invalid argument"), "{text}");
}

/// io_uring, Linux AIO, perf events and userfaultfd (the syscall and
/// /dev/userfaultfd's USERFAULTFD_IOC_NEW) act outside any
/// syscall, so the recorder answers ENOSYS, as a kernel built without them
/// does, and the program takes its fallback; the recording and its replay
/// agree, whatever the machine offers natively.
#[test]
fn features_that_act_outside_syscalls_are_absent() {
    let out = check_program("absent_features", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    for probe in [
        "io_uring_setup",
        "io_setup",
        "perf_event_open",
        "userfaultfd",
    ] {
        assert!(
            text.contains(&format!("{probe}: Function not implemented")),
            "{probe} was not answered ENOSYS:\n{text}"
        );
    }
    assert!(text.contains("fallback read"), "{text}");
    if !text.contains("USERFAULTFD_IOC_NEW: no device") {
        assert!(
            text.contains("USERFAULTFD_IOC_NEW: Function not implemented"),
            "/dev/userfaultfd's USERFAULTFD_IOC_NEW was not answered ENOSYS:\n{text}"
        );
    }
}

/// No parent-death signal the program did not set; SIGPIPE kills a writer
/// to a closed pipe (the recorder's own runtime ignores it); PR_GET_TSC
/// says what the program chose, and rdtsc faults when it asked for that.
#[test]
fn the_recorder_does_not_show_in_prctl() {
    check_program("transparency", &[]);
}

/// The syscall buffer's library is loaded through `LD_PRELOAD`, which the
/// program must not see: not in `environ`, not in /proc/self/environ, not
/// in the environment of the children it starts, whatever environment it
/// gives them; and a program's own `LD_PRELOAD` still works. The children
/// get the library back. Built dynamic and static (no loader: the
/// recorder takes the entry off the initial stack itself).
#[test]
fn the_recorder_does_not_show_in_the_environment() {
    let dynamic = common::program("environment_view");
    let fully_static =
        common::program_variant("environment_view", "static", &["-static", "-DSTATIC_BUILD"]);
    let buffered = std::env::var("REPLAY_TEST_SYSCALL_BUFFER").map_or(true, |v| v != "off");
    for (exe, loads_library) in [(dynamic, buffered), (fully_static, false)] {
        let argv = [exe.to_str().expect("utf-8 path")];
        let recorded = assert_recorded_view_is_native("env", &argv);
        let stderr = String::from_utf8_lossy(&recorded.stderr);
        for who in ["parent", "inheriting", "own-preload", "no-environment"] {
            let expected = format!(
                "{who} library mapped: {}",
                if loads_library { "yes" } else { "no" }
            );
            assert!(
                stderr.contains(&expected),
                "no \"{expected}\" in:\n{stderr}"
            );
        }
    }
}

/// Runs `argv` natively, in the environment `replay record` gives it, and
/// recorded; asserts that the replay matches the recording and that every
/// line the program printed but its `nonce` line is the native run's.
/// Returns the recorded run's output.
fn assert_recorded_view_is_native(name: &str, argv: &[&str]) -> std::process::Output {
    let root = TraceRoot::new();
    let native = common::output_within_limit(
        std::process::Command::new(argv[0])
            .args(&argv[1..])
            .env("REPLAY_TRACE_DIR", root.path())
            .env_remove("REPLAY_LOG")
            .env_remove("LD_LIBRARY_PATH"),
    );
    assert!(native.status.success(), "{}", common::show(&native));
    let recorded = common::assert_replay_matches(&root, name, argv);
    let views = |out: &std::process::Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with("nonce "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        views(&recorded),
        views(&native),
        "{argv:?} saw itself otherwise under the recorder"
    );
    assert_ne!(
        recorded.stdout, native.stdout,
        "the nonce did not differ: the run was not recorded"
    );
    recorded
}

/// The recorder runs the program on one CPU; the program, its threads and
/// children still see the CPUs they would natively, until it sets its own.
#[test]
fn the_recorder_does_not_show_in_the_cpu_affinity() {
    let exe = common::program("cpu_affinity");
    let recorded = assert_recorded_view_is_native("affinity", &[exe.to_str().expect("utf-8 path")]);
    let text = String::from_utf8_lossy(&recorded.stdout);
    assert!(
        text.contains("pinned by itself: 1 CPUs"),
        "the program's own affinity was not its own:\n{text}"
    );
}

/// The kernel's count of the process's own read and write syscalls
/// (`/proc/self/io`) is what the program's calls make: the syscall buffer
/// makes no second attempt the program would see, for procfs files, short
/// reads at a file's end, terminals, or fds opened the other way.
#[test]
fn the_recorder_does_not_show_in_the_io_counts() {
    let out = check_program("io_accounting", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("procfs pread 1, short pread 1"), "{text}");
}

/// A 32-bit syscall made with `int $0x80` from 64-bit code follows the
/// i386 table: the recorder keeps the calls that have an x86_64
/// equivalent as that call (a write is 4 there, a stat in x86_64), with
/// what they wrote, and replay leaves the thread's registers as the
/// kernel's i386 path did. One with no equivalent (mmap2) stops the
/// recording with a message naming it.
#[test]
fn a_32_bit_syscall_from_64_bit_code() {
    let out = check_program("int80_syscall", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("written by int $0x80"), "{text}");
    assert!(text.contains("read back: through the pipe"), "{text}");
    assert_refused_clearly("int80_syscall", &["unmodelled"], "32-bit syscall 192");
}

/// An exec of a 32-bit program stops the recording with a message that
/// says so (before, the recorder failed reading memory it expected at a
/// 64-bit address).
#[test]
fn an_exec_of_a_32_bit_program_is_refused_clearly() {
    assert_refused_clearly("exec_32_bit", &[], "32-bit program");
}

/// Secret memory (memfd_secret) is hidden from the recorder too: mapping
/// it stops the recording with a message that says so (it ended in an
/// I/O error on the file), and the trace up to there replays.
#[test]
fn secret_memory_is_refused_clearly() {
    let exe = common::program("secret_memory");
    let argv = [exe.to_str().expect("utf-8 path")];
    let native = common::run_native(&argv);
    if String::from_utf8_lossy(&native.stdout).contains("no memfd_secret") {
        let recorded = common::assert_replay_matches(&TraceRoot::new(), "t", &argv);
        assert!(recorded.status.success(), "{}", common::show(&recorded));
        return;
    }
    assert_refused_clearly("secret_memory", &[], "memfd_secret");
}

/// An exec with address-space randomization on (the program's own
/// `personality`, or capabilities gained without AT_SECURE) is refused
/// clearly at record time: the trace it made failed at replay, whose
/// stack could not be where the recorded one was.
#[test]
fn an_exec_laid_out_at_random_is_refused_clearly() {
    assert_refused_clearly("randomized_exec", &[], "randomization");
}

/// `tests/programs/<name>.c` passes natively, and its recording stops with
/// a message that names `what`; the trace up to there replays, saying the
/// recording stopped early, without a divergence.
fn assert_refused_clearly(name: &str, args: &[&str], what: &str) {
    let exe = common::program(name);
    let mut argv = vec![exe.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    let native = common::run_native(&argv);
    assert!(native.status.success(), "{}", common::show(&native));
    let root = TraceRoot::new();
    let recorded = root.record("t", &argv);
    let stderr = String::from_utf8_lossy(&recorded.stderr);
    assert_eq!(recorded.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("recording stopped early") && stderr.contains(what),
        "{stderr}"
    );
    let replayed = root.replay("t");
    let replay_err = String::from_utf8_lossy(&replayed.stderr);
    assert!(
        replay_err.contains("the recording stopped early") && !replay_err.contains("diverge"),
        "{replay_err}"
    );
}

/// A seccomp filter of the program's own that returns SECCOMP_RET_TRACE:
/// with no tracer of the program's own the call fails with ENOSYS and
/// writes nothing, in the process and in its child, though the recorder
/// traces it (before, the call ran).
#[test]
fn a_call_the_programs_own_filter_traces_fails_with_enosys() {
    let out = check_program("own_seccomp_trace", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("failed with ENOSYS").count(), 2, "{text}");
}

/// A vDSO clock function given a pointer into a read-only page faults in
/// user space (SIGSEGV at the pointer) natively; the recorder's patched
/// vDSO touches the pointer before its syscall so that it does too, where
/// the syscall alone answered EFAULT.
#[test]
fn a_vdso_clock_read_through_a_bad_pointer_faults_as_natively() {
    let out = check_program("vdso_bad_pointer", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("vDSO clock_gettime(MONOTONIC) into a read-only page: SIGSEGV"),
        "{text}"
    );
    assert!(
        text.contains("raw clock_gettime into a read-only page: EFAULT"),
        "{text}"
    );
}

/// Another task's state in /proc: the kernel shows every task the recorder
/// holds as "t (tracing stop)" with the recorder as its tracer. A child a
/// signal stopped shows T in its stat, its status and each thread's stat,
/// with no tracer, and S once continued, as natively (before, its parent
/// saw `t` and failed).
#[test]
fn another_tasks_state_reads_as_natively() {
    let out = check_program("other_task_state", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("showed S, T (stopped, no tracer), S"),
        "{text}"
    );
}

/// /proc/cpuinfo lists no feature the recorder hides from CPUID (RDRAND,
/// RDSEED and RDPID by default, where CPUID faults): a program that
/// trusts cpuinfo would execute them, and read values replay cannot give
/// back (before, cpuinfo listed rdrand while CPUID said none).
#[test]
fn cpuinfo_agrees_with_the_cpuid_the_program_sees() {
    check_program("cpuinfo_flags", &[]);
}

/// An error the kernel hands out once (a reset connection's ECONNRESET)
/// reaches the program even where the syscall buffer's non-blocking first
/// try took it: before, the buffer dropped it and asked again, and the
/// program read end-of-file.
#[test]
fn an_error_the_kernel_gives_once_reaches_the_program() {
    let out = check_program("consumed_errors", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("reset read -1 Connection reset by peer, then 0"),
        "{text}"
    );
}
