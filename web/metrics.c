/*
 * metrics.c - /metrics in the Prometheus text format (0.0.4): the web's own counters and
 * what it gathers at scrape time from the other processes' operations: every process's
 * health (up), runs by state, approvals waiting and flagged runs from the planner, and the
 * numeric fields of ingest.stats (webhooks received, rejected, duplicate, bad signature)
 * and gateway.breakers as gauges.
 * Optional bearer token (web.metrics_token). A process that does not answer is reported
 * as down, never as zero of its counters.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "web.h"

static void
m_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A metric name part from a JSON key: [a-z0-9_], anything else becomes '_'. */
static void
m_name(char *out, size_t len, const char *key)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i + 1 < len; i++) {
		char c = key[i];
		out[i] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c :
		    (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : '_';
	}
	out[i] = '\0';
}

/* The numeric and boolean fields (two levels deep) of a process's stats reply as gauges
 * named jido_<proc>_<path>, so what a process counts reaches /metrics without the web
 * knowing each field. Nothing is written when the process does not answer. */
static void
m_flatten(struct evbuffer *b, const char *prefix, const json_t *o, int depth)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		char name[192], part[96];
		m_name(part, sizeof(part), k);
		snprintf(name, sizeof(name), "%s_%s", prefix, part);
		if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
			evbuffer_add_printf(b, "# HELP %s %s (from the process's own stats)\n"
			    "# TYPE %s gauge\n", name, k, name);
			if (json_is_boolean(v))
				evbuffer_add_printf(b, "%s %d\n", name, json_is_true(v));
			else
				evbuffer_add_printf(b, "%s %.17g\n", name, json_number_value(v));
		} else if (json_is_object(v) && depth < 2)
			m_flatten(b, name, v, depth + 1);
	}
}

static void
m_gather(struct web *w, struct evbuffer *b, const char *proc, const char *type,
    const char *prefix)
{
	struct jido_reply r;

	if (web_call(w, proc, type, NULL, NULL, &r) != 0)
		return;
	if (r.ok && json_is_object(r.data))
		m_flatten(b, prefix, r.data, 0);
	jido_reply_free(&r);
}

void
metrics_serve(struct wreq *q)
{
	struct web *w = q->w;
	struct evbuffer *b;
	const char *tok = jido_conf_str(w->conf, "web.metrics_token");
	static const char *const states[] = { "pending", "running", "awaiting_approval",
		"completed", "failed", "cancelled" };
	struct jido_reply r;

	if (tok != NULL && tok[0] != '\0') {
		const char *auth = web_header(q, "Authorization");
		size_t n = strlen(tok);
		if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != n ||
		    sodium_memcmp(auth + 7, tok, n) != 0) {
			b = evbuffer_new();
			evbuffer_add_printf(b, "a bearer token is required\n");
			evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
			    "Bearer realm=\"metrics\"");
			web_send(q, 401, "text/plain; charset=utf-8", b);
			return;
		}
	}
	b = evbuffer_new();
	m_head(b, "jido_process_up", "gauge", "1 when the process answers health with READY");
	for (int i = 0; jido_procs[i] != NULL; i++) {
		char type[64];
		int up = 0;
		if (strcmp(jido_procs[i], "web") == 0)
			up = jido_srv_state(w->srv) == JIDO_READY;
		else {
			snprintf(type, sizeof(type), "%s.health", jido_procs[i]);
			if (jido_bus_call(w->url[i], type, NULL, NULL, 1000, &r) == 0) {
				up = r.ok && strcmp(json_string_value(json_object_get(r.data, "state")) ?
				    json_string_value(json_object_get(r.data, "state")) : "", "READY") == 0;
				jido_reply_free(&r);
			}
		}
		evbuffer_add_printf(b, "jido_process_up{process=\"%s\"} %d\n", jido_procs[i], up);
	}
	/* runs by state: one planner.runs.list per state, counting (limit = the planner's max) */
	int planner_ok = 1;
	int64_t counts[6] = { 0 };
	for (int i = 0; i < 6 && planner_ok; i++) {
		if (web_call(w, "planner", "planner.runs.list", NULL, json_pack("{s:s,s:i}", "state",
		    states[i], "limit", 100000), &r) != 0) {
			planner_ok = 0;
			break;
		}
		if (r.ok)
			counts[i] = (int64_t)json_array_size(json_object_get(r.data, "runs"));
		else
			planner_ok = 0;
		jido_reply_free(&r);
	}
	if (planner_ok) {
		m_head(b, "jido_runs", "gauge", "runs known to the planner, by state");
		for (int i = 0; i < 6; i++)
			evbuffer_add_printf(b, "jido_runs{state=\"%s\"} %lld\n", states[i],
			    (long long)counts[i]);
		if (web_call(w, "planner", "planner.approvals.kill_switch", NULL, NULL, &r) == 0) {
			if (r.ok) {
				m_head(b, "jido_shipping_paused", "gauge",
				    "1 while the shipping kill switch is on");
				evbuffer_add_printf(b, "jido_shipping_paused %d\n",
				    json_is_true(json_object_get(r.data, "paused")));
				m_head(b, "jido_runs_flagged", "gauge",
				    "runs parked by the shipping kill switch");
				evbuffer_add_printf(b, "jido_runs_flagged %lld\n", (long long)
				    json_integer_value(json_object_get(r.data, "flagged")));
			}
			jido_reply_free(&r);
		}
		m_head(b, "jido_approvals_waiting", "gauge", "runs waiting for the owner's approval");
		evbuffer_add_printf(b, "jido_approvals_waiting %lld\n", (long long)counts[2]);
	}
	m_gather(w, b, "ingest", "ingest.stats", "jido_ingest");
	m_gather(w, b, "gateway", "gateway.breakers", "jido_gateway_breakers");
	m_head(b, "jido_web_http_responses_total", "counter", "HTTP responses sent, by class");
	for (int c = 1; c <= 5; c++)
		evbuffer_add_printf(b, "jido_web_http_responses_total{class=\"%dxx\"} %llu\n", c,
		    (unsigned long long)w->m.http[c]);
	m_head(b, "jido_web_logins_total", "counter", "owner login attempts, by result");
	evbuffer_add_printf(b, "jido_web_logins_total{result=\"ok\"} %llu\n"
	    "jido_web_logins_total{result=\"failed\"} %llu\n"
	    "jido_web_logins_total{result=\"rate_limited\"} %llu\n",
	    (unsigned long long)w->m.login_ok, (unsigned long long)w->m.login_failed,
	    (unsigned long long)w->m.login_limited);
	m_head(b, "jido_web_csrf_refused_total", "counter", "POSTs refused for a bad CSRF token");
	evbuffer_add_printf(b, "jido_web_csrf_refused_total %llu\n",
	    (unsigned long long)w->m.csrf_refused);
	m_head(b, "jido_web_api_requests_total", "counter", "authenticated API requests");
	evbuffer_add_printf(b, "jido_web_api_requests_total %llu\n",
	    (unsigned long long)w->m.api_calls);
	m_head(b, "jido_web_api_rate_limited_total", "counter", "API requests refused with 429");
	evbuffer_add_printf(b, "jido_web_api_rate_limited_total %llu\n",
	    (unsigned long long)w->m.api_limited);
	m_head(b, "jido_web_notifications_total", "counter", "notifications to the owner, by result");
	evbuffer_add_printf(b, "jido_web_notifications_total{result=\"sent\"} %llu\n"
	    "jido_web_notifications_total{result=\"failed\"} %llu\n",
	    (unsigned long long)w->m.notify_sent, (unsigned long long)w->m.notify_failed);
	m_head(b, "jido_web_sse_clients", "gauge", "open live-update streams");
	evbuffer_add_printf(b, "jido_web_sse_clients %d\n", w->nclients);
	m_head(b, "jido_web_sse_events_total", "counter", "live-update events written to clients");
	evbuffer_add_printf(b, "jido_web_sse_events_total %llu\n",
	    (unsigned long long)w->m.sse_events);
	art_metrics(w, b); /* artifact disk usage, share link uses, frozen subjects */
	web_send(q, 200, "text/plain; version=0.0.4; charset=utf-8", b);
}
