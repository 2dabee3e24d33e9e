//! What the recorder shows in a recorded process's `/proc/PID/status`,
//! taken back out of what the program reads there: `TracerPid` (the
//! recorder traces it), and with the syscall buffer `Seccomp` and
//! `Seccomp_filters` (the buffer's filter) and, where the recorder had to
//! set it, `NoNewPrivs`. The library edits the reads it buffers, the
//! recorder the reads it traces, each before the bytes are recorded, so
//! replay returns the edited bytes.
//!
//! Only the reader's own process is edited (`Tgid` is its pid): the
//! library knows no other process's state.

/// Which of the recorder's marks to take out, besides `TracerPid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Marks {
    /// The buffer's seccomp filter, and no filter of the program's own.
    pub seccomp_filter: bool,
    /// no_new_privs the recorder set, and the program did not set itself.
    pub no_new_privs: bool,
}

const NAME: &[u8] = b"Name:\t";

/// Edits the status text in `buf[..len]` (a read of `/proc/PID/status`
/// from its start) when it is `own_pid`'s; returns its new length. A
/// shorter value moves the rest up when `may_shrink` (the read reached the
/// end of the file, so nothing after it is read by offset); otherwise it
/// is padded with spaces before the number, which every number parser
/// skips.
pub fn hide_recorder(
    buf: &mut [u8],
    len: usize,
    own_pid: u64,
    marks: Marks,
    may_shrink: bool,
) -> usize {
    let mut len = len.min(buf.len());
    if !buf[..len].starts_with(NAME) || field(&buf[..len], b"Tgid:") != Some(own_pid) {
        return len;
    }
    len = set_field(buf, len, b"TracerPid:", |_| Some(0), may_shrink);
    if marks.seccomp_filter {
        // Filters the process inherited (a container's) stay, and with
        // them the mode.
        let others = field(&buf[..len], b"Seccomp_filters:").map_or(0, |n| n.saturating_sub(1));
        if others == 0 {
            len = set_field(buf, len, b"Seccomp:", |v| (v == 2).then_some(0), may_shrink);
        }
        len = set_field(
            buf,
            len,
            b"Seccomp_filters:",
            |v| v.checked_sub(1),
            may_shrink,
        );
    }
    if marks.no_new_privs {
        len = set_field(
            buf,
            len,
            b"NoNewPrivs:",
            |v| (v == 1).then_some(0),
            may_shrink,
        );
    }
    len
}

/// The value of the `key` line (`key\t<number>`), if there is one.
fn field(text: &[u8], key: &[u8]) -> Option<u64> {
    let (start, end) = value_range(text, key)?;
    parse(&text[start..end])
}

/// Where the number of the `key` line is, in `text`.
fn value_range(text: &[u8], key: &[u8]) -> Option<(usize, usize)> {
    let mut at = 0;
    while at < text.len() {
        let line_end = text[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| at + i);
        let line = &text[at..line_end];
        if let Some(rest) = line.strip_prefix(key) {
            let skip = rest
                .iter()
                .take_while(|&&b| b == b'\t' || b == b' ')
                .count();
            return Some((at + key.len() + skip, line_end));
        }
        at = line_end + 1;
    }
    None
}

fn parse(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Replaces the `key` line's number by `new(old)` where that gives one.
fn set_field(
    buf: &mut [u8],
    len: usize,
    key: &[u8],
    new: impl Fn(u64) -> Option<u64>,
    may_shrink: bool,
) -> usize {
    let Some((start, end)) = value_range(&buf[..len], key) else {
        return len;
    };
    let Some(value) = parse(&buf[start..end]).and_then(new) else {
        return len;
    };
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    let mut v = value;
    loop {
        n -= 1;
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let text = &digits[n..];
    let old_len = end - start;
    if text.len() > old_len {
        return len;
    }
    if may_shrink {
        buf[start..start + text.len()].copy_from_slice(text);
        buf.copy_within(end..len, start + text.len());
        len - (old_len - text.len())
    } else {
        let pad = old_len - text.len();
        buf[start..start + pad].fill(b' ');
        buf[start + pad..end].copy_from_slice(text);
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &[u8] = b"Name:\tprog\nTgid:\t42\nPid:\t42\nTracerPid:\t1234\nSeccomp:\t2\nSeccomp_filters:\t1\nNoNewPrivs:\t1\nend\n";

    /// The edited text, in a buffer with its length.
    fn edited(own: u64, marks: Marks, may_shrink: bool) -> ([u8; 256], usize) {
        let mut buf = [0u8; 256];
        buf[..STATUS.len()].copy_from_slice(STATUS);
        let len = hide_recorder(&mut buf, STATUS.len(), own, marks, may_shrink);
        (buf, len)
    }

    #[test]
    fn the_readers_own_status_loses_the_recorders_marks() {
        let all = Marks {
            seccomp_filter: true,
            no_new_privs: true,
        };
        let (buf, len) = edited(42, all, true);
        assert_eq!(
            &buf[..len],
            b"Name:\tprog\nTgid:\t42\nPid:\t42\nTracerPid:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\nNoNewPrivs:\t0\nend\n"
        );
        let (buf, len) = edited(42, Marks::default(), true);
        assert_eq!(
            &buf[..len],
            b"Name:\tprog\nTgid:\t42\nPid:\t42\nTracerPid:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\nNoNewPrivs:\t1\nend\n"
        );
    }

    #[test]
    fn an_inherited_filter_keeps_the_mode() {
        let marks = Marks {
            seccomp_filter: true,
            no_new_privs: false,
        };
        let mut buf = *b"Name:\tx\nTgid:\t7\nSeccomp:\t2\nSeccomp_filters:\t2\n";
        let len = buf.len();
        let len = hide_recorder(&mut buf, len, 7, marks, true);
        assert_eq!(
            &buf[..len],
            b"Name:\tx\nTgid:\t7\nSeccomp:\t2\nSeccomp_filters:\t1\n"
        );
    }

    #[test]
    fn a_read_that_may_go_on_keeps_its_length() {
        let (buf, len) = edited(42, Marks::default(), false);
        assert_eq!(len, STATUS.len());
        assert!(buf[..len].windows(15).any(|w| w == b"TracerPid:\t   0"));
    }

    #[test]
    fn another_process_or_another_file_is_left_alone() {
        let (buf, len) = edited(43, Marks::default(), true);
        assert_eq!(&buf[..len], STATUS);
        let mut other = *b"Tgid:\t42\nTracerPid:\t9\n";
        let len = other.len();
        assert_eq!(
            hide_recorder(&mut other, len, 42, Marks::default(), true),
            len
        );
        assert_eq!(&other, b"Tgid:\t42\nTracerPid:\t9\n");
    }
}
