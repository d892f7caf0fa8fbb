/*
 * summary.c - gateway.usage.summary: the usage dashboard's figures, summed in SQL over the
 * usage records of the last N days: by day, by project, by model and the costliest runs.
 * Runs with gw.mu held by its caller (like every function over the gateway's store).
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "gw.h"

/*
 * Append one object per row of `sql` (bound ?1 = the '-N days' modifier) to a new array:
 * the grouping key under `key` (NULL keys become "(none)"), then requests, input_tokens,
 * output_tokens and cost_usd. Returns the array (caller owns) or NULL on a SQLite error.
 */
static json_t *
summary_rows(sqlite3 *db, const char *sql, const char *mod, const char *key)
{
	sqlite3_stmt *st = NULL;
	json_t *arr;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, mod, -1, SQLITE_STATIC);
	arr = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I,s:f}", key, k ? k : "(none)",
		    "requests", (json_int_t)sqlite3_column_int64(st, 1), "input_tokens",
		    (json_int_t)sqlite3_column_int64(st, 2), "output_tokens",
		    (json_int_t)sqlite3_column_int64(st, 3), "cost_usd",
		    (double)sqlite3_column_int64(st, 4) / 1e6));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

#define SUMMARY_COLS "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)," \
	" coalesce(sum(cost_musd), 0) FROM usage WHERE ts >= strftime('%Y-%m-%dT%H:%M:%S', 'now', ?1)"

/*
 * data: {"days": 1..366 (default 30)}. *out (caller owns): {"days", "by_day": [{day, ...}]
 * oldest first, "by_project": [...], "by_model": [...] costliest first, "top_runs": the 20
 * costliest runs}. Prices are the ones snapshotted in each record (never re-priced).
 */
int
gw_usage_summary(sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const json_t *d = json_object_get(data, "days");
	long long days = 30;
	char mod[32];
	json_t *by_day, *by_project, *by_model, *top;

	if (d != NULL) {
		if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 366) {
			snprintf(why, whylen, "data.days must be an integer from 1 to 366");
			return JIDO_EVALIDATION;
		}
		days = (long long)json_integer_value(d);
	}
	snprintf(mod, sizeof(mod), "-%lld days", days);
	by_day = summary_rows(db, "SELECT substr(ts, 1, 10), " SUMMARY_COLS
	    " GROUP BY 1 ORDER BY 1", mod, "day");
	by_project = summary_rows(db, "SELECT project, " SUMMARY_COLS
	    " GROUP BY 1 ORDER BY 5 DESC, 1", mod, "project");
	by_model = summary_rows(db, "SELECT model, " SUMMARY_COLS
	    " GROUP BY 1 ORDER BY 5 DESC, 1", mod, "model");
	top = summary_rows(db, "SELECT run_id, " SUMMARY_COLS
	    " AND run_id IS NOT NULL GROUP BY 1 ORDER BY 5 DESC, 1 LIMIT 20", mod, "run_id");
	if (by_day == NULL || by_project == NULL || by_model == NULL || top == NULL) {
		json_decref(by_day);
		json_decref(by_project);
		json_decref(by_model);
		json_decref(top);
		snprintf(why, whylen, "cannot read usage: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	*out = json_pack("{s:I,s:o,s:o,s:o,s:o}", "days", (json_int_t)days, "by_day", by_day,
	    "by_project", by_project, "by_model", by_model, "top_runs", top);
	return 0;
}
