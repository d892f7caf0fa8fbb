/*
 * gitops_ship.c - benchmark: the latency of gitops.ship against a running jido-gitops,
 * one request at a time over ipc, each with a fresh run id (so each one applies, checks,
 * commits, pushes, opens a PR and comments). usage: gitops_ship URL TEMPLATE.json N
 * (TEMPLATE: the request's data object). Prints min, median, p90 and max in ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jido.h"

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	json_error_t je;
	json_t *tpl;
	int n, i;
	int64_t *lat;

	if (argc != 4 || (n = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: gitops_ship URL TEMPLATE.json N\n");
		return 2;
	}
	if ((tpl = json_load_file(argv[2], 0, &je)) == NULL) {
		fprintf(stderr, "gitops_ship: %s: %s\n", argv[2], je.text);
		return 2;
	}
	lat = calloc((size_t)n, sizeof(*lat));
	for (i = 0; i < n; i++) {
		struct jido_reply r;
		char rid[64];
		json_t *d = json_deep_copy(tpl);
		int64_t t0;
		int rc;

		snprintf(rid, sizeof(rid), "%04d%04d-bench-%d", (int)(getpid() % 10000), i, (int)getpid());
		json_object_set_new(d, "run_id", json_string(rid));
		t0 = jido_now_ms();
		rc = jido_bus_call(argv[1], "gitops.ship", rid, d, 120000, &r);
		lat[i] = jido_now_ms() - t0;
		if (rc != 0 || !r.ok) {
			fprintf(stderr, "gitops_ship: ship %d failed: %s\n", i,
			    rc != 0 ? jido_strerror(rc) : (r.message ? r.message : "?"));
			if (rc == 0)
				jido_reply_free(&r);
			return 1;
		}
		jido_reply_free(&r);
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	printf("gitops.ship x%d: min %lld ms, median %lld ms, p90 %lld ms, max %lld ms\n", n,
	    (long long)lat[0], (long long)lat[n / 2], (long long)lat[(n * 9) / 10 < n ?
	    (n * 9) / 10 : n - 1], (long long)lat[n - 1]);
	json_decref(tpl);
	free(lat);
	return 0;
}
