//! Tells whether a tracee's fd refers to the recorder's own stdout/stderr, so
//! that replay re-emits exactly what reached the user's terminal or pipe.

use std::os::unix::fs::MetadataExt;
use trace::event::OutputStream;
use tracee::Pid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

pub struct OutputMatcher {
    stdout: Option<FileId>,
    stderr: Option<FileId>,
}

fn fd_id(fd: i32) -> Option<FileId> {
    let meta = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok()?;
    Some(FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

impl OutputMatcher {
    /// (device, inode) of stdout then stderr, zeros for a missing one: what
    /// the syscall buffer's library compares its writes with.
    pub fn identities(&self) -> [u64; 4] {
        let pair = |id: Option<FileId>| id.map_or((0, 0), |f| (f.dev, f.ino));
        let (a, b) = pair(self.stdout);
        let (c, d) = pair(self.stderr);
        [a, b, c, d]
    }

    pub fn new() -> OutputMatcher {
        OutputMatcher {
            stdout: fd_id(1),
            stderr: fd_id(2),
        }
    }

    /// Which of the recorder's streams the tracee's `fd` writes to, if any.
    pub fn classify(&self, tid: Pid, fd: i64) -> Option<OutputStream> {
        if self.stdout.is_none() && self.stderr.is_none() {
            return None;
        }
        let meta = std::fs::metadata(format!("/proc/{tid}/fd/{fd}")).ok()?;
        let id = Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        });
        let is_out = id == self.stdout;
        let is_err = id == self.stderr;
        match (is_out, is_err) {
            // Both streams are the same file (a terminal): keep the tracee's choice.
            (true, true) => Some(if fd == 2 {
                OutputStream::Stderr
            } else {
                OutputStream::Stdout
            }),
            (true, false) => Some(OutputStream::Stdout),
            (false, true) => Some(OutputStream::Stderr),
            (false, false) => None,
        }
    }
}
