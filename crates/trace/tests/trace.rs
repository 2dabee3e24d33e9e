mod common;

use std::fs;
use std::path::Path;

use common::*;
use replay_trace::*;

fn read_header(events_file: &[u8], offset: usize) -> (u32, u32, u32, u64) {
    let h = &events_file[offset..offset + 60];
    let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    (
        u32_at(8),
        u32_at(12),
        u32_at(16),
        u64::from_le_bytes(h[20..28].try_into().unwrap()),
    )
}

fn chunks_of<'a>(s: &'a TraceSummary, stream: &'a str) -> impl Iterator<Item = &'a ChunkInfo> {
    s.chunks.iter().filter(move |c| c.stream == stream)
}

#[test]
fn round_trip_with_large_payloads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let events = gen_events(10_000, true);
    let summary = write_trace(&dir, &events);

    assert_eq!(summary.events, 10_000);
    let total: u64 = events
        .iter()
        .flat_map(|(e, _)| e.data_ranges())
        .map(|r| r.len)
        .sum();
    assert_eq!(summary.data_bytes, total);
    assert!(total > 11 << 20);
    assert_eq!(summary.duration_ns, 9_999_000);
    let task_starts = events
        .iter()
        .filter(|(e, _)| matches!(e.kind, EventKind::TaskStart { .. }))
        .count() as u64;
    let procs = events
        .iter()
        .filter(|(e, _)| matches!(e.kind, EventKind::TaskStart { thread: false, .. }))
        .count() as u64;
    assert_eq!(summary.threads, task_starts + 1);
    assert_eq!(summary.processes, procs + 1);
    assert!(chunks_of(&summary, "events").count() >= 3);
    assert!(chunks_of(&summary, "data").count() >= 4);
    let ev_file = fs::read(dir.join("events")).unwrap();
    for c in chunks_of(&summary, "events") {
        let (clen, ulen, _, _) = read_header(&ev_file, c.offset as usize);
        assert_eq!(
            (u64::from(clen), u64::from(ulen)),
            (c.compressed_len, c.uncompressed_len)
        );
    }

    let r = TraceReader::open(&dir).unwrap();
    assert!(r.is_complete());
    assert_eq!(r.dir(), dir);
    let m = r.manifest();
    assert_eq!(m.format_version, FORMAT_VERSION);
    assert_eq!(m.outcome, Some(TraceOutcome::Exited { code: 3 }));
    assert_eq!(m.totals.as_ref(), Some(&summary));
    let mut want = header();
    // Raw CPUID differs between cores (APIC ids), so compare what matters.
    assert!(want.machine.cpuid_differences(&m.header.machine).is_empty());
    want.machine = m.header.machine.clone();
    assert_eq!(m.header, want);

    let mut it = r.events().unwrap();
    let mut n = 0;
    for (got, (want_e, want_p)) in (&mut it).zip(&events) {
        let got = got.unwrap();
        assert_eq!(&got.event, want_e);
        assert_eq!(&got.payloads, want_p, "payloads of event {}", want_e.index);
        n += 1;
    }
    assert_eq!(n, events.len());
    assert!(it.next().is_none());
    assert!(it.truncation().is_none());

    let scan = r.scan().unwrap();
    assert_eq!(
        scan,
        ScanReport {
            events: 10_000,
            processes: summary.processes,
            threads: summary.threads,
            data_bytes: total,
            last_time_ns: 9_999_000,
            preemptions: 0,
            signal_preemptions: 0,
            truncation: None,
        }
    );
}

#[test]
fn empty_trace_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    let s = write_trace(&dir, &[]);
    assert_eq!(
        (s.events, s.processes, s.threads, s.chunks.len()),
        (0, 1, 1, 0)
    );
    let (evs, trunc) = read_all(&dir);
    assert!(evs.is_empty() && trunc.is_none());
}

#[test]
fn push_event_checks_payloads_and_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = TraceWriter::create(&tmp.path().join("t"), header()).unwrap();
    let e = simple_event(0, 10);
    let err = w.push_event(e.clone(), vec![]).unwrap_err();
    assert!(matches!(err, TraceError::PayloadMismatch { .. }), "{err}");
    let err = w.push_event(e.clone(), vec![vec![0; 9]]).unwrap_err();
    assert!(
        err.to_string().contains("10 bytes but its payload is 9"),
        "{err}"
    );
    let err = w.push_event(simple_event(1, 0), vec![vec![]]).unwrap_err();
    assert!(err.to_string().contains("expected 0"), "{err}");
    // Rejected events leave the writer usable.
    w.push_event(e, vec![vec![1; 10]]).unwrap();
    assert_eq!(w.event_count(), 1);
    let s = w
        .finish(TraceOutcome::Signaled {
            signal: 9,
            core_dumped: false,
        })
        .unwrap();
    assert_eq!(s.events, 1);
}

#[test]
fn create_refuses_non_empty_dir_but_accepts_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let err = TraceWriter::create(tmp.path(), header());
    // tempdir is empty: accepted.
    assert!(err.is_ok());
    drop(err);
    let err = TraceWriter::create(tmp.path(), header()).err().unwrap();
    assert!(err.to_string().contains("not empty"), "{err}");
    let err = TraceWriter::create(&tmp.path().join("no/such/parent"), header())
        .err()
        .unwrap();
    assert!(matches!(err, TraceError::Io { .. }), "{err}");
}

#[test]
fn dropped_writer_leaves_readable_incomplete_trace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let events = gen_events(3000, false);
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    for (e, p) in &events[..1000] {
        w.push_event(e.clone(), p.clone()).unwrap();
    }
    // A forced flush makes everything so far readable while recording.
    w.flush().unwrap();
    let (evs, trunc) = read_all(&dir);
    assert_eq!(evs.len(), 1000);
    assert_eq!(trunc, None, "every chunk written is whole");

    for (e, p) in &events[1000..] {
        w.push_event(e.clone(), p.clone()).unwrap();
    }
    drop(w);
    let r = TraceReader::open(&dir).unwrap();
    assert!(!r.is_complete());
    assert_eq!(r.manifest().outcome, None);
    let (evs, trunc) = read_all(&dir);
    assert_eq!(evs.len(), 3000);
    for (got, (e, p)) in evs.iter().zip(&events) {
        assert_eq!((&got.event, &got.payloads), (e, p));
    }
    assert_eq!(trunc, None);
    let scan = r.scan().unwrap();
    assert_eq!(scan.events, 3000);
    assert_eq!(scan.truncation, None);
}

#[test]
fn timer_flushes_pending_events() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    for (e, p) in gen_events(10, false) {
        w.push_event(e, p).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    let (evs, _) = read_all(&dir);
    assert_eq!(evs.len(), 10);
    drop(w);
}

/// Expected readable prefix when `data_avail` logical data bytes exist.
fn readable_prefix(events: &[(Event, Vec<Vec<u8>>)], max_events: u64, data_avail: u64) -> u64 {
    let mut end = 0u64;
    let mut n = 0u64;
    for (e, _) in events.iter().take(max_events as usize) {
        end += e.data_ranges().iter().map(|r| r.len).sum::<u64>();
        if end > data_avail {
            break;
        }
        n += 1;
    }
    n
}

#[test]
fn truncation_at_every_boundary_reads_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("full");
    // Two chunks of each stream, small enough for unoptimized sha256.
    let events = gen_events_sized(6_000, 4_500_000, 20_000);
    let summary = write_trace(&dir, &events);
    let ev_file = fs::read(dir.join("events")).unwrap();
    let data_len = fs::metadata(dir.join("data")).unwrap().len();
    let total_data = summary.data_bytes;

    // (stream, cut offset, events readable from that stream, data bytes).
    let mut cases: Vec<(&str, u64, u64, u64)> = Vec::new();
    let mut whole_events = 0u64;
    let ev_chunks: Vec<_> = chunks_of(&summary, "events").collect();
    for c in &ev_chunks {
        for cut in [
            c.offset,
            c.offset + 3,
            c.offset + 30,
            c.offset + 60 + c.compressed_len / 2,
        ] {
            cases.push(("events", cut, whole_events, total_data));
        }
        let (_, _, items, _) = read_header(&ev_file, c.offset as usize);
        whole_events += u64::from(items);
    }
    cases.push(("events", 0, 0, total_data));
    cases.push(("events", 10, 0, total_data));
    let mut whole_data = 0u64;
    for c in chunks_of(&summary, "data") {
        for cut in [
            c.offset,
            c.offset + 59,
            c.offset + 60 + c.compressed_len - 1,
        ] {
            cases.push(("data", cut, 6_000, whole_data));
        }
        whole_data += c.uncompressed_len;
    }
    cases.push(("data", data_len, 6_000, total_data));

    for (i, (stream, cut, max_events, data_avail)) in cases.into_iter().enumerate() {
        let d = tmp.path().join(format!("cut{i}"));
        copy_trace(&dir, &d);
        fs::OpenOptions::new()
            .write(true)
            .open(d.join(stream))
            .unwrap()
            .set_len(cut)
            .unwrap();
        // As recorded (complete) this is damage...
        let err = first_error(&d);
        if !(stream == "data" && cut == data_len) {
            let err = err.unwrap_or_else(|| panic!("cut {stream} at {cut}: no error"));
            assert!(matches!(err, TraceError::Corrupt { .. }), "{err}");
        }
        // ...and once marked incomplete it is a readable prefix.
        mark_incomplete(&d);
        let want = readable_prefix(&events, max_events, data_avail);
        let r = TraceReader::open(&d).unwrap();
        let scan = r
            .scan()
            .unwrap_or_else(|e| panic!("cut {stream} at {cut}: {e}"));
        assert_eq!(scan.events, want, "cut {stream} at {cut}");
        // Only a cut on a chunk boundary that loses no payload is clean.
        let clean = match stream {
            "events" => ev_chunks.iter().any(|c| c.offset == cut),
            _ => want == max_events,
        };
        let t = scan.truncation.clone();
        assert_eq!(t.is_none(), clean, "cut {stream} at {cut}: {t:?}");
        if i % 5 == 0 {
            let (evs, t2) = read_all(&d);
            assert_eq!(evs.len() as u64, want);
            assert_eq!(t2, t);
            for (got, (e, p)) in evs.iter().zip(&events) {
                assert_eq!((&got.event, &got.payloads), (e, p));
            }
        }
        fs::remove_dir_all(&d).unwrap();
    }
}

fn flip(path: &Path, offset: u64) {
    let mut b = fs::read(path).unwrap();
    b[offset as usize] ^= 0x20;
    fs::write(path, b).unwrap();
}

#[test]
fn flipped_bytes_are_corrupt_naming_stream_and_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("full");
    let summary = write_trace(&dir, &gen_events_sized(6_000, 4_500_000, 20_000));
    assert!(
        chunks_of(&summary, "events").count() >= 2,
        "{:?}",
        summary.chunks
    );
    assert!(
        chunks_of(&summary, "data").count() >= 2,
        "{:?}",
        summary.chunks
    );
    let mut n = 0;
    for complete in [true, false] {
        for c in &summary.chunks {
            for (at, what) in [
                (c.offset + 60 + c.compressed_len / 2, "sha256 mismatch"),
                (c.offset + 1, "bad chunk magic"),
                (c.offset + 40, "sha256 mismatch"),
            ] {
                let d = tmp.path().join(format!("flip{n}"));
                n += 1;
                copy_trace(&dir, &d);
                if !complete {
                    mark_incomplete(&d);
                }
                flip(&d.join(&c.stream), at);
                let err = first_error(&d).expect("flip detected");
                match &err {
                    TraceError::Corrupt {
                        stream,
                        chunk,
                        offset,
                        what: w,
                    } => {
                        assert_eq!((stream, *chunk, *offset), (&c.stream, c.seq, c.offset));
                        assert!(w.contains(what), "{w}");
                    }
                    other => panic!("unexpected {other}"),
                }
                let msg = err.to_string();
                assert!(!msg.contains('\n'));
                assert!(
                    msg.contains(&format!(
                        "{} stream, chunk {} at byte {}",
                        c.stream, c.seq, c.offset
                    )),
                    "{msg}"
                );
                fs::remove_dir_all(&d).unwrap();
            }
        }
    }

    // Damage in a length field is caught too, before reading on.
    let c = summary
        .chunks
        .iter()
        .find(|c| c.stream == "events")
        .unwrap();
    let d = tmp.path().join("lenflip");
    copy_trace(&dir, &d);
    flip(&d.join("events"), c.offset + 11);
    assert!(matches!(first_error(&d), Some(TraceError::Corrupt { .. })));

    // Trailing garbage after the last chunk.
    for (stream, garbage) in [("events", &b"xx"[..]), ("data", &[0u8; 100][..])] {
        for complete in [true, false] {
            let d = tmp.path().join(format!("trail-{stream}-{complete}"));
            copy_trace(&dir, &d);
            if !complete {
                mark_incomplete(&d);
            }
            let mut b = fs::read(d.join(stream)).unwrap();
            b.extend_from_slice(garbage);
            fs::write(d.join(stream), b).unwrap();
            let err = first_error(&d);
            if stream == "data" && !complete {
                // Unreferenced data past the last event is not read.
                assert!(err.is_none());
            } else {
                let err = err.unwrap();
                assert!(err.to_string().contains("bad chunk magic"), "{err}");
            }
        }
    }

    // A complete trace that lost whole chunks at the end.
    let last = summary
        .chunks
        .iter()
        .rfind(|c| c.stream == "events")
        .unwrap();
    let d = tmp.path().join("lostchunk");
    copy_trace(&dir, &d);
    fs::OpenOptions::new()
        .write(true)
        .open(d.join("events"))
        .unwrap()
        .set_len(last.offset)
        .unwrap();
    let err = first_error(&d).unwrap();
    assert!(
        err.to_string().contains("whole chunks are missing"),
        "{err}"
    );
}

#[test]
fn handmade_damage_inside_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = |events: &[u8]| {
        let mut s = stream_header(0);
        s.extend_from_slice(events);
        s
    };
    let data = |payload: &[u8]| {
        let mut s = stream_header(1);
        if !payload.is_empty() {
            s.extend(chunk_bytes(0, 0, 0, payload, None));
        }
        s
    };
    let good = frames(&[simple_event(0, 4), simple_event(1, 4)]);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, &str)> = vec![
        (
            "ok",
            ev(&chunk_bytes(0, 2, 0, &good, None)),
            data(&[7; 8]),
            "",
        ),
        (
            "frame past end",
            ev(&chunk_bytes(0, 2, 0, &good[..good.len() - 1], None)),
            data(&[7; 8]),
            "past the chunk end",
        ),
        (
            "garbage frame",
            ev(&chunk_bytes(0, 1, 0, &[3, 0, 0, 0, 0xff, 0xff, 0xff], None)),
            data(&[]),
            "does not decode",
        ),
        (
            "index gap",
            ev(&chunk_bytes(
                0,
                2,
                0,
                &frames(&[simple_event(0, 0), simple_event(2, 0)]),
                None,
            )),
            data(&[]),
            "event index 2",
        ),
        (
            "payload past data",
            ev(&chunk_bytes(0, 2, 0, &good, None)),
            data(&[7; 6]),
            "bytes short",
        ),
        (
            "trailing data",
            ev(&chunk_bytes(0, 2, 0, &good, None)),
            data(&[7; 9]),
            "trailing data",
        ),
        (
            "wrong item count",
            ev(&chunk_bytes(0, 3, 0, &good, None)),
            data(&[7; 8]),
            "declares 3 events",
        ),
        (
            "wrong first index",
            ev(&chunk_bytes(0, 2, 5, &good, None)),
            data(&[7; 8]),
            "first event index is 5",
        ),
        (
            "wrong seq",
            ev(&chunk_bytes(1, 2, 0, &good, None)),
            data(&[7; 8]),
            "sequence number 1",
        ),
        (
            "uncompressed lie",
            ev(&chunk_bytes(0, 2, 0, &good, Some((0, 0)))),
            data(&[7; 8]),
            "",
        ),
        (
            "huge write",
            ev(&chunk_bytes(
                0,
                1,
                0,
                &frames(&[simple_event(0, (1 << 30) + 1)]),
                None,
            )),
            data(&[7; 8]),
            "claims a payload",
        ),
    ];
    for (name, events, data, what) in cases {
        let d = tmp.path().join(name.replace(' ', "-"));
        handmade_trace(&d, true, &events, &data);
        let err = first_error(&d);
        if name == "ok" {
            assert!(err.is_none(), "{name}: {err:?}");
            let (evs, _) = read_all(&d);
            assert_eq!(evs[1].payloads, vec![vec![7; 4]]);
            continue;
        }
        let err = err.unwrap_or_else(|| panic!("{name}: no error"));
        assert!(matches!(err, TraceError::Corrupt { .. }), "{name}: {err}");
        assert!(err.to_string().contains(what), "{name}: {err}");
        // The same damage in an incomplete trace is still an error.
        if !matches!(name, "payload past data" | "trailing data") {
            handmade_trace(&d, false, &events, &data);
            assert!(first_error(&d).is_some(), "{name} incomplete");
        }
    }
}

#[test]
fn manifest_and_header_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    write_trace(&dir, &gen_events(50, false));

    let not_dir = dir.join("events");
    let err = TraceReader::open(&not_dir).unwrap_err();
    assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
    let err = TraceReader::open(&tmp.path().join("absent")).unwrap_err();
    assert!(matches!(err, TraceError::Io { .. }), "{err}");

    let d = tmp.path().join("missing");
    copy_trace(&dir, &d);
    fs::remove_file(d.join("manifest")).unwrap();
    let err = TraceReader::open(&d).unwrap_err();
    assert!(matches!(err, TraceError::ManifestMissing { .. }), "{err}");

    fs::write(d.join("manifest"), "{ not json").unwrap();
    let err = TraceReader::open(&d).unwrap_err();
    assert!(matches!(err, TraceError::ManifestInvalid { .. }), "{err}");
    fs::write(d.join("manifest"), r#"{"format_version": 1}"#).unwrap();
    let err = TraceReader::open(&d).unwrap_err();
    assert!(matches!(err, TraceError::ManifestInvalid { .. }), "{err}");

    // A newer manifest, even with a changed schema, asks for an upgrade.
    let newer = FORMAT_VERSION + 1;
    fs::write(
        d.join("manifest"),
        format!(r#"{{"format_version": {newer}, "new": []}}"#),
    )
    .unwrap();
    let err = TraceReader::open(&d).unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::UnsupportedVersion {
                found,
                supported: FORMAT_VERSION
            } if found == newer
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade replay"));
    assert!(!err.to_string().contains('\n'));

    // Stream headers are checked at open.
    let d = tmp.path().join("hdr");
    copy_trace(&dir, &d);
    let mut b = fs::read(d.join("data")).unwrap();
    b[8] = 9;
    fs::write(d.join("data"), &b).unwrap();
    assert!(matches!(
        TraceReader::open(&d).unwrap_err(),
        TraceError::UnsupportedVersion { found: 9, .. }
    ));
    b[8] = 1;
    b[10] = 0;
    fs::write(d.join("data"), &b).unwrap();
    let err = TraceReader::open(&d).unwrap_err();
    assert!(err.to_string().contains("data stream"), "{err}");
    b[0] = b'X';
    b[10] = 1;
    fs::write(d.join("data"), &b).unwrap();
    assert!(TraceReader::open(&d)
        .unwrap_err()
        .to_string()
        .contains("bad stream magic"));
    fs::write(d.join("data"), &b[..5]).unwrap();
    assert!(TraceReader::open(&d)
        .unwrap_err()
        .to_string()
        .contains("inside the stream header"));
    mark_incomplete(&d);
    // An incomplete trace whose data header never got written still reads
    // up to the first event with a payload.
    let (evs, t) = read_all(&d);
    assert_eq!(evs.len(), 1);
    assert_eq!(t.unwrap().stream, "data");
}

#[test]
fn file_store_dedups_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let src = tmp.path().join("libfoo.so");
    fs::write(&src, pattern(1, 300_000)).unwrap();
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    let a = w.store_file(&src, false).unwrap();
    assert_eq!(a.path, src.to_string_lossy());
    assert_eq!(a.size, 300_000);
    assert_eq!(a.sha256.len(), 64);
    let b = w.store_file(&src, true).unwrap();
    assert_eq!(a, b);
    let c = w
        .store_bytes("/proc/1/fd/3", &pattern(1, 300_000), false)
        .unwrap();
    assert_eq!(c.sha256, a.sha256);
    assert_eq!(c.path, "/proc/1/fd/3");
    let other = w.store_bytes("memfd:x", b"hello", false).unwrap();
    let err = w.store_file(&tmp.path().join("nope"), false).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    w.finish(TraceOutcome::Interrupted {
        reason: "SIGINT".into(),
    })
    .unwrap();

    let blobs: Vec<_> = fs::read_dir(dir.join("files")).unwrap().collect();
    assert_eq!(blobs.len(), 2, "deduplicated, no temp files left");

    let r = TraceReader::open(&dir).unwrap();
    let p = r.verify_file(&a).unwrap();
    assert_eq!(fs::read(&p).unwrap(), pattern(1, 300_000));
    assert_eq!(
        r.file_path(&other).unwrap(),
        dir.join("files").join(&other.sha256)
    );

    fs::write(&p, b"changed").unwrap();
    let err = r.verify_file(&a).unwrap_err();
    assert!(matches!(err, TraceError::FileCorrupt { .. }), "{err}");
    fs::remove_file(&p).unwrap();
    let err = r.file_path(&a).unwrap_err();
    assert!(matches!(err, TraceError::FileMissing { .. }), "{err}");
    assert!(err.to_string().contains("libfoo.so"));
    let evil = FileRef {
        path: "x".into(),
        sha256: "../manifest".into(),
        size: 1,
    };
    assert!(matches!(
        r.file_path(&evil).unwrap_err(),
        TraceError::InvalidFileRef { .. }
    ));
}

/// What an exec mapping records is decided by how much of it, in whole
/// pages, is the stored file's bytes (trace format 2).
#[test]
fn stored_file_prefix_counts_whole_pages_equal_to_the_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("lib.so");
    let bytes: Vec<u8> = (0..5 * 4096u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&file, &bytes).unwrap();
    let mut w = TraceWriter::create(&tmp.path().join("t"), header()).unwrap();
    let stored = w.store_file(&file, false).unwrap();
    let page = 4096;

    assert_eq!(w.stored_file_prefix(&stored, 0, &bytes), bytes.len());
    assert_eq!(
        w.stored_file_prefix(&stored, page as u64, &bytes[page..]),
        4 * page
    );
    // The zeroed end of a data segment's last page.
    let mut zeroed = bytes[page..].to_vec();
    let len = zeroed.len();
    zeroed[len - 100..].fill(0);
    assert_eq!(
        w.stored_file_prefix(&stored, page as u64, &zeroed),
        3 * page
    );
    let mut first = bytes.clone();
    first[0] ^= 1;
    assert_eq!(w.stored_file_prefix(&stored, 0, &first), 0);
    // Past the end of the file nothing matches.
    let mut longer = bytes.clone();
    longer.extend(std::iter::repeat_n(0u8, page));
    assert_eq!(w.stored_file_prefix(&stored, 0, &longer), 5 * page);
    let bogus = FileRef {
        sha256: "not a sha".into(),
        ..stored.clone()
    };
    assert_eq!(w.stored_file_prefix(&bogus, 0, &bytes), 0);
}

/// A record in the syscall buffer's layout: head, input, output, padding.
fn buffer_record(nr: u32, input: &[u8], output: &[u8]) -> Vec<u8> {
    let size = (88 + input.len() + output.len() + 7) & !7;
    let mut r = vec![0u8; size];
    r[0..4].copy_from_slice(&(size as u32).to_le_bytes());
    r[4..8].copy_from_slice(&nr.to_le_bytes());
    r[72..76].copy_from_slice(&(input.len() as u32).to_le_bytes());
    r[76..80].copy_from_slice(&(output.len() as u32).to_le_bytes());
    r[88..88 + input.len()].copy_from_slice(input);
    r[88 + input.len()..88 + input.len() + output.len()].copy_from_slice(output);
    r
}

/// Buffered records are stored in columns (format 2) and come back in the
/// buffer's layout; records that do not parse fail the recording.
#[test]
fn buffered_records_round_trip_through_the_column_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let mut records = buffer_record(332, b"/usr/include/stdio.h", &[5u8; 256]);
    records.extend(buffer_record(191, b"/usr/include/stdio.h", b""));
    records.extend(buffer_record(0, b"", b"hello"));
    let event = |index, len| Event {
        index,
        tid: RecordedTid(7),
        pid: RecordedTid(7),
        time_ns: index,
        kind: EventKind::Buffered {
            records: MemWrite {
                addr: 0x7000_1000,
                len,
            },
            outputs: Vec::new(),
        },
    };
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    w.push_event(event(0, records.len() as u64), vec![records.clone()])
        .unwrap();
    w.finish(TraceOutcome::Exited { code: 0 }).unwrap();
    let (evs, _) = read_all(&dir);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].payloads, vec![records.clone()]);

    let dir = tmp.path().join("bad");
    let mut w = TraceWriter::create(&dir, header()).unwrap();
    let mut bad = records.clone();
    bad[0] = 3;
    w.push_event(event(0, bad.len() as u64), vec![bad]).unwrap();
    let err = w.finish(TraceOutcome::Exited { code: 0 }).unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
}

#[test]
fn a_cloned_iterator_reads_the_same_rest_from_any_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let events = gen_events(6_000, true);
    let summary = write_trace(&dir, &events);
    assert!(chunks_of(&summary, "events").count() >= 2);
    assert!(chunks_of(&summary, "data").count() >= 2);
    let r = TraceReader::open(&dir).unwrap();
    // The start, inside chunks, and the very end.
    for at in [0usize, 1, 1_234, 3_000, 5_999, 6_000] {
        let mut it = r.events().unwrap();
        for _ in 0..at {
            it.next().unwrap().unwrap();
        }
        let mut copy = it.try_clone().unwrap();
        // The original goes on too: the two share nothing.
        let from_original: Vec<_> = (&mut it).map(|e| e.unwrap()).collect();
        let from_copy: Vec<_> = (&mut copy).map(|e| e.unwrap()).collect();
        assert_eq!(from_copy.len(), events.len() - at, "clone taken at {at}");
        assert_eq!(from_original, from_copy, "clone taken at {at}");
        for (got, (want_e, want_p)) in from_copy.iter().zip(&events[at..]) {
            assert_eq!(&got.event, want_e);
            assert_eq!(&got.payloads, want_p);
        }
        assert!(copy.truncation().is_none());
    }
}
