//! What a trace from elsewhere can make the replayer do (issue 8): replay
//! announces the program it is about to run.

mod common;

use common::{program, TraceRoot};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
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

#[test]
fn replaying_a_trace_from_outside_the_trace_root_names_the_program() {
    let root = TraceRoot::new();
    let exe = program("random");
    let exe = exe.to_str().unwrap();
    let rec = root.record("t", &[exe]);
    assert!(rec.status.success());

    // Under the trace root, on a pipe: no notice.
    let home = root.replay("t");
    assert!(home.status.success());
    assert!(
        !String::from_utf8_lossy(&home.stderr).contains("replaying"),
        "{}",
        String::from_utf8_lossy(&home.stderr)
    );

    // The same trace received from elsewhere.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let copy = elsewhere.path().join("t");
    copy_dir(&root.trace("t"), &copy);
    let out = root
        .cmd()
        .arg("replay")
        .arg(&copy)
        .output()
        .expect("replay");
    assert!(out.status.success());
    assert_eq!(out.stdout, rec.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().next().unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    assert!(
        line.starts_with(&format!("replay: replaying {exe} (recorded 20"))
            && line.ends_with(&format!(" UTC on {})", host.trim())),
        "{err}"
    );
}
