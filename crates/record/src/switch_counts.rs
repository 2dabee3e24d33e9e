//! Voluntary context switches as a native run counts them. Every ptrace
//! stop puts the tracee to sleep, which the kernel counts as a voluntary
//! context switch: a thread that sleeps five times natively reads
//! hundreds under the recorder. `getrusage` for the calling process or
//! thread (which the syscall buffer sends to the tracer for this) and
//! `voluntary_ctxt_switches` in a recorded task's status (`proc_views`)
//! show the count less the stops the recorder made (`tracee::ptrace`
//! counts them as they are reported). The children's counts
//! (`RUSAGE_CHILDREN`, `wait4`'s) keep the stops of the children.

use crate::recorder::{Recorder, Step};
use std::collections::HashMap;
use tracee::Pid;

/// Stops of the threads that are gone, by process: `RUSAGE_SELF` counts
/// the switches of a process's dead threads too.
#[derive(Default)]
pub(crate) struct ExitedStops(HashMap<Pid, u64>);

impl ExitedStops {
    /// `tid` of `tgid` is gone; its stops stay in its process's count.
    pub(crate) fn thread_gone(&mut self, tid: Pid, tgid: Pid) {
        *self.0.entry(tgid).or_default() += tracee::ptrace::stops_reported(tid);
        tracee::ptrace::forget_stops(tid);
    }

    pub(crate) fn process_gone(&mut self, tgid: Pid) {
        self.0.remove(&tgid);
    }
}

/// Where `ru_nvcsw` is in `struct rusage`: after two timevals and twelve
/// longs.
const NVCSW_OFFSET: u64 = 2 * 16 + 12 * 8;

impl Recorder {
    /// The ptrace stops `tid`'s process has made, its exited threads' too.
    fn process_stops(&self, tgid: Pid) -> u64 {
        let live: u64 = self
            .tasks
            .values()
            .filter(|task| task.tgid == tgid)
            .map(|task| tracee::ptrace::stops_reported(task.tid))
            .sum();
        live + self.exited_stops.0.get(&tgid).copied().unwrap_or(0)
    }

    /// At the exit of a successful `getrusage(RUSAGE_SELF or
    /// RUSAGE_THREAD)`: the recorder's stops taken out of `ru_nvcsw`
    /// before the struct is logged.
    pub(crate) fn show_native_rusage(&mut self, tid: Pid, args: &[u64; 6], result: i64) -> Step {
        const RUSAGE_SELF: i64 = 0;
        const RUSAGE_THREAD: i64 = 1;
        let tgid = self.task(tid)?.tgid;
        let stops = match args[0] as i64 {
            _ if result != 0 => return Ok(()),
            RUSAGE_SELF => self.process_stops(tgid),
            RUSAGE_THREAD => tracee::ptrace::stops_reported(tid),
            _ => return Ok(()),
        };
        // The kernel counted before this exit stop, which is counted here.
        let stops = stops.saturating_sub(1);
        let mem = self.memory(tgid)?;
        let at = args[1] + NVCSW_OFFSET;
        let Ok(bytes) = mem.read(at, 8) else {
            return Ok(());
        };
        let counted = i64::from_le_bytes(bytes.try_into().unwrap_or_default());
        let native = counted.saturating_sub(stops as i64).max(0);
        mem.write(at, &native.to_le_bytes())?;
        Ok(())
    }
}
