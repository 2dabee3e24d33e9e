//! The syscall buffer as the recorder reads it: records and their column
//! layout from memory the recorded program can write anything into.
//! The body is `fuzzing::syscall_buffer::run` (crates/fuzzing), which the
//! test suite also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::syscall_buffer::run(input));
