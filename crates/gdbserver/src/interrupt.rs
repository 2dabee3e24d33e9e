//! Ctrl-C while a `continue` runs. gdb sends one 0x03 byte and waits for a
//! stop; the server is busy replaying, so a thread watches the connection
//! meanwhile and raises the replay's interrupt flag, which stops the run at
//! the next event.

use std::io::Read;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

const INTERRUPT: u8 = 0x03;
/// How often the watcher looks whether the run is over.
const POLL_MS: u16 = 50;

/// A watcher running; [`Watch::stop`] ends it before gdb's next packet is
/// read, so that only a Ctrl-C is ever taken from the connection here.
pub struct Watch {
    done: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watch {
    pub fn stop(self) {
        self.done.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// Watches `stream` for a Ctrl-C and sets `interrupt` when one comes.
/// None when the connection cannot be shared with a thread.
pub fn watch(stream: &TcpStream, interrupt: &Arc<AtomicBool>) -> Option<Watch> {
    let mut stream = stream.try_clone().ok()?;
    let done = Arc::new(AtomicBool::new(false));
    let (until, flag) = (done.clone(), interrupt.clone());
    let thread = std::thread::Builder::new()
        .name("gdb-interrupt".into())
        .spawn(move || {
            while !until.load(Ordering::SeqCst) {
                let mut fds = [nix::poll::PollFd::new(
                    stream.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(POLL_MS)) {
                    Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(_) => return,
                }
                let mut byte = [0u8];
                match stream.peek(&mut byte) {
                    Ok(1) if byte[0] == INTERRUPT => {
                        let _ = stream.read(&mut byte);
                        flag.store(true, Ordering::SeqCst);
                        tracing::debug!("Ctrl-C from gdb");
                        return;
                    }
                    // Anything else is gdb's next packet, read once the run
                    // is over; a closed connection ends the watch.
                    Ok(1) => std::thread::sleep(std::time::Duration::from_millis(POLL_MS.into())),
                    _ => return,
                }
            }
        })
        .ok()?;
    Some(Watch { done, thread })
}
