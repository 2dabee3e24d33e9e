//! Capabilities as strace names them: prctl's capability bounding set,
//! capget and capset.

use crate::pairing::SyscallRecord;

pub const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// One capability by number.
pub fn capability(value: u64) -> String {
    match usize::try_from(value)
        .ok()
        .and_then(|i| CAPABILITIES.get(i))
    {
        Some(name) => name.to_string(),
        None => format!("{value:#x} /* CAP_??? */"),
    }
}

/// A capability set: `1<<CAP_CHOWN|1<<CAP_KILL`, or 0.
fn capability_set(set: u64) -> String {
    let names: Vec<String> = (0..64)
        .filter(|bit| set & (1 << bit) != 0)
        .map(|bit| match CAPABILITIES.get(bit as usize) {
            Some(name) => format!("1<<{name}"),
            None => format!("1<<{bit}"),
        })
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

const VERSIONS: &[(u64, &str)] = &[
    (0x1998_0330, "_LINUX_CAPABILITY_VERSION_1"),
    (0x2007_1026, "_LINUX_CAPABILITY_VERSION_2"),
    (0x2008_0522, "_LINUX_CAPABILITY_VERSION_3"),
];

/// `struct __user_cap_header_struct`: the version and the pid.
pub fn header(bytes: &[u8]) -> Option<String> {
    let version = u64::from(u32::from_ne_bytes(bytes.get(..4)?.try_into().ok()?));
    let pid = i32::from_ne_bytes(bytes.get(4..8)?.try_into().ok()?);
    let version = VERSIONS
        .iter()
        .find(|(known, _)| *known == version)
        .map_or_else(|| format!("{version:#x}"), |(_, name)| name.to_string());
    Some(format!("{{version={version}, pid={pid}}}"))
}

/// The data structs after a header of `version`: one for version 1, two
/// (the low and high 32 bits of each set) after.
pub fn data(bytes: &[u8], version: u32) -> Option<String> {
    let word = |i: usize| -> Option<u64> {
        Some(u64::from(u32::from_ne_bytes(
            bytes.get(4 * i..4 * i + 4)?.try_into().ok()?,
        )))
    };
    let two = version != 0x1998_0330;
    let set = |i: usize| -> Option<u64> {
        let high = if two { word(3 + i)? } else { 0 };
        Some(word(i)? | high << 32)
    };
    Some(format!(
        "{{effective={}, permitted={}, inheritable={}}}",
        capability_set(set(0)?),
        capability_set(set(1)?),
        capability_set(set(2)?)
    ))
}

impl super::Decoder<'_> {
    /// capget's and capset's arguments: the header read (and for capget
    /// the version written back), and the sets read or written.
    pub(super) fn capabilities(&self, rec: &SyscallRecord, out: &mut [String]) {
        let a = rec.args;
        let header_bytes = crate::inputs::lookup(self.inputs, rec, a[0], 8);
        if let Some(text) = header_bytes.and_then(header) {
            out[0] = text;
        }
        let version = header_bytes
            .and_then(|b| Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?)))
            .unwrap_or(0);
        let sets = match rec.sysno() {
            Some(syscall_model::Sysno::capget) if rec.errno().is_none() => rec.written(a[1], 24),
            Some(syscall_model::Sysno::capset) => crate::inputs::lookup(self.inputs, rec, a[1], 24),
            _ => None,
        };
        if let Some(text) = sets.and_then(|b| data(b, version)) {
            out[1] = text;
        }
    }
}
