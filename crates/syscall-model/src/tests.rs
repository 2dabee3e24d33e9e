use super::*;
use libc as l;
use std::collections::BTreeMap;

/// Fake tracee memory: regions keyed by start address.
#[derive(Default)]
struct FakeMem(BTreeMap<u64, Vec<u8>>);

impl FakeMem {
    fn put(&mut self, addr: u64, bytes: &[u8]) -> &mut Self {
        self.0.insert(addr, bytes.to_vec());
        self
    }
    fn put_u32(&mut self, addr: u64, v: u32) -> &mut Self {
        self.put(addr, &v.to_le_bytes())
    }
    fn put_u64s(&mut self, addr: u64, vs: &[u64]) -> &mut Self {
        let bytes: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(addr, &bytes)
    }
}

impl MemoryReader for FakeMem {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, MemoryError> {
        for (start, bytes) in &self.0 {
            if addr >= *start && addr + len as u64 <= start + bytes.len() as u64 {
                let off = (addr - start) as usize;
                return Ok(bytes[off..off + len].to_vec());
            }
        }
        Err(MemoryError {
            addr,
            len,
            detail: "unmapped in fake".into(),
        })
    }
}

fn nr(n: libc::c_long) -> u64 {
    n as u64
}

fn r(addr: u64, len: u64) -> MemRange {
    MemRange { addr, len }
}

fn out(n: libc::c_long, args: [u64; 6], ret: i64, mem: &FakeMem) -> Vec<MemRange> {
    outputs(nr(n), &args, ret, mem).expect("modelled")
}

const EMPTY: FakeMem = FakeMem(BTreeMap::new());

fn neg(errno: i32) -> i64 {
    -(errno as i64)
}

#[test]
fn read_uses_ret_and_count() {
    assert_eq!(
        out(l::SYS_read, [3, 0x1000, 100, 0, 0, 0], 42, &EMPTY),
        vec![r(0x1000, 42)]
    );
    assert!(out(l::SYS_read, [3, 0x1000, 100, 0, 0, 0], 0, &EMPTY).is_empty());
    assert!(out(
        l::SYS_read,
        [3, 0x1000, 100, 0, 0, 0],
        neg(l::EAGAIN),
        &EMPTY
    )
    .is_empty());
    assert_eq!(
        out(l::SYS_pread64, [3, 0x1000, 10, 5, 0, 0], 10, &EMPTY),
        vec![r(0x1000, 10)]
    );
}

#[test]
fn readv_distributes_partial_ret() {
    let mut mem = FakeMem::default();
    mem.put_u64s(0x5000, &[0xa000, 10, 0xb000, 0, 0xc000, 20, 0xd000, 30]);
    let args = [3, 0x5000, 4, 0, 0, 0];
    assert_eq!(
        out(l::SYS_readv, args, 25, &mem),
        vec![r(0xa000, 10), r(0xc000, 15)]
    );
    assert_eq!(
        out(l::SYS_readv, args, 60, &mem),
        vec![r(0xa000, 10), r(0xc000, 20), r(0xd000, 30)]
    );
    assert!(out(l::SYS_readv, args, 0, &mem).is_empty());
    // Failure: the iovec array is not even read.
    assert!(out(
        l::SYS_readv,
        [3, 0xdead, 4, 0, 0, 0],
        neg(l::EFAULT),
        &EMPTY
    )
    .is_empty());
    assert_eq!(
        out(l::SYS_preadv2, [3, 0x5000, 4, 0, 0, 0], 12, &mem),
        vec![r(0xa000, 10), r(0xc000, 2)]
    );
}

#[test]
fn recvmsg_writes_header_name_control_and_data() {
    let mut mem = FakeMem::default();
    // msghdr: name, namelen, iov, iovlen, control, controllen, flags.
    mem.put_u64s(0x7000, &[0x8000, 16, 0x9000, 2, 0xa000, 24, 0]);
    mem.put_u64s(0x9000, &[0xb000, 4, 0xc000, 100]);
    let got = out(l::SYS_recvmsg, [5, 0x7000, 0, 0, 0, 0], 10, &mem);
    assert_eq!(
        got,
        vec![
            r(0x7000, 56),
            r(0x8000, 16),
            r(0xa000, 24),
            r(0xb000, 4),
            r(0xc000, 6)
        ]
    );
    assert!(out(
        l::SYS_recvmsg,
        [5, 0x7000, 0, 0, 0, 0],
        neg(l::EAGAIN),
        &mem
    )
    .is_empty());
}

#[test]
fn recvmmsg_and_sendmmsg_msg_len() {
    let mut mem = FakeMem::default();
    // Two mmsghdr (64 bytes each); only the first received (ret = 1).
    let mut v = vec![0u64, 0, 0x9000, 1, 0, 0, 0, 7];
    v.extend_from_slice(&[0, 0, 0x9000, 1, 0, 0, 0, 0]);
    mem.put_u64s(0x7000, &v);
    mem.put_u64s(0x9000, &[0xb000, 100]);
    let got = out(l::SYS_recvmmsg, [5, 0x7000, 2, 0, 0, 0], 1, &mem);
    assert_eq!(got, vec![r(0x7000 + 56, 4), r(0x7000, 56), r(0xb000, 7)]);
    let got = out(l::SYS_sendmmsg, [5, 0x7000, 2, 0, 0, 0], 2, &mem);
    assert_eq!(got, vec![r(0x7000 + 56, 4), r(0x7000 + 64 + 56, 4)]);
}

#[test]
fn accept_reads_addrlen_after_call() {
    let mut mem = FakeMem::default();
    mem.put_u32(0x6000, 16);
    assert_eq!(
        out(l::SYS_accept4, [3, 0x5000, 0x6000, 0, 0, 0], 4, &mem),
        vec![r(0x6000, 4), r(0x5000, 16)]
    );
    // Null address: nothing.
    assert!(out(l::SYS_accept, [3, 0, 0, 0, 0, 0], 4, &EMPTY).is_empty());
    assert!(out(
        l::SYS_accept,
        [3, 0x5000, 0x6000, 0, 0, 0],
        neg(l::EAGAIN),
        &EMPTY
    )
    .is_empty());
    // recvfrom: data + address.
    assert_eq!(
        out(
            l::SYS_recvfrom,
            [3, 0x1000, 50, 0, 0x5000, 0x6000],
            20,
            &mem
        ),
        vec![r(0x1000, 20), r(0x6000, 4), r(0x5000, 16)]
    );
    // getsockopt: optlen after the call bounds optval.
    let mut mem = FakeMem::default();
    mem.put_u32(0x6000, 4);
    assert_eq!(
        out(l::SYS_getsockopt, [3, 1, 3, 0x5000, 0x6000, 0], 0, &mem),
        vec![r(0x6000, 4), r(0x5000, 4)]
    );
}

#[test]
fn poll_and_select() {
    let args = [0x4000, 3, 1000, 0, 0, 0];
    assert_eq!(out(l::SYS_poll, args, 0, &EMPTY), vec![r(0x4000, 24)]);
    assert_eq!(
        out(l::SYS_poll, args, neg(l::EINTR), &EMPTY),
        vec![r(0x4000, 24)]
    );
    assert!(out(l::SYS_poll, args, neg(l::EFAULT), &EMPTY).is_empty());
    assert_eq!(
        out(l::SYS_ppoll, [0x4000, 2, 0x4100, 0, 8, 0], 1, &EMPTY),
        vec![r(0x4000, 16), r(0x4100, 16)]
    );
    // select(65, r, w, NULL, tv): 2 words per set.
    let args = [65, 0x1000, 0x2000, 0, 0x3000, 0];
    assert_eq!(
        out(l::SYS_select, args, 1, &EMPTY),
        vec![r(0x1000, 16), r(0x2000, 16), r(0x3000, 16)]
    );
    assert_eq!(
        out(l::SYS_select, args, neg(l::EINTR), &EMPTY),
        vec![r(0x3000, 16)]
    );
    assert_eq!(
        out(l::SYS_pselect6, [1, 0x1000, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 8)]
    );
}

#[test]
fn wait4_and_waitid() {
    let args = [u64::MAX, 0x1000, 0, 0x2000, 0, 0];
    assert_eq!(
        out(l::SYS_wait4, args, 1234, &EMPTY),
        vec![r(0x1000, 4), r(0x2000, 144)]
    );
    assert!(out(l::SYS_wait4, args, 0, &EMPTY).is_empty());
    assert!(out(l::SYS_wait4, args, neg(l::ECHILD), &EMPTY).is_empty());
    assert_eq!(
        out(l::SYS_wait4, [u64::MAX, 0x1000, 0, 0, 0, 0], 7, &EMPTY),
        vec![r(0x1000, 4)]
    );
    assert_eq!(
        out(l::SYS_waitid, [0, 0, 0x3000, 4, 0, 0], 0, &EMPTY),
        vec![r(0x3000, 128)]
    );
}

#[test]
fn sleeps_write_rem_only_when_interrupted() {
    let args = [0x1000, 0x2000, 0, 0, 0, 0];
    assert!(out(l::SYS_nanosleep, args, 0, &EMPTY).is_empty());
    assert_eq!(
        out(l::SYS_nanosleep, args, neg(l::EINTR), &EMPTY),
        vec![r(0x2000, 16)]
    );
    assert_eq!(
        out(l::SYS_nanosleep, args, -516, &EMPTY),
        vec![r(0x2000, 16)]
    );
    let rel = [1, 0, 0x1000, 0x2000, 0, 0];
    let abs = [1, 1, 0x1000, 0x2000, 0, 0];
    assert_eq!(
        out(l::SYS_clock_nanosleep, rel, neg(l::EINTR), &EMPTY),
        vec![r(0x2000, 16)]
    );
    assert!(out(l::SYS_clock_nanosleep, abs, neg(l::EINTR), &EMPTY).is_empty());
}

#[test]
fn futex_wake_op_writes_uaddr2() {
    let wake_op = 5 | 128; // FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG
    let args = [0x1000, wake_op, 1, 1, 0x2000, 0];
    assert_eq!(out(l::SYS_futex, args, 1, &EMPTY), vec![r(0x2000, 4)]);
    assert!(out(l::SYS_futex, [0x1000, 128, 0, 0, 0, 0], 0, &EMPTY).is_empty());
    assert!(out(l::SYS_futex, [0x1000, 1, 1, 0, 0, 0], 1, &EMPTY).is_empty());
    assert!(matches!(
        outputs(nr(l::SYS_futex), &[0x1000, 99, 0, 0, 0, 0], 0, &EMPTY),
        Err(ModelError::Unsupported { name: "futex", .. })
    ));
}

#[test]
fn clone_parent_tid() {
    const CLONE_PARENT_SETTID: u64 = 0x0010_0000;
    let args = [CLONE_PARENT_SETTID | 0x100, 0, 0x1000, 0x2000, 0, 0];
    assert_eq!(out(l::SYS_clone, args, 99, &EMPTY), vec![r(0x1000, 4)]);
    assert!(out(l::SYS_clone, args, 0, &EMPTY).is_empty());
    assert!(out(l::SYS_clone, [0x100, 0, 0x1000, 0, 0, 0], 99, &EMPTY).is_empty());
    // clone3: struct clone_args { flags, pidfd, child_tid, parent_tid, ... }.
    let mut mem = FakeMem::default();
    mem.put_u64s(
        0x3000,
        &[CLONE_PARENT_SETTID, 0, 0x2000, 0x1000, 17, 0, 0, 0],
    );
    assert_eq!(
        out(l::SYS_clone3, [0x3000, 64, 0, 0, 0, 0], 99, &mem),
        vec![r(0x1000, 4)]
    );
}

#[test]
fn fixed_size_structs() {
    assert_eq!(
        out(l::SYS_fstat, [3, 0x1000, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 144)]
    );
    assert_eq!(
        out(l::SYS_newfstatat, [3, 0x1, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 144)]
    );
    assert!(out(
        l::SYS_newfstatat,
        [3, 0x1, 0x1000, 0, 0, 0],
        neg(l::ENOENT),
        &EMPTY
    )
    .is_empty());
    assert_eq!(
        out(l::SYS_statx, [3, 1, 0, 0xfff, 0x1000, 0], 0, &EMPTY),
        vec![r(0x1000, 256)]
    );
    assert_eq!(
        out(l::SYS_uname, [0x1000, 0, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 390)]
    );
    assert_eq!(
        out(l::SYS_clock_gettime, [1, 0x1000, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 16)]
    );
    assert_eq!(
        out(l::SYS_pipe2, [0x1000, 0, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 8)]
    );
    assert_eq!(
        out(l::SYS_rt_sigaction, [2, 0x1000, 0x2000, 8, 0, 0], 0, &EMPTY),
        vec![r(0x2000, 32)]
    );
    assert_eq!(
        out(
            l::SYS_rt_sigprocmask,
            [0, 0x1000, 0x2000, 8, 0, 0],
            0,
            &EMPTY
        ),
        vec![r(0x2000, 8)]
    );
    assert_eq!(
        out(
            l::SYS_epoll_wait,
            [3, 0x1000, 10, -1i64 as u64, 0, 0],
            3,
            &EMPTY
        ),
        vec![r(0x1000, 36)]
    );
    assert_eq!(
        out(l::SYS_getgroups, [10, 0x1000, 0, 0, 0, 0], 3, &EMPTY),
        vec![r(0x1000, 12)]
    );
    assert!(out(l::SYS_getgroups, [0, 0x1000, 0, 0, 0, 0], 3, &EMPTY).is_empty());
    assert_eq!(
        out(l::SYS_mincore, [0x10000, 4097, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 2)]
    );
    assert_eq!(
        out(l::SYS_prctl, [16, 0x1000, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 16)]
    );
    assert!(out(l::SYS_prctl, [15, 0x1000, 0, 0, 0, 0], 0, &EMPTY).is_empty());
    assert_eq!(
        out(l::SYS_fcntl, [3, 5, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 32)]
    );
    assert_eq!(
        out(l::SYS_arch_prctl, [0x1003, 0x1000, 0, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 8)]
    );
}

#[test]
fn write_only_syscalls_write_nothing() {
    for n in [
        l::SYS_close,
        l::SYS_write,
        l::SYS_lseek,
        l::SYS_getpid,
        l::SYS_kill,
        l::SYS_unlink,
        l::SYS_openat,
        l::SYS_exit_group,
    ] {
        assert!(
            out(n, [1, 0x1000, 10, 0, 0, 0], 0, &EMPTY).is_empty(),
            "{n}"
        );
    }
}

#[test]
fn ioctl_model() {
    let tcgets = [0, 0x5401, 0x1000, 0, 0, 0];
    assert_eq!(out(l::SYS_ioctl, tcgets, 0, &EMPTY), vec![r(0x1000, 36)]);
    assert!(out(l::SYS_ioctl, tcgets, neg(l::ENOTTY), &EMPTY).is_empty());
    let winsz = [1, 0x5413, 0x1000, 0, 0, 0];
    assert_eq!(out(l::SYS_ioctl, winsz, 0, &EMPTY), vec![r(0x1000, 8)]);
    assert!(out(l::SYS_ioctl, [1, 0x5451, 0, 0, 0, 0], 0, &EMPTY).is_empty());
    // Sign-extended request numbers are truncated like the kernel does.
    let tcgets2 = [0, 0xffff_ffff_802c_542a, 0x1000, 0, 0, 0];
    assert_eq!(out(l::SYS_ioctl, tcgets2, 0, &EMPTY), vec![r(0x1000, 44)]);
    let err = outputs(
        nr(l::SYS_ioctl),
        &[7, 0x1234_5678, 0x1000, 0, 0, 0],
        0,
        &EMPTY,
    );
    match err {
        Err(ModelError::UnknownIoctl { fd, request }) => {
            assert_eq!((fd, request), (7, 0x1234_5678));
        }
        other => panic!("expected UnknownIoctl, got {other:?}"),
    }
    // ifconf: header + ifc_len bytes of the buffer.
    let mut mem = FakeMem::default();
    mem.put_u64s(0x2000, &[80, 0x3000]);
    assert_eq!(
        out(l::SYS_ioctl, [3, 0x8912, 0x2000, 0, 0, 0], 0, &mem),
        vec![r(0x2000, 16), r(0x3000, 80)]
    );
    assert!(is_known_ioctl(0x5401));
    assert!(!is_known_ioctl(0xdead_beef));
}

#[test]
fn unknown_and_unsupported() {
    assert!(matches!(
        outputs(999, &[0; 6], 0, &EMPTY),
        Err(ModelError::UnknownSyscall { nr: 999 })
    ));
    assert!(matches!(
        outputs(u64::MAX, &[0; 6], 0, &EMPTY),
        Err(ModelError::UnknownSyscall { .. })
    ));
    // Refused even at the entry probe (ret = -ENOSYS).
    let e = outputs(nr(l::SYS_ptrace), &[0; 6], neg(l::ENOSYS), &EMPTY).unwrap_err();
    assert!(matches!(e, ModelError::Unsupported { .. }), "{e}");
    for n in [
        l::SYS_io_uring_setup,
        l::SYS_io_uring_enter,
        l::SYS_io_uring_register,
        l::SYS_io_setup,
        l::SYS_bpf,
        l::SYS_userfaultfd,
        l::SYS_perf_event_open,
    ] {
        // The recorder answers ENOSYS for these; the model accepts that
        // answer and nothing else.
        let row = crate::syscall(nr(n)).expect("a row");
        assert!(row.absent_because().is_some(), "{n}");
        assert!(
            outputs(nr(n), &[0; 6], neg(l::ENOSYS), &EMPTY).is_ok(),
            "{n}"
        );
    }
    let e = outputs(nr(l::SYS_io_uring_setup), &[0; 6], 3, &EMPTY).unwrap_err();
    assert!(
        e.to_string().contains("io_uring_setup is not supported"),
        "{e}"
    );
    assert!(matches!(
        outputs(
            nr(l::SYS_prctl),
            &[0x7777, 0, 0, 0, 0, 0],
            neg(l::ENOSYS),
            &EMPTY
        ),
        Err(ModelError::Unsupported { name: "prctl", .. })
    ));
    // Not implemented by the kernel: fine as long as it says ENOSYS.
    assert!(out(l::SYS_tuxcall, [0; 6], neg(l::ENOSYS), &EMPTY).is_empty());
    assert!(outputs(nr(l::SYS_tuxcall), &[0; 6], 0, &EMPTY).is_err());
}

#[test]
fn memory_errors_propagate() {
    let e = outputs(nr(l::SYS_readv), &[3, 0x5000, 2, 0, 0, 0], 10, &EMPTY).unwrap_err();
    assert!(matches!(
        e,
        ModelError::Memory(MemoryError { addr: 0x5000, .. })
    ));
}

#[test]
fn names_numbers_round_trip() {
    let mut count = 0;
    let mut prev = None;
    for n in known_syscalls() {
        let name = name(n).expect("name");
        assert_eq!(number(name), Some(n), "{name}");
        assert!(prev.is_none_or(|p| p < n), "table sorted");
        prev = Some(n);
        count += 1;
    }
    assert!(count >= 370, "{count}");
    assert_eq!(name(nr(l::SYS_openat)), Some("openat"));
    assert_eq!(name(0), Some("read"));
    assert_eq!(name(462), Some("mseal"));
    assert_eq!(name(333), Some("io_pgetevents"));
    assert_eq!(name(400), None);
    assert_eq!(number("nosuch"), None);
    assert_eq!(number("pread64"), Some(17));
    // Every syscall 0..=334 and 424..=469 exists on x86_64.
    for n in (0..=334).chain(424..=469) {
        assert!(name(n).is_some(), "{n}");
    }
}

#[test]
fn every_common_syscall_is_modelled() {
    let unmodelled: Vec<&str> = known_syscalls()
        .filter(|n| !is_modelled(*n))
        .filter_map(name)
        .collect();
    assert!(unmodelled.is_empty(), "not modelled: {unmodelled:?}");
    assert!(!is_modelled(999));
}

#[test]
fn policy() {
    let z = [0u64; 6];
    for n in [
        l::SYS_mmap,
        l::SYS_munmap,
        l::SYS_mremap,
        l::SYS_mprotect,
        l::SYS_brk,
        l::SYS_madvise,
        l::SYS_arch_prctl,
        l::SYS_clone,
        l::SYS_clone3,
        l::SYS_execve,
        l::SYS_exit_group,
        l::SYS_rt_sigaction,
        l::SYS_rt_sigprocmask,
        l::SYS_rt_sigreturn,
        l::SYS_sigaltstack,
        l::SYS_set_tid_address,
        l::SYS_set_robust_list,
        l::SYS_shmat,
        l::SYS_msync,
    ] {
        assert_eq!(replay_policy(nr(n), &z), ReplayPolicy::Execute, "{n}");
    }
    // madvise: every advice, MADV_DONTNEED included.
    assert_eq!(
        replay_policy(nr(l::SYS_madvise), &[0x1000, 4096, 4, 0, 0, 0]),
        ReplayPolicy::Execute
    );
    for n in [
        l::SYS_read,
        l::SYS_openat,
        l::SYS_write,
        l::SYS_getpid,
        l::SYS_ioctl,
        l::SYS_futex,
    ] {
        assert_eq!(replay_policy(nr(n), &z), ReplayPolicy::Emulate, "{n}");
    }
    assert_eq!(
        replay_policy(nr(l::SYS_personality), &[0xffff_ffff, 0, 0, 0, 0, 0]),
        ReplayPolicy::Emulate
    );
}

#[test]
fn blocking() {
    let z = [0u64; 6];
    assert!(may_block(nr(l::SYS_read), &z));
    assert!(may_block(nr(l::SYS_wait4), &z));
    assert!(!may_block(nr(l::SYS_wait4), &[0, 0, 1, 0, 0, 0]));
    assert!(may_block(nr(l::SYS_futex), &[0, 128, 0, 0, 0, 0]));
    assert!(!may_block(nr(l::SYS_futex), &[0, 129, 0, 0, 0, 0]));
    assert!(may_block(nr(l::SYS_poll), &[0, 1, -1i64 as u64, 0, 0, 0]));
    assert!(!may_block(nr(l::SYS_poll), &[0, 1, 0, 0, 0, 0]));
    assert!(may_block(nr(l::SYS_accept), &z));
    assert!(may_block(nr(l::SYS_nanosleep), &z));
    assert!(may_block(nr(l::SYS_rt_sigsuspend), &z));
    assert!(!may_block(nr(l::SYS_getpid), &z));
    assert!(!may_block(nr(l::SYS_mmap), &z));
}

#[test]
fn classes_of_syscalls() {
    assert_eq!(classes(nr(l::SYS_openat)), Classes::FILE | Classes::DESC);
    assert!(classes(nr(l::SYS_connect)).contains(Classes::NETWORK));
    assert!(classes(nr(l::SYS_kill)).contains(Classes::SIGNAL));
    assert!(classes(nr(l::SYS_mmap)).contains(Classes::MEMORY));
    assert!(classes(nr(l::SYS_execve)).contains(Classes::PROCESS | Classes::FILE));
    assert!(classes(nr(l::SYS_getuid)).contains(Classes::CREDS));
    assert!(classes(nr(l::SYS_clock_gettime)).contains(Classes::CLOCK));
    assert!(classes(nr(l::SYS_newfstatat)).contains(Classes::STAT));
    assert!(classes(nr(l::SYS_shmget)).contains(Classes::IPC));
    assert!(classes(nr(l::SYS_getpid)).is_empty());
    assert!(classes(999).is_empty());
}

#[test]
fn classes_parse_and_print() {
    assert_eq!(Classes::from_name("%file"), Some(Classes::FILE));
    assert_eq!(Classes::from_name("file"), Some(Classes::FILE));
    assert_eq!(Classes::from_name("%net"), Some(Classes::NETWORK));
    assert_eq!(Classes::from_name("%%stat"), Some(Classes::STAT));
    assert_eq!(Classes::from_name("bogus"), None);
    let c = Classes::FILE | Classes::DESC;
    assert_eq!(c.names(), vec!["file", "desc"]);
    assert_eq!(c.to_string(), "%file|%desc");
    assert!(c.contains(Classes::FILE));
    assert!(!Classes::FILE.contains(c));
    assert_eq!(Classes::all().names().len(), 10);
}

#[test]
fn counts() {
    let known = known_syscalls().count();
    let refused = known_syscalls()
        .filter(|n| {
            matches!(
                outputs(*n, &[0; 6], -(l::ENOSYS as i64), &EMPTY),
                Err(ModelError::Unsupported { .. })
            )
        })
        .count();
    // 382 kernel syscalls and the syscall buffer's control call.
    assert_eq!(known, 383);
    assert_eq!(refused, 11, "syscalls refused whatever their arguments");
}

#[test]
fn namespace_pidfd_loop_and_pagemap_ioctls() {
    // NS_GET_OWNER_UID is an _IO request that writes a uid_t.
    assert_eq!(
        out(l::SYS_ioctl, [5, 0xB704, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 4)]
    );
    // NS_GET_PID_FROM_PIDNS takes a pid, not a pointer.
    assert!(out(l::SYS_ioctl, [5, 0x8004_B706, 1, 0, 0, 0], 4242, &EMPTY).is_empty());
    // PIDFD_GET_INFO and LOOP_GET_STATUS64 fill their structs.
    assert_eq!(
        out(l::SYS_ioctl, [7, 0xC048_FF0B, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 72)]
    );
    assert_eq!(
        out(l::SYS_ioctl, [4, 0x4C05, 0x1000, 0, 0, 0], 0, &EMPTY),
        vec![r(0x1000, 232)]
    );
    assert!(out(l::SYS_ioctl, [4, 0x4C82, 0, 0, 0, 0], 3, &EMPTY).is_empty());
    // PAGEMAP_SCAN: the argument struct, and `ret` page regions at its vec.
    let mut mem = FakeMem::default();
    mem.put_u64s(
        0x2000,
        &[96, 0, 0x10000, 0x20000, 0, 0x3000, 8, 0, 0, 0, 0, 0],
    );
    assert_eq!(
        out(l::SYS_ioctl, [3, 0xC060_6610, 0x2000, 0, 0, 0], 2, &mem),
        vec![r(0x2000, 96), r(0x3000, 48)]
    );
}

#[test]
fn sysfs_option_2_writes_the_name_and_its_nul() {
    let mut mem = FakeMem::default();
    mem.put(0x1000, b"ext4\0");
    assert_eq!(
        out(l::SYS_sysfs, [2, 0, 0x1000, 0, 0, 0], 0, &mem),
        vec![r(0x1000, 5)]
    );
    assert!(out(l::SYS_sysfs, [1, 0x2000, 0, 0, 0, 0], 3, &EMPTY).is_empty());
}

/// What the decoder shows an argument as agrees with what the recorder
/// saves of it: a struct the call writes is the size the row's outputs
/// say, and the descriptor-making calls' flags keep `O_CLOEXEC`'s meaning.
#[test]
fn decoded_structs_agree_with_the_outputs() {
    use crate::decode::ArgKind;
    for nr in known_syscalls() {
        let row = syscall(nr).unwrap();
        let Writes::OnSuccess(structs) = row.writes else {
            continue;
        };
        for (i, kind) in row.args.iter().enumerate() {
            if let ArgKind::StructOut(shape) = kind {
                assert!(
                    structs.contains(&At(i, shape.size() as u64)),
                    "{}: argument {i} shows a {shape:?} of {} bytes",
                    row.name,
                    shape.size()
                );
            }
        }
    }
    let eventfd2 = syscall(nr(l::SYS_eventfd2)).unwrap();
    assert!(eventfd2.new_fds_close_on_exec(&[0, l::EFD_CLOEXEC as u64, 0, 0, 0, 0]));
    assert!(!eventfd2.new_fds_close_on_exec(&[0, l::EFD_NONBLOCK as u64, 0, 0, 0, 0]));
}

/// The audit columns agree with the rest of each row: a call that opens a
/// file by name takes a path and returns a descriptor, a pair's ends are
/// the 8 bytes the call writes, a copy is a descriptor returned.
#[test]
fn activity_and_descriptor_columns_agree_with_the_row() {
    use crate::decode::ArgKind;
    for nr in known_syscalls() {
        let row = syscall(nr).unwrap();
        let name = row.name;
        if row.activity == Activity::Open {
            assert!(
                row.arg_of_kind(ArgKind::Path).is_some(),
                "{name} opens no path"
            );
            assert_eq!(row.returns, Returns::Fd, "{name}");
        }
        if row.activity == Activity::Accept {
            assert_eq!(row.returns, Returns::Fd, "{name}");
        }
        match row.fd_effect {
            FdEffect::Pair(at) => {
                assert!(
                    matches!(row.writes, Writes::OnSuccess(structs) if structs.contains(&At(at, 8))),
                    "{name} writes no int[2] at argument {at}"
                );
            }
            FdEffect::Duplicates | FdEffect::DuplicatesWhen(_) | FdEffect::Closes => {
                assert_eq!(row.args.first(), Some(&ArgKind::Fd), "{name}");
            }
            FdEffect::ClosesRange | FdEffect::None => {}
        }
    }
    let openat = syscall(nr(l::SYS_openat)).unwrap();
    let cloexec = l::O_CLOEXEC as u64;
    assert_eq!(openat.open_flags(&[0, 0, cloexec, 0, 0, 0]), Some(cloexec));
    assert!(openat.new_fds_close_on_exec(&[0, 0, cloexec, 0, 0, 0]));
    let creat = syscall(nr(l::SYS_creat)).unwrap();
    assert_eq!(
        creat.open_flags(&[0, 0o644, 0, 0, 0, 0]),
        Some((l::O_CREAT | l::O_WRONLY | l::O_TRUNC) as u64)
    );
    let fcntl = syscall(nr(l::SYS_fcntl)).unwrap();
    assert!(fcntl.duplicates(&[3, l::F_DUPFD_CLOEXEC as u64, 10, 0, 0, 0]));
    assert!(fcntl.new_fds_close_on_exec(&[3, l::F_DUPFD_CLOEXEC as u64, 10, 0, 0, 0]));
    assert!(!fcntl.duplicates(&[3, l::F_GETFL as u64, 0, 0, 0, 0]));
    let socket = syscall(nr(l::SYS_socket)).unwrap();
    assert!(socket.new_fds_close_on_exec(&[
        2,
        (l::SOCK_STREAM | l::SOCK_CLOEXEC) as u64,
        0,
        0,
        0,
        0
    ]));
}

/// Socket addresses and iovec arrays the kernel reads are inputs of the
/// call, found from the arguments' kinds alone.
#[test]
fn addresses_and_iovecs_the_kernel_reads_are_inputs() {
    let mut mem = FakeMem::default();
    mem.put(0x1000, &[2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    let connect = inputs(nr(l::SYS_connect), &[3, 0x1000, 16, 0, 0, 0], &mem);
    assert_eq!(connect, vec![r(0x1000, 16)]);
    mem.put(0x2000, b"hello");
    let sendto = inputs(nr(l::SYS_sendto), &[3, 0x2000, 5, 0, 0x1000, 16], &mem);
    assert!(
        sendto.contains(&r(0x1000, 16)) && sendto.contains(&r(0x2000, 5)),
        "{sendto:?}"
    );
    mem.put_u64s(0x3000, &[0x2000, 5]);
    let writev = inputs(nr(l::SYS_writev), &[1, 0x3000, 1, 0, 0, 0], &mem);
    assert!(
        writev.contains(&r(0x3000, 16)) && writev.contains(&r(0x2000, 5)),
        "{writev:?}"
    );
}
