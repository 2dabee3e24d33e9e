//! Software perf events: the per-thread time slice that tells the recorder
//! when to look at a thread running user code, and the probe for a hardware
//! branch counter.

use crate::{Pid, TraceeError};
use perf_event_open_sys as sys;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `si_code` of the SIGTRAP a perf event with `sigtrap` set raises.
pub const TRAP_PERF: i32 = 6;

/// A task-clock event on one thread that raises a SIGTRAP (`TRAP_PERF`)
/// each time the thread has used `period` of CPU, but only while it runs
/// user code (`exclude_kernel`), so it never interrupts a syscall. The
/// signal is forced: the tracee cannot block it, and the recorder swallows
/// it at its signal-delivery stop.
///
/// A timer starts disarmed: an enabled perf event costs something at every
/// context switch of its thread, and every ptrace stop is two of them, so
/// the recorder arms it only while another thread is waiting to run.
#[derive(Debug)]
pub struct SliceTimer {
    fd: OwnedFd,
    armed: std::cell::Cell<bool>,
}

impl SliceTimer {
    pub fn open(tid: Pid, period_ns: u64) -> Result<SliceTimer, TraceeError> {
        let mut attr = sys::bindings::perf_event_attr {
            type_: sys::bindings::PERF_TYPE_SOFTWARE,
            size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
            config: u64::from(sys::bindings::PERF_COUNT_SW_TASK_CLOCK),
            ..Default::default()
        };
        attr.__bindgen_anon_1.sample_period = period_ns.max(10_000);
        attr.set_disabled(1);
        attr.set_exclude_kernel(1);
        attr.set_exclude_hv(1);
        attr.set_sigtrap(1);
        // The kernel requires remove_on_exec with sigtrap; the recorder opens
        // a new timer after each exec.
        attr.set_remove_on_exec(1);
        // SAFETY: attr is a valid, fully initialised perf_event_attr that
        // outlives the call; the returned fd is owned below.
        let fd = unsafe {
            sys::perf_event_open(
                &mut attr,
                tid,
                -1,
                -1,
                sys::bindings::PERF_FLAG_FD_CLOEXEC as _,
            )
        };
        if fd < 0 {
            return Err(TraceeError::Perf {
                pid: tid,
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: fd was just returned by perf_event_open and is not owned elsewhere.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SliceTimer {
            fd,
            armed: std::cell::Cell::new(false),
        })
    }

    /// Changes the slice; it takes effect from the next expiry.
    pub fn set_period(&self, period_ns: u64) {
        let mut period = period_ns.max(10_000);
        // The kernel reads the new period through a pointer, which this
        // binding passes as a plain integer.
        let arg = std::ptr::addr_of_mut!(period) as u64;
        // SAFETY: arg points to a u64 that lives across the call.
        unsafe { sys::ioctls::PERIOD(self.fd.as_raw_fd(), arg) };
    }

    /// Stops the timer (nobody waits, or the recorder single-steps).
    pub fn disarm(&self) {
        if self.armed.replace(false) {
            // SAFETY: DISABLE takes no pointer argument.
            unsafe { sys::ioctls::DISABLE(self.fd.as_raw_fd(), 0) };
        }
    }

    /// Starts it with a fresh slice, unless it already runs.
    pub fn arm(&self) {
        if !self.armed.replace(true) {
            // SAFETY: RESET and ENABLE take no pointer argument.
            unsafe {
                sys::ioctls::RESET(self.fd.as_raw_fd(), 0);
                sys::ioctls::ENABLE(self.fd.as_raw_fd(), 0);
            }
        }
    }
}

/// The hardware counter rr positions events with: retired conditional
/// branches, as a raw event of this CPU's vendor. `None` when the machine
/// has no usable PMU (most VMs, these ones included).
pub fn branch_counter() -> Option<&'static str> {
    let vendor = std::fs::read_to_string("/proc/cpuinfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("vendor_id"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())?;
    let (name, config) = match vendor.as_str() {
        "GenuineIntel" => ("intel-retired-conditional-branches", 0x5101c4u64),
        "AuthenticAMD" | "HygonGenuine" => ("amd-retired-conditional-branches", 0x5100d1u64),
        _ => return None,
    };
    let mut attr = sys::bindings::perf_event_attr {
        type_: sys::bindings::PERF_TYPE_RAW,
        size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
        config,
        ..Default::default()
    };
    attr.set_exclude_kernel(1);
    attr.set_exclude_hv(1);
    // SAFETY: attr is valid for the call; a returned fd is closed at once.
    let fd = unsafe {
        sys::perf_event_open(
            &mut attr,
            0,
            -1,
            -1,
            sys::bindings::PERF_FLAG_FD_CLOEXEC as _,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd was just opened here and is closed exactly once.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Some(name)
}
