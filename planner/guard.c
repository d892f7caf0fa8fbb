/*
 * guard.c - the planner's per-project anomaly guard: every ship step (a push) and every
 * comment step the planner sends to gitops is counted per project in a rolling hour, in
 * the planner's database (so the count survives restarts). Sending one more than
 * planner.guard_pushes_per_hour (or _comments_per_hour) freezes the project: its ship and
 * comment steps park (parked = 'frozen') instead of going to gitops, releasing one is
 * refused with the shared error `frozen` (REST 423) until the owner unfreezes the project
 * (planner.guard.unfreeze), and the freeze is audited (guard.freeze) and announced on
 * runs.pub as guard.frozen, which the web turns into a notification. The web lists frozen
 * projects on the dashboard (planner.guard.list). The planner is the one sender of ship
 * and comment jobs, so counting here sees every push and comment JidoCode makes.
 */
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

#define GUARD_WINDOW_MS (3600 * 1000LL)

static const char guard_schema[] =
	"CREATE TABLE IF NOT EXISTS guard_events(job TEXT PRIMARY KEY, project_id INTEGER NOT "
	"NULL, kind TEXT NOT NULL, at_ms INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS guard_events_project ON guard_events(project_id, kind, at_ms);"
	"CREATE TABLE IF NOT EXISTS guard_frozen(project_id INTEGER PRIMARY KEY, kind TEXT NOT "
	"NULL, reason TEXT NOT NULL, at_ms INTEGER NOT NULL, announced INTEGER NOT NULL DEFAULT 0);";

int
guard_open(struct planner *p, char *why, size_t whylen)
{
	char *err = NULL;

	if (sqlite3_exec(p->db, guard_schema, NULL, NULL, &err) != SQLITE_OK) {
		snprintf(why, whylen, "guard tables: %s", err ? err : "sqlite error");
		sqlite3_free(err);
		return JIDO_EINTERNAL;
	}
	p->guard_unannounced = 1; /* a freeze made before a restart may not be announced yet */
	return 0;
}

int
guard_project_frozen(struct planner *p, int64_t project_id, char *reason, size_t len)
{
	sqlite3_stmt *st = store_query(p, "SELECT reason FROM guard_frozen WHERE project_id = ?",
	    "i", project_id);
	int frozen = 0;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		frozen = 1;
		if (reason != NULL)
			snprintf(reason, len, "%s", store_col_text(st, 0));
	}
	sqlite3_finalize(st);
	return frozen;
}

int
guard_step(struct planner *p, int64_t project_id, int is_ship, const char *job, char *reason,
    size_t len)
{
	const char *kind = is_ship ? "push" : "comment";
	long long limit = jido_conf_int(jido_srv_conf(p->srv), is_ship ?
	    "planner.guard_pushes_per_hour" : "planner.guard_comments_per_hour");
	int64_t now = store_now_ms();
	sqlite3_stmt *st;
	int n = 0, seen = 0;

	if (guard_project_frozen(p, project_id, reason, len))
		return 1;
	if (limit <= 0)
		return 0;
	st = store_query(p, "SELECT 1 FROM guard_events WHERE job = ?", "s", job);
	seen = st != NULL && sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (seen) /* the same job sent again (a resend after a failed send): counted once */
		return 0;
	st = store_query(p, "SELECT count(*) FROM guard_events WHERE project_id = ? AND kind = ? "
	    "AND at_ms > ?", "isi", project_id, kind, now - GUARD_WINDOW_MS);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (n >= limit) {
		const char *what = is_ship ? "pushes" : "comments";
		snprintf(reason, len, "%d %s in the last hour (limit planner.guard_%s_per_hour "
		    "= %lld)", n + 1, what, what, limit);
		if (store_exec(p, "INSERT OR IGNORE INTO guard_frozen(project_id, kind, reason, "
		    "at_ms) VALUES (?, ?, ?, ?)", "issi", project_id, kind, reason, now) != 0)
			return -1;
		p->guard_unannounced = 1;
		jido_warn("planner.guard_frozen", "{s:I,s:s,s:s}", "project_id",
		    (json_int_t)project_id, "kind", kind, "reason", reason);
		return 1;
	}
	if (store_exec(p, "INSERT INTO guard_events(job, project_id, kind, at_ms) VALUES "
	    "(?, ?, ?, ?)", "sisi", job, project_id, kind, now) != 0 ||
	    store_exec(p, "DELETE FROM guard_events WHERE project_id = ? AND at_ms <= ?", "ii",
	    project_id, now - GUARD_WINDOW_MS) != 0)
		return -1;
	return 0;
}

/* The frozen projects (only those not yet announced when `fresh`), oldest first:
 * [{project_id, project, kind, reason, at_ms}]. New reference. */
static json_t *
guard_rows(struct planner *p, int fresh)
{
	sqlite3_stmt *st = store_query(p, "SELECT g.project_id, coalesce(p.full_name, ''), g.kind,"
	    " g.reason, g.at_ms FROM guard_frozen g LEFT JOIN projects p ON p.id = g.project_id "
	    "WHERE (? = 0 OR g.announced = 0) ORDER BY g.at_ms, g.project_id", "d", fresh);
	json_t *a = json_array();

	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s,s:I}", "project_id",
		    (json_int_t)sqlite3_column_int64(st, 0), "project", store_col_text(st, 1), "kind",
		    store_col_text(st, 2), "reason", store_col_text(st, 3), "at_ms",
		    (json_int_t)sqlite3_column_int64(st, 4)));
	sqlite3_finalize(st);
	return a;
}

void
guard_announce(struct planner *p)
{
	json_t *todo, *f;
	size_t i;

	if (!p->guard_unannounced || jido_now_ms() < p->guard_retry_ms)
		return;
	todo = guard_rows(p, 1);
	p->guard_unannounced = 0;
	json_array_foreach(todo, i, f) {
		const char *name = json_string_value(json_object_get(f, "project"));
		char subj[300];
		snprintf(subj, sizeof(subj), "project:%s", name);
		/* Audited first; without the auditor's acknowledgement it is tried again later
		 * (the freeze itself already holds). */
		if (audit_append_sync(p, "guard", "system", "guard.freeze", subj, NULL, "frozen",
		    json_pack("{s:O,s:O}", "kind", json_object_get(f, "kind"), "reason",
		    json_object_get(f, "reason"))) != 0) {
			p->guard_unannounced = 1;
			p->guard_retry_ms = jido_now_ms() + 5000; /* not every tick */
			continue;
		}
		jido_srv_publish(p->srv, "guard.frozen", name, json_incref(f));
		store_exec(p, "UPDATE guard_frozen SET announced = 1 WHERE project_id = ?", "i",
		    (int64_t)json_integer_value(json_object_get(f, "project_id")));
	}
	json_decref(todo);
}

int
guard_handle(struct planner *p, const struct jido_req *req, int64_t project_id, json_t **out,
    char *why, size_t whylen)
{
	const char *actor = json_string_value(json_object_get(req->data, "actor"));
	const char *chan = json_string_value(json_object_get(req->data, "channel"));
	char name[256] = "", subj[300];
	int rc;

	if (strcmp(req->type, "planner.guard.list") == 0) {
		*out = json_pack("{s:o}", "frozen", guard_rows(p, 0));
		return 0;
	}
	if (project_load(p, project_id, name, sizeof(name), NULL) != 0)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no project %lld", (long long)project_id);
	if (!guard_project_frozen(p, project_id, NULL, 0))
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "project %s is not frozen", name);
	snprintf(subj, sizeof(subj), "project:%s", name);
	/* Audit first, synchronously: no durable record, no effect. */
	if (audit_append_sync(p, actor ? actor : "owner", chan ? chan : "cli", "guard.unfreeze",
	    subj, NULL, "ok", NULL) != 0)
		return jido_fail(JIDO_EUNAVAIL, why, whylen, "the auditor did not confirm the record: "
		    "the project stays frozen");
	/* The counts start afresh: the owner looked at what happened. */
	if (store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	if ((rc = store_exec(p, "DELETE FROM guard_frozen WHERE project_id = ?", "i",
	    project_id)) != 0 || (rc = store_exec(p, "DELETE FROM guard_events WHERE project_id "
	    "= ?", "i", project_id)) != 0 || (rc = store_commit(p)) != 0) {
		store_rollback(p);
		return jido_fail(rc, why, whylen, "cannot unfreeze");
	}
	jido_info("planner.guard_unfrozen", "{s:s}", "project", name);
	*out = json_pack("{s:I,s:s,s:b}", "project_id", (json_int_t)project_id, "project", name,
	    "frozen", 0);
	return 0;
}
