/*
 * api.c - the REST API under /api/v1/: JSON in and out, Bearer tokens (jido_..., scoped),
 * a token bucket per token (X-RateLimit-* headers, 429 with Retry-After), the shared
 * error codes mapped to HTTP statuses, every operation forwarded to the planner (the one
 * data source) with only the fields it documents. State-changing calls are audited
 * (channel api) before they are forwarded: no audit record, no effect. web/openapi.json
 * describes every route; docs/api.md explains them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web.h"

extern const char web_static_openapi[];
extern const unsigned int web_static_openapi_len;

struct api_route {
	int method;
	const char *pat;
	void (*fn)(struct wreq *q);
	int scope;
	int audit;            /* state-changing: write an audit record first */
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

/* Forward to the planner and answer with its data (status ok_status) or its typed error. */
static void
api_forward(struct wreq *q, const char *type, json_t *data, int ok_status)
{
	struct jido_reply r;
	int rc;

	if ((rc = web_call(q->w, "planner", type, NULL, data, &r)) != 0) {
		api_error(q, 503, JIDO_EUNAVAIL, "jido-planner does not answer");
		return;
	}
	if (!r.ok)
		api_error(q, web_err_status(r.err), r.err, r.message);
	else
		api_json(q, ok_status, json_incref(r.data));
	jido_reply_free(&r);
}

/* Copy the listed keys of the body (when present) into a new object. */
static json_t *
api_pick(struct wreq *q, const char *const *keys)
{
	json_t *d = json_object();

	for (int i = 0; keys[i] != NULL; i++) {
		json_t *v = json_object_get(q->body, keys[i]);
		if (v != NULL)
			json_object_set(d, keys[i], v);
	}
	return d;
}

static json_int_t
api_id(const char *s)
{
	char *end;
	long long v = s ? strtoll(s, &end, 10) : 0;

	return s != NULL && *end == '\0' && v > 0 ? (json_int_t)v : 0;
}

static void
api_actor(struct wreq *q, json_t *d)
{
	char a[48];

	snprintf(a, sizeof(a), "api-token:%lld", (long long)q->token_id);
	json_object_set_new(d, "actor", json_string(a));
}

/* ------------------------------------------------------------ handlers */

static void
api_projects_list(struct wreq *q)
{
	api_forward(q, "planner.projects.list", NULL, 200);
}

static void
api_projects_import(struct wreq *q)
{
	static const char *const keys[] = { "repos", NULL };

	api_forward(q, "planner.projects.import", api_pick(q, keys), 200);
}

static void
api_projects_get(struct wreq *q)
{
	json_int_t id = api_id(q->params[0]);

	if (id == 0) {
		api_error(q, 404, JIDO_ENOTFOUND, "no such project");
		return;
	}
	api_forward(q, "planner.projects.get", json_pack("{s:I}", "project", id), 200);
}

static void
api_projects_update(struct wreq *q)
{
	static const char *const keys[] = { "enabled", "settings", NULL };
	json_int_t id = api_id(q->params[0]);
	json_t *d;

	if (id == 0) {
		api_error(q, 404, JIDO_ENOTFOUND, "no such project");
		return;
	}
	d = api_pick(q, keys);
	json_object_set_new(d, "project", json_integer(id));
	api_forward(q, "planner.projects.update", d, 200);
}

static void
api_workbench(struct wreq *q)
{
	const char *lim = web_query(q, "limit");
	json_t *d = json_object();

	if (lim != NULL) {
		json_int_t n = api_id(lim);
		if (n == 0 && strcmp(lim, "0") != 0) {
			json_decref(d);
			api_error(q, 422, JIDO_EVALIDATION, "limit: must be a whole number");
			return;
		}
		json_object_set_new(d, "limit", json_integer(n));
	}
	api_forward(q, "planner.workbench", d, 200);
}

static void
api_runs_list(struct wreq *q)
{
	const char *p = web_query(q, "project"), *st = web_query(q, "state"),
	    *lim = web_query(q, "limit");
	json_t *d = json_object();

	if (p != NULL)
		json_object_set_new(d, "project", api_id(p) ? json_integer(api_id(p)) :
		    json_string(p));
	if (st != NULL)
		json_object_set_new(d, "state", json_string(st));
	if (lim != NULL) {
		if (api_id(lim) == 0) {
			json_decref(d);
			api_error(q, 422, JIDO_EVALIDATION, "limit: must be a positive whole number");
			return;
		}
		json_object_set_new(d, "limit", json_integer(api_id(lim)));
	}
	api_forward(q, "planner.runs.list", d, 200);
}

static void
api_runs_create(struct wreq *q)
{
	static const char *const keys[] = { "project", "workflow", "issue", "dry_run", NULL };
	json_t *d = api_pick(q, keys);

	api_actor(q, d);
	api_forward(q, "planner.runs.create", d, 201);
}

static void
api_runs_get(struct wreq *q)
{
	api_forward(q, "planner.runs.get", json_pack("{s:s}", "run_id", q->params[0]), 200);
}

static void
api_runs_cancel(struct wreq *q)
{
	static const char *const keys[] = { "reason", NULL };
	json_t *d = api_pick(q, keys);

	json_object_set_new(d, "run_id", json_string(q->params[0]));
	api_forward(q, "planner.runs.cancel", d, 200);
}

static void
api_runs_retry(struct wreq *q)
{
	json_t *d = json_pack("{s:s}", "run_id", q->params[0]);

	api_actor(q, d);
	api_forward(q, "planner.runs.retry", d, 201);
}

static void
api_decide(struct wreq *q, const char *decision)
{
	static const char *const keys[] = { "rationale", NULL };
	json_t *d = api_pick(q, keys);

	json_object_set_new(d, "run_id", json_string(q->params[0]));
	json_object_set_new(d, "decision", json_string(decision));
	json_object_set_new(d, "channel", json_string("api"));
	api_actor(q, d);
	api_forward(q, "planner.approvals.decide", d, 200);
}

static void
api_runs_approve(struct wreq *q)
{
	api_decide(q, "approve");
}

static void
api_runs_reject(struct wreq *q)
{
	api_decide(q, "reject");
}

static void
api_runs_events(struct wreq *q)
{
	sse_serve(q, q->params[0]);
}

static void
api_approvals(struct wreq *q)
{
	api_forward(q, "planner.approvals.list", NULL, 200);
}

static void
api_shipping_get(struct wreq *q)
{
	api_forward(q, "planner.approvals.kill_switch", NULL, 200);
}

static void
api_shipping_set(struct wreq *q)
{
	static const char *const keys[] = { "paused", "rationale", NULL };
	json_t *d = api_pick(q, keys);

	if (json_object_get(d, "paused") == NULL) {
		json_decref(d);
		api_error(q, 422, JIDO_EVALIDATION, "paused: required (true or false)");
		return;
	}
	json_object_set_new(d, "channel", json_string("api"));
	api_actor(q, d);
	api_forward(q, "planner.approvals.kill_switch", d, 200);
}

static void
api_tokens(struct wreq *q)
{
	api_json(q, 200, json_pack("{s:o}", "tokens", auth_token_list(q->w)));
}

static void
api_openapi(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, web_static_openapi, web_static_openapi_len);
	web_send(q, 200, "application/json", b);
}

static const struct api_route routes[] = {
	{ EVHTTP_REQ_GET, "/api/v1/projects", api_projects_list, SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/projects/import", api_projects_import, SCOPE_ADMIN, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/projects/:id", api_projects_get, SCOPE_READ, 0 },
	{ EVHTTP_REQ_PATCH, "/api/v1/projects/:id", api_projects_update, SCOPE_ADMIN, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/workbench", api_workbench, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/runs", api_runs_list, SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/runs", api_runs_create, SCOPE_RUN, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run", api_runs_get, SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/cancel", api_runs_cancel, SCOPE_RUN, 1 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/retry", api_runs_retry, SCOPE_RUN, 1 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/approve", api_runs_approve, SCOPE_APPROVE, 1 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/reject", api_runs_reject, SCOPE_APPROVE, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/events", api_runs_events, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/approvals", api_approvals, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/shipping", api_shipping_get, SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/shipping", api_shipping_set, SCOPE_ADMIN, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/tokens", api_tokens, SCOPE_ADMIN, 0 },
	/* artifacts, share links, the anomaly guard (web/artifacts.c) */
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts", api_artifacts_list, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts/:name", api_artifacts_get, SCOPE_READ, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/runs/:run/artifacts/:name/versions", api_artifacts_versions,
	    SCOPE_READ, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/runs/:run/artifacts/:name/share", api_artifacts_share,
	    SCOPE_ADMIN, 0 }, /* audited by share_create itself, with the link id */
	{ EVHTTP_REQ_GET, "/api/v1/share-links", api_links_list, SCOPE_ADMIN, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/share-links/:id/revoke", api_links_revoke, SCOPE_ADMIN, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/guard", api_guard_list, SCOPE_ADMIN, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/tokens/:id/unfreeze", api_tokens_unfreeze, SCOPE_ADMIN, 1 },
};

/* Match "/api/v1/runs/:run" style patterns; :x segments are 1-128 of [A-Za-z0-9._-]
 * (artifact names have dots; never a '/'). */
static int
api_match(struct wreq *q, const char *pat, const char *path)
{
	char *out = q->pbuf;
	int np = 0;

	while (*pat != '\0' && *path != '\0') {
		if (*pat == ':') {
			const char *s = path;
			while (*pat != '\0' && *pat != '/')
				pat++;
			while (*path != '\0' && *path != '/') {
				char c = *path++;
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' &&
				    c <= '9') || c == '_' || c == '-' || c == '.'))
					return 0;
			}
			if (path == s || path - s > 128 || np >= 4)
				return 0;
			memcpy(out, s, (size_t)(path - s));
			out[path - s] = '\0';
			q->params[np++] = out;
			out += path - s + 1;
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
	const char *auth;
	int path_known = 0, limit, remaining, reset, wait;
	int method = q->method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : q->method;

	if (strcmp(q->path, "/api/v1/openapi.json") == 0 && method == EVHTTP_REQ_GET) {
		api_openapi(q);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (api_match(q, routes[i].pat, q->path)) {
			path_known = 1;
			if (routes[i].method == method) {
				rt = &routes[i];
				break;
			}
		}
	if (rt == NULL) {
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
	if (!(q->scopes & rt->scope) && !(q->scopes & SCOPE_ADMIN)) {
		char need[16];
		auth_scopes_text(rt->scope, need, sizeof(need));
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
	if (rt->audit) {
		char subject[48];
		snprintf(subject, sizeof(subject), "api-token:%lld", (long long)q->token_id);
		if (web_audit(q->w, "api", rt->pat, subject, "ok", json_pack("{s:s,s:s}", "path",
		    q->path, "method", method == EVHTTP_REQ_PATCH ? "PATCH" : "POST")) != 0) {
			api_error(q, 503, JIDO_EUNAVAIL, "the auditor did not confirm the record: "
			    "nothing was done");
			return;
		}
	}
	rt->fn(q);
}
