//! Sites in the program's code rewritten to call the syscall buffer's
//! library: a libc `syscall` the buffer can make (after its first traced
//! run), and an `rdtsc` or `rdtscp` (after its first trap), which the
//! library reads without a stop (`preload/src/tsc.rs`). The patch is a
//! jump to a stub that calls the hook and runs the instructions the jump
//! displaced (`position::syscall_hook`); it is logged as a code patch,
//! which replay writes at the same point.

use crate::buffered::StubArea;
use crate::recorder::{Recorder, Step};
use crate::task::RunState;
use crate::RecordError;
use position::syscall_hook::HookPatch;
use trace::event::{EventKind, MemWrite, Regs};
use tracee::inject::{self, SyscallSite};
use tracee::{regs, Pid, ProcessMemory};

/// How far a patch's `jmp rel32` reaches, less a margin for the stub's
/// length.
const JUMP_REACH: u64 = (1 << 31) - (1 << 16);
/// The most bytes one stub takes: the hook call (23), three displaced
/// instructions of 15 and the jump back, rounded up.
const LARGEST_STUB: u64 = 96;
/// A page of stubs the recorder maps near a program's code.
const STUB_PAGE_LEN: u64 = 1 << 14;

/// How far around a site the recorder looks for branches into the bytes
/// its patch replaces: a wrapper function's own code.
const SITE_SCAN: u64 = 512;

/// Whether a direct branch in the code around `start` targets one of the
/// `len` bytes after it (not `start` itself, where the patch's jump is).
/// The code before `start` is decoded from an arbitrary byte; x86 decoding
/// falls back into step within a few instructions, and a wrong target only
/// leaves a site traced.
fn jumped_into(mem: &ProcessMemory, start: u64, len: u64) -> bool {
    let from = start.saturating_sub(SITE_SCAN);
    let mut size = (2 * SITE_SCAN) as usize;
    let code = loop {
        match mem.read(from, size) {
            Ok(code) => break code,
            Err(_) if size > 64 => size /= 2,
            Err(_) => return false,
        }
    };
    position::insn::direct_branch_targets(from, &code)
        .into_iter()
        .any(|target| target > start && target < start + len)
}

/// What a site holds, and how its patch is built.
#[derive(Clone, Copy)]
enum Site {
    /// A `syscall` the buffer makes.
    Syscall,
    /// An `rdtsc` (2 bytes) or `rdtscp` (3 bytes).
    TscRead { len: u64 },
}

impl Recorder {
    /// After a bufferable syscall returned to `regs.rip`, rewrites its site
    /// to call the hook, and moves the thread onto the stub's copy of the
    /// instructions it was about to run.
    pub(crate) fn patch_site(&mut self, tid: Pid, nr: u64, regs: &mut Regs) -> Step {
        if !self.buffering || !syscallbuf::is_buffered(nr) {
            return Ok(());
        }
        self.patch(tid, regs, Site::Syscall)
    }

    /// After the recorder answered the `rdtsc` (`len` 2) or `rdtscp` (3)
    /// that ends at `regs.rip`, rewrites it to call the library, where the
    /// next reads cost no stop. Only in a file's code: a JIT may rewrite its
    /// own at any time.
    pub(crate) fn patch_tsc_site(&mut self, tid: Pid, len: u64, regs: &mut Regs) -> Step {
        if !self.buffering {
            return Ok(());
        }
        let site = regs.rip.wrapping_sub(len);
        let in_a_file = tracee::maps::read(tid).is_ok_and(|maps| {
            maps.iter()
                .any(|m| m.start <= site && site < m.end && m.name.starts_with('/'))
        });
        if !in_a_file {
            return Ok(());
        }
        self.patch(tid, regs, Site::TscRead { len })
    }

    fn patch(&mut self, tid: Pid, regs: &mut Regs, kind: Site) -> Step {
        let insn_len = match kind {
            Site::Syscall => 2,
            Site::TscRead { len } => len,
        };
        let tgid = self.task(tid)?.tgid;
        let site = regs.rip.wrapping_sub(insn_len);
        let Some(hook) = self.hooks.get(&tgid) else {
            return Ok(());
        };
        if hook.patched.contains(&site) || hook.refused.contains(&site) {
            return Ok(());
        }
        if regs.rip == hook.traced_return || hook.contains(site) {
            self.refuse_site(tgid, site);
            return Ok(());
        }
        if !self.site_is_idle(tid, tgid, site)? {
            return Ok(());
        }
        let hook = self.hooks.get(&tgid).cloned().expect("checked above");
        let mem = self.memory(tgid)?;
        let mut code = Vec::new();
        for len in [position::syscall_hook::SITE_READ_LEN, 16, 8] {
            if let Ok(bytes) = mem.read(site, len) {
                code = bytes;
                break;
            }
        }
        // Syscall sites that far are left traced, as before there were
        // stub pages (a static program's own syscalls, Go's).
        let near_page_allowed = matches!(kind, Site::TscRead { .. });
        let Some(area) = self.stub_area_for(tid, tgid, site, near_page_allowed)? else {
            self.refuse_site(tgid, site);
            return Ok(());
        };
        let mem = self.memory(tgid)?;
        let stub = area.start + area.used;
        let built = match kind {
            Site::Syscall => {
                let before = mem.read(site - 5, 5).unwrap_or_default();
                position::syscall_hook::build(site, &before, &code, stub, hook.entry)
            }
            Site::TscRead { len } => {
                let pseudo_nr = match len {
                    2 => syscallbuf::RDTSC,
                    _ => syscallbuf::RDTSCP,
                };
                position::syscall_hook::build_tsc_read(
                    site,
                    len as usize,
                    &code,
                    stub,
                    hook.entry,
                    pseudo_nr as u32,
                )
            }
        };
        let patch = match built {
            Ok(patch) => patch,
            Err(e) => {
                tracing::debug!(tid, "site not patched: {e}");
                self.refuse_site(tgid, site);
                return Ok(());
            }
        };
        if jumped_into(mem, patch.start, patch.site_bytes.len() as u64) {
            // A branch lands inside the bytes the jump would replace (on
            // the `syscall` after a `mov eax` it skips, say): the thread
            // would run int3 filler. The site stays traced.
            tracing::debug!(tid, site, "site not patched: a branch lands inside it");
            self.refuse_site(tgid, site);
            return Ok(());
        }
        let stub_room = (patch.stub.len() as u64 + 15) & !15;
        if area.used + stub_room > area.len {
            self.refuse_site(tgid, site);
            return Ok(());
        }
        self.install(tid, tgid, site, stub, stub_room, patch, regs)
    }

    /// Where `site`'s stub goes: the library's stub area when a jump from
    /// the site reaches it, else, where `near_page_allowed`, a page of the
    /// recorder's near the site's file (mapped at the first such site).
    fn stub_area_for(
        &mut self,
        tid: Pid,
        tgid: Pid,
        site: u64,
        near_page_allowed: bool,
    ) -> Step<Option<StubArea>> {
        let Some(hook) = self.hooks.get(&tgid) else {
            return Ok(None);
        };
        let reaches = |area: &StubArea| {
            area.start.abs_diff(site) < JUMP_REACH && area.used + LARGEST_STUB <= area.len
        };
        let library = StubArea {
            start: hook.stub_area,
            len: hook.stub_len,
            used: hook.stub_used,
        };
        if reaches(&library) {
            return Ok(Some(library));
        }
        if !near_page_allowed {
            return Ok(None);
        }
        if let Some(near) = hook.near_stubs.iter().find(|area| reaches(area)) {
            return Ok(Some(*near));
        }
        self.map_stub_page(tid, tgid, site)
    }

    /// Maps a page for stubs below the start of the file whose code holds
    /// `site` (a program's heap grows up from its end), within a jump of
    /// it, and logs it for replay to map too.
    fn map_stub_page(&mut self, tid: Pid, tgid: Pid, site: u64) -> Step<Option<StubArea>> {
        const LOWEST: u64 = 0x10000;
        let Ok(maps) = tracee::maps::read(tid) else {
            return Ok(None);
        };
        let Some(file) = maps.iter().find(|m| m.start <= site && site < m.end) else {
            return Ok(None);
        };
        let image_start = maps
            .iter()
            .filter(|m| m.name == file.name)
            .map(|m| m.start)
            .min()
            .unwrap_or(file.start);
        let free = |at: u64| {
            maps.iter()
                .all(|m| m.end <= at || at + STUB_PAGE_LEN <= m.start)
        };
        let candidates = [16 << 20, 1 << 20, 1 << 16]
            .into_iter()
            .filter_map(|below: u64| image_start.checked_sub(below + STUB_PAGE_LEN))
            .filter(|&at| at >= LOWEST && at.abs_diff(site) < JUMP_REACH && free(at));
        for at in candidates {
            let mem = self.memory(tgid)?;
            let prot = (libc::PROT_READ | libc::PROT_EXEC) as u64;
            let flags =
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
            let mut arrived = Vec::new();
            let mapped = inject::syscall_keeping_signals(
                tid,
                mem,
                SyscallSite::PatchRip,
                libc::SYS_mmap,
                [at, STUB_PAGE_LEN, prot, flags, u64::MAX, 0],
                Some(&mut arrived),
            )?;
            self.task(tid)?.held_signals.extend(arrived);
            if mapped as u64 != at {
                continue;
            }
            let area = StubArea {
                start: at,
                len: STUB_PAGE_LEN,
                used: 0,
            };
            if let Some(hook) = self.hooks.get_mut(&tgid) {
                hook.near_stubs.push(area);
            }
            let event = EventKind::StubPage {
                addr: at,
                len: STUB_PAGE_LEN,
            };
            self.log(tid, event, Vec::new())?;
            return Ok(Some(area));
        }
        Ok(None)
    }

    /// Writes the stub and the jump, and moves the thread from where it
    /// stands (after the site's instruction) onto the stub's copy of what
    /// follows.
    #[allow(clippy::too_many_arguments)]
    fn install(
        &mut self,
        tid: Pid,
        tgid: Pid,
        site: u64,
        stub: u64,
        stub_room: u64,
        patch: HookPatch,
        regs: &mut Regs,
    ) -> Step {
        let mem = self.memory(tgid)?;
        mem.write(stub, &patch.stub)?;
        mem.write(patch.start, &patch.site_bytes)?;
        if let Some(state) = self.hooks.get_mut(&tgid) {
            if (state.stub_area..state.stub_area + state.stub_len).contains(&stub) {
                state.stub_used += stub_room;
            }
            let near = state.near_stubs.iter_mut();
            if let Some(area) = near
                .into_iter()
                .find(|a| (a.start..a.start + a.len).contains(&stub))
            {
                area.used += stub_room;
            }
            state.patched.insert(site);
        }
        let resume_from = regs.rip;
        regs.rip = patch.resume;
        regs::set(tid, regs)?;
        tracing::debug!(tid, site, stub, "patched a site");
        let writes = vec![
            MemWrite {
                addr: stub,
                len: patch.stub.len() as u64,
            },
            MemWrite {
                addr: patch.start,
                len: patch.site_bytes.len() as u64,
            },
        ];
        self.log(
            tid,
            EventKind::CodePatch {
                writes,
                resume_from,
                resume_to: patch.resume,
            },
            vec![patch.stub, patch.site_bytes],
        )?;
        Ok(())
    }

    fn refuse_site(&mut self, tgid: Pid, site: u64) {
        if let Some(state) = self.hooks.get_mut(&tgid) {
            state.refused.insert(site);
        }
    }

    /// No other thread on the memory may be about to return into the
    /// bytes the patch replaces, and no signal handler on any of them may
    /// return there; if one might, the site is tried again at a later
    /// call. The threads of the process, and of processes made with
    /// `CLONE_VM` on the same memory.
    fn site_is_idle(&mut self, tid: Pid, tgid: Pid, site: u64) -> Result<bool, RecordError> {
        let window = site - 4..site + 16;
        let handler_returns_there = self
            .tasks
            .values()
            .filter(|t| t.tgid == tgid || tracee::maps::same_address_space(tid, t.tid))
            .any(|t| t.handler_returns.iter().any(|rip| window.contains(rip)));
        if handler_returns_there {
            return Ok(false);
        }
        let others: Vec<(Pid, RunState, Option<u64>)> = self
            .tasks
            .values()
            .filter(|t| t.tid != tid)
            .filter(|t| t.tgid == tgid || tracee::maps::same_address_space(tid, t.tid))
            .map(|t| (t.tid, t.state, t.syscall.as_ref().map(|s| s.rip)))
            .collect();
        for (other, state, in_syscall) in others {
            let rip = match (state, in_syscall) {
                (_, Some(rip)) => rip,
                (RunState::Stopped, None) => match regs::get(other) {
                    Ok(r) => r.rip,
                    Err(_) => return Ok(false),
                },
                _ => return Ok(false),
            };
            if window.contains(&rip) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
