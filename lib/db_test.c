/* db_test.c - SQLite helpers: WAL, migrations applied in order and once, a database
 * newer than the binary refused with a clear message, a failed migration rolled back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "jido.h"

static char path[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/jido-db-%d.sqlite", (int)getpid());
	return 0;
}

static int
teardown(void **state)
{
	char p[80];

	(void)state;
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

static int
scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_migrations(void **state)
{
	static const char *const v2[] = {
		"CREATE TABLE a (x INTEGER)",
		"ALTER TABLE a ADD COLUMN y TEXT; INSERT INTO a VALUES (1, 'one')",
	};
	static const char *const v1[] = { "CREATE TABLE a (x INTEGER)" };
	static const char *const bad[] = {
		"CREATE TABLE a (x INTEGER)",
		"ALTER TABLE a ADD COLUMN y TEXT; INSERT INTO a VALUES (1, 'one')",
		"CREATE TABLE b (z); THIS IS NOT SQL",
	};
	sqlite3 *db;
	char why[256];

	(void)state;
	assert_int_equal(jido_db_open(path, v1, 1, &db, why, sizeof(why)), 0);
	assert_int_equal(scalar(db, "PRAGMA user_version"), 1);
	sqlite3_close(db);
	assert_int_equal(jido_db_open(path, v2, 2, &db, why, sizeof(why)), 0);
	assert_int_equal(scalar(db, "PRAGMA user_version"), 2);
	assert_int_equal(scalar(db, "SELECT count(*) FROM a"), 1);
	sqlite3_close(db);
	/* reopening applies nothing twice */
	assert_int_equal(jido_db_open(path, v2, 2, &db, why, sizeof(why)), 0);
	assert_int_equal(scalar(db, "SELECT count(*) FROM a"), 1);
	sqlite3_close(db);
	/* a failing migration is rolled back whole and reported */
	assert_int_equal(jido_db_open(path, bad, 3, &db, why, sizeof(why)), JIDO_EINTERNAL);
	assert_non_null(strstr(why, "migration 3"));
	assert_int_equal(jido_db_open(path, v2, 2, &db, why, sizeof(why)), 0);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
	sqlite3_close(db);
	/* an older binary refuses the newer database */
	assert_int_equal(jido_db_open(path, v1, 1, &db, why, sizeof(why)), JIDO_ECONFLICT);
	assert_non_null(strstr(why, "newer than this binary"));
}

static void
test_wal(void **state)
{
	static const char *const v1[] = { "CREATE TABLE t (x)" };
	sqlite3 *db;
	char why[256];
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(jido_db_open(path, v1, 1, &db, why, sizeof(why)), 0);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(scalar(db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(jido_db_exec(db, "NOT SQL", why, sizeof(why)), JIDO_EINTERNAL);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
