/*
 * ledger.c - the gateway store's write path, kept off the per-request path: the prepared
 * statements the proxy runs on every request (cached, one set per process), the per-key
 * ledger in memory (the reservations of calls in flight and the spend settled but not yet
 * written), and the usage records waiting for the next group commit. gw_store_flush writes
 * the settled spend and the waiting records in one transaction; the proxy holds each
 * call's answer until the flush that made its record durable (see proxy.c), so a client
 * never sees an answer whose usage is not in gateway.db. Budget checks read the ledger on
 * top of the table, so they see every settled and reserved amount at once.
 *
 * Every function here runs with gw.mu held by its caller (or with the process single).
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gw.h"

#define PENDING_MAX 20000 /* records held while the store keeps failing; older ones dropped */

/* ---------------------------------------------------------------- cached statements */

static const char *const store_sql[GW_ST_N] = {
	[GW_ST_LOOKUP] = "SELECT key_id, run_id, project, step, expires_at,"
	    " revoked_at IS NOT NULL, coalesce(budget_musd, -1), coalesce(budget_tokens, -1),"
	    " spent_musd, spent_tokens FROM keys WHERE hash = ?",
	[GW_ST_SPEND] = "UPDATE keys SET spent_musd = spent_musd + ?,"
	    " spent_tokens = spent_tokens + ? WHERE key_id = ?",
	[GW_ST_USAGE] = "INSERT INTO usage (ts, key_id, run_id, project, step,"
	    " upstream, api, model, status, streamed, complete, input_tokens, output_tokens,"
	    " cache_read_tokens, cache_write_tokens, cost_musd, price, duration_ms)"
	    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[GW_ST_BEGIN] = "BEGIN",
	[GW_ST_COMMIT] = "COMMIT",
	[GW_ST_ROLLBACK] = "ROLLBACK",
};

static struct sqlite3 *store_db;          /* the database the cache belongs to */
static sqlite3_stmt *store_st[GW_ST_N];

sqlite3_stmt *
gw_store_stmt(struct sqlite3 *db, int which)
{
	sqlite3_stmt *st;

	if (which < 0 || which >= GW_ST_N)
		return NULL;
	if (store_db != db) {
		for (int i = 0; i < GW_ST_N; i++) {
			sqlite3_finalize(store_st[i]);
			store_st[i] = NULL;
		}
		store_db = db;
	}
	if ((st = store_st[which]) == NULL) {
		if (sqlite3_prepare_v3(db, store_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &st,
		    NULL) != SQLITE_OK)
			return NULL;
		store_st[which] = st;
		return st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* ---------------------------------------------------------------- the per-key ledger */

struct ledger {
	char key_id[40];
	long long resv_tokens, resv_musd;   /* calls in flight */
	long long spent_tokens, spent_musd; /* settled, not yet in gateway.db */
	struct ledger *next;
};
static struct ledger *ledger_head;

static struct ledger *
ledger_find(const char *key_id, int create)
{
	struct ledger *r;

	for (r = ledger_head; r != NULL; r = r->next)
		if (strcmp(r->key_id, key_id) == 0)
			return r;
	if (!create || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	snprintf(r->key_id, sizeof(r->key_id), "%s", key_id);
	r->next = ledger_head;
	ledger_head = r;
	return r;
}

static void
ledger_drop_empty(void)
{
	struct ledger **pp = &ledger_head;

	while (*pp != NULL) {
		struct ledger *r = *pp;
		if (r->resv_tokens <= 0 && r->resv_musd <= 0 && r->spent_tokens == 0 &&
		    r->spent_musd == 0) {
			*pp = r->next;
			free(r);
		} else
			pp = &r->next;
	}
}

void
gw_ledger_amounts(const char *key_id, long long *tokens, long long *musd)
{
	struct ledger *r = ledger_find(key_id, 0);

	*tokens = r != NULL ? r->resv_tokens + r->spent_tokens : 0;
	*musd = r != NULL ? r->resv_musd + r->spent_musd : 0;
}

int
gw_ledger_reserve(const char *key_id, long long tokens, long long musd)
{
	struct ledger *r = ledger_find(key_id, 1);

	if (r == NULL)
		return JIDO_EINTERNAL;
	r->resv_tokens += tokens;
	r->resv_musd += musd;
	return 0;
}

int
gw_ledger_settle(const char *key_id, long long est_tokens, long long est_musd, long long tokens,
    long long musd)
{
	struct ledger *r = ledger_find(key_id, tokens != 0 || musd != 0);

	if (r == NULL)
		return tokens != 0 || musd != 0 ? JIDO_EINTERNAL : 0;
	r->resv_tokens -= est_tokens;
	r->resv_musd -= est_musd;
	r->spent_tokens += tokens;
	r->spent_musd += musd;
	ledger_drop_empty();
	return 0;
}

/* ---------------------------------------------------------------- records and the flush */

static struct gw_record **pend;
static size_t npend, cappend;
static uint64_t pend_dropped;

int
gw_usage_queue(struct gw_record *rec)
{
	if (npend == PENDING_MAX) {
		/* the store has been failing for a long while: keep the newest */
		gw_record_unref(pend[0]);
		memmove(pend, pend + 1, (npend - 1) * sizeof(*pend));
		npend--;
		if (pend_dropped++ % 1000 == 0)
			jido_error("gateway.usage_dropped", "{s:I}", "dropped", (json_int_t)pend_dropped);
	}
	if (npend == cappend) {
		size_t nc = cappend ? cappend * 2 : 64;
		struct gw_record **np = realloc(pend, nc * sizeof(*np));
		if (np == NULL)
			return JIDO_EINTERNAL;
		pend = np;
		cappend = nc;
	}
	pend[npend++] = gw_record_ref(rec);
	return 0;
}

size_t
gw_usage_pending(void)
{
	return npend;
}

/* Step a cached statement that returns no row; 0 or -1. */
static int
store_run(struct sqlite3 *db, int which)
{
	sqlite3_stmt *st = gw_store_stmt(db, which);

	return st != NULL && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

int
gw_store_flush(struct sqlite3 *db, void (*written)(struct gw_record *rec, void *arg), void *arg,
    char *why, size_t whylen)
{
	struct ledger *r;
	int dirty = npend > 0;

	for (r = ledger_head; r != NULL && !dirty; r = r->next)
		dirty = r->spent_tokens != 0 || r->spent_musd != 0;
	if (!dirty)
		return 0;
	if (store_run(db, GW_ST_BEGIN) != 0)
		goto fail;
	for (r = ledger_head; r != NULL; r = r->next) {
		sqlite3_stmt *st;
		if (r->spent_tokens == 0 && r->spent_musd == 0)
			continue;
		if ((st = gw_store_stmt(db, GW_ST_SPEND)) == NULL)
			goto rollback;
		sqlite3_bind_int64(st, 1, r->spent_musd);
		sqlite3_bind_int64(st, 2, r->spent_tokens);
		sqlite3_bind_text(st, 3, r->key_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto rollback;
	}
	for (size_t i = 0; i < npend; i++)
		if (gw_usage_store(db, pend[i]) != 0)
			goto rollback;
	if (store_run(db, GW_ST_COMMIT) != 0)
		goto rollback;
	for (r = ledger_head; r != NULL; r = r->next)
		r->spent_tokens = r->spent_musd = 0;
	ledger_drop_empty();
	for (size_t i = 0; i < npend; i++) {
		if (written != NULL)
			written(pend[i], arg);
		gw_record_unref(pend[i]);
	}
	npend = 0;
	return 0;
rollback:
	snprintf(why, whylen, "cannot write usage: %s", sqlite3_errmsg(db));
	store_run(db, GW_ST_ROLLBACK);
	return JIDO_EINTERNAL;
fail:
	snprintf(why, whylen, "cannot write usage: %s", sqlite3_errmsg(db));
	return JIDO_EINTERNAL;
}

void
gw_store_close(struct sqlite3 *db)
{
	char why[256];

	if (db == NULL)
		return;
	if (gw_store_flush(db, NULL, NULL, why, sizeof(why)) != 0)
		jido_error("gateway.store_failed", "{s:s}", "why", why);
	if (store_db == db) {
		for (int i = 0; i < GW_ST_N; i++) {
			sqlite3_finalize(store_st[i]);
			store_st[i] = NULL;
		}
		store_db = NULL;
	}
	sqlite3_close(db);
	while (ledger_head != NULL) {
		struct ledger *r = ledger_head;
		ledger_head = r->next;
		free(r);
	}
	for (size_t i = 0; i < npend; i++)
		gw_record_unref(pend[i]);
	free(pend);
	pend = NULL;
	npend = cappend = 0;
}
