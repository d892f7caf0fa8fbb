/*
 * norm.c - the normalizer: one GitHub webhook payload into one typed event for the
 * planner (events.<event>, or events.github.other for events we do not handle). Pure:
 * no I/O, no state; a field of the wrong type in a payload is treated as absent, so any
 * JSON object normalizes without error.
 */
#include <string.h>

#include "ingest.h"

static const char *const norm_handled[] = {
	"issues", "issue_comment", "pull_request", "pull_request_review",
	"pull_request_review_comment", "push", "installation", "installation_repositories",
	"repository", "label", "ping", "check_run", "check_suite", "workflow_run", NULL
};

int
ingest_norm_handled(const char *event)
{
	for (int i = 0; norm_handled[i] != NULL; i++)
		if (strcmp(norm_handled[i], event) == 0)
			return 1;
	return 0;
}

int
ingest_event_name_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL || !(*s >= 'a' && *s <= 'z'))
		return 0;
	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n <= 64;
}

int
ingest_delivery_id_ok(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++)
		if (s[n] <= ' ' || s[n] > '~')
			return 0;
	return n >= 1 && n <= JIDO_ID_MAX;
}

/* Borrowed object member when it is an object, else NULL. */
static json_t *
norm_obj(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_object(v) ? v : NULL;
}

/* New reference: the string member, or null. */
static json_t *
norm_str(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_incref(v) : json_null();
}

/* o.a.b as a string (new reference), or null. */
static json_t *
norm_str2(const json_t *o, const char *a, const char *b)
{
	return norm_str(norm_obj(o, a), b);
}

static json_t *
norm_int(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_incref(v) : json_null();
}

/* Set key to v (new reference) unless v is null and key already has a non-null value. */
static void
norm_set(json_t *d, const char *key, json_t *v)
{
	json_t *old = json_object_get(d, key);

	if (json_is_null(v) && old != NULL && !json_is_null(old)) {
		json_decref(v);
		return;
	}
	json_object_set_new(d, key, v);
}

/* Names of the labels of an issue/PR-like object: a new array (maybe empty). */
static json_t *
norm_labels(const json_t *subject)
{
	json_t *out = json_array(), *arr = json_object_get(subject, "labels"), *l;
	size_t i;

	json_array_foreach(arr, i, l) {
		json_t *n = json_object_get(l, "name");
		if (json_is_string(n))
			json_array_append(out, n);
	}
	return out;
}

/* Fill the fields of an issue or pull request subject. */
static void
norm_subject(json_t *d, const json_t *subj, int is_pull)
{
	if (subj == NULL)
		return;
	norm_set(d, "number", norm_int(subj, "number"));
	norm_set(d, "title", norm_str(subj, "title"));
	norm_set(d, "body", norm_str(subj, "body"));
	norm_set(d, "url", norm_str(subj, "html_url"));
	norm_set(d, "state", norm_str(subj, "state"));
	norm_set(d, "author", norm_str2(subj, "user", "login"));
	norm_set(d, "author_association", norm_str(subj, "author_association"));
	json_object_set_new(d, "labels", norm_labels(subj));
	if (is_pull || norm_obj(subj, "pull_request") != NULL)
		json_object_set_new(d, "is_pull", json_true());
	if (is_pull) {
		norm_set(d, "head_ref", norm_str2(subj, "head", "ref"));
		norm_set(d, "base_ref", norm_str2(subj, "base", "ref"));
		norm_set(d, "head_sha", norm_str2(subj, "head", "sha"));
		json_t *m = json_object_get(subj, "merged");
		if (json_is_boolean(m))
			json_object_set(d, "merged", m);
	}
}

/* Fill the fields of a comment or review (its body, URL and author win over the
 * subject's: the planner reacts to what was said). */
static void
norm_comment(json_t *d, const json_t *c)
{
	if (c == NULL)
		return;
	json_object_set_new(d, "body", norm_str(c, "body"));
	norm_set(d, "url", norm_str(c, "html_url"));
	norm_set(d, "author_association", norm_str(c, "author_association"));
	norm_set(d, "comment_id", norm_int(c, "id"));
}

/* check_run, check_suite, workflow_run: status, conclusion, head, first PR's number. */
static void
norm_check(json_t *d, const json_t *c)
{
	json_t *prs, *pr;

	if (c == NULL)
		return;
	norm_set(d, "name", norm_str(c, "name"));
	norm_set(d, "status", norm_str(c, "status"));
	norm_set(d, "conclusion", norm_str(c, "conclusion"));
	norm_set(d, "head_sha", norm_str(c, "head_sha"));
	norm_set(d, "head_ref", norm_str(c, "head_branch"));
	norm_set(d, "url", norm_str(c, "html_url"));
	prs = json_object_get(c, "pull_requests");
	pr = json_array_get(prs, 0);
	if (json_is_object(pr)) {
		norm_set(d, "number", norm_int(pr, "number"));
		norm_set(d, "head_ref", norm_str2(pr, "head", "ref"));
		norm_set(d, "base_ref", norm_str2(pr, "base", "ref"));
	}
}

/* Full names of an array of repositories: a new array. */
static json_t *
norm_repo_names(const json_t *arr)
{
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach(arr, i, r) {
		json_t *n = json_object_get(r, "full_name");
		if (json_is_string(n))
			json_array_append(out, n);
	}
	return out;
}

int
ingest_norm(const char *event, const char *delivery, const json_t *p, json_t **data,
    char *type, size_t typelen, char *why, size_t whylen)
{
	const json_t *repo, *inst;
	json_t *d;
	int handled;

	*data = NULL;
	if (!ingest_event_name_ok(event)) {
		snprintf(why, whylen, "event name is not [a-z][a-z0-9_]*");
		return JIDO_EVALIDATION;
	}
	if (!json_is_object(p)) {
		snprintf(why, whylen, "payload is not a JSON object");
		return JIDO_EVALIDATION;
	}
	handled = ingest_norm_handled(event);
	snprintf(type, typelen, "events.%s", handled ? event : "github.other");
	repo = norm_obj(p, "repository");
	d = json_pack("{s:s,s:s,s:o,s:o,s:n,s:o,s:o,s:[],s:n,s:n,s:o,s:n,s:n}",
	    "delivery", delivery, "event", event,
	    "action", norm_str(p, "action"),
	    "repo", norm_str(repo, "full_name"),
	    "number",
	    "actor", norm_str2(p, "sender", "login"),
	    "actor_type", norm_str2(p, "sender", "type"),
	    "labels",
	    "title", "body",
	    "url", norm_str(repo, "html_url"),
	    "head_ref", "base_ref");
	if (d == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	json_object_set_new(d, "author_association", json_null());
	if ((inst = norm_obj(p, "installation")) != NULL)
		json_object_set_new(d, "installation_id", norm_int(inst, "id"));
	if (!handled) {
		/* A reference to the stored delivery: jido deliveries show <delivery>. */
		json_object_set_new(d, "stored", json_true());
		*data = d;
		return 0;
	}
	if (strcmp(event, "issues") == 0) {
		norm_subject(d, norm_obj(p, "issue"), 0);
		if (norm_obj(p, "label") != NULL)
			json_object_set_new(d, "label", norm_str2(p, "label", "name"));
	} else if (strcmp(event, "issue_comment") == 0) {
		norm_subject(d, norm_obj(p, "issue"), 0);
		norm_comment(d, norm_obj(p, "comment"));
	} else if (strcmp(event, "pull_request") == 0) {
		norm_subject(d, norm_obj(p, "pull_request"), 1);
		if (norm_obj(p, "label") != NULL)
			json_object_set_new(d, "label", norm_str2(p, "label", "name"));
	} else if (strcmp(event, "pull_request_review") == 0) {
		const json_t *rv = norm_obj(p, "review");
		norm_subject(d, norm_obj(p, "pull_request"), 1);
		norm_comment(d, rv);
		if (rv != NULL)
			json_object_set_new(d, "review_state", norm_str(rv, "state"));
	} else if (strcmp(event, "pull_request_review_comment") == 0) {
		norm_subject(d, norm_obj(p, "pull_request"), 1);
		norm_comment(d, norm_obj(p, "comment"));
	} else if (strcmp(event, "push") == 0) {
		json_t *commits = json_object_get(p, "commits");
		norm_set(d, "ref", norm_str(p, "ref"));
		norm_set(d, "head_sha", norm_str(p, "after"));
		norm_set(d, "before_sha", norm_str(p, "before"));
		norm_set(d, "url", norm_str(p, "compare"));
		json_object_set_new(d, "commits", json_integer(json_is_array(commits) ?
		    (json_int_t)json_array_size(commits) : 0));
		json_t *ref = json_object_get(p, "ref");
		if (json_is_string(ref) && strncmp(json_string_value(ref), "refs/heads/", 11) == 0)
			json_object_set_new(d, "head_ref",
			    json_string(json_string_value(ref) + 11));
		if (json_object_get(p, "pusher") != NULL)
			norm_set(d, "actor", norm_str2(p, "pusher", "name"));
		if (norm_obj(p, "sender") != NULL)
			json_object_set_new(d, "actor", norm_str2(p, "sender", "login"));
	} else if (strcmp(event, "installation") == 0) {
		norm_set(d, "account", norm_str2(inst, "account", "login"));
		json_object_set_new(d, "repos",
		    norm_repo_names(json_object_get(p, "repositories")));
	} else if (strcmp(event, "installation_repositories") == 0) {
		norm_set(d, "account", norm_str2(inst, "account", "login"));
		json_object_set_new(d, "repos_added",
		    norm_repo_names(json_object_get(p, "repositories_added")));
		json_object_set_new(d, "repos_removed",
		    norm_repo_names(json_object_get(p, "repositories_removed")));
	} else if (strcmp(event, "repository") == 0) {
		if (repo != NULL) {
			json_object_set_new(d, "private", json_boolean(json_is_true(
			    json_object_get(repo, "private"))));
			norm_set(d, "default_branch", norm_str(repo, "default_branch"));
			norm_set(d, "body", norm_str(repo, "description"));
		}
	} else if (strcmp(event, "label") == 0) {
		const json_t *l = norm_obj(p, "label");
		json_t *names = json_array();
		if (l != NULL && json_is_string(json_object_get(l, "name")))
			json_array_append(names, json_object_get(l, "name"));
		json_object_set_new(d, "labels", names);
		json_object_set_new(d, "label", norm_str(l, "name"));
		norm_set(d, "url", norm_str(l, "url"));
	} else if (strcmp(event, "ping") == 0) {
		norm_set(d, "zen", norm_str(p, "zen"));
		norm_set(d, "hook_id", norm_int(p, "hook_id"));
	} else if (strcmp(event, "check_run") == 0) {
		const json_t *cr = norm_obj(p, "check_run");
		norm_check(d, cr);
		if (cr != NULL && norm_obj(cr, "check_suite") != NULL)
			norm_set(d, "head_ref", norm_str2(cr, "check_suite", "head_branch"));
	} else if (strcmp(event, "check_suite") == 0) {
		const json_t *cs = norm_obj(p, "check_suite");
		norm_check(d, cs);
		if (cs != NULL)
			norm_set(d, "name", norm_str2(cs, "app", "name"));
	} else if (strcmp(event, "workflow_run") == 0) {
		const json_t *wr = norm_obj(p, "workflow_run");
		norm_check(d, wr);
		if (wr != NULL)
			norm_set(d, "title", norm_str(wr, "display_title"));
	}
	*data = d;
	return 0;
}
