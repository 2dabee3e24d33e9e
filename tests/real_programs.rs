//! Real programs, recorded and replayed through the CLI.

mod common;

use common::{assert_native_runs_differ, assert_replay_matches, TraceRoot};

fn check(name: &str, argv: &[&str]) -> String {
    assert_native_runs_differ(argv);
    let root = TraceRoot::new();
    let out = assert_replay_matches(&root, name, argv);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn shell_pipeline_with_date_and_random() {
    let out = check(
        "sh",
        // dash has no $RANDOM, so the pipeline runs in bash.
        &[
            "bash",
            "-c",
            "echo $RANDOM $RANDOM | tr ' ' '\\n' | sort -n; date +%s%N | cat; ls / | wc -l",
        ],
    );
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn python_random_time_pid_uuid() {
    let out = check(
        "python",
        &[
            "python3",
            "-c",
            "import random,time,os,uuid; print(random.random(), time.time(), os.getpid(), uuid.uuid4())",
        ],
    );
    assert_eq!(out.split_whitespace().count(), 4, "{out}");
}

#[test]
fn git_commit_hash_depends_on_the_clock() {
    let work = tempfile::tempdir().expect("temp dir");
    let script = format!(
        "cd {} && rm -rf repo && mkdir repo && cd repo && git init -q && date +%N > f && git add f && \
         git -c user.email=t@example.com -c user.name=t commit -qm m && git log --format=%H%n%ad",
        work.path().display()
    );
    let out = check("git", &["sh", "-c", &script]);
    let hash = out.lines().next().unwrap_or_default();
    assert_eq!(hash.len(), 40, "{out}");
}

#[test]
fn gcc_compiles_a_file() {
    let work = tempfile::tempdir().expect("temp dir");
    let src = work.path().join("x.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
    )
    .expect("write source");
    let obj = work.path().join("x.o");
    // The object file's bytes are deterministic, so the printed line adds
    // the clock to prove the whole pipeline is nondeterministic.
    let script = format!(
        "gcc -O2 -c {} -o {} && sha256sum < {} && date +%s%N",
        src.display(),
        obj.display(),
        obj.display()
    );
    let out = check("gcc", &["sh", "-c", &script]);
    assert!(out.contains('-'), "{out}");
}

#[test]
fn find_and_stat_over_usr_include() {
    // Access times change as files are read, and a file created during the
    // run gives each run its own inode and timestamps.
    let work = tempfile::tempdir().expect("temp dir");
    let script = format!(
        "touch {dir}/now && find {dir} /usr/include/linux -name '*.h' -o -name now | head -300 | xargs stat -c '%n %s %i %Z %x'",
        dir = work.path().display()
    );
    let out = check("find", &["sh", "-c", &script]);
    assert!(out.lines().count() > 50, "{out}");
}
