//! The trace reader on arbitrary `events` and `data` streams: chunk framing,
//! decompression, event decoding and payload lookup must fail with an error,
//! never panic, hang or allocate without bound.
//!
//! Input: one selector byte (bit 0: the manifest says the recording was
//! complete or cut off), a little-endian u32 length of the `events` file,
//! then the `events` bytes, then the `data` bytes.
//! The body is `fuzzing::trace_reader::run` (crates/fuzzing), which the test suite
//! also runs over this target's corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| fuzzing::trace_reader::run(input));
