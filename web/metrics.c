/*
 * metrics.c - /metrics in the Prometheus text format (0.0.4): the web's own counters and
 * what it gathers at scrape time from the other processes' operations: every process's
 * health (up), runs by state, approvals waiting and flagged runs from the planner, and the
 * numeric fields of ingest.stats (webhooks received, rejected, duplicate, bad signature)
 * as gauges, and the gateway's figures from gateway.metrics (requests, errors, tokens and
 * cost, overall and per upstream; each upstream's breaker state and counts; calls in
 * flight; the outbox); the step-duration histogram (planner.steps.durations), policy
 * violations (planner.stats) and the audit log's size and checkpoint age (audit.stats).
 * Optional bearer token (web.metrics_token). A process that does not answer is reported
 * as down, never as zero of its counters.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/*
 * jido_step_duration_seconds, a Prometheus histogram by step kind, from the planner's
 * planner.steps.durations (cumulative bucket counts with their bounds in ms). Nothing is
 * written when the planner does not answer.
 */
static void
m_step_durations(struct web *w, struct evbuffer *b)
{
	struct jido_reply r;
	const json_t *le, *kinds, *k;
	const char *kind;
	size_t i;

	if (web_call(w, "planner", "planner.steps.durations", NULL, NULL, &r) != 0)
		return;
	le = json_object_get(r.data, "le_ms");
	kinds = json_object_get(r.data, "kinds");
	if (r.ok && json_is_array(le) && json_is_object(kinds)) {
		m_head(b, "jido_step_duration_seconds", "histogram",
		    "how long finished steps ran, by step kind");
		json_object_foreach((json_t *)kinds, kind, k) {
			const json_t *bk = json_object_get(k, "buckets");
			char label[64];
			m_name(label, sizeof(label), kind);
			for (i = 0; i < json_array_size(le) && i < json_array_size(bk); i++)
				evbuffer_add_printf(b, "jido_step_duration_seconds_bucket{kind=\"%s\","
				    "le=\"%g\"} %lld\n", label,
				    (double)json_integer_value(json_array_get(le, i)) / 1000.0,
				    (long long)json_integer_value(json_array_get(bk, i)));
			evbuffer_add_printf(b, "jido_step_duration_seconds_bucket{kind=\"%s\","
			    "le=\"+Inf\"} %lld\n", label,
			    (long long)json_integer_value(json_object_get(k, "count")));
			evbuffer_add_printf(b, "jido_step_duration_seconds_sum{kind=\"%s\"} %.3f\n",
			    label, (double)json_integer_value(json_object_get(k, "sum_ms")) / 1000.0);
			evbuffer_add_printf(b, "jido_step_duration_seconds_count{kind=\"%s\"} %lld\n",
			    label, (long long)json_integer_value(json_object_get(k, "count")));
		}
	}
	jido_reply_free(&r);
}

/* Seconds since an RFC 3339 UTC time ("2026-12-03T07:16:46Z", fractions ignored), or -1. */
static double
m_age_s(const char *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || (end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	return difftime(time(NULL), timegm(&tm));
}

/* The auditor's figures: records in the log, the last checkpoint and its age. */
static void
m_audit(struct web *w, struct evbuffer *b)
{
	struct jido_reply r;
	double age;

	if (web_call(w, "auditor", "audit.stats", NULL, NULL, &r) != 0)
		return;
	if (r.ok && json_is_object(r.data)) {
		m_head(b, "jido_audit_records", "gauge", "records in the audit log");
		evbuffer_add_printf(b, "jido_audit_records %lld\n",
		    (long long)json_integer_value(json_object_get(r.data, "tree_size")));
		m_head(b, "jido_audit_checkpoint_size", "gauge",
		    "records covered by the last signed checkpoint");
		evbuffer_add_printf(b, "jido_audit_checkpoint_size %lld\n",
		    (long long)json_integer_value(json_object_get(r.data, "checkpoint_size")));
		age = m_age_s(json_string_value(json_object_get(r.data, "checkpoint_time")));
		if (age >= 0) {
			m_head(b, "jido_audit_checkpoint_age_seconds", "gauge",
			    "seconds since the last signed checkpoint");
			evbuffer_add_printf(b, "jido_audit_checkpoint_age_seconds %.0f\n", age);
		}
		m_head(b, "jido_audit_broken", "gauge", "1 when the auditor found its log damaged");
		evbuffer_add_printf(b, "jido_audit_broken %d\n",
		    json_is_true(json_object_get(r.data, "broken")));
	}
	jido_reply_free(&r);
}

/* Policy violations the planner recorded (runs failed with policy_violation). */
static void
m_policy(struct web *w, struct evbuffer *b)
{
	struct jido_reply r;

	if (web_call(w, "planner", "planner.stats", NULL, NULL, &r) != 0)
		return;
	if (r.ok && json_is_integer(json_object_get(r.data, "policy_violations"))) {
		m_head(b, "jido_policy_violations", "gauge",
		    "runs stopped by a policy check (failure kind policy_violation)");
		evbuffer_add_printf(b, "jido_policy_violations %lld\n",
		    (long long)json_integer_value(json_object_get(r.data, "policy_violations")));
	}
	jido_reply_free(&r);
}

/* A Prometheus label value: backslash, double quote and newline escaped, at most len-1. */
static void
m_label(char *out, size_t len, const char *v)
{
	size_t o = 0;

	for (; v != NULL && *v != '\0' && o + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			out[o++] = '\\';
			out[o++] = *v == '\n' ? 'n' : *v;
		} else
			out[o++] = *v;
	}
	out[o] = '\0';
}

static long long
m_int(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* One series per element of arr: name{upstream="<lkey>"[,extra]} <vkey> (an integer;
 * scaled by 1e-6 when micro is set: micro-USD to USD). */
static void
m_per_upstream(struct evbuffer *b, const char *name, const json_t *arr, const char *lkey,
    const char *vkey, const char *extra, int micro)
{
	size_t i;
	json_t *u;

	json_array_foreach((json_t *)arr, i, u) {
		char l[160];
		m_label(l, sizeof(l), json_string_value(json_object_get(u, lkey)));
		if (micro)
			evbuffer_add_printf(b, "%s{upstream=\"%s\"%s} %.6f\n", name, l,
			    extra != NULL ? extra : "", (double)m_int(u, vkey) / 1e6);
		else
			evbuffer_add_printf(b, "%s{upstream=\"%s\"%s} %lld\n", name, l,
			    extra != NULL ? extra : "", m_int(u, vkey));
	}
}

/* The gateway's figures (gateway.metrics); nothing when it does not answer. */
static void
m_gateway(struct web *w, struct evbuffer *b)
{
	static const char *const kinds[] = { "input", "output", "cache_read", "cache_write" };
	static const char *const bstates[] = { "closed", "open", "half_open" };
	static const char *const counts[][3] = {
		{ "requests", "jido_gateway_upstream_requests_total", "requests the breaker let through" },
		{ "successes", "jido_gateway_upstream_successes_total", "calls that succeeded" },
		{ "failures", "jido_gateway_upstream_failures_total",
		  "calls that failed (connect error, timeout, 429, 5xx)" },
		{ "opens", "jido_gateway_upstream_opens_total", "times the breaker opened" },
		{ "rejected", "jido_gateway_upstream_rejected_total", "requests turned away while open" },
		{ "has_key", "jido_gateway_upstream_has_key", "1 when the gateway holds the upstream's key" },
	};
	static const char *const scalars[][4] = {
		{ "calls_in_flight", "jido_gateway_calls_in_flight", "gauge", "upstream calls in progress" },
		{ "streams_paused", "jido_gateway_streams_paused_total", "counter",
		  "times a stream stopped reading its upstream for a slow client" },
		{ "outbox_queued", "jido_gateway_outbox_queued", "gauge",
		  "usage and audit records waiting for the planner or the auditor" },
		{ "outbox_dropped", "jido_gateway_outbox_dropped_total", "counter",
		  "records dropped from a full outbox" },
	};
	struct jido_reply r;
	json_t *u, *by, *ups;
	size_t i;
	char extra[64], key[32];

	if (web_call(w, "gateway", "gateway.metrics", NULL, NULL, &r) != 0)
		return;
	if (!r.ok || !json_is_object(r.data)) {
		jido_reply_free(&r);
		return;
	}
	by = json_object_get(r.data, "by_upstream");
	ups = json_object_get(r.data, "upstreams");
	m_head(b, "jido_gateway_requests_total", "counter",
	    "metered LLM requests recorded by the gateway, by upstream");
	m_per_upstream(b, "jido_gateway_requests_total", by, "upstream", "requests", NULL, 0);
	m_head(b, "jido_gateway_request_errors_total", "counter",
	    "metered requests answered with a status of 400 or more, by upstream");
	m_per_upstream(b, "jido_gateway_request_errors_total", by, "upstream", "errors", NULL, 0);
	m_head(b, "jido_gateway_tokens_total", "counter",
	    "tokens the providers reported, by upstream and kind");
	for (int k = 0; k < 4; k++) {
		snprintf(extra, sizeof(extra), ",kind=\"%s\"", kinds[k]);
		snprintf(key, sizeof(key), "%s_tokens", kinds[k]);
		m_per_upstream(b, "jido_gateway_tokens_total", by, "upstream", key, extra, 0);
	}
	m_head(b, "jido_gateway_cost_usd_total", "counter",
	    "cost of the recorded requests in USD (prices snapshotted per record), by upstream");
	m_per_upstream(b, "jido_gateway_cost_usd_total", by, "upstream", "cost_musd", NULL, 1);
	m_head(b, "jido_gateway_breaker_state", "gauge",
	    "1 for the state each upstream's circuit breaker is in");
	json_array_foreach(ups, i, u) {
		char l[160];
		const char *st = json_string_value(json_object_get(u, "state"));
		m_label(l, sizeof(l), json_string_value(json_object_get(u, "name")));
		for (int k = 0; k < 3; k++)
			evbuffer_add_printf(b, "jido_gateway_breaker_state{upstream=\"%s\",state=\"%s\"}"
			    " %d\n", l, bstates[k], st != NULL && strcmp(st, bstates[k]) == 0);
	}
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		m_head(b, counts[k][1], strcmp(counts[k][0], "has_key") == 0 ? "gauge" : "counter",
		    counts[k][2]);
		if (strcmp(counts[k][0], "has_key") == 0) {
			json_array_foreach(ups, i, u) {
				char l[160];
				m_label(l, sizeof(l), json_string_value(json_object_get(u, "name")));
				evbuffer_add_printf(b, "%s{upstream=\"%s\"} %d\n", counts[k][1], l,
				    json_is_true(json_object_get(u, "has_key")));
			}
		} else
			m_per_upstream(b, counts[k][1], ups, "name", counts[k][0], NULL, 0);
	}
	for (size_t k = 0; k < sizeof(scalars) / sizeof(scalars[0]); k++) {
		m_head(b, scalars[k][1], scalars[k][2], scalars[k][3]);
		evbuffer_add_printf(b, "%s %lld\n", scalars[k][1], m_int(r.data, scalars[k][0]));
	}
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
	m_step_durations(w, b);
	m_policy(w, b);
	m_audit(w, b);
	m_gather(w, b, "ingest", "ingest.stats", "jido_ingest");
	m_gateway(w, b);
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
