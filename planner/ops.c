/*
 * ops.c - the planner's request-socket operations (planner.projects.*, planner.runs.*,
 * planner.steps.result, planner.approvals.*, planner.workflows.*, planner.events.ingest,
 * planner.deliveries.list, planner.workbench, planner.issues.list): one table from type to handler. Each
 * handler validates its data fully before changing anything; docs/ARCHITECTURE.md lists
 * every type with its fields.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "planner.h"

typedef int (*op_fn)(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen);

static int
op_str(const json_t *d, const char *key, int required, size_t max, const char **out, char *why,
    size_t whylen)
{
	const json_t *v = json_object_get(d, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return jido_fail(JIDO_EVALIDATION, why, whylen, "data.%s: missing", key);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.%s: must be a string of 1 to %zu bytes", key, max);
	*out = json_string_value(v);
	return 0;
}

/* A repo full name: owner/name, GitHub's characters. */
static int
op_repo_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	size_t n = strlen(s);

	if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/') || n > 140)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')
		    || *s == '-' || *s == '_' || *s == '.' || *s == '/'))
			return 0;
	return 1;
}

/* ------------------------------------------------------------ projects */

static json_t *
op_project_json(sqlite3_stmt *st)
{
	return json_pack("{s:I,s:s,s:b,s:o,s:s,s:s?,s:I}", "id",
	    (json_int_t)sqlite3_column_int64(st, 0), "full_name", store_col_text(st, 1), "enabled",
	    sqlite3_column_int(st, 2), "settings", store_col_json(st, 3), "clone_status",
	    store_col_text(st, 4), "clone_error", sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL :
	    store_col_text(st, 5), "created_ms", (json_int_t)sqlite3_column_int64(st, 6));
}

#define PROJECT_COLS "id, full_name, enabled, settings, clone_status, clone_error, created_ms"

/* Resolve data.project / data.id (id or full name) to a project id. */
static int
op_project_id(struct planner *p, const json_t *d, int64_t *id, char *why, size_t whylen)
{
	const json_t *v = json_object_get(d, "project");

	if (v == NULL)
		v = json_object_get(d, "id");
	if (json_is_integer(v)) {
		char name[256];
		json_t *s = NULL;
		*id = json_integer_value(v);
		if (project_load(p, *id, name, sizeof(name), &s) != 0)
			return jido_fail(JIDO_ENOTFOUND, why, whylen, "no project %lld", (long long)*id);
		json_decref(s);
		return 0;
	}
	if (json_is_string(v)) {
		if (project_find(p, json_string_value(v), id, NULL, NULL) != 0)
			return jido_fail(JIDO_ENOTFOUND, why, whylen, "no project '%s'",
			    json_string_value(v));
		return 0;
	}
	return jido_fail(JIDO_EVALIDATION, why, whylen,
	    "data.project: must be a project id or full name");
}

static int
op_projects_import(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	json_t *repos = json_object_get(req->data, "repos"), *fetched = NULL, *names;
	json_t *created = json_array(), *existing = json_array();
	size_t i;
	json_t *v;
	int rc = 0;

	if (repos == NULL) { /* ask ingest which repos the token sees */
		struct jido_reply r;
		if (jido_bus_call(p->url_ingest, "ingest.repos", NULL, NULL, p->call_timeout_ms,
		    &r) != 0) {
			rc = jido_fail(JIDO_EUNAVAIL, why, whylen, "ingest did not answer ingest.repos: "
			    "pass data.repos explicitly");
			goto out;
		}
		if (!r.ok) {
			rc = jido_fail(JIDO_EUNAVAIL, why, whylen, "ingest.repos failed: %s",
			    r.message ? r.message : "");
			jido_reply_free(&r);
			goto out;
		}
		fetched = json_incref(json_object_get(r.data, "repos"));
		jido_reply_free(&r);
		repos = fetched;
	}
	if (!json_is_array(repos) || json_array_size(repos) == 0 || json_array_size(repos) > 1000) {
		rc = jido_fail(JIDO_EVALIDATION, why, whylen,
		    "data.repos: must be an array of 1 to 1000 repos (owner/name)");
		goto out;
	}
	names = json_array();
	json_array_foreach(repos, i, v) {
		const char *n = json_is_string(v) ? json_string_value(v) :
		    json_string_value(json_object_get(v, "full_name"));
		if (n == NULL || !op_repo_ok(n)) {
			json_decref(names);
			rc = jido_fail(JIDO_EVALIDATION, why, whylen,
			    "data.repos[%zu]: must be a repo full name (owner/name)", i);
			goto out;
		}
		json_array_append_new(names, json_string(n));
	}
	json_t *defs = project_default_settings();
	char *text = jido_json_dump(defs);
	json_decref(defs);
	if (store_begin(p) != 0) {
		free(text);
		json_decref(names);
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
		goto out;
	}
	json_array_foreach(names, i, v) {
		const char *n = json_string_value(v);
		if (project_find(p, n, NULL, NULL, NULL) == 0) {
			json_array_append(existing, v);
			continue;
		}
		if ((rc = store_exec(p, "INSERT INTO projects(full_name, settings, created_ms, "
		    "updated_ms) VALUES (?, ?, ?, ?)", "ssii", n, text, store_now_ms(),
		    store_now_ms())) != 0)
			break;
		json_array_append(created, v);
	}
	free(text);
	json_decref(names);
	if (rc != 0 || (rc = store_commit(p)) != 0) {
		store_rollback(p);
		rc = jido_fail(rc, why, whylen, "cannot store the projects");
		goto out;
	}
	*out = json_pack("{s:O,s:O}", "created", created, "existing", existing);
out:
	json_decref(fetched);
	json_decref(created);
	json_decref(existing);
	return rc;
}

static int
op_projects_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	sqlite3_stmt *st = store_query(p, "SELECT " PROJECT_COLS " FROM projects ORDER BY "
	    "full_name", "");
	json_t *a = json_array();

	(void)req;
	(void)why;
	(void)whylen;
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, op_project_json(st));
	sqlite3_finalize(st);
	*out = json_pack("{s:o}", "projects", a);
	return 0;
}

static int
op_projects_get(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	int64_t id;
	int rc;

	if ((rc = op_project_id(p, req->data, &id, why, whylen)) != 0)
		return rc;
	sqlite3_stmt *st = store_query(p, "SELECT " PROJECT_COLS " FROM projects WHERE id = ?", "i",
	    id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		*out = op_project_json(st);
	sqlite3_finalize(st);
	return *out ? 0 : jido_fail(JIDO_EINTERNAL, why, whylen, "cannot read the project");
}

static int
op_projects_update(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	json_t *patch = json_object_get(req->data, "settings"), *en = json_object_get(req->data,
	    "enabled"), *settings = NULL;
	char name[256];
	int64_t id;
	int rc;

	if ((rc = op_project_id(p, req->data, &id, why, whylen)) != 0)
		return rc;
	if (en != NULL && !json_is_boolean(en))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.enabled: must be true or false");
	if (project_load(p, id, name, sizeof(name), &settings) != 0)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no project %lld", (long long)id);
	if (patch != NULL && (rc = project_settings_merge(settings, patch, why, whylen)) != 0) {
		json_decref(settings);
		return rc;
	}
	char *text = jido_json_dump(settings);
	json_decref(settings);
	rc = store_exec(p, "UPDATE projects SET settings = ?, enabled = coalesce(?, enabled), "
	    "updated_ms = ? WHERE id = ?", "ssii", text, en == NULL ? NULL : json_is_true(en) ?
	    "1" : "0", store_now_ms(), id);
	free(text);
	if (rc != 0)
		return jido_fail(rc, why, whylen, "cannot store the settings");
	return op_projects_get(p, req, out, why, whylen);
}

/* Clone status: pending -> cloning -> ready | error; error or ready -> pending (retry). */
static int
op_projects_clone(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const allowed[][2] = { { "pending", "cloning" }, { "cloning", "ready" },
		{ "cloning", "error" }, { "error", "pending" }, { "ready", "pending" },
		{ "cloning", "pending" } };
	const char *status, *reason;
	char cur[16] = "";
	int64_t id;
	int rc, ok = 0;

	if ((rc = op_project_id(p, req->data, &id, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "status", 1, 16, &status, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "reason", 0, 1000, &reason, why, whylen)) != 0)
		return rc;
	sqlite3_stmt *st = store_query(p, "SELECT clone_status FROM projects WHERE id = ?", "i", id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		snprintf(cur, sizeof(cur), "%s", store_col_text(st, 0));
	sqlite3_finalize(st);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		ok |= strcmp(allowed[i][0], cur) == 0 && strcmp(allowed[i][1], status) == 0;
	if (!ok)
		return jido_fail(JIDO_ECONFLICT, why, whylen, "clone status cannot go from %s to %s",
		    cur, status);
	if (strcmp(status, "error") == 0 && reason == NULL)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.reason: required for error");
	if ((rc = store_exec(p, "UPDATE projects SET clone_status = ?, clone_error = ?, updated_ms "
	    "= ? WHERE id = ?", "ssii", status, strcmp(status, "error") == 0 ? reason : NULL,
	    store_now_ms(), id)) != 0)
		return jido_fail(rc, why, whylen, "cannot store the clone status");
	return op_projects_get(p, req, out, why, whylen);
}

/* ------------------------------------------------------------ workflows */

static int
op_workflows_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	json_t *a = json_array();

	(void)req;
	(void)why;
	(void)whylen;
	for (int i = 0; i < p->wf.n; i++) {
		const struct workflow *w = p->wf.w[i];
		json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:s,s:i}", "name", w->name,
		    "version", w->version, "hash", w->hash, "source", w->source, "steps", w->nsteps));
	}
	*out = json_pack("{s:o,s:O}", "workflows", a, "errors", p->wf.errors);
	return 0;
}

static int
op_workflows_get(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *name;
	const struct workflow *w;
	int rc;

	if ((rc = op_str(req->data, "name", 1, 63, &name, why, whylen)) != 0)
		return rc;
	if ((w = wf_set_find(&p->wf, name)) == NULL)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "workflow '%s' is not loaded", name);
	*out = workflow_plan_json(w, NULL, 0);
	json_object_set_new(*out, "source", json_string(w->source));
	json_object_set_new(*out, "definition", json_loads(w->text, 0, NULL));
	return 0;
}

int
planner_workflows_reload(struct planner *p)
{
	const char *dirs[] = { p->wf_dirs[0], p->wf_dirs[1], NULL };

	wf_set_free(&p->wf);
	return wf_set_load(&p->wf, dirs);
}

static int
op_workflows_reload(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	if (planner_workflows_reload(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot reload");
	return op_workflows_list(p, req, out, why, whylen);
}

/* ------------------------------------------------------------ runs */

static int
op_runs_create(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *wf, *actor;
	json_t *issue = json_object_get(req->data, "issue"), *dry = json_object_get(req->data,
	    "dry_run");
	char id[32];
	int64_t pid;
	int rc;

	if ((rc = op_project_id(p, req->data, &pid, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "workflow", 1, 63, &wf, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "actor", 0, 100, &actor, why, whylen)) != 0)
		return rc;
	if (issue != NULL && (!json_is_integer(issue) || json_integer_value(issue) < 0 ||
	    json_integer_value(issue) > 100000000))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.issue: must be an issue number");
	if (dry != NULL && !json_is_boolean(dry))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.dry_run: must be true or false");
	struct run_create rcr = { .project_id = pid, .workflow = wf, .issue = issue ?
		(int)json_integer_value(issue) : 0, .dry_run = json_is_true(dry),
		.trigger_kind = "manual", .actor = actor ? actor : "owner" };
	if ((rc = run_create(p, &rcr, NULL, 0, id, sizeof(id), why, whylen)) != 0)
		return rc;
	run_publish_pending(p);
	run_drive(p);
	*out = run_json(p, id, 0);
	return 0;
}

static int
op_runs_get(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *id;
	int rc;

	if ((rc = op_str(req->data, "run_id", 1, 64, &id, why, whylen)) != 0)
		return rc;
	if ((*out = run_json(p, id, 1)) == NULL)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no run '%s'", id);
	return 0;
}

static int
op_runs_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *state;
	json_t *lim = json_object_get(req->data, "limit"), *a;
	int64_t pid = 0;
	int rc, limit = 100;

	if ((rc = op_str(req->data, "state", 0, 32, &state, why, whylen)) != 0)
		return rc;
	if (state != NULL && run_state_parse(state) < 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.state: unknown state '%s'", state);
	if ((json_object_get(req->data, "project") != NULL) &&
	    (rc = op_project_id(p, req->data, &pid, why, whylen)) != 0)
		return rc;
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > 100000)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "data.limit: must be an integer from 1 to 100000");
		limit = (int)json_integer_value(lim);
	}
	sqlite3_stmt *st = store_query(p, "SELECT id FROM runs WHERE (?1 = 0 OR project_id = ?1) "
	    "AND (?2 IS NULL OR state = ?2) ORDER BY created_ms DESC, id LIMIT ?3", "isd", pid,
	    state, limit);
	a = json_array();
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, run_json(p, store_col_text(st, 0), 0));
	sqlite3_finalize(st);
	*out = json_pack("{s:o}", "runs", a);
	return 0;
}

static int
op_runs_cancel(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *id, *reason;
	int rc;

	if ((rc = op_str(req->data, "run_id", 1, 64, &id, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "reason", 0, 1000, &reason, why, whylen)) != 0)
		return rc;
	if ((rc = run_cancel(p, id, reason ? reason : "cancelled by the owner", why, whylen)) != 0)
		return rc;
	artifacts_capture_end(p, id); /* a cancelled run gets its cost summary too */
	*out = run_json(p, id, 0);
	return 0;
}

static int
op_runs_retry(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *id, *actor;
	char nid[32], hash[65] = "", state[32] = "";
	int rc, attempt = 0, issue = 0, dry = 0;
	int64_t pid = 0;
	const struct workflow *w;

	if ((rc = op_str(req->data, "run_id", 1, 64, &id, why, whylen)) != 0 ||
	    (rc = op_str(req->data, "actor", 0, 100, &actor, why, whylen)) != 0)
		return rc;
	sqlite3_stmt *st = store_query(p, "SELECT state, wf_hash, project_id, issue, dry_run, "
	    "attempt FROM runs WHERE id = ?", "s", id);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(state, sizeof(state), "%s", store_col_text(st, 0));
		snprintf(hash, sizeof(hash), "%s", store_col_text(st, 1));
		pid = sqlite3_column_int64(st, 2);
		issue = sqlite3_column_int(st, 3);
		dry = sqlite3_column_int(st, 4);
		attempt = sqlite3_column_int(st, 5);
	}
	sqlite3_finalize(st);
	if (state[0] == '\0')
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no run '%s'", id);
	if (strcmp(state, "failed") != 0 && strcmp(state, "cancelled") != 0)
		return jido_fail(JIDO_ECONFLICT, why, whylen, "run %s is %s: only failed or cancelled "
		    "runs can be retried", id, state);
	if ((w = run_workflow_of(p, hash)) == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "the pinned workflow cannot be read");
	struct run_create rcr = { .project_id = pid, .workflow = w->name, .issue = issue,
		.dry_run = dry, .trigger_kind = "retry", .actor = actor ? actor : "owner",
		.parent = id, .attempt = attempt + 1 };
	if ((rc = run_create(p, &rcr, w, 0, nid, sizeof(nid), why, whylen)) != 0)
		return rc;
	run_publish_pending(p);
	run_drive(p);
	*out = run_json(p, nid, 0);
	return 0;
}

static int
op_steps_result(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	/* Not driven here: the sender (executor, gitops) waits for this reply and is often
	 * the receiver of the next step, so dispatching now would block both until a bus
	 * timeout. The tick that follows this reply drives the run (a filter has no tick). */
	int rc = run_step_result(p, req->data, out, why, whylen);

	if (rc == 0 && req->filter)
		run_drive(p);
	return rc;
}

/* ------------------------------------------------------------ approvals */

static int
op_approvals_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	sqlite3_stmt *st = store_query(p, "SELECT id FROM runs WHERE state = 'awaiting_approval' "
	    "ORDER BY created_ms", "");
	json_t *a = json_array();
	int flagged = 0;

	(void)req;
	(void)why;
	(void)whylen;
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = run_json(p, store_col_text(st, 0), 0);
		const char *pk = json_string_value(json_object_get(r, "parked"));
		flagged += pk != NULL && strcmp(pk, "flagged") == 0;
		json_array_append_new(a, r);
	}
	sqlite3_finalize(st);
	*out = json_pack("{s:o,s:i,s:i}", "runs", a, "awaiting", (int)json_array_size(a),
	    "flagged", flagged);
	return 0;
}

static int
op_approvals_decide(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	return approval_decide(p, req->data, out, why, whylen);
}

static int
op_approvals_kill_switch(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	return approval_kill_switch(p, req->data, out, why, whylen);
}

/* ------------------------------------------------------------ events and deliveries */

static int
op_events_ingest(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *type;
	json_t *data = json_object_get(req->data, "data");
	int rc;

	if ((rc = op_str(req->data, "type", 1, JIDO_TYPE_MAX, &type, why, whylen)) != 0)
		return rc;
	if (!json_is_object(data))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.data: must be the event's data "
		    "object");
	if ((rc = trigger_event(p, type, data, out, why, whylen)) != 0)
		return rc;
	run_drive(p);
	return 0;
}

static int
op_deliveries_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *delivery;
	json_t *a = json_array();
	int rc;

	if ((rc = op_str(req->data, "delivery", 0, 200, &delivery, why, whylen)) != 0) {
		json_decref(a);
		return rc;
	}
	sqlite3_stmt *st = store_query(p, "SELECT delivery, type, action, repo, number, outcome, "
	    "reason, run_id, acked, received_ms FROM deliveries WHERE (?1 IS NULL OR delivery = ?1)"
	    " ORDER BY received_ms DESC LIMIT 200", "s", delivery);
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s,s:s?,s:b,s:I}",
		    "delivery", store_col_text(st, 0), "type", store_col_text(st, 1), "action",
		    store_col_text(st, 2), "repo", store_col_text(st, 3), "number",
		    sqlite3_column_int(st, 4), "outcome", store_col_text(st, 5), "reason",
		    store_col_text(st, 6), "run_id", sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
		    store_col_text(st, 7), "acked", sqlite3_column_int(st, 8), "received_ms",
		    (json_int_t)sqlite3_column_int64(st, 9)));
	sqlite3_finalize(st);
	if (delivery != NULL && json_array_size(a) == 0) {
		json_decref(a);
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no delivery '%s'", delivery);
	}
	*out = json_pack("{s:o}", "deliveries", a);
	return 0;
}

static int
op_stats(struct planner *p, const struct jido_req *req, json_t **out, char *why, size_t whylen)
{
	sqlite3_stmt *st = store_query(p, "SELECT state, count(*) FROM runs GROUP BY state", "");
	json_t *runs = json_object();

	(void)req;
	(void)why;
	(void)whylen;
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(runs, store_col_text(st, 0), json_integer(sqlite3_column_int(st,
		    1)));
	sqlite3_finalize(st);
	pthread_mutex_lock(&p->ev_mu);
	json_int_t queued = (json_int_t)json_array_size(p->ev_queue);
	json_int_t dropped = (json_int_t)p->ev_dropped;
	pthread_mutex_unlock(&p->ev_mu);
	*out = json_pack("{s:I,s:I,s:I,s:o}", "events_in", (json_int_t)p->events_in,
	    "events_queued", queued, "events_dropped", dropped, "runs", runs);
	st = store_query(p, "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM deliveries),"
	    " (SELECT count(*) FROM runs WHERE parked = 'flagged'),"
	    " (SELECT count(*) FROM runs WHERE failure_kind = 'policy_violation')", "");
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		json_object_set_new(*out, "items", json_integer(sqlite3_column_int(st, 0)));
		json_object_set_new(*out, "deliveries", json_integer(sqlite3_column_int(st, 1)));
		json_object_set_new(*out, "flagged", json_integer(sqlite3_column_int(st, 2)));
		json_object_set_new(*out, "policy_violations", json_integer(sqlite3_column_int(st,
		    3)));
	}
	sqlite3_finalize(st);
	return 0;
}

/* Upper bounds (ms) of the step-duration histogram buckets; +Inf is implied. */
static const long long op_dur_le_ms[] = { 100, 500, 1000, 5000, 10000, 30000, 60000, 300000,
	900000, 1800000, 3600000 };
#define OP_DUR_N (sizeof(op_dur_le_ms) / sizeof(op_dur_le_ms[0]))

/*
 * planner.steps.durations: a histogram of finished steps' durations (the executor's
 * duration_ms in each result) by step kind, for /metrics:
 * {"le_ms":[100,...],"kinds":{"agent":{"buckets":[cumulative counts...],"count":n,
 * "sum_ms":s},...}}. Steps without a result (approvals, still running) are not counted.
 */
static int
op_steps_durations(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	sqlite3_stmt *st = store_query(p, "SELECT kind, CAST(json_extract(result, '$.duration_ms') "
	    "AS INTEGER) FROM steps WHERE state IN ('done', 'failed') AND json_valid(result) AND "
	    "json_type(result, '$.duration_ms') IN ('integer', 'real')", "");
	json_t *kinds = json_object(), *le = json_array();
	size_t i;

	(void)req;
	if (st == NULL) {
		json_decref(kinds);
		json_decref(le);
		snprintf(why, whylen, "cannot read the steps");
		return JIDO_EINTERNAL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *kind = store_col_text(st, 0);
		long long d = sqlite3_column_int64(st, 1);
		json_t *k = json_object_get(kinds, kind), *b;
		if (k == NULL) {
			b = json_array();
			for (i = 0; i < OP_DUR_N; i++)
				json_array_append_new(b, json_integer(0));
			k = json_pack("{s:o,s:I,s:I}", "buckets", b, "count", (json_int_t)0, "sum_ms",
			    (json_int_t)0);
			json_object_set_new(kinds, kind, k);
		}
		b = json_object_get(k, "buckets");
		for (i = 0; i < OP_DUR_N; i++)
			if (d <= op_dur_le_ms[i])
				json_array_set_new(b, i, json_integer(json_integer_value(
				    json_array_get(b, i)) + 1));
		json_object_set_new(k, "count", json_integer(json_integer_value(
		    json_object_get(k, "count")) + 1));
		json_object_set_new(k, "sum_ms", json_integer(json_integer_value(
		    json_object_get(k, "sum_ms")) + d));
	}
	sqlite3_finalize(st);
	for (i = 0; i < OP_DUR_N; i++)
		json_array_append_new(le, json_integer(op_dur_le_ms[i]));
	*out = json_pack("{s:o,s:o}", "le_ms", le, "kinds", kinds);
	return 0;
}

static int
op_workbench(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	return mirror_workbench(p, req->data, out, why, whylen);
}

/* planner.issues.list {project?, state? open|closed, limit? 1-10000 (100)}: issues in the
 * mirror (not PRs), newest activity first. */
static int
op_issues_list(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *state;
	char name[256] = "";
	json_t *lim = json_object_get(req->data, "limit"), *a;
	int64_t pid = 0;
	int rc, limit = 100;

	if ((rc = op_str(req->data, "state", 0, 16, &state, why, whylen)) != 0)
		return rc;
	if (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.state: must be open or closed");
	if (json_object_get(req->data, "project") != NULL) {
		if ((rc = op_project_id(p, req->data, &pid, why, whylen)) != 0)
			return rc;
		if (project_load(p, pid, name, sizeof(name), NULL) != 0)
			return jido_fail(JIDO_ENOTFOUND, why, whylen, "no such project");
	}
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > 10000)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "data.limit: must be an integer from 1 to 10000");
		limit = (int)json_integer_value(lim);
	}
	sqlite3_stmt *st = store_query(p, "SELECT repo, number, state, title, labels, assignees, "
	    "author, url, activity_ms FROM items WHERE is_pr = 0 AND (?1 = '' OR repo = ?1) AND "
	    "(?2 IS NULL OR state = ?2) ORDER BY activity_ms DESC, repo, number LIMIT ?3", "ssd",
	    name, state, limit);
	a = json_array();
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:s,s:i,s:s,s:s,s:o,s:o,s:s,s:s,s:I}", "repo",
		    store_col_text(st, 0), "number", sqlite3_column_int(st, 1), "state",
		    store_col_text(st, 2), "title", store_col_text(st, 3), "labels",
		    store_col_json(st, 4), "assignees", store_col_json(st, 5), "author",
		    store_col_text(st, 6), "url", store_col_text(st, 7), "activity_ms",
		    (json_int_t)sqlite3_column_int64(st, 8)));
	sqlite3_finalize(st);
	*out = json_pack("{s:o}", "issues", a);
	return 0;
}

/* planner.guard.list {} and planner.guard.unfreeze {project, actor?, channel?}: the
 * per-project anomaly guard (guard.c). */
static int
op_guard(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	int64_t id = 0;
	int rc;

	if (strcmp(req->type, "planner.guard.unfreeze") == 0 &&
	    (rc = op_project_id(p, req->data, &id, why, whylen)) != 0)
		return rc;
	rc = guard_handle(p, req, id, out, why, whylen);
	if (rc == 0 && id != 0) {
		p->dirty = 1;
		run_drive(p);
	}
	return rc;
}

static const struct {
	const char *type;
	op_fn fn;
} ops[] = {
	{ "planner.projects.import", op_projects_import },
	{ "planner.projects.list", op_projects_list },
	{ "planner.projects.get", op_projects_get },
	{ "planner.projects.update", op_projects_update },
	{ "planner.projects.clone", op_projects_clone },
	{ "planner.workflows.list", op_workflows_list },
	{ "planner.workflows.get", op_workflows_get },
	{ "planner.workflows.reload", op_workflows_reload },
	{ "planner.runs.create", op_runs_create },
	{ "planner.runs.get", op_runs_get },
	{ "planner.runs.list", op_runs_list },
	{ "planner.runs.cancel", op_runs_cancel },
	{ "planner.runs.retry", op_runs_retry },
	{ "planner.steps.result", op_steps_result },
	{ "planner.approvals.list", op_approvals_list },
	{ "planner.approvals.decide", op_approvals_decide },
	{ "planner.approvals.kill_switch", op_approvals_kill_switch },
	{ "planner.events.ingest", op_events_ingest },
	{ "planner.deliveries.list", op_deliveries_list },
	{ "planner.workbench", op_workbench },
	{ "planner.issues.list", op_issues_list },
	{ "planner.stats", op_stats },
	{ "planner.steps.durations", op_steps_durations },
	{ "planner.guard.list", op_guard },
	{ "planner.guard.unfreeze", op_guard },
};

int
planner_ops_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct planner *p = planner_of(s);

	if (strncmp(req->type, "planner.executors.", 18) == 0)
		return pool_handle(p, req, out, why, whylen);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(ops[i].type, req->type) == 0)
			return ops[i].fn(p, req, out, why, whylen);
	if (strncmp(req->type, "planner.artifacts.", 18) == 0)
		return artifacts_handle(p, req, out, why, whylen);
	return jido_req_unknown(req, why, whylen);
}
