//! The filter / event-breakpoint grammar (docs/filter-spec.md) on arbitrary
//! text: a parse error, never a panic.
//! The body is `fuzzing::filter::run` (crates/fuzzing), which the test suite
//! also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::filter::run(input));
