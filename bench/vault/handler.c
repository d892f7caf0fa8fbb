/*
 * handler.c - the vault's own cost per request, without the transport: the same
 * jido_srv_dispatch the daemon runs (envelope parse, identity, ACL, SQLite lookup,
 * decryption, reply), in process, for vault.get against vault.health.
 * usage: vault_handler HOME [N]   (HOME: an empty directory; it is filled)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "../bench.h"
#include "jido.h"

extern const struct jido_proc vault_proc;

/* Dispatch text n times; print ops/s, median and p99. Returns 1 when a reply is not ok. */
static int
run(struct jido_srv *s, const char *what, const char *text, int n, int64_t *lat)
{
	int64_t t0 = bench_now_ns();

	for (int i = 0; i < n; i++) {
		int64_t t = bench_now_ns();
		json_t *r = jido_srv_dispatch(s, text, strlen(text), NULL);
		int ok = json_is_true(json_object_get(r, "ok"));
		json_decref(r);
		lat[i] = bench_now_ns() - t;
		if (!ok)
			return 1;
	}
	int64_t total = bench_now_ns() - t0;
	qsort(lat, (size_t)n, sizeof(*lat), bench_cmp_i64);
	printf("%-22s n=%d ops/s=%.0f median_us=%.1f p99_us=%.1f\n", what, n,
	    (double)n * 1e9 / (double)total, (double)lat[n / 2] / 1000.0,
	    (double)lat[(size_t)n * 99 / 100] / 1000.0);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cred = "5555555555555555555555555555555555555555555555555555555555555555";
	char path[4200], hash[65], why[512], owner[65], get[512], put[512];
	int n = argc > 2 ? atoi(argv[2]) : 100000;
	struct jido_conf *c;
	struct jido_srv *s;
	int64_t *lat;
	FILE *f;

	if (argc < 2 || n < 100 || sodium_init() < 0 || (lat = calloc((size_t)n, 8)) == NULL) {
		fprintf(stderr, "usage: vault_handler HOME [N >= 100]\n");
		return 2;
	}
	jido_log_init("bench");
	jido_log_set_level(JIDO_LOG_WARN);
	snprintf(path, sizeof(path), "%s/run", argv[1]);
	jido_mkdirs(path, 0700);
	snprintf(path, sizeof(path), "%s/run/creds", argv[1]);
	jido_cred_hash(cred, hash);
	if ((f = fopen(path, "w")) == NULL)
		return 111;
	fprintf(f, "gitops %s\n", hash);
	fclose(f);
	if (jido_conf_load(NULL, &c, why, sizeof(why)) != 0 ||
	    jido_conf_set(c, "home", argv[1], why, sizeof(why)) != 0 ||
	    jido_srv_new(&vault_proc, c, &s, why, sizeof(why)) != 0) {
		fprintf(stderr, "vault_handler: %s\n", why);
		return 111;
	}
	snprintf(path, sizeof(path), "%s/run/owner.cred", argv[1]);
	if ((f = fopen(path, "r")) == NULL || fgets(owner, sizeof(owner), f) == NULL)
		return 111;
	fclose(f);
	snprintf(put, sizeof(put), "{\"v\":1,\"type\":\"vault.put\",\"id\":\"p\",\"data\":{"
	    "\"cred\":\"%s\",\"name\":\"github.token\",\"value\":\"ghp_0123456789abcdef0123456789"
	    "abcdef0123\"}}", owner);
	json_decref(jido_srv_dispatch(s, put, strlen(put), NULL));
	snprintf(get, sizeof(get), "{\"v\":1,\"type\":\"vault.get\",\"id\":\"g\",\"data\":{"
	    "\"cred\":\"%s\",\"name\":\"github.token\"}}", cred);
	const char *health = "{\"v\":1,\"type\":\"vault.health\",\"id\":\"h\"}";
	if (run(s, "inproc vault.health", health, n / 10, lat) != 0 ||
	    run(s, "inproc vault.get", get, n / 10, lat) != 0 ||
	    run(s, "inproc vault.health", health, n, lat) != 0 ||
	    run(s, "inproc vault.get", get, n, lat) != 0) {
		fprintf(stderr, "vault_handler: a request failed\n");
		return 1;
	}
	jido_srv_free(s);
	jido_conf_free(c);
	free(lat);
	return 0;
}
