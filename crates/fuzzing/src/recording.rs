//! A small real recording for the targets that drive a replay.
use std::path::PathBuf;
use std::sync::OnceLock;

/// A recording of `/bin/echo fuzz`, made once per process.
pub fn echo() -> &'static PathBuf {
    static TRACE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &TRACE
        .get_or_init(|| {
            let root = tempfile::tempdir().expect("temp dir");
            let dir = root.path().join("echo");
            record::record(record::RecordOptions {
                program: "/bin/echo".into(),
                argv: vec!["echo".into(), "fuzz".into()],
                env: vec![("PATH".into(), "/usr/bin:/bin".into())],
                trace_dir: dir.clone(),
                timeslice_ns: record::DEFAULT_TIMESLICE_NS,
                chaos_seed: None,
                syscall_buffer: None,
                link_cache: None,
                machine_cache: None,
                hidden_cpu_features: Vec::new(),
            })
            .expect("record /bin/echo");
            (root, dir)
        })
        .1
}
