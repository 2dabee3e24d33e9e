//! A trace's CPUID table on arbitrary values: the answers replay gives the
//! program, the features it hides, and the comparison with a host.
//! The body is `fuzzing::cpuid_table::run` (crates/fuzzing), which the test
//! suite also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::cpuid_table::run(input));
