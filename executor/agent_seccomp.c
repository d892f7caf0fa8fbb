/*
 * agent_seccomp.c - installs the sandbox's two seccomp programs as the build generated
 * them ($(BUILD)/gen/executor/seccomp_bpf.h, from agent_policy.c and spawner_allow.c by
 * executor/gen/seccomp_bpf_gen.c): seccomp(2) with the ready BPF, nothing compiled per
 * start. The agent policy goes on inside the sandbox just before exec; the spawner's list
 * on the spawner (and on `jido-executor sandbox`, which stacks the same two filters).
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jido.h"
#include "sandbox.h"
#include "seccomp_bpf.h"

#define SB_NINSNS(a) (sizeof(a) / sizeof((a)[0]))

const struct sock_filter *
sandbox_bpf(int which, size_t *n)
{
	if (which == SANDBOX_BPF_AGENT) {
		*n = SB_NINSNS(sandbox_bpf_agent);
		return sandbox_bpf_agent;
	}
	*n = SB_NINSNS(sandbox_bpf_spawner);
	return sandbox_bpf_spawner;
}

/* no_new_privs, then which's program with flags. 0 or JIDO_EINTERNAL. */
static int
sb_bpf_install(int which, unsigned flags)
{
	size_t n;
	const struct sock_filter *f = sandbox_bpf(which, &n);
	struct sock_fprog prog = { (unsigned short)n, (struct sock_filter *)f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return JIDO_EINTERNAL;
	/* With TSYNC the call returns the id of a thread that could not be synced: != 0. */
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) == 0 ? 0 :
	    JIDO_EINTERNAL;
}

int
sandbox_seccomp_install(void)
{
	return sb_bpf_install(SANDBOX_BPF_AGENT, 0);
}

int
sandbox_spawner_seccomp_install(void)
{
	/* TSYNC, as jido_seccomp_install: every thread of the caller gets it. */
	return sb_bpf_install(SANDBOX_BPF_SPAWNER, SECCOMP_FILTER_FLAG_TSYNC);
}
