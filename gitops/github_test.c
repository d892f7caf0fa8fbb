/*
 * github_test.c - gitops_gh_call against a one-shot local HTTP server (a forked child on
 * a free port): a small JSON answer is parsed with its status, and an answer over the
 * 8 MB cap is cut off with JIDO_EPROVIDER and a why that says so, not reported as an
 * unreachable GitHub. (The whole REST surface is tested against the GitHub double in
 * tests/e2e/gitops.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gitops.h"

/* Serve one connection on a fresh port: read the request head, answer with status 200
 * and a body of n bytes (a JSON object padded with spaces). *pid is the child. */
static int
serve_once(size_t n, pid_t *pid)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	if ((*pid = fork()) == 0) {
		char head[8192], hdr[128];
		size_t got = 0;
		int c = accept(s, NULL, NULL);
		while (c >= 0 && got < sizeof(head) - 1) {
			ssize_t r = read(c, head + got, sizeof(head) - 1 - got);
			if (r <= 0)
				break;
			got += (size_t)r;
			head[got] = '\0';
			if (strstr(head, "\r\n\r\n") != NULL)
				break;
		}
		char *body = malloc(n);
		memset(body, ' ', n);
		memcpy(body, "{\"ok\":1}", 8);
		int hl = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
		if (write(c, hdr, (size_t)hl) == hl)
			for (size_t off = 0; off < n;) {
				ssize_t w = write(c, body + off, n - off);
				if (w <= 0)
					break; /* the client hung up at its cap */
				off += (size_t)w;
			}
		_exit(0);
	}
	close(s);
	return ntohs(a.sin_port);
}

/* What one gitops_gh_call answered. */
struct answer {
	int rc;
	long status;
	json_t *resp; /* the caller releases it */
	char why[256];
};

/* GET /repos/o/r from a one-shot server whose answer body is n bytes. */
static void
call(size_t n, struct answer *a)
{
	char url[64];
	pid_t pid;
	int port = serve_once(n, &pid);
	struct gitops_gh g = { .api_url = url, .token = "ghp_test", .retries = 0,
		.max_wait_s = 0, .timeout_s = 20 };

	memset(a, 0, sizeof(*a));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	a->rc = gitops_gh_call(&g, "GET", "/repos/o/r", NULL, &a->status, &a->resp, a->why,
	    sizeof(a->why));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_small_answer(void **state)
{
	struct answer a;

	(void)state;
	call(1000, &a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.status, 200);
	assert_non_null(a.resp);
	assert_int_equal(json_integer_value(json_object_get(a.resp, "ok")), 1);
	json_decref(a.resp);
}

static void
test_answer_over_cap(void **state)
{
	struct answer a;

	(void)state;
	call((8u << 20) + 4096, &a);
	assert_int_equal(a.rc, JIDO_EPROVIDER);
	assert_null(a.resp);
	assert_non_null(strstr(a.why, "over 8 MB"));
	assert_non_null(strstr(a.why, "/repos/o/r"));
	/* exactly at the cap is still an answer */
	call(8u << 20, &a);
	assert_int_equal(a.rc, 0);
	assert_non_null(a.resp);
	json_decref(a.resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_answer),
		cmocka_unit_test(test_answer_over_cap),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
