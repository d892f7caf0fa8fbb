/*
 * flow_test.c - the planner's behaviour through its real handler and database: triggers
 * (issues.opened creates exactly one issue_triage run, the same delivery none, a /jido fix
 * from association NONE none with the reason recorded, no-ops with reasons), the mirror
 * and workbench, a fix_issue run end to end with approval (audited first; no auditor, no
 * effect), rejection, the kill switch parking a run as flagged and its release, one
 * shipping run per project, dry-run, retry linked to the old attempt, failure details,
 * a policy override that needs re-authentication, a step timing out,
 * project import and settings validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "planner_test.h"

static json_t *
ev(const char *delivery, const char *action, int number, const char *assoc, const char *body)
{
	return json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:[s],s:s,s:s,s:s}}", "type",
	    body ? "events.issue_comment" : "events.issues", "data", "delivery", delivery, "event",
	    body ? "issue_comment" : "issues", "action", action, "repo", "acme/widget", "number",
	    number, "actor", "someone", "author_association", assoc, "labels", "bug", "title",
	    "Crash on start", "body", body ? body : "it crashes", "url",
	    "https://github.com/acme/widget/issues/1");
}

static int
count(struct pt *t, const char *sql)
{
	sqlite3_stmt *st;
	int n = -1;

	if (sqlite3_prepare_v2(t->p->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
setup_project(struct pt *t)
{
	json_t *out = NULL;

	assert_int_equal(pt_call(t, "planner.projects.import", json_pack("{s:[ss]}", "repos",
	    "acme/widget", "acme/gadget"), &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "created")), 2);
	json_decref(out);
}

static void
test_triggers(void **state)
{
	struct pt t;
	json_t *out = NULL;

	(void)state;
	pt_start(&t);
	setup_project(&t);
	/* issues.opened: exactly one issue_triage run */
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-1", "opened", 1, "NONE", NULL),
	    &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "outcome")), "run");
	json_decref(out);
	assert_int_equal(count(&t, "SELECT count(*) FROM runs WHERE workflow = 'issue_triage'"), 1);
	/* the same delivery again: nothing new */
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-1", "opened", 1, "NONE", NULL),
	    &out), 0);
	assert_true(json_is_true(json_object_get(out, "duplicate")));
	json_decref(out);
	assert_int_equal(count(&t, "SELECT count(*) FROM runs"), 1);
	/* /jido fix from NONE: refused, reason recorded */
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-2", "created", 1, "NONE",
	    "/jido fix"), &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "outcome")), "refused");
	json_decref(out);
	assert_int_equal(count(&t, "SELECT count(*) FROM runs"), 1);
	assert_int_equal(pt_call(&t, "planner.deliveries.list", json_pack("{s:s}", "delivery",
	    "d-2"), &out), 0);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(json_object_get(
	    out, "deliveries"), 0), "reason")), "author_association NONE"));
	json_decref(out);
	/* /jido fix from a collaborator: a fix_issue run */
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-3", "created", 1,
	    "COLLABORATOR", "  /jido fix\nplease"), &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "outcome")), "run");
	json_decref(out);
	/* a different delivery for the same issue and workflow while it runs: no second run */
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-4", "created", 1, "OWNER",
	    "/jido fix"), &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "outcome")), "noop");
	assert_non_null(strstr(json_string_value(json_object_get(out, "reason")), "already active"));
	json_decref(out);
	/* an unknown repo and a disabled project: no-ops with reasons */
	json_t *e = ev("d-5", "opened", 2, "OWNER", NULL);
	json_object_set_new(json_object_get(e, "data"), "repo", json_string("other/repo"));
	assert_int_equal(pt_call(&t, "planner.events.ingest", e, &out), 0);
	assert_non_null(strstr(json_string_value(json_object_get(out, "reason")),
	    "no project for repo 'other/repo'"));
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:b}", "project",
	    "acme/widget", "enabled", 0), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.events.ingest", ev("d-6", "opened", 3, "OWNER", NULL),
	    &out), 0);
	assert_non_null(strstr(json_string_value(json_object_get(out, "reason")), "disabled"));
	json_decref(out);
	assert_int_equal(count(&t, "SELECT count(*) FROM runs"), 2);
	/* bad events change nothing */
	assert_int_equal(pt_call(&t, "planner.events.ingest", json_pack("{s:s,s:{s:s}}", "type",
	    "events.issues", "data", "repo", "acme/widget"), NULL), JIDO_EVALIDATION);
	assert_int_equal(count(&t, "SELECT count(*) FROM deliveries"), 6);
	/* the mirror and the workbench */
	assert_int_equal(pt_call(&t, "planner.workbench", json_object(), &out), 0);
	json_t *repo = json_array_get(json_object_get(out, "repos"), 1);
	assert_string_equal(json_string_value(json_object_get(repo, "full_name")), "acme/widget");
	assert_int_equal(json_integer_value(json_object_get(repo, "open_issue_count")), 2);
	json_t *item = json_array_get(json_object_get(repo, "open_issues"), 0);
	assert_non_null(json_object_get(item, "latest_run"));
	assert_false(json_is_true(json_object_get(item, "stale")));
	json_decref(out);
	/* planner.issues.list: the mirror's issues, filtered by project and state */
	assert_int_equal(pt_call(&t, "planner.issues.list", json_pack("{s:s,s:s}", "project",
	    "acme/widget", "state", "open"), &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 2);
	item = json_array_get(json_object_get(out, "issues"), 0);
	assert_string_equal(json_string_value(json_object_get(item, "repo")), "acme/widget");
	assert_string_equal(json_string_value(json_object_get(item, "state")), "open");
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.issues.list", json_pack("{s:i}", "limit", 1), &out),
	    0);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 1);
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.issues.list", json_pack("{s:s}", "state", "merged"),
	    NULL), JIDO_EVALIDATION);
	assert_int_equal(pt_call(&t, "planner.issues.list", json_pack("{s:i}", "limit", 0), NULL),
	    JIDO_EVALIDATION);
	assert_int_equal(pt_call(&t, "planner.issues.list", json_pack("{s:s}", "project",
	    "acme/none"), NULL), JIDO_ENOTFOUND);
	pt_stop(&t);
}

/* Finish the current running step with a good result (and optional result fields). */
static void
finish_step(struct pt *t, const char *id, json_t *result)
{
	int seq, att;
	char st[32];

	pt_cur_step(t, id, &seq, &att, st, sizeof(st));
	assert_string_equal(st, "running");
	assert_int_equal(pt_call(t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s,s:o,"
	    "s:{s:f}}", "run_id", id, "seq", seq, "attempt", att, "status", "done", "result",
	    result ? result : json_object(), "usage", "cost_usd", 0.25), NULL), 0);
}

static char *
new_run(struct pt *t, const char *project, const char *wf, int dry)
{
	json_t *out = NULL;
	char *id;

	assert_int_equal(pt_call(t, "planner.runs.create", json_pack("{s:s,s:s,s:i,s:b}",
	    "project", project, "workflow", wf, "issue", 5, "dry_run", dry), &out), 0);
	id = strdup(json_string_value(json_object_get(out, "id")));
	json_decref(out);
	return id;
}

/* planner.steps.durations counts finished steps by kind into cumulative buckets. */
static void
test_step_durations(void **state)
{
	struct pt t;
	json_t *out = NULL, *k, *b;

	(void)state;
	pt_start(&t);
	setup_project(&t);
	char *id = new_run(&t, "acme/widget", "fix_issue", 0);
	finish_step(&t, id, json_pack("{s:i}", "duration_ms", 40));     /* fetch: <= 100 ms */
	finish_step(&t, id, json_pack("{s:i}", "duration_ms", 7000));   /* plan (agent) */
	finish_step(&t, id, json_pack("{s:i}", "duration_ms", 2000));   /* code (agent) */
	finish_step(&t, id, NULL);                                      /* test: no duration */
	assert_int_equal(pt_call(&t, "planner.steps.durations", NULL, &out), 0);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(out, "le_ms"), 0)), 100);
	k = json_object_get(json_object_get(out, "kinds"), "agent");
	assert_non_null(k);
	assert_int_equal(json_integer_value(json_object_get(k, "count")), 2);
	assert_int_equal(json_integer_value(json_object_get(k, "sum_ms")), 9000);
	b = json_object_get(k, "buckets");
	assert_int_equal(json_integer_value(json_array_get(b, 2)), 0);  /* <= 1 s */
	assert_int_equal(json_integer_value(json_array_get(b, 3)), 1);  /* <= 5 s */
	assert_int_equal(json_integer_value(json_array_get(b, 4)), 2);  /* <= 10 s */
	k = json_object_get(json_object_get(out, "kinds"), "fetch_issue");
	assert_non_null(k);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(k, "buckets"), 0)), 1);
	json_decref(out);
	free(id);
	pt_stop(&t);
}

static void
test_fix_issue_with_approval(void **state)
{
	struct pt t;
	json_t *out = NULL;
	char buf[32];

	(void)state;
	pt_start(&t);
	setup_project(&t);
	char *id = new_run(&t, "acme/widget", "fix_issue", 0);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "running");
	finish_step(&t, id, NULL);                                  /* fetch */
	finish_step(&t, id, NULL);                                  /* plan */
	finish_step(&t, id, json_pack("{s:s}", "diff_summary", "+3 -1 in src/a.c")); /* code */
	finish_step(&t, id, json_pack("{s:s}", "test_summary", "42 passed"));          /* test */
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "awaiting_approval");
	json_t *r = pt_run(&t, id);
	json_t *ap = json_object_get(r, "approval");
	assert_string_equal(json_string_value(json_object_get(ap, "diff_summary")),
	    "+3 -1 in src/a.c");
	assert_string_equal(json_string_value(json_object_get(ap, "test_summary")), "42 passed");
	assert_true(json_real_value(json_object_get(ap, "cost_usd")) > 0.9);
	json_decref(r);
	/* a short rationale is refused */
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", id, "decision", "approve", "rationale", "ok"), NULL), JIDO_EVALIDATION);
	/* no auditor: unavailable, nothing changes */
	t.audit_down = 1;
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", id, "decision", "approve", "rationale", "the diff is minimal"), &out),
	    JIDO_EUNAVAIL);
	json_decref(out);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "awaiting_approval");
	assert_int_equal(count(&t, "SELECT count(*) FROM approvals"), 0);
	t.audit_down = 0;
	int audits = t.audits;
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s,s:s}",
	    "run_id", id, "decision", "approve", "rationale", "the diff is minimal", "channel",
	    "web"), NULL), 0);
	assert_int_equal(t.audits, audits + 1);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "running");  /* ship dispatched */
	finish_step(&t, id, json_pack("{s:s}", "pr_url", "https://github.com/acme/widget/pull/9"));
	r = pt_run(&t, id);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "completed");
	assert_string_equal(json_string_value(json_object_get(r, "outcome")), "done");
	json_decref(r);
	/* a decision on a finished run: conflict */
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", id, "decision", "approve", "rationale", "again, why not"), NULL),
	    JIDO_ECONFLICT);
	free(id);

	/* reject cancels (no retry target on the approval step) */
	id = new_run(&t, "acme/widget", "issue_triage", 0);
	for (int i = 0; i < 3; i++)
		finish_step(&t, id, NULL);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "awaiting_approval");
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", id, "decision", "reject", "rationale", "the reply is too curt"), NULL), 0);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "cancelled");
	free(id);
	pt_stop(&t);
}

static void
test_kill_switch_ship_lock_dry_run(void **state)
{
	struct pt t;
	json_t *out = NULL;
	char buf[32];

	(void)state;
	pt_start(&t);
	setup_project(&t);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:b}}",
	    "project", "acme/widget", "settings", "auto_ship", 1), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.approvals.kill_switch", json_pack("{s:b,s:s}",
	    "paused", 1, "rationale", "incident in progress"), NULL), 0);
	char *a = new_run(&t, "acme/widget", "fix_failing_tests", 0);
	for (int i = 0; i < 3; i++)
		finish_step(&t, a, NULL);
	/* auto_ship skips the approval, the kill switch parks ship as flagged */
	json_t *r = pt_run(&t, a);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "awaiting_approval");
	assert_string_equal(json_string_value(json_object_get(r, "parked")), "flagged");
	json_decref(r);
	assert_int_equal(pt_call(&t, "planner.approvals.list", json_object(), &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "flagged")), 1);
	json_decref(out);
	/* release while the switch is on: conflict */
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", a, "decision", "release", "rationale", "incident is over"), NULL),
	    JIDO_ECONFLICT);
	assert_int_equal(pt_call(&t, "planner.approvals.kill_switch", json_pack("{s:b,s:s}",
	    "paused", 0, "rationale", "incident resolved"), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", a, "decision", "release", "rationale", "incident is over"), NULL), 0);
	assert_string_equal(pt_state(&t, a, buf, sizeof(buf)), "running"); /* shipping now */
	/* a second run of the same project queues behind the shipping one */
	char *b = new_run(&t, "acme/widget", "fix_failing_tests", 0);
	for (int i = 0; i < 3; i++)
		finish_step(&t, b, NULL);
	r = pt_run(&t, b);
	json_t *steps = json_object_get(r, "steps"), *last = json_array_get(steps,
	    json_array_size(steps) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "kind")), "ship");
	assert_string_equal(json_string_value(json_object_get(last, "state")), "pending");
	assert_non_null(strstr(json_string_value(json_object_get(last, "queued")), a));
	json_decref(r);
	finish_step(&t, a, NULL); /* a shipped */
	assert_string_equal(pt_state(&t, a, buf, sizeof(buf)), "completed");
	run_drive(t.p);
	finish_step(&t, b, NULL); /* b ships after */
	assert_string_equal(pt_state(&t, b, buf, sizeof(buf)), "completed");
	free(a);
	free(b);
	/* dry-run: everything but ship */
	char *d = new_run(&t, "acme/widget", "fix_failing_tests", 1);
	for (int i = 0; i < 3; i++)
		finish_step(&t, d, NULL);
	r = pt_run(&t, d);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "completed");
	assert_string_equal(json_string_value(json_object_get(r, "outcome")), "dry_run");
	steps = json_object_get(r, "steps");
	last = json_array_get(steps, json_array_size(steps) - 1);
	assert_string_equal(json_string_value(json_object_get(last, "state")), "skipped");
	json_decref(r);
	free(d);
	pt_stop(&t);
}

/* The per-project guard (guard.c): a limit of one push an hour; the second ship parks as
 * frozen, releasing it is `frozen` until the owner unfreezes the project. */
static void
test_project_guard(void **state)
{
	struct pt t;
	json_t *out = NULL;
	char buf[32];

	(void)state;
	setenv("JIDO_PLANNER_GUARD_PUSHES_PER_HOUR", "1", 1);
	pt_start(&t);
	unsetenv("JIDO_PLANNER_GUARD_PUSHES_PER_HOUR");
	setup_project(&t);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:b}}",
	    "project", "acme/widget", "settings", "auto_ship", 1), NULL), 0);
	char *a = new_run(&t, "acme/widget", "fix_failing_tests", 0);
	for (int i = 0; i < 4; i++) /* three steps, then the ship */
		finish_step(&t, a, NULL);
	assert_string_equal(pt_state(&t, a, buf, sizeof(buf)), "completed");
	char *b = new_run(&t, "acme/widget", "fix_failing_tests", 0);
	for (int i = 0; i < 3; i++)
		finish_step(&t, b, NULL);
	json_t *r = pt_run(&t, b);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "awaiting_approval");
	assert_string_equal(json_string_value(json_object_get(r, "parked")), "frozen");
	json_decref(r);
	assert_int_equal(pt_call(&t, "planner.guard.list", json_object(), &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "frozen")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out,
	    "frozen"), 0), "kind")), "push");
	json_decref(out);
	int before = t.audits;
	guard_announce(t.p); /* the tick's: audited once */
	guard_announce(t.p);
	assert_int_equal(t.audits, before + 1);
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", b, "decision", "approve", "rationale", "ship it anyway"), NULL),
	    JIDO_EFROZEN);
	assert_int_equal(pt_call(&t, "planner.guard.unfreeze", json_pack("{s:s}", "project",
	    "acme/nothing"), NULL), JIDO_ENOTFOUND);
	assert_int_equal(pt_call(&t, "planner.guard.unfreeze", json_pack("{s:s}", "project",
	    "acme/widget"), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.guard.unfreeze", json_pack("{s:s}", "project",
	    "acme/widget"), NULL), JIDO_ENOTFOUND);
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", b, "decision", "approve", "rationale", "owner looked at it"), NULL), 0);
	assert_string_equal(pt_state(&t, b, buf, sizeof(buf)), "running"); /* shipping now */
	finish_step(&t, b, NULL);
	assert_string_equal(pt_state(&t, b, buf, sizeof(buf)), "completed");
	free(a);
	free(b);
	pt_stop(&t);
}

static void
test_failure_retry_and_no_changes(void **state)
{
	struct pt t;
	json_t *out = NULL;
	int seq, att;
	char st[32];

	(void)state;
	pt_start(&t);
	setup_project(&t);
	char *id = new_run(&t, "acme/gadget", "fix_issue", 0);
	/* fetch has retries 2: two failures retry, the third fails the run */
	for (int i = 0; i < 3; i++) {
		pt_cur_step(&t, id, &seq, &att, st, sizeof(st));
		assert_string_equal(st, "running");
		assert_int_equal(att, i + 1);
		assert_int_equal(pt_call(&t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s,"
		    "s:{s:s,s:s}}", "run_id", id, "seq", seq, "attempt", att, "status", "failed",
		    "error", "kind", "auth", "message", "token refused"), NULL), 0);
	}
	json_t *r = pt_run(&t, id);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "failed");
	json_t *f = json_object_get(r, "failure");
	assert_string_equal(json_string_value(json_object_get(f, "kind")), "auth");
	assert_non_null(strstr(json_string_value(json_object_get(f, "hint")), "vault"));
	json_decref(r);
	/* retry: a new attempt linked to the old, which stays readable */
	assert_int_equal(pt_call(&t, "planner.runs.retry", json_pack("{s:s}", "run_id", id), &out),
	    0);
	assert_string_equal(json_string_value(json_object_get(out, "parent_id")), id);
	assert_int_equal(json_integer_value(json_object_get(out, "attempt")), 2);
	char *id2 = strdup(json_string_value(json_object_get(out, "id")));
	json_decref(out);
	r = pt_run(&t, id);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "failed");
	json_decref(r);
	/* retrying a run that is not failed or cancelled: conflict */
	assert_int_equal(pt_call(&t, "planner.runs.retry", json_pack("{s:s}", "run_id", id2), NULL),
	    JIDO_ECONFLICT);
	/* an agent finding nothing to change completes the run as no_changes_needed */
	finish_step(&t, id2, NULL);
	finish_step(&t, id2, json_pack("{s:b}", "no_changes", 1));
	r = pt_run(&t, id2);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "completed");
	assert_string_equal(json_string_value(json_object_get(r, "outcome")), "no_changes_needed");
	json_decref(r);
	/* the same result again: a duplicate, not a second completion */
	assert_int_equal(pt_call(&t, "planner.steps.result", json_pack("{s:s,s:i,s:i,s:s}",
	    "run_id", id2, "seq", 2, "attempt", 1, "status", "done"), &out), 0);
	assert_true(json_is_true(json_object_get(out, "duplicate")));
	json_decref(out);
	assert_int_equal(count(&t, "SELECT count(*) FROM transitions WHERE to_state = 'completed'"
	    " AND step_seq IS NULL"), 1);
	free(id);
	free(id2);
	pt_stop(&t);
}

static void
test_policy_override_and_timeout(void **state)
{
	struct pt t;
	json_t *out = NULL;
	char buf[32];

	(void)state;
	pt_start(&t);
	setup_project(&t);
	/* a failed policy check: approving needs a fresh re-authentication */
	char *id = new_run(&t, "acme/widget", "fix_issue", 0);
	finish_step(&t, id, NULL);
	finish_step(&t, id, NULL);
	finish_step(&t, id, json_pack("{s:{s:b,s:s}}", "policy", "passed", 0, "reason",
	    "diff touches .github/workflows"));
	finish_step(&t, id, NULL);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "awaiting_approval");
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s}",
	    "run_id", id, "decision", "approve", "rationale", "I accept this risk"), &out),
	    JIDO_EAUTHZ);
	assert_non_null(strstr(json_string_value(json_object_get(out, "message")),
	    "re-authentication"));
	json_decref(out);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "awaiting_approval");
	assert_int_equal(pt_call(&t, "planner.approvals.decide", json_pack("{s:s,s:s,s:s,s:b}",
	    "run_id", id, "decision", "approve", "rationale", "I accept this risk",
	    "reauthenticated", 1), NULL), 0);
	assert_string_equal(pt_state(&t, id, buf, sizeof(buf)), "running");
	free(id);
	/* a step past its deadline fails with timeout and the hint */
	id = new_run(&t, "acme/widget", "fix_failing_tests", 0);
	assert_int_equal(sqlite3_exec(t.p->db, "UPDATE steps SET deadline_ms = 1 WHERE state = "
	    "'running'", NULL, NULL, NULL), SQLITE_OK);
	run_timeouts(t.p);
	json_t *r = pt_run(&t, id);
	assert_string_equal(json_string_value(json_object_get(r, "state")), "failed");
	json_t *f = json_object_get(r, "failure");
	assert_string_equal(json_string_value(json_object_get(f, "kind")), "timeout");
	assert_non_null(strstr(json_string_value(json_object_get(f, "hint")), "timeout_s"));
	json_decref(r);
	free(id);
	pt_stop(&t);
}

static void
test_projects(void **state)
{
	struct pt t;
	json_t *out = NULL;

	(void)state;
	pt_start(&t);
	setup_project(&t);
	assert_int_equal(pt_call(&t, "planner.projects.import", json_pack("{s:[ss]}", "repos",
	    "ACME/Widget", "acme/third"), &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "created")), 1);
	assert_int_equal(json_array_size(json_object_get(out, "existing")), 1);
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.projects.import", json_pack("{s:[s]}", "repos",
	    "not a repo"), NULL), JIDO_EVALIDATION);
	/* without data.repos the planner asks ingest, which is not running here */
	assert_int_equal(pt_call(&t, "planner.projects.import", json_object(), NULL), JIDO_EUNAVAIL);
	assert_int_equal(pt_call(&t, "planner.projects.get", json_pack("{s:s}", "project",
	    "acme/widget"), &out), 0);
	json_t *s = json_object_get(out, "settings");
	assert_false(json_is_true(json_object_get(s, "auto_ship")));
	assert_false(json_is_true(json_object_get(s, "auto_post")));
	assert_string_equal(json_string_value(json_object_get(s, "branch_prefix")), "jidocode/");
	assert_string_equal(json_string_value(json_object_get(out, "clone_status")), "pending");
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:i}}",
	    "project", "acme/widget", "settings", "auto_shipp", 1), &out), JIDO_EVALIDATION);
	assert_non_null(strstr(json_string_value(json_object_get(out, "message")), "auto_shipp"));
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:{s:[s]}}}",
	    "project", "acme/widget", "settings", "triggers", "allowed_associations", "ROOT"),
	    NULL), JIDO_EVALIDATION);
	assert_int_equal(pt_call(&t, "planner.projects.update", json_pack("{s:s,s:{s:{s:b}}}",
	    "project", "acme/widget", "settings", "pr", "draft", 0), &out), 0);
	assert_false(json_is_true(json_object_get(json_object_get(json_object_get(out, "settings"),
	    "pr"), "draft")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(json_object_get(out,
	    "settings"), "pr"), "labels")), 1); /* the rest of pr kept */
	json_decref(out);
	/* clone status: pending -> cloning -> error (reason) -> pending (retry) */
	assert_int_equal(pt_call(&t, "planner.projects.clone", json_pack("{s:s,s:s}", "project",
	    "acme/widget", "status", "ready"), NULL), JIDO_ECONFLICT);
	assert_int_equal(pt_call(&t, "planner.projects.clone", json_pack("{s:s,s:s}", "project",
	    "acme/widget", "status", "cloning"), NULL), 0);
	assert_int_equal(pt_call(&t, "planner.projects.clone", json_pack("{s:s,s:s,s:s}", "project",
	    "acme/widget", "status", "error", "reason", "repository not found"), &out), 0);
	assert_string_equal(json_string_value(json_object_get(out, "clone_error")),
	    "repository not found");
	json_decref(out);
	assert_int_equal(pt_call(&t, "planner.projects.clone", json_pack("{s:s,s:s}", "project",
	    "acme/widget", "status", "pending"), NULL), 0);
	pt_stop(&t);
}

/* The periodic re-send of running steps stops at the first receiver that does not answer:
 * the planner does not sit out one call timeout per running step. */
static void
test_resend_stops_at_a_silent_executor(void **state)
{
	struct pt t;
	char *ids[3];

	(void)state;
	pt_start(&t);
	setup_project(&t);
	for (int i = 0; i < 3; i++)
		ids[i] = new_run(&t, "acme/widget", "fix_issue", 0);
	t.p->call_timeout_ms = 100;
	t.exec_silent = 1;
	run_recover(t.p);
	assert_int_equal(t.unanswered, 1);
	t.exec_silent = 0;
	run_recover(t.p); /* answered again: every running step is re-sent */
	for (int i = 0; i < 3; i++) {
		char st[32];
		int seq, att;
		pt_cur_step(&t, ids[i], &seq, &att, st, sizeof(st));
		assert_string_equal(st, "running");
		free(ids[i]);
	}
	assert_int_equal(t.unanswered, 1);
	pt_stop(&t);
}

/* The workbench: the second call is the cached answer, a bad limit is refused (with
 * nothing leaked either way: the ASan build's LeakSanitizer checks). */
static void
test_workbench_cached(void **state)
{
	struct pt t;
	json_t *a = NULL, *b = NULL;

	(void)state;
	pt_start(&t);
	setup_project(&t);
	assert_int_equal(pt_call(&t, "planner.workbench", json_pack("{s:i}", "limit", 5), &a), 0);
	assert_int_equal(pt_call(&t, "planner.workbench", json_pack("{s:i}", "limit", 5), &b), 0);
	assert_true(json_equal(a, b));
	assert_true(json_array_size(json_object_get(a, "repos")) >= 1);
	json_decref(a);
	json_decref(b);
	assert_int_equal(pt_call(&t, "planner.workbench", json_pack("{s:i}", "limit", -1), &a),
	    JIDO_EVALIDATION);
	json_decref(a);
	pt_stop(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_triggers),
		cmocka_unit_test(test_fix_issue_with_approval),
		cmocka_unit_test(test_step_durations),
		cmocka_unit_test(test_kill_switch_ship_lock_dry_run),
		cmocka_unit_test(test_project_guard),
		cmocka_unit_test(test_failure_retry_and_no_changes),
		cmocka_unit_test(test_policy_override_and_timeout),
		cmocka_unit_test(test_projects),
		cmocka_unit_test(test_resend_stops_at_a_silent_executor),
		cmocka_unit_test(test_workbench_cached),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
