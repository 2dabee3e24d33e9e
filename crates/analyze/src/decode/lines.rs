//! Whole lines strace prints besides a call's arguments: the padding
//! before the result, where a call interrupted by another task splits,
//! signal deliveries and exits.

use super::fmt::ptr;
use crate::errno::signal_name;
use syscall_model::Sysno;

/// Where a call's arguments that it writes start: strace splits a call
/// another task interrupts there, the arguments before it on the
/// `<unfinished ...>` line and the rest, decoded at exit, on the
/// `<... resumed>` one. From the syscall model where its writes say (a
/// buffer, fixed structs) or its arguments' kinds (an address, a struct or iovecs
/// the kernel fills), and listed for the irregular ones. `None`: every
/// argument shows at entry.
pub fn first_output_arg(sysno: Option<Sysno>) -> Option<usize> {
    use syscall_model::decode::ArgKind;
    use syscall_model::{At, Writes};
    let sysno = sysno?;
    if sysno == Sysno::rseq {
        // Its struct shows as an address, as strace prints it at entry.
        return None;
    }
    let listed = match sysno {
        Sysno::read
        | Sysno::pread64
        | Sysno::getdents64
        | Sysno::recvfrom
        | Sysno::recvmsg
        | Sysno::epoll_wait
        | Sysno::epoll_pwait
        | Sysno::epoll_pwait2
        | Sysno::capget
        | Sysno::rt_sigtimedwait => Some(1),
        Sysno::waitid => Some(2),
        _ => None,
    };
    let row = syscall_model::syscall(sysno.id() as u64)?;
    let filled = row.args.iter().position(|kind| {
        matches!(
            kind,
            ArgKind::PeerAddrOut
                | ArgKind::LocalAddrOut
                | ArgKind::LenOut
                | ArgKind::IovecsOut(_)
                | ArgKind::StructOut(_)
        )
    });
    listed.or(filled).or_else(|| match row.writes {
        Writes::Returned { buf, .. } => Some(buf),
        Writes::OnSuccess(structs) => structs.iter().map(|At(arg, _)| *arg).min(),
        _ => None,
    })
}

/// Pads `line` to strace's result column (40) before ` = `.
pub fn with_result(prefix_len: usize, call: &str, ret: &str) -> String {
    let used = prefix_len + call.chars().count();
    let pad = 39usize.saturating_sub(used);
    format!("{call}{} = {ret}", " ".repeat(pad))
}

/// `--- SIGCHLD {si_signo=SIGCHLD, si_code=1, si_pid=42, ...} ---`
pub fn signal_line(signo: i32, siginfo: &[u8]) -> String {
    let name = signal_name(signo);
    let int = |off: usize| {
        siginfo
            .get(off..off + 4)
            .map(|b| i32::from_ne_bytes(b.try_into().unwrap_or([0; 4])))
    };
    let code = int(8).unwrap_or(0);
    let long = |off: usize| {
        siginfo
            .get(off..off + 8)
            .map(|b| i64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(0)
    };
    // Clock ticks, with strace's note of the seconds when there are any.
    let ticks = |t: i64| match t {
        0 => "0".to_string(),
        t => format!("{t} /* {}.{:02} s */", t / 100, t % 100),
    };
    const SIGCHLD: i32 = 17;
    const CLD_CODES: [&str; 6] = [
        "CLD_EXITED",
        "CLD_KILLED",
        "CLD_DUMPED",
        "CLD_TRAPPED",
        "CLD_STOPPED",
        "CLD_CONTINUED",
    ];
    if signo == SIGCHLD && (1..=6).contains(&code) {
        let status = int(24).unwrap_or(0);
        // A signal's name where the child was killed, stopped or dumped.
        let status = if code == 1 {
            status.to_string()
        } else {
            signal_name(status)
        };
        return format!(
            "--- {name} {{si_signo={name}, si_code={}, si_pid={}, si_uid={}, si_status={status}, si_utime={}, si_stime={}}} ---",
            CLD_CODES[code as usize - 1],
            int(16).unwrap_or(0),
            int(20).unwrap_or(0),
            ticks(long(32)),
            ticks(long(40)),
        );
    }
    let detail = match signo {
        11 | 7 | 4 | 8 => format!(
            ", si_addr={}",
            ptr(siginfo
                .get(16..24)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
                .unwrap_or(0))
        ),
        _ => format!(
            ", si_pid={}, si_uid={}",
            int(16).unwrap_or(0),
            int(20).unwrap_or(0)
        ),
    };
    let code_s = match code {
        0 => "SI_USER".to_string(),
        -6 => "SI_TKILL".to_string(),
        -1 => "SI_QUEUE".to_string(),
        0x80 => "SI_KERNEL".to_string(),
        c => c.to_string(),
    };
    format!("--- {name} {{si_signo={name}, si_code={code_s}{detail}}} ---")
}

/// `+++ exited with 0 +++` / `+++ killed by SIGKILL +++`
pub fn exit_line(status: i32) -> String {
    let sig = status & 0x7f;
    if sig == 0 {
        format!("+++ exited with {} +++", (status >> 8) & 0xff)
    } else {
        let core = if status & 0x80 != 0 {
            " (core dumped)"
        } else {
            ""
        };
        format!("+++ killed by {}{core} +++", signal_name(sig))
    }
}
