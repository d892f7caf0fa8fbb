/*
 * job.c - one step run in its own process (see job.h): prepare the workspace, build the
 * runner's command line and environment (nothing from the host), start the sandbox,
 * stream its stdout/stderr line by line to the daemon, enforce the timeout, and send the
 * result with the diff. Lines are raw here; the daemon redacts before anything leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"
#include <curl/curl.h>
#include "executor.h"
#include "job.h"
#include "sandbox.h"
#include "workspace.h"

#define JOB_LINE_MAX 65536

/* Send one JSON line to the daemon (takes ownership of j). */
static void
job_emit(int evfd, json_t *j)
{
	char *s = j != NULL ? jido_json_dump(j) : NULL;

	json_decref(j);
	if (s == NULL)
		return;
	size_t len = strlen(s);
	s[len] = '\n';
	for (size_t off = 0; off < len + 1;) {
		ssize_t w = write(evfd, s + off, len + 1 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(s);
}

static void
job_event(int evfd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	job_emit(evfd, json_pack("{s:s,s:s}", "stream", "event", "line", buf));
}

/* A line buffer per stream: complete lines (or JOB_LINE_MAX pieces) go out as they come. */
struct job_stream {
	int fd;
	const char *name;
	char buf[JOB_LINE_MAX];
	size_t len;
};

static void
job_flush(struct job_stream *st, int evfd, int all)
{
	size_t start = 0, i;

	for (i = 0; i < st->len; i++) {
		if (st->buf[i] != '\n')
			continue;
		job_emit(evfd, json_pack("{s:s,s:s%}", "stream", st->name, "line", st->buf + start,
		    i - start));
		start = i + 1;
	}
	if (start > 0) {
		memmove(st->buf, st->buf + start, st->len - start);
		st->len -= start;
	}
	if (st->len > 0 && (all || st->len == sizeof(st->buf))) {
		job_emit(evfd, json_pack("{s:s,s:s%}", "stream", st->name, "line", st->buf, st->len));
		st->len = 0;
	}
}

/* Read what is there; 0 at EOF. Invalid UTF-8 is replaced so the line survives JSON. */
static int
job_read(struct job_stream *st, int evfd)
{
	ssize_t n = read(st->fd, st->buf + st->len, sizeof(st->buf) - st->len);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		job_flush(st, evfd, 1);
		return 0;
	}
	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)st->buf[st->len + (size_t)i];
		if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t'))
			st->buf[st->len + (size_t)i] = c >= 0x80 ? '?' : ' ';
	}
	st->len += (size_t)n;
	job_flush(st, evfd, 0);
	return 1;
}

static const char *
job_str(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long
job_int(const json_t *o, const char *k, long long def)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

/*
 * The fetch_issue step: GET <github.api_url>/repos/<full_name>/issues/<n> (public data,
 * no token: the executor holds none) and answer with the issue. Runs in the job
 * process, which may use the network; the daemon may not.
 */
static int
job_fetch_issue(const json_t *req, int evfd)
{
	const json_t *cfg = json_object_get(req, "config");
	const char *api = job_str(cfg, "github_api_url");
	const char *full = job_str(json_object_get(req, "project"), "full_name");
	long long n = job_int(req, "issue", 0);
	struct jido_buf body = { .max = 4u << 20 }; /* the issue's JSON */
	char url[1200], why[512] = "";
	long status = 0;
	int64_t t0 = jido_now_ms();
	json_t *issue = NULL, *res;
	CURL *c = NULL;
	struct curl_slist *h = NULL;
	CURLcode cc;

	snprintf(url, sizeof(url), "%s/repos/%s/issues/%lld", api ? api : "https://api.github.com",
	    full ? full : "", n);
	job_event(evfd, "fetch_issue: GET %s", url);
	if ((h = curl_slist_append(h, "Accept: application/vnd.github+json")) == NULL) {
		snprintf(why, sizeof(why), "%s", jido_curl_error() ? jido_curl_error() : "curl failed");
		goto out;
	}
	h = curl_slist_append(h, "User-Agent: jidocode-executor");
	if ((c = curl_easy_init()) == NULL) {
		snprintf(why, sizeof(why), "curl init failed");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jido_buf_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		snprintf(why, sizeof(why), "GET %s: %s", url, curl_easy_strerror(cc));
	else if (status != 200)
		snprintf(why, sizeof(why), "GET %s: HTTP %ld", url, status);
	else if ((issue = json_loadb(body.p ? body.p : "", body.n, 0, NULL)) == NULL ||
	    !json_is_object(issue))
		snprintf(why, sizeof(why), "GET %s: the answer is not an issue", url);
out:
	if (why[0] != '\0') {
		res = json_pack("{s:i,s:I,s:b,s:s,s:s,s:i,s:i,s:i,s:[]}", "exit_status", 1,
		    "duration_ms", (json_int_t)(jido_now_ms() - t0), "timed_out", 0, "message", why,
		    "diff", "", "files_changed", 0, "lines_added", 0, "lines_removed", 0,
		    "binary_files");
	} else {
		json_t *labels = json_array(), *l;
		size_t i;
		json_array_foreach(json_object_get(issue, "labels"), i, l)
			if (json_is_string(json_object_get(l, "name")))
				json_array_append(labels, json_object_get(l, "name"));
		const char *title = job_str(issue, "title"), *text = job_str(issue, "body");
		size_t olen = (title ? strlen(title) : 0) + (text ? strlen(text) : 0) + 64;
		char *output = malloc(olen);
		if (output != NULL)
			snprintf(output, olen, "#%lld %s\n\n%s", n, title ? title : "", text ? text : "");
		res = json_pack("{s:i,s:I,s:b,s:s,s:{s:I,s:s,s:s,s:s?,s:s?,s:o,s:s?},s:s,s:i,s:i,s:i,"
		    "s:[]}", "exit_status", 0, "duration_ms", (json_int_t)(jido_now_ms() - t0),
		    "timed_out", 0, "output", output ? output : "", "issue", "number", (json_int_t)n,
		    "title", title ? title : "", "body", text ? text : "", "state",
		    job_str(issue, "state"), "url", job_str(issue, "html_url"), "labels", labels,
		    "author", job_str(json_object_get(issue, "user"), "login"), "diff", "",
		    "files_changed", 0, "lines_added", 0, "lines_removed", 0, "binary_files");
		free(output);
	}
	job_emit(evfd, json_pack("{s:o}", "result", res));
	json_decref(issue);
	free(body.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	close(evfd);
	return 0;
}

int
job_run(const json_t *req, int evfd)
{
	const json_t *cfg = json_object_get(req, "config"), *wsj = json_object_get(req, "workspace");
	const json_t *gw = json_object_get(req, "gateway");
	const char *runner = job_str(req, "runner"), *root = job_str(cfg, "workdir");
	struct sandbox_spec spec;
	struct sandbox sb;
	struct sandbox_result res;
	struct ws w;
	char why[512] = "", port[16], max_turns[16];
	char env_buf[4][1200];
	char *argv[32], *env[16];
	size_t na = 0, ne = 0;
	json_t *result, *diff = NULL;
	int po[2], pe[2], rc, cancelled = 0;
	static struct job_stream so, se;

	if (strcmp(runner, "fetch_issue") == 0)
		return job_fetch_issue(req, evfd);
	sandbox_spec_init(&spec);
	spec.host_uid = spec.host_gid = (uid_t)job_int(cfg, "sandbox_uid", 65534);
	if (geteuid() != 0) {
		spec.host_uid = geteuid();
		spec.host_gid = getegid();
	}
	spec.timeout_s = (int)job_int(req, "timeout_s", job_int(cfg, "timeout_s", 1800));
	spec.memory = job_int(cfg, "memory", 0);
	spec.pids = (int)job_int(cfg, "pids", 512);
	spec.fsize = job_int(cfg, "fsize", 1LL << 30);
	memset(&w, 0, sizeof(w));

	/* The workspace: a fresh checkout of the project at its base, or an empty dir. */
	if (json_is_object(wsj)) {
		job_event(evfd, "workspace: fetching %s (%s) into a new branch %s",
		    job_str(wsj, "repo") ? job_str(wsj, "repo") : "?",
		    job_str(wsj, "base") ? job_str(wsj, "base") : "?",
		    job_str(wsj, "branch") ? job_str(wsj, "branch") : "?");
		if ((rc = ws_prepare(root, job_str(wsj, "repo"), job_str(wsj, "clone_url"),
		    job_str(wsj, "base"), job_str(wsj, "branch"), job_str(req, "base_diff"),
		    spec.host_uid, spec.host_gid, &w,
		    why, sizeof(why))) != 0)
			goto failed;
		spec.workspace = w.wt;
	}

	/* The runner: its command line and environment, nothing from the host. */
	snprintf(port, sizeof(port), "%d", (int)job_int(cfg, "gateway_port", 8787));
	const char *key = job_str(gw, "key"), *model = job_str(req, "model");
	const char *prompt = job_str(req, "prompt");
	snprintf(max_turns, sizeof(max_turns), "%d", (int)job_int(req, "max_turns", 30));
	if (json_is_object(gw)) {
		spec.net = SANDBOX_NET_GATEWAY;
		spec.gateway_sock = job_str(cfg, "gateway_socket");
		spec.gateway_port = atoi(port);
	}
	if (strcmp(runner, "shell") == 0) {
		argv[na++] = (char *)"/bin/sh";
		argv[na++] = (char *)"-c";
		argv[na++] = (char *)job_str(req, "command");
		if (json_is_object(gw)) {
			/* A shell step may call the gateway too, with either API's variables. */
			snprintf(env_buf[0], sizeof(env_buf[0]), "ANTHROPIC_BASE_URL=http://127.0.0.1:%s", port);
			snprintf(env_buf[1], sizeof(env_buf[1]), "ANTHROPIC_API_KEY=%s", key ? key : "");
			snprintf(env_buf[2], sizeof(env_buf[2]), "OPENAI_BASE_URL=http://127.0.0.1:%s/v1", port);
			snprintf(env_buf[3], sizeof(env_buf[3]), "OPENAI_API_KEY=%s", key ? key : "");
			for (int k = 0; k < 4; k++)
				env[ne++] = env_buf[k];
		}
	} else if (strcmp(runner, "claude-code") == 0) {
		argv[na++] = (char *)"claude";
		argv[na++] = (char *)"-p";
		argv[na++] = (char *)"--output-format";
		argv[na++] = (char *)"stream-json";
		argv[na++] = (char *)"--verbose";
		argv[na++] = (char *)"--max-turns";
		argv[na++] = max_turns;
		argv[na++] = (char *)"--dangerously-skip-permissions";
		if (model != NULL) {
			argv[na++] = (char *)"--model";
			argv[na++] = (char *)model;
		}
		/* The prompt last, after "--": a prompt starting with '-' is not an option. */
		argv[na++] = (char *)"--";
		argv[na++] = (char *)prompt;
		snprintf(env_buf[0], sizeof(env_buf[0]), "ANTHROPIC_BASE_URL=http://127.0.0.1:%s", port);
		snprintf(env_buf[1], sizeof(env_buf[1]), "ANTHROPIC_API_KEY=%s", key ? key : "");
		env[ne++] = env_buf[0];
		env[ne++] = env_buf[1];
		env[ne++] = (char *)"DISABLE_AUTOUPDATER=1";
		env[ne++] = (char *)"DISABLE_TELEMETRY=1";
		env[ne++] = (char *)"DISABLE_ERROR_REPORTING=1";
		env[ne++] = (char *)"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1";
	} else {
		/* Codex ignores OPENAI_BASE_URL for its built-in provider: declare one that
		 * points at the relay (Responses API), keyed by OPENAI_API_KEY. Its own sandbox
		 * is bypassed: it runs inside ours, which refuses what it would set up. */
		snprintf(env_buf[2], sizeof(env_buf[2]), "model_providers.jido={name=\"jido\","
		    "base_url=\"http://127.0.0.1:%s/v1\",env_key=\"OPENAI_API_KEY\","
		    "wire_api=\"responses\"}", port);
		argv[na++] = (char *)"codex";
		argv[na++] = (char *)"exec";
		argv[na++] = (char *)"--json";
		argv[na++] = (char *)"--skip-git-repo-check";
		argv[na++] = (char *)"--dangerously-bypass-approvals-and-sandbox";
		argv[na++] = (char *)"-c";
		argv[na++] = env_buf[2];
		argv[na++] = (char *)"-c";
		argv[na++] = (char *)"model_provider=jido";
		if (model != NULL) {
			argv[na++] = (char *)"--model";
			argv[na++] = (char *)model;
		}
		argv[na++] = (char *)"--";
		argv[na++] = (char *)prompt;
		snprintf(env_buf[0], sizeof(env_buf[0]), "OPENAI_BASE_URL=http://127.0.0.1:%s/v1", port);
		snprintf(env_buf[1], sizeof(env_buf[1]), "OPENAI_API_KEY=%s", key ? key : "");
		env[ne++] = env_buf[0];
		env[ne++] = env_buf[1];
	}
	argv[na] = NULL;
	env[ne] = NULL;
	spec.argv = argv;
	spec.envp = env;

	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
		rc = JIDO_EINTERNAL;
		goto failed;
	}
	spec.fd_out = po[1];
	spec.fd_err = pe[1];
	job_event(evfd, "sandbox: starting %s runner (timeout %d s)", runner, spec.timeout_s);
	rc = sandbox_start(&spec, &sb, why, sizeof(why));
	close(po[1]);
	close(pe[1]);
	sodium_memzero(env_buf, sizeof(env_buf)); /* the keys: the sandbox has its copy */
	if (rc != 0) {
		close(po[0]);
		close(pe[0]);
		goto failed;
	}
	so.fd = po[0];
	so.name = "stdout";
	se.fd = pe[0];
	se.name = "stderr";
	for (;;) {
		/* evfd: POLLERR when the daemon closed its end (the step was cancelled). */
		struct pollfd p[4] = { { so.fd, POLLIN, 0 }, { se.fd, POLLIN, 0 },
			{ sb.broker_fd, POLLIN, 0 }, { evfd, 0, 0 } };
		if (so.fd < 0 && se.fd < 0) {
			while (sandbox_wait(&sb, -1, &res) == 0)
				;
			break;
		}
		poll(p, 4, 50);
		if ((p[3].revents & (POLLERR | POLLHUP)) && !cancelled) {
			cancelled = 1;
			sandbox_kill(&sb); /* pid 1 dies: the whole tree goes */
		}
		if (so.fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !job_read(&so, evfd)) {
			close(so.fd);
			so.fd = -1;
		}
		if (se.fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !job_read(&se, evfd)) {
			close(se.fd);
			se.fd = -1;
		}
		if (sandbox_wait(&sb, 0, &res) == 1) {
			/* Drain what is left in the pipes (nobody writes any more). */
			while (so.fd >= 0 && job_read(&so, evfd))
				;
			while (se.fd >= 0 && job_read(&se, evfd))
				;
			break;
		}
	}
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);
	if (cancelled) {
		close(evfd);
		return 0; /* nobody listens any more; the workspace is reset by the next run */
	}
	job_event(evfd, "sandbox: ended with exit status %d after %lld ms%s", res.exit_code,
	    (long long)res.duration_ms, res.timed_out ? " (timed out, tree killed)" : "");
	if (w.wt[0] != '\0' && (diff = ws_diff(&w, (size_t)job_int(cfg, "max_diff", 1 << 20), why,
	    sizeof(why))) == NULL)
		job_event(evfd, "workspace: no diff: %s", why);
	result = json_pack("{s:i,s:I,s:b,s:s?}", "exit_status", res.exit_code, "duration_ms",
	    (json_int_t)res.duration_ms, "timed_out", res.timed_out, "error",
	    res.timed_out ? "timeout" : NULL);
	if (diff != NULL)
		json_object_update(result, diff);
	else
		json_object_update_new(result, json_pack("{s:s,s:i,s:i,s:i,s:[]}", "diff", "",
		    "files_changed", 0, "lines_added", 0, "lines_removed", 0, "binary_files"));
	json_decref(diff);
	job_emit(evfd, json_pack("{s:o}", "result", result));
	close(evfd);
	return 0;
failed:
	job_event(evfd, "failed: %s", why);
	job_emit(evfd, json_pack("{s:{s:i,s:I,s:b,s:s,s:s,s:s,s:i,s:i,s:i,s:[]}}", "result",
	    "exit_status", -1, "duration_ms", (json_int_t)0, "timed_out", 0, "error",
	    jido_err_name(rc), "message", why, "diff", "", "files_changed", 0, "lines_added", 0,
	    "lines_removed", 0, "binary_files"));
	close(evfd);
	return 0;
}
