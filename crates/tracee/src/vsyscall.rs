//! The three calls of the legacy vsyscall page (`gettimeofday`, `time`,
//! `getcpu`), answered by the tracer: the kernel emulates them without a
//! syscall instruction, so the recorder stops them with a seccomp filter
//! ([`crate::spawn::VSYSCALL_PAGE`]), answers them itself, and makes the
//! kernel skip its own emulation.

use crate::Pid;

/// What a vsyscall returns: its result, and the bytes to store at each
/// pointer argument it writes (by argument index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub result: i64,
    pub stores: Vec<(usize, Vec<u8>)>,
}

/// The answer the kernel would give `tid` for vsyscall `nr`, or None when
/// `nr` is not one of the three.
pub fn answer(tid: Pid, nr: u64) -> Option<Answer> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let answer = match nr as i64 {
        libc::SYS_gettimeofday => {
            let mut timeval = now.as_secs().to_le_bytes().to_vec();
            timeval.extend_from_slice(&u64::from(now.subsec_micros()).to_le_bytes());
            let (minutes_west, dst_time) = timezone();
            let mut timezone = minutes_west.to_le_bytes().to_vec();
            timezone.extend_from_slice(&dst_time.to_le_bytes());
            Answer {
                result: 0,
                stores: vec![(0, timeval), (1, timezone)],
            }
        }
        libc::SYS_time => {
            let seconds = now.as_secs() as i64;
            Answer {
                result: seconds,
                stores: vec![(0, seconds.to_le_bytes().to_vec())],
            }
        }
        libc::SYS_getcpu => {
            let (cpu, node) = crate::tracer::cpu_of(tid).unwrap_or((0, 0));
            Answer {
                result: 0,
                stores: vec![
                    (0, cpu.to_le_bytes().to_vec()),
                    (1, node.to_le_bytes().to_vec()),
                ],
            }
        }
        _ => return None,
    };
    Some(answer)
}

/// The kernel's timezone (`settimeofday`'s), which gettimeofday reports.
fn timezone() -> (i32, i32) {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    // struct timezone: tz_minuteswest, tz_dsttime (libc's type is opaque).
    let mut tz = [0i32; 2];
    // SAFETY: gettimeofday writes one timeval and one two-int timezone,
    // both ours.
    let rc = unsafe { libc::gettimeofday(&mut tv, tz.as_mut_ptr().cast()) };
    if rc == 0 {
        (tz[0], tz[1])
    } else {
        (0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_three_calls_and_nothing_else() {
        let me = std::process::id() as Pid;
        let time = answer(me, libc::SYS_time as u64).expect("time");
        assert!(time.result > 1_600_000_000);
        assert_eq!(time.stores[0].1, time.result.to_le_bytes());
        let tv = answer(me, libc::SYS_gettimeofday as u64).expect("gettimeofday");
        assert_eq!(
            (tv.result, tv.stores[0].1.len(), tv.stores[1].1.len()),
            (0, 16, 8)
        );
        let cpu = answer(me, libc::SYS_getcpu as u64).expect("getcpu");
        assert_eq!(cpu.stores.len(), 2);
        assert!(crate::tracer::cpu_of(me).is_some());
        assert_eq!(answer(me, libc::SYS_getpid as u64), None);
    }
}
