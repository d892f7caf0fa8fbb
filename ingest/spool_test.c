/*
 * spool_test.c - the durable spool and the request handler through jido_srv_dispatch (the
 * path serve and filter share): store once per delivery id, rejected rows, ack, the
 * sweeper's due rows and back-off, its order under a backlog (next_at first, no row
 * skipped), an acknowledgement bringing back rows a subscriber missed (oldest first),
 * prune by retention, list/show/replay and their validation errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ingest.h"

extern const struct jido_proc ingest_proc;

static char dir[64];
static struct jido_conf *conf;
static struct jido_srv *srv;

static const char payload[] = "{\"action\":\"opened\",\"issue\":{\"number\":7,\"title\":\"t\","
    "\"labels\":[{\"name\":\"bug\"}]},\"repository\":{\"full_name\":\"o/r\"},"
    "\"sender\":{\"login\":\"u\"}}";

static int
setup(void **state)
{
	char why[256];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ingest-spool-XXXXXX");
	if (mkdtemp(dir) == NULL || jido_conf_load(NULL, &conf, why, sizeof(why)) != 0 ||
	    jido_conf_set(conf, "home", dir, why, sizeof(why)) != 0)
		return -1;
	return jido_srv_new(&ingest_proc, conf, &srv, why, sizeof(why));
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	jido_srv_free(srv);
	jido_conf_free(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Send {type, data} through dispatch; returns the reply (new reference). */
static json_t *
call(const char *type, json_t *data)
{
	json_t *m = jido_msg_new(type, NULL, NULL, data);
	char *text = jido_json_dump(m);
	json_t *r = jido_srv_dispatch(srv, text, strlen(text), NULL);

	free(text);
	json_decref(m);
	return r;
}

static void
expect_error(json_t *r, const char *code)
{
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
	    "code")), code);
	json_decref(r);
}

static struct ingest_row
row_of(const char *id, const char *status)
{
	struct ingest_row r = { id, "webhook", "issues", "1", "opened", "o/r", status,
		NULL, "{\"X-GitHub-Event\":\"issues\"}", payload, sizeof(payload) - 1 };
	if (strcmp(status, "rejected") == 0)
		r.reason = "malformed JSON";
	return r;
}

static void
test_put_once_per_id(void **state)
{
	struct ingest_spool sp;
	struct ingest_row r = row_of("d-1", "pending");
	char why[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/ingest.db", dir);
	assert_int_equal(ingest_spool_open(path, &sp, why, sizeof(why)), 0);
	assert_int_equal(ingest_spool_put(&sp, &r, 1000, why, sizeof(why)), 0);
	assert_int_equal(ingest_spool_put(&sp, &r, 2000, why, sizeof(why)), JIDO_ECONFLICT);
	r = row_of("d-bad", "rejected");
	assert_int_equal(ingest_spool_put(&sp, &r, 1000, why, sizeof(why)), 0);
	ingest_spool_close(&sp);

	json_t *rep = call("ingest.deliveries.list", NULL);
	json_t *rows = json_object_get(json_object_get(rep, "data"), "deliveries");
	assert_int_equal(json_array_size(rows), 2);
	json_decref(rep);
	rep = call("ingest.deliveries.list", json_pack("{s:s}", "status", "rejected"));
	rows = json_object_get(json_object_get(rep, "data"), "deliveries");
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "reason")),
	    "malformed JSON");
	json_decref(rep);
	rep = call("ingest.deliveries.show", json_pack("{s:s}", "id", "d-1"));
	assert_true(json_is_true(json_object_get(rep, "ok")));
	json_t *d = json_object_get(rep, "data");
	assert_string_equal(json_string_value(json_object_get(d, "payload")), payload);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "headers"),
	    "X-GitHub-Event")), "issues");
	assert_string_equal(json_string_value(json_object_get(d, "status")), "pending");
	assert_int_equal(json_integer_value(json_object_get(d, "attempts")), 1);
	json_decref(rep);
	expect_error(call("ingest.deliveries.show", json_pack("{s:s}", "id", "nope")), "not_found");
	expect_error(call("ingest.deliveries.show", NULL), "validation_error");
	expect_error(call("ingest.deliveries.list", json_pack("{s:s}", "status", "x")),
	    "validation_error");
	expect_error(call("ingest.deliveries.list", json_pack("{s:i}", "limit", 0)),
	    "validation_error");
	expect_error(call("ingest.deliveries.list", json_pack("{s:i}", "bogus", 1)),
	    "validation_error");
}

/* Does rows hold a row with id? */
static int
has_id(const json_t *rows, const char *id)
{
	for (size_t i = 0; i < json_array_size(rows); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(rows, i), "id")), id) == 0)
			return 1;
	return 0;
}

static void
test_due_backoff_and_ack(void **state)
{
	struct ingest_spool sp;
	char why[256], path[128];
	json_t *rows;

	(void)state;
	snprintf(path, sizeof(path), "%s/ingest.db", dir);
	assert_int_equal(ingest_spool_open(path, &sp, why, sizeof(why)), 0);
	int64_t t0 = ingest_wall_ms();
	struct ingest_row r = row_of("d-2", "pending");
	sp.redeliver_ms = 1000;
	assert_int_equal(ingest_spool_put(&sp, &r, t0, why, sizeof(why)), 0);
	/* Not due before redeliver_ms. */
	assert_int_equal(ingest_spool_due(&sp, t0 + 500, 1000, 100, &rows, why, sizeof(why)), 0);
	for (size_t i = 0; i < json_array_size(rows); i++)
		assert_string_not_equal(json_string_value(json_object_get(json_array_get(rows, i),
		    "id")), "d-2");
	json_decref(rows);
	/* Due after; then backed off (attempt 2 waits 1 s, attempt 3 waits 2 s). */
	assert_int_equal(ingest_spool_due(&sp, t0 + 1000, 1000, 100, &rows, why, sizeof(why)), 0);
	int found = 0;
	for (size_t i = 0; i < json_array_size(rows); i++) {
		json_t *row = json_array_get(rows, i);
		if (strcmp(json_string_value(json_object_get(row, "id")), "d-2") == 0) {
			json_t *data;
			char type[JIDO_TYPE_MAX + 1];
			found = 1;
			assert_int_equal(ingest_row_event(row, &data, type, sizeof(type), why,
			    sizeof(why)), 0);
			assert_string_equal(type, "events.issues");
			assert_string_equal(json_string_value(json_object_get(data, "delivery")), "d-2");
			assert_int_equal(json_integer_value(json_object_get(data, "number")), 7);
			json_decref(data);
		}
	}
	assert_true(found);
	json_decref(rows);
	assert_int_equal(ingest_spool_due(&sp, t0 + 1500, 1000, 100, &rows, why, sizeof(why)), 0);
	assert_false(has_id(rows, "d-2"));
	json_decref(rows);
	assert_int_equal(ingest_spool_due(&sp, t0 + 2000, 1000, 100, &rows, why, sizeof(why)), 0);
	assert_true(has_id(rows, "d-2"));
	json_decref(rows);
	assert_int_equal(ingest_spool_due(&sp, t0 + 3500, 1000, 100, &rows, why, sizeof(why)), 0);
	assert_false(has_id(rows, "d-2"));
	json_decref(rows);
	assert_int_equal(ingest_spool_due(&sp, t0 + 4000, 1000, 100, &rows, why, sizeof(why)), 0);
	assert_true(has_id(rows, "d-2"));
	json_decref(rows);
	ingest_spool_close(&sp);

	/* Ack through the handler: d-2 and d-1 pending, the rest unknown or rejected. */
	json_t *rep = call("ingest.ack", json_pack("{s:[s,s,s,s]}", "deliveries", "d-2", "d-1",
	    "d-bad", "unknown"));
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "data"),
	    "acked")), 2);
	json_decref(rep);
	/* Acked again: nothing changes. */
	rep = call("ingest.ack", json_pack("{s:[s]}", "deliveries", "d-2"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "data"),
	    "acked")), 0);
	json_decref(rep);
	assert_int_equal(ingest_spool_open(path, &sp, why, sizeof(why)), 0);
	assert_int_equal(ingest_spool_due(&sp, t0 + 10000000, 1000, 100, &rows, why, sizeof(why)),
	    0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	ingest_spool_close(&sp);
	expect_error(call("ingest.ack", json_pack("{s:s}", "deliveries", "d-2")),
	    "validation_error");
	expect_error(call("ingest.ack", json_pack("{s:[i]}", "deliveries", 3)), "validation_error");
	expect_error(call("ingest.ack", json_pack("{s:[s]}", "deliveries", "has space")),
	    "validation_error");
}

/* A spool of its own under dir (so that the handler's rows do not mix in). */
static void
spool_fresh(struct ingest_spool *sp, const char *name, int64_t redeliver_ms)
{
	char why[256], path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(ingest_spool_open(path, sp, why, sizeof(why)), 0);
	sp->redeliver_ms = redeliver_ms;
}

static void
put_pending(struct ingest_spool *sp, const char *id, int64_t now)
{
	struct ingest_row r = row_of(id, "pending");
	char why[256];

	assert_int_equal(ingest_spool_put(sp, &r, now, why, sizeof(why)), 0);
}

/* The soak's shape at a tenth of its size (650 never-acknowledged rows, 50 per sweep,
 * redeliver 1 s, a sweep every 1.1 s): every sweep sends exactly the due rows with the
 * smallest (next_at, id), and a row due at a sweep is sent within ceil(650 / 50) = 13
 * sweeps of it. Rows stay overdue for a lap of the backlog because the budget is smaller
 * than the backlog, not because any due row is passed over. */
static void
test_due_order_under_backlog(void **state)
{
	enum { N = 650, MAX = 50, SWEEPS = 40, LAP = (N + MAX - 1) / MAX };
	struct ingest_spool sp;
	sqlite3_stmt *q;
	char why[256], id[32];
	int64_t t0 = 1700000000000LL, due_since[N];
	json_t *rows;

	(void)state;
	spool_fresh(&sp, "backlog.db", 1000);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "b-%04d", i);
		put_pending(&sp, id, t0 + i / 10);
		due_since[i] = -1;
	}
	assert_int_equal(sqlite3_prepare_v2(sp.db, "SELECT id FROM deliveries WHERE status ="
	    " 'pending' AND next_at <= ?1 ORDER BY next_at, id", -1, &q, NULL), SQLITE_OK);
	for (int k = 1; k <= SWEEPS; k++) {
		int64_t now = t0 + k * 1100;
		json_t *want = json_array();
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, now);
		while (sqlite3_step(q) == SQLITE_ROW) {
			int i = atoi((const char *)sqlite3_column_text(q, 0) + 2);
			if (json_array_size(want) < MAX)
				json_array_append_new(want, json_string((const char *)
				    sqlite3_column_text(q, 0)));
			if (due_since[i] < 0)
				due_since[i] = k;
		}
		assert_int_equal(ingest_spool_due(&sp, now, 1000, MAX, &rows, why, sizeof(why)), 0);
		assert_int_equal(json_array_size(rows), json_array_size(want));
		for (size_t j = 0; j < json_array_size(rows); j++) {
			const char *got = json_string_value(json_object_get(json_array_get(rows, j),
			    "id"));
			assert_string_equal(got, json_string_value(json_array_get(want, j)));
			int i = atoi(got + 2);
			assert_true(k - due_since[i] < LAP);
			due_since[i] = -1;
		}
		json_decref(want);
		json_decref(rows);
	}
	/* Nothing due at the last sweep waited a lap or more. */
	for (int i = 0; i < N; i++)
		assert_true(due_since[i] < 0 || SWEEPS - due_since[i] < LAP);
	sqlite3_finalize(q);
	ingest_spool_close(&sp);
}

/* The ids of rows, in order, as "a,b,c" into buf. */
static const char *
ids_of(const json_t *rows, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(rows) && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
		    json_string_value(json_object_get(json_array_get(rows, i), "id")));
	return buf;
}

/* Two rows sent six times while nobody acknowledged (back-off now 32 s); then a
 * subscriber acknowledges a newer delivery: the two old rows are due again redeliver_ms
 * after their last send, and the sweeper sends them, oldest first, before the newer
 * unacknowledged row. Before, they waited out the 32 s (up to an hour at the default
 * interval) while newer deliveries went through. An ack that acknowledges nothing
 * changes no schedule. */
static void
test_ack_brings_back_missed_rows(void **state)
{
	static const int64_t sweeps[] = { 1000, 3000, 7000, 15000, 31000 };
	struct ingest_spool sp;
	char why[256], buf[256];
	int64_t t0 = 1700000000000LL;
	json_t *rows;
	int n;

	(void)state;
	spool_fresh(&sp, "fair.db", 1000);
	put_pending(&sp, "old-a", t0);
	put_pending(&sp, "old-b", t0 + 10);
	for (size_t i = 0; i < sizeof(sweeps) / sizeof(sweeps[0]); i++) {
		assert_int_equal(ingest_spool_due(&sp, t0 + sweeps[i] + 10, 1000, 100, &rows, why,
		    sizeof(why)), 0);
		assert_string_equal(ids_of(rows, buf, sizeof(buf)), "old-a,old-b");
		json_decref(rows);
	}
	/* Last sent at +31 s with 5 re-sends: next due at +63 s. */
	put_pending(&sp, "new-1", t0 + 40000);
	put_pending(&sp, "new-2", t0 + 40001);
	json_t *ids = json_pack("[s]", "nope");
	assert_int_equal(ingest_spool_ack(&sp, ids, t0 + 40050, &n, why, sizeof(why)), 0);
	json_decref(ids);
	assert_int_equal(n, 0);
	assert_int_equal(ingest_spool_due(&sp, t0 + 40060, 1000, 100, &rows, why, sizeof(why)),
	    0);
	assert_int_equal(json_array_size(rows), 0);
	json_decref(rows);
	ids = json_pack("[s]", "new-1");
	assert_int_equal(ingest_spool_ack(&sp, ids, t0 + 40100, &n, why, sizeof(why)), 0);
	json_decref(ids);
	assert_int_equal(n, 1);
	assert_int_equal(ingest_spool_due(&sp, t0 + 41500, 1000, 100, &rows, why, sizeof(why)),
	    0);
	assert_string_equal(ids_of(rows, buf, sizeof(buf)), "old-a,old-b,new-2");
	json_decref(rows);
	/* Sent again: the back-off from the attempt count resumes (64 s) until an ack. */
	assert_int_equal(ingest_spool_due(&sp, t0 + 60000, 1000, 100, &rows, why, sizeof(why)),
	    0);
	assert_string_equal(ids_of(rows, buf, sizeof(buf)), "new-2");
	json_decref(rows);
	ingest_spool_close(&sp);
}

static void
test_replay(void **state)
{
	json_t *rep, *d;

	(void)state;
	/* d-1 is acked: replay makes it pending again under its own id. */
	rep = call("ingest.deliveries.replay", json_pack("{s:s}", "id", "d-1"));
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "data"),
	    "delivery")), "d-1");
	json_decref(rep);
	rep = call("ingest.deliveries.show", json_pack("{s:s}", "id", "d-1"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "data"),
	    "status")), "pending");
	json_decref(rep);
	/* As new: a fresh id the planner has never seen. */
	rep = call("ingest.deliveries.replay", json_pack("{s:s,s:b}", "id", "d-1", "as_new", 1));
	assert_true(json_is_true(json_object_get(rep, "ok")));
	d = json_object_get(rep, "data");
	assert_string_not_equal(json_string_value(json_object_get(d, "delivery")), "d-1");
	assert_non_null(strstr(json_string_value(json_object_get(d, "delivery")), "d-1"));
	json_t *show = call("ingest.deliveries.show", json_pack("{s:O}", "id",
	    json_object_get(d, "delivery")));
	assert_true(json_is_true(json_object_get(show, "ok")));
	json_decref(show);
	json_decref(rep);
	expect_error(call("ingest.deliveries.replay", json_pack("{s:s}", "id", "d-bad")),
	    "conflict");
	expect_error(call("ingest.deliveries.replay", json_pack("{s:s}", "id", "zzz")),
	    "not_found");
	expect_error(call("ingest.deliveries.replay", json_pack("{s:s,s:i}", "id", "d-1", "as_new",
	    1)), "validation_error");
}

static void
test_prune(void **state)
{
	struct ingest_spool sp;
	char why[256], path[128];
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/ingest.db", dir);
	assert_int_equal(ingest_spool_open(path, &sp, why, sizeof(why)), 0);
	struct ingest_row r = row_of("old-1", "pending");
	assert_int_equal(ingest_spool_put(&sp, &r, 5, why, sizeof(why)), 0);
	assert_int_equal(ingest_spool_prune(&sp, 1000, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 1);
	json_t *rep = call("ingest.deliveries.show", json_pack("{s:s}", "id", "old-1"));
	expect_error(rep, "not_found");
	rep = call("ingest.stats", NULL);
	assert_true(json_is_true(json_object_get(rep, "ok")));
	assert_true(json_integer_value(json_object_get(json_object_get(json_object_get(rep,
	    "data"), "spool"), "total")) >= 3);
	json_decref(rep);
	ingest_spool_close(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_once_per_id),
		cmocka_unit_test(test_due_backoff_and_ack),
		cmocka_unit_test(test_due_order_under_backlog),
		cmocka_unit_test(test_ack_brings_back_missed_rows),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_prune),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
