/*
 * spawner_test.c - the executor's process factory: from a process with one thread it
 * starts, takes a step and its job answers on the event pipe with a result (a
 * fetch_issue against a port nobody listens on: no sandbox needed); from a process with
 * a second thread it refuses to fork (a child there may inherit a held lock and hang:
 * the ASan allocator did, and no step ever started), and says why.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jido.h"
#include "job.h"

static void
test_spawner_runs_a_step(void **state)
{
	char why[512] = "", buf[8192];
	size_t len = 0;
	ssize_t n;
	int spfd, evfd;

	(void)state;
	assert_int_equal(spawner_threads(), 1);
	spfd = spawner_start(why, sizeof(why));
	assert_true(spfd >= 0);
	json_t *req = json_pack("{s:s,s:s,s:s,s:{s:s},s:i,s:{s:s,s:s}}", "run_id", "r1", "step",
	    "fetch", "runner", "fetch_issue", "project", "full_name", "octo/demo", "issue", 1,
	    "config", "workdir", "/nonexistent-jido", "github_api_url", "http://127.0.0.1:1");
	evfd = spawner_submit(spfd, req, why, sizeof(why));
	json_decref(req);
	assert_true(evfd >= 0);
	/* Read to EOF (the job closes its end when it has answered), bounded at 60 s. */
	for (;;) {
		struct pollfd p = { evfd, POLLIN, 0 };
		assert_true(poll(&p, 1, 60000) == 1);
		n = read(evfd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		assert_true(len < sizeof(buf) - 1);
	}
	buf[len] = '\0';
	assert_non_null(strstr(buf, "\"result\""));
	assert_non_null(strstr(buf, "127.0.0.1:1/repos/octo/demo/issues/1"));
	close(evfd);
	close(spfd); /* the spawner sees EOF and exits */
}

static int go[2];

static void *
test_thread(void *arg)
{
	char c;

	(void)arg;
	while (read(go[0], &c, 1) < 0)
		;
	return NULL;
}

static void
test_spawner_refuses_threaded(void **state)
{
	char why[512] = "";
	pthread_t th;

	(void)state;
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pthread_create(&th, NULL, test_thread, NULL), 0);
	assert_int_equal(spawner_threads(), 2);
	assert_int_equal(spawner_start(why, sizeof(why)), -1);
	assert_non_null(strstr(why, "one thread"));
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(go[0]);
	close(go[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawner_runs_a_step),
		cmocka_unit_test(test_spawner_refuses_threaded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
