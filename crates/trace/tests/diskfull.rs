//! A write error on the background thread (here EFBIG from RLIMIT_FSIZE,
//! standing in for a full disk) surfaces from the next call, and what was
//! written before stays readable. Alone in its own test binary because the
//! limit is process-wide.
mod common;

use common::*;
use replay_trace::*;

#[test]
fn write_error_is_reported_and_prefix_stays_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid rlimit struct; SIGXFSZ ignored so
    // that exceeding the limit is an EFBIG error instead of death.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    let limit = libc::rlimit {
        rlim_cur: 3 << 20,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);

    let mut failure = None;
    for i in 0..200u64 {
        let e = simple_event(i, 256 << 10);
        let r = w
            .push_event(e, vec![pattern(i, 256 << 10)])
            .and_then(|()| w.flush());
        if let Err(err) = r {
            failure = Some(err);
            break;
        }
    }
    let err = failure.expect("the size limit must be hit");
    match &err {
        TraceError::Io { path, .. } => assert!(path.ends_with("data"), "{err}"),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("data"), "{err}");
    // Later calls keep failing instead of writing after a gap.
    let again = w
        .push_event(simple_event(999, 0), vec![vec![]])
        .unwrap_err();
    assert!(matches!(again, TraceError::WriterFailed { .. }), "{again}");
    assert!(w.finish(TraceOutcome::Exited { code: 0 }).is_err());
    // SAFETY: as above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &old) }, 0);

    let r = TraceReader::open(&dir).unwrap();
    assert!(!r.is_complete());
    let (evs, trunc) = read_all(&dir);
    assert!(!evs.is_empty() && evs.len() < 200, "{}", evs.len());
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.payloads, vec![pattern(i as u64, 256 << 10)]);
    }
    // The partial chunk is data that no written event refers to (data goes
    // out before the events that use it), so nothing readable is lost.
    assert!(
        trunc.as_ref().is_none_or(|t| t.stream == "data"),
        "{trunc:?}"
    );
}
