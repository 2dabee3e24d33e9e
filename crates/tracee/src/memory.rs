//! Tracee memory through `/proc/<pid>/mem`.
//!
//! `/proc/<pid>/mem` is used for both directions because it writes through
//! read-only mappings (replay patches code and restores loader data) and it
//! keeps the address space alive even when the thread it was opened through
//! exits. After an exec the old address space is gone, so callers reopen.

use crate::{Pid, TraceeError};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;

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
        let mut done = 0;
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
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    pub fn write(&self, addr: u64, bytes: &[u8]) -> Result<(), TraceeError> {
        let mut done = 0;
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
