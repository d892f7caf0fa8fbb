/*
 * web_workbench.c - how fast jido-web serves /workbench, its own share: a stand-in planner
 * on HOME/run/planner.sock answers planner.workbench at once with what the real one
 * returns for 20 repos, 10,000 open issues, 2,000 open PRs and 1,000 runs (counts for all,
 * the default 50 newest items per repo and kind, latest runs), and this program fetches
 * /workbench over keep-alive connections for a few seconds, then prints the median and
 * p99 time per page and the pages per second. Usage (bench/web.sh runs it):
 *   web_workbench HOME PORT COOKIE [SECONDS] [CONNECTIONS]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jido.h"

static char *canned;        /* the workbench reply's data for limit 10 (the page's default) */
static atomic_int stop;
static int port;
static const char *cookie;
static int seconds = 5;

/* The planner.workbench answer for 20 repos x (500 issues, 100 PRs), 50 runs each, with the
 * newest limit items per repo and kind (as the planner answers). */
static json_t *
bench_workbench(int limit)
{
	json_t *repos = json_array();
	int64_t now = jido_now_ms();

	for (int r = 0; r < 20; r++) {
		char name[64];
		json_t *issues = json_array(), *prs = json_array();
		snprintf(name, sizeof(name), "acme/repo-%02d", r);
		for (int i = 0; i < limit; i++) {
			char title[128], url[128], rid[32];
			snprintf(title, sizeof(title), "Issue %d: something <odd> & \"quoted\" happens "
			    "when the widget is resized", i);
			snprintf(url, sizeof(url), "https://github.com/%s/issues/%d", name, i + 1);
			snprintf(rid, sizeof(rid), "r%02d%04d", r, i);
			json_array_append_new(issues, json_pack("{s:i,s:s,s:[s],s:[],s:I,s:s,s:b,s:o}",
			    "number", i + 1, "title", title, "labels", "bug", "assignees", "activity_ms",
			    (json_int_t)(now - i * 3600000LL), "url", url, "stale", i > 40, "latest_run",
			    i % 2 ? json_pack("{s:s,s:s}", "id", rid, "state", "completed") : json_null()));
			snprintf(url, sizeof(url), "https://github.com/%s/pull/%d", name, 1000 + i);
			json_array_append_new(prs, json_pack("{s:i,s:s,s:[],s:[],s:I,s:s,s:b,s:n}",
			    "number", 1000 + i, "title", title, "labels", "assignees", "activity_ms",
			    (json_int_t)(now - i * 7200000LL), "url", url, "stale", i > 45, "latest_run"));
		}
		json_array_append_new(repos, json_pack("{s:i,s:s,s:b,s:s,s:o,s:o,s:i,s:i,s:i,s:i,"
		    "s:{s:s,s:s,s:s}}", "project_id", r + 1, "full_name", name, "enabled", 1,
		    "clone_status", "ready", "open_issues", issues, "open_prs", prs, "open_issue_count",
		    500, "open_pr_count", 100, "stale_issue_count", 80, "stale_pr_count", 10,
		    "latest_run", "id", "r0000", "state", "running", "workflow", "fix_issue"));
	}
	return json_pack("{s:o}", "repos", repos);
}

static void *
bench_planner(void *arg)
{
	struct jido_bus *b = arg;

	while (!atomic_load(&stop)) {
		char *buf, why[256];
		size_t len;
		struct jido_msg m;
		if (jido_bus_recv(b, &buf, &len, NULL) != 0)
			continue;
		if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) == 0) {
			/* the reply text is assembled around the canned data without re-encoding */
			json_t *jid = json_string(m.id);
			char *id = json_dumps(jid, JSON_ENCODE_ANY), *out;
			json_decref(jid);
			int n = strcmp(m.type, "planner.workbench") == 0 ? asprintf(&out,
			    "{\"v\":1,\"id\":%s,\"ok\":true,\"data\":%s}", id, canned) :
			    asprintf(&out, "{\"v\":1,\"id\":%s,\"ok\":true,\"data\":{}}", id);
			if (n > 0) {
				jido_bus_send(b, out, (size_t)n);
				free(out);
			}
			free(id);
			jido_msg_free(&m);
		}
		free(buf);
	}
	return NULL;
}

struct client {
	pthread_t th;
	double *ms;
	size_t n, cap;
	int errors;
};

static int
client_connect(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One GET /workbench (or $BENCH_PATH, e.g. /healthz for the floor) on fd; 0 on a 200
 * with the whole body read. */
static int
client_get(int fd, char *buf, size_t cap)
{
	char req[512];
	const char *path = getenv("BENCH_PATH") != NULL ? getenv("BENCH_PATH") : "/workbench";
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Cookie: jido_session=%s\r\n\r\n", path, cookie);
	size_t have = 0;
	long body = -1;
	char *hend = NULL;

	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + have, cap - have - 1);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		if (hend == NULL && (hend = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "Content-Length:");
			if (cl == NULL || cl > hend || strncmp(buf, "HTTP/1.1 200", 12) != 0)
				return -1;
			body = strtol(cl + 15, NULL, 10);
		}
		if (hend != NULL && (long)(have - (size_t)(hend + 4 - buf)) >= body)
			return 0;
		if (have + 1 >= cap)
			return -1;
	}
}

static void *
client_run(void *arg)
{
	struct client *c = arg;
	char *buf = malloc(8 << 20);
	int fd = client_connect();

	while (!atomic_load(&stop) && fd >= 0) {
		int64_t t0 = jido_now_ms();
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (client_get(fd, buf, 8 << 20) != 0) {
			c->errors++;
			close(fd);
			fd = client_connect();
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		(void)t0;
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 4096;
			c->ms = realloc(c->ms, c->cap * sizeof(double));
		}
		c->ms[c->n++] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char url[4200];
	struct jido_bus *b;
	pthread_t pl;
	int nconn = 4;

	if (argc < 4) {
		fprintf(stderr, "usage: web_workbench HOME PORT COOKIE [SECONDS] [CONNECTIONS]\n");
		return 2;
	}
	port = atoi(argv[2]);
	cookie = argv[3];
	if (argc > 4)
		seconds = atoi(argv[4]);
	if (argc > 5)
		nconn = atoi(argv[5]);
	json_t *wb = bench_workbench(getenv("LIMIT") ? atoi(getenv("LIMIT")) : 10);
	canned = jido_json_dump(wb);
	json_decref(wb);
	if (jido_bus_url_req(argv[1], "planner", url, sizeof(url)) != 0 ||
	    jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &b) != 0) {
		fprintf(stderr, "web_workbench: cannot listen on the planner socket\n");
		return 111;
	}
	jido_bus_set_timeouts(b, 100, 1000);
	pthread_create(&pl, NULL, bench_planner, b);
	usleep(200000);
	struct client *cs = calloc((size_t)nconn, sizeof(*cs));
	for (int i = 0; i < nconn; i++)
		pthread_create(&cs[i].th, NULL, client_run, &cs[i]);
	sleep((unsigned)seconds);
	atomic_store(&stop, 1);
	size_t total = 0;
	int errors = 0;
	for (int i = 0; i < nconn; i++) {
		pthread_join(cs[i].th, NULL);
		total += cs[i].n;
		errors += cs[i].errors;
	}
	pthread_join(pl, NULL);
	double *all = malloc((total ? total : 1) * sizeof(double));
	size_t k = 0;
	for (int i = 0; i < nconn; i++) {
		memcpy(all + k, cs[i].ms, cs[i].n * sizeof(double));
		k += cs[i].n;
		free(cs[i].ms);
	}
	qsort(all, total, sizeof(double), cmp_d);
	printf("workbench pages: %zu in %d s over %d connections, %d errors, page %zu bytes of "
	    "planner data\n", total, seconds, nconn, errors, strlen(canned));
	if (total > 0)
		printf("median %.2f ms, p99 %.2f ms, %.0f pages/s\n", all[total / 2],
		    all[total * 99 / 100], (double)total / seconds);
	free(all);
	free(cs);
	free(canned);
	jido_bus_close(b);
	return total > 0 && errors == 0 ? 0 : 1;
}
