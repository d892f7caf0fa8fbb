/*
 * approvals.c - the owner's decisions on parked runs: approve, reject, release (a run
 * flagged by the shipping kill switch), and the kill switch itself. Every decision is
 * validated first (state, rationale of at least 10 characters, re-authentication for a
 * policy override), then written to the audit log synchronously; only when the auditor
 * confirms the record is durable does the decision take effect. No auditor, no effect.
 */
#include <ctype.h>
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

#define RATIONALE_MIN 10

static const char *const channels[] = { "web", "api", "cli", "mcp", "webhook", "system", NULL };

int
audit_append_sync(struct planner *p, const char *actor, const char *channel, const char *action,
    const char *subject, const char *run_id, const char *result, json_t *details)
{
	struct jido_reply r;
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "actor", actor, "channel", channel,
	    "action", action, "subject", subject, "result", result, "details",
	    details ? details : json_object());
	int rc;

	if (rec == NULL)
		return JIDO_EINTERNAL;
	if (run_id != NULL)
		json_object_set_new(rec, "run_id", json_string(run_id));
	rc = jido_bus_call(p->url_auditor, "audit.append", run_id, rec, p->call_timeout_ms, &r);
	if (rc != 0)
		return JIDO_EUNAVAIL;
	rc = r.ok ? 0 : JIDO_EUNAVAIL;
	jido_reply_free(&r);
	return rc;
}

/* Length of s without leading and trailing white space. */
static size_t
trimmed_len(const char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	return n;
}

static int
channel_ok(const char *c)
{
	for (int i = 0; c != NULL && channels[i] != NULL; i++)
		if (strcmp(channels[i], c) == 0)
			return 1;
	return 0;
}

/* Read what a decision needs about the run. */
static int
approval_run(struct planner *p, const char *run_id, int *state, char *parked, size_t plen,
    int *seq, json_t **payload)
{
	sqlite3_stmt *st = store_query(p, "SELECT state, coalesce(parked, ''), cur_seq, approval "
	    "FROM runs WHERE id = ?", "s", run_id);
	int rc = JIDO_ENOTFOUND;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		*state = run_state_parse(store_col_text(st, 0));
		snprintf(parked, plen, "%s", store_col_text(st, 1));
		*seq = sqlite3_column_int(st, 2);
		*payload = store_col_json(st, 3);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Apply an audited decision in one transaction. */
static int
approval_apply(struct planner *p, const char *run_id, int seq, const char *decision,
    const char *rationale, const char *actor, const char *channel, const char *parked)
{
	const struct workflow *w = NULL;
	sqlite3_stmt *st;
	char hash[65] = "", step[64] = "", kind[32] = "";
	int rc;

	st = store_query(p, "SELECT r.wf_hash, s.step, s.kind FROM runs r JOIN steps s ON "
	    "s.run_id = r.id AND s.seq = ? WHERE r.id = ?", "ds", seq, run_id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(hash, sizeof(hash), "%s", store_col_text(st, 0));
		snprintf(step, sizeof(step), "%s", store_col_text(st, 1));
		snprintf(kind, sizeof(kind), "%s", store_col_text(st, 2));
	}
	sqlite3_finalize(st);
	if (hash[0] == '\0' || (w = run_workflow_of(p, hash)) == NULL)
		return JIDO_EINTERNAL;
	if ((rc = store_exec(p, "INSERT INTO approvals(run_id, step_seq, decision, rationale, "
	    "actor, channel, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)", "sdssssi", run_id, seq, decision,
	    rationale, actor, channel, store_now_ms())) != 0)
		return rc;
	if (strcmp(decision, "reject") == 0) {
		int idx = workflow_step_index(w, step);
		int target = idx >= 0 ? w->steps[idx].on_failure : -1;
		if ((rc = step_set_state(p, run_id, seq, STEP_FAILED, "rejected")) != 0)
			return rc;
		if (target < 0) {
			if ((rc = run_set_state(p, run_id, RUN_CANCELLED, "rejected by the owner")) != 0)
				return rc;
			return store_exec(p, "UPDATE runs SET outcome = 'rejected', parked = NULL "
			    "WHERE id = ?", "s", run_id);
		}
		/* back to the workflow's retry target as a new step */
		if ((rc = run_set_state(p, run_id, RUN_RUNNING, "rejected: back to the retry "
		    "target")) != 0)
			return rc;
		if ((rc = store_exec(p, "INSERT INTO steps(run_id, seq, step, kind, state, runner, "
		    "created_ms, updated_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", "sdsssii",
		    run_id, seq + 1, w->steps[target].id, step_kind_name(w->steps[target].kind),
		    w->steps[target].runner, store_now_ms(), store_now_ms())) != 0)
			return rc;
		if ((rc = store_exec(p, "INSERT INTO transitions(run_id, step_seq, from_state, "
		    "to_state, reason, at_ms) VALUES (?, ?, NULL, 'pending', ?, ?)", "sdsi", run_id,
		    seq + 1, w->steps[target].id, store_now_ms())) != 0)
			return rc;
		return store_exec(p, "UPDATE runs SET cur_seq = ?, parked = NULL WHERE id = ?", "ds",
		    seq + 1, run_id);
	}
	/* approve or release: an approval step is done; a parked ship step runs again */
	if ((rc = step_set_state(p, run_id, seq, strcmp(kind, "approval") == 0 ? STEP_DONE :
	    STEP_PENDING, strcmp(decision, "release") == 0 ? "released" : "approved")) != 0)
		return rc;
	if ((rc = run_set_state(p, run_id, RUN_RUNNING, strcmp(decision, "release") == 0 ?
	    "released by the owner" : "approved by the owner")) != 0)
		return rc;
	if ((rc = store_exec(p, "UPDATE runs SET parked = NULL WHERE id = ?", "s", run_id)) != 0)
		return rc;
	if (strcmp(kind, "approval") == 0) {
		int idx = workflow_step_index(w, step);
		int next = idx >= 0 ? w->steps[idx].next : -1;
		if (next < 0) {
			if ((rc = run_set_state(p, run_id, RUN_COMPLETED, "approved; last step")) != 0)
				return rc;
			return store_exec(p, "UPDATE runs SET outcome = 'done' WHERE id = ?", "s",
			    run_id);
		}
		if ((rc = store_exec(p, "INSERT INTO steps(run_id, seq, step, kind, state, runner, "
		    "created_ms, updated_ms) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)", "sdsssii",
		    run_id, seq + 1, w->steps[next].id, step_kind_name(w->steps[next].kind),
		    w->steps[next].runner, store_now_ms(), store_now_ms())) != 0 ||
		    (rc = store_exec(p, "INSERT INTO transitions(run_id, step_seq, from_state, "
		    "to_state, reason, at_ms) VALUES (?, ?, NULL, 'pending', ?, ?)", "sdsi", run_id,
		    seq + 1, w->steps[next].id, store_now_ms())) != 0)
			return rc;
		return store_exec(p, "UPDATE runs SET cur_seq = ? WHERE id = ?", "ds", seq + 1,
		    run_id);
	}
	(void)parked;
	return 0;
}

/* The project id of a run. */
static int
approval_run_project(struct planner *p, const char *run_id, int64_t *pid)
{
	sqlite3_stmt *st = store_query(p, "SELECT project_id FROM runs WHERE id = ?", "s", run_id);
	int rc = JIDO_ENOTFOUND;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		*pid = sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
approval_decide(struct planner *p, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *run_id = json_string_value(json_object_get(data, "run_id"));
	const char *decision = json_string_value(json_object_get(data, "decision"));
	const char *rationale = json_string_value(json_object_get(data, "rationale"));
	const char *actor = json_string_value(json_object_get(data, "actor"));
	const char *channel = json_string_value(json_object_get(data, "channel"));
	int reauth = json_is_true(json_object_get(data, "reauthenticated"));
	json_t *payload = NULL;
	char parked[16];
	int state = -1, seq = 0, rc;

	if (run_id == NULL)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.run_id: missing");
	if (decision == NULL || (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0
	    && strcmp(decision, "release") != 0))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.decision: must be approve, reject or release");
	if (rationale == NULL || trimmed_len(rationale) < RATIONALE_MIN)
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.rationale: a written rationale of at least %d characters is required",
		    RATIONALE_MIN);
	if (strlen(rationale) > 4000)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.rationale: at most 4000 bytes");
	if (channel == NULL)
		channel = "api";
	if (!channel_ok(channel))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.channel: must be web, api, cli, mcp, webhook or system");
	if (actor == NULL)
		actor = "owner";
	if ((rc = approval_run(p, run_id, &state, parked, sizeof(parked), &seq, &payload)) != 0)
		return jido_fail(rc, why, whylen, "no run '%s'", run_id);
	if (state != RUN_AWAITING) {
		json_decref(payload);
		return jido_fail(JIDO_ECONFLICT, why, whylen, "run %s is %s, not awaiting_approval",
		    run_id, run_state_name(state));
	}
	if (strcmp(parked, "frozen") == 0 && strcmp(decision, "reject") != 0) {
		/* parked by the anomaly guard: released once the owner unfroze the project */
		char reason[256];
		int64_t pid = 0;
		json_decref(payload);
		payload = NULL;
		if (approval_run_project(p, run_id, &pid) != 0)
			return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot read run %s", run_id);
		if (guard_project_frozen(p, pid, reason, sizeof(reason)))
			return jido_fail(JIDO_EFROZEN, why, whylen, "the project of run %s is frozen by "
			    "the anomaly guard (%s): unfreeze it (jido projects unfreeze) before "
			    "releasing the run", run_id, reason);
		decision = "release";
	} else if (strcmp(decision, "release") == 0 || (strcmp(decision, "approve") == 0 &&
	    strcmp(parked, "flagged") == 0)) {
		char buf[16];
		if (strcmp(parked, "flagged") != 0) {
			json_decref(payload);
			return jido_fail(JIDO_ECONFLICT, why, whylen, "run %s is not flagged by the "
			    "kill switch: approve or reject it", run_id);
		}
		if (store_setting_get(p, "shipping_paused", buf, sizeof(buf)) == 0 &&
		    strcmp(buf, "1") == 0) {
			json_decref(payload);
			return jido_fail(JIDO_ECONFLICT, why, whylen, "the shipping kill switch is still "
			    "on: turn it off before releasing run %s", run_id);
		}
		decision = "release";
	}
	if (strcmp(decision, "approve") == 0 && json_is_true(json_object_get(payload,
	    "policy_failed")) && !reauth) {
		json_decref(payload);
		return jido_fail(JIDO_EAUTHZ, why, whylen, "run %s failed a policy check: overriding "
		    "it needs a fresh owner re-authentication (reauthenticated: true)", run_id);
	}
	json_decref(payload);
	/* Audit first, synchronously: no durable record, no effect. */
	char action[48];
	snprintf(action, sizeof(action), "run.%s", decision);
	if ((rc = audit_append_sync(p, actor, channel, action, run_id, run_id, "ok", json_pack(
	    "{s:s,s:i,s:s,s:b}", "rationale", rationale, "step_seq", seq, "parked", parked,
	    "reauthenticated", reauth))) != 0)
		return jido_fail(JIDO_EUNAVAIL, why, whylen, "the auditor did not confirm the record: "
		    "the decision was not applied");
	if (store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	if ((rc = approval_apply(p, run_id, seq, decision, rationale, actor, channel, parked)) != 0 ||
	    (rc = store_commit(p)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "cannot apply the decision");
	}
	p->dirty = 1;
	run_publish_pending(p);
	run_drive(p);
	*out = run_json(p, run_id, 0);
	return 0;
}

int
approval_kill_switch(struct planner *p, const json_t *data, json_t **out, char *why,
    size_t whylen)
{
	json_t *on = json_object_get(data, "paused");
	const char *rationale = json_string_value(json_object_get(data, "rationale"));
	const char *actor = json_string_value(json_object_get(data, "actor"));
	const char *channel = json_string_value(json_object_get(data, "channel"));
	int rc;

	if (on == NULL) { /* read */
		char buf[16];
		int paused = store_setting_get(p, "shipping_paused", buf, sizeof(buf)) == 0 &&
		    strcmp(buf, "1") == 0;
		sqlite3_stmt *st = store_query(p, "SELECT count(*) FROM runs WHERE parked = "
		    "'flagged'", "");
		int flagged = st != NULL && sqlite3_step(st) == SQLITE_ROW ?
		    sqlite3_column_int(st, 0) : 0;
		sqlite3_finalize(st);
		*out = json_pack("{s:b,s:i}", "paused", paused, "flagged", flagged);
		return 0;
	}
	if (!json_is_boolean(on))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.paused: must be true or false");
	if (rationale == NULL || trimmed_len(rationale) < RATIONALE_MIN)
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.rationale: a written rationale of at least %d characters is required",
		    RATIONALE_MIN);
	if (channel == NULL)
		channel = "api";
	if (!channel_ok(channel))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.channel: must be web, api, cli, mcp, webhook or system");
	if ((rc = audit_append_sync(p, actor ? actor : "owner", channel, json_is_true(on) ?
	    "shipping.pause" : "shipping.resume", "shipping", NULL, "ok", json_pack("{s:s}",
	    "rationale", rationale))) != 0)
		return jido_fail(JIDO_EUNAVAIL, why, whylen, "the auditor did not confirm the record: "
		    "the switch was not changed");
	if (store_setting_set(p, "shipping_paused", json_is_true(on) ? "1" : "0") != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot store the switch");
	jido_info("planner.kill_switch", "{s:b}", "paused", json_is_true(on));
	json_t *read = json_object();
	rc = approval_kill_switch(p, read, out, why, whylen);
	json_decref(read);
	return rc;
}
