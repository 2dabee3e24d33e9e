//! The queue between the recorder and the trace writer's thread.
//!
//! A channel wakes its receiver for every message: a futex call per event
//! on the recorder's side and a context switch per event on the writer's,
//! several microseconds each, for every traced syscall. Here the sender
//! wakes the receiver only when it sleeps with nothing to do, when a batch
//! is worth compressing, or when a message is urgent (flush, finish). A
//! receiver that holds unwritten events sleeps until its flush deadline
//! instead, and takes whatever arrived meanwhile when it wakes.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// Queued messages (or bytes) past which the receiver is woken: enough to
/// make one wakeup cheap per message, few enough that the compression
/// keeps pace with the tracee on the other CPU. What is queued when the
/// recording ends is compressed while the recorder waits: at 1 MiB that
/// was a millisecond of `ls -lR`'s 50.
const WAKE_ITEMS: usize = 256;
const WAKE_WEIGHT: usize = 256 << 10;
/// Past these the sender waits: backpressure when the disk or the
/// compressor cannot keep up.
const MAX_ITEMS: usize = 16 * 1024;
const MAX_WEIGHT: usize = 64 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    No,
    /// Until a deadline; woken early only for a batch or an urgent message.
    UntilDeadline,
    /// With nothing to do: the next message wakes it.
    ForAnything,
}

struct State<T> {
    queue: VecDeque<T>,
    weight: usize,
    sender_alive: bool,
    receiver_alive: bool,
    receiver: Waiting,
    sender_waiting: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    work: Condvar,
    room: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// Taken from the queue in one go, handed out one at a time.
    taken: VecDeque<T>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecvError {
    /// The deadline passed with nothing queued.
    Timeout,
    /// The sender is gone and everything it sent was received.
    Disconnected,
}

pub(crate) fn handoff<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            weight: 0,
            sender_alive: true,
            receiver_alive: true,
            receiver: Waiting::No,
            sender_waiting: false,
        }),
        work: Condvar::new(),
        room: Condvar::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver {
            shared,
            taken: VecDeque::new(),
        },
    )
}

impl<T> Sender<T> {
    /// Queues `item`; `weight` counts towards the batch and backpressure
    /// limits. Gives the item back when the receiver is gone.
    pub(crate) fn send(&self, item: T, weight: usize, urgent: bool) -> Result<(), T> {
        let mut st = self.shared.lock();
        loop {
            if !st.receiver_alive {
                return Err(item);
            }
            if st.queue.len() < MAX_ITEMS && st.weight < MAX_WEIGHT {
                break;
            }
            st.sender_waiting = true;
            if st.receiver != Waiting::No {
                st.receiver = Waiting::No;
                self.shared.work.notify_one();
            }
            st = self.shared.room.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.queue.push_back(item);
        st.weight += weight;
        let wake = match st.receiver {
            Waiting::No => false,
            Waiting::ForAnything => true,
            Waiting::UntilDeadline => {
                urgent || st.queue.len() >= WAKE_ITEMS || st.weight >= WAKE_WEIGHT
            }
        };
        if wake {
            st.receiver = Waiting::No;
            self.shared.work.notify_one();
        }
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.sender_alive = false;
        st.receiver = Waiting::No;
        self.shared.work.notify_one();
    }
}

impl<T> Receiver<T> {
    /// The next message; with a deadline, `Timeout` once it passes with
    /// nothing queued (messages queued meanwhile are still returned first).
    pub(crate) fn recv_until(&mut self, deadline: Option<Instant>) -> Result<T, RecvError> {
        if let Some(item) = self.taken.pop_front() {
            return Ok(item);
        }
        let shared = Arc::clone(&self.shared);
        let mut st = shared.lock();
        loop {
            if !st.queue.is_empty() {
                std::mem::swap(&mut self.taken, &mut st.queue);
                st.weight = 0;
                if st.sender_waiting {
                    st.sender_waiting = false;
                    shared.room.notify_one();
                }
                drop(st);
                return self.taken.pop_front().ok_or(RecvError::Timeout);
            }
            if !st.sender_alive {
                return Err(RecvError::Disconnected);
            }
            st = match deadline {
                None => {
                    st.receiver = Waiting::ForAnything;
                    shared.work.wait(st).unwrap_or_else(|p| p.into_inner())
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(RecvError::Timeout);
                    }
                    st.receiver = Waiting::UntilDeadline;
                    shared
                        .work
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            st.receiver = Waiting::No;
        }
    }

    /// A message already queued, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        self.recv_until(Some(Instant::now())).ok()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver_alive = false;
        st.sender_waiting = false;
        self.shared.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn messages_arrive_in_order_and_disconnect_after_the_last() {
        let (tx, mut rx) = handoff();
        let sender = std::thread::spawn(move || {
            for i in 0..50_000u32 {
                tx.send(i, 1, i % 1000 == 0).unwrap();
            }
        });
        for want in 0..50_000u32 {
            assert_eq!(rx.recv_until(None), Ok(want));
        }
        sender.join().unwrap();
        assert_eq!(rx.recv_until(None), Err(RecvError::Disconnected));
    }

    #[test]
    fn a_deadline_returns_timeout_but_never_loses_what_was_queued() {
        let (tx, mut rx) = handoff();
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(rx.recv_until(Some(soon)), Err(RecvError::Timeout));
        tx.send(7u8, 1, false).unwrap();
        // Not urgent and below the batch size: found at the deadline.
        let later = Instant::now() + Duration::from_millis(20);
        assert_eq!(rx.recv_until(Some(later)), Ok(7));
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_full_queue_holds_the_sender_until_the_receiver_takes_it() {
        let (tx, mut rx) = handoff();
        let sender = std::thread::spawn(move || {
            for i in 0..3u32 {
                tx.send(i, MAX_WEIGHT, false).unwrap();
            }
        });
        for want in 0..3u32 {
            assert_eq!(rx.recv_until(None), Ok(want));
        }
        sender.join().unwrap();
    }

    #[test]
    fn a_gone_receiver_gives_the_message_back() {
        let (tx, rx) = handoff();
        drop(rx);
        assert_eq!(tx.send(3u8, 1, true), Err(3));
    }
}
