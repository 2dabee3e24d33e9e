//! Traces as files to keep, move and share: one-file packs that replay
//! after the original is gone, `unpack`, `ls`, `rm`, `info --json`, the
//! secrets a trace holds, `record --env`/`--env-unset`, and the shell
//! conventions (completions, man page).

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(root: &TraceRoot, args: &[&str]) -> Output {
    output_within_limit(root.cmd().args(args))
}

/// `replay` with a private TMPDIR, so that what it unpacks there can be
/// checked to be gone afterwards.
fn run_with_tmp(root: &TraceRoot, tmp: &Path, args: &[&str]) -> Output {
    output_within_limit(root.cmd().env("TMPDIR", tmp).args(args))
}

fn assert_empty_dir(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        dir.display()
    );
}

/// `cpu_path`'s argv: where CPUID cannot fault, RDRAND cannot be hidden or
/// replayed, so it takes getrandom.
fn cpu_path_argv(exe: &Path) -> Vec<String> {
    let faulting = std::env::var("REPLAY_CPUID_FAULTING").as_deref() != Ok("off")
        && std::fs::read_to_string("/proc/cpuinfo")
            .expect("read /proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("flags"))
            .is_some_and(|l| l.split_whitespace().any(|f| f == "cpuid_fault"));
    let mut argv = vec![exe.to_str().expect("utf-8 path").to_string()];
    if !faulting {
        argv.push("--getrandom".into());
    }
    argv
}

#[test]
fn a_pack_replays_exactly_after_the_trace_is_gone() {
    let exe = program("cpu_path");
    let argv = cpu_path_argv(&exe);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    assert_native_runs_differ(&argv);
    let root = TraceRoot::new();
    let recorded = root.record("t", &argv);
    assert!(recorded.status.success(), "{}", text(&recorded.stderr));
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let pack = root.path().join("t.pack");
    let packed = run(&root, &["pack", "t", "-o", pack.to_str().unwrap()]);
    assert!(packed.status.success(), "{}", text(&packed.stderr));
    let copy = elsewhere.path().join("copy.pack");
    std::fs::copy(&pack, &copy).expect("copy the pack");
    let removed = run(&root, &["rm", "t"]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(!root.trace("t").exists());
    std::fs::remove_file(&pack).expect("remove the original pack");

    let tmp = tempfile::tempdir().expect("temp dir");
    for round in 0..2 {
        let replayed = run_with_tmp(&root, tmp.path(), &["replay", copy.to_str().unwrap()]);
        assert_eq!(
            text(&replayed.stdout),
            text(&recorded.stdout),
            "replay {round} of the pack: {}",
            text(&replayed.stderr)
        );
        assert_eq!(replayed.status.code(), recorded.status.code());
        assert_empty_dir(tmp.path());
    }
    // Every reading command takes the pack too.
    let dumped = run_with_tmp(&root, tmp.path(), &["dump", copy.to_str().unwrap()]);
    assert!(
        text(&dumped.stdout).contains("getrandom("),
        "{}",
        text(&dumped.stderr)
    );
    let info = run_with_tmp(
        &root,
        tmp.path(),
        &["info", "--json", copy.to_str().unwrap()],
    );
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info --json");
    assert_eq!(info["trace"], copy.to_str().unwrap());
    assert_eq!(info["complete"], true);
    assert_eq!(info["command"][0], argv[0]);
    // The recorder's own memory, kept by the recorder: a few MiB, far less
    // than it would be counting the program.
    let peak_kib = info["recorder_peak_kib"]
        .as_u64()
        .expect("recorder_peak_kib");
    assert!(peak_kib > 1024 && peak_kib < 512 * 1024, "{info}");
    assert_empty_dir(tmp.path());

    // And `unpack` makes a directory of it by hand.
    let dir = elsewhere.path().join("unpacked");
    let unpacked = run(
        &root,
        &["unpack", copy.to_str().unwrap(), dir.to_str().unwrap()],
    );
    assert!(unpacked.status.success(), "{}", text(&unpacked.stderr));
    let replayed = run(&root, &["replay", dir.to_str().unwrap()]);
    assert_eq!(text(&replayed.stdout), text(&recorded.stdout));
}

#[test]
fn a_damaged_pack_gives_one_clear_error_and_leaves_nothing() {
    let exe = program("cpu_path");
    let root = TraceRoot::new();
    assert!(root.record("t", &[exe.to_str().unwrap()]).status.success());
    let pack = root.path().join("t.pack");
    assert!(run(&root, &["pack", "t", "-o", pack.to_str().unwrap()])
        .status
        .success());
    let good = std::fs::read(&pack).expect("read pack");
    let tmp = tempfile::tempdir().expect("temp dir");
    let bad = root.path().join("bad.pack");
    let mut flipped = good.clone();
    let middle = good.len() / 2;
    flipped[middle] ^= 0x55;
    for (what, bytes) in [
        ("flipped", flipped),
        ("truncated", good[..good.len() - 100].to_vec()),
    ] {
        std::fs::write(&bad, &bytes).expect("write");
        let out = run_with_tmp(&root, tmp.path(), &["replay", bad.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("bad.pack is damaged") && stderr.lines().count() == 1,
            "{what}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert!(out.stdout.is_empty());
        assert_empty_dir(tmp.path());
    }
    let refused = run(&root, &["pack", "t", "-o", pack.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1), "an existing file is kept");
    assert!(text(&refused.stderr).contains("it exists"));
    assert_eq!(std::fs::read(&pack).unwrap(), good);
}

#[test]
fn ls_and_rm_manage_the_trace_root() {
    let root = TraceRoot::new();
    assert!(root.record("first", &["/bin/true"]).status.success());
    assert!(root.record("second", &["/bin/echo", "hi"]).status.success());
    std::fs::create_dir(root.path().join("not-a-trace")).unwrap();
    let listed = run(&root, &["ls"]);
    let table = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let first = table
        .lines()
        .find(|l| l.starts_with("first "))
        .expect(&table);
    assert!(
        first.contains("complete") && first.contains("/bin/true"),
        "{table}"
    );
    assert!(
        table.contains("/bin/echo hi") && !table.contains("not-a-trace"),
        "{table}"
    );
    let names = text(&run(&root, &["ls", "--names"]).stdout);
    assert_eq!(names, "first\nsecond\n");
    let json = text(&run(&root, &["ls", "--json"]).stdout);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["command"], "/bin/echo hi");

    // Nothing is removed when any name is wrong.
    let refused = run(&root, &["rm", "first", "not-a-trace"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("not a trace directory"));
    assert!(root.trace("first").exists());
    let removed = run(&root, &["rm", "first", "second"]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(!root.trace("first").exists() && !root.trace("second").exists());
    assert_eq!(text(&run(&root, &["ls", "--names"]).stdout), "");
}

#[test]
fn secrets_are_named_and_env_unset_keeps_them_out() {
    let root = TraceRoot::new();
    let script = "echo token=${DEPLOY_TOKEN:-unset} extra=${EXTRA:-unset}";
    let recorded = output_within_limit(
        root.cmd()
            .env("DEPLOY_TOKEN", "s3cr3t")
            .args(["record", "-o"])
            .arg(root.trace("leaky"))
            .args(["--", "/bin/sh", "-c", script]),
    );
    assert_eq!(text(&recorded.stdout), "token=s3cr3t extra=unset\n");
    let info = text(&run(&root, &["info", "--json", "leaky"]).stdout);
    let info: serde_json::Value = serde_json::from_str(&info).expect("info --json");
    assert_eq!(info["secrets"][0]["kind"], "env");
    assert_eq!(info["secrets"][0]["name"], "DEPLOY_TOKEN");
    let pack = root.path().join("leaky.pack");
    let packed = run(&root, &["pack", "leaky", "-o", pack.to_str().unwrap()]);
    let warning = text(&packed.stderr);
    assert!(
        warning.contains("look like secrets") && warning.contains("DEPLOY_TOKEN"),
        "{warning}"
    );

    let kept_out = output_within_limit(
        root.cmd()
            .env("DEPLOY_TOKEN", "s3cr3t")
            .args([
                "record",
                "--env-unset",
                "DEPLOY_TOKEN",
                "--env",
                "EXTRA=1",
                "-o",
            ])
            .arg(root.trace("clean"))
            .args(["--", "/bin/sh", "-c", script]),
    );
    assert_eq!(text(&kept_out.stdout), "token=unset extra=1\n");
    let info = text(&run(&root, &["info", "clean"]).stdout);
    assert!(info.contains("secrets:      none found"), "{info}");
    let manifest = std::fs::read(root.trace("clean").join("manifest")).unwrap();
    assert!(
        !text(&manifest).contains("s3cr3t"),
        "the value is nowhere in the trace"
    );
    let replayed = root.replay("clean");
    assert_eq!(text(&replayed.stdout), "token=unset extra=1\n");
}

#[test]
fn completion_scripts_and_the_man_page() {
    let root = TraceRoot::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&root, &["completions", shell]);
        assert!(out.status.success(), "{shell}");
        assert!(text(&out.stdout).contains("unpack"), "{shell}");
    }
    let bash = run(&root, &["completions", "bash"]).stdout;
    let check = std::process::Command::new("bash")
        .args(["-n", "-c", &text(&bash)])
        .status()
        .expect("bash");
    assert!(check.success(), "the bash script parses");
    let man = text(&run(&root, &["man"]).stdout);
    assert!(
        man.contains(".TH replay 1") && man.contains("pack"),
        "{man}"
    );
}
