//! This boot's CPUID table, kept in the trace root so that a recording need
//! not read it again.
//!
//! In a VM every CPUID instruction exits to the hypervisor (about 6 µs
//! here), and the full table is a few hundred of them: over a millisecond
//! of CPU per recording, taken from the two cores the tracee and the
//! recorder share. The table cannot change without a reboot except through
//! a late microcode load or a live migration, and both show in the leaves
//! that are checked on every use (vendor and maximum leaf, family/model/
//! stepping and feature flags, structured extended features) and in XCR0.
//! A mismatch reads the table again and replaces the file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::machine::{cpuid, current, current_xcr0, uname};
use trace::{normalize, CpuidLeaf, MachineInfo};

/// Leaves (subleaf 0) compared with the running CPU before a cached table
/// is trusted.
const CHECKED_LEAVES: [u32; 3] = [0, 1, 7];

/// The machine facts, from `dir`'s file for this boot when it still
/// describes this CPU, otherwise read now and stored there (best effort:
/// any failure only means reading the table next time too).
pub(crate) fn machine_info(dir: &Path) -> MachineInfo {
    let Some(path) = boot_id().map(|boot| dir.join(format!("cpuid-v2-{boot}.json"))) else {
        return current();
    };
    if let Some(cached) = read(&path).filter(still_describes_this_cpu) {
        let (kernel, hostname) = uname();
        return MachineInfo {
            kernel,
            hostname,
            ..cached
        };
    }
    let fresh = current();
    if let Err(e) = store(dir, &path, &fresh) {
        tracing::debug!("CPUID table not cached in {}: {e}", dir.display());
    }
    fresh
}

/// The kernel's random id of this boot.
fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .then(|| id.to_string())
}

fn read(path: &Path) -> Option<MachineInfo> {
    let bytes = fs::read(path).ok()?;
    let cached: MachineInfo = serde_json::from_slice(&bytes).ok()?;
    (!cached.cpuid.is_empty()).then_some(cached)
}

fn still_describes_this_cpu(cached: &MachineInfo) -> bool {
    let same_leaf = |leaf: u32| {
        let now = normalize(&cpuid(leaf, 0));
        cached
            .cpuid
            .iter()
            .find(|l| l.leaf == leaf && l.subleaf == 0)
            .is_some_and(|l: &CpuidLeaf| normalize(l) == now)
    };
    CHECKED_LEAVES.into_iter().all(same_leaf) && cached.xcr0 == current_xcr0(&cached.cpuid)
}

/// Writes the table to a temporary file and renames it over `path`, so a
/// concurrent recorder reads either the old file or the whole new one.
/// Files of earlier boots are removed.
fn store(dir: &Path, path: &Path, info: &MachineInfo) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp: PathBuf = dir.join(format!(".cpuid-{}.tmp", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&serde_json::to_vec(info)?))
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
        return written;
    }
    for entry in fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("cpuid-") && entry.path() != path {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_table_is_used_while_it_matches_and_replaced_when_not() {
        let dir = std::env::temp_dir().join(format!("replay-cpuid-cache-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = machine_info(&dir);
        let files: Vec<_> = fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1, "one file for this boot");
        let path = files[0].path();
        assert_eq!(read(&path).map(|m| m.cpuid), Some(first.cpuid.clone()));

        // A table that still matches the checked leaves is taken as it is:
        // mark an unchecked leaf to see it come back.
        let mut marked = first.clone();
        marked.cpuid.push(CpuidLeaf {
            leaf: 0x4000_0000,
            subleaf: 0,
            eax: 0x5eed,
            ebx: 0,
            ecx: 0,
            edx: 0,
        });
        fs::write(&path, serde_json::to_vec(&marked).unwrap()).unwrap();
        assert_eq!(machine_info(&dir).cpuid, marked.cpuid);

        // One whose feature flags differ from this CPU is read again (on
        // whichever core: APIC ids may differ, features may not).
        let leaf1_ecx = |m: &MachineInfo| m.cpuid.iter().find(|l| l.leaf == 1).unwrap().ecx;
        let mut stale = first.clone();
        stale.cpuid.iter_mut().find(|l| l.leaf == 1).unwrap().ecx ^= 1;
        fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
        let reread = machine_info(&dir);
        assert_eq!(leaf1_ecx(&reread), leaf1_ecx(&first));
        assert!(first.cpuid_differences(&reread).is_empty());
        let stored = read(&path).unwrap();
        assert_eq!(leaf1_ecx(&stored), leaf1_ecx(&first));

        // A damaged file too.
        fs::write(&path, b"{not json").unwrap();
        assert!(first.cpuid_differences(&machine_info(&dir)).is_empty());
        assert!(read(&path).is_some());
        let mode = fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
