/*
 * spawner_allow.c - the one declaration of the spawner's seccomp allowlist (see the top of
 * spawner.c for what it covers and why). Kept apart from the spawner so the build-time
 * generator (executor/gen/seccomp_bpf_gen.c) compiles it into the BPF program that
 * `jido-executor sandbox` and the spawner install, without linking the rest of the
 * executor.
 */
#include "jido.h"
#include "job.h"

static const char *const spawner_names[] = {
	/* building the sandbox (sandbox.c) */
	"mount", "umount2", "pivot_root", "mount_setattr", "sethostname", "capget", "capset",
	"seccomp",
	/* unshare: the agent policy answers EPERM; here it must not kill (escape tests) */
	"unshare",
	/* what ordinary programs run in the sandbox call, beyond the exec list */
	"renameat2", "openat2", "fchmodat2", "preadv", "pwritev", "preadv2", "pwritev2",
	"vmsplice", "removexattr", "lremovexattr", "fremovexattr", "pidfd_open",
	"pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigpending", "tkill",
	"sched_setaffinity", "sched_getattr", "sched_setattr", "sched_setscheduler",
	"sched_setparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_rr_get_interval", "get_mempolicy", "set_mempolicy", "mbind", "mlock", "munlock",
	"mlock2", "mlockall", "munlockall", "pkey_alloc", "pkey_free", "pkey_mprotect",
	"ioprio_get", "ioprio_set", "readahead", "setrlimit", "getsid", "setreuid", "setregid",
	"setfsuid", "setfsgid", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "timerfd_gettime", "shmget", "shmat", "shmdt",
	"shmctl", "semget", "semop", "semctl", "semtimedop", "io_setup", "io_destroy",
	"io_submit", "io_getevents", "io_cancel", "recvmmsg", "sendmmsg", "futex_waitv",
	"getdents", "mknod", "sync", "inotify_init",
	NULL
};

static const char *const spawner_refuse[] = { "ptrace", "io_uring_setup", NULL };

/* The spawner's allowlist (see the top of spawner.c); the executor's declaration names
 * it as its child, so the deploy profile covers both. */
const struct jido_allow spawner_allow = { spawner_names, 1, 1, spawner_refuse, NULL };
