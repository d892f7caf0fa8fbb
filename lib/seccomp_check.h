/*
 * seccomp_check.h - for tests only: install an allowlist in a forked child, make one
 * probe syscall there, and report how the child ended; and the cmocka suite every
 * process runs on its own allowlist. Header-only so each process's test links it
 * without adding test code to libjido. Include after cmocka.h.
 */
#ifndef JIDO_SECCOMP_CHECK_H
#define JIDO_SECCOMP_CHECK_H

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jido.h"

enum seccomp_probe {
	SECCOMP_PROBE_ALLOWED,     /* what every daemon does: time, pid, ipc socket, files */
	SECCOMP_PROBE_MOUNT,       /* mount(2) */
	SECCOMP_PROBE_INIT_MODULE, /* init_module(2) */
	SECCOMP_PROBE_INET,        /* socket(AF_INET) */
	SECCOMP_PROBE_EXEC,        /* execve(2) of /bin/true */
	SECCOMP_PROBE_FORK,        /* fork(2) (clone without CLONE_THREAD) */
};

/* Fork; in the child install a, run the probe, exit 0. Returns the signal that killed
 * the child, 0 when it exited 0, or 100 + its exit status otherwise. */
static inline int
seccomp_check_run(const struct jido_allow *a, int probe)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct timespec ts;
		int fd;

		if (jido_seccomp_install(a) != 0)
			_exit(90);
		switch (probe) {
		case SECCOMP_PROBE_ALLOWED:
			clock_gettime(CLOCK_REALTIME, &ts);
			(void)getpid();
			if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
				_exit(91);
			close(fd);
			if ((fd = open("/dev/null", O_RDONLY)) < 0)
				_exit(92);
			close(fd);
			break;
		case SECCOMP_PROBE_MOUNT:
			(void)mount("none", "/nonexistent", "tmpfs", 0, NULL);
			break;
		case SECCOMP_PROBE_INIT_MODULE:
			(void)syscall(SYS_init_module, NULL, 0, "");
			break;
		case SECCOMP_PROBE_INET:
			if ((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0)
				close(fd);
			break;
		case SECCOMP_PROBE_EXEC: {
			char *argv[] = { (char *)"true", NULL };
			char *envp[] = { NULL };
			/* The exec'd program inherits the filter; /bin/true needs little. */
			execve("/bin/true", argv, envp);
			_exit(93);
		}
		case SECCOMP_PROBE_FORK: {
			pid_t c = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
			if (c == 0)
				_exit(0);
			if (c > 0)
				waitpid(c, NULL, 0);
			break;
		}
		}
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	return WEXITSTATUS(status) == 0 ? 0 : 100 + WEXITSTATUS(status);
}

/* The suite every process's <proc>_seccomp_test.c runs on its own allowlist: what a
 * daemon does survives; mount and module loading always kill; inet sockets, execve and
 * fork kill unless the process is expected to have them (net, exec: what its
 * declaration must say, pinned by the test). */
static const struct jido_allow *seccomp_check_allow;
static int seccomp_check_net, seccomp_check_exec;

static void
seccomp_check_allowed_survives(void **state)
{
	(void)state;
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_ALLOWED), 0);
}

static void
seccomp_check_forbidden_kills(void **state)
{
	(void)state;
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_MOUNT), SIGSYS);
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_INIT_MODULE),
	    SIGSYS);
}

static void
seccomp_check_network_and_exec(void **state)
{
	(void)state;
	assert_int_equal(seccomp_check_allow->net, seccomp_check_net);
	assert_int_equal(seccomp_check_allow->exec, seccomp_check_exec);
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_INET),
	    seccomp_check_net ? 0 : SIGSYS);
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_EXEC),
	    seccomp_check_exec ? 0 : SIGSYS);
	assert_int_equal(seccomp_check_run(seccomp_check_allow, SECCOMP_PROBE_FORK),
	    seccomp_check_exec ? 0 : SIGSYS);
}

/* Run the suite plus up to 8 process-specific tests (extra may be NULL). */
static inline int
seccomp_check_suite_with(const struct jido_allow *a, int net, int exec,
    const struct CMUnitTest *extra, size_t nextra)
{
	struct CMUnitTest tests[11] = {
		cmocka_unit_test(seccomp_check_allowed_survives),
		cmocka_unit_test(seccomp_check_forbidden_kills),
		cmocka_unit_test(seccomp_check_network_and_exec),
	};

	for (size_t i = 0; i < nextra && i < 8; i++)
		tests[3 + i] = extra[i];
	seccomp_check_allow = a;
	seccomp_check_net = net;
	seccomp_check_exec = exec;
	return _cmocka_run_group_tests("seccomp", tests, 3 + (nextra < 8 ? nextra : 8), NULL,
	    NULL);
}

static inline int
seccomp_check_suite(const struct jido_allow *a, int net, int exec)
{
	return seccomp_check_suite_with(a, net, exec, NULL, 0);
}

#endif
