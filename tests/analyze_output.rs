//! Dump details: strace-style iovec arrays and `--color`.

mod common;

use common::{program, TraceRoot};

fn record_iov(root: &TraceRoot) -> String {
    let exe = program("analyze_iov");
    let out = root.record("iov", &[exe.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    root.trace("iov").to_str().unwrap().to_string()
}

fn dump(root: &TraceRoot, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = root
        .cmd()
        .envs(env.iter().copied())
        .arg("dump")
        .args(args)
        .output()
        .expect("run replay dump");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn readv_and_writev_show_their_iovecs() {
    let root = TraceRoot::new();
    let t = record_iov(&root);
    let d = dump(&root, &[], &["-e", "trace=readv,writev", &t]);
    assert!(
        d.contains(
            "writev(1, [{iov_base=\"hello\", iov_len=5}, {iov_base=\" world\\n\", iov_len=7}], 2)"
        ),
        "{d}"
    );
    // readv filled the first buffer and 5 of the second one's 10 bytes.
    assert!(
        d.contains(
            "readv(3, [{iov_base=\"abc\", iov_len=3}, {iov_base=\"defgh\", iov_len=10}], 2)"
        ),
        "{d}"
    );
    let short = dump(&root, &[], &["-s", "2", "-e", "trace=writev", &t]);
    assert!(short.contains("{iov_base=\"he\"..., iov_len=5}"), "{short}");
}

#[test]
fn color_always_never_and_no_color() {
    let root = TraceRoot::new();
    let t = record_iov(&root);
    let always = dump(&root, &[("NO_COLOR", "1")], &["--color", "always", &t]);
    assert!(always.contains("\x1b[1mreadv\x1b[0m("), "{always}");
    let failed = always
        .lines()
        .find(|l| l.contains("/nonexistent/for-colour"))
        .expect(&always);
    assert!(failed.contains("= \x1b[31m-1 ENOENT"), "{failed}");
    assert!(failed.ends_with("\x1b[0m"), "{failed}");
    // Colour must not shift strace's result column.
    let plain = dump(&root, &[], &["--color", "never", &t]);
    let strip = always
        .replace("\x1b[1m", "")
        .replace("\x1b[31m", "")
        .replace("\x1b[0m", "");
    assert_eq!(strip, plain);
    // auto: not a terminal here, so plain; NO_COLOR changes nothing.
    assert_eq!(dump(&root, &[], &[&t]), plain);
    assert_eq!(dump(&root, &[("NO_COLOR", "1")], &[&t]), plain);
}

/// `--color auto` on a terminal colours unless NO_COLOR is set (needs
/// util-linux `script` for the pseudo-terminal).
#[test]
fn color_auto_on_a_terminal_honours_no_color() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: util-linux `script` is not installed");
        return;
    }
    let root = TraceRoot::new();
    let t = record_iov(&root);
    let on_tty = |no_color: Option<&str>| {
        let mut c = std::process::Command::new("script");
        c.env("REPLAY_TRACE_DIR", root.path())
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let cmd = format!("{} dump -e trace=readv {t}", common::replay_bin());
        let out = c
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .expect("script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(on_tty(None).contains("\x1b[1mreadv"), "{}", on_tty(None));
    // (The progress bar on the terminal's stderr has escapes of its own.)
    let plain = on_tty(Some("1"));
    assert!(
        plain.contains("readv(") && !plain.contains("\x1b[1m"),
        "{plain}"
    );
}
