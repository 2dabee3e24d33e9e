//! `/proc` files whose text the recorder edits to what a native run would
//! read. Another task's state: the kernel shows a task its tracer holds
//! as `t (tracing stop)`, where natively it runs (`R`) or a signal stopped
//! it (`T`). `/proc/cpuinfo`: its flags name the CPU features the
//! recorder hides from CPUID (RDRAND, RDSEED, RDPID), which a program that
//! trusts them would execute. Opens of these files take the traced path,
//! and after one the process's reads of procfs files do too
//! ([`crate::PROC_READS_TRACED`]); the recorder edits the text before it
//! is recorded, so replay returns the edited bytes.

/// The CPU description, whose flags show the hidden features.
pub const CPUINFO: &[u8] = b"/proc/cpuinfo";

/// Whether the recorder edits what the program reads from `path`.
pub fn edited_by_recorder(path: &[u8]) -> bool {
    path == CPUINFO || state_file(path).is_some()
}

/// Blanks out the flags in `hidden` from the `flags` lines of the cpuinfo
/// text in `buf`: spaces in their place keep every offset as the kernel
/// made it, so a read that goes on later finds what it would have.
pub fn hide_cpu_flags(buf: &mut [u8], hidden: &[&str]) {
    let mut line_start = 0;
    while line_start < buf.len() {
        let line_end = buf[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| line_start + i);
        let line = &mut buf[line_start..line_end];
        if line.starts_with(b"flags") {
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                blank_words(&mut line[colon + 1..], hidden);
            }
        }
        line_start = line_end + 1;
    }
}

/// Replaces each space-separated word of `text` that is in `words` by
/// spaces.
fn blank_words(text: &mut [u8], words: &[&str]) {
    let mut at = 0;
    while at < text.len() {
        if text[at] == b' ' {
            at += 1;
            continue;
        }
        let end = text[at..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(text.len(), |i| at + i);
        if words.iter().any(|w| w.as_bytes() == &text[at..end]) {
            text[at..end].fill(b' ');
        }
        at = end;
    }
}

/// How a state file shows the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/proc/N/stat`: the third field, after the command in parentheses.
    Stat,
    /// `/proc/N/status`: the `State:` line.
    Status,
}

/// The task whose state `path` shows, and how: `/proc/N/stat`,
/// `/proc/N/status`, and the same under `/proc/N/task/M/` or
/// `/proc/self/task/M/`. `None` for any other path, and for the reader's
/// own (`/proc/self/stat`, `/proc/thread-self/status`): it is running.
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

/// The tracer's state letter.
const TRACED: u8 = b't';
const STATUS_KEY: &[u8] = b"State:\t";
const TRACED_STATUS: &[u8] = b"t (tracing stop)";

/// Shows `state` (`b'R'` or `b'T'`) where the text in `buf[..len]` shows
/// the tracer's `t`; returns its new length. The status line gets shorter:
/// the rest moves up when `may_shrink` (the read reached the end of the
/// file, so nothing after it is read by offset), and is padded with spaces
/// otherwise.
pub fn show_state(
    buf: &mut [u8],
    len: usize,
    format: Format,
    state: u8,
    may_shrink: bool,
) -> usize {
    let len = len.min(buf.len());
    match format {
        Format::Stat => {
            let Some(paren) = buf[..len].iter().rposition(|&b| b == b')') else {
                return len;
            };
            let at = paren + 2;
            if at >= len || buf[paren + 1] != b' ' || buf[at] != TRACED {
                return len;
            }
            if at + 1 == len || buf[at + 1] == b' ' {
                buf[at] = state;
            }
            len
        }
        Format::Status => {
            let Some(start) = find(&buf[..len], STATUS_KEY).map(|i| i + STATUS_KEY.len()) else {
                return len;
            };
            let end = start + TRACED_STATUS.len();
            if buf.get(start..end) != Some(TRACED_STATUS) || end > len {
                return len;
            }
            let text: &[u8] = if state == b'T' {
                b"T (stopped)"
            } else {
                b"R (running)"
            };
            buf[start..start + text.len()].copy_from_slice(text);
            if may_shrink {
                buf.copy_within(end..len, start + text.len());
                len - (TRACED_STATUS.len() - text.len())
            } else {
                buf[start + text.len()..end].fill(b' ');
                len
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_flags_turn_to_spaces() {
        let mut text = *b"model\t: 1\nflags\t\t: fpu rdrand sse rdseed\nbogomips: rdrand\n";
        let before = text;
        hide_cpu_flags(&mut text, &["rdrand", "rdseed"]);
        assert_eq!(
            &text,
            b"model\t: 1\nflags\t\t: fpu        sse       \nbogomips: rdrand\n"
        );
        assert_eq!(text.len(), before.len());
        assert!(edited_by_recorder(b"/proc/cpuinfo"));
        assert!(!edited_by_recorder(b"/proc/meminfo"));
    }

    #[test]
    fn state_files_of_other_tasks_are_recognised() {
        assert_eq!(state_file(b"/proc/42/stat"), Some((42, Format::Stat)));
        assert_eq!(state_file(b"/proc/42/status"), Some((42, Format::Status)));
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

    #[test]
    fn stat_shows_the_native_letter() {
        let mut buf = *b"42 (a) b) t 1 2 3\n";
        let len = buf.len();
        assert_eq!(show_state(&mut buf, len, Format::Stat, b'T', true), len);
        assert_eq!(&buf, b"42 (a) b) T 1 2 3\n");
        let mut running = *b"42 (x) S 1\n";
        show_state(&mut running, 11, Format::Stat, b'T', true);
        assert_eq!(&running, b"42 (x) S 1\n", "only the tracer's t changes");
    }

    #[test]
    fn status_shrinks_or_pads() {
        const TEXT: &[u8] = b"Name:\tx\nState:\tt (tracing stop)\nTgid:\t42\n";
        let mut buf = [0u8; 64];
        buf[..TEXT.len()].copy_from_slice(TEXT);
        let len = show_state(&mut buf, TEXT.len(), Format::Status, b'T', true);
        assert_eq!(&buf[..len], b"Name:\tx\nState:\tT (stopped)\nTgid:\t42\n");
        buf[..TEXT.len()].copy_from_slice(TEXT);
        let len = show_state(&mut buf, TEXT.len(), Format::Status, b'R', false);
        assert_eq!(
            &buf[..len],
            b"Name:\tx\nState:\tR (running)     \nTgid:\t42\n"
        );
    }
}
