/*
 * logs.c - `jido logs RUN --follow`: the run's kept log lines (the table's runs.logs),
 * then each new line as the executor publishes it, until the run ends. Locally the lines
 * come from run/logs.pub and the run's state from the planner; with --url from the web's
 * Server-Sent Events stream (/api/v1/runs/RUN/events). A line already printed (same step
 * and seq) is not printed again.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"
#include "ops.h"

struct follow {
	json_t *seen;  /* step -> highest seq printed */
	int json;
	int done;      /* 0 running, 1 completed, 2 failed/cancelled */
	char *buf;     /* SSE: the unparsed text */
	size_t len;
};

/* Print one log line {step, stream, seq, line} unless it was printed already. */
static void
follow_line(struct follow *f, const json_t *l)
{
	const json_t *sv = json_object_get(l, "step");
	const char *step = json_is_object(sv) ? json_string_value(json_object_get(sv, "id")) :
	    json_string_value(sv);
	json_int_t seq = json_integer_value(json_object_get(l, "seq"));

	step = step != NULL ? step : "-";
	if (json_integer_value(json_object_get(f->seen, step)) >= seq && seq > 0)
		return;
	json_object_set_new(f->seen, step, json_integer(seq));
	if (f->json) {
		char *t = jido_json_dump(l);
		printf("%s\n", t != NULL ? t : "{}");
		free(t);
	} else
		printf("%s | %s\n", step, json_string_value(json_object_get(l, "line")) ?
		    json_string_value(json_object_get(l, "line")) : "");
	fflush(stdout);
}

static int
follow_terminal(const char *state)
{
	if (state == NULL)
		return 0;
	if (strcmp(state, "completed") == 0)
		return 1;
	return strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0 ? 2 : 0;
}

/* The lines kept so far, through the table (locally or over REST). Returns an exit code. */
static int
follow_snapshot(struct cli *c, struct follow *f, const char *run)
{
	json_t *args = json_pack("{s:s}", "run", run), *out = NULL, *l;
	int rc = cli_op_call(c, jido_op_find("runs.logs"), args, &out);
	size_t i;

	json_decref(args);
	if (rc != 0)
		return rc;
	json_array_foreach(json_object_get(out, "lines"), i, l)
		follow_line(f, l);
	json_decref(out);
	return 0;
}

/* The run's state from the planner: 0 running, 1/2 ended, or -exit code on an error. */
static int
follow_state(struct cli *c, const char *run)
{
	struct jido_reply r;
	int rc;

	if ((rc = cli_call(c, "planner", "planner.runs.get", json_pack("{s:s}", "run_id", run), &r,
	    "logs")) != 0)
		return -rc;
	if (!r.ok) {
		rc = cli_fail(jido_err_exit(r.err), "logs", "%s: %s", jido_err_name(r.err), r.message);
		jido_reply_free(&r);
		return -rc;
	}
	rc = follow_terminal(json_string_value(json_object_get(r.data, "state")));
	jido_reply_free(&r);
	return rc;
}

static int
follow_local(struct cli *c, struct follow *f, const char *run)
{
	struct jido_bus *b = NULL;
	char url[4200];
	int64_t next = 0;
	int rc, st;

	if (jido_bus_url_pub(c->home, "logs", url, sizeof(url)) != 0 ||
	    jido_bus_open(JIDO_BUS_SUB, url, 0, 0, NULL, &b) != 0 || jido_bus_subscribe(b, "") != 0)
		return cli_fail(CLI_SYS, "logs", "cannot subscribe to %s", url);
	jido_bus_set_timeouts(b, 200, 1000);
	if ((rc = follow_snapshot(c, f, run)) != 0) {
		jido_bus_close(b);
		return rc;
	}
	for (int drain = 0; drain < 3;) {
		char *buf = NULL;
		size_t len;
		struct jido_msg m;
		char why[128];
		if (jido_bus_recv(b, &buf, &len, NULL) == 0) {
			if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) == 0) {
				const char *rid = m.corr != NULL ? m.corr :
				    json_string_value(json_object_get(m.data, "run_id"));
				if (strcmp(m.type, "logs.line") == 0 && rid != NULL && strcmp(rid, run) == 0)
					follow_line(f, m.data);
				jido_msg_free(&m);
			}
			free(buf);
			continue;
		}
		if (f->done) {
			drain++; /* lines published just before the end */
			continue;
		}
		if (jido_now_ms() >= next) {
			next = jido_now_ms() + 1000;
			if ((st = follow_state(c, run)) < 0) {
				jido_bus_close(b);
				return -st;
			}
			f->done = st;
		}
	}
	jido_bus_close(b);
	return f->done == 1 ? 0 : CLI_NEG;
}

/* SSE text from the web: complete events are handled, the rest kept. */
static size_t
follow_sse(char *p, size_t size, size_t n, void *arg)
{
	struct follow *f = arg;
	size_t k = size * n;
	char *nb, *ev;

	if ((nb = realloc(f->buf, f->len + k + 1)) == NULL)
		return 0;
	f->buf = nb;
	memcpy(f->buf + f->len, p, k);
	f->len += k;
	f->buf[f->len] = '\0';
	while ((ev = strstr(f->buf, "\n\n")) != NULL) {
		char kind[16] = "";
		const char *data = NULL;
		*ev = '\0';
		for (char *line = f->buf, *nl; line != NULL; line = nl) {
			nl = strchr(line, '\n');
			if (nl != NULL)
				*nl++ = '\0';
			if (strncmp(line, "event: ", 7) == 0)
				snprintf(kind, sizeof(kind), "%s", line + 7);
			else if (strncmp(line, "data: ", 6) == 0)
				data = line + 6;
		}
		json_t *d = data != NULL ? json_loads(data, 0, NULL) : NULL;
		if (strcmp(kind, "log") == 0 && d != NULL)
			follow_line(f, d);
		else if (strcmp(kind, "state") == 0 && d != NULL)
			f->done = follow_terminal(json_string_value(json_object_get(d, "to")));
		json_decref(d);
		size_t used = (size_t)(ev + 2 - f->buf);
		memmove(f->buf, ev + 2, f->len - used + 1);
		f->len -= used;
		if (f->done)
			return 0; /* the run ended: stop the transfer */
	}
	return k;
}

static int
follow_remote(struct cli *c, struct follow *f, const char *run)
{
	char url[4400], *e;
	struct curl_slist *hdr = NULL;
	CURL *h;
	CURLcode cc;
	int rc;

	if ((rc = follow_snapshot(c, f, run)) != 0)
		return rc;
	/* a run that already ended sends no more events */
	json_t *args = json_pack("{s:s}", "run", run), *out = NULL;
	rc = cli_op_call(c, jido_op_find("runs.get"), args, &out);
	json_decref(args);
	if (rc != 0)
		return rc;
	f->done = follow_terminal(json_string_value(json_object_get(out, "state")));
	json_decref(out);
	if (f->done)
		return f->done == 1 ? 0 : CLI_NEG;
	if ((h = curl_easy_init()) == NULL)
		return cli_fail(CLI_SYS, "logs", "libcurl did not initialise");
	e = curl_easy_escape(h, run, 0);
	snprintf(url, sizeof(url), "%.*s/api/v1/runs/%s/events", (int)(strlen(c->url) -
	    (c->url[0] && c->url[strlen(c->url) - 1] == '/')), c->url, e != NULL ? e : "");
	curl_free(e);
	if ((rc = cli_remote_setup(c, h, url, "text/event-stream", (void **)&hdr, follow_sse, f,
	    "logs")) != 0) {
		curl_easy_cleanup(h);
		return rc;
	}
	cc = curl_easy_perform(h);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(f->buf);
	f->buf = NULL;
	if (!f->done)
		return cli_fail(CLI_SYS, "logs", "the event stream ended: %s", curl_easy_strerror(cc));
	return f->done == 1 ? 0 : CLI_NEG;
}

int
cli_logs_follow(struct cli *c, const char *run, int json)
{
	struct follow f = { json_object(), json, 0, NULL, 0 };
	int rc = c->url != NULL ? follow_remote(c, &f, run) : follow_local(c, &f, run);

	json_decref(f.seen);
	return rc;
}
