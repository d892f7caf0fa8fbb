/*
 * store.c - the planner's database: schema migrations (user_version), transactions,
 * wall-clock time, run ids and global settings. The one SQLite file holds projects, the
 * issue/PR mirror, deliveries, pinned workflow texts, runs, steps, transitions and
 * approvals; every state change is committed here before anything is published or acked.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <sodium.h>

#include "planner.h"

static const char *const store_migrations[] = {
	/* 1: the whole first schema */
	"CREATE TABLE projects ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" full_name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" settings TEXT NOT NULL,"
	" clone_status TEXT NOT NULL DEFAULT 'pending',"
	" clone_error TEXT,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL);"
	"CREATE TABLE items ("
	" repo TEXT NOT NULL COLLATE NOCASE,"
	" number INTEGER NOT NULL,"
	" is_pr INTEGER NOT NULL,"
	" state TEXT NOT NULL,"
	" title TEXT NOT NULL DEFAULT '',"
	" labels TEXT NOT NULL DEFAULT '[]',"
	" assignees TEXT NOT NULL DEFAULT '[]',"
	" author TEXT NOT NULL DEFAULT '',"
	" url TEXT NOT NULL DEFAULT '',"
	" activity_ms INTEGER NOT NULL,"
	" PRIMARY KEY (repo, number));"
	"CREATE INDEX items_open ON items(repo, is_pr, state, activity_ms);"
	"CREATE TABLE deliveries ("
	" delivery TEXT PRIMARY KEY,"
	" type TEXT NOT NULL,"
	" action TEXT NOT NULL DEFAULT '',"
	" repo TEXT NOT NULL DEFAULT '',"
	" number INTEGER NOT NULL DEFAULT 0,"
	" outcome TEXT NOT NULL,"
	" reason TEXT NOT NULL,"
	" run_id TEXT,"
	" acked INTEGER NOT NULL DEFAULT 0,"
	" received_ms INTEGER NOT NULL);"
	"CREATE INDEX deliveries_unacked ON deliveries(acked);"
	"CREATE TABLE workflow_texts ("
	" hash TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL,"
	" source TEXT NOT NULL, body TEXT NOT NULL);"
	"CREATE TABLE runs ("
	" id TEXT PRIMARY KEY,"
	" project_id INTEGER NOT NULL REFERENCES projects(id),"
	" workflow TEXT NOT NULL,"
	" wf_version INTEGER NOT NULL,"
	" wf_hash TEXT NOT NULL REFERENCES workflow_texts(hash),"
	" state TEXT NOT NULL,"
	" outcome TEXT,"
	" parked TEXT,"
	" issue INTEGER NOT NULL DEFAULT 0,"
	" dry_run INTEGER NOT NULL DEFAULT 0,"
	" trigger_kind TEXT NOT NULL,"
	" delivery TEXT,"
	" actor TEXT NOT NULL DEFAULT '',"
	" parent_id TEXT REFERENCES runs(id),"
	" attempt INTEGER NOT NULL DEFAULT 1,"
	" cur_seq INTEGER NOT NULL DEFAULT 0,"
	" failure_kind TEXT, failure_message TEXT, last_good_step TEXT, hint TEXT,"
	" approval TEXT,"
	" cost_usd REAL NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL);"
	"CREATE INDEX runs_state ON runs(state);"
	"CREATE INDEX runs_parked ON runs(parked);"
	"CREATE INDEX runs_project ON runs(project_id, issue, created_ms);"
	"CREATE TABLE steps ("
	" run_id TEXT NOT NULL REFERENCES runs(id),"
	" seq INTEGER NOT NULL,"
	" step TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" attempt INTEGER NOT NULL DEFAULT 0,"
	" deadline_ms INTEGER NOT NULL DEFAULT 0,"
	" runner TEXT NOT NULL DEFAULT '',"
	" queued TEXT,"
	" result TEXT, usage TEXT, artifacts TEXT, error TEXT,"
	" created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (run_id, seq));"
	"CREATE INDEX steps_state ON steps(state, kind);"
	"CREATE TABLE transitions ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" run_id TEXT NOT NULL,"
	" step_seq INTEGER,"
	" from_state TEXT, to_state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
	" at_ms INTEGER NOT NULL, published INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX transitions_run ON transitions(run_id, id);"
	"CREATE INDEX transitions_unpub ON transitions(published, id);"
	"CREATE TABLE approvals ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_seq INTEGER,"
	" decision TEXT NOT NULL, rationale TEXT NOT NULL, actor TEXT NOT NULL,"
	" channel TEXT NOT NULL, audit_seq INTEGER, at_ms INTEGER NOT NULL);"
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

int
store_open(struct planner *p, const char *path, char *why, size_t whylen)
{
	return jido_db_open(path, store_migrations,
	    (int)(sizeof(store_migrations) / sizeof(store_migrations[0])), &p->db, why, whylen);
}

int
store_begin(struct planner *p)
{
	return sqlite3_exec(p->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 :
	    JIDO_EINTERNAL;
}

int
store_commit(struct planner *p)
{
	if (sqlite3_exec(p->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	jido_error("planner.commit_failed", "{s:s}", "why", sqlite3_errmsg(p->db));
	store_rollback(p);
	return JIDO_EINTERNAL;
}

void
store_rollback(struct planner *p)
{
	if (!sqlite3_get_autocommit(p->db))
		sqlite3_exec(p->db, "ROLLBACK", NULL, NULL, NULL);
}

int64_t
store_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
store_run_id_new(char *buf, size_t len)
{
	unsigned char b[8];
	char hex[17];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(hex, sizeof(hex), b, sizeof(b));
	snprintf(buf, len, "r_%s", hex);
}

int
store_setting_get(struct planner *p, const char *key, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int rc = JIDO_ENOTFOUND;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(p->db, "SELECT value FROM settings WHERE key = ?", -1, &st,
	    NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
store_setting_set(struct planner *p, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(p->db, "INSERT INTO settings(key, value) VALUES (?, ?) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
	sqlite3_finalize(st);
	return rc;
}

/* Bind args after types: 's' text (NULL binds NULL), 'i' int64, 'd' int, 'f' double. */
static int
store_bindv(sqlite3_stmt *st, const char *types, va_list ap)
{
	for (int i = 0; types[i] != '\0'; i++) {
		int rc;
		switch (types[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT) :
			    sqlite3_bind_null(st, i + 1);
			break;
		}
		case 'i': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
		case 'd': rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int)); break;
		case 'f': rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double)); break;
		default: rc = SQLITE_MISUSE; break;
		}
		if (rc != SQLITE_OK)
			return JIDO_EINTERNAL;
	}
	return 0;
}

int
store_exec(struct planner *p, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
		jido_error("planner.sql_failed", "{s:s,s:s}", "sql", sql, "why", sqlite3_errmsg(p->db));
		return JIDO_EINTERNAL;
	}
	va_start(ap, types);
	rc = store_bindv(st, types, ap);
	va_end(ap);
	if (rc == 0 && sqlite3_step(st) != SQLITE_DONE) {
		jido_error("planner.sql_failed", "{s:s,s:s}", "sql", sql, "why", sqlite3_errmsg(p->db));
		rc = JIDO_EINTERNAL;
	}
	sqlite3_finalize(st);
	return rc;
}

sqlite3_stmt *
store_query(struct planner *p, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(p->db, sql, -1, &st, NULL) != SQLITE_OK) {
		jido_error("planner.sql_failed", "{s:s,s:s}", "sql", sql, "why", sqlite3_errmsg(p->db));
		return NULL;
	}
	va_start(ap, types);
	rc = store_bindv(st, types, ap);
	va_end(ap);
	if (rc != 0) {
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

const char *
store_col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? (const char *)t : "";
}

json_t *
store_col_json(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	json_t *j = t ? json_loads((const char *)t, JSON_DECODE_ANY, NULL) : NULL;

	return j ? j : json_null();
}
