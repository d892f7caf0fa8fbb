/*
 * sm_test.c - the run state machine: the transition tables against the design brief's
 * diagram written out independently here, then a randomized test that drives thousands
 * of operation sequences (results good and bad, stale attempts, approvals with good and
 * short rationales, rejects, releases, the kill switch, cancels, retries, ticks) through
 * the real handler, and checks that a refused operation changed nothing, an accepted one
 * was allowed, every recorded transition chain is valid, and no run was lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "planner_test.h"

#define SEQUENCES 1000 /* PLANNER_SEQUENCES raises it */
#define MAX_OPS 24

static void
test_tables(void **state)
{
	/* The brief: pending -> running <-> awaiting_approval -> completed|failed|cancelled. */
	static const char *const run_ok[] = { "pending>running", "pending>failed",
		"pending>cancelled", "running>awaiting_approval", "running>completed",
		"running>failed", "running>cancelled", "awaiting_approval>running",
		"awaiting_approval>failed", "awaiting_approval>cancelled", NULL };
	static const char *const step_ok[] = { "pending>running", "pending>failed",
		"pending>awaiting_approval", "pending>skipped", "running>pending", "running>done",
		"running>failed", "awaiting_approval>done", "awaiting_approval>failed",
		"awaiting_approval>skipped", "awaiting_approval>pending", NULL };
	char key[64];

	(void)state;
	for (int f = -1; f <= RUN_NSTATES; f++)
		for (int to = -1; to <= RUN_NSTATES; to++) {
			int want = 0;
			snprintf(key, sizeof(key), "%s>%s", run_state_name(f), run_state_name(to));
			for (int i = 0; run_ok[i]; i++)
				want |= strcmp(run_ok[i], key) == 0;
			assert_int_equal(run_state_allowed(f, to), want);
		}
	for (int f = -1; f <= STEP_NSTATES; f++)
		for (int to = -1; to <= STEP_NSTATES; to++) {
			int want = 0;
			snprintf(key, sizeof(key), "%s>%s", step_state_name(f), step_state_name(to));
			for (int i = 0; step_ok[i]; i++)
				want |= strcmp(step_ok[i], key) == 0;
			assert_int_equal(step_state_allowed(f, to), want);
		}
	for (int s = 0; s < RUN_NSTATES; s++) {
		assert_int_equal(run_state_parse(run_state_name(s)), s);
		assert_int_equal(run_state_terminal(s), s >= RUN_COMPLETED);
	}
	assert_int_equal(run_state_parse("bogus"), -1);
}

/* Everything observable about a run (state, steps, transitions) as text. */
static char *
snapshot(struct pt *t, const char *id)
{
	json_t *r = pt_run(t, id);
	char *s = r ? jido_json_dump(r) : strdup("none");

	json_decref(r);
	return s;
}

/* Check every transition chain in the database: runs and steps each start from nothing
 * at pending, each change starts where the previous one ended, and each is allowed. */
static void
check_chains(struct pt *t)
{
	sqlite3_stmt *st;
	char prev_key[64] = "", prev_to[32] = "";
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(t->p->db, "SELECT run_id, coalesce(step_seq, 0), "
	    "from_state, to_state FROM transitions ORDER BY run_id, coalesce(step_seq, 0), id", -1,
	    &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		char key[64];
		int seq = sqlite3_column_int(st, 1);
		const char *from = (const char *)sqlite3_column_text(st, 2);
		const char *to = (const char *)sqlite3_column_text(st, 3);
		snprintf(key, sizeof(key), "%s/%d", sqlite3_column_text(st, 0), seq);
		if (strcmp(key, prev_key) != 0) {
			if (from != NULL || strcmp(to, "pending") != 0)
				fail_msg("%s starts with %s -> %s", key, from ? from : "null", to);
		} else {
			if (from == NULL || strcmp(from, prev_to) != 0)
				fail_msg("%s: %s -> %s after %s", key, from ? from : "null", to, prev_to);
			if (seq == 0 ? !run_state_allowed(run_state_parse(from), run_state_parse(to)) :
			    !step_state_allowed(step_state_parse(from), step_state_parse(to)))
				fail_msg("%s: invalid %s -> %s accepted", key, from, to);
		}
		snprintf(prev_key, sizeof(prev_key), "%s", key);
		snprintf(prev_to, sizeof(prev_to), "%s", to);
		n++;
	}
	sqlite3_finalize(st);
	assert_true(n > 0);
	/* The current state of every run and step is where its chain ended. */
	assert_int_equal(sqlite3_prepare_v2(t->p->db, "SELECT count(*) FROM runs r WHERE state <> "
	    "(SELECT to_state FROM transitions WHERE run_id = r.id AND step_seq IS NULL ORDER BY "
	    "id DESC LIMIT 1)", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(t->p->db, "SELECT count(*) FROM steps s WHERE state <>"
	    " (SELECT to_state FROM transitions WHERE run_id = s.run_id AND step_seq = s.seq "
	    "ORDER BY id DESC LIMIT 1)", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
}

static int
count_runs(struct pt *t)
{
	sqlite3_stmt *st;
	int n;

	sqlite3_prepare_v2(t->p->db, "SELECT count(*) FROM runs", -1, &st, NULL);
	sqlite3_step(st);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
test_random_sequences(void **state)
{
	static const char *const wfs[] = { "issue_triage", "fix_issue", "fix_failing_tests" };
	static const char *const kinds[] = { "execution", "timeout", "auth", "policy_violation",
		"bogus" };
	struct pt t;
	unsigned seed = (unsigned)time(NULL);
	int created = 0, accepted = 0, refused = 0, paused = 0;
	json_t *out = NULL;

	(void)state;
	int sequences = getenv("PLANNER_SEQUENCES") ? atoi(getenv("PLANNER_SEQUENCES")) : SEQUENCES;
	if (getenv("PLANNER_SEED"))
		seed = (unsigned)atoi(getenv("PLANNER_SEED"));
	srandom(seed);
	print_message("seed %u (PLANNER_SEED to replay)\n", seed);
	pt_start(&t);
	assert_int_equal(pt_call(&t, "planner.projects.import", json_pack("{s:[ss]}", "repos",
	    "o/manual", "o/auto"), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:b,s:b}}",
	    "project", "o/auto", "settings", "auto_ship", 1, "auto_post", 1), NULL), 0);
	for (int seqn = 0; seqn < sequences; seqn++) {
		char id[32], st_before[32], buf[32];
		json_t *runs = json_array();
		assert_int_equal(pt_call(&t, "planner.runs.create", json_pack("{s:s,s:s,s:i,s:b}",
		    "project", random() % 2 ? "o/auto" : "o/manual", "workflow", wfs[random() % 3],
		    "issue", (int)(random() % 50) + 1, "dry_run", random() % 4 == 0), &out), 0);
		snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(out, "id")));
		json_decref(out);
		created++;
		int nops = 1 + (int)(random() % MAX_OPS);
		for (int k = 0; k < nops; k++) {
			int sseq, att, op = (int)(random() % 12), rc, expect_ok;
			char sstate[32];
			char *before, *after;
			json_t *r = pt_run(&t, id), *steps = json_object_get(r, "steps");
			json_t *last = json_array_get(steps, json_array_size(steps) - 1);
			sseq = (int)json_integer_value(json_object_get(last, "seq"));
			att = (int)json_integer_value(json_object_get(last, "attempt"));
			snprintf(sstate, sizeof(sstate), "%s", last ? json_string_value(
			    json_object_get(last, "state")) : "");
			snprintf(st_before, sizeof(st_before), "%s", json_string_value(
			    json_object_get(r, "state")));
			const char *parked = json_string_value(json_object_get(r, "parked"));
			int flagged = parked && strcmp(parked, "flagged") == 0;
			int running = strcmp(st_before, "running") == 0 &&
			    strcmp(sstate, "running") == 0;
			int awaiting = strcmp(st_before, "awaiting_approval") == 0;
			int terminal = run_state_terminal(run_state_parse(st_before));
			before = jido_json_dump(r);
			json_decref(r);
			out = NULL;
			switch (op) {
			case 0: case 1: case 2: /* a good result */
				rc = pt_call(&t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s,"
				    "s:{s:b}}", "run_id", id, "seq", sseq, "attempt", att, "status",
				    "done", "result", "no_changes", random() % 10 == 0), &out);
				expect_ok = running || !strcmp(sstate, "done") ||
				    !strcmp(sstate, "failed") || !strcmp(sstate, "skipped");
				if (!running && rc == 0) /* only as a duplicate */
					assert_true(json_is_true(json_object_get(out, "duplicate")));
				if (!running && rc != 0)
					assert_int_equal(rc, JIDO_ECONFLICT);
				break;
			case 3: /* a failed result */
				rc = pt_call(&t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s,"
				    "s:{s:s,s:s}}", "run_id", id, "seq", sseq, "attempt", att,
				    "status", "failed", "error", "kind", kinds[random() % 5], "message",
				    "it broke"), &out);
				expect_ok = running || (rc == 0 &&
				    json_is_true(json_object_get(out, "duplicate")));
				break;
			case 4: /* a stale or future attempt is never accepted */
				rc = pt_call(&t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s}",
				    "run_id", id, "seq", sseq, "attempt", att + 1 + (int)(random() % 2),
				    "status", "done"), &out);
				expect_ok = 0;
				break;
			case 5: /* approve with a real rationale */
				rc = pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s,"
				    "s:s}", "run_id", id, "decision", "approve", "rationale",
				    "looks right to me", "channel", "cli"), &out);
				expect_ok = awaiting && (!flagged || !paused);
				break;
			case 6: /* reject */
				rc = pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
				    "run_id", id, "decision", "reject", "rationale",
				    "not what the issue asked for"), &out);
				expect_ok = awaiting;
				break;
			case 7: /* a rationale that is too short is refused */
				rc = pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
				    "run_id", id, "decision", random() % 2 ? "approve" : "reject",
				    "rationale", "ok  "), &out);
				expect_ok = 0;
				if (rc != 0)
					assert_int_equal(rc, JIDO_EVALIDATION);
				break;
			case 8: /* cancel */
				rc = pt_call(&t, "planner.runs.cancel", json_pack("{s:s}", "run_id", id),
				    &out);
				expect_ok = !terminal;
				if (rc != 0)
					assert_int_equal(rc, JIDO_ECONFLICT);
				break;
			case 9: /* retry: a new linked run */
				rc = pt_call(&t, "planner.runs.retry", json_pack("{s:s}", "run_id", id),
				    &out);
				expect_ok = !strcmp(st_before, "failed") ||
				    !strcmp(st_before, "cancelled");
				if (rc == 0) {
					created++;
					assert_string_equal(json_string_value(json_object_get(out,
					    "parent_id")), id);
					json_array_append_new(runs, json_string(json_string_value(
					    json_object_get(out, "id"))));
				}
				break;
			case 10: /* the kill switch */
				paused = (int)(random() % 2);
				rc = pt_call(&t, "planner.approvals.kill_switch", json_pack("{s:b,s:s}",
				    "paused", paused, "rationale", "maintenance window"), &out);
				expect_ok = 1;
				break;
			default: /* release, or a tick */
				if (random() % 2) {
					rc = pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,"
					    "s:s}", "run_id", id, "decision", "release", "rationale",
					    "kill switch is off again"), &out);
					expect_ok = awaiting && flagged && !paused;
				} else {
					run_drive(t.p);
					run_timeouts(t.p);
					rc = 0;
					expect_ok = 1;
				}
				break;
			}
			after = snapshot(&t, id);
			if (rc != 0) {
				refused++;
				if (strcmp(before, after) != 0)
					fail_msg("op %d refused (%s) but the run changed:\n%s\n%s", op,
					    jido_err_name(rc), before, after);
			} else
				accepted++;
			if (expect_ok != (rc == 0))
				fail_msg("seed %u seq %d op %d: expected %s, got %s (run %s, step %s)",
				    seed, seqn, op, expect_ok ? "ok" : "refusal", jido_err_name(rc),
				    st_before, sstate);
			free(before);
			free(after);
			json_decref(out);
			out = NULL;
		}
		/* leave nothing active behind: cancel what is still open */
		json_array_append_new(runs, json_string(id));
		size_t i;
		json_t *v;
		json_array_foreach(runs, i, v) {
			if (!run_state_terminal(run_state_parse(pt_state(&t, json_string_value(v), buf,
			    sizeof(buf)))))
				assert_int_equal(pt_call(&t, "planner.runs.cancel", json_pack("{s:O}",
				    "run_id", v), NULL), 0);
		}
		json_decref(runs);
		if (seqn % 500 == 0)
			check_chains(&t);
	}
	check_chains(&t);
	assert_int_equal(count_runs(&t), created);
	print_message("%d sequences, %d runs, %d operations accepted, %d refused\n", sequences,
	    created, accepted, refused);
	pt_stop(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_random_sequences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
