//! How the library makes a call without waiting for another process:
//! reads and writes tried with `RWF_NOWAIT`, receives with
//! `MSG_DONTWAIT`, polls with a zero timeout; what cannot be made so takes
//! the traced path.

use crate::libc_consts::*;
use crate::{fd_facts, opens, untraced, MSG_DONTWAIT};
use syscallbuf::plan::{sys, How};

/// Makes the call without blocking on anything but the disk; `None` means
/// it must take the traced path.
pub(crate) fn perform(nr: u64, a: [u64; 6], how: How) -> Option<i64> {
    match how {
        How::Plain => Some(untraced(nr, a)),
        How::ReadNoWait { offset } | How::WriteNoWait { offset } => {
            let reading = matches!(how, How::ReadNoWait { .. });
            // A write that reaches here is not to a file (see `write_plan`).
            let facts = if reading { fd_facts::facts(a[0]) } else { None };
            if let Some(facts) = facts {
                if !facts.readable {
                    // EBADF, and uncounted, as the program's own read.
                    return Some(untraced(nr, a));
                }
                if facts.no_wait_refused {
                    // A procfs file, maybe another task's state, which the
                    // tracer shows as a native run would.
                    let traced = facts.is_disk() && fd_facts::proc_reads_traced();
                    return (facts.is_disk() && !traced).then(|| untraced(nr, a));
                }
            }
            let disk = facts.is_some_and(|facts| facts.is_disk());
            let iov = [a[1], a[2]];
            let pos = offset.unwrap_or(u64::MAX);
            let vectored = if reading { SYS_PREADV2 } else { SYS_PWRITEV2 };
            let r = untraced(vectored, [a[0], iov.as_ptr() as u64, 1, pos, 0, RWF_NOWAIT]);
            let complete = r >= 0 && (r as u64 == a[2] || r == 0 || !reading);
            if complete {
                return Some(r);
            }
            if r == -EOPNOTSUPP {
                fd_facts::remember_no_wait_refused(a[0]);
            }
            if r > 0 && !disk {
                // A short read from a pipe or socket is what the program
                // would have seen too.
                return Some(r);
            }
            if r < 0 && !disk && r != -EAGAIN && r != -EOPNOTSUPP {
                // An error is the call's answer, and this one call may have
                // taken it (a socket's pending ECONNRESET, a timerfd's
                // ECANCELED after the clock was set): asked again, the
                // kernel would answer otherwise.
                return Some(r);
            }
            if !disk {
                return None;
            }
            if r > 0 && reading && ends_at(a[0], offset.map_or(-1, |o| (o + r as u64) as i64)) {
                // Short because the file ends there: a second read would
                // return nothing and count twice in `syscr`.
                return Some(r);
            }
            // A file whose pages are not all cached: finish it normally.
            let done = r.max(0) as u64;
            let plain = match (reading, offset) {
                (true, None) => sys::READ,
                (true, Some(_)) => sys::PREAD64,
                (false, None) => sys::WRITE,
                (false, Some(_)) => sys::PWRITE64,
            };
            let rest = untraced(
                plain,
                [
                    a[0],
                    a[1] + done,
                    a[2] - done,
                    offset.map_or(0, |o| o + done),
                    0,
                    0,
                ],
            );
            Some(if rest < 0 {
                if done > 0 {
                    done as i64
                } else {
                    rest
                }
            } else {
                done as i64 + rest
            })
        }
        How::Open => opens::open(nr, a),
        How::ReadTsc { aux } => crate::tsc::read_enabled(a[0], aux),
        How::RecvNoWait => {
            let mut now = a;
            now[3] |= MSG_DONTWAIT;
            let r = untraced(nr, now);
            (r != -EAGAIN || a[3] & MSG_DONTWAIT != 0).then_some(r)
        }
        How::PollNoWait { timeout_arg } => {
            let mut now = a;
            now[timeout_arg] = 0;
            let r = untraced(nr, now);
            (r != 0 || a[timeout_arg] == 0).then_some(r)
        }
    }
}

/// Whether regular file `fd` ends at `position` (-1: its file position),
/// or before it.
fn ends_at(fd: u64, position: i64) -> bool {
    let position = if position < 0 {
        untraced(sys::LSEEK, [fd, 0, SEEK_CUR, 0, 0, 0])
    } else {
        position
    };
    position >= 0
        && fd_facts::file_type_and_size(fd)
            .is_some_and(|(kind, size)| kind == S_IFREG && position as u64 >= size)
}
