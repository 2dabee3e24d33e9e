//! Named CPU features: the CPUID bits a recording may hide from the program
//! (`record --hide-cpu-feature`), and that replay looks for on its own CPU
//! before it answers CPUID from a recording's table.

use trace::{CpuidLeaf, MachineInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reg {
    Eax,
    Ebx,
    Ecx,
    Edx,
}

/// One feature flag: the bit of a CPUID result that announces it.
#[derive(Debug, Clone, Copy)]
struct FeatureBit {
    name: &'static str,
    leaf: u32,
    subleaf: u32,
    reg: Reg,
    bit: u8,
}

const fn bit(name: &'static str, leaf: u32, subleaf: u32, reg: Reg, bit: u8) -> FeatureBit {
    FeatureBit {
        name,
        leaf,
        subleaf,
        reg,
        bit,
    }
}

use Reg::{Eax, Ebx, Ecx, Edx};

/// The flags that choose code paths in libc, compilers' runtime dispatch
/// and language runtimes, named as `/proc/cpuinfo` names them.
const FEATURES: &[FeatureBit] = &[
    bit("sse3", 1, 0, Ecx, 0),
    bit("pclmulqdq", 1, 0, Ecx, 1),
    bit("ssse3", 1, 0, Ecx, 9),
    bit("fma", 1, 0, Ecx, 12),
    bit("cx16", 1, 0, Ecx, 13),
    bit("sse4_1", 1, 0, Ecx, 19),
    bit("sse4_2", 1, 0, Ecx, 20),
    bit("movbe", 1, 0, Ecx, 22),
    bit("popcnt", 1, 0, Ecx, 23),
    bit("aes", 1, 0, Ecx, 25),
    bit("xsave", 1, 0, Ecx, 26),
    bit("avx", 1, 0, Ecx, 28),
    bit("f16c", 1, 0, Ecx, 29),
    bit("rdrand", 1, 0, Ecx, 30),
    bit("cmov", 1, 0, Edx, 15),
    bit("mmx", 1, 0, Edx, 23),
    bit("fxsr", 1, 0, Edx, 24),
    bit("sse", 1, 0, Edx, 25),
    bit("sse2", 1, 0, Edx, 26),
    bit("fsgsbase", 7, 0, Ebx, 0),
    bit("bmi1", 7, 0, Ebx, 3),
    bit("hle", 7, 0, Ebx, 4),
    bit("avx2", 7, 0, Ebx, 5),
    bit("bmi2", 7, 0, Ebx, 8),
    bit("erms", 7, 0, Ebx, 9),
    bit("rtm", 7, 0, Ebx, 11),
    bit("avx512f", 7, 0, Ebx, 16),
    bit("avx512dq", 7, 0, Ebx, 17),
    bit("rdseed", 7, 0, Ebx, 18),
    bit("adx", 7, 0, Ebx, 19),
    bit("avx512ifma", 7, 0, Ebx, 21),
    bit("clflushopt", 7, 0, Ebx, 23),
    bit("clwb", 7, 0, Ebx, 24),
    bit("avx512pf", 7, 0, Ebx, 26),
    bit("avx512er", 7, 0, Ebx, 27),
    bit("avx512cd", 7, 0, Ebx, 28),
    bit("sha_ni", 7, 0, Ebx, 29),
    bit("avx512bw", 7, 0, Ebx, 30),
    bit("avx512vl", 7, 0, Ebx, 31),
    bit("avx512vbmi", 7, 0, Ecx, 1),
    bit("pku", 7, 0, Ecx, 3),
    bit("waitpkg", 7, 0, Ecx, 5),
    bit("avx512_vbmi2", 7, 0, Ecx, 6),
    bit("gfni", 7, 0, Ecx, 8),
    bit("vaes", 7, 0, Ecx, 9),
    bit("vpclmulqdq", 7, 0, Ecx, 10),
    bit("avx512_vnni", 7, 0, Ecx, 11),
    bit("avx512_bitalg", 7, 0, Ecx, 12),
    bit("avx512_vpopcntdq", 7, 0, Ecx, 14),
    bit("rdpid", 7, 0, Ecx, 22),
    bit("movdiri", 7, 0, Ecx, 27),
    bit("movdir64b", 7, 0, Ecx, 28),
    bit("avx512_4vnniw", 7, 0, Edx, 2),
    bit("avx512_4fmaps", 7, 0, Edx, 3),
    bit("fsrm", 7, 0, Edx, 4),
    bit("avx512_vp2intersect", 7, 0, Edx, 8),
    bit("serialize", 7, 0, Edx, 14),
    bit("amx_bf16", 7, 0, Edx, 22),
    bit("avx512_fp16", 7, 0, Edx, 23),
    bit("amx_tile", 7, 0, Edx, 24),
    bit("amx_int8", 7, 0, Edx, 25),
    bit("avx_vnni", 7, 1, Eax, 4),
    bit("avx512_bf16", 7, 1, Eax, 5),
    bit("xsaveopt", 0xd, 1, Eax, 0),
    bit("xsavec", 0xd, 1, Eax, 1),
    bit("xgetbv1", 0xd, 1, Eax, 2),
    bit("xsaves", 0xd, 1, Eax, 3),
    bit("lahf_lm", 0x8000_0001, 0, Ecx, 0),
    bit("abm", 0x8000_0001, 0, Ecx, 5),
    bit("sse4a", 0x8000_0001, 0, Ecx, 6),
    bit("3dnowprefetch", 0x8000_0001, 0, Ecx, 8),
    bit("xop", 0x8000_0001, 0, Ecx, 11),
    bit("fma4", 0x8000_0001, 0, Ecx, 16),
    bit("tbm", 0x8000_0001, 0, Ecx, 21),
    bit("syscall", 0x8000_0001, 0, Edx, 11),
    bit("nx", 0x8000_0001, 0, Edx, 20),
    bit("pdpe1gb", 0x8000_0001, 0, Edx, 26),
    bit("rdtscp", 0x8000_0001, 0, Edx, 27),
    bit("lm", 0x8000_0001, 0, Edx, 29),
    bit("clzero", 0x8000_0008, 0, Ebx, 0),
    bit("wbnoinvd", 0x8000_0008, 0, Ebx, 9),
];

/// Names that stand for several flags.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "avx512",
        &[
            "avx512f",
            "avx512dq",
            "avx512ifma",
            "avx512pf",
            "avx512er",
            "avx512cd",
            "avx512bw",
            "avx512vl",
            "avx512vbmi",
            "avx512_vbmi2",
            "avx512_vnni",
            "avx512_bitalg",
            "avx512_vpopcntdq",
            "avx512_4vnniw",
            "avx512_4fmaps",
            "avx512_vp2intersect",
            "avx512_fp16",
            "avx512_bf16",
        ],
    ),
    ("tsx", &["hle", "rtm"]),
    ("amx", &["amx_bf16", "amx_tile", "amx_int8"]),
    ("sha", &["sha_ni"]),
];

/// What a recording hides unless told otherwise: with them hidden, glibc,
/// OpenSSL and language runtimes take their random numbers from
/// `getrandom`, which is recorded, instead of from instructions that
/// nothing can trap; and a program asks which CPU it is on with
/// `getcpu` (recorded) or `rdtscp` (trapped), not `rdpid`, which answers
/// from the CPU it runs on and cannot be trapped either.
pub const HIDDEN_BY_DEFAULT: &[&str] = &["rdrand", "rdseed", "rdpid"];

/// Expands feature names and group names (`avx512`, `tsx`, `amx`) into
/// flag names. The error names the known ones.
pub fn resolve(names: &[String]) -> Result<Vec<&'static str>, String> {
    let mut out: Vec<&'static str> = Vec::new();
    for name in names {
        let name = name.trim().to_ascii_lowercase();
        let members: Vec<&'static str> =
            if let Some((_, members)) = GROUPS.iter().find(|(group, _)| *group == name) {
                members.to_vec()
            } else if let Some(feature) = FEATURES.iter().find(|f| f.name == name) {
                vec![feature.name]
            } else {
                return Err(format!(
                    "unknown CPU feature \"{name}\"; known: {}, {}",
                    GROUPS
                        .iter()
                        .map(|(g, _)| *g)
                        .collect::<Vec<_>>()
                        .join(", "),
                    FEATURES
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
        for member in members {
            if !out.contains(&member) {
                out.push(member);
            }
        }
    }
    Ok(out)
}

/// The default hidden set with `hide` added and `keep` taken out, as flag
/// names.
pub fn hidden_set(hide: &[String], keep: &[String]) -> Result<Vec<&'static str>, String> {
    let mut names: Vec<String> = HIDDEN_BY_DEFAULT.iter().map(|s| s.to_string()).collect();
    names.extend(hide.iter().cloned());
    let kept = resolve(keep)?;
    Ok(resolve(&names)?
        .into_iter()
        .filter(|name| !kept.contains(name))
        .collect())
}

fn register(leaf: &mut CpuidLeaf, reg: Reg) -> &mut u32 {
    match reg {
        Eax => &mut leaf.eax,
        Ebx => &mut leaf.ebx,
        Ecx => &mut leaf.ecx,
        Edx => &mut leaf.edx,
    }
}

/// Clears the flags named in `hidden` (flag names, as [`resolve`] gives)
/// in `table`. The XSAVE leaf (0xd) keeps its sizes: the CPU saves what
/// XCR0 enables whatever CPUID says, so an area sized from a smaller
/// answer would overflow.
pub fn hide(table: &mut [CpuidLeaf], hidden: &[&str]) {
    for feature in FEATURES.iter().filter(|f| hidden.contains(&f.name)) {
        if let Some(leaf) = table
            .iter_mut()
            .find(|l| l.leaf == feature.leaf && l.subleaf == feature.subleaf)
        {
            *register(leaf, feature.reg) &= !(1u32 << feature.bit);
        }
    }
}

/// The features a program recorded with `recorded`'s CPUID table may use
/// that `host`'s CPU lacks: named flags first, then unnamed bits of the
/// same feature registers, then XSAVE state components (XCR0) the program
/// may have relied on.
pub fn missing_on(recorded: &MachineInfo, host: &MachineInfo) -> Vec<String> {
    let value = |m: &MachineInfo, leaf: u32, subleaf: u32, reg: Reg| {
        m.cpuid
            .iter()
            .find(|l| l.leaf == leaf && l.subleaf == subleaf)
            .map(|l| {
                let mut l = *l;
                *register(&mut l, reg)
            })
            .unwrap_or(0)
    };
    let mut missing: Vec<String> = Vec::new();
    let feature_registers: &[(u32, u32, Reg)] = &[
        (1, 0, Ecx),
        (1, 0, Edx),
        (7, 0, Ebx),
        (7, 0, Ecx),
        (7, 0, Edx),
        (7, 1, Eax),
        (0xd, 1, Eax),
        (0x8000_0001, 0, Ecx),
        (0x8000_0001, 0, Edx),
    ];
    // Bits that describe the running system, not what the CPU can do:
    // OSXSAVE follows the kernel, the hypervisor bit the VM.
    let not_features = |leaf: u32, reg: Reg, bit: u8| {
        matches!((leaf, reg, bit), (1, Ecx, 27) | (1, Ecx, 31) | (1, Edx, 9))
    };
    for &(leaf, subleaf, reg) in feature_registers {
        let lacking = value(recorded, leaf, subleaf, reg) & !value(host, leaf, subleaf, reg);
        for b in 0..32u8 {
            if lacking & (1 << b) == 0 || not_features(leaf, reg, b) {
                continue;
            }
            let named = FEATURES
                .iter()
                .find(|f| f.leaf == leaf && f.subleaf == subleaf && f.reg == reg && f.bit == b);
            missing.push(match named {
                Some(f) => f.name.to_string(),
                None => format!("cpuid {leaf:#x}.{subleaf} {reg:?} bit {b}").to_lowercase(),
            });
        }
    }
    let xcr0 = recorded.xcr0 & !host.xcr0;
    if xcr0 != 0 {
        missing.push(format!("XSAVE state components {xcr0:#x} (XCR0)"));
    }
    missing
}

/// `REPLAY_CPUID_FAULTING=off`: record and replay as on a machine without
/// CPUID faulting (for comparisons, and to test that case anywhere).
pub fn cpuid_faulting_turned_off() -> bool {
    std::env::var_os("REPLAY_CPUID_FAULTING").is_some_and(|v| v == "off")
}

/// Whether this kernel and CPU can make CPUID fault
/// (`arch_prctl(ARCH_SET_CPUID, 0)`), asked once per process; false when
/// [`cpuid_faulting_turned_off`].
pub fn cpuid_faulting_available() -> bool {
    if cpuid_faulting_turned_off() {
        return false;
    }
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        const ARCH_SET_CPUID: libc::c_long = 0x1012;
        // SAFETY: arch_prctl(ARCH_SET_CPUID) only changes this thread's
        // CPUID faulting; the two calls run back to back with no CPUID
        // between them, and the second one turns it off again.
        unsafe {
            if libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0 as libc::c_long) != 0 {
                return false;
            }
            libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1 as libc::c_long) == 0
        }
    })
}

/// A recording's CPUID table, ready to answer a program's trapped CPUIDs.
#[derive(Debug, Clone)]
pub struct CpuidAnswers {
    table: Vec<CpuidLeaf>,
    intel: bool,
}

impl CpuidAnswers {
    pub fn new(machine: &MachineInfo) -> CpuidAnswers {
        CpuidAnswers {
            table: machine.cpuid.clone(),
            intel: machine.cpu_vendor == "GenuineIntel",
        }
    }

    /// eax, ebx, ecx and edx for CPUID with `leaf` in eax and `subleaf` in
    /// ecx.
    pub fn answer(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let l = answer(&self.table, self.intel, leaf, subleaf);
        [l.eax, l.ebx, l.ecx, l.edx]
    }
}

/// The CPUID result a program sees when every CPUID it executes is
/// answered from `table`, the way the recorded CPU answered (a leaf above
/// the maximum gives the highest basic leaf on Intel and zeros elsewhere;
/// a subleaf past a leaf's list gives zeros, with the level number echoed
/// for the topology leaves).
pub fn answer(table: &[CpuidLeaf], intel: bool, leaf: u32, subleaf: u32) -> CpuidLeaf {
    let find = |leaf: u32, subleaf: u32| {
        table
            .iter()
            .find(|l| l.leaf == leaf && l.subleaf == subleaf)
            .copied()
    };
    let zero = CpuidLeaf::zero(leaf, subleaf);
    let max_of = |base: u32| find(base, 0).map(|l| l.eax).unwrap_or(0);
    let base = leaf & 0xffff_0000;
    let max = max_of(base);
    let out_of_range = base != 0x4000_0000 && (max < base || leaf > max);
    if out_of_range || (base == 0x4000_0000 && find(leaf, 0).is_none()) {
        if intel && base != 0x4000_0000 {
            let highest = max_of(0);
            return find(highest, 0)
                .map(|l| CpuidLeaf { leaf, subleaf, ..l })
                .unwrap_or(zero);
        }
        return zero;
    }
    if let Some(exact) = find(leaf, subleaf) {
        return exact;
    }
    if crate::machine::SUBLEAF_LEAVES.contains(&leaf) {
        let mut past_end = zero;
        if leaf == 0xb || leaf == 0x1f {
            past_end.ecx = subleaf & 0xff;
            past_end.edx = find(leaf, 0).map(|l| l.edx).unwrap_or(0);
        }
        return past_end;
    }
    find(leaf, 0)
        .map(|l| CpuidLeaf { leaf, subleaf, ..l })
        .unwrap_or(zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(leaf: u32, subleaf: u32, eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidLeaf {
        CpuidLeaf {
            leaf,
            subleaf,
            eax,
            ebx,
            ecx,
            edx,
        }
    }

    fn table() -> Vec<CpuidLeaf> {
        vec![
            leaf(0, 0, 0xd, 1, 2, 3),
            leaf(1, 0, 0x11, 0x0200_0000, (1 << 30) | (1 << 28), 1 << 26),
            leaf(7, 0, 0, (1 << 18) | (1 << 16) | (1 << 5), 0, 0),
            leaf(0xb, 0, 1, 2, 0x100, 7),
            leaf(0xd, 0, 0xe7, 0x988, 0xa88, 0),
            leaf(0x8000_0000, 0, 0x8000_0001, 0, 0, 0),
            leaf(0x8000_0001, 0, 0, 0, 1, 0),
        ]
    }

    #[test]
    fn default_hides_rdrand_rdseed_and_rdpid_and_keep_takes_them_back() {
        let hidden = hidden_set(&[], &[]).unwrap();
        assert_eq!(hidden, vec!["rdrand", "rdseed", "rdpid"]);
        let mut t = table();
        hide(&mut t, &hidden);
        assert_eq!(t[1].ecx, 1 << 28, "rdrand cleared, avx kept");
        assert_eq!(t[2].ebx, (1 << 16) | (1 << 5), "rdseed cleared");
        assert_eq!(t[4], table()[4], "xsave sizes untouched");
        let kept = hidden_set(&["avx512".into()], &["rdrand".into()]).unwrap();
        assert!(kept.contains(&"avx512f") && kept.contains(&"rdseed"));
        assert!(!kept.contains(&"rdrand"));
        let err = hidden_set(&["avx513".into()], &[]).unwrap_err();
        assert!(err.contains("unknown CPU feature \"avx513\""), "{err}");
    }

    #[test]
    fn answers_follow_the_recorded_cpu() {
        let t = table();
        assert_eq!(answer(&t, false, 1, 5).eax, 0x11, "subleaf ignored");
        assert_eq!(answer(&t, false, 7, 0).ebx, t[2].ebx);
        assert_eq!(answer(&t, false, 7, 3), leaf(7, 3, 0, 0, 0, 0));
        assert_eq!(answer(&t, false, 0xb, 2), leaf(0xb, 2, 0, 0, 2, 7));
        // Past the maximum: zeros on AMD, the highest basic leaf on Intel.
        assert_eq!(answer(&t, false, 0x20, 0), leaf(0x20, 0, 0, 0, 0, 0));
        assert_eq!(answer(&t, true, 0x20, 0).ebx, 0x988);
        assert_eq!(answer(&t, true, 0x8000_0008, 0).eax, 0xe7);
        assert_eq!(answer(&t, false, 0x4000_0000, 0).eax, 0);
    }

    #[test]
    fn missing_features_are_named() {
        let recorded = MachineInfo {
            cpuid: table(),
            xcr0: 0xe7,
            ..Default::default()
        };
        let mut host = recorded.clone();
        assert!(missing_on(&recorded, &host).is_empty());
        host.cpuid[2].ebx = 0;
        host.cpuid[1].ecx |= 1 << 27;
        host.xcr0 = 0x7;
        assert_eq!(
            missing_on(&recorded, &host),
            vec![
                "avx2",
                "avx512f",
                "rdseed",
                "XSAVE state components 0xe0 (XCR0)"
            ]
        );
        // A host with more is fine.
        assert!(missing_on(&host, &recorded).is_empty());
    }
}
