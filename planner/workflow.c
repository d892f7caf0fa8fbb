/*
 * workflow.c - workflow definitions: versioned JSON files parsed and validated when loaded
 * (unknown step kind, missing or ill-typed field, unknown field, dangling reference, a
 * cycle through `next`), each refusal naming the file, the step and the field; the set of
 * loaded definitions (built-ins, then the owner's folder); the run plan of a definition.
 *
 * File format:
 *   {"name": "fix_issue", "version": 1, "description": "...",
 *    "steps": [{"id": "plan", "kind": "agent", "prompt": "...", "timeout_s": 600,
 *               "retries": 1, "next": "code", "on_failure": "report",
 *               "skip_if": "auto_ship", "runner": "claude"}, ...]}
 * The first step starts the run; a step without "next" continues with the one after it
 * (the last one ends the run); "next": null ends the run.
 */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "planner.h"

static const char *const kind_names[KIND_NKINDS] = { "fetch_issue", "agent", "shell",
	"approval", "ship", "comment" };

const char *
step_kind_name(int k)
{
	return k >= 0 && k < KIND_NKINDS ? kind_names[k] : "unknown";
}

int
step_kind_parse(const char *name)
{
	for (int i = 0; name != NULL && i < KIND_NKINDS; i++)
		if (strcmp(kind_names[i], name) == 0)
			return i;
	return -1;
}

void
workflow_free(struct workflow *w)
{
	if (w == NULL)
		return;
	for (int i = 0; i < w->nsteps; i++)
		json_decref(w->steps[i].spec);
	free(w->steps);
	free(w->text);
	free(w);
}

int
workflow_step_index(const struct workflow *w, const char *id)
{
	for (int i = 0; id != NULL && i < w->nsteps; i++)
		if (strcmp(w->steps[i].id, id) == 0)
			return i;
	return -1;
}

static int
wf_ident_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* Integer field with bounds; absent = def. */
static int
wf_int_field(const char *src, const char *step, const json_t *o, const char *key, int def,
    int lo, int hi, int *out, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "%s: step '%s': field '%s': must be an integer from %d to %d", src, step, key, lo,
		    hi);
	*out = (int)json_integer_value(v);
	return 0;
}

/* The fields a step of each kind must carry, beyond id and kind. */
static const char *
wf_required_field(int kind)
{
	switch (kind) {
	case KIND_AGENT: return "prompt";
	case KIND_SHELL: return "command";
	case KIND_COMMENT: return "body";
	default: return NULL;
	}
}

static const char *const wf_step_keys[] = { "id", "kind", "description", "timeout_s", "retries",
	"next", "on_failure", "skip_if", "runner", "model", "prompt", "command", "body", NULL };

static int
wf_parse_step(const char *src, struct workflow *w, int i, const json_t *o, char *why,
    size_t whylen)
{
	struct wf_step *st = &w->steps[i];
	const char *key, *req;
	const json_t *v, *val;
	char label[32];
	int rc;

	snprintf(label, sizeof(label), "#%d", i + 1);
	if (!json_is_object(o))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "%s: step %s: must be an object", src,
		    label);
	v = json_object_get(o, "id");
	if (v == NULL)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "%s: step %s: field 'id': missing",
		    src, label);
	if (!json_is_string(v) || !wf_ident_ok(json_string_value(v), sizeof(st->id)))
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "%s: step %s: field 'id': must be a string of a-z, 0-9, '_' or '-' (1-63)",
		    src, label);
	snprintf(st->id, sizeof(st->id), "%s", json_string_value(v));
	if (workflow_step_index(w, st->id) < i)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "%s: step '%s': field 'id': duplicate",
		    src, st->id);
	json_object_foreach((json_t *)o, key, val) {
		int known = 0;
		for (int k = 0; wf_step_keys[k] != NULL; k++)
			known |= strcmp(wf_step_keys[k], key) == 0;
		if (!known)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field '%s': unknown field", src, st->id, key);
	}
	v = json_object_get(o, "kind");
	if (v == NULL)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "%s: step '%s': field 'kind': missing",
		    src, st->id);
	if (!json_is_string(v) || (st->kind = step_kind_parse(json_string_value(v))) < 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen,
		    "%s: step '%s': field 'kind': unknown step kind '%s' (expected fetch_issue, "
		    "agent, shell, approval, ship or comment)", src, st->id,
		    json_is_string(v) ? json_string_value(v) : "(not a string)");
	if ((req = wf_required_field(st->kind)) != NULL) {
		v = json_object_get(o, req);
		if (v == NULL)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field '%s': missing (required for kind %s)", src, st->id,
			    req, kind_names[st->kind]);
		if (!json_is_string(v) || json_string_length(v) == 0)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field '%s': must be a non-empty string", src, st->id, req);
	}
	if ((rc = wf_int_field(src, st->id, o, "timeout_s", 600, 1, 2592000, &st->timeout_s, why,
	    whylen)) != 0 || (rc = wf_int_field(src, st->id, o, "retries", 0, 0, 10, &st->retries,
	    why, whylen)) != 0)
		return rc;
	static const char *const strs[] = { "skip_if", "runner", "model", "description", "prompt",
		"command", "body", NULL };
	for (int k = 0; strs[k] != NULL; k++) {
		v = json_object_get(o, strs[k]);
		if (v != NULL && !json_is_string(v))
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field '%s': must be a string", src, st->id, strs[k]);
	}
	v = json_object_get(o, "skip_if");
	if (v != NULL) {
		const char *s = json_string_value(v);
		if (strcmp(s, "auto_post") != 0 && strcmp(s, "auto_ship") != 0)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field 'skip_if': must be auto_post or auto_ship", src,
			    st->id);
		snprintf(st->skip_if, sizeof(st->skip_if), "%s", s);
	}
	v = json_object_get(o, "runner");
	if (v != NULL) {
		if (!wf_ident_ok(json_string_value(v), sizeof(st->runner)))
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field 'runner': must be a short name", src, st->id);
		snprintf(st->runner, sizeof(st->runner), "%s", json_string_value(v));
	}
	st->spec = json_deep_copy(o);
	return st->spec == NULL ? JIDO_EINTERNAL : 0;
}

/* Resolve next/on_failure references, then refuse a cycle through `next`. */
static int
wf_link(const char *src, struct workflow *w, const json_t *steps, char *why, size_t whylen)
{
	for (int i = 0; i < w->nsteps; i++) {
		const json_t *o = json_array_get(steps, (size_t)i), *v;
		struct wf_step *st = &w->steps[i];

		v = json_object_get(o, "next");
		if (v == NULL)
			st->next = i + 1 < w->nsteps ? i + 1 : -1;
		else if (json_is_null(v))
			st->next = -1;
		else if (!json_is_string(v) || (st->next = workflow_step_index(w,
		    json_string_value(v))) < 0)
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field 'next': no step '%s' in this workflow", src, st->id,
			    json_is_string(v) ? json_string_value(v) : "(not a string)");
		v = json_object_get(o, "on_failure");
		st->on_failure = -1;
		if (v != NULL && !json_is_null(v) && (!json_is_string(v) ||
		    (st->on_failure = workflow_step_index(w, json_string_value(v))) < 0))
			return jido_fail(JIDO_EVALIDATION, why, whylen,
			    "%s: step '%s': field 'on_failure': no step '%s' in this workflow", src,
			    st->id, json_is_string(v) ? json_string_value(v) : "(not a string)");
	}
	/* Each step has one `next`: walking from any step must end within nsteps hops. */
	for (int i = 0; i < w->nsteps; i++) {
		int cur = i;
		for (int hops = 0; cur >= 0; hops++) {
			if (hops > w->nsteps) {
				const char *field = json_object_get(json_array_get(steps,
				    (size_t)i), "next") != NULL ? "next" : "next (implicit)";
				return jido_fail(JIDO_EVALIDATION, why, whylen,
				    "%s: step '%s': field '%s': cycle through next (a loop back "
				    "belongs in on_failure)", src, w->steps[i].id, field);
			}
			cur = w->steps[cur].next;
		}
	}
	return 0;
}

int
workflow_parse(const char *source, const char *text, size_t len, struct workflow **out,
    char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root, *v, *steps;
	struct workflow *w = NULL;
	const char *key;
	unsigned char h[crypto_hash_sha256_BYTES];
	int rc = JIDO_EVALIDATION;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "%s: line %d: malformed JSON: %s",
		    source, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		jido_fail(rc, why, whylen, "%s: must be a JSON object", source);
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "version") != 0 &&
		    strcmp(key, "description") != 0 && strcmp(key, "steps") != 0) {
			jido_fail(rc, why, whylen, "%s: field '%s': unknown field", source, key);
			goto out;
		}
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		rc = JIDO_EINTERNAL;
		goto out;
	}
	v = json_object_get(root, "name");
	if (v == NULL || !json_is_string(v) || !wf_ident_ok(json_string_value(v), sizeof(w->name))) {
		jido_fail(rc, why, whylen, "%s: field 'name': %s", source, v == NULL ? "missing" :
		    "must be a string of a-z, 0-9, '_' or '-' (1-63)");
		goto out;
	}
	snprintf(w->name, sizeof(w->name), "%s", json_string_value(v));
	v = json_object_get(root, "version");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 1000000) {
		jido_fail(rc, why, whylen, "%s: field 'version': %s", source, v == NULL ? "missing" :
		    "must be a positive integer");
		goto out;
	}
	w->version = (int)json_integer_value(v);
	v = json_object_get(root, "description");
	if (v != NULL && !json_is_string(v)) {
		jido_fail(rc, why, whylen, "%s: field 'description': must be a string", source);
		goto out;
	}
	steps = json_object_get(root, "steps");
	if (steps == NULL || !json_is_array(steps) || json_array_size(steps) == 0 ||
	    json_array_size(steps) > 64) {
		jido_fail(rc, why, whylen, "%s: field 'steps': %s", source, steps == NULL ? "missing" :
		    "must be an array of 1 to 64 steps");
		goto out;
	}
	w->nsteps = (int)json_array_size(steps);
	if ((w->steps = calloc((size_t)w->nsteps, sizeof(*w->steps))) == NULL) {
		rc = JIDO_EINTERNAL;
		goto out;
	}
	for (int i = 0; i < w->nsteps; i++) {
		w->steps[i].next = w->steps[i].on_failure = -1;
		if ((rc = wf_parse_step(source, w, i, json_array_get(steps, (size_t)i), why,
		    whylen)) != 0) {
			w->nsteps = i; /* only the parsed ones own a spec */
			goto out;
		}
	}
	if ((rc = wf_link(source, w, steps, why, whylen)) != 0)
		goto out;
	if ((w->text = malloc(len + 1)) == NULL) {
		rc = JIDO_EINTERNAL;
		goto out;
	}
	memcpy(w->text, text, len);
	w->text[len] = '\0';
	crypto_hash_sha256(h, (const unsigned char *)text, len);
	sodium_bin2hex(w->hash, sizeof(w->hash), h, sizeof(h));
	snprintf(w->source, sizeof(w->source), "%s", source);
	w->start = 0;
	*out = w;
	w = NULL;
	rc = 0;
out:
	workflow_free(w);
	json_decref(root);
	return rc;
}

static int
wf_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Load one folder's *.json (sorted, so errors and overrides are deterministic). */
static void
wf_set_load_dir(struct wf_set *set, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
			if (nn == NULL)
				break;
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), wf_name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX], why[1024];
		struct workflow *w = NULL;
		FILE *f;
		char *buf = NULL;
		size_t len = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if ((f = fopen(path, "re")) == NULL) {
			snprintf(why, sizeof(why), "%s: cannot read: %s", path, strerror(errno));
			goto bad;
		}
		buf = malloc(1 << 20);
		len = buf ? fread(buf, 1, 1 << 20, f) : 0;
		fclose(f);
		if (buf == NULL || len == (1 << 20)) {
			snprintf(why, sizeof(why), "%s: larger than 1 MiB", path);
			goto bad;
		}
		if (workflow_parse(path, buf, len, &w, why, sizeof(why)) != 0)
			goto bad;
		free(buf);
		for (int k = 0; k < set->n; k++) {
			if (strcmp(set->w[k]->name, w->name) == 0) { /* later folder wins */
				workflow_free(set->w[k]);
				set->w[k] = w;
				w = NULL;
				break;
			}
		}
		if (w != NULL) {
			struct workflow **nw = realloc(set->w, (size_t)(set->n + 1) * sizeof(*nw));
			if (nw == NULL) {
				workflow_free(w);
				continue;
			}
			set->w = nw;
			set->w[set->n++] = w;
		}
		continue;
bad:
		free(buf);
		jido_warn("planner.workflow_refused", "{s:s,s:s}", "file", path, "why", why);
		json_array_append_new(set->errors, json_pack("{s:s,s:s}", "file", path, "error",
		    why));
	}
	free(names);
}

int
wf_set_load(struct wf_set *set, const char *const *dirs)
{
	memset(set, 0, sizeof(*set));
	if ((set->errors = json_array()) == NULL)
		return JIDO_EINTERNAL;
	for (int i = 0; dirs[i] != NULL; i++)
		if (dirs[i][0] != '\0')
			wf_set_load_dir(set, dirs[i]);
	return 0;
}

void
wf_set_free(struct wf_set *set)
{
	for (int i = 0; i < set->n; i++)
		workflow_free(set->w[i]);
	free(set->w);
	json_decref(set->errors);
	memset(set, 0, sizeof(*set));
}

const struct workflow *
wf_set_find(const struct wf_set *set, const char *name)
{
	for (int i = 0; name != NULL && i < set->n; i++)
		if (strcmp(set->w[i]->name, name) == 0)
			return set->w[i];
	return NULL;
}

void
wf_builtin_dir(char *buf, size_t len)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct stat sb;

	buf[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	/* build/bin/jido-planner, build/test/planner/x_test: walk up to the source tree */
	for (int up = 0; up < 4; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return;
		*slash = '\0';
		snprintf(cand, sizeof(cand), "%s/planner/workflows", exe);
		if (stat(cand, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			snprintf(buf, len, "%s", cand);
			return;
		}
		snprintf(cand, sizeof(cand), "%s/share/jido/workflows", exe);
		if (stat(cand, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			snprintf(buf, len, "%s", cand);
			return;
		}
	}
}

json_t *
workflow_plan_json(const struct workflow *w, const json_t *settings, int dry_run)
{
	json_t *steps = json_array();

	for (int i = 0; i < w->nsteps; i++) {
		const struct wf_step *st = &w->steps[i];
		const char *skip = NULL;
		if (st->skip_if[0] != '\0' && json_is_true(json_object_get(settings, st->skip_if)))
			skip = st->skip_if;
		else if (dry_run && (st->kind == KIND_SHIP || st->kind == KIND_COMMENT))
			skip = "dry_run";
		json_array_append_new(steps, json_pack("{s:s,s:s,s:i,s:i,s:s?,s:s?,s:s?}", "id",
		    st->id, "kind", kind_names[st->kind], "timeout_s", st->timeout_s, "retries",
		    st->retries, "next", st->next >= 0 ? w->steps[st->next].id : NULL, "on_failure",
		    st->on_failure >= 0 ? w->steps[st->on_failure].id : NULL, "skipped_because",
		    skip));
	}
	return json_pack("{s:s,s:i,s:s,s:o}", "workflow", w->name, "version", w->version, "hash",
	    w->hash, "steps", steps);
}
