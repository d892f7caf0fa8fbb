/*
 * rss_floor.c - the memory floor under a jido process: a program that links the same
 * Debian shared libraries as jido-vault (nng, SQLite, libsodium, jansson, libseccomp,
 * libc) and uses each once the way every daemon does at start-up — an nng REP listener
 * on ipc, a WAL SQLite database with one table and one query, sodium_init, one JSON
 * parse, one seccomp filter built (not loaded) — and then idles. Its RSS is what these
 * libraries cost a process before any JidoCode code runs, the peer for the foundation's
 * idle-RSS figure (bench/rss.sh, bench/foundation.sh). Not a test.
 * usage: rss_floor IPC_URL DB_PATH   (runs until killed)
 */
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <seccomp.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	nng_socket s;
	sqlite3 *db;
	sqlite3_stmt *st;
	scmp_filter_ctx f;
	json_t *j;

	if (argc != 3) {
		fprintf(stderr, "usage: rss_floor IPC_URL DB_PATH\n");
		return 2;
	}
	if (sodium_init() < 0 || nng_rep0_open(&s) != 0 || nng_listen(s, argv[1], NULL, 0) != 0 ||
	    sqlite3_open(argv[2], &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(k TEXT "
	        "PRIMARY KEY, v BLOB); INSERT OR REPLACE INTO t VALUES('a', x'00');", NULL, NULL,
	        NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = ?", -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "rss_floor: set-up failed\n");
		return 111;
	}
	sqlite3_bind_text(st, 1, "a", -1, SQLITE_STATIC);
	(void)sqlite3_step(st);
	sqlite3_finalize(st);
	if ((j = json_loads("{\"type\":\"x.health\",\"id\":\"1\"}", 0, NULL)) != NULL)
		json_decref(j);
	if ((f = seccomp_init(SCMP_ACT_KILL_PROCESS)) != NULL) {
		seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(read), 0);
		seccomp_release(f);
	}
	for (;;)
		pause();
}
