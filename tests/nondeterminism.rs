//! One C program per source of nondeterminism: two native runs differ, and
//! replay reproduces the recorded values byte for byte.

mod common;

use common::{check_program, program, TraceRoot};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clock_reads_through_the_vdso_are_recorded() {
    let out = check_program("clocks", &[]);
    assert!(stdout(&out).starts_with("realtime="));
}

#[test]
fn rdtsc_and_rdtscp_are_trapped_and_recorded() {
    let out = check_program("rdtsc", &[]);
    assert!(stdout(&out).contains("ordered=1"), "{}", stdout(&out));
}

#[test]
fn getrandom_urandom_and_at_random_are_recorded() {
    check_program("random", &[]);
}

#[test]
fn pids_tids_and_child_pids_are_recorded() {
    let out = check_program("ids", &[]);
    assert!(stdout(&out).contains("exit=7"), "{}", stdout(&out));
}

#[test]
fn uname_sysinfo_and_getrusage_are_recorded() {
    check_program("sysinfo", &[]);
}

#[test]
fn proc_files_are_recorded() {
    check_program("procfs", &[]);
}

#[test]
fn stat_results_directory_listings_and_mmap_addresses_are_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = check_program("files", &[dir.path().to_str().expect("utf-8")]);
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
}

#[test]
fn synchronous_sigsegv_handled_with_siglongjmp() {
    let out = check_program("signals", &[]);
    assert!(
        stdout(&out).contains("caught signal 11"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn death_by_sigabrt_is_reproduced() {
    let out = check_program("signals", &["abort"]);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc_sigabrt())
    );
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn fork_vfork_pipes_exec_and_exit_codes() {
    let out = check_program("procs", &[]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains("exec from vfork child"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("vfork child exit=5"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn input_file_deleted_between_record_and_replay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("input.txt");
    let stamp = format!("{:?}\n", std::time::SystemTime::now());
    std::fs::write(&input, &stamp).expect("write input");
    let exe = program("readfile");
    let root = TraceRoot::new();
    let recorded = root.record("t", &[exe.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(recorded.status.success(), "{recorded:?}");
    assert!(String::from_utf8_lossy(&recorded.stdout).contains(stamp.trim()));
    std::fs::remove_file(&input).expect("delete input");
    let replayed = root.replay("t");
    assert_eq!(replayed.stdout, recorded.stdout);
    assert!(replayed.status.success());
}

/// CPUID's leaf 1 names the executing CPU (the APIC id). Without CPUID
/// faulting, replay runs on the CPU the recording ran on; with it, the
/// trace's table answers as the recording's CPU did. Each recording is made
/// with the recorder confined to one CPU (it then pins its program there)
/// and replayed unconfined, so every CPU's id must come back from the trace
/// and not from wherever the replay happens to start.
#[test]
fn cpuid_apic_id_replays_on_the_recording_cpu() {
    let exe = program("cpu_apic");
    let argv = [exe.to_str().expect("utf-8")];
    let root = TraceRoot::new();
    // The CPUs this test may use (taskset refuses the others), four at most.
    let cpus: Vec<String> = (0..256)
        .map(|cpu: u32| cpu.to_string())
        .filter(|cpu| {
            std::process::Command::new("taskset")
                .args(["-c", cpu, "true"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .take(4)
        .collect();
    assert!(!cpus.is_empty(), "taskset could not run on any CPU");
    let mut ids = std::collections::BTreeSet::new();
    for cpu in &cpus {
        let name = format!("apic-{cpu}");
        let recorded = root.record_via(&["taskset", "-c", cpu], &name, &[], &argv);
        assert!(recorded.status.success(), "{recorded:?}");
        let out = common::assert_replays_match_recording(&root, &name, &argv, recorded);
        let text = stdout(&out);
        let id = text
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        ids.insert(id);
    }
    assert_eq!(
        ids.len(),
        cpus.len(),
        "recordings confined to different CPUs printed the same APIC id ({ids:?})"
    );
}
