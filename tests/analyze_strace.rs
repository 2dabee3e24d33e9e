//! Conformance: `replay dump` prints what the system's `strace -f` prints
//! for the same deterministic program, once addresses, pids and column
//! padding are normalised.

mod common;

use common::{program, TraceRoot};
use std::collections::HashMap;
use std::process::Command;

fn normalize(line: &str, pid_words: &[String]) -> String {
    let mut l = line.trim().to_string();
    // strace -f -o prefixes "PID  "; dump prefixes "[pid N] " with >1 task.
    if let Some(rest) = l.strip_prefix("[pid") {
        l = rest.split_once(']').map(|x| x.1.to_string()).unwrap_or(l);
    } else if let Some((first, rest)) = l.split_once(' ') {
        if first.chars().all(|c| c.is_ascii_digit()) {
            l = rest.to_string();
        }
    }
    let mut out = String::new();
    let mut chars = l.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push_str("ADDR");
        } else if c == ' ' && out.ends_with(' ') {
        } else {
            out.push(c);
        }
    }
    for p in pid_words {
        out = out.replace(p.as_str(), "PID");
    }
    out
}

/// Syscalls with no argument the kernel reads from memory: comparable
/// even without input capture.
fn no_input_pointer(line: &str) -> bool {
    let name = line.split('(').next().unwrap_or("");
    let Some(nr) = analyze::syscall_model::number(name) else {
        return false;
    };
    use analyze::syscall_model::decode::{arg_kinds, ArgKind};
    let kinds = arg_kinds(nr);
    !kinds.is_empty()
        && !kinds
            .iter()
            .any(|k| matches!(k, ArgKind::Path | ArgKind::Str))
        && !matches!(
            name,
            "write" | "pwrite64" | "writev" | "sendto" | "connect" | "bind" | "execve"
        )
}

fn coverage(
    strace: &[String],
    dump: &[String],
    select: impl Fn(&str) -> bool,
) -> (usize, usize, Vec<String>) {
    let mut have: HashMap<&str, usize> = HashMap::new();
    for l in dump {
        *have.entry(l.as_str()).or_default() += 1;
    }
    let (mut hit, mut total, mut missing) = (0, 0, Vec::new());
    for l in strace.iter().filter(|l| select(l)) {
        total += 1;
        match have.get_mut(l.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                hit += 1;
            }
            _ => missing.push(l.clone()),
        }
    }
    (hit, total, missing)
}

/// Records `argv` and runs it under `strace -f`; both outputs, normalised.
fn strace_and_dump(root: &TraceRoot, name: &str, argv: &[&str]) -> (Vec<String>, Vec<String>) {
    let st_file = root.path().join(format!("{name}.strace"));
    let st = Command::new("strace")
        // The environment recordings get (common::TraceRoot::cmd).
        .env_remove("LD_LIBRARY_PATH")
        .args(["-f", "-o"])
        .arg(&st_file)
        .args(argv)
        .output()
        .expect("run strace");
    assert!(st.status.success());
    assert!(root.record(name, argv).status.success());
    let dump = root
        .cmd()
        .arg("dump")
        .arg(root.trace(name))
        .output()
        .unwrap();
    assert!(dump.status.success());
    let raw_strace = std::fs::read_to_string(&st_file).unwrap();
    let raw_dump = String::from_utf8_lossy(&dump.stdout).into_owned();
    // Pids appear as results (set_tid_address, getpid): take them from the
    // line prefixes and from set_tid_address's result.
    let mut pid_words: Vec<String> = Vec::new();
    for l in raw_strace.lines().chain(raw_dump.lines()) {
        if l.contains("set_tid_address(") {
            if let Some(r) = l.rsplit("= ").next() {
                pid_words.push(format!("= {}", r.trim()));
            }
        }
    }
    let strace = raw_strace
        .lines()
        // strace's exit line has no counterpart in the syscall view.
        .filter(|l| !l.contains("+++ exited with"))
        .map(|l| normalize(l, &pid_words))
        .collect();
    let dumped = raw_dump.lines().map(|l| normalize(l, &pid_words)).collect();
    (strace, dumped)
}

fn have_strace() -> bool {
    let found = Command::new("strace").arg("-V").output().is_ok();
    if !found {
        eprintln!("strace not installed; skipping");
    }
    found
}

#[test]
fn dump_matches_strace() {
    if !have_strace() {
        return;
    }
    let root = TraceRoot::new();
    let exe = program("analyze_files");
    let scratch = root.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let argv = [exe.to_str().unwrap(), scratch.to_str().unwrap()];
    let (strace, dumped) = strace_and_dump(&root, "conf", &argv);
    let (hit, total, missing) = coverage(&strace, &dumped, |_| true);
    let (hit_ni, total_ni, missing_ni) = coverage(&strace, &dumped, no_input_pointer);
    eprintln!("all lines: {hit}/{total}; without input pointers: {hit_ni}/{total_ni}");
    eprintln!("missing: {missing:#?}");
    assert!(total_ni > 10);
    assert!(
        hit_ni * 10 >= total_ni * 9,
        "without input pointers: {hit_ni}/{total_ni}, missing {missing_ni:#?}"
    );
    assert!(
        hit * 10 >= total * 9,
        "all lines: {hit}/{total}, missing {missing:#?}"
    );
}

/// Common programs, recorded the default way, read like strace: at least
/// 94% of strace's lines come out exactly (measured: 96% for cat and
/// ls -l, whose remaining lines are the recorder's rseq refusal, the
/// random bytes and tid that differ from run to run, and the first execve's
/// envp pointer, which only strace sees).
#[test]
fn common_programs_read_like_strace() {
    if !have_strace() {
        return;
    }
    let root = TraceRoot::new();
    let runs: [(&str, &[&str]); 2] = [
        ("cat", &["/bin/cat", "/etc/hostname", "/etc/os-release"]),
        ("ls", &["ls", "-l", "/etc/hostname", "/usr/share/doc/gcc"]),
    ];
    for (name, argv) in runs {
        let (strace, dumped) = strace_and_dump(&root, name, argv);
        let (hit, total, missing) = coverage(&strace, &dumped, |_| true);
        eprintln!("{name}: {hit}/{total}");
        assert!(total > 50, "{name}: strace printed only {total} lines");
        assert!(
            hit * 100 >= total * 94,
            "{name}: {hit}/{total} of strace's lines, missing {missing:#?}"
        );
    }
}

/// What the recorder does in the recorded process (the loader opening and
/// mapping its preload library, the library's control calls and buffer)
/// is not the program's: dump leaves it out unless asked, and then marks
/// it. Event numbers are the same either way.
#[test]
fn the_recorders_own_calls_are_hidden_unless_asked_for() {
    let root = TraceRoot::new();
    assert!(root
        .record("cat", &["/bin/cat", "/etc/hostname"])
        .status
        .success());
    let dump = |extra: &[&str]| {
        let out = root
            .cmd()
            .arg("dump")
            .args(extra)
            .arg(root.trace("cat"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let plain = dump(&[]);
    assert!(!plain.contains("replay_control"), "{plain}");
    assert!(!plain.contains("libreplay_preload"), "{plain}");
    assert!(!plain.contains("/* recorder */"), "{plain}");
    assert!(
        plain.contains("openat(AT_FDCWD, \"/etc/hostname\""),
        "{plain}"
    );
    let shown = dump(&["--show-recorder"]);
    let marked: Vec<&str> = shown
        .lines()
        .filter(|l| l.ends_with("/* recorder */"))
        .collect();
    let buffered = std::env::var("REPLAY_TEST_SYSCALL_BUFFER").map_or(true, |v| v != "off");
    if buffered {
        assert!(
            marked.iter().any(|l| l.starts_with("replay_control(")),
            "{shown}"
        );
        assert!(
            marked.iter().any(|l| l.contains("libreplay_preload.so")),
            "{shown}"
        );
    } else {
        assert!(marked.is_empty(), "{shown}");
    }
    // Everything else is the same, line for line.
    let unmarked: Vec<&str> = shown
        .lines()
        .filter(|l| !l.ends_with("/* recorder */"))
        .collect();
    assert_eq!(unmarked, plain.lines().collect::<Vec<_>>());
}

/// A program's own call that leaves through the preload library's traced
/// path (a call the buffer does not take, made at a site it patched) is
/// the program's, and shows.
#[test]
fn calls_through_a_patched_site_stay_the_programs() {
    let root = TraceRoot::new();
    let exe = program("syscall_wrapper");
    assert!(root
        .record("wrapper", &[exe.to_str().unwrap()])
        .status
        .success());
    let dump = root
        .cmd()
        .arg("dump")
        .arg(root.trace("wrapper"))
        .output()
        .unwrap();
    assert!(dump.status.success());
    let text = String::from_utf8_lossy(&dump.stdout);
    let yields = text
        .lines()
        .filter(|l| l.starts_with("sched_yield("))
        .count();
    assert_eq!(yields, 3, "{text}");
    let randoms = text.lines().filter(|l| l.starts_with("getrandom(")).count();
    assert!(randoms >= 3, "{text}");
}
