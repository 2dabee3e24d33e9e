//! Damaged traces through the CLI (issue 8): a real recording cut at every
//! chunk boundary and inside every chunk header and body, an altered
//! `files/` blob, a newer format version, and crafted blob references.
//! Every run ends with one clean error line or a clean prefix replay:
//! never a panic, never a hang.

mod common;

use common::TraceRoot;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `replay ARGS`, killing it (and failing) after `limit`.
fn run_bounded(root: &Path, args: &[&std::ffi::OsStr], limit: Duration) -> Output {
    let mut child = Command::new(common::replay_bin())
        .env_remove("REPLAY_LOG")
        // Traces under the trace root: no "replaying ..." notice line.
        .env("REPLAY_TRACE_DIR", root)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run replay");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("replay {args:?} hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// A recording of more than 4096 events, so the events stream has several
/// chunks.
fn recorded(root: &TraceRoot) -> PathBuf {
    let out = root.record(
        "t",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 2500 ]; do echo $i; i=$((i+1)); done",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    root.trace("t")
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest")).expect("manifest")).expect("json")
}

/// Byte offsets to cut `stream` at: each chunk boundary, inside each chunk
/// header, inside each body, one byte short of each chunk's end, the
/// stream header, and nothing at all.
fn cut_points(dir: &Path, stream: &str) -> Vec<u64> {
    let m = manifest(dir);
    let len = std::fs::metadata(dir.join(stream)).expect("stream").len();
    let mut cuts = vec![0, 8, len];
    for c in m["totals"]["chunks"].as_array().expect("chunks") {
        if c["stream"] != stream {
            continue;
        }
        let off = c["offset"].as_u64().expect("offset");
        let body = c["compressed_len"].as_u64().expect("len");
        cuts.extend([off, off + 30, off + 60 + body / 2, off + 60 + body - 1]);
    }
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c <= len);
    cuts
}

/// The outcome of one command on a damaged trace is acceptable.
fn assert_clean(out: &Output, what: &str) {
    let err = stderr(out);
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {err}"
    );
    assert!(!err.contains("panicked"), "{what}: panic: {err}");
    if !out.status.success() {
        assert_eq!(err.lines().count(), 1, "{what}: not one line: {err}");
        assert!(err.starts_with("replay: "), "{what}: {err}");
    }
}

#[test]
fn truncation_at_every_chunk_boundary_and_inside_every_chunk() {
    let root = TraceRoot::new();
    let good = recorded(&root);
    let limit = Duration::from_secs(30);
    let mut runs = 0;
    for stream in ["events", "data"] {
        let cuts = cut_points(&good, stream);
        assert!(cuts.len() >= 6, "{stream}: {cuts:?}");
        for &cut in &cuts {
            // As damage to a finished trace, and as a recorder crash (the
            // manifest not yet complete).
            for complete in [true, false] {
                let dir = root.path().join(format!("cut-{stream}-{cut}-{complete}"));
                copy_dir(&good, &dir);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(dir.join(stream))
                    .expect("open stream");
                f.set_len(cut).expect("truncate");
                if !complete {
                    let mut m = manifest(&dir);
                    m["complete"] = false.into();
                    m["totals"] = serde_json::Value::Null;
                    m["outcome"] = serde_json::Value::Null;
                    std::fs::write(dir.join("manifest"), m.to_string()).expect("write");
                }
                let what = format!("{stream} cut at {cut} (complete: {complete})");
                let info = run_bounded(root.path(), &["info".as_ref(), dir.as_os_str()], limit);
                assert_clean(&info, &format!("info, {what}"));
                let rep = run_bounded(
                    root.path(),
                    &["replay".as_ref(), "-q".as_ref(), dir.as_os_str()],
                    limit,
                );
                assert_clean(&rep, &format!("replay, {what}"));
                let full = cut == std::fs::metadata(good.join(stream)).unwrap().len();
                if full && complete {
                    assert!(rep.status.success(), "{what}: {}", stderr(&rep));
                } else if !full {
                    // A cut trace never passes for a complete replay.
                    assert!(!rep.status.success(), "{what}: replay claimed success");
                }
                runs += 2;
                std::fs::remove_dir_all(&dir).expect("clean up");
            }
        }
    }
    eprintln!("{runs} runs on cut traces");
}

/// The first blob in `files/`.
fn some_blob(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir.join("files"))
        .expect("files dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_file())
        .expect("a blob")
}

#[test]
fn newer_format_version_says_upgrade_replay() {
    let root = TraceRoot::new();
    let dir = recorded(&root);
    let mut m = manifest(&dir);
    m["format_version"] = 999.into();
    std::fs::write(dir.join("manifest"), m.to_string()).expect("write");
    for cmd in ["info", "replay", "dump"] {
        let out = run_bounded(
            root.path(),
            &[cmd.as_ref(), dir.as_os_str()],
            Duration::from_secs(30),
        );
        assert_clean(&out, cmd);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("upgrade replay"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
}

/// Altering a blob's content (same size, so only the hash can tell):
/// replay must refuse to run altered code.
///
/// Replay checks each blob's sha256 the first time it maps it.
#[test]
fn altered_blob_is_detected() {
    let root = TraceRoot::new();
    let dir = recorded(&root);
    // Alter every blob in its middle, so whichever one replay maps first
    // is damaged.
    for entry in std::fs::read_dir(dir.join("files")).expect("files") {
        let p = entry.expect("entry").path();
        let mut bytes = std::fs::read(&p).expect("blob");
        let mid = bytes.len() / 2;
        if let Some(b) = bytes.get_mut(mid) {
            *b ^= 0x55;
        }
        let mut perms = std::fs::metadata(&p).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&p, perms).expect("chmod");
        std::fs::write(&p, bytes).expect("write");
    }
    let _ = some_blob(&dir);
    let out = run_bounded(
        root.path(),
        &["replay".as_ref(), dir.as_os_str()],
        Duration::from_secs(60),
    );
    assert_clean(&out, "replay with altered blobs");
    let err = stderr(&out);
    assert!(
        !out.status.success()
            && (err.contains("sha256") || err.contains("corrupt") || err.contains("altered")),
        "replay ran altered files without noticing: status {:?}, stderr {err}",
        out.status
    );
}

#[test]
fn file_refs_cannot_name_paths_outside_files() {
    let root = TraceRoot::new();
    let dir = recorded(&root);
    let reader = trace::TraceReader::open(&dir).expect("open");
    // Something the traversal would reach if it were allowed.
    std::fs::write(root.path().join("x"), b"outside").expect("write");
    for sha in [
        "../../x".to_string(),
        "../x".to_string(),
        "/etc/passwd".to_string(),
        format!("../{}", "a".repeat(61)),
        "A".repeat(64),
        format!("{}/", "a".repeat(63)),
        String::new(),
    ] {
        let file = trace::FileRef {
            path: "/bin/true".into(),
            sha256: sha.clone(),
            size: 7,
        };
        let err = reader.file_path(&file).expect_err(&sha);
        assert!(
            matches!(err, trace::TraceError::InvalidFileRef { .. }),
            "{sha:?}: {err}"
        );
        assert!(reader.verify_file(&file).is_err());
    }
}
