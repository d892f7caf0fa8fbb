/*
 * health_rtt.c - benchmark: the round trip of <process>.health over ipc against a
 * running process, next to a peer measured in the same run: a bare nng REQ/REP echo of
 * the same bytes with no JSON and no envelope (what the bus alone costs).
 * usage: health_rtt URL PROCESS [N]   prints median, p99 and the ratio to the peer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "jido.h"

/* Time n round trips of msg on a REQ socket dialled to url; fills lat (ns). */
static int
run(const char *url, const char *msg, int n, int64_t *lat)
{
	nng_socket s;
	char *buf;
	size_t len;

	if (nng_req0_open(&s) != 0 || nng_dial(s, url, NULL, 0) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();
		if (nng_send(s, (void *)msg, strlen(msg), 0) != 0 ||
		    nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
			return -1;
		lat[i] = bench_now_ns() - t0;
		nng_free(buf, len);
	}
	nng_close(s);
	qsort(lat, (size_t)n, sizeof(lat[0]), bench_cmp_i64);
	return 0;
}

static void *
echo_main(void *arg)
{
	nng_socket *s = arg;
	char *buf;
	size_t len;

	while (nng_recv(*s, &buf, &len, NNG_FLAG_ALLOC) == 0)
		if (nng_send(*s, buf, len, NNG_FLAG_ALLOC) != 0)
			break;
	return NULL;
}

int
main(int argc, char **argv)
{
	char msg[128], peer_url[128];
	int n = argc > 3 ? atoi(argv[3]) : 20000;
	int64_t *a, *b;
	nng_socket echo;
	pthread_t th;

	if (argc < 3 || n <= 0) {
		fprintf(stderr, "usage: health_rtt URL PROCESS [N]\n");
		return 2;
	}
	a = calloc((size_t)n, sizeof(*a));
	b = calloc((size_t)n, sizeof(*b));
	snprintf(msg, sizeof(msg), "{\"v\":1,\"type\":\"%s.health\",\"id\":\"bench\"}", argv[2]);
	snprintf(peer_url, sizeof(peer_url), "ipc:///tmp/jido-bench-echo-%d.sock", (int)getpid());
	if (nng_rep0_open(&echo) != 0 || nng_listen(echo, peer_url, NULL, 0) != 0)
		return 111;
	pthread_create(&th, NULL, echo_main, &echo);
	/* warm up both, then measure both in the same run */
	if (run(argv[1], msg, n / 10 + 1, a) != 0 || run(peer_url, msg, n / 10 + 1, b) != 0 ||
	    run(argv[1], msg, n, a) != 0 || run(peer_url, msg, n, b) != 0) {
		fprintf(stderr, "health_rtt: round trip failed (is %s running?)\n", argv[1]);
		return 111;
	}
	printf("health round trip over ipc, %d requests to jido-%s:\n", n, argv[2]);
	printf("  jido-%-8s median %6.1f us  p99 %6.1f us\n", argv[2], a[n / 2] / 1e3,
	    a[n * 99 / 100] / 1e3);
	printf("  bare nng echo  median %6.1f us  p99 %6.1f us\n", b[n / 2] / 1e3,
	    b[n * 99 / 100] / 1e3);
	printf("  ratio (jido / bare nng) at the median: %.2f\n", (double)a[n / 2] / (double)b[n / 2]);
	nng_close(echo);
	unlink(peer_url + 6);
	free(a);
	free(b);
	return 0;
}
