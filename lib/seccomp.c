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
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
	/* read by libcurl's TLS stack while it is loaded on first use (curl_shim.c) */
	"sysinfo",
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
	"ptrace", "wait4", "waitid", "prctl", "getdents", "sched_getaffinity", "kill", "dup", "dup2", "rt_sigtimedwait", "close_range", "open",
	NULL
};
#endif

/* One rule of an allowlist: allow (or answer ENOSYS to) a syscall, optionally only when
 * its first argument matches (value, or masked value). */
struct seccomp_rule {
	const char *name;
	int err;             /* 0: allow; else answer this errno (ENOSYS, EPERM) */
	int cond;            /* 0 none, SCMP_CMP_EQ or SCMP_CMP_MASKED_EQ on arg 0 */
	uint64_t mask, value;
};

typedef int (*seccomp_rule_fn)(void *arg, const struct seccomp_rule *r);

static int
seccomp_each_name_err(const char *const *list, int err, seccomp_rule_fn fn, void *arg)
{
	for (; list != NULL && *list != NULL; list++) {
		struct seccomp_rule r = { *list, err, 0, 0, 0 };
		if (fn(arg, &r) != 0)
			return JIDO_EINTERNAL;
	}
	return 0;
}

static int
seccomp_each_name(const char *const *list, seccomp_rule_fn fn, void *arg)
{
	return seccomp_each_name_err(list, 0, fn, arg);
}

/*
 * Walk every rule of a's allowlist, in one order, for both installing it and exporting it
 * (the Docker profile and systemd filter of deploy/ come from here, so they cannot drift
 * from what the process installs itself).
 */
static int
seccomp_rules_each(const struct jido_allow *a, seccomp_rule_fn fn, void *arg)
{
#ifdef JIDO_SANITIZED
	/* LeakSanitizer's tracer is a clone sharing our memory but not a thread. */
	const uint64_t clone_need = CLONE_VM;
#else
	const uint64_t clone_need = CLONE_THREAD;
#endif
	const struct seccomp_rule socket_unix = { "socket", 0, SCMP_CMP_EQ, 0, AF_UNIX };
	const struct seccomp_rule socket_inet[] = {
		{ "socket", 0, SCMP_CMP_EQ, 0, AF_INET },
		{ "socket", 0, SCMP_CMP_EQ, 0, AF_INET6 },
		{ "socket", 0, SCMP_CMP_EQ, 0, AF_NETLINK },
	};
	const struct seccomp_rule clone_any = { "clone", 0, 0, 0, 0 };
	const struct seccomp_rule clone_thread = { "clone", 0, SCMP_CMP_MASKED_EQ, clone_need,
		clone_need };
	const struct seccomp_rule clone3_enosys = { "clone3", ENOSYS, 0, 0, 0 };

	if (seccomp_each_name(seccomp_base, fn, arg) != 0 ||
	    seccomp_each_name(a->names, fn, arg) != 0)
		return JIDO_EINTERNAL;
	if (a->exec && seccomp_each_name(seccomp_exec, fn, arg) != 0)
		return JIDO_EINTERNAL;
#ifdef JIDO_SANITIZED
	if (seccomp_each_name(seccomp_sanitizer, fn, arg) != 0)
		return JIDO_EINTERNAL;
#endif
	/* Refused names come after the allowed ones: a name both allowed (a sanitizer's
	 * ptrace) and refused stays allowed (the first rule for a name wins, below). */
	if (seccomp_each_name_err(a->refuse, EPERM, fn, arg) != 0)
		return JIDO_EINTERNAL;
	/* Sockets: AF_UNIX always (ipc), the inet families only for network processes. */
	if (fn(arg, &socket_unix) != 0)
		return JIDO_EINTERNAL;
	for (size_t i = 0; a->net && i < sizeof(socket_inet) / sizeof(socket_inet[0]); i++)
		if (fn(arg, &socket_inet[i]) != 0)
			return JIDO_EINTERNAL;
	/* Threads only, unless the process runs programs: clone must carry CLONE_THREAD,
	 * and clone3 (whose flags seccomp cannot see) answers ENOSYS so libc falls back. */
	if (fn(arg, a->exec ? &clone_any : &clone_thread) != 0 || fn(arg, &clone3_enosys) != 0)
		return JIDO_EINTERNAL;
	/* prctl: thread names only (exec processes and sanitizers have it whole). */
#ifndef JIDO_SANITIZED
	const struct seccomp_rule prctl_name[] = {
		{ "prctl", 0, SCMP_CMP_EQ, 0, PR_SET_NAME },
		{ "prctl", 0, SCMP_CMP_EQ, 0, PR_GET_NAME },
	};
	for (size_t i = 0; !a->exec && i < 2; i++)
		if (fn(arg, &prctl_name[i]) != 0)
			return JIDO_EINTERNAL;
#endif
	return 0;
}

#define SECCOMP_MAX_RULES 512

/* What seccomp_rule_install adds to: the filter and the syscalls allowed so far. */
struct seccomp_inst {
	scmp_filter_ctx ctx;
	int allowed[SECCOMP_MAX_RULES];
	size_t nallowed;
};

/* Add one rule to a libseccomp filter; names unknown to this kernel/arch are skipped. */
static int
seccomp_rule_install(void *arg, const struct seccomp_rule *r)
{
	struct seccomp_inst *in = arg;
	scmp_filter_ctx ctx = in->ctx;
	int nr = seccomp_syscall_resolve_name(r->name);
	uint32_t action = r->err != 0 ? SCMP_ACT_ERRNO((unsigned)r->err) : SCMP_ACT_ALLOW;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	if (r->err == EPERM) { /* refused: unless an earlier rule allows the name */
		for (size_t i = 0; i < in->nallowed; i++)
			if (in->allowed[i] == nr)
				return 0;
	} else if (r->err == 0 && r->cond == 0 && in->nallowed < SECCOMP_MAX_RULES)
		in->allowed[in->nallowed++] = nr;
	if (r->cond == SCMP_CMP_EQ)
		return seccomp_rule_add(ctx, action, nr, 1, SCMP_A0(SCMP_CMP_EQ, r->value));
	if (r->cond == SCMP_CMP_MASKED_EQ)
		return seccomp_rule_add(ctx, action, nr, 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, r->mask, r->value));
	return seccomp_rule_add(ctx, action, nr, 0);
}

void *
jido_seccomp_ctx(const struct jido_allow *a)
{
	struct seccomp_inst in;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);

	if (ctx == NULL)
		return NULL;
	in.ctx = ctx;
	in.nallowed = 0;
	/* TSYNC: the filter covers every thread of the process, nng's workers (started when
	 * the sockets were opened, before this point) included, not just the caller. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
	    seccomp_rules_each(a, seccomp_rule_install, &in) != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

int
jido_seccomp_install(const struct jido_allow *a)
{
	scmp_filter_ctx ctx = jido_seccomp_ctx(a);
	int rc = JIDO_EINTERNAL;

	if (ctx == NULL)
		return JIDO_EINTERNAL;
	if (seccomp_load(ctx) == 0)
		rc = 0;
	seccomp_release(ctx);
	return rc;
}

/* Append one rule to a Docker profile's "syscalls" array (plain names are gathered in
 * the first entry). */
static int
seccomp_rule_export(void *arg, const struct seccomp_rule *r)
{
	json_t *calls = arg, *plain = json_object_get(json_array_get(calls, 0), "names"), *e;
	size_t i;
	json_t *v;

	if (seccomp_syscall_resolve_name(r->name) == __NR_SCMP_ERROR)
		return 0;
	json_array_foreach(plain, i, v) /* allowed outright already: nothing to add */
		if (strcmp(json_string_value(v), r->name) == 0)
			return 0;
	if (r->err == 0 && r->cond == 0)
		return json_array_append_new(plain, json_string(r->name));
	e = json_pack("{s:[s],s:s}", "names", r->name, "action",
	    r->err != 0 ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW");
	if (r->err != 0)
		json_object_set_new(e, "errnoRet", json_integer(r->err));
	if (r->cond != 0)
		json_object_set_new(e, "args", json_pack("[{s:i,s:I,s:I,s:s}]", "index", 0,
		    "value", (json_int_t)r->value, "valueTwo", (json_int_t)(r->cond ==
		    SCMP_CMP_MASKED_EQ ? r->value : 0), "op", r->cond == SCMP_CMP_MASKED_EQ ?
		    "SCMP_CMP_MASKED_EQ" : "SCMP_CMP_EQ"));
	if (r->cond == SCMP_CMP_MASKED_EQ) /* Docker: value is the mask, valueTwo the value */
		json_object_set_new(json_array_get(json_object_get(e, "args"), 0), "value",
		    json_integer((json_int_t)r->mask));
	json_array_foreach(calls, i, v) /* the same rule from the child's list */
		if (i > 0 && json_equal(v, e)) {
			json_decref(e);
			return 0;
		}
	return json_array_append_new(calls, e);
}

json_t *
jido_seccomp_profile(const struct jido_allow *a)
{
	/* What the container runtime and the dynamic loader need before the process installs
	 * its own (stricter, stacked) filter. */
	static const char *const start[] = { "execve", "arch_prctl", "set_tid_address",
		"close_range", "capget", "capset", "setgroups", "setuid", "setgid", "chdir",
		"fchdir", "getdents64", NULL };
	json_t *calls = json_pack("[{s:[],s:s}]", "names", "action", "SCMP_ACT_ALLOW");
	json_t *profile;

	if (calls == NULL || seccomp_each_name(start, seccomp_rule_export, calls) != 0 ||
	    seccomp_rules_each(a, seccomp_rule_export, calls) != 0 ||
	    (a->child != NULL && seccomp_rules_each(a->child, seccomp_rule_export, calls) != 0)) {
		json_decref(calls);
		return NULL;
	}
	profile = json_pack("{s:s,s:[s,s,s],s:o}", "defaultAction", "SCMP_ACT_KILL_PROCESS",
	    "architectures", "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls",
	    calls);
	return profile;
}

int
jido_seccomp_names(const struct jido_allow *a, FILE *f)
{
	json_t *p = jido_seccomp_profile(a), *e;
	size_t i;

	if (p == NULL)
		return JIDO_EINTERNAL;
	json_array_foreach(json_object_get(p, "syscalls"), i, e) {
		json_t *n = json_array_get(json_object_get(e, "names"), 0);
		if (i == 0) {
			size_t k;
			json_array_foreach(json_object_get(e, "names"), k, n)
				fprintf(f, "%s\n", json_string_value(n));
		} else if (strcmp(json_string_value(json_object_get(e, "action")),
		    "SCMP_ACT_ALLOW") == 0)
			fprintf(f, "%s\n", json_string_value(n));
	}
	json_decref(p);
	return fflush(f) == 0 ? 0 : JIDO_EINTERNAL;
}
