//! One-file traces (`replay pack`) on arbitrary bytes: unpacking ends in a
//! trace directory or one error, and never writes outside its directory.
//! The body is `fuzzing::pack::run` (crates/fuzzing), which the test suite
//! also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::pack::run(input));
