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
 * With executor.pull the executor also polls the planner for steps (planner.executors.poll,
 * see planner/pool.c) and stops its planner jobs itself after half a lease without an
 * answer, so that the planner may give them to another executor.
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
#include "workspace.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c): none; the sandbox is built by the
 * spawner, which is forked before this list is installed and installs its own
 * (spawner_allow, spawner.c; named here as the child, for the deploy profile). */
static const char *const executor_allow[] = { NULL };

#define EXEC_MAX_JOBS 16

struct exec_job {
	int used;
	char id[33];
	char run_id[JIDO_ID_MAX + 1];
	json_t *step;    /* as the planner sent it (string or object) */
	char runner[16];
	char repo[256];  /* the project whose cached checkout the step uses, or "" */
	char job_id[160]; /* the planner's <run>:<seq>:<attempt>, or "" */
	json_t *pseq, *attempt; /* the planner's seq/attempt, echoed (NULL when absent) */
	char key_id[80];  /* a scoped key the executor asked the gateway for, revoked after */
	char tail[4096];  /* the last output lines (redacted): a shell step's "output" */
	size_t tail_len;
	int evfd;
	char *buf;
	size_t len, cap;
	json_int_t seq;
	struct jido_redact red;
	FILE *transcript;
	char transcript_path[700];
	json_t *summary; /* string, from the runner's events */
	json_t *usage;   /* object */
	int64_t started_ms;
	json_t *result;  /* set when the job reported its result (filter mode reads it) */
	int done;        /* the result was handled */
};

#define EXEC_RECENT 32

struct exec_priv {
	int spfd;
	char workdir[512];
	struct exec_job jobs[EXEC_MAX_JOBS];
	/* Results of recently finished planner jobs, by job_id: a re-sent job is answered
	 * with its result again, never run twice. */
	struct {
		char job_id[160];
		json_t *data;
	} recent[EXEC_RECENT];
	size_t recent_next;
	json_t *redeliver; /* [result data] to send again from tick */
	/* Results sent to the planner whose answer has not come yet (push mode): the serve
	 * loop keeps answering while they wait, so a planner that sends the next step while
	 * the executor sends a result is answered instead of both waiting out a timeout. */
	struct jido_outbox *outbox; /* EXEC_MAX_JOBS * 2 slots, keyed by run_id */
	/* Pull mode (executor.pull): polling the planner's executor pool. */
	int pull;
	char id[64];
	char planner_url[600];
	int64_t next_poll_ms, last_ok_ms;
	int lease_ms;     /* from the planner's last answer; 0 before the first */
	int poll_failing; /* logged once per outage */
};

static void exec_deliver(struct jido_srv *s, const char *run_id, json_t *data);

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

/* Redact a string field of o in place (diff, summary, output, message: the run's values,
 * the patterns, PEM blocks across its lines). When redaction fails the value is dropped
 * and the drop is logged. */
static void
exec_redact_field(struct exec_job *j, json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	char *r;

	if (!json_is_string(v))
		return;
	r = jido_redact_str(json_string_value(v), jido_redact_known(&j->red), NULL);
	if (r == NULL)
		jido_warn("executor.field_dropped", "{s:s,s:s}", "job", j->id, "field", key);
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
	json_decref(j->pseq);
	json_decref(j->attempt);
	jido_redact_free(&j->red);
	memset(j, 0, sizeof(*j));
	j->evfd = -1;
}

/* The planner's URL for a process's request socket (socket.<name> or run/<name>.sock). */
static int
exec_url(struct jido_srv *s, const char *name, char *url, size_t len)
{
	char key[64];
	const char *sock;

	snprintf(key, sizeof(key), "socket.%s", name);
	sock = jido_conf_str(jido_srv_conf(s), key);
	if (sock != NULL && sock[0] != '\0') {
		snprintf(url, len, "%s", sock);
		return 0;
	}
	return jido_bus_url_req(jido_srv_home(s), name, url, len);
}

/* Pull mode: the timeout of a call to the planner, bounded (connecting included) well
 * inside half a lease, so that a call stuck on a dead network cannot hold off the fence
 * (exec_poll). */
static int
exec_pull_timeout(struct jido_srv *s)
{
	struct exec_priv *x = jido_srv_priv(s);
	int tmo = (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms");

	return x->lease_ms > 0 && tmo > x->lease_ms / 6 ? x->lease_ms / 6 : tmo;
}

/* The planner's answer to a result (rc from the call; the outbox's done hook): logged
 * when it is not a yes. Frees r. */
static void
exec_delivered(void *arg, const char *run_id, int rc, struct jido_reply *r)
{
	(void)arg;
	if (rc != 0)
		jido_error("executor.result_undelivered", "{s:s,s:s}", "run_id", run_id, "why",
		    jido_strerror(rc));
	else {
		if (!r->ok)
			jido_error("executor.result_refused", "{s:s,s:s,s:s}", "run_id", run_id, "code",
			    jido_err_name(r->err), "why", r->message ? r->message : "");
		jido_reply_free(r);
	}
}

/* Send planner.steps.result (borrowed data). Push mode: the planner also calls the
 * executor (the next step, re-sent jobs), so the result goes out without waiting for the
 * answer (the outbox; the tick takes it), and the serve loop keeps answering meanwhile.
 * Pull mode: the planner never calls this executor, the call is bounded as polls are. */
static void
exec_deliver(struct jido_srv *s, const char *run_id, json_t *data)
{
	struct exec_priv *x = jido_srv_priv(s);
	char url[600];
	struct jido_reply r;
	int rc;

	if (exec_url(s, "planner", url, sizeof(url)) != 0)
		return;
	if (x->pull) {
		rc = jido_bus_call_bounded(url, "planner.steps.result", run_id, json_incref(data),
		    exec_pull_timeout(s), &r);
		exec_delivered(NULL, run_id, rc, &r);
		return;
	}
	jido_outbox_send(x->outbox, url, "planner.steps.result", run_id, run_id,
	    json_incref(data), (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms"));
}

/* Give back the scoped key the executor got for this step (best effort). */
static void
exec_key_revoke(struct jido_srv *s, struct exec_job *j)
{
	char url[600];
	struct jido_reply r;

	if (j->key_id[0] == '\0' || exec_url(s, "gateway", url, sizeof(url)) != 0)
		return;
	if (jido_bus_call(url, "gateway.keys.revoke", j->run_id, json_pack("{s:s}", "key_id",
	    j->key_id), (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms"), &r) == 0)
		jido_reply_free(&r);
	else
		jido_warn("executor.key_not_revoked", "{s:s,s:s}", "run_id", j->run_id, "key_id",
		    j->key_id);
	j->key_id[0] = '\0';
}

/* What the gateway measured for this step's scoped key (gateway.usage, summed over the
 * key's records) replaces the agent's own report in usage: tokens and cost_usd are what
 * the provider billed through the gateway; the agent's own figure stays as
 * agent_cost_usd. Best effort: without an answer, usage is left as it is. */
static void
exec_usage_measured(struct jido_srv *s, struct exec_job *j)
{
	static const char *const keys[] = { "input_tokens", "output_tokens", "cache_read_tokens",
		"cache_write_tokens", "cost_musd" };
	long long t[5] = { 0 }, n = 0;
	char url[600];
	struct jido_reply r;
	size_t i;
	json_t *rec;

	if (j->key_id[0] == '\0' || exec_url(s, "gateway", url, sizeof(url)) != 0)
		return;
	if (jido_bus_call(url, "gateway.usage", j->run_id, json_pack("{s:s,s:i}", "run_id",
	    j->run_id, "limit", 10000), (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms"),
	    &r) != 0)
		return;
	json_array_foreach(json_object_get(r.data, "records"), i, rec) {
		const char *kid = json_string_value(json_object_get(rec, "key_id"));
		if (kid == NULL || strcmp(kid, j->key_id) != 0)
			continue;
		for (size_t k = 0; k < 5; k++)
			t[k] += json_integer_value(json_object_get(rec, keys[k]));
		n++;
	}
	jido_reply_free(&r);
	if (n == 0)
		return;
	if (j->usage == NULL)
		j->usage = json_object();
	json_t *own = json_object_get(j->usage, "cost_usd");
	if (own != NULL)
		json_object_set(j->usage, "agent_cost_usd", own);
	json_object_set_new(j->usage, "input_tokens", json_integer(t[0]));
	json_object_set_new(j->usage, "output_tokens", json_integer(t[1]));
	json_object_set_new(j->usage, "cache_read_input_tokens", json_integer(t[2]));
	json_object_set_new(j->usage, "cache_creation_input_tokens", json_integer(t[3]));
	json_object_set_new(j->usage, "cost_usd", json_real((double)t[4] / 1e6));
	json_object_set_new(j->usage, "requests", json_integer(n));
	json_object_set_new(j->usage, "measured_by", json_string("gateway"));
}

/*
 * The job's result, in the planner's shape: {run_id, seq, attempt, job_id, status
 * (done|failed), result {output, exit_status, duration_ms, timed_out, diff, ...,
 * summary, runner, job, step, transcript}, usage, error {kind, message}}. Redacted, then
 * delivered to the planner (serve mode) or kept for the reply (filter mode).
 */
static void
exec_job_result(struct jido_srv *s, struct exec_job *j, json_t *res, int filter)
{
	struct exec_priv *x = jido_srv_priv(s);
	json_t *r = json_deep_copy(res), *data;
	json_t *exit_status = json_object_get(r, "exit_status");
	int timed_out = json_is_true(json_object_get(r, "timed_out"));
	int ok = json_is_integer(exit_status) && json_integer_value(exit_status) == 0 && !timed_out;
	const char *message;

	json_object_set(r, "step", j->step);
	json_object_set_new(r, "job", json_string(j->id));
	json_object_set_new(r, "runner", json_string(j->runner));
	json_object_set(r, "summary", j->summary != NULL ? j->summary : json_null());
	json_object_set_new(r, "transcript", json_string(j->transcript_path));
	if (json_object_get(r, "output") == NULL)
		json_object_set_new(r, "output", j->summary != NULL ? json_incref(j->summary) :
		    json_string(j->tail));
	json_object_del(r, "error");
	exec_redact_field(j, r, "diff");
	exec_redact_field(j, r, "summary");
	exec_redact_field(j, r, "output");
	exec_redact_field(j, r, "message");
	/* read after the redaction replaced the value (the old string is freed by then) */
	message = json_string_value(json_object_get(r, "message"));
	exec_usage_measured(s, j);
	data = json_pack("{s:s,s:s,s:o,s:o}", "run_id", j->run_id, "status", ok ? "done" : "failed",
	    "result", r, "usage", j->usage != NULL ? json_incref(j->usage) : json_object());
	if (j->pseq != NULL)
		json_object_set(data, "seq", j->pseq);
	if (j->attempt != NULL)
		json_object_set(data, "attempt", j->attempt);
	if (j->job_id[0] != '\0')
		json_object_set_new(data, "job_id", json_string(j->job_id));
	if (!ok) {
		char msg[300];
		if (message != NULL)
			snprintf(msg, sizeof(msg), "%s", message);
		else if (timed_out)
			snprintf(msg, sizeof(msg), "the step ran past its timeout; the whole process "
			    "tree was killed");
		else
			snprintf(msg, sizeof(msg), "the command exited with status %lld",
			    (long long)json_integer_value(exit_status));
		char *rm = jido_redact_str(msg, jido_redact_known(&j->red), NULL);
		json_object_set_new(data, "error", json_pack("{s:s,s:s}", "kind", timed_out ?
		    "timeout" : "execution", "message", rm != NULL ? rm : "[REDACTED]"));
		free(rm);
	}
	jido_info("executor.step_done", "{s:s,s:s,s:s,s:O,s:O}", "job", j->id, "run_id", j->run_id,
	    "status", ok ? "done" : "failed", "exit_status", exit_status, "files_changed",
	    json_object_get(r, "files_changed"));
	exec_key_revoke(s, j);
	if (j->job_id[0] != '\0') {
		size_t k = x->recent_next++ % EXEC_RECENT;
		json_decref(x->recent[k].data);
		snprintf(x->recent[k].job_id, sizeof(x->recent[k].job_id), "%s", j->job_id);
		x->recent[k].data = json_incref(data);
	}
	if (filter) {
		j->result = data;
		return;
	}
	exec_deliver(s, j->run_id, data);
	json_decref(data);
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
		j->done = 1;
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
	char *red = jido_redact_line(&j->red, line, &changed);
	j->seq++;
	if (red == NULL) {
		/* Redaction failed: the line never leaves; the drop is logged. */
		jido_warn("executor.line_dropped", "{s:s,s:s,s:I}", "job", j->id, "stream", stream,
		    "seq", (json_int_t)j->seq);
		json_decref(m);
		return 0;
	}
	if (strcmp(stream, "event") != 0) {
		/* Keep the last lines of output: a shell step's result "output". */
		size_t rl = strlen(red) + 1;
		if (rl > sizeof(j->tail) - 1)
			rl = sizeof(j->tail) - 1;
		if (j->tail_len + rl > sizeof(j->tail) - 1) {
			size_t drop = j->tail_len + rl - (sizeof(j->tail) - 1);
			memmove(j->tail, j->tail + drop, j->tail_len - drop);
			j->tail_len -= drop;
		}
		memcpy(j->tail + j->tail_len, red, rl - 1);
		j->tail[j->tail_len + rl - 1] = '\n';
		j->tail_len += rl;
		j->tail[j->tail_len] = '\0';
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
			if (!j->done) {
				/* The job process died without a result: the planner still hears. */
				jido_warn("executor.job_vanished", "{s:s}", "job", j->id);
				json_t *res = json_pack("{s:i,s:i,s:b,s:s,s:s,s:i,s:i,s:i,s:[]}",
				    "exit_status", -1, "duration_ms", 0, "timed_out", 0, "message",
				    "the job process ended without a result", "diff", "",
				    "files_changed", 0, "lines_added", 0, "lines_removed", 0,
				    "binary_files");
				j->done = 1;
				exec_job_result(s, j, res, filter);
				json_decref(res);
			}
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
	    strcmp(runner, "codex") != 0 && strcmp(runner, "fetch_issue") != 0))
		return exec_bad(why, whylen, "runner must be shell, claude-code or codex");
	if (strcmp(runner, "shell") == 0 && exec_str(d, "command") == NULL)
		return exec_bad(why, whylen, "the shell runner needs a command");
	if ((strcmp(runner, "claude-code") == 0 || strcmp(runner, "codex") == 0) &&
	    exec_str(d, "prompt") == NULL)
		return exec_bad(why, whylen, "an agent runner needs a prompt");
	if (strcmp(runner, "fetch_issue") == 0 && (!json_is_integer(json_object_get(d, "issue")) ||
	    json_integer_value(json_object_get(d, "issue")) < 1 ||
	    ws_check_repo(exec_str(json_object_get(d, "project"), "full_name"), why, whylen) != 0))
		return exec_bad(why, whylen, "fetch_issue needs issue (a number) and project.full_name");
	if ((json_object_get(d, "seq") != NULL && !json_is_integer(json_object_get(d, "seq"))) ||
	    (json_object_get(d, "attempt") != NULL && !json_is_integer(json_object_get(d, "attempt"))))
		return exec_bad(why, whylen, "seq and attempt must be integers");
	if (json_object_get(d, "job_id") != NULL && (exec_str(d, "job_id") == NULL ||
	    strlen(exec_str(d, "job_id")) >= 160))
		return exec_bad(why, whylen, "job_id must be a string under 160 characters");
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
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "workdir", x->workdir,
	    "github_api_url", jido_conf_str(c, "github.api_url"),
	    "sandbox_uid", (json_int_t)jido_conf_int(c, "executor.sandbox_uid"),
	    "memory", (json_int_t)sandbox_parse_size(jido_conf_str(c, "executor.memory")),
	    "fsize", (json_int_t)sandbox_parse_size(jido_conf_str(c, "executor.fsize")),
	    "pids", (json_int_t)jido_conf_int(c, "executor.pids"),
	    "gateway_port", (json_int_t)jido_conf_int(c, "executor.gateway_port"),
	    "gateway_socket", gw,
	    "max_diff", (json_int_t)jido_conf_int(c, "executor.max_diff"),
	    "timeout_s", (json_int_t)jido_conf_int(c, "executor.timeout_s"));
}

static int exec_step_start(struct jido_srv *s, const struct jido_req *req, json_t *d,
    json_t **out, char *why, size_t whylen);

static int
exec_step_run(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	int rc;
	json_t *d = NULL;
	const char *git = jido_conf_str(jido_srv_conf(s), "executor.git_url");

	if ((rc = exec_normalize(req->data, git ? git : "https://github.com/", &d, why,
	    whylen)) != 0)
		return rc;
	if ((rc = exec_check_run(d, why, whylen)) != 0) {
		json_decref(d);
		return rc;
	}
	rc = exec_step_start(s, req, d, out, why, whylen);
	json_decref(d);
	return rc;
}

/* Ask the gateway for a scoped key for this step (gateway.keys.create). On 0 d gets
 * gateway.key and key_id holds its id for the revoke. */
static int
exec_key_mint(struct jido_srv *s, json_t *d, int timeout_s, char *key_id, size_t idlen,
    char *why, size_t whylen)
{
	const json_t *step = json_object_get(d, "step");
	const char *step_id = json_is_string(step) ? json_string_value(step) :
	    exec_str(step, "id");
	const char *full = exec_str(json_object_get(d, "project"), "full_name");
	char url[600];
	struct jido_reply r;
	int rc;

	if (exec_url(s, "gateway", url, sizeof(url)) != 0) {
		snprintf(why, whylen, "no gateway socket");
		return JIDO_EUNAVAIL;
	}
	json_t *q = json_pack("{s:s,s:I}", "run_id", exec_str(d, "run_id"), "expires_s",
	    (json_int_t)timeout_s + 900);
	if (step_id != NULL)
		json_object_set_new(q, "step", json_string(step_id));
	if (full != NULL)
		json_object_set_new(q, "project", json_string(full));
	rc = jido_bus_call(url, "gateway.keys.create", exec_str(d, "run_id"), q,
	    (int)jido_conf_int(jido_srv_conf(s), "bus.timeout_ms"), &r);
	if (rc != 0) {
		snprintf(why, whylen, "cannot get a scoped key from the gateway: %s", jido_strerror(rc));
		return JIDO_EUNAVAIL;
	}
	if (!r.ok || exec_str(r.data, "key") == NULL) {
		snprintf(why, whylen, "the gateway refused a scoped key: %s",
		    r.message ? r.message : "no key in the reply");
		jido_reply_free(&r);
		return JIDO_EUNAVAIL;
	}
	json_t *key = json_object_get(r.data, "key");
	/* A copy: the reply's string is wiped below, ours is wiped after the hand-over. */
	json_object_set_new(d, "gateway", json_pack("{s:s}", "key", json_string_value(key)));
	snprintf(key_id, idlen, "%s", exec_str(r.data, "key_id") ? exec_str(r.data, "key_id") : "");
	sodium_memzero((char *)json_string_value(key), json_string_length(key));
	jido_reply_free(&r);
	return 0;
}

/* Start the normalized job d (borrowed; may be changed: the minted key is added). */
static int
exec_step_start(struct jido_srv *s, const struct jido_req *req, json_t *d, json_t **out,
    char *why, size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);
	struct exec_job *j = NULL;
	json_t *jr;
	char dir[700], key_id[80] = "";
	int rc, i;
	const char *job_id = exec_str(d, "job_id");

	/* A job id already known is never run twice: a running one is accepted again, a
	 * finished one gets its result sent again. */
	for (i = 0; job_id != NULL && i < EXEC_MAX_JOBS; i++)
		if (x->jobs[i].used && strcmp(x->jobs[i].job_id, job_id) == 0) {
			*out = json_pack("{s:b,s:s,s:s,s:b}", "accepted", 1, "job", x->jobs[i].id,
			    "status", "running", "duplicate", 1);
			return 0;
		}
	for (i = 0; job_id != NULL && i < EXEC_RECENT; i++)
		if (x->recent[i].data != NULL && strcmp(x->recent[i].job_id, job_id) == 0) {
			if (!req->filter)
				json_array_append(x->redeliver, x->recent[i].data);
			*out = json_pack("{s:b,s:s,s:b,s:O?}", "accepted", 1, "status", "done",
			    "duplicate", 1, "result", req->filter ? x->recent[i].data : NULL);
			return 0;
		}
	const char *repo = exec_str(json_object_get(d, "workspace"), "repo");
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
	const char *runner = exec_str(d, "runner");
	if ((strcmp(runner, "claude-code") == 0 || strcmp(runner, "codex") == 0) &&
	    json_object_get(d, "gateway") == NULL) {
		json_t *t = json_object_get(d, "timeout_s");
		if ((rc = exec_key_mint(s, d, json_is_integer(t) ? (int)json_integer_value(t) :
		    (int)jido_conf_int(jido_srv_conf(s), "executor.timeout_s"), key_id,
		    sizeof(key_id), why, whylen)) != 0)
			return rc; /* j is still unused */
	}
	memset(j, 0, sizeof(*j));
	j->evfd = -1;
	jido_id_new(j->id, sizeof(j->id));
	const char *run_id = exec_str(d, "run_id");
	memcpy(j->run_id, run_id, strlen(run_id) + 1); /* length checked: <= JIDO_ID_MAX */
	memcpy(j->runner, runner, strlen(runner) + 1); /* one of four short names */
	memcpy(j->key_id, key_id, sizeof(j->key_id));
	if (job_id != NULL)
		snprintf(j->job_id, sizeof(j->job_id), "%s", job_id);
	j->pseq = json_incref(json_object_get(d, "seq"));
	j->attempt = json_incref(json_object_get(d, "attempt"));
	j->step = json_incref(json_object_get(d, "step"));
	if (repo != NULL)
		snprintf(j->repo, sizeof(j->repo), "%s", repo);
	j->started_ms = jido_now_ms();
	const char *key = exec_str(json_object_get(d, "gateway"), "key");
	if (key != NULL)
		jido_redact_add(&j->red, key);
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

	jr = json_deep_copy(d);
	json_object_set_new(jr, "config", exec_job_config(s, x));
	j->evfd = spawner_submit(x->spfd, jr, why, whylen);
	key = exec_str(json_object_get(jr, "gateway"), "key");
	if (key != NULL)
		sodium_memzero((char *)key, strlen(key));
	json_decref(jr);
	if (j->evfd < 0) {
		exec_key_revoke(s, j);
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
		json_t *seq = json_object_get(req->data, "seq");
		if (!j->used || (job != NULL && strcmp(j->id, job) != 0 && strcmp(j->job_id, job) != 0) ||
		    (run != NULL && strcmp(j->run_id, run) != 0) ||
		    (json_is_integer(seq) && !json_equal(seq, j->pseq)))
			continue;
		exec_key_revoke(s, j);
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
	if (strcmp(req->type, "executor.logs") == 0)
		return exec_logs(((struct exec_priv *)jido_srv_priv(s))->workdir, req->data, out,
		    why, whylen);
	return jido_req_unknown(req, why, whylen);
}

/* Stop every planner job now (no result is sent): the lease is gone. */
static void
exec_fence(struct jido_srv *s, int64_t silent_ms)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++) {
		struct exec_job *j = &x->jobs[i];
		if (!j->used || j->job_id[0] == '\0')
			continue;
		jido_warn("executor.fenced", "{s:s,s:s,s:I}", "job", j->job_id, "run_id", j->run_id,
		    "silent_ms", (json_int_t)silent_ms);
		exec_key_revoke(s, j);
		exec_job_free(j);
	}
}

/* One planner.executors.poll: report what runs here, start what the planner hands over,
 * stop what it no longer wants here. */
static void
exec_poll(struct jido_srv *s)
{
	struct exec_priv *x = jido_srv_priv(s);
	json_t *running = json_array(), *v;
	struct jido_reply r;
	int used = 0, rc;
	int64_t now = jido_now_ms();
	size_t k;

	x->next_poll_ms = now + jido_conf_int(jido_srv_conf(s), "executor.poll_ms");
	for (int i = 0; i < EXEC_MAX_JOBS; i++)
		if (x->jobs[i].used) {
			used++;
			if (x->jobs[i].job_id[0] != '\0')
				json_array_append_new(running, json_string(x->jobs[i].job_id));
		}
	rc = jido_bus_call_bounded(x->planner_url, "planner.executors.poll", NULL, json_pack(
	    "{s:s,s:i,s:o}", "executor", x->id, "slots", EXEC_MAX_JOBS - used, "running", running),
	    exec_pull_timeout(s), &r);
	if (rc != 0 || !r.ok) {
		if (!x->poll_failing)
			jido_warn("executor.poll_failed", "{s:s,s:s}", "planner", x->planner_url, "why",
			    rc != 0 ? jido_strerror(rc) : r.message ? r.message : jido_err_name(r.err));
		x->poll_failing = 1;
		if (rc == 0)
			jido_reply_free(&r);
		if (x->lease_ms > 0 && jido_now_ms() - x->last_ok_ms > x->lease_ms / 2)
			exec_fence(s, jido_now_ms() - x->last_ok_ms);
		return;
	}
	if (x->poll_failing)
		jido_info("executor.poll_ok", "{s:s}", "planner", x->planner_url);
	x->poll_failing = 0;
	x->last_ok_ms = now; /* when it was sent: the planner saw it no earlier */
	x->lease_ms = (int)json_integer_value(json_object_get(r.data, "lease_ms"));
	json_array_foreach(json_object_get(r.data, "cancel"), k, v) {
		struct jido_req q = { .type = "executor.step.cancel", .data = json_pack("{s:O}",
			"job", v) };
		json_t *out = NULL;
		char why[256];
		jido_info("executor.step_withdrawn", "{s:O}", "job", v);
		exec_step_cancel(s, &q, &out, why, sizeof(why));
		json_decref(out);
		json_decref(q.data);
	}
	json_array_foreach(json_object_get(r.data, "jobs"), k, v) {
		struct jido_req q = { .type = "executor.step.run", .data = json_object_get(v,
			"data") };
		json_t *out = NULL;
		char why[512] = "";
		if (!json_is_object(q.data) || (rc = exec_step_run(s, &q, &out, why, sizeof(why))) != 0)
			jido_warn("executor.pulled_step_refused", "{s:s,s:s}", "code", jido_err_name(
			    json_is_object(q.data) ? rc : JIDO_EVALIDATION), "why", why);
		json_decref(out);
	}
	jido_reply_free(&r);
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
	/* Results asked for again (a re-sent job id). */
	size_t k;
	json_t *v;
	json_array_foreach(x->redeliver, k, v)
		exec_deliver(s, json_string_value(json_object_get(v, "run_id")), v);
	json_array_clear(x->redeliver);
	jido_outbox_poll(x->outbox, 0);
	if (x->pull && jido_now_ms() >= x->next_poll_ms)
		exec_poll(s);
}

/* Fork the spawner now, while the process has one thread: the bus sockets are opened
 * after this, and nng starts its threads with the first (see spawner.c). */
static int
executor_prefork(struct jido_srv *s, char *why, size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++)
		x->jobs[i].evfd = -1;
	if ((x->spfd = spawner_start(why, whylen)) < 0)
		return JIDO_EINTERNAL;
	return 0;
}

static int
executor_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct exec_priv *x = jido_srv_priv(s);

	x->redeliver = json_array();
	if (jido_outbox_new(EXEC_MAX_JOBS * 2, exec_delivered, NULL, &x->outbox) != 0) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	snprintf(x->workdir, sizeof(x->workdir), "%s/executor", jido_srv_home(s));
	if (jido_mkdirs(x->workdir, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s: %s", x->workdir, strerror(errno));
		return JIDO_EINTERNAL;
	}
	if (jido_conf_bool(jido_srv_conf(s), "executor.pull")) {
		const char *id = jido_conf_str(jido_srv_conf(s), "executor.id");
		x->pull = 1;
		if (id != NULL && id[0] != '\0')
			snprintf(x->id, sizeof(x->id), "%s", id);
		else if (gethostname(x->id, sizeof(x->id) - 1) != 0)
			snprintf(x->id, sizeof(x->id), "executor");
		if (exec_url(s, "planner", x->planner_url, sizeof(x->planner_url)) != 0)
			return JIDO_EVALIDATION;
		/* Dialling tcp from the main thread needs AF_INET in the allowlist. */
		if (strncmp(x->planner_url, "ipc://", 6) != 0)
			jido_srv_need_net(s);
		x->last_ok_ms = jido_now_ms();
		jido_info("executor.pulling", "{s:s,s:s}", "executor", x->id, "planner",
		    x->planner_url);
	}
	return 0;
}

static void
executor_close(struct jido_srv *s)
{
	struct exec_priv *x = jido_srv_priv(s);

	for (int i = 0; i < EXEC_MAX_JOBS; i++)
		if (x->jobs[i].used)
			exec_job_free(&x->jobs[i]);
	/* results sent: a second for the answers */
	jido_outbox_poll(x->outbox, jido_now_ms() + 1000);
	jido_outbox_free(x->outbox);
	x->outbox = NULL;
	if (x->spfd > 0)
		close(x->spfd); /* the spawner sees EOF and exits; its jobs die with it */
	x->spfd = -1;
	for (int i = 0; i < EXEC_RECENT; i++)
		json_decref(x->recent[i].data);
	json_decref(x->redeliver);
}

const struct jido_proc executor_proc = {
	.name = "executor",
	.summary = "runs steps in a sandbox and streams their redacted output",
	.pub_topic = "logs",
	.allow = { executor_allow, 0, 1, NULL, &spawner_allow },
	.prefork = executor_prefork,
	.open = executor_open,
	.handle = executor_handle,
	.tick = executor_tick,
	.close = executor_close,
	.priv_size = sizeof(struct exec_priv),
	.command = executor_command,
	.command_usage = "  sandbox [opts] -- CMD  run CMD in the step sandbox (see sandbox --help)\n",
};
