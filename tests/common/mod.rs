//! Helpers shared by the end-to-end tests: they drive the real `replay`
//! binary on real programs and compare replay with recording.
#![allow(dead_code)]

pub mod mi;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longer than any command of the suite takes on a loaded two-core machine;
/// a command still running then is hung, and the test says so instead of
/// stalling the whole run until CI gives up.
const HANG_LIMIT: Duration = Duration::from_secs(300);

/// `Command::output`, but a command that runs past [`HANG_LIMIT`] is killed
/// and the test fails naming it and showing what it printed so far.
pub fn output_within_limit(command: &mut Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for command") {
            break status;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "{command:?} hung: still running after {}s; its stderr:\n{}",
                HANG_LIMIT.as_secs(),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

pub fn replay_bin() -> &'static str {
    let bin = env!("CARGO_BIN_EXE_replay");
    let library = Path::new(bin).with_file_name("libreplay_preload.so");
    assert!(
        library.is_file(),
        "{} is missing: run `cargo build --workspace` (scripts/test does) so that recordings use the syscall buffer",
        library.display()
    );
    bin
}

/// A private trace root for one test, removed at the end.
pub struct TraceRoot {
    pub dir: tempfile::TempDir,
}

impl TraceRoot {
    pub fn new() -> TraceRoot {
        TraceRoot {
            dir: tempfile::Builder::new()
                .prefix("replay-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `replay` with this root as its trace directory.
    pub fn cmd(&self) -> Command {
        self.cmd_via(&[])
    }

    /// [`TraceRoot::cmd`] started by `launcher` (`["taskset", "-c", "0"]`).
    pub fn cmd_via(&self, launcher: &[&str]) -> Command {
        let mut c = match launcher.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(replay_bin());
                c
            }
            None => Command::new(replay_bin()),
        };
        c.env("REPLAY_TRACE_DIR", self.path());
        c.env_remove("REPLAY_LOG");
        // cargo test points LD_LIBRARY_PATH at the toolchain's and target's
        // directories; the recorded programs do not need them, and the
        // dynamic loader's search through every hardware-capability
        // subdirectory of each (more of them on an AVX-512 machine) would
        // add hundreds of traced syscalls to tests that count events.
        c.env_remove("LD_LIBRARY_PATH");
        c
    }

    pub fn trace(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn record(&self, name: &str, argv: &[&str]) -> Output {
        self.record_with(name, &[], argv)
    }

    /// `replay record` with extra options (`--chaos`, `--timeslice-us`…).
    /// With `REPLAY_TEST_SYSCALL_BUFFER=off` (scripts/test's second pass),
    /// recordings that do not choose leave the syscall buffer off.
    pub fn record_with(&self, name: &str, options: &[&str], argv: &[&str]) -> Output {
        self.record_via(&[], name, options, argv)
    }

    /// [`TraceRoot::record_with`], the recorder started by `launcher`.
    pub fn record_via(
        &self,
        launcher: &[&str],
        name: &str,
        options: &[&str],
        argv: &[&str],
    ) -> Output {
        let chosen = options.iter().any(|o| o.ends_with("syscall-buffer"));
        let buffer_off =
            !chosen && std::env::var("REPLAY_TEST_SYSCALL_BUFFER").is_ok_and(|v| v == "off");
        output_within_limit(
            self.cmd_via(launcher)
                .arg("record")
                .args(buffer_off.then_some("--no-syscall-buffer"))
                .args(options)
                .arg("-o")
                .arg(self.trace(name))
                .arg("--")
                .args(argv),
        )
    }

    /// The value of `key:` in `replay info` of trace `name`.
    pub fn info_field(&self, name: &str, key: &str) -> String {
        let out = self
            .cmd()
            .arg("info")
            .arg(self.trace(name))
            .output()
            .expect("run replay info");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
    }

    pub fn replay(&self, name: &str) -> Output {
        output_within_limit(self.cmd().arg("replay").arg(self.trace(name)))
    }
}

static COMPILE_LOCK: Mutex<()> = Mutex::new(());

/// Compiles `tests/programs/<name>.c` once per test binary run.
pub fn program(name: &str) -> PathBuf {
    program_variant(name, "", &[])
}

/// `tests/programs/<name>.c` compiled with `flags` too, as `<name>-<variant>`.
pub fn program_variant(name: &str, variant: &str, flags: &[&str]) -> PathBuf {
    let _guard = COMPILE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-programs");
    std::fs::create_dir_all(&out_dir).expect("create test-programs dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.c"));
    let exe = match variant {
        "" => out_dir.join(name),
        _ => out_dir.join(format!("{name}-{variant}")),
    };
    let fresh = match (exe.metadata(), src.metadata()) {
        (Ok(e), Ok(s)) => e.modified().ok() >= s.modified().ok(),
        _ => false,
    };
    if !fresh {
        // Compile to a unique name and rename, so concurrent test binaries
        // never run a half-written executable.
        let tmp = out_dir.join(format!("{name}{variant}.{}.tmp", std::process::id()));
        let status = Command::new("gcc")
            .args(flags)
            .args(["-O1", "-g", "-pthread", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("gcc must be installed to build the test programs");
        assert!(status.success(), "compiling {} failed", src.display());
        std::fs::rename(&tmp, &exe).expect("install test program");
    }
    exe
}

/// `argv` run directly, in the environment recordings get (see
/// [`TraceRoot::cmd`]).
pub fn run_native(argv: &[&str]) -> Output {
    output_within_limit(
        Command::new(argv[0])
            .args(&argv[1..])
            .env_remove("LD_LIBRARY_PATH"),
    )
}

pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts that native runs print different things, so the program really
/// exercises nondeterminism that recording must capture. Races need both
/// cores; when the machine is busy (other tests recording on both cores)
/// runs can agree by chance for a while, so up to twenty runs are compared,
/// further apart each time.
pub fn assert_native_runs_differ(argv: &[&str]) -> Output {
    const RUNS: u64 = 20;
    let first = run_native(argv);
    for attempt in 1..RUNS {
        std::thread::sleep(std::time::Duration::from_millis(10 * attempt));
        if run_native(argv).stdout != first.stdout {
            return first;
        }
    }
    panic!(
        "{RUNS} native runs of {argv:?} printed the same output, so the test would prove nothing:\n{}",
        show(&first)
    );
}

/// Records `argv`, replays it twice, and asserts that each replay prints
/// exactly the recorded stdout and ends with the recorded status.
/// Returns the recorded output.
pub fn assert_replay_matches(root: &TraceRoot, name: &str, argv: &[&str]) -> Output {
    assert_replay_matches_with(root, name, &[], argv)
}

/// [`assert_replay_matches`] with extra `replay record` options. Lines the
/// recorder prints about its options (`replay: chaos mode, seed N`) are fine.
pub fn assert_replay_matches_with(
    root: &TraceRoot,
    name: &str,
    options: &[&str],
    argv: &[&str],
) -> Output {
    let recorded = root.record_with(name, options, argv);
    assert_replays_match_recording(root, name, argv, recorded)
}

/// The checks of [`assert_replay_matches`] for a recording made elsewhere.
pub fn assert_replays_match_recording(
    root: &TraceRoot,
    name: &str,
    argv: &[&str],
    recorded: Output,
) -> Output {
    let problems = String::from_utf8_lossy(&recorded.stderr)
        .lines()
        .filter(|l| l.starts_with("replay:") && !l.starts_with("replay: chaos mode"))
        .count();
    assert!(
        problems == 0,
        "recording {argv:?} reported a problem:\n{}",
        show(&recorded)
    );
    for round in 0..2 {
        let replayed = root.replay(name);
        assert_eq!(
            String::from_utf8_lossy(&replayed.stdout),
            String::from_utf8_lossy(&recorded.stdout),
            "replay {round} of {argv:?} printed something else\nrecorded: {}\nreplayed: {}",
            show(&recorded),
            show(&replayed)
        );
        assert_eq!(
            replayed.status.code(),
            recorded.status.code(),
            "replay {round} of {argv:?} ended differently\nrecorded: {}\nreplayed: {}",
            show(&recorded),
            show(&replayed)
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&replayed.status),
            std::os::unix::process::ExitStatusExt::signal(&recorded.status),
            "replay {round} of {argv:?} died differently"
        );
    }
    recorded
}

/// The whole check for a nondeterministic program: native runs differ, and
/// replay reproduces the recording.
pub fn check_program(name: &str, args: &[&str]) -> Output {
    let exe = program(name);
    let exe = exe.to_str().expect("utf-8 path");
    let mut argv = vec![exe];
    argv.extend_from_slice(args);
    let native = assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    let recorded = assert_replay_matches(&root, name, &argv);
    // The program checks what it sees and fails loudly when the recorder
    // shows through; a failure that replay reproduces is still a failure.
    assert_eq!(
        recorded.status,
        native.status,
        "{argv:?} ended otherwise under the recorder than natively:\n{}",
        show(&recorded)
    );
    recorded
}

/// Starts recording the `ticker` program (`ticks` lines, 20 ms apart) into
/// trace "t" and returns the recorder, the tracee's pid (its first line),
/// and a reader over the rest of its output.
pub fn start_recording_ticker(
    root: &TraceRoot,
    ticks: u32,
) -> (
    std::process::Child,
    i32,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let exe = program("ticker");
    let mut child = root
        .cmd()
        .args(["record", "-o"])
        .arg(root.trace("t"))
        .arg("--")
        .arg(&exe)
        .arg(ticks.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start recorder");
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("pid line");
    let pid = first
        .trim()
        .strip_prefix("pid ")
        .and_then(|p| p.parse().ok())
        .expect("ticker prints its pid first");
    (child, pid, reader)
}

/// The port in a "listening on 127.0.0.1:PORT" line.
pub fn port_in(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// A `replay replay --gdb 127.0.0.1:0` server, with the port it printed and
/// everything it writes to stderr (drained on a thread so that it never
/// blocks, kept for failure messages).
pub struct GdbServer {
    pub child: std::process::Child,
    pub port: u16,
    pub log: std::sync::Arc<Mutex<String>>,
}

/// Starts `replay` (from [`TraceRoot::cmd`], environment set by the
/// caller) as `replay replay --gdb 127.0.0.1:0 OPTIONS TRACE`.
pub fn start_gdb_server(replay: Command, options: &[&str], trace: &Path) -> GdbServer {
    start_gdb_server_with_stdout(replay, options, trace, Stdio::null())
}

/// [`start_gdb_server`], with the replayed processes' stdout (where code
/// gdb runs in them writes; the replay itself prints nothing under gdb)
/// going to `stdout`.
pub fn start_gdb_server_with_stdout(
    mut replay: Command,
    options: &[&str],
    trace: &Path,
    stdout: Stdio,
) -> GdbServer {
    use std::io::BufRead;
    let mut child = replay
        .args(["replay", "--gdb", "127.0.0.1:0"])
        .args(options)
        .arg(trace)
        .stderr(Stdio::piped())
        .stdout(stdout)
        .spawn()
        .expect("start gdb server");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    lines
        .read_line(&mut line)
        .expect("server prints where it listens");
    let port = port_in(&line);
    let log = std::sync::Arc::new(Mutex::new(line));
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut rest = String::new();
        while lines.read_line(&mut rest).map(|n| n > 0).unwrap_or(false) {}
        if let Ok(mut l) = sink.lock() {
            l.push_str(&rest);
        }
    });
    GdbServer { child, port, log }
}

/// Runs gdb in batch mode against the server on `port`, with `commands`,
/// and returns all it printed.
pub fn gdb_batch(port: u16, exe: &Path, commands: &[&str]) -> String {
    let mut cmd = Command::new("gdb");
    cmd.args(["-q", "-batch", "-nx"]);
    cmd.arg("-ex")
        .arg(format!("target extended-remote 127.0.0.1:{port}"));
    for c in commands {
        cmd.arg("-ex").arg(c);
    }
    cmd.arg(exe);
    let out = cmd.output().expect("gdb must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
