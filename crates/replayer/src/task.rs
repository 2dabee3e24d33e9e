//! Per-thread and per-process replay state.

use trace::event::Regs;
use trace::RecordedTid;
use tracee::{Pid, ProcessMemory};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayState {
    /// Created by a replayed clone; its first stop has not been consumed.
    New,
    /// Created by a replayed clone and already at its first stop, taken
    /// early (see [`ReplayTask::child_tid_fixup`]); it waits for its start
    /// event.
    Created,
    /// Stopped where resuming runs user code.
    Ready,
    /// Parked at the exit stop of the syscall whose entry was replayed.
    InSyscall,
    /// Resumed into exit/exit_group; it will reach its exit event.
    Exiting,
    Dead,
}

/// Which exit call a thread waits at the entry of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkedExit {
    /// `exit`: this thread only.
    Thread,
    /// `exit_group`: the whole process.
    Group,
}

/// The syscall a thread is in, between its entry and exit events.
#[derive(Debug, Clone)]
pub struct InSyscall {
    /// Registers at entry as recorded.
    pub regs: Regs,
    /// The real result when the syscall ran in the kernel during replay.
    pub real_result: Option<i64>,
    /// The i386 number of a call made with `int $0x80`, which the trace
    /// keeps as its x86_64 equivalent (`regs`); the thread's own
    /// registers hold the i386 arguments, and keep them.
    pub int80_nr: Option<u64>,
}

pub struct ReplayTask {
    /// Thread id in this replay (differs from the recorded one).
    pub real: Pid,
    /// Recorded thread-group id.
    pub rec_pid: RecordedTid,
    pub state: ReplayState,
    /// Signal to deliver when the thread next resumes.
    pub pending_signal: Option<i32>,
    pub syscall: Option<InSyscall>,
    /// Where CLONE_CHILD_SETTID made the kernel write the real tid, and the
    /// tid it wrote in the recording (the child's own view of it), written
    /// there when the task starts. A child sharing the parent's memory
    /// gets it at the clone instead: the parent may read the word first.
    pub child_tid_fixup: Option<(u64, i32)>,
    /// Syscall number and arguments the recorded clone had; replay may have
    /// run a variant (vfork as clone), and the child inherits the registers
    /// of what really ran, so they are put back when it starts.
    pub clone_regs: Option<(u64, [u64; 6])>,
    /// A stop the thread already reached while a debugger stepped it; the
    /// next advance takes it instead of resuming.
    pub prefetched: Option<tracee::WaitResult>,
    /// The thread waits at the entry of this exit call, not yet executed:
    /// during recording the other threads went on briefly while the kernel
    /// tore the process down, so it runs when the log reaches the first
    /// resulting thread exit.
    pub pending_exit: Option<ParkedExit>,
    /// Head of the thread's robust futex list (set_robust_list).
    pub robust_list: Option<u64>,
    /// Where the kernel clears the thread's tid when it exits
    /// (`CLONE_CHILD_CLEARTID`, set_tid_address): a snapshot's copy of the
    /// thread needs it too.
    pub clear_child_tid: Option<u64>,
    /// The asynchronous signal of the event being replayed was already sent
    /// (the event was interrupted by a breakpoint and is being finished).
    pub signal_sent: bool,
    /// This thread exec'd from outside the main thread and took over the
    /// group leader's tid, which the recording names it by from the exec's
    /// exit on.
    pub renamed_to: Option<RecordedTid>,
    /// Killed by another thread's exec: events the recording logged for it
    /// while the kernel tore it down are already done.
    pub killed_by_exec: bool,
    /// The probe planted for the thread's next preemption point.
    pub probe: Option<crate::session::ActiveProbe>,
    /// The thread's syscall buffer (registered by the preload library, or
    /// inherited from a forking parent).
    pub buffer: Option<u64>,
    /// Records were put into the buffer for the thread's next stretch of
    /// user code; all must be consumed by its next stop.
    pub buffer_filled: bool,
}

impl ReplayTask {
    /// The signal to resume with (0: none), which is then delivered.
    pub fn take_signal(&mut self) -> i32 {
        self.pending_signal.take().unwrap_or(0)
    }

    /// A thread in `state`, with nothing pending.
    pub fn new(real: Pid, rec_pid: RecordedTid, state: ReplayState) -> ReplayTask {
        ReplayTask {
            real,
            rec_pid,
            state,
            pending_signal: None,
            syscall: None,
            child_tid_fixup: None,
            clone_regs: None,
            prefetched: None,
            pending_exit: None,
            robust_list: None,
            clear_child_tid: None,
            signal_sent: false,
            renamed_to: None,
            killed_by_exec: false,
            probe: None,
            buffer: None,
            buffer_filled: false,
        }
    }
}

pub struct ReplayProcess {
    pub real_pid: Pid,
    pub memory: ProcessMemory,
    /// A page replay maps into each process for syscall injection (a
    /// `syscall` instruction and room for paths).
    pub scratch: Option<u64>,
    /// The auxv of the program's last exec, as recorded (debuggers need it
    /// to find the loader and relocate a PIE binary).
    pub auxv: Vec<(u64, u64)>,
    /// The binary of the last exec, in the trace's `files/`.
    pub exe: Option<std::path::PathBuf>,
    /// Its exit_group has run: threads may vanish under events the
    /// recording logged while the kernel was still tearing it down.
    pub exiting: bool,
    /// Blobs from `files/` the process holds open (close-on-exec), by
    /// sha256: a library is mapped four or five times by the loader, and
    /// each open and close in the tracee costs two ptrace stops.
    pub blob_fds: std::collections::HashMap<String, u64>,
    /// The words the preload library shares with the tracer (its hello
    /// says where), so that a diversion can send the library's calls to
    /// the kernel instead of to recorded results.
    pub library_words: Option<u64>,
}
