/*
 * bench.h - what the benchmark programs share: a monotonic clock in nanoseconds, the
 * comparison for sorting latencies, and the bare nng echo peer (a child process whose
 * REP contexts answer from their aio callbacks: the transport with nothing on top).
 * Header-only (static functions), so each bench program stays one file to build.
 */
#ifndef JIDO_BENCH_H
#define JIDO_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#define BENCH_ECHO_CTX_MAX 16

static inline int64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* qsort comparison of int64_t latencies. */
static inline int
bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

struct bench_echo_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	int sending;
};

/* aio callback of the echo child: a request arrived (send it back as it is) or went out
 * (receive the next). */
static inline void
bench_echo_cb(void *arg)
{
	struct bench_echo_ctx *e = arg;
	int rv = nng_aio_result(e->aio);

	if (rv != 0 && e->sending)
		nng_msg_free(nng_aio_get_msg(e->aio));
	if (rv == NNG_ECLOSED)
		return;
	if (rv == 0 && !e->sending) {
		e->sending = 1;
		nng_ctx_send(e->ctx, e->aio);
		return;
	}
	e->sending = 0;
	nng_ctx_recv(e->ctx, e->aio);
}

/* Fork the echo child listening on url with nctx contexts; it runs until killed. Call it
 * before the parent touches nng (nng is not fork-safe). Returns the child's pid, or -1. */
static inline pid_t
bench_echo_start(const char *url, int nctx)
{
	static struct bench_echo_ctx e[BENCH_ECHO_CTX_MAX];
	nng_socket s;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (nctx > BENCH_ECHO_CTX_MAX)
		nctx = BENCH_ECHO_CTX_MAX;
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
		_exit(1);
	for (int i = 0; i < nctx; i++) {
		if (nng_ctx_open(&e[i].ctx, s) != 0 ||
		    nng_aio_alloc(&e[i].aio, bench_echo_cb, &e[i]) != 0)
			_exit(1);
		nng_ctx_recv(e[i].ctx, e[i].aio);
	}
	for (;;)
		pause();
}

#endif
