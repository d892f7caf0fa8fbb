/*
 * gitops.c - jido-gitops: policy-checked shipping: branch, commit, push, pull request,
 * comment. This file holds the process's one core handler (shared by serve and filter
 * modes), its declaration (allowlist, open/tick/close), the planner job queue and the
 * `check` filter command.
 *
 * Requests: gitops.ship and gitops.comment, either in gitops's own form (answered when
 * the ship is done) or as the planner's step job (with job_id and reply_to: answered at
 * once with {accepted}, shipped from the tick hook, and the outcome sent back as
 * planner.steps.result). One ship at a time: the serve loop is synchronous, so a ship
 * holds the request socket for its duration (bounded by gitops.git_timeout_s per git
 * command and 30 s per GitHub call plus rate-limit waits of at most gitops.api_max_wait_s).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "gitops.h"

/* Syscalls beyond the base and exec lists (lib/seccomp.c): libsodium's guarded memory
 * (the token lives in it). git, git-remote-http (libcurl) and the credential helper's
 * shell run within the base and exec lists: the e2e test ships over HTTP with this list
 * installed and fails on any SIGSYS (the kernel log names the syscall). */
static const char *const gitops_allow[] = { "mlock", "munlock", NULL };

#define GITOPS_QUEUE_MAX 32
#define GITOPS_OUTBOX_MAX 8 /* results awaiting the planner's answer */

extern const struct jido_proc gitops_proc; /* defined at the end of this file */

struct gitops_priv {
	struct gitops_ctx ctx;
	json_t *queue; /* planner jobs waiting for the tick: array of requests */
	int curl_ok;
	/* the ship worker running the head job, if any */
	pid_t wpid;
	int wfd;        /* its stdout, non-blocking */
	char *wbuf;
	size_t wlen;
	json_t *wjob;   /* the job it runs */
	int64_t wstart;
	/* Results sent to the planner whose answer has not come yet: the planner also calls
	 * gitops (the next ship or comment job), so the serve loop keeps answering while they
	 * wait instead of both sides waiting out a bus timeout. */
	struct jido_outbox *outbox;
};

/* The planner's answer to a job's result (the outbox's done hook): logged when it is not
 * a yes. Frees r. */
static void
gitops_result_done(void *arg, const char *job_id, int rc, struct jido_reply *r)
{
	(void)arg;
	if (rc != 0)
		jido_warn("gitops.result_lost", "{s:s,s:s}", "job_id", job_id, "why",
		    jido_strerror(rc));
	else {
		if (!r->ok)
			jido_warn("gitops.result_refused", "{s:s,s:s}", "job_id", job_id, "why",
			    r->message ? r->message : "");
		jido_reply_free(r);
	}
}

/* Before seccomp: the work directory, libcurl, the job queue, the result outbox. */
static int
gitops_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct gitops_priv *g = jido_srv_priv(s);
	const struct jido_conf *c = jido_srv_conf(s);
	const char *wd = jido_conf_str(c, "gitops.work_dir");
	const char *fpm = jido_conf_str(c, "gitops.vault_fingerprints");

	if (fpm == NULL || (strcmp(fpm, "auto") != 0 && strcmp(fpm, "on") != 0 &&
	    strcmp(fpm, "off") != 0)) {
		snprintf(why, whylen, "gitops.vault_fingerprints must be auto, on or off");
		return JIDO_EVALIDATION;
	}
	g->ctx.conf = c;
	g->ctx.home = jido_srv_home(s);
	if (wd != NULL && wd[0] != '\0') {
		if (jido_abspath(wd, g->ctx.work, sizeof(g->ctx.work)) != 0) {
			snprintf(why, whylen, "gitops.work_dir: path too long");
			return JIDO_EVALIDATION;
		}
	} else
		snprintf(g->ctx.work, sizeof(g->ctx.work), "%s/gitops", g->ctx.home);
	if (jido_mkdirs(g->ctx.work, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s: %s", g->ctx.work, strerror(errno));
		return JIDO_EINTERNAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(why, whylen, "libcurl did not initialise");
		return JIDO_EINTERNAL;
	}
	g->curl_ok = 1;
	g->queue = json_array();
	if (jido_outbox_new(GITOPS_OUTBOX_MAX, gitops_result_done, NULL, &g->outbox) != 0) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	return 0;
}

/* Release what open made; a running worker is waited for. */
static void
gitops_close(struct jido_srv *s)
{
	struct gitops_priv *g = jido_srv_priv(s);

	if (g->wpid > 0) { /* draining: let the ship finish; its outcome is not reported */
		close(g->wfd);
		while (waitpid(g->wpid, NULL, 0) < 0 && errno == EINTR)
			;
		free(g->wbuf);
		json_decref(g->wjob);
		g->wpid = 0;
	}
	/* results sent: a second for their answers (a planner stopped first does not hold
	 * gitops's stop up for bus.timeout_ms) */
	jido_outbox_poll(g->outbox, jido_now_ms() + 1000);
	jido_outbox_free(g->outbox);
	g->outbox = NULL;
	jido_ghapp_free(g->ctx.app);
	g->ctx.app = NULL;
	json_decref(g->queue);
	g->queue = NULL;
	if (g->curl_ok)
		curl_global_cleanup();
}

/* The planner's gitops.comment job as gitops.comment data. New reference. */
static json_t *
comment_from_job(const json_t *job)
{
	json_t *step = json_object_get(job, "step"), *inputs = json_object_get(job, "inputs");
	const char *body = json_string_value(json_object_get(step, "body"));
	const char *k;
	json_t *v;

	if (body == NULL || strstr(body, "{{") != NULL) { /* unrendered: the last output */
		body = NULL;
		json_object_foreach(inputs, k, v)
			if (json_is_string(json_object_get(v, "output")))
				body = json_string_value(json_object_get(v, "output"));
	}
	return json_pack("{s:O?,s:O?,s:s?,s:O?}", "repo", json_object_get(json_object_get(job,
	    "project"), "full_name"), "issue", json_object_get(job, "issue"), "body", body,
	    "run_id", json_object_get(job, "run_id"));
}

/* Run one request (ship or comment) in either form; returns like a handler. */
static int
gitops_run(struct gitops_priv *g, const char *verb, const json_t *data, const char *corr,
    json_t **out, char *why, size_t whylen)
{
	if (strcmp(verb, "ship") == 0)
		return gitops_ship(&g->ctx, data, corr, out, why, whylen);
	if (json_object_get(data, "job_id") != NULL) {
		json_t *d = comment_from_job(data);
		int rc = gitops_comment(&g->ctx, d, corr, out, why, whylen);
		json_decref(d);
		return rc;
	}
	return gitops_comment(&g->ctx, data, corr, out, why, whylen);
}

/* The failure kinds of the planner's run model. */
static const char *
gitops_kind(int rc)
{
	switch (rc) {
	case JIDO_EPOLICY: return "policy_violation";
	case JIDO_EVALIDATION: return "validation";
	case JIDO_ESECRET: case JIDO_EAUTHZ: return "auth";
	case JIDO_ETIMEOUT: return "timeout";
	default: return "execution";
	}
}

/* Send a job's outcome to the planner as planner.steps.result. Takes out. The result
 * goes out through the outbox without waiting for the answer (taken in the tick; the
 * planner's refusal or a lost result is logged by gitops_result_done), so the serve loop
 * keeps answering the planner's own calls meanwhile. */
static void
gitops_report_result(struct gitops_priv *g, const json_t *data, int rc, const char *why,
    json_t *out)
{
	json_t *res;
	char url[4200];

	if (rc == 0)
		res = json_pack("{s:O,s:O,s:O,s:s,s:o}", "run_id", json_object_get(data, "run_id"),
		    "seq", json_object_get(data, "seq"), "attempt", json_object_get(data, "attempt"),
		    "status", "done", "result", out ? out : json_object());
	else
		res = json_pack("{s:O,s:O,s:O,s:s,s:{s:s,s:s,s:s},s:o}", "run_id",
		    json_object_get(data, "run_id"), "seq", json_object_get(data, "seq"), "attempt",
		    json_object_get(data, "attempt"), "status", "failed", "error", "kind",
		    gitops_kind(rc), "code", jido_err_name(rc), "message", why, "result",
		    out ? out : json_object());
	/* What the ship made, as the run's artifacts (the run page lists them): the PR, the
	 * branch and the issue comment. */
	const char *pr_url = json_string_value(json_object_get(json_object_get(out, "pr"), "url"));
	if (rc == 0 && pr_url != NULL)
		json_object_set_new(res, "artifacts", json_pack("[{s:s,s:O?,s:O?}]", "pr_url", pr_url,
		    "branch", json_object_get(out, "branch"), "comment_url",
		    json_object_get(out, "comment_url")));
	const char *sock = jido_conf_str(g->ctx.conf, "socket.planner");
	if (sock != NULL && sock[0] != '\0')
		snprintf(url, sizeof(url), "%s", sock);
	else
		jido_bus_url_req(g->ctx.home, "planner", url, sizeof(url));
	jido_outbox_send(g->outbox, url, "planner.steps.result", json_string_value(
	    json_object_get(data, "run_id")), json_string_value(json_object_get(data, "job_id")),
	    res, (int)jido_conf_int(g->ctx.conf, "bus.timeout_ms"));
}

/* Start a ship worker (this binary, `ship-worker`) for job: a fresh process with its own
 * bus and curl state, fed the effective configuration, the token and the request on a
 * pipe (never argv or the environment). 0 when it runs. */
static int
gitops_worker_start(struct gitops_priv *g, json_t *job, char *why, size_t whylen)
{
	size_t nkeys;
	const struct jido_conf_key *keys = jido_conf_keys(&nkeys);
	json_t *conf = json_object(), *in;
	char *tok = NULL, *text;
	int pin[2], pout[2], rc;
	pid_t pid;

	if ((rc = gitops_token_get(&g->ctx, &tok, why, whylen)) != 0) {
		json_decref(conf);
		return rc;
	}
	for (size_t i = 0; i < nkeys; i++) {
		const char *v = jido_conf_str(g->ctx.conf, keys[i].name);
		if (v != NULL)
			json_object_set_new(conf, keys[i].name, json_string(v));
	}
	json_object_set_new(conf, "home", json_string(g->ctx.home));
	json_object_set_new(conf, "gitops.work_dir", json_string(g->ctx.work));
	/* the worker holds no credential: the vault's fingerprints come from us, or why not */
	json_t *fps = NULL;
	char fwhy[512] = "";
	if (gitops_fps_wanted(g->ctx.conf) &&
	    gitops_fps_fetch(g->ctx.conf, g->ctx.home, &fps, fwhy, sizeof(fwhy)) != 0)
		fps = NULL;
	/* with a GitHub App, the key too, so that the worker can mint after an auth failure */
	char *pem = NULL;
	if (jido_ghapp_configured(g->ctx.conf) &&
	    gitops_app_key(&g->ctx, &pem, fwhy + 256, sizeof(fwhy) - 256) != 0)
		pem = NULL;
	in = json_pack("{s:o,s:s,s:O,s:O,s:o?,s:s?,s:s?}", "conf", conf, "token", tok, "verb",
	    json_object_get(job, "verb"), "data", json_object_get(job, "data"), "fingerprints",
	    fps, "fingerprints_error", fwhy[0] != '\0' ? fwhy : NULL, "app_private_key", pem);
	if (pem != NULL) {
		sodium_memzero(pem, strlen(pem));
		sodium_free(pem);
	}
	sodium_memzero(tok, strlen(tok));
	sodium_free(tok);
	text = in ? jido_json_dump(in) : NULL;
	if (in != NULL) { /* wipe the token's and key's copies inside the JSON before freeing */
		json_t *t = json_object_get(in, "token"), *k = json_object_get(in, "app_private_key");
		sodium_memzero((void *)json_string_value(t), json_string_length(t));
		if (json_is_string(k))
			sodium_memzero((void *)json_string_value(k), json_string_length(k));
	}
	json_decref(in);
	if (text == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	if (pipe2(pin, O_CLOEXEC) != 0) {
		sodium_memzero(text, strlen(text));
		free(text);
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	if (pipe2(pout, O_CLOEXEC) != 0) {
		close(pin[0]);
		close(pin[1]);
		sodium_memzero(text, strlen(text));
		free(text);
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	/* The worker's environment: ours without a credential file (it has no use for it). */
	extern char **environ;
	size_t ne = 0;
	while (environ[ne] != NULL)
		ne++;
	char **envp = calloc(ne + 1, sizeof(*envp));
	size_t k = 0;
	for (size_t i = 0; envp != NULL && i < ne; i++)
		if (strncmp(environ[i], "JIDO_PROC_CRED", 14) != 0)
			envp[k++] = environ[i];
	if (envp == NULL)
		pid = -1;
	else if ((pid = fork()) == 0) {
		char *argv[] = { (char *)"jido-gitops", (char *)"ship-worker", NULL };
		if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0)
			_exit(127);
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	free(envp);
	close(pin[0]);
	close(pout[1]);
	if (pid < 0) {
		close(pin[1]);
		close(pout[0]);
		sodium_memzero(text, strlen(text));
		free(text);
		snprintf(why, whylen, "fork: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	/* The request fits the pipe or the worker reads it while we write: it reads all of
	 * stdin before anything else. */
	size_t n = strlen(text), off = 0;
	while (off < n) {
		ssize_t w = write(pin[1], text + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(pin[1]);
	sodium_memzero(text, n);
	free(text);
	fcntl(pout[0], F_SETFL, O_NONBLOCK);
	g->wpid = pid;
	g->wfd = pout[0];
	g->wbuf = NULL;
	g->wlen = 0;
	g->wjob = job;
	g->wstart = jido_now_ms();
	return 0;
}

/* Collect the worker's answer when it is done; report it. */
static void
gitops_worker_poll(struct gitops_priv *g)
{
	char tmp[8192];
	ssize_t n;
	int status, rc = JIDO_EEXEC;
	json_t *res = NULL, *out = NULL;
	char why[1024];

	while ((n = read(g->wfd, tmp, sizeof(tmp))) > 0) {
		char *nb = realloc(g->wbuf, g->wlen + (size_t)n + 1);
		if (nb == NULL)
			break;
		g->wbuf = nb;
		memcpy(g->wbuf + g->wlen, tmp, (size_t)n);
		g->wlen += (size_t)n;
		g->wbuf[g->wlen] = '\0';
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* more to come */
	close(g->wfd);
	g->wfd = -1;
	while (waitpid(g->wpid, &status, 0) < 0 && errno == EINTR)
		;
	snprintf(why, sizeof(why), "the ship worker ended without an answer (%s %d)",
	    WIFSIGNALED(status) ? "signal" : "status", WIFSIGNALED(status) ? WTERMSIG(status) :
	    WEXITSTATUS(status));
	if (g->wbuf != NULL && (res = json_loadb(g->wbuf, g->wlen, 0, NULL)) != NULL &&
	    json_is_integer(json_object_get(res, "rc"))) {
		rc = (int)json_integer_value(json_object_get(res, "rc"));
		snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(res, "why")) ?
		    json_string_value(json_object_get(res, "why")) : "");
		out = json_incref(json_object_get(res, "out"));
		if (json_is_null(out)) {
			json_decref(out);
			out = NULL;
		}
	}
	jido_info("gitops.job_done", "{s:O,s:s,s:I}", "job_id", json_object_get(json_object_get(
	    g->wjob, "data"), "job_id"), "code", rc ? jido_err_name(rc) : "ok", "ms",
	    (json_int_t)(jido_now_ms() - g->wstart));
	gitops_report_result(g, json_object_get(g->wjob, "data"), rc, why, out);
	json_decref(res);
	free(g->wbuf);
	g->wbuf = NULL;
	json_decref(g->wjob);
	g->wjob = NULL;
	g->wpid = 0;
}

/* The tick: collect a finished worker, start the next queued job. */
static void
gitops_tick(struct jido_srv *s)
{
	struct gitops_priv *g = jido_srv_priv(s);
	char why[1024] = "";

	if (g->wpid > 0)
		gitops_worker_poll(g);
	jido_outbox_poll(g->outbox, 0);
	if (g->wpid > 0 || g->queue == NULL || json_array_size(g->queue) == 0)
		return;
	json_t *job = json_incref(json_array_get(g->queue, 0));
	json_array_remove(g->queue, 0);
	int rc = gitops_worker_start(g, job, why, sizeof(why));
	if (rc != 0) {
		gitops_report_result(g, json_object_get(job, "data"), rc, why, NULL);
		json_decref(job);
	}
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
gitops_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct gitops_priv *g = jido_srv_priv(s);
	const char *verb = strchr(req->type, '.') + 1;

	if (strcmp(verb, "ship") != 0 && strcmp(verb, "comment") != 0)
		return jido_req_unknown(req, why, whylen);
	/* A planner job in serve mode: accept now, ship from the tick, report back. */
	if (!req->filter && json_object_get(req->data, "job_id") != NULL &&
	    json_object_get(req->data, "reply_to") != NULL) {
		json_t *job_id = json_object_get(req->data, "job_id"), *e;
		size_t i;
		if (!json_is_string(job_id) || !json_is_string(json_object_get(req->data, "run_id")) ||
		    !json_is_integer(json_object_get(req->data, "seq")) ||
		    !json_is_integer(json_object_get(req->data, "attempt"))) {
			snprintf(why, whylen, "a job needs job_id and run_id (strings), seq and attempt "
			    "(integers)");
			return JIDO_EVALIDATION;
		}
		if (g->wjob != NULL && json_equal(json_object_get(json_object_get(g->wjob, "data"),
		    "job_id"), job_id)) {
			*out = json_pack("{s:b,s:O,s:b}", "accepted", 1, "job_id", job_id, "duplicate", 1);
			return 0;
		}
		json_array_foreach(g->queue, i, e)
			if (json_equal(json_object_get(json_object_get(e, "data"), "job_id"), job_id)) {
				*out = json_pack("{s:b,s:O,s:b}", "accepted", 1, "job_id", job_id,
				    "duplicate", 1);
				return 0;
			}
		if (json_array_size(g->queue) >= GITOPS_QUEUE_MAX) {
			snprintf(why, whylen, "%d jobs already waiting", GITOPS_QUEUE_MAX);
			return JIDO_EUNAVAIL;
		}
		json_array_append_new(g->queue, json_pack("{s:s,s:O}", "verb", verb, "data",
		    req->data));
		*out = json_pack("{s:b,s:O}", "accepted", 1, "job_id", job_id);
		return 0;
	}
	return gitops_run(g, verb, req->data, req->corr, out, why, whylen);
}

/* ------------------------------------------------------------------ check filter */

/* The check filter's usage text. */
static void
check_usage(FILE *f)
{
	fprintf(f, "usage: jido-gitops check [--project FILE] [--max-diff-lines N] [--allow-binary]\n"
	    "         [--forbid GLOB]... [--allow GLOB]... [--workflow W --run-id ID] < run.diff\n"
	    "Prints the policy report as JSON; exit 0 clean, 1 on any violation, 2 usage.\n");
}

/* Read all of f into a malloc'd string. */
static char *
slurp(FILE *f, size_t max, size_t *len)
{
	char *b = NULL, *nb;
	size_t n = 0, cap = 0, k;

	for (;;) {
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			if ((nb = realloc(b, cap)) == NULL) {
				free(b);
				return NULL;
			}
			b = nb;
		}
		k = fread(b + n, 1, cap - n - 1, f);
		n += k;
		if (n > max) {
			free(b);
			return NULL;
		}
		if (k == 0)
			break;
	}
	b[n] = '\0';
	*len = n;
	return b;
}

int
gitops_check_main(int argc, char **argv)
{
	struct gitops_project p;
	struct gitops_diff d;
	struct gitops_defaults defs = { 5000, "fix_issue,fix_failing_tests" };
	json_t *proj = NULL, *forbid = json_array(), *allow = json_array(), *report, *res;
	const char *workflow = NULL, *run_id = NULL;
	char why[512], *text, *dump;
	size_t len;
	int rc, code;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			check_usage(stdout);
			json_decref(proj);
			json_decref(forbid);
			json_decref(allow);
			return 0;
		}
		if (strcmp(a, "--allow-binary") == 0) {
			if (proj == NULL)
				proj = json_object();
			json_object_set_new(proj, "allow_binary", json_true());
			continue;
		}
		if (v == NULL || a[0] != '-' || a[1] != '-') {
			fprintf(stderr, "jido-gitops: usage failed: unexpected '%s'\n", a);
			check_usage(stderr);
			goto usage;
		}
		i++;
		if (strcmp(a, "--project") == 0) {
			json_error_t je;
			json_t *f = json_load_file(v, JSON_REJECT_DUPLICATES, &je);
			if (!json_is_object(f)) {
				fprintf(stderr, "jido-gitops: usage failed: --project %s: %s (line %d)\n", v,
				    f ? "not a JSON object" : je.text, je.line);
				json_decref(f);
				goto usage;
			}
			if (proj != NULL)
				json_object_update_missing(f, proj);
			json_decref(proj);
			proj = f;
		} else if (strcmp(a, "--max-diff-lines") == 0) {
			char *e;
			long n = strtol(v, &e, 10);
			if (*e != '\0' || n < 0) {
				fprintf(stderr, "jido-gitops: usage failed: --max-diff-lines needs a "
				    "non-negative integer\n");
				goto usage;
			}
			if (proj == NULL)
				proj = json_object();
			json_object_set_new(proj, "max_diff_lines", json_integer(n));
		} else if (strcmp(a, "--forbid") == 0)
			json_array_append_new(forbid, json_string(v));
		else if (strcmp(a, "--allow") == 0)
			json_array_append_new(allow, json_string(v));
		else if (strcmp(a, "--workflow") == 0)
			workflow = v;
		else if (strcmp(a, "--run-id") == 0)
			run_id = v;
		else {
			fprintf(stderr, "jido-gitops: usage failed: unknown option '%s'\n", a);
			check_usage(stderr);
			goto usage;
		}
	}
	if (proj == NULL)
		proj = json_object();
	if (json_array_size(forbid) > 0) {
		json_t *have = json_object_get(proj, "forbidden_paths");
		if (json_is_array(have))
			json_array_extend(have, forbid);
		else
			json_object_set(proj, "forbidden_paths", forbid);
	}
	if (json_array_size(allow) > 0) {
		json_t *have = json_object_get(proj, "allowed_paths");
		if (json_is_array(have))
			json_array_extend(have, allow);
		else
			json_object_set(proj, "allowed_paths", allow);
	}
	if (gitops_project_from_json(proj, &defs, 0, 1, &p, why, sizeof(why)) != 0) {
		fprintf(stderr, "jido-gitops: usage failed: %s\n", why);
		goto usage;
	}
	json_decref(proj);
	json_decref(forbid);
	json_decref(allow);
	if ((text = slurp(stdin, 64u << 20, &len)) == NULL) {
		fprintf(stderr, "jido-gitops: check failed: cannot read the diff (64 MiB at most)\n");
		gitops_project_free(&p);
		return 111;
	}
	/* Nothing below needs more than the filter's allowlist. */
	if (jido_seccomp_install(&gitops_proc.allow) != 0) {
		fprintf(stderr, "jido-gitops: check failed: cannot install seccomp\n");
		free(text);
		gitops_project_free(&p);
		return 111;
	}
	report = gitops_report_new();
	if ((rc = gitops_diff_parse(text, len, &d, why, sizeof(why))) != 0) {
		gitops_report_add(report, "non_empty", 0, "%s", why);
	} else {
		gitops_check_static(&d, &p, NULL, report);
		gitops_diff_free(&d);
	}
	if (workflow != NULL)
		gitops_check_shipping(&p, workflow, 0, report);
	if (workflow != NULL && run_id != NULL) {
		char b[300];
		if (gitops_branch_name(&p, workflow, run_id, b, sizeof(b)) == 0)
			gitops_check_target(&p, b, report);
	}
	json_t *f = gitops_report_first_failure(report);
	code = f != NULL ? 1 : 0;
	res = json_pack("{s:b,s:O,s:O?}", "ok", !code, "checks", report, "violation", f);
	dump = jido_json_dump(res);
	if (dump == NULL || printf("%s\n", dump) < 0 || fflush(stdout) != 0)
		code = 111;
	free(dump);
	json_decref(res);
	json_decref(report);
	free(text);
	gitops_project_free(&p);
	return code;
usage:
	json_decref(proj);
	json_decref(forbid);
	json_decref(allow);
	return 2;
}

int
gitops_worker_main(int argc, char **argv)
{
	struct jido_conf *conf = NULL;
	struct gitops_priv g;
	json_t *in, *conf_j, *v, *out = NULL, *res;
	const char *k, *verb;
	char why[1024] = "", *text, *tok = NULL, *dump;
	size_t len;
	int rc;

	(void)argc;
	(void)argv;
	memset(&g, 0, sizeof(g));
	text = slurp(stdin, 64u << 20, &len);
	in = text ? json_loadb(text, len, 0, NULL) : NULL;
	if (text != NULL) {
		sodium_memzero(text, len);
		free(text);
	}
	if (sodium_init() < 0 || !json_is_object(in) ||
	    !json_is_object(conf_j = json_object_get(in, "conf")) ||
	    jido_conf_load("/dev/null", &conf, why, sizeof(why)) != 0) {
		fprintf(stderr, "jido-gitops: ship-worker failed: bad input or config %s\n", why);
		json_decref(in);
		jido_conf_free(conf);
		return 2;
	}
	json_object_foreach(conf_j, k, v)
		if (json_is_string(v) && jido_conf_set(conf, k, json_string_value(v), why,
		    sizeof(why)) != 0) {
			fprintf(stderr, "jido-gitops: ship-worker failed: %s\n", why);
			json_decref(in);
			jido_conf_free(conf);
			return 2;
		}
	jido_log_set_level(jido_log_level_parse(jido_conf_str(conf, "log.level")));
	signal(SIGPIPE, SIG_IGN);
	json_t *t = json_object_get(in, "token");
	if (json_is_string(t) && (tok = sodium_malloc(json_string_length(t) + 1)) != NULL) {
		memcpy(tok, json_string_value(t), json_string_length(t) + 1);
		sodium_memzero((void *)json_string_value(t), json_string_length(t));
	}
	g.ctx.conf = conf;
	g.ctx.home = jido_conf_str(conf, "home");
	snprintf(g.ctx.work, sizeof(g.ctx.work), "%s", jido_conf_str(conf, "gitops.work_dir"));
	g.ctx.preset_token = tok;
	json_t *pk = json_object_get(in, "app_private_key");
	if (json_is_string(pk) && jido_ghapp_configured(conf)) {
		if (jido_ghapp_new(conf, g.ctx.home, &g.ctx.app, why, sizeof(why)) == 0)
			jido_ghapp_set_key(g.ctx.app, json_string_value(pk), json_string_length(pk));
		sodium_memzero((void *)json_string_value(pk), json_string_length(pk));
	}
	g.ctx.preset_fps = json_is_object(json_object_get(in, "fingerprints")) ?
	    json_object_get(in, "fingerprints") : NULL; /* null: not wanted */
	g.ctx.preset_fps_error = json_string_value(json_object_get(in, "fingerprints_error"));
	verb = json_string_value(json_object_get(in, "verb"));
	/* Started by serve, the worker already runs under gitops's allowlist (inherited
	 * across execve); started any other way, it installs it. */
	int filtered = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (!filtered && jido_seccomp_install(&gitops_proc.allow) != 0)) {
		rc = JIDO_EINTERNAL;
		snprintf(why, sizeof(why), "the ship worker cannot start libcurl or seccomp");
	} else if (verb == NULL || (strcmp(verb, "ship") != 0 && strcmp(verb, "comment") != 0)) {
		rc = JIDO_EVALIDATION;
		snprintf(why, sizeof(why), "unknown verb");
	} else
		rc = gitops_run(&g, verb, json_object_get(in, "data"), NULL, &out, why, sizeof(why));
	res = json_pack("{s:i,s:s,s:s,s:o?}", "rc", rc, "code", rc ? jido_err_name(rc) : "ok",
	    "why", why, "out", out);
	dump = jido_json_dump(res);
	rc = dump != NULL && printf("%s\n", dump) >= 0 && fflush(stdout) == 0 ? 0 : 111;
	free(dump);
	json_decref(res);
	if (tok != NULL) {
		sodium_memzero(tok, strlen(tok));
		sodium_free(tok);
	}
	json_decref(in);
	jido_ghapp_free(g.ctx.app);
	curl_global_cleanup();
	jido_conf_free(conf);
	return rc;
}

/* jido_main's hook for process-specific commands. */
static int
gitops_command(int argc, char **argv)
{
	if (strcmp(argv[0], "check") == 0)
		return gitops_check_main(argc, argv);
	if (strcmp(argv[0], "ship-worker") == 0)
		return gitops_worker_main(argc, argv);
	return -1;
}

const struct jido_proc gitops_proc = {
	.name = "gitops",
	.summary = "policy-checked shipping: branch, commit, push, pull request, comment",
	.pub_topic = NULL,
	.allow = { gitops_allow, 1, 1 },
	.open = gitops_open,
	.handle = gitops_handle,
	.tick = gitops_tick,
	.close = gitops_close,
	.priv_size = sizeof(struct gitops_priv),
	.command = gitops_command,
	.command_usage = "  check            policy report of a diff on stdin (see check --help)\n"
	    "  ship-worker      (internal) one planner job from stdin, started by serve\n",
};
