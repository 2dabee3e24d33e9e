//! Per-thread recorder state.

use std::collections::VecDeque;
use tracee::ptrace::{Stop, SIGINFO_SIZE};
use tracee::Pid;

/// What a thread is doing from the scheduler's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Executing user code. At most one thread is in this state.
    Running,
    /// Resumed into a syscall; it may block there for any length of time.
    InKernel,
    /// In a ptrace stop that has not been processed yet.
    Stopped,
}

/// A syscall whose entry was logged and whose exit has not been seen.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub nr: u64,
    /// Where the thread returns to (just after its syscall instruction).
    pub rip: u64,
    pub args: [u64; 6],
    /// The syscall whose memory effects this one has: itself, or for
    /// `restart_syscall` the interrupted syscall it continues.
    pub model: (u64, [u64; 6]),
    /// The recorder skipped the syscall and forces this result.
    pub forced: Option<(i64, &'static str)>,
    /// The model cannot describe what this call does if it succeeds: the
    /// kernel may still reject it (an unknown number, a bad command), and
    /// that error is recorded; a success stops the recording.
    pub unmodelled: Option<String>,
    /// For a call that copies bytes to the recorder's stdout or stderr in
    /// the kernel (sendfile, splice…): the stream and where they come from.
    pub copied_output: Option<(trace::event::OutputStream, crate::output::CopySource)>,
    /// An exec pointed at a copy of its environment with the recorder's
    /// `LD_PRELOAD` added, undone if the exec fails.
    pub added_preload: Option<tracee::exec_env::AddedPreload>,
    /// The flags of a `clone3` that asked for `CLONE_UNTRACED`, which the
    /// recorder cleared in the program's `clone_args` so that it sees the
    /// child; they go back at the exit.
    pub untraced_clone3_flags: Option<u64>,
    /// The structures that say where the call writes, as they were at its
    /// entry, for a call whose output may overwrite them.
    pub entry_layout: Option<crate::entry_layout::EntryLayout>,
    /// A blocking call's buffer, pointed at scratch space until the exit.
    pub scratch: Option<crate::scratch::ScratchBuffer>,
}

impl InFlight {
    /// A call the recorder lets run as the program made it.
    pub fn plain(nr: u64, rip: u64, args: [u64; 6], model: (u64, [u64; 6])) -> InFlight {
        InFlight {
            nr,
            rip,
            args,
            model,
            forced: None,
            unmodelled: None,
            copied_output: None,
            added_preload: None,
            untraced_clone3_flags: None,
            entry_layout: None,
            scratch: None,
        }
    }
}

/// Settings a program makes for itself where the recorder's own show
/// through: the recorder answers with the program's. A new task inherits
/// its parent's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Modes {
    /// The program asked for `rdtsc` to raise SIGSEGV (PR_SET_TSC). The
    /// recorder traps it either way; this is the mode the program sees.
    pub tsc_sigsegv: bool,
    /// The thread runs under a seccomp filter of the program's own (the
    /// syscall buffer's filter is the recorder's, and hidden).
    pub own_seccomp: bool,
    /// The thread asked for strict seccomp mode, which the kernel refuses
    /// under the syscall buffer's filter: the recorder enforces it instead
    /// (see `seccomp.rs`). It also has `own_seccomp`.
    pub strict_seccomp: bool,
    /// The program set no_new_privs itself (the syscall buffer's filter
    /// needs it set, so the kernel's answer is the recorder's).
    pub own_no_new_privs: bool,
    /// The program set the thread's CPU affinity itself. Until then the
    /// thread runs on the one CPU the recorder pinned it to, and
    /// `sched_getaffinity` answers with the CPUs it would have natively.
    pub own_affinity: bool,
}

pub struct Task {
    pub tid: Pid,
    pub tgid: Pid,
    pub state: RunState,
    pub pending_stop: Option<Stop>,
    pub syscall: Option<InFlight>,
    /// The initial SIGSTOP of a new task has been consumed.
    pub started: bool,
    /// Registers at the thread's last logged point (a syscall exit or a
    /// preemption point). A signal stop with exactly these registers comes
    /// before any user instruction ran, so the signal lands at that
    /// deterministic point; with other registers, user code ran meanwhile.
    pub anchor_regs: Option<trace::event::Regs>,
    /// For an anchor inside user code (a preemption point, where
    /// `rt_sigreturn` returned), which a loop can come back to with exactly
    /// the same registers: whether a signal was already due when the thread
    /// was resumed there. Only then is a signal stop at those registers
    /// one before any user instruction ran. `None` for a syscall's exit.
    pub anchor_in_user_code: Option<bool>,
    /// The anchor is where `rt_sigreturn` returned: a signal handler just
    /// finished there.
    pub anchor_after_handler: bool,
    /// Signals delivered in a row the moment a handler returned or
    /// started, the thread's own code not run in between.
    pub handler_chain: u32,
    /// Its exit stop was logged: nothing more comes from it but its death
    /// (a group leader's only once the rest of its group is gone).
    pub exit_seen: bool,
    /// Registers at the thread's last signal-delivery stop: a next delivery
    /// stop at that signal's handler entry, whose frame saved exactly
    /// these, comes before any user instruction ran too (the kernel sets
    /// up one frame per pending signal before returning to user space).
    pub last_delivery: Option<trace::event::Regs>,
    /// The task this thread's clone, fork or vfork just made, as the
    /// recorder names it (its ptrace event says), until the call returns:
    /// from inside a PID namespace the call returns another number.
    pub new_child: Option<Pid>,
    /// Asynchronous signals that arrived while the thread ran user code,
    /// held back until its next anchor.
    pub held_signals: VecDeque<[u8; SIGINFO_SIZE]>,
    /// Where the signal handlers running on this thread return (the
    /// instructions their signals interrupted), newest last: a call site
    /// whose patch would cover one of them waits (see `patch_sites`).
    /// Handlers left by `longjmp` never return; only the last few are kept.
    pub handler_returns: VecDeque<u64>,
    /// Steps the next search for a preemption point may take: longer after
    /// a search found no loop, back to the least after one did.
    pub search_budget: usize,
    /// A held signal re-sent with tgkill; its delivery stop gets this siginfo.
    pub reinjecting: Option<[u8; SIGINFO_SIZE]>,
    /// The last syscall that returned -ERESTART_RESTARTBLOCK: a following
    /// `restart_syscall` continues it.
    pub restartable: Option<(u64, [u64; 6])>,
    /// The time slice that makes the recorder look at the thread while it
    /// runs user code.
    pub timer: Option<tracee::perf::SliceTimer>,
    /// Opening the timer failed once (warned); it is not tried again.
    pub timer_failed: bool,
    /// Stopped at a logged preemption point; resuming runs user code.
    pub preempted: bool,
    /// The thread's syscall buffer, once the preload library registered it.
    pub buffer: Option<u64>,
    /// The thread may have added records since its buffer was last
    /// emptied: it ran user code since. A syscall's exit stop follows its
    /// entry stop with only the kernel in between, so the buffer is not
    /// read again there.
    pub buffer_dirty: bool,
    /// What the program set for itself that the recorder answers for it,
    /// inherited by the tasks it starts.
    pub modes: Modes,
    /// The thread's `struct rseq`, registered with the recorder, which
    /// emulates rseq (see `rseq.rs`). A forked child keeps its parent's.
    pub rseq: Option<crate::rseq::RseqArea>,
}

impl Task {
    pub fn new(tid: Pid, tgid: Pid) -> Task {
        Task {
            tid,
            tgid,
            state: RunState::Stopped,
            pending_stop: None,
            syscall: None,
            started: false,
            anchor_regs: None,
            anchor_in_user_code: None,
            anchor_after_handler: false,
            handler_chain: 0,
            exit_seen: false,
            last_delivery: None,
            new_child: None,
            held_signals: VecDeque::new(),
            handler_returns: VecDeque::new(),
            search_budget: crate::preempt::STEP_BUDGET,
            reinjecting: None,
            restartable: None,
            timer: None,
            timer_failed: false,
            preempted: false,
            buffer: None,
            buffer_dirty: true,
            modes: Modes::default(),
            rseq: None,
        }
    }
}

/// Reads `Tgid:` and `PPid:` from /proc/<tid>/status.
pub fn proc_ids(tid: Pid) -> Option<(Pid, Pid)> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    let field = |name: &str| -> Option<Pid> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((field("Tgid:")?, field("PPid:")?))
}
