//! The preload library records some syscalls itself, by its own table
//! (`syscallbuf::plan`), with no tracer to ask the model. Its table must
//! agree with the model: a buffered call must record exactly the memory
//! the model says the kernel wrote, or replay restores too little (a wrong
//! replay) or reads past a buffer (a crash in the recorded program).

use replay_syscall_model as model;
use syscallbuf::plan::{plan, FIONREAD, TCGETS};

/// Tracee memory that reads as zeros everywhere below the user-space top.
struct Zeros;

impl model::MemoryReader for Zeros {
    fn read_bytes(&self, addr: u64, len: usize) -> Result<Vec<u8>, model::MemoryError> {
        if addr >= 1 << 47 {
            return Err(model::MemoryError {
                addr,
                len,
                detail: "not mapped".into(),
            });
        }
        Ok(vec![0; len])
    }
}

const BUF: u64 = 0x10_0000;
const PATH: u64 = 0x20_0000;
const AT_FDCWD: u64 = -100i64 as u64;

/// Calls as real programs make them, one or more for each kind of call the
/// library buffers: (name, arguments, results the kernel can give).
fn real_calls() -> Vec<(&'static str, [u64; 6])> {
    vec![
        ("read", [3, BUF, 100, 0, 0, 0]),
        ("write", [1, BUF, 100, 0, 0, 0]),
        ("pread64", [3, BUF, 100, 4096, 0, 0]),
        ("pwrite64", [3, BUF, 100, 4096, 0, 0]),
        ("close", [3, 0, 0, 0, 0, 0]),
        ("lseek", [3, 10, 0, 0, 0, 0]),
        ("getpid", [0; 6]),
        ("getuid", [0; 6]),
        ("getgid", [0; 6]),
        ("geteuid", [0; 6]),
        ("getegid", [0; 6]),
        ("getppid", [0; 6]),
        ("gettid", [0; 6]),
        ("stat", [PATH, BUF, 0, 0, 0, 0]),
        ("lstat", [PATH, BUF, 0, 0, 0, 0]),
        ("fstat", [3, BUF, 0, 0, 0, 0]),
        ("ioctl", [0, TCGETS, BUF, 0, 0, 0]),
        ("ioctl", [3, FIONREAD, BUF, 0, 0, 0]),
        ("access", [PATH, 4, 0, 0, 0, 0]),
        ("uname", [BUF, 0, 0, 0, 0, 0]),
        ("rt_sigaction", [2, 0, BUF, 8, 0, 0]),
        ("rt_sigprocmask", [0, 0, BUF, 8, 0, 0]),
        ("getrlimit", [3, BUF, 0, 0, 0, 0]),
        ("getrusage", [(-1i64) as u64, BUF, 0, 0, 0, 0]),
        ("sysinfo", [BUF, 0, 0, 0, 0, 0]),
        ("prlimit64", [0, 3, 0, BUF, 0, 0]),
        ("fcntl", [3, 1, 0, 0, 0, 0]),
        ("fcntl", [3, 2, 1, 0, 0, 0]),
        ("fcntl", [3, 3, 0, 0, 0, 0]),
        ("getcwd", [BUF, 4096, 0, 0, 0, 0]),
        ("readlink", [PATH, BUF, 4096, 0, 0, 0]),
        ("gettimeofday", [BUF, 0, 0, 0, 0, 0]),
        ("time", [BUF, 0, 0, 0, 0, 0]),
        ("getdents64", [3, BUF, 32768, 0, 0, 0]),
        ("clock_gettime", [1, BUF, 0, 0, 0, 0]),
        ("openat", [AT_FDCWD, PATH, 0, 0, 0, 0]),
        ("newfstatat", [AT_FDCWD, PATH, BUF, 0, 0, 0]),
        ("readlinkat", [AT_FDCWD, PATH, BUF, 4096, 0, 0]),
        ("faccessat", [AT_FDCWD, PATH, 4, 0, 0, 0]),
        ("faccessat2", [AT_FDCWD, PATH, 4, 0, 0, 0]),
        ("getrandom", [BUF, 16, 0, 0, 0, 0]),
        ("getxattr", [PATH, PATH + 100, BUF, 255, 0, 0]),
        ("lgetxattr", [PATH, PATH + 100, BUF, 255, 0, 0]),
        ("fgetxattr", [3, PATH + 100, BUF, 255, 0, 0]),
        ("getxattr", [PATH, PATH + 100, 0, 0, 0, 0]),
        ("listxattr", [PATH, BUF, 255, 0, 0, 0]),
        ("llistxattr", [PATH, BUF, 255, 0, 0, 0]),
        ("flistxattr", [3, BUF, 255, 0, 0, 0]),
        ("poll", [BUF, 16, 0, 0, 0, 0]),
        ("poll", [BUF, 16, 100, 0, 0, 0]),
        ("recvfrom", [3, BUF, 100, 0, 0, 0]),
        ("epoll_wait", [3, BUF, 16, 0, 0, 0]),
        ("statx", [AT_FDCWD, PATH, 0, 0x7ff, BUF, 0]),
    ]
}

/// Argument vectors broad enough to reach every arm of the library's
/// table: each of the first four arguments from a small alphabet of fds,
/// commands, sizes and addresses, and the fifth zero or an address.
fn argument_sets() -> Vec<[u64; 6]> {
    // u64::MAX is -1: RUSAGE_CHILDREN, AT_FDCWD-like negative values.
    let alphabet = [0, 1, 2, 3, 16, BUF, TCGETS, FIONREAD, u64::MAX];
    let mut sets = Vec::new();
    for a in alphabet {
        for b in alphabet {
            for c in alphabet {
                for d in alphabet {
                    for e in [0, BUF] {
                        sets.push([a, b, c, d, e, 0]);
                    }
                }
            }
        }
    }
    sets
}

#[test]
fn every_buffered_call_records_what_the_model_says_it_writes() {
    for (name, args) in real_calls() {
        let nr = model::number(name).expect(name);
        let plan = plan(nr, &args).unwrap_or_else(|| panic!("{name}{args:x?} is not buffered"));
        // Results every such call can have: none larger than the smallest
        // buffer above.
        for result in [0i64, 1, 7, 12, -22, -14] {
            let (addr, len) = plan.written(result);
            let expected: Vec<(u64, u64)> = model::outputs(nr, &args, result, &Zeros)
                .unwrap_or_else(|e| panic!("{name}{args:x?} = {result}: {e}"))
                .iter()
                .map(|range| (range.addr, range.len))
                .collect();
            let recorded: Vec<(u64, u64)> = if len == 0 {
                Vec::new()
            } else {
                vec![(addr, len as u64)]
            };
            assert_eq!(
                recorded, expected,
                "{name}{args:x?} returning {result}: the library records {recorded:x?}, \
                 the model says the kernel wrote {expected:x?}"
            );
        }
    }
}

#[test]
fn every_call_the_library_buffers_is_checked_above() {
    let covered: Vec<u64> = real_calls()
        .iter()
        .map(|(name, _)| model::number(name).expect(name))
        .collect();
    for nr in 0..1024u64 {
        for args in argument_sets() {
            if plan(nr, &args).is_some() {
                assert!(
                    syscallbuf::is_buffered(nr),
                    "the library plans {nr} but the tracer never patches its sites"
                );
                assert!(
                    covered.contains(&nr),
                    "the library buffers {} ({nr}); add a real call of it to real_calls()",
                    model::name(nr).unwrap_or("an unknown syscall")
                );
            }
        }
    }
}

#[test]
fn every_patched_call_has_a_plan() {
    for &(nr, _) in syscallbuf::BUFFERED {
        let planned = argument_sets().iter().any(|args| plan(nr, args).is_some());
        assert!(planned, "{nr} is patched but the library never buffers it");
    }
}

#[test]
fn the_library_numbers_are_the_models() {
    for (name, nr) in [
        ("read", syscallbuf::plan::sys::READ),
        ("write", syscallbuf::plan::sys::WRITE),
        ("statx", syscallbuf::plan::sys::STATX),
        ("epoll_wait", syscallbuf::plan::sys::EPOLL_WAIT),
        ("faccessat2", syscallbuf::plan::sys::FACCESSAT2),
    ] {
        assert_eq!(model::number(name), Some(nr), "{name}");
    }
}
