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

#[test]
fn dump_matches_strace() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace not installed; skipping");
        return;
    }
    let root = TraceRoot::new();
    let exe = program("analyze_files");
    let scratch = root.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let argv = [exe.to_str().unwrap(), scratch.to_str().unwrap()];
    let st_file = root.path().join("strace.out");
    let st = Command::new("strace")
        // The environment recordings get (common::TraceRoot::cmd).
        .env_remove("LD_LIBRARY_PATH")
        .args(["-f", "-o"])
        .arg(&st_file)
        .args(argv)
        .output()
        .expect("run strace");
    assert!(st.status.success());
    assert!(root.record("conf", &argv).status.success());
    let dump = root
        .cmd()
        .arg("dump")
        .arg(root.trace("conf"))
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
    let strace: Vec<String> = raw_strace
        .lines()
        .map(|l| normalize(l, &pid_words))
        .collect();
    let dumped: Vec<String> = raw_dump.lines().map(|l| normalize(l, &pid_words)).collect();
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
