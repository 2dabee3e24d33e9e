//! The manifest parser (and `TraceReader::open`, which validates it against
//! the stream headers) on arbitrary bytes.
//! The body is `fuzzing::manifest::run` (crates/fuzzing), which the test suite
//! also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::manifest::run(input));
