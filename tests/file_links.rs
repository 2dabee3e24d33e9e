//! Recordings in one trace root share stored files by hard link: the second
//! recording of an unchanged program links its blobs instead of copying
//! them, a changed file is stored afresh, and every trace replays alone.

mod common;

use common::{assert_replay_matches, TraceRoot};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// The blob of `trace`'s files/ store holding `content`.
fn blob_entry(trace: &Path, content: &[u8]) -> std::fs::DirEntry {
    std::fs::read_dir(trace.join("files"))
        .expect("files/")
        .flatten()
        .find(|e| std::fs::read(e.path()).is_ok_and(|b| b == content))
        .unwrap_or_else(|| panic!("no blob in {} holds the program", trace.display()))
}

fn blob_with(trace: &Path, content: &[u8]) -> std::fs::Metadata {
    blob_entry(trace, content).metadata().expect("stat blob")
}

/// Its name: the content's sha256.
fn blob_name_with(trace: &Path, content: &[u8]) -> String {
    blob_entry(trace, content)
        .file_name()
        .into_string()
        .expect("hex name")
}

#[test]
fn unchanged_files_are_linked_changed_ones_stored_again() {
    let root = TraceRoot::new();
    let program = root.path().join("my-echo");
    std::fs::copy("/bin/echo", &program).expect("copy /bin/echo");
    let argv = [program.to_str().expect("utf-8"), "linked"];
    assert_replay_matches(&root, "first", &argv);
    assert_replay_matches(&root, "second", &argv);
    let original = std::fs::read(&program).expect("read program");
    let first = blob_with(&root.trace("first"), &original);
    let second = blob_with(&root.trace("second"), &original);
    assert_eq!(
        (first.dev(), first.ino()),
        (second.dev(), second.ino()),
        "the second recording linked the first one's blob"
    );
    assert!(second.nlink() >= 3, "two traces and the cache share it");
    // Both traces say the blob was hashed good (the recorder hashed it as
    // it wrote it; the link cache vouches for it unchanged since), so
    // their first replays need not hash it again.
    let sha = blob_name_with(&root.trace("first"), &original);
    for name in ["first", "second"] {
        let memo = std::fs::read_to_string(root.trace(name).join("verified-files"))
            .expect("verified-files");
        assert!(memo.lines().any(|l| l.starts_with(&sha)), "{name}: {memo}");
    }
    assert_eq!(second.permissions().mode() & 0o077, 0, "blobs stay private");

    // A changed program (same inode, new content) is stored again, and the
    // first traces keep the content they recorded.
    let mut changed = original.clone();
    changed.extend_from_slice(b"\0trailing bytes");
    std::fs::write(&program, &changed).expect("rewrite program");
    assert_replay_matches(&root, "third", &argv);
    let third = blob_with(&root.trace("third"), &changed);
    assert_ne!(third.ino(), first.ino());
    assert_eq!(
        blob_with(&root.trace("first"), &original).ino(),
        first.ino()
    );
    for name in ["first", "second"] {
        let replayed = root.replay(name);
        assert!(replayed.status.success(), "{name} still replays");
    }
}
