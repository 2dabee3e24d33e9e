//! Conformance: `replay dump` prints what the system's `strace -f` prints
//! for the same deterministic program, once addresses, pids and column
//! padding are normalised.

mod common;

use common::{program, TraceRoot};
use std::collections::HashMap;
use std::path::Path;
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
        out = replace_number(&out, p, "PID");
    }
    out
}

/// `line` with every whole-number occurrence of `number` replaced.
fn replace_number(line: &str, number: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(number) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + number.len()..].chars().next();
        let whole = !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { number });
        rest = &rest[at + number.len()..];
    }
    out.push_str(rest);
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

/// Joins each `<unfinished ...>` line with its `<... NAME resumed>` line
/// of the same task: which calls another thread's interleave is a matter
/// of timing, different in each run, in strace's output and in dump's.
fn join_resumed(lines: &[&str]) -> Vec<String> {
    let task_of = |line: &str| -> (String, String) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("[pid") {
            if let Some((pid, body)) = rest.split_once(']') {
                return (pid.trim().to_string(), body.trim().to_string());
            }
        }
        match line.split_once(' ') {
            Some((pid, body)) if pid.chars().all(|c| c.is_ascii_digit()) => {
                (pid.to_string(), body.trim().to_string())
            }
            _ => (String::new(), line.to_string()),
        }
    };
    let mut out: Vec<Option<String>> = Vec::new();
    let mut open: HashMap<String, (usize, String)> = HashMap::new();
    for line in lines {
        let (task, body) = task_of(line);
        if let Some(head) = body.strip_suffix("<unfinished ...>") {
            open.insert(task, (out.len(), head.trim_end().to_string()));
            out.push(None);
            continue;
        }
        let resumed = body
            .strip_prefix("<... ")
            .and_then(|rest| rest.split_once(" resumed>"))
            .map(|(_, tail)| tail.trim_start().to_string());
        // A line written while the program had one task carries no pid
        // (in strace's output as in dump's): its resumption, written after
        // a second task appeared, does.
        let opened = [task.clone(), String::new()]
            .into_iter()
            .find(|t| open.contains_key(t));
        if let (Some(tail), Some(opened)) = (&resumed, opened) {
            let (at, head) = open.remove(&opened).expect("found above");
            let separator = if head.ends_with('(') || tail.starts_with([')', ',']) {
                ""
            } else {
                " "
            };
            out[at] = Some(format!("{task} {head}{separator}{tail}"));
            continue;
        }
        out.push(Some(line.to_string()));
    }
    out.into_iter().flatten().collect()
}

/// Records `argv` and runs it under `strace -f`; both outputs, normalised.
/// `made` are files the program creates: each run starts without them, so
/// that the second run does not find what the first one left.
fn strace_and_dump(
    root: &TraceRoot,
    name: &str,
    argv: &[&str],
    made: &[&Path],
) -> (Vec<String>, Vec<String>) {
    let remove_made = || {
        for file in made {
            let _ = std::fs::remove_file(file);
        }
    };
    remove_made();
    let st_file = root.path().join(format!("{name}.strace"));
    let st = Command::new("strace")
        // The environment recordings get (common::TraceRoot::cmd).
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("REPLAY_LOG")
        .env("REPLAY_TRACE_DIR", root.path())
        .args(["-f", "-o"])
        .arg(&st_file)
        .args(argv)
        .output()
        .expect("run strace");
    assert!(st.status.success());
    remove_made();
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
    // Pids differ between the two runs: every task's (line prefixes, the
    // results of set_tid_address and of the calls that make tasks) reads
    // PID in both.
    let mut pid_words: Vec<String> = Vec::new();
    for l in raw_strace.lines().chain(raw_dump.lines()) {
        let l = l.trim();
        let prefix = l
            .strip_prefix("[pid")
            .and_then(|rest| rest.split_once(']'))
            .map(|(pid, _)| pid.trim())
            .or_else(|| l.split_once(' ').map(|(first, _)| first));
        if let Some(pid) = prefix.filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            pid_words.push(pid.to_string());
        }
        let makes_task = ["set_tid_address(", "clone(", "clone3(", "fork(", "vfork("]
            .iter()
            .any(|call| l.contains(call));
        if makes_task {
            if let Some(r) = l.rsplit("= ").next().map(str::trim) {
                if !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()) {
                    pid_words.push(r.to_string());
                }
            }
        }
    }
    pid_words.sort();
    pid_words.dedup();
    let strace = join_resumed(&raw_strace.lines().collect::<Vec<_>>())
        .iter()
        // strace's exit line has no counterpart in the syscall view.
        .filter(|l| !l.contains("+++ exited with"))
        .map(|l| normalize(l, &pid_words))
        .collect();
    let dumped = join_resumed(&raw_dump.lines().collect::<Vec<_>>())
        .iter()
        .map(|l| normalize(l, &pid_words))
        .collect();
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
    let (strace, dumped) = strace_and_dump(&root, "conf", &argv, &[]);
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

/// Common programs, recorded the default way, read like strace. Measured
/// here (session 21, with rseq emulated): cat 99.2%, ls -l 98.4%,
/// python3 -c 99.7%, git status 99.2%, gcc -c 95.8%, a small threaded
/// program 97.2%. The lines left differ from run to run: random bytes,
/// temporary names (gcc's `/tmp/cc*.s`, in a dozen lines), uptime and free
/// memory, a child's CPU ticks and the parent's pid. The floors leave a
/// little room for a loaded machine; the small programs' fixed lines weigh
/// more.
#[test]
fn common_programs_read_like_strace() {
    if !have_strace() {
        return;
    }
    let root = TraceRoot::new();
    let repo = root.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let repo_text = repo.to_str().unwrap().to_string();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-C", &repo_text])
            .args(args)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q"]);
    // Files an hour old: one as new as the index is "racily clean", and
    // each status would read it again and rewrite the index, so that the
    // first run (strace's) would do more than the second.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let write_old = |name: &str, text: &str| {
        let path = repo.join(name);
        std::fs::write(&path, text).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(an_hour_ago).unwrap();
    };
    for i in 0..40 {
        write_old(&format!("file{i}.txt"), &format!("{i}\n"));
    }
    git(&["add", "."]);
    write_old("file3.txt", "changed\n");
    git(&["status", "--short"]);
    let source = root.path().join("unit.c");
    std::fs::write(&source, "int twice(int x) { return 2 * x; }\n").unwrap();
    let object = root.path().join("unit.o");
    let threaded = program("analyze_mt");
    // The interpreter itself: a version manager's shim (a shell script)
    // in front of it forks and waits as its SIGCHLDs arrive, a different
    // number of times in each run.
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("run python3");
    let python = String::from_utf8(python.stdout).unwrap().trim().to_string();
    let runs: Vec<(&str, Vec<&str>, usize)> = vec![
        (
            "cat",
            vec!["/bin/cat", "/etc/hostname", "/etc/os-release"],
            96,
        ),
        (
            "ls",
            vec!["ls", "-l", "/etc/hostname", "/usr/share/doc/gcc"],
            96,
        ),
        ("python", vec![&python, "-c", "print(sum(range(10)))"], 96),
        (
            "git",
            vec!["git", "-C", &repo_text, "status", "--short"],
            96,
        ),
        ("threads", vec![threaded.to_str().unwrap()], 92),
        (
            "gcc",
            vec![
                "gcc",
                "-c",
                "-o",
                object.to_str().unwrap(),
                source.to_str().unwrap(),
            ],
            92,
        ),
    ];
    for (name, argv, floor) in runs {
        let made: &[&Path] = if name == "gcc" { &[&object] } else { &[] };
        let (strace, dumped) = strace_and_dump(&root, name, &argv, made);
        let (hit, total, missing) = coverage(&strace, &dumped, |_| true);
        eprintln!("{name}: {hit}/{total}");
        // The exec that starts the recording is the recorder's, with no
        // entry stop: its path is the one asked for, not the file it
        // resolved to, and its envp an address.
        assert!(
            strace.first().is_some_and(|exec| dumped.contains(exec)),
            "{name}: strace's first line {:?} is not in the dump; it begins {:?}",
            strace.first(),
            dumped.first()
        );
        assert!(total > 20, "{name}: strace printed only {total} lines");
        assert!(
            hit * 100 >= total * floor,
            "{name}: {hit}/{total} of strace's lines, below {floor}%; missing {missing:#?}"
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
        // Everything the loader does with the library's file, up to its
        // close, is marked: its segments, and where its .bss runs past
        // the file's last page, the anonymous mapping over that.
        let lines: Vec<&str> = shown.lines().collect();
        let open = lines
            .iter()
            .position(|l| l.starts_with("openat(") && l.contains("libreplay_preload.so"))
            .expect("the library's open");
        let close = open
            + lines[open..]
                .iter()
                .position(|l| l.starts_with("close("))
                .expect("the library's close");
        assert!(
            lines[open..=close]
                .iter()
                .all(|l| l.ends_with("/* recorder */")),
            "{shown}"
        );
        assert!(
            lines[open..close].iter().any(|l| l.starts_with("mmap(")),
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
