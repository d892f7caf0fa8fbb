/*
 * db.c - SQLite helpers: open with WAL, a busy timeout and foreign keys, and schema
 * migrations keyed by PRAGMA user_version. A database newer than the binary is refused.
 */
#include <stdarg.h>
#include <string.h>

#include <sqlite3.h>

#include "jido.h"

int
jido_db_exec(sqlite3 *db, const char *sql, char *why, size_t whylen)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		jido_fail(JIDO_EINTERNAL, why, whylen, "sqlite: %s", err ? err : "error");
		sqlite3_free(err);
		return JIDO_EINTERNAL;
	}
	return 0;
}

static int
db_user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : JIDO_EINTERNAL;
}

int
jido_db_open(const char *path, const char *const *migrations, int n, sqlite3 **out, char *why,
    size_t whylen)
{
	sqlite3 *db = NULL;
	char sql[64];
	int v = 0, rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot open database %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_busy_timeout(db, 5000);
	if ((rc = jido_db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	    "PRAGMA foreign_keys=ON;", why, whylen)) != 0)
		goto fail;
	if ((rc = db_user_version(db, &v)) != 0) {
		jido_fail(rc, why, whylen, "cannot read schema version of %s", path);
		goto fail;
	}
	if (v > n) {
		rc = jido_fail(JIDO_ECONFLICT, why, whylen,
		    "database %s has schema version %d, newer than this binary's %d: "
		    "upgrade JidoCode or restore a backup", path, v, n);
		goto fail;
	}
	for (; v < n; v++) {
		if ((rc = jido_db_exec(db, "BEGIN IMMEDIATE", why, whylen)) != 0)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
		if ((rc = jido_db_exec(db, migrations[v], why, whylen)) != 0 ||
		    (rc = jido_db_exec(db, sql, why, whylen)) != 0) {
			size_t l = strlen(why);
			snprintf(why + l, whylen - l, " (migration %d of %s)", v + 1, path);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto fail;
		}
		if ((rc = jido_db_exec(db, "COMMIT", why, whylen)) != 0)
			goto fail;
	}
	*out = db;
	return 0;
fail:
	sqlite3_close(db);
	return rc;
}
