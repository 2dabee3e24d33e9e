//! `/proc` files whose text the recorder rewrites to what a native run
//! would read: a recorded task's `status` and `stat` (they show the
//! recorder as its tracer, its seccomp filter and CPU pin, and a task it
//! holds as stopped), and `/proc/cpuinfo` (its flags name the CPU
//! features the recorder hides from CPUID, which a program that trusts
//! them would execute). Opens of these files take the traced path, and
//! after one the process's reads of procfs files do too
//! ([`crate::PROC_READS_TRACED`]); the recorder serves them from the
//! rewritten text before they are recorded, so replay returns it.

/// The CPU description, whose flags show the hidden features.
pub const CPUINFO: &[u8] = b"/proc/cpuinfo";

/// The reader's own status and scheduler counts, by the names that do not
/// give a number.
const OWN_STATUS: [&[u8]; 4] = [
    b"/proc/self/status",
    b"/proc/thread-self/status",
    b"/proc/self/sched",
    b"/proc/thread-self/sched",
];

/// Whether the recorder rewrites what the program reads from `path`.
pub fn edited_by_recorder(path: &[u8]) -> bool {
    path == CPUINFO || OWN_STATUS.contains(&path) || state_file(path).is_some()
}

/// How a state file shows the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/proc/N/stat`: the third field, after the command in parentheses.
    Stat,
    /// `/proc/N/status`: the `State:` line.
    Status,
    /// `/proc/N/sched`: no state, but the task's context switches, which
    /// count the recorder's stops.
    Sched,
}

/// The task whose state `path` shows, and how: `/proc/N/stat`,
/// `/proc/N/status`, and the same under `/proc/N/task/M/` or
/// `/proc/self/task/M/`. `None` for any other path, and for the reader's
/// own by name (`/proc/self/stat`, `/proc/thread-self/status`): only its
/// status is rewritten, and the path gives no number.
pub fn state_file(path: &[u8]) -> Option<(u32, Format)> {
    let rest = path.strip_prefix(b"/proc/")?;
    let (first, rest) = split_component(rest)?;
    let (tid, rest) = if rest.starts_with(b"task/") {
        let (tid, rest) = split_component(&rest[b"task/".len()..])?;
        (tid, rest)
    } else {
        (first, rest)
    };
    let tid = number(tid)?;
    let format = match rest {
        b"stat" => Format::Stat,
        b"status" => Format::Status,
        b"sched" => Format::Sched,
        _ => return None,
    };
    Some((tid, format))
}

/// The component before the next `/`, and what follows that `/`.
fn split_component(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let slash = path.iter().position(|&b| b == b'/')?;
    Some((&path[..slash], &path[slash + 1..]))
}

fn number(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_files_are_recognised() {
        for path in [
            &b"/proc/cpuinfo"[..],
            b"/proc/self/status",
            b"/proc/thread-self/status",
            b"/proc/self/sched",
            b"/proc/42/stat",
        ] {
            assert!(edited_by_recorder(path), "{path:?}");
        }
        for path in [
            &b"/proc/meminfo"[..],
            b"/proc/self/stat",
            b"/proc/self/maps",
        ] {
            assert!(!edited_by_recorder(path), "{path:?}");
        }
    }

    #[test]
    fn state_files_of_other_tasks_are_recognised() {
        assert_eq!(state_file(b"/proc/42/stat"), Some((42, Format::Stat)));
        assert_eq!(state_file(b"/proc/42/status"), Some((42, Format::Status)));
        assert_eq!(state_file(b"/proc/42/sched"), Some((42, Format::Sched)));
        assert_eq!(
            state_file(b"/proc/42/task/43/stat"),
            Some((43, Format::Stat))
        );
        assert_eq!(
            state_file(b"/proc/self/task/43/status"),
            Some((43, Format::Status))
        );
        for other in [
            &b"/proc/self/stat"[..],
            b"/proc/thread-self/status",
            b"/proc/42/statm",
            b"/proc/42/task/43/stat/x",
            b"/proc/42/maps",
            b"/tmp/42/stat",
            b"/proc/4x/stat",
        ] {
            assert_eq!(state_file(other), None, "{other:?}");
        }
    }
}
