//! A thread's signals as `/proc/TID/status` shows them: pending, blocked,
//! ignored and caught.

use crate::{Pid, TraceeError};

/// Signals whose default action is to do nothing (the kernel's
/// `SIG_KERNEL_IGNORE_MASK`): SIGCHLD, SIGCONT, SIGURG and SIGWINCH.
const IGNORED_BY_DEFAULT: u64 =
    bit(libc::SIGCHLD) | bit(libc::SIGCONT) | bit(libc::SIGURG) | bit(libc::SIGWINCH);

const fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

/// Bit `n - 1` stands for signal `n`, as in the kernel's sigset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalState {
    /// Pending for the thread or its whole process.
    pub pending: u64,
    pub blocked: u64,
    /// Set to SIG_IGN.
    pub ignored: u64,
    /// With a handler.
    pub caught: u64,
}

impl SignalState {
    pub fn read(tid: Pid) -> Result<SignalState, TraceeError> {
        let path = format!("/proc/{tid}/status");
        let text = std::fs::read_to_string(&path).map_err(|source| TraceeError::Proc {
            path: path.clone(),
            source,
        })?;
        Ok(SignalState::parse(&text))
    }

    fn parse(status: &str) -> SignalState {
        let mut state = SignalState::default();
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let mask = u64::from_str_radix(value.trim(), 16).unwrap_or(0);
            match key {
                "SigPnd" | "ShdPnd" => state.pending |= mask,
                "SigBlk" => state.blocked = mask,
                "SigIgn" => state.ignored = mask,
                "SigCgt" => state.caught = mask,
                _ => {}
            }
        }
        state
    }

    /// Signals pending and not blocked: those that stop an interruptible
    /// wait.
    pub fn deliverable(&self) -> u64 {
        self.pending & !self.blocked
    }

    /// True if signals are deliverable and the program ignores every one of
    /// them (SIG_IGN, or no handler and a default action of nothing).
    /// Natively such a signal is dropped when it is sent and wakes nobody;
    /// a traced thread is woken all the same, so that its tracer sees it.
    pub fn only_ignored_deliverable(&self) -> bool {
        let deliverable = self.deliverable();
        let ignored = self.ignored | (IGNORED_BY_DEFAULT & !self.caught);
        deliverable != 0 && deliverable & !ignored == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pending: u64, blocked: u64, ignored: u64, caught: u64) -> SignalState {
        SignalState {
            pending,
            blocked,
            ignored,
            caught,
        }
    }

    #[test]
    fn parses_the_masks() {
        let status = "Name:\tx\nSigQ:\t1/1000\nSigPnd:\t0000000000000001\nShdPnd:\t0000000000010000\nSigBlk:\t0000000000000002\nSigIgn:\t0000000000001000\nSigCgt:\t0000000000000400\n";
        assert_eq!(SignalState::parse(status), state(0x10001, 2, 0x1000, 0x400));
    }

    #[test]
    fn a_default_sigchld_is_ignored_unless_caught() {
        let sigchld = bit(libc::SIGCHLD);
        assert!(state(sigchld, 0, 0, 0).only_ignored_deliverable());
        assert!(!state(sigchld, 0, 0, sigchld).only_ignored_deliverable());
        // SIGUSR1 with no handler kills: not ignored.
        let usr1 = bit(libc::SIGUSR1);
        assert!(!state(sigchld | usr1, 0, 0, 0).only_ignored_deliverable());
        assert!(state(usr1, 0, usr1, 0).only_ignored_deliverable());
        // A blocked signal is not deliverable; nothing deliverable, nothing to say.
        assert!(!state(usr1, usr1, 0, 0).only_ignored_deliverable());
    }
}
