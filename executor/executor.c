/*
 * executor.c - jido-executor: runs steps in a sandbox and streams their redacted output.
 * This file holds the process's declaration (allowlist, publish socket, open/tick/close)
 * and its one core handler (shared by serve and filter modes):
 *   executor.step.run  validate, hand the step to the spawner, answer {accepted, job};
 *                      the job's lines are redacted and published on logs.pub from tick,
 *                      and the result goes to the planner as planner.steps.result.
 *                      In filter mode the reply waits for the result and carries it.
 *   executor.step.cancel  stop a step (by job or run): its sandbox tree is killed.
 *   executor.jobs      the steps running now.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"
#include "executor.h"
#include "job.h"
#include "redact.h"
#include "workspace.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c): none; the sandbox is built by the
 * spawner, which is forked before this list is installed (spawner.c). */
static const char *const executor_allow[] = { NULL };

#define EXEC_MAX_JOBS 16

struct exec_job {
	int used;
	char id[33];
	char run_id[JIDO_ID_MAX + 1];
	json_t *step;    /* as the planner sent it (string or object) */
	char runner[16];
	char repo[256];  /* the project whose cached checkout the step uses, or "" */
	int evfd;
	char *buf;
	size_t len, cap;
	json_int_t seq;
	struct exec_redact red;
	FILE *transcript;
	char transcript_path[700];
	json_t *summary; /* string, from the runner's events */
	json_t *usage;   /* object */
	int64_t started_ms;
	json_t *result;  /* set when the job reported its result (filter mode reads it) */
};

struct exec_priv {
	int spfd;
	char workdir[512];
	struct exec_job jobs[EXEC_MAX_JOBS];
};

/* ---------------------------------------------------------------- job lines */

/* Take what the claude-code / codex event stream says about the run's summary and usage. */
static void
exec_runner_event(struct exec_job *j, const char *line)
{
	json_t *ev = json_loads(line, 0, NULL), *v;
	const char *type;

	if (ev == NULL)
		return;
	type = json_string_value(json_object_get(ev, "type"));
	if (type == NULL) {
		json_decref(ev);
		return;
	}
	if (strcmp(j->runner, "claude-code") == 0 && strcmp(type, "result") == 0) {
		if (json_is_string(v = json_object_get(ev, "result")))
			json_decref(j->summary), j->summary = json_incref(v);
		json_t *u = json_object();
		if (json_is_object(v = json_object_get(ev, "usage")))
			json_object_update(u, v);
		if ((v = json_object_get(ev, "total_cost_usd")) != NULL)
			json_object_set(u, "cost_usd", v);
		if ((v = json_object_get(ev, "num_turns")) != NULL)
			json_object_set(u, "turns", v);
		if ((v = json_object_get(ev, "is_error")) != NULL)
			json_object_set(u, "is_error", v);
		json_decref(j->usage);
		j->usage = u;
	} else if (strcmp(j->runner, "codex") == 0) {
		json_t *item = json_object_get(ev, "item");
		if (strcmp(type, "item.completed") == 0 &&
		    json_is_string(json_object_get(item, "text")) &&
		    strcmp(json_string_value(json_object_get(item, "type")), "agent_message") == 0) {
			json_decref(j->summary);
			j->summary = json_incref(json_object_get(item, "text"));
		} else if (strcmp(type, "turn.completed") == 0 &&
		    json_is_object(v = json_object_get(ev, "usage"))) {
			json_decref(j->usage);
			j->usage = json_deep_copy(v);
		}
	}
	json_decref(ev);
}

/* Redact a multi-line text (diff, summary) line by line. New string, or NULL on failure. */
static char *
exec_redact_text(struct exec_redact *r, const char *text)
{
	size_t cap = strlen(text) * 2 + 64, len = 0;
	char *out = malloc(cap), *copy = strdup(text), *p, *nl;

	if (out == NULL || copy == NULL) {
		free(out);
		free(copy);
		return NULL;
	}
	out[0] = '\0';
	for (p = copy; p != NULL; p = nl) {
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		char *red = exec_redact_line(r, p, NULL);
		if (red == NULL) {
			free(out);
			free(copy);
			return NULL;
		}
		size_t rl = strlen(red);
		if (len + rl + 2 > cap) {
			cap = (len + rl + 2) * 2;
			char *n2 = realloc(out, cap);
			if (n2 == NULL) {
				free(red);
				free(out);
				free(copy);
				return NULL;
			}
			out = n2;
		}
		memcpy(out + len, red, rl);
		len += rl;
		if (nl != NULL)
			out[len++] = '\n';
		out[len] = '\0';
		free(red);
	}
	free(copy);
	return out;
}

static void
exec_redact_field(struct exec_job *j, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *r;

	if (!json_is_string(v))
		return;
	r = exec_redact_text(&j->red, json_string_value(v));
	json_object_set_new(o, key, json_string(r != NULL ? r : "[REDACTED: redaction failed]"));
	free(r);
}

static void
exec_job_free(struct exec_job *j)
{
	if (j->evfd >= 0)
		close(j->evfd);
	if (j->transcript != NULL)
		fclose(j->transcript);
	free(j->buf);
	json_decref(j->step);
	json_decref(j->summary);
	json_decref(j->usage);
	json_decref(j->result);
	exec_redact_free(&j->red);
	memset(j, 0, sizeof(*j));
	j->evfd = -1;
}

/* The job's result: complete it (run, step, summary, usage, transcript), redact it, and
 * deliver it to the planner (serve mode) or keep it for the reply (filter mode). */
static void
exec_job_result(struct jido_srv *s, struct exec_job *j, json_t *res, int filter)
{
	json_t *data = json_deep_copy(res);
	char url[600];
	struct jido_reply r;
	int rc;

	json_object_set_new(data, "run_id", json_string(j->run_id));
	json_object_set(data, "step", j->step);
	json_object_set_new(data, "job", json_string(j->id));
	json_object_set_new(data, "runner", json_string(j->runner));
	json_object_set(data, "summary", j->summary != NULL ? j->summary : json_null());
	json_object_set_new(data, "usage", j->usage != NULL ? json_incref(j->usage) : json_object());
	json_object_set_new(data, "transcript", json_string(j->transcript_path));
	exec_redact_field(j, data, "diff");
	exec_redact_field(j, data, "summary");
	exec_redact_field(j, data, "message");
	jido_info("executor.step_done", "{s:s,s:s,s:O,s:O,s:O}", "job", j->id, "run_id", j->run_id,
	    "exit_status", json_object_get(data, "exit_status"), "files_changed",
	    json_object_get(data, "files_changed"), "duration_ms", json_object_get(data, "duration_ms"));
	if (filter) {
		j->result = data;
		return;
	}
	const char *sock = jido_conf_str(jido_srv_conf(s), "socket.planner");
	if (sock != NULL && sock[0] != '\0')
		snprintf(url, sizeof(url), "%s", sock);
	else if (jido_bus_url_req(jido_srv_home(s), "planner", url, sizeof(url)) != 0) {
		json_decref(data);
		return;
	}
	rc = jido_bus_call(url, "planner.steps.result", j->run_id, data,
	    (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms"), &r);
	if (rc != 0)
		jido_error("executor.result_undelivered", "{s:s,s:s,s:s}", "job", j->id, "run_id",
		    j->run_id, "why", jido_strerror(rc));
	else {
		if (!r.ok)
			jido_error("executor.result_refused", "{s:s,s:s,s:s}", "job", j->id, "code",
			    jido_err_name(r.err), "why", r.message ? r.message : "");
		jido_reply_free(&r);
	}
}

/* One JSON line from the job process. Returns 1 when it was the result. */
static int
exec_job_line(struct jido_srv *s, struct exec_job *j, const char *text, int filter)
{
	json_t *m = json_loads(text, 0, NULL), *res;
	const char *stream, *line;
	int changed = 0;

	if (m == NULL) {
		jido_warn("executor.bad_job_line", "{s:s}", "job", j->id);
		return 0;
	}
	if ((res = json_object_get(m, "result")) != NULL) {
		exec_job_result(s, j, res, filter);
		json_decref(m);
		return 1;
	}
	stream = json_string_value(json_object_get(m, "stream"));
	line = json_string_value(json_object_get(m, "line"));
	if (stream == NULL || line == NULL) {
		json_decref(m);
		return 0;
	}
	if (strcmp(stream, "stdout") == 0 && strcmp(j->runner, "shell") != 0)
		exec_runner_event(j, line);
	char *red = exec_redact_line(&j->red, line, &changed);
	j->seq++;
	if (red == NULL) {
		/* Redaction failed: the line never leaves; the drop is logged. */
		jido_warn("executor.line_dropped", "{s:s,s:s,s:I}", "job", j->id, "stream", stream,
		    "seq", (json_int_t)j->seq);
		json_decref(m);
		return 0;
	}
	json_t *ev = json_pack("{s:s,s:O,s:s,s:I,s:s}", "run_id", j->run_id, "step", j->step,
	    "stream", stream, "seq", (json_int_t)j->seq, "line", red);
	free(red);
	if (ev != NULL && j->transcript != NULL) {
		char *t = jido_json_dump(ev);
		if (t != NULL) {
			fprintf(j->transcript, "%s\n", t);
			fflush(j->transcript);
			free(t);
		}
	}
	if (ev != NULL)
		jido_srv_publish(s, "logs.line", j->run_id, ev);
	json_decref(m);
	return 0;
}

/* Read what the job wrote; handle complete lines. Returns 1 when the job is finished. */
static int
exec_job_pump(struct jido_srv *s, struct exec_job *j, int filter)
{
	for (;;) {
		if (j->cap - j->len < 65536) {
			size_t cap = j->cap ? j->cap * 2 : 131072;
			char *b = realloc(j->buf, cap);
			if (b == NULL)
				return 0;
			j->buf = b;
			j->cap = cap;
		}
		ssize_t n = read(j->evfd, j->buf + j->len, j->cap - j->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0; /* EAGAIN: later */
		if (n == 0) {
			if (j->result == NULL && !filter)
				jido_warn("executor.job_vanished", "{s:s}", "job", j->id);
			return 1;
		}
		j->len += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < j->len; i++) {
			if (j->buf[i] != '\n')
				continue;
			j->buf[i] = '\0';
			int done = exec_job_line(s, j, j->buf + start, filter);
			start = i + 1;
			if (done && !filter)
				return 1;
		}
		memmove(j->buf, j->buf + start, j->len - start);
		j->len -= start;
		if (j->cap > (64 << 20))
			j->len = 0; /* a runaway line from our own job: drop it */
	}
}

/* ---------------------------------------------------------------- the handler */

static const char *
exec_str(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
exec_bad(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return JIDO_EVALIDATION;
}

/* Validate executor.step.run data (see ARCHITECTURE.md, executor). */
static int
exec_check_run(const json_t *d, char *why, size_t whylen)
{
	const char *run = exec_str(d, "run_id"), *runner = exec_str(d, "runner");
	const json_t *step = json_object_get(d, "step"), *ws = json_object_get(d, "workspace");
	const json_t *gw = json_object_get(d, "gateway"), *t = json_object_get(d, "timeout_s");
	int rc;

	if (run == NULL || run[0] == '\0' || strlen(run) > JIDO_ID_MAX)
		return exec_bad(why, whylen, "run_id must be a string of 1-128 characters");
	for (const char *p = run; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || (unsigned char)*p >= 0x7f)
			return exec_bad(why, whylen, "run_id must be printable without '/'");
	if (run[0] == '.')
		return exec_bad(why, whylen, "run_id must not start with '.'");
	if (!json_is_string(step) && !(json_is_object(step) && json_object_get(step, "id")))
		return exec_bad(why, whylen, "step must be a string or an object with an id");
	if (runner == NULL || (strcmp(runner, "shell") != 0 && strcmp(runner, "claude-code") != 0 &&
	    strcmp(runner, "codex") != 0))
		return exec_bad(why, whylen, "runner must be shell, claude-code or codex");
	if (strcmp(runner, "shell") == 0 && exec_str(d, "command") == NULL)
		return exec_bad(why, whylen, "the shell runner needs a command");
	if (strcmp(runner, "shell") != 0 && (exec_str(d, "prompt") == NULL || !json_is_object(gw)))
		return exec_bad(why, whylen, "an agent runner needs a prompt and a gateway");
	if (t != NULL && (!json_is_integer(t) || json_integer_value(t) < 1 ||
	    json_integer_value(t) > 86400))
		return exec_bad(why, whylen, "timeout_s must be 1-86400");
	if (json_object_get(d, "max_turns") != NULL && !json_is_integer(json_object_get(d, "max_turns")))
		return exec_bad(why, whylen, "max_turns must be an integer");
	if (json_object_get(d, "model") != NULL && exec_str(d, "model") == NULL)
		return exec_bad(why, whylen, "model must be a string");
	if (gw != NULL) {
		const char *key = exec_str(gw, "key");
		if (!json_is_object(gw) || key == NULL || strlen(key) < 8 || strlen(key) > 1024)
			return exec_bad(why, whylen, "gateway.key must be the run's scoped key");
	}
	if (ws != NULL) {
		if (!json_is_object(ws))
			return exec_bad(why, whylen, "workspace must be an object");
		if ((rc = ws_check_repo(exec_str(ws, "repo"), why, whylen)) != 0 ||
		    (rc = ws_check_url(exec_str(ws, "clone_url"), why, whylen)) != 0 ||
		    (rc = ws_check_branch(exec_str(ws, "base"), why, whylen)) != 0 ||
		    (rc = ws_check_branch(exec_str(ws, "branch"), why, whylen)) != 0)
			return rc;
	}
	return 0;
}

/* The configuration the job process needs, from ours. New object. */
static json_t *
exec_job_config(struct jido_srv *s, struct exec_priv *x)
{
	const struct jido_conf *c = jido_srv_conf(s);
	const char *gws = jido_conf_str(c, "executor.gateway_socket");
	char gw[600];

	if (gws != NULL && gws[0] != '\0')
		snprintf(gw, sizeof(gw), "%s", gws);
	else
		snprintf(gw, sizeof(gw), "%s/run/gateway-http.sock", jido_srv_home(s));
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "workdir", x->workdir,
	    "sandbox_uid", (json_int_t)jido_conf_int(c, "executor.sandbox_uid"),
	    "memory", (json_int_t)sandbox_parse_size(jido_conf_str(c, "executor.memory")),
	    "fsize", (json_int_t)sandbox_parse_size(jido_conf_str(c, "executor.fsize")),
	    "pids", (json_int_t)jido_conf_int(c, "executor.pids"),
	    "gateway_port", (json_int_t)jido_conf_int(c, "executor.gateway_port"),
	    "gateway_socket", gw,
	    "max_diff", (json_int_t)jido_conf_int(c, "executor.max_diff"),
	    "timeout_s", (json_int_t)jido_conf_int(c, "executor.timeout_s"));
}

static int
exec_step_run(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);
	struct exec_job *j = NULL;
	json_t *jr;
	char dir[700];
	int rc, i;

	if ((rc = exec_check_run(req->data, why, whylen)) != 0)
		return rc;
	const char *repo = exec_str(json_object_get(req->data, "workspace"), "repo");
	for (i = 0; i < EXEC_MAX_JOBS; i++) {
		/* One step per project at a time: they share the cached checkout. */
		if (x->jobs[i].used && repo != NULL && strcmp(x->jobs[i].repo, repo) == 0) {
			snprintf(why, whylen, "a step of %s is running (job %s); one at a time per "
			    "project", repo, x->jobs[i].id);
			return JIDO_ECONFLICT;
		}
		if (!x->jobs[i].used && j == NULL)
			j = &x->jobs[i];
	}
	if (j == NULL) {
		snprintf(why, whylen, "%d steps are running already; try again later", EXEC_MAX_JOBS);
		return JIDO_EUNAVAIL;
	}
	memset(j, 0, sizeof(*j));
	j->evfd = -1;
	jido_id_new(j->id, sizeof(j->id));
	const char *run_id = exec_str(req->data, "run_id"), *runner = exec_str(req->data, "runner");
	memcpy(j->run_id, run_id, strlen(run_id) + 1); /* length checked: <= JIDO_ID_MAX */
	memcpy(j->runner, runner, strlen(runner) + 1); /* one of three short names */
	j->step = json_incref(json_object_get(req->data, "step"));
	if (repo != NULL)
		snprintf(j->repo, sizeof(j->repo), "%s", repo);
	j->started_ms = jido_now_ms();
	const char *key = exec_str(json_object_get(req->data, "gateway"), "key");
	if (key != NULL)
		exec_redact_add(&j->red, key);
	char tp[sizeof(j->transcript_path)], jid[sizeof(j->id)];
	memcpy(jid, j->id, sizeof(jid));
	snprintf(dir, sizeof(dir), "%s/transcripts/%s", x->workdir, run_id);
	jido_mkdirs(dir, 0700);
	snprintf(tp, sizeof(tp), "%s/%s.jsonl", dir, jid);
	memcpy(j->transcript_path, tp, sizeof(tp));
	j->transcript = fopen(j->transcript_path, "we");
	if (j->transcript == NULL)
		jido_warn("executor.no_transcript", "{s:s,s:s}", "path", j->transcript_path, "why",
		    strerror(errno));

	jr = json_deep_copy(req->data);
	json_object_set_new(jr, "config", exec_job_config(s, x));
	j->evfd = spawner_submit(x->spfd, jr, why, whylen);
	json_decref(jr);
	if (j->evfd < 0) {
		exec_job_free(j);
		return JIDO_EUNAVAIL;
	}
	j->used = 1;
	jido_info("executor.step_started", "{s:s,s:s,s:s}", "job", j->id, "run_id", j->run_id,
	    "runner", j->runner);
	if (!req->filter) {
		*out = json_pack("{s:b,s:s,s:s}", "accepted", 1, "job", j->id, "status", "running");
		return 0;
	}
	/* Filter mode: no tick, so wait here for the result and answer with it. */
	fcntl(j->evfd, F_SETFL, 0);
	while (!exec_job_pump(s, j, 1))
		;
	*out = json_pack("{s:b,s:s,s:s,s:O?}", "accepted", 1, "job", j->id, "status", "done",
	    "result", j->result);
	exec_job_free(j);
	return 0;
}

/* executor.step.cancel {job | run_id}: stop those steps now. Closing a job's event pipe
 * is the signal: the job process sees it (POLLERR) and kills its sandbox's pid 1, which
 * takes the whole tree along. No result is sent for a cancelled step. */
static int
exec_step_cancel(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);
	const char *job = exec_str(req->data, "job"), *run = exec_str(req->data, "run_id");
	json_t *done = json_array();

	if ((job == NULL) == (run == NULL)) {
		json_decref(done);
		return exec_bad(why, whylen, "give either job or run_id");
	}
	for (int i = 0; i < EXEC_MAX_JOBS; i++) {
		struct exec_job *j = &x->jobs[i];
		if (!j->used || (job != NULL && strcmp(j->id, job) != 0) ||
		    (run != NULL && strcmp(j->run_id, run) != 0))
			continue;
		json_array_append_new(done, json_string(j->id));
		jido_info("executor.step_cancelled", "{s:s,s:s}", "job", j->id, "run_id", j->run_id);
		jido_srv_publish(s, "logs.line", j->run_id, json_pack("{s:s,s:O,s:s,s:I,s:s}",
		    "run_id", j->run_id, "step", j->step, "stream", "event", "seq",
		    (json_int_t)++j->seq, "line", "cancelled: the sandbox was killed"));
		exec_job_free(j);
	}
	if (json_array_size(done) == 0) {
		json_decref(done);
		snprintf(why, whylen, "no running step for %s %s", job ? "job" : "run", job ? job : run);
		return JIDO_ENOTFOUND;
	}
	*out = json_pack("{s:o}", "cancelled", done);
	return 0;
}

static int
exec_jobs(struct jido_srv *s, json_t **out)
{
	struct exec_priv *x = jido_srv_priv(s);
	json_t *a = json_array();

	for (int i = 0; i < EXEC_MAX_JOBS; i++) {
		struct exec_job *j = &x->jobs[i];
		if (j->used)
			json_array_append_new(a, json_pack("{s:s,s:s,s:O,s:s,s:I,s:I}", "job", j->id,
			    "run_id", j->run_id, "step", j->step, "runner", j->runner, "lines",
			    (json_int_t)j->seq, "running_ms", (json_int_t)(jido_now_ms() - j->started_ms)));
	}
	*out = json_pack("{s:o}", "jobs", a);
	return 0;
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
executor_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	if (strcmp(req->type, "executor.step.run") == 0)
		return exec_step_run(s, req, out, why, whylen);
	if (strcmp(req->type, "executor.step.cancel") == 0)
		return exec_step_cancel(s, req, out, why, whylen);
	if (strcmp(req->type, "executor.jobs") == 0)
		return exec_jobs(s, out);
	return jido_req_unknown(req, why, whylen);
}

/* Every ~200 ms: stream what the jobs wrote, deliver finished results. */
static void
executor_tick(struct jido_srv *s)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++) {
		struct exec_job *j = &x->jobs[i];
		if (j->used && exec_job_pump(s, j, 0))
			exec_job_free(j);
	}
}

static int
executor_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++)
		x->jobs[i].evfd = -1;
	snprintf(x->workdir, sizeof(x->workdir), "%s/executor", jido_srv_home(s));
	if (jido_mkdirs(x->workdir, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s: %s", x->workdir, strerror(errno));
		return JIDO_EINTERNAL;
	}
	if ((x->spfd = spawner_start(why, whylen)) < 0)
		return JIDO_EINTERNAL;
	return 0;
}

static void
executor_close(struct jido_srv *s)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++)
		if (x->jobs[i].used)
			exec_job_free(&x->jobs[i]);
	if (x->spfd > 0)
		close(x->spfd); /* the spawner sees EOF and exits; its jobs die with it */
	x->spfd = -1;
}

const struct jido_proc executor_proc = {
	.name = "executor",
	.summary = "runs steps in a sandbox and streams their redacted output",
	.pub_topic = "logs",
	.allow = { executor_allow, 0, 1 },
	.open = executor_open,
	.handle = executor_handle,
	.tick = executor_tick,
	.close = executor_close,
	.priv_size = sizeof(struct exec_priv),
	.command = executor_command,
	.command_usage = "  sandbox [opts] -- CMD  run CMD in the step sandbox (see sandbox --help)\n",
};
