/*
 * policy.c - the pure half of gitops's policy: project settings of a ship, a unified-diff
 * parser, and the checks that need only the diff and the settings (non-empty, size,
 * binary files, forbidden paths, secret scan, shipping allowed, target branch). No I/O:
 * everything here is unit-tested directly (policy_test.c). The checks that need the clone
 * or GitHub (clean apply, base current, branch collision, open PR) live in ship.c and
 * report through the same gitops_report_add.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

/* CI configuration is never changed by an agent unless the project allows the path. */
static const char *const policy_ci_paths[] = {
	".github/workflows/**", ".github/actions/**", ".gitlab-ci.yml", ".gitlab-ci/**",
	".circleci/**", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", ".buildkite/**",
	".drone.yml", "appveyor.yml", ".appveyor.yml", ".woodpecker.yml", ".woodpecker/**",
	"bitbucket-pipelines.yml", ".cirrus.yml", NULL
};

/* Write a one-line reason into why; returns JIDO_EVALIDATION. */
static int
pol_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return JIDO_EVALIDATION;
}

/* ------------------------------------------------------------------ project */

void
gitops_project_free(struct gitops_project *p)
{
	json_decref(p->forbidden_paths);
	json_decref(p->allowed_paths);
	json_decref(p->protected_branches);
	json_decref(p->ship_workflows);
	json_decref(p->pr_labels);
	json_decref(p->pr_reviewers);
	memset(p, 0, sizeof(*p));
}

/* Copy a string field (max len-1 bytes, no control characters) into dst. */
static int
proj_str(const json_t *o, const char *key, char *dst, size_t len, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= len)
		return pol_fail(why, whylen, "project.%s: must be a string of at most %zu bytes", key,
		    len - 1);
	s = json_string_value(v);
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return pol_fail(why, whylen, "project.%s: control character", key);
	snprintf(dst, len, "%s", s);
	return 0;
}

/* An array of non-empty strings (or a comma-separated string) as a new array in *dst. */
static int
proj_list(const json_t *o, const char *key, json_t **dst, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key), *a;
	size_t i;
	json_t *e;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > 200)
		return pol_fail(why, whylen, "project.%s: must be an array of strings", key);
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 512)
			return pol_fail(why, whylen, "project.%s[%zu]: must be a non-empty string",
			    key, i);
	a = json_deep_copy(v);
	if (a == NULL)
		return JIDO_EINTERNAL;
	json_decref(*dst);
	*dst = a;
	return 0;
}

/* "a, b,c" as a new array of strings (caller releases). */
static json_t *
split_csv(const char *s)
{
	json_t *a = json_array();
	char buf[1024], *save = NULL, *t;

	snprintf(buf, sizeof(buf), "%s", s ? s : "");
	for (t = strtok_r(buf, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save))
		json_array_append_new(a, json_string(t));
	return a;
}

/* An optional non-negative integer field into *dst (left alone when absent). */
static int
proj_int(const json_t *o, const char *key, long *dst, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000)
		return pol_fail(why, whylen, "project.%s: must be a non-negative integer", key);
	*dst = (long)json_integer_value(v);
	return 0;
}

/* An optional boolean field into *dst (left alone when absent). */
static int
proj_bool(const json_t *o, const char *key, int *dst, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return pol_fail(why, whylen, "project.%s: must be true or false", key);
	*dst = json_is_true(v);
	return 0;
}

/* 1 when key is one of names (NULL-terminated). */
static int
proj_known(const char *key, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(key, *names) == 0)
			return 1;
	return 0;
}

/* Read the limit keys from o (the project itself or its "limits" object). */
static int
proj_limits(const json_t *o, struct gitops_project *p, char *why, size_t whylen)
{
	int rc;

	if ((rc = proj_int(o, "max_diff_lines", &p->max_diff_lines, why, whylen)) != 0 ||
	    (rc = proj_bool(o, "allow_binary", &p->allow_binary, why, whylen)) != 0 ||
	    (rc = proj_list(o, "forbidden_paths", &p->forbidden_paths, why, whylen)) != 0 ||
	    (rc = proj_list(o, "allowed_paths", &p->allowed_paths, why, whylen)) != 0)
		return rc;
	return 0;
}

int
gitops_project_from_json(const json_t *j, const struct gitops_defaults *d, int need_remote,
    int strict, struct gitops_project *p, char *why, size_t whylen)
{
	static const char *const top[] = { "repo", "clone_url", "default_branch", "base",
		"base_sha", "branch_prefix", "max_diff_lines", "allow_binary", "forbidden_paths",
		"allowed_paths", "protected_branches", "ship_workflows", "pr", "limits", NULL };
	static const char *const lim[] = { "max_diff_lines", "allow_binary", "forbidden_paths",
		"allowed_paths", NULL };
	static const char *const prk[] = { "draft", "labels", "reviewers", NULL };
	const char *k;
	json_t *v, *pr, *limits;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(j))
		return pol_fail(why, whylen, "project: must be an object");
	if (strict) {
		json_object_foreach((json_t *)j, k, v)
			if (!proj_known(k, top))
				return pol_fail(why, whylen, "project.%.64s: unknown field", k);
	}
	snprintf(p->default_branch, sizeof(p->default_branch), "main");
	snprintf(p->branch_prefix, sizeof(p->branch_prefix), "jidocode/");
	p->max_diff_lines = d != NULL && d->max_diff_lines > 0 ? d->max_diff_lines : 5000;
	p->forbidden_paths = json_array();
	p->allowed_paths = json_array();
	p->protected_branches = json_array();
	p->ship_workflows = split_csv(d != NULL && d->ship_workflows ? d->ship_workflows :
	    "fix_issue,fix_failing_tests");
	p->pr_labels = json_array();
	p->pr_reviewers = json_array();
	if ((rc = proj_str(j, "repo", p->repo, sizeof(p->repo), why, whylen)) != 0 ||
	    (rc = proj_str(j, "clone_url", p->clone_url, sizeof(p->clone_url), why, whylen)) != 0 ||
	    (rc = proj_str(j, "default_branch", p->default_branch, sizeof(p->default_branch), why,
	    whylen)) != 0 ||
	    (rc = proj_str(j, "base", p->base, sizeof(p->base), why, whylen)) != 0 ||
	    (rc = proj_str(j, "base_sha", p->base_sha, sizeof(p->base_sha), why, whylen)) != 0 ||
	    (rc = proj_str(j, "branch_prefix", p->branch_prefix, sizeof(p->branch_prefix), why,
	    whylen)) != 0 ||
	    (rc = proj_limits(j, p, why, whylen)) != 0 ||
	    (rc = proj_list(j, "protected_branches", &p->protected_branches, why, whylen)) != 0 ||
	    (rc = proj_list(j, "ship_workflows", &p->ship_workflows, why, whylen)) != 0)
		goto fail;
	limits = json_object_get(j, "limits");
	if (limits != NULL && !json_is_null(limits)) {
		if (!json_is_object(limits)) {
			rc = pol_fail(why, whylen, "project.limits: must be an object");
			goto fail;
		}
		if (strict) {
			json_object_foreach(limits, k, v)
				if (!proj_known(k, lim)) {
					rc = pol_fail(why, whylen, "project.limits.%.64s: unknown field", k);
					goto fail;
				}
		}
		if ((rc = proj_limits(limits, p, why, whylen)) != 0)
			goto fail;
	}
	pr = json_object_get(j, "pr");
	if (pr != NULL && !json_is_null(pr)) {
		if (!json_is_object(pr)) {
			rc = pol_fail(why, whylen, "project.pr: must be an object");
			goto fail;
		}
		if (strict) {
			json_object_foreach(pr, k, v)
				if (!proj_known(k, prk)) {
					rc = pol_fail(why, whylen, "project.pr.%.64s: unknown field", k);
					goto fail;
				}
		}
		if ((rc = proj_bool(pr, "draft", &p->pr_draft, why, whylen)) != 0 ||
		    (rc = proj_list(pr, "labels", &p->pr_labels, why, whylen)) != 0 ||
		    (rc = proj_list(pr, "reviewers", &p->pr_reviewers, why, whylen)) != 0)
			goto fail;
	}
	if (p->base[0] == '\0')
		snprintf(p->base, sizeof(p->base), "%s", p->default_branch);
	if (p->default_branch[0] == '\0') {
		rc = pol_fail(why, whylen, "project.default_branch: must not be empty");
		goto fail;
	}
	if (need_remote) {
		const char *slash = strchr(p->repo, '/');
		if (slash == NULL || slash == p->repo || slash[1] == '\0' || strchr(slash + 1, '/') ||
		    strspn(p->repo, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_./") != strlen(p->repo) || strstr(p->repo, "..")) {
			rc = pol_fail(why, whylen, "project.repo: must be \"owner/name\"");
			goto fail;
		}
		if (strncmp(p->clone_url, "https://", 8) != 0 &&
		    strncmp(p->clone_url, "http://", 7) != 0 &&
		    strncmp(p->clone_url, "file://", 7) != 0) {
			rc = pol_fail(why, whylen, "project.clone_url: must be an http(s):// or "
			    "file:// URL");
			goto fail;
		}
		/* Credentials never travel in the URL. */
		const char *host = strstr(p->clone_url, "://") + 3;
		const char *end = strchr(host, '/');
		const char *at = strchr(host, '@');
		if (at != NULL && (end == NULL || at < end)) {
			rc = pol_fail(why, whylen, "project.clone_url: must not carry credentials");
			goto fail;
		}
	}
	return 0;
fail:
	gitops_project_free(p);
	return rc;
}

/* ------------------------------------------------------------------ diff */

void
gitops_diff_free(struct gitops_diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->files[i].path);
		free(d->files[i].old_path);
	}
	free(d->files);
	free(d->adds);
	memset(d, 0, sizeof(*d));
}

/* A path as git writes it after "a/" or "b/": plain, or C-quoted. Returns malloc'd text
 * with the prefix stripped (prefix "" keeps it), or NULL. */
static char *
diff_path(const char *s, size_t n, const char *prefix)
{
	char *out = malloc(n + 1), *o = out;
	size_t pl = strlen(prefix);

	if (out == NULL)
		return NULL;
	if (n >= 2 && s[0] == '"') {
		const char *e = s + n - 1;
		for (s++; s < e; s++) {
			if (*s == '\\' && s + 1 < e) {
				s++;
				if (*s >= '0' && *s <= '7' && s + 2 < e) {
					*o++ = (char)(((s[0] - '0') << 6) | ((s[1] - '0') << 3) | (s[2] - '0'));
					s += 2;
				} else
					*o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
			} else
				*o++ = *s;
		}
	} else {
		memcpy(o, s, n);
		o += n;
	}
	*o = '\0';
	while (o > out && (o[-1] == '\t' || o[-1] == ' ' || o[-1] == '\r')) /* diff -u dates */
		*--o = '\0';
	if (strchr(out, '\t'))
		*strchr(out, '\t') = '\0';
	if (pl > 0 && strncmp(out, prefix, pl) == 0)
		memmove(out, out + pl, strlen(out + pl) + 1);
	return out;
}

/* Append a zeroed file entry to d; NULL when out of memory. */
static struct gitops_diff_file *
diff_file_new(struct gitops_diff *d)
{
	struct gitops_diff_file *f = realloc(d->files, (d->n + 1) * sizeof(*f));

	if (f == NULL)
		return NULL;
	d->files = f;
	memset(&f[d->n], 0, sizeof(*f));
	return &f[d->n++];
}

/* Replace *dst by v (takes v; NULL leaves *dst alone). */
static void
diff_set(char **dst, char *v)
{
	if (v == NULL)
		return;
	free(*dst);
	*dst = v;
}

int
gitops_diff_parse(const char *text, size_t len, struct gitops_diff *d, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;
	struct gitops_diff_file *cur = NULL;
	long old_left = 0, new_left = 0, new_no = 0;
	size_t cap = 0;

	memset(d, 0, sizeof(*d));
	d->text = text;
	d->len = len;
	if (memchr(text, '\0', len) != NULL)
		return pol_fail(why, whylen, "diff: contains a NUL byte");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *next = nl ? nl + 1 : end;

		if (old_left > 0 || new_left > 0) { /* inside a hunk */
			if (n > 0 && p[0] == '+') {
				if (d->nadds == cap) {
					size_t nc = cap ? cap * 2 : 64;
					void *na = realloc(d->adds, nc * sizeof(*d->adds));
					if (na == NULL)
						goto oom;
					d->adds = na;
					cap = nc;
				}
				d->adds[d->nadds++] = (struct gitops_diff_line){ (size_t)(p + 1 - text),
				    n - 1, d->n - 1, new_no };
				cur->added++;
				new_left--;
				new_no++;
			} else if (n > 0 && p[0] == '-') {
				cur->removed++;
				old_left--;
			} else if (n > 0 && p[0] == '\\') {
				/* "\ No newline at end of file" */
			} else {
				old_left--;
				new_left--;
				new_no++;
			}
			p = next;
			continue;
		}
		if (n >= 11 && strncmp(p, "diff --git ", 11) == 0) {
			const char *a = p + 11, *b = NULL;
			/* "a/X b/X": split at " b/" (the last one when the name holds spaces). */
			for (const char *s = a; s + 3 <= p + n; s++)
				if (strncmp(s, " b/", 3) == 0 || strncmp(s, " \"b/", 4) == 0)
					b = s + 1;
			if ((cur = diff_file_new(d)) == NULL)
				goto oom;
			if (b != NULL) {
				cur->old_path = diff_path(a, (size_t)(b - 1 - a), "a/");
				cur->path = diff_path(b, (size_t)(p + n - b), "b/");
			}
		} else if (n >= 4 && strncmp(p, "--- ", 4) == 0) {
			if (cur == NULL || (cur->added + cur->removed > 0)) /* plain diff -u */
				if ((cur = diff_file_new(d)) == NULL)
					goto oom;
			if (strncmp(p + 4, "/dev/null", 9) != 0)
				diff_set(&cur->old_path, diff_path(p + 4, n - 4, "a/"));
		} else if (n >= 4 && strncmp(p, "+++ ", 4) == 0 && cur != NULL) {
			if (strncmp(p + 4, "/dev/null", 9) != 0)
				diff_set(&cur->path, diff_path(p + 4, n - 4, "b/"));
		} else if (n >= 12 && strncmp(p, "rename from ", 12) == 0 && cur != NULL) {
			diff_set(&cur->old_path, diff_path(p + 12, n - 12, ""));
		} else if (n >= 10 && strncmp(p, "rename to ", 10) == 0 && cur != NULL) {
			diff_set(&cur->path, diff_path(p + 10, n - 10, ""));
		} else if (cur != NULL && ((n >= 16 && strncmp(p, "GIT binary patch", 16) == 0) ||
		    (n >= 13 && strncmp(p, "Binary files ", 13) == 0))) {
			cur->binary = 1;
		} else if (n >= 4 && strncmp(p, "@@ -", 4) == 0 && cur != NULL) {
			long os = 0, oc = 1, ns = 0, nc = 1;
			char *e;
			os = strtol(p + 4, &e, 10);
			if (*e == ',')
				oc = strtol(e + 1, &e, 10);
			if (strncmp(e, " +", 2) != 0)
				return gitops_diff_free(d), pol_fail(why, whylen, "diff: bad hunk header");
			ns = strtol(e + 2, &e, 10);
			if (*e == ',')
				nc = strtol(e + 1, &e, 10);
			(void)os;
			if (oc < 0 || nc < 0)
				return gitops_diff_free(d), pol_fail(why, whylen, "diff: bad hunk header");
			old_left = oc;
			new_left = nc;
			new_no = ns;
		}
		p = next;
	}
	for (size_t i = 0; i < d->n; i++) {
		struct gitops_diff_file *f = &d->files[i];
		if (f->path == NULL && f->old_path != NULL && (f->path = strdup(f->old_path)) == NULL)
			goto oom;
		if (f->old_path == NULL && f->path != NULL && (f->old_path = strdup(f->path)) == NULL)
			goto oom;
		if (f->path == NULL) {
			gitops_diff_free(d);
			return pol_fail(why, whylen, "diff: a file section without a path");
		}
		d->added += f->added;
		d->removed += f->removed;
	}
	return 0;
oom:
	gitops_diff_free(d);
	return pol_fail(why, whylen, "out of memory"), JIDO_EINTERNAL;
}

/* ------------------------------------------------------------------ report */

json_t *
gitops_report_new(void)
{
	return json_array();
}

void
gitops_report_add(json_t *report, const char *check, int ok, const char *fmt, ...)
{
	char ev[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	json_array_append_new(report, json_pack("{s:s,s:s,s:s}", "check", check, "result",
	    ok ? "pass" : "fail", "evidence", ev));
}

json_t *
gitops_report_first_failure(const json_t *report)
{
	size_t i;
	json_t *e;

	json_array_foreach(report, i, e)
		if (strcmp(json_string_value(json_object_get(e, "result")), "pass") != 0)
			return e;
	return NULL;
}

/* ------------------------------------------------------------------ globs */

int
gitops_glob_match(const char *pat, const char *s)
{
	while (*pat) {
		if (pat[0] == '*' && pat[1] == '*') {
			const char *rest = pat + 2;
			if (*rest == '/') { /* "**\/x": zero or more whole segments */
				rest++;
				if (gitops_glob_match(rest, s))
					return 1;
				for (const char *t = s; *t; t++)
					if (*t == '/' && gitops_glob_match(rest, t + 1))
						return 1;
				return 0;
			}
			for (const char *t = s;; t++) { /* "**" at the end or before text */
				if (gitops_glob_match(rest, t))
					return 1;
				if (*t == '\0')
					return 0;
			}
		}
		if (*pat == '*') {
			for (const char *t = s;; t++) {
				if (gitops_glob_match(pat + 1, t))
					return 1;
				if (*t == '\0' || *t == '/')
					return 0;
			}
		}
		if (*s == '\0')
			return 0;
		if (*pat == '?') {
			if (*s == '/')
				return 0;
		} else if (*pat != *s)
			return 0;
		pat++;
		s++;
	}
	return *s == '\0';
}

static int
glob_any(const json_t *a, const char *path, const char **which)
{
	size_t i;
	json_t *e;

	json_array_foreach(a, i, e)
		if (gitops_glob_match(json_string_value(e), path)) {
			if (which)
				*which = json_string_value(e);
			return 1;
		}
	return 0;
}

/* Why a path can never be shipped (NULL when it can). */
static const char *
path_unsafe(const char *path)
{
	if (path[0] == '\0')
		return "empty path";
	if (path[0] == '/')
		return "absolute path";
	for (const char *s = path; *s; s++)
		if ((unsigned char)*s < 0x20)
			return "control character in path";
	for (const char *seg = path; seg != NULL; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		size_t n = strcspn(seg, "/");
		if (n == 2 && strncmp(seg, "..", 2) == 0)
			return "'..' in path";
		if (n == 4 && strncasecmp(seg, ".git", 4) == 0)
			return "inside .git";
	}
	return NULL;
}

/* ------------------------------------------------------------------ secret scan */

/* Characters of a token body. */
static int
is_tok(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* Length of the run of token characters at s (at most n). */
static size_t
tok_run(const char *s, size_t n, int (*ok)(int))
{
	size_t i = 0;

	while (i < n && ok((unsigned char)s[i]))
		i++;
	return i;
}

static int is_alnum_c(int c) { return isalnum(c); }
static int is_upper_digit(int c) { return isupper(c) || isdigit(c); }
static int is_b64(int c) { return isalnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-'; }

/* log2(x) for x > 0 without libm: scale into [1,2), then ln(m) = 2 atanh((m-1)/(m+1)). */
static double
lg2(double x)
{
	int e = 0;
	double y, y2, term, sum = 0;

	while (x >= 2) {
		x /= 2;
		e++;
	}
	while (x < 1) {
		x *= 2;
		e--;
	}
	y = (x - 1) / (x + 1);
	y2 = y * y;
	term = y;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= y2;
	}
	return e + 2 * sum / 0.69314718055994530942;
}

/* Shannon entropy in bits per character. */
static double
entropy(const char *s, size_t n)
{
	int counts[256] = { 0 };
	double h = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		counts[(unsigned char)s[i]]++;
	for (int i = 0; i < 256; i++)
		if (counts[i]) {
			double q = (double)counts[i] / (double)n;
			h -= q * lg2(q);
		}
	return h;
}

/* needle in the hn bytes at h (not NUL-terminated), or NULL. */
static const char *
memfind(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);

	if (nn == 0 || nn > hn)
		return NULL;
	return memmem(h, hn, needle, nn);
}

/* A quoted value assigned to a name ("name = 'v'", "name: \"v\"", "name=v"): high entropy
 * is a finding. */
static int
assignment_secret(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != '=' && line[i] != ':')
			continue;
		/* the name before it */
		size_t e = i;
		while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '"' || line[e - 1] == '\''))
			e--;
		size_t b = e;
		while (b > 0 && (is_tok((unsigned char)line[b - 1]) || line[b - 1] == '.'))
			b--;
		if (b == e)
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(e - b < 63 ? e - b : 63), line + b);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		int secretish = strstr(name, "key") || strstr(name, "secret") || strstr(name, "token") ||
		    strstr(name, "passw") || strstr(name, "pwd") || strstr(name, "auth") ||
		    strstr(name, "credential") || strstr(name, "private");
		size_t v = i + 1;
		while (v < len && (line[v] == ' ' || line[v] == '='))
			v++;
		int quoted = v < len && (line[v] == '"' || line[v] == '\'');
		if (quoted)
			v++;
		size_t n;
		if (quoted) { /* up to the closing quote, no blanks */
			n = 0;
			while (v + n < len && line[v + n] != line[v - 1] && line[v + n] != ' ' &&
			    line[v + n] != '\t')
				n++;
			if (n == 0 || v + n >= len || line[v + n] != line[v - 1])
				continue;
		} else if ((n = tok_run(line + v, len - v, is_b64)) == 0)
			continue;
		double h = entropy(line + v, n);
		if (!quoted && !secretish)
			continue;
		if ((n >= 20 && h >= 4.0) || (secretish && n >= 12 && h >= 3.0))
			return 1;
	}
	return 0;
}

const char *
gitops_secret_in_line(const char *line, size_t len, const char *const *known)
{
	static const struct { const char *prefix; size_t min; int (*cls)(int); const char *name; }
	    pats[] = {
		{ "ghp_", 30, is_alnum_c, "GitHub token (ghp_)" },
		{ "gho_", 30, is_alnum_c, "GitHub token (gho_)" },
		{ "ghs_", 30, is_alnum_c, "GitHub token (ghs_)" },
		{ "ghu_", 30, is_alnum_c, "GitHub token (ghu_)" },
		{ "ghr_", 30, is_alnum_c, "GitHub token (ghr_)" },
		{ "github_pat_", 20, is_tok, "GitHub fine-grained token" },
		{ "sk-ant-", 20, is_tok, "Anthropic key" },
		{ "sk-", 32, is_tok, "API key (sk-)" },
		{ "jgw_", 16, is_tok, "JidoCode gateway key" },
		{ "xoxb-", 10, is_tok, "Slack token" },
		{ "xoxp-", 10, is_tok, "Slack token" },
		{ "AKIA", 16, is_upper_digit, "AWS access key id" },
	};

	if (known != NULL)
		for (const char *const *k = known; *k; k++)
			if (strlen(*k) >= 8 && memfind(line, len, *k) != NULL)
				return "a value held by JidoCode's vault";
	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		const char *h = line;
		size_t left = len;
		const char *f;
		while ((f = memfind(h, left, pats[i].prefix)) != NULL) {
			size_t pl = strlen(pats[i].prefix);
			size_t rest = len - (size_t)(f - line) - pl;
			int boundary = f == line || !isalnum((unsigned char)f[-1]);
			if (boundary && tok_run(f + pl, rest, pats[i].cls) >= pats[i].min)
				return pats[i].name;
			left = len - (size_t)(f - line) - 1;
			h = f + 1;
		}
	}
	if (memfind(line, len, "-----BEGIN ") && memfind(line, len, "PRIVATE KEY"))
		return "PEM private key";
	if (assignment_secret(line, len))
		return "high-entropy value in an assignment";
	return NULL;
}

/* ------------------------------------------------------------------ the checks */

void
gitops_check_static(const struct gitops_diff *d, const struct gitops_project *p,
    const char *const *known, json_t *report)
{
	long total = d->added + d->removed;
	const char *bad = NULL, *why = NULL, *which = NULL;
	size_t i;

	/* non_empty */
	if (d->n == 0)
		gitops_report_add(report, "non_empty", 0, "the diff changes no file");
	else
		gitops_report_add(report, "non_empty", 1, "%zu file(s), +%ld -%ld", d->n, d->added,
		    d->removed);
	/* diff_size */
	if (total > p->max_diff_lines)
		gitops_report_add(report, "diff_size", 0, "%ld changed lines, limit %ld", total,
		    p->max_diff_lines);
	else
		gitops_report_add(report, "diff_size", 1, "%ld changed lines, limit %ld", total,
		    p->max_diff_lines);
	/* binary_files */
	for (i = 0; i < d->n && bad == NULL; i++)
		if (d->files[i].binary)
			bad = d->files[i].path;
	if (bad != NULL && !p->allow_binary)
		gitops_report_add(report, "binary_files", 0, "binary file %s (binary files are not "
		    "allowed for this project)", bad);
	else
		gitops_report_add(report, "binary_files", 1, bad ? "binary files allowed" :
		    "no binary file");
	/* forbidden_paths: unsafe paths always; CI configuration and the project's globs
	 * unless the project's allowed_paths names them. */
	bad = NULL;
	for (i = 0; i < d->n && bad == NULL; i++) {
		const char *paths[2] = { d->files[i].path, d->files[i].old_path };
		for (int k = 0; k < 2 && bad == NULL; k++) {
			const char *path = paths[k];
			if ((why = path_unsafe(path)) != NULL) {
				bad = path;
				break;
			}
			if (glob_any(p->allowed_paths, path, NULL))
				continue;
			for (const char *const *c = policy_ci_paths; *c; c++)
				if (gitops_glob_match(*c, path)) {
					bad = path;
					which = *c;
					why = "CI configuration";
					break;
				}
			if (bad == NULL && glob_any(p->forbidden_paths, path, &which)) {
				bad = path;
				why = "forbidden by the project";
			}
		}
	}
	if (bad != NULL)
		gitops_report_add(report, "forbidden_paths", 0, "%s: %s%s%s%s", bad, why,
		    which ? " (" : "", which ? which : "", which ? ")" : "");
	else
		gitops_report_add(report, "forbidden_paths", 1, "%zu path(s) checked", d->n);
	/* secret_scan: added lines only; the evidence names the place, never the value */
	for (i = 0; i < d->nadds; i++) {
		const struct gitops_diff_line *l = &d->adds[i];
		const char *what = gitops_secret_in_line(d->text + l->off, l->len, known);
		if (what != NULL) {
			gitops_report_add(report, "secret_scan", 0, "%s:%ld: %s", d->files[l->file].path,
			    l->lineno, what);
			return;
		}
	}
	gitops_report_add(report, "secret_scan", 1, "%zu added line(s) clean", d->nadds);
}

void
gitops_check_shipping(const struct gitops_project *p, const char *workflow, int kill_switch,
    json_t *report)
{
	size_t i;
	json_t *e;
	int listed = 0;

	json_array_foreach(p->ship_workflows, i, e)
		listed |= workflow != NULL && strcmp(json_string_value(e), workflow) == 0;
	if (kill_switch)
		gitops_report_add(report, "shipping_allowed", 0, "the shipping kill switch is on");
	else if (!listed)
		gitops_report_add(report, "shipping_allowed", 0, "workflow '%s' may not ship for "
		    "this project", workflow ? workflow : "");
	else
		gitops_report_add(report, "shipping_allowed", 1, "workflow '%s' may ship", workflow);
}

int
gitops_branch_name(const struct gitops_project *p, const char *workflow, const char *run_id,
    char *out, size_t len)
{
	char wf[64], rid[16];
	size_t i, j = 0;

	for (i = 0; workflow[i] && j < sizeof(wf) - 1; i++)
		wf[j++] = isalnum((unsigned char)workflow[i]) || workflow[i] == '_' ||
		    workflow[i] == '-' ? workflow[i] : '-';
	wf[j] = '\0';
	for (i = 0, j = 0; run_id[i] && j < 8; i++)
		if (isalnum((unsigned char)run_id[i]))
			rid[j++] = (char)tolower((unsigned char)run_id[i]);
	rid[j] = '\0';
	if (wf[0] == '\0' || rid[0] == '\0')
		return JIDO_EVALIDATION;
	if ((size_t)snprintf(out, len, "%s%s/%s", p->branch_prefix, wf, rid) >= len)
		return JIDO_EVALIDATION;
	return 0;
}

/* git check-ref-format rules for a branch name, in short. */
static const char *
ref_invalid(const char *b)
{
	size_t n = strlen(b);

	if (n == 0 || n > 200)
		return "empty or too long";
	if (b[0] == '/' || b[n - 1] == '/' || b[n - 1] == '.' || b[0] == '-')
		return "bad first or last character";
	if (strstr(b, "..") || strstr(b, "//") || strstr(b, "@{") || strstr(b, "/.") ||
	    strstr(b, ".lock/") || (n >= 5 && strcmp(b + n - 5, ".lock") == 0))
		return "bad sequence";
	for (const char *c = b; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || strchr("~^:?*[\\", *c))
			return "bad character";
	return NULL;
}

void
gitops_check_target(const struct gitops_project *p, const char *branch, json_t *report)
{
	const char *bad;
	size_t i;
	json_t *e;

	if ((bad = ref_invalid(branch)) != NULL) {
		gitops_report_add(report, "target_branch", 0, "'%s' is not a valid branch name (%s)",
		    branch, bad);
		return;
	}
	if (strcmp(branch, p->default_branch) == 0 || strcmp(branch, p->base) == 0) {
		gitops_report_add(report, "target_branch", 0, "'%s' is the %s branch", branch,
		    strcmp(branch, p->default_branch) == 0 ? "default" : "base");
		return;
	}
	json_array_foreach(p->protected_branches, i, e)
		if (gitops_glob_match(json_string_value(e), branch)) {
			gitops_report_add(report, "target_branch", 0, "'%s' is protected (%s)", branch,
			    json_string_value(e));
			return;
		}
	if (p->branch_prefix[0] != '\0' &&
	    strncmp(branch, p->branch_prefix, strlen(p->branch_prefix)) != 0) {
		gitops_report_add(report, "target_branch", 0, "'%s' is outside the prefix '%s'",
		    branch, p->branch_prefix);
		return;
	}
	gitops_report_add(report, "target_branch", 1, "'%s' is a fresh branch under '%s'", branch,
	    p->branch_prefix);
}

void
gitops_subject(const char *type, const char *summary, char *out, size_t len)
{
	char buf[512];
	size_t n, cut;

	snprintf(buf, sizeof(buf), "%s: %s", type, summary);
	/* one line: stop at the first control character */
	for (n = 0; buf[n]; n++)
		if ((unsigned char)buf[n] < 0x20) {
			buf[n] = '\0';
			break;
		}
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	if (n > GITOPS_SUBJECT_MAX) {
		cut = GITOPS_SUBJECT_MAX;
		while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80) /* UTF-8 boundary */
			cut--;
		size_t sp = cut;
		while (sp > GITOPS_SUBJECT_MAX - 20 && buf[sp] != ' ')
			sp--;
		if (buf[sp] == ' ')
			cut = sp;
		buf[cut] = '\0';
		while (cut > 0 && buf[cut - 1] == ' ')
			buf[--cut] = '\0';
	}
	snprintf(out, len, "%s", buf);
}
