//! A CPUID table as a trace's header carries it, on arbitrary values: the
//! answers replay gives the program, the features it hides, and the
//! comparison with this machine must never panic, and must be consistent.
use trace::{CpuidLeaf, MachineInfo};

fn table(input: &[u8]) -> MachineInfo {
    let word = |chunk: &[u8], i: usize| {
        u32::from_le_bytes(chunk[4 * i..4 * i + 4].try_into().expect("four bytes"))
    };
    let cpuid = input
        .chunks_exact(24)
        .map(|c| CpuidLeaf {
            leaf: word(c, 0),
            subleaf: word(c, 1),
            eax: word(c, 2),
            ebx: word(c, 3),
            ecx: word(c, 4),
            edx: word(c, 5),
        })
        .collect();
    let xcr0 = input
        .get(input.len().saturating_sub(8)..)
        .filter(|tail| tail.len() == 8)
        .map(|tail| u64::from_le_bytes(tail.try_into().expect("eight bytes")))
        .unwrap_or(0);
    MachineInfo {
        cpu_vendor: if input.first().is_some_and(|b| b & 1 == 1) {
            "GenuineIntel".into()
        } else {
            "AuthenticAMD".into()
        },
        cpuid,
        xcr0,
        ..MachineInfo::default()
    }
}

pub fn run(input: &[u8]) {
    let mut machine = table(input);
    let answers = host::cpu_features::CpuidAnswers::new(&machine);
    for leaf in [
        0,
        1,
        4,
        7,
        0xb,
        0xd,
        0x4000_0000,
        0x8000_0000,
        0x8000_0008,
        u32::MAX,
    ] {
        for subleaf in [0, 1, 5, u32::MAX] {
            answers.answer(leaf, subleaf);
        }
    }
    for l in &machine.cpuid {
        answers.answer(l.leaf, l.subleaf);
    }
    let before = machine.clone();
    let hidden =
        host::cpu_features::hidden_set(&["avx512".into(), "tsx".into()], &[]).expect("known names");
    host::cpu_features::hide(&mut machine.cpuid, &hidden);
    // A table never lacks what it has; hiding only takes features away.
    assert!(host::cpu_features::missing_on(&before, &before).is_empty());
    assert!(host::cpu_features::missing_on(&machine, &before).is_empty());
    let _ = before.cpuid_differences(&machine);
}
