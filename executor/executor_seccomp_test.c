/*
 * executor_seccomp_test.c - jido-executor's own allowlist, installed in a child: what the process
 * needs keeps working, a syscall outside the list kills the child with SIGSYS. Expected:
 * network no, exec yes. And the spawner's own list (spawner_allow): what building a
 * sandbox takes survives (clone into new namespaces, mount, AF_INET), ptrace answers
 * EPERM, and bpf, kexec, module loading, keyctl, perf_event_open, userfaultfd, setns and
 * a foreign socket family kill.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <sys/ptrace.h>

#include "jido.h"
#include "job.h"
#include "sandbox.h"
#include "seccomp_check.h"

extern const struct jido_proc executor_proc;

/* Fork; in the child install the spawner's list (the program generated at build time,
 * what the spawner and `jido-executor sandbox` install) and make syscall nr with args;
 * exit with its errno (0 when it succeeded). Returns the killing signal, or 100 + the exit
 * code. */
static int
spawner_probe(long nr, long a0, long a1, long a2)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		if (sandbox_spawner_seccomp_install() != 0)
			_exit(90);
		long r = syscall(nr, a0, a1, a2, 0, 0, 0);
		if (r > 0 && nr == SYS_clone)
			waitpid((pid_t)r, NULL, 0);
		if (r == 0 && nr == SYS_clone)
			_exit(0); /* the clone itself */
		_exit(r < 0 ? (errno & 0x3f) : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 100 + WEXITSTATUS(status);
}

static void
test_spawner_builds_sandboxes(void **state)
{
	(void)state;
	/* clone into a new user and network namespace: allowed (it may still fail) */
	assert_true(spawner_probe(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, 0, 0) >=
	    100);
	assert_true(spawner_probe(SYS_mount, (long)"none", (long)"/nonexistent-jido",
	    (long)"tmpfs") >= 100);
	assert_int_equal(spawner_probe(SYS_socket, AF_INET, SOCK_STREAM, 0), 100);
	assert_int_equal(spawner_probe(SYS_getpid, 0, 0, 0), 100);
	/* ptrace: told no, as by the agent policy */
	assert_int_equal(spawner_probe(SYS_ptrace, PTRACE_TRACEME, 0, 0),
#if defined(__SANITIZE_ADDRESS__)
	    100); /* sanitizer builds allow what LeakSanitizer needs */
#else
	    100 + EPERM);
#endif
}

static void
test_spawner_forbidden_kills(void **state)
{
	(void)state;
	assert_int_equal(spawner_probe(SYS_bpf, 0, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_kexec_load, 0, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_init_module, 0, 0, (long)""), SIGSYS);
	assert_int_equal(spawner_probe(SYS_finit_module, -1, (long)"", 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_keyctl, 0, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_perf_event_open, 0, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_userfaultfd, 0, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_setns, -1, 0, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_socket, AF_PACKET, SOCK_RAW, 0), SIGSYS);
	assert_int_equal(spawner_probe(SYS_reboot, 0, 0, 0), SIGSYS);
}

int
main(void)
{
	const struct CMUnitTest extra[] = {
		cmocka_unit_test(test_spawner_builds_sandboxes),
		cmocka_unit_test(test_spawner_forbidden_kills),
	};
	return seccomp_check_suite_with(&executor_proc.allow, 0, 1, extra, 2);
}
