/*
 * planner_bench.c - benchmark of a running jido-planner (bench/planner.sh starts it):
 *   1. events/s from the bus into the mirror: 10,000 issue and 2,000 PR sync events for
 *      20 projects published on run/events.pub (the planner's SUB socket), timed until
 *      planner.stats counts them all in;
 *   2. 1,000 runs created with planner.runs.create;
 *   3. planner.workbench latency over 200 calls each with 20 (the default), 50 and 0
 *      items per list: median and p99.
 * usage: planner_bench HOME      (the planner's state directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jido.h"

#define REPOS 20
#define ISSUES 10000
#define PRS 2000
#define RUNS 1000
#define CALLS 200
#define PACE_BURST 10 /* events per millisecond at most: 10,000/s */

static char url_req[4200], url_pub[4200];

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One call; returns the reply data (new reference) or exits. */
static json_t *
call(const char *type, json_t *data)
{
	struct jido_reply r;
	json_t *out;

	if (jido_bus_call(url_req, type, NULL, data, 30000, &r) != 0 || !r.ok) {
		fprintf(stderr, "planner_bench: %s failed\n", type);
		exit(111);
	}
	out = json_incref(r.data);
	jido_reply_free(&r);
	return out;
}

static long long
events_in(void)
{
	json_t *s = call("planner.stats", NULL);
	long long n = json_integer_value(json_object_get(s, "events_in"));

	json_decref(s);
	return n;
}

int
main(int argc, char **argv)
{
	struct jido_bus *pub;
	json_t *repos = json_array(), *out;
	char name[64], ts[32];
	int64_t t0, t1, lat[CALLS];
	long long base, n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: planner_bench HOME\n");
		return 2;
	}
	jido_bus_url_req(argv[1], "planner", url_req, sizeof(url_req));
	jido_bus_url_pub(argv[1], "events", url_pub, sizeof(url_pub));
	for (int i = 0; i < REPOS; i++) {
		snprintf(name, sizeof(name), "bench/repo%02d", i);
		json_array_append_new(repos, json_string(name));
	}
	json_decref(call("planner.projects.import", json_pack("{s:o}", "repos", repos)));
	if (jido_bus_open(JIDO_BUS_PUB, url_pub, 1, 0600, NULL, &pub) != 0) {
		fprintf(stderr, "planner_bench: cannot listen on %s\n", url_pub);
		return 111;
	}
	sleep(2); /* the planner's SUB socket reconnects */
	base = events_in();
	t0 = now_us();
	for (int i = 0; i < ISSUES + PRS; i++) {
		int pr = i >= ISSUES, num = i + 1;
		time_t when = time(NULL) - (time_t)(i % 40) * 86400; /* some stale */
		struct tm tm;
		gmtime_r(&when, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(name, sizeof(name), "bench/repo%02d", i % REPOS);
		json_t *m = jido_msg_new(pr ? "events.github.pull.synced" : "events.github.issue.synced",
		    NULL, NULL, json_pack("{s:s+,s:s,s:s,s:i,s:s,s:s+,s:[ss],s:s,s:s}", "delivery",
		    "sync-", ts, "event", pr ? "pull_request" : "issues", "repo", name, "number", num,
		    "state", "open", "title", "Item ", name, "labels", "bug", "p2", "updated_at", ts,
		    "url", "https://github.com/x"));
		char d[64];
		snprintf(d, sizeof(d), "sync-%d", i);
		json_object_set_new(json_object_get(m, "data"), "delivery", json_string(d));
		jido_bus_send_json(pub, m);
		json_decref(m);
		if (i % PACE_BURST == PACE_BURST - 1) /* PUB drops what a subscriber cannot queue */
			usleep(1000);
	}
	/* until all are in, or nothing moved for a second (PUB dropped the rest) */
	int64_t last_move = now_us(), last_n = -1;
	t1 = now_us();
	for (;;) {
		n = events_in() - base;
		if (n != last_n) {
			last_n = n;
			last_move = t1 = now_us();
		}
		if (n >= ISSUES + PRS || now_us() - last_move > 1000000)
			break;
		usleep(2000);
	}
	printf("planner: events into the mirror: %lld of %d in %.0f ms = %.0f events/s "
	    "(publisher paced at most %d/s)\n", n, ISSUES + PRS, (t1 - t0) / 1000.0,
	    n * 1e6 / (double)(t1 - t0), PACE_BURST * 1000);
	t0 = now_us();
	for (int i = 0; i < RUNS; i++) {
		snprintf(name, sizeof(name), "bench/repo%02d", i % REPOS);
		json_decref(call("planner.runs.create", json_pack("{s:s,s:s,s:i}", "project", name,
		    "workflow", i % 2 ? "issue_triage" : "fix_issue", "issue", i + 1)));
	}
	t1 = now_us();
	printf("planner: %d runs created in %.0f ms (%.2f ms each, dispatch attempts included)\n",
	    RUNS, (t1 - t0) / 1000.0, (t1 - t0) / 1000.0 / RUNS);
	static const int limits[] = { 20, 50, 0 };
	for (int li = 0; li < 3; li++) {
		for (int i = 0; i < CALLS; i++) {
			t0 = now_us();
			out = call("planner.workbench", json_pack("{s:i}", "limit", limits[li]));
			lat[i] = now_us() - t0;
			if (i == 0) {
				size_t k;
				json_t *r;
				long long issues = 0, prs = 0;
				json_array_foreach(json_object_get(out, "repos"), k, r) {
					issues += json_integer_value(json_object_get(r, "open_issue_count"));
					prs += json_integer_value(json_object_get(r, "open_pr_count"));
				}
				char *txt = jido_json_dump(out);
				printf("planner: workbench limit %d: %zu repos, %lld open issues, %lld "
				    "open PRs, reply %zu bytes\n", limits[li], json_array_size(
				    json_object_get(out, "repos")), issues, prs, txt ? strlen(txt) : 0);
				free(txt);
			}
			json_decref(out);
		}
		qsort(lat, CALLS, sizeof(lat[0]), cmp_i64);
		printf("planner: workbench limit %d round trip over ipc: median %.2f ms, p99 %.2f ms "
		    "(%d calls; target median < 5 ms)\n", limits[li], lat[CALLS / 2] / 1000.0,
		    lat[CALLS * 99 / 100] / 1000.0, CALLS);
	}
	jido_bus_close(pub);
	return 0;
}
