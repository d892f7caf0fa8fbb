/*
 * keys.c - the gateway's store ($JIDO_HOME/gateway.db): per-run scoped keys (kept only as
 * SHA-256 hashes, with expiry, revocation, USD and token budgets and the spend so far;
 * the reservations of calls in flight and the spend not yet flushed are in ledger.c's
 * memory, added to the table's on every check) and the usage records. Every function here
 * runs with gw.mu held by its caller.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "gw.h"

static const char *const store_migrations[] = {
	"CREATE TABLE keys (key_id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
	" run_id TEXT NOT NULL, project TEXT, step TEXT, created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL, revoked_at INTEGER,"
	" budget_musd INTEGER, budget_tokens INTEGER,"
	" spent_musd INTEGER NOT NULL DEFAULT 0, spent_tokens INTEGER NOT NULL DEFAULT 0,"
	" reserved_musd INTEGER NOT NULL DEFAULT 0, reserved_tokens INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX keys_run ON keys(run_id);"
	"CREATE TABLE usage (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, key_id TEXT,"
	" run_id TEXT, project TEXT, step TEXT, upstream TEXT, api TEXT, model TEXT,"
	" status INTEGER, streamed INTEGER, complete INTEGER, input_tokens INTEGER,"
	" output_tokens INTEGER, cache_read_tokens INTEGER, cache_write_tokens INTEGER,"
	" cost_musd INTEGER, price TEXT, duration_ms INTEGER);"
	"CREATE INDEX usage_run ON usage(run_id);",
};

int
gw_store_open(const char *home, struct sqlite3 **db, char *why, size_t whylen)
{
	char path[4300];
	int rc;

	snprintf(path, sizeof(path), "%s/gateway.db", home);
	if ((rc = jido_db_open(path, store_migrations, 1, db, why, whylen)) != 0)
		return rc;
	/* reservations belong to calls of a previous life: none is in flight now */
	/* only this process opens gateway.db: hold the lock for good (no fcntl per
	 * transaction); WAL with synchronous NORMAL (no fsync per request) */
	/* a page cache of 256 KiB (not SQLite's 2 MiB): the proxy touches a few pages per
	 * flush, the OS caches the file for the dashboard's scans */
	return jido_db_exec(*db, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA synchronous = NORMAL;"
	    " PRAGMA cache_size = -256;"
	    " UPDATE keys SET reserved_musd = 0, reserved_tokens = 0;", why, whylen);
}

static void
keys_hash(const char *key, char hex[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* An optional string field of at most 128 bytes; JIDO_EVALIDATION when ill-typed. */
static int
keys_str(const json_t *data, const char *k, int required, const char **out, char *why,
    size_t whylen)
{
	json_t *v = json_object_get(data, k);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(why, whylen, "data.%s is required", k);
		return JIDO_EVALIDATION;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128) {
		snprintf(why, whylen, "data.%s must be a string of 1-128 bytes", k);
		return JIDO_EVALIDATION;
	}
	*out = json_string_value(v);
	return 0;
}

int
gw_keys_create(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen)
{
	static const char *const known[] = { "run_id", "project", "step", "expires_s",
		"budget_usd", "budget_tokens", NULL };
	const char *run, *project, *step, *k;
	json_t *v, *exp = json_object_get(data, "expires_s");
	json_t *busd = json_object_get(data, "budget_usd"), *btok = json_object_get(data, "budget_tokens");
	unsigned char raw[32];
	char key[GW_KEY_LEN + 1], hash[65], key_id[40], idhex[17];
	sqlite3_stmt *st = NULL;
	long long budget_musd = -1, budget_tokens = -1;
	time_t now = time(NULL);
	int rc;

	json_object_foreach((json_t *)data, k, v) {
		int ok = 0;
		for (int i = 0; known[i] != NULL; i++)
			ok |= strcmp(known[i], k) == 0;
		if (!ok) {
			snprintf(why, whylen, "data.%.64s is not a key field", k);
			return JIDO_EVALIDATION;
		}
	}
	if ((rc = keys_str(data, "run_id", 1, &run, why, whylen)) != 0 ||
	    (rc = keys_str(data, "project", 0, &project, why, whylen)) != 0 ||
	    (rc = keys_str(data, "step", 0, &step, why, whylen)) != 0)
		return rc;
	if (!json_is_integer(exp) || json_integer_value(exp) < 1 ||
	    json_integer_value(exp) > 30 * 86400) {
		snprintf(why, whylen, "data.expires_s must be an integer from 1 to 2592000");
		return JIDO_EVALIDATION;
	}
	if (busd != NULL && !json_is_null(busd)) {
		if (!json_is_number(busd) || json_number_value(busd) <= 0 ||
		    json_number_value(busd) > 1e6) {
			snprintf(why, whylen, "data.budget_usd must be a number above 0 (absent: no limit)");
			return JIDO_EVALIDATION;
		}
		budget_musd = (long long)(json_number_value(busd) * 1e6 + 0.5);
	}
	if (btok != NULL && !json_is_null(btok)) {
		if (!json_is_integer(btok) || json_integer_value(btok) <= 0) {
			snprintf(why, whylen, "data.budget_tokens must be an integer above 0 (absent: no limit)");
			return JIDO_EVALIDATION;
		}
		budget_tokens = (long long)json_integer_value(btok);
	}
	randombytes_buf(raw, sizeof(raw));
	memcpy(key, GW_KEY_PREFIX, 4);
	sodium_bin2hex(key + 4, sizeof(key) - 4, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	keys_hash(key, hash);
	randombytes_buf(raw, 8);
	sodium_bin2hex(idhex, sizeof(idhex), raw, 8);
	snprintf(key_id, sizeof(key_id), "gk_%s", idhex);
	if (sqlite3_prepare_v2(db, "INSERT INTO keys (key_id, hash, run_id, project, step,"
	    " created_at, expires_at, budget_musd, budget_tokens) VALUES (?,?,?,?,?,?,?,?,?)",
	    -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, run, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, project, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, step, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)now + json_integer_value(exp));
	if (budget_musd >= 0)
		sqlite3_bind_int64(st, 8, budget_musd);
	if (budget_tokens >= 0)
		sqlite3_bind_int64(st, 9, budget_tokens);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	*out = json_pack("{s:s,s:s,s:s,s:I}", "key", key, "key_id", key_id, "run_id", run,
	    "expires_at", (json_int_t)(now + json_integer_value(exp)));
	sodium_memzero(key, sizeof(key));
	jido_info("gateway.key_created", "{s:s,s:s,s:I}", "key_id", key_id, "run_id", run,
	    "expires_s", (json_int_t)json_integer_value(exp));
	return *out != NULL ? 0 : JIDO_EINTERNAL;
fail:
	snprintf(why, whylen, "cannot store the key: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sodium_memzero(key, sizeof(key));
	return JIDO_EINTERNAL;
}

int
gw_keys_revoke(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *run, *kid;
	sqlite3_stmt *st = NULL;
	int rc, n;

	if ((rc = keys_str(data, "run_id", 0, &run, why, whylen)) != 0 ||
	    (rc = keys_str(data, "key_id", 0, &kid, why, whylen)) != 0)
		return rc;
	if ((run == NULL) == (kid == NULL) || json_object_size(data) != 1) {
		snprintf(why, whylen, "data needs exactly one of run_id or key_id");
		return JIDO_EVALIDATION;
	}
	if (sqlite3_prepare_v2(db, run != NULL ?
	    "UPDATE keys SET revoked_at = ? WHERE run_id = ? AND revoked_at IS NULL" :
	    "UPDATE keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
	    -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, whylen, "cannot revoke: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, run != NULL ? run : kid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		snprintf(why, whylen, "cannot revoke: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	n = sqlite3_changes(db);
	jido_info("gateway.key_revoked", "{s:s,s:s,s:i}", run != NULL ? "run_id" : "key_id",
	    run != NULL ? run : kid, "by", "request", "revoked", n);
	*out = json_pack("{s:i}", "revoked", n);
	return 0;
}

/* Look a key up; fills ki and the budget columns. */
static int
keys_lookup(struct sqlite3 *db, const char *key, struct gw_keyinfo *ki, long long col[6],
    char *msg, size_t msglen)
{
	char hash[65];
	sqlite3_stmt *st = NULL;
	int rc;

	if (key == NULL || strlen(key) != GW_KEY_LEN || strncmp(key, GW_KEY_PREFIX, 4) != 0) {
		snprintf(msg, msglen, "invalid x-api-key");
		return GW_ADMIT_UNKNOWN;
	}
	keys_hash(key, hash);
	if ((st = gw_store_stmt(db, GW_ST_LOOKUP)) == NULL) {
		snprintf(msg, msglen, "key store unavailable");
		return GW_ADMIT_ERROR;
	}
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		snprintf(msg, msglen, "invalid x-api-key");
		return rc == SQLITE_DONE ? GW_ADMIT_UNKNOWN : GW_ADMIT_ERROR;
	}
	memset(ki, 0, sizeof(*ki));
	snprintf(ki->key_id, sizeof(ki->key_id), "%s", (const char *)sqlite3_column_text(st, 0));
	snprintf(ki->run_id, sizeof(ki->run_id), "%s", (const char *)sqlite3_column_text(st, 1));
	if (sqlite3_column_type(st, 2) != SQLITE_NULL)
		snprintf(ki->project, sizeof(ki->project), "%s",
		    (const char *)sqlite3_column_text(st, 2));
	if (sqlite3_column_type(st, 3) != SQLITE_NULL)
		snprintf(ki->step, sizeof(ki->step), "%s", (const char *)sqlite3_column_text(st, 3));
	for (int i = 0; i < 6; i++)
		col[i] = sqlite3_column_int64(st, 4 + i);
	sqlite3_reset(st);
	long long lt, lm;
	gw_ledger_amounts(ki->key_id, &lt, &lm);
	col[4] += lm;
	col[5] += lt;
	if (col[1]) {
		snprintf(msg, msglen, "this key has been revoked");
		return GW_ADMIT_REVOKED;
	}
	if ((long long)time(NULL) >= col[0]) {
		snprintf(msg, msglen, "this key has expired");
		return GW_ADMIT_EXPIRED;
	}
	return GW_ADMIT_OK;
}

int
gw_keys_check(struct sqlite3 *db, const char *key, struct gw_keyinfo *ki, char *msg,
    size_t msglen)
{
	long long col[6];

	return keys_lookup(db, key, ki, col, msg, msglen);
}

int
gw_keys_admit(struct sqlite3 *db, const char *key, long long est_tokens, long long est_musd,
    struct gw_keyinfo *ki, char *msg, size_t msglen)
{
	long long col[6];
	int rc = keys_lookup(db, key, ki, col, msg, msglen);

	if (rc != GW_ADMIT_OK)
		return rc;
	/* col: 2 budget_musd, 3 budget_tokens, 4 used+reserved musd, 5 used+reserved tokens */
	if (col[2] >= 0 && col[4] >= col[2]) {
		snprintf(msg, msglen, "USD budget of run %s exhausted: $%.6f of $%.6f used or reserved",
		    ki->run_id, (double)col[4] / 1e6, (double)col[2] / 1e6);
		return GW_ADMIT_BUDGET_USD;
	}
	if (col[3] >= 0 && col[5] >= col[3]) {
		snprintf(msg, msglen, "token budget of run %s exhausted: %lld of %lld tokens used or reserved",
		    ki->run_id, col[5], col[3]);
		return GW_ADMIT_BUDGET_TOKENS;
	}
	if (gw_ledger_reserve(ki->key_id, est_tokens, est_musd) != 0) {
		snprintf(msg, msglen, "out of memory");
		return GW_ADMIT_ERROR;
	}
	return GW_ADMIT_OK;
}

void
gw_keys_reconcile(struct sqlite3 *db, const char *key_id, long long est_tokens, long long est_musd,
    long long tokens, long long musd)
{
	(void)db;
	/* the spend reaches gateway.db with the next gw_store_flush, in one transaction with
	 * the call's usage record */
	if (gw_ledger_settle(key_id, est_tokens, est_musd, tokens, musd) != 0)
		jido_error("gateway.store_failed", "{s:s,s:s}", "what", "spend", "why", "out of memory");
}

/* A text column: NULL for an empty optional string. */
static void
rec_bind_text(sqlite3_stmt *st, int col, const char *v)
{
	sqlite3_bind_text(st, col, v != NULL && v[0] != '\0' ? v : NULL, -1, SQLITE_STATIC);
}

int
gw_usage_store(struct sqlite3 *db, const struct gw_record *r)
{
	sqlite3_stmt *st = gw_store_stmt(db, GW_ST_USAGE);
	const long long iv[] = { r->status, r->streamed, r->complete, r->input, r->output,
		r->cache_read, r->cache_write, r->cost_musd };
	int rc;

	if (st == NULL)
		return JIDO_EINTERNAL;
	rec_bind_text(st, 1, r->ts);
	rec_bind_text(st, 2, r->key_id);
	rec_bind_text(st, 3, r->run_id);
	rec_bind_text(st, 4, r->project);
	rec_bind_text(st, 5, r->step);
	rec_bind_text(st, 6, r->upstream);
	rec_bind_text(st, 7, r->api);
	rec_bind_text(st, 8, r->model);
	for (int j = 0; j < 8; j++)
		sqlite3_bind_int64(st, 9 + j, iv[j]);
	/* the price snapshot as text (made once per pricing entry), JSON null without one */
	sqlite3_bind_text(st, 17, r->price != NULL ? r->price->snap : "null", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 18, r->duration_ms);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
}

int
gw_usage_query(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *run;
	json_t *lim = json_object_get(data, "limit"), *recs, *totals;
	long long limit = 100, t[6] = { 0 };
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = keys_str(data, "run_id", 0, &run, why, whylen)) != 0)
		return rc;
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 0 ||
		    json_integer_value(lim) > 10000) {
			snprintf(why, whylen, "data.limit must be an integer from 0 to 10000");
			return JIDO_EVALIDATION;
		}
		limit = (long long)json_integer_value(lim);
	}
	if (sqlite3_prepare_v2(db, "SELECT ts, key_id, run_id, project, step, upstream, api, model,"
	    " status, streamed, complete, input_tokens, output_tokens, cache_read_tokens,"
	    " cache_write_tokens, cost_musd, price, duration_ms FROM usage"
	    " WHERE ?1 IS NULL OR run_id = ?1 ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	recs = json_array();
	long long count = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *r = json_object();
		static const char *const names[] = { "ts", "key_id", "run_id", "project", "step",
			"upstream", "api", "model", "status", "streamed", "complete", "input_tokens",
			"output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_musd" };
		for (int i = 0; i < 16; i++) {
			if (i < 8)
				json_object_set_new(r, names[i], sqlite3_column_type(st, i) == SQLITE_NULL ?
				    json_null() : json_string((const char *)sqlite3_column_text(st, i)));
			else if (i == 9 || i == 10)
				json_object_set_new(r, names[i], json_boolean(sqlite3_column_int(st, i)));
			else
				json_object_set_new(r, names[i], json_integer(sqlite3_column_int64(st, i)));
		}
		for (int i = 0; i < 5; i++)
			t[i] += sqlite3_column_int64(st, 11 + i);
		t[5]++;
		json_object_set_new(r, "cost_usd", json_real((double)sqlite3_column_int64(st, 15) / 1e6));
		json_t *price = sqlite3_column_type(st, 16) == SQLITE_NULL ? NULL :
		    json_loads((const char *)sqlite3_column_text(st, 16), JSON_DECODE_ANY, NULL);
		json_object_set_new(r, "price", price != NULL ? price : json_null());
		json_object_set_new(r, "duration_ms", json_integer(sqlite3_column_int64(st, 17)));
		count++;
		json_array_append_new(recs, r);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(recs);
		goto fail;
	}
	/* keep the newest `limit` records; the totals cover all of them */
	while ((long long)json_array_size(recs) > limit)
		json_array_remove(recs, 0);
	totals = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "requests", (json_int_t)t[5],
	    "input_tokens", (json_int_t)t[0], "output_tokens", (json_int_t)t[1],
	    "cache_read_tokens", (json_int_t)t[2], "cache_write_tokens", (json_int_t)t[3],
	    "cost_musd", (json_int_t)t[4], "cost_usd", (double)t[4] / 1e6);
	*out = json_pack("{s:o,s:o}", "totals", totals, "records", recs);
	if (run != NULL)
		json_object_set_new(*out, "run_id", json_string(run));
	return 0;
fail:
	snprintf(why, whylen, "cannot read usage: %s", sqlite3_errmsg(db));
	return JIDO_EINTERNAL;
}

int
gw_usage_totals(struct sqlite3 *db, json_t **out, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	json_t *by = json_array();
	long long t[7] = { 0 };
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT coalesce(upstream, ''), count(*),"
	    " sum(status >= 400), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),"
	    " sum(cache_write_tokens), sum(cost_musd) FROM usage GROUP BY 1 ORDER BY 1", -1, &st,
	    NULL) != SQLITE_OK) {
		json_decref(by);
		snprintf(why, whylen, "cannot read usage: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long v[7];
		for (int i = 0; i < 7; i++) {
			v[i] = sqlite3_column_int64(st, 1 + i);
			t[i] += v[i];
		}
		json_array_append_new(by, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
		    "upstream", (const char *)sqlite3_column_text(st, 0), "requests", (json_int_t)v[0],
		    "errors", (json_int_t)v[1], "input_tokens", (json_int_t)v[2], "output_tokens",
		    (json_int_t)v[3], "cache_read_tokens", (json_int_t)v[4], "cache_write_tokens",
		    (json_int_t)v[5], "cost_musd", (json_int_t)v[6], "cost_usd", (double)v[6] / 1e6));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(by);
		snprintf(why, whylen, "cannot read usage: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	*out = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o}", "requests", (json_int_t)t[0],
	    "errors", (json_int_t)t[1], "input_tokens", (json_int_t)t[2], "output_tokens",
	    (json_int_t)t[3], "cache_read_tokens", (json_int_t)t[4], "cache_write_tokens",
	    (json_int_t)t[5], "cost_musd", (json_int_t)t[6], "cost_usd", (double)t[6] / 1e6,
	    "by_upstream", by);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}
