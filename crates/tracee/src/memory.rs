//! Tracee memory through `/proc/<pid>/mem` (large transfers first try
//! process_vm_readv/writev, which copy once instead of twice).
//!
//! `/proc/<pid>/mem` is used for both directions because it writes through
//! read-only mappings (replay patches code and restores loader data) and it
//! keeps the address space alive even when the thread it was opened through
//! exits. After an exec the old address space is gone, so callers reopen.

use crate::{Pid, TraceeError};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

/// Transfers at least this long go through process_vm_readv/writev first.
const BULK: usize = 4096;

#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

pub struct ProcessMemory {
    pid: Pid,
    file: File,
}

impl ProcessMemory {
    pub fn open(pid: Pid) -> Result<ProcessMemory, TraceeError> {
        let path = format!("/proc/{pid}/mem");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| TraceeError::Proc { path, source })?;
        Ok(ProcessMemory { pid, file })
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Reads exactly `len` bytes.
    pub fn read(&self, addr: u64, len: usize) -> Result<Vec<u8>, TraceeError> {
        let mut buf = vec![0u8; len];
        self.read_into(addr, &mut buf)?;
        Ok(buf)
    }

    pub fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<(), TraceeError> {
        let mut done = if buf.len() >= BULK {
            self.bulk_transfer(addr, buf.as_mut_ptr(), buf.len(), Direction::Read)
        } else {
            0
        };
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], addr + done as u64) {
                Ok(0) => {
                    return Err(self.read_error(addr, buf.len(), "address not mapped".into()));
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(addr, buf.len(), e.to_string())),
            }
        }
        Ok(())
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, TraceeError> {
        let mut b = [0u8; 8];
        self.read_into(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a NUL-terminated string of at most `max` bytes (lossy UTF-8).
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<String, TraceeError> {
        let bytes = self.read_cstring_bytes(addr, max)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The bytes of a NUL-terminated string, without the NUL, at most `max`.
    pub fn read_cstring_bytes(&self, addr: u64, max: usize) -> Result<Vec<u8>, TraceeError> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 256];
        while out.len() < max {
            // Read up to the end of the page so that a string ending just
            // before an unmapped page is still readable.
            let cur = addr + out.len() as u64;
            let to_page_end = (4096 - (cur % 4096)) as usize;
            let n = chunk.len().min(to_page_end).min(max - out.len());
            self.read_into(cur, &mut chunk[..n])?;
            if let Some(pos) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..pos]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Ok(out)
    }

    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<(), TraceeError> {
        let mut done = if bytes.len() >= BULK {
            // process_vm_writev only reads `bytes`, whatever the cast says.
            let ptr = bytes.as_ptr().cast_mut();
            self.bulk_transfer(addr, ptr, bytes.len(), Direction::Write)
        } else {
            0
        };
        while done < bytes.len() {
            match self.file.write_at(&bytes[done..], addr + done as u64) {
                Ok(0) => {
                    return Err(self.write_error(addr, bytes.len(), "address not mapped".into()))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.write_error(addr, bytes.len(), e.to_string())),
            }
        }
        Ok(())
    }

    /// Copies what it can of a large range in one step, without the page
    /// by page bounce buffer of `/proc/<pid>/mem` (about twice as fast).
    /// Returns the bytes done; the caller finishes through the file, which
    /// also reaches what this cannot (read-only or PROT_NONE pages, an
    /// address space whose thread `pid` is gone).
    fn bulk_transfer(&self, addr: u64, local: *mut u8, len: usize, direction: Direction) -> usize {
        let local = libc::iovec {
            iov_base: local.cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` covers a buffer of `len` bytes the caller owns
        // (written only for Read, where the caller passed it as &mut);
        // the kernel checks `remote` against the tracee's address space.
        let n = unsafe {
            match direction {
                Direction::Read => libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0),
                Direction::Write => libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0),
            }
        };
        usize::try_from(n).unwrap_or(0)
    }

    fn read_error(&self, addr: u64, len: usize, detail: String) -> TraceeError {
        TraceeError::MemoryRead {
            pid: self.pid,
            addr,
            len,
            detail,
        }
    }

    fn write_error(&self, addr: u64, len: usize, detail: String) -> TraceeError {
        TraceeError::MemoryWrite {
            pid: self.pid,
            addr,
            len,
            detail,
        }
    }
}
