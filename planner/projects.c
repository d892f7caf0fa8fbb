/*
 * projects.c - projects: their default settings, the validated merge of a settings patch,
 * and lookups by id or full name. The operations that create and change projects live in
 * ops.c; this file owns what a valid settings object is.
 */
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "planner.h"

json_t *
project_default_settings(void)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,"
	    "s:{s:s,s:{s:s},s:{s:s,s:s},s:[sss]},"
	    "s:b,s:b,s:i,s:[s],s:[],s:{s:b,s:[s],s:[]},s:i}",
	    "default_branch", "main", "branch_prefix", "jidocode/", "setup_command", "",
	    "build_command", "", "test_command", "", "runner", "claude", "model", "",
	    "triggers", "issue_opened", "issue_triage", "labels", "jido:fix", "fix_issue",
	    "comments", "/jido fix", "fix_issue", "/jido triage", "issue_triage",
	    "allowed_associations", "OWNER", "MEMBER", "COLLABORATOR",
	    "auto_ship", 0, "auto_post", 0, "max_diff_lines", 500,
	    "forbidden_paths", ".github/workflows/**", "allowed_paths",
	    "pr", "draft", 1, "labels", "jidocode", "reviewers",
	    "stale_days", 14);
}

static int
ps_strings(const json_t *a)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > 100)
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 200)
			return 0;
	return 1;
}

static int
ps_assoc_ok(const json_t *a)
{
	static const char *const ok[] = { "OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR",
		"FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "NONE", NULL };
	size_t i;
	json_t *v;

	if (!ps_strings(a))
		return 0;
	json_array_foreach(a, i, v) {
		int known = 0;
		for (int k = 0; ok[k] != NULL; k++)
			known |= strcmp(ok[k], json_string_value(v)) == 0;
		if (!known)
			return 0;
	}
	return 1;
}

/* A map from label or comment command to a workflow name. */
static int
ps_map_ok(const json_t *o)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o) || json_object_size(o) > 50)
		return 0;
	json_object_foreach((json_t *)o, k, v)
		if (k[0] == '\0' || !json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > 63)
			return 0;
	return 1;
}

/* Check one value against the default's shape; prefix names it in why. */
static int
ps_check(const char *prefix, const char *key, const json_t *def, const json_t *v, char *why,
    size_t whylen)
{
	if (strcmp(key, "allowed_associations") == 0) {
		if (!ps_assoc_ok(v))
			return jido_fail(JIDO_EVALIDATION, why, whylen, "settings.%s%s: must be an "
			    "array of GitHub author associations (OWNER, MEMBER, COLLABORATOR, "
			    "CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, FIRST_TIMER, NONE)", prefix, key);
		return 0;
	}
	if (strcmp(prefix, "triggers.") == 0 && (strcmp(key, "labels") == 0 ||
	    strcmp(key, "comments") == 0)) {
		if (!ps_map_ok(v))
			return jido_fail(JIDO_EVALIDATION, why, whylen, "settings.%s%s: must be an "
			    "object mapping names to workflow names", prefix, key);
		return 0;
	}
	if (strcmp(key, "issue_opened") == 0) {
		if (!json_is_null(v) && !(json_is_string(v) && json_string_length(v) > 0))
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "settings.%s%s: must be a workflow name or null (off)", prefix, key);
		return 0;
	}
	if (json_is_array(def)) {
		if (!ps_strings(v))
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "settings.%s%s: must be an array of non-empty strings", prefix, key);
		return 0;
	}
	if (json_is_boolean(def) && !json_is_boolean(v))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "settings.%s%s: must be true or false",
		    prefix, key);
	if (json_is_integer(def) && (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 100000000))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "settings.%s%s: must be a non-negative integer", prefix, key);
	if (json_is_string(def) && (!json_is_string(v) || json_string_length(v) > 4096))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "settings.%s%s: must be a string (at most 4096 bytes)", prefix, key);
	return 0;
}

int
project_settings_merge(json_t *settings, const json_t *patch, char *why, size_t whylen)
{
	json_t *defs = project_default_settings(), *copy = json_deep_copy(settings);
	const char *k, *k2;
	json_t *v, *v2;
	int rc = 0;

	if (defs == NULL || copy == NULL) {
		rc = JIDO_EINTERNAL;
		goto out;
	}
	if (!json_is_object(patch)) {
		rc = jido_fail(JIDO_EVALIDATION, why, whylen, "settings must be an object");
		goto out;
	}
	json_object_foreach((json_t *)patch, k, v) {
		json_t *def = json_object_get(defs, k);
		if (def == NULL) {
			rc = jido_fail(JIDO_EVALIDATION, why, whylen, "settings.%s: unknown setting", k);
			goto out;
		}
		if (json_is_object(def)) { /* triggers, pr: merge one level down */
			json_t *cur = json_object_get(copy, k);
			if (!json_is_object(v)) {
				rc = jido_fail(JIDO_EVALIDATION, why, whylen,
				    "settings.%s: must be an object", k);
				goto out;
			}
			char prefix[64];
			snprintf(prefix, sizeof(prefix), "%s.", k);
			json_object_foreach(v, k2, v2) {
				json_t *d2 = json_object_get(def, k2);
				if (d2 == NULL) {
					rc = jido_fail(JIDO_EVALIDATION, why, whylen,
					    "settings.%s%s: unknown setting", prefix, k2);
					goto out;
				}
				if ((rc = ps_check(prefix, k2, d2, v2, why, whylen)) != 0)
					goto out;
				json_object_set(cur, k2, v2);
			}
			continue;
		}
		if ((rc = ps_check("", k, def, v, why, whylen)) != 0)
			goto out;
		json_object_set(copy, k, v);
	}
	json_object_update(settings, copy);
out:
	json_decref(defs);
	json_decref(copy);
	return rc;
}

/* Fill from a row of (id, settings, enabled, full_name). */
static int
project_row(sqlite3_stmt *st, int64_t *id, json_t **settings, int *enabled, char *full_name,
    size_t len)
{
	if (id != NULL)
		*id = sqlite3_column_int64(st, 0);
	if (settings != NULL) {
		*settings = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
		if (*settings == NULL)
			return JIDO_EINTERNAL;
	}
	if (enabled != NULL)
		*enabled = sqlite3_column_int(st, 2);
	if (full_name != NULL)
		snprintf(full_name, len, "%s", (const char *)sqlite3_column_text(st, 3));
	return 0;
}

int
project_find(struct planner *p, const char *full_name, int64_t *id, json_t **settings,
    int *enabled)
{
	sqlite3_stmt *st;
	int rc = JIDO_ENOTFOUND;

	if (sqlite3_prepare_v2(p->db, "SELECT id, settings, enabled, full_name FROM projects "
	    "WHERE full_name = ?", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_text(st, 1, full_name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = project_row(st, id, settings, enabled, NULL, 0);
	sqlite3_finalize(st);
	return rc;
}

int
project_load(struct planner *p, int64_t id, char *full_name, size_t len, json_t **settings)
{
	sqlite3_stmt *st;
	int rc = JIDO_ENOTFOUND;

	if (sqlite3_prepare_v2(p->db, "SELECT id, settings, enabled, full_name FROM projects "
	    "WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		rc = project_row(st, NULL, settings, NULL, full_name, len);
	sqlite3_finalize(st);
	return rc;
}
