/*
 * ship.c - the ship flow of jido-gitops: take a run's diff, apply it on gitops's own
 * clean clone of the project, run every policy check (fail-closed), commit with the
 * configured identity and the JidoCode trailers, push a fresh branch (never forced),
 * open or find the pull request, and comment on the issue. Every push, PR and comment is
 * preceded by a synchronous audit record of intent and followed by one of the result;
 * when the intent cannot be recorded, the side effect does not happen. The GitHub token
 * is fetched per ship (vault, or github.token_file for tests), kept in sodium memory,
 * handed to git only through the credential pipe (git.c) and wiped at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "gitops.h"

struct ship {
	struct gitops_ctx *c;
	struct gitops_project p;
	struct gitops_git git;
	struct gitops_gh gh;
	char *token;             /* sodium_malloc'd, NUL-ended; NULL until fetched */
	const char *run_id;
	const char *workflow;
	const char *summary;
	const char *title;
	const char *type;
	const json_t *facts;
	long issue;
	int dry_run;
	char dir[4096];          /* the clone */
	char branch[300];
	char owner[128];
	json_t *report;
	json_t *warnings;
	int64_t t_phase;         /* start of the current phase (debug timing) */
	int preset_used;         /* the parent's token was taken (a refresh fetches anew) */
	struct gitops_fps fps;   /* the vault's fingerprints for this ship (n 0 when none) */
};

/* Debug log of how long the phase that just ended took. */
static void
ship_phase(struct ship *s, const char *name)
{
	int64_t now = jido_now_ms();

	jido_debug("gitops.phase", "{s:s,s:s,s:I}", "run_id", s->run_id ? s->run_id : "", "phase",
	    name, "ms", (json_int_t)(now - s->t_phase));
	s->t_phase = now;
}

/* Write a one-line reason into why; returns code. */
static int
ship_fail(char *why, size_t whylen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return code;
}

/* ------------------------------------------------------------------ token */

static void
ship_token_drop(struct ship *s)
{
	if (s->token != NULL) {
		sodium_memzero(s->token, strlen(s->token));
		sodium_free(s->token);
		s->token = NULL;
	}
	s->gh.token = NULL;
}

/* Copy n bytes of v into a fresh sodium buffer as the ship's token. */
static int
ship_token_set(struct ship *s, const char *v, size_t n, char *why, size_t whylen)
{
	while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r' || v[n - 1] == ' '))
		n--;
	if (n == 0 || n > 1000)
		return ship_fail(why, whylen, JIDO_ESECRET, "the GitHub token is empty or too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			return ship_fail(why, whylen, JIDO_ESECRET, "the GitHub token holds a blank or "
			    "control character");
	ship_token_drop(s);
	if ((s->token = sodium_malloc(n + 1)) == NULL)
		return ship_fail(why, whylen, JIDO_EINTERNAL, "out of memory");
	memcpy(s->token, v, n);
	s->token[n] = '\0';
	s->gh.token = s->token;
	return 0;
}

/* Fetch the token: github.token_file (0600, for tests without the vault), else vault.get
 * github.token with our credential. */
static int
ship_token_fetch(struct ship *s, char *why, size_t whylen)
{
	const char *file = jido_conf_str(s->c->conf, "github.token_file");
	char url[4200], buf[1100];
	int rc;

	if (s->c->preset_token != NULL && !s->preset_used) {
		s->preset_used = 1;
		return ship_token_set(s, s->c->preset_token, strlen(s->c->preset_token), why,
		    whylen);
	}
	if (jido_ghapp_configured(s->c->conf)) {
		/* a GitHub App installation token: cached across ships; a second fetch in one
		 * ship follows an auth failure, so it mints a new one */
		char *tok = NULL;
		if (s->c->app == NULL && (rc = jido_ghapp_new(s->c->conf, s->c->home, &s->c->app,
		    why, whylen)) != 0)
			return rc;
		if ((rc = jido_ghapp_token(s->c->app, s->token != NULL, &tok, why, whylen)) != 0)
			return rc == JIDO_EINTERNAL ? rc : JIDO_ESECRET;
		rc = ship_token_set(s, tok, strlen(tok), why, whylen);
		sodium_memzero(tok, strlen(tok));
		sodium_free(tok);
		return rc;
	}
	if (file != NULL && file[0] != '\0') {
		struct stat st;
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n;
		if (fd < 0)
			return ship_fail(why, whylen, JIDO_ESECRET, "github.token_file: cannot open: %s",
			    strerror(errno));
		if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
			close(fd);
			return ship_fail(why, whylen, JIDO_ESECRET, "github.token_file: must be ours "
			    "and mode 0600");
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			return ship_fail(why, whylen, JIDO_ESECRET, "github.token_file: cannot read");
		rc = ship_token_set(s, buf, (size_t)n, why, whylen);
		sodium_memzero(buf, sizeof(buf));
		return rc;
	}
	const char *cred = jido_cred_self();
	struct jido_reply r;
	if (jido_vault_url(s->c->conf, s->c->home, url, sizeof(url)) != 0)
		return ship_fail(why, whylen, JIDO_EINTERNAL, "vault socket path too long");
	rc = jido_bus_call(url, "vault.get", NULL, json_pack("{s:s,s:s}", "name", "github.token",
	    "cred", cred ? cred : ""), (int)jido_conf_int(s->c->conf, "bus.timeout_ms"), &r);
	if (rc != 0)
		return ship_fail(why, whylen, JIDO_ESECRET, "vault.get github.token: %s",
		    jido_strerror(rc));
	if (!r.ok) {
		rc = ship_fail(why, whylen, JIDO_ESECRET, "vault.get github.token: %s: %s",
		    jido_err_name(r.err), r.message ? r.message : "");
	} else {
		json_t *v = json_object_get(r.data, "value");
		if (!json_is_string(v))
			rc = ship_fail(why, whylen, JIDO_ESECRET, "vault.get github.token: no value");
		else {
			rc = ship_token_set(s, json_string_value(v), json_string_length(v), why, whylen);
			sodium_memzero((void *)json_string_value(v), json_string_length(v));
		}
	}
	jido_reply_free(&r);
	return rc;
}

/* ------------------------------------------------------------------ fingerprints */

/* Get this ship's fingerprints of the vault's secrets (from the parent in a worker, else
 * from the vault) when gitops_fps_wanted. 0 when there are none to get; otherwise a
 * failure is a failed secret_scan (the check cannot run: fail closed), reported in
 * s->report, and 1 is returned. */
static int
ship_fps_load(struct ship *s)
{
	char why[512];
	json_t *data = NULL;
	int rc;

	if (s->c->preset_fps == NULL && s->c->preset_fps_error == NULL &&
	    !gitops_fps_wanted(s->c->conf))
		return 0;
	if (s->c->preset_fps_error != NULL) {
		snprintf(why, sizeof(why), "%s", s->c->preset_fps_error);
		rc = JIDO_ESECRET;
	} else if (s->c->preset_fps != NULL)
		rc = gitops_fps_parse(s->c->preset_fps, &s->fps, why, sizeof(why));
	else if ((rc = gitops_fps_fetch(s->c->conf, s->c->home, &data, why, sizeof(why))) == 0) {
		rc = gitops_fps_parse(data, &s->fps, why, sizeof(why));
		json_decref(data);
	}
	if (rc == 0 && s->fps.unreadable[0] != '\0') {
		snprintf(why, sizeof(why), "the vault cannot read %s: its value cannot be looked "
		    "for", s->fps.unreadable);
		rc = JIDO_EINTEGRITY;
	}
	if (rc == 0)
		return 0;
	gitops_report_add(s->report, "secret_scan", 0, "the vault's fingerprints are "
	    "unavailable, so its secrets cannot be looked for: %s", why);
	return 1;
}

/* The secret scan of one text gitops posts or commits: patterns and the token, then the
 * vault's fingerprints. NULL when clean, else a description (in buf or static) that names
 * a secret, never its value. */
static const char *
ship_secret_in(const struct ship *s, const char *text, size_t len, const char *const *known,
    char *buf, size_t buflen)
{
	const char *what = gitops_secret_in_line(text, len, known);
	const struct gitops_fp *fp;

	if (what == NULL && (fp = gitops_fps_find(&s->fps, text, len)) != NULL) {
		snprintf(buf, buflen, "the value of the vault's secret %s (scope %s)", fp->name,
		    fp->scope);
		what = buf;
	}
	return what;
}

/* ------------------------------------------------------------------ audit */

/* Append one audit record synchronously; 0 only when the auditor stored it. */
static int
ship_audit(struct ship *s, const char *action, const char *subject, const char *result,
    json_t *details, char *why, size_t whylen)
{
	char url[4200];
	const char *sock = jido_conf_str(s->c->conf, "socket.auditor");
	struct jido_reply r;
	int rc;

	if (sock != NULL && sock[0] != '\0')
		snprintf(url, sizeof(url), "%s", sock);
	else if (jido_bus_url_req(s->c->home, "auditor", url, sizeof(url)) != 0) {
		json_decref(details);
		return ship_fail(why, whylen, JIDO_EINTERNAL, "auditor socket path too long");
	}
	rc = jido_bus_call(url, "audit.append", s->run_id, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,"
	    "s:o}", "actor", "gitops", "channel", "system", "action", action, "subject", subject,
	    "run_id", s->run_id, "result", result, "details", details ? details : json_object()),
	    (int)jido_conf_int(s->c->conf, "bus.timeout_ms"), &r);
	if (rc != 0)
		return ship_fail(why, whylen, JIDO_EUNAVAIL, "audit.append %s %s: %s", action, result,
		    jido_strerror(rc));
	if (!r.ok)
		rc = ship_fail(why, whylen, JIDO_EUNAVAIL, "audit.append %s %s refused: %s", action,
		    result, r.message ? r.message : jido_err_name(r.err));
	jido_reply_free(&r);
	return rc;
}

/* ------------------------------------------------------------------ git helpers */

/* Run git in the clone with the NULL-terminated arguments after errlen; the token goes
 * to its credential helper when with_token. As gitops_git_run. */
static int
ship_git(struct ship *s, int with_token, const char *stdin_text, char **out, char *err,
    size_t errlen, ...)
{
	const char *argv[40];
	va_list ap;
	int n = 0;

	va_start(ap, errlen);
	while (n < 39 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return gitops_git_run(&s->git, s->dir, argv, with_token ? s->token : NULL, stdin_text,
	    out, err, errlen);
}

/* Drop trailing newlines in place (t may be NULL). */
static void
chomp(char *t)
{
	size_t n = t ? strlen(t) : 0;

	while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		t[--n] = '\0';
}

/* An auth failure of git over HTTP (the token was refused). */
static int
git_auth_failed(const char *err)
{
	return strstr(err, "Authentication failed") || strstr(err, "401") ||
	    strstr(err, "403") || strstr(err, "could not read Username");
}

/* The clone: created on first use, then fetched. On 0 *tip holds the base tip. */
static int
ship_clone(struct ship *s, const char *cand, char *tip, size_t tiplen, char *why, size_t whylen)
{
	char err[512], ref[600], cref[700], *out = NULL;
	struct stat st;
	int rc;

	snprintf(ref, sizeof(ref), "+refs/heads/%s:refs/remotes/origin/%s", s->p.base, s->p.base);
	/* the run's branch and its twins in the same fetch (a pattern matches nothing quietly);
	 * --prune drops candidates that are gone from the server */
	snprintf(cref, sizeof(cref), "+refs/heads/%s*:refs/jido/cand/%s*", cand, cand);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (stat(s->dir, &st) != 0) {
			char parent[4200];
			snprintf(parent, sizeof(parent), "%s", s->dir);
			*strrchr(parent, '/') = '\0';
			if (jido_mkdirs(parent, 0700) != 0)
				return ship_fail(why, whylen, JIDO_EINTERNAL, "cannot create %s", parent);
			const char *argv[] = { "init", "-q", "--", s->dir, NULL };
			if (gitops_git_run(&s->git, NULL, argv, NULL, NULL, NULL, err, sizeof(err)) != 0)
				return ship_fail(why, whylen, JIDO_EEXEC, "cannot create the clone: %s",
				    err);
		}
		/* by URL, never by a remote's stored config: the project's clone_url rules */
		rc = ship_git(s, 1, NULL, NULL, err, sizeof(err), "fetch", "-q", "--no-tags",
		    "--prune", s->p.clone_url, ref, cref, NULL);
		if (rc == 0 || attempt > 0 || !git_auth_failed(err))
			break;
		/* refresh the token (an installation token may have rotated) and retry once */
		jido_warn("gitops.auth_retry", "{s:s}", "step", "fetch");
		if (ship_token_fetch(s, why, whylen) != 0)
			return JIDO_ESECRET;
	}
	if (rc != 0)
		return ship_fail(why, whylen, JIDO_EEXEC, "cannot fetch %s: %s", s->p.repo, err);
	snprintf(ref, sizeof(ref), "refs/remotes/origin/%s", s->p.base);
	if (ship_git(s, 0, NULL, &out, err, sizeof(err), "rev-parse", "--verify", "-q", ref,
	    NULL) != 0)
		return ship_fail(why, whylen, JIDO_ENOTFOUND, "base branch '%s' does not exist in %s",
		    s->p.base, s->p.repo);
	chomp(out);
	snprintf(tip, tiplen, "%s", out);
	free(out);
	/* a clean tree at the base tip: nothing left from an earlier ship */
	if (ship_git(s, 0, NULL, NULL, err, sizeof(err), "checkout", "-q", "-f", "--detach", tip,
	    NULL) != 0 ||
	    ship_git(s, 0, NULL, NULL, err, sizeof(err), "clean", "-q", "-f", "-d", "-x", NULL) != 0)
		return ship_fail(why, whylen, JIDO_EEXEC, "cannot reset the clone: %s", err);
	return 0;
}

/* ------------------------------------------------------------------ GitHub helpers */

/* A REST call with one token refresh on 401. */
static int
ship_api(struct ship *s, const char *method, const char *path, const json_t *body, long *status,
    json_t **resp, char *why, size_t whylen)
{
	int rc = gitops_gh_call(&s->gh, method, path, body, status, resp, why, whylen);

	if (rc == 0 && *status == 401) {
		jido_warn("gitops.auth_retry", "{s:s,s:s}", "step", "api", "path", path);
		json_decref(*resp);
		*resp = NULL;
		if (ship_token_fetch(s, why, whylen) != 0)
			return JIDO_ESECRET;
		rc = gitops_gh_call(&s->gh, method, path, body, status, resp, why, whylen);
	}
	return rc;
}

/* GitHub's message from an error answer, into buf. */
static const char *
gh_message(const json_t *resp, char *buf, size_t len)
{
	const char *m = json_string_value(json_object_get(resp, "message"));
	json_t *errs = json_object_get(resp, "errors"), *e;
	size_t i;

	snprintf(buf, len, "%s", m ? m : "no message");
	json_array_foreach(errs, i, e) {
		const char *em = json_string_value(json_object_get(e, "message"));
		size_t n = strlen(buf);
		if (em != NULL && n + 3 < len)
			snprintf(buf + n, len - n, "; %s", em);
	}
	return buf;
}

/* Percent-encode s for a query value (unreserved characters and '/' stay). */
static void
url_enc(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~/", ch))
			out[o++] = (char)ch;
		else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

/* The open PR whose head is branch: 0 and *pr (new ref, or NULL when none). */
static int
ship_find_pr(struct ship *s, const char *branch, json_t **pr, char *why, size_t whylen)
{
	char path[1024], enc[700];
	long st;
	json_t *resp = NULL;
	int rc;

	*pr = NULL;
	url_enc(branch, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/repos/%s/pulls?state=open&head=%s:%s", s->p.repo, s->owner,
	    enc);
	if ((rc = ship_api(s, "GET", path, NULL, &st, &resp, why, whylen)) != 0)
		return rc;
	if (st != 200 || !json_is_array(resp)) {
		char m[300];
		rc = ship_fail(why, whylen, JIDO_EPROVIDER, "GET pulls for %s: HTTP %ld: %s", branch,
		    st, gh_message(resp, m, sizeof(m)));
		json_decref(resp);
		return rc;
	}
	if (json_array_size(resp) > 0)
		*pr = json_incref(json_array_get(resp, 0));
	json_decref(resp);
	return 0;
}

/* ------------------------------------------------------------------ messages */

/* Append printf text to a growing buffer (*b malloc'd). */
static void
sb_add(char **b, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;
	char *nb;

	va_start(ap, fmt);
	k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0 || (nb = realloc(*b, *n + (size_t)k + 1)) == NULL)
		return;
	*b = nb;
	va_start(ap, fmt);
	vsnprintf(*b + *n, (size_t)k + 1, fmt, ap);
	va_end(ap);
	*n += (size_t)k;
}

/* One fact from the request's body object as text ("" when absent). */
static const char *
fact(const struct ship *s, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(s->facts, key);

	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.4f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		buf[0] = '\0';
	return buf;
}

/* The commit message: subject, body (summary and files), trailers. Caller frees. */
static char *
ship_commit_msg(const struct ship *s, const struct gitops_diff *d, const char *subject)
{
	char *b = NULL;
	size_t n = 0;

	sb_add(&b, &n, "%s\n\n%s\n\n", subject, s->summary);
	for (size_t i = 0; i < d->n && i < 50; i++)
		sb_add(&b, &n, "- %s (+%ld -%ld)\n", d->files[i].path, d->files[i].added,
		    d->files[i].removed);
	if (d->n > 50)
		sb_add(&b, &n, "- and %zu more file(s)\n", d->n - 50);
	sb_add(&b, &n, "\nJidoCode-Workflow: %s\nJidoCode-Run: %s\n", s->workflow, s->run_id);
	return b;
}

/* The PR body: summary, changes, the run's facts. Caller frees. */
static char *
ship_pr_body(const struct ship *s, const struct gitops_diff *d)
{
	static const char *const keys[][2] = { { "agent", "Agent" }, { "model", "Model" },
		{ "duration", "Duration" }, { "duration_s", "Duration (s)" },
		{ "cost", "Cost" }, { "cost_usd", "Cost (USD)" }, { "tests", "Tests" } };
	char *b = NULL, v[512];
	size_t n = 0;

	sb_add(&b, &n, "%s\n\n### Changes\n\n", s->summary);
	for (size_t i = 0; i < d->n && i < 100; i++)
		sb_add(&b, &n, "- `%s` (+%ld −%ld)\n", d->files[i].path, d->files[i].added,
		    d->files[i].removed);
	if (d->n > 100)
		sb_add(&b, &n, "- and %zu more file(s)\n", d->n - 100);
	sb_add(&b, &n, "\n### Run\n\n| | |\n|---|---|\n| Workflow | `%s` |\n| Run | `%s` |\n",
	    s->workflow, s->run_id);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (fact(s, keys[i][0], v, sizeof(v))[0] != '\0') {
			for (char *c = v; *c; c++)
				if (*c == '\n' || *c == '|')
					*c = ' ';
			sb_add(&b, &n, "| %s | %s |\n", keys[i][1], v);
		}
	if (s->issue > 0)
		sb_add(&b, &n, "\nRefs #%ld\n", s->issue);
	sb_add(&b, &n, "\n<sub>Shipped by JidoCode after its policy checks passed.</sub>\n");
	return b;
}

/* ------------------------------------------------------------------ branch */

/* Is branch on the remote (ship_clone fetched every refs/heads/<candidate>* into
 * refs/jido/cand/), and is its tip this run's commit? exists/ours set; *ref receives the
 * local ref name. */
static int
ship_branch_probe(struct ship *s, const char *branch, int *exists, int *ours, char *ref,
    size_t reflen)
{
	char err[512], *out = NULL;

	*exists = *ours = 0;
	snprintf(ref, reflen, "refs/jido/cand/%s", branch);
	if (ship_git(s, 0, NULL, &out, err, sizeof(err), "rev-parse", "--verify", "-q", ref,
	    NULL) != 0) {
		free(out);
		return 0;
	}
	free(out);
	out = NULL;
	*exists = 1;
	if (ship_git(s, 0, NULL, &out, err, sizeof(err), "log", "-1",
	    "--format=%(trailers:key=JidoCode-Run,valueonly)", ref, NULL) == 0) {
		chomp(out);
		*ours = out != NULL && strcmp(out, s->run_id) == 0;
	}
	free(out);
	return 0;
}

/* Pick the branch: the run's name, or its "-2" twin when someone else holds it. *ours is
 * set when the picked branch already holds this run's commit (a retried ship). */
static int
ship_branch_pick(struct ship *s, const char *base, int *ours, char *ref, size_t reflen)
{
	char cand[2][300];
	int exists;

	snprintf(cand[0], sizeof(cand[0]), "%s", base);
	snprintf(cand[1], sizeof(cand[1]), "%.290s-2", base);
	for (int i = 0; i < 2; i++) {
		ship_branch_probe(s, cand[i], &exists, ours, ref, reflen);
		if (!exists || *ours) {
			snprintf(s->branch, sizeof(s->branch), "%s", cand[i]);
			if (*ours)
				gitops_report_add(s->report, "branch_collision", 1, "%s already holds this "
				    "run's commit", cand[i]);
			else if (i == 0)
				gitops_report_add(s->report, "branch_collision", 1, "%s is free", cand[i]);
			else
				gitops_report_add(s->report, "branch_collision", 1, "%s is taken by other "
				    "work; using %s", cand[0], cand[1]);
			return 0;
		}
	}
	gitops_report_add(s->report, "branch_collision", 0, "%s and %s both exist and hold other "
	    "work; nothing is overwritten", cand[0], cand[1]);
	return JIDO_EPOLICY;
}

/* ------------------------------------------------------------------ PR and comment */

/* Open the PR; the caller found none open for the branch (a race that opened one meanwhile
 * is answered 422 and the open one is found). On 0 *pr is a new reference. */
static int
ship_pr(struct ship *s, const struct gitops_diff *d, const char *subject, json_t **pr,
    char *why, size_t whylen)
{
	char *body = ship_pr_body(s, d), m[600], path[600];
	json_t *req, *resp = NULL;
	long st = 0;
	int draft = s->p.pr_draft, rc;

	*pr = NULL;
	/* the caller has just looked for an open PR on the branch and found none */
	if ((rc = ship_audit(s, "github.pr.create", s->branch, "intent", json_pack("{s:s,s:s,s:s}",
	    "repo", s->p.repo, "head", s->branch, "base", s->p.base), why, whylen)) != 0) {
		free(body);
		return rc;
	}
	snprintf(path, sizeof(path), "/repos/%s/pulls", s->p.repo);
	for (int attempt = 0; attempt < 2; attempt++) {
		req = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "title", s->title ? s->title : subject,
		    "head", s->branch, "base", s->p.base, "body", body ? body : "", "draft", draft,
		    "maintainer_can_modify", 1);
		rc = ship_api(s, "POST", path, req, &st, &resp, why, whylen);
		json_decref(req);
		if (rc != 0)
			break;
		gh_message(resp, m, sizeof(m));
		/* Draft PRs are not available on every plan: retry once as a normal PR. */
		if (st == 422 && draft && strcasestr(m, "draft") != NULL) {
			json_decref(resp);
			resp = NULL;
			draft = 0;
			json_array_append_new(s->warnings, json_string("draft pull requests are not "
			    "supported for this repository; opened a normal one"));
			continue;
		}
		break;
	}
	free(body);
	if (rc == 0 && st == 422 && strcasestr(m, "already exists") != NULL) {
		/* raced with another ship: find it */
		json_decref(resp);
		resp = NULL;
		if ((rc = ship_find_pr(s, s->branch, pr, why, whylen)) == 0 && *pr == NULL)
			rc = ship_fail(why, whylen, JIDO_EPROVIDER, "GitHub says a PR exists for %s but "
			    "none is open", s->branch);
	} else if (rc == 0 && st != 201) {
		rc = ship_fail(why, whylen, JIDO_EPROVIDER, "GitHub refused the pull request (HTTP "
		    "%ld): %s; the pushed branch %s is kept", st, m, s->branch);
	} else if (rc == 0) {
		*pr = resp;
		resp = NULL;
	}
	json_decref(resp);
	if (ship_audit(s, "github.pr.create", s->branch, rc == 0 ? "ok" : "failed",
	    json_pack("{s:s,s:I,s:s}", "repo", s->p.repo, "number", (json_int_t)(*pr ?
	    json_integer_value(json_object_get(*pr, "number")) : 0), "why", rc == 0 ? "" : why),
	    m, sizeof(m)) != 0)
		jido_warn("gitops.audit_result_failed", "{s:s,s:s}", "action", "github.pr.create",
		    "why", m);
	if (rc != 0)
		return rc;
	/* labels and reviewers: the PR stands without them; failures are warnings */
	json_int_t num = json_integer_value(json_object_get(*pr, "number"));
	if (json_array_size(s->p.pr_labels) > 0) {
		snprintf(path, sizeof(path), "/repos/%s/issues/%lld/labels", s->p.repo, (long long)num);
		req = json_pack("{s:O}", "labels", s->p.pr_labels);
		if (ship_api(s, "POST", path, req, &st, &resp, m, sizeof(m)) != 0 || st != 200)
			json_array_append_new(s->warnings, json_sprintf("labels not set (HTTP %ld)", st));
		json_decref(req);
		json_decref(resp);
		resp = NULL;
	}
	if (json_array_size(s->p.pr_reviewers) > 0) {
		snprintf(path, sizeof(path), "/repos/%s/pulls/%lld/requested_reviewers", s->p.repo,
		    (long long)num);
		req = json_pack("{s:O}", "reviewers", s->p.pr_reviewers);
		if (ship_api(s, "POST", path, req, &st, &resp, m, sizeof(m)) != 0 || st != 201)
			json_array_append_new(s->warnings, json_sprintf("reviewers not requested (HTTP "
			    "%ld)", st));
		json_decref(req);
		json_decref(resp);
	}
	return 0;
}

/* Post body on issue n of repo with audit before and after. *url receives the comment's
 * html_url (new string ref). */
static int
ship_post_comment(struct ship *s, long n, const char *body, json_t **url, char *why,
    size_t whylen)
{
	char path[600], subject[300], m[300];
	json_t *req, *resp = NULL;
	long st = 0;
	int rc;

	*url = NULL;
	snprintf(subject, sizeof(subject), "%s#%ld", s->p.repo, n);
	if ((rc = ship_audit(s, "github.comment.create", subject, "intent", json_pack("{s:s,s:I}",
	    "repo", s->p.repo, "issue", (json_int_t)n), why, whylen)) != 0)
		return rc;
	snprintf(path, sizeof(path), "/repos/%s/issues/%ld/comments", s->p.repo, n);
	req = json_pack("{s:s}", "body", body);
	rc = ship_api(s, "POST", path, req, &st, &resp, why, whylen);
	json_decref(req);
	if (rc == 0 && st != 201)
		rc = ship_fail(why, whylen, JIDO_EPROVIDER, "GitHub refused the comment (HTTP %ld): %s",
		    st, gh_message(resp, m, sizeof(m)));
	if (rc == 0)
		*url = json_incref(json_object_get(resp, "html_url"));
	json_decref(resp);
	if (ship_audit(s, "github.comment.create", subject, rc == 0 ? "ok" : "failed",
	    json_pack("{s:s,s:I,s:s}", "repo", s->p.repo, "issue", (json_int_t)n, "why",
	    rc == 0 ? "" : why), m, sizeof(m)) != 0)
		jido_warn("gitops.audit_result_failed", "{s:s,s:s}", "action",
		    "github.comment.create", "why", m);
	return rc;
}

/* Has issue n already a comment that names url (a retried ship)? */
static int
ship_comment_exists(struct ship *s, long n, const char *url)
{
	char path[600], m[300];
	json_t *resp = NULL, *e;
	long st = 0;
	size_t i;
	int found = 0;

	snprintf(path, sizeof(path), "/repos/%s/issues/%ld/comments?per_page=100", s->p.repo, n);
	if (ship_api(s, "GET", path, NULL, &st, &resp, m, sizeof(m)) == 0 && st == 200)
		json_array_foreach(resp, i, e) {
			const char *b = json_string_value(json_object_get(e, "body"));
			if (b != NULL && strstr(b, url) != NULL) {
				found = 1;
				break;
			}
		}
	json_decref(resp);
	return found;
}

/* ------------------------------------------------------------------ the request */

/* An optional or required string field of at most max bytes; *out borrows from d. */
static int
req_str(const json_t *d, const char *key, int required, size_t max, const char **out, char *why,
    size_t whylen)
{
	json_t *v = json_object_get(d, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return ship_fail(why, whylen, JIDO_EVALIDATION, "data.%s: required", key);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) > max)
		return ship_fail(why, whylen, JIDO_EVALIDATION, "data.%s: must be a string of at "
		    "most %zu bytes", key, max);
	*out = json_string_value(v);
	return 0;
}

/* The planner's step job ({job_id, run_id, workflow, project: {full_name, settings},
 * issue, dry_run, inputs: {<step>: result}}) as a gitops.ship request. New reference. */
static json_t *
ship_from_job(const struct gitops_ctx *c, const json_t *job)
{
	json_t *proj = json_object_get(job, "project"), *settings = json_object_get(proj,
	    "settings"), *inputs = json_object_get(job, "inputs"), *v, *p;
	const char *full = json_string_value(json_object_get(proj, "full_name")), *k;
	const char *diff = NULL, *summary = NULL, *title = NULL;
	char url[1200];
	json_t *facts = json_object();

	/* the last step that produced a diff, a summary or the issue's title */
	json_object_foreach(inputs, k, v) {
		const char *dd = json_string_value(json_object_get(v, "diff"));
		const char *ss = json_string_value(json_object_get(v, "summary"));
		const char *tt = json_string_value(json_object_get(v, "title"));
		if (dd != NULL) {
			diff = dd;
			json_t *u = json_object_get(v, "usage");
			if (json_is_object(u))
				json_object_update(facts, u);
			const char *fk[] = { "agent", "model", "duration_s", "cost_usd", "tests" };
			for (size_t i = 0; i < 5; i++)
				if (json_object_get(v, fk[i]))
					json_object_set(facts, fk[i], json_object_get(v, fk[i]));
		}
		if (ss != NULL)
			summary = ss;
		if (tt != NULL && title == NULL)
			title = tt;
	}
	json_t *tests = json_object_get(inputs, "test");
	if (json_is_object(tests) && json_object_get(tests, "exit_code"))
		json_object_set_new(facts, "tests", json_sprintf("exit %lld", (long long)
		    json_integer_value(json_object_get(tests, "exit_code"))));
	p = json_is_object(settings) ? json_deep_copy(settings) : json_object();
	json_object_set_new(p, "repo", json_string(full ? full : ""));
	if (json_object_get(p, "clone_url") == NULL) {
		snprintf(url, sizeof(url), "%s/%s.git", jido_conf_str(c->conf, "github.git_url"),
		    full ? full : "");
		json_object_set_new(p, "clone_url", json_string(url));
	}
	return json_pack("{s:O?,s:O?,s:o,s:O?,s:s?,s:s,s:s?,s:o,s:O?}", "run_id",
	    json_object_get(job, "run_id"), "workflow", json_object_get(job, "workflow"),
	    "project", p, "issue", json_object_get(job, "issue"), "diff", diff, "summary",
	    summary ? summary : (title ? title : "changes made by a JidoCode run"), "title", title,
	    "body", facts, "dry_run", json_object_get(job, "dry_run"));
}

/* Reply data of a policy violation: the report, and why = "<check>: <evidence>". */
static int
ship_violation(struct ship *s, json_t **out, char *why, size_t whylen)
{
	json_t *f = gitops_report_first_failure(s->report);

	ship_fail(why, whylen, 0, "policy_violation: %s: %s",
	    f ? json_string_value(json_object_get(f, "check")) : "unknown",
	    f ? json_string_value(json_object_get(f, "evidence")) : "a check failed");
	jido_warn("gitops.policy_violation", "{s:s,s:s,s:s}", "run_id", s->run_id, "repo", s->p.repo,
	    "why", why);
	if (out != NULL)
		*out = json_pack("{s:O,s:s?}", "checks", s->report, "branch",
		    s->branch[0] ? s->branch : NULL);
	return JIDO_EPOLICY;
}

static int
ship_kill_switch(const struct gitops_ctx *c)
{
	char path[4200];
	struct stat st;

	if (jido_conf_bool(c->conf, "gitops.kill_switch"))
		return 1;
	snprintf(path, sizeof(path), "%s/gitops.stop", c->home);
	return stat(path, &st) == 0;
}

/* A fresh ship for c: settings from the config, empty report and warnings. */
static void
ship_init(struct ship *s, struct gitops_ctx *c)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->git.git = "git";
	s->git.home = NULL;
	s->git.author_name = jido_conf_str(c->conf, "gitops.author_name");
	s->git.author_email = jido_conf_str(c->conf, "gitops.author_email");
	s->git.timeout_s = (int)jido_conf_int(c->conf, "gitops.git_timeout_s");
	s->gh.api_url = jido_conf_str(c->conf, "github.api_url");
	s->gh.retries = (int)jido_conf_int(c->conf, "gitops.api_retries");
	s->gh.max_wait_s = (int)jido_conf_int(c->conf, "gitops.api_max_wait_s");
	s->gh.timeout_s = 30;
	s->report = gitops_report_new();
	s->warnings = json_array();
	s->t_phase = jido_now_ms();
}

/* Release what a ship holds; the token is wiped. */
static void
ship_done(struct ship *s)
{
	ship_token_drop(s);
	gitops_fps_free(&s->fps);
	gitops_project_free(&s->p);
	json_decref(s->report);
	json_decref(s->warnings);
}

int
gitops_app_key(struct gitops_ctx *c, char **pem, char *why, size_t whylen)
{
	int rc;

	*pem = NULL;
	if (c->app == NULL && (rc = jido_ghapp_new(c->conf, c->home, &c->app, why, whylen)) != 0)
		return rc;
	return jido_ghapp_key(c->app, pem, why, whylen);
}

int
gitops_token_get(struct gitops_ctx *c, char **tok, char *why, size_t whylen)
{
	struct ship s;
	int rc;

	ship_init(&s, c);
	s.preset_used = 1;
	if ((rc = ship_token_fetch(&s, why, whylen)) == 0) {
		*tok = s.token; /* handed over */
		s.token = NULL;
	}
	ship_done(&s);
	return rc;
}

int
gitops_ship(struct gitops_ctx *c, const json_t *data_in, const char *corr, json_t **out,
    char *why, size_t whylen)
{
	struct ship s;
	struct gitops_diff d;
	struct gitops_defaults defs;
	const char *diff, *known[2] = { NULL, NULL };
	char home[4400], tip[64], subject[GITOPS_SUBJECT_MAX + 8], err[600], *msg = NULL;
	char *commit = NULL, *diff_nl = NULL;
	json_t *data = NULL, *pr = NULL, *comment_url = NULL, *v;
	int rc, ours = 0, have_diff = 0;

	(void)corr;
	*out = NULL;
	ship_init(&s, c);
	memset(&d, 0, sizeof(d));
	int from_job = json_object_get(data_in, "job_id") != NULL;
	data = from_job ? ship_from_job(c, data_in) : json_incref((json_t *)data_in);
	if (data == NULL) {
		rc = ship_fail(why, whylen, JIDO_EINTERNAL, "out of memory");
		goto done;
	}
	if (!from_job) {
		static const char *const known_keys[] = { "run_id", "workflow", "project", "issue",
			"diff", "summary", "title", "type", "body", "dry_run", NULL };
		const char *k;
		json_object_foreach(data, k, v) {
			int ok = 0;
			for (const char *const *kk = known_keys; *kk; kk++)
				ok |= strcmp(*kk, k) == 0;
			if (!ok) {
				rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.%.64s: unknown field", k);
				goto done;
			}
		}
	}
	if ((rc = req_str(data, "run_id", 1, 128, &s.run_id, why, whylen)) != 0 ||
	    (rc = req_str(data, "workflow", 1, 64, &s.workflow, why, whylen)) != 0 ||
	    (rc = req_str(data, "diff", 1, (size_t)jido_conf_int(c->conf, "bus.max_msg"), &diff,
	    why, whylen)) != 0 ||
	    (rc = req_str(data, "summary", 1, 4000, &s.summary, why, whylen)) != 0 ||
	    (rc = req_str(data, "title", 0, 256, &s.title, why, whylen)) != 0 ||
	    (rc = req_str(data, "type", 0, 20, &s.type, why, whylen)) != 0)
		goto done;
	if (s.run_id[0] == '\0' || s.workflow[0] == '\0' || s.summary[0] == '\0') {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.run_id, data.workflow and "
		    "data.summary must not be empty");
		goto done;
	}
	if (s.type == NULL)
		s.type = strcmp(s.workflow, "fix_failing_tests") == 0 ? "test" : "fix";
	for (const char *t = s.type; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || *t == '-' || *t == '!')) {
			rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.type: lowercase letters only "
			    "(fix, feat, test, docs, chore, ...)");
			goto done;
		}
	v = json_object_get(data, "issue");
	if (v != NULL && !json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0)) {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.issue: must be a positive integer");
		goto done;
	}
	s.issue = v ? (long)json_integer_value(v) : 0;
	v = json_object_get(data, "dry_run");
	if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.dry_run: must be true or false");
		goto done;
	}
	s.dry_run = json_is_true(v);
	s.facts = json_object_get(data, "body");
	if (s.facts != NULL && !json_is_object(s.facts)) {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.body: must be an object of facts "
		    "(agent, model, duration_s, cost_usd, tests)");
		goto done;
	}
	defs.max_diff_lines = jido_conf_int(c->conf, "gitops.max_diff_lines");
	defs.ship_workflows = jido_conf_str(c->conf, "gitops.ship_workflows");
	if ((rc = gitops_project_from_json(json_object_get(data, "project"), &defs, 1, !from_job,
	    &s.p, why, whylen)) != 0)
		goto done;
	/* The token goes wherever clone_url points: only to the configured GitHub. */
	const char *gu = jido_conf_str(c->conf, "github.git_url");
	size_t gl = strlen(gu);
	while (gl > 0 && gu[gl - 1] == '/')
		gl--;
	if (gl == 0 || strncmp(s.p.clone_url, gu, gl) != 0 || s.p.clone_url[gl] != '/') {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "project.clone_url: must be under "
		    "github.git_url (%.*s): the token is sent nowhere else", (int)gl, gu);
		goto done;
	}
	snprintf(s.owner, sizeof(s.owner), "%.*s", (int)(strchr(s.p.repo, '/') - s.p.repo),
	    s.p.repo);
	/* a diff whose last newline was trimmed in transit still applies */
	size_t dl = strlen(diff);
	if (dl > 0 && diff[dl - 1] != '\n') {
		if ((diff_nl = malloc(dl + 2)) == NULL) {
			rc = ship_fail(why, whylen, JIDO_EINTERNAL, "out of memory");
			goto done;
		}
		memcpy(diff_nl, diff, dl);
		memcpy(diff_nl + dl, "\n", 2);
		diff = diff_nl;
	}
	if ((rc = gitops_diff_parse(diff, strlen(diff), &d, why, whylen)) != 0)
		goto done;
	have_diff = 1;

	/* 1. may this ship at all? (before any network or disk) */
	gitops_check_shipping(&s.p, s.workflow, ship_kill_switch(c), s.report);
	if (gitops_report_first_failure(s.report) != NULL) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	/* 2. the token (also a value the secret scan looks for) */
	if ((rc = ship_token_fetch(&s, why, whylen)) != 0)
		goto done;
	known[0] = s.token;
	ship_phase(&s, "token");
	/* the vault's fingerprints: without them (when wanted) the secret scan fails closed */
	if (ship_fps_load(&s) != 0) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	/* 3. the checks on the diff alone */
	gitops_check_static(&d, &s.p, known, s.report);
	if (gitops_report_first_failure(s.report) == NULL && s.fps.n > 0) {
		const struct gitops_fp *hit;
		long li = gitops_fps_scan_diff(&s.fps, &d, &hit);
		if (li >= 0) {
			json_array_remove(s.report, json_array_size(s.report) - 1);
			gitops_report_add(s.report, "secret_scan", 0, "%s:%ld: the value of the vault's "
			    "secret %s (scope %s)", d.files[d.adds[li].file].path, d.adds[li].lineno,
			    hit->name, hit->scope);
		}
	}
	ship_phase(&s, "static_checks");
	/* what gitops itself posts (commit message, PR title and body, comment) is scanned too */
	if (gitops_report_first_failure(s.report) == NULL) {
		const char *what = NULL, *where = NULL, *k;
		char wbuf[300];
		json_t *fv;
		if ((what = ship_secret_in(&s, s.summary, strlen(s.summary), known, wbuf,
		    sizeof(wbuf))) != NULL)
			where = "summary";
		else if (s.title && (what = ship_secret_in(&s, s.title, strlen(s.title), known,
		    wbuf, sizeof(wbuf))) != NULL)
			where = "title";
		else
			json_object_foreach((json_t *)s.facts, k, fv)
				if (json_is_string(fv) && (what = ship_secret_in(&s,
				    json_string_value(fv), json_string_length(fv), known, wbuf,
				    sizeof(wbuf))) != NULL) {
					where = k;
					break;
				}
		if (what != NULL) {
			json_array_remove(s.report, json_array_size(s.report) - 1);
			gitops_report_add(s.report, "secret_scan", 0, "the run's %s: %s", where, what);
		}
	}
	if (gitops_report_first_failure(s.report) != NULL) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	/* 4. our own clean clone at the base tip; apply */
	char key[300];
	snprintf(key, sizeof(key), "%s", s.p.repo);
	*strchr(key, '/') = '_';
	snprintf(s.dir, sizeof(s.dir), "%s/clones/%s", c->work, key);
	snprintf(home, sizeof(home), "%s/home", c->work);
	if (jido_mkdirs(home, 0700) != 0) {
		rc = ship_fail(why, whylen, JIDO_EINTERNAL, "cannot create %s", home);
		goto done;
	}
	s.git.home = home;
	/* the branch name, checked before it is used in a refspec */
	char cand[300], cref[400];
	if (gitops_branch_name(&s.p, s.workflow, s.run_id, cand, sizeof(cand)) != 0) {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "cannot make a branch name from "
		    "workflow '%s' and run '%s'", s.workflow, s.run_id);
		goto done;
	}
	gitops_check_target(&s.p, cand, s.report);
	if (gitops_report_first_failure(s.report) != NULL) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	if ((rc = ship_clone(&s, cand, tip, sizeof(tip), why, whylen)) != 0)
		goto done;
	ship_phase(&s, "fetch_and_reset");
	/* git apply is atomic: on failure nothing is applied */
	rc = ship_git(&s, 0, diff, NULL, err, sizeof(err), "apply", "--index",
	    "--whitespace=nowarn", "-", NULL);
	int moved = s.p.base_sha[0] != '\0' && strncmp(tip, s.p.base_sha, strlen(s.p.base_sha)) != 0;
	if (rc != 0) {
		if (moved)
			gitops_report_add(s.report, "base_current", 0, "%s moved from %.12s to %.12s and "
			    "the diff no longer applies on it: %s", s.p.base, s.p.base_sha, tip, err);
		else
			gitops_report_add(s.report, "clean_apply", 0, "the diff does not apply on %s at "
			    "%.12s: %s", s.p.base, tip, err);
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	if (moved)
		gitops_report_add(s.report, "base_current", 1, "%s moved from %.12s to %.12s; the "
		    "diff applies on the new tip (rebased)", s.p.base, s.p.base_sha, tip);
	else
		gitops_report_add(s.report, "base_current", 1, "%s at %.12s", s.p.base, tip);
	gitops_report_add(s.report, "clean_apply", 1, "applied on %s at %.12s", s.p.base, tip);
	ship_phase(&s, "apply");
	/* 5. the branch: free, ours already, or its twin; and a safe target */
	if ((rc = ship_branch_pick(&s, cand, &ours, cref, sizeof(cref))) != 0) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	ship_phase(&s, "branch_probe");
	if (strcmp(s.branch, cand) != 0) /* the twin: check it as a target too */
		gitops_check_target(&s.p, s.branch, s.report);
	if (gitops_report_first_failure(s.report) != NULL) {
		rc = ship_violation(&s, out, why, whylen);
		goto done;
	}
	gitops_subject(s.type, s.summary, subject, sizeof(subject));
	if (!ours) {
		/* 6. nobody has a PR open on this branch name already */
		if ((rc = ship_find_pr(&s, s.branch, &pr, why, whylen)) != 0)
			goto done;
		if (pr != NULL) {
			gitops_report_add(s.report, "no_open_pr", 0, "pull request #%lld is already open "
			    "for %s", (long long)json_integer_value(json_object_get(pr, "number")),
			    s.branch);
			json_decref(pr);
			pr = NULL;
			rc = ship_violation(&s, out, why, whylen);
			goto done;
		}
		gitops_report_add(s.report, "no_open_pr", 1, "no pull request open for %s", s.branch);
		ship_phase(&s, "find_pr");
		/* 7. commit */
		msg = ship_commit_msg(&s, &d, subject);
		if (msg == NULL || ship_git(&s, 0, msg, NULL, err, sizeof(err), "commit", "-q",
		    "--no-verify", "-F", "-", NULL) != 0) {
			rc = ship_fail(why, whylen, JIDO_EEXEC, "commit failed: %s", err);
			goto done;
		}
	} else
		gitops_report_add(s.report, "no_open_pr", 1, "%s is this run's own branch", s.branch);
	if (ship_git(&s, 0, NULL, &commit, err, sizeof(err), "rev-parse", ours ? cref :
	    "HEAD", NULL) != 0) {
		rc = ship_fail(why, whylen, JIDO_EEXEC, "%s", err);
		goto done;
	}
	chomp(commit);
	ship_phase(&s, "commit");
	if (s.dry_run) {
		char *body = ship_pr_body(&s, &d);
		*out = json_pack("{s:b,s:s,s:s,s:O,s:{s:s,s:b},s:{s:s,s:s,s:s,s:s,s:b,s:O,s:O},s:s?,"
		    "s:O}", "dry_run", 1, "branch", s.branch, "commit", commit, "checks", s.report,
		    "would_push", "refspec", ours ? "(already pushed)" : "HEAD", "force", 0,
		    "would_open_pr", "title", s.title ? s.title : subject, "head", s.branch, "base",
		    s.p.base, "body", body ? body : "", "draft", s.p.pr_draft, "labels", s.p.pr_labels,
		    "reviewers", s.p.pr_reviewers, "would_comment_on", s.issue > 0 ? "issue" : NULL,
		    "warnings", s.warnings);
		free(body);
		rc = 0;
		goto done;
	}
	/* 8. push: audit intent first; nothing is pushed when it cannot be recorded */
	if (!ours) {
		char refspec[400];
		snprintf(refspec, sizeof(refspec), "HEAD:refs/heads/%s", s.branch);
		if ((rc = ship_audit(&s, "git.push", s.branch, "intent", json_pack("{s:s,s:s,s:s}",
		    "repo", s.p.repo, "commit", commit, "base", s.p.base), why, whylen)) != 0) {
			rc = JIDO_EUNAVAIL;
			goto done;
		}
		for (int attempt = 0; attempt < 2; attempt++) {
			/* never --force: a branch that appeared meanwhile makes the push fail */
			rc = ship_git(&s, 1, NULL, NULL, err, sizeof(err), "push", "-q", "--no-verify",
			    s.p.clone_url, refspec, NULL);
			if (rc == 0 || attempt > 0 || !git_auth_failed(err))
				break;
			jido_warn("gitops.auth_retry", "{s:s}", "step", "push");
			if (ship_token_fetch(&s, why, whylen) != 0)
				break;
		}
		char m[300];
		if (ship_audit(&s, "git.push", s.branch, rc == 0 ? "ok" : "failed", json_pack(
		    "{s:s,s:s,s:s}", "repo", s.p.repo, "commit", commit, "why", rc == 0 ? "" : err),
		    m, sizeof(m)) != 0)
			jido_warn("gitops.audit_result_failed", "{s:s,s:s}", "action", "git.push", "why",
			    m);
		if (rc != 0) {
			rc = ship_fail(why, whylen, JIDO_EEXEC, "push of %s failed: %s", s.branch, err);
			goto done;
		}
		jido_info("gitops.pushed", "{s:s,s:s,s:s,s:s}", "run_id", s.run_id, "repo", s.p.repo,
		    "branch", s.branch, "commit", commit);
	}
	ship_phase(&s, "push");
	/* 9. the pull request (found when a retried ship already opened it) */
	int existed = 0;
	if (ours) {
		if ((rc = ship_find_pr(&s, s.branch, &pr, why, whylen)) != 0)
			goto done;
		existed = pr != NULL;
	}
	if (pr == NULL && (rc = ship_pr(&s, &d, subject, &pr, why, whylen)) != 0)
		goto done;
	ship_phase(&s, "pr");
	const char *pr_url = json_string_value(json_object_get(pr, "html_url"));
	json_int_t pr_num = json_integer_value(json_object_get(pr, "number"));
	/* 10. the comment on the issue (once per PR) */
	if (s.issue > 0 && pr_url != NULL && !(existed && ship_comment_exists(&s, s.issue, pr_url))) {
		char *body = NULL;
		size_t n = 0;
		sb_add(&body, &n, "JidoCode opened pull request #%lld for this issue: %s\n\n%s\n\n"
		    "<sub>Run `%s`, workflow `%s`.</sub>\n", (long long)pr_num, pr_url, s.summary,
		    s.run_id, s.workflow);
		rc = ship_post_comment(&s, s.issue, body ? body : "", &comment_url, why, whylen);
		free(body);
		if (rc != 0)
			goto done;
	}
	ship_phase(&s, "comment");
	*out = json_pack("{s:s,s:s,s:{s:I,s:s?},s:O?,s:b,s:O,s:O}", "branch", s.branch, "commit",
	    commit, "pr", "number", pr_num, "url", pr_url, "comment_url", comment_url,
	    "already_shipped", ours, "checks", s.report, "warnings", s.warnings);
	rc = *out != NULL ? 0 : JIDO_EINTERNAL;
done:
	if (rc != 0 && rc != JIDO_EPOLICY && s.run_id != NULL)
		jido_warn("gitops.ship_failed", "{s:s,s:s,s:s}", "run_id", s.run_id, "code",
		    jido_err_name(rc), "why", why);
	free(msg);
	free(commit);
	free(diff_nl);
	json_decref(pr);
	json_decref(comment_url);
	if (have_diff)
		gitops_diff_free(&d);
	json_decref(data);
	ship_done(&s);
	return rc;
}

int
gitops_comment(struct gitops_ctx *c, const json_t *data, const char *corr, json_t **out,
    char *why, size_t whylen)
{
	struct ship s;
	const char *repo, *body, *k;
	json_t *v, *url = NULL, *proj;
	int rc;

	*out = NULL;
	ship_init(&s, c);
	json_object_foreach((json_t *)data, k, v)
		if (strcmp(k, "repo") && strcmp(k, "issue") && strcmp(k, "body") &&
		    strcmp(k, "run_id")) {
			rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.%.64s: unknown field", k);
			goto done;
		}
	if ((rc = req_str(data, "repo", 1, 255, &repo, why, whylen)) != 0 ||
	    (rc = req_str(data, "body", 1, 65536, &body, why, whylen)) != 0 ||
	    (rc = req_str(data, "run_id", 0, 128, &s.run_id, why, whylen)) != 0)
		goto done;
	v = json_object_get(data, "issue");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.issue: must be a positive integer");
		goto done;
	}
	if (body[0] == '\0') {
		rc = ship_fail(why, whylen, JIDO_EVALIDATION, "data.body: must not be empty");
		goto done;
	}
	if (s.run_id == NULL)
		s.run_id = corr ? corr : "";
	proj = json_pack("{s:s,s:s}", "repo", repo, "clone_url", "https://unused.invalid/");
	rc = gitops_project_from_json(proj, NULL, 1, 1, &s.p, why, whylen);
	json_decref(proj);
	if (rc != 0)
		goto done;
	if (ship_kill_switch(c)) {
		rc = ship_fail(why, whylen, JIDO_EPOLICY, "policy_violation: shipping_allowed: the "
		    "shipping kill switch is on");
		goto done;
	}
	if ((rc = ship_token_fetch(&s, why, whylen)) != 0)
		goto done;
	const char *known[] = { s.token, NULL };
	char wbuf[300];
	if (ship_fps_load(&s) != 0) {
		json_t *f = gitops_report_first_failure(s.report);
		rc = ship_fail(why, whylen, JIDO_EPOLICY, "policy_violation: secret_scan: %s",
		    json_string_value(json_object_get(f, "evidence")));
		goto done;
	}
	const char *what = ship_secret_in(&s, body, strlen(body), known, wbuf, sizeof(wbuf));
	if (what != NULL) {
		rc = ship_fail(why, whylen, JIDO_EPOLICY, "policy_violation: secret_scan: the comment "
		    "holds %s", what);
		goto done;
	}
	if ((rc = ship_post_comment(&s, (long)json_integer_value(v), body, &url, why, whylen)) != 0)
		goto done;
	*out = json_pack("{s:O?}", "comment_url", url);
done:
	json_decref(url);
	ship_done(&s);
	return rc;
}
