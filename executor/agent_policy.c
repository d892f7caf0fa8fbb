/*
 * agent_policy.c - the one declaration of the seccomp policy of whatever runs inside the
 * sandbox (an agent, a shell command, the relay): everything an ordinary program does is
 * allowed; the calls
 * that reach the kernel's attack surface or could undo the sandbox answer EPERM: mount
 * and friends, ptrace, bpf, kexec, module loading, keyctl, perf_event_open, userfaultfd,
 * io_uring, and creating or joining namespaces (unshare, setns, clone with CLONE_NEW*).
 * Another architecture's syscall table (int 0x80 on x86_64) kills the process.
 *
 * Built here with libseccomp, together with the spawner's list (spawner_allow.c), by the
 * build-time generator (executor/gen/seccomp_bpf_gen.c), which exports both as BPF into
 * a generated header; at run time agent_seccomp.c installs those programs as they are,
 * so a sandbox start compiles nothing. sandbox_test.c checks that the generated programs
 * are what this file builds.
 */
#include <errno.h>
#include <sched.h>

#include <seccomp.h>

#include "jido.h"
#include "job.h"
#include "sandbox.h"

static const char *const agent_deny[] = {
	/* filesystems and mounts */
	"mount", "umount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "swapon", "swapoff",
	"quotactl", "quotactl_fd", "name_to_handle_at", "open_by_handle_at",
	/* other processes' memory */
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	/* kernel attack surface */
	"bpf", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"keyctl", "add_key", "request_key", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie",
	"fanotify_init", "iopl", "ioperm", "syslog", "acct", "reboot", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "nfsservctl",
	/* namespaces */
	"unshare", "setns",
	NULL
};

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const unsigned long agent_clone_ns[] = { CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID,
	CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_NEWTIME };

/* The agent policy, built (not loaded). New libseccomp context, or NULL. */
static scmp_filter_ctx
agent_policy_ctx(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	const char *const *n;

	if (ctx == NULL)
		return NULL;
	for (n = agent_deny; *n != NULL; n++) {
		int nr = seccomp_syscall_resolve_name(*n);
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0)
			goto fail;
	}
	/* clone with any namespace flag is refused (one rule per flag, OR'ed); clone3 hides
	 * its flags in memory, so it answers ENOSYS and libc falls back to clone. */
	for (size_t i = 0; i < sizeof(agent_clone_ns) / sizeof(agent_clone_ns[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, agent_clone_ns[i], agent_clone_ns[i])) != 0)
			goto fail;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
		goto fail;
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}

void *
sandbox_policy_ctx(int which)
{
	scmp_filter_ctx ctx = which == SANDBOX_BPF_AGENT ? agent_policy_ctx() :
	    jido_seccomp_ctx(&spawner_allow);

	if (ctx == NULL)
		return NULL;
	/* A binary tree over the syscall numbers instead of a linear list: every syscall of
	 * the sandbox and its agent goes through both programs. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}
