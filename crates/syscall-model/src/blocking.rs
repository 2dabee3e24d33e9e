//! Which calls may block for an unbounded time (waiting on another thread,
//! process, the network, a terminal, a timer or a signal). The scheduler
//! must not wait on such a call. Conservative: when the arguments cannot
//! tell (fd type, a timeout behind a pointer), the row says `blocks()`.
//!
//! The functions here decide it for the calls where the arguments can tell.

use crate::row::Args;

const WNOHANG: u64 = 1;
const MSG_DONTWAIT: u64 = 0x40;
const IPC_NOWAIT: u64 = 0o4000;
const LOCK_NB: u64 = 4;
const CLONE_VFORK: u64 = 0x4000;

/// True if the syscall may block for an unbounded time.
pub fn may_block(nr: u64, args: &Args) -> bool {
    crate::syscall(nr).is_some_and(|row| row.may_block(args))
}

/// Without WNOHANG it waits for a child.
pub(crate) fn wait4(args: &Args) -> bool {
    args[2] & WNOHANG == 0
}

/// Without WNOHANG it waits for a child.
pub(crate) fn waitid(args: &Args) -> bool {
    args[3] & WNOHANG == 0
}

/// The parent of a vfork waits until the child execs or exits.
pub(crate) fn clone(args: &Args) -> bool {
    args[0] & CLONE_VFORK != 0
}

/// A zero timeout returns at once.
pub(crate) fn poll(args: &Args) -> bool {
    args[2] as i32 != 0
}

/// A zero timeout returns at once.
pub(crate) fn epoll_wait(args: &Args) -> bool {
    args[3] as i32 != 0
}

/// The waiting operations: FUTEX_WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2.
pub(crate) fn futex(args: &Args) -> bool {
    matches!(args[1] as u32 & !(128 | 256), 0 | 6 | 9 | 11 | 13)
}

/// Socket calls wait unless MSG_DONTWAIT says otherwise.
pub(crate) fn without_dontwait(args: &Args) -> bool {
    args[3] & MSG_DONTWAIT == 0
}

/// Waits for a message unless IPC_NOWAIT.
pub(crate) fn msgrcv(args: &Args) -> bool {
    args[4] & IPC_NOWAIT == 0
}

/// Waits for room in the queue unless IPC_NOWAIT.
pub(crate) fn msgsnd(args: &Args) -> bool {
    args[3] & IPC_NOWAIT == 0
}

/// Waits for the lock unless LOCK_NB.
pub(crate) fn flock(args: &Args) -> bool {
    args[1] & LOCK_NB == 0
}

/// F_SETLKW and F_OFD_SETLKW wait for the lock.
pub(crate) fn fcntl(args: &Args) -> bool {
    matches!(args[1] as u32, 7 | 38)
}

/// SYSLOG_ACTION_READ waits for kernel messages.
pub(crate) fn syslog(args: &Args) -> bool {
    args[0] as u32 == 2
}

/// Some requests wait (a terminal's, a pipe's); the ioctl model knows which.
pub(crate) fn ioctl(args: &Args) -> bool {
    crate::ioctl::request_may_block(args[1])
}
