/*
 * sandbox.h - the executor's own sandbox: one command in new user, mount, pid, net, ipc,
 * uts and cgroup namespaces, on a root of read-only binds with the workspace read-write,
 * rlimits, cgroup limits where the host allows, no capabilities, no_new_privs, the agent
 * seccomp policy, and a wall-clock timeout that kills the whole tree. Shared by the
 * `sandbox` command and the daemon's step runs (through the spawner, spawner.c).
 */
#ifndef EXECUTOR_SANDBOX_H
#define EXECUTOR_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SANDBOX_UID 1000 /* the agent's uid and gid inside the sandbox */
#define SANDBOX_MAX_BINDS 16

enum sandbox_net { SANDBOX_NET_NONE = 0, SANDBOX_NET_GATEWAY };

/* What to run and how. All strings borrowed for the duration of sandbox_start. */
struct sandbox_spec {
	char *const *argv;          /* the command (argv[0] is looked up in the sandbox PATH) */
	char *const *envp;          /* extra KEY=VALUE entries added to the fresh environment */
	const char *workspace;      /* host dir bound read-write at /work, or NULL (empty /work) */
	int net;                    /* enum sandbox_net */
	const char *gateway_sock;   /* host unix socket the relay forwards to (net gateway) */
	int gateway_port;           /* 127.0.0.1:<port> inside the sandbox (net gateway) */
	int timeout_s;              /* wall clock; 0 = none */
	int grace_ms;               /* SIGTERM to SIGKILL */
	long long memory;           /* cgroup memory limit, bytes; 0 = none */
	long long as;               /* RLIMIT_AS, bytes; 0 = unlimited */
	long long fsize;            /* RLIMIT_FSIZE, bytes */
	int pids;                   /* cgroup pids.max and RLIMIT_NPROC */
	int nofile;                 /* RLIMIT_NOFILE */
	int cpu_s;                  /* RLIMIT_CPU seconds; 0 = unlimited */
	int cpus;                   /* cgroup CPU quota in whole CPUs; 0 = none */
	long long tmp_size;         /* size of the /tmp and HOME tmpfs, bytes */
	uid_t host_uid;             /* host uid/gid the agent's uid 1000 maps to */
	gid_t host_gid;
	const char *ro_binds[SANDBOX_MAX_BINDS]; /* extra read-only host paths, NULL-ended */
	int fd_out, fd_err;         /* the command's stdout/stderr (host descriptors) */
	int cgroups;                /* 1: try cgroup limits */
};

/* A started sandbox (its init is pid 1 of the new pid namespace). */
struct sandbox {
	pid_t pid;          /* init, in the caller's pid namespace */
	int pidfd;          /* pidfd of init, or -1 */
	int64_t started_ms;
	int64_t deadline_ms; /* 0: none */
	int grace_ms;
	int term_sent;
	int64_t term_ms;
	int timed_out;
	char cg[3][256];    /* cgroup dirs made for this sandbox ("" when none) */
	int broker_fd;      /* net gateway: the relay asks here for gateway connections */
	int done_fd;        /* pid 1 writes the command's status here once the tree is gone */
	int home_ok;        /* 1: pid 1 leaves its cgroups before reporting (all v1 or none) */
	char gateway[108];  /* net gateway: the gateway's unix socket path */
};

/* How it ended. */
struct sandbox_result {
	int exit_code;      /* the command's exit status, or 128+signal */
	int signal;         /* the signal that ended the command, 0 if it exited */
	int timed_out;      /* 1: the wall clock ran out and the tree was killed */
	int setup_failed;   /* 1: the sandbox could not be built (why says why) */
	int64_t duration_ms;
	char why[256];
};

/* Fill spec with the defaults (no command, net none, 1 GiB fsize, 256 pids, ...). */
void sandbox_spec_init(struct sandbox_spec *spec);

/* Build the sandbox and start spec->argv in it. On 0, *sb describes the running sandbox
 * (end it with sandbox_wait); on error why says what failed and nothing is left running.
 * The caller keeps ownership of spec and its descriptors. */
int sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, char *why,
    size_t whylen);

/* Wait up to wait_ms (-1: until it ends) for the sandbox to end, enforcing its deadline
 * (SIGTERM to the tree, then SIGKILL of init after the grace period, which the kernel
 * turns into SIGKILL of every process in the namespace). Returns 1 and fills *res when it
 * has ended (cgroups removed, descriptors closed), 0 when still running. Ended: every
 * process of the sandbox is dead and reaped, except that pid 1, once it has reported the
 * command's status, may still be finishing its own exit (the kernel tearing down its
 * namespaces); it is then reaped here if it is already gone, else it stays a zombie child
 * of the caller until the caller exits or waits for it (job processes and the CLI exit
 * right after). */
int sandbox_wait(struct sandbox *sb, int wait_ms, struct sandbox_result *res);

/* Kill the whole tree now (SIGKILL to init). sandbox_wait still has to reap it. */
void sandbox_kill(struct sandbox *sb);

/* The sandbox's two seccomp programs: the agent policy (declared in agent_policy.c), a
 * filter that refuses mount, ptrace, bpf, kexec, modules, keyctl, perf_event_open,
 * userfaultfd, io_uring and namespace creation with EPERM, and everything on the
 * executor's own list of dangerous calls; and the spawner's allowlist (spawner_allow.c,
 * default kill). Compiled at build time into BPF (executor/gen/seccomp_bpf_gen.c). */
enum sandbox_bpf_which { SANDBOX_BPF_AGENT = 0, SANDBOX_BPF_SPAWNER };

/* Build which's program with libseccomp, not loaded (agent_policy.c): a new
 * scmp_filter_ctx the caller seccomp_release()s, or NULL. For the generator and tests. */
void *sandbox_policy_ctx(int which);

/* The generated program (agent_seccomp.c): static storage, *n instructions. */
struct sock_filter;
const struct sock_filter *sandbox_bpf(int which, size_t *n);

/* Install the generated agent policy (no_new_privs first). Done in the sandbox just
 * before exec. 0 or JIDO_EINTERNAL. */
int sandbox_seccomp_install(void);

/* Install the generated spawner allowlist on every thread of the caller (no_new_privs
 * first). Irreversible. 0 or JIDO_EINTERNAL. */
int sandbox_spawner_seccomp_install(void);

/* The relay (relay.c): listen on 127.0.0.1:port in the current network namespace; for
 * each connection ask the broker (broker_fd, a SEQPACKET socket to the sandbox's parent
 * outside) for a connected descriptor to the gateway and copy bytes both ways. Writes
 * one byte to ready_fd once listening; returns only when it cannot listen (1) or the
 * broker hangs up (0). */
int relay_serve(int port, int broker_fd, int ready_fd);

#endif
