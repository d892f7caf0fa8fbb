/*
 * rtt_floor.c - benchmark: the floor under a request/reply round trip between two
 * processes on this machine, measured interleaved in one run so machine noise hits
 * every variant alike:
 *   unix-seqpacket  AF_UNIX SOCK_SEQPACKET ping-pong, blocking read/write (the OS floor)
 *   unix-stream     AF_UNIX SOCK_STREAM ping-pong, the same
 *   nng-echo        bare nng 1.5.2 REQ/REP echo over ipc, server nng_recv/nng_send loop
 *   nng-echo-aio    the same, server replying from an aio callback on a rep0 context
 *                   (no hand-off to a server thread)
 *   nng-echo-spin   the nng-echo server, client polling nng_recvmsg(NNG_FLAG_NONBLOCK)
 *   nng-echo-timeo  the nng-echo server with a 200 ms receive timeout (as the daemon loop)
 *   nng-echo-notimeo the nng-echo server, client without a receive timeout
 *   (every other nng client sets a 5 s receive timeout, as jido_bus_set_timeouts does)
 *   URL PROC ...    optional: running processes' <proc>.health (what health_rtt times)
 * Each server is a child forked before the parent touches nng (nng is not fork-safe).
 * usage: rtt_floor [N [URL PROC]...]   N round trips per variant (default 20000), in rounds.
 * RTT_SERVER_CPU=n pins the server children but nng-echo-aio to CPU n (run the whole
 * under taskset to pin the client too).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"

#define ROUND 1000
#define NBASE 7
#define NEXTRA 8
#define NVAR (NBASE + NEXTRA)

static const char *var_name[NVAR] = { "unix-seqpacket", "unix-stream", "nng-echo",
	"nng-echo-aio", "nng-echo-spin", "nng-echo-timeo", "nng-echo-notimeo" };

/* In a server child: RTT_SERVER_CPU=n pins it (and the nng threads it starts) to CPU n. */
static void
server_pin(void)
{
	const char *c = getenv("RTT_SERVER_CPU");
	cpu_set_t set;

	if (c == NULL || c[0] == '\0')
		return;
	CPU_ZERO(&set);
	CPU_SET(atoi(c), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Child: echo every packet on an accepted AF_UNIX connection until EOF. */
static void
unix_serve(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int l = socket(AF_UNIX, type, 0), c;
	ssize_t n;

	server_pin();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(l, 1) != 0 ||
	    (c = accept(l, NULL, NULL)) < 0)
		_exit(1);
	while ((n = read(c, buf, sizeof(buf))) > 0)
		if (write(c, buf, (size_t)n) != n)
			break;
	_exit(0);
}

static int
unix_dial(int type, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 200; i++) {
		if ((s = socket(AF_UNIX, type, 0)) < 0)
			return -1;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return s;
		close(s);
		usleep(10000);
	}
	return -1;
}

/* Child: bare nng REP echo, one request at a time on the socket. */
static void
nng_serve(const char *url, int timeo_ms)
{
	nng_socket s;
	nng_msg *m;
	int rv;

	server_pin();
	if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0)
		_exit(1);
	if (timeo_ms > 0) /* what the daemon loop does: a receive timeout for its tick */
		nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeo_ms);
	while ((rv = nng_recvmsg(s, &m, 0)) == 0 || rv == NNG_ETIMEDOUT)
		if (rv == 0 && nng_sendmsg(s, m, 0) != 0)
			nng_msg_free(m);
	_exit(0);
}

static int
nng_dial_retry(const char *url, nng_socket *s, int timeo)
{
	if (nng_req0_open(s) != 0)
		return -1;
	if (timeo) /* what jido_bus_set_timeouts does on a client */
		nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 5000);
	for (int i = 0; i < 200; i++) {
		if (nng_dial(*s, url, NULL, 0) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* One round of n round trips of msg on variant v; latencies appended to lat. */
static int
round_run(int v, int fd, nng_socket s, const char *msg, int n, int64_t *lat)
{
	size_t len = strlen(msg);
	char buf[4096];

	for (int i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();
		if (v <= 1) {
			if (write(fd, msg, len) != (ssize_t)len)
				return -1;
			size_t got = 0;
			while (got < len) { /* a stream may split the echo */
				ssize_t r = read(fd, buf + got, sizeof(buf) - got);
				if (r <= 0)
					return -1;
				got += (size_t)r;
				if (v == 0)
					break;
			}
		} else {
			nng_msg *m;
			int rv;
			if (nng_send(s, (void *)msg, len, 0) != 0)
				return -1;
			if (v == 4) {
				while ((rv = nng_recvmsg(s, &m, NNG_FLAG_NONBLOCK)) == NNG_EAGAIN)
					;
			} else
				rv = nng_recvmsg(s, &m, 0);
			if (rv != 0)
				return -1;
			nng_msg_free(m);
		}
		lat[i] = bench_now_ns() - t0;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000, nvar = NBASE, rounds;
	char dir[] = "/tmp/jido-rtt.XXXXXX", path[2][128], url[3][160], msg[NVAR][160];
	pid_t kids[5];
	int fd[2];
	nng_socket s[NVAR];
	int64_t *lat[NVAR];

	if (n < ROUND || mkdtemp(dir) == NULL || argc % 2 != 0 || argc > 2 + 2 * NEXTRA) {
		fprintf(stderr, "usage: rtt_floor [N >= %d [URL PROC]...]\n", ROUND);
		return 2;
	}
	rounds = n / ROUND;
	n = rounds * ROUND;
	snprintf(path[0], sizeof(path[0]), "%s/seq", dir);
	snprintf(path[1], sizeof(path[1]), "%s/stream", dir);
	snprintf(url[0], sizeof(url[0]), "ipc://%s/echo", dir);
	snprintf(url[1], sizeof(url[1]), "ipc://%s/echo-aio", dir);
	snprintf(url[2], sizeof(url[2]), "ipc://%s/echo-timeo", dir);
	/* the echoes get the bytes of a planner.health, the processes their own health */
	for (int v = 0; v < NVAR; v++) {
		int a = 2 + 2 * (v - NBASE);
		snprintf(msg[v], sizeof(msg[v]), "{\"v\":1,\"type\":\"%s.health\",\"id\":\"bench\"}",
		    v >= NBASE && a + 1 < argc ? argv[a + 1] : "planner");
		if (v >= NBASE && a + 1 < argc) {
			var_name[v] = argv[a + 1];
			nvar = v + 1;
		}
	}
	/* servers first: forked while the parent has not touched nng */
	if ((kids[0] = fork()) == 0)
		unix_serve(SOCK_SEQPACKET, path[0]);
	if ((kids[1] = fork()) == 0)
		unix_serve(SOCK_STREAM, path[1]);
	if ((kids[2] = fork()) == 0)
		nng_serve(url[0], 0);
	kids[3] = bench_echo_start(url[1], 1);
	if ((kids[4] = fork()) == 0)
		nng_serve(url[2], 200);
	if ((fd[0] = unix_dial(SOCK_SEQPACKET, path[0])) < 0 ||
	    (fd[1] = unix_dial(SOCK_STREAM, path[1])) < 0 || nng_dial_retry(url[0], &s[2], 1) != 0 ||
	    nng_dial_retry(url[1], &s[3], 1) != 0 || nng_dial_retry(url[0], &s[4], 1) != 0 ||
	    nng_dial_retry(url[2], &s[5], 1) != 0 || nng_dial_retry(url[0], &s[6], 0) != 0) {
		fprintf(stderr, "rtt_floor: cannot connect\n");
		return 111;
	}
	for (int v = NBASE; v < nvar; v++)
		if (nng_dial_retry(argv[2 + 2 * (v - NBASE)], &s[v], 1) != 0) {
			fprintf(stderr, "rtt_floor: cannot dial %s\n", argv[2 + 2 * (v - NBASE)]);
			return 111;
		}
	for (int v = 0; v < nvar; v++)
		if ((lat[v] = calloc((size_t)n, sizeof(int64_t))) == NULL)
			return 111;
	/* warm-up one round each, then rounds interleaved across the variants */
	for (int r = -1; r < rounds; r++)
		for (int v = 0; v < nvar; v++)
			if (round_run(v < NBASE ? v : 2, v <= 1 ? fd[v] : -1, s[v], msg[v], ROUND,
			    lat[v] + (size_t)(r < 0 ? 0 : r) * ROUND) != 0) {
				fprintf(stderr, "rtt_floor: %s failed\n", var_name[v]);
				return 111;
			}
	printf("round trip between two processes, %d each, interleaved in rounds of %d:\n", n,
	    ROUND);
	for (int v = 0; v < nvar; v++) {
		qsort(lat[v], (size_t)n, sizeof(int64_t), bench_cmp_i64);
		printf("  %-16s median %7.1f us  p99 %7.1f us  (%5.2fx unix-seqpacket, %5.2fx nng-echo)\n",
		    var_name[v], lat[v][n / 2] / 1e3, lat[v][(size_t)n * 99 / 100] / 1e3,
		    (double)lat[v][n / 2] / (double)lat[0][n / 2],
		    (double)lat[v][n / 2] / (double)lat[2][n / 2]);
	}
	for (int i = 0; i < 5; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0)
		;
	unlink(path[0]);
	unlink(path[1]);
	unlink(url[0] + 6);
	unlink(url[1] + 6);
	unlink(url[2] + 6);
	rmdir(dir);
	return 0;
}
