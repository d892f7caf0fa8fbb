/*
 * mcp.c - POST /mcp: the MCP server (lib/mcp.c) over the Streamable HTTP transport. One
 * JSON-RPC message per POST, answered with application/json (no SSE streams); 202 for
 * notifications and responses; Mcp-Session-Id issued at initialize and required after
 * (bound to the bearer token that opened it); MCP-Protocol-Version checked; Accept and
 * Content-Type checked; Origin validated against the UI's own origins; GET is 405 (no
 * server-initiated stream) and DELETE ends a session. A bearer API token is required and
 * its scopes are the caller's (the operation table's scope per tool). Runs only in the
 * HTTP thread, so the session table needs no lock.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "artifact.h"
#include "mcp.h"
#include "web.h"

#define MCP_SESSIONS 64
#define MCP_SESSION_IDLE_MS (60LL * 60 * 1000)

struct mcp_slot {
	char id[65];          /* "" = free */
	int64_t token_id;     /* the token that opened it */
	int64_t used_ms;
	struct mcp_session s;
};

static struct mcp_slot mcp_slots[MCP_SESSIONS];

struct web_mcp {
	struct web *w;
	struct evbuffer *pending; /* notifications before an SSE answer starts, or NULL */
};

static int
web_mcp_call(void *ctx, const char *proc, const char *type, json_t *data, struct jido_reply *r)
{
	struct web_mcp *m = ctx;

	return web_call(m->w, proc, type, NULL, data, r);
}

static int
web_mcp_audit(void *ctx, json_t *record, int sync)
{
	struct web_mcp *m = ctx;

	return jido_audit_append(m->w->conf, m->w->home, record, sync, NULL);
}

static int
web_mcp_read_blob(void *ctx, const char *rel, size_t max, char **buf, size_t *len)
{
	struct web_mcp *m = ctx;

	return jido_art_read(m->w->home, rel, max, buf, len);
}

#define MCP_FOLLOWS 16       /* SSE follows at once; more are answered at once */

/* A runs_follow answered as an SSE stream, polled every 250 ms. */
struct mcp_async {
	struct mcp_async *next, *prev; /* the open streams (mcp_asyncs) */
	struct web *w;
	struct evhttp_request *r;
	struct evhttp_connection *con;
	struct event *ev;
	struct mcp_follow *f;
};

static int mcp_nfollows;
static struct mcp_async *mcp_asyncs;

/* Append one JSON-RPC message as an SSE event. */
static void
web_mcp_sse_add(struct evbuffer *b, const json_t *msg)
{
	char *text = jido_json_dump(msg);

	evbuffer_add_printf(b, "event: message\ndata: %s\n\n", text ? text : "{}");
	free(text);
}

/* The notifier while the stream is open: one chunk per notification. */
static int
web_mcp_sse_notify(void *ctx, const json_t *msg)
{
	struct mcp_async *a = ctx;
	struct evbuffer *b = evbuffer_new();

	web_mcp_sse_add(b, msg);
	evhttp_send_reply_chunk(a->r, b);
	evbuffer_free(b);
	return 0;
}

static void
web_mcp_async_free(struct mcp_async *a)
{
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		mcp_asyncs = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	event_free(a->ev);
	mcp_follow_free(a->f);
	mcp_nfollows--;
	free(a);
}

static void
web_mcp_async_closed(struct evhttp_connection *con, void *arg)
{
	web_mcp_async_free(arg); /* the client went away: stop following */
}

static int
web_mcp_async_call(void *ctx, const char *proc, const char *type, json_t *data,
    struct jido_reply *r)
{
	struct mcp_async *a = ctx;

	return web_call(a->w, proc, type, NULL, data, r);
}

static void
web_mcp_async_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_async *a = arg;
	struct mcp_env e = { .ctx = a, .call = web_mcp_async_call, .notify = web_mcp_sse_notify };
	json_t *res = mcp_follow_step(a->f, &e);

	if (res == NULL)
		return;
	struct evbuffer *b = evbuffer_new();
	web_mcp_sse_add(b, res);
	json_decref(res);
	evhttp_send_reply_chunk(a->r, b);
	evbuffer_free(b);
	evhttp_connection_set_closecb(a->con, NULL, NULL);
	evhttp_send_reply_end(a->r);
	web_mcp_async_free(a);
}

/* Open the SSE answer with what is already known (notifications in pending, then the
 * response when res is not NULL, which ends the stream). */
static void
web_mcp_sse_start(struct wreq *q, struct evbuffer *pending, json_t *res)
{
	sse_reply_start(q);
	if (res != NULL)
		web_mcp_sse_add(pending, res);
	evhttp_send_reply_chunk(q->r, pending);
	if (res != NULL)
		evhttp_send_reply_end(q->r);
}

/* The notifier during the first poll (inside mcp_handle): buffered until the stream
 * opens. */
static int
web_mcp_buffer_notify(void *ctx, const json_t *msg)
{
	struct web_mcp *m = ctx;

	web_mcp_sse_add(m->pending, msg);
	return 0;
}

/* A JSON answer (takes j; NULL = no body). */
static void
web_mcp_send(struct wreq *q, int status, json_t *j)
{
	struct evbuffer *b = evbuffer_new();

	if (j != NULL) {
		char *text = jido_json_dump(j);
		evbuffer_add_printf(b, "%s\n", text ? text : "{}");
		free(text);
		json_decref(j);
	}
	web_send(q, status, j != NULL ? "application/json" : "text/plain; charset=utf-8", b);
}

/* An HTTP-level refusal with a JSON-RPC error body (id null). */
static void
web_mcp_refuse(struct wreq *q, int status, int code, const char *message)
{
	web_mcp_send(q, status, mcp_error(NULL, code, message));
}

/* Is the Origin header (when present) one of this UI's origins? */
static int
web_mcp_origin_ok(struct wreq *q)
{
	const char *o = web_header(q, "Origin"), *pub = jido_conf_str(q->w->conf, "web.public_url");
	char mine[64];

	if (o == NULL)
		return 1; /* not a browser */
	size_t pl = pub ? strlen(pub) : 0;
	while (pl > 0 && pub[pl - 1] == '/')
		pl--;
	if (pl > 0 && strlen(o) == pl && strncasecmp(o, pub, pl) == 0)
		return 1;
	snprintf(mine, sizeof(mine), "http://127.0.0.1:%d", q->w->port);
	if (strcasecmp(o, mine) == 0)
		return 1;
	snprintf(mine, sizeof(mine), "http://localhost:%d", q->w->port);
	return strcasecmp(o, mine) == 0;
}

/* The session named by the Mcp-Session-Id header for this token, or NULL. */
static struct mcp_slot *
web_mcp_slot_find(const char *id, int64_t token_id, int64_t now)
{
	for (int i = 0; id != NULL && i < MCP_SESSIONS; i++) {
		struct mcp_slot *sl = &mcp_slots[i];
		if (sl->id[0] == '\0')
			continue;
		if (now - sl->used_ms > MCP_SESSION_IDLE_MS) {
			sl->id[0] = '\0';
			continue;
		}
		if (strlen(id) == 64 && sodium_memcmp(sl->id, id, 64) == 0 &&
		    sl->token_id == token_id)
			return sl;
	}
	return NULL;
}

/* A new session slot (the least recently used one when all are taken). */
static struct mcp_slot *
web_mcp_slot_new(int64_t token_id, int64_t now)
{
	struct mcp_slot *sl = &mcp_slots[0];
	unsigned char raw[32];

	for (int i = 0; i < MCP_SESSIONS; i++) {
		if (mcp_slots[i].id[0] == '\0') {
			sl = &mcp_slots[i];
			break;
		}
		if (mcp_slots[i].used_ms < sl->used_ms)
			sl = &mcp_slots[i];
	}
	memset(sl, 0, sizeof(*sl));
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(sl->id, sizeof(sl->id), raw, sizeof(raw));
	sl->token_id = token_id;
	sl->used_ms = now;
	return sl;
}

/* Bearer token check (as the REST API); 0 when q->token_id/scopes are set. */
static int
web_mcp_auth(struct wreq *q)
{
	const char *auth = web_header(q, "Authorization");
	int limit, remaining, reset, wait;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    auth_token_check(q->w, auth + 7, &q->token_id, &q->scopes) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
		    "Bearer realm=\"jidocode\"");
		web_mcp_refuse(q, 401, MCP_EINVALID, auth == NULL ? "an Authorization: Bearer "
		    "jido_... token is required" : "the token is unknown, expired or revoked");
		return -1;
	}
	q->w->m.api_calls++;
	if ((wait = auth_api_limit(q->w, q->token_id, jido_now_ms(), &remaining, &limit,
	    &reset)) > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", wait);
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", ra);
		q->w->m.api_limited++;
		web_mcp_refuse(q, 429, MCP_EINVALID, "rate limit reached for this token: retry later");
		return -1;
	}
	return 0;
}

static int
web_mcp_accepts(const char *accept, const char *type)
{
	return accept != NULL && (strcasestr(accept, type) != NULL || strstr(accept, "*/*"));
}

/* POST /mcp: one JSON-RPC message. */
static void
web_mcp_post(struct wreq *q)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(q->r);
	size_t n = evbuffer_get_length(in);
	const char *ct = web_header(q, "Content-Type"), *accept = web_header(q, "Accept");
	const char *sid = web_header(q, "Mcp-Session-Id");
	const char *pv = web_header(q, "MCP-Protocol-Version");
	int64_t now = jido_now_ms();
	struct mcp_slot *sl = NULL;
	json_error_t je;
	json_t *msg, *res;
	char *text;

	if (!web_mcp_accepts(accept, "application/json") ||
	    !web_mcp_accepts(accept, "text/event-stream")) {
		web_mcp_refuse(q, 406, MCP_EINVALID, "Accept must list application/json and "
		    "text/event-stream");
		return;
	}
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
		web_mcp_refuse(q, 415, MCP_EINVALID, "send JSON (Content-Type: application/json)");
		return;
	}
	if ((text = malloc(n + 1)) == NULL) {
		web_mcp_refuse(q, 500, MCP_EINTERNAL, "out of memory");
		return;
	}
	evbuffer_copyout(in, text, n);
	msg = json_loadb(text, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	free(text);
	if (msg == NULL) {
		char why[200];
		snprintf(why, sizeof(why), "parse error: %s", je.text);
		web_mcp_refuse(q, 400, MCP_EPARSE, why);
		return;
	}
	const char *method = json_string_value(json_object_get(msg, "method"));
	int is_init = method != NULL && strcmp(method, "initialize") == 0;
	if (!is_init) {
		if (sid == NULL) {
			json_decref(msg);
			web_mcp_refuse(q, 400, MCP_EINVALID, "Mcp-Session-Id: required (from the "
			    "initialize answer)");
			return;
		}
		if ((sl = web_mcp_slot_find(sid, q->token_id, now)) == NULL) {
			json_decref(msg);
			web_mcp_refuse(q, 404, MCP_EINVALID, "no such session: initialize again");
			return;
		}
		if (pv != NULL && !mcp_version_supported(pv)) {
			json_decref(msg);
			web_mcp_refuse(q, 400, MCP_EINVALID, "MCP-Protocol-Version: unsupported");
			return;
		}
		sl->used_ms = now;
	}
	struct web_mcp m = { q->w, NULL };
	struct mcp_follow *fol = NULL;
	char actor[48];
	struct mcp_session tmp;
	/* A follow with a progress token is answered as an SSE stream (bounded). */
	json_t *params = json_object_get(msg, "params");
	int stream = method != NULL && strcmp(method, "tools/call") == 0 &&
	    strcmp(json_string_value(json_object_get(params, "name")) ?: "", "runs_follow") == 0 &&
	    json_object_get(json_object_get(params, "_meta"), "progressToken") != NULL &&
	    mcp_nfollows < MCP_FOLLOWS;
	snprintf(actor, sizeof(actor), "api-token:%lld", (long long)q->token_id);
	struct mcp_env e = {
		.ctx = &m, .call = web_mcp_call, .audit = web_mcp_audit,
		.notify = stream ? web_mcp_buffer_notify : NULL, .read_blob = web_mcp_read_blob,
		.sleep_ms = NULL, /* one HTTP thread: never sleeps */
		.scopes = q->scopes, .actor = actor, .cred = jido_cred_self(),
		.allow_approvals = jido_conf_bool(q->w->conf, "mcp.allow_approvals"),
		.follow_max_s = stream ? (int)jido_conf_int(q->w->conf, "mcp.follow_max_s") : 0,
		.deferred = stream ? &fol : NULL,
	};
	if (stream)
		m.pending = evbuffer_new();
	memset(&tmp, 0, sizeof(tmp));
	res = mcp_handle_json(sl ? &sl->s : &tmp, &e, msg);
	json_decref(msg);
	if (fol != NULL) { /* the run goes on: stream, and poll it from a timer */
		struct mcp_async *a = calloc(1, sizeof(*a));
		struct timeval tv = { 0, 250 * 1000 };
		if (a == NULL || (a->ev = event_new(q->w->base, -1, EV_PERSIST, web_mcp_async_tick,
		    a)) == NULL) {
			free(a);
			mcp_follow_free(fol);
			evbuffer_free(m.pending);
			web_mcp_refuse(q, 500, MCP_EINTERNAL, "out of memory");
			return;
		}
		a->w = q->w;
		a->r = q->r;
		a->con = evhttp_request_get_connection(q->r);
		a->f = fol;
		a->next = mcp_asyncs;
		if (mcp_asyncs != NULL)
			mcp_asyncs->prev = a;
		mcp_asyncs = a;
		mcp_nfollows++;
		web_mcp_sse_start(q, m.pending, NULL);
		evbuffer_free(m.pending);
		evhttp_connection_set_closecb(a->con, web_mcp_async_closed, a);
		event_add(a->ev, &tv);
		return;
	}
	if (m.pending != NULL && res != NULL && evbuffer_get_length(m.pending) > 0) {
		web_mcp_sse_start(q, m.pending, res); /* settled at once: notifications, answer */
		evbuffer_free(m.pending);
		json_decref(res);
		return;
	}
	if (m.pending != NULL)
		evbuffer_free(m.pending);
	if (res == NULL) {
		web_send(q, 202, "text/plain; charset=utf-8", NULL);
		return;
	}
	if (is_init && tmp.initialized) {
		sl = web_mcp_slot_new(q->token_id, now);
		sl->s = tmp;
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Mcp-Session-Id", sl->id);
	}
	web_mcp_send(q, 200, res);
}

void
mcp_http_close(void)
{
	while (mcp_asyncs != NULL) { /* the server goes away with its connections */
		evhttp_connection_set_closecb(mcp_asyncs->con, NULL, NULL);
		web_mcp_async_free(mcp_asyncs);
	}
}

void
mcp_http_serve(struct wreq *q)
{
	if (!web_mcp_origin_ok(q)) {
		web_mcp_refuse(q, 403, MCP_EINVALID, "Origin: not this server's");
		return;
	}
	if (q->method == EVHTTP_REQ_GET || q->method == EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Allow", "POST, DELETE");
		web_mcp_refuse(q, 405, MCP_EINVALID, "no server-initiated stream: POST requests");
		return;
	}
	if (q->method != EVHTTP_REQ_POST && q->method != EVHTTP_REQ_DELETE) {
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Allow", "POST, DELETE");
		web_mcp_refuse(q, 405, MCP_EINVALID, "method not allowed on /mcp");
		return;
	}
	if (web_mcp_auth(q) != 0)
		return;
	if (q->method == EVHTTP_REQ_DELETE) {
		struct mcp_slot *sl = web_mcp_slot_find(web_header(q, "Mcp-Session-Id"), q->token_id,
		    jido_now_ms());
		if (sl == NULL) {
			web_mcp_refuse(q, 404, MCP_EINVALID, "no such session");
			return;
		}
		sl->id[0] = '\0';
		web_send(q, 204, "text/plain; charset=utf-8", NULL);
		return;
	}
	web_mcp_post(q);
}
