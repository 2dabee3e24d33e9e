//! The in-process syscall buffer (issue: record at near-native speed):
//! recordings made with it (`--syscall-buffer`) and without it both replay
//! exactly, and the buffer really takes calls off the ptrace path.

mod common;

use common::{
    assert_native_runs_differ, assert_replay_matches_with, output_within_limit, program, TraceRoot,
};

/// The `events:` line of `replay info`.
fn events(root: &TraceRoot, name: &str) -> u64 {
    let value = root.info_field(name, "events");
    value
        .parse()
        .unwrap_or_else(|_| panic!("events is not a number: {value}"))
}

#[test]
fn buffered_calls_with_signals_and_a_blocking_pipe_replay_with_and_without_the_buffer() {
    let exe = program("buffered_mix");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    for round in 0..2 {
        let on = format!("on-{round}");
        let off = format!("off-{round}");
        let buffered = assert_replay_matches_with(&root, &on, &["--syscall-buffer"], &argv);
        let traced = assert_replay_matches_with(&root, &off, &["--no-syscall-buffer"], &argv);
        let out = String::from_utf8_lossy(&buffered.stdout);
        assert!(
            out.contains("piped=500") && out.contains("alarms=1"),
            "{out}"
        );
        assert!(String::from_utf8_lossy(&traced.stdout).contains("piped=500"));
        // 50000 iterations of clock_gettime + getppid: through ptrace each
        // is two events; buffered, a few hundred events remain.
        let (with, without) = (events(&root, &on), events(&root, &off));
        assert!(
            with * 10 < without,
            "buffering removed most events: {with} with the buffer, {without} without"
        );
    }
}

#[test]
fn real_programs_replay_with_the_buffer() {
    let root = TraceRoot::new();
    for (name, argv) in [
        (
            "python",
            vec![
                "python3",
                "-c",
                "import random,time,os; print(random.random(), time.time(), os.getpid())",
            ],
        ),
        (
            "sort",
            vec!["sh", "-c", "date +%N; sort -r /etc/passwd | head -3"],
        ),
        // glibc sends nscd a sockaddr with uninitialised padding: the stack
        // below the program's must hold the same bytes in replay, which it
        // did not while the hook ran there.
        ("ls-proc", vec!["ls", "-l", "/proc/self/"]),
    ] {
        let out = assert_replay_matches_with(&root, name, &["--syscall-buffer"], &argv);
        assert!(events(&root, name) > 0, "{name} was recorded");
        assert!(!out.stdout.is_empty(), "{name} printed something");
    }
}

/// A periodic itimer during a loop of syscalls, alone and with a second
/// thread blocked in a pipe read, with the buffer on and off. Each of these
/// diverged before: a signal taken just after a syscall returned, a read
/// the kernel restarted after a signal went to the other thread, and a
/// handler that ran while its thread mapped its buffer.
#[test]
fn periodic_itimer_with_a_blocked_thread_replays_with_and_without_the_buffer() {
    let exe = program("itimer_syscalls");
    let exe = exe.to_str().expect("utf-8");
    assert_native_runs_differ(&[exe]);
    let root = TraceRoot::new();
    for round in 0..3 {
        for (what, threaded) in [("alone", "no"), ("reader", "thread")] {
            // Through ptrace, each iteration costs two stops.
            for (buffer, iterations) in [
                ("--syscall-buffer", "30000"),
                ("--no-syscall-buffer", "6000"),
            ] {
                let name = format!("{what}{buffer}-{round}");
                let argv = [exe, threaded, iterations];
                let out = assert_replay_matches_with(&root, &name, &[buffer], &argv);
                let out = String::from_utf8_lossy(&out.stdout);
                let piped = if threaded == "thread" {
                    "piped=100"
                } else {
                    "piped=0"
                };
                assert!(out.contains("ticks>0=1") && out.contains(piped), "{out}");
            }
        }
    }
}

/// poll, epoll_wait and recv that find data ready are buffered (the ones
/// that must wait go through ptrace); the stream and how often data was
/// ready replay exactly, with the buffer on and off.
#[test]
fn poll_epoll_and_recv_on_a_socket_replay_with_and_without_the_buffer() {
    let exe = program("buffered_net");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    for round in 0..3 {
        for buffer in ["--syscall-buffer", "--no-syscall-buffer"] {
            let name = format!("net{buffer}-{round}");
            let out = assert_replay_matches_with(&root, &name, &[buffer], &argv);
            let out = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.starts_with("total=") && out.contains(" ready="),
                "{out}"
            );
        }
        let (with, without) = (
            events(&root, &format!("net--syscall-buffer-{round}")),
            events(&root, &format!("net--no-syscall-buffer-{round}")),
        );
        assert!(
            with < without,
            "ready polls and recvs were buffered: {with} events with the buffer, {without} without"
        );
    }
}

/// `ls -l` asks every file for its ACL and security label (getxattr,
/// lgetxattr) and nearly every call fails: failing calls are buffered too,
/// and their sites are patched although the calls that reach the tracer
/// fail. With the buffer most of the recording's events are gone.
#[test]
fn ls_long_listing_buffers_its_failing_xattr_calls() {
    let root = TraceRoot::new();
    let argv = ["ls", "-lR", "/usr/include/linux"];
    let with = assert_replay_matches_with(&root, "on", &["--syscall-buffer"], &argv);
    let without = assert_replay_matches_with(&root, "off", &["--no-syscall-buffer"], &argv);
    assert_eq!(with.stdout, without.stdout);
    let (on, off) = (events(&root, "on"), events(&root, "off"));
    assert!(
        on * 5 < off,
        "{on} events with the buffer, {off} without: the xattr calls were not buffered"
    );
}

/// Writes to the recorder's own stdout and stderr are buffered like any
/// other (the library marks each record with its stream) and replay prints
/// them from the records: same bytes, same streams, same order, whatever
/// descriptor the program wrote through.
#[test]
fn writes_to_the_terminal_streams_are_buffered_and_printed_again() {
    let exe = program("buffered_output");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    let recorded = root.record_with("on", &["--syscall-buffer"], &argv);
    assert!(recorded.status.success(), "{recorded:?}");
    let without = root.record_with("off", &["--no-syscall-buffer"], &argv);
    assert!(without.status.success(), "{without:?}");
    let program_lines = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter(|l| !l.starts_with("replay:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let stdout = String::from_utf8_lossy(&recorded.stdout).into_owned();
    assert_eq!(stdout.lines().count(), 320, "{stdout}");
    assert_eq!(program_lines(&recorded.stderr).len(), 43);
    for round in 0..2 {
        let replayed = root.replay("on");
        assert!(replayed.status.success(), "{replayed:?}");
        assert_eq!(
            String::from_utf8_lossy(&replayed.stdout),
            stdout,
            "replay {round} printed other stdout"
        );
        assert_eq!(
            program_lines(&replayed.stderr),
            program_lines(&recorded.stderr),
            "replay {round} printed other stderr"
        );
    }
    // 363 writes through ptrace are two events each; buffered, a handful
    // of events remain around the first call at each site.
    let (on, off) = (events(&root, "on"), events(&root, "off"));
    assert!(
        on * 5 < off,
        "{on} events with the buffer, {off} without: the writes were not buffered"
    );
}

/// The buffer remembers what each fd is (a pipe, a file, the recorder's
/// stdout) instead of asking before every write; after fd 1 is closed and
/// reopened on a file, duplicated back, pointed at a pipe, or pointed
/// elsewhere by a vfork child sharing the memory, replay must still print
/// exactly the lines that reached stdout, and the file must get the rest.
#[test]
fn writes_through_a_reused_fd_number_go_where_the_fd_points_now() {
    let exe = program("fd_reuse");
    let root = TraceRoot::new();
    let file = root.path().join("fd-reuse-output");
    let argv = [exe.to_str().expect("utf-8"), file.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let recorded = assert_replay_matches_with(&root, "on", &["--syscall-buffer"], &argv);
    let labels = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| l.rsplit_once(' ').map_or(l, |(label, _)| label).to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        labels(&recorded.stdout),
        [
            "stdout first",
            "stdout after the file",
            "stdout once more",
            "stdout after the pipe",
            "stdout after the child",
            "pipe held the child's line",
        ],
        "{recorded:?}"
    );
    let written = std::fs::read(&file).expect("the program's file");
    assert_eq!(
        labels(&written),
        ["file", "file again", "file after a buffered close"]
    );
}

/// The library is loaded into every recorded process, so what it loads in
/// turn is paid for by each of them in traced syscalls: a program that
/// needs no unwinder must not get libgcc_s from it.
#[test]
fn the_preload_library_brings_no_other_library_into_the_process() {
    let root = TraceRoot::new();
    let recorded = root.record_with("true", &["--syscall-buffer"], &["true"]);
    assert!(recorded.status.success(), "{recorded:?}");
    let dump = output_within_limit(
        root.cmd()
            .args(["dump", "--show-recorder", "-e", "trace=openat"])
            .arg(root.trace("true")),
    );
    assert!(dump.status.success(), "{dump:?}");
    let opened = String::from_utf8_lossy(&dump.stdout);
    assert!(
        opened.contains("libreplay_preload.so") && opened.contains("libc.so.6"),
        "the library and libc are opened: {opened}"
    );
    let others: Vec<&str> = opened
        .lines()
        .filter(|l| {
            l.contains(".so")
                && !l.contains("libreplay_preload.so")
                && !l.contains("libc.so.6")
                && !l.contains("ld.so.cache")
        })
        .collect();
    assert!(others.is_empty(), "/bin/true needs only libc: {others:?}");
}

/// Copies the trace at `from` to `to` event by event, letting `alter`
/// change each event's payloads.
fn rewrite_trace(from: &std::path::Path, to: &std::path::Path, alter: impl Fn(&mut Vec<Vec<u8>>)) {
    let reader = trace::TraceReader::open(from).expect("open the recorded trace");
    let manifest = reader.manifest().clone();
    let mut writer = trace::TraceWriter::create(to, manifest.header.clone()).expect("create");
    let files = from.join(trace::FILES_DIR);
    std::fs::create_dir_all(to.join(trace::FILES_DIR)).expect("files dir");
    for entry in std::fs::read_dir(&files).expect("read files") {
        let entry = entry.expect("file entry");
        std::fs::copy(
            entry.path(),
            to.join(trace::FILES_DIR).join(entry.file_name()),
        )
        .expect("copy a stored file");
    }
    for recorded in reader.events().expect("events") {
        let mut recorded = recorded.expect("event");
        alter(&mut recorded.payloads);
        writer
            .push_event(recorded.event, recorded.payloads)
            .expect("write event");
    }
    writer
        .finish(manifest.outcome.expect("a finished recording"))
        .expect("finish");
}

/// Replay compares what a buffered write sends with the bytes the record
/// holds. A replay that computed other output without making another
/// syscall (here the trace says the program wrote other bytes) must stop
/// with a divergence, not print the recorded output as if all were well.
#[test]
fn a_buffered_write_of_other_bytes_is_a_divergence() {
    let exe = program("buffered_output");
    let root = TraceRoot::new();
    let out = root.record_with("t", &["--syscall-buffer"], &[exe.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let altered = root.path().join("altered");
    let changed = std::cell::Cell::new(false);
    rewrite_trace(&root.trace("t"), &altered, |payloads| {
        for payload in payloads.iter_mut() {
            let line = b"out 7 ";
            if let Some(at) = payload.windows(line.len()).position(|w| w == line) {
                payload[at] = b'O';
                changed.set(true);
            }
        }
    });
    assert!(changed.get(), "the recorded write of line 7 was found");
    let replayed = output_within_limit(root.cmd().args(["replay"]).arg(&altered));
    let stderr = String::from_utf8_lossy(&replayed.stderr);
    assert!(!replayed.status.success(), "{stderr}");
    assert!(
        stderr.contains("passed other bytes to a buffered write"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Out 7 "),
        "the recorded bytes are shown: {stderr}"
    );
}

/// `rdtsc` and `rdtscp` in a timing loop, from two threads and a forked
/// child: the recorder answers the first read at a site and patches it to
/// read through the buffer, so that a recording with the buffer has a
/// small fraction of the events of one without (each read a trap there).
/// The program then asks for rdtsc to fault and gets SIGSEGV at sites it
/// read from before. Both recordings replay exactly.
#[test]
fn tsc_reads_go_through_the_buffer_at_patched_sites() {
    let exe = program("tsc_reads");
    let argv = [exe.to_str().expect("utf-8")];
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    let buffered = assert_replay_matches_with(&root, "on", &["--syscall-buffer"], &argv);
    let trapped = assert_replay_matches_with(&root, "off", &["--no-syscall-buffer"], &argv);
    for out in [&buffered, &trapped] {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(", 2 faults"),
            "{text}"
        );
    }
    // 100,000 reads: each an event when trapped.
    let (with, without) = (events(&root, "on"), events(&root, "off"));
    assert!(
        without > 100_000 && with * 20 < without,
        "{with} events with the buffer, {without} without"
    );
}
