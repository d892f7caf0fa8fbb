/*
 * proxy.c - one client request from arrival to usage record: route (Anthropic Messages,
 * count_tokens, models; OpenAI Chat Completions and Responses), check the scoped key and
 * the budget (reserving an estimate), swap the key for the provider's, and forward with
 * libcurl's multi interface on the HTTP thread's libevent loop. Upstreams are tried in
 * priority order through their breakers; a connect error, timeout, 429 or 5xx before any
 * byte reached the client moves on to the next, never after. SSE answers stream through
 * as they arrive (usage read on the side); other answers are passed on whole. Afterwards
 * the reservation is reconciled with the provider's own usage in the ledger, and a usage
 * record is queued for the group commit that ends the loop pass (ledger.c); the call's
 * answer is held until that commit, and the record then goes to the outbox (planner,
 * auditor). Prompts, completions and keys are never logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <sodium.h>

#include "gw.h"

#define RESP_MAX (64u << 20)
#define CALL_FAILS_MAX 600

enum { API_MESSAGES, API_COUNT, API_MODELS, API_CHAT, API_RESPONSES };
static const char *const api_names[] = { "messages", "count_tokens", "models",
	"chat.completions", "responses" };

enum { D_PENDING, D_PASS, D_RETRY };

struct call {
	struct gw *g;
	struct http_conn *c;    /* NULL once the client is gone */
	int api, style, metered, stream;
	char *body;             /* owned: what goes upstream */
	size_t blen;
	char *target;           /* owned: path + query */
	int is_get;
	char model[128];
	struct gw_keyinfo ki;
	long long est_tokens, est_musd;
	struct curl_slist *fwd; /* owned: client headers passed on (no auth), "Expect:" last */
	struct curl_slist *fwd_tail; /* its last node: the attempt's key node hangs off it */
	int up;                 /* current upstream index, -1 none */
	unsigned tried;
	CURL *easy;
	struct curl_slist *auth; /* owned: the provider key's header node; wiped on free */
	int decided, status, stream_out, is_sse;
	struct evbuffer *rhdr, *rbody;
	char ctype[128];
	struct gw_sse sse;
	struct gw_usage usage;
	int64_t t0;
	char *fails;            /* owned: why upstreams failed, made on the first ("" none) */
	int all_429, attempts;
	struct event *idle;     /* owned: read timeout, re-armed by every byte from upstream */
	int64_t armed_at;       /* when idle was last armed (loop's cached ms), 0 disarmed */
	int paused;             /* the upstream transfer waits for the client to drain */
};

/* ---------------------------------------------------------------- errors */

void
gw_proxy_error(struct http_conn *c, int style, int status, const char *type, const char *msg)
{
	json_t *j;
	char *text;

	if (style == GW_STYLE_OPENAI) {
		const char *otype = type, *code = NULL;
		if (strcmp(type, "authentication_error") == 0) {
			otype = "invalid_request_error";
			code = "invalid_api_key";
		} else if (strcmp(type, "rate_limit_error") == 0) {
			otype = "insufficient_quota";
			code = "budget_exceeded";
		} else if (strcmp(type, "request_too_large") == 0) {
			otype = "invalid_request_error";
			code = "request_too_large";
		} else if (strcmp(type, "api_error") == 0 || strcmp(type, "overloaded_error") == 0)
			otype = "server_error";
		else if (strcmp(type, "not_found_error") == 0)
			otype = "invalid_request_error";
		j = json_pack("{s:{s:s,s:s,s:n,s:s?}}", "error", "message", msg, "type", otype,
		    "param", "code", code);
	} else
		j = json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "type", type, "message",
		    msg);
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL) {
		http_reply(c, 500, "application/json", NULL, "{}", 2);
		return;
	}
	http_reply(c, status, "application/json", NULL, text, strlen(text));
	free(text);
}

/* ---------------------------------------------------------------- group commit */

#define FLUSH_MAX 256 /* records in one transaction at most */

/* Write the queued usage and the settled spend in one transaction, then let the held
 * answers go. A failed write is logged and the answers go anyway (as a failed per-request
 * commit did): the records stay queued for the next flush. */
static void
proxy_flush(struct gw *g)
{
	char why[256];
	int rc;

	g->flush_armed = 0;
	event_del(g->flush_ev);
	pthread_mutex_lock(&g->mu);
	rc = gw_store_flush(g->db, gw_outbox_written, g, why, sizeof(why));
	pthread_mutex_unlock(&g->mu);
	if (rc != 0)
		jido_error("gateway.store_failed", "{s:s}", "why", why);
	gw_http_release(g);
}

static void
proxy_on_flush(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	proxy_flush(arg);
}

/* A record was queued (pending in all): flush at the end of this loop pass (an event made
 * active now runs after those already active: the calls the same epoll batch finishes join
 * this flush), at once when the batch is full. */
static void
proxy_flush_soon(struct gw *g, size_t pending)
{
	if (pending >= FLUSH_MAX) {
		proxy_flush(g);
		return;
	}
	if (g->flush_armed)
		return;
	g->flush_armed = 1;
	event_active(g->flush_ev, EV_TIMEOUT, 1);
}

/* ---------------------------------------------------------------- records */

/* Build the usage record of a finished (or abandoned) call, store it, queue it for the
 * planner and the auditor, and reconcile the reservation. */
static void
call_account(struct call *k, int status, int complete)
{
	struct gw *g = k->g;
	const char *model = k->usage.model[0] != '\0' ? k->usage.model : k->model;
	const struct gw_price *p;
	long long cost, tokens;
	struct gw_record *rec;

	if (!k->metered)
		return;
	p = gw_pricing_find(g->prices, g->nprices, model);
	cost = gw_usage_cost(&k->usage, p);
	tokens = gw_usage_tokens(&k->usage);
	/* plain C here; the JSON for the planner and the auditor is made by the main thread */
	if ((rec = gw_record_new(&k->ki, k->up >= 0 ? g->ups[k->up].name : NULL, model)) != NULL) {
		jido_time_rfc3339(rec->ts, sizeof(rec->ts));
		rec->api = api_names[k->api];
		rec->status = status;
		rec->streamed = k->stream_out;
		rec->complete = complete;
		rec->usage_reported = k->usage.seen;
		rec->input = k->usage.input;
		rec->output = k->usage.output;
		rec->cache_read = k->usage.cache_read;
		rec->cache_write = k->usage.cache_write;
		rec->cost_musd = cost;
		rec->duration_ms = jido_now_ms() - k->t0;
		rec->price = p;
	}
	size_t pending;
	pthread_mutex_lock(&g->mu);
	/* the spend and its record go to gateway.db together with the next group commit;
	 * the budget checks see the spend in the ledger at once */
	gw_keys_reconcile(g->db, k->ki.key_id, k->est_tokens, k->est_musd, tokens, cost);
	if (rec != NULL) {
		/* to the planner and the auditor once it is in gateway.db (gw_outbox_written) */
		if (gw_usage_queue(rec) != 0)
			jido_error("gateway.store_failed", "{s:s}", "what", "usage record");
	}
	pending = gw_usage_pending();
	pthread_mutex_unlock(&g->mu);
	/* the answer this record belongs to leaves after the flush */
	if (k->c != NULL)
		http_hold(k->c);
	proxy_flush_soon(g, pending);
	jido_info("gateway.request", "{s:s,s:s,s:s?,s:s,s:i,s:b,s:I,s:I,s:I,s:I}", "run_id",
	    k->ki.run_id, "api", api_names[k->api], "upstream", k->up >= 0 ? g->ups[k->up].name : NULL,
	    "model", model, "status", status, "streamed", k->stream_out, "input_tokens",
	    (json_int_t)k->usage.input, "output_tokens", (json_int_t)k->usage.output, "cost_musd",
	    (json_int_t)cost, "duration_ms", (json_int_t)(jido_now_ms() - k->t0));
	gw_record_unref(rec);
}

/* ---------------------------------------------------------------- call life */

static void
slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* An easy handle for a transfer: a reset one from the pool (its buffers already allocated)
 * or a new one. The caller owns it until proxy_easy_put. */
static CURL *
proxy_easy_get(struct gw *g)
{
	return g->neasy > 0 ? g->easy_pool[--g->neasy] : curl_easy_init();
}

/* Give back an easy handle already removed from the multi handle (*e becomes NULL). */
static void
proxy_easy_put(struct gw *g, CURL **e)
{
	if (*e == NULL)
		return;
	if (g->neasy < (int)(sizeof(g->easy_pool) / sizeof(g->easy_pool[0]))) {
		curl_easy_reset(*e);
		g->easy_pool[g->neasy++] = *e;
	} else
		curl_easy_cleanup(*e);
	*e = NULL;
}

static void call_idle_disarm(struct call *k);

/* Drop the current attempt's transfer (already removed from the multi handle). */
static void
call_attempt_free(struct call *k)
{
	proxy_easy_put(k->g, &k->easy);
	if (k->auth != NULL) {
		k->fwd_tail->next = NULL;
		slist_wipe_free(k->auth);
		k->auth = NULL;
	}
	if (k->rhdr != NULL)
		evbuffer_free(k->rhdr);
	if (k->rbody != NULL)
		evbuffer_free(k->rbody);
	k->rhdr = k->rbody = NULL;
	if (k->idle != NULL)
		call_idle_disarm(k);
	k->decided = D_PENDING;
	k->status = 0;
	k->ctype[0] = '\0';
	k->is_sse = 0;
}

static void
call_free(struct call *k)
{
	if (k->easy != NULL)
		curl_multi_remove_handle(k->g->multi, k->easy);
	call_attempt_free(k);
	if (k->idle != NULL)
		event_free(k->idle);
	curl_slist_free_all(k->fwd);
	gw_sse_free(&k->sse);
	free(k->body);
	free(k->target);
	free(k->fails);
	k->g->calls--;
	free(k);
}

/* Upstream said something: the read timeout starts again. */
static void
call_idle_arm(struct call *k)
{
	struct timeval tv = { k->g->read_ms / 1000, (k->g->read_ms % 1000) * 1000 }, now;
	int64_t ms;

	/* every header line and body piece lands here: re-arming the timer (a heap update)
	 * at most every eighth of the timeout keeps it within 12.5% of "since the last byte" */
	event_base_gettimeofday_cached(k->g->base, &now);
	ms = (int64_t)now.tv_sec * 1000 + now.tv_usec / 1000;
	if (k->armed_at != 0 && ms - k->armed_at < k->g->read_ms / 8)
		return;
	k->armed_at = ms;
	evtimer_add(k->idle, &tv);
}

/* Stop the read timeout (paused, or the attempt is over). */
static void
call_idle_disarm(struct call *k)
{
	k->armed_at = 0;
	evtimer_del(k->idle);
}

static size_t
call_on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct call *k = arg;
	size_t len = size * n;
	char line[8192];

	call_idle_arm(k);

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a (new) status line: an interim 1xx answer's headers are dropped */
		evbuffer_drain(k->rhdr, evbuffer_get_length(k->rhdr));
		k->ctype[0] = '\0';
		return len;
	}
	if (len <= 2 && (len == 0 || buf[0] == '\r' || buf[0] == '\n')) {
		long st = 0;
		curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &st);
		if (st < 200)
			return len;
		k->status = (int)st;
		if (st == 429 || st >= 500) {
			k->decided = D_RETRY;
			return 0; /* abort this transfer: nothing reached the client */
		}
		k->decided = D_PASS;
		k->is_sse = strncasecmp(k->ctype, "text/event-stream", 17) == 0;
		if (k->is_sse && k->c != NULL) {
			const char *h = NULL;
			if (evbuffer_add(k->rhdr, "", 1) == 0)
				h = (const char *)evbuffer_pullup(k->rhdr, -1);
			if (h == NULL)
				return 0;
			http_stream_start(k->c, k->status, h);
			/* the stream may last minutes: its headers are written, drop them */
			evbuffer_drain(k->rhdr, evbuffer_get_length(k->rhdr));
			k->stream_out = 1;
		}
		return len;
	}
	if (len >= sizeof(line))
		return len;
	memcpy(line, buf, len);
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	line[len] = '\0';
	char *colon = strchr(line, ':'), *v;
	if (colon == NULL)
		return size * n;
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ')
		v++;
	static const char *const drop[] = { "connection", "keep-alive", "transfer-encoding",
		"content-length", "set-cookie", "proxy-connection", "upgrade", "trailer", "alt-svc",
		NULL };
	for (int i = 0; drop[i] != NULL; i++)
		if (strcasecmp(line, drop[i]) == 0)
			return size * n;
	if (strcasecmp(line, "content-type") == 0) {
		snprintf(k->ctype, sizeof(k->ctype), "%s", v);
		return size * n; /* http_reply/stream write it themselves for whole answers */
	}
	/* "Name: value\r\n", without a printf per line */
	evbuffer_add(k->rhdr, line, (size_t)(colon - line));
	evbuffer_add(k->rhdr, ": ", 2);
	evbuffer_add(k->rhdr, v, len - (size_t)(v - line));
	evbuffer_add(k->rhdr, "\r\n", 2);
	return size * n;
}

/* A slow client: past stream_high bytes waiting for it, stop reading the upstream (the
 * read timeout is off meanwhile: the silence is ours) until gw_proxy_drained. */
static void
call_backpressure(struct call *k)
{
	uint64_t pend = http_pending(k->c), peak = __atomic_load_n(&k->g->stream_peak,
	    __ATOMIC_RELAXED);

	if (pend > peak)
		__atomic_store_n(&k->g->stream_peak, pend, __ATOMIC_RELAXED);
	if (k->paused || (long long)pend <= k->g->stream_high)
		return;
	k->paused = 1;
	__atomic_add_fetch(&k->g->streams_paused, 1, __ATOMIC_RELAXED);
	call_idle_disarm(k);
	curl_easy_pause(k->easy, CURLPAUSE_RECV);
	jido_debug("gateway.stream_paused", "{s:s,s:I}", "run_id", k->ki.run_id, "pending",
	    (json_int_t)pend);
}

void
gw_proxy_drained(void *arg)
{
	struct call *k = arg;

	if (!k->paused || k->easy == NULL || k->c == NULL ||
	    (long long)http_pending(k->c) > k->g->stream_low)
		return;
	k->paused = 0;
	call_idle_arm(k);
	/* may deliver held data at once (call_on_body, which may pause again) */
	curl_easy_pause(k->easy, CURLPAUSE_CONT);
}

static size_t
call_on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct call *k = arg;
	size_t len = size * n;

	call_idle_arm(k);
	if (k->decided != D_PASS || k->c == NULL)
		return 0;
	if (k->stream_out) {
		http_stream_write(k->c, buf, len);
		if (k->metered)
			gw_sse_feed(&k->sse, &k->usage, k->style, buf, len);
		call_backpressure(k);
		return len;
	}
	if (evbuffer_get_length(k->rbody) + len > RESP_MAX)
		return 0;
	evbuffer_add(k->rbody, buf, len);
	return len;
}

static int call_attempt_next(struct call *k);

static int proxy_multi_open(struct gw *g);

/* Start a transfer to upstream i. 0, or -1 when it could not be set up. */
static int
call_attempt_start(struct call *k, int i)
{
	struct gw *g = k->g;
	struct gw_upstream *u = &g->ups[i];
	char url[4800], *auth, authbuf[4200];
	size_t alen;

	snprintf(url, sizeof(url), "%s%s", u->base, k->target);
	k->up = i;
	k->attempts++;
	if (proxy_multi_open(g) != 0 || (k->easy = proxy_easy_get(g)) == NULL ||
	    (k->rhdr = evbuffer_new()) == NULL ||
	    (k->rbody = evbuffer_new()) == NULL)
		return -1;
	/* the real key: copied under the lock (the tick may replace it), wiped after use */
	pthread_mutex_lock(&g->mu);
	if (u->secret == NULL) {
		pthread_mutex_unlock(&g->mu);
		return -1;
	}
	alen = strlen(u->secret) + 32;
	if (alen > 4200) {
		pthread_mutex_unlock(&g->mu);
		return -1;
	}
	/* on the stack and wiped: a locked sodium_malloc page per request costs six syscalls */
	auth = authbuf;
	snprintf(auth, alen, u->style == GW_STYLE_ANTHROPIC ? "x-api-key: %s" :
	    "Authorization: Bearer %s", u->secret);
	pthread_mutex_unlock(&g->mu);
	k->auth = curl_slist_append(NULL, auth);
	sodium_memzero(authbuf, sizeof(authbuf));
	if (k->auth == NULL)
		return -1;
	k->fwd_tail->next = k->auth; /* detached again by call_attempt_free */
	curl_easy_setopt(k->easy, CURLOPT_URL, url);
	curl_easy_setopt(k->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, k->fwd);
	if (k->is_get)
		curl_easy_setopt(k->easy, CURLOPT_HTTPGET, 1L);
	else {
		curl_easy_setopt(k->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)k->blen);
		curl_easy_setopt(k->easy, CURLOPT_POSTFIELDS, k->body);
	}
	curl_easy_setopt(k->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)g->connect_ms);
	curl_easy_setopt(k->easy, CURLOPT_HEADERFUNCTION, call_on_header);
	curl_easy_setopt(k->easy, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, call_on_body);
	curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(k->easy, CURLOPT_PRIVATE, k);
	curl_easy_setopt(k->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* 2 KiB reads, not 16: of a stream's 16 KiB buffer only the pages the reads touch are
	 * resident (one in four with 1 KiB ones, but then a long answer takes many reads) */
	curl_easy_setopt(k->easy, CURLOPT_BUFFERSIZE, 2048L);
	if (curl_multi_add_handle(g->multi, k->easy) != CURLM_OK)
		return -1;
	call_idle_arm(k); /* from the request's start: connect + send + first byte */
	return 0;
}

static void
call_note(struct call *k, const char *name, const char *what)
{
	size_t n;

	if (k->fails == NULL && (k->fails = calloc(1, CALL_FAILS_MAX)) == NULL)
		return;
	n = strlen(k->fails);
	snprintf(k->fails + n, CALL_FAILS_MAX - n, "%s%s: %s", n ? "; " : "", name, what);
}

/* Nothing more to try: answer with an error in the client's format. */
static void
call_give_up(struct call *k)
{
	char msg[800];
	int status = k->attempts > 0 && k->all_429 ? 429 : k->attempts > 0 ? 502 : 503;

	snprintf(msg, sizeof(msg), "no upstream could answer (%s)", k->fails != NULL ? k->fails :
	    "none configured for this API");
	k->up = -1;
	call_account(k, status, 0);
	if (k->c != NULL) {
		struct http_conn *c = k->c;
		k->c = NULL;
		gw_proxy_error(c, k->style, status, status == 429 ? "rate_limit_error" :
		    status == 503 ? "overloaded_error" : "api_error", msg);
	}
	call_free(k);
}

/* Try the next upstream of the call's style that has a key and a closed (or trial) breaker.
 * Returns 0 when a transfer runs; otherwise the call is answered and freed, -1. */
static int
call_attempt_next(struct call *k)
{
	struct gw *g = k->g;
	int64_t now = jido_now_ms();

	for (int i = 0; i < g->nups; i++) {
		struct gw_upstream *u = &g->ups[i];
		int ok, has;
		if (u->style != k->style || (k->tried & (1u << i)))
			continue;
		k->tried |= 1u << i;
		pthread_mutex_lock(&g->mu);
		has = u->secret != NULL;
		ok = has && gw_breaker_allow(&u->brk, now);
		pthread_mutex_unlock(&g->mu);
		if (!has) {
			call_note(k, u->name, "no provider key");
			continue;
		}
		if (!ok) {
			call_note(k, u->name, "circuit open");
			continue;
		}
		if (call_attempt_start(k, i) == 0)
			return 0;
		pthread_mutex_lock(&g->mu);
		gw_breaker_release(&u->brk);
		pthread_mutex_unlock(&g->mu);
		if (k->easy != NULL)
			curl_multi_remove_handle(g->multi, k->easy);
		call_attempt_free(k);
		call_note(k, u->name, "cannot start the transfer");
	}
	call_give_up(k);
	return -1;
}

/* The transfer of the current attempt ended with res (already removed from the multi). */
static void
call_done(struct call *k, CURLcode res)
{
	struct gw *g = k->g;
	struct gw_upstream *u = &g->ups[k->up];
	int64_t now = jido_now_ms();

	if (k->stream_out) {
		/* bytes reached the client: no retry, whatever happens */
		pthread_mutex_lock(&g->mu);
		if (res == CURLE_OK)
			gw_breaker_success(&u->brk, now);
		else
			gw_breaker_failure(&u->brk, now);
		pthread_mutex_unlock(&g->mu);
		call_account(k, k->status, res == CURLE_OK);
		if (k->c != NULL) {
			struct http_conn *c = k->c;
			k->c = NULL;
			http_set_call(c, NULL);
			if (res == CURLE_OK)
				http_stream_end(c);
			else {
				jido_warn("gateway.stream_broken", "{s:s,s:s}", "upstream", u->name, "why",
				    curl_easy_strerror(res));
				http_abort(c);
			}
		}
		call_free(k);
		return;
	}
	if (k->decided == D_PASS && res == CURLE_OK) {
		size_t bl = evbuffer_get_length(k->rbody);
		const char *body = "", *h = NULL;

		pthread_mutex_lock(&g->mu);
		gw_breaker_success(&u->brk, now);
		pthread_mutex_unlock(&g->mu);
		/* the answer is read in place and then moved to the client, not copied */
		if (evbuffer_add(k->rhdr, "", 1) == 0)
			h = (const char *)evbuffer_pullup(k->rhdr, -1);
		if (bl > 0)
			body = (const char *)evbuffer_pullup(k->rbody, -1);
		if (h == NULL || body == NULL) {
			call_account(k, 500, 0);
			if (k->c != NULL) {
				struct http_conn *c = k->c;
				k->c = NULL;
				gw_proxy_error(c, k->style, 500, "api_error", "out of memory");
			}
			call_free(k);
			return;
		}
		if (k->metered && k->status >= 200 && k->status < 300) {
			if (k->is_sse)
				gw_sse_feed(&k->sse, &k->usage, k->style, body, bl);
			else {
				json_t *j = json_loadb(body, bl, 0, NULL);
				/* Anthropic: the answer itself is {"type":"message",...,"usage"} */
				gw_usage_absorb(&k->usage, k->style, j);
				json_decref(j);
			}
		}
		call_account(k, k->status, 1);
		if (k->c != NULL) {
			struct http_conn *c = k->c;
			k->c = NULL;
			http_reply_evbuf(c, k->status, k->ctype[0] ? k->ctype : "application/json", h,
			    k->rbody);
		}
		call_free(k);
		return;
	}
	/* failed before any byte reached the client: count it, try the next upstream */
	char what[160];
	if (k->decided == D_RETRY)
		snprintf(what, sizeof(what), "HTTP %d", k->status);
	else
		snprintf(what, sizeof(what), "%s", curl_easy_strerror(res));
	if (!(k->decided == D_RETRY && k->status == 429))
		k->all_429 = 0;
	pthread_mutex_lock(&g->mu);
	gw_breaker_failure(&u->brk, now);
	pthread_mutex_unlock(&g->mu);
	jido_warn("gateway.upstream_failed", "{s:s,s:s,s:s}", "upstream", u->name, "why", what,
	    "run_id", k->ki.run_id);
	call_note(k, u->name, what);
	call_attempt_free(k);
	memset(&k->usage, 0, sizeof(k->usage));
	gw_sse_free(&k->sse);
	call_attempt_next(k);
}

/* The read timeout fired: the upstream went silent (a stall). */
static void
call_on_idle(evutil_socket_t fd, short kind, void *arg)
{
	struct call *k = arg;

	(void)fd;
	(void)kind;
	if (k->easy == NULL)
		return;
	curl_multi_remove_handle(k->g->multi, k->easy);
	call_done(k, CURLE_OPERATION_TIMEDOUT);
}

void
gw_proxy_abort(void *arg)
{
	struct call *k = arg;

	k->c = NULL;
	if (k->easy != NULL) {
		curl_multi_remove_handle(k->g->multi, k->easy);
		pthread_mutex_lock(&k->g->mu);
		gw_breaker_release(&k->g->ups[k->up].brk);
		pthread_mutex_unlock(&k->g->mu);
		proxy_easy_put(k->g, &k->easy);
	}
	jido_info("gateway.client_gone", "{s:s,s:b}", "run_id", k->ki.run_id, "streaming",
	    k->stream_out);
	call_account(k, 499, 0);
	call_free(k);
}

/* ---------------------------------------------------------------- arrival */

static int
header_forwarded(const char *name)
{
	static const char *const drop[] = { "host", "content-length", "connection", "keep-alive",
		"proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect",
		"x-api-key", "authorization", "cookie", "accept-encoding", "proxy-authorization",
		NULL };

	if (strncasecmp(name, "x-jido-", 7) == 0)
		return 0;
	for (int i = 0; drop[i] != NULL; i++)
		if (strcasecmp(name, drop[i]) == 0)
			return 0;
	return 1;
}

/* The estimated cost in micro-USD of in_tok input and out_tok output tokens at p. */
static long long
llround_price(const struct gw_price *p, long long in_tok, long long out_tok)
{
	struct gw_usage u = { .input = in_tok, .output = out_tok };

	return gw_usage_cost(&u, p);
}

static const char *
proxy_client_key(struct http_conn *c)
{
	const char *k = http_header(c, "x-api-key"), *a;

	if (k != NULL && *k != '\0')
		return k;
	a = http_header(c, "authorization");
	if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		while (*a == ' ')
			a++;
		return *a != '\0' ? a : NULL;
	}
	return NULL;
}

void
gw_proxy_request(struct gw *g, struct http_conn *c)
{
	const char *method = http_method(c), *target = http_target(c), *key;
	size_t plen = strcspn(target, "?"), blen;
	const char *body = http_body(c, &blen);
	int api, style, is_get = 0;
	long long max_out = 4096;
	char msg[300], model[128] = "";
	struct gw_keyinfo ki;
	json_t *j = NULL;
	int stream = 0, rc;

#define PATH_IS(s) (plen == strlen(s) && strncmp(target, s, plen) == 0)
	if (PATH_IS("/v1/messages"))
		api = API_MESSAGES;
	else if (PATH_IS("/v1/messages/count_tokens"))
		api = API_COUNT;
	else if (PATH_IS("/v1/models"))
		api = API_MODELS;
	else if (PATH_IS("/v1/chat/completions"))
		api = API_CHAT;
	else if (PATH_IS("/v1/responses"))
		api = API_RESPONSES;
	else if (PATH_IS("/health") && strcmp(method, "GET") == 0) {
		http_reply(c, 200, "application/json", NULL, "{\"ok\":true}", 11);
		return;
	} else {
		snprintf(msg, sizeof(msg), "no such endpoint: %s %.*s", method, (int)(plen > 200 ? 200 : plen), target);
		gw_proxy_error(c, (plen >= 8 && strncmp(target, "/v1/chat", 8) == 0) ||
		    strncmp(target, "/v1/responses", 13) == 0 ? GW_STYLE_OPENAI : GW_STYLE_ANTHROPIC,
		    404, "not_found_error", msg);
		return;
	}
#undef PATH_IS
	style = api == API_CHAT || api == API_RESPONSES ? GW_STYLE_OPENAI : GW_STYLE_ANTHROPIC;
	if (api == API_MODELS) {
		/* both APIs have /v1/models: Anthropic clients say which version they speak */
		style = http_header(c, "anthropic-version") != NULL ||
		    http_header(c, "x-api-key") != NULL ? GW_STYLE_ANTHROPIC : GW_STYLE_OPENAI;
		is_get = 1;
		if (strcmp(method, "GET") != 0) {
			gw_proxy_error(c, style, 405, "invalid_request_error", "use GET /v1/models");
			return;
		}
	} else if (strcmp(method, "POST") != 0) {
		gw_proxy_error(c, style, 405, "invalid_request_error", "this endpoint takes POST");
		return;
	}
	if ((key = proxy_client_key(c)) == NULL) {
		gw_proxy_error(c, style, 401, "authentication_error",
		    "missing API key: send the scoped key in x-api-key or Authorization: Bearer");
		return;
	}
	if (!is_get) {
		json_error_t err;
		json_t *v;
		if ((j = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &err)) == NULL ||
		    !json_is_object(j)) {
			snprintf(msg, sizeof(msg), "request body is not a JSON object%s%s",
			    j == NULL ? ": " : "", j == NULL ? err.text : "");
			json_decref(j);
			gw_proxy_error(c, style, 400, "invalid_request_error", msg);
			return;
		}
		v = json_object_get(j, "model");
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= sizeof(model)) {
			json_decref(j);
			gw_proxy_error(c, style, 400, "invalid_request_error",
			    "model: a string naming the model is required");
			return;
		}
		snprintf(model, sizeof(model), "%s", json_string_value(v));
		v = json_object_get(j, "stream");
		if (v != NULL && !json_is_boolean(v) && !json_is_null(v)) {
			json_decref(j);
			gw_proxy_error(c, style, 400, "invalid_request_error", "stream: must be a boolean");
			return;
		}
		stream = json_is_true(v);
		v = json_object_get(j, api == API_RESPONSES ? "max_output_tokens" : "max_tokens");
		if (v == NULL && api == API_CHAT)
			v = json_object_get(j, "max_completion_tokens");
		if (json_is_integer(v) && json_integer_value(v) > 0)
			max_out = (long long)json_integer_value(v);
		if (api == API_MESSAGES && !json_is_array(json_object_get(j, "messages"))) {
			json_decref(j);
			gw_proxy_error(c, style, 400, "invalid_request_error", "messages: an array is required");
			return;
		}
		if (api == API_CHAT && !json_is_array(json_object_get(j, "messages"))) {
			json_decref(j);
			gw_proxy_error(c, style, 400, "invalid_request_error", "messages: an array is required");
			return;
		}
	}
	/* authenticate, check the budget, reserve an estimate */
	int metered = api == API_MESSAGES || api == API_CHAT || api == API_RESPONSES;
	long long est_tokens = (long long)blen / 4 + max_out, est_musd = 0;
	if (metered) {
		const struct gw_price *p = gw_pricing_find(g->prices, g->nprices, model);
		if (p != NULL)
			est_musd = llround_price(p, (long long)blen / 4, max_out);
	}
	pthread_mutex_lock(&g->mu);
	rc = metered ? gw_keys_admit(g->db, key, est_tokens, est_musd, &ki, msg, sizeof(msg)) :
	    gw_keys_check(g->db, key, &ki, msg, sizeof(msg));
	pthread_mutex_unlock(&g->mu);
	if (rc != GW_ADMIT_OK) {
		json_decref(j);
		if (rc == GW_ADMIT_BUDGET_USD || rc == GW_ADMIT_BUDGET_TOKENS) {
			jido_info("gateway.budget_refused", "{s:s,s:s}", "run_id", ki.run_id, "budget",
			    rc == GW_ADMIT_BUDGET_USD ? "usd" : "tokens");
			gw_proxy_error(c, style, 429, "rate_limit_error", msg);
		} else if (rc == GW_ADMIT_ERROR)
			gw_proxy_error(c, style, 500, "api_error", msg);
		else
			gw_proxy_error(c, style, 401, "authentication_error", msg);
		return;
	}
	struct call *k = calloc(1, sizeof(*k));
	if (k == NULL)
		goto oom;
	g->calls++;
	k->g = g;
	k->c = c;
	k->api = api;
	k->style = style;
	k->metered = metered;
	k->stream = stream;
	k->is_get = is_get;
	k->ki = ki;
	k->est_tokens = metered ? est_tokens : 0;
	k->est_musd = metered ? est_musd : 0;
	k->up = -1;
	k->all_429 = 1;
	k->t0 = jido_now_ms();
	if ((k->idle = evtimer_new(g->base, call_on_idle, k)) == NULL) {
		free(k);
		g->calls--;
		goto oom;
	}
	snprintf(k->model, sizeof(k->model), "%s", model);
	k->target = strdup(target);
	/* OpenAI chat streams report usage only when asked: ask, so the run is billed right */
	if (api == API_CHAT && stream) {
		json_t *so = json_object_get(j, "stream_options");
		if (!json_is_object(so)) {
			so = json_object();
			json_object_set_new(j, "stream_options", so);
		}
		json_object_set_new(so, "include_usage", json_true());
		k->body = json_dumps(j, JSON_COMPACT);
		k->blen = k->body != NULL ? strlen(k->body) : 0;
	} else if ((k->body = malloc(blen + 1)) != NULL) {
		memcpy(k->body, body, blen);
		k->body[blen] = '\0';
		k->blen = blen;
	}
	json_decref(j);
	j = NULL;
	if (k->target == NULL || k->body == NULL)
		goto oom_call;
	for (int i = 0;; i++) {
		const char *hn, *hv;
		char line[8300];
		struct curl_slist *nl;
		if (http_header_at(c, i, &hn, &hv) != 0)
			break;
		if (!header_forwarded(hn))
			continue;
		snprintf(line, sizeof(line), "%s: %s", hn, hv);
		if ((nl = curl_slist_append(k->fwd, line)) == NULL)
			goto oom_call;
		k->fwd = nl;
	}
	/* no "Expect: 100-continue" round trip upstream */
	{
		struct curl_slist *nl = curl_slist_append(k->fwd, "Expect:");
		if (nl == NULL)
			goto oom_call;
		k->fwd = nl;
	}
	for (k->fwd_tail = k->fwd; k->fwd_tail->next != NULL; k->fwd_tail = k->fwd_tail->next)
		;
	http_set_call(c, k);
	call_attempt_next(k);
	return;
oom_call:
	k->c = NULL;
	call_account(k, 500, 0);
	call_free(k);
	json_decref(j);
	gw_proxy_error(c, style, 500, "api_error", "out of memory");
	return;
oom:
	if (metered) { /* give the reservation back */
		pthread_mutex_lock(&g->mu);
		gw_keys_reconcile(g->db, ki.key_id, est_tokens, est_musd, 0, 0);
		pthread_mutex_unlock(&g->mu);
	}
	json_decref(j);
	gw_proxy_error(c, style, 500, "api_error", "out of memory");
}

/* ---------------------------------------------------------------- libcurl on libevent */

static void proxy_check_done(struct gw *g);

static void
proxy_on_socket_event(evutil_socket_t fd, short kind, void *arg)
{
	struct gw *g = arg;
	int running = 0, action = (kind & EV_READ ? CURL_CSELECT_IN : 0) |
	    (kind & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(g->multi, fd, action, &running);
	proxy_check_done(g);
}

static void
proxy_on_timer(evutil_socket_t fd, short kind, void *arg)
{
	struct gw *g = arg;
	int running = 0;

	(void)fd;
	(void)kind;
	curl_multi_socket_action(g->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	proxy_check_done(g);
}

static int
proxy_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct gw *g = userp;
	struct event *ev = socketp;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (ev != NULL)
			event_free(ev);
		curl_multi_assign(g->multi, s, NULL);
		return 0;
	}
	short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
	    (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
	if (ev != NULL) {
		event_del(ev);
		event_assign(ev, g->base, s, kind, proxy_on_socket_event, g);
	} else {
		if ((ev = event_new(g->base, s, kind, proxy_on_socket_event, g)) == NULL)
			return -1;
		curl_multi_assign(g->multi, s, ev);
	}
	event_add(ev, NULL);
	return 0;
}

static int
proxy_curl_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct gw *g = userp;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	(void)m;
	if (timeout_ms < 0)
		evtimer_del(g->curl_timer);
	else
		evtimer_add(g->curl_timer, &tv);
	return 0;
}

static void
proxy_check_done(struct gw *g)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(g->multi, &left)) != NULL) {
		struct call *k = NULL;
		CURLcode res;
		if (m->msg != CURLMSG_DONE)
			continue;
		res = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
		curl_multi_remove_handle(g->multi, m->easy_handle);
		if (k != NULL)
			call_done(k, res);
	}
}

/*
 * The multi handle, made with the first upstream call: libcurl is loaded then
 * (lib/curl_shim.c), so an idle gateway maps none of it. 0, or -1 (the call fails).
 */
static int
proxy_multi_open(struct gw *g)
{
	if (g->multi != NULL)
		return 0;
	if ((g->multi = curl_multi_init()) == NULL) {
		jido_error("gateway.curl_failed", "{s:s}", "why",
		    jido_curl_error() ? jido_curl_error() : "curl_multi_init failed");
		return -1;
	}
	curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, proxy_curl_socket);
	curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, g);
	curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, proxy_curl_timer);
	curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, g);
	curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, 256L);
	return 0;
}

int
gw_proxy_init(struct gw *g, char *why, size_t whylen)
{
	if ((g->curl_timer = evtimer_new(g->base, proxy_on_timer, g)) == NULL) {
		snprintf(why, whylen, "cannot set up libcurl's timer");
		return JIDO_EINTERNAL;
	}
	if ((g->flush_ev = event_new(g->base, -1, 0, proxy_on_flush, g)) == NULL) {
		snprintf(why, whylen, "cannot set up the usage flush");
		return JIDO_EINTERNAL;
	}
	return 0;
}

void
gw_proxy_fini(struct gw *g)
{
	if (g->flush_ev != NULL) /* the calls the stop aborted: their records */
		proxy_flush(g);
	if (g->flush_ev != NULL)
		event_free(g->flush_ev);
	g->flush_ev = NULL;
	while (g->neasy > 0)
		curl_easy_cleanup(g->easy_pool[--g->neasy]);
	if (g->multi != NULL)
		curl_multi_cleanup(g->multi);
	g->multi = NULL;
	if (g->curl_timer != NULL)
		event_free(g->curl_timer);
	g->curl_timer = NULL;
}
