//! Tells whether a tracee's fd refers to the recorder's own stdout/stderr, so
//! that replay re-emits exactly what reached the user's terminal or pipe.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
        let meta = tracee::stat::cached(&format!("/proc/{tid}/fd/{fd}"))?;
        let id = Some(FileId {
            dev: meta.dev,
            ino: meta.ino,
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

/// Where the bytes come from that a copying syscall (sendfile, splice,
/// copy_file_range, tee) sends to the recorder's stdout or stderr: they are
/// in no tracee memory, so the recorder reads them itself and stores them.
#[derive(Debug, Clone)]
pub enum CopySource {
    /// A regular file, from this position on.
    File { path: String, pos: u64 },
    /// A pipe's first bytes, duplicated (not consumed) before the call ran.
    Pipe(Vec<u8>),
}

/// The syscalls that move bytes between descriptors in the kernel: their
/// source fd, source offset pointer (0 for none) and destination fd.
fn copy_fds(nr: u64, args: &[u64; 6]) -> Option<(i64, u64, i64)> {
    match nr as i64 {
        libc::SYS_sendfile => Some((args[1] as i64, args[2], args[0] as i64)),
        libc::SYS_copy_file_range | libc::SYS_splice => {
            Some((args[0] as i64, args[1], args[2] as i64))
        }
        libc::SYS_tee => Some((args[0] as i64, 0, args[1] as i64)),
        _ => None,
    }
}

/// The largest amount the recorder keeps of one copying call.
const MAX_COPY: usize = 1 << 20;

impl OutputMatcher {
    /// At a copying syscall's entry: the stream it writes to, and where its
    /// bytes will come from, if they reach the recorder's output.
    pub fn copy_source(
        &self,
        tid: Pid,
        nr: u64,
        args: &[u64; 6],
        read_offset: impl Fn(u64) -> Option<u64>,
    ) -> Option<(OutputStream, CopySource)> {
        let (from, offset_ptr, to) = copy_fds(nr, args)?;
        let stream = self.classify(tid, to)?;
        let path = format!("/proc/{tid}/fd/{from}");
        let meta = tracee::stat::cached(&path)?;
        if meta.is_file() {
            let pos = match offset_ptr {
                0 => file_position(tid, from)?,
                ptr => read_offset(ptr)?,
            };
            return Some((stream, CopySource::File { path, pos }));
        }
        if meta.is_fifo() {
            return Some((stream, CopySource::Pipe(peek_pipe(&path)?)));
        }
        None
    }
}

/// The `pos:` of a tracee's descriptor.
pub(crate) fn file_position(tid: Pid, fd: i64) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The bytes waiting in a pipe, copied with tee(2) so the tracee still
/// gets them.
fn peek_pipe(path: &str) -> Option<Vec<u8>> {
    use nix::fcntl::{tee, SpliceFFlags};
    use std::io::Read;
    let source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let (reader, writer) = nix::unistd::pipe().ok()?;
    let copied = tee(&source, &writer, MAX_COPY, SpliceFFlags::SPLICE_F_NONBLOCK).unwrap_or(0);
    drop(writer);
    if copied == 0 {
        return None;
    }
    let mut bytes = Vec::with_capacity(copied);
    std::fs::File::from(reader).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

impl CopySource {
    /// The first `len` bytes the call copied.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let len = len.min(MAX_COPY);
        match self {
            CopySource::File { path, pos } => {
                use std::os::unix::fs::FileExt;
                let mut bytes = vec![0u8; len];
                let read = std::fs::File::open(path)
                    .and_then(|f| f.read_at(&mut bytes, *pos))
                    .unwrap_or(0);
                bytes.truncate(read);
                bytes
            }
            CopySource::Pipe(bytes) => bytes[..len.min(bytes.len())].to_vec(),
        }
    }
}
