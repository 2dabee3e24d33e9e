//! The interactive prompt's command line, run against a replay of a small
//! recording. The body is `fuzzing::interactive_commands::run`
//! (crates/fuzzing), which the test suite also runs over this target's
//! corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::interactive_commands::run(input));
