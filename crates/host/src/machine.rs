//! Facts about this machine that decide whether a trace can be replayed
//! elsewhere: the kernel, the CPU's CPUID table and XCR0. The trace keeps
//! them in its manifest ([`trace::MachineInfo`]); this crate reads them.

use trace::{CpuidLeaf, MachineInfo};

/// A [`MachineInfo`] being read on another thread.
pub struct PendingMachineInfo(Option<std::thread::JoinHandle<MachineInfo>>);

impl PendingMachineInfo {
    /// Waits for it (reading it here if the thread could not start).
    pub fn wait(self) -> MachineInfo {
        self.0
            .and_then(|thread| thread.join().ok())
            .unwrap_or_else(current)
    }
}

/// Leaves whose subleaves carry information of their own.
pub(crate) const SUBLEAF_LEAVES: [u32; 12] = [
    4, 7, 0xb, 0xd, 0xf, 0x10, 0x12, 0x14, 0x17, 0x18, 0x1d, 0x1f,
];
/// Guards against hypervisors that report absurd maxima.
const MAX_BASIC_LEAF: u32 = 0xff;
const MAX_EXT_LEAF: u32 = 0x8000_00ff;
const MAX_SUBLEAF: u32 = 63;
const HYPERVISOR_BASE: u32 = 0x4000_0000;

/// This machine without its CPUID table, which is slow to read in a VM
/// (every CPUID instruction exits to the hypervisor: about 6 µs each
/// here, 1 ms for the table). An empty table means "not known"; see
/// [`in_background`].
pub fn without_cpuid() -> MachineInfo {
    let (kernel, hostname) = uname();
    MachineInfo {
        kernel,
        hostname,
        cpu_vendor: String::new(),
        cpu_model: String::new(),
        cpuid: Vec::new(),
        xcr0: 0,
    }
}

/// [`current`], with the CPUID table from this boot's file
/// in `cache_dir` while it still matches the CPU (see `cpuid_cache.rs`),
/// and stored there when not.
pub fn current_cached(cache_dir: &std::path::Path) -> MachineInfo {
    crate::cpuid_cache::machine_info(cache_dir)
}

/// [`current`] computed on a thread of its own, so that
/// recording and replay start without waiting for it. With `cache_dir`
/// the CPUID table comes from this boot's file there when it still
/// matches the CPU (see `cpuid_cache.rs`), and is stored there when not.
pub fn in_background(cache_dir: Option<std::path::PathBuf>) -> PendingMachineInfo {
    PendingMachineInfo(
        std::thread::Builder::new()
            .name("replay-cpuid".into())
            .spawn(move || match cache_dir {
                Some(dir) => current_cached(&dir),
                None => current(),
            })
            .ok(),
    )
}

/// Replaces the leaves of `table` that name the executing core (its APIC
/// ids, core id and core type: the fields [`trace::normalize`] ignores)
/// with what CPU `cpu` answers, read on a thread pinned there. A table
/// read on another core then answers as `cpu` would. Unchanged when that
/// CPU cannot be used.
pub fn as_seen_on_cpu(table: &mut [CpuidLeaf], cpu: usize) {
    let wanted: Vec<(u32, u32)> = table
        .iter()
        .filter(|l| matches!(l.leaf, 1 | 0xb | 0x1a | 0x1f | 0x8000_001e | 0x8000_0026))
        .map(|l| (l.leaf, l.subleaf))
        .collect();
    let read = std::thread::Builder::new()
        .name("replay-cpuid-core".into())
        .spawn(move || {
            pin_to(cpu).then(|| {
                wanted
                    .into_iter()
                    .map(|(leaf, subleaf)| cpuid(leaf, subleaf))
                    .collect::<Vec<_>>()
            })
        })
        .ok()
        .and_then(|thread| thread.join().ok())
        .flatten();
    for fresh in read.unwrap_or_default() {
        if let Some(slot) = table
            .iter_mut()
            .find(|l| l.leaf == fresh.leaf && l.subleaf == fresh.subleaf)
        {
            *slot = fresh;
        }
    }
}

/// Pins the calling thread to `cpu`; false when it may not run there.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: CPU_SET writes one bit inside `set` (cpu is below
    // CPU_SETSIZE); sched_setaffinity only reads it.
    unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

pub fn current() -> MachineInfo {
    let (kernel, hostname) = uname();
    let cpuid = collect_cpuid();
    let find = |leaf: u32| cpuid.iter().find(|l| l.leaf == leaf && l.subleaf == 0);
    let cpu_vendor = find(0)
        .map(|l| {
            let mut b = Vec::with_capacity(12);
            for r in [l.ebx, l.edx, l.ecx] {
                b.extend_from_slice(&r.to_le_bytes());
            }
            String::from_utf8_lossy(&b).trim().to_string()
        })
        .unwrap_or_default();
    let mut brand = Vec::with_capacity(48);
    for leaf in 0x8000_0002..=0x8000_0004u32 {
        if let Some(l) = find(leaf) {
            for r in [l.eax, l.ebx, l.ecx, l.edx] {
                brand.extend_from_slice(&r.to_le_bytes());
            }
        }
    }
    let cpu_model = String::from_utf8_lossy(&brand)
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string();
    let xcr0 = current_xcr0(&cpuid);
    MachineInfo {
        kernel,
        hostname,
        cpu_vendor,
        cpu_model,
        cpuid,
        xcr0,
    }
}

pub(crate) fn uname() -> (String, String) {
    // SAFETY: utsname is plain bytes, so all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname for the duration of the call.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let kernel = [
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine),
    ]
    .join(" ");
    (kernel, field(&u.nodename))
}

/// XCR0 of this CPU, when `cpuid` (its table) says XGETBV may read it.
pub(crate) fn current_xcr0(cpuid: &[CpuidLeaf]) -> u64 {
    let osxsave = cpuid
        .iter()
        .find(|l| l.leaf == 1 && l.subleaf == 0)
        .is_some_and(|l| l.ecx & (1 << 27) != 0);
    if osxsave {
        read_xcr0()
    } else {
        0
    }
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> CpuidLeaf {
    CpuidLeaf::zero(leaf, subleaf)
}

/// One CPUID result of the CPU this thread runs on.
#[cfg(target_arch = "x86_64")]
pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> CpuidLeaf {
    // SAFETY: CPUID exists on every x86_64 CPU and has no side effects.
    #[allow(unused_unsafe)]
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
    CpuidLeaf {
        leaf,
        subleaf,
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

#[cfg(target_arch = "x86_64")]
fn subleaf_count(leaf: u32, first: &CpuidLeaf) -> u32 {
    match leaf {
        // Subleaf 0 EAX holds the highest subleaf.
        7 | 0x14 | 0x17 | 0x18 | 0x1d => first.eax.min(MAX_SUBLEAF),
        0xf | 0x10 => 3,
        _ => MAX_SUBLEAF,
    }
}

/// Whether enumeration of `leaf` ends before subleaf `l.subleaf`.
#[cfg(target_arch = "x86_64")]
fn is_terminator(leaf: u32, l: &CpuidLeaf) -> bool {
    match leaf {
        // Cache type "null".
        4 => l.eax & 0x1f == 0,
        // Level type "invalid".
        0xb | 0x1f => (l.ecx >> 8) & 0xff == 0,
        // SGX: an invalid EPC section ends the list after the fixed ones.
        0x12 => l.subleaf >= 2 && l.eax & 0xf == 0,
        // XSAVE components beyond 63 do not exist; a zeroed subleaf is an
        // unsupported component, not the end.
        _ => false,
    }
}

#[cfg(target_arch = "x86_64")]
fn collect_cpuid() -> Vec<CpuidLeaf> {
    let mut out = Vec::new();
    let max_basic = cpuid(0, 0).eax.min(MAX_BASIC_LEAF);
    for leaf in 0..=max_basic {
        let first = cpuid(leaf, 0);
        out.push(first);
        if SUBLEAF_LEAVES.contains(&leaf) && !is_terminator(leaf, &first) {
            for sub in 1..=subleaf_count(leaf, &first) {
                let l = cpuid(leaf, sub);
                out.push(l);
                if is_terminator(leaf, &l) {
                    break;
                }
            }
        }
    }
    // A hypervisor's leaves, which programs read to learn that they run
    // in a VM (CPUID.1:ECX bit 31 says they exist).
    if cpuid(1, 0).ecx & (1 << 31) != 0 {
        let max_hv = cpuid(HYPERVISOR_BASE, 0).eax;
        if (HYPERVISOR_BASE..=HYPERVISOR_BASE + 0xff).contains(&max_hv) {
            for leaf in HYPERVISOR_BASE..=max_hv {
                out.push(cpuid(leaf, 0));
            }
        }
    }
    let max_ext = cpuid(0x8000_0000, 0).eax;
    if max_ext >= 0x8000_0000 {
        for leaf in 0x8000_0000..=max_ext.min(MAX_EXT_LEAF) {
            out.push(cpuid(leaf, 0));
        }
    }
    out
}

#[cfg(not(target_arch = "x86_64"))]
fn collect_cpuid() -> Vec<CpuidLeaf> {
    Vec::new()
}

#[cfg(target_arch = "x86_64")]
fn read_xcr0() -> u64 {
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        // SAFETY: the caller checked CPUID.1:ECX.OSXSAVE, so XGETBV is
        // enabled; register 0 (XCR0) always exists then.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }
    // SAFETY: only called after CPUID reported OSXSAVE, which implies the
    // xsave target feature this function is compiled for.
    unsafe { xgetbv0() }
}

#[cfg(not(target_arch = "x86_64"))]
fn read_xcr0() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_machine_is_self_consistent() {
        let m = current();
        assert!(!m.kernel.is_empty());
        assert!(!m.cpuid.is_empty());
        assert!(!m.cpu_vendor.is_empty());
        assert!(m.cpuid_differences(&m.clone()).is_empty());
        // A second query (possibly on another core) must not differ.
        assert_eq!(m.cpuid_differences(&current()), Vec::<String>::new());
    }

    #[test]
    fn a_table_not_read_is_no_difference() {
        let known = current();
        let unknown = without_cpuid();
        assert!(unknown.cpuid.is_empty() && !unknown.kernel.is_empty());
        assert!(unknown.cpuid_differences(&known).is_empty());
        assert!(known.cpuid_differences(&unknown).is_empty());
        let read_elsewhere = in_background(None).wait();
        assert!(!read_elsewhere.cpuid.is_empty());
        assert!(known.cpuid_differences(&read_elsewhere).is_empty());
    }

    #[test]
    fn apic_ids_are_ignored_but_features_are_not() {
        let mut a = current();
        a.cpuid = vec![
            CpuidLeaf {
                leaf: 1,
                subleaf: 0,
                eax: 1,
                ebx: 0x0100_0800,
                ecx: 3,
                edx: 4,
            },
            CpuidLeaf {
                leaf: 0xb,
                subleaf: 0,
                eax: 1,
                ebx: 2,
                ecx: 0x100,
                edx: 7,
            },
        ];
        let mut b = a.clone();
        b.cpuid[0].ebx = 0x0500_0800;
        b.cpuid[1].edx = 9;
        assert!(a.cpuid_differences(&b).is_empty());
        b.cpuid[0].ecx = 2;
        b.cpuid.push(CpuidLeaf {
            leaf: 7,
            subleaf: 0,
            eax: 0,
            ebx: 0,
            ecx: 0,
            edx: 0,
        });
        b.xcr0 ^= 0x4;
        let d = a.cpuid_differences(&b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("leaf 0x1 subleaf 0 ecx"), "{d:?}");
    }
}
