/*
 * mirror.c - the issue/PR mirror fed by ingest's events (state, labels, assignees, last
 * activity), and the workbench view over it: per project the open issues and open PRs,
 * a stale flag (no activity for the project's stale_days), and each item's latest run.
 * The built reply is cached until any row of the database changes.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "planner.h"

/* RFC 3339 "2026-11-22T02:40:00Z" to epoch ms; 0 when it does not parse. */
static int64_t
mirror_time_ms(const char *s)
{
	struct tm tm;
	char *end;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

/* A JSON array of strings as text, or NULL when v is not one. Caller frees. */
static char *
mirror_names(const json_t *v)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return NULL;
	json_t *a = json_array();
	json_array_foreach(v, i, e) {
		if (json_is_string(e))
			json_array_append(a, e);
		else if (json_is_string(json_object_get(e, "name")))  /* {"name": ...} objects */
			json_array_append(a, json_object_get(e, "name"));
		else if (json_is_string(json_object_get(e, "login")))
			json_array_append(a, json_object_get(e, "login"));
	}
	char *t = jido_json_dump(a);
	json_decref(a);
	return t;
}

int
mirror_apply(struct planner *p, const char *type, const json_t *data)
{
	const char *repo = json_string_value(json_object_get(data, "repo"));
	const char *action = json_string_value(json_object_get(data, "action"));
	const char *state = json_string_value(json_object_get(data, "state"));
	json_t *num = json_object_get(data, "number");
	int is_pr, rc;
	int64_t at;
	char *labels, *assignees;

	if (repo == NULL || !json_is_integer(num) || json_integer_value(num) <= 0)
		return 0; /* not about one issue or PR */
	is_pr = strcmp(type, "events.pull_request") == 0 || strcmp(type,
	    "events.github.pull.synced") == 0 || json_is_true(json_object_get(data, "is_pr")) ||
	    strncmp(type, "events.pull_request_", 20) == 0;
	if (strcmp(type, "events.issues") != 0 && strcmp(type, "events.issue_comment") != 0 &&
	    !is_pr && strcmp(type, "events.github.issue.synced") != 0)
		return 0;
	if (state != NULL && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0)
		state = NULL;
	if (state == NULL && action != NULL) {
		if (strcmp(action, "closed") == 0)
			state = "closed";
		else if (strcmp(action, "opened") == 0 || strcmp(action, "reopened") == 0)
			state = "open";
	}
	if (json_is_true(json_object_get(data, "merged")))
		state = "closed";
	if ((at = mirror_time_ms(json_string_value(json_object_get(data, "updated_at")))) == 0)
		at = store_now_ms();
	labels = mirror_names(json_object_get(data, "labels"));
	assignees = mirror_names(json_object_get(data, "assignees"));
	/* A comment is activity on its issue; its title/labels may be absent. */
	rc = store_exec(p, "INSERT INTO items(repo, number, is_pr, state, title, labels, assignees,"
	    " author, url, activity_ms) VALUES (?1, ?2, ?3, coalesce(?4, 'open'), coalesce(?5, ''),"
	    " coalesce(?6, '[]'), coalesce(?7, '[]'), coalesce(?8, ''), coalesce(?9, ''), ?10) "
	    "ON CONFLICT(repo, number) DO UPDATE SET is_pr = max(is_pr, excluded.is_pr), "
	    "state = coalesce(?4, state), title = coalesce(?5, title), labels = coalesce(?6, labels),"
	    " assignees = coalesce(?7, assignees), author = coalesce(?8, author), "
	    "url = coalesce(?9, url), activity_ms = max(activity_ms, ?10)",
	    "sidssssssi", repo, (int64_t)json_integer_value(num), is_pr, state,
	    json_string_value(json_object_get(data, "title")), labels, assignees,
	    strcmp(type, "events.issue_comment") == 0 ? NULL :
	    json_string_value(json_object_get(data, "author")),
	    strcmp(type, "events.issue_comment") == 0 ? NULL :
	    json_string_value(json_object_get(data, "url")), at);
	free(labels);
	free(assignees);
	return rc;
}

/* One workbench item from a row of (number, title, labels, assignees, activity_ms, url,
 * run id, run state). */
static json_t *
mirror_item(sqlite3_stmt *st, int64_t stale_before)
{
	json_t *it = json_pack("{s:i,s:s,s:o,s:o,s:I,s:s,s:b}", "number",
	    sqlite3_column_int(st, 0), "title", store_col_text(st, 1), "labels",
	    store_col_json(st, 2), "assignees", store_col_json(st, 3), "activity_ms",
	    (json_int_t)sqlite3_column_int64(st, 4), "url", store_col_text(st, 5), "stale",
	    sqlite3_column_int64(st, 4) < stale_before);

	if (sqlite3_column_type(st, 6) != SQLITE_NULL)
		json_object_set_new(it, "latest_run", json_pack("{s:s,s:s}", "id",
		    store_col_text(st, 6), "state", store_col_text(st, 7)));
	else
		json_object_set_new(it, "latest_run", json_null());
	return it;
}

int
mirror_workbench(struct planner *p, const json_t *data, json_t **out, char *why, size_t whylen)
{
	json_t *lim = json_object_get(data, "limit");
	int limit = 20;
	sqlite3_stmt *ps, *st;
	json_t *repos;

	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 0 ||
		    json_integer_value(lim) > 10000)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "data.limit: must be an integer from 0 to 10000");
		limit = (int)json_integer_value(lim);
	}
	/* Served from cache while no row changed on this connection (the planner is the
	 * database's only writer) within the same minute (stale flags depend on the clock). */
	int64_t changes = sqlite3_total_changes64(p->db), minute = store_now_ms() / 60000;
	if (p->wb_cache != NULL && p->wb_changes == changes && p->wb_minute == minute &&
	    p->wb_limit == limit) {
		*out = json_incref(p->wb_cache);
		return 0;
	}
	repos = json_array(); /* not before: a cached or refused answer would leak it */
	ps = store_query(p, "SELECT id, full_name, enabled, clone_status, settings FROM projects "
	    "ORDER BY full_name", "");
	while (ps != NULL && sqlite3_step(ps) == SQLITE_ROW) {
		json_t *settings = store_col_json(ps, 4);
		json_int_t sd = json_integer_value(json_object_get(settings, "stale_days"));
		int64_t stale_before = store_now_ms() - (int64_t)(sd > 0 ? sd : 14) * 86400000;
		const char *name = store_col_text(ps, 1);
		json_t *repo = json_pack("{s:I,s:s,s:b,s:s}", "project_id",
		    (json_int_t)sqlite3_column_int64(ps, 0), "full_name", name, "enabled",
		    sqlite3_column_int(ps, 2), "clone_status", store_col_text(ps, 3));
		json_decref(settings);
		for (int pr = 0; pr < 2; pr++) {
			json_t *items = json_array();
			int count = 0, stale = 0;
			st = store_query(p, "SELECT count(*), coalesce(sum(activity_ms < ?), 0) FROM "
			    "items WHERE repo = ? AND is_pr = ? AND state = 'open'", "isd",
			    stale_before, name, pr);
			if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
				count = sqlite3_column_int(st, 0);
				stale = sqlite3_column_int(st, 1);
			}
			sqlite3_finalize(st);
			st = store_query(p, "SELECT i.number, i.title, i.labels, i.assignees, "
			    "i.activity_ms, i.url, r.id, r.state FROM (SELECT * FROM items WHERE "
			    "repo = ? AND is_pr = ? AND state = 'open' ORDER BY activity_ms DESC "
			    "LIMIT ?) i LEFT JOIN runs r ON r.rowid = (SELECT rowid FROM runs WHERE "
			    "project_id = ? AND issue = i.number ORDER BY created_ms DESC LIMIT 1) "
			    "ORDER BY i.activity_ms DESC", "sddi", name, pr, limit,
			    (int64_t)sqlite3_column_int64(ps, 0));
			while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
				json_array_append_new(items, mirror_item(st, stale_before));
			sqlite3_finalize(st);
			json_object_set_new(repo, pr ? "open_prs" : "open_issues", items);
			json_object_set_new(repo, pr ? "open_pr_count" : "open_issue_count",
			    json_integer(count));
			json_object_set_new(repo, pr ? "stale_pr_count" : "stale_issue_count",
			    json_integer(stale));
		}
		st = store_query(p, "SELECT id, state, workflow FROM runs WHERE project_id = ? "
		    "ORDER BY created_ms DESC LIMIT 1", "i", (int64_t)sqlite3_column_int64(ps, 0));
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
			json_object_set_new(repo, "latest_run", json_pack("{s:s,s:s,s:s}", "id",
			    store_col_text(st, 0), "state", store_col_text(st, 1), "workflow",
			    store_col_text(st, 2)));
		else
			json_object_set_new(repo, "latest_run", json_null());
		sqlite3_finalize(st);
		json_array_append_new(repos, repo);
	}
	sqlite3_finalize(ps);
	*out = json_pack("{s:o}", "repos", repos);
	json_decref(p->wb_cache);
	p->wb_cache = json_incref(*out);
	p->wb_changes = changes;
	p->wb_minute = minute;
	p->wb_limit = limit;
	return 0;
}
