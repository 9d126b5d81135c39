"""lamina's own default seccomp profile, for machines without containers-common's.

The policy is docker's: allow what ordinary programs use; refuse, with EPERM, what reaches past
the container (kernel modules, keyrings, new namespaces, mounts, clocks, reboot, tracing of the
kernel) unless the container holds the capability that makes the call legitimate. Names the
running kernel does not know are skipped by the runtime.
"""

from __future__ import annotations

from typing import Any

EPERM = 1
ENOSYS = 38
# clone(2)'s flags that make new namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER,
# NEWPID, NEWNET.
CLONE_NAMESPACES = 0x7E020000

ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat get_robust_list get_thread_area getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid
gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup
io_submit io_uring_enter io_uring_register io_uring_setup ioctl ioprio_get ioprio_set ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr
lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir
mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap
mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep
newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2
prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
removexattr removexattrat rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
set_thread_area set_tid_address setdomainname setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 sethostname setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32 setxattr
setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
sigreturn socket socketcall socketpair splice stat stat64 statfs statfs64 statmount statx
symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
"""

# capability -> the calls it makes legitimate
BY_CAPABILITY = {
    "CAP_SYS_ADMIN": "bpf clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie "
                     "mount mount_setattr move_mount open_tree perf_event_open pivot_root "
                     "quotactl quotactl_fd setns umount "
                     "umount2 unshare",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev "
                      "ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}
# personality(2): the usual persona, and the 32-bit and "uname26" ones, and the query.
PERSONALITIES = (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)


def profile() -> dict[str, Any]:
    """The profile, in docker's format (``lamina.runtime.seccomp`` turns it into the
    runtime's)."""
    rules: list[dict[str, Any]] = [{"names": ALLOWED.split(), "action": "SCMP_ACT_ALLOW"}]
    for value in PERSONALITIES:
        rules.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
    # clone without namespace flags (which s390 passes in the second argument, not the first)
    for index, where in ((0, "excludes"), (1, "includes")):
        rule: dict[str, Any] = {
            "names": ["clone"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": index, "value": CLONE_NAMESPACES, "valueTwo": 0,
                      "op": "SCMP_CMP_MASKED_EQ"}],
            "excludes": {"caps": ["CAP_SYS_ADMIN"]},
        }
        if where == "excludes":
            rule["excludes"]["arches"] = ["s390", "s390x"]
        else:
            rule["includes"] = {"arches": ["s390", "s390x"]}
        rules.append(rule)
    rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "includes": {"caps": ["CAP_SYS_ADMIN"]}})
    # clone3 cannot be filtered on its flags (they are in memory): without CAP_SYS_ADMIN it
    # says ENOSYS, and the C libraries fall back to clone.
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS,
                  "excludes": {"caps": ["CAP_SYS_ADMIN"]}})
    rules.append({"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
                  "includes": {"arches": ["amd64", "x32"]}})
    rules.append({"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW",
                  "includes": {"arches": ["amd64", "x32", "386"]}})
    rules.append({"names": ["arm_fadvise64_64", "arm_sync_file_range", "breakpoint",
                            "cacheflush", "set_tls", "sync_file_range2"],
                  "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}})
    for cap, names in BY_CAPABILITY.items():
        rules.append({"names": names.split(), "action": "SCMP_ACT_ALLOW",
                      "includes": {"caps": [cap]}})
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64",
             "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_PPC64LE", "subArchitectures": []},
            {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": []},
        ],
        "syscalls": rules,
    }
