//! What a recorded program sees of the CPU. Where the kernel offers CPUID
//! faulting, every CPUID is answered from the trace's table, with RDRAND
//! and RDSEED (and whatever `--hide-cpu-feature` names) hidden, and replay
//! refuses a CPU that lacks a feature the program was told about. Without
//! faulting the program sees the CPU itself, and the recorder says so.

mod common;

use common::*;

/// Whether recordings here use CPUID faulting: the kernel offers it (read
/// independently of the recorder's own check) and REPLAY_CPUID_FAULTING
/// does not turn it off (which runs these tests as on a machine without).
fn cpuid_faulting_here() -> bool {
    std::env::var("REPLAY_CPUID_FAULTING").as_deref() != Ok("off")
        && cpu_flags().iter().any(|f| f == "cpuid_fault")
}

fn cpu_flags() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").expect("read /proc/cpuinfo");
    info.lines()
        .find_map(|l| l.strip_prefix("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, flags)| flags.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The program's argv: where CPUID cannot fault, RDRAND cannot be hidden,
/// and its values cannot be replayed, so the program takes getrandom.
fn cpu_path_argv(exe: &std::path::Path) -> Vec<String> {
    let mut argv = vec![exe.to_str().expect("utf-8 path").to_string()];
    if !cpuid_faulting_here() {
        argv.push("--getrandom".into());
    }
    argv
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

#[test]
fn rdrand_is_hidden_by_default_and_the_recording_replays_exactly() {
    let exe = program("cpu_path");
    let argv = cpu_path_argv(&exe);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let native = assert_native_runs_differ(&argv);
    let native = String::from_utf8_lossy(&native.stdout).into_owned();
    let root = TraceRoot::new();
    let recorded = root.record("default", &argv);
    let stderr = String::from_utf8_lossy(&recorded.stderr).into_owned();
    let recorded = assert_replays_match_recording(&root, "default", &argv, recorded);
    let out = String::from_utf8_lossy(&recorded.stdout).into_owned();
    // The program never learns that CPUID faults.
    assert_eq!(line(&out, "cpuid enabled"), "cpuid enabled: 1", "{out}");
    let cpuid = root.info_field("default", "cpuid");
    if cpuid_faulting_here() {
        assert!(
            line(&out, "rdrand=").starts_with("rdrand=0 rdseed=0"),
            "{out}"
        );
        assert!(out.contains("random from getrandom"), "{out}");
        assert_eq!(line(&out, "rdpid="), "rdpid=0", "{out}");
        assert_eq!(line(&out, "path"), line(&native, "path"), "{out}");
        assert!(cpuid.contains("hiding rdrand, rdseed, rdpid"), "{cpuid}");
    } else {
        assert!(out.contains("random from getrandom"), "{out}");
        // (Said at record time where the machine has no faulting; a
        // machine that has it, turned off for this test, says nothing.)
        let turned_off = std::env::var("REPLAY_CPUID_FAULTING").as_deref() == Ok("off");
        assert!(
            turned_off || stderr.contains("cannot make CPUID fault"),
            "{stderr}"
        );
        assert!(cpuid.contains("no CPUID faulting"), "{cpuid}");
    }
}

#[test]
fn hidden_vector_extensions_are_never_taken() {
    let exe = program("cpu_path");
    let argv = cpu_path_argv(&exe);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let root = TraceRoot::new();
    let options = ["--hide-cpu-feature", "avx512", "--hide-cpu-feature", "avx2"];
    let recorded = root.record_with("narrow", &options, &argv);
    let recorded = assert_replays_match_recording(&root, "narrow", &argv, recorded);
    let out = String::from_utf8_lossy(&recorded.stdout).into_owned();
    if cpuid_faulting_here() {
        assert_eq!(line(&out, "path"), "path: generic", "{out}");
        assert!(
            line(&out, "rdrand=").ends_with("avx2=0 avx512f=0 libgcc-avx512f=0"),
            "{out}"
        );
    } else {
        let native = String::from_utf8_lossy(&run_native(&argv).stdout).into_owned();
        assert_eq!(line(&out, "path"), line(&native, "path"), "{out}");
    }
}

#[test]
fn an_unknown_feature_name_is_refused_before_anything_runs() {
    let exe = program("cpu_path");
    let root = TraceRoot::new();
    let out = root.record_with(
        "typo",
        &["--hide-cpu-feature", "avx513"],
        &[exe.to_str().expect("utf-8 path")],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown CPU feature \"avx513\"") && stderr.contains("avx512"),
        "{stderr}"
    );
    assert!(!root.trace("typo").exists(), "no trace for a refused mask");
}

/// A feature bit of CPUID leaf 7 (EDX) that this CPU lacks, by its
/// /proc/cpuinfo name.
fn absent_leaf7_edx_feature() -> (&'static str, u32) {
    let flags = cpu_flags();
    [
        ("avx512_4vnniw", 2),
        ("avx512_4fmaps", 3),
        ("avx512_vp2intersect", 8),
        ("amx_tile", 24),
        ("amx_int8", 25),
    ]
    .into_iter()
    .find(|(name, _)| !flags.iter().any(|f| f == name))
    .expect("a CPU with every feature in the list")
}

/// Rewrites trace `name`'s manifest header with `edit`.
fn edit_header(root: &TraceRoot, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = root.trace(name).join("manifest");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read manifest")).expect("json");
    edit(&mut manifest["header"]);
    std::fs::write(&path, serde_json::to_vec(&manifest).expect("json")).expect("write");
}

#[test]
fn replay_refuses_a_cpu_that_lacks_a_recorded_feature() {
    let exe = program("cpu_path");
    let argv = cpu_path_argv(&exe);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let root = TraceRoot::new();
    let recorded = root.record("t", &argv);
    assert!(recorded.status.success());
    let (feature, bit) = absent_leaf7_edx_feature();
    edit_header(&root, "t", |header| {
        // As if recorded on a CPU with the feature, CPUID faulting on.
        header["cpuid_faulting"] = true.into();
        let leaf7 = table_leaf(header, 7);
        let edx = leaf7["edx"].as_u64().expect("edx") | (1 << bit);
        leaf7["edx"] = edx.into();
    });
    let replayed = root.replay("t");
    assert_eq!(replayed.status.code(), Some(1), "must refuse");
    let stderr = String::from_utf8_lossy(&replayed.stderr);
    assert!(
        stderr.contains("this CPU lacks features") && stderr.contains(feature),
        "{stderr}"
    );
    assert!(replayed.stdout.is_empty(), "nothing replayed");
}

/// A recording that hid features from the program can only be replayed
/// where CPUID faults: elsewhere the program would read the whole CPU.
#[test]
fn a_masked_recording_needs_cpuid_faulting_to_replay() {
    if cpuid_faulting_here() {
        // Replay here answers from the table; the other tests cover it.
        // `REPLAY_CPUID_FAULTING=off cargo test --test cpu_features` runs
        // this case on this machine too.
        return;
    }
    let exe = program("cpu_path");
    let argv = cpu_path_argv(&exe);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let root = TraceRoot::new();
    assert!(root.record("t", &argv).status.success());
    edit_header(&root, "t", |header| {
        header["cpuid_faulting"] = true.into();
        header["hidden_cpu_features"] = serde_json::json!(["rdrand"]);
        let leaf1 = table_leaf(header, 1);
        let ecx = leaf1["ecx"].as_u64().expect("ecx") & !(1 << 30);
        leaf1["ecx"] = ecx.into();
    });
    let replayed = root.replay("t");
    assert_eq!(replayed.status.code(), Some(1), "must refuse");
    let stderr = String::from_utf8_lossy(&replayed.stderr);
    assert!(
        stderr.contains("cannot make CPUID fault") && stderr.contains("hiding rdrand"),
        "{stderr}"
    );
}

/// Leaf `leaf` (subleaf 0) of a header's CPUID table.
fn table_leaf(header: &mut serde_json::Value, leaf: u64) -> &mut serde_json::Value {
    header["machine"]["cpuid"]
        .as_array_mut()
        .expect("table")
        .iter_mut()
        .find(|l| l["leaf"] == leaf && l["subleaf"] == 0)
        .expect("leaf in the table")
}
