/*
 * http.c - the webhook receiver: libevent's evhttp in its own thread. Per request, in
 * this order: body size limit (evhttp answers 413 from Content-Length before reading
 * the body) -> per-source rate limit of bad signatures (429) -> X-Hub-Signature-256 over
 * the raw bytes (401) -> required headers (400) -> JSON (400, stored as rejected) -> one
 * SQLite transaction keyed by the delivery id -> 2xx -> publish on run/events.pub.
 * A redelivery gets 2xx and changes nothing. GET /healthz says whether we can accept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

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

struct ingest_http {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev;
	pthread_t th;
	int started;
	atomic_int stop;
	int port;
	struct ingest_spool sp;  /* used by the thread only */
	struct ingest_secrets *k;
	struct jido_srv *s;
	double rl_burst, rl_per_ms;
	struct http_rl rl[HTTP_RL_SLOTS];
	_Atomic uint64_t st[8];  /* struct ingest_stats, in order */
};

enum { ST_RECEIVED, ST_STORED, ST_DUP, ST_BADSIG, ST_LIMITED, ST_REJECTED, ST_TOOLARGE,
	ST_FAILED };

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
	char *peer = NULL, why[256] = "", type[JIDO_TYPE_MAX + 1], *form = NULL, *headers = NULL;
	const char *json_text = (const char *)body;
	size_t json_len = len;
	ev_uint16_t port = 0;
	int64_t now = jido_now_ms();
	struct http_rl *rl;
	struct ingest_row row;
	json_t *payload = NULL, *data = NULL;
	json_error_t jerr;
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
	if (rc == JIDO_ESECRET) {
		http_count(h, ST_FAILED);
		http_error(req, 503, "Service Unavailable", "webhook secret not loaded yet");
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
	memset(&row, 0, sizeof(row));
	row.id = delivery;
	row.source = "webhook";
	row.event = event;
	row.hook_id = hook;
	row.status = "pending";
	if ((payload = json_loadb(json_text, json_len, 0, &jerr)) == NULL) {
		snprintf(why, sizeof(why), "malformed JSON: %s (line %d)", jerr.text, jerr.line);
		row.status = "rejected";
		row.reason = why;
	} else if ((rc = ingest_norm(event, delivery, payload, &data, type, sizeof(type), why,
	    sizeof(why))) != 0) {
		row.status = "rejected";
		row.reason = why;
	} else {
		row.action = json_string_value(json_object_get(data, "action"));
		row.repo = json_string_value(json_object_get(data, "repo"));
	}
	headers = http_headers_text(req);
	row.headers = headers != NULL ? headers : "{}";
	row.payload = json_text;
	row.payload_len = json_len;
	char dbwhy[256];
	rc = ingest_spool_put(&h->sp, &row, ingest_wall_ms(), dbwhy, sizeof(dbwhy));
	if (rc != 0 && rc != JIDO_ECONFLICT) {
		http_count(h, ST_FAILED);
		jido_error("ingest.spool_failed", "{s:s,s:s}", "delivery", delivery, "why", dbwhy);
		http_error(req, 503, "Service Unavailable", "cannot store the delivery; retry");
		goto out;
	}
	if (strcmp(row.status, "rejected") == 0) {
		/* Rejected now, and again (400) on a redelivery of the same bytes. */
		http_count(h, ST_REJECTED);
		if (rc == 0)
			jido_warn("ingest.rejected", "{s:s,s:s,s:s}", "delivery", delivery, "event", event,
		    "why", row.reason);
		http_reply(req, 400, "Bad Request", json_pack("{s:b,s:s,s:s,s:s}", "ok", 0,
		    "status", "rejected", "delivery", delivery, "error", row.reason));
		goto out;
	}
	if (rc == JIDO_ECONFLICT) {
		http_count(h, ST_DUP);
		jido_info("ingest.duplicate", "{s:s,s:s}", "delivery", delivery, "event", event);
		http_reply(req, 200, "OK", json_pack("{s:b,s:s,s:s}", "ok", 1, "status",
		    "duplicate", "delivery", delivery));
		goto out;
	}
	http_count(h, ST_STORED);
	http_reply(req, 202, "Accepted", json_pack("{s:b,s:s,s:s}", "ok", 1, "status", "stored",
	    "delivery", delivery));
	jido_debug("ingest.stored", "{s:s,s:s}", "delivery", delivery, "type", type);
	if ((rc = jido_srv_publish(h->s, type, NULL, data)) != 0)
		jido_warn("ingest.publish_failed", "{s:s,s:s}", "delivery", delivery, "why",
		    jido_strerror(rc));
	data = NULL; /* published (or not; the sweeper re-sends it): owned by publish */
out:
	json_decref(data);
	json_decref(payload);
	free(headers);
	free(form);
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
	h->rl_burst = (double)jido_conf_int(c, "ingest.auth_fail_burst");
	h->rl_per_ms = (double)jido_conf_int(c, "ingest.auth_fail_per_min") / 60000.0;
	if ((rc = ingest_spool_open(spool_path, &h->sp, why, whylen)) != 0) {
		free(h);
		return rc;
	}
	h->sp.redeliver_ms = jido_conf_int(c, "ingest.redeliver_s") * 1000;
	if ((h->base = event_base_new()) == NULL || (h->http = evhttp_new(h->base)) == NULL ||
	    (h->stop_ev = event_new(h->base, -1, EV_PERSIST, http_on_tick, h)) == NULL) {
		snprintf(why, whylen, "cannot create the HTTP server");
		ingest_http_free(h);
		return JIDO_EINTERNAL;
	}
	evhttp_set_max_body_size(h->http, (ev_ssize_t)max_body);
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
	if ((rc = pthread_create(&h->th, NULL, http_thread, h)) != 0) {
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
	if (h->http != NULL)
		evhttp_free(h->http);
	if (h->base != NULL)
		event_base_free(h->base);
	ingest_spool_close(&h->sp);
	free(h);
}
