/*
 * sandbox_test.c - the executor's pure pieces and the agent seccomp policy: size parsing,
 * the checks on repository names, branches and clone URLs, and the agent policy installed
 * in a forked child (mount, unshare, clone with a namespace flag, ptrace and io_uring
 * refused with EPERM; fork, exec and ordinary files still work), and the BPF programs the
 * build generated (what the sandbox installs) being exactly what agent_policy.c and
 * spawner_allow.c compile to now.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "jido.h"
#include "executor.h"
#include "sandbox.h"
#include "workspace.h"

static void
test_parse_size(void **state)
{
	(void)state;
	assert_true(sandbox_parse_size("512") == 512LL << 20);
	assert_true(sandbox_parse_size("2g") == 2LL << 30);
	assert_true(sandbox_parse_size("64k") == 64LL << 10);
	assert_true(sandbox_parse_size("100b") == 100);
	assert_true(sandbox_parse_size("12x") == -1);
	assert_true(sandbox_parse_size("1mb") == -1);
	assert_true(sandbox_parse_size("-1") == -1);
	assert_true(sandbox_parse_size("") == -1);
}

static void
test_workspace_checks(void **state)
{
	char why[256];
	(void)state;
	assert_int_equal(ws_check_repo("octo/demo.js", why, sizeof(why)), 0);
	assert_int_equal(ws_check_repo("octo", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_repo("../x", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_repo("a/b/c", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_repo("a/..", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_branch("jido/run-1", why, sizeof(why)), 0);
	assert_int_equal(ws_check_branch("--upload-pack=x", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_branch("a..b", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_branch("a b", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_branch("x.lock", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_url("https://github.com/o/r.git", why, sizeof(why)), 0);
	assert_int_equal(ws_check_url("/srv/git/r", why, sizeof(why)), 0);
	assert_int_equal(ws_check_url("https://x:tok@github.com/o/r", why, sizeof(why)), JIDO_EPOLICY);
	assert_int_equal(ws_check_url("https://tok@github.com/o/r", why, sizeof(why)), JIDO_EPOLICY);
	assert_int_equal(ws_check_url("ext::sh -c x", why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(ws_check_url("ssh://git@github.com/o/r", why, sizeof(why)), JIDO_EVALIDATION);
}

/* In a child: install the agent policy, probe, exit with the probe's verdict:
 * 0 = as expected, 1 = the call was not refused with EPERM, 2 = install failed. */
enum { P_MOUNT, P_UNSHARE, P_CLONE_NS, P_PTRACE, P_IO_URING, P_ORDINARY };

static int
agent_probe(int probe)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		long r = 0;
		if (sandbox_seccomp_install() != 0)
			_exit(2);
		switch (probe) {
		case P_MOUNT:
			r = mount("none", "/nonexistent", "tmpfs", 0, NULL);
			break;
		case P_UNSHARE:
			r = unshare(CLONE_NEWUSER);
			break;
		case P_CLONE_NS:
			r = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
			if (r == 0)
				_exit(0);
			break;
		case P_PTRACE:
			r = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
			break;
		case P_IO_URING:
			r = syscall(__NR_io_uring_setup, 1, NULL);
			break;
		case P_ORDINARY: {
			pid_t c = fork();
			if (c == 0) {
				char *argv[] = { (char *)"true", NULL };
				char *envp[] = { NULL };
				execve("/bin/true", argv, envp);
				_exit(3);
			}
			if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				_exit(1);
			_exit(0);
		}
		}
		_exit(r == -1 && errno == EPERM ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void
test_agent_policy(void **state)
{
	(void)state;
	assert_int_equal(agent_probe(P_MOUNT), 0);
	assert_int_equal(agent_probe(P_UNSHARE), 0);
	assert_int_equal(agent_probe(P_CLONE_NS), 0);
	assert_int_equal(agent_probe(P_PTRACE), 0);
	assert_int_equal(agent_probe(P_IO_URING), 0);
	assert_int_equal(agent_probe(P_ORDINARY), 0);
}

/* which's program compiled now with libseccomp must equal the generated one. */
static void
check_generated(int which)
{
	void *ctx = sandbox_policy_ctx(which);
	size_t n = 0;
	const struct sock_filter *gen = sandbox_bpf(which, &n);
	int fd = memfd_create("bpf", MFD_CLOEXEC);
	off_t len;
	char *now;

	assert_non_null(ctx);
	assert_true(fd >= 0);
	assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
	len = lseek(fd, 0, SEEK_END);
	assert_true(n > 10);
	assert_int_equal((size_t)len, n * sizeof(struct sock_filter));
	now = malloc((size_t)len);
	assert_non_null(now);
	assert_int_equal(pread(fd, now, (size_t)len, 0), len);
	assert_memory_equal(now, gen, (size_t)len);
	free(now);
	close(fd);
	seccomp_release(ctx);
}

static void
test_generated_programs(void **state)
{
	(void)state;
	check_generated(SANDBOX_BPF_AGENT);
	check_generated(SANDBOX_BPF_SPAWNER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_workspace_checks),
		cmocka_unit_test(test_agent_policy),
		cmocka_unit_test(test_generated_programs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
