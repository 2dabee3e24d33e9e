//! End-to-end tests of the analysis commands on recordings of small C
//! programs.

mod common;

use common::{program, TraceRoot};
use std::process::Output;

/// stdout with strace's result-column padding collapsed to one space.
fn text(out: &Output) -> String {
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut squashed = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        if c == ' ' && prev_space {
            continue;
        }
        prev_space = c == ' ';
        squashed.push(c);
    }
    squashed
}

fn run(root: &TraceRoot, args: &[&str]) -> Output {
    let out = root.cmd().args(args).output().expect("run replay");
    assert!(
        out.status.code().is_some(),
        "replay {args:?} died: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn record_files(root: &TraceRoot) -> String {
    let exe = program("analyze_files");
    let scratch = root.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let out = root.record("files", &[exe.to_str().unwrap(), scratch.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root.trace("files").to_str().unwrap().to_string()
}

#[test]
fn dump_stats_ps_and_filters() {
    let root = TraceRoot::new();
    let t = record_files(&root);
    let dump = text(&run(&root, &["dump", &t]));
    assert!(dump.contains("execve(\""), "{dump}");
    assert!(
        dump.contains("O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3"),
        "{dump}"
    );
    assert!(
        dump.contains("write(3, \"hello analysis\\n\", 15) = 15"),
        "{dump}"
    );
    assert!(
        dump.contains("read(3, \"hello analysis\\n\", 64) = 15"),
        "{dump}"
    );
    assert!(
        dump.contains("stat(\"/nonexistent/file\"")
            || dump.contains("newfstatat(AT_FDCWD, \"/nonexistent/file\"")
    );
    assert!(dump.contains("= -1 ENOENT (No such file or directory)"));
    assert!(
        dump.contains("st_mode=S_IFREG|0644, st_size=15, ...}"),
        "{dump}"
    );
    assert!(dump.contains("+++ exited with 0 +++"));

    let failed = text(&run(&root, &["dump", "-e", "status=failed", &t]));
    assert!(
        failed
            .lines()
            .all(|l| l.contains("= -1 ") || l.starts_with("+++")),
        "{failed}"
    );
    let opens = text(&run(&root, &["dump", "-e", "trace=openat", "-y", "-T", &t]));
    assert!(
        opens
            .lines()
            .filter(|l| !l.starts_with("+++"))
            .all(|l| l.starts_with("openat(")),
        "{opens}"
    );
    assert!(opens.contains(" <0."), "-T durations: {opens}");
    let short = text(&run(&root, &["dump", "-s", "4", "-e", "trace=write", &t]));
    assert!(short.contains("\"hell\"..."), "{short}");
    let filtered = text(&run(
        &root,
        &["dump", "--filter", "syscall:read if ret > 10", &t],
    ));
    assert!(
        filtered.lines().any(|l| l.starts_with("read("))
            && filtered
                .lines()
                .all(|l| l.starts_with("read(") || l.starts_with("+++")),
        "{filtered}"
    );
    let by_file = text(&run(&root, &["dump", "--filter", "file:/etc/shadow", &t]));
    assert!(by_file.contains("/etc/shadow"), "{by_file}");
    let json = text(&run(&root, &["dump", "--json", "-e", "trace=close", &t]));
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json line");
        assert_eq!(v["syscall"], "close");
        assert!(v["event"].is_u64() && v["pid"].is_i64() && v["duration_ns"].is_u64());
    }
    let bad = run(&root, &["dump", "--filter", "nosuch:thing", &t]);
    assert_ne!(bad.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim().lines().count(),
        1
    );

    let stats = text(&run(&root, &["stats", &t]));
    assert!(stats.starts_with("% time"), "{stats}");
    assert!(
        stats
            .lines()
            .any(|l| l.ends_with(" openat") || l.ends_with(" open")),
        "{stats}"
    );
    assert!(stats.lines().last().unwrap().ends_with("total"));
    let by_calls = text(&run(&root, &["stats", "-S", "calls", &t]));
    assert!(by_calls.contains("p95"));

    let ps = text(&run(&root, &["ps", &t]));
    assert!(ps.lines().next().unwrap().contains("PID"));
    assert!(ps.contains("analyze_files"), "{ps}");
}

#[test]
fn security_flags_shadow_and_extract_lists_files() {
    let root = TraceRoot::new();
    let t = record_files(&root);
    let sec = text(&run(&root, &["analyze", "--report", "security", &t]));
    assert!(
        sec.contains("[secret-read]") && sec.contains("/etc/shadow"),
        "{sec}"
    );
    assert!(sec.contains("event "), "{sec}");
    let files = text(&run(&root, &["extract", "--files", &t]));
    let data = files
        .lines()
        .find(|l| l.ends_with("data.txt"))
        .expect(&files);
    assert!(
        data.contains("write") && data.contains("read") && data.contains("unlink"),
        "{data}"
    );
    let procs = text(&run(&root, &["extract", "--processes", "--json", &t]));
    let v: serde_json::Value = serde_json::from_str(&procs).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    let env = text(&run(&root, &["extract", "--env", &t]));
    assert!(env.contains("PATH="));
    for report in ["performance", "summary"] {
        let r = run(&root, &["analyze", "--report", report, &t]);
        assert!(r.status.success() && !r.stdout.is_empty());
    }
}

#[test]
fn extract_network_on_loopback() {
    let root = TraceRoot::new();
    let exe = program("analyze_net");
    let out = root.record("net", &[exe.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = root.trace("net");
    let net = text(&run(
        &root,
        &["extract", "--network", "--json", t.to_str().unwrap()],
    ));
    let v: serde_json::Value = serde_json::from_str(&net).unwrap();
    let conns = v.as_array().unwrap();
    assert!(
        conns.iter().any(|c| c["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:"))
            && c["bytes_sent"] == 4),
        "{net}"
    );
    let dump = text(&run(
        &root,
        &["dump", "--filter", "net:connect", t.to_str().unwrap()],
    ));
    assert!(dump.contains("sin_addr=inet_addr(\"127.0.0.1\")"), "{dump}");
    let sec = text(&run(
        &root,
        &["analyze", "--report", "security", t.to_str().unwrap()],
    ));
    assert!(
        sec.contains("[network] ") && sec.contains("127.0.0.1"),
        "{sec}"
    );
}

#[test]
fn diff_self_is_equivalent_and_random_runs_differ() {
    let root = TraceRoot::new();
    let t = record_files(&root);
    let same = run(&root, &["diff", &t, &t]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    let exe = program("analyze_random");
    for name in ["r1", "r2"] {
        assert!(root.record(name, &[exe.to_str().unwrap()]).status.success());
    }
    let (a, b) = (root.trace("r1"), root.trace("r2"));
    let d = run(&root, &["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(d.status.code(), Some(1), "{}", text(&d));
    assert!(text(&d).contains("getrandom"), "{}", text(&d));
    let j = run(
        &root,
        &["diff", "--json", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["equivalent"], false);
    let missing = run(&root, &["diff", a.to_str().unwrap(), "/nonexistent/trace"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn exports_parse() {
    let root = TraceRoot::new();
    let t = record_files(&root);
    let out = root.path().join("chrome.json");
    let r = run(
        &root,
        &[
            "export",
            "--format",
            "chrome",
            &t,
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(r.status.success());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let pids: std::collections::BTreeSet<i64> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| e["pid"].as_i64().unwrap())
        .collect();
    let tracks = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .count();
    assert_eq!(pids.len(), 1);
    assert_eq!(tracks, 1);
    let all: serde_json::Value =
        serde_json::from_slice(&run(&root, &["export", "--format", "json", &t]).stdout).unwrap();
    assert!(all.as_array().unwrap().len() > 10);
    let csv = text(&run(&root, &["export", "--format", "csv", &t]));
    assert!(csv.starts_with("event,pid,tid,"));
    let jsonl = text(&run(&root, &["export", "--format", "jsonl", &t]));
    assert!(jsonl
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
}

/// `replay info | head -1` and friends: the reader going away is the end of
/// the listing, not an error, and never a panic.
#[test]
fn listings_end_quietly_when_the_reader_closes_the_pipe() {
    let root = TraceRoot::new();
    let t = record_files(&root);
    for command in ["info", "dump", "stats", "ps"] {
        let mut child = root
            .cmd()
            .args([command, t.as_str()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run replay");
        // Closed before the listing is written: its first write gets EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for replay");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "replay {command}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "replay {command}: {stderr}");
    }
}
