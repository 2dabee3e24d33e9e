//! The analysis views on a recording with two threads and a forked child
//! that execs: `[pid N]` prefixes, split blocking calls, the process tree
//! and one Chrome track per process and thread.

mod common;

use common::{program, TraceRoot};
use std::collections::BTreeSet;

fn run(root: &TraceRoot, args: &[&str]) -> String {
    let out = root.cmd().args(args).output().expect("run replay");
    assert!(
        out.status.success(),
        "replay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pid in a `[pid  N] ` prefix.
fn pid_of(line: &str) -> Option<i64> {
    let rest = line.strip_prefix("[pid ")?;
    rest[..rest.find(']')?].trim().parse().ok()
}

#[test]
fn threads_and_children_in_dump_ps_and_chrome_export() {
    let root = TraceRoot::new();
    let exe = program("analyze_mt");
    let rec = root.record("mt", &[exe.to_str().unwrap()]);
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&rec.stdout), "read 4, child 3\n");
    let t = root.trace("mt");
    let t = t.to_str().unwrap();

    let dump = run(&root, &["dump", t]);
    let pids: BTreeSet<i64> = dump.lines().filter_map(pid_of).collect();
    assert_eq!(pids.len(), 3, "two threads and a child: {pids:?}\n{dump}");
    // The worker's read blocks while the main thread runs: strace's split.
    let lines: Vec<&str> = dump.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("read(3, ") && l.ends_with("<unfinished ...>"))
        .unwrap_or_else(|| panic!("no unfinished read:\n{dump}"));
    let reader = pid_of(lines[start]).expect("prefixed");
    let end = lines[start..]
        .iter()
        .position(|l| l.contains("<... read resumed>") && l.ends_with("= 4"))
        .map(|i| start + i)
        .unwrap_or_else(|| panic!("no resumed read:\n{dump}"));
    assert_eq!(pid_of(lines[end]), Some(reader));
    assert!(
        lines[start + 1..end]
            .iter()
            .any(|l| pid_of(l).is_some_and(|p| p != reader)),
        "another thread ran while the read was blocked:\n{dump}"
    );
    assert!(dump.contains("+++ exited with 3 +++"), "{dump}");
    assert!(dump.contains("execve(\"/bin/sh\", [\"sh\", \"-c\", \"exit 3\"]"));

    let ps = run(&root, &["ps", t]);
    let rows: Vec<&str> = ps.lines().skip(1).collect();
    let main_row = rows.iter().find(|l| l.contains("analyze_mt")).expect(&ps);
    let child_row = rows.iter().find(|l| l.contains("sh -c exit 3")).expect(&ps);
    let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let (m, c) = (cols(main_row), cols(child_row));
    assert_eq!(c[1], m[0], "child's parent is the main process:\n{ps}");
    assert_eq!((m[2].as_str(), m[4].as_str()), ("0", "2"), "{ps}");
    assert_eq!((c[2].as_str(), c[4].as_str()), ("3", "1"), "{ps}");
    let threads = rows
        .iter()
        .find(|l| l.trim_start().starts_with("threads:"))
        .expect(&ps);
    assert_eq!(threads.split_whitespace().count(), 3, "{ps}");

    let chrome = run(&root, &["export", "--format", "chrome", t]);
    let v: serde_json::Value = serde_json::from_str(&chrome).expect("chrome JSON");
    let events = v
        .get("traceEvents")
        .and_then(|e| e.as_array())
        .or_else(|| v.as_array())
        .expect("trace events");
    let tracks: BTreeSet<(i64, i64)> = events
        .iter()
        .filter(|e| e["ph"] != "M")
        .filter_map(|e| Some((e["pid"].as_i64()?, e["tid"].as_i64()?)))
        .collect();
    let procs: BTreeSet<i64> = tracks.iter().map(|t| t.0).collect();
    assert_eq!(procs.len(), 2, "one pid per process: {tracks:?}");
    assert_eq!(tracks.len(), 3, "one tid per thread: {tracks:?}");
    let names = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .count();
    assert_eq!(names, 2, "{chrome}");
}
