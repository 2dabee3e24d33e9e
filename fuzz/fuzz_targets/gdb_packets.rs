//! What a gdb client sends, served over a replay of a small recording:
//! packets in any order, memory and registers at any address, reverse
//! commands anywhere. The body is `fuzzing::gdb_packets::run`
//! (crates/fuzzing), which the test suite also runs over this target's
//! corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::gdb_packets::run(input));
