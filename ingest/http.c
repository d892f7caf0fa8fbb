/*
 * http.c - the webhook receiver: libevent's evhttp in its own thread. Per request, in
 * this order: body size limit (evhttp answers 413 from Content-Length, after reading and
 * dropping the body) -> per-source rate limit of bad signatures (429) ->
 * X-Hub-Signature-256 over the raw bytes (401) -> required headers (400) -> JSON (400,
 * stored as rejected) -> one SQLite transaction keyed by the delivery id -> 2xx ->
 * publish on run/events.pub.
 * A redelivery gets 2xx and changes nothing. GET /healthz says whether we can accept.
 * Each stored event is published right after its reply is queued (the reply's bytes go
 * out when the loop next runs; the stored row is the source of truth: an event lost to a
 * kill between reply and publish is re-sent by the sweeper).
 * Parsing and normalizing the JSON (most of a delivery's CPU: jansson reads ~10 KB in
 * ~100 us) runs in a worker thread, so that it overlaps the loop's I/O and the SQLite
 * commit on the other core: the loop hands a verified delivery to the worker and takes it
 * back, parsed, into the next batch. Nothing is answered before its batch's COMMIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <sqlite3.h>

#include "ingest.h"

#define HTTP_PATH "/api/github/webhooks"
#define HTTP_RL_SLOTS 512

/* One source address's budget of bad signatures (a token bucket). */
struct http_rl {
	char addr[64];
	double tokens;
	int64_t last_ms;
	uint64_t refused;
};

/* A verified delivery waiting for the batch's transaction. All owned but payload, which
 * points into the request's input buffer (or at form, the decoded payload= field) and
 * lives until the reply is sent. */
struct http_item {
	struct http_item *next; /* worker queues */
	struct evhttp_request *req;
	char *id, *event, *hook, *action, *repo, *reason, *headers, *form;
	const char *payload;
	size_t payload_len;
	int rejected;
	json_t *data; /* the normalized event, NULL when rejected */
	char type[JIDO_TYPE_MAX + 1];
};

#define HTTP_BATCH_MAX 256

struct ingest_http {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev;
	struct event *flush_ev;
	struct http_item *batch[HTTP_BATCH_MAX];
	int nbatch;
	/* the parse worker: todo (loop -> worker) and done (worker -> loop), under wmu; the
	 * worker writes a byte to wake[1] when done becomes non-empty */
	pthread_t wk;
	int wk_started, wk_stop, wk_busy; /* wk_busy: the worker holds an item */
	pthread_mutex_t wmu;
	pthread_cond_t wcv;
	struct http_item *todo, **todo_tail, *done, **done_tail;
	int wake[2];
	struct event *wake_ev;
	pthread_t th;
	int started;
	atomic_int stop;
	int port;
	struct ingest_spool sp;  /* used by the thread only */
	struct ingest_secrets *k;
	struct jido_srv *s;
	double rl_burst, rl_per_ms;
	struct http_rl rl[HTTP_RL_SLOTS];
	_Atomic uint64_t st[9];  /* struct ingest_stats, in order */
};

enum { ST_RECEIVED, ST_STORED, ST_DUP, ST_BADSIG, ST_LIMITED, ST_REJECTED, ST_TOOLARGE,
	ST_FAILED, ST_BATCHES };

static void
http_count(struct ingest_http *h, int which)
{
	atomic_fetch_add(&h->st[which], 1);
}

void
ingest_http_stats(struct ingest_http *h, struct ingest_stats *st)
{
	st->received = atomic_load(&h->st[ST_RECEIVED]);
	st->stored = atomic_load(&h->st[ST_STORED]);
	st->duplicates = atomic_load(&h->st[ST_DUP]);
	st->bad_signature = atomic_load(&h->st[ST_BADSIG]);
	st->rate_limited = atomic_load(&h->st[ST_LIMITED]);
	st->rejected = atomic_load(&h->st[ST_REJECTED]);
	st->too_large = atomic_load(&h->st[ST_TOOLARGE]);
	st->failed = atomic_load(&h->st[ST_FAILED]);
	st->batches = atomic_load(&h->st[ST_BATCHES]);
}

int
ingest_http_port(const struct ingest_http *h)
{
	return h->port;
}

/* Send a small JSON reply {"ok":..,...} with status code. Takes ownership of body. */
static void
http_reply(struct evhttp_request *req, int code, const char *reason, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *text = body != NULL ? jido_json_dump(body) : NULL;

	json_decref(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	if (out != NULL && text != NULL)
		evbuffer_add_printf(out, "%s\n", text);
	free(text);
	evhttp_send_reply(req, code, reason, out);
	if (out != NULL)
		evbuffer_free(out);
}

static void
http_error(struct evhttp_request *req, int code, const char *reason, const char *why)
{
	http_reply(req, code, reason, json_pack("{s:b,s:s}", "ok", 0, "error", why));
}

/* The rate-limit slot of addr (an existing one, or the stalest one reused). */
static struct http_rl *
http_rl_slot(struct ingest_http *h, const char *addr, int64_t now)
{
	uint32_t hash = 2166136261u;
	struct http_rl *r;

	for (const char *p = addr; *p != '\0'; p++)
		hash = (hash ^ (uint8_t)*p) * 16777619u;
	r = &h->rl[hash % HTTP_RL_SLOTS];
	if (strcmp(r->addr, addr) != 0) {
		snprintf(r->addr, sizeof(r->addr), "%s", addr);
		r->tokens = h->rl_burst;
		r->last_ms = now;
		r->refused = 0;
	}
	r->tokens += (double)(now - r->last_ms) * h->rl_per_ms;
	if (r->tokens > h->rl_burst)
		r->tokens = h->rl_burst;
	r->last_ms = now;
	return r;
}

/* The request headers as JSON object text (malloc'd, caller frees), or NULL. */
static char *
http_headers_text(struct evhttp_request *req)
{
	struct evkeyvalq *hq = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	json_t *o = json_object();

	TAILQ_FOREACH(kv, hq, next) {
		json_t *v = json_string(kv->value);
		if (v != NULL)
			json_object_set_new(o, kv->key, v);
	}
	char *text = jido_json_dump(o);
	json_decref(o);
	return text;
}

/* A form-encoded body's payload= field (malloc'd, decoded), or NULL. */
static char *
http_form_payload(const unsigned char *body, size_t len)
{
	struct evkeyvalq q;
	char *text = malloc(len + 1), *out = NULL;
	const char *v;

	if (text == NULL)
		return NULL;
	memcpy(text, body, len);
	text[len] = '\0';
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(text, &q) == 0 && (v = evhttp_find_header(&q, "payload")) != NULL)
		out = strdup(v);
	evhttp_clear_headers(&q);
	free(text);
	return out;
}

static void
http_item_free(struct http_item *it)
{
	if (it == NULL)
		return;
	free(it->id);
	free(it->event);
	free(it->hook);
	free(it->action);
	free(it->repo);
	free(it->reason);
	free(it->headers);
	free(it->form);
	json_decref(it->data);
	free(it);
}

/* Publish a stored item's event (takes its data; the sweeper re-sends what is lost). */
static void
http_publish(struct ingest_http *h, struct http_item *it)
{
	int rc;

	if ((rc = jido_srv_publish(h->s, it->type, NULL, it->data)) != 0)
		jido_warn("ingest.publish_failed", "{s:s,s:s}", "delivery", it->id, "why",
		    jido_strerror(rc));
	it->data = NULL; /* owned by publish */
}

/* Answer one item of a committed batch (rc: its insert's outcome). Returns 1 when the
 * item was stored and is to be published (the caller publishes it), 0 otherwise. */
static int
http_answer(struct ingest_http *h, struct http_item *it, int rc)
{
	struct evhttp_request *req = it->req;

	if (it->rejected) {
		/* Rejected now, and again (400) on a redelivery of the same bytes. */
		http_count(h, ST_REJECTED);
		if (rc == 0)
			jido_warn("ingest.rejected", "{s:s,s:s,s:s}", "delivery", it->id, "event",
			    it->event, "why", it->reason);
		http_reply(req, 400, "Bad Request", json_pack("{s:b,s:s,s:s,s:s}", "ok", 0,
		    "status", "rejected", "delivery", it->id, "error", it->reason));
		return 0;
	}
	if (rc == JIDO_ECONFLICT) {
		http_count(h, ST_DUP);
		jido_info("ingest.duplicate", "{s:s,s:s}", "delivery", it->id, "event", it->event);
		http_reply(req, 200, "OK", json_pack("{s:b,s:s,s:s}", "ok", 1, "status",
		    "duplicate", "delivery", it->id));
		return 0;
	}
	http_count(h, ST_STORED);
	http_reply(req, 202, "Accepted", json_pack("{s:b,s:s,s:s}", "ok", 1, "status", "stored",
	    "delivery", it->id));
	return 1;
}

/* Store every queued item in one transaction (one fsync), then answer each: 2xx only
 * after COMMIT returned. On any storage failure the whole batch gets 503 and GitHub
 * redelivers. */
static void
http_flush(struct ingest_http *h)
{
	int rcs[HTTP_BATCH_MAX], n = h->nbatch, failed = 0;
	int64_t now = ingest_wall_ms();
	char why[256] = "";

	if (n == 0)
		return;
	h->nbatch = 0;
	http_count(h, ST_BATCHES);
	if (sqlite3_exec(h->sp.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, sizeof(why), "begin: %s", sqlite3_errmsg(h->sp.db));
		failed = 1;
	}
	for (int i = 0; i < n && !failed; i++) {
		struct http_item *it = h->batch[i];
		struct ingest_row row = { it->id, "webhook", it->event, it->hook, it->action,
			it->repo, it->rejected ? "rejected" : "pending", it->reason, it->headers,
			it->payload, it->payload_len };
		rcs[i] = ingest_spool_put(&h->sp, &row, now, why, sizeof(why));
		if (rcs[i] != 0 && rcs[i] != JIDO_ECONFLICT)
			failed = 1;
	}
	if (!failed && sqlite3_exec(h->sp.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(why, sizeof(why), "commit: %s", sqlite3_errmsg(h->sp.db));
		failed = 1;
	}
	if (failed) {
		sqlite3_exec(h->sp.db, "ROLLBACK", NULL, NULL, NULL);
		jido_error("ingest.spool_failed", "{s:s,s:i}", "why", why, "deliveries", n);
	}
	for (int i = 0; i < n; i++) {
		struct http_item *it = h->batch[i];
		h->batch[i] = NULL;
		if (failed) {
			http_count(h, ST_FAILED);
			http_error(it->req, 503, "Service Unavailable", "cannot store the delivery; retry");
		} else if (http_answer(h, it, rcs[i]))
			http_publish(h, it);
		http_item_free(it);
	}
}

static void
http_on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_flush(arg);
}

static void
http_webhook(struct ingest_http *h, struct evhttp_request *req)
{
	struct evkeyvalq *hq = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const unsigned char *body = len > 0 ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	const char *sig = evhttp_find_header(hq, "X-Hub-Signature-256");
	const char *event = evhttp_find_header(hq, "X-GitHub-Event");
	const char *delivery = evhttp_find_header(hq, "X-GitHub-Delivery");
	const char *hook = evhttp_find_header(hq, "X-GitHub-Hook-ID");
	const char *ctype = evhttp_find_header(hq, "Content-Type");
	char *peer = NULL, *form = NULL;
	const char *json_text = (const char *)body;
	struct http_item *it = NULL;
	size_t json_len = len;
	ev_uint16_t port = 0;
	int64_t now = jido_now_ms();
	struct http_rl *rl;
	int rc;

	http_count(h, ST_RECEIVED);
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &peer, &port);
	rl = http_rl_slot(h, peer != NULL ? peer : "?", now);
	if (rl->tokens < 1.0) {
		http_count(h, ST_LIMITED);
		if (rl->refused++ == 0)
			jido_warn("ingest.rate_limited", "{s:s}", "source", rl->addr);
		http_error(req, 429, "Too Many Requests", "too many bad signatures from this address");
		return;
	}
	rc = ingest_secrets_verify(h->k, sig, body, len);
	if (rc == JIDO_ESECRET || rc == JIDO_EINTERNAL) {
		http_count(h, ST_FAILED);
		http_error(req, 503, "Service Unavailable", rc == JIDO_ESECRET ?
		    "webhook secret not loaded yet" : "cannot compute the signature; retry");
		return;
	}
	if (rc != 0) {
		http_count(h, ST_BADSIG);
		rl->tokens -= 1.0;
		jido_warn("ingest.bad_signature", "{s:s,s:s,s:s?,s:I}", "source", rl->addr, "why",
		    rc == JIDO_EVALIDATION ? "missing or malformed X-Hub-Signature-256" :
		    "signature does not match", "delivery",
		    ingest_delivery_id_ok(delivery) ? delivery : NULL, "bytes", (json_int_t)len);
		http_error(req, 401, "Unauthorized", "bad signature");
		return;
	}
	if (!ingest_event_name_ok(event) || !ingest_delivery_id_ok(delivery) ||
	    hook == NULL || hook[0] == '\0' || strlen(hook) > 64) {
		http_count(h, ST_FAILED);
		http_error(req, 400, "Bad Request", !ingest_event_name_ok(event) ?
		    "missing or invalid X-GitHub-Event" : !ingest_delivery_id_ok(delivery) ?
		    "missing or invalid X-GitHub-Delivery" : "missing or invalid X-GitHub-Hook-ID");
		return;
	}
	/* GitHub sends application/json, or a form whose payload= field holds the JSON. */
	if (ctype != NULL && strncmp(ctype, "application/x-www-form-urlencoded", 33) == 0 &&
	    (form = http_form_payload(body, len)) != NULL) {
		json_text = form;
		json_len = strlen(form);
	}
	if ((it = calloc(1, sizeof(*it))) == NULL ||
	    (it->id = strdup(delivery)) == NULL || (it->event = strdup(event)) == NULL ||
	    (it->hook = strdup(hook)) == NULL || (it->headers = http_headers_text(req)) == NULL) {
		http_item_free(it);
		http_count(h, ST_FAILED);
		http_error(req, 503, "Service Unavailable", "out of memory; retry");
		goto out;
	}
	/* No copy of the body: it stays in the request's input buffer until the reply
	 * (libevent keeps a request whose client went away until it is answered). */
	it->form = form;
	form = NULL;
	it->payload = json_text;
	it->payload_len = json_len;
	it->req = req;
	pthread_mutex_lock(&h->wmu);
	*h->todo_tail = it;
	h->todo_tail = &it->next;
	pthread_cond_signal(&h->wcv);
	pthread_mutex_unlock(&h->wmu);
out:
	free(form);
}

/* Parse and normalize one item's payload (worker thread; the item is the worker's until
 * it is queued as done): fills data, type, action, repo, or rejected and reason. */
static void
http_item_parse(struct http_item *it)
{
	char why[256] = "";
	json_t *payload, *data = NULL;
	json_error_t jerr;
	const char *v;

	if ((payload = json_loadb(it->payload, it->payload_len, 0, &jerr)) == NULL)
		snprintf(why, sizeof(why), "malformed JSON: %s (line %d)", jerr.text, jerr.line);
	else if (ingest_norm(it->event, it->id, payload, &data, it->type, sizeof(it->type), why,
	    sizeof(why)) != 0)
		data = NULL;
	json_decref(payload);
	if (data == NULL) {
		it->rejected = 1;
		it->reason = strdup(why);
		return;
	}
	if ((v = json_string_value(json_object_get(data, "action"))) != NULL)
		it->action = strdup(v);
	if ((v = json_string_value(json_object_get(data, "repo"))) != NULL)
		it->repo = strdup(v);
	it->data = data;
}

/* The worker: parse queued items until asked to stop with nothing left. */
static void *
http_worker(void *arg)
{
	struct ingest_http *h = arg;
	struct http_item *it;
	int wake;

	pthread_mutex_lock(&h->wmu);
	for (;;) {
		while (h->todo == NULL && !h->wk_stop)
			pthread_cond_wait(&h->wcv, &h->wmu);
		if ((it = h->todo) == NULL)
			break;
		if ((h->todo = it->next) == NULL)
			h->todo_tail = &h->todo;
		it->next = NULL;
		h->wk_busy = 1;
		pthread_mutex_unlock(&h->wmu);
		http_item_parse(it);
		pthread_mutex_lock(&h->wmu);
		h->wk_busy = 0;
		wake = h->done == NULL;
		*h->done_tail = it;
		h->done_tail = &it->next;
		if (wake && write(h->wake[1], "", 1) < 0) {
			/* the pipe is full: the loop has bytes to read and will take the item */
		}
	}
	pthread_mutex_unlock(&h->wmu);
	return NULL;
}

/* Ask the worker to stop once its queue is empty, and wait for it. */
static void
http_worker_stop(struct ingest_http *h)
{
	pthread_mutex_lock(&h->wmu);
	h->wk_stop = 1;
	pthread_cond_signal(&h->wcv);
	pthread_mutex_unlock(&h->wmu);
	pthread_join(h->wk, NULL);
	h->wk_started = 0;
}

/* Take every parsed item into the batch (loop thread). The flush is scheduled when the
 * worker has nothing more in hand (what it holds would otherwise miss this batch and pay
 * a commit of its own) or the batch is already large. */
static void
http_take_done(struct ingest_http *h)
{
	struct http_item *it, *next;
	int idle;

	pthread_mutex_lock(&h->wmu);
	it = h->done;
	h->done = NULL;
	h->done_tail = &h->done;
	idle = h->todo == NULL && !h->wk_busy;
	pthread_mutex_unlock(&h->wmu);
	for (; it != NULL; it = next) {
		next = it->next;
		it->next = NULL;
		/* Rejected items are stored too (status rejected, 400) */
		h->batch[h->nbatch++] = it;
		if (h->nbatch == HTTP_BATCH_MAX)
			http_flush(h);
	}
	if (h->nbatch > 0 && (idle || h->nbatch >= HTTP_BATCH_MAX / 4))
		event_active(h->flush_ev, EV_TIMEOUT, 0);
}

static void
http_on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	http_take_done(arg);
}

static void
http_on_request(struct evhttp_request *req, void *arg)
{
	struct ingest_http *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	size_t plen = strlen(HTTP_PATH);

	if (uri == NULL) {
		http_error(req, 400, "Bad Request", "no request URI");
		return;
	}
	if (strcmp(uri, "/healthz") == 0) {
		int have;
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			http_error(req, 405, "Method Not Allowed", "GET /healthz");
			return;
		}
		pthread_mutex_lock(&h->k->mu);
		have = h->k->cur != NULL;
		pthread_mutex_unlock(&h->k->mu);
		if (have)
			http_reply(req, 200, "OK", json_pack("{s:b,s:s}", "ok", 1, "status", "ok"));
		else
			http_reply(req, 503, "Service Unavailable", json_pack("{s:b,s:s,s:s}", "ok", 0,
			    "status", "unavailable", "error", "webhook secret not loaded yet"));
		return;
	}
	if (strncmp(uri, HTTP_PATH, plen) != 0 || (uri[plen] != '\0' && uri[plen] != '?')) {
		http_error(req, 404, "Not Found", "not found");
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		http_error(req, 405, "Method Not Allowed", "POST " HTTP_PATH);
		return;
	}
	http_webhook(h, req);
}

/* Every 100 ms: leave the loop when asked to stop. */
static void
http_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ingest_http *h = arg;

	(void)fd;
	(void)what;
	if (atomic_load(&h->stop))
		event_base_loopbreak(h->base);
}

static void *
http_thread(void *arg)
{
	struct ingest_http *h = arg;

	event_base_dispatch(h->base);
	/* the worker finishes what it was given; then answer all of it */
	http_worker_stop(h);
	http_take_done(h);
	http_flush(h);
	return NULL;
}

int
ingest_http_new(const char *addr, size_t max_body, const char *spool_path,
    struct ingest_secrets *k, struct jido_srv *s, const struct jido_conf *c,
    struct ingest_http **out, char *why, size_t whylen)
{
	struct ingest_http *h = calloc(1, sizeof(*h));
	char host[256];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;
	struct timeval tv = { 0, 100 * 1000 };
	int rc;

	if (h == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) ||
	    (port = strtol(colon + 1, &end, 10)) < 0 || port > 65535 || *end != '\0' ||
	    end == colon + 1) {
		free(h);
		snprintf(why, whylen, "ingest.listen '%s' is not host:port", addr);
		return JIDO_EVALIDATION;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[' && strlen(host) > 2 && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	h->k = k;
	h->s = s;
	h->wake[0] = h->wake[1] = -1;
	pthread_mutex_init(&h->wmu, NULL);
	pthread_cond_init(&h->wcv, NULL);
	h->todo_tail = &h->todo;
	h->done_tail = &h->done;
	/* libcrypto (the HMAC) is loaded with the first signed delivery, not here: an idle
	 * ingest does not map it (its load needs nothing the allowlist lacks). */
	h->rl_burst = (double)jido_conf_int(c, "ingest.auth_fail_burst");
	h->rl_per_ms = (double)jido_conf_int(c, "ingest.auth_fail_per_min") / 60000.0;
	if ((rc = ingest_spool_open(spool_path, &h->sp, why, whylen)) != 0) {
		free(h);
		return rc;
	}
	h->sp.redeliver_ms = jido_conf_int(c, "ingest.redeliver_s") * 1000;
	/* Five priorities: evhttp and the worker's wake-up (the default, 5 / 2 = 2) before the
	 * batch flush (3): one flush takes every delivery that was ready. */
	if ((h->base = event_base_new()) == NULL || event_base_priority_init(h->base, 5) != 0 ||
	    (h->http = evhttp_new(h->base)) == NULL ||
	    (h->stop_ev = event_new(h->base, -1, EV_PERSIST, http_on_tick, h)) == NULL ||
	    (h->flush_ev = event_new(h->base, -1, 0, http_on_flush, h)) == NULL ||
	    event_priority_set(h->flush_ev, 3) != 0 ||
	    pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (h->wake_ev = event_new(h->base, h->wake[0], EV_READ | EV_PERSIST, http_on_wake,
	    h)) == NULL || event_add(h->wake_ev, NULL) != 0) {
		snprintf(why, whylen, "cannot create the HTTP server");
		ingest_http_free(h);
		return JIDO_EINTERNAL;
	}
	evhttp_set_max_body_size(h->http, (ev_ssize_t)max_body);
	/* An oversized body is read and dropped before the 413 goes out: closing with the
	 * body still unread resets the connection, and a sender still writing loses the
	 * answer (curl reported 000 once in tests/e2e/ingest.sh). evhttp's timeout bounds it. */
	evhttp_set_flags(h->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(h->http, 64 * 1024);
	evhttp_set_timeout(h->http, 30);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(h->http, http_on_request, h);
	event_add(h->stop_ev, &tv);
	if ((h->bound = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port)) == NULL) {
		snprintf(why, whylen, "cannot listen on %s: %s", addr, strerror(errno));
		ingest_http_free(h);
		return JIDO_EUNAVAIL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(h->bound), (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	*out = h;
	return 0;
}

int
ingest_http_start(struct ingest_http *h, char *why, size_t whylen)
{
	int rc;

	if (h->started)
		return 0;
	if ((rc = pthread_create(&h->wk, NULL, http_worker, h)) != 0) {
		snprintf(why, whylen, "cannot start the parse worker: %s", strerror(rc));
		return JIDO_EINTERNAL;
	}
	h->wk_started = 1;
	if ((rc = pthread_create(&h->th, NULL, http_thread, h)) != 0) {
		http_worker_stop(h);
		snprintf(why, whylen, "cannot start the HTTP thread: %s", strerror(rc));
		return JIDO_EINTERNAL;
	}
	h->started = 1;
	return 0;
}

void
ingest_http_free(struct ingest_http *h)
{
	if (h == NULL)
		return;
	if (h->started) {
		atomic_store(&h->stop, 1);
		pthread_join(h->th, NULL);
	}
	if (h->stop_ev != NULL)
		event_free(h->stop_ev);
	if (h->flush_ev != NULL)
		event_free(h->flush_ev);
	if (h->wake_ev != NULL)
		event_free(h->wake_ev);
	for (int i = 0; i < 2; i++)
		if (h->wake[i] >= 0)
			close(h->wake[i]);
	if (h->http != NULL)
		evhttp_free(h->http);
	if (h->base != NULL)
		event_base_free(h->base);
	ingest_spool_close(&h->sp);
	pthread_cond_destroy(&h->wcv);
	pthread_mutex_destroy(&h->wmu);
	free(h);
}
