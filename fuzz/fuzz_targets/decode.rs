//! The strace-style argument decoders on arbitrary syscall records: any
//! number, arguments, result and captured memory (input and output ranges
//! placed at the argument addresses, so pointer arguments find bytes).
//! Also the filter matcher against the same record.
//! The body is `fuzzing::decode::run` (crates/fuzzing), which the test suite
//! also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::decode::run(input));
