//! The decoder's irregular calls, from hand-built records.
use super::*;
use crate::inputs::NoInputs;
use trace::event::MemWrite;

/// An execve split by another task's event has no exit (and no exec
/// image) yet when its `<unfinished ...>` line is written: the argv
/// comes from the bytes captured at entry.
#[test]
fn unfinished_execve_shows_argv_from_entry_inputs() {
    let (path, argv, s0, s1) = (0x1000u64, 0x2000u64, 0x3000u64, 0x3010u64);
    let mut array = Vec::new();
    for p in [s0, s1, 0] {
        array.extend_from_slice(&p.to_le_bytes());
    }
    let mut rec = record(libc::SYS_execve, [path, argv, 0x4000, 0, 0, 0], 0, vec![]);
    // Split by another task's event: no exit yet.
    (rec.exit_index, rec.exit_ns, rec.result) = (None, None, None);
    rec.inputs = vec![
        range(path, b"/bin/sh\0".to_vec()),
        range(argv, array),
        range(s0, b"sh\0".to_vec()),
        range(s1, b"exit 3\0".to_vec()),
    ];
    let decoder = decoder();
    let args = decoder.args(&rec);
    assert_eq!(args[0], "\"/bin/sh\"");
    assert_eq!(args[1], "[\"sh\", \"exit 3\"]");
}

#[test]
fn poll_shows_each_descriptor_and_its_events() {
    struct Entry(Vec<u8>);
    impl InputSource for Entry {
        fn input(&self, _event: u64, addr: u64, len: usize) -> Option<&[u8]> {
            (addr == 0x5000).then(|| &self.0[..len.min(self.0.len())])
        }
    }
    let mut fds = Vec::new();
    for (fd, events) in [(3i32, 0x1u16), (4, 0x4 | 0x2000)] {
        fds.extend_from_slice(&fd.to_le_bytes());
        fds.extend_from_slice(&events.to_le_bytes());
        fds.extend_from_slice(&0u16.to_le_bytes());
    }
    let rec = record(libc::SYS_poll, [0x5000, 2, 1000, 0, 0, 0], 1, vec![]);
    let decoder = Decoder {
        inputs: &Entry(fds),
        strsize: 32,
        fds: None,
    };
    assert_eq!(
        decoder.args(&rec)[0],
        "[{fd=3, events=POLLIN}, {fd=4, events=POLLOUT|POLLRDHUP}]"
    );
}

/// clone3's struct is decoded from the bytes captured at entry, and the
/// parent's tid from what the call wrote, in strace's words, whole and
/// split around another thread's line.
#[test]
fn clone3_shows_its_arguments_and_the_tid_it_wrote() {
    const PARENT_TID: u64 = 0x7000;
    let flags: u64 = 0x3d0f00; // CLONE_VM..SIGHAND, THREAD, SYSVSEM, SETTLS, PARENT_SETTID, CHILD_CLEARTID
    let mut clone_args = Vec::new();
    for field in [
        flags, 0, PARENT_TID, PARENT_TID, 0, 0x6000, 0x7fff80, 0x76c0, 0, 0, 0,
    ] {
        clone_args.extend_from_slice(&field.to_le_bytes());
    }
    let mut rec = record(
        libc::SYS_clone3,
        [0x5000, 88, 0, 0, 0, 0],
        11,
        vec![range(PARENT_TID, 11i32.to_le_bytes().to_vec())],
    );
    rec.inputs = vec![range(0x5000, clone_args)];
    let decoder = Decoder {
        inputs: &NoInputs,
        strsize: 32,
        fds: None,
    };
    let fields = "{flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|\
                  CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, \
                  child_tid=0x7000, parent_tid=0x7000, exit_signal=0, stack=0x6000, \
                  stack_size=0x7fff80, tls=0x76c0}";
    assert_eq!(
        decoder.call(&rec),
        format!("clone3({fields} => {{parent_tid=[11]}}, 88)")
    );
    assert_eq!(
        decoder.split_call(&rec),
        (
            format!("clone3({fields}"),
            " => {parent_tid=[11]}, 88)".to_string()
        )
    );
}

fn range(addr: u64, bytes: Vec<u8>) -> (MemWrite, Vec<u8>) {
    (
        MemWrite {
            addr,
            len: bytes.len() as u64,
        },
        bytes,
    )
}

fn record(nr: i64, args: [u64; 6], result: i64, writes: Vec<(MemWrite, Vec<u8>)>) -> SyscallRecord {
    SyscallRecord {
        writes,
        ..SyscallRecord::returned(1, nr, args, result)
    }
}

fn decoder() -> Decoder<'static> {
    Decoder {
        inputs: &NoInputs,
        strsize: 32,
        fds: None,
    }
}

/// prctl shows its option by name and only the arguments that option takes.
#[test]
fn prctl_shows_each_option_in_its_own_terms() {
    let prctl = libc::SYS_prctl;
    let name_at = 0x4000u64;
    let name = range(name_at, b"worker-7\0\0\0\0\0\0\0\0".to_vec());
    let cases = [
        (
            record(prctl, [23, 32, 0, 0, 0, 0], 1, vec![]),
            "prctl(PR_CAPBSET_READ, CAP_MAC_OVERRIDE)",
        ),
        (
            record(prctl, [23, 48, 0, 0, 0, 0], -22, vec![]),
            "prctl(PR_CAPBSET_READ, 0x30 /* CAP_??? */)",
        ),
        (
            record(prctl, [16, name_at, 0, 0, 0, 0], 0, vec![name]),
            "prctl(PR_GET_NAME, \"worker-7\")",
        ),
        (
            record(prctl, [1, 9, 0, 0, 0, 0], 0, vec![]),
            "prctl(PR_SET_PDEATHSIG, SIGKILL)",
        ),
        (
            record(prctl, [3, 0, 0, 0, 0, 0], 1, vec![]),
            "prctl(PR_GET_DUMPABLE)",
        ),
        (
            record(prctl, [38, 1, 0, 0, 0, 0], 0, vec![]),
            "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)",
        ),
        (
            record(prctl, [0x1234, 1, 2, 0, 0, 0], -22, vec![]),
            "prctl(4660, 0x1, 0x2, 0, 0)",
        ),
    ];
    for (rec, expected) in cases {
        assert_eq!(decoder().call(&rec), expected);
    }
}

/// statfs's struct, and a CPU mask as the list of its CPUs.
#[test]
fn statfs_and_cpu_masks_read_like_strace() {
    let at = 0x5000u64;
    let mut fields = Vec::new();
    for v in [0xef53u64, 4096, 100, 50, 40, 1000, 900] {
        fields.extend_from_slice(&v.to_le_bytes());
    }
    fields.extend_from_slice(&0x1234u32.to_le_bytes());
    fields.extend_from_slice(&0u32.to_le_bytes());
    for v in [255u64, 4096, 0x1020, 0, 0, 0, 0] {
        fields.extend_from_slice(&v.to_le_bytes());
    }
    let written = |bytes: Vec<u8>| vec![range(at, bytes)];
    let statfs = record(libc::SYS_fstatfs, [3, at, 0, 0, 0, 0], 0, written(fields));
    assert_eq!(
        decoder().args(&statfs)[1],
        "{f_type=EXT2_SUPER_MAGIC, f_bsize=4096, f_blocks=100, f_bfree=50, f_bavail=40, \
         f_files=1000, f_ffree=900, f_fsid={val=[0x1234, 0]}, f_namelen=255, f_frsize=4096, \
         f_flags=ST_VALID|ST_RELATIME}"
    );
    let mut mask = vec![0u8; 8];
    mask[0] = 0b101;
    let affinity = record(
        libc::SYS_sched_getaffinity,
        [0, 128, at, 0, 0, 0],
        8,
        written(mask),
    );
    assert_eq!(decoder().args(&affinity)[2], "[0 2]");
}

/// capget's header and sets, epoll events in and out, and the small flag
/// families, in strace's words.
#[test]
fn capabilities_epoll_and_flags_read_like_strace() {
    let words = |ws: &[u32]| ws.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    let mut capget = record(
        libc::SYS_capget,
        [0x1000, 0x2000, 0, 0, 0, 0],
        0,
        vec![range(0x2000, words(&[0b11, 0b1, 0, 0, 0, 0]))],
    );
    capget.inputs = vec![range(0x1000, words(&[0x2008_0522, 42]))];
    assert_eq!(
        decoder().call(&capget),
        "capget({version=_LINUX_CAPABILITY_VERSION_3, pid=42}, \
         {effective=1<<CAP_CHOWN|1<<CAP_DAC_OVERRIDE, permitted=1<<CAP_CHOWN, inheritable=0})"
    );
    let mut event = 0x2001u32.to_le_bytes().to_vec();
    event.extend_from_slice(&12u64.to_le_bytes());
    let mut ctl = record(libc::SYS_epoll_ctl, [9, 1, 12, 0x3000, 0, 0], 0, vec![]);
    ctl.inputs = vec![range(0x3000, event.clone())];
    assert_eq!(
        decoder().call(&ctl),
        "epoll_ctl(9, EPOLL_CTL_ADD, 12, {events=EPOLLIN|EPOLLRDHUP, data={u32=12, u64=12}})"
    );
    let wait = record(
        libc::SYS_epoll_wait,
        [9, 0x3000, 16, 100, 0, 0],
        1,
        vec![range(0x3000, event)],
    );
    assert_eq!(
        decoder().args(&wait)[1],
        "[{events=EPOLLIN|EPOLLRDHUP, data={u32=12, u64=12}}]"
    );
    let nothing = record(libc::SYS_epoll_wait, [9, 0x3000, 16, 0, 0, 0], 0, vec![]);
    assert_eq!(decoder().args(&nothing)[1], "[]");
    let flock = record(libc::SYS_flock, [6, 6, 0, 0, 0, 0], 0, vec![]);
    assert_eq!(decoder().call(&flock), "flock(6, LOCK_EX|LOCK_NB)");
    let cpu_clock = record(
        libc::SYS_clock_getres,
        [0xffff_ffff_ffff_9236, 0, 0, 0, 0, 0],
        0,
        vec![],
    );
    assert_eq!(decoder().args(&cpu_clock)[0], "0xffff9236 /* CLOCK_??? */");
    let name = range(0x4000, b"VM Periodic Tas\0".to_vec());
    let long_name = record(libc::SYS_prctl, [16, 0x4000, 0, 0, 0, 0], 0, vec![name]);
    assert_eq!(
        decoder().call(&long_name),
        "prctl(PR_GET_NAME, \"VM Periodic Tas\"...)"
    );
}

/// A call another thread interrupts splits where its written arguments
/// start, so that the first line never shows an address the exit fills.
#[test]
fn a_split_call_ends_its_first_line_before_what_it_writes() {
    let mask = range(0x5000, 0x200u64.to_le_bytes().to_vec());
    let sigprocmask = record(
        libc::SYS_rt_sigprocmask,
        [0, 0, 0x5000, 8, 0, 0],
        0,
        vec![mask],
    );
    let (entry, exit) = decoder().split_call(&sigprocmask);
    assert_eq!(entry, "rt_sigprocmask(SIG_BLOCK, NULL, ");
    assert_eq!(exit, "[USR1], 8)");
    let pipe = record(libc::SYS_pipe2, [0x6000, 0, 0, 0, 0, 0], 0, vec![]);
    assert_eq!(decoder().split_call(&pipe).0, "pipe2(");
}
