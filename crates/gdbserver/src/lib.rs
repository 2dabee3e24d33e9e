//! A gdb remote-protocol server over a replay: breakpoints, stepping,
//! watchpoints, and reverse execution, all on the recorded execution.

#![forbid(unsafe_code)]

mod arch;
mod conn;
mod diversion;
mod host_io;
mod interrupt;
mod processes;
mod reverse;
mod snapshots;
mod target;
mod timeline;

use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::reverse_exec::ReplayLogPosition;
use gdbstub::target::ext::breakpoints::WatchKind;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use target::{Failed, Outcome, ReplayTarget};
use trace::RecordedTid;

pub use target::Pending;

#[derive(Debug, thiserror::Error)]
pub enum GdbServerError {
    #[error(transparent)]
    Replay(#[from] replayer::ReplayError),
    #[error("cannot listen on {addr}: {source}; pick another port (for example --gdb 127.0.0.1:0 picks a free one)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("gdb connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("gdb protocol error: {0}")]
    Protocol(String),
    #[error("reverse execution failed: {0}")]
    Reverse(String),
    #[error("{0}")]
    Start(String),
}

/// The blocking loop over any byte connection: TCP for gdb, memory for
/// scripted clients ([`serve_scripted`]).
struct EventLoop<C>(std::marker::PhantomData<C>);

impl<C: ConnectionExt<Error = std::io::Error>> BlockingEventLoop for EventLoop<C> {
    type Target = ReplayTarget;
    type Connection = C;
    type StopReason = MultiThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut ReplayTarget,
        conn: &mut C,
    ) -> Result<Event<Self::StopReason>, WaitForStopReasonError<GdbServerError, std::io::Error>>
    {
        let outcome = match target.run_pending() {
            Ok(outcome) => outcome,
            Err(Failed::Recovered { reason, tid }) => {
                // gdb prints console output that arrives while it waits for
                // a stop; the stop that follows is where the command began.
                let text = format!(
                    "replay: the command could not complete: {reason}\n\
                     replay: the replay is back where the command started\n"
                );
                console_output(conn, &text).map_err(WaitForStopReasonError::Connection)?;
                // SIGINT, not SIGTRAP: a stepping command (next, and gdb's
                // reverse-next made of reverse-stepi) would take a trap in
                // its range as progress and ask again, forever.
                Outcome::Interrupted(tid)
            }
            Err(Failed::Lost(e)) => return Err(WaitForStopReasonError::Target(e)),
        };
        target.show_processes();
        let notes: String = target
            .notes
            .drain(..)
            .map(|note| format!("replay: {note}\n"))
            .collect();
        if !notes.is_empty() {
            console_output(conn, &notes).map_err(WaitForStopReasonError::Connection)?;
        }
        let tid = |t: RecordedTid| {
            gdbstub::common::Tid::new(t.raw() as usize)
                .unwrap_or(gdbstub::common::Tid::new(1).expect("1 is not zero"))
        };
        let reason = match outcome {
            Outcome::Breakpoint(t) => MultiThreadStopReason::SwBreak(tid(t)),
            Outcome::Watch(t, addr, read) => MultiThreadStopReason::Watch {
                tid: tid(t),
                kind: if read {
                    WatchKind::ReadWrite
                } else {
                    WatchKind::Write
                },
                addr,
            },
            Outcome::Stepped(t) => MultiThreadStopReason::SignalWithThread {
                tid: tid(t),
                signal: Signal::SIGTRAP,
            },
            Outcome::End(t) => MultiThreadStopReason::SignalWithThread {
                tid: tid(t),
                signal: Signal::SIGKILL,
            },
            Outcome::Interrupted(t) => MultiThreadStopReason::SignalWithThread {
                tid: tid(t),
                signal: Signal::SIGINT,
            },
            Outcome::Signal(t, signal) => MultiThreadStopReason::SignalWithThread {
                tid: tid(t),
                signal: Signal(signal as u8),
            },
            Outcome::Forked(t, child) => MultiThreadStopReason::Fork {
                cur_tid: tid(t),
                new_tid: tid(child),
            },
            Outcome::ProcessExited(pid, status, current) => {
                // gdbstub ends the session at any exit it reports; the
                // connection turns this stop into the exit of one process.
                target
                    .processes
                    .borrow_mut()
                    .report_exit(pid.raw() as u64, status);
                MultiThreadStopReason::SignalWithThread {
                    tid: tid(current),
                    signal: Signal::SIGTRAP,
                }
            }
            Outcome::Start(t) => MultiThreadStopReason::ReplayLog {
                tid: Some(tid(t)),
                pos: ReplayLogPosition::Begin,
            },
        };
        Ok(Event::TargetStopped(reason))
    }

    fn on_interrupt(
        _target: &mut ReplayTarget,
    ) -> Result<Option<Self::StopReason>, GdbServerError> {
        Ok(Some(MultiThreadStopReason::Signal(Signal::SIGINT)))
    }
}

/// Where a gdb session starts.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartAt {
    /// Replay this many events first (`--goto`); 0 means the program's first instruction.
    pub events: u64,
    /// Stop in this recorded process (`--pid`).
    pub pid: Option<RecordedTid>,
    /// Start at the end of the recording, its last thread parked at its
    /// final exit (`--at-end`, rr's `-e`); `events` is then ignored.
    pub at_end: bool,
}

/// Sends `text` as an `O` packet: console output gdb prints while it waits
/// for the target to stop.
fn console_output<C: ConnectionExt<Error = std::io::Error>>(
    conn: &mut C,
    text: &str,
) -> Result<(), std::io::Error> {
    let body: String = std::iter::once("O".to_string())
        .chain(text.bytes().map(|b| format!("{b:02x}")))
        .collect();
    let sum = body.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    conn.write_all(format!("${body}#{sum:02x}").as_bytes())?;
    conn.flush()
}

/// Binds `addr`, calls `listening` with the bound address (so the caller can
/// print how to connect), then serves one gdb connection over a replay of
/// `trace_dir` until gdb detaches, kills, or disconnects.
pub fn serve(
    trace_dir: &Path,
    addr: &str,
    start: StartAt,
    listening: impl FnOnce(SocketAddr),
) -> Result<(), GdbServerError> {
    let listener = TcpListener::bind(addr).map_err(|source| GdbServerError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let mut target = ReplayTarget::new(trace_dir, start)?;
    listening(listener.local_addr()?);
    let (stream, peer) = listener.accept()?;
    tracing::info!(%peer, "gdb connected");
    target.interrupt_source = stream.try_clone().ok();
    run_session(&mut target, conn::BufferedTcp::new(stream)?)
}

/// Serves the client bytes `client` (gdb remote-protocol packets, as a
/// client would send them) over a replay of `trace_dir`, and returns what
/// the server answered. The session ends when the bytes do. For tests and
/// fuzzing: whatever a client sends, the answer is a reply or an error,
/// never a panic or a hang.
pub fn serve_scripted(
    trace_dir: &Path,
    start: StartAt,
    client: &[u8],
) -> Result<Vec<u8>, GdbServerError> {
    let mut target = ReplayTarget::new(trace_dir, start)?;
    let mut connection = conn::Scripted::new(client);
    let result = run_session(&mut target, &mut connection);
    result.map(|()| connection.into_answers())
}

/// Runs one gdb session on `connection` until the client detaches, kills,
/// or goes away.
fn run_session<C: ConnectionExt<Error = std::io::Error>>(
    target: &mut ReplayTarget,
    connection: C,
) -> Result<(), GdbServerError> {
    let connection = processes::PerProcess::new(connection, target.processes.clone());
    let stub = GdbStub::new(connection);
    match stub.run_blocking::<EventLoop<processes::PerProcess<C>>>(target) {
        Ok(DisconnectReason::Disconnect | DisconnectReason::Kill) => Ok(()),
        Ok(reason) => {
            tracing::info!(?reason, "gdb session ended");
            Ok(())
        }
        Err(e) => {
            if e.is_connection_error() {
                // A client that disconnects or sends garbage just ends the session.
                tracing::info!("gdb connection closed: {e}");
                return Ok(());
            }
            let text = e.to_string();
            match e.into_target_error() {
                Some(target_error) => Err(target_error),
                None => {
                    // A client speaking something other than the gdb protocol
                    // ends its session; it does not make the replay fail.
                    eprintln!("replay: ended the gdb session: {text}");
                    Ok(())
                }
            }
        }
    }
}
