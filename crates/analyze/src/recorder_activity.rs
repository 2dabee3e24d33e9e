//! Which recorded syscalls the recorder caused rather than the program:
//! the dynamic loader opening and mapping the syscall buffer's preload
//! library, the library's control calls, and the calls the library makes
//! for itself (mapping its buffer). Every view hides them unless asked to
//! show them, so that a recording reads like the program's own run.
//! Event numbers are untouched: a hidden call keeps its number.

use std::collections::HashMap;

use syscall_model::{Syscall, Sysno};
use trace::{RecordedTid, TraceHeader};

use crate::pairing::{Item, SyscallRecord};

/// What is known of the library in one process.
#[derive(Default, Clone)]
struct InProcess {
    /// The descriptor the loader opened it on, until it closes it.
    fd: Option<u64>,
    /// Where it is mapped.
    ranges: Vec<(u64, u64)>,
    /// Where the library's own traced syscall returns to (its hello call
    /// says): a call stopped there is the library's, such as mapping its
    /// buffer. The program's calls that fall back to the traced path stop
    /// elsewhere in the library.
    own_call_return: Option<u64>,
}

impl InProcess {
    fn maps(&self, addr: u64) -> bool {
        self.ranges
            .iter()
            .any(|&(start, end)| (start..end).contains(&addr))
    }
}

/// Follows the library through a recording, item by item in order.
pub struct RecorderActivity {
    /// The library's path as the loader opens it; `None` when the
    /// recording was made without the syscall buffer.
    library: Option<String>,
    processes: HashMap<RecordedTid, InProcess>,
}

impl RecorderActivity {
    pub fn new(header: &TraceHeader) -> RecorderActivity {
        let library = header.preload_library().map(str::to_string);
        RecorderActivity {
            library,
            processes: HashMap::new(),
        }
    }

    /// True if `item` is the recorder's doing. Call it on every item, in
    /// order: it follows forks, execs and the library's mappings.
    pub fn is_recorders(&mut self, item: &Item) -> bool {
        match item {
            Item::TaskStart {
                pid,
                parent,
                thread: false,
                ..
            } => {
                let inherited = self.processes.get(parent).cloned().unwrap_or_default();
                self.processes.insert(*pid, inherited);
                false
            }
            Item::Syscall { record, .. } => self.is_recorders_call(record, true),
            // Its exit comes later as a Syscall item, which decides and
            // updates; the entry line only needs the answer.
            Item::Unfinished(record) => self.is_recorders_call(record, false),
            _ => false,
        }
    }

    fn is_recorders_call(&mut self, rec: &SyscallRecord, finished: bool) -> bool {
        let Some(library) = self.library.clone() else {
            return false;
        };
        let row = syscall_model::syscall(rec.nr);
        let state = self.processes.entry(rec.pid).or_default();
        if row.is_some_and(|row| row.nr == syscallbuf::CONTROL_SYSCALL) {
            if syscallbuf::is_hello(rec.args[0]) {
                state.own_call_return = Some(rec.args[4]);
            }
            return true;
        }
        if rec.regs.rip != 0 && state.own_call_return == Some(rec.regs.rip) {
            return true;
        }
        let Some(sysno) = rec.sysno() else {
            return false;
        };
        let a = rec.args;
        let ok = rec.result.is_some_and(|r| r >= 0) && rec.errno().is_none();
        let on_library_fd = state.fd == Some(a[0]);
        let recorders = match sysno {
            Sysno::open | Sysno::openat => {
                let path_arg = path_argument(row);
                let is_library = path_arg
                    .and_then(|i| rec.input_at(a[i], library.len() + 1))
                    .is_some_and(|bytes| {
                        bytes.strip_suffix(&[0]).unwrap_or(bytes) == library.as_bytes()
                    });
                if is_library && ok && finished {
                    state.fd = rec.result.map(|fd| fd as u64);
                }
                is_library
            }
            Sysno::read | Sysno::pread64 | Sysno::fstat | Sysno::newfstatat => on_library_fd,
            Sysno::close if on_library_fd => {
                if finished {
                    state.fd = None;
                }
                true
            }
            Sysno::mmap if state.fd == Some(a[4]) => {
                if let (true, Some(start)) = (ok && finished, rec.result) {
                    let start = start as u64;
                    state.ranges.push((start, start.saturating_add(a[1])));
                }
                true
            }
            // The zero-filled pages of its .bss, mapped anonymous over its
            // span while the loader still has it open.
            Sysno::mmap if state.fd.is_some() && state.maps(a[0]) => true,
            Sysno::mprotect | Sysno::munmap | Sysno::madvise => state.maps(a[0]),
            _ => false,
        };
        let exec = syscall_model::execs(rec.nr);
        if exec && finished && rec.result == Some(0) {
            // A new image: the library, if any, is loaded again.
            self.processes.insert(rec.pid, InProcess::default());
        }
        recorders
    }
}

/// The argument that holds the path a row's call opens.
fn path_argument(row: Option<&Syscall>) -> Option<usize> {
    row?.arg_of_kind(syscall_model::decode::ArgKind::Path)
}
