/*
 * gateway_test.c - unit tests of jido-gateway's parts without the network: the breaker state
 * machine, the pricing table and costs, usage from whole answers and from SSE streams cut
 * at every byte, the upstream list, and the key store (create, hash only, admit, budgets,
 * reservation and reconcile, revoke, expiry) through the real request handler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <sodium.h>
#include <sqlite3.h>

#include "gw.h"

extern const struct jido_proc gateway_proc;

static void
test_breaker(void **state)
{
	struct gw_breaker b;

	(void)state;
	gw_breaker_init(&b, 3, 60000, 300000);
	assert_true(gw_breaker_allow(&b, 0));
	gw_breaker_failure(&b, 0);
	gw_breaker_failure(&b, 1000);
	assert_int_equal(b.state, GW_BRK_CLOSED);
	/* a failure outside the window does not count */
	gw_breaker_failure(&b, 61500);
	assert_int_equal(b.state, GW_BRK_CLOSED);
	gw_breaker_failure(&b, 62000);
	gw_breaker_failure(&b, 62500);
	assert_int_equal(b.state, GW_BRK_OPEN);
	assert_false(gw_breaker_allow(&b, 62500 + 299999));
	/* the one trial */
	assert_true(gw_breaker_allow(&b, 62500 + 300000));
	assert_int_equal(b.state, GW_BRK_HALF_OPEN);
	assert_false(gw_breaker_allow(&b, 62500 + 300001));
	/* the trial fails: open again for a whole cool-down */
	gw_breaker_failure(&b, 400000);
	assert_int_equal(b.state, GW_BRK_OPEN);
	assert_false(gw_breaker_allow(&b, 699999));
	assert_true(gw_breaker_allow(&b, 700000));
	/* a trial whose client left frees the slot without a verdict */
	gw_breaker_release(&b);
	assert_true(gw_breaker_allow(&b, 700001));
	gw_breaker_success(&b, 700002);
	assert_int_equal(b.state, GW_BRK_CLOSED);
	json_t *j = gw_breaker_json(&b, 700003);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "closed");
	assert_int_equal(json_integer_value(json_object_get(j, "opens")), 2);
	json_decref(j);
}

static void
test_pricing(void **state)
{
	struct gw_price *p = NULL;
	size_t n = 0;
	char why[256];
	struct gw_usage u = { .input = 1000, .output = 200, .cache_read = 50, .cache_write = 10 };

	(void)state;
	assert_int_equal(gw_pricing_parse("claude-sonnet-4:3,15,0.3,3.75; claude-sonnet-4-5:1,2,3,4;*:1,1,1,1",
	    &p, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(gw_pricing_find(p, n, "claude-sonnet-4-5-20250929")->model, "claude-sonnet-4-5");
	assert_string_equal(gw_pricing_find(p, n, "claude-sonnet-4-20250514")->model, "claude-sonnet-4");
	assert_string_equal(gw_pricing_find(p, n, "claude-sonnet-40")->model, "*");
	assert_int_equal(gw_usage_cost(&u, gw_pricing_find(p, n, "claude-sonnet-4")),
	    1000 * 3 + 200 * 15 + 15 + 38); /* 50*0.3 = 15, 10*3.75 = 37.5 -> rounded once: 6052.5 -> 6053 */
	assert_int_equal(gw_usage_cost(&u, NULL), 0);
	free(p);
	assert_int_equal(gw_pricing_parse("nope", &p, &n, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "nope"));
	assert_int_equal(gw_pricing_parse("m:1,2,3", &p, &n, why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(gw_pricing_parse("m:1,2,3,-4", &p, &n, why, sizeof(why)), JIDO_EVALIDATION);
}

static const char sse_anthropic[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-x\",\"usage\":"
    "{\"input_tokens\":120,\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":30,\"output_tokens\":1}}}\n\n"
    "event: content_block_delta\r\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"the usage is\"}}\r\n\r\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void
test_usage_sse_split(void **state)
{
	(void)state;
	/* the same stream cut into two pieces at every position gives the same usage */
	for (size_t cut = 0; cut <= sizeof(sse_anthropic) - 1; cut++) {
		struct gw_sse s = { 0 };
		struct gw_usage u = { 0 };
		gw_sse_feed(&s, &u, GW_STYLE_ANTHROPIC, sse_anthropic, cut);
		gw_sse_feed(&s, &u, GW_STYLE_ANTHROPIC, sse_anthropic + cut, sizeof(sse_anthropic) - 1 - cut);
		assert_true(u.seen);
		assert_int_equal(u.input, 120);
		assert_int_equal(u.output, 42);
		assert_int_equal(u.cache_read, 30);
		assert_int_equal(u.cache_write, 7);
		assert_string_equal(u.model, "claude-x");
		gw_sse_free(&s);
	}
}

static void
test_usage_whole(void **state)
{
	struct gw_usage u = { 0 };
	json_t *j;

	(void)state;
	j = json_loads("{\"type\":\"message\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":6}}", 0, NULL);
	gw_usage_absorb(&u, GW_STYLE_ANTHROPIC, j);
	json_decref(j);
	assert_int_equal(u.input, 5);
	assert_int_equal(u.output, 6);
	memset(&u, 0, sizeof(u));
	j = json_loads("{\"object\":\"chat.completion\",\"model\":\"g\",\"usage\":{\"prompt_tokens\":100,"
	    "\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":40}}}", 0, NULL);
	gw_usage_absorb(&u, GW_STYLE_OPENAI, j);
	json_decref(j);
	assert_int_equal(u.input, 60);
	assert_int_equal(u.cache_read, 40);
	assert_int_equal(u.output, 9);
	memset(&u, 0, sizeof(u));
	j = json_loads("{\"type\":\"response.completed\",\"response\":{\"model\":\"g\",\"usage\":{\"input_tokens\":11,"
	    "\"output_tokens\":3,\"input_tokens_details\":{\"cached_tokens\":0}}}}", 0, NULL);
	gw_usage_absorb(&u, GW_STYLE_OPENAI, j);
	json_decref(j);
	assert_int_equal(u.input, 11);
	assert_int_equal(u.output, 3);
	assert_string_equal(u.model, "g");
	/* a chunk with usage null changes nothing */
	j = json_loads("{\"object\":\"chat.completion.chunk\",\"usage\":null}", 0, NULL);
	gw_usage_absorb(&u, GW_STYLE_OPENAI, j);
	json_decref(j);
	assert_int_equal(u.input, 11);
}

static void
test_upstreams(void **state)
{
	struct gw_upstream ups[GW_MAX_UP];
	int n = 0;
	char why[256];

	(void)state;
	assert_int_equal(gw_upstreams_parse("b,openai,https://x.test/,20,vault:llm.openai.api_key;"
	    " a,anthropic,http://127.0.0.1:1,10,file:/k", ups, GW_MAX_UP, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ups[0].name, "a");
	assert_string_equal(ups[1].base, "https://x.test");
	assert_string_equal(ups[1].vault_name, "llm.openai.api_key");
	assert_string_equal(ups[0].key_file, "/k");
	assert_int_equal(gw_upstreams_parse("a,grok,http://x,1,file:/k", ups, GW_MAX_UP, &n, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "style"));
	assert_int_equal(gw_upstreams_parse("a,openai,ftp://x,1,file:/k", ups, GW_MAX_UP, &n, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(gw_upstreams_parse("a,openai,http://x,1,env:K", ups, GW_MAX_UP, &n, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(gw_upstreams_parse("a,openai,http://x,1,file:/k;a,openai,http://y,2,file:/k",
	    ups, GW_MAX_UP, &n, why, sizeof(why)), JIDO_EVALIDATION);
}

/* A server for the real handler, in a fresh state directory. */
struct fx {
	char dir[64];
	struct jido_conf *conf;
	struct jido_srv *srv;
};

static json_t *
fx_call(struct fx *f, const char *type, const char *data)
{
	char buf[1024];
	json_t *r;

	snprintf(buf, sizeof(buf), "{\"v\":1,\"type\":\"%s\",\"id\":\"t\",\"data\":%s}", type, data);
	r = jido_srv_dispatch(f->srv, buf, strlen(buf), NULL);
	assert_non_null(r);
	return r;
}

static int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char why[256], path[128], ups[300];
	FILE *k;

	snprintf(f->dir, sizeof(f->dir), "/tmp/gwtest.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/key", f->dir);
	k = fopen(path, "w");
	fputs("sk-test\n", k);
	fclose(k);
	chmod(path, 0600);
	snprintf(ups, sizeof(ups), "a,anthropic,http://127.0.0.1:9,1,file:%s", path);
	assert_int_equal(jido_conf_load(NULL, &f->conf, why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(f->conf, "home", f->dir, why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(f->conf, "gateway.upstreams", ups, why, sizeof(why)), 0);
	assert_int_equal(jido_srv_new(&gateway_proc, f->conf, &f->srv, why, sizeof(why)), 0);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	jido_srv_free(f->srv);
	jido_conf_free(f->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
test_keys(void **state)
{
	struct fx *f = *state;
	struct gw *g = jido_srv_priv(f->srv);
	struct gw_keyinfo ki;
	char msg[256], key[GW_KEY_LEN + 1];
	json_t *r;

	r = fx_call(f, "gateway.keys.create", "{\"run_id\":\"r1\",\"project\":\"p\",\"expires_s\":60,"
	    "\"budget_usd\":0.0005,\"budget_tokens\":1000}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	snprintf(key, sizeof(key), "%s",
	    json_string_value(json_object_get(json_object_get(r, "data"), "key")));
	json_decref(r);
	assert_int_equal(strlen(key), GW_KEY_LEN);
	assert_memory_equal(key, "jgw_", 4);
	/* admitted; the reservation counts against the budget until reconciled */
	assert_int_equal(gw_keys_admit(g->db, key, 600, 500, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	assert_string_equal(ki.run_id, "r1");
	assert_string_equal(ki.project, "p");
	assert_int_equal(gw_keys_admit(g->db, key, 600, 600, &ki, msg, sizeof(msg)), GW_ADMIT_BUDGET_USD);
	assert_non_null(strstr(msg, "USD budget of run r1"));
	gw_keys_reconcile(g->db, ki.key_id, 600, 500, 10, 10); /* spent 10 tokens, 10 micro-USD */
	assert_int_equal(gw_keys_admit(g->db, key, 600, 100, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	assert_int_equal(gw_keys_admit(g->db, key, 400, 0, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	assert_int_equal(gw_keys_admit(g->db, key, 10, 0, &ki, msg, sizeof(msg)), GW_ADMIT_BUDGET_TOKENS);
	assert_non_null(strstr(msg, "token budget"));
	gw_keys_reconcile(g->db, ki.key_id, 600, 100, 0, 0);
	gw_keys_reconcile(g->db, ki.key_id, 400, 0, 0, 0);
	assert_int_equal(gw_keys_admit(g->db, key, 10, 0, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	gw_keys_reconcile(g->db, ki.key_id, 10, 0, 0, 0);
	/* a wrong key of the right shape, and garbage */
	char orig = key[10];
	key[10] = orig == 'a' ? 'b' : 'a';
	assert_int_equal(gw_keys_admit(g->db, key, 1, 1, &ki, msg, sizeof(msg)), GW_ADMIT_UNKNOWN);
	assert_int_equal(gw_keys_check(g->db, "sk-ant-xyz", &ki, msg, sizeof(msg)), GW_ADMIT_UNKNOWN);
	key[10] = orig;
	/* revoke by run */
	r = fx_call(f, "gateway.keys.revoke", "{\"run_id\":\"r1\"}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"), "revoked")), 1);
	json_decref(r);
	assert_int_equal(gw_keys_check(g->db, key, &ki, msg, sizeof(msg)), GW_ADMIT_REVOKED);
	/* bad input changes nothing */
	r = fx_call(f, "gateway.keys.create", "{\"run_id\":\"r2\",\"expires_s\":0}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	    "validation_error");
	json_decref(r);
	r = fx_call(f, "gateway.keys.create", "{\"run_id\":\"r2\",\"expires_s\":5,\"budget_usd\":-1}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = fx_call(f, "gateway.keys.revoke", "{\"run_id\":\"r1\",\"key_id\":\"x\"}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	/* breakers and usage answer */
	r = fx_call(f, "gateway.breakers", "{}");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(r, "data"), "upstreams"), 0), "state")), "closed");
	json_decref(r);
	r = fx_call(f, "gateway.usage", "{\"run_id\":\"r1\"}");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r, "data"),
	    "totals"), "requests")), 0);
	json_decref(r);
	r = fx_call(f, "gateway.nope", "{}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

/* gateway.usage.summary sums the records of the window by day, project, model and run. */
static void
test_usage_summary(void **state)
{
	struct fx *f = *state;
	struct gw *g = jido_srv_priv(f->srv);
	json_t *r, *d;
	char sql[1024];

	/* two runs of project p today, one of project q two days ago, one out of the window */
	snprintf(sql, sizeof(sql), "INSERT INTO usage (ts, run_id, project, model, input_tokens,"
	    " output_tokens, cost_musd) VALUES"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'), 'r1', 'p', 'm1', 100, 10, 2000),"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'), 'r1', 'p', 'm1', 50, 5, 1000),"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'), 'r2', 'p', 'm2', 10, 1, 500),"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '-2 days'), 'r3', 'q', 'm1', 7, 7, 7000),"
	    " (strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '-40 days'), 'r4', 'q', 'm1', 1, 1, 9)");
	assert_int_equal(sqlite3_exec(g->db, sql, NULL, NULL, NULL), SQLITE_OK);
	r = fx_call(f, "gateway.usage.summary", "{}");
	d = json_object_get(r, "data");
	assert_int_equal(json_integer_value(json_object_get(d, "days")), 30);
	assert_int_equal(json_array_size(json_object_get(d, "by_day")), 2);
	/* oldest day first: q's day, then today with 3 requests */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(d,
	    "by_day"), 1), "requests")), 3);
	/* costliest project first: q (0.007) before p (0.0035) */
	json_t *p0 = json_array_get(json_object_get(d, "by_project"), 0);
	assert_string_equal(json_string_value(json_object_get(p0, "project")), "q");
	json_t *p1 = json_array_get(json_object_get(d, "by_project"), 1);
	assert_int_equal(json_integer_value(json_object_get(p1, "input_tokens")), 160);
	assert_true(json_real_value(json_object_get(p1, "cost_usd")) > 0.00349 &&
	    json_real_value(json_object_get(p1, "cost_usd")) < 0.00351);
	assert_int_equal(json_array_size(json_object_get(d, "top_runs")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(d,
	    "top_runs"), 0), "run_id")), "r3");
	json_decref(r);
	/* a wider window takes the old record in; bad input is refused */
	r = fx_call(f, "gateway.usage.summary", "{\"days\":60}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "data"), "top_runs")), 4);
	json_decref(r);
	r = fx_call(f, "gateway.usage.summary", "{\"days\":0}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	    "validation_error");
	json_decref(r);
}

/* gateway.backup: a copy of the exclusively locked database, only to a new gateway.db */
static void
test_backup(void **state)
{
	struct fx *f = *state;
	char path[200], data[300];
	json_t *r;

	r = fx_call(f, "gateway.keys.create", "{\"run_id\":\"rb\",\"expires_s\":60}");
	json_decref(r);
	snprintf(path, sizeof(path), "%s/copy", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/copy/gateway.db", f->dir);
	snprintf(data, sizeof(data), "{\"path\":\"%s\"}", path);
	r = fx_call(f, "gateway.backup", data);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM keys WHERE run_id = 'rb'",
	    -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	r = fx_call(f, "gateway.backup", data); /* exists now */
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	    "conflict");
	json_decref(r);
	static const char *const bad[] = { "{}", "{\"path\":\"rel/gateway.db\"}",
		"{\"path\":\"/tmp/x.db\"}", "{\"path\":\"/tmp/../etc/gateway.db\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = fx_call(f, "gateway.backup", bad[i]);
		assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
		    "code")), "validation_error");
		json_decref(r);
	}
}

/* The group commit: settled spend counts against the budget before it is written; a
 * flush writes the spend and the queued records in one go; readers of the usage table
 * (gateway.usage) see every queued record, which then goes to the outbox; a record
 * outlives the queue's reference. */
static void
test_ledger_flush(void **state)
{
	struct fx *f = *state;
	struct gw *g = jido_srv_priv(f->srv);
	struct gw_keyinfo ki;
	struct gw_record *rec;
	char msg[256], key[GW_KEY_LEN + 1], why[256];
	sqlite3_stmt *st;
	json_t *r;

	r = fx_call(f, "gateway.keys.create", "{\"run_id\":\"rl\",\"step\":\"s1\",\"expires_s\":60,"
	    "\"budget_tokens\":100}");
	snprintf(key, sizeof(key), "%s",
	    json_string_value(json_object_get(json_object_get(r, "data"), "key")));
	json_decref(r);
	assert_int_equal(gw_keys_admit(g->db, key, 10, 0, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	gw_keys_reconcile(g->db, ki.key_id, 10, 0, 95, 7); /* settled, in memory only */
	assert_int_equal(gw_keys_admit(g->db, key, 10, 0, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	assert_int_equal(gw_keys_admit(g->db, key, 1, 0, &ki, msg, sizeof(msg)),
	    GW_ADMIT_BUDGET_TOKENS); /* 95 spent + 10 reserved */
	gw_keys_reconcile(g->db, ki.key_id, 10, 0, 0, 0);
	rec = gw_record_new(&ki, "a", "claude-x");
	assert_non_null(rec);
	snprintf(rec->ts, sizeof(rec->ts), "2026-01-01T00:00:00.000Z");
	rec->api = "messages";
	rec->status = 200;
	rec->input = 90;
	rec->output = 5;
	rec->cost_musd = 7;
	size_t queued = g->outbox_n; /* the key's audit record */
	assert_int_equal(gw_usage_queue(rec), 0);
	assert_int_equal(gw_usage_pending(), 1);
	assert_int_equal(g->outbox_n, queued); /* the planner hears of it once it is durable */
	/* the table has neither yet */
	assert_int_equal(sqlite3_prepare_v2(g->db, "SELECT spent_tokens, spent_musd FROM keys"
	    " WHERE key_id = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, ki.key_id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 0);
	sqlite3_reset(st);
	/* a reader flushes first */
	r = fx_call(f, "gateway.usage", "{\"run_id\":\"rl\"}");
	json_t *rec0 = json_array_get(json_object_get(json_object_get(r, "data"), "records"), 0);
	assert_string_equal(json_string_value(json_object_get(rec0, "step")), "s1");
	assert_string_equal(json_string_value(json_object_get(rec0, "upstream")), "a");
	assert_int_equal(json_integer_value(json_object_get(rec0, "input_tokens")), 90);
	assert_true(json_is_null(json_object_get(rec0, "price")));
	json_decref(r);
	assert_int_equal(gw_usage_pending(), 0);
	assert_int_equal(g->outbox_n, queued + 1);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 95);
	assert_int_equal(sqlite3_column_int64(st, 1), 7);
	sqlite3_finalize(st);
	/* written once: the ledger holds nothing more, the budget check reads the table */
	assert_int_equal(gw_store_flush(g->db, NULL, NULL, why, sizeof(why)), 0);
	assert_int_equal(gw_keys_admit(g->db, key, 5, 0, &ki, msg, sizeof(msg)), GW_ADMIT_OK);
	assert_int_equal(gw_keys_admit(g->db, key, 1, 0, &ki, msg, sizeof(msg)),
	    GW_ADMIT_BUDGET_TOKENS);
	gw_keys_reconcile(g->db, ki.key_id, 5, 0, 0, 0);
	/* the planner's shape, from the reference the test still holds */
	r = gw_record_json(rec);
	assert_string_equal(json_string_value(json_object_get(r, "run_id")), "rl");
	assert_true(json_is_null(json_object_get(r, "project")));
	assert_int_equal(json_integer_value(json_object_get(r, "cost_musd")), 7);
	json_decref(r);
	gw_record_unref(rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_breaker),
		cmocka_unit_test(test_pricing),
		cmocka_unit_test(test_usage_sse_split),
		cmocka_unit_test(test_usage_whole),
		cmocka_unit_test(test_upstreams),
		cmocka_unit_test_setup_teardown(test_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_ledger_flush, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_usage_summary, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_backup, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
