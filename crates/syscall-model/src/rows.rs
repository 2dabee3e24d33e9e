//! The syscall table: one row per x86_64 syscall, in number order. Every
//! fact the recorder, replay and the analyses use about a syscall is in its
//! row; see [`crate::row`] for what each builder method means. An irregular
//! syscall names a hook in `writes`, `blocking`, `policy` or `inputs`.
//!
//! Classes are strace's (`%file`, `%desc`, ...). A syscall missing here is
//! unknown to replay, and recording stops at it rather than guess.

use crate::decode::ArgKind::*;
use crate::decode::Struct;
use crate::names;
use crate::outputs::{
    IO_EVENT_SIZE, ITIMER_SIZE, RSEQ_SIZE, RUSAGE_SIZE, STATFS_SIZE, STATX_SIZE, STAT_SIZE,
    TIMESPEC_SIZE, TIMEX_SIZE,
};
use crate::row::Writes::*;
use crate::row::{numbered, row, Activity, At, FdEffect, MaskAt, Sent, Syscall, TaskEffect};
use crate::{blocking, inputs, ioctl, misc, policy, writes, Classes};
use syscalls::Sysno;

const NONE: u16 = 0;
const FILE: u16 = Classes::FILE.bits();
const DESC: u16 = Classes::DESC.bits();
const NETWORK: u16 = Classes::NETWORK.bits();
const PROCESS: u16 = Classes::PROCESS.bits();
const SIGNAL: u16 = Classes::SIGNAL.bits();
const MEMORY: u16 = Classes::MEMORY.bits();
const IPC: u16 = Classes::IPC.bits();
const CREDS: u16 = Classes::CREDS.bits();
const CLOCK: u16 = Classes::CLOCK.bits();
const STAT: u16 = Classes::STAT.bits();

/// Every x86_64 syscall replay knows, sorted by number.
#[rustfmt::skip]
pub(crate) static ROWS: &[Syscall] = &[
    row(Sysno::read, DESC).args(&[Fd, Buf(2), Size]).blocks().writes(Returned { buf: 1, cap: 2 }).does(Activity::Read),
    row(Sysno::write, DESC).args(&[Fd, Buf(2), Size]).blocks().reads(inputs::sent_buffer).writes_to_fd(0, Sent::Buffer(1), None).does(Activity::Write),
    row(Sysno::open, DESC | FILE).args(&[Path, OpenFlags, Mode]).blocks().returns_fd().does(Activity::Open),
    row(Sysno::close, DESC).args(&[Fd]).fd_effect(FdEffect::Closes),
    row(Sysno::stat, FILE | STAT).args(&[Path, StructOut(Struct::Stat)]).writes(OnSuccess(&[At(1, STAT_SIZE)])).does(Activity::Inspect),
    row(Sysno::fstat, STAT | DESC).args(&[Fd, StructOut(Struct::Stat)]).writes(OnSuccess(&[At(1, STAT_SIZE)])).does(Activity::Inspect),
    row(Sysno::lstat, FILE | STAT).args(&[Path, StructOut(Struct::Stat)]).writes(OnSuccess(&[At(1, STAT_SIZE)])).does(Activity::Inspect),
    row(Sysno::poll, DESC).args(&[PollFds, UInt, Int]).blocks_when(blocking::poll).writes(Hook(writes::poll)).reads(inputs::poll).restarts_through_block(),
    row(Sysno::lseek, DESC).args(&[Fd, Offset, Whence]),
    row(Sysno::mmap, DESC | MEMORY).args(&[Ptr, Size, MmapProt, MmapFlags, Fd, Offset]).executed().changes_mappings().returns_address().does(Activity::Map),
    row(Sysno::mprotect, MEMORY).args(&[Ptr, Size, MmapProt]).executed().changes_mappings(),
    row(Sysno::munmap, MEMORY).args(&[Ptr, Size]).executed().changes_mappings(),
    row(Sysno::brk, MEMORY).args(&[Ptr]).executed().changes_mappings().returns_address(),
    row(Sysno::rt_sigaction, SIGNAL).args(&[Signal, StructIn(Struct::Sigaction), StructOut(Struct::Sigaction), Size]).executed().writes(Hook(writes::rt_sigaction)).reads(inputs::rt_sigaction),
    row(Sysno::rt_sigprocmask, SIGNAL).args(&[Named(names::SIGPROCMASK_HOW), StructIn(Struct::Sigset), StructOut(Struct::Sigset), Size]).executed().writes(Hook(writes::rt_sigprocmask)).reads(inputs::rt_sigprocmask),
    row(Sysno::rt_sigreturn, SIGNAL).executed().returns_restored(),
    row(Sysno::ioctl, DESC).args(&[Fd, IoctlRequest, Hex]).blocks_when(blocking::ioctl).writes(Hook(ioctl::outputs)),
    row(Sysno::pread64, DESC).args(&[Fd, Buf(2), Size, Offset]).writes(Returned { buf: 1, cap: 2 }).does(Activity::Read),
    row(Sysno::pwrite64, DESC).args(&[Fd, Buf(2), Size, Offset]).reads(inputs::sent_buffer).writes_to_fd(0, Sent::Buffer(1), Some(3)).does(Activity::Write),
    row(Sysno::readv, DESC).args(&[Fd, IovecsOut(2), Int]).blocks().writes(Hook(writes::readv)).reads(inputs::readv).layout_in_memory().does(Activity::Read),
    row(Sysno::writev, DESC).args(&[Fd, IovecsIn(2), Int]).blocks().writes_to_fd(0, Sent::Iovecs(1, 2), None).does(Activity::Write),
    row(Sysno::access, FILE).args(&[Path, Mode]).does(Activity::Inspect),
    row(Sysno::pipe, DESC).args(&[StructOut(Struct::IntPair)]).writes(OnSuccess(&[At(0, 8)])).fd_effect(FdEffect::Pair(0)),
    row(Sysno::select, DESC).args(&[Int, Ptr, Ptr, Ptr, Ptr]).blocks().writes(Hook(writes::select)),
    row(Sysno::sched_yield, NONE),
    row(Sysno::mremap, MEMORY).args(&[Ptr, Size, Size, Hex, Ptr]).executed().changes_mappings().returns_address(),
    row(Sysno::msync, MEMORY).args(&[Ptr, Size, Hex]).executed(),
    row(Sysno::mincore, MEMORY).args(&[Ptr, Size, Ptr]).writes(Hook(writes::mincore)),
    row(Sysno::madvise, MEMORY).args(&[Ptr, Size, Named(names::MADVISE)]).executed().changes_mappings(),
    row(Sysno::shmget, IPC).args(&[Hex, Size, Hex]),
    row(Sysno::shmat, MEMORY | IPC).args(&[Int, Ptr, Hex]).executed().changes_mappings().returns_address(),
    row(Sysno::shmctl, IPC).writes(Hook(misc::shmctl)),
    row(Sysno::dup, DESC).args(&[Fd]).returns_fd().fd_effect(FdEffect::Duplicates),
    row(Sysno::dup2, DESC).args(&[Fd, Fd]).returns_fd().fd_effect(FdEffect::Duplicates),
    row(Sysno::pause, SIGNAL).blocks(),
    row(Sysno::nanosleep, NONE).args(&[StructIn(Struct::Timespec), StructOut(Struct::Timespec)]).blocks().writes(Hook(writes::nanosleep)).reads(inputs::nanosleep).restarts_through_block(),
    row(Sysno::getitimer, NONE).args(&[Int, Ptr]).writes(OnSuccess(&[At(1, ITIMER_SIZE)])),
    row(Sysno::alarm, NONE).args(&[UInt]),
    row(Sysno::setitimer, NONE).args(&[Int, Ptr, Ptr]).writes(OnSuccess(&[At(2, ITIMER_SIZE)])).reads(inputs::setitimer),
    row(Sysno::getpid, NONE),
    row(Sysno::sendfile, DESC | NETWORK).args(&[Fd, Fd, Ptr, Size]).blocks().writes(OnSuccess(&[At(2, 8)])),
    row(Sysno::socket, NETWORK).args(&[Named(names::AF), Hex, Int]).returns_fd(),
    row(Sysno::connect, NETWORK).args(&[Fd, PeerAddr(2), UInt]).blocks().does(Activity::Connect),
    row(Sysno::accept, NETWORK).args(&[Fd, PeerAddrOut, LenOut]).blocks().writes(Hook(writes::accept)).returns_fd().does(Activity::Accept),
    row(Sysno::sendto, NETWORK).args(&[Fd, Buf(2), Size, Hex, PeerAddr(5), UInt]).blocks_when(blocking::without_dontwait).reads(inputs::sent_buffer).does(Activity::Send),
    row(Sysno::recvfrom, NETWORK).args(&[Fd, Buf(2), Size, Hex, PeerAddrOut, LenOut]).blocks_when(blocking::without_dontwait).writes(Hook(writes::recvfrom)).does(Activity::Receive),
    row(Sysno::sendmsg, NETWORK).args(&[Fd, Ptr, Hex]).blocks_when(blocking::without_dontwait).reads(inputs::sendmsg).does(Activity::Send),
    row(Sysno::recvmsg, NETWORK).args(&[Fd, Ptr, Hex]).blocks_when(blocking::without_dontwait).writes(Hook(writes::recvmsg)).layout_in_memory().does(Activity::Receive),
    row(Sysno::shutdown, NETWORK).args(&[Fd, Int]),
    row(Sysno::bind, NETWORK).args(&[Fd, LocalAddr(2), UInt]).does(Activity::Bind),
    row(Sysno::listen, NETWORK).args(&[Fd, Int]).does(Activity::Listen),
    row(Sysno::getsockname, NETWORK).args(&[Fd, LocalAddrOut, LenOut]).writes(Hook(writes::accept)).does(Activity::Inspect),
    row(Sysno::getpeername, NETWORK).args(&[Fd, PeerAddrOut, LenOut]).writes(Hook(writes::accept)).does(Activity::Inspect),
    row(Sysno::socketpair, NETWORK).args(&[Named(names::AF), Hex, Int, StructOut(Struct::IntPair)]).writes(OnSuccess(&[At(3, 8)])).fd_effect(FdEffect::Pair(3)),
    row(Sysno::setsockopt, NETWORK).args(&[Fd, Int, Int, Ptr, UInt]).reads(inputs::setsockopt),
    row(Sysno::getsockopt, NETWORK).args(&[Fd, Int, Int, Ptr, Ptr]).writes(Hook(writes::getsockopt)),
    row(Sysno::clone, PROCESS).args(&[CloneFlags, Ptr, Ptr, Ptr, Hex]).executed().creates_task().blocks_when(blocking::clone).writes(Hook(writes::clone)).returns_tid(),
    row(Sysno::fork, PROCESS).executed().creates_task().returns_tid(),
    row(Sysno::vfork, PROCESS).executed().creates_task().blocks().returns_tid(),
    row(Sysno::execve, FILE | PROCESS).args(&[Path, Ptr, Ptr]).executed().execs().reads(inputs::execve).does(Activity::Exec),
    row(Sysno::exit, PROCESS).args(&[Int]).executed().ends_thread(),
    row(Sysno::wait4, PROCESS).args(&[Pid, StructOut(Struct::WaitStatus), Hex, Ptr]).blocks_when(blocking::wait4).writes(Hook(writes::wait4)),
    row(Sysno::kill, PROCESS | SIGNAL).args(&[Pid, Signal]),
    row(Sysno::uname, NONE).args(&[StructOut(Struct::Utsname)]).writes(OnSuccess(&[At(0, 390)])),
    row(Sysno::semget, IPC),
    row(Sysno::semop, IPC).blocks(),
    row(Sysno::semctl, IPC).writes(Hook(misc::semctl)),
    row(Sysno::shmdt, MEMORY | IPC).args(&[Ptr]).executed().changes_mappings(),
    row(Sysno::msgget, IPC),
    row(Sysno::msgsnd, IPC).blocks_when(blocking::msgsnd),
    row(Sysno::msgrcv, IPC).blocks_when(blocking::msgrcv).writes(Hook(writes::msgrcv)),
    row(Sysno::msgctl, IPC).writes(Hook(misc::msgctl)),
    row(Sysno::fcntl, DESC).args(&[Fd, FcntlCmd, Hex]).blocks_when(blocking::fcntl).writes(Hook(misc::fcntl)).fd_effect(FdEffect::DuplicatesWhen(misc::fcntl_duplicates)),
    row(Sysno::flock, DESC).args(&[Fd, Flags(names::FLOCK_OPS)]).blocks_when(blocking::flock),
    row(Sysno::fsync, DESC).args(&[Fd]),
    row(Sysno::fdatasync, DESC).args(&[Fd]),
    row(Sysno::truncate, FILE).args(&[Path, Offset]).does(Activity::Write),
    row(Sysno::ftruncate, DESC).args(&[Fd, Offset]).does(Activity::Write),
    row(Sysno::getdents, DESC).args(&[Fd, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }).does(Activity::List),
    row(Sysno::getcwd, FILE).args(&[Ptr, Size]).writes(Returned { buf: 0, cap: 1 }),
    row(Sysno::chdir, FILE).args(&[Path]),
    row(Sysno::fchdir, DESC).args(&[Fd]),
    row(Sysno::rename, FILE).args(&[Path, Path]).does(Activity::Rename),
    row(Sysno::mkdir, FILE).args(&[Path, Mode]).does(Activity::MakeDir),
    row(Sysno::rmdir, FILE).args(&[Path]).does(Activity::Remove),
    row(Sysno::creat, DESC | FILE).args(&[Path, Mode]).blocks().returns_fd().does(Activity::Open),
    row(Sysno::link, FILE).args(&[Path, Path]),
    row(Sysno::unlink, FILE).args(&[Path]).does(Activity::Remove),
    row(Sysno::symlink, FILE).args(&[Path, Path]),
    row(Sysno::readlink, FILE).args(&[Path, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }).does(Activity::Inspect),
    row(Sysno::chmod, FILE).args(&[Path, Mode]).does(Activity::ChangeAttributes),
    row(Sysno::fchmod, DESC).args(&[Fd, Mode]).does(Activity::ChangeAttributes),
    row(Sysno::chown, FILE).args(&[Path, Int, Int]).does(Activity::ChangeAttributes),
    row(Sysno::fchown, DESC).args(&[Fd, Int, Int]).does(Activity::ChangeAttributes),
    row(Sysno::lchown, FILE).args(&[Path, Int, Int]).does(Activity::ChangeAttributes),
    row(Sysno::umask, NONE).args(&[Mode]),
    row(Sysno::gettimeofday, CLOCK).args(&[StructOut(Struct::Timeval), Ptr]).writes(OnSuccess(&[At(0, TIMESPEC_SIZE), At(1, 8)])),
    row(Sysno::getrlimit, NONE).args(&[Named(names::RLIMITS), StructOut(Struct::Rlimit)]).writes(OnSuccess(&[At(1, 16)])),
    row(Sysno::getrusage, NONE).args(&[Int, Ptr]).writes(OnSuccess(&[At(1, RUSAGE_SIZE)])),
    row(Sysno::sysinfo, NONE).args(&[Ptr]).writes(OnSuccess(&[At(0, 112)])),
    row(Sysno::times, NONE).args(&[Ptr]).writes(OnSuccess(&[At(0, 32)])),
    row(Sysno::ptrace, NONE).writes(Refused("a traced process cannot trace others under replay")).does(Activity::ReachIntoProcess),
    row(Sysno::getuid, CREDS),
    row(Sysno::syslog, NONE).blocks_when(blocking::syslog).writes(Hook(misc::syslog)),
    row(Sysno::getgid, CREDS),
    row(Sysno::setuid, CREDS).args(&[Int]).does(Activity::ChangeCredentials),
    row(Sysno::setgid, CREDS).args(&[Int]).does(Activity::ChangeCredentials),
    row(Sysno::geteuid, CREDS),
    row(Sysno::getegid, CREDS),
    row(Sysno::setpgid, NONE).args(&[Pid, Pid]),
    row(Sysno::getppid, NONE),
    row(Sysno::getpgrp, NONE),
    row(Sysno::setsid, NONE),
    row(Sysno::setreuid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::setregid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::getgroups, CREDS).args(&[Int, Ptr]).writes(Hook(writes::getgroups)),
    row(Sysno::setgroups, CREDS).args(&[Int, Ptr]).does(Activity::ChangeCredentials),
    row(Sysno::setresuid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::getresuid, CREDS).args(&[Ptr, Ptr, Ptr]).writes(OnSuccess(&[At(0, 4), At(1, 4), At(2, 4)])),
    row(Sysno::setresgid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::getresgid, CREDS).args(&[Ptr, Ptr, Ptr]).writes(OnSuccess(&[At(0, 4), At(1, 4), At(2, 4)])),
    row(Sysno::getpgid, NONE).args(&[Pid]),
    row(Sysno::setfsuid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::setfsgid, CREDS).does(Activity::ChangeCredentials),
    row(Sysno::getsid, NONE).args(&[Pid]),
    row(Sysno::capget, CREDS).args(&[Ptr, Ptr]).writes(Hook(misc::capget)).reads(inputs::capget),
    row(Sysno::capset, CREDS).args(&[Ptr, Ptr]).reads(inputs::capset).does(Activity::ChangeCredentials),
    row(Sysno::rt_sigpending, SIGNAL).args(&[Ptr, Size]).writes(Hook(writes::rt_sigpending)),
    row(Sysno::rt_sigtimedwait, SIGNAL).args(&[Ptr, Ptr, Ptr, Size]).blocks().writes(Hook(writes::rt_sigtimedwait)),
    row(Sysno::rt_sigqueueinfo, PROCESS | SIGNAL),
    row(Sysno::rt_sigsuspend, SIGNAL).args(&[Ptr, Size]).blocks().temporary_mask(MaskAt::Arg(0)),
    row(Sysno::sigaltstack, SIGNAL).args(&[StructIn(Struct::StackT), StructOut(Struct::StackT)]).executed().writes(OnSuccess(&[At(1, 24)])).reads(inputs::sigaltstack),
    row(Sysno::utime, FILE),
    row(Sysno::mknod, FILE),
    row(Sysno::uselib, FILE).writes(NotImplemented),
    row(Sysno::personality, NONE).executed_when(policy::personality),
    row(Sysno::ustat, NONE).writes(OnSuccess(&[At(1, 32)])),
    row(Sysno::statfs, FILE).args(&[Path, StructOut(Struct::Statfs)]).writes(OnSuccess(&[At(1, STATFS_SIZE)])).does(Activity::Inspect),
    row(Sysno::fstatfs, DESC).args(&[Fd, StructOut(Struct::Statfs)]).writes(OnSuccess(&[At(1, STATFS_SIZE)])),
    row(Sysno::sysfs, NONE).writes(Hook(misc::sysfs)),
    row(Sysno::getpriority, NONE),
    row(Sysno::setpriority, NONE),
    row(Sysno::sched_setparam, NONE),
    row(Sysno::sched_getparam, NONE).writes(OnSuccess(&[At(1, 4)])),
    row(Sysno::sched_setscheduler, NONE),
    row(Sysno::sched_getscheduler, NONE),
    row(Sysno::sched_get_priority_max, NONE),
    row(Sysno::sched_get_priority_min, NONE),
    row(Sysno::sched_rr_get_interval, NONE).writes(OnSuccess(&[At(1, TIMESPEC_SIZE)])),
    row(Sysno::mlock, MEMORY).executed(),
    row(Sysno::munlock, MEMORY).executed(),
    row(Sysno::mlockall, MEMORY).executed(),
    row(Sysno::munlockall, MEMORY).executed(),
    row(Sysno::vhangup, NONE),
    row(Sysno::modify_ldt, NONE).executed().writes(Hook(misc::modify_ldt)),
    row(Sysno::pivot_root, FILE),
    row(Sysno::_sysctl, NONE).writes(NotImplemented),
    row(Sysno::prctl, CREDS).args(&[PrctlOption, Hex, Hex, Hex, Hex]).executed_when(policy::prctl).writes(Hook(misc::prctl)).reads(inputs::prctl),
    row(Sysno::arch_prctl, NONE).args(&[Named(names::ARCH_PRCTL), Hex]).executed_when(policy::arch_prctl).writes(Hook(misc::arch_prctl)),
    row(Sysno::adjtimex, CLOCK).writes(OnSuccess(&[At(0, TIMEX_SIZE)])),
    row(Sysno::setrlimit, NONE).args(&[Named(names::RLIMITS), StructIn(Struct::Rlimit)]).executed_when(policy::setrlimit).reads(inputs::setrlimit),
    row(Sysno::chroot, FILE).args(&[Path]),
    row(Sysno::sync, NONE),
    row(Sysno::acct, FILE),
    row(Sysno::settimeofday, CLOCK),
    row(Sysno::mount, FILE),
    row(Sysno::umount2, FILE),
    row(Sysno::swapon, FILE),
    row(Sysno::swapoff, FILE),
    row(Sysno::reboot, NONE).writes(Refused("it replaces or stops the running kernel")),
    row(Sysno::sethostname, NONE),
    row(Sysno::setdomainname, NONE),
    row(Sysno::iopl, NONE).writes(Refused("it changes the I/O privilege of the process")),
    row(Sysno::ioperm, NONE).writes(Refused("it changes the I/O privilege of the process")),
    row(Sysno::create_module, NONE).writes(NotImplemented),
    row(Sysno::init_module, NONE),
    row(Sysno::delete_module, NONE),
    row(Sysno::get_kernel_syms, NONE).writes(NotImplemented),
    row(Sysno::query_module, NONE).writes(NotImplemented),
    row(Sysno::quotactl, FILE).writes(Refused("its sub-commands are not modelled")),
    row(Sysno::nfsservctl, NONE).writes(NotImplemented),
    row(Sysno::getpmsg, NONE).writes(NotImplemented),
    row(Sysno::putpmsg, NONE).writes(NotImplemented),
    row(Sysno::afs_syscall, NONE).writes(NotImplemented),
    row(Sysno::tuxcall, NONE).writes(NotImplemented),
    row(Sysno::security, NONE).writes(NotImplemented),
    row(Sysno::gettid, NONE),
    row(Sysno::readahead, DESC),
    row(Sysno::setxattr, FILE),
    row(Sysno::lsetxattr, FILE),
    row(Sysno::fsetxattr, DESC),
    row(Sysno::getxattr, FILE).args(&[Path, Str, Ptr, Size]).writes(Returned { buf: 2, cap: 3 }),
    row(Sysno::lgetxattr, FILE).args(&[Path, Str, Ptr, Size]).writes(Returned { buf: 2, cap: 3 }),
    row(Sysno::fgetxattr, DESC).args(&[Fd, Str, Ptr, Size]).writes(Returned { buf: 2, cap: 3 }),
    row(Sysno::listxattr, FILE).args(&[Path, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }),
    row(Sysno::llistxattr, FILE).args(&[Path, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }),
    row(Sysno::flistxattr, DESC).args(&[Fd, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }),
    row(Sysno::removexattr, FILE),
    row(Sysno::lremovexattr, FILE),
    row(Sysno::fremovexattr, DESC),
    row(Sysno::tkill, PROCESS | SIGNAL).args(&[Pid, Signal]),
    row(Sysno::time, CLOCK).args(&[Ptr]).writes(OnSuccess(&[At(0, 8)])),
    row(Sysno::futex, NONE).args(&[Ptr, FutexOp, Int, Ptr, Ptr, Int]).blocks_when(blocking::futex).writes(Hook(misc::futex)).restarts_through_block(),
    row(Sysno::sched_setaffinity, NONE).args(&[Pid, Size, Ptr]),
    row(Sysno::sched_getaffinity, NONE).args(&[Pid, Size, Ptr]).writes(Returned { buf: 2, cap: 1 }),
    // Stores the chosen GDT slot in u_info->entry_number.
    row(Sysno::set_thread_area, NONE).executed().writes(OnSuccess(&[At(0, 4)])),
    row(Sysno::io_setup, MEMORY).args(&[UInt, Ptr]).writes(Absent("Linux AIO maps a completion ring that the kernel writes asynchronously")),
    row(Sysno::io_destroy, MEMORY),
    row(Sysno::io_getevents, NONE).blocks().writes(Hook(writes::io_getevents)),
    row(Sysno::io_submit, NONE),
    row(Sysno::io_cancel, NONE).writes(OnSuccess(&[At(2, IO_EVENT_SIZE)])),
    row(Sysno::get_thread_area, NONE).writes(OnSuccess(&[At(0, 16)])),
    row(Sysno::lookup_dcookie, NONE).writes(NotImplemented),
    row(Sysno::epoll_create, DESC).args(&[Int]).returns_fd(),
    row(Sysno::epoll_ctl_old, DESC).writes(NotImplemented),
    row(Sysno::epoll_wait_old, DESC).writes(NotImplemented),
    row(Sysno::remap_file_pages, MEMORY).executed(),
    row(Sysno::getdents64, DESC).args(&[Fd, Ptr, Size]).writes(Returned { buf: 1, cap: 2 }).does(Activity::List),
    row(Sysno::set_tid_address, NONE).args(&[Ptr]).executed().returns_tid(),
    row(Sysno::restart_syscall, NONE).blocks().writes(Refused("the recorder must model it as the interrupted syscall it restarts (see syscall_model::uses_restart_block)")),
    row(Sysno::semtimedop, IPC).blocks(),
    row(Sysno::fadvise64, DESC).args(&[Fd, Offset, Size, Named(names::FADVISE)]),
    row(Sysno::timer_create, NONE).writes(OnSuccess(&[At(2, 4)])),
    row(Sysno::timer_settime, NONE).writes(OnSuccess(&[At(3, ITIMER_SIZE)])).reads(inputs::timer_settime),
    row(Sysno::timer_gettime, NONE).writes(OnSuccess(&[At(1, ITIMER_SIZE)])),
    row(Sysno::timer_getoverrun, NONE),
    row(Sysno::timer_delete, NONE),
    row(Sysno::clock_settime, CLOCK),
    row(Sysno::clock_gettime, CLOCK).args(&[ClockId, StructOut(Struct::Timespec)]).writes(OnSuccess(&[At(1, TIMESPEC_SIZE)])),
    row(Sysno::clock_getres, CLOCK).args(&[ClockId, StructOut(Struct::Timespec)]).writes(OnSuccess(&[At(1, TIMESPEC_SIZE)])),
    row(Sysno::clock_nanosleep, NONE).args(&[ClockId, Hex, StructIn(Struct::Timespec), StructOut(Struct::Timespec)]).blocks().writes(Hook(writes::clock_nanosleep)).reads(inputs::clock_nanosleep).restarts_through_block(),
    row(Sysno::exit_group, PROCESS).args(&[Int]).executed().ends_process(),
    row(Sysno::epoll_wait, DESC).args(&[Fd, Ptr, Int, Int]).blocks_when(blocking::epoll_wait).writes(Hook(writes::epoll_wait)),
    row(Sysno::epoll_ctl, DESC).args(&[Fd, Named(names::EPOLL_CTL_OPS), Fd, StructIn(Struct::EpollEvent)]).reads(inputs::epoll_ctl),
    row(Sysno::tgkill, PROCESS | SIGNAL).args(&[Pid, Pid, Signal]),
    row(Sysno::utimes, FILE),
    row(Sysno::vserver, NONE).writes(NotImplemented),
    row(Sysno::mbind, MEMORY),
    row(Sysno::set_mempolicy, MEMORY),
    row(Sysno::get_mempolicy, MEMORY).writes(Hook(writes::get_mempolicy)),
    row(Sysno::mq_open, DESC).returns_fd(),
    row(Sysno::mq_unlink, NONE),
    row(Sysno::mq_timedsend, DESC).blocks(),
    row(Sysno::mq_timedreceive, DESC).blocks().writes(Hook(writes::mq_timedreceive)),
    row(Sysno::mq_notify, DESC),
    row(Sysno::mq_getsetattr, DESC).writes(OnSuccess(&[At(2, 64)])),
    row(Sysno::kexec_load, NONE).writes(Refused("it replaces or stops the running kernel")),
    row(Sysno::waitid, PROCESS).args(&[Int, Pid, Ptr, Hex, Ptr]).blocks_when(blocking::waitid).writes(Hook(writes::waitid)),
    row(Sysno::add_key, NONE),
    row(Sysno::request_key, NONE),
    row(Sysno::keyctl, NONE).writes(Hook(misc::keyctl)),
    row(Sysno::ioprio_set, NONE),
    row(Sysno::ioprio_get, NONE),
    row(Sysno::inotify_init, DESC).returns_fd(),
    row(Sysno::inotify_add_watch, DESC | FILE).args(&[Fd, Path, Hex]),
    row(Sysno::inotify_rm_watch, DESC),
    row(Sysno::migrate_pages, MEMORY),
    row(Sysno::openat, DESC | FILE).args(&[DirFd, Path, OpenFlags, Mode]).blocks().returns_fd().does(Activity::Open),
    row(Sysno::mkdirat, DESC | FILE).args(&[DirFd, Path, Mode]).does(Activity::MakeDir),
    row(Sysno::mknodat, DESC | FILE),
    row(Sysno::fchownat, DESC | FILE).args(&[DirFd, Path, Int, Int, AtFlags]).does(Activity::ChangeAttributes),
    row(Sysno::futimesat, DESC | FILE),
    row(Sysno::newfstatat, DESC | FILE | STAT).args(&[DirFd, Path, StructOut(Struct::Stat), AtFlags]).writes(OnSuccess(&[At(2, STAT_SIZE)])).does(Activity::Inspect),
    row(Sysno::unlinkat, DESC | FILE).args(&[DirFd, Path, AtFlags]).does(Activity::Remove),
    row(Sysno::renameat, DESC | FILE).args(&[DirFd, Path, DirFd, Path]).does(Activity::Rename),
    row(Sysno::linkat, DESC | FILE).args(&[DirFd, Path, DirFd, Path, AtFlags]),
    row(Sysno::symlinkat, DESC | FILE).args(&[Path, DirFd, Path]),
    row(Sysno::readlinkat, DESC | FILE).args(&[DirFd, Path, Ptr, Size]).writes(Returned { buf: 2, cap: 3 }).does(Activity::Inspect),
    row(Sysno::fchmodat, DESC | FILE).args(&[DirFd, Path, Mode]).does(Activity::ChangeAttributes),
    row(Sysno::faccessat, DESC | FILE).args(&[DirFd, Path, Mode]).does(Activity::Inspect),
    row(Sysno::pselect6, DESC).args(&[Int, Ptr, Ptr, Ptr, Ptr, Ptr]).blocks().writes(Hook(writes::select)).temporary_mask(MaskAt::Behind(5)),
    row(Sysno::ppoll, DESC).args(&[PollFds, UInt, Ptr, Ptr, Size]).blocks().writes(Hook(writes::ppoll)).reads(inputs::poll).temporary_mask(MaskAt::Arg(3)),
    row(Sysno::unshare, PROCESS),
    row(Sysno::set_robust_list, NONE).args(&[Ptr, Size]).executed(),
    row(Sysno::get_robust_list, NONE).args(&[Pid, Ptr, Ptr]).writes(OnSuccess(&[At(1, 8), At(2, 8)])),
    row(Sysno::splice, DESC).args(&[Fd, Ptr, Fd, Ptr, Size, Hex]).blocks().writes(OnSuccess(&[At(1, 8), At(3, 8)])),
    row(Sysno::tee, DESC).blocks(),
    row(Sysno::sync_file_range, DESC),
    row(Sysno::vmsplice, DESC).blocks().writes(Hook(writes::readv)).writes_to_fd(0, Sent::Iovecs(1, 2), None).layout_in_memory(),
    row(Sysno::move_pages, MEMORY).writes(Hook(writes::move_pages)),
    row(Sysno::utimensat, DESC | FILE).args(&[DirFd, Path, Ptr, AtFlags]),
    row(Sysno::epoll_pwait, DESC).args(&[Fd, Ptr, Int, Int, Ptr, Size]).blocks_when(blocking::epoll_wait).writes(Hook(writes::epoll_wait)).temporary_mask(MaskAt::Arg(4)),
    row(Sysno::signalfd, DESC | SIGNAL).returns_fd(),
    row(Sysno::timerfd_create, DESC).args(&[ClockId, OpenFlags]).returns_fd(),
    row(Sysno::eventfd, DESC).returns_fd(),
    row(Sysno::fallocate, DESC).args(&[Fd, Hex, Offset, Offset]),
    row(Sysno::timerfd_settime, DESC).writes(OnSuccess(&[At(3, ITIMER_SIZE)])).reads(inputs::timer_settime),
    row(Sysno::timerfd_gettime, DESC).writes(OnSuccess(&[At(1, ITIMER_SIZE)])),
    row(Sysno::accept4, NETWORK).args(&[Fd, PeerAddrOut, LenOut, Hex]).blocks().writes(Hook(writes::accept)).returns_fd().does(Activity::Accept),
    row(Sysno::signalfd4, DESC | SIGNAL).args(&[Fd, Ptr, Size, NewFdFlags(names::SIGNALFD_FLAGS)]).returns_fd(),
    row(Sysno::eventfd2, DESC).args(&[UInt, NewFdFlags(names::EVENTFD_FLAGS)]).returns_fd(),
    row(Sysno::epoll_create1, DESC).args(&[NewFdFlags(names::EPOLL_CREATE_FLAGS)]).returns_fd(),
    row(Sysno::dup3, DESC).args(&[Fd, Fd, NewFdFlags(names::OPEN_FLAGS)]).returns_fd().fd_effect(FdEffect::Duplicates),
    row(Sysno::pipe2, DESC).args(&[StructOut(Struct::IntPair), NewFdFlags(names::OPEN_FLAGS)]).writes(OnSuccess(&[At(0, 8)])).fd_effect(FdEffect::Pair(0)),
    row(Sysno::inotify_init1, DESC).args(&[NewFdFlags(names::INOTIFY_INIT_FLAGS)]).returns_fd(),
    row(Sysno::preadv, DESC).args(&[Fd, IovecsOut(2), Int, Offset]).writes(Hook(writes::readv)).reads(inputs::readv).layout_in_memory().does(Activity::Read),
    row(Sysno::pwritev, DESC).args(&[Fd, IovecsIn(2), Int, Offset]).writes_to_fd(0, Sent::Iovecs(1, 2), Some(3)).does(Activity::Write),
    row(Sysno::rt_tgsigqueueinfo, PROCESS | SIGNAL),
    row(Sysno::perf_event_open, DESC).args(&[Ptr, Pid, Int, Fd, Hex]).writes(Absent("performance counters and their ring buffers are not deterministic")).returns_fd(),
    row(Sysno::recvmmsg, NETWORK).args(&[Fd, Ptr, UInt, Hex, Ptr]).blocks_when(blocking::without_dontwait).writes(Hook(writes::recvmmsg)).layout_in_memory(),
    row(Sysno::fanotify_init, DESC).returns_fd(),
    row(Sysno::fanotify_mark, DESC | FILE),
    row(Sysno::prlimit64, NONE).args(&[Pid, Named(names::RLIMITS), StructIn(Struct::Rlimit), StructOut(Struct::Rlimit)]).executed_when(policy::prlimit64).writes(OnSuccess(&[At(3, 16)])).reads(inputs::prlimit64),
    row(Sysno::name_to_handle_at, DESC | FILE).writes(Hook(misc::name_to_handle_at)),
    row(Sysno::open_by_handle_at, DESC).returns_fd(),
    row(Sysno::clock_adjtime, CLOCK).writes(OnSuccess(&[At(1, TIMEX_SIZE)])),
    row(Sysno::syncfs, DESC).args(&[Fd]),
    row(Sysno::sendmmsg, NETWORK).args(&[Fd, Ptr, UInt, Hex]).blocks_when(blocking::without_dontwait).writes(Hook(writes::sendmmsg)),
    row(Sysno::setns, DESC),
    row(Sysno::getcpu, NONE).args(&[Ptr, Ptr, Ptr]).writes(OnSuccess(&[At(0, 4), At(1, 4)])),
    row(Sysno::process_vm_readv, NONE).writes(Hook(writes::process_vm_readv)).layout_in_memory().does(Activity::ReachIntoProcess),
    // Writes the target's memory, which the recorder logs as the target's
    // kernel write (record/src/proc_mem.rs); nothing of the caller's.
    row(Sysno::process_vm_writev, NONE).does(Activity::ReachIntoProcess),
    row(Sysno::kcmp, NONE),
    row(Sysno::finit_module, DESC),
    row(Sysno::sched_setattr, NONE).writes(Hook(writes::sched_setattr)),
    row(Sysno::sched_getattr, NONE).writes(Hook(writes::sched_getattr)),
    row(Sysno::renameat2, DESC | FILE).args(&[DirFd, Path, DirFd, Path, Hex]).does(Activity::Rename),
    row(Sysno::seccomp, NONE).writes(Hook(misc::seccomp)),
    row(Sysno::getrandom, NONE).args(&[Ptr, Size, Flags(names::GRND)]).writes(Returned { buf: 0, cap: 1 }),
    row(Sysno::memfd_create, DESC).args(&[Str, Hex]).returns_fd(),
    row(Sysno::kexec_file_load, DESC).writes(Refused("it replaces or stops the running kernel")),
    row(Sysno::bpf, DESC).args(&[Int, Ptr, UInt]).writes(Absent("BPF objects live in the kernel")),
    row(Sysno::execveat, DESC | FILE | PROCESS).args(&[DirFd, Path, Ptr, Ptr, AtFlags]).executed().execs().reads(inputs::execveat).does(Activity::Exec),
    row(Sysno::userfaultfd, DESC).args(&[Hex]).writes(Absent("page faults would be served by another thread")).returns_fd(),
    row(Sysno::membarrier, NONE),
    row(Sysno::mlock2, MEMORY).executed(),
    row(Sysno::copy_file_range, DESC).args(&[Fd, Ptr, Fd, Ptr, Size, Hex]).writes(Hook(writes::copy_file_range)),
    row(Sysno::preadv2, DESC).args(&[Fd, IovecsOut(2), Int, Offset, Hex]).writes(Hook(writes::readv)).reads(inputs::readv).layout_in_memory().does(Activity::Read),
    row(Sysno::pwritev2, DESC).args(&[Fd, IovecsIn(2), Int, Offset, Hex]).writes_to_fd(0, Sent::Iovecs(1, 2), Some(3)).does(Activity::Write),
    row(Sysno::pkey_mprotect, MEMORY).args(&[Ptr, Size, MmapProt, Int]).executed(),
    row(Sysno::pkey_alloc, NONE).args(&[Hex, Flags(names::PKEY_ACCESS)]).executed(),
    row(Sysno::pkey_free, NONE).executed(),
    row(Sysno::statx, DESC | FILE | STAT).args(&[DirFd, Path, AtFlags, Flags(names::STATX_MASK), StructOut(Struct::Statx)]).writes(OnSuccess(&[At(4, STATX_SIZE)])).does(Activity::Inspect),
    row(Sysno::io_pgetevents, NONE).blocks().writes(Hook(writes::io_getevents)),
    row(Sysno::rseq, NONE).args(&[Ptr, UInt, Hex, Hex]).writes(OnSuccess(&[At(0, RSEQ_SIZE)])),
    // Outside the kernel's uretprobe trampoline it fails and forces
    // SIGILL, which replay gets only by running it.
    row(Sysno::uretprobe, NONE).executed_even_failing(),
    row(Sysno::pidfd_send_signal, PROCESS | DESC | SIGNAL),
    row(Sysno::io_uring_setup, DESC).args(&[UInt, Ptr]).writes(Absent("io_uring shares memory with the kernel")).returns_fd(),
    row(Sysno::io_uring_enter, DESC).args(&[Fd, UInt, UInt, Hex, Ptr, Size]).writes(Absent("io_uring shares memory with the kernel")),
    row(Sysno::io_uring_register, DESC).args(&[Fd, UInt, Ptr, UInt]).writes(Absent("io_uring shares memory with the kernel")),
    row(Sysno::open_tree, DESC | FILE).returns_fd(),
    row(Sysno::move_mount, DESC | FILE),
    row(Sysno::fsopen, DESC).returns_fd(),
    row(Sysno::fsconfig, DESC | FILE),
    row(Sysno::fsmount, DESC).returns_fd(),
    row(Sysno::fspick, DESC | FILE).returns_fd(),
    row(Sysno::pidfd_open, DESC).args(&[Pid, Hex]).returns_fd(),
    row(Sysno::clone3, PROCESS).args(&[Ptr, Size]).executed().creates_task().blocks().writes(Hook(writes::clone3)).reads(inputs::clone3).returns_tid(),
    row(Sysno::close_range, DESC).args(&[UInt, UInt, Hex]).fd_effect(FdEffect::ClosesRange),
    row(Sysno::openat2, DESC | FILE).args(&[DirFd, Path, Ptr, Size]).blocks().reads(inputs::openat2).returns_fd().does(Activity::Open),
    row(Sysno::pidfd_getfd, DESC).returns_fd(),
    row(Sysno::faccessat2, DESC | FILE).args(&[DirFd, Path, Mode, Flags(names::ACCESS_AT_FLAGS)]).does(Activity::Inspect),
    row(Sysno::process_madvise, DESC).args(&[Fd, Ptr, Size, Int, Hex]).writes(Hook(writes::process_madvise)),
    row(Sysno::epoll_pwait2, DESC).args(&[Fd, Ptr, Int, Ptr, Ptr, Size]).blocks().writes(Hook(writes::epoll_wait)).temporary_mask(MaskAt::Arg(4)),
    row(Sysno::mount_setattr, DESC | FILE),
    row(Sysno::quotactl_fd, DESC).writes(Refused("its sub-commands are not modelled")),
    row(Sysno::landlock_create_ruleset, DESC).returns_fd(),
    row(Sysno::landlock_add_rule, DESC),
    row(Sysno::landlock_restrict_self, DESC),
    row(Sysno::memfd_secret, DESC).returns_fd(),
    row(Sysno::process_mrelease, DESC),
    row(Sysno::futex_waitv, NONE).blocks(),
    row(Sysno::set_mempolicy_home_node, MEMORY),
    row(Sysno::cachestat, DESC).writes(OnSuccess(&[At(2, 40)])),
    row(Sysno::fchmodat2, DESC | FILE).args(&[DirFd, Path, Mode, AtFlags]).does(Activity::ChangeAttributes),
    row(Sysno::map_shadow_stack, MEMORY).args(&[Ptr, Size, Hex]).executed(),
    row(Sysno::futex_wake, NONE),
    row(Sysno::futex_wait, NONE).blocks().restarts_through_block(),
    row(Sysno::futex_requeue, NONE),
    row(Sysno::statmount, NONE).writes(Hook(writes::statmount)),
    row(Sysno::listmount, NONE).writes(Hook(writes::listmount)),
    row(Sysno::lsm_get_self_attr, NONE).writes(Hook(writes::lsm_get_self_attr)),
    row(Sysno::lsm_set_self_attr, NONE),
    row(Sysno::lsm_list_modules, NONE).writes(Hook(writes::lsm_list_modules)),
    row(Sysno::mseal, MEMORY).executed(),
    row(Sysno::setxattrat, DESC | FILE),
    row(Sysno::getxattrat, DESC | FILE).writes(Hook(writes::getxattrat)),
    row(Sysno::listxattrat, DESC | FILE).writes(Returned { buf: 3, cap: 4 }),
    row(Sysno::removexattrat, DESC | FILE),
    row(Sysno::open_tree_attr, DESC | FILE).returns_fd(),
    row(Sysno::file_getattr, DESC | FILE).writes(Hook(writes::file_getattr)),
    row(Sysno::file_setattr, DESC | FILE),
];

/// The syscall buffer's preload library talks to the tracer with this
/// number (`replay-syscallbuf`'s `CONTROL_SYSCALL`); the tracer answers it
/// and the kernel never runs it.
pub(crate) static REPLAY_CONTROL: Syscall =
    numbered(syscallbuf::CONTROL_SYSCALL, "replay_control", NONE);

/// The row of syscall `nr`, or `None` for a number replay does not know.
pub fn syscall(nr: u64) -> Option<&'static Syscall> {
    if nr == REPLAY_CONTROL.nr {
        return Some(&REPLAY_CONTROL);
    }
    ROWS.binary_search_by_key(&nr, |row| row.nr)
        .ok()
        .map(|i| &ROWS[i])
}

/// The kernel's name of syscall `nr` (`"openat"`), or `None` if replay does
/// not know it.
pub fn name(nr: u64) -> Option<&'static str> {
    syscall(nr).map(|row| row.name)
}

/// The number of the syscall called `name` (inverse of [`name`]).
pub fn number(name: &str) -> Option<u64> {
    known().find(|row| row.name == name).map(|row| row.nr)
}

/// strace trace classes of syscall `nr` (empty for unknown numbers).
pub fn classes(nr: u64) -> Classes {
    syscall(nr).map_or(Classes::empty(), |row| row.classes)
}

/// True if syscall `nr` maps, unmaps or reprotects memory.
pub fn changes_mappings(nr: u64) -> bool {
    syscall(nr).is_some_and(|row| row.changes_mappings)
}

/// What the call does to tasks ([`TaskEffect::None`] for an unknown one).
pub fn task_effect(nr: u64) -> TaskEffect {
    syscall(nr).map_or(TaskEffect::None, |row| row.task)
}

/// True for the calls that replace the process's program.
pub fn execs(nr: u64) -> bool {
    task_effect(nr) == TaskEffect::Exec
}

/// True for the calls that make a new thread or process.
pub fn creates_task(nr: u64) -> bool {
    task_effect(nr) == TaskEffect::NewTask
}

/// True if where syscall `nr` writes is read from argument structures in
/// memory that its own output may overwrite (`Syscall::layout_in_memory`).
pub fn layout_in_memory(nr: u64) -> bool {
    syscall(nr).is_some_and(|row| row.layout_in_memory)
}

/// Every row, ascending by number.
pub fn known() -> impl Iterator<Item = &'static Syscall> {
    ROWS.iter().chain(std::iter::once(&REPLAY_CONTROL))
}

/// Every syscall number this model knows, ascending.
pub fn known_syscalls() -> impl Iterator<Item = u64> {
    known().map(|row| row.nr)
}
