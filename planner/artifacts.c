/*
 * artifacts.c - the planner's side of run artifacts: it is the one writer of the store
 * (lib/artifact.c under $JIDO_HOME/artifacts). It captures what steps produce as their
 * results arrive (log, diff, transcript, plan, PR link) and a cost summary when a run
 * ends, answers planner.artifacts.* (list, get, history, put, usage, sweep), and runs the
 * retention sweeper from the tick, asking its own database which runs are protected.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "planner.h"
#include "artifact.h"

#define ART_SWEEP_MS (10 * 60 * 1000)  /* sweeper period */
#define ART_JOBS_MAX 8                  /* spool puts in flight */
#define ART_JOB_KEEP_MS (10 * 60 * 1000) /* a finished job's answer is kept this long */

/* A spool put: the blob is written by a worker thread (redacting and hashing a large file
 * takes longer than the serve loop may block), the row by the tick. The job table is this
 * process's; jobs_mu guards state, b, rc and why between the worker and the main thread. */
struct art_job {
	int used;
	char id[24];
	char run_id[64], lineage[64], name[JIDO_ART_NAME_MAX + 1], kind[16], media[101];
	int run_attempt, has_media;
	int fd;
	int state;               /* 0 running, 1 blob written, 2 done, 3 failed */
	struct jido_art_blob b;
	int rc;
	char why[256];
	json_t *row;             /* when done (main thread only) */
	int64_t finished_ms;
	char root[PATH_MAX];
};
static struct art_job art_jobs[ART_JOBS_MAX];
static pthread_mutex_t art_jobs_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
art_job_main(void *arg)
{
	struct art_job *j = arg;
	struct jido_art_blob b;
	char why[256] = "";
	int rc = jido_art_blob_write(j->root, NULL, 0, j->fd, NULL, &b, why, sizeof(why));

	close(j->fd);
	pthread_mutex_lock(&art_jobs_mu);
	j->b = b;
	j->rc = rc;
	snprintf(j->why, sizeof(j->why), "%s", why);
	j->state = rc == 0 ? 1 : 3;
	pthread_mutex_unlock(&art_jobs_mu);
	return NULL;
}

int
artifacts_open(struct planner *p, char *why, size_t whylen)
{
	const struct jido_conf *c = jido_srv_conf(p->srv);
	struct jido_art_retention r;
	char root[PATH_MAX];
	int rc;

	snprintf(root, sizeof(root), "%s/artifacts", jido_srv_home(p->srv));
	if ((rc = jido_art_open(root, &p->art, why, whylen)) != 0)
		return rc;
	r.log_days = (int)jido_conf_int(c, "artifacts.log_days");
	r.transcript_days = (int)jido_conf_int(c, "artifacts.transcript_days");
	r.other_days = (int)jido_conf_int(c, "artifacts.other_days");
	jido_art_set_retention(p->art, &r);
	p->art_next_sweep_ms = jido_now_ms() + 60 * 1000;
	return 0;
}

void
artifacts_close(struct planner *p)
{
	jido_art_close(p->art);
	p->art = NULL;
}

/* The root of run_id's retry chain into buf, and the run's attempt. JIDO_ENOTFOUND. */
static int
art_lineage(struct planner *p, const char *run_id, char *buf, size_t len, int *attempt)
{
	char cur[64];
	int found = 0;

	snprintf(cur, sizeof(cur), "%s", run_id);
	*attempt = 1;
	for (int i = 0; i < 1000; i++) {
		sqlite3_stmt *st = store_query(p, "SELECT parent_id, attempt FROM runs WHERE id = ?",
		    "s", cur);
		int more = 0;
		if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
			if (!found)
				*attempt = sqlite3_column_int(st, 1);
			found = 1;
			if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
				snprintf(cur, sizeof(cur), "%s", store_col_text(st, 0));
				more = 1;
			}
		}
		sqlite3_finalize(st);
		if (!found)
			return JIDO_ENOTFOUND;
		if (!more)
			break;
	}
	snprintf(buf, len, "%s", cur);
	return 0;
}

/* Store one captured artifact; failures are logged (the step result is already durable
 * and a derived artifact must not fail it). */
static void
art_capture(struct planner *p, const char *run_id, const char *lineage, int run_attempt,
    int seq, const char *step, int attempt, const char *name, const char *kind,
    const char *text, int fd)
{
	struct jido_art_meta m = { run_id, lineage, run_attempt, seq, step, attempt, name, kind,
		NULL };
	char why[256];
	int rc;

	rc = jido_art_put(p->art, &m, text, text ? strlen(text) : 0, fd, NULL, store_now_ms(),
	    NULL, why, sizeof(why));
	if (rc != 0)
		jido_warn("planner.artifact_failed", "{s:s,s:s,s:s,s:s}", "run_id", run_id, "name",
		    name, "error", jido_err_name(rc), "why", why);
}

/* A transcript file the executor names, when it lies under our state directory and is a
 * regular file we can read; -1 otherwise. */
static int
art_transcript_open(struct planner *p, const char *path)
{
	char real[PATH_MAX], home[PATH_MAX];
	struct stat sb;
	int fd;

	if (path == NULL || path[0] != '/' || realpath(path, real) == NULL ||
	    realpath(jido_srv_home(p->srv), home) == NULL)
		return -1;
	size_t hl = strlen(home);
	if (strncmp(real, home, hl) != 0 || real[hl] != '/')
		return -1;
	if ((fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The cost summary of a finished run: state, outcome, cost, and each step's usage. */
static void
art_cost_summary(struct planner *p, const char *run_id, const char *lineage, int run_attempt)
{
	json_t *run = run_json(p, run_id, 1), *sum, *steps = json_array(), *s;
	size_t i;

	if (run == NULL) {
		json_decref(steps);
		return;
	}
	json_array_foreach(json_object_get(run, "steps"), i, s)
		json_array_append_new(steps, json_pack("{s:O,s:O,s:O,s:O}", "seq",
		    json_object_get(s, "seq"), "step", json_object_get(s, "step"), "attempt",
		    json_object_get(s, "attempt"), "usage", json_object_get(s, "usage")));
	sum = json_pack("{s:s,s:O,s:O,s:O,s:O,s:o}", "run_id", run_id, "workflow",
	    json_object_get(run, "workflow"), "state", json_object_get(run, "state"), "outcome",
	    json_object_get(run, "outcome"), "cost_usd", json_object_get(run, "cost_usd"),
	    "steps", steps);
	char *text = json_dumps(sum, JSON_INDENT(2));
	if (text != NULL)
		art_capture(p, run_id, lineage, run_attempt, 0, NULL, 0, "cost_summary.json",
		    "cost_summary", text, -1);
	free(text);
	json_decref(sum);
	json_decref(run);
}

void
artifacts_capture_step(struct planner *p, const char *run_id, int seq, int attempt,
    const json_t *result)
{
	char lineage[64], step[64] = "", name[JIDO_ART_NAME_MAX + 1], state[32] = "";
	int run_attempt, done = 0;
	const char *out = json_string_value(json_object_get(result, "output"));
	const char *diff = json_string_value(json_object_get(result, "diff"));
	const char *tpath = json_string_value(json_object_get(result, "transcript"));
	const char *pr = json_string_value(json_object_get(json_object_get(result, "pr"), "url"));

	if (p->art == NULL || art_lineage(p, run_id, lineage, sizeof(lineage), &run_attempt) != 0)
		return;
	sqlite3_stmt *st = store_query(p, "SELECT s.step, r.state FROM steps s JOIN runs r ON "
	    "r.id = s.run_id WHERE s.run_id = ? AND s.seq = ?", "sd", run_id, seq);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(step, sizeof(step), "%s", store_col_text(st, 0));
		snprintf(state, sizeof(state), "%s", store_col_text(st, 1));
	}
	sqlite3_finalize(st);
	if (step[0] == '\0' || !jido_art_name_ok(step))
		return;
	if (out != NULL && out[0] != '\0') {
		/* a step whose id is "plan" makes the run's plan; every other step a log */
		int plan = strcmp(step, "plan") == 0;
		snprintf(name, sizeof(name), plan ? "plan.md" : "%s.log", step);
		art_capture(p, run_id, lineage, run_attempt, seq, step, attempt, name,
		    plan ? "plan" : "log", out, -1);
	}
	if (diff != NULL && diff[0] != '\0') {
		snprintf(name, sizeof(name), "%s.diff", step);
		art_capture(p, run_id, lineage, run_attempt, seq, step, attempt, name, "diff", diff,
		    -1);
	}
	int fd = art_transcript_open(p, tpath);
	if (fd >= 0) {
		snprintf(name, sizeof(name), "%s.transcript.jsonl", step);
		art_capture(p, run_id, lineage, run_attempt, seq, step, attempt, name, "transcript",
		    NULL, fd);
		close(fd);
	}
	if (pr != NULL && pr[0] != '\0') {
		char line[2100];
		snprintf(line, sizeof(line), "%s\n", pr);
		art_capture(p, run_id, lineage, run_attempt, seq, step, attempt, "pr_url", "pr_url",
		    line, -1);
	}
	done = strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
	    strcmp(state, "cancelled") == 0;
	if (done)
		art_cost_summary(p, run_id, lineage, run_attempt);
}

void
artifacts_capture_end(struct planner *p, const char *run_id)
{
	char lineage[64];
	int run_attempt;

	if (p->art != NULL && art_lineage(p, run_id, lineage, sizeof(lineage), &run_attempt) == 0)
		art_cost_summary(p, run_id, lineage, run_attempt);
}

/* ------------------------------------------------------------ retention */

/* Protected while the run may still need it (pending, running, waiting for an approval);
 * gone when the planner no longer knows the run. */
static int
art_keep(const char *run_id, void *arg)
{
	struct planner *p = arg;
	sqlite3_stmt *st = store_query(p, "SELECT state, parked FROM runs WHERE id = ?", "s",
	    run_id);
	int k = 2;

	if (st == NULL)
		return 1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *s = store_col_text(st, 0);
		k = strcmp(s, "pending") == 0 || strcmp(s, "running") == 0 ||
		    strcmp(s, "awaiting_approval") == 0 || store_col_text(st, 1)[0] != '\0';
	}
	sqlite3_finalize(st);
	return k;
}

static void art_row_path(json_t *row);

/* Record the rows of finished spool puts; forget old answers. 1 while any still runs. */
static int
art_jobs_tick(struct planner *p)
{
	int running = 0;
	int64_t now = jido_now_ms();

	pthread_mutex_lock(&art_jobs_mu);
	for (int i = 0; i < ART_JOBS_MAX; i++) {
		struct art_job *j = &art_jobs[i];
		if (!j->used)
			continue;
		if (j->state == 0)
			running = 1;
		else if (j->state == 1) {
			struct jido_art_meta m = { j->run_id, j->lineage, j->run_attempt, 0, NULL, 0,
				j->name, j->kind, j->has_media ? j->media : NULL };
			j->rc = jido_art_record(p->art, &m, &j->b, store_now_ms(), &j->row, j->why,
			    sizeof(j->why));
			if (j->rc == 0)
				art_row_path(j->row);
			j->state = j->rc == 0 ? 2 : 3;
			j->finished_ms = now;
		} else if (j->finished_ms == 0)
			j->finished_ms = now;
		else if (now - j->finished_ms > ART_JOB_KEEP_MS) {
			json_decref(j->row);
			memset(j, 0, sizeof(*j));
		}
	}
	pthread_mutex_unlock(&art_jobs_mu);
	return running;
}

void
artifacts_tick(struct planner *p)
{
	int rows = 0, blobs = 0;

	if (p->art == NULL)
		return;
	/* no sweep while a worker may have written a blob whose row is not recorded yet */
	if (art_jobs_tick(p) || jido_now_ms() < p->art_next_sweep_ms)
		return;
	p->art_next_sweep_ms = jido_now_ms() + ART_SWEEP_MS;
	if (jido_art_sweep(p->art, store_now_ms(), art_keep, p, &rows, &blobs) == 0 &&
	    (rows > 0 || blobs > 0))
		jido_info("planner.artifacts_swept", "{s:i,s:i}", "rows", rows, "blobs", blobs);
}

/* ------------------------------------------------------------ operations */

static int
art_req_run(struct planner *p, const json_t *d, const char **run_id, char *lineage,
    size_t len, int *attempt, char *why, size_t whylen)
{
	*run_id = json_string_value(json_object_get(d, "run_id"));
	if (*run_id == NULL || strlen(*run_id) == 0 || strlen(*run_id) > 64)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.run_id: a run id is required");
	if (p->art == NULL)
		return jido_fail(JIDO_EUNAVAIL, why, whylen, "the artifact store is not open");
	if (art_lineage(p, *run_id, lineage, len, attempt) != 0)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no run '%s'", *run_id);
	return 0;
}

static int
art_req_name(const json_t *d, const char **name, char *why, size_t whylen)
{
	*name = json_string_value(json_object_get(d, "name"));
	if (!jido_art_name_ok(*name))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.name: 1-128 of [A-Za-z0-9._-], "
		    "not starting with . or -");
	return 0;
}

/* Add the blob's path (relative to the state directory) to a row. */
static void
art_row_path(json_t *row)
{
	char path[PATH_MAX];

	if (jido_art_blob_path("artifacts", json_string_value(json_object_get(row, "hash")), path,
	    sizeof(path)) == 0)
		json_object_set_new(row, "path", json_string(path));
}

static int
art_op_list(struct planner *p, const json_t *d, json_t **out, char *why, size_t whylen)
{
	const char *run_id;
	char lineage[64];
	int att, rc;

	if ((rc = art_req_run(p, d, &run_id, lineage, sizeof(lineage), &att, why, whylen)) != 0)
		return rc;
	if (jido_art_list(p->art, lineage, out) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot read the artifact store");
	json_object_set_new(*out, "run_id", json_string(run_id));
	json_object_set_new(*out, "lineage", json_string(lineage));
	return 0;
}

static int
art_op_get(struct planner *p, const json_t *d, int history, json_t **out, char *why,
    size_t whylen)
{
	const char *run_id, *name;
	char lineage[64];
	int att, rc, version = 0;
	json_t *v = json_object_get(d, "version");

	if ((rc = art_req_run(p, d, &run_id, lineage, sizeof(lineage), &att, why, whylen)) != 0 ||
	    (rc = art_req_name(d, &name, why, whylen)) != 0)
		return rc;
	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 1000000))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.version: a version number >= 1");
	version = v != NULL ? (int)json_integer_value(v) : 0;
	rc = history ? jido_art_history(p->art, lineage, name, out) :
	    jido_art_get(p->art, lineage, name, version, out);
	if (rc == JIDO_ENOTFOUND)
		return version > 0 ? jido_fail(rc, why, whylen, "run %s has no version %d of '%s'",
		    run_id, version, name) : jido_fail(rc, why, whylen, "run %s has no artifact '%s'",
		    run_id, name);
	if (rc != 0)
		return jido_fail(rc, why, whylen, "cannot read the artifact store");
	if (!history)
		art_row_path(*out);
	else {
		size_t i;
		json_t *r;
		json_array_foreach(json_object_get(*out, "versions"), i, r)
			art_row_path(r);
	}
	return 0;
}

static int
art_op_put(struct planner *p, const json_t *d, json_t **out, char *why, size_t whylen)
{
	const char *run_id, *name, *kind = json_string_value(json_object_get(d, "kind"));
	const char *content = json_string_value(json_object_get(d, "content"));
	const char *spool = json_string_value(json_object_get(d, "spool"));
	const char *media = json_string_value(json_object_get(d, "media_type"));
	static const char *const keys[] = { "run_id", "name", "kind", "content", "spool",
		"media_type", NULL };
	char lineage[64], path[PATH_MAX];
	const char *key;
	json_t *val;
	int att, rc, fd = -1;

	json_object_foreach((json_t *)d, key, val) {
		int known = 0;
		for (int i = 0; keys[i] != NULL; i++)
			known |= strcmp(keys[i], key) == 0;
		if (!known)
			return jido_fail(JIDO_EVALIDATION, why, whylen, "data.%s: unknown field", key);
	}
	if ((rc = art_req_run(p, d, &run_id, lineage, sizeof(lineage), &att, why, whylen)) != 0 ||
	    (rc = art_req_name(d, &name, why, whylen)) != 0)
		return rc;
	if (kind == NULL)
		kind = "other";
	if ((content == NULL) == (spool == NULL))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "give exactly one of data.content "
		    "(text) and data.spool (a file name in artifacts/incoming)");
	struct jido_art_meta m = { run_id, lineage, att, 0, NULL, 0, name, kind, media };
	if ((rc = jido_art_meta_check(&m, why, whylen)) != 0)
		return rc;
	if (spool != NULL) {
		struct art_job *j = NULL;
		pthread_t th;
		pthread_attr_t at;
		if (!jido_art_name_ok(spool))
			return jido_fail(JIDO_EVALIDATION, why, whylen, "data.spool: a plain file name");
		snprintf(path, sizeof(path), "%s/artifacts/incoming/%s", jido_srv_home(p->srv),
		    spool);
		pthread_mutex_lock(&art_jobs_mu);
		for (int i = 0; i < ART_JOBS_MAX && j == NULL; i++)
			if (!art_jobs[i].used)
				j = &art_jobs[i];
		if (j == NULL) {
			pthread_mutex_unlock(&art_jobs_mu);
			return jido_fail(JIDO_EUNAVAIL, why, whylen, "%d spool puts are in flight: retry "
			    "later", ART_JOBS_MAX);
		}
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			pthread_mutex_unlock(&art_jobs_mu);
			return jido_fail(JIDO_ENOTFOUND, why, whylen, "no spool file '%s'", spool);
		}
		unlink(path); /* ours now: the worker reads the open file */
		memset(j, 0, sizeof(*j));
		j->used = 1;
		j->fd = fd;
		store_run_id_new(j->id, sizeof(j->id));
		j->id[0] = 'j';
		snprintf(j->run_id, sizeof(j->run_id), "%s", run_id);
		snprintf(j->lineage, sizeof(j->lineage), "%s", lineage);
		snprintf(j->name, sizeof(j->name), "%s", name);
		snprintf(j->kind, sizeof(j->kind), "%s", kind);
		if (media != NULL) {
			snprintf(j->media, sizeof(j->media), "%s", media);
			j->has_media = 1;
		}
		j->run_attempt = att;
		snprintf(j->root, sizeof(j->root), "%s", jido_art_root(p->art));
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, art_job_main, j) != 0) {
			close(fd);
			memset(j, 0, sizeof(*j));
			pthread_mutex_unlock(&art_jobs_mu);
			pthread_attr_destroy(&at);
			return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot start the worker");
		}
		pthread_attr_destroy(&at);
		*out = json_pack("{s:s,s:s}", "job", j->id, "state", "running");
		pthread_mutex_unlock(&art_jobs_mu);
		return 0;
	}
	rc = jido_art_put(p->art, &m, content, strlen(content), -1, NULL, store_now_ms(), out,
	    why, whylen);
	if (rc == 0)
		art_row_path(*out);
	return rc;
}

int
artifacts_handle(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	const char *t = req->type + strlen("planner.artifacts.");

	if (strcmp(t, "list") == 0)
		return art_op_list(p, req->data, out, why, whylen);
	if (strcmp(t, "get") == 0)
		return art_op_get(p, req->data, 0, out, why, whylen);
	if (strcmp(t, "history") == 0)
		return art_op_get(p, req->data, 1, out, why, whylen);
	if (strcmp(t, "put") == 0)
		return art_op_put(p, req->data, out, why, whylen);
	if (strcmp(t, "put_status") == 0) {
		const char *job = json_string_value(json_object_get(req->data, "job"));
		int rc = JIDO_ENOTFOUND;
		art_jobs_tick(p);
		pthread_mutex_lock(&art_jobs_mu);
		for (int i = 0; job != NULL && i < ART_JOBS_MAX; i++) {
			struct art_job *j = &art_jobs[i];
			if (!j->used || strcmp(j->id, job) != 0)
				continue;
			static const char *const names[] = { "running", "running", "done", "failed" };
			*out = json_pack("{s:s,s:s}", "job", j->id, "state", names[j->state]);
			if (j->state == 2)
				json_object_set(*out, "artifact", j->row);
			if (j->state == 3)
				json_object_set_new(*out, "error", json_pack("{s:s,s:s}", "code",
				    jido_err_name(j->rc), "message", j->why));
			rc = 0;
		}
		pthread_mutex_unlock(&art_jobs_mu);
		if (rc != 0)
			return jido_fail(rc, why, whylen, "no put job '%s'", job ? job : "");
		return 0;
	}
	if (strcmp(t, "usage") == 0) {
		if (p->art == NULL || jido_art_usage(p->art, out) != 0)
			return jido_fail(JIDO_EUNAVAIL, why, whylen, "the artifact store is not open");
		return 0;
	}
	if (strcmp(t, "sweep") == 0) {
		int rows = 0, blobs = 0;
		if (p->art == NULL || jido_art_sweep(p->art, store_now_ms(), art_keep, p, &rows,
		    &blobs) != 0)
			return jido_fail(JIDO_EUNAVAIL, why, whylen, "the artifact store is not open");
		*out = json_pack("{s:i,s:i}", "rows", rows, "blobs", blobs);
		return 0;
	}
	return jido_req_unknown(req, why, whylen);
}
