//! Syscalls that need no per-call modelling: those that write no tracee
//! memory at all, those current kernels do not implement, and those replay
//! refuses outright.

use crate::table::nr as x;
use libc as l;

/// Syscalls that write no tracee memory, whatever their arguments and result.
pub(crate) fn writes_nothing(n: i64) -> bool {
    matches!(
        n,
        l::SYS_write
            | crate::table::nr::SYS_replay_control
            | l::SYS_open
            | l::SYS_close
            | l::SYS_lseek
            | l::SYS_mmap
            | l::SYS_mprotect
            | l::SYS_munmap
            | l::SYS_brk
            | l::SYS_rt_sigreturn
            | l::SYS_pwrite64
            | l::SYS_writev
            | l::SYS_access
            | l::SYS_sched_yield
            | l::SYS_mremap
            | l::SYS_msync
            | l::SYS_madvise
            | l::SYS_shmget
            | l::SYS_shmat
            | l::SYS_dup
            | l::SYS_dup2
            | l::SYS_pause
            | l::SYS_alarm
            | l::SYS_getpid
            | l::SYS_socket
            | l::SYS_connect
            | l::SYS_sendto
            | l::SYS_sendmsg
            | l::SYS_shutdown
            | l::SYS_bind
            | l::SYS_listen
            | l::SYS_setsockopt
            | l::SYS_fork
            | l::SYS_vfork
            | l::SYS_execve
            | l::SYS_execveat
            | l::SYS_exit
            | l::SYS_kill
            | l::SYS_semget
            | l::SYS_semop
            | l::SYS_semtimedop
            | l::SYS_shmdt
            | l::SYS_msgget
            | l::SYS_msgsnd
            | l::SYS_flock
            | l::SYS_fsync
            | l::SYS_fdatasync
            | l::SYS_truncate
            | l::SYS_ftruncate
            | l::SYS_chdir
            | l::SYS_fchdir
            | l::SYS_rename
            | l::SYS_mkdir
            | l::SYS_rmdir
            | l::SYS_creat
            | l::SYS_link
            | l::SYS_unlink
            | l::SYS_symlink
            | l::SYS_chmod
            | l::SYS_fchmod
            | l::SYS_chown
            | l::SYS_fchown
            | l::SYS_lchown
            | l::SYS_umask
            | l::SYS_getuid
            | l::SYS_getgid
            | l::SYS_setuid
            | l::SYS_setgid
            | l::SYS_geteuid
            | l::SYS_getegid
            | l::SYS_setpgid
            | l::SYS_getppid
            | l::SYS_getpgrp
            | l::SYS_setsid
            | l::SYS_setreuid
            | l::SYS_setregid
            | l::SYS_setgroups
            | l::SYS_setresuid
            | l::SYS_setresgid
            | l::SYS_getpgid
            | l::SYS_setfsuid
            | l::SYS_setfsgid
            | l::SYS_getsid
            | l::SYS_capset
            | l::SYS_rt_sigqueueinfo
            | l::SYS_rt_sigsuspend
            | l::SYS_utime
            | l::SYS_mknod
            | l::SYS_personality
            | l::SYS_getpriority
            | l::SYS_setpriority
            | l::SYS_sched_setparam
            | l::SYS_sched_setscheduler
            | l::SYS_sched_getscheduler
            | l::SYS_sched_get_priority_max
            | l::SYS_sched_get_priority_min
            | l::SYS_mlock
            | l::SYS_munlock
            | l::SYS_mlockall
            | l::SYS_munlockall
            | l::SYS_vhangup
            | l::SYS_pivot_root
            | l::SYS_setrlimit
            | l::SYS_chroot
            | l::SYS_sync
            | l::SYS_acct
            | l::SYS_settimeofday
            | l::SYS_mount
            | l::SYS_umount2
            | l::SYS_swapon
            | l::SYS_swapoff
            | l::SYS_sethostname
            | l::SYS_setdomainname
            | l::SYS_init_module
            | l::SYS_delete_module
            | l::SYS_gettid
            | l::SYS_readahead
            | l::SYS_setxattr
            | l::SYS_lsetxattr
            | l::SYS_fsetxattr
            | l::SYS_removexattr
            | l::SYS_lremovexattr
            | l::SYS_fremovexattr
            | l::SYS_tkill
            | l::SYS_sched_setaffinity
            | l::SYS_io_destroy
            | l::SYS_io_submit
            | l::SYS_remap_file_pages
            | l::SYS_set_tid_address
            | l::SYS_fadvise64
            | l::SYS_timer_delete
            | l::SYS_timer_getoverrun
            | l::SYS_clock_settime
            | l::SYS_exit_group
            | l::SYS_epoll_ctl
            | l::SYS_tgkill
            | l::SYS_utimes
            | l::SYS_mbind
            | l::SYS_set_mempolicy
            | l::SYS_mq_open
            | l::SYS_mq_unlink
            | l::SYS_mq_timedsend
            | l::SYS_mq_notify
            | l::SYS_add_key
            | l::SYS_request_key
            | l::SYS_ioprio_set
            | l::SYS_ioprio_get
            | l::SYS_inotify_init
            | l::SYS_inotify_add_watch
            | l::SYS_inotify_rm_watch
            | l::SYS_migrate_pages
            | l::SYS_openat
            | l::SYS_mkdirat
            | l::SYS_mknodat
            | l::SYS_fchownat
            | l::SYS_futimesat
            | l::SYS_unlinkat
            | l::SYS_renameat
            | l::SYS_linkat
            | l::SYS_symlinkat
            | l::SYS_fchmodat
            | l::SYS_faccessat
            | l::SYS_unshare
            | l::SYS_set_robust_list
            | l::SYS_tee
            | l::SYS_sync_file_range
            | l::SYS_utimensat
            | l::SYS_signalfd
            | l::SYS_timerfd_create
            | l::SYS_eventfd
            | l::SYS_fallocate
            | l::SYS_signalfd4
            | l::SYS_eventfd2
            | l::SYS_epoll_create
            | l::SYS_epoll_create1
            | l::SYS_dup3
            | l::SYS_inotify_init1
            | l::SYS_pwritev
            | l::SYS_rt_tgsigqueueinfo
            | l::SYS_fanotify_init
            | l::SYS_fanotify_mark
            | l::SYS_open_by_handle_at
            | l::SYS_syncfs
            | l::SYS_setns
            | l::SYS_kcmp
            | l::SYS_finit_module
            | l::SYS_renameat2
            | l::SYS_memfd_create
            | l::SYS_membarrier
            | l::SYS_mlock2
            | l::SYS_pwritev2
            | l::SYS_pkey_mprotect
            | l::SYS_pkey_alloc
            | l::SYS_pkey_free
            | l::SYS_rseq
            | l::SYS_pidfd_send_signal
            | l::SYS_open_tree
            | l::SYS_move_mount
            | l::SYS_fsopen
            | l::SYS_fsconfig
            | l::SYS_fsmount
            | l::SYS_fspick
            | l::SYS_pidfd_open
            | l::SYS_close_range
            | l::SYS_openat2
            | l::SYS_pidfd_getfd
            | l::SYS_faccessat2
            | l::SYS_process_madvise
            | l::SYS_mount_setattr
            | l::SYS_landlock_create_ruleset
            | l::SYS_landlock_add_rule
            | l::SYS_landlock_restrict_self
            | l::SYS_memfd_secret
            | l::SYS_process_mrelease
            | l::SYS_futex_waitv
            | l::SYS_set_mempolicy_home_node
            | l::SYS_fchmodat2
            | l::SYS_mseal
            | x::SYS_map_shadow_stack
            | x::SYS_futex_wake
            | x::SYS_futex_wait
            | x::SYS_futex_requeue
            | x::SYS_lsm_set_self_attr
            | x::SYS_setxattrat
            | x::SYS_removexattrat
            | x::SYS_open_tree_attr
            | x::SYS_file_setattr
    )
}

/// Syscalls current kernels answer with ENOSYS (`sys_ni_syscall`).
pub(crate) fn not_implemented(n: i64) -> bool {
    matches!(
        n,
        x::SYS_create_module
            | x::SYS_get_kernel_syms
            | x::SYS_query_module
            | l::SYS_nfsservctl
            | l::SYS_getpmsg
            | l::SYS_putpmsg
            | l::SYS_afs_syscall
            | l::SYS_tuxcall
            | l::SYS_security
            | l::SYS_vserver
            | l::SYS_epoll_ctl_old
            | l::SYS_epoll_wait_old
            | l::SYS_uselib
            | l::SYS__sysctl
            | l::SYS_lookup_dcookie
    )
}

/// Why replay refuses syscall `n`, if it does (whatever the arguments).
pub(crate) fn refused(n: i64) -> Option<&'static str> {
    Some(match n {
        l::SYS_io_uring_setup | l::SYS_io_uring_enter | l::SYS_io_uring_register => {
            "io_uring shares memory with the kernel"
        }
        l::SYS_io_setup => "Linux AIO maps a completion ring that the kernel writes asynchronously",
        l::SYS_userfaultfd => "page faults would be served by another thread",
        l::SYS_perf_event_open => {
            "performance counters and their ring buffers are not deterministic"
        }
        l::SYS_bpf => "BPF objects live in the kernel",
        l::SYS_ptrace => "a traced process cannot trace others under replay",
        l::SYS_process_vm_writev => "it writes another process's memory",
        l::SYS_kexec_load | l::SYS_kexec_file_load | l::SYS_reboot => {
            "it replaces or stops the running kernel"
        }
        l::SYS_iopl | l::SYS_ioperm => "it changes the I/O privilege of the process",
        l::SYS_quotactl | l::SYS_quotactl_fd => "its sub-commands are not modelled",
        l::SYS_restart_syscall => {
            "the recorder must model it as the interrupted syscall it restarts \
             (see replay_syscalls::uses_restart_block)"
        }
        _ => return None,
    })
}
