/*
 * mcp.c - the MCP server core (see mcp.h): JSON-RPC 2.0 framing and errors, initialize
 * with version negotiation, tools/list and tools/call driven by the tool table,
 * resources for projects, runs, run logs and run artifacts, progress notifications while following a
 * run, the approval setting, and an audit record (channel mcp) for every request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mcp.h"
#include "artifact.h"

static const char *const mcp_versions[] = { "2025-06-18", "2025-03-26", NULL };

int
mcp_version_supported(const char *v)
{
	for (int i = 0; v != NULL && mcp_versions[i] != NULL; i++)
		if (strcmp(mcp_versions[i], v) == 0)
			return 1;
	return 0;
}

/* Returns a new reference. */
json_t *
mcp_error(const json_t *id, int code, const char *message)
{
	return json_pack("{s:s,s:O?,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id, "error", "code",
	    code, "message", message);
}

/* A success response; takes result. New reference. */
static json_t *
mcp_result(const json_t *id, json_t *result)
{
	return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, "result",
	    result ? result : json_object());
}

/* Write an audit record for one MCP request (channel mcp). Returns the audit callback's
 * code (0 when there is none). */
static int
mcp_audit(const struct mcp_session *s, const struct mcp_env *e, const char *action,
    const char *subject, const char *run_id, const char *result, int sync)
{
	json_t *rec;

	if (e->audit == NULL)
		return 0;
	rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "actor", e->actor ? e->actor : "mcp",
	    "channel", "mcp", "action", action, "subject", subject ? subject : "-", "result",
	    result, "details", "client", s->client[0] ? s->client : "unknown", "protocol",
	    s->version[0] ? s->version : "none");
	if (rec == NULL)
		return JIDO_EINTERNAL;
	if (run_id != NULL)
		json_object_set_new(rec, "run_id", json_string(run_id));
	return e->audit(e->ctx, rec, sync);
}

/* ------------------------------------------------------------ initialize */

static json_t *
mcp_initialize(struct mcp_session *s, const struct mcp_env *e, const json_t *id,
    const json_t *params)
{
	const char *want = json_string_value(json_object_get(params, "protocolVersion"));
	const char *cname = json_string_value(json_object_get(json_object_get(params,
	    "clientInfo"), "name"));

	if (want == NULL)
		return mcp_error(id, MCP_EPARAMS, "params.protocolVersion: required (a string)");
	if (!json_is_object(json_object_get(params, "capabilities")))
		return mcp_error(id, MCP_EPARAMS, "params.capabilities: required (an object)");
	/* Negotiation: the client's version when we speak it, else our latest (the client
	 * then decides whether to go on). */
	snprintf(s->version, sizeof(s->version), "%s", mcp_version_supported(want) ? want :
	    MCP_VERSION_LATEST);
	snprintf(s->client, sizeof(s->client), "%s", cname ? cname : "unknown");
	s->initialized = 1;
	mcp_audit(s, e, "mcp.initialize", s->client, NULL, "ok", 0);
	return mcp_result(id, json_pack("{s:s,s:{s:{s:b},s:{s:b,s:b}},s:{s:s,s:s,s:s},s:s}",
	    "protocolVersion", s->version, "capabilities", "tools", "listChanged", 0,
	    "resources", "subscribe", 0, "listChanged", 0, "serverInfo", "name", "jidocode",
	    "title", "JidoCode", "version", JIDO_VERSION, "instructions",
	    "JidoCode turns GitHub issues into agent-made pull requests. Read jido://projects "
	    "and jido://runs/{id}; kick off runs with runs_kickoff and watch them with "
	    "runs_follow. Approving or rejecting is off unless the owner turned on "
	    "mcp.allow_approvals."));
}

/* ------------------------------------------------------------ tools */

void
mcp_tool_name(const struct jido_op *op, char *buf, size_t len)
{
	size_t i;

	for (i = 0; op->name[i] != '\0' && i + 1 < len; i++)
		buf[i] = op->name[i] == '.' ? '_' : op->name[i];
	buf[i] = '\0';
}

/* The follow tool's schema: runs.get's arguments plus timeout_s. New reference. */
static json_t *
mcp_follow_schema(void)
{
	json_t *s = jido_op_schema(jido_op_find("runs.get"));

	json_object_set_new(json_object_get(s, "properties"), "timeout_s", json_pack("{s:s,s:i,s:s}",
	    "type", "integer", "minimum", 0, "description", "stop following after this many "
	    "seconds (capped by the server)"));
	json_object_set_new(json_object_get(s, "properties"), "until", json_pack("{s:s,s:[s,s],s:s}",
	    "type", "string", "enum", "settled", "finished", "description", "settled (default): "
	    "finished or waiting for approval; finished: completed, failed or cancelled"));
	return s;
}

static json_t *
mcp_tool_entry(const char *name, const char *desc, json_t *schema, int flags)
{
	return json_pack("{s:s,s:s,s:o,s:{s:b,s:b,s:b,s:b}}", "name", name, "description", desc,
	    "inputSchema", schema, "annotations", "readOnlyHint", !!(flags & JIDO_OP_READONLY),
	    "destructiveHint", !!(flags & JIDO_OP_DESTRUCTIVE), "idempotentHint",
	    !!(flags & JIDO_OP_IDEMPOTENT), "openWorldHint", 0);
}

static json_t *
mcp_tools_list(const json_t *id)
{
	size_t n;
	const struct jido_op *ops = jido_ops(&n);
	json_t *arr = json_array();
	char name[96];

	for (size_t i = 0; i < n; i++) {
		mcp_tool_name(&ops[i], name, sizeof(name));
		json_array_append_new(arr, mcp_tool_entry(name, ops[i].desc,
		    jido_op_schema(&ops[i]), ops[i].flags));
	}
	json_array_append_new(arr, mcp_tool_entry("runs_follow", "follow a run until it "
	    "finishes or waits for approval, with progress notifications; returns the run",
	    mcp_follow_schema(), JIDO_OP_READONLY | JIDO_OP_IDEMPOTENT));
	return mcp_result(id, json_pack("{s:o}", "tools", arr));
}

/* A tool result: structured content plus the same as a text block. Takes data. */
static json_t *
mcp_tool_ok(const json_t *id, json_t *data)
{
	char *text = json_dumps(data, JSON_INDENT(2));
	json_t *res = json_pack("{s:[{s:s,s:s}],s:o,s:b}", "content", "type", "text", "text",
	    text ? text : "{}", "structuredContent", data, "isError", 0);

	free(text);
	return mcp_result(id, res);
}

/* A tool error (isError: true) with the shared error code and message. */
static json_t *
mcp_tool_err(const json_t *id, int code, const char *message)
{
	char text[1200];

	snprintf(text, sizeof(text), "%s: %s", jido_err_name(code), message ? message :
	    jido_strerror(code));
	return mcp_result(id, json_pack("{s:[{s:s,s:s}],s:{s:{s:s,s:s}},s:b}", "content", "type",
	    "text", "text", text, "structuredContent", "error", "code", jido_err_name(code),
	    "message", message ? message : jido_strerror(code), "isError", 1));
}

/* One bus call; on 0 *out is the reply data (new reference), else why holds the error
 * message and the shared code is returned. */
static int
mcp_call(const struct mcp_env *e, const char *proc, const char *type, json_t *data,
    json_t **out, char *why, size_t whylen)
{
	struct jido_reply r;
	int rc;

	*out = NULL;
	if ((rc = e->call(e->ctx, proc, type, data, &r)) != 0) {
		snprintf(why, whylen, "jido-%s does not answer (%s)", proc, jido_strerror(rc));
		return rc;
	}
	if (!r.ok) {
		rc = r.err ? r.err : JIDO_EINTERNAL;
		snprintf(why, whylen, "%s", r.message ? r.message : jido_strerror(rc));
	} else
		*out = json_incref(r.data);
	jido_reply_free(&r);
	return rc;
}

/* Has the run reached where the follow stops? finished=0 also stops at an approval. */
static int
mcp_state_settled(const char *st, int finished)
{
	return st == NULL || strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
	    strcmp(st, "cancelled") == 0 || (!finished && strcmp(st, "awaiting_approval") == 0);
}

/* A follow in progress (see mcp.h). */
struct mcp_follow {
	json_t *id;          /* the request's id (owned) */
	json_t *token;       /* the progress token, or NULL (owned) */
	char run_id[136];
	int64_t until;       /* monotonic ms */
	int finished;        /* wait through approvals */
	double progress;
	char last[200];
};

void
mcp_follow_free(struct mcp_follow *f)
{
	if (f == NULL)
		return;
	json_decref(f->id);
	json_decref(f->token);
	free(f);
}

/* One poll of a follow: a progress notification when the run changed (and a token was
 * given). Returns the final response (new reference) once the run settled, the time is
 * up or the planner failed; NULL while it goes on. */
json_t *
mcp_follow_step(struct mcp_follow *f, const struct mcp_env *e)
{
	char why[1024], now[200];
	json_t *run, *res;
	int rc;

	if ((rc = mcp_call(e, "planner", "planner.runs.get", json_pack("{s:s}", "run_id",
	    f->run_id), &run, why, sizeof(why))) != 0)
		return mcp_tool_err(f->id, rc, why);
	const char *st = json_string_value(json_object_get(run, "state"));
	json_t *steps = json_object_get(run, "steps");
	size_t nsteps = json_array_size(steps), done = 0;
	for (size_t i = 0; i < nsteps; i++) {
		const char *ss = json_string_value(json_object_get(json_array_get(steps, i),
		    "state"));
		done += ss != NULL && (strcmp(ss, "done") == 0 || strcmp(ss, "skipped") == 0);
	}
	snprintf(now, sizeof(now), "run %s: %s, %zu of %zu steps done", f->run_id, st ? st : "?",
	    done, nsteps);
	if (strcmp(now, f->last) != 0) {
		snprintf(f->last, sizeof(f->last), "%s", now);
		f->progress += 1;
		if (f->token != NULL && e->notify != NULL) {
			json_t *n = json_pack("{s:s,s:s,s:{s:O,s:f,s:s}}", "jsonrpc", "2.0", "method",
			    "notifications/progress", "params", "progressToken", f->token, "progress",
			    f->progress, "message", now);
			e->notify(e->ctx, n);
			json_decref(n);
		}
	}
	if (mcp_state_settled(st, f->finished) || jido_now_ms() >= f->until) {
		res = mcp_tool_ok(f->id, run);
		return res;
	}
	json_decref(run);
	return NULL;
}

/* Follow the run in data for up to tmo seconds. Blocking (e->sleep_ms) when the
 * transport can wait; handed to the transport (*e->deferred) when it drives the polls
 * itself; else the run as it is now. Returns the response, or NULL when deferred. */
static json_t *
mcp_follow_run(const struct mcp_env *e, const json_t *id, const json_t *data, int tmo,
    int finished, const json_t *token)
{
	struct mcp_follow *f = calloc(1, sizeof(*f));
	json_t *res;

	if (f == NULL)
		return mcp_tool_err(id, JIDO_EINTERNAL, "out of memory");
	f->id = json_incref((json_t *)id);
	f->token = token ? json_incref((json_t *)token) : NULL;
	snprintf(f->run_id, sizeof(f->run_id), "%s", json_string_value(json_object_get(data,
	    "run_id")) ?: "");
	f->until = jido_now_ms() + (int64_t)tmo * 1000;
	f->finished = finished;
	while ((res = mcp_follow_step(f, e)) == NULL) {
		if (e->deferred != NULL) {
			*e->deferred = f;
			return NULL;
		}
		if (e->sleep_ms == NULL) {
			f->until = 0; /* cannot wait: answer with the run as it is */
			continue;
		}
		e->sleep_ms(e->ctx, 250);
	}
	mcp_follow_free(f);
	return res;
}

static json_t *
mcp_tools_call(struct mcp_session *s, const struct mcp_env *e, const json_t *id,
    const json_t *params)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");
	const json_t *token = json_object_get(json_object_get(params, "_meta"), "progressToken");
	const struct jido_op *op = NULL, *all;
	char why[1024], action[128], tn[96];
	json_t *data = NULL, *out = NULL, *targs = NULL;
	size_t n;
	int rc, follow = 0, finished = 0;

	if (name == NULL)
		return mcp_error(id, MCP_EPARAMS, "params.name: required (a string)");
	if (args != NULL && !json_is_object(args))
		return mcp_error(id, MCP_EPARAMS, "params.arguments: must be an object");
	if (token != NULL && !json_is_string(token) && !json_is_integer(token))
		return mcp_error(id, MCP_EPARAMS, "params._meta.progressToken: must be a string or "
		    "an integer");
	all = jido_ops(&n);
	for (size_t i = 0; i < n && op == NULL; i++) {
		mcp_tool_name(&all[i], tn, sizeof(tn));
		if (strcmp(tn, name) == 0)
			op = &all[i];
	}
	if (op == NULL && strcmp(name, "runs_follow") == 0) {
		op = jido_op_find("runs.get");
		follow = 1;
	}
	if (op == NULL) {
		snprintf(why, sizeof(why), "unknown tool: %.200s", name);
		return mcp_error(id, MCP_EPARAMS, why);
	}
	snprintf(action, sizeof(action), "mcp.tool.%s", name);
	args = args ? json_deep_copy(args) : json_object();
	if (follow) { /* timeout_s is the follow's own; the rest is runs.get's */
		targs = json_incref(json_object_get(args, "timeout_s"));
		json_object_del(args, "timeout_s");
		json_t *u = json_object_get(args, "until");
		if (u != NULL && (!json_is_string(u) || (strcmp(json_string_value(u), "settled") != 0 &&
		    strcmp(json_string_value(u), "finished") != 0))) {
			rc = JIDO_EVALIDATION;
			snprintf(why, sizeof(why), "until: must be settled or finished");
			goto refused;
		}
		finished = u != NULL && strcmp(json_string_value(u), "finished") == 0;
		json_object_del(args, "until");
		if (targs != NULL && (!json_is_integer(targs) || json_integer_value(targs) < 0)) {
			rc = JIDO_EVALIDATION;
			snprintf(why, sizeof(why), "timeout_s: must be a whole number of seconds");
			goto refused;
		}
	}
	struct jido_op_ctx ctx = { "mcp", e->actor, e->cred };
	if ((rc = jido_op_build(op, args, &ctx, &data, why, sizeof(why))) != 0)
		goto refused;
	const char *run_id = json_string_value(json_object_get(data, "run_id"));
	if (!jido_op_allowed(op, e->scopes)) {
		snprintf(why, sizeof(why), "this caller lacks the '%s' scope",
		    jido_op_scope_name(op->scope));
		rc = JIDO_EAUTHZ;
		goto refused;
	}
	/* Anything that needs the approve scope is an approval: off over MCP by default. */
	if ((op->scope & JIDO_SCOPE_APPROVE) && !e->allow_approvals) {
		snprintf(why, sizeof(why), "approving or rejecting over MCP is off: an agent must "
		    "not approve its own work; the owner can set mcp.allow_approvals = true");
		rc = JIDO_EPOLICY;
		goto refused;
	}
	int ro = !!(op->flags & JIDO_OP_READONLY);
	/* Durable before acknowledged: a call with an effect is audited first. */
	if (mcp_audit(s, e, action, run_id ? run_id : name, run_id, "ok", !ro) != 0 && !ro) {
		rc = JIDO_EUNAVAIL;
		snprintf(why, sizeof(why), "the auditor did not confirm the record: nothing was done");
		goto fail;
	}
	json_decref(args);
	if (follow) {
		int tmo = targs != NULL && json_integer_value(targs) < e->follow_max_s ?
		    (int)json_integer_value(targs) : e->follow_max_s;
		json_t *res = mcp_follow_run(e, id, data, tmo, finished, token);
		json_decref(data);
		json_decref(targs);
		return res;
	}
	rc = mcp_call(e, op->proc, op->type, data, &out, why, sizeof(why));
	json_decref(targs);
	if (rc != 0)
		return mcp_tool_err(id, rc, why);
	if (!json_is_object(out)) { /* structuredContent is an object */
		json_t *o = json_pack("{s:o}", "result", out ? out : json_null());
		out = o;
	}
	return mcp_tool_ok(id, out);
refused:
	mcp_audit(s, e, action, name, json_string_value(json_object_get(data, "run_id")),
	    "refused", 0);
fail:
	if (data != NULL && (op->flags & JIDO_OP_CRED))
		json_object_del(data, "cred");
	json_decref(data);
	json_decref(args);
	json_decref(targs);
	return mcp_tool_err(id, rc, why);
}

/* ------------------------------------------------------------ resources */

/* A run id in a URI: 1-64 of [A-Za-z0-9_-]. Copies it into buf; 0 when valid. */
static int
mcp_run_id(const char *s, size_t len, char *buf, size_t buflen)
{
	if (len == 0 || len >= buflen || len > 64)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			return -1;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

static json_t *
mcp_resources_list(const struct mcp_env *e, const json_t *id)
{
	json_t *arr = json_array(), *runs = NULL;
	char why[512];

	json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "uri", "jido://projects",
	    "name", "projects", "description", "the imported GitHub repositories and their "
	    "settings", "mimeType", "application/json"));
	/* The most recent runs (a missing planner is an error, never an empty list). */
	if (mcp_call(e, "planner", "planner.runs.list", json_pack("{s:i}", "limit", 50), &runs,
	    why, sizeof(why)) != 0) {
		json_decref(arr);
		return mcp_error(id, MCP_EINTERNAL, why);
	}
	json_t *list = json_object_get(runs, "runs"), *r;
	size_t i;
	json_array_foreach(list, i, r) {
		const char *rid = json_string_value(json_object_get(r, "id"));
		char uri[96], desc[256];
		if (rid == NULL)
			continue;
		snprintf(uri, sizeof(uri), "jido://runs/%s", rid);
		snprintf(desc, sizeof(desc), "%s: workflow %s, %s",
		    json_string_value(json_object_get(r, "project")) ?: "?",
		    json_string_value(json_object_get(r, "workflow")) ?: "?",
		    json_string_value(json_object_get(r, "state")) ?: "?");
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "uri", uri, "name", rid,
		    "description", desc, "mimeType", "application/json"));
		snprintf(uri, sizeof(uri), "jido://runs/%s/artifacts", rid);
		json_array_append_new(arr, json_pack("{s:s,s:s+,s:s,s:s}", "uri", uri, "name", rid,
		    " artifacts", "description", "the run's artifacts (logs, plans, diffs, reports) "
		    "with the uri of each version", "mimeType", "application/json"));
	}
	json_decref(runs);
	return mcp_result(id, json_pack("{s:o}", "resources", arr));
}

static json_t *
mcp_templates_list(const json_t *id)
{
	return mcp_result(id, json_pack("{s:[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s},"
	    "{s:s,s:s,s:s,s:s},{s:s,s:s,s:s}]}",
	    "resourceTemplates",
	    "uriTemplate", "jido://runs/{id}", "name", "run", "description",
	    "one run: state, steps, transitions, approval", "mimeType", "application/json",
	    "uriTemplate", "jido://runs/{id}/log", "name", "run log", "description",
	    "a run's history as text: state transitions, steps and its output lines (runs.logs, "
	    "redacted)", "mimeType", "text/plain",
	    "uriTemplate", "jido://runs/{id}/artifacts", "name", "run artifacts", "description",
	    "the artifacts of a run (and its retries): the latest version of each name with its "
	    "kind, size, media type, hash and the uri to read it", "mimeType", "application/json",
	    "uriTemplate", "jido://runs/{id}/artifacts/{name}{?version}", "name", "artifact",
	    "description", "one artifact version (the latest without ?version=N): text artifacts "
	    "as text, binary ones as base64 blob, with the artifact's media type; at most "
	    MCP_ART_MAX_TEXT " (larger ones: jido artifacts get or the REST download)"));
}

/* Is this media type text (a text artifact is sent as text when it is also UTF-8)? */
static int
mcp_media_text(const char *m)
{
	static const char *const apps[] = { "application/json", "application/x-ndjson",
		"application/xml", "application/yaml", "application/x-yaml",
		"application/javascript", "application/toml", NULL };
	size_t l;

	if (m == NULL)
		return 0;
	if (strncmp(m, "text/", 5) == 0)
		return 1;
	l = strcspn(m, ";");
	for (int i = 0; apps[i] != NULL; i++)
		if (strlen(apps[i]) == l && strncmp(m, apps[i], l) == 0)
			return 1;
	return (l > 5 && strncmp(m + l - 5, "+json", 5) == 0) ||
	    (l > 4 && strncmp(m + l - 4, "+xml", 4) == 0);
}

/* A run's artifact list as resource text: planner.artifacts.list with each row's uri.
 * Takes list (the answer). Returns a malloc'd string or NULL. */
static char *
mcp_artifact_list_text(const char *rid, json_t *list)
{
	json_t *a;
	size_t i;
	char *text;

	json_array_foreach(json_object_get(list, "artifacts"), i, a) {
		char uri[300];
		snprintf(uri, sizeof(uri), "jido://runs/%s/artifacts/%s?version=%lld", rid,
		    json_string_value(json_object_get(a, "name")) ?: "",
		    (long long)json_integer_value(json_object_get(a, "version")));
		json_object_set_new(a, "uri", json_string(uri));
		json_object_del(a, "path");
	}
	text = json_dumps(list, JSON_INDENT(2));
	json_decref(list);
	return text;
}

/* One artifact version as resource contents: the row's blob read through read_blob,
 * checked against its hash, as text (a textual media type and UTF-8) or base64 blob.
 * Takes row. Returns the result or an error response. */
static json_t *
mcp_artifact_contents(const struct mcp_env *e, const json_t *id, const char *uri, json_t *row)
{
	const char *rel = json_string_value(json_object_get(row, "path"));
	const char *hash = json_string_value(json_object_get(row, "hash"));
	const char *media = json_string_value(json_object_get(row, "media_type"));
	unsigned char dg[crypto_hash_sha256_BYTES];
	char hex[65], msg[512], *buf = NULL;
	size_t len = 0;
	json_t *c = NULL, *text = NULL;
	int rc;

	if (e->read_blob == NULL || rel == NULL || hash == NULL) {
		json_decref(row);
		return mcp_error(id, MCP_EINTERNAL, "this transport cannot read artifact files");
	}
	if ((rc = e->read_blob(e->ctx, rel, MCP_ART_MAX, &buf, &len)) != 0) {
		if (rc == JIDO_ECONFLICT)
			snprintf(msg, sizeof(msg), "the artifact is %lld bytes, more than the "
			    MCP_ART_MAX_TEXT " an MCP resource carries: use jido artifacts get or "
			    "GET /api/v1/runs/{id}/artifacts/{name}",
			    (long long)json_integer_value(json_object_get(row, "size")));
		else
			snprintf(msg, sizeof(msg), "%s: the artifact's file cannot be read (%s)",
			    jido_err_name(rc), rc == JIDO_ENOTFOUND ? "no longer kept" :
			    jido_strerror(rc));
		json_decref(row);
		return mcp_error(id, MCP_EINTERNAL, msg);
	}
	crypto_hash_sha256(dg, (const unsigned char *)buf, len);
	sodium_bin2hex(hex, sizeof(hex), dg, sizeof(dg));
	if (strcmp(hex, hash) != 0) {
		free(buf);
		json_decref(row);
		return mcp_error(id, MCP_EINTERNAL, "integrity_error: the artifact's file does not "
		    "match its recorded hash");
	}
	if (mcp_media_text(media) && memchr(buf, '\0', len) == NULL)
		text = json_stringn(buf, len); /* NULL when it is not UTF-8 */
	if (text != NULL)
		c = json_pack("{s:s,s:s,s:o}", "uri", uri, "mimeType", media, "text", text);
	else {
		size_t bl = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
		char *b64 = malloc(bl);
		if (b64 != NULL) {
			sodium_bin2base64(b64, bl, (const unsigned char *)buf, len,
			    sodium_base64_VARIANT_ORIGINAL);
			c = json_pack("{s:s,s:s,s:s}", "uri", uri, "mimeType", media ? media :
			    "application/octet-stream", "blob", b64);
			free(b64);
		}
	}
	free(buf);
	json_decref(row);
	if (c == NULL)
		return mcp_error(id, MCP_EINTERNAL, "out of memory");
	return mcp_result(id, json_pack("{s:[o]}", "contents", c));
}

/* jido://runs/<rid>/artifacts[/<name>[?version=N]]: rest is what follows "artifacts".
 * Returns the response, or NULL when the URI names no artifact (not found). */
static json_t *
mcp_artifact_read(struct mcp_session *s, const struct mcp_env *e, const json_t *id,
    const char *uri, const char *rid, const char *rest)
{
	char name[JIDO_ART_NAME_MAX + 1], why[1024];
	json_t *data = NULL, *d;
	long version = 0;
	int rc;

	if (rest[0] == '\0') {
		mcp_audit(s, e, "mcp.resource.read", uri, rid, "ok", 0);
		rc = mcp_call(e, "planner", "planner.artifacts.list", json_pack("{s:s}", "run_id",
		    rid), &data, why, sizeof(why));
	} else {
		const char *q = strchr(rest + 1, '?');
		size_t nl = q ? (size_t)(q - rest - 1) : strlen(rest + 1);
		if (rest[0] != '/' || nl == 0 || nl > JIDO_ART_NAME_MAX)
			return NULL;
		memcpy(name, rest + 1, nl);
		name[nl] = '\0';
		if (!jido_art_name_ok(name))
			return NULL;
		if (q != NULL) {
			char *end = NULL;
			if (strncmp(q, "?version=", 9) != 0 || q[9] < '1' || q[9] > '9')
				return NULL;
			version = strtol(q + 9, &end, 10);
			if (*end != '\0' || version > 1000000)
				return NULL;
		}
		mcp_audit(s, e, "mcp.resource.read", uri, rid, "ok", 0);
		d = json_pack("{s:s,s:s}", "run_id", rid, "name", name);
		if (version > 0)
			json_object_set_new(d, "version", json_integer(version));
		rc = mcp_call(e, "planner", "planner.artifacts.get", d, &data, why, sizeof(why));
	}
	if (rc == JIDO_ENOTFOUND)
		return NULL;
	if (rc != 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s: %s", jido_err_name(rc), why);
		return mcp_error(id, MCP_EINTERNAL, msg);
	}
	if (rest[0] != '\0')
		return mcp_artifact_contents(e, id, uri, data);
	char *text = mcp_artifact_list_text(rid, data);
	if (text == NULL)
		return mcp_error(id, MCP_EINTERNAL, "out of memory");
	json_t *res = json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType",
	    "application/json", "text", text);
	free(text);
	return mcp_result(id, res);
}

static void
mcp_text_printf(struct jido_buf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mcp_text_printf(struct jido_buf *t, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		jido_buf_put(t, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

#define MCP_LOG_MAX (256 * 1024)

/* A run's log as text: its transitions and steps, one line each, then the lines its steps
 * wrote (runs.logs: the executor's redacted transcripts, the last 10000), or why there
 * are none. logs may be NULL. Returns a malloc'd string. */
static char *
mcp_run_log(const json_t *run, const json_t *logs, const char *logs_why)
{
	struct jido_buf t = { 0 };
	json_t *v;
	size_t i;

	mcp_text_printf(&t, "run %s: project %s, workflow %s, state %s\n",
	    json_string_value(json_object_get(run, "id")) ?: "?",
	    json_string_value(json_object_get(run, "project")) ?: "?",
	    json_string_value(json_object_get(run, "workflow")) ?: "?",
	    json_string_value(json_object_get(run, "state")) ?: "?");
	json_array_foreach(json_object_get(run, "transitions"), i, v) {
		const char *reason = json_string_value(json_object_get(v, "reason"));
		mcp_text_printf(&t, "%lld transition %s -> %s%s%s\n",
		    (long long)json_integer_value(json_object_get(v, "at_ms")),
		    json_string_value(json_object_get(v, "from")) ?: "-",
		    json_string_value(json_object_get(v, "to")) ?: "-", reason ? ": " : "",
		    reason ? reason : "");
	}
	json_array_foreach(json_object_get(run, "steps"), i, v)
		mcp_text_printf(&t, "step %lld %s (%s): %s, attempt %lld\n",
		    (long long)json_integer_value(json_object_get(v, "seq")),
		    json_string_value(json_object_get(v, "step")) ?: "?",
		    json_string_value(json_object_get(v, "kind")) ?: "?",
		    json_string_value(json_object_get(v, "state")) ?: "?",
		    (long long)json_integer_value(json_object_get(v, "attempt")));
	if (logs == NULL)
		mcp_text_printf(&t, "(no output lines: %s)\n", logs_why);
	else {
		mcp_text_printf(&t, "output%s:\n", json_is_true(json_object_get(logs, "truncated")) ?
		    " (the last lines)" : "");
		json_array_foreach(json_object_get(logs, "lines"), i, v) {
			const char *line = json_string_value(json_object_get(v, "line"));
			if (t.n >= MCP_LOG_MAX) {
				mcp_text_printf(&t, "(cut at %d bytes)\n", MCP_LOG_MAX);
				break;
			}
			mcp_text_printf(&t, "  %s %s: %s\n", json_string_value(json_object_get(v,
			    "step")) ?: "?", json_string_value(json_object_get(v, "stream")) ?: "?",
			    line ? line : "");
		}
	}
	if (t.fail) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

static json_t *
mcp_resources_read(struct mcp_session *s, const struct mcp_env *e, const json_t *id,
    const json_t *params)
{
	const char *uri = json_string_value(json_object_get(params, "uri"));
	char rid[72], why[1024];
	json_t *data;
	int rc, log = 0;

	if (uri == NULL)
		return mcp_error(id, MCP_EPARAMS, "params.uri: required (a string)");
	if (!(e->scopes & (JIDO_SCOPE_READ | JIDO_SCOPE_ADMIN)))
		return mcp_error(id, MCP_EINVALID, "this caller lacks the 'read' scope");
	if (strcmp(uri, "jido://projects") == 0) {
		mcp_audit(s, e, "mcp.resource.read", uri, NULL, "ok", 0);
		rc = mcp_call(e, "planner", "planner.projects.list", NULL, &data, why, sizeof(why));
		rid[0] = '\0';
	} else if (strncmp(uri, "jido://runs/", 12) == 0) {
		const char *p = uri + 12, *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		if (slash != NULL && strncmp(slash, "/artifacts", 10) == 0) {
			json_t *res;
			if (mcp_run_id(p, l, rid, sizeof(rid)) != 0 ||
			    (res = mcp_artifact_read(s, e, id, uri, rid, slash + 10)) == NULL)
				goto notfound;
			return res;
		}
		if (slash != NULL && strcmp(slash, "/log") != 0)
			goto notfound;
		log = slash != NULL;
		if (mcp_run_id(p, l, rid, sizeof(rid)) != 0)
			goto notfound;
		mcp_audit(s, e, "mcp.resource.read", uri, rid, "ok", 0);
		rc = mcp_call(e, "planner", "planner.runs.get", json_pack("{s:s}", "run_id", rid),
		    &data, why, sizeof(why));
		if (rc == JIDO_ENOTFOUND)
			goto notfound;
	} else
		goto notfound;
	if (rc != 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "%s: %s", jido_err_name(rc), why);
		return mcp_error(id, MCP_EINTERNAL, msg);
	}
	char *text;
	if (log) { /* the lines come from runs.logs, the table's operation for them */
		const struct jido_op *lo = jido_op_find("runs.logs");
		struct jido_op_ctx lctx = { "mcp", e->actor, NULL };
		json_t *logs = NULL, *largs = json_pack("{s:s,s:i}", "run", rid, "limit", 10000), *ld;
		char lwhy[512] = "runs.logs is not in the operation table";
		if (lo == NULL || jido_op_build(lo, largs, &lctx, &ld, lwhy, sizeof(lwhy)) != 0 ||
		    mcp_call(e, lo->proc, lo->type, ld, &logs, lwhy, sizeof(lwhy)) != 0)
			logs = NULL;
		json_decref(largs);
		text = mcp_run_log(data, logs, lwhy);
		json_decref(logs);
	} else
		text = json_dumps(data, JSON_INDENT(2));
	json_decref(data);
	if (text == NULL)
		return mcp_error(id, MCP_EINTERNAL, "out of memory");
	json_t *res = json_pack("{s:[{s:s,s:s,s:s}]}", "contents", "uri", uri, "mimeType",
	    log ? "text/plain" : "application/json", "text", text);
	free(text);
	return mcp_result(id, res);
notfound:;
	json_t *err = mcp_error(id, MCP_ENORESOURCE, "resource not found");
	json_object_set_new(json_object_get(err, "error"), "data", json_pack("{s:s}", "uri", uri));
	return err;
}

/* ------------------------------------------------------------ dispatch */

json_t *
mcp_handle_json(struct mcp_session *s, const struct mcp_env *e, const json_t *msg)
{
	const json_t *id, *params;
	const char *method, *jr;

	if (json_is_array(msg))
		return mcp_error(NULL, MCP_EINVALID, "batches are not supported (protocol "
		    MCP_VERSION_LATEST ")");
	if (!json_is_object(msg))
		return mcp_error(NULL, MCP_EINVALID, "a JSON-RPC message is an object");
	jr = json_string_value(json_object_get(msg, "jsonrpc"));
	id = json_object_get(msg, "id");
	method = json_string_value(json_object_get(msg, "method"));
	params = json_object_get(msg, "params");
	if (jr == NULL || strcmp(jr, "2.0") != 0)
		return mcp_error(NULL, MCP_EINVALID, "jsonrpc: must be \"2.0\"");
	if (json_object_get(msg, "method") == NULL) {
		/* A response to something we sent (we send no requests): nothing to answer. */
		if (id != NULL && (json_object_get(msg, "result") || json_object_get(msg, "error")))
			return NULL;
		return mcp_error(NULL, MCP_EINVALID, "method: required (a string)");
	}
	if (id != NULL && !json_is_string(id) && !json_is_integer(id))
		return mcp_error(NULL, MCP_EINVALID, "id: must be a string or an integer");
	if (method == NULL)
		return mcp_error(id, MCP_EINVALID, "method: must be a string");
	if (params != NULL && !json_is_object(params))
		return mcp_error(id, MCP_EINVALID, "params: must be an object");
	if (id == NULL)
		return NULL; /* notifications (initialized, cancelled, ...) need no answer */
	if (strcmp(method, "initialize") == 0)
		return mcp_initialize(s, e, id, params);
	if (strcmp(method, "ping") == 0)
		return mcp_result(id, NULL);
	if (!s->initialized)
		return mcp_error(id, MCP_EINVALID, "the session is not initialized: send "
		    "initialize first");
	if (strcmp(method, "tools/list") == 0) {
		mcp_audit(s, e, "mcp.tools.list", "tools", NULL, "ok", 0);
		return mcp_tools_list(id);
	}
	if (strcmp(method, "tools/call") == 0)
		return mcp_tools_call(s, e, id, params);
	if (strcmp(method, "resources/list") == 0) {
		mcp_audit(s, e, "mcp.resources.list", "resources", NULL, "ok", 0);
		return mcp_resources_list(e, id);
	}
	if (strcmp(method, "resources/templates/list") == 0) {
		mcp_audit(s, e, "mcp.resources.templates", "resources", NULL, "ok", 0);
		return mcp_templates_list(id);
	}
	if (strcmp(method, "resources/read") == 0)
		return mcp_resources_read(s, e, id, params);
	char why[160];
	snprintf(why, sizeof(why), "method not found: %.100s", method);
	return mcp_error(id, MCP_ENOMETHOD, why);
}

json_t *
mcp_handle(struct mcp_session *s, const struct mcp_env *e, const char *buf, size_t len)
{
	json_error_t je;
	json_t *msg = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je), *res;

	if (msg == NULL) {
		char why[200];
		snprintf(why, sizeof(why), "parse error: %s", je.text);
		return mcp_error(NULL, MCP_EPARSE, why);
	}
	res = mcp_handle_json(s, e, msg);
	json_decref(msg);
	return res;
}
