//! Every fuzz target's body over its saved corpus (`fuzz/corpus/<target>`),
//! over mutations of those inputs, and over generated ones: on the stable
//! toolchain, in every `scripts/test` run. A panic anywhere fails the test.

use std::path::PathBuf;

/// Generated and mutated inputs per target, besides the saved corpus.
const EXTRA_INPUTS: usize = 3000;

/// xorshift64*: deterministic, so a failure names a reproducible input.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// A saved input with a few bytes changed, cut short or grown.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut input = seed.to_vec();
        for _ in 0..1 + self.next() % 8 {
            match self.next() % 3 {
                0 if !input.is_empty() => {
                    let at = (self.next() as usize) % input.len();
                    let byte = self.next() as u8;
                    input[at] = byte;
                }
                1 if !input.is_empty() => {
                    let len = (self.next() as usize) % input.len();
                    input.truncate(len);
                }
                _ => {
                    let len = (self.next() % 64) as usize;
                    let more = self.bytes(len);
                    input.extend(more);
                }
            }
        }
        input
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the {target} corpus at {} is missing: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        // A fuzzer running meanwhile replaces inputs with smaller ones: a
        // file gone since the listing is skipped, any other error fails.
        .filter_map(|f| match std::fs::read(f) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read corpus file {}: {e}", f.display()),
        })
        .collect()
}

/// Targets whose every input starts a replay get fewer generated ones.
const SLOW_TARGETS: &[(&str, usize)] = &[("gdb_packets", 60), ("interactive_commands", 60)];

fn exercise(target: &str, run: fn(&[u8])) {
    let saved = corpus(target);
    assert!(!saved.is_empty(), "the {target} corpus is empty");
    for input in &saved {
        run(input);
    }
    let extra = SLOW_TARGETS
        .iter()
        .find(|(slow, _)| *slow == target)
        .map_or(EXTRA_INPUTS, |&(_, n)| n);
    let mut generator = Generator(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for i in 0..extra {
        let input = if i % 2 == 0 {
            let seed = &saved[(generator.next() as usize) % saved.len()];
            generator.mutate(seed)
        } else {
            let len = (generator.next() % 2048) as usize;
            generator.bytes(len)
        };
        run(&input);
    }
}

#[test]
fn every_target_survives_its_corpus_and_generated_inputs() {
    for &(target, run) in fuzzing::TARGETS {
        exercise(target, run);
    }
}
