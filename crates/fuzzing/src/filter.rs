//! The filter / event-breakpoint grammar (docs/filter-spec.md) on arbitrary
//! text: a parse error, never a panic.

pub fn run(input: &[u8]) {
    if let Ok(spec) = std::str::from_utf8(input) {
        if let Ok(f) = analyze::Filter::parse(spec) {
            let _ = f.needs_result();
        }
    }
}
