//! Stopping a thread in the middle of a long stretch of user code, so the
//! replay can copy itself there (see `snapshot`).
//!
//! The replayer blocks in `waitpid` while a thread runs; a timer thread
//! sends that thread a SIGSTOP when the next snapshot is due. The tracer
//! sees the SIGSTOP as a signal stop and never delivers it. A SIGSTOP that
//! arrives after the thread stopped by itself stays pending and shows up at
//! a later resume, where replay drops it like any signal the kernel sent
//! that the recording does not have.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use tracee::{ptrace, Pid};

#[derive(Default)]
struct Armed {
    /// When to stop which thread (thread group, thread).
    target: Option<(Instant, Pid, Pid)>,
    /// Whether the replayer waits for that thread now.
    active: bool,
    generation: u64,
    /// The generation whose SIGSTOP was sent.
    fired: Option<u64>,
    quit: bool,
}

type Shared = Arc<(Mutex<Armed>, Condvar)>;

pub(super) struct PauseTimer {
    shared: Shared,
}

impl PauseTimer {
    pub(super) fn start() -> Option<PauseTimer> {
        let shared: Shared = Arc::default();
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("replay-pause".into())
            .spawn(move || run(&theirs))
            .map_err(|e| tracing::warn!("no snapshots inside long stretches of user code: {e}"))
            .ok()?;
        Some(PauseTimer { shared })
    }

    /// Stops `tid` at `when` unless [`PauseTimer::disarm`] comes first.
    /// Arming again for the same moment (the replayer waits for one stop
    /// after another) does not wake the timer thread.
    pub(super) fn arm(&self, when: Instant, tgid: Pid, tid: Pid) -> u64 {
        let (lock, wake) = &*self.shared;
        let mut armed = lock.lock().unwrap_or_else(|e| e.into_inner());
        armed.generation += 1;
        armed.active = true;
        if armed.target != Some((when, tgid, tid)) {
            armed.target = Some((when, tgid, tid));
            wake.notify_one();
        }
        armed.generation
    }

    /// Cancels the stop; true if it was already sent.
    pub(super) fn disarm(&self, generation: u64) -> bool {
        let (lock, _) = &*self.shared;
        let mut armed = lock.lock().unwrap_or_else(|e| e.into_inner());
        armed.active = false;
        armed.fired == Some(generation)
    }
}

impl Drop for PauseTimer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).quit = true;
        wake.notify_one();
    }
}

fn run(shared: &Shared) {
    let (lock, wake) = &**shared;
    let mut armed = lock.lock().unwrap_or_else(|e| e.into_inner());
    while !armed.quit {
        match armed.target {
            None => armed = wake.wait(armed).unwrap_or_else(|e| e.into_inner()),
            Some((when, tgid, tid)) => {
                let now = Instant::now();
                if now >= when {
                    if armed.active {
                        let _ = ptrace::tgkill(tgid, tid, libc::SIGSTOP);
                        armed.fired = Some(armed.generation);
                    }
                    armed.target = None;
                } else {
                    armed = wake
                        .wait_timeout(armed, when - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}
