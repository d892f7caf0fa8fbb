/*
 * gitops_seccomp_test.c - jido-gitops's own allowlist, installed in a child: what the process
 * needs keeps working, a syscall outside the list kills the child with SIGSYS. Expected:
 * network yes, exec yes; plus sodium's locked memory and git running under the list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/mman.h>

#include "jido.h"
#include "seccomp_check.h"

extern const struct jido_proc gitops_proc;

/* libsodium's guarded memory (the token lives in it) needs mlock/munlock; git needs a
 * fork + execve of a program that itself forks (sh -c inside git). */
static void
test_sodium_memory_and_git(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	if (pid == 0) {
		static char page[4096];
		if (jido_seccomp_install(&gitops_proc.allow) != 0)
			_exit(90);
		if (mlock(page, sizeof(page)) != 0 || munlock(page, sizeof(page)) != 0)
			_exit(91);
		char *argv[] = { (char *)"git", (char *)"--version", NULL };
		char *envp[] = { (char *)"PATH=/usr/bin:/bin", NULL };
		pid_t c = fork();
		if (c == 0) {
			int fd = open("/dev/null", O_WRONLY);
			dup2(fd, 1);
			execve("/usr/bin/git", argv, envp);
			_exit(93);
		}
		if (c < 0 || waitpid(c, &status, 0) != c)
			_exit(94);
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest extra[] = {
		cmocka_unit_test(test_sodium_memory_and_git),
	};

	return seccomp_check_suite_with(&gitops_proc.allow, 1, 1, extra, 1);
}
