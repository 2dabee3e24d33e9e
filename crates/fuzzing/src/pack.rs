//! `replay pack` files on arbitrary bytes: unpacking must end in a trace
//! directory or one error, never a panic, a hang, or a file outside the
//! directory it unpacks into.
use std::sync::atomic::{AtomicU64, Ordering};

pub fn run(input: &[u8]) {
    static N: AtomicU64 = AtomicU64::new(0);
    let root = tempfile::tempdir().expect("temp dir");
    let file = root.path().join("input.pack");
    std::fs::write(&file, input).expect("write pack");
    let dir = root
        .path()
        .join(format!("out-{}", N.fetch_add(1, Ordering::Relaxed)));
    match trace::pack::unpack(&file, &dir) {
        Ok(_) => assert!(
            dir.join("manifest").is_file(),
            "unpacked without a manifest"
        ),
        Err(_) => assert!(!dir.exists(), "a failed unpack left {}", dir.display()),
    }
    // Nothing may land beside the directory.
    let beside: Vec<_> = std::fs::read_dir(root.path())
        .expect("read temp dir")
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "input.pack" && !name.to_string_lossy().starts_with("out-"))
        .collect();
    assert!(
        beside.is_empty(),
        "unpack wrote outside its directory: {beside:?}"
    );
}
