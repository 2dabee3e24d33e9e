//! Facts about the recording machine that decide whether a trace can be
//! replayed elsewhere: the recorded program may have chosen code paths by
//! CPUID and sized XSAVE areas by XCR0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One CPUID result.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidLeaf {
    pub leaf: u32,
    pub subleaf: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

impl CpuidLeaf {
    /// A result of all zeros, what CPUID gives for a leaf that does not
    /// exist (and what a machine without CPUID reports).
    pub fn zero(leaf: u32, subleaf: u32) -> CpuidLeaf {
        CpuidLeaf {
            leaf,
            subleaf,
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        }
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineInfo {
    /// `uname -srvm`.
    pub kernel: String,
    pub hostname: String,
    pub cpu_vendor: String,
    /// The brand string, e.g. "AMD EPYC 7763 64-Core Processor".
    pub cpu_model: String,
    pub cpuid: Vec<CpuidLeaf>,
    pub xcr0: u64,
}

impl MachineInfo {
    /// Human-readable differences between the CPUID results (and XCR0) of
    /// two machines, ignoring fields that differ between the cores of one
    /// machine: APIC ids (leaf 1 EBX[31:24], leaves 0xb/0x1f EDX, AMD leaves
    /// 0x8000001e EAX and 0x80000026 EDX), the AMD core id (leaf 0x8000001e
    /// EBX[7:0]) and the hybrid core type (leaf
    /// 0x1a EAX), which depends on the core the query ran on.
    /// An empty list when either table is not known (a recording whose
    /// recorder was killed before it finished has none).
    pub fn cpuid_differences(&self, other: &MachineInfo) -> Vec<String> {
        if self.cpuid.is_empty() || other.cpuid.is_empty() {
            return Vec::new();
        }
        let index = |m: &MachineInfo| {
            m.cpuid
                .iter()
                .map(|l| ((l.leaf, l.subleaf), normalize(l)))
                .collect::<BTreeMap<_, _>>()
        };
        let a = index(self);
        let b = index(other);
        let mut out = Vec::new();
        for (key, la) in &a {
            match b.get(key) {
                None => out.push(format!(
                    "cpuid leaf {:#x} subleaf {} exists only on the first machine",
                    key.0, key.1
                )),
                Some(lb) => {
                    for (name, x, y) in [
                        ("eax", la.eax, lb.eax),
                        ("ebx", la.ebx, lb.ebx),
                        ("ecx", la.ecx, lb.ecx),
                        ("edx", la.edx, lb.edx),
                    ] {
                        if x != y {
                            out.push(format!(
                                "cpuid leaf {:#x} subleaf {} {name}: {x:#010x} vs {y:#010x} \
                                 (differing bits {:#010x})",
                                key.0,
                                key.1,
                                x ^ y
                            ));
                        }
                    }
                }
            }
        }
        for key in b.keys().filter(|k| !a.contains_key(k)) {
            out.push(format!(
                "cpuid leaf {:#x} subleaf {} exists only on the second machine",
                key.0, key.1
            ));
        }
        if self.xcr0 != other.xcr0 {
            out.push(format!(
                "xcr0: {:#x} vs {:#x} (enabled XSAVE features differ)",
                self.xcr0, other.xcr0
            ));
        }
        out
    }
}

pub fn normalize(l: &CpuidLeaf) -> CpuidLeaf {
    let mut l = *l;
    match l.leaf {
        1 => l.ebx &= 0x00ff_ffff,
        0xb | 0x1f => l.edx = 0,
        0x1a => l.eax = 0,
        0x8000_001e => {
            l.eax = 0;
            l.ebx &= !0xff;
        }
        0x8000_0026 => l.edx = 0,
        _ => {}
    }
    l
}
