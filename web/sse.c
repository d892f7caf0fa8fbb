/*
 * sse.c - live updates: the web subscribes to run/runs.pub (the planner's run and step
 * transitions) and run/logs.pub (the executor's redacted log lines), keeps the most recent
 * WEB_SSE_RING events in a ring, and streams a run's events to browsers and scripts as
 * Server-Sent Events. Every event id is "<boot>-<seq>": a client that reconnects with
 * Last-Event-ID gets what it missed from the ring, or a "gap" event first when some of it
 * is gone (the ring wrapped, or the web restarted since).
 */
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define SSE_KEEPALIVE_MS 15000
#define SSE_MAX_CLIENTS 256
#define SSE_POLL_MAX 500

struct sse_client {
	struct sse_client *next;
	struct evhttp_request *r;
	struct evhttp_connection *con;
	char run_id[64];
};

static int
sse_sub(struct web *w, const char *topic, struct jido_bus **out, char *why, size_t whylen)
{
	char key[64], url[WEB_URL_MAX];
	const char *v;
	struct jido_bus_tls tls = { jido_conf_str(w->conf, "bus.tls_cert"),
		jido_conf_str(w->conf, "bus.tls_key"), jido_conf_str(w->conf, "bus.tls_ca") };
	int rc;

	snprintf(key, sizeof(key), "socket.%s", topic);
	v = jido_conf_str(w->conf, key);
	if (v != NULL && v[0] != '\0')
		snprintf(url, sizeof(url), "%s", v);
	else if (jido_bus_url_pub(w->home, topic, url, sizeof(url)) != 0) {
		snprintf(why, whylen, "state directory path too long");
		return JIDO_EVALIDATION;
	}
	if ((rc = jido_bus_open(JIDO_BUS_SUB, url, 0, 0, &tls, out)) != 0) {
		snprintf(why, whylen, "cannot subscribe to %s: %s", url, jido_strerror(rc));
		return rc;
	}
	return jido_bus_subscribe(*out, "");
}

void
sse_reply_start(struct wreq *q)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);

	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	q->w->m.http[2]++;
	evhttp_send_reply_start(q->r, 200, "OK");
}

int
sse_open(struct web *w, char *why, size_t whylen)
{
	int rc;

	if ((rc = sse_sub(w, "runs", &w->sub_runs, why, whylen)) != 0 ||
	    (rc = sse_sub(w, "events", &w->sub_events, why, whylen)) != 0)
		return rc;
	return sse_sub(w, "logs", &w->sub_logs, why, whylen);
}

void
sse_close(struct web *w)
{
	struct sse_client *c;

	while ((c = w->clients) != NULL) {
		w->clients = c->next;
		evhttp_connection_set_closecb(c->con, NULL, NULL);
		free(c);
	}
	w->nclients = 0;
	jido_bus_close(w->sub_runs);
	jido_bus_close(w->sub_logs);
	jido_bus_close(w->sub_events);
	w->sub_runs = w->sub_logs = w->sub_events = NULL;
	json_decref(w->wb_cache);
	w->wb_cache = NULL;
	for (int i = 0; i < WEB_SSE_RING; i++) {
		free(w->ring[i].data);
		w->ring[i].data = NULL;
	}
}

uint64_t
sse_ring_push(struct web *w, const char *run_id, const char *kind, const char *data)
{
	struct sse_event *e = &w->ring[(w->seq + 1) % WEB_SSE_RING];

	free(e->data);
	e->seq = ++w->seq;
	snprintf(e->run_id, sizeof(e->run_id), "%s", run_id);
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	e->data = strdup(data);
	return e->seq;
}

uint64_t
sse_resume_point(struct web *w, const char *last_id, int *gap)
{
	unsigned long long boot, seq;
	uint64_t oldest = w->seq >= WEB_SSE_RING ? w->seq - WEB_SSE_RING + 1 : 1;
	char tail;

	*gap = 0;
	if (last_id == NULL || last_id[0] == '\0')
		return 0;
	if (sscanf(last_id, "%llu-%llu%c", &boot, &seq, &tail) != 2 || boot != w->boot ||
	    seq > w->seq) {
		*gap = 1;          /* another run of the web, or nonsense: replay what we have */
		return 0;
	}
	if (seq + 1 < oldest)
		*gap = 1;          /* events after seq have left the ring */
	return seq;
}

static void
sse_write(struct web *w, struct evhttp_request *r, const struct sse_event *e)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "id: %llu-%llu\nevent: %s\ndata: %s\n\n", (unsigned long long)w->boot,
	    (unsigned long long)e->seq, e->kind, e->data);
	evhttp_send_reply_chunk(r, b);
	evbuffer_free(b);
	w->m.sse_events++;
}

static void
sse_on_close(struct evhttp_connection *con, void *arg)
{
	struct web *w = arg;
	struct sse_client **pp = &w->clients;

	while (*pp != NULL) {
		if ((*pp)->con == con) {
			struct sse_client *c = *pp;
			*pp = c->next;
			/* libevent detaches a chunked reply in progress from a connection the client
			 * dropped and leaves the request to us: ending it frees it. */
			if (evhttp_request_get_connection(c->r) == NULL)
				evhttp_send_reply_end(c->r);
			free(c);
			w->nclients--;
			return;
		}
		pp = &(*pp)->next;
	}
}

void
sse_serve(struct wreq *q, const char *run_id)
{
	struct web *w = q->w;
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
	struct sse_client *c;
	const char *last = web_header(q, "Last-Event-ID");
	uint64_t from;
	int gap;

	if (w->nclients >= SSE_MAX_CLIENTS || (c = calloc(1, sizeof(*c))) == NULL) {
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "too many live connections\n");
		evhttp_add_header(h, "Retry-After", "5");
		web_send(q, 503, "text/plain; charset=utf-8", b);
		return;
	}
	if (last == NULL)
		last = web_query(q, "last_event_id");
	from = sse_resume_point(w, last, &gap);
	c->r = q->r;
	c->con = evhttp_request_get_connection(q->r);
	snprintf(c->run_id, sizeof(c->run_id), "%s", run_id);
	sse_reply_start(q);
	{
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "retry: 2000\n\n");
		if (gap)
			evbuffer_add_printf(b, "id: %llu-%llu\nevent: gap\ndata: {\"after\":\"%s\"}\n\n",
			    (unsigned long long)w->boot, (unsigned long long)from, "earlier events");
		evhttp_send_reply_chunk(q->r, b);
		evbuffer_free(b);
	}
	uint64_t oldest = w->seq >= WEB_SSE_RING ? w->seq - WEB_SSE_RING + 1 : 1;
	for (uint64_t s = from + 1 > oldest ? from + 1 : oldest; s <= w->seq; s++) {
		const struct sse_event *e = &w->ring[s % WEB_SSE_RING];
		if (e->seq == s && strcmp(e->run_id, run_id) == 0)
			sse_write(w, q->r, e);
	}
	evhttp_connection_set_closecb(c->con, sse_on_close, w);
	c->next = w->clients;
	w->clients = c;
	w->nclients++;
}

/* One message from a SUB socket into the ring and out to the run's clients. */
static void
sse_take(struct web *w, const char *buf, size_t len)
{
	struct jido_msg m;
	char why[256];
	const char *kind, *run;
	char *text;

	if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0)
		return;
	size_t tl = strlen(m.type);
	if ((tl < 10 || strcmp(m.type + tl - 10, ".heartbeat") != 0) &&
	    strcmp(m.type, "logs.line") != 0)
		w->gen++; /* the planner's data changed: cached workbench answers are stale */
	if (strncmp(m.type, "events.", 7) == 0) {
		jido_msg_free(&m);
		return;
	}
	if (strcmp(m.type, "guard.frozen") == 0) { /* the planner froze a project */
		char line[768];
		snprintf(line, sizeof(line), "JidoCode froze project %s: %s. Its pushes and comments "
		    "wait until you unfreeze it on the dashboard: %s/dashboard",
		    json_string_value(json_object_get(m.data, "project")) ?
		    json_string_value(json_object_get(m.data, "project")) : "?",
		    json_string_value(json_object_get(m.data, "reason")) ?
		    json_string_value(json_object_get(m.data, "reason")) : "",
		    jido_conf_str(w->conf, "web.public_url"));
		notify_event(w, line);
		jido_msg_free(&m);
		return;
	}
	if (strcmp(m.type, "runs.state") == 0)
		kind = "state";
	else if (strcmp(m.type, "runs.step") == 0)
		kind = "step";
	else if (strcmp(m.type, "logs.line") == 0)
		kind = "log";
	else {
		jido_msg_free(&m); /* heartbeats and anything new */
		return;
	}
	run = m.corr != NULL ? m.corr : json_string_value(json_object_get(m.data, "run_id"));
	if (run == NULL || strlen(run) >= 64 || (text = jido_json_dump(m.data)) == NULL) {
		jido_msg_free(&m);
		return;
	}
	uint64_t seq = sse_ring_push(w, run, kind, text);
	const char *to = json_string_value(json_object_get(m.data, "to"));
	if (strcmp(kind, "state") == 0 && to != NULL && (strcmp(to, "awaiting_approval") == 0 ||
	    strcmp(to, "failed") == 0)) {
		char line[512];
		snprintf(line, sizeof(line), "Run %s %s: %s/runs/%s", run,
		    strcmp(to, "failed") == 0 ? "failed" : "waits for your approval",
		    jido_conf_str(w->conf, "web.public_url"), run);
		notify_event(w, line);
	}
	free(text);
	for (struct sse_client *c = w->clients; c != NULL; c = c->next)
		if (strcmp(c->run_id, run) == 0)
			sse_write(w, c->r, &w->ring[seq % WEB_SSE_RING]);
	jido_msg_free(&m);
}

void
sse_poll(struct web *w)
{
	struct jido_bus *subs[3] = { w->sub_runs, w->sub_logs, w->sub_events };
	int64_t now = jido_now_ms();

	for (int i = 0; i < 3; i++) {
		char *buf;
		size_t len;
		for (int n = 0; subs[i] != NULL && n < SSE_POLL_MAX &&
		    jido_bus_recv_flags(subs[i], &buf, &len, NULL, 1) == 0; n++) {
			sse_take(w, buf, len);
			free(buf);
		}
	}
	if (now - w->last_keepalive >= SSE_KEEPALIVE_MS) {
		w->last_keepalive = now;
		for (struct sse_client *c = w->clients; c != NULL; c = c->next) {
			struct evbuffer *b = evbuffer_new();
			evbuffer_add_printf(b, ": keepalive\n\n");
			evhttp_send_reply_chunk(c->r, b);
			evbuffer_free(b);
		}
	}
}
