/*
 * seccomp.c - the seccomp allowlist every process installs once it has opened what it
 * needs. Base: what the serve loop, nng, SQLite, logging and the clock need. A process
 * adds its own names in its jido_proc. Anything else kills the process (SIGSYS).
 *
 * Sanitizer builds (make asan) add what the ASan/LSan runtime needs at exit (its leak
 * checker stops the world with clone+ptrace); release builds never contain those.
 */
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <seccomp.h>

#include "jido.h"

static const char *const seccomp_base[] = {
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	/* files (SQLite, logs, config) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "openat",
	"fstat", "newfstatat", "statx", "lstat", "stat", "access", "faccessat", "faccessat2",
	"fcntl", "fsync", "fdatasync", "ftruncate", "unlink", "unlinkat", "readlink",
	"readlinkat", "getcwd", "fchown", "fchmod", "ioctl", "rename", "renameat",
	"getdents64", "mkdir", "mkdirat", "flock",
	/* threads and waiting (nng's workers) */
	"futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield",
	"sched_getaffinity", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
	"gettimeofday", "time", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "eventfd2", "pipe", "pipe2", "poll", "ppoll", "select", "pselect6",
	"timerfd_create", "timerfd_settime",
	/* sockets (domain restricted below) */
	"connect", "accept", "accept4", "bind", "listen", "getsockname", "getpeername",
	"getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
	"socketpair",
	/* identity, signals, exit */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getrandom",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "uname",
	"getrlimit", "prlimit64", "exit", "exit_group", "restart_syscall", "umask",
	NULL
};

/* Processes that run programs (executor, gitops) also need these. */
static const char *const seccomp_exec[] = {
	"execve", "execveat", "wait4", "waitid", "kill", "dup", "dup2", "dup3", "chdir",
	"fchdir", "setpgid", "getpgid", "setsid", "vfork", "fork", "chmod", "fchmodat",
	"symlink", "symlinkat", "link", "linkat", "rmdir", "utimensat", "fstatfs", "statfs",
	"getpgrp", "getgroups", "setgroups", "setuid", "setgid", "setresuid", "setresgid",
	"getresuid", "getresgid", "prctl", "close_range",
	/* what an exec'd program (git, sh, an agent) needs to start: it inherits this filter */
	"arch_prctl", "set_tid_address", "execve", "sysinfo", "getitimer", "setitimer",
	"alarm", "pause", "rt_sigsuspend", "rt_sigtimedwait", "truncate", "fallocate",
	"fadvise64", "getpriority", "setpriority", "times", "getrusage", "sched_getparam",
	"sched_getscheduler", "mincore", "msync", "memfd_create", "copy_file_range",
	"sendfile", "splice", "tee", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"fsetxattr", "setxattr", "lsetxattr", "sync_file_range", "syncfs", "fchownat",
	"lchown", "chown", "utime", "utimes", "futimesat", "mknodat", "creat", "open",
	"epoll_pwait2", "signalfd4", "eventfd", "membarrier", "getcpu",
	NULL
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define JIDO_SANITIZED 1
static const char *const seccomp_sanitizer[] = {
	"ptrace", "wait4", "waitid", "prctl", "getdents", "sched_getaffinity", "kill", "dup", "dup2", "rt_sigtimedwait", "close_range",
	NULL
};
#endif

/* Allow each name in list; names unknown to this kernel/arch are skipped. */
static int
seccomp_allow_names(scmp_filter_ctx ctx, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++) {
		int nr = seccomp_syscall_resolve_name(*list);
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0)
			return JIDO_EINTERNAL;
	}
	return 0;
}

int
jido_seccomp_install(const struct jido_allow *a)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = JIDO_EINTERNAL;

	if (ctx == NULL)
		return JIDO_EINTERNAL;
	if (seccomp_allow_names(ctx, seccomp_base) != 0 ||
	    seccomp_allow_names(ctx, a->names) != 0)
		goto out;
	if (a->exec && seccomp_allow_names(ctx, seccomp_exec) != 0)
		goto out;
#ifdef JIDO_SANITIZED
	if (seccomp_allow_names(ctx, seccomp_sanitizer) != 0)
		goto out;
#endif
	/* Sockets: AF_UNIX always (ipc), the inet families only for network processes. */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) != 0)
		goto out;
	if (a->net && (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_INET6)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_NETLINK)) != 0))
		goto out;
	/* Threads only, unless the process runs programs: clone must carry CLONE_THREAD,
	 * and clone3 (whose flags seccomp cannot see) answers ENOSYS so libc falls back. */
#ifdef JIDO_SANITIZED
	/* LeakSanitizer's tracer is a clone sharing our memory but not a thread. */
	const unsigned long clone_need = CLONE_VM;
#else
	const unsigned long clone_need = CLONE_THREAD;
#endif
	if (a->exec) {
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0) != 0)
			goto out;
	} else if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    SCMP_A0(SCMP_CMP_MASKED_EQ, clone_need, clone_need)) != 0)
		goto out;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
		goto out;
	/* prctl: thread names only (exec processes and sanitizers have it whole). */
	if (!a->exec) {
#ifndef JIDO_SANITIZED
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)) != 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME)) != 0)
			goto out;
#endif
	}
	if (seccomp_load(ctx) == 0)
		rc = 0;
out:
	seccomp_release(ctx);
	return rc;
}
