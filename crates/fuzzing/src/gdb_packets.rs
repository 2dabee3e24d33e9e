//! What a gdb client sends, on arbitrary bytes: packets served over a
//! replay of a small recording, in any order, with memory and register
//! requests at any address and reverse commands anywhere. Every input
//! must end in answers or an error, never a panic or a hang.
//!
//! The input is a list of packet bodies separated by newlines, each framed
//! with its checksum as gdb would; an input that starts with 0xff is sent
//! as it is, framing included, to reach the protocol's own error paths.

/// `body` framed as a packet: `$body#checksum`.
fn frame(body: &[u8], out: &mut Vec<u8>) {
    let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    out.push(b'$');
    out.extend_from_slice(body);
    out.extend_from_slice(format!("#{sum:02x}").as_bytes());
}

pub fn run(input: &[u8]) {
    // Errors are answers too (a divergence, a refused request); only a
    // panic or a hang would be a finding.
    let _ = answers(input);
}

/// What the server answers `input` (see the module's comment for its form).
pub fn answers(input: &[u8]) -> Result<Vec<u8>, gdbserver::GdbServerError> {
    let client = match input.split_first() {
        Some((0xff, raw)) => raw.to_vec(),
        _ => {
            let mut framed = Vec::new();
            for body in input.split(|&b| b == b'\n').take(64) {
                frame(body, &mut framed);
                framed.push(b'+');
            }
            framed
        }
    };
    gdbserver::serve_scripted(
        crate::recording::echo(),
        gdbserver::StartAt::default(),
        &client,
    )
}
