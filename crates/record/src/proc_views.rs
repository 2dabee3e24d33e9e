//! `/proc` files whose text shows the recorder, served as a native run
//! would read them (`syscallbuf::proc_views` names them): a recorded
//! task's `status` (it names the recorder as its tracer, shows its seccomp
//! filter and no_new_privs, the one CPU it pins the program to, and a
//! voluntary context switch for every ptrace stop) and
//! `stat` (the kernel shows every task the recorder holds as stopped by
//! its tracer, `t`, where natively it runs, or a signal stopped it, `T`),
//! `sched` (its switch counts count the stops), and `/proc/cpuinfo`'s
//! flags for the features CPUID hides.
//!
//! Once a process opens such a file its reads of procfs files take the
//! traced path. At a read's exit the recorder reads the whole file
//! itself, rewrites it (`proc_text`), and puts the part the read asked
//! for in the program's buffer, before it is logged: replay returns those
//! bytes. Values may change length, so the file's offset counts in the
//! rewritten text: after a read the recorder moves it to where that read
//! ended there.

use crate::proc_text::{self, NativeTask};
use crate::recorder::{Recorder, Step};
use crate::syscalls::Returned;
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use syscall_model::Returns;
use syscallbuf::proc_views::{self as paths, Format};
use tracee::inject::{self, SyscallSite};
use tracee::Pid;

/// The processes whose procfs reads the recorder serves, and the text
/// each open file is read from.
#[derive(Default)]
pub(crate) struct ProcViews {
    readers: HashSet<Pid>,
    /// The rewritten text of each (process, descriptor), made when a read
    /// starts at offset 0 (as the kernel makes a seq_file's text then),
    /// so that reads in pieces see one version of it.
    texts: HashMap<(Pid, u64), Vec<u8>>,
}

impl ProcViews {
    /// The process is gone, with its descriptors.
    pub(crate) fn forget(&mut self, tgid: Pid) {
        self.readers.remove(&tgid);
        self.texts.retain(|&(reader, _), _| reader != tgid);
    }

    pub(crate) fn is_reader(&self, tgid: Pid) -> bool {
        self.readers.contains(&tgid)
    }

    /// A forked child reads its parent's open files the same way.
    pub(crate) fn inherit(&mut self, parent: Pid, child: Pid) {
        if self.readers.contains(&parent) {
            self.readers.insert(child);
        }
    }
}

/// Which rewrite a file gets.
enum View {
    Cpuinfo,
    /// A recorded task's status or stat.
    Task(Pid, Format),
}

impl Recorder {
    /// After an open's exit: a file the recorder rewrites opened. The
    /// process's library sends its procfs reads to the tracer from now on
    /// (again after an exec, which starts a new library).
    pub(crate) fn note_proc_view_open(&mut self, call: &Returned) -> Step {
        let Returned {
            tid,
            tgid,
            nr,
            result,
            ..
        } = *call;
        let opens_fd = syscall_model::syscall(nr).is_some_and(|row| {
            row.returns == Returns::Fd
                && row
                    .arg_of_kind(syscall_model::decode::ArgKind::Path)
                    .is_some()
        });
        let rewritten = |path: &[u8]| paths::edited_by_recorder(path);
        if !opens_fd || result < 0 || !fd_path(tid, result as u64).is_some_and(|p| rewritten(&p)) {
            return Ok(());
        }
        self.proc_views.readers.insert(tgid);
        self.proc_views.texts.remove(&(tgid, result as u64));
        self.update_fd_generation(tgid, |g| g | syscallbuf::PROC_READS_TRACED)
    }

    /// At a traced `read` or `pread64`'s exit: a read of a file the
    /// recorder rewrites gets the rewritten text's bytes instead of the
    /// kernel's. Returns the read's result.
    pub(crate) fn serve_proc_view(
        &mut self,
        tid: Pid,
        nr: u64,
        args: &[u64; 6],
        result: i64,
    ) -> Step<i64> {
        let positional = nr == libc::SYS_pread64 as u64;
        let is_read = positional || nr == libc::SYS_read as u64;
        let tgid = self.task(tid)?.tgid;
        if !is_read || result < 0 || !self.proc_views.readers.contains(&tgid) {
            return Ok(result);
        }
        let fd = args[0];
        let Some(path) = fd_path(tid, fd) else {
            return Ok(result);
        };
        let Some(view) = self.view_of(&path) else {
            return Ok(result);
        };
        let start = if positional {
            args[3]
        } else {
            // The kernel moved the offset past what it read; before, it
            // stood where the last served read left it.
            let Some(after) = fd_offset(tid, fd) else {
                return Ok(result);
            };
            after.saturating_sub(result as u64)
        };
        let key = (tgid, fd);
        if start == 0 || !self.proc_views.texts.contains_key(&key) {
            let Ok(kernels) = std::fs::read(std::ffi::OsStr::from_bytes(&path)) else {
                return Ok(result);
            };
            let text = self.rewrite(view, &kernels)?;
            self.proc_views.texts.insert(key, text);
        }
        let text = &self.proc_views.texts[&key];
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(text.len());
        let served = text[from..].len().min(args[2] as usize);
        let bytes = text[from..from + served].to_vec();
        let mem = self.memory(tgid)?;
        mem.write(args[1], &bytes)?;
        if !positional && served as i64 != result {
            let mut arrived = Vec::new();
            inject::syscall_keeping_signals(
                tid,
                mem,
                SyscallSite::PatchRip,
                libc::SYS_lseek,
                [fd, start + served as u64, libc::SEEK_SET as u64, 0, 0, 0],
                Some(&mut arrived),
            )?;
            self.task(tid)?.held_signals.extend(arrived);
        }
        let mut regs = tracee::regs::get(tid)?;
        regs.rax = served as u64;
        tracee::regs::set(tid, &regs)?;
        Ok(served as i64)
    }

    /// The rewrite for the file at `path`: cpuinfo, or the state file of
    /// a task of the recording (another task's shows nothing of ours).
    fn view_of(&self, path: &[u8]) -> Option<View> {
        if path == paths::CPUINFO {
            return (!self.hidden_cpu_flags.is_empty()).then_some(View::Cpuinfo);
        }
        let (target, format) = paths::state_file(path)?;
        let target = target as Pid;
        self.tasks
            .contains_key(&target)
            .then_some(View::Task(target, format))
    }

    fn rewrite(&mut self, view: View, kernels: &[u8]) -> Step<Vec<u8>> {
        let (target, format) = match view {
            View::Cpuinfo => return Ok(proc_text::cpuinfo(kernels, &self.hidden_cpu_flags)),
            View::Task(target, format) => (target, format),
        };
        let state = if self.group_stopped.contains(&target) {
            b'T'
        } else {
            b'R'
        };
        let stops = tracee::ptrace::stops_reported(target);
        match format {
            Format::Stat => return Ok(proc_text::stat(kernels, state)),
            Format::Sched => return Ok(proc_text::sched(kernels, stops)),
            Format::Status => {}
        }
        let marks = self.recorder_marks(target)?;
        let own_cpus = self.task(target)?.modes.own_affinity;
        let native = NativeTask {
            state,
            marks,
            native_cpus: self.native_affinity.clone().filter(|_| !own_cpus),
            recorder_stops: stops,
        };
        Ok(proc_text::status(kernels, &native))
    }
}

/// The path `fd` of `tid` was opened with.
fn fd_path(tid: Pid, fd: u64) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/{tid}/fd/{fd}")).ok()?;
    Some(link.as_os_str().as_bytes().to_vec())
}

/// The file offset of `fd` of `tid`.
fn fd_offset(tid: Pid, fd: u64) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("pos:"))?
        .trim()
        .parse()
        .ok()
}
