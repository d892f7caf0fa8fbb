/*
 * api.c - the REST API under /api/v1/: JSON in and out, Bearer tokens (jido_..., scoped),
 * a token bucket per token (X-RateLimit-* headers, 429 with Retry-After), the shared
 * error codes mapped to HTTP statuses. Every route but the SSE stream and openapi.json is
 * an entry of the operation table (lib/ops.c): its method and path, scope, arguments
 * (path segments, query or JSON body, typed and checked by the table) and the process it
 * is forwarded to. State-changing calls are audited (channel api) before they are
 * forwarded: no audit record, no effect. web/openapi.json describes every route (a test
 * checks each table operation is in it); docs/api.md explains them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops.h"
#include "web.h"

extern const char web_static_openapi[];
extern const unsigned int web_static_openapi_len;

struct api_route {
	int method;
	const char *pat;
	void (*fn)(struct wreq *q);
	int scope;
	int audit;            /* unused: table operations are audited by api_op */
};

void
api_json(struct wreq *q, int status, json_t *j)
{
	struct evbuffer *b = evbuffer_new();
	char *text = jido_json_dump(j);

	evbuffer_add_printf(b, "%s\n", text ? text : "{}");
	free(text);
	json_decref(j);
	web_send(q, status, "application/json", b);
}

void
api_error(struct wreq *q, int status, int code, const char *message)
{
	api_json(q, status, json_pack("{s:{s:s,s:s}}", "error", "code", jido_err_name(code),
	    "message", message ? message : jido_strerror(code)));
}

/* Forward to proc and answer with its data (status ok_status) or its typed error. */
static void
api_forward(struct wreq *q, const char *proc, const char *type, json_t *data, int ok_status)
{
	struct jido_reply r;
	int rc;

	if ((rc = web_call(q->w, proc, type, NULL, data, &r)) != 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "jido-%s does not answer", proc);
		api_error(q, 503, JIDO_EUNAVAIL, msg);
		return;
	}
	if (!r.ok)
		api_error(q, web_err_status(r.err), r.err, r.message);
	else
		api_json(q, ok_status, json_incref(r.data));
	jido_reply_free(&r);
}

/* The arguments of op from the request: path segments (:x, in order), the query (GET) or
 * the JSON body, typed by the table. New reference, or NULL with an error sent. */
static json_t *
api_op_args(struct wreq *q, const struct jido_op *op)
{
	json_t *args = q->body != NULL ? json_deep_copy(q->body) : json_object(), *v;
	char why[256];
	int np = 0;

	for (const char *p = strchr(op->path, ':'); p != NULL; p = strchr(p + 1, ':')) {
		char name[64];
		const struct jido_op_arg *a;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(p + 1, "/"), p + 1);
		a = jido_op_arg_find(op, name);
		if (a == NULL || q->params[np] == NULL || json_object_get(args, name) != NULL) {
			json_decref(args);
			api_error(q, 422, JIDO_EVALIDATION, "a path argument is also in the body");
			return NULL;
		}
		if (jido_op_arg_parse(a, q->params[np++], &v, why, sizeof(why)) != 0) {
			json_decref(args);
			api_error(q, a->type == JIDO_ARG_STR || a->type == JIDO_ARG_REF ? 422 : 404,
			    a->type == JIDO_ARG_STR || a->type == JIDO_ARG_REF ? JIDO_EVALIDATION :
			    JIDO_ENOTFOUND, why);
			return NULL;
		}
		json_object_set_new(args, name, v);
	}
	if (q->body == NULL) {
		for (struct evkeyval *kv = q->query.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
			const struct jido_op_arg *a = jido_op_arg_find(op, kv->key);
			if (a == NULL) {
				snprintf(why, sizeof(why), "%s: not a parameter of this route", kv->key);
				json_decref(args);
				api_error(q, 422, JIDO_EVALIDATION, why);
				return NULL;
			}
			if (jido_op_arg_parse(a, kv->value, &v, why, sizeof(why)) != 0) {
				json_decref(args);
				api_error(q, 422, JIDO_EVALIDATION, why);
				return NULL;
			}
			json_object_set_new(args, kv->key, v);
		}
	}
	return args;
}

/* Run one table operation: arguments checked and mapped by the table, audited first when
 * it changes anything (no audit record, no effect), then sent to its process (the web's
 * own token operations are answered here). */
static void
api_op(struct wreq *q, const struct jido_op *op)
{
	struct jido_op_ctx ctx = { "api", NULL, NULL };
	json_t *args, *data, *out = NULL;
	char actor[48], why[256];
	int rc;

	if ((args = api_op_args(q, op)) == NULL)
		return;
	snprintf(actor, sizeof(actor), "api-token:%lld", (long long)q->token_id);
	ctx.actor = actor;
	ctx.cred = (op->flags & JIDO_OP_CRED) ? jido_cred_self() : NULL;
	rc = jido_op_build(op, args, &ctx, &data, why, sizeof(why));
	json_decref(args);
	if (rc != 0) {
		api_error(q, web_err_status(rc), rc, why);
		return;
	}
	if (!(op->flags & JIDO_OP_READONLY) && web_audit(q->w, "api", op->name, actor, "ok",
	    json_pack("{s:s,s:s}", "path", q->path, "method", op->method)) != 0) {
		json_decref(data);
		api_error(q, 503, JIDO_EUNAVAIL, "the auditor did not confirm the record: "
		    "nothing was done");
		return;
	}
	if (strcmp(op->proc, "web") == 0) {
		if (strncmp(op->type, "web.guard.", 10) == 0)
			rc = art_web_handle(q->w, q->w->db, op->type, data, &out, why, sizeof(why));
		else
			rc = web_tokens_handle(q->w, q->w->db, op->type, data, 0, &out, why,
			    sizeof(why));
		json_decref(data);
		if (rc != 0)
			api_error(q, web_err_status(rc), rc, why);
		else
			api_json(q, op->status, out);
		return;
	}
	api_forward(q, op->proc, op->type, data, op->status);
}

static void
api_runs_events(struct wreq *q)
{
	sse_serve(q, q->params[0]);
}

static void
api_openapi(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, web_static_openapi, web_static_openapi_len);
	web_send(q, 200, "application/json", b);
}

/* Routes outside the operation table (streams, file downloads, share links). */
static const struct api_route routes[] = {
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/events", api_runs_events, SCOPE_READ, 0 },
	/* artifact downloads (streamed files), their versions and share links
	 * (web/artifacts.c); the guard's list and unfreeze are table operations */
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts", api_artifacts_list, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts/:name", api_artifacts_get, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts/:name/versions", api_artifacts_versions,
	    SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/artifacts/:name/share", api_artifacts_share,
	    SCOPE_ADMIN, 0 }, /* audited by share_create itself, with the link id */
	{ EVHTTP_REQ_GET, "/api/v1/share-links", api_links_list, SCOPE_ADMIN, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/share-links/:id/revoke", api_links_revoke, SCOPE_ADMIN, 0 },
};

static int
api_method(const char *m)
{
	return strcmp(m, "GET") == 0 ? EVHTTP_REQ_GET : strcmp(m, "PATCH") == 0 ?
	    EVHTTP_REQ_PATCH : strcmp(m, "DELETE") == 0 ? EVHTTP_REQ_DELETE : EVHTTP_REQ_POST;
}

/* Match "/api/v1/runs/:run" style patterns against the raw path; :x segments are 1-128
 * bytes of [A-Za-z0-9_.~-] and %XX escapes, decoded into q->params ("acme%2Fwidget" is
 * the project acme/widget). */
static int
api_match(struct wreq *q, const char *pat, const char *path)
{
	char *out = q->pbuf;
	int np = 0;

	while (*pat != '\0' && *path != '\0') {
		if (*pat == ':') {
			const char *s = path;
			char seg[132], *dec;
			size_t declen = 0;
			while (*pat != '\0' && *pat != '/')
				pat++;
			while (*path != '\0' && *path != '/') {
				char c = *path++;
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' &&
				    c <= '9') || c == '_' || c == '-' || c == '.' || c == '~' || c == '%'))
					return 0;
			}
			if (path == s || path - s > 128 || np >= 4)
				return 0;
			memcpy(seg, s, (size_t)(path - s));
			seg[path - s] = '\0';
			if ((dec = evhttp_uridecode(seg, 0, &declen)) == NULL || declen != strlen(dec) ||
			    declen == 0 || (size_t)(out - q->pbuf) + declen + 1 > sizeof(q->pbuf)) {
				free(dec);
				return 0;
			}
			memcpy(out, dec, declen + 1);
			free(dec);
			q->params[np++] = out;
			out += declen + 1;
			continue;
		}
		if (*pat++ != *path++)
			return 0;
	}
	return *pat == '\0' && *path == '\0';
}

static void
api_rate_headers(struct wreq *q, int limit, int remaining, int reset)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
	char v[32];

	snprintf(v, sizeof(v), "%d", limit);
	evhttp_add_header(h, "X-RateLimit-Limit", v);
	snprintf(v, sizeof(v), "%d", remaining);
	evhttp_add_header(h, "X-RateLimit-Remaining", v);
	snprintf(v, sizeof(v), "%d", reset);
	evhttp_add_header(h, "X-RateLimit-Reset", v);
}

void
api_route(struct wreq *q)
{
	const struct api_route *rt = NULL;
	const struct jido_op *op = NULL, *ops;
	size_t nops;
	const char *auth;
	int scope = SCOPE_ADMIN;
	int path_known = 0, limit, remaining, reset, wait;
	int method = q->method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : q->method;

	if (strcmp(q->path, "/api/v1/openapi.json") == 0 && method == EVHTTP_REQ_GET) {
		api_openapi(q);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (api_match(q, routes[i].pat, q->rawpath)) {
			path_known = 1;
			if (routes[i].method == method) {
				rt = &routes[i];
				scope = rt->scope;
				break;
			}
		}
	ops = jido_ops(&nops);
	for (size_t i = 0; rt == NULL && op == NULL && i < nops; i++)
		if (api_match(q, ops[i].path, q->rawpath)) {
			path_known = 1;
			if (api_method(ops[i].method) == method) {
				op = &ops[i];
				scope = op->scope;
			}
		}
	if (rt == NULL && op == NULL) {
		if (path_known)
			api_error(q, 405, JIDO_EVALIDATION, "method not allowed on this path");
		else
			api_error(q, 404, JIDO_ENOTFOUND, "no such API route");
		return;
	}
	auth = web_header(q, "Authorization");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    auth_token_check(q->w, auth + 7, &q->token_id, &q->scopes) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "WWW-Authenticate",
		    "Bearer realm=\"jidocode\"");
		api_error(q, 401, JIDO_EAUTHZ, auth == NULL ? "an Authorization: Bearer jido_... "
		    "token is required" : "the token is unknown, expired or revoked");
		return;
	}
	q->w->m.api_calls++;
	if (art_guard_token(q)) /* frozen by the anomaly guard: 423 */
		return;
	if ((wait = auth_api_limit(q->w, q->token_id, jido_now_ms(), &remaining, &limit,
	    &reset)) > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", wait);
		api_rate_headers(q, limit, 0, wait);
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", ra);
		q->w->m.api_limited++;
		api_error(q, 429, JIDO_EUNAVAIL, "rate limit reached for this token: retry later");
		return;
	}
	api_rate_headers(q, limit, remaining, reset);
	if (!(q->scopes & scope) && !(q->scopes & SCOPE_ADMIN)) {
		char need[16];
		auth_scopes_text(scope, need, sizeof(need));
		char msg[96];
		snprintf(msg, sizeof(msg), "this token lacks the '%s' scope", need);
		api_error(q, 403, JIDO_EAUTHZ, msg);
		return;
	}
	if (method == EVHTTP_REQ_POST || method == EVHTTP_REQ_PATCH) {
		struct evbuffer *in = evhttp_request_get_input_buffer(q->r);
		size_t n = evbuffer_get_length(in);
		const char *ct = web_header(q, "Content-Type");
		if (n > 0) {
			json_error_t je;
			char *text;
			if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0) {
				api_error(q, 415, JIDO_EVALIDATION, "send JSON (Content-Type: "
				    "application/json)");
				return;
			}
			if ((text = malloc(n)) == NULL) {
				api_error(q, 500, JIDO_EINTERNAL, "out of memory");
				return;
			}
			evbuffer_copyout(in, text, n);
			q->body = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
			free(text);
			if (!json_is_object(q->body)) {
				char msg[256];
				snprintf(msg, sizeof(msg), "the body must be a JSON object (%s)",
				    q->body == NULL ? je.text : "not an object");
				api_error(q, 400, JIDO_EVALIDATION, msg);
				return;
			}
		} else
			q->body = json_object();
	}
	if (op != NULL)
		api_op(q, op);
	else
		rt->fn(q);
}
