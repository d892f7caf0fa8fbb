/*
 * run.c - the run engine: creating runs pinned to a workflow text, checked state changes
 * recorded as transitions (published on runs.pub only after commit), advancing a run
 * through its steps (skip, park for approval or the shipping kill switch, queue behind
 * another shipping run or a runner limit, dispatch), step results, retries, on_failure
 * targets, timeouts, cancel, and recovery after a restart.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

#define RUN_VISIT_LIMIT 3 /* how often one step may run in a run (on_failure loops) */

static const char *const failure_kinds[] = { "validation", "execution", "auth", "timeout",
	"policy_violation", NULL };

static const char *
failure_hint(const char *kind)
{
	if (strcmp(kind, "timeout") == 0)
		return "the step ran out of time: raise its timeout_s or make the task smaller, then retry";
	if (strcmp(kind, "auth") == 0)
		return "a credential was refused: check the token or provider key in the vault, then retry";
	if (strcmp(kind, "policy_violation") == 0)
		return "the change broke a project policy (paths, diff size): adjust the settings or the task";
	if (strcmp(kind, "validation") == 0)
		return "the step's input was invalid: check the workflow definition and project settings";
	return "the step failed while running: read its output and artifacts, then retry the run";
}

/* ------------------------------------------------------------ pinned workflows */

/* The workflow a run is pinned to, parsed from its stored text (cached by hash). */
static const struct workflow *
run_workflow(struct planner *p, const char *hash)
{
	sqlite3_stmt *st;
	struct workflow *w = NULL, **nw;
	char why[512];

	for (int i = 0; i < p->npinned; i++)
		if (strcmp(p->pinned[i]->hash, hash) == 0)
			return p->pinned[i];
	st = store_query(p, "SELECT source, body FROM workflow_texts WHERE hash = ?", "s", hash);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		const char *body = store_col_text(st, 1);
		if (workflow_parse(store_col_text(st, 0), body, strlen(body), &w, why,
		    sizeof(why)) != 0)
			jido_error("planner.pinned_invalid", "{s:s,s:s}", "hash", hash, "why", why);
	}
	sqlite3_finalize(st);
	if (w == NULL)
		return NULL;
	if ((nw = realloc(p->pinned, (size_t)(p->npinned + 1) * sizeof(*nw))) == NULL) {
		workflow_free(w);
		return NULL;
	}
	p->pinned = nw;
	p->pinned[p->npinned++] = w;
	return w;
}

const struct workflow *
run_workflow_of(struct planner *p, const char *hash)
{
	return run_workflow(p, hash);
}

/* ------------------------------------------------------------ recorded transitions */

static int
run_record(struct planner *p, const char *run_id, int seq, const char *from, const char *to,
    const char *reason)
{
	p->dirty = 1;
	if (seq > 0)
		return store_exec(p, "INSERT INTO transitions(run_id, step_seq, from_state, to_state,"
		    " reason, at_ms) VALUES (?, ?, ?, ?, ?, ?)", "sdsssi", run_id, seq, from, to,
		    reason ? reason : "", store_now_ms());
	return store_exec(p, "INSERT INTO transitions(run_id, step_seq, from_state, to_state,"
	    " reason, at_ms) VALUES (?, NULL, ?, ?, ?, ?)", "ssssi", run_id, from, to,
	    reason ? reason : "", store_now_ms());
}

int
run_set_state(struct planner *p, const char *run_id, int to, const char *reason)
{
	sqlite3_stmt *st = store_query(p, "SELECT state FROM runs WHERE id = ?", "s", run_id);
	int from = -1;

	if (st == NULL)
		return JIDO_EINTERNAL;
	if (sqlite3_step(st) == SQLITE_ROW)
		from = run_state_parse(store_col_text(st, 0));
	sqlite3_finalize(st);
	if (from < 0)
		return JIDO_ENOTFOUND;
	if (!run_state_allowed(from, to))
		return JIDO_ECONFLICT;
	if (store_exec(p, "UPDATE runs SET state = ?, updated_ms = ? WHERE id = ?", "sis",
	    run_state_name(to), store_now_ms(), run_id) != 0)
		return JIDO_EINTERNAL;
	return run_record(p, run_id, 0, run_state_name(from), run_state_name(to), reason);
}

int
step_set_state(struct planner *p, const char *run_id, int seq, int to, const char *reason)
{
	sqlite3_stmt *st = store_query(p, "SELECT state FROM steps WHERE run_id = ? AND seq = ?",
	    "sd", run_id, seq);
	int from = -1;

	if (st == NULL)
		return JIDO_EINTERNAL;
	if (sqlite3_step(st) == SQLITE_ROW)
		from = step_state_parse(store_col_text(st, 0));
	sqlite3_finalize(st);
	if (from < 0)
		return JIDO_ENOTFOUND;
	if (!step_state_allowed(from, to))
		return JIDO_ECONFLICT;
	if (store_exec(p, "UPDATE steps SET state = ?, updated_ms = ? WHERE run_id = ? AND seq = ?",
	    "sisd", step_state_name(to), store_now_ms(), run_id, seq) != 0)
		return JIDO_EINTERNAL;
	return run_record(p, run_id, seq, step_state_name(from), step_state_name(to), reason);
}

void
run_publish_pending(struct planner *p)
{
	sqlite3_stmt *st;
	int64_t last = 0;

	for (;;) {
		int n = 0;
		st = store_query(p, "SELECT id, run_id, step_seq, from_state, to_state, reason, at_ms"
		    " FROM transitions WHERE published = 0 AND id > ? ORDER BY id LIMIT 500", "i", last);
		if (st == NULL)
			return;
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *rid = store_col_text(st, 1);
			int seq = sqlite3_column_int(st, 2);
			json_t *d = json_pack("{s:s,s:s?,s:s,s:s,s:I}", "run_id", rid, "from",
			    sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL : store_col_text(st, 3),
			    "to", store_col_text(st, 4), "reason", store_col_text(st, 5), "at_ms",
			    (json_int_t)sqlite3_column_int64(st, 6));
			if (seq > 0)
				json_object_set_new(d, "seq", json_integer(seq));
			jido_srv_publish(p->srv, seq > 0 ? "runs.step" : "runs.state", rid, d);
			last = sqlite3_column_int64(st, 0);
			n++;
		}
		sqlite3_finalize(st);
		if (n == 0)
			break;
		store_exec(p, "UPDATE transitions SET published = 1 WHERE published = 0 AND id <= ?",
		    "i", last);
		if (n < 500)
			break;
	}
}

/* ------------------------------------------------------------ creating runs */

int
run_create(struct planner *p, const struct run_create *rc, const struct workflow *pin,
    int intxn, char *run_id, size_t idlen, char *why, size_t whylen)
{
	const struct workflow *w = pin ? pin : wf_set_find(&p->wf, rc->workflow);
	char reason[160];
	int err;

	if (w == NULL)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "workflow '%s' is not loaded",
		    rc->workflow ? rc->workflow : "(none)");
	store_run_id_new(run_id, idlen);
	if (!intxn && store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	snprintf(reason, sizeof(reason), "created (%s%s%s)", rc->trigger_kind,
	    rc->delivery ? ", delivery " : "", rc->delivery ? rc->delivery : "");
	if ((err = store_exec(p, "INSERT OR IGNORE INTO workflow_texts(hash, name, version, source,"
	    " body) VALUES (?, ?, ?, ?, ?)", "ssdss", w->hash, w->name, w->version, w->source,
	    w->text)) != 0 ||
	    (err = store_exec(p, "INSERT INTO runs(id, project_id, workflow, wf_version, wf_hash,"
	    " state, issue, dry_run, trigger_kind, delivery, actor, parent_id, attempt, created_ms,"
	    " updated_ms) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "sisdsddssssdii", run_id, rc->project_id, w->name, w->version, w->hash, rc->issue,
	    rc->dry_run ? 1 : 0, rc->trigger_kind, rc->delivery, rc->actor ? rc->actor : "",
	    rc->parent, rc->attempt > 0 ? rc->attempt : 1, store_now_ms(), store_now_ms())) != 0 ||
	    (err = run_record(p, run_id, 0, NULL, "pending", reason)) != 0) {
		if (!intxn)
			store_rollback(p);
		return jido_fail(err, why, whylen, "cannot store the run");
	}
	if (!intxn && store_commit(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot commit the run");
	return 0;
}

/* ------------------------------------------------------------ advancing */

struct run_row {
	char id[32];
	int64_t project_id;
	char hash[65];
	int state;
	int dry_run;
	int issue;
	int cur_seq;
	char parked[16];
	char workflow[64];
};

static int
run_row_load(struct planner *p, const char *run_id, struct run_row *r)
{
	sqlite3_stmt *st = store_query(p, "SELECT id, project_id, wf_hash, state, dry_run, issue,"
	    " cur_seq, parked, workflow FROM runs WHERE id = ?", "s", run_id);
	int rc = JIDO_ENOTFOUND;

	if (st == NULL)
		return JIDO_EINTERNAL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(r->id, sizeof(r->id), "%s", store_col_text(st, 0));
		r->project_id = sqlite3_column_int64(st, 1);
		snprintf(r->hash, sizeof(r->hash), "%s", store_col_text(st, 2));
		r->state = run_state_parse(store_col_text(st, 3));
		r->dry_run = sqlite3_column_int(st, 4);
		r->issue = sqlite3_column_int(st, 5);
		r->cur_seq = sqlite3_column_int(st, 6);
		snprintf(r->parked, sizeof(r->parked), "%s", store_col_text(st, 7));
		snprintf(r->workflow, sizeof(r->workflow), "%s", store_col_text(st, 8));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Finish a run in state `to` with the given failure details (NULL for success). */
static int
run_finish(struct planner *p, const char *run_id, int to, const char *outcome,
    const char *fkind, const char *fmsg, const char *reason)
{
	int rc;
	char last_good[64] = "";

	if ((rc = run_set_state(p, run_id, to, reason)) != 0)
		return rc;
	if (to == RUN_FAILED) {
		sqlite3_stmt *st = store_query(p, "SELECT step FROM steps WHERE run_id = ? AND "
		    "state = 'done' ORDER BY seq DESC LIMIT 1", "s", run_id);
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			snprintf(last_good, sizeof(last_good), "%s", store_col_text(st, 0));
		sqlite3_finalize(st);
		return store_exec(p, "UPDATE runs SET failure_kind = ?, failure_message = ?, "
		    "last_good_step = ?, hint = ?, parked = NULL WHERE id = ?", "sssss", fkind, fmsg,
		    last_good[0] ? last_good : NULL, failure_hint(fkind), run_id);
	}
	return store_exec(p, "UPDATE runs SET outcome = ?, parked = NULL WHERE id = ?", "ss",
	    outcome, run_id);
}

/* Add step `idx` of w as the run's next step (pending). Fails the run when the step has
 * already run RUN_VISIT_LIMIT times (an on_failure loop that does not converge). */
static int
run_step_add(struct planner *p, struct run_row *r, const struct workflow *w, int idx)
{
	const struct wf_step *s = &w->steps[idx];
	sqlite3_stmt *st = store_query(p, "SELECT count(*) FROM steps WHERE run_id = ? AND step = ?",
	    "ss", r->id, s->id);
	int visits = 0, rc;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		visits = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (visits >= RUN_VISIT_LIMIT) {
		char msg[160];
		snprintf(msg, sizeof(msg), "step '%s' reached its limit of %d runs", s->id,
		    RUN_VISIT_LIMIT);
		return run_finish(p, r->id, RUN_FAILED, NULL, "execution", msg, msg);
	}
	r->cur_seq++;
	if ((rc = store_exec(p, "INSERT INTO steps(run_id, seq, step, kind, state, runner, "
	    "created_ms, updated_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", "sdsssii", r->id,
	    r->cur_seq, s->id, step_kind_name(s->kind), s->runner, store_now_ms(),
	    store_now_ms())) != 0 ||
	    (rc = store_exec(p, "UPDATE runs SET cur_seq = ?, updated_ms = ? WHERE id = ?", "dis",
	    r->cur_seq, store_now_ms(), r->id)) != 0)
		return rc;
	return run_record(p, r->id, r->cur_seq, NULL, "pending", s->id);
}

/* After step `idx` finished well: the next step, or complete the run. */
static int
run_step_next(struct planner *p, struct run_row *r, const struct workflow *w, int idx)
{
	if (w->steps[idx].next < 0)
		return run_finish(p, r->id, RUN_COMPLETED, r->dry_run ? "dry_run" : "done", NULL,
		    NULL, "last step finished");
	return run_step_add(p, r, w, w->steps[idx].next);
}

/* The current step's index in w and its state; -1 when the run has no step yet. */
static int
run_cur_step(struct planner *p, const struct run_row *r, const struct workflow *w, int *state,
    int *attempt)
{
	sqlite3_stmt *st = store_query(p, "SELECT step, state, attempt FROM steps WHERE run_id = ? "
	    "AND seq = ?", "sd", r->id, r->cur_seq);
	int idx = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		idx = workflow_step_index(w, store_col_text(st, 0));
		*state = step_state_parse(store_col_text(st, 1));
		if (attempt)
			*attempt = sqlite3_column_int(st, 2);
	}
	sqlite3_finalize(st);
	return idx;
}

/* The approval payload: diff/test summaries and risk notes from the latest step results
 * that carry them, the cost so far, and whether a policy check failed. */
static json_t *
run_approval_payload(struct planner *p, const char *run_id, const char *why_parked)
{
	static const char *const keys[] = { "diff_summary", "test_summary", "risk_notes",
		"policy", NULL };
	json_t *pay = json_pack("{s:s}", "reason", why_parked);
	sqlite3_stmt *st = store_query(p, "SELECT result FROM steps WHERE run_id = ? AND "
	    "result IS NOT NULL ORDER BY seq", "s", run_id);

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		json_t *res = store_col_json(st, 0);
		for (int k = 0; keys[k] != NULL; k++) {
			json_t *v = json_object_get(res, keys[k]);
			if (v != NULL)
				json_object_set(pay, keys[k], v);
		}
		json_decref(res);
	}
	sqlite3_finalize(st);
	st = store_query(p, "SELECT cost_usd FROM runs WHERE id = ?", "s", run_id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(pay, "cost_usd", json_real(sqlite3_column_double(st, 0)));
	sqlite3_finalize(st);
	json_object_set_new(pay, "policy_failed", json_boolean(json_is_false(json_object_get(
	    json_object_get(pay, "policy"), "passed"))));
	return pay;
}

/* Park the run's current step for the owner: step awaiting, run awaiting_approval. */
static int
run_park(struct planner *p, struct run_row *r, const char *parked, const char *why_parked)
{
	json_t *pay = run_approval_payload(p, r->id, why_parked);
	char *text = jido_json_dump(pay);
	int rc;

	json_decref(pay);
	if ((rc = step_set_state(p, r->id, r->cur_seq, STEP_AWAITING, why_parked)) == 0 &&
	    (rc = run_set_state(p, r->id, RUN_AWAITING, why_parked)) == 0)
		rc = store_exec(p, "UPDATE runs SET parked = ?, approval = ? WHERE id = ?", "sss",
		    parked, text, r->id);
	free(text);
	if (rc == 0 && strcmp(parked, "flagged") == 0)
		jido_warn("planner.flagged", "{s:s,s:s}", "run_id", r->id, "why", why_parked);
	return rc;
}

/* Is another run of this project shipping now? Fills holder. */
static int
run_ship_busy(struct planner *p, const struct run_row *r, char *holder, size_t len)
{
	sqlite3_stmt *st = store_query(p, "SELECT s.run_id FROM steps s JOIN runs r ON r.id = "
	    "s.run_id WHERE r.project_id = ? AND s.kind = 'ship' AND s.state = 'running' AND "
	    "s.run_id <> ? LIMIT 1", "is", r->project_id, r->id);
	int busy = 0;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(holder, len, "%s", store_col_text(st, 0));
		busy = 1;
	}
	sqlite3_finalize(st);
	return busy;
}

/* Has the owner approved this run (an approval step done, or an approve decision)? */
static int
run_has_approval(struct planner *p, const char *run_id)
{
	sqlite3_stmt *st = store_query(p, "SELECT 1 FROM steps WHERE run_id = ? AND kind = "
	    "'approval' AND state = 'done' UNION ALL SELECT 1 FROM approvals WHERE run_id = ? AND "
	    "decision = 'approve' LIMIT 1", "ss", run_id, run_id);
	int yes = st != NULL && sqlite3_step(st) == SQLITE_ROW;

	sqlite3_finalize(st);
	return yes;
}

static int
run_queue(struct planner *p, const struct run_row *r, const char *why_q)
{
	return store_exec(p, "UPDATE steps SET queued = ? WHERE run_id = ? AND seq = ? AND "
	    "coalesce(queued, '') <> ?", "ssds", why_q, r->id, r->cur_seq, why_q);
}

/* Dispatch decision for a pending step, inside a transaction. Returns 0 and sets
 * *dispatch = 1 when the step was marked running and must now be sent. */
static int
run_step_prepare(struct planner *p, struct run_row *r, const struct workflow *w, int idx,
    json_t *settings, int *dispatch)
{
	const struct wf_step *s = &w->steps[idx];
	char holder[32], buf[16];
	int rc;

	*dispatch = 0;
	if (s->skip_if[0] != '\0' && json_is_true(json_object_get(settings, s->skip_if))) {
		char reason[64];
		snprintf(reason, sizeof(reason), "skipped: %s is on", s->skip_if);
		if ((rc = step_set_state(p, r->id, r->cur_seq, STEP_SKIPPED, reason)) != 0)
			return rc;
		return run_step_next(p, r, w, idx);
	}
	if (r->dry_run && (s->kind == KIND_SHIP || s->kind == KIND_COMMENT)) {
		if ((rc = step_set_state(p, r->id, r->cur_seq, STEP_SKIPPED, "skipped: dry run")) != 0)
			return rc;
		return run_step_next(p, r, w, idx);
	}
	if (s->kind == KIND_APPROVAL)
		return run_park(p, r, "approval", "waiting for the owner's approval");
	if (s->kind == KIND_SHIP) {
		if (!json_is_true(json_object_get(settings, "auto_ship")) &&
		    !run_has_approval(p, r->id))
			return run_park(p, r, "approval",
			    "auto_ship is off: shipping waits for the owner's approval");
		if (store_setting_get(p, "shipping_paused", buf, sizeof(buf)) == 0 &&
		    strcmp(buf, "1") == 0)
			return run_park(p, r, "flagged",
			    "the global shipping kill switch is on: parked and flagged");
		if (run_ship_busy(p, r, holder, sizeof(holder))) {
			char q[96];
			snprintf(q, sizeof(q), "queued behind run %s, which is shipping", holder);
			return run_queue(p, r, q);
		}
	}
	if (s->kind == KIND_AGENT && p->max_running_agents > 0) {
		const char *runner = s->runner[0] ? s->runner :
		    json_string_value(json_object_get(settings, "runner"));
		sqlite3_stmt *st = store_query(p, "SELECT count(*) FROM steps WHERE state = "
		    "'running' AND kind = 'agent' AND runner = ?", "s", s->runner);
		int n = 0;
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		if (n >= p->max_running_agents) {
			char q[96];
			snprintf(q, sizeof(q), "queued: %d %s agent steps running (limit)", n,
			    runner ? runner : "");
			return run_queue(p, r, q);
		}
	}
	if (s->kind == KIND_SHIP || s->kind == KIND_COMMENT) {
		/* the per-project anomaly guard (guard.c), keyed by the job id the send uses */
		char job[96], reason[256], why_parked[512];
		int attempt = 0, g;
		sqlite3_stmt *st = store_query(p, "SELECT attempt FROM steps WHERE run_id = ? AND "
		    "seq = ?", "sd", r->id, r->cur_seq);
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			attempt = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		snprintf(job, sizeof(job), "%s:%d:%d", r->id, r->cur_seq, attempt + 1);
		if ((g = guard_step(p, r->project_id, s->kind == KIND_SHIP, job, reason,
		    sizeof(reason))) < 0)
			return JIDO_EINTERNAL;
		if (g > 0) {
			snprintf(why_parked, sizeof(why_parked), "frozen: the project is frozen by the "
			    "anomaly guard (%s); the owner unfreezes it, then releases this run",
			    reason);
			return run_park(p, r, "frozen", why_parked);
		}
	}
	if ((rc = step_set_state(p, r->id, r->cur_seq, STEP_RUNNING, "dispatched")) != 0)
		return rc;
	if ((rc = store_exec(p, "UPDATE steps SET attempt = attempt + 1, deadline_ms = ?, queued ="
	    " NULL WHERE run_id = ? AND seq = ?", "isd", store_now_ms() +
	    (int64_t)s->timeout_s * 1000, r->id, r->cur_seq)) != 0)
		return rc;
	*dispatch = 1;
	return 0;
}

/* The request for a running step: type and data (new reference). */
static json_t *
run_job_json(struct planner *p, const struct run_row *r, const struct workflow *w, int seq,
    const char **type, const char **url)
{
	sqlite3_stmt *st = store_query(p, "SELECT step, attempt, deadline_ms FROM steps WHERE "
	    "run_id = ? AND seq = ?", "sd", r->id, seq);
	json_t *inputs = json_object(), *settings = NULL, *job = NULL;
	char job_id[96], full[256] = "";
	int idx = -1, attempt = 0;
	int64_t deadline = 0;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		idx = workflow_step_index(w, store_col_text(st, 0));
		attempt = sqlite3_column_int(st, 1);
		deadline = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (idx < 0 || project_load(p, r->project_id, full, sizeof(full), &settings) != 0) {
		json_decref(inputs);
		return NULL;
	}
	st = store_query(p, "SELECT step, result FROM steps WHERE run_id = ? AND state = 'done' "
	    "AND result IS NOT NULL ORDER BY seq", "s", r->id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(inputs, store_col_text(st, 0), store_col_json(st, 1));
	sqlite3_finalize(st);
	snprintf(job_id, sizeof(job_id), "%s:%d:%d", r->id, seq, attempt);
	switch (w->steps[idx].kind) {
	case KIND_SHIP: *type = "gitops.ship"; *url = p->url_gitops; break;
	case KIND_COMMENT: *type = "gitops.comment"; *url = p->url_gitops; break;
	default: *type = "executor.step.run"; *url = p->url_executor; break;
	}
	job = json_pack("{s:s,s:s,s:i,s:i,s:s,s:O,s:s,s:{s:I,s:s,s:O},s:i,s:b,s:i,s:I,s:o,"
	    "s:s}", "job_id", job_id, "run_id", r->id, "seq", seq, "attempt", attempt, "kind",
	    step_kind_name(w->steps[idx].kind), "step", w->steps[idx].spec, "workflow", w->name,
	    "project", "id", (json_int_t)r->project_id, "full_name", full, "settings", settings,
	    "issue", r->issue, "dry_run", r->dry_run, "timeout_s", w->steps[idx].timeout_s,
	    "deadline_ms", (json_int_t)deadline, "inputs", inputs, "reply_to",
	    "planner.steps.result");
	json_decref(settings);
	return job;
}

/* Send a running step to its executor or gitops. 0 when the receiver accepted it. */
static int
run_send(struct planner *p, const struct run_row *r, const struct workflow *w, int seq,
    char *why, size_t whylen)
{
	const char *type = NULL, *url = NULL;
	json_t *job = run_job_json(p, r, w, seq, &type, &url);
	struct jido_reply rep;
	int rc;

	if (job == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot build the job");
	if (pool_enabled(p) && strcmp(type, "executor.step.run") == 0) {
		/* Executors poll for it (pool.c); after a restart their own claims come first. */
		rc = pool_enqueue(p, r->id, seq, (int)json_integer_value(json_object_get(job,
		    "attempt")), job, p->recovering ? (int)jido_conf_int(jido_srv_conf(p->srv),
		    "planner.executor_lease_ms") : 0);
		return rc != 0 ? jido_fail(rc, why, whylen, "cannot queue the step") : 0;
	}
	rc = jido_bus_call(url, type, r->id, job, p->call_timeout_ms, &rep);
	if (rc != 0)
		return jido_fail(rc, why, whylen, "%s: %s", type, jido_strerror(rc));
	if (!rep.ok) {
		rc = jido_fail(rep.err ? rep.err : JIDO_EINTERNAL, why, whylen, "%s refused: %s",
		    type, rep.message ? rep.message : "");
	}
	jido_reply_free(&rep);
	return rc;
}

/* Drive one run as far as it goes now. */
static void
run_drive_one(struct planner *p, const char *run_id)
{
	struct run_row r;
	const struct workflow *w;
	json_t *settings = NULL;
	char full[256], why[512];
	int state = -1, idx, dispatch = 0, rc = 0;

	if (store_begin(p) != 0)
		return;
	if (run_row_load(p, run_id, &r) != 0)
		goto rollback;
	if ((w = run_workflow(p, r.hash)) == NULL) {
		rc = run_finish(p, r.id, RUN_FAILED, NULL, "validation",
		    "the pinned workflow text cannot be read", "pinned workflow unreadable");
		goto commit;
	}
	if (project_load(p, r.project_id, full, sizeof(full), &settings) != 0)
		goto rollback;
	if (r.state == RUN_PENDING) {
		if ((rc = run_set_state(p, r.id, RUN_RUNNING, "started")) != 0 ||
		    (rc = run_step_add(p, &r, w, w->start)) != 0)
			goto rollback;
		if (run_row_load(p, run_id, &r) != 0 || r.state != RUN_RUNNING)
			goto commit;
	}
	/* Skips and completions can chain: loop until the run waits for something. */
	for (int guard = 0; guard < 2 * w->nsteps + 4 && r.state == RUN_RUNNING; guard++) {
		int before = r.cur_seq;
		idx = run_cur_step(p, &r, w, &state, NULL);
		if (idx < 0 || state != STEP_PENDING)
			break;
		if ((rc = run_step_prepare(p, &r, w, idx, settings, &dispatch)) != 0)
			goto rollback;
		if (dispatch || run_row_load(p, run_id, &r) != 0 || r.cur_seq == before)
			break;
	}
commit:
	if (store_commit(p) != 0)
		dispatch = 0;
	json_decref(settings);
	if (!dispatch)
		return;
	if ((rc = run_send(p, &r, w, r.cur_seq, why, sizeof(why))) != 0) {
		jido_warn("planner.dispatch_failed", "{s:s,s:i,s:s}", "run_id", r.id, "seq",
		    r.cur_seq, "why", why);
		if (store_begin(p) == 0) {
			/* Not sent, or sent with no answer (the receiver may have started it): the
			 * resend keeps the attempt, so it carries the same job id and a receiver
			 * that did start it answers duplicate instead of running it twice. */
			if (step_set_state(p, r.id, r.cur_seq, STEP_PENDING, why) == 0)
				store_exec(p, "UPDATE steps SET queued = ?, attempt = attempt - 1 WHERE "
				    "run_id = ? AND seq = ?", "ssd", why, r.id, r.cur_seq);
			store_commit(p);
		}
		p->next_dispatch_ms = jido_now_ms() + 1000; /* back off */
	}
	return;
rollback:
	if (rc != 0)
		jido_error("planner.drive_failed", "{s:s,s:s}", "run_id", run_id, "code",
		    jido_err_name(rc));
	store_rollback(p);
	json_decref(settings);
}

void
run_drive(struct planner *p)
{
	sqlite3_stmt *st;
	char (*ids)[32] = NULL;
	size_t n = 0, cap = 0;

	if (jido_now_ms() < p->next_dispatch_ms)
		return;
	p->dirty = 0;
	st = store_query(p, "SELECT id FROM runs WHERE state = 'pending' UNION ALL "
	    "SELECT r.id FROM steps s JOIN runs r ON r.id = s.run_id AND s.seq = r.cur_seq "
	    "WHERE s.state = 'pending' AND r.state = 'running' LIMIT 2000", "");
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			char (*nn)[32] = realloc(ids, (cap = cap ? cap * 2 : 64) * sizeof(*ids));
			if (nn == NULL)
				break;
			ids = nn;
		}
		snprintf(ids[n++], sizeof(ids[0]), "%s", store_col_text(st, 0));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n && jido_now_ms() >= p->next_dispatch_ms; i++)
		run_drive_one(p, ids[i]);
	free(ids);
	run_publish_pending(p);
}

/* ------------------------------------------------------------ results */

static int
failure_kind_ok(const char *k)
{
	for (int i = 0; k != NULL && failure_kinds[i] != NULL; i++)
		if (strcmp(failure_kinds[i], k) == 0)
			return 1;
	return 0;
}

/* A step failed (result, timeout): retry it, go to its on_failure target, or fail the
 * run. Inside the caller's transaction. */
static int
run_step_failed(struct planner *p, struct run_row *r, const struct workflow *w, int idx,
    int attempt, const char *kind, const char *msg)
{
	const struct wf_step *s = &w->steps[idx];
	char reason[512];
	int rc;

	snprintf(reason, sizeof(reason), "%s: %s", kind, msg);
	if (attempt <= s->retries)
		return step_set_state(p, r->id, r->cur_seq, STEP_PENDING, reason);
	if ((rc = step_set_state(p, r->id, r->cur_seq, STEP_FAILED, reason)) != 0)
		return rc;
	if (s->on_failure >= 0)
		return run_step_add(p, r, w, s->on_failure);
	return run_finish(p, r->id, RUN_FAILED, NULL, kind, msg, reason);
}

int
run_step_result(struct planner *p, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *run_id = json_string_value(json_object_get(data, "run_id"));
	const char *status = json_string_value(json_object_get(data, "status"));
	json_t *jseq = json_object_get(data, "seq"), *jatt = json_object_get(data, "attempt");
	json_t *result = json_object_get(data, "result"), *usage = json_object_get(data, "usage");
	json_t *artifacts = json_object_get(data, "artifacts"), *err = json_object_get(data, "error");
	struct run_row r;
	const struct workflow *w;
	int seq, attempt, state = -1, cur_attempt = 0, idx, rc;
	char *t_res = NULL, *t_use = NULL, *t_art = NULL, *t_err = NULL;
	double cost = 0;

	if (run_id == NULL || !json_is_integer(jseq) || !json_is_integer(jatt) || status == NULL ||
	    (strcmp(status, "done") != 0 && strcmp(status, "failed") != 0))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data needs run_id (string), seq and "
		    "attempt (integers) and status (done or failed)");
	if ((result && !json_is_object(result)) || (usage && !json_is_object(usage)) ||
	    (artifacts && !json_is_array(artifacts)) || (err && !json_is_object(err)))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.result and data.usage must be "
		    "objects, data.artifacts an array, data.error an object");
	seq = (int)json_integer_value(jseq);
	attempt = (int)json_integer_value(jatt);
	if (store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	if ((rc = run_row_load(p, run_id, &r)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "no run '%s'", run_id);
	}
	if ((w = run_workflow(p, r.hash)) == NULL) {
		store_rollback(p);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "pinned workflow unreadable");
	}
	{
		sqlite3_stmt *st = store_query(p, "SELECT step, state, attempt FROM steps WHERE "
		    "run_id = ? AND seq = ?", "sd", run_id, seq);
		idx = -1;
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
			idx = workflow_step_index(w, store_col_text(st, 0));
			state = step_state_parse(store_col_text(st, 1));
			cur_attempt = sqlite3_column_int(st, 2);
		}
		sqlite3_finalize(st);
	}
	if (idx < 0) {
		store_rollback(p);
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "run %s has no step %d", run_id, seq);
	}
	if (state != STEP_RUNNING || attempt != cur_attempt || seq != r.cur_seq ||
	    r.state != RUN_RUNNING) {
		store_rollback(p);
		/* a redelivered result: an older attempt, or this one after it finished */
		if (attempt < cur_attempt || (attempt == cur_attempt && (state == STEP_DONE ||
		    state == STEP_FAILED || state == STEP_SKIPPED))) {
			*out = json_pack("{s:s,s:i,s:b,s:s}", "run_id", run_id, "seq", seq,
			    "duplicate", 1, "state", step_state_name(state));
			return 0;
		}
		return jido_fail(JIDO_ECONFLICT, why, whylen, "step %d of run %s is %s (attempt %d), "
		    "not running attempt %d", seq, run_id, step_state_name(state), cur_attempt,
		    attempt);
	}
	if (usage != NULL && json_is_number(json_object_get(usage, "cost_usd")))
		cost = json_number_value(json_object_get(usage, "cost_usd"));
	t_res = result ? jido_json_dump(result) : NULL;
	t_use = usage ? jido_json_dump(usage) : NULL;
	t_art = artifacts ? jido_json_dump(artifacts) : NULL;
	t_err = err ? jido_json_dump(err) : NULL;
	rc = store_exec(p, "UPDATE steps SET result = ?, usage = ?, artifacts = coalesce(?, "
	    "artifacts), error = ? WHERE run_id = ? AND seq = ?", "sssssd", t_res, t_use, t_art,
	    t_err, run_id, seq);
	if (rc == 0)
		rc = store_exec(p, "UPDATE runs SET cost_usd = cost_usd + ? WHERE id = ?", "fs", cost,
		    run_id);
	if (rc == 0 && strcmp(status, "done") == 0) {
		rc = step_set_state(p, run_id, seq, STEP_DONE, "result: done");
		if (rc == 0 && json_is_true(json_object_get(result, "no_changes")))
			rc = run_finish(p, run_id, RUN_COMPLETED, "no_changes_needed", NULL, NULL,
			    "the step found nothing to change");
		else if (rc == 0)
			rc = run_step_next(p, &r, w, idx);
	} else if (rc == 0) {
		const char *kind = json_string_value(json_object_get(err, "kind"));
		const char *msg = json_string_value(json_object_get(err, "message"));
		rc = run_step_failed(p, &r, w, idx, attempt, failure_kind_ok(kind) ? kind :
		    "execution", msg ? msg : "the step failed");
	}
	free(t_res);
	free(t_use);
	free(t_art);
	free(t_err);
	if (rc != 0 || (rc = store_commit(p)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "cannot record the result");
	}
	pool_forget(p, run_id, seq);
	run_publish_pending(p);
	artifacts_capture_step(p, run_id, seq, attempt, result);
	*out = json_pack("{s:s,s:i,s:b}", "run_id", run_id, "seq", seq, "duplicate", 0);
	return 0;
}

void
run_timeouts(struct planner *p)
{
	sqlite3_stmt *st = store_query(p, "SELECT s.run_id, s.seq, s.attempt FROM steps s JOIN "
	    "runs r ON r.id = s.run_id AND r.cur_seq = s.seq WHERE s.state = 'running' AND "
	    "s.deadline_ms > 0 AND s.deadline_ms < ? AND r.state = 'running' LIMIT 200", "i",
	    store_now_ms());
	json_t *late = json_array();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(late, json_pack("{s:s,s:i,s:i}", "run_id", store_col_text(st, 0),
		    "seq", sqlite3_column_int(st, 1), "attempt", sqlite3_column_int(st, 2)));
	sqlite3_finalize(st);
	size_t i;
	json_t *v;
	json_array_foreach(late, i, v) {
		json_t *res = json_pack("{s:O,s:O,s:O,s:s,s:{s:s,s:s}}", "run_id",
		    json_object_get(v, "run_id"), "seq", json_object_get(v, "seq"), "attempt",
		    json_object_get(v, "attempt"), "status", "failed", "error", "kind", "timeout",
		    "message", "the step did not report before its deadline"), *o = NULL;
		char why[256];
		if (run_step_result(p, res, &o, why, sizeof(why)) == 0)
			jido_warn("planner.step_timeout", "{s:O,s:O}", "run_id",
			    json_object_get(v, "run_id"), "seq", json_object_get(v, "seq"));
		json_decref(o);
		json_decref(res);
	}
	json_decref(late);
}

void
run_recover(struct planner *p)
{
	sqlite3_stmt *st = store_query(p, "SELECT s.run_id, s.seq FROM steps s JOIN runs r ON "
	    "r.id = s.run_id AND r.cur_seq = s.seq WHERE s.state = 'running' AND r.state = "
	    "'running'", "");
	json_t *list = json_array();
	size_t i;
	json_t *v;

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(list, json_pack("{s:s,s:i}", "run_id", store_col_text(st, 0),
		    "seq", sqlite3_column_int(st, 1)));
	sqlite3_finalize(st);
	/* only the first pass after a start holds pool jobs back a lease (see pool.c) */
	p->recovering = !p->recovered;
	json_array_foreach(list, i, v) {
		struct run_row r;
		const struct workflow *w;
		char why[256];
		if (run_row_load(p, json_string_value(json_object_get(v, "run_id")), &r) != 0 ||
		    (w = run_workflow(p, r.hash)) == NULL)
			continue;
		/* Same job id as before: the receiver answers a duplicate as already known. */
		int rc = run_send(p, &r, w, (int)json_integer_value(json_object_get(v, "seq")), why,
		    sizeof(why));
		if (rc != 0)
			jido_warn("planner.resend_failed", "{s:s,s:s}", "run_id", r.id, "why", why);
		/* A receiver that does not answer (hung, or busy calling us) would cost a call
		 * timeout per running step, the planner answering nobody meanwhile: the rest
		 * wait for the next pass. */
		if (rc == JIDO_ETIMEOUT || rc == JIDO_EUNAVAIL)
			break;
	}
	p->recovering = 0;
	if (!p->recovered || json_array_size(list) > 0)
		jido_log(p->recovered ? JIDO_LOG_DEBUG : JIDO_LOG_INFO, "planner.recovered", "{s:i}",
		    "resent", (int)json_array_size(list));
	json_decref(list);
	p->recovered = 1;
	p->resent_ms = jido_now_ms();
}

void
run_step_lost(struct planner *p, const char *run_id, int seq, int attempt, const char *msg,
    int again)
{
	sqlite3_stmt *st;
	int state = -1, cur = -1, ok = 0;

	if (!again) {
		json_t *res = json_pack("{s:s,s:i,s:i,s:s,s:{s:s,s:s}}", "run_id", run_id, "seq",
		    seq, "attempt", attempt, "status", "failed", "error", "kind", "execution",
		    "message", msg), *o = NULL;
		char why[256];
		if (run_step_result(p, res, &o, why, sizeof(why)) != 0)
			jido_warn("planner.lost_not_recorded", "{s:s,s:s}", "run_id", run_id, "why", why);
		json_decref(o);
		json_decref(res);
		return;
	}
	if (store_begin(p) != 0)
		return;
	st = store_query(p, "SELECT s.state, s.attempt FROM steps s JOIN runs r ON r.id = "
	    "s.run_id AND r.cur_seq = s.seq WHERE s.run_id = ? AND s.seq = ? AND r.state = "
	    "'running'", "sd", run_id, seq);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		state = step_state_parse(store_col_text(st, 0));
		cur = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (state == STEP_RUNNING && cur == attempt)
		ok = step_set_state(p, run_id, seq, STEP_PENDING, msg) == 0;
	if (ok && store_commit(p) == 0) {
		p->dirty = 1;
		run_publish_pending(p);
	} else
		store_rollback(p);
}

/* ------------------------------------------------------------ owner actions */

int
run_cancel(struct planner *p, const char *run_id, const char *reason, char *why, size_t whylen)
{
	struct run_row r;
	sqlite3_stmt *st;
	int rc, running_seq = 0;

	if (store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	if ((rc = run_row_load(p, run_id, &r)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "no run '%s'", run_id);
	}
	if (run_state_terminal(r.state)) {
		store_rollback(p);
		return jido_fail(JIDO_ECONFLICT, why, whylen, "run %s is already %s", run_id,
		    run_state_name(r.state));
	}
	st = store_query(p, "SELECT seq, state FROM steps WHERE run_id = ? AND state IN "
	    "('pending','running','awaiting_approval')", "s", run_id);
	json_t *open = json_array();
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(open, json_pack("{s:i,s:s}", "seq", sqlite3_column_int(st, 0),
		    "state", store_col_text(st, 1)));
	sqlite3_finalize(st);
	size_t i;
	json_t *v;
	rc = 0;
	json_array_foreach(open, i, v) {
		int seq = (int)json_integer_value(json_object_get(v, "seq"));
		int running = strcmp(json_string_value(json_object_get(v, "state")), "running") == 0;
		if (running)
			running_seq = seq;
		if (rc == 0)
			rc = step_set_state(p, run_id, seq, running ? STEP_FAILED : STEP_SKIPPED,
			    "run cancelled");
	}
	json_decref(open);
	if (rc == 0)
		rc = run_finish(p, run_id, RUN_CANCELLED, "cancelled", NULL, NULL, reason);
	if (rc != 0 || (rc = store_commit(p)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "cannot cancel run %s", run_id);
	}
	run_publish_pending(p);
	if (running_seq > 0 && pool_enabled(p)) /* its executor hears at its next poll */
		pool_forget(p, run_id, running_seq);
	else if (running_seq > 0) { /* best effort: the executor stops the job */
		struct jido_reply rep;
		char job[96];
		snprintf(job, sizeof(job), "%s:%d", run_id, running_seq);
		if (jido_bus_call(p->url_executor, "executor.step.cancel", run_id, json_pack(
		    "{s:s,s:i}", "run_id", run_id, "seq", running_seq), p->call_timeout_ms,
		    &rep) == 0)
			jido_reply_free(&rep);
	}
	return 0;
}

/* ------------------------------------------------------------ views */

json_t *
run_json(struct planner *p, const char *run_id, int with_steps)
{
	sqlite3_stmt *st = store_query(p, "SELECT r.id, r.project_id, pr.full_name, r.workflow, "
	    "r.wf_version, r.wf_hash, r.state, r.outcome, r.parked, r.issue, r.dry_run, "
	    "r.trigger_kind, r.delivery, r.actor, r.parent_id, r.attempt, r.failure_kind, "
	    "r.failure_message, r.last_good_step, r.hint, r.approval, r.cost_usd, r.created_ms, "
	    "r.updated_ms, r.cur_seq FROM runs r JOIN projects pr ON pr.id = r.project_id "
	    "WHERE r.id = ?", "s", run_id);
	json_t *j = NULL;

#define COL_S(i) (sqlite3_column_type(st, (i)) == SQLITE_NULL ? NULL : store_col_text(st, (i)))
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		j = json_pack("{s:s,s:I,s:s,s:s,s:i,s:s,s:s,s:s?,s:s?,s:i,s:b,s:s,s:s?,s:s,s:s?,"
		    "s:i,s:o,s:o,s:f,s:I,s:I}",
		    "id", store_col_text(st, 0), "project_id", (json_int_t)sqlite3_column_int64(st, 1),
		    "project", store_col_text(st, 2), "workflow", store_col_text(st, 3),
		    "workflow_version", sqlite3_column_int(st, 4), "workflow_hash",
		    store_col_text(st, 5), "state", store_col_text(st, 6), "outcome", COL_S(7),
		    "parked", COL_S(8), "issue", sqlite3_column_int(st, 9), "dry_run",
		    sqlite3_column_int(st, 10), "trigger", store_col_text(st, 11), "delivery",
		    COL_S(12), "actor", store_col_text(st, 13), "parent_id", COL_S(14), "attempt",
		    sqlite3_column_int(st, 15),
		    "failure", sqlite3_column_type(st, 16) == SQLITE_NULL ? json_null() : json_pack(
		    "{s:s,s:s?,s:s?,s:s?}", "kind", store_col_text(st, 16), "message", COL_S(17),
		    "last_good_step", COL_S(18), "hint", COL_S(19)),
		    "approval", store_col_json(st, 20), "cost_usd", sqlite3_column_double(st, 21),
		    "created_ms", (json_int_t)sqlite3_column_int64(st, 22), "updated_ms",
		    (json_int_t)sqlite3_column_int64(st, 23));
	}
	sqlite3_finalize(st);
	if (j == NULL || !with_steps)
		return j;
	json_t *steps = json_array();
	st = store_query(p, "SELECT seq, step, kind, state, attempt, queued, result, usage, "
	    "artifacts, error FROM steps WHERE run_id = ? ORDER BY seq", "s", run_id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(steps, json_pack("{s:i,s:s,s:s,s:s,s:i,s:s?,s:o,s:o,s:o,s:o}",
		    "seq", sqlite3_column_int(st, 0), "step", store_col_text(st, 1), "kind",
		    store_col_text(st, 2), "state", store_col_text(st, 3), "attempt",
		    sqlite3_column_int(st, 4), "queued", COL_S(5), "result", store_col_json(st, 6),
		    "usage", store_col_json(st, 7), "artifacts", store_col_json(st, 8), "error",
		    store_col_json(st, 9)));
	sqlite3_finalize(st);
	json_object_set_new(j, "steps", steps);
	json_t *tr = json_array();
	st = store_query(p, "SELECT step_seq, from_state, to_state, reason, at_ms FROM transitions"
	    " WHERE run_id = ? ORDER BY id", "s", run_id);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		json_t *t = json_pack("{s:s?,s:s,s:s,s:I}", "from", COL_S(1), "to",
		    store_col_text(st, 2), "reason", store_col_text(st, 3), "at_ms",
		    (json_int_t)sqlite3_column_int64(st, 4));
		if (sqlite3_column_type(st, 0) != SQLITE_NULL)
			json_object_set_new(t, "seq", json_integer(sqlite3_column_int(st, 0)));
		json_array_append_new(tr, t);
	}
	sqlite3_finalize(st);
	json_object_set_new(j, "transitions", tr);
#undef COL_S
	return j;
}
