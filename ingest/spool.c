/*
 * spool.c - the durable spool: one SQLite (WAL, synchronous=FULL) table of deliveries
 * keyed by delivery id. A row is written in one transaction before GitHub hears 2xx; it
 * stays "pending" until the planner acknowledges it (ingest.ack), and the sweeper
 * re-sends pending rows with a backed-off schedule (at-least-once); an acknowledgement
 * brings that schedule back to the first interval for rows sent before it. Rows older
 * than the retention are pruned. Each thread opens its own connection.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "ingest.h"

static const char *const spool_migrations[] = {
	"CREATE TABLE deliveries ("
	"  id TEXT PRIMARY KEY,"          /* X-GitHub-Delivery or sync:<repo>#<n>@<updated> */
	"  source TEXT NOT NULL,"         /* webhook | sync */
	"  event TEXT NOT NULL,"
	"  hook_id TEXT, action TEXT, repo TEXT,"
	"  status TEXT NOT NULL,"         /* pending | acked | rejected */
	"  reason TEXT,"
	"  headers TEXT NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  received_at INTEGER NOT NULL," /* ms since the epoch */
	"  sent_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at INTEGER, acked_at INTEGER"
	") WITHOUT ROWID;"
	"CREATE INDEX deliveries_due ON deliveries(status, next_at);"
	"CREATE INDEX deliveries_received ON deliveries(received_at);",
	/* 2: the REST sync's conditional-request cache and the repos it watches */
	"CREATE TABLE etags (url TEXT PRIMARY KEY, etag TEXT NOT NULL, link TEXT,"
	"  body BLOB NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE sync_repos (repo TEXT PRIMARY KEY) WITHOUT ROWID;",
};

#define SPOOL_NMIG ((int)(sizeof(spool_migrations) / sizeof(spool_migrations[0])))
#define SPOOL_BACKOFF_MAX_MS (3600 * 1000LL)

#define INGEST_SPOOL_CACHE_KB "1024" /* PRAGMA cache_size, KiB */

int64_t
ingest_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
spool_fail(struct ingest_spool *sp, char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "spool %s: %s", what, sqlite3_errmsg(sp->db));
	return JIDO_EINTERNAL;
}

int
ingest_spool_open(const char *path, struct ingest_spool *sp, char *why, size_t whylen)
{
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->redeliver_ms = 30000;
	if ((rc = jido_db_open(path, spool_migrations, SPOOL_NMIG, &sp->db, why, whylen)) != 0)
		return rc;
	/* A bounded page cache per connection (SQLite's default is 2 MB, and ingest opens
	 * three): the receiver appends rows and the others read a few by key. 1 MB holds one
	 * full batch of ~11 KB deliveries (about 5 pages each) without spilling it to the WAL
	 * mid-transaction; 256 KB spilled and tripled the pread calls (bench/README.md). */
	if ((rc = jido_db_exec(sp->db, "PRAGMA cache_size=-" INGEST_SPOOL_CACHE_KB, why,
	    whylen)) != 0) {
		ingest_spool_close(sp);
		return rc;
	}
	if (sqlite3_prepare_v2(sp->db,
	    "INSERT OR IGNORE INTO deliveries (id, source, event, hook_id, action, repo, status,"
	    " reason, headers, payload, received_at, sent_at, attempts, next_at)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11,"
	    " CASE WHEN ?7 = 'pending' THEN 1 ELSE 0 END, ?12)", -1, &sp->put, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "prepare");
		ingest_spool_close(sp);
		return rc;
	}
	return 0;
}

void
ingest_spool_close(struct ingest_spool *sp)
{
	sqlite3_finalize(sp->put);
	sqlite3_close(sp->db);
	memset(sp, 0, sizeof(*sp));
}

/* Bind text or NULL. */
static void
spool_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

int
ingest_spool_put(struct ingest_spool *sp, const struct ingest_row *r, int64_t now_ms,
    char *why, size_t whylen)
{
	sqlite3_stmt *st = sp->put;
	int rc;

	/* One statement in autocommit mode is one transaction (WAL, synchronous=FULL: it is
	 * on disk when sqlite3_step returns). */
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	spool_text(st, 1, r->id);
	spool_text(st, 2, r->source);
	spool_text(st, 3, r->event);
	spool_text(st, 4, r->hook_id);
	spool_text(st, 5, r->action);
	spool_text(st, 6, r->repo);
	spool_text(st, 7, r->status);
	spool_text(st, 8, r->reason);
	spool_text(st, 9, r->headers);
	sqlite3_bind_blob(st, 10, r->payload, (int)r->payload_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, now_ms);
	if (strcmp(r->status, "pending") == 0)
		sqlite3_bind_int64(st, 12, now_ms + sp->redeliver_ms);
	else
		sqlite3_bind_null(st, 12);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return spool_fail(sp, why, whylen, "insert");
	return sqlite3_changes(sp->db) == 1 ? 0 : JIDO_ECONFLICT;
}

int
ingest_spool_ack(struct ingest_spool *sp, const json_t *ids, int64_t now_ms, int *acked,
    char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL, *reset = NULL;
	int64_t newest_sent = INT64_MIN;
	json_t *v;
	size_t i;
	int rc = 0, step;

	*acked = 0;
	if (sqlite3_prepare_v2(sp->db, "UPDATE deliveries SET status = 'acked', acked_at = ?2,"
	    " next_at = NULL WHERE id = ?1 AND status = 'pending' RETURNING sent_at", -1, &st,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db, "UPDATE deliveries SET next_at = sent_at + ?1"
	    " WHERE status = 'pending' AND next_at > ?3 AND sent_at < ?2"
	    " AND next_at > sent_at + ?1", -1, &reset, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "prepare");
		goto out;
	}
	if (sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "begin");
		goto out;
	}
	json_array_foreach(ids, i, v) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now_ms);
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			(*acked)++;
			if (sqlite3_column_type(st, 0) != SQLITE_NULL &&
			    sqlite3_column_int64(st, 0) > newest_sent)
				newest_sent = sqlite3_column_int64(st, 0);
		}
		if (step != SQLITE_DONE) {
			rc = spool_fail(sp, why, whylen, "ack");
			break;
		}
	}
	sqlite3_reset(st);
	/* A subscriber acknowledged a send: pending rows last sent before it were lost on
	 * the way (PUB/SUB drops, or nobody was listening then), so their back-off, grown
	 * while nobody acknowledged, goes back to the first interval after their last send.
	 * The sweeper then re-sends them in next_at order, the longest-unsent first, instead
	 * of letting the oldest deliveries wait up to SPOOL_BACKOFF_MAX_MS behind newer
	 * ones. Rows already due (next_at <= now) are left alone. */
	if (rc == 0 && newest_sent != INT64_MIN) {
		sqlite3_bind_int64(reset, 1, sp->redeliver_ms);
		sqlite3_bind_int64(reset, 2, newest_sent);
		sqlite3_bind_int64(reset, 3, now_ms);
		if (sqlite3_step(reset) != SQLITE_DONE)
			rc = spool_fail(sp, why, whylen, "ack reset");
	}
	if (rc != 0) {
		sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
		*acked = 0;
		goto out;
	}
	if (sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "commit");
		sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
		*acked = 0;
	}
out:
	sqlite3_finalize(st);
	sqlite3_finalize(reset);
	return rc;
}

/* Column i as a new JSON string (text or blob), or null. */
static json_t *
spool_col(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);
	json_t *s = json_stringn(p != NULL ? p : "", (size_t)n);
	return s != NULL ? s : json_null(); /* not UTF-8: shown as null */
}

static json_t *
spool_time(sqlite3_stmt *st, int i)
{
	char buf[40];
	time_t t;
	struct tm tm;
	int64_t ms;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	ms = sqlite3_column_int64(st, i);
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

int
ingest_spool_due(struct ingest_spool *sp, int64_t now_ms, int64_t redeliver_ms, int max,
    json_t **rows, char *why, size_t whylen)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc = 0;

	*rows = json_array();
	if (sqlite3_prepare_v2(sp->db, "SELECT id, source, event, payload, attempts FROM"
	    " deliveries WHERE status = 'pending' AND next_at <= ?1 ORDER BY next_at LIMIT ?2",
	    -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(sp->db, "UPDATE deliveries SET sent_at = ?2, attempts ="
	    " attempts + 1, next_at = ?3 WHERE id = ?1", -1, &upd, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "prepare");
		goto out;
	}
	if (sqlite3_exec(sp->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = spool_fail(sp, why, whylen, "begin");
		goto out;
	}
	sqlite3_bind_int64(sel, 1, now_ms);
	sqlite3_bind_int(sel, 2, max);
	while (sqlite3_step(sel) == SQLITE_ROW) {
		int64_t attempts = sqlite3_column_int64(sel, 4), delay = redeliver_ms;
		for (int64_t k = 1; k < attempts && delay < SPOOL_BACKOFF_MAX_MS; k++)
			delay *= 2;
		if (delay > SPOOL_BACKOFF_MAX_MS)
			delay = SPOOL_BACKOFF_MAX_MS;
		json_array_append_new(*rows, json_pack("{s:o,s:o,s:o,s:o}", "id",
		    spool_col(sel, 0), "source", spool_col(sel, 1), "event", spool_col(sel, 2),
		    "payload", spool_col(sel, 3)));
		sqlite3_reset(upd);
		sqlite3_bind_text(upd, 1, (const char *)sqlite3_column_text(sel, 0), -1,
		    SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 2, now_ms);
		sqlite3_bind_int64(upd, 3, now_ms + delay);
		if (sqlite3_step(upd) != SQLITE_DONE) {
			rc = spool_fail(sp, why, whylen, "update");
			break;
		}
	}
	sqlite3_reset(sel);
	if (rc != 0 || sqlite3_exec(sp->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		if (rc == 0)
			rc = spool_fail(sp, why, whylen, "commit");
		sqlite3_exec(sp->db, "ROLLBACK", NULL, NULL, NULL);
	}
out:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	if (rc != 0) {
		json_decref(*rows);
		*rows = NULL;
	}
	return rc;
}

int
ingest_spool_prune(struct ingest_spool *sp, int64_t cutoff_ms, int *n, char *why,
    size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(sp->db, "DELETE FROM deliveries WHERE received_at < ?1", -1,
	    &st, NULL) != SQLITE_OK)
		return spool_fail(sp, why, whylen, "prepare");
	sqlite3_bind_int64(st, 1, cutoff_ms);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return spool_fail(sp, why, whylen, "prune");
	*n = sqlite3_changes(sp->db);
	return 0;
}

/* The summary columns of a row as an object (new reference). */
static json_t *
spool_summary(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:o}",
	    "id", spool_col(st, 0), "source", spool_col(st, 1), "event", spool_col(st, 2),
	    "action", spool_col(st, 3), "repo", spool_col(st, 4), "status", spool_col(st, 5),
	    "reason", spool_col(st, 6), "hook_id", spool_col(st, 7),
	    "received_at", spool_time(st, 8), "attempts", (json_int_t)sqlite3_column_int64(st, 9),
	    "sent_at", spool_time(st, 10), "acked_at", spool_time(st, 11));
}

#define SPOOL_COLS "id, source, event, action, repo, status, reason, hook_id, received_at," \
	" attempts, sent_at, acked_at"

int
ingest_spool_list(struct ingest_spool *sp, const char *event, const char *status,
    int limit, json_t **out, char *why, size_t whylen)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(sp->db, "SELECT " SPOOL_COLS " FROM deliveries WHERE"
	    " (?1 IS NULL OR event = ?1) AND (?2 IS NULL OR status = ?2)"
	    " ORDER BY received_at DESC, id LIMIT ?3", -1, &st, NULL) != SQLITE_OK)
		return spool_fail(sp, why, whylen, "prepare");
	spool_text(st, 1, event);
	spool_text(st, 2, status);
	sqlite3_bind_int(st, 3, limit);
	*out = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(*out, spool_summary(st));
	sqlite3_finalize(st);
	return 0;
}

int
ingest_spool_show(struct ingest_spool *sp, const char *id, json_t **out, char *why,
    size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, "SELECT " SPOOL_COLS ", headers, payload FROM deliveries"
	    " WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
		return spool_fail(sp, why, whylen, "prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return spool_fail(sp, why, whylen, "select");
		snprintf(why, whylen, "no delivery '%.128s'", id);
		return JIDO_ENOTFOUND;
	}
	*out = spool_summary(st);
	json_t *h = json_loadb((const char *)sqlite3_column_blob(st, 12),
	    (size_t)sqlite3_column_bytes(st, 12), 0, NULL);
	json_object_set_new(*out, "headers", h != NULL ? h : json_object());
	json_object_set_new(*out, "payload", spool_col(st, 13));
	sqlite3_finalize(st);
	return 0;
}

/* Run one statement with id and now bound; *changed receives sqlite3_changes. */
static int
spool_run(struct ingest_spool *sp, const char *sql, const char *id, const char *id2,
    int64_t now_ms, int *changed, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(sp->db, sql, -1, &st, NULL) != SQLITE_OK)
		return spool_fail(sp, why, whylen, "prepare");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	if (id2 != NULL)
		sqlite3_bind_text(st, 3, id2, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return spool_fail(sp, why, whylen, "update");
	*changed = sqlite3_changes(sp->db);
	return 0;
}

/* JIDO_ENOTFOUND / JIDO_ECONFLICT for an id that could not be replayed. */
static int
spool_why_not(struct ingest_spool *sp, const char *id, char *why, size_t whylen)
{
	json_t *row = NULL;
	int rc = ingest_spool_show(sp, id, &row, why, whylen);

	if (rc == 0) {
		snprintf(why, whylen, "delivery '%.128s' was rejected (%s); nothing to replay", id,
		    json_string_value(json_object_get(row, "reason")) ?
		    json_string_value(json_object_get(row, "reason")) : "no reason");
		rc = JIDO_ECONFLICT;
	}
	json_decref(row);
	return rc;
}

int
ingest_spool_requeue(struct ingest_spool *sp, const char *id, int64_t now_ms, char *why,
    size_t whylen)
{
	int n, rc;

	if ((rc = spool_run(sp, "UPDATE deliveries SET status = 'pending', next_at = ?2,"
	    " acked_at = NULL WHERE id = ?1 AND status != 'rejected'", id, NULL, now_ms, &n, why,
	    whylen)) != 0)
		return rc;
	return n == 1 ? 0 : spool_why_not(sp, id, why, whylen);
}

int
ingest_spool_copy(struct ingest_spool *sp, const char *id, const char *new_id, int64_t now_ms,
    char *why, size_t whylen)
{
	int n, rc;

	if ((rc = spool_run(sp, "INSERT INTO deliveries (id, source, event, hook_id, action, repo,"
	    " status, headers, payload, received_at, attempts, next_at) SELECT ?3, source, event,"
	    " hook_id, action, repo, 'pending', headers, payload, ?2, 0, ?2 FROM deliveries"
	    " WHERE id = ?1 AND status != 'rejected'", id, new_id, now_ms, &n, why, whylen)) != 0)
		return rc;
	return n == 1 ? 0 : spool_why_not(sp, id, why, whylen);
}

int
ingest_spool_counts(struct ingest_spool *sp, json_t **out, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	json_int_t total = 0;

	if (sqlite3_prepare_v2(sp->db, "SELECT status, count(*) FROM deliveries GROUP BY status",
	    -1, &st, NULL) != SQLITE_OK)
		return spool_fail(sp, why, whylen, "prepare");
	*out = json_pack("{s:i,s:i,s:i}", "pending", 0, "acked", 0, "rejected", 0);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_int_t n = sqlite3_column_int64(st, 1);
		json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0), json_integer(n));
		total += n;
	}
	sqlite3_finalize(st);
	json_object_set_new(*out, "total", json_integer(total));
	return 0;
}

int
ingest_row_event(const json_t *row, json_t **data, char *type, size_t typelen, char *why,
    size_t whylen)
{
	const char *source = json_string_value(json_object_get(row, "source"));
	const char *event = json_string_value(json_object_get(row, "event"));
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *payload = json_string_value(json_object_get(row, "payload"));
	json_t *p;
	int rc;

	*data = NULL;
	if (source == NULL || event == NULL || id == NULL || payload == NULL) {
		snprintf(why, whylen, "stored row is incomplete");
		return JIDO_EINTEGRITY;
	}
	if ((p = json_loads(payload, 0, NULL)) == NULL) {
		snprintf(why, whylen, "stored payload of '%.128s' is not JSON", id);
		return JIDO_EINTEGRITY;
	}
	if (strcmp(source, "sync") == 0) {
		snprintf(type, typelen, "events.%s", event);
		json_object_set_new(p, "delivery", json_string(id));
		*data = p;
		return 0;
	}
	rc = ingest_norm(event, id, p, data, type, typelen, why, whylen);
	json_decref(p);
	return rc;
}
