//! What the recorder checks and changes at an exec's entry: the preload
//! library put in the new image's environment, and an exec that would
//! gain privileges; and, at its exit, a layout the kernel made at random.

use crate::recorder::{Failure, Recorder, Step, StopRecording};
use std::path::Path;
use syscall_model::decode::ArgKind;
use trace::event::Regs;
use tracee::{regs, Pid};

impl Recorder {
    /// At an exec's entry: refuses one that would gain privileges the
    /// buffer's no_new_privs filter silently withholds, and puts the
    /// preload library in the new image's environment (the returned
    /// addition, taken out again at the exit).
    pub(crate) fn prepare_exec(
        &mut self,
        tid: Pid,
        tgid: Pid,
        entry_regs: &mut Regs,
    ) -> Step<Option<tracee::exec_env::AddedPreload>> {
        let (nr, args) = (entry_regs.orig_rax, entry_regs.syscall_args());
        let is_exec = syscall_model::execs(nr);
        if self.set_no_new_privs && is_exec && self.execs_set_id(tid, tgid, nr, &args) {
            return Err(Failure::Stop(StopRecording(format!(
                "{} of a setuid/setgid program would gain privileges, which the syscall \
                 buffer's no_new_privs filter silently prevents; recording stopped so that \
                 the trace is never silently wrong (process {tgid}, thread {tid}, after \
                 event {}); record with --no-syscall-buffer to have the exec refused at \
                 its exit instead",
                syscall_model::name(nr).unwrap_or("execve"),
                self.log.next_index()
            ))));
        }
        let added_preload = match (&self.preload_library, is_exec) {
            (Some(library), true) => {
                let added =
                    tracee::exec_env::add_preload(tid, self.memory(tgid)?, entry_regs, nr, library);
                if added.is_some() {
                    regs::set(tid, entry_regs)?;
                }
                added
            }
            _ => None,
        };
        Ok(added_preload)
    }

    /// Whether the exec at this entry names a setuid/setgid file (relative
    /// paths resolved against the tracee's cwd or dirfd).
    fn execs_set_id(&self, tid: Pid, tgid: Pid, nr: u64, args: &[u64; 6]) -> bool {
        let Some(row) = syscall_model::syscall(nr) else {
            return false;
        };
        let Some(path_arg) = row.arg_of_kind(ArgKind::Path).map(|i| args[i]) else {
            return false;
        };
        let dirfd = row
            .arg_of_kind(ArgKind::DirFd)
            .map_or(libc::AT_FDCWD, |i| args[i] as i32);
        let Ok(mem) = self.memory(tgid) else {
            return false;
        };
        let Ok(path) = mem.read_cstring(path_arg, 4096) else {
            return false;
        };
        let base = if dirfd == libc::AT_FDCWD {
            format!("/proc/{tid}/cwd")
        } else {
            format!("/proc/{tid}/fd/{dirfd}")
        };
        let full = if path.starts_with('/') {
            std::path::PathBuf::from(&path)
        } else {
            Path::new(&base).join(&path)
        };
        is_set_id(&full)
    }
}

/// A setuid or setgid file: executing it would gain privileges.
pub(crate) fn is_set_id(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|m| m.permissions().mode() & (libc::S_ISUID | libc::S_ISGID) != 0)
}

/// Whether the kernel laid out the process `tid` just exec'd at random
/// addresses: its personality lacks ADDR_NO_RANDOMIZE, which the recorder
/// set and an exec that gains capabilities (or the program itself) clears.
pub(crate) fn randomized_layout(tid: Pid) -> bool {
    const ADDR_NO_RANDOMIZE: u32 = 0x0004_0000;
    std::fs::read_to_string(format!("/proc/{tid}/personality"))
        .ok()
        .and_then(|text| u32::from_str_radix(text.trim(), 16).ok())
        .is_some_and(|personality| personality & ADDR_NO_RANDOMIZE == 0)
}
