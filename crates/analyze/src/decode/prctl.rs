//! prctl as strace shows it: the option by name, and only the arguments
//! that option takes, each in its own terms.

use super::caps::capability;
use super::fmt::{ptr, quote_cstr, symbol};
use crate::errno::signal_name;
use crate::pairing::SyscallRecord;

const OPTIONS: &[(u64, &str)] = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (5, "PR_GET_UNALIGN"),
    (6, "PR_SET_UNALIGN"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (9, "PR_GET_FPEMU"),
    (10, "PR_SET_FPEMU"),
    (11, "PR_GET_FPEXC"),
    (12, "PR_SET_FPEXC"),
    (13, "PR_GET_TIMING"),
    (14, "PR_SET_TIMING"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (19, "PR_GET_ENDIAN"),
    (20, "PR_SET_ENDIAN"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (25, "PR_GET_TSC"),
    (26, "PR_SET_TSC"),
    (27, "PR_GET_SECUREBITS"),
    (28, "PR_SET_SECUREBITS"),
    (29, "PR_SET_TIMERSLACK"),
    (30, "PR_GET_TIMERSLACK"),
    (31, "PR_TASK_PERF_EVENTS_DISABLE"),
    (32, "PR_TASK_PERF_EVENTS_ENABLE"),
    (33, "PR_MCE_KILL"),
    (34, "PR_MCE_KILL_GET"),
    (35, "PR_SET_MM"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (40, "PR_GET_TID_ADDRESS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (45, "PR_SET_FP_MODE"),
    (46, "PR_GET_FP_MODE"),
    (47, "PR_CAP_AMBIENT"),
    (52, "PR_GET_SPECULATION_CTRL"),
    (53, "PR_SET_SPECULATION_CTRL"),
    (55, "PR_SET_TAGGED_ADDR_CTRL"),
    (56, "PR_GET_TAGGED_ADDR_CTRL"),
    (57, "PR_SET_IO_FLUSHER"),
    (58, "PR_GET_IO_FLUSHER"),
    (59, "PR_SET_SYSCALL_USER_DISPATCH"),
    (62, "PR_SCHED_CORE"),
    (0x4155_5856, "PR_GET_AUXV"),
    (0x5356_4d41, "PR_SET_VMA"),
    (0x5961_6d61, "PR_SET_PTRACER"),
];

const DUMPABLE: &[(u64, &str)] = &[
    (0, "SUID_DUMP_DISABLE"),
    (1, "SUID_DUMP_USER"),
    (2, "SUID_DUMP_ROOT"),
];
const TSC: &[(u64, &str)] = &[(1, "PR_TSC_ENABLE"), (2, "PR_TSC_SIGSEGV")];

fn hex(value: u64) -> String {
    if value == 0 {
        "0".into()
    } else {
        format!("{value:#x}")
    }
}

/// A thread name (`TASK_COMM_LEN` bytes with the NUL): strace marks one
/// that fills all 15 characters as possibly cut short.
fn task_name(bytes: &[u8]) -> String {
    const NAME_MAX: usize = 15;
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let quoted = quote_cstr(bytes, NAME_MAX);
    if len == NAME_MAX {
        format!("{quoted}...")
    } else {
        quoted
    }
}

impl super::Decoder<'_> {
    /// The argument list strace prints for prctl.
    pub(super) fn prctl_arguments(&self, rec: &SyscallRecord) -> Vec<String> {
        let a = rec.args;
        let failed = rec.errno().is_some();
        let option = symbol(a[0] & 0xffff_ffff, OPTIONS);
        let written_or_ptr = |shown: Option<String>| match failed {
            true => ptr(a[1]),
            false => shown.unwrap_or_else(|| ptr(a[1])),
        };
        let written_u32 = || {
            let bytes = rec.written(a[1], 4)?;
            Some(u32::from_ne_bytes(bytes.try_into().ok()?))
        };
        let rest = match a[0] {
            // No argument.
            3 | 7 | 13 | 21 | 27 | 30 | 34 | 46 | 58 => vec![],
            // An int the call stores at arg2.
            2 | 5 | 9 | 11 | 19 | 37 => {
                vec![written_or_ptr(
                    written_u32().map(|v| format!("[{}]", v as i32)),
                )]
            }
            25 => vec![written_or_ptr(
                written_u32().map(|v| format!("[{}]", symbol(u64::from(v), TSC))),
            )],
            1 => vec![match a[1] {
                0 => "0".into(),
                sig => signal_name(sig as i32),
            }],
            4 => vec![symbol(a[1], DUMPABLE)],
            26 => vec![symbol(a[1], TSC)],
            15 => vec![crate::inputs::lookup(self.inputs, rec, a[1], 16)
                .map(task_name)
                .unwrap_or_else(|| ptr(a[1]))],
            16 => vec![written_or_ptr(rec.written(a[1], 16).map(task_name))],
            23 | 24 => vec![capability(a[1])],
            // One number.
            8 | 14 | 29 | 36 | 57 => vec![a[1].to_string()],
            38 | 39 | 41 | 42 => {
                let mut v = vec![a[1].to_string()];
                v.extend(a[2..5].iter().map(|x| hex(*x)));
                v
            }
            _ => a[1..5].iter().map(|x| hex(*x)).collect(),
        };
        std::iter::once(option).chain(rest).collect()
    }
}
