//! Lengths read from disk never size an allocation beyond the format's
//! limits or beyond what the file really holds. A counting allocator in its
//! own test binary watches the largest single request.
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use replay_trace::*;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every operation to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs the whole read path and returns the first error and the largest
/// allocation it made.
fn read_measuring(dir: &std::path::Path) -> (Option<TraceError>, Option<Truncation>, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let mut trunc = None;
    let err = match TraceReader::open(dir).and_then(|r| r.events()) {
        Err(e) => Some(e),
        Ok(mut it) => {
            let e = (&mut it).filter_map(|e| e.err()).next();
            trunc = it.truncation().cloned();
            e
        }
    };
    (err, trunc, LARGEST.load(Ordering::Relaxed))
}

#[test]
fn lying_lengths_do_not_allocate() {
    let tmp = tempfile::tempdir().unwrap();
    let payload = frames(&[simple_event(0, 4)]);
    let data = stream_header(1);
    let cases: [(&str, (u32, u32), bool); 4] = [
        ("compressed 2^31", (1 << 31, 10), true),
        ("uncompressed 2^31", (10, 1 << 31), true),
        ("both max u32", (u32::MAX, u32::MAX), false),
        // Under the limits, but the file holds only a few bytes of it.
        ("60 MiB in a short file", (60 << 20, 60 << 20), false),
    ];
    for (name, lie, complete) in cases {
        let d = tmp.path().join(name.replace(' ', "-"));
        let mut ev = stream_header(0);
        ev.extend(chunk_bytes(0, 1, 0, &payload, Some(lie)));
        handmade_trace(&d, complete, &ev, &data);
        let (err, trunc, largest) = read_measuring(&d);
        assert!(largest < 8 << 20, "{name}: allocated {largest} bytes");
        if name.starts_with("60 MiB") {
            assert!(err.is_none(), "{name}: {err:?}");
            assert!(trunc.unwrap().reason.contains("inside a chunk body"));
        } else {
            let err = err.unwrap();
            assert!(
                err.to_string().contains("more than the limit"),
                "{name}: {err}"
            );
        }
    }

    // An event claiming a (permitted) 1 GiB payload in an incomplete trace
    // whose data stream holds a few bytes: stop before it, allocate little.
    let d = tmp.path().join("big-payload");
    let mut ev = stream_header(0);
    ev.extend(chunk_bytes(
        0,
        2,
        0,
        &frames(&[simple_event(0, 3), simple_event(1, 1 << 30)]),
        None,
    ));
    let mut data = stream_header(1);
    data.extend(chunk_bytes(0, 0, 0, &[1; 1000], None));
    handmade_trace(&d, false, &ev, &data);
    let (err, trunc, largest) = read_measuring(&d);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(trunc.unwrap().stream, "data");
    assert!(largest < 8 << 20, "allocated {largest} bytes");
    let (evs, _) = read_all(&d);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].payloads, vec![vec![1; 3]]);
}
