//! The recorder's half of the in-process syscall buffer (see the
//! `replay-preload` crate and docs/decisions/0009-syscall-buffer.md).
//!
//! After every exec the recorder maps the untraced-syscall page; when the
//! preload library says hello it learns where the hook and the stub area
//! are; at the exit of a bufferable syscall made from a libc site it
//! patches that site to call the hook; and before logging any event of a
//! thread it moves the records in the thread's buffer into the trace.

use crate::recorder::{Failure, Recorder, Step, StopRecording};
use crate::syscalls::Returned;
use crate::task::{proc_ids, Task};
use crate::RecordError;
use std::collections::HashSet;
use syscall_model::{is_error_result, CloneSource};
use syscallbuf::{Header, FD_CACHE_DISABLED, FD_CACHE_PAUSED, HEADER_LEN};
use trace::event::{EventKind, MemWrite, OutputStream};
use tracee::inject::{self, SyscallSite};
use tracee::{maps, Pid, ProcessMemory};

/// How a clone-family call splits memory and fd table, where that matters
/// to the library's fd cache.
enum Sharing {
    /// vfork: the parent waits until the child execs or exits.
    MemoryOnlyUntilExec,
    MemoryOnly,
    FdsOnly,
}

/// What the preload library told the recorder about one process.
#[derive(Debug, Clone)]
pub struct HookState {
    pub(crate) entry: u64,
    pub(crate) stub_area: u64,
    pub(crate) stub_len: u64,
    pub(crate) stub_used: u64,
    /// The library's own traced syscall; never patched.
    pub(crate) traced_return: u64,
    /// Where the library keeps `syscallbuf::FD_GENERATION_WORD`.
    fd_generation: Option<u64>,
    library: (u64, u64),
    pub(crate) patched: HashSet<u64>,
    pub(crate) refused: HashSet<u64>,
    /// Pages the recorder mapped for the stubs of sites the library's stub
    /// area is too far from (`patch_sites.rs`).
    pub(crate) near_stubs: Vec<StubArea>,
}

/// Room for stubs: `len` bytes at `start`, `used` of them written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StubArea {
    pub(crate) start: u64,
    pub(crate) len: u64,
    pub(crate) used: u64,
}

impl HookState {
    pub(crate) fn contains(&self, rip: u64) -> bool {
        (self.library.0..self.library.1).contains(&rip)
    }

    /// The library's code and the stubs: a thread there must not be
    /// preempted, because replay runs other code at those addresses.
    pub fn hook_code(&self) -> Vec<std::ops::Range<u64>> {
        let near = self.near_stubs.iter().map(|a| a.start..a.start + a.len);
        [
            self.library.0..self.library.1,
            self.stub_area..self.stub_area + self.stub_len,
        ]
        .into_iter()
        .chain(near)
        .collect()
    }
}

/// What a new process inherits from the thread that forked it, taken at the
/// fork event: by the time the child's first stop is handled the forking
/// process may have exited (a daemon's double fork), and a child that never
/// learned its buffer's address would have its buffered calls never logged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForkedBy {
    pub(crate) tgid: Pid,
    /// A plain fork: the child has a copy of the parent's memory.
    pub(crate) copy_of_memory: bool,
    pub(crate) buffer: Option<u64>,
    /// The forking syscall (number and arguments).
    pub(crate) call: Option<(u64, [u64; 6])>,
    /// A `clone3`'s flags with `CLONE_UNTRACED`, which the recorder cleared
    /// in the struct the child has a copy of.
    pub(crate) untraced_clone3_flags: Option<u64>,
    /// The forking thread's modes, which the child inherits.
    pub(crate) modes: crate::task::Modes,
    /// The forking thread's rseq registration, which a child with a copy
    /// of its memory keeps (the kernel's `rseq_fork`).
    pub(crate) rseq: Option<crate::rseq::RseqArea>,
}

impl ForkedBy {
    fn of(forking: &Task, copy_of_memory: bool) -> ForkedBy {
        ForkedBy {
            tgid: forking.tgid,
            copy_of_memory,
            buffer: forking.buffer,
            call: forking.syscall.as_ref().map(|s| (s.nr, s.args)),
            untraced_clone3_flags: forking
                .syscall
                .as_ref()
                .and_then(|s| s.untraced_clone3_flags),
            modes: forking.modes,
            rseq: forking.rseq.filter(|_| copy_of_memory),
        }
    }
}

/// Recording stops when the program wrote into its syscall buffer: the
/// records would no longer say what the calls returned.
fn overwritten_buffer(tid: Pid, what: String) -> Failure {
    Failure::Stop(StopRecording(format!(
        "the program wrote into the syscall buffer the recorder keeps in its memory \
         (thread {tid}: {what}); recording stopped so that the trace is never silently \
         wrong, and replays up to here; record with --no-syscall-buffer to keep the \
         buffer out of the program's memory"
    )))
}

/// Checks the records in `bytes` (read from `data_addr`) against the
/// checksum the library kept of them. A thread stopped while it committed
/// a record has counted the next record already: that one, read from
/// behind `used`, must then complete the sum.
fn check_records(
    tid: Pid,
    mem: &ProcessMemory,
    data_addr: u64,
    bytes: &[u8],
    checksum: u32,
) -> Result<(), Failure> {
    let mut sum = 0;
    let mut offset = 0;
    while offset < bytes.len() {
        let size = record_size_at(&bytes[offset..]).unwrap_or(bytes.len() - offset);
        let end = (offset + size).min(bytes.len());
        sum = syscallbuf::fold_checksum(sum, &bytes[offset..end]);
        offset = end;
    }
    if sum == checksum {
        return Ok(());
    }
    let next = data_addr + bytes.len() as u64;
    let committing = mem
        .read(next, syscallbuf::RECORD_HEAD_LEN)
        .ok()
        .and_then(|head| record_size_at(&head))
        .filter(|&size| bytes.len() + size <= syscallbuf::BUFFER_LEN - HEADER_LEN)
        .and_then(|size| mem.read(next, size).ok())
        .is_some_and(|record| syscallbuf::fold_checksum(sum, &record) == checksum);
    if committing {
        return Ok(());
    }
    Err(overwritten_buffer(
        tid,
        "its records no longer match their checksum".into(),
    ))
}

/// The `size` field of the record starting at `bytes`, when it is sane.
fn record_size_at(bytes: &[u8]) -> Option<usize> {
    let size = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    (size >= syscallbuf::RECORD_HEAD_LEN && size.is_multiple_of(8)).then_some(size)
}

impl Recorder {
    /// Maps the page whose syscall instruction the seccomp filter lets
    /// through, right after an exec (the kernel dropped the old one).
    pub(crate) fn map_untraced_page(&mut self, tid: Pid, tgid: Pid) -> Result<(), RecordError> {
        self.hooks.remove(&tgid);
        let mem = self.memory(tgid)?;
        let prot = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
        let addr = inject::syscall(
            tid,
            mem,
            SyscallSite::PatchRip,
            libc::SYS_mmap,
            [syscallbuf::UNTRACED_PAGE, 4096, prot, flags, u64::MAX, 0],
        )?;
        if addr as u64 != syscallbuf::UNTRACED_PAGE {
            // Without the page the library's hello is refused, and every
            // syscall takes the traced path.
            tracing::warn!(tid, addr, "cannot map the untraced syscall page");
            return Ok(());
        }
        mem.write(syscallbuf::UNTRACED_PAGE, &syscallbuf::UNTRACED_CODE)?;
        Ok(())
    }

    /// Answers the preload library's control syscall.
    pub(crate) fn control(&mut self, tid: Pid, tgid: Pid, args: &[u64; 6]) -> Step<i64> {
        let enosys = -(libc::ENOSYS as i64);
        match args[0] {
            syscallbuf::OP_HELLO_BEFORE_CHECKSUMS if self.buffering => {
                tracing::warn!(
                    "the syscall buffer's library is from an older build of replay; recording \
                     every syscall through ptrace (rebuild with `cargo build --workspace`)"
                );
                Ok(enosys)
            }
            syscallbuf::OP_HELLO if self.buffering => {
                let page_mapped = maps::read(tid)?
                    .iter()
                    .any(|m| m.start == syscallbuf::UNTRACED_PAGE);
                let library = maps::read(tid)?
                    .iter()
                    .find(|m| (m.start..m.end).contains(&args[1]))
                    .map(|m| (m.start, m.end));
                let (true, Some(library)) = (page_mapped, library) else {
                    return Ok(enosys);
                };
                if args[5] != 0 {
                    let ids: Vec<u8> = self
                        .output
                        .identities()
                        .iter()
                        .flat_map(|w| w.to_le_bytes())
                        .collect();
                    self.memory(tgid)?.write(args[5], &ids)?;
                }
                self.hooks.insert(
                    tgid,
                    HookState {
                        entry: args[1],
                        stub_area: args[2],
                        stub_len: args[3],
                        stub_used: 0,
                        traced_return: args[4],
                        fd_generation: (args[5] != 0)
                            .then(|| args[5] + 8 * syscallbuf::FD_GENERATION_WORD as u64),
                        library,
                        patched: HashSet::new(),
                        refused: HashSet::new(),
                        near_stubs: Vec::new(),
                    },
                );
                // A seccomp filter survives exec; the new image's library
                // must leave every call to the tracer again.
                if self
                    .tasks
                    .values()
                    .any(|t| t.tgid == tgid && t.modes.own_seccomp)
                {
                    self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)?;
                }
                if !self.shared_files.is_empty() {
                    self.update_fd_generation(tgid, |g| g | syscallbuf::SHARED_FILE_WRITES_TRACED)?;
                }
                if self.permission_listener {
                    self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)?;
                }
                if self.process_has_faulting_tsc(tgid) {
                    self.update_fd_generation(tgid, |g| g | syscallbuf::TSC_READS_TRACED)?;
                }
                if self.proc_views.is_reader(tgid) {
                    // Descriptors of rewritten /proc files survive the exec.
                    self.update_fd_generation(tgid, |g| g | syscallbuf::PROC_READS_TRACED)?;
                }
                Ok(syscallbuf::MODE_RECORD)
            }
            syscallbuf::OP_REGISTER
                if self.hooks.contains_key(&tgid) && args[2] == syscallbuf::BUFFER_LEN as u64 =>
            {
                self.task(tid)?.buffer = Some(args[1]);
                Ok(0)
            }
            _ => Ok(enosys),
        }
    }

    /// Keeps the library's fd cache true after a traced syscall: a close,
    /// dup2, dup3 or close_range may have given an fd number to another
    /// file, and a vfork-style child that shared the memory but had its
    /// own fd table is done with it (see [`Recorder::fd_cache_at_clone`]).
    pub(crate) fn note_fd_changes(&mut self, call: &Returned) -> Step {
        let Returned {
            tgid,
            nr,
            args,
            result,
            ..
        } = *call;
        // Every traced exit passes here: the number decides before any lookup.
        let closes = matches!(
            nr as i64,
            libc::SYS_close | libc::SYS_dup2 | libc::SYS_dup3 | libc::SYS_close_range
        );
        let clones = result > 0 && syscall_model::creates_task(nr);
        if !(closes || clones) || !self.keeps_fd_cache(tgid) {
            return Ok(());
        }
        if closes {
            return self.update_fd_generation(tgid, |g| g.wrapping_add(1));
        }
        match self.clone_sharing(tgid, nr, &args)? {
            Some(Sharing::MemoryOnlyUntilExec) => {
                self.update_fd_generation(tgid, |g| (g & !FD_CACHE_PAUSED).wrapping_add(1))
            }
            _ => Ok(()),
        }
    }

    /// After a traced syscall: a fanotify group of a permission class
    /// makes opens and reads of files wait for its reader's answer. A
    /// buffered call waits outside the recorder's view, which then never
    /// runs the reader, if the reader is in the recording: from here on,
    /// every process's calls take the traced path.
    pub(crate) fn note_permission_listener(&mut self, call: &Returned) -> Step {
        const FAN_CLASS_BITS: u64 = 0x0c;
        let listens = call.nr == libc::SYS_fanotify_init as u64
            && call.args[0] & FAN_CLASS_BITS != 0
            && !is_error_result(call.result);
        if !listens || self.permission_listener {
            return Ok(());
        }
        self.permission_listener = true;
        let processes: Vec<Pid> = self.hooks.keys().copied().collect();
        for tgid in processes {
            self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)?;
        }
        Ok(())
    }

    /// At the clone, fork or vfork event of `parent` (before the child
    /// runs): where the child will use the same memory with another fd
    /// table, or the same fd table with another memory, the library's fd
    /// cache would answer for the wrong table. It is paused while a vfork
    /// child runs (until the parent returns), else turned off for good.
    /// The process of `tid` and the syscall it is in (at a clone's event,
    /// the clone).
    fn call_in_flight(&self, tid: Pid) -> Option<(Pid, u64, [u64; 6])> {
        let task = self.tasks.get(&tid)?;
        let call = task.syscall.as_ref()?;
        Some((task.tgid, call.nr, call.args))
    }

    /// At a clone's event: a thread made without its own thread-local
    /// storage (`CLONE_THREAD` without `CLONE_SETTLS`, a raw clone) finds
    /// its creator's buffer through it, and the calls of both would land in
    /// one buffer that the recorder drains as one thread's. Every call of
    /// the process takes the traced path from then on.
    pub(crate) fn buffer_at_clone(&mut self, parent: Pid) -> Step {
        let Some((tgid, nr, args)) = self.call_in_flight(parent) else {
            return Ok(());
        };
        let Some(flags) = self.clone_flags(tgid, nr, &args)? else {
            return Ok(());
        };
        let thread = flags & libc::CLONE_THREAD as u64 != 0;
        let own_tls = flags & libc::CLONE_SETTLS as u64 != 0;
        if thread && !own_tls && self.buffering {
            tracing::debug!(parent, "a thread without its own TLS: the buffer is off");
            self.update_fd_generation(tgid, |g| g | syscallbuf::ALL_CALLS_TRACED)?;
        }
        Ok(())
    }

    pub(crate) fn fd_cache_at_clone(&mut self, parent: Pid) -> Step {
        let Some((tgid, nr, args)) = self.call_in_flight(parent) else {
            return Ok(());
        };
        if !self.keeps_fd_cache(tgid) {
            return Ok(());
        }
        match self.clone_sharing(tgid, nr, &args)? {
            Some(Sharing::MemoryOnlyUntilExec) => {
                self.update_fd_generation(tgid, |g| g | FD_CACHE_PAUSED)
            }
            // The child's copy of the memory is handled at its first stop
            // (`inherit_buffer`).
            Some(Sharing::MemoryOnly | Sharing::FdsOnly) => {
                self.update_fd_generation(tgid, |g| g | FD_CACHE_DISABLED)
            }
            None => Ok(()),
        }
    }

    /// Whether the library in this process said hello with a generation
    /// word (only then is there a cache to keep true).
    fn keeps_fd_cache(&self, tgid: Pid) -> bool {
        self.hooks
            .get(&tgid)
            .is_some_and(|h| h.fd_generation.is_some())
    }

    /// What a clone-family call shares between parent and child, where it
    /// matters to the fd cache (`None`: both or neither, or not a clone).
    fn clone_sharing(&mut self, tgid: Pid, nr: u64, args: &[u64; 6]) -> Step<Option<Sharing>> {
        let Some(flags) = self.clone_flags(tgid, nr, args)? else {
            return Ok(None);
        };
        let memory = flags & libc::CLONE_VM as u64 != 0;
        let fds = flags & libc::CLONE_FILES as u64 != 0;
        Ok(match (memory, fds) {
            (true, false) if flags & libc::CLONE_VFORK as u64 != 0 => {
                Some(Sharing::MemoryOnlyUntilExec)
            }
            (true, false) => Some(Sharing::MemoryOnly),
            (false, true) => Some(Sharing::FdsOnly),
            _ => None,
        })
    }

    /// Rewrites the fd generation word of a process whose library said
    /// hello (others keep no cache). The word lies in the library's data,
    /// which only a process that is going away loses: then nothing is left
    /// to keep true.
    pub(crate) fn update_fd_generation(&mut self, tgid: Pid, update: impl Fn(u64) -> u64) -> Step {
        let Some(addr) = self.hooks.get(&tgid).and_then(|h| h.fd_generation) else {
            return Ok(());
        };
        let mem = self.memory(tgid)?;
        let mut word = [0u8; 8];
        let updated = mem
            .read_into(addr, &mut word)
            .and_then(|()| mem.write(addr, &update(u64::from_le_bytes(word)).to_le_bytes()));
        if let Err(e) = updated {
            tracing::debug!(tgid, "fd cache generation not updated: {e}");
        }
        Ok(())
    }

    /// Logs the records in `tid`'s buffer and empties it.
    pub(crate) fn flush_buffer(&mut self, tid: Pid) -> Step {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return Ok(());
        };
        let (Some(addr), tgid, true) = (task.buffer, task.tgid, task.buffer_dirty) else {
            return Ok(());
        };
        task.buffer_dirty = false;
        let mem = self.memory(tgid)?;
        let Ok(header_bytes) = mem.read(addr, HEADER_LEN) else {
            // The address space is already gone (the task is exiting after
            // exit_group flushed it): nothing more can be in the buffer.
            return Ok(());
        };
        let mut raw = [0u8; HEADER_LEN];
        raw.copy_from_slice(&header_bytes);
        let header = Header::from_bytes(&raw);
        if header.used == 0 {
            return Ok(());
        }
        if header.used as usize > syscallbuf::BUFFER_LEN - HEADER_LEN {
            return Err(overwritten_buffer(
                tid,
                format!("its header claims {} bytes", header.used),
            ));
        }
        let data_addr = addr + HEADER_LEN as u64;
        let bytes = mem.read(data_addr, header.used as usize)?;
        check_records(tid, mem, data_addr, &bytes, header.checksum)?;
        // One pass checks the records and collects the writes the library
        // marked as going to the recorder's stdout or stderr (it was told
        // their identities at hello; checking each write here cost a /proc
        // lookup apiece).
        let mut outputs = Vec::new();
        for (i, record) in syscallbuf::records(&bytes).enumerate() {
            let head = match record {
                Ok(record) => record.head,
                Err(bad) => {
                    return Err(overwritten_buffer(
                        tid,
                        format!("the record at byte {} is malformed", bad.offset),
                    ))
                }
            };
            let writes_to_fd = syscallbuf::plan::plan(head.nr.into(), &head.args)
                .is_some_and(|plan| plan.writes_to_fd());
            if head.output_len != 0 || !writes_to_fd {
                continue;
            }
            let stream = match head.output_addr {
                syscallbuf::OUTPUT_MARK_STDOUT => OutputStream::Stdout,
                syscallbuf::OUTPUT_MARK_STDERR => OutputStream::Stderr,
                _ => continue,
            };
            // A buffer holds far fewer than u32::MAX records.
            outputs.push((i as u32, stream));
        }
        let emptied = Header {
            used: 0,
            checksum: 0,
            ..header
        };
        mem.write(addr, &emptied.to_bytes())?;
        let records = MemWrite {
            addr: data_addr,
            len: bytes.len() as u64,
        };
        self.log(tid, EventKind::Buffered { records, outputs }, vec![bytes])?;
        Ok(())
    }

    /// What a child of `tid` inherits, read at its fork event.
    /// Whether `tid`'s clone in progress shares its memory with the child
    /// (CLONE_VM). A process on the parent's memory shares the syscall
    /// hook's stubs with it, so it must not keep its own copy of their
    /// bookkeeping: two copies handed out the same stub to two sites.
    pub(crate) fn clone_shares_memory(&mut self, tid: Pid) -> Step<bool> {
        let task = self.task(tid)?;
        let (tgid, Some((nr, args))) = (task.tgid, task.syscall.as_ref().map(|s| (s.nr, s.args)))
        else {
            return Ok(false);
        };
        let flags = self.clone_flags(tgid, nr, &args)?.unwrap_or(0);
        Ok(flags & libc::CLONE_VM as u64 != 0)
    }

    /// The clone flags of a clone-family call (`None` for any other call).
    /// clone3 keeps them in memory; unreadable ones are taken as the worst
    /// case, memory shared and nothing else.
    pub(crate) fn clone_flags(&mut self, tgid: Pid, nr: u64, args: &[u64; 6]) -> Step<Option<u64>> {
        Ok(match syscall_model::clone_source(nr, args) {
            None => None,
            Some(CloneSource::Registers(request)) => Some(request.flags),
            Some(CloneSource::Memory { addr, .. }) => Some(
                self.memory(tgid)?
                    .read_u64(addr)
                    .unwrap_or(libc::CLONE_VM as u64),
            ),
        })
    }

    /// Whether a syscall stopped at `rip` is the preload library's own
    /// (mapping its buffer, say), made at its traced syscall instruction.
    pub(crate) fn is_library_call(&self, tgid: Pid, rip: u64) -> bool {
        self.hooks
            .get(&tgid)
            .is_some_and(|hook| hook.traced_return == rip)
    }

    pub(crate) fn forked_by_now(&mut self, tid: Pid, copy_of_memory: bool) -> Step<ForkedBy> {
        Ok(ForkedBy::of(self.task(tid)?, copy_of_memory))
    }

    /// What the thread still inside the fork-family call that made a new
    /// process passes on, for a child whose first stop came before that
    /// call's fork event. Its creator is normally in the process `ppid`
    /// names; a CLONE_PARENT child is its creator's sibling, so then the
    /// creator is a process whose own parent is `ppid`.
    pub(crate) fn forked_by_in_flight(&mut self, ppid: Pid) -> Step<Option<ForkedBy>> {
        let in_fork: Vec<(Pid, Pid, u64, [u64; 6])> = self
            .tasks
            .values()
            .filter_map(|t| {
                let call = t.syscall.as_ref()?;
                syscall_model::creates_task(call.nr).then_some((t.tid, t.tgid, call.nr, call.args))
            })
            .collect();
        for (tid, tgid, nr, args) in in_fork {
            let flags = self.clone_flags(tgid, nr, &args)?.unwrap_or(0);
            if flags & libc::CLONE_THREAD as u64 != 0 {
                continue;
            }
            let creator_is_parent = if flags & libc::CLONE_PARENT as u64 != 0 {
                proc_ids(tgid).is_some_and(|(_, its_parent)| its_parent == ppid)
            } else {
                tgid == ppid
            };
            if creator_is_parent {
                let copy_of_memory = flags & libc::CLONE_VM as u64 == 0;
                return Ok(Some(ForkedBy::of(self.task(tid)?, copy_of_memory)));
            }
        }
        Ok(None)
    }

    /// A new process starts with the buffer of the thread that forked it
    /// (its copy, or after vfork the same memory), and after a real fork
    /// with a copy of its parent's patched code. Done at the child's first
    /// stop, before it runs: the parent's fork event may come later.
    pub(crate) fn inherit_buffer(&mut self, child: Pid, forked_by: ForkedBy) -> Step {
        let ForkedBy {
            tgid: parent_tgid,
            copy_of_memory,
            buffer,
            call,
            ..
        } = forked_by;
        if let Some(task) = self.tasks.get_mut(&child) {
            task.buffer = buffer;
        }
        let child_tgid = self.tasks.get(&child).map_or(child, |t| t.tgid);
        if copy_of_memory {
            if let Some(state) = self.hooks.get(&parent_tgid).cloned() {
                self.hooks.insert(child_tgid, state);
                // Its copy of the library's page may predate the first
                // shared mapping, if the parent mapped it after the fork.
                if !self.shared_files.is_empty() {
                    self.update_fd_generation(child_tgid, |g| {
                        g | syscallbuf::SHARED_FILE_WRITES_TRACED
                    })?;
                }
            }
            // The parent's half is done at its clone event.
            if let Some((nr, args)) = call.filter(|_| self.keeps_fd_cache(child_tgid)) {
                // clone3's flags are in the parent's memory; a parent that
                // is gone may have shared its fd table: no cache then.
                let sharing = if self.memories.contains_key(&parent_tgid) {
                    self.clone_sharing(parent_tgid, nr, &args)?
                } else {
                    Some(Sharing::FdsOnly).filter(|_| nr == libc::SYS_clone3 as u64)
                };
                if let Some(Sharing::FdsOnly) = sharing {
                    self.update_fd_generation(child_tgid, |g| g | FD_CACHE_DISABLED)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The preload library zeroes the arguments past a buffered call's count
    /// before storing and comparing them; a count lower than the kernel's
    /// would hide a real difference in replay.
    #[test]
    fn buffered_argument_counts_agree_with_the_syscall_model() {
        for &(nr, count) in syscallbuf::BUFFERED {
            let name = syscall_model::name(nr).unwrap_or("?");
            let kinds = syscall_model::decode::arg_kinds(nr);
            assert_eq!(
                count,
                kinds.len(),
                "{name} ({nr}): the buffer counts {count} arguments, the model {}",
                kinds.len()
            );
        }
    }
}
