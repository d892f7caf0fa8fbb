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
 * those bytes too (a client doing no JSON work: the vault's own capacity).
 * usage: vault_get HOME CRED NAME [N] [CLIENTS]
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
#include "jido.h"

/* Run n round trips of type (with a get's data when name is set); fill lat (ns). */
static int
bench_run(struct jido_bus *b, const char *type, const char *cred, const char *name, int n,
    int64_t *lat, int64_t *total)
{
	int64_t t0 = bench_now_ns();

	for (int i = 0; i < n; i++) {
		struct jido_reply r;
		if (type == NULL) { /* raw bytes: name is the whole request; no JSON work here */
			char *buf;
			size_t len;
			int64_t s = bench_now_ns();
			if (jido_bus_send(b, name, strlen(name)) != 0 ||
			    jido_bus_recv(b, &buf, &len, NULL) != 0 ||
			    (cred != NULL && strstr(buf, "\"ok\":true") == NULL)) {
				fprintf(stderr, "vault_get: raw request failed\n");
				return 1;
			}
			free(buf);
			lat[i] = bench_now_ns() - s;
			continue;
		}
		json_t *data = name ? json_pack("{s:s,s:s}", "cred", cred, "name", name) : NULL;
		int64_t s = bench_now_ns();
		if (jido_bus_call_on(b, type, NULL, data, &r) != 0 || !r.ok) {
			fprintf(stderr, "vault_get: %s failed: %s\n", type,
			    r.message ? r.message : "transport");
			return 1;
		}
		jido_reply_free(&r);
		lat[i] = bench_now_ns() - s;
	}
	*total = bench_now_ns() - t0;
	return 0;
}

static void
bench_print(const char *what, int n, int64_t *lat, int64_t total)
{
	qsort(lat, (size_t)n, sizeof(*lat), bench_cmp_i64);
	printf("%-18s n=%d ops/s=%.0f median_us=%.1f p99_us=%.1f\n", what, n,
	    (double)n * 1e9 / (double)total, (double)lat[n / 2] / 1000.0,
	    (double)lat[(size_t)n * 99 / 100] / 1000.0);
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
			struct jido_bus *b;
			int64_t t;
			close(go[1]);
			close(ready[0]);
			if (jido_bus_open(JIDO_BUS_REQ, url, 0, 0, NULL, &b) != 0)
				_exit(1);
			jido_bus_set_timeouts(b, 5000, 5000);
			if (bench_run(b, type, cred, name, per / 10 + 1, lat + (size_t)i * per, &t))
				_exit(1);
			if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 0)
				_exit(1);
			_exit(bench_run(b, type, cred, name, per, lat + (size_t)i * per, &t));
		}
	}
	close(go[0]);
	close(ready[1]);
	for (int i = 0; i < clients; i++)
		if (read(ready[0], &c, 1) != 1)
			failed = 1;
	t0 = bench_now_ns();
	close(go[1]);
	for (int i = 0; i < clients; i++) {
		int st;
		if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	}
	*total = bench_now_ns() - t0;
	close(ready[0]);
	return failed;
}

int
main(int argc, char **argv)
{
	struct jido_bus *b, *eb;
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
	if (sodium_init() < 0 || lat == MAP_FAILED)
		return 111;
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
			if (bench_concurrent(echo_url, NULL, NULL, raw, n, clients, lat, &total) != 0)
				return 1;
			snprintf(what, sizeof(what), "nng echo/c%d", clients);
			bench_print(what, m, lat, total);
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
	if (jido_bus_open(JIDO_BUS_REQ, url, 0, 0, NULL, &b) != 0) {
		fprintf(stderr, "vault_get: cannot dial %s\n", url);
		return 111;
	}
	jido_bus_set_timeouts(b, 5000, 5000);
	/* warm-up, then alternate so both see the same machine state */
	if (bench_run(b, "vault.get", argv[2], argv[3], n / 10, lat, &total) != 0 ||
	    bench_run(b, "vault.health", NULL, NULL, n / 10, lat, &total) != 0)
		return 1;
	if (jido_bus_open(JIDO_BUS_REQ, echo_url, 0, 0, NULL, &eb) != 0)
		return 111;
	jido_bus_set_timeouts(eb, 5000, 5000);
	if (bench_run(eb, NULL, NULL, raw, n / 10, lat, &total) != 0)
		return 1;
	for (int round = 0; round < 2; round++) {
		if (bench_run(eb, NULL, NULL, raw, n, lat, &total) != 0)
			return 1;
		bench_print("nng echo", n, lat, total);
		if (bench_run(b, NULL, "", raw, n, lat, &total) != 0)
			return 1;
		bench_print("vault.get raw", n, lat, total);
		if (bench_run(b, "vault.health", NULL, NULL, n, lat, &total) != 0)
			return 1;
		bench_print("vault.health", n, lat, total);
		if (bench_run(b, "vault.get", argv[2], argv[3], n, lat, &total) != 0)
			return 1;
		bench_print("vault.get", n, lat, total);
	}
	jido_bus_close(b);
	jido_bus_close(eb);
	kill(echo, SIGTERM);
	munmap(lat, (size_t)n * sizeof(*lat));
	return 0;
}
