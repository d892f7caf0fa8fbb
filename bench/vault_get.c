/*
 * vault_get.c - benchmark of vault.get over ipc against its peer, the health round trip
 * of the same process on the same socket (so the difference is the vault's own work:
 * identity, ACL, SQLite lookup, decryption). One REQ socket, sequential round trips,
 * after a warm-up. Prints one line per measurement: ops/s, median, p99 (microseconds).
 * With CLIENTS > 1, that many processes (one REQ socket each) share the N round trips
 * and ops/s is the aggregate over the wall time of all of them.
 * The transport's own ceiling is measured in the same run: a bare nng REP echo (a child
 * process, 8 contexts answering from their aio callbacks, no JSON) sent the same bytes
 * as a vault.get by the same clients ("nng echo" lines); "vault.get raw" sends the vault
 * those bytes too (the vault's own capacity). Both use the leanest nng client: a bare REQ
 * socket with one aio kept for all its round trips, no JSON (the reply is only checked for
 * "ok":true); "vault.get" and "vault.health" use the lib's client (jido_bus_call_on).
 * usage: vault_get HOME CRED NAME [N] [CLIENTS]
 * Each line also gives the CPU time per request of the server (the echo child, or the
 * vault when VAULT_PID names it) and of the clients, over the timed round trips only.
 * VAULT_GET_ONLY=TYPE (vault.get or vault.health) times only that request, once, with no
 * echo peer: a steady load to profile the vault under (perf, strace), not a figure.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include <nng/protocol/reqrep0/req.h>
#include "jido.h"

/* CPU time (user + system, ns) of the process pid so far, from /proc; 0 when unknown. */
static int64_t
bench_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "(comm)": state is field 3, utime and stime fields 14 and 15 */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

/* CPU time (ns) of this process, every thread. */
static int64_t
bench_self_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The server of the measurement in progress (its CPU is read around it), and what the
 * clients and it spent: cli_cpu is shared with the client processes, one slot each. */
static pid_t bench_srv;
static int64_t bench_srv_cpu, *bench_cli_cpu;
static int bench_clients = 1;

/* A raw connection: a bare nng REQ socket and one aio kept for every round trip (no
 * JSON, no allocation per call beyond the message: the least a client can spend). */
struct bench_raw {
	nng_socket s;
	nng_aio *aio;
};

static int
bench_raw_open(struct bench_raw *r, const char *url)
{
	if (nng_req0_open(&r->s) != 0)
		return 1;
	if (nng_dial(r->s, url, NULL, 0) != 0 || nng_aio_alloc(&r->aio, NULL, NULL) != 0) {
		nng_close(r->s);
		return 1;
	}
	return 0;
}

static void
bench_raw_close(struct bench_raw *r)
{
	nng_aio_free(r->aio);
	nng_close(r->s);
}

/* One round trip of the bytes req; with check, the answer must hold "ok":true. */
static int
bench_raw_call(struct bench_raw *r, const char *req, size_t len, int check)
{
	nng_msg *m;
	int ok;

	if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, req, len) != 0)
		return 1;
	nng_aio_set_msg(r->aio, m);
	nng_aio_set_timeout(r->aio, 5000);
	nng_send_aio(r->s, r->aio);
	nng_aio_wait(r->aio);
	if (nng_aio_result(r->aio) != 0) {
		nng_msg_free(m);
		return 1;
	}
	nng_recv_aio(r->s, r->aio);
	nng_aio_wait(r->aio);
	if (nng_aio_result(r->aio) != 0)
		return 1;
	m = nng_aio_get_msg(r->aio);
	ok = !check || memmem(nng_msg_body(m), nng_msg_len(m), "\"ok\":true", 9) != NULL;
	sodium_memzero(nng_msg_body(m), nng_msg_len(m)); /* it holds the value */
	nng_msg_free(m);
	return !ok;
}

/* Run n round trips; fill lat (ns) and *total. type NULL: raw round trips on r of the
 * bytes in name (cred non-NULL: check the answer is ok); otherwise type through the lib's
 * client on b (with a get's data when name is set). */
static int
bench_run(struct jido_bus *b, struct bench_raw *r, const char *type, const char *cred,
    const char *name, int n, int64_t *lat, int64_t *total)
{
	int64_t t0 = bench_now_ns();
	size_t rawlen = type == NULL ? strlen(name) : 0;

	for (int i = 0; i < n; i++) {
		struct jido_reply rep;
		if (type == NULL) {
			int64_t s = bench_now_ns();
			if (bench_raw_call(r, name, rawlen, cred != NULL) != 0) {
				fprintf(stderr, "vault_get: raw request failed\n");
				return 1;
			}
			lat[i] = bench_now_ns() - s;
			continue;
		}
		json_t *data = name ? json_pack("{s:s,s:s}", "cred", cred, "name", name) : NULL;
		int64_t s = bench_now_ns();
		if (jido_bus_call_on(b, type, NULL, data, &rep) != 0 || !rep.ok) {
			fprintf(stderr, "vault_get: %s failed: %s\n", type,
			    rep.message ? rep.message : "transport");
			return 1;
		}
		jido_reply_free(&rep);
		lat[i] = bench_now_ns() - s;
	}
	*total = bench_now_ns() - t0;
	return 0;
}

static void
bench_print(const char *what, int n, int64_t *lat, int64_t total)
{
	int64_t cli = 0;

	for (int i = 0; i < bench_clients; i++)
		cli += bench_cli_cpu[i];
	qsort(lat, (size_t)n, sizeof(*lat), bench_cmp_i64);
	printf("%-18s n=%d ops/s=%.0f median_us=%.1f p99_us=%.1f server_cpu_us=%.1f "
	    "client_cpu_us=%.1f\n", what, n, (double)n * 1e9 / (double)total,
	    (double)lat[n / 2] / 1000.0, (double)lat[(size_t)n * 99 / 100] / 1000.0,
	    (double)bench_srv_cpu / 1000.0 / n, (double)cli / 1000.0 / n);
}

/* bench_run in this process, with the server's and this process's CPU around it. */
static int
bench_timed(struct jido_bus *b, struct bench_raw *r, pid_t srv, const char *type,
    const char *cred, const char *name, int n, int64_t *lat, int64_t *total)
{
	int64_t s0 = bench_cpu_ns(srv), c0 = bench_self_cpu_ns();
	int rc = bench_run(b, r, type, cred, name, n, lat, total);

	bench_cli_cpu[0] = bench_self_cpu_ns() - c0;
	bench_srv_cpu = bench_cpu_ns(srv) - s0;
	return rc;
}

/* clients processes, each its own socket (nng is not fork-safe: the parent never
 * touches nng in this mode), n/clients round trips of type each after a warm-up; all
 * start together when the parent closes the go pipe. lat is a shared mapping of n. */
static int
bench_concurrent(const char *url, const char *type, const char *cred, const char *name, int n,
    int clients, int64_t *lat, int64_t *total)
{
	int per = n / clients, failed = 0, go[2], ready[2];
	int64_t t0;
	char c;

	if (pipe(go) != 0 || pipe(ready) != 0)
		return 1;
	for (int i = 0; i < clients; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			struct jido_bus *b = NULL;
			struct bench_raw r;
			int64_t t;
			close(go[1]);
			close(ready[0]);
			if (type == NULL ? bench_raw_open(&r, url) != 0 :
			    jido_bus_open(JIDO_BUS_REQ, url, 0, 0, NULL, &b) != 0)
				_exit(1);
			if (b != NULL)
				jido_bus_set_timeouts(b, 5000, 5000);
			if (bench_run(b, &r, type, cred, name, per / 10 + 1, lat + (size_t)i * per,
			    &t))
				_exit(1);
			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 0)
				_exit(1);
			int64_t c0 = bench_self_cpu_ns();
			int rc = bench_run(b, &r, type, cred, name, per, lat + (size_t)i * per, &t);
			bench_cli_cpu[i] = bench_self_cpu_ns() - c0;
			_exit(rc);
		}
	}
	close(go[0]);
	close(ready[1]);
	for (int i = 0; i < clients; i++)
		if (read(ready[0], &c, 1) != 1)
			failed = 1;
	int64_t s0 = bench_cpu_ns(bench_srv);
	t0 = bench_now_ns();
	close(go[1]);
	for (int i = 0; i < clients; i++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	}
	*total = bench_now_ns() - t0;
	bench_srv_cpu = bench_cpu_ns(bench_srv) - s0;
	bench_clients = clients;
	close(ready[0]);
	return failed;
}

int
main(int argc, char **argv)
{
	struct jido_bus *b;
	struct bench_raw rb, eb;
	char url[4200], echo_url[4200], raw[512];
	pid_t echo;
	int n = argc > 4 ? atoi(argv[4]) : 50000, clients = argc > 5 ? atoi(argv[5]) : 1;
	int64_t *lat, total;

	if (argc < 4 || n < 100 || clients < 1 || clients > 64) {
		fprintf(stderr, "usage: vault_get HOME CRED NAME [N >= 100] [CLIENTS 1..64]\n");
		return 2;
	}
	lat = mmap(NULL, (size_t)n * sizeof(*lat), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	bench_cli_cpu = mmap(NULL, 64 * sizeof(*bench_cli_cpu), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sodium_init() < 0 || lat == MAP_FAILED || bench_cli_cpu == MAP_FAILED)
		return 111;
	/* the vault's pid (VAULT_PID, from bench/vault_get.sh): its CPU per request is shown */
	pid_t vault = getenv("VAULT_PID") != NULL ? (pid_t)atoi(getenv("VAULT_PID")) : 0;
	jido_log_init("bench");
	if (jido_bus_url_req(argv[1], "vault", url, sizeof(url)) != 0 ||
	    jido_bus_url_req(argv[1], "bench-echo", echo_url, sizeof(echo_url)) != 0)
		return 2;
	/* the bytes of a vault.get request, for the echo */
	snprintf(raw, sizeof(raw), "{\"v\":1,\"type\":\"vault.get\",\"id\":\"0123456789abcdef"
	    "0123456789abcdef\",\"data\":{\"cred\":\"%s\",\"name\":\"%s\"}}", argv[2], argv[3]);
	const char *only = getenv("VAULT_GET_ONLY");
	if (only != NULL) {
		int get = strcmp(only, "vault.get") == 0;
		if (!get && strcmp(only, "vault.health") != 0)
			return 2;
		bench_srv = vault;
		if (bench_concurrent(url, only, get ? argv[2] : NULL, get ? argv[3] : NULL, n,
		    clients, lat, &total) != 0)
			return 1;
		bench_print(only, n / clients * clients, lat, total);
		return 0;
	}
	if ((echo = bench_echo_start(echo_url, 8)) < 0)
		return 111;
	usleep(200000);
	if (clients > 1) {
		int m = n / clients * clients;
		char what[32];
		for (int round = 0; round < 2; round++) {
			bench_srv = echo;
			if (bench_concurrent(echo_url, NULL, NULL, raw, n, clients, lat, &total) != 0)
				return 1;
			snprintf(what, sizeof(what), "nng echo/c%d", clients);
			bench_print(what, m, lat, total);
			bench_srv = vault;
			if (bench_concurrent(url, NULL, "", raw, n, clients, lat, &total) != 0)
				return 1;
			snprintf(what, sizeof(what), "vault.get raw/c%d", clients);
			bench_print(what, m, lat, total);
			if (bench_concurrent(url, "vault.health", NULL, NULL, n, clients, lat,
			    &total) != 0)
				return 1;
			snprintf(what, sizeof(what), "vault.health/c%d", clients);
			bench_print(what, m, lat, total);
			if (bench_concurrent(url, "vault.get", argv[2], argv[3], n, clients, lat,
			    &total) != 0)
				return 1;
			snprintf(what, sizeof(what), "vault.get/c%d", clients);
			bench_print(what, m, lat, total);
		}
		kill(echo, SIGTERM);
		return 0;
	}
	if (jido_bus_open(JIDO_BUS_REQ, url, 0, 0, NULL, &b) != 0 || bench_raw_open(&rb, url) != 0 ||
	    bench_raw_open(&eb, echo_url) != 0) {
		fprintf(stderr, "vault_get: cannot dial %s or %s\n", url, echo_url);
		return 111;
	}
	jido_bus_set_timeouts(b, 5000, 5000);
	/* warm-up, then alternate so both see the same machine state */
	if (bench_run(b, NULL, "vault.get", argv[2], argv[3], n / 10, lat, &total) != 0 ||
	    bench_run(b, NULL, "vault.health", NULL, NULL, n / 10, lat, &total) != 0 ||
	    bench_run(NULL, &rb, NULL, "", raw, n / 10, lat, &total) != 0 ||
	    bench_run(NULL, &eb, NULL, NULL, raw, n / 10, lat, &total) != 0)
		return 1;
	for (int round = 0; round < 2; round++) {
		if (bench_timed(NULL, &eb, echo, NULL, NULL, raw, n, lat, &total) != 0)
			return 1;
		bench_print("nng echo", n, lat, total);
		if (bench_timed(NULL, &rb, vault, NULL, "", raw, n, lat, &total) != 0)
			return 1;
		bench_print("vault.get raw", n, lat, total);
		if (bench_timed(b, NULL, vault, "vault.health", NULL, NULL, n, lat, &total) != 0)
			return 1;
		bench_print("vault.health", n, lat, total);
		if (bench_timed(b, NULL, vault, "vault.get", argv[2], argv[3], n, lat, &total) != 0)
			return 1;
		bench_print("vault.get", n, lat, total);
	}
	jido_bus_close(b);
	bench_raw_close(&rb);
	bench_raw_close(&eb);
	kill(echo, SIGTERM);
	munmap(lat, (size_t)n * sizeof(*lat));
	return 0;
}
