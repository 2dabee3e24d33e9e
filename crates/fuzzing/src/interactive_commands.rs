//! The interactive prompt's command line on arbitrary text: every line
//! runs against a replay of a small recording (breakpoints in the filter
//! grammar, stepping, going back, reading registers and memory at any
//! address), and must end in output or an `error:` line, never a panic or
//! a hang.
pub fn run(input: &[u8]) {
    let _ = output(input);
}

/// What the prompt prints for the lines in `input`.
pub fn output(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    let script: String = text.lines().take(32).collect::<Vec<_>>().join("\n");
    let options = interactive::Options {
        trace_dir: crate::recording::echo().clone(),
        breakpoints: Vec::new(),
    };
    let mut out = Vec::new();
    if let Err(e) = interactive::run_script(&options, &script, &mut out) {
        out.extend_from_slice(format!("failed: {e}").as_bytes());
    }
    String::from_utf8_lossy(&out).into_owned()
}
