//! Copies of a whole replay, for a debugger that goes back in time.
//!
//! Every replayed process is forked in place (a `clone` run inside it, see
//! `tracee::inject::fork`): the copy has the same memory, copy-on-write, and
//! registers, and stays stopped until it is used. The replayer's own state
//! (where it is in the event stream, what each thread waits for, the probes
//! planted) is copied with it. A copy taken from a copy works the same way,
//! so a snapshot is never run itself: going back to it forks it again.
//!
//! Shared memory would tie a copy to the replay it came from: the copy gets
//! its own objects, filled with what they hold now and mapped at the same
//! addresses. See docs/decisions/0018-fork-snapshots.md for what is not
//! copied yet (processes with more than one live thread).

use super::{debug, ReplaySession};
use crate::address_space;
use crate::lookahead::Lookahead;
use crate::shared_files;
use crate::task::{ReplayProcess, ReplayState, ReplayTask};
use crate::ReplayError;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use syscall_model::abi::{self, StackT};
use trace::RecordedTid;
use tracee::{debugreg, inject, maps, regs, Pid, ProcessMemory};

/// A shared mapping a copy needs its own object for.
struct SharedMapping {
    entry: maps::MapEntry,
    /// The memfd (by path) the copy maps instead.
    path: PathBuf,
}

fn not_here(why: impl Into<String>) -> ReplayError {
    ReplayError::NoSnapshot(why.into())
}

impl ReplaySession {
    /// Why the replay cannot be copied at this moment; `None` when it can.
    /// A copy needs every thread stopped where resuming runs user code or
    /// finishes a syscall, with no debugger state in memory.
    fn snapshot_blocker(&self) -> Option<String> {
        if self.debug.has_inserted() {
            return Some("breakpoints are in memory".into());
        }
        self.threads_blocker()
    }

    /// What keeps the threads from being copied, breakpoints aside (they
    /// are out of memory whenever a thread stops).
    fn threads_blocker(&self) -> Option<String> {
        if self.debug.parked_at_exit() {
            return Some("the program is at its final exit".into());
        }
        for (tid, task) in &self.tasks {
            match task.state {
                ReplayState::Dead => continue,
                ReplayState::Ready | ReplayState::InSyscall => {}
                state => return Some(format!("thread {tid} is {state:?}")),
            }
            if task.prefetched.is_some() || task.pending_exit.is_some() || task.killed_by_exec {
                return Some(format!("thread {tid} is stopped inside a syscall"));
            }
        }
        if let Some((pid, _)) = self.processes.iter().find(|(_, p)| p.exiting) {
            return Some(format!("process {pid} is exiting"));
        }
        None
    }

    /// A copy of the whole replay at this moment, stopped, to be continued
    /// on its own later (or copied again). Fails with
    /// [`ReplayError::NoSnapshot`] where no copy can be made; this session
    /// is unchanged then.
    pub fn fork_session(&mut self) -> Result<ReplaySession, ReplayError> {
        if let Some(why) = self.snapshot_blocker() {
            return Err(not_here(why));
        }
        let (shared_files, mut objects) = self.shared_files.copies()?;
        // Each live process and its threads, the leader first.
        let mut live: BTreeMap<RecordedTid, Vec<(RecordedTid, Pid)>> = BTreeMap::new();
        for (&tid, task) in &self.tasks {
            if task.state != ReplayState::Dead {
                live.entry(task.rec_pid).or_default().push((tid, task.real));
            }
        }
        for (&pid, threads) in live.iter_mut() {
            threads.sort_by_key(|&(tid, _)| (tid != pid, tid));
        }
        let shared = self.shared_mappings(&live, &mut objects)?;
        let mut processes = HashMap::new();
        // Recorded tid to the copy's thread.
        let mut copies: HashMap<RecordedTid, Pid> = HashMap::new();
        for (&pid, threads) in &live {
            let (first_tid, real) = threads[0];
            let scratch = match self.process(pid)?.scratch {
                Some(addr) => addr,
                None => {
                    let addr = address_space::create_scratch(real, &self.process(pid)?.memory)?;
                    if let Some(process) = self.processes.get_mut(&pid) {
                        process.scratch = Some(addr);
                    }
                    addr
                }
            };
            // What the kernel keeps for each thread, read before the fork.
            let mut states = Vec::new();
            for &(tid, real) in &threads[1..] {
                states.push((tid, self.thread_state(tid, real, pid, scratch)?));
            }
            let child = match inject::fork(real, scratch) {
                Ok(child) => child,
                Err(e) => {
                    kill_copies(&processes);
                    return Err(e.into());
                }
            };
            let original = self.process(pid)?;
            let copy = ReplayProcess {
                real_pid: child,
                memory: ProcessMemory::open(child)?,
                scratch: Some(scratch),
                auxv: original.auxv.clone(),
                exe: original.exe.clone(),
                exiting: false,
                blob_fds: original.blob_fds.clone(),
                library_words: original.library_words,
            };
            copies.insert(first_tid, child);
            let made = (|| {
                remap_shared(child, &copy, shared.get(&pid).map_or(&[], |v| v))?;
                let first = self.tasks.get(&first_tid);
                restore_futex_state(child, &copy, first)?;
                for (tid, state) in &states {
                    let task = self.tasks.get(tid);
                    let clear = task.and_then(|t| t.clear_child_tid);
                    let thread = inject::spawn_thread(child, scratch, clear)?;
                    copies.insert(*tid, thread);
                    state.apply(thread, &copy, scratch)?;
                    restore_futex_state(thread, &copy, task)?;
                }
                Ok::<_, ReplayError>(())
            })();
            if let Some(page) = self.sentinel_pages(pid) {
                // A debugger's search put them there; the copy outlives it.
                let _ = address_space::run_syscall(
                    child,
                    &copy,
                    libc::SYS_munmap,
                    [page, position::probe::PROBE_LEN, 0, 0, 0, 0],
                );
            }
            processes.insert(pid, copy);
            if let Err(e) = made {
                kill_copies(&processes);
                return Err(e);
            }
        }
        let tasks = self.copy_tasks(&copies)?;
        let reader = trace::TraceReader::open(self.reader.dir())?;
        let events: Lookahead = self.events.try_clone()?;
        tracing::debug!(
            at = self.replayed,
            processes = processes.len(),
            "snapshot taken"
        );
        Ok(ReplaySession {
            reader,
            events,
            tasks,
            processes,
            recent: self.recent.clone(),
            debug: debug::DebugState::default(),
            interrupted: self.interrupted.clone(),
            replayed: self.replayed,
            quiet: true,
            print_from: self.print_from,
            trace_dir: self.trace_dir.clone(),
            spoiled_a_point: self.spoiled_a_point,
            matched_points: self.matched_points.clone(),
            ended: self.ended,
            shared_files,
            cpuid: self.cpuid.clone(),
            auto_snapshots: None,
        })
    }

    /// Each live process's shared mappings and the files the copies map
    /// instead: shared memory objects get new files holding what they hold
    /// now; a shared writable file mapping cannot be copied.
    fn shared_mappings(
        &self,
        live: &BTreeMap<RecordedTid, Vec<(RecordedTid, Pid)>>,
        objects: &mut HashMap<u64, std::path::PathBuf>,
    ) -> Result<HashMap<RecordedTid, Vec<SharedMapping>>, ReplayError> {
        let mut shared: HashMap<RecordedTid, Vec<SharedMapping>> = HashMap::new();
        let mut new_objects = Vec::new();
        for (&pid, threads) in live {
            let real = threads[0].1;
            let process = self.process(pid)?;
            let mut mine = Vec::new();
            for entry in maps::read(real)?.into_iter().filter(|e| e.shared) {
                let path = match objects.get(&entry.inode) {
                    Some(path) => path.clone(),
                    None if is_shared_memory(&entry.name) => {
                        let copy = shared_files::new_copy(0)?;
                        let path = shared_files::path_of(&copy);
                        objects.insert(entry.inode, path.clone());
                        new_objects.push((entry.inode, copy));
                        path
                    }
                    // A file mapped shared that nobody writes through this
                    // mapping: the copy may share it.
                    None if !entry.writable => continue,
                    None => {
                        return Err(not_here(format!(
                            "process {pid} maps {} shared and writable",
                            entry.name
                        )))
                    }
                };
                mine.push(SharedMapping { entry, path });
            }
            // What a new object holds: this process's view of it now.
            for mapping in &mine {
                let Some((_, copy)) = new_objects
                    .iter()
                    .find(|(inode, _)| *inode == mapping.entry.inode)
                else {
                    continue;
                };
                fill_from_memory(copy, &process.memory, &mapping.entry)?;
            }
            shared.insert(pid, mine);
        }
        Ok(shared)
    }

    /// The tasks of the copy: those of live processes run as the copies'
    /// threads, with their debug registers (a fork does not inherit them).
    fn copy_tasks(
        &self,
        copies: &HashMap<RecordedTid, Pid>,
    ) -> Result<HashMap<RecordedTid, ReplayTask>, ReplayError> {
        let mut tasks = HashMap::new();
        for (&tid, task) in &self.tasks {
            let real = match copies.get(&tid) {
                Some(&copy) if task.state != ReplayState::Dead => copy,
                _ => task.real,
            };
            let copy = copy_task(task, real);
            if let Some(probe) = copy.probe.as_ref().filter(|p| !p.guard.is_empty()) {
                // Debug registers are not inherited by a fork.
                for &(i, addr) in &probe.guard {
                    debugreg::write(real, i, addr)?;
                }
                debugreg::write(
                    real,
                    debugreg::CONTROL,
                    super::code_guard::guard_dr7(&probe.guard),
                )?;
            }
            tasks.insert(tid, copy);
        }
        Ok(tasks)
    }

    /// Makes the replay copy itself every `every` of replay time, at the
    /// next event boundary where it can; [`ReplaySession::take_snapshots`]
    /// hands the copies over. `None` stops it.
    pub fn snapshot_every(&mut self, every: Option<Duration>) {
        match (every, self.auto_snapshots.as_mut()) {
            (Some(every), Some(auto)) => auto.every = every,
            (Some(every), None) => {
                self.auto_snapshots = Some(AutoSnapshots {
                    every,
                    last: Instant::now(),
                    taken: Vec::new(),
                    timer: super::pause::PauseTimer::start(),
                    paused: None,
                })
            }
            (None, _) => self.auto_snapshots = None,
        }
    }

    /// Whether this copy is at an event boundary (not inside the stretch
    /// of user code before an event).
    pub fn between_events(&self) -> bool {
        self.interrupted.is_none()
    }

    /// Before waiting for thread `real` of process `tgid`, which runs user
    /// code: has it stopped when the next snapshot is due. Returns what
    /// [`ReplaySession::disarm_pause`] takes.
    pub(super) fn arm_pause(&mut self, tgid: Pid, real: Pid) -> Option<u64> {
        self.auto_snapshots.as_ref()?;
        if self.threads_blocker().is_some() {
            return None;
        }
        let auto = self.auto_snapshots.as_ref()?;
        let when = auto.last + auto.every;
        Some(auto.timer.as_ref()?.arm(when, tgid, real))
    }

    /// After the wait: remembers whether the thread was sent its SIGSTOP,
    /// so that [`ReplaySession::is_pause`] knows the stop.
    pub(super) fn disarm_pause(&mut self, armed: Option<u64>, real: Pid) {
        let Some(generation) = armed else {
            return;
        };
        if let Some(auto) = self.auto_snapshots.as_mut() {
            let fired = auto.timer.as_ref().is_some_and(|t| t.disarm(generation));
            if fired {
                auto.paused = Some(real);
            }
        }
    }

    /// Whether a SIGSTOP stop of `real` is the pause for a snapshot.
    pub(super) fn is_pause(&mut self, real: Pid, sig: i32) -> bool {
        let Some(auto) = self.auto_snapshots.as_mut() else {
            return false;
        };
        if sig == libc::SIGSTOP && auto.paused == Some(real) {
            auto.paused = None;
            return true;
        }
        false
    }

    /// The copies taken since the last call, oldest first.
    pub fn take_snapshots(&mut self) -> Vec<ReplaySession> {
        self.auto_snapshots
            .as_mut()
            .map(|auto| std::mem::take(&mut auto.taken))
            .unwrap_or_default()
    }

    /// Takes the automatic copy if one is due and all threads can be
    /// copied here.
    pub(super) fn snapshot_if_due(&mut self) {
        let due = self
            .auto_snapshots
            .as_ref()
            .is_some_and(|auto| auto.last.elapsed() >= auto.every);
        if !due || self.snapshot_blocker().is_some() {
            return;
        }
        match self.fork_session() {
            Ok(copy) => {
                if let Some(auto) = self.auto_snapshots.as_mut() {
                    auto.taken.push(copy);
                    auto.last = Instant::now();
                }
            }
            Err(e) => {
                // Not one that a later moment fixes: stop trying.
                tracing::warn!("automatic snapshots are off for this replay: {e}");
                self.auto_snapshots = None;
            }
        }
    }
}

/// Copies a replay takes of itself as it goes.
pub(super) struct AutoSnapshots {
    every: Duration,
    last: Instant,
    taken: Vec<ReplaySession>,
    /// Stops a thread inside a long stretch of user code when a copy is
    /// due there.
    timer: Option<super::pause::PauseTimer>,
    /// The thread the timer sent its SIGSTOP.
    paused: Option<Pid>,
}

impl Drop for AutoSnapshots {
    fn drop(&mut self) {
        // Copies nobody took: their processes go.
        for copy in self.taken.drain(..) {
            copy.finish();
        }
    }
}

/// Anonymous shared memory, a memfd, or replay's own copy of a file.
fn is_shared_memory(name: &str) -> bool {
    name.starts_with("/dev/zero") || name.starts_with("/memfd:") || name.is_empty()
}

/// Writes what `entry` shows of its object now into `copy`, at the same
/// offset in the object.
fn fill_from_memory(
    copy: &std::fs::File,
    memory: &ProcessMemory,
    entry: &maps::MapEntry,
) -> Result<(), ReplayError> {
    use std::os::unix::fs::FileExt;
    let len = entry.end - entry.start;
    let end = entry.offset + len;
    let failed = |e: std::io::Error| {
        ReplayError::Setup(format!("cannot copy shared memory for a snapshot: {e}"))
    };
    if copy.metadata().map_err(failed)?.len() < end {
        copy.set_len(end).map_err(failed)?;
    }
    // A page the program made inaccessible reads as an error: it keeps
    // zeros, which nobody can read either until it changes protection.
    if let Ok(bytes) = memory.read(entry.start, len as usize) {
        copy.write_all_at(&bytes, entry.offset).map_err(failed)?;
    }
    Ok(())
}

/// Maps the copy's own objects over the shared mappings it inherited.
fn remap_shared(
    child: Pid,
    process: &ReplayProcess,
    mappings: &[SharedMapping],
) -> Result<(), ReplayError> {
    for mapping in mappings {
        let e = &mapping.entry;
        let path = address_space::write_path(process, &mapping.path)?;
        let fd = address_space::run_syscall(
            child,
            process,
            libc::SYS_openat,
            [
                libc::AT_FDCWD as u64,
                path,
                (libc::O_RDWR | libc::O_CLOEXEC) as u64,
                0,
                0,
                0,
            ],
        )?;
        if fd < 0 {
            return Err(ReplayError::Setup(format!(
                "a snapshot's process cannot open its copy of shared memory: {}",
                std::io::Error::from_raw_os_error(-fd as i32)
            )));
        }
        let mapped = address_space::run_syscall(
            child,
            process,
            libc::SYS_mmap,
            [
                e.start,
                e.end - e.start,
                u64::from(e.prot()),
                (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
                fd as u64,
                e.offset,
            ],
        )?;
        address_space::run_syscall(child, process, libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0])?;
        if mapped as u64 != e.start {
            return Err(ReplayError::Setup(format!(
                "a snapshot's process cannot map its copy of shared memory at {:#x}: {}",
                e.start,
                std::io::Error::from_raw_os_error(-mapped as i32)
            )));
        }
    }
    Ok(())
}

fn kill_copies(processes: &HashMap<RecordedTid, ReplayProcess>) {
    for process in processes.values() {
        tracee::tracer::kill_process(process.real_pid);
        let _ = tracee::ptrace::wait_for_death(process.real_pid);
    }
}

/// Where in the injection page a snapshot puts what it reads and writes
/// through syscalls (past the path buffer, before clone3's copy).
const MASK_AT: u64 = address_space::SCRATCH_LEN - 512;
const ALTSTACK_AT: u64 = address_space::SCRATCH_LEN - 480;
const STACK_T_LEN: usize = size_of::<StackT>();
/// `ss_flags` bits a thread reports about its signal stack that cannot be
/// set (it is running on it now).
const SS_ONSTACK: u32 = 1;

/// Per-thread state the kernel keeps and a new thread does not inherit
/// from the one that created it.
struct ThreadState {
    regs: trace::event::Regs,
    xstate: Vec<u8>,
    mask: [u8; 8],
    altstack: [u8; STACK_T_LEN],
}

impl ThreadState {
    /// Gives `thread` (new, in a snapshot's process) this state.
    fn apply(&self, thread: Pid, process: &ReplayProcess, scratch: u64) -> Result<(), ReplayError> {
        process.memory.write(scratch + MASK_AT, &self.mask)?;
        let mut altstack: StackT = abi::read(&self.altstack).unwrap_or_default();
        altstack.flags &= !SS_ONSTACK;
        process
            .memory
            .write(scratch + ALTSTACK_AT, abi::bytes_of(&altstack))?;
        let results = [
            address_space::run_syscall(
                thread,
                process,
                libc::SYS_rt_sigprocmask,
                [libc::SIG_SETMASK as u64, scratch + MASK_AT, 0, 8, 0, 0],
            )?,
            address_space::run_syscall(
                thread,
                process,
                libc::SYS_sigaltstack,
                [scratch + ALTSTACK_AT, 0, 0, 0, 0, 0],
            )?,
        ];
        if let Some(bad) = results.iter().find(|&&r| r < 0) {
            return Err(ReplayError::Setup(format!(
                "a snapshot's thread cannot take its signal state: {}",
                std::io::Error::from_raw_os_error(-*bad as i32)
            )));
        }
        regs::set(thread, &self.regs)?;
        if !self.xstate.is_empty() {
            regs::set_xstate(thread, &self.xstate)?;
        }
        Ok(())
    }
}

impl ReplaySession {
    /// Reads what [`ThreadState`] holds from a thread of this replay.
    fn thread_state(
        &self,
        tid: RecordedTid,
        real: Pid,
        pid: RecordedTid,
        scratch: u64,
    ) -> Result<ThreadState, ReplayError> {
        let process = self.process(pid)?;
        let regs = regs::get(real)?;
        let xstate = regs::get_xstate(real).unwrap_or_default();
        let mask = address_space::run_syscall(
            real,
            process,
            libc::SYS_rt_sigprocmask,
            [libc::SIG_BLOCK as u64, 0, scratch + MASK_AT, 8, 0, 0],
        )?;
        let altstack = address_space::run_syscall(
            real,
            process,
            libc::SYS_sigaltstack,
            [0, scratch + ALTSTACK_AT, 0, 0, 0, 0],
        )?;
        if mask < 0 || altstack < 0 {
            return Err(ReplayError::Setup(format!(
                "cannot read the signal state of thread {tid} for a snapshot"
            )));
        }
        let read = |at: u64, len: usize| process.memory.read(scratch + at, len);
        Ok(ThreadState {
            regs,
            xstate,
            mask: read(MASK_AT, 8)?.try_into().unwrap_or_default(),
            altstack: read(ALTSTACK_AT, STACK_T_LEN)?
                .try_into()
                .unwrap_or([0; STACK_T_LEN]),
        })
    }
}

/// A fork or a new thread starts with no robust futex list and nothing
/// for the kernel to clear at exit: the copy of `task` gets its own.
fn restore_futex_state(
    thread: Pid,
    process: &ReplayProcess,
    task: Option<&ReplayTask>,
) -> Result<(), ReplayError> {
    let Some(task) = task else {
        return Ok(());
    };
    if let Some(head) = task.robust_list {
        address_space::run_syscall(
            thread,
            process,
            libc::SYS_set_robust_list,
            [head, 24, 0, 0, 0, 0],
        )?;
    }
    if let Some(addr) = task.clear_child_tid {
        address_space::run_syscall(
            thread,
            process,
            libc::SYS_set_tid_address,
            [addr, 0, 0, 0, 0, 0],
        )?;
    }
    Ok(())
}

fn copy_task(task: &ReplayTask, real: Pid) -> ReplayTask {
    ReplayTask {
        real,
        rec_pid: task.rec_pid,
        state: task.state,
        pending_signal: task.pending_signal,
        syscall: task.syscall.clone(),
        child_tid_fixup: task.child_tid_fixup,
        clone_regs: task.clone_regs,
        prefetched: None,
        pending_exit: task.pending_exit,
        robust_list: task.robust_list,
        clear_child_tid: task.clear_child_tid,
        signal_sent: task.signal_sent,
        renamed_to: task.renamed_to,
        killed_by_exec: task.killed_by_exec,
        probe: task.probe.clone(),
        buffer: task.buffer,
        buffer_filled: task.buffer_filled,
    }
}
