//! Starting a traced process.

use crate::ptrace::{self, Resume, Stop, WaitResult};
use crate::{Pid, TraceeError};
use std::ffi::CString;

/// How the child prepares itself before exec.
#[derive(Debug, Clone, Copy)]
pub struct SpawnOptions {
    /// Make rdtsc/rdtscp fault so the tracer can record their values.
    pub trap_rdtsc: bool,
    /// CPU to pin the child to (inherited by everything it starts).
    pub cpu: Option<usize>,
    /// Install a seccomp filter that lets only syscalls made from this
    /// address (the kernel's view: just after the instruction) run without
    /// a ptrace stop. It is inherited by every descendant and survives exec.
    /// Without it, a filter stops only calls through the legacy vsyscall
    /// page (see [`vsyscall_filter`]), where the process may install one
    /// without `no_new_privs`.
    pub untraced_syscall_ip: Option<u64>,
}

/// The legacy vsyscall page, whose calls the kernel emulates without any
/// syscall instruction: only a seccomp filter stops the thread there.
pub const VSYSCALL_PAGE: std::ops::Range<u64> = 0xffff_ffff_ff60_0000..0xffff_ffff_ff60_1000;

/// Building blocks of the seccomp filters below (classic BPF over
/// `struct seccomp_data`).
mod bpf {
    pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // Offsets in struct seccomp_data.
    pub const ARCH: u32 = 4;
    pub const IP_LOW: u32 = 8;
    pub const IP_HIGH: u32 = 12;

    pub fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// Skips `jt` instructions if the accumulator equals `k`, else `jf`.
    pub fn jump_eq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt,
            jf,
            k,
        }
    }

    /// Loads the 32-bit word at `offset` of `struct seccomp_data`.
    pub fn load(offset: u32) -> libc::sock_filter {
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
    }

    pub fn ret(action: u32) -> libc::sock_filter {
        stmt(libc::BPF_RET | libc::BPF_K, action)
    }
}

/// The data our filters return with `SECCOMP_RET_TRACE`. A seccomp stop
/// that carries other data came from a filter of the program's own, which
/// natively, with no tracer of its own attached, makes the call fail with
/// ENOSYS.
pub const RECORDER_TRACE_DATA: u32 = 0x7e7e;

/// The filter described at [`SpawnOptions::untraced_syscall_ip`].
fn untraced_ip_filter(ip: u64) -> [libc::sock_filter; 8] {
    use bpf::*;
    [
        load(ARCH),
        jump_eq(AUDIT_ARCH_X86_64, 0, 5),
        load(IP_LOW),
        jump_eq(ip as u32, 0, 3),
        load(IP_HIGH),
        jump_eq((ip >> 32) as u32, 0, 1),
        ret(libc::SECCOMP_RET_ALLOW),
        ret(libc::SECCOMP_RET_TRACE | RECORDER_TRACE_DATA),
    ]
}

/// A filter that stops (`SECCOMP_RET_TRACE`) only the calls the kernel
/// emulates for the legacy vsyscall page, and allows everything else.
fn vsyscall_filter() -> [libc::sock_filter; 9] {
    use bpf::*;
    let page = VSYSCALL_PAGE.start;
    // Each jump's false branch goes to the last instruction, ALLOW.
    [
        load(ARCH),
        jump_eq(AUDIT_ARCH_X86_64, 0, 6),
        load(IP_HIGH),
        jump_eq((page >> 32) as u32, 0, 4),
        load(IP_LOW),
        stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, !0xfff),
        jump_eq(page as u32, 0, 1),
        ret(libc::SECCOMP_RET_TRACE | RECORDER_TRACE_DATA),
        ret(libc::SECCOMP_RET_ALLOW),
    ]
}

/// Why a traced program could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot pass {what} to the program: it contains a NUL byte")]
    Nul { what: &'static str },
    #[error("cannot execute {path}: {source}")]
    Exec {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tracee(#[from] TraceeError),
}

/// Forks a child that becomes a tracee, disables address-space randomisation
/// (so that record and replay lay memory out identically), and execs `path`.
/// Returns once the child is stopped at the exit of that successful exec, with
/// ptrace options set; nothing before the exec is traced.
pub fn spawn_traced(
    path: &CString,
    argv: &[CString],
    envp: &[CString],
    options: SpawnOptions,
) -> Result<Pid, SpawnError> {
    let mut pipe_fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    if unsafe { libc::pipe2(pipe_fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(TraceeError::Ptrace {
            request: "pipe2",
            pid: 0,
            source: nix::Error::last(),
        }
        .into());
    }
    let [errno_read, errno_write] = pipe_fds;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // The buffer needs its filter, even at the cost of no_new_privs; the
    // vsyscall filter is installed only where it costs the program nothing.
    let (filter, filter_needed) = match options.untraced_syscall_ip {
        Some(ip) => (untraced_ip_filter(ip).to_vec(), true),
        None => (vsyscall_filter().to_vec(), false),
    };
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    let mut cpu_set: libc::cpu_set_t = unsafe_zeroed_cpu_set();
    if let Some(cpu) = options.cpu {
        // SAFETY: CPU_SET writes one bit inside the cpu_set_t it is given.
        unsafe { libc::CPU_SET(cpu, &mut cpu_set) };
    }

    // SAFETY: between fork and exec the child only calls async-signal-safe
    // functions on memory prepared before the fork, then execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(TraceeError::Ptrace {
            request: "fork",
            pid: 0,
            source: nix::Error::last(),
        }
        .into());
    }
    if pid == 0 {
        // SAFETY: see above; every pointer refers to memory owned by this
        // process image, which stays valid until execve replaces it.
        unsafe {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
                libc::_exit(126);
            }
            let current = libc::personality(0xffff_ffff);
            libc::personality(
                (current as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong,
            );
            if options.trap_rdtsc {
                libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV, 0, 0, 0);
            }
            if options.cpu.is_some() {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &cpu_set);
            }
            // Rust's runtime ignores SIGPIPE in this process, and an ignored
            // signal stays ignored across execve: the program must start
            // with the default action, as it would from a shell (Python's
            // subprocess does the same), or a write to a closed pipe
            // returns EPIPE where it should kill.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            // Die with the tracer even before PTRACE_O_EXITKILL is set.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            // The tracer has set PTRACE_O_EXITKILL by now; the program must
            // not find a parent-death signal it never asked for.
            libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
            // After the stop, so that the tracer has asked for seccomp
            // stops: without that, a traced syscall would fail with ENOSYS.
            let install = || {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    &program as *const libc::sock_fprog,
                ) == 0
            };
            // With CAP_SYS_ADMIN the filter needs no no_new_privs, which
            // the program would see (/proc/self/status) and which would
            // cost a setuid program its privileges; the kernel asks for it
            // only from others.
            let installed = install()
                || (filter_needed
                    && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
                    && install());
            if filter_needed && !installed {
                let errno = *libc::__errno_location();
                libc::write(errno_write, (&errno as *const i32).cast(), 4);
                libc::_exit(127);
            }
            libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
            // Tell the parent why; the pipe closes by itself on a successful exec.
            let errno = *libc::__errno_location();
            libc::write(errno_write, (&errno as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copy of the write end, which we own.
    unsafe { libc::close(errno_write) };
    let result = wait_for_exec(pid);
    let mut errno = 0i32;
    // SAFETY: reads at most 4 bytes into `errno`; the fd is ours and closed right after.
    let n = unsafe {
        let n = libc::read(errno_read, (&mut errno as *mut i32).cast(), 4);
        libc::close(errno_read);
        n
    };
    if n == 4 {
        // The child is going, possibly held in its exit stop (which the
        // start-up wait above did not expect); let it go and reap it.
        let _ = ptrace::resume(pid, Resume::Continue, 0);
        let _ = ptrace::wait_for_death(pid);
        return Err(SpawnError::Exec {
            path: path.to_string_lossy().into_owned(),
            source: std::io::Error::from_raw_os_error(errno),
        });
    }
    result?;
    Ok(pid)
}

fn wait_for_exec(pid: Pid) -> Result<(), TraceeError> {
    let unexpected = |stop: WaitResult| TraceeError::Injection {
        pid,
        what: "start of the traced child".into(),
        stop: format!("{stop:?}"),
    };
    match ptrace::wait_for(pid)? {
        WaitResult::Stopped(_, Stop::Signal(libc::SIGSTOP)) => {}
        other => return Err(unexpected(other)),
    }
    ptrace::set_options(pid)?;
    ptrace::resume(pid, Resume::Continue, 0)?;
    loop {
        match ptrace::wait_for(pid)? {
            WaitResult::Stopped(_, Stop::Event { event, .. })
                if event == libc::PTRACE_EVENT_EXEC =>
            {
                break
            }
            WaitResult::Stopped(_, Stop::Signal(sig)) => {
                ptrace::resume(pid, Resume::Continue, sig)?
            }
            // The execve itself, under the filter.
            WaitResult::Stopped(_, Stop::Event { event, .. })
                if event == libc::PTRACE_EVENT_SECCOMP =>
            {
                ptrace::resume(pid, Resume::Continue, 0)?
            }
            other => return Err(unexpected(other)),
        }
    }
    // On to the exec's syscall-exit stop, where the new image is complete.
    ptrace::resume(pid, Resume::Syscall, 0)?;
    match ptrace::wait_for(pid)? {
        WaitResult::Stopped(_, Stop::Syscall) => Ok(()),
        other => Err(unexpected(other)),
    }
}

fn unsafe_zeroed_cpu_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    unsafe { std::mem::zeroed() }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> Result<(), TraceeError> {
    let mut set = unsafe_zeroed_cpu_set();
    // SAFETY: CPU_SET writes one bit inside `set`; sched_setaffinity reads it.
    let rc = unsafe {
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc < 0 {
        return Err(TraceeError::Ptrace {
            request: "sched_setaffinity",
            pid: 0,
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// The CPUs the process could run on when [`avoid_cpu`] was first called
/// (before anything was pinned).
static STARTING_AFFINITY: std::sync::OnceLock<Option<libc::cpu_set_t>> = std::sync::OnceLock::new();

/// Keeps the calling thread, and the threads it starts from now on, off
/// `cpu` (when any other CPU is allowed): background work (compressing,
/// hashing, reading ahead) then runs beside the tracee instead of taking
/// turns with it on the one CPU it is pinned to.
pub fn avoid_cpu(cpu: usize) {
    // From the CPUs the process started with: by a later session of the
    // same replay (reverse execution, restart) this thread is pinned to
    // `cpu`, and the threads it starts would otherwise share it with the
    // tracee.
    let Some(mut set) = starting_affinity_set() else {
        return;
    };
    // SAFETY: CPU_ISSET only reads `set`.
    let others = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| c != cpu && unsafe { libc::CPU_ISSET(c, &set) })
        .count();
    if others == 0 {
        return;
    }
    // SAFETY: CPU_CLR clears one bit inside `set`; sched_setaffinity reads it.
    unsafe {
        libc::CPU_CLR(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn starting_affinity_set() -> Option<libc::cpu_set_t> {
    *STARTING_AFFINITY.get_or_init(|| {
        let mut set = unsafe_zeroed_cpu_set();
        // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
        let rc =
            unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
        (rc == 0).then_some(set)
    })
}

/// The CPUs this process could run on before anything was pinned, as the
/// kernel's `sched_getaffinity` writes them (one bit per CPU, CPU 0 in the
/// lowest bit of the first byte). Call it before pinning anything.
pub fn starting_affinity() -> Option<Vec<u8>> {
    let set = starting_affinity_set()?;
    let mut bytes = vec![0u8; std::mem::size_of::<libc::cpu_set_t>()];
    for cpu in 0..libc::CPU_SETSIZE as usize {
        // SAFETY: CPU_ISSET only reads `set`.
        if unsafe { libc::CPU_ISSET(cpu, &set) } {
            bytes[cpu / 8] |= 1 << (cpu % 8);
        }
    }
    Some(bytes)
}

/// Gives thread `tid` the CPUs the recorder started with; false where it
/// could not.
pub fn set_native_affinity(tid: Pid) -> bool {
    let Some(set) = starting_affinity_set() else {
        return false;
    };
    // SAFETY: `set` is a valid cpu_set_t the kernel only reads.
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Gives thread `tid` the CPUs in `mask` (a `cpu_set_t`'s bytes, possibly
/// fewer); false where the kernel refused.
pub fn set_affinity(tid: Pid, mask: &[u8]) -> bool {
    let mut set = unsafe_zeroed_cpu_set();
    let len = mask.len().min(std::mem::size_of::<libc::cpu_set_t>());
    for cpu in (0..len * 8).filter(|cpu| mask[cpu / 8] & (1 << (cpu % 8)) != 0) {
        // SAFETY: CPU_SET writes one bit inside the cpu_set_t it is given.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t the kernel only reads.
    unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// Whether the calling thread may run on `cpu`.
pub fn cpu_allowed(cpu: usize) -> bool {
    let mut set = unsafe_zeroed_cpu_set();
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    // SAFETY: CPU_ISSET only reads `set`.
    rc == 0 && cpu < libc::CPU_SETSIZE as usize && unsafe { libc::CPU_ISSET(cpu, &set) }
}

/// One of the CPUs the calling thread may run on, chosen by pid so that
/// several recordings at once (a parallel test run) spread over the CPUs.
pub fn choose_cpu() -> usize {
    let mut set = unsafe_zeroed_cpu_set();
    // SAFETY: sched_getaffinity writes at most size_of::<cpu_set_t>() bytes into `set`.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc < 0 {
        return 0;
    }
    // SAFETY: CPU_ISSET only reads `set`.
    let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if allowed.is_empty() {
        return 0;
    }
    allowed[std::process::id() as usize % allowed.len()]
}

/// What record and replay both do to start their program: pin this thread
/// and the child to `cpu` (from [`choose_cpu`], so parallel runs spread
/// out), make rdtsc trap, and run `path` with `argv` and `env` to the exit
/// of its exec.
pub fn spawn_pinned(
    path: &std::path::Path,
    argv: &[String],
    env: &[(String, String)],
    untraced_syscall_ip: Option<u64>,
    cpu: usize,
) -> Result<Pid, SpawnError> {
    use std::os::unix::ffi::OsStrExt;
    let cstr = |bytes: &[u8], what| CString::new(bytes).map_err(|_| SpawnError::Nul { what });
    let path = cstr(path.as_os_str().as_bytes(), "the program path")?;
    let argv = argv
        .iter()
        .map(|a| cstr(a.as_bytes(), "an argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").as_bytes(), "an environment variable"))
        .collect::<Result<Vec<_>, _>>()?;
    pin_current_thread(cpu)?;
    spawn_traced(
        &path,
        &argv,
        &envp,
        SpawnOptions {
            trap_rdtsc: true,
            cpu: Some(cpu),
            untraced_syscall_ip,
        },
    )
}
