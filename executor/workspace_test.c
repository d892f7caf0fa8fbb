/*
 * workspace_test.c - the per-project cached checkout (workspace.c) against a local origin:
 * a first and a second prepare; a git directory a killed step left half made (git init
 * done, no origin yet) is initialised again instead of failing every later step; while
 * another step holds the project's workspace lock a prepare waits, and answers conflict
 * when its wait is over, touching nothing; two first steps of one project at once (a
 * cancelled step still ending while the next starts) both succeed, one after the other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jido.h"
#include "workspace.h"

static char top[64], origin[128], root[128];

/* Run a shell command (printf format); 0 when it exited 0. */
__attribute__((format(printf, 1, 2))) static int
sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/jido-ws-test.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	snprintf(origin, sizeof(origin), "%s/origin", top);
	snprintf(root, sizeof(root), "%s/executor", top);
	return sh("git init -q -b main %s && echo a >%s/f.txt && git -C %s add . && "
	    "git -C %s -c user.name=t -c user.email=t@t commit -qm init", origin, origin, origin,
	    origin) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return sh("rm -rf %s", top);
}

static int
prepare(const char *branch, int wait_s, struct ws *w, char *why, size_t whylen)
{
	return ws_prepare(root, "octo/demo", origin, "main", branch, NULL, getuid(), getgid(),
	    wait_s, w, why, whylen);
}

static void
test_prepare_twice(void **state)
{
	struct ws w;
	char why[512] = "";

	(void)state;
	sh("rm -rf %s", root);
	assert_int_equal(prepare("jido/one", 0, &w, why, sizeof(why)), 0);
	assert_int_equal(strlen(w.base_sha), 40);
	assert_true(w.lock_fd >= 0);
	ws_release(&w);
	assert_int_equal(w.lock_fd, -1);
	assert_int_equal(prepare("jido/two", 0, &w, why, sizeof(why)), 0);
	ws_release(&w);
}

static void
test_half_made_git_dir_is_repaired(void **state)
{
	struct ws w;
	char why[512] = "", gitdir[300];

	(void)state;
	sh("rm -rf %s", root);
	/* What a step killed between git init and adding the remote leaves behind. */
	snprintf(gitdir, sizeof(gitdir), "%s/git/octo_demo_.git", root);
	assert_int_equal(sh("git init -q --bare %s", gitdir), 0);
	if (prepare("jido/three", 0, &w, why, sizeof(why)) != 0)
		fail_msg("prepare after a half-made init: %s", why);
	assert_int_equal(strlen(w.base_sha), 40);
	ws_release(&w);
}

static void
test_held_workspace_waits_then_conflicts(void **state)
{
	struct ws w;
	char why[512] = "", lock[300], f[300];
	struct stat st;
	int fd;

	(void)state;
	sh("rm -rf %s", root);
	snprintf(lock, sizeof(lock), "%s/git", root);
	assert_int_equal(jido_mkdirs(lock, 0700), 0);
	snprintf(lock, sizeof(lock), "%s/git/octo_demo.lock", root);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* another step holds the workspace */
	assert_int_equal(prepare("jido/four", 1, &w, why, sizeof(why)), JIDO_ECONFLICT);
	assert_non_null(strstr(why, "still in use"));
	assert_int_equal(w.lock_fd, -1);
	snprintf(f, sizeof(f), "%s/git/octo_demo_.git/HEAD", root);
	assert_int_not_equal(stat(f, &st), 0); /* nothing was touched */
	close(fd); /* that step ended */
	assert_int_equal(prepare("jido/four", 0, &w, why, sizeof(why)), 0);
	ws_release(&w);
}

static void
test_two_first_steps_at_once(void **state)
{
	pid_t kids[2];
	int status, i;

	(void)state;
	sh("rm -rf %s", root);
	for (i = 0; i < 2; i++) {
		if ((kids[i] = fork()) == 0) {
			struct ws w;
			char why[512] = "", br[32];
			snprintf(br, sizeof(br), "jido/at-once-%d", i);
			int rc = prepare(br, 60, &w, why, sizeof(why));
			if (rc != 0)
				fprintf(stderr, "child %d: %s\n", i, why);
			_exit(rc == 0 ? 0 : 1);
		}
		assert_true(kids[i] > 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepare_twice),
		cmocka_unit_test(test_half_made_git_dir_is_repaired),
		cmocka_unit_test(test_held_workspace_waits_then_conflicts),
		cmocka_unit_test(test_two_first_steps_at_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
