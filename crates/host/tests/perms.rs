//! The trace root and each recording's directory are private whatever the
//! umask. Alone in its own test binary because the umask is process-wide.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn trace_root_and_recording_directories_are_private_with_a_permissive_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    // SAFETY: umask only swaps an integer in the process; no memory involved.
    let old = unsafe { libc::umask(0) };
    let dir = replay_host::allocate_trace_dir(&root, "/bin/prog").unwrap();
    replay_host::update_latest(&root, &dir).unwrap();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&dir), 0o700);
    // With no trace named, the latest one is the one just made.
    let latest = replay_host::resolve_trace(&root, None).unwrap();
    assert_eq!(
        fs::canonicalize(latest).unwrap(),
        fs::canonicalize(&dir).unwrap()
    );
}
