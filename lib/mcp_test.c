/* mcp_test.c - the MCP core against a fake planner and auditor: JSON-RPC errors
 * (malformed, unknown method, bad params), version negotiation, tools, the approval
 * setting, scopes, audit before effect, resources and progress notifications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sodium.h>

#include "mcp.h"

struct fake {
	int calls, audits, audits_sync, notes, sleeps;
	int audit_fail;
	char last_type[64];
	json_t *last_data;
	int polls_until_done; /* runs.get answers running this many times */
	int logs_down;        /* executor.logs does not answer */
};

/* The fake store's files: plan.md v1 and v2 (latest), bin (4 bytes with a NUL), latin1.txt
 * (text/plain but not UTF-8), big (over the limit), tampered (hash mismatch). */
static const char *
fake_blob_body(const char *name, int version)
{
	if (name == NULL)
		return NULL;
	if (strcmp(name, "plan.md") == 0)
		return version == 1 ? "PLAN A\n" : "PLAN B\n";
	if (strcmp(name, "bin") == 0)
		return "\x89\0\x01\xff";
	if (strcmp(name, "latin1.txt") == 0)
		return "caf\xe9\n";
	if (strcmp(name, "big") == 0 || strcmp(name, "tampered") == 0)
		return "x";
	return NULL;
}

static int
fake_read_blob(void *ctx, const char *rel, size_t max, char **buf, size_t *len)
{
	(void)ctx;
	if (strcmp(rel, "big") == 0)
		return JIDO_ECONFLICT;
	/* the path of the fake rows is the name; the body of the version asked last */
	struct fake *f = ctx;
	int v = (int)json_integer_value(json_object_get(f->last_data, "version"));
	const char *body = fake_blob_body(rel, v);
	if (body == NULL)
		return JIDO_ENOTFOUND;
	*len = strcmp(rel, "bin") == 0 ? 4 : strlen(body);
	*buf = malloc(*len + 1);
	memcpy(*buf, body, *len + 1);
	assert_true(max >= *len);
	return 0;
}

/* Answer like the planner would; the reply goes through the real envelope parser. */
static int
fake_call(void *ctx, const char *proc, const char *type, json_t *data, struct jido_reply *r)
{
	struct fake *f = ctx;
	json_t *rep;
	char why[128];

	f->calls++;
	snprintf(f->last_type, sizeof(f->last_type), "%s", type);
	json_decref(f->last_data);
	f->last_data = data ? data : json_object();
	const char *rid = json_string_value(json_object_get(f->last_data, "run_id"));
	if (strcmp(type, "planner.runs.get") == 0 && (rid == NULL || strcmp(rid, "r_1") != 0))
		rep = jido_reply_err("x", JIDO_ENOTFOUND, "no such run");
	else if (strcmp(type, "planner.runs.get") == 0) {
		const char *st = f->polls_until_done-- > 0 ? "running" : "completed";
		rep = jido_reply_ok("x", json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:I}],"
		    "s:[{s:I,s:s,s:s,s:i}]}", "id", "r_1", "state", st, "project", "acme/w",
		    "workflow", "fix", "transitions", "from", "pending", "to", "running", "reason",
		    "started", "at_ms", (json_int_t)5, "steps", "seq", (json_int_t)1, "step",
		    "build", "kind", "agent", "attempt", 1));
	} else if (strcmp(type, "executor.logs") == 0) {
		if (f->logs_down)
			return JIDO_EUNAVAIL;
		rep = jido_reply_ok("x", json_pack("{s:s,s:[{s:s,s:s,s:i,s:s}],s:b}", "run_id", "r_1",
		    "lines", "step", "build", "stream", "stdout", "seq", 1, "line", "compiling <x>",
		    "truncated", 0));
	} else if (strcmp(type, "planner.artifacts.list") == 0)
		rep = jido_reply_ok("x", json_pack("{s:s,s:[{s:s,s:i,s:s,s:s}]}", "run_id", rid,
		    "artifacts", "name", "plan.md", "version", 2, "media_type", "text/markdown", "path",
		    "artifacts/blobs/aa/x"));
	else if (strcmp(type, "planner.artifacts.get") == 0) {
		const char *name = json_string_value(json_object_get(f->last_data, "name"));
		int v = (int)json_integer_value(json_object_get(f->last_data, "version"));
		const char *body = fake_blob_body(name, v);
		if (body == NULL)
			rep = jido_reply_err("x", JIDO_ENOTFOUND, "no such artifact");
		else {
			unsigned char dg[32];
			char hex[65];
			size_t bl = strcmp(name, "bin") == 0 ? 4 : strlen(body);
			crypto_hash_sha256(dg, (const unsigned char *)body, bl);
			sodium_bin2hex(hex, sizeof(hex), dg, sizeof(dg));
			if (strcmp(name, "tampered") == 0)
				hex[0] = hex[0] == '0' ? '1' : '0';
			rep = jido_reply_ok("x", json_pack("{s:s,s:s,s:I,s:s,s:s}", "name", name, "hash",
			    hex, "size", (json_int_t)bl, "media_type", strcmp(name, "bin") == 0 ?
			    "application/octet-stream" : strcmp(name, "latin1.txt") == 0 ? "text/plain" :
			    "text/markdown", "path", name));
		}
	} else if (strcmp(type, "planner.runs.list") == 0)
		rep = jido_reply_ok("x", json_pack("{s:[{s:s,s:s,s:s,s:s}]}", "runs", "id", "r_1",
		    "project", "acme/w", "workflow", "fix", "state", "running"));
	else
		rep = jido_reply_ok("x", json_pack("{s:s}", "echo", type));
	char *text = jido_json_dump(rep);
	json_decref(rep);
	assert_int_equal(jido_reply_parse(text, strlen(text), r, why, sizeof(why)), 0);
	free(text);
	return 0;
}

static int
fake_audit(void *ctx, json_t *rec, int sync)
{
	struct fake *f = ctx;

	assert_string_equal(json_string_value(json_object_get(rec, "channel")), "mcp");
	f->audits++;
	f->audits_sync += sync;
	json_decref(rec);
	return f->audit_fail ? JIDO_EUNAVAIL : 0;
}

static int
fake_notify(void *ctx, const json_t *msg)
{
	struct fake *f = ctx;

	assert_string_equal(json_string_value(json_object_get(msg, "method")),
	    "notifications/progress");
	f->notes++;
	return 0;
}

static void
fake_sleep(void *ctx, int ms)
{
	((struct fake *)ctx)->sleeps++;
}

static struct fake F;
static struct mcp_env E;
static struct mcp_session S;

static int
setup(void **state)
{
	memset(&F, 0, sizeof(F));
	memset(&S, 0, sizeof(S));
	E = (struct mcp_env){ .ctx = &F, .call = fake_call, .audit = fake_audit,
		.notify = fake_notify, .sleep_ms = fake_sleep, .read_blob = fake_read_blob,
		.scopes = JIDO_SCOPE_READ |
		JIDO_SCOPE_RUN | JIDO_SCOPE_APPROVE, .actor = "test", .follow_max_s = 60 };
	return 0;
}

static int
teardown(void **state)
{
	json_decref(F.last_data);
	F.last_data = NULL;
	return 0;
}

/* Send text; returns the response (new reference) or NULL. */
static json_t *
rpc(const char *text)
{
	return mcp_handle(&S, &E, text, strlen(text));
}

static int
err_code(const json_t *res)
{
	return (int)json_integer_value(json_object_get(json_object_get(res, "error"), "code"));
}

static void
init(void)
{
	json_t *r = rpc("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
	    "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
	    "\"t\",\"version\":\"1\"}}}");
	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
}

static void
test_malformed(void **state)
{
	static const struct { const char *text; int code; } cases[] = {
		{ "{not json", MCP_EPARSE },
		{ "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MCP_EINVALID },
		{ "42", MCP_EINVALID },
		{ "{\"id\":1,\"method\":\"ping\"}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_EINVALID },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"id\":2}", MCP_EPARSE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = rpc(cases[i].text);
		assert_non_null(r);
		assert_int_equal(err_code(r), cases[i].code);
		assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
		json_decref(r);
	}
	assert_int_equal(F.calls, 0);
}

static void
test_initialize(void **state)
{
	json_t *r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	assert_int_equal(err_code(r), MCP_EINVALID); /* before initialize */
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
	    "\"capabilities\":{}}}");
	assert_int_equal(err_code(r), MCP_EPARAMS);
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"initialize\",\"params\":{"
	    "\"protocolVersion\":\"2025-03-26\",\"capabilities\":{}}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
	    "protocolVersion")), "2025-03-26");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "a");
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":{"
	    "\"protocolVersion\":\"2099-01-01\",\"capabilities\":{}}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
	    "protocolVersion")), MCP_VERSION_LATEST);
	json_decref(r);
	assert_null(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"));
	assert_null(rpc("{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}"));
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"no/such\"}");
	assert_int_equal(err_code(r), MCP_ENOMETHOD);
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
	assert_true(json_is_object(json_object_get(r, "result")));
	json_decref(r);
}

static void
test_tools_list(void **state)
{
	json_t *r, *t;
	size_t i, n;

	init();
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
	jido_ops(&n);
	assert_int_equal(json_array_size(tools), n + 1); /* the table, and runs_follow */
	/* every operation of the table is a tool with the table's schema and flags */
	const struct jido_op *ops = jido_ops(&n);
	for (size_t k = 0; k < n; k++) {
		char name[96];
		json_t *found = NULL;
		mcp_tool_name(&ops[k], name, sizeof(name));
		json_array_foreach(tools, i, t)
			if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
				found = t;
		assert_non_null(found);
		json_t *want = jido_op_schema(&ops[k]);
		assert_true(json_equal(want, json_object_get(found, "inputSchema")));
		json_decref(want);
		assert_int_equal(json_is_true(json_object_get(json_object_get(found, "annotations"),
		    "readOnlyHint")), !!(ops[k].flags & JIDO_OP_READONLY));
		assert_int_equal(json_is_true(json_object_get(json_object_get(found, "annotations"),
		    "destructiveHint")), !!(ops[k].flags & JIDO_OP_DESTRUCTIVE));
	}
	json_array_foreach(tools, i, t) {
		json_t *s = json_object_get(t, "inputSchema"), *a = json_object_get(t, "annotations");
		assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
		assert_true(json_is_boolean(json_object_get(a, "readOnlyHint")));
		assert_true(json_is_boolean(json_object_get(a, "destructiveHint")));
		assert_true(json_is_boolean(json_object_get(a, "idempotentHint")));
		assert_non_null(json_string_value(json_object_get(t, "description")));
	}
	json_decref(r);
}

static int
is_error(const json_t *r, const char *code)
{
	json_t *res = json_object_get(r, "result");
	const char *c = json_string_value(json_object_get(json_object_get(json_object_get(res,
	    "structuredContent"), "error"), "code"));

	return json_is_true(json_object_get(res, "isError")) && c != NULL && strcmp(c, code) == 0;
}

static void
test_tools_call(void **state)
{
	json_t *r;

	init();
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"nope\"}}");
	assert_int_equal(err_code(r), MCP_EPARAMS);
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}");
	assert_int_equal(err_code(r), MCP_EPARAMS);
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_list\",\"arguments\":[]}}");
	assert_int_equal(err_code(r), MCP_EPARAMS);
	json_decref(r);
	/* bad arguments are tool errors the model can correct, and reach nobody */
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_list\",\"arguments\":{\"bogus\":1}}}");
	assert_true(is_error(r, "validation_error"));
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_get\",\"arguments\":{\"run\":5}}}");
	assert_true(is_error(r, "validation_error"));
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_kickoff\",\"arguments\":{\"project\":\"acme/w\"}}}");
	assert_true(is_error(r, "validation_error"));
	json_decref(r);
	assert_int_equal(F.calls, 0);
	/* a read-only call: structured content plus text */
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_list\",\"arguments\":{\"limit\":3}}}");
	json_t *res = json_object_get(r, "result");
	assert_false(json_is_true(json_object_get(res, "isError")));
	assert_true(json_is_object(json_object_get(res, "structuredContent")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(res,
	    "content"), 0), "type")), "text");
	assert_string_equal(F.last_type, "planner.runs.list");
	json_decref(r);
	/* the planner's typed error comes back as a tool error */
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_get\",\"arguments\":{\"run\":\"r_zz\"}}}");
	assert_true(is_error(r, "not_found"));
	json_decref(r);
	/* an effect is audited synchronously first; no record, no effect */
	int before = F.calls, sync = F.audits_sync;
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_kickoff\",\"arguments\":{\"project\":1,\"workflow\":\"fix\",\"issue\":7}}}");
	assert_false(json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
	assert_int_equal(F.audits_sync, sync + 1);
	assert_string_equal(json_string_value(json_object_get(F.last_data, "actor")), "test");
	json_decref(r);
	F.audit_fail = 1;
	before = F.calls;
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_kickoff\",\"arguments\":{\"project\":1,\"workflow\":\"fix\"}}}");
	assert_true(is_error(r, "unavailable"));
	assert_int_equal(F.calls, before);
	json_decref(r);
}

static void
test_approvals_setting(void **state)
{
	const char *approve = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"approvals_approve\",\"arguments\":{\"run\":\"r_1\","
	    "\"rationale\":\"looks right to me\"}}}";
	json_t *r;

	init();
	r = rpc(approve);
	assert_true(is_error(r, "policy_violation"));
	assert_int_equal(F.calls, 0);
	json_decref(r);
	E.allow_approvals = 1;
	E.scopes = JIDO_SCOPE_READ;
	r = rpc(approve);
	assert_true(is_error(r, "authorization_error"));
	assert_int_equal(F.calls, 0);
	json_decref(r);
	E.scopes = JIDO_SCOPE_APPROVE;
	r = rpc(approve);
	assert_false(json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
	assert_string_equal(F.last_type, "planner.approvals.decide");
	assert_string_equal(json_string_value(json_object_get(F.last_data, "channel")), "mcp");
	assert_string_equal(json_string_value(json_object_get(F.last_data, "decision")),
	    "approve");
	json_decref(r);
}

static void
test_resources(void **state)
{
	json_t *r;

	init();
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}");
	json_t *list = json_object_get(json_object_get(r, "result"), "resources");
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "uri")),
	    "jido://runs/r_1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "uri")),
	    "jido://runs/r_1/artifacts");
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/templates/list\"}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"),
	    "resourceTemplates")), 4);
	json_decref(r);
	static const char *const missing[] = { "jido://nope", "jido://runs/r_2", "jido://runs/",
		"jido://runs/r_1/x", "jido://runs/a b", "http://x", "jido://runs/r_1/artifactsx",
		"jido://runs/r_1/artifacts/", "jido://runs/r_1/artifacts/../x",
		"jido://runs/r_1/artifacts/plan.md?version=0", "jido://runs/r_1/artifacts/plan.md?v=1",
		"jido://runs/r_1/artifacts/plan.md?version=1x", "jido://runs/r_1/artifacts/nope" };
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		    "\"resources/read\",\"params\":{\"uri\":\"%s\"}}", missing[i]);
		r = rpc(text);
		assert_int_equal(err_code(r), MCP_ENORESOURCE);
		json_decref(r);
	}
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{}}");
	assert_int_equal(err_code(r), MCP_EPARAMS);
	json_decref(r);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":"
	    "\"jido://runs/r_1/log\"}}");
	json_t *c = json_array_get(json_object_get(json_object_get(r, "result"), "contents"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "mimeType")), "text/plain");
	assert_non_null(strstr(json_string_value(json_object_get(c, "text")),
	    "transition pending -> running: started"));
	json_decref(r);
}

/* The contents entry of a resources/read of uri (borrowed from *r, which the caller
 * frees). */
static json_t *
read_contents(const char *uri, json_t **r)
{
	char text[300];

	snprintf(text, sizeof(text), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	    "\"resources/read\",\"params\":{\"uri\":\"%s\"}}", uri);
	*r = rpc(text);
	return json_array_get(json_object_get(json_object_get(*r, "result"), "contents"), 0);
}

static void
test_artifact_resources(void **state)
{
	json_t *r, *c;

	init();
	/* a run's list: JSON, each artifact with the uri of its version, no blob path */
	c = read_contents("jido://runs/r_1/artifacts", &r);
	assert_string_equal(F.last_type, "planner.artifacts.list");
	assert_string_equal(json_string_value(json_object_get(c, "mimeType")), "application/json");
	json_t *l = json_loads(json_string_value(json_object_get(c, "text")), 0, NULL);
	json_t *a0 = json_array_get(json_object_get(l, "artifacts"), 0);
	assert_string_equal(json_string_value(json_object_get(a0, "uri")),
	    "jido://runs/r_1/artifacts/plan.md?version=2");
	assert_null(json_object_get(a0, "path"));
	json_decref(l);
	json_decref(r);
	/* text: the latest, or the version asked for, with the artifact's media type */
	c = read_contents("jido://runs/r_1/artifacts/plan.md", &r);
	assert_string_equal(json_string_value(json_object_get(c, "text")), "PLAN B\n");
	assert_string_equal(json_string_value(json_object_get(c, "mimeType")), "text/markdown");
	assert_null(json_object_get(F.last_data, "version"));
	json_decref(r);
	c = read_contents("jido://runs/r_1/artifacts/plan.md?version=1", &r);
	assert_string_equal(json_string_value(json_object_get(c, "text")), "PLAN A\n");
	assert_int_equal(json_integer_value(json_object_get(F.last_data, "version")), 1);
	assert_string_equal(json_string_value(json_object_get(c, "uri")),
	    "jido://runs/r_1/artifacts/plan.md?version=1");
	json_decref(r);
	/* binary, and text that is not UTF-8: base64 blob */
	c = read_contents("jido://runs/r_1/artifacts/bin", &r);
	assert_null(json_object_get(c, "text"));
	assert_string_equal(json_string_value(json_object_get(c, "blob")), "iQAB/w==");
	assert_string_equal(json_string_value(json_object_get(c, "mimeType")),
	    "application/octet-stream");
	json_decref(r);
	c = read_contents("jido://runs/r_1/artifacts/latin1.txt", &r);
	assert_string_equal(json_string_value(json_object_get(c, "blob")), "Y2Fm6Qo=");
	json_decref(r);
	/* too large, or not matching its hash: errors, no contents */
	read_contents("jido://runs/r_1/artifacts/big", &r);
	assert_int_equal(err_code(r), MCP_EINTERNAL);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"),
	    "message")), "8 MiB"));
	json_decref(r);
	read_contents("jido://runs/r_1/artifacts/tampered", &r);
	assert_int_equal(err_code(r), MCP_EINTERNAL);
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(r, "error"),
	    "message")), "integrity_error"));
	json_decref(r);
	/* a transport without read_blob lists but does not read */
	E.read_blob = NULL;
	read_contents("jido://runs/r_1/artifacts/plan.md", &r);
	assert_int_equal(err_code(r), MCP_EINTERNAL);
	json_decref(r);
}

static void
test_run_log_lines(void **state)
{
	json_t *r;

	init();
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":"
	    "\"jido://runs/r_1/log\"}}");
	const char *text = json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(r, "result"), "contents"), 0), "text"));
	assert_non_null(strstr(text, "output:\n  build stdout: compiling <x>\n"));
	assert_string_equal(F.last_type, "executor.logs"); /* runs.logs from the table */
	assert_string_equal(json_string_value(json_object_get(F.last_data, "run_id")), "r_1");
	json_decref(r);
	F.logs_down = 1; /* the executor does not answer: the log says so */
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":"
	    "\"jido://runs/r_1/log\"}}");
	text = json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(r, "result"), "contents"), 0), "text"));
	assert_non_null(strstr(text, "(no output lines: "));
	assert_non_null(strstr(text, "transition pending -> running"));
	json_decref(r);
}

static void
test_follow_progress(void **state)
{
	json_t *r;

	init();
	F.polls_until_done = 3;
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_follow\",\"arguments\":{\"run\":\"r_1\"},\"_meta\":{\"progressToken\":"
	    "\"p1\"}}}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r,
	    "result"), "structuredContent"), "state")), "completed");
	assert_int_equal(F.notes, 2); /* running, then completed */
	assert_int_equal(F.sleeps, 3);
	json_decref(r);
	/* without a token: no notifications */
	F.notes = 0;
	F.polls_until_done = 1;
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_follow\",\"arguments\":{\"run\":\"r_1\"}}}");
	assert_int_equal(F.notes, 0);
	json_decref(r);
}

static void
test_follow_deferred(void **state)
{
	struct mcp_follow *f = NULL;
	json_t *r;

	init();
	E.deferred = &f;
	E.sleep_ms = NULL;
	F.polls_until_done = 2;
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_follow\",\"arguments\":{\"run\":\"r_1\",\"until\":\"finished\"},"
	    "\"_meta\":{\"progressToken\":\"p\"}}}");
	assert_null(r);        /* handed to the transport */
	assert_non_null(f);
	assert_int_equal(F.notes, 1);
	assert_null(mcp_follow_step(f, &E)); /* still running: no new notification */
	assert_int_equal(F.notes, 1);
	r = mcp_follow_step(f, &E);
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r,
	    "result"), "structuredContent"), "state")), "completed");
	assert_int_equal(F.notes, 2);
	json_decref(r);
	mcp_follow_free(f);
	r = rpc("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":"
	    "\"runs_follow\",\"arguments\":{\"run\":\"r_1\",\"until\":\"sometime\"}}}");
	assert_true(is_error(r, "validation_error"));
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initialize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tools_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tools_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_approvals_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_artifact_resources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_log_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_follow_deferred, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
