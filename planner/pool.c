/*
 * pool.c - the planner's executor pool: executors that dial out to the planner (from this
 * host or another one, over tls+tcp:// with mutual TLS) and poll for steps.
 *
 * With planner.executors_listen set, a running executor step is not pushed to
 * socket.executor but queued here. Each executor sends planner.executors.poll {executor,
 * slots, running: [job ids]} every executor.poll_ms; the reply hands it queued steps
 * (to the least loaded live executor first), tells it which of its jobs to stop
 * (cancelled, timed out, or no longer its own), and the lease. A poll is the executor's
 * heartbeat: one that has not polled for planner.executor_lease_ms has lost its steps,
 * which go back to pending with the reason and are dispatched again on another executor
 * (a new attempt; a late result of the old one is refused as stale), at most
 * POOL_LOSS_MAX times per step, then the step fails with the reason. The executor stops
 * its jobs itself after half a lease without a successful poll, so a step never runs on
 * two executors at once.
 *
 * The listener accepts only planner.executors.poll and planner.steps.result, and a result
 * only for a step in the pool (so an executor cannot report a gitops step done);
 * everything else there is authorization_error. State is in memory: after a restart the
 * running steps are queued again but held back one lease, so that the executors still running
 * them claim them (by job id in `running`) before anyone else may take them.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

#define POOL_MAX_EXEC 64
#define POOL_MAX_RUNNING 64
#define POOL_LOSS_MAX 2 /* dispatches lost with their executor before the step fails */

struct pool_exec {
	char id[64];
	int64_t seen_ms; /* last poll (planner's clock) */
	int slots;
};

struct pool_job {
	char job_id[160];
	char run_id[JIDO_ID_MAX + 1];
	int seq, attempt;
	json_t *data;          /* the executor.step.run data (owned) */
	char exec[64];         /* holder, "" while queued */
	int64_t not_before_ms; /* queued: not handed out before this */
	int losses;            /* how often this step was lost with its executor */
};

struct pool {
	struct jido_bus *rep;
	char url[512];
	int lease_ms;
	struct pool_exec ex[POOL_MAX_EXEC];
	int nex;
	struct pool_job *jobs;
	int njobs, cap;
	json_t *losses; /* {"<run>:<seq>": n} carried across dispatches of one step */
};

int
pool_enabled(const struct planner *p)
{
	return p->pool != NULL;
}

/* Open the listener (before seccomp: the process has no AF_INET of its own). 0 when
 * planner.executors_listen is empty (no pool). p->pool is owned by p (pool_close). */
int
pool_open(struct planner *p, char *why, size_t whylen)
{
	const struct jido_conf *c = jido_srv_conf(p->srv);
	const char *url = jido_conf_str(c, "planner.executors_listen");
	struct jido_bus_tls tls = { jido_conf_str(c, "bus.tls_cert"), jido_conf_str(c,
		"bus.tls_key"), jido_conf_str(c, "bus.tls_ca") };
	struct pool *pl;
	int rc;

	if (url == NULL || url[0] == '\0')
		return 0;
	if (strncmp(url, "tcp://", 6) == 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "planner.executors_listen must not "
		    "be plain tcp:// (use tls+tcp:// with bus.tls_cert, bus.tls_key, bus.tls_ca, "
		    "or ipc://)");
	if (strncmp(url, "tls+tcp://", 10) == 0 && (tls.ca == NULL || tls.ca[0] == '\0' ||
	    tls.cert == NULL || tls.cert[0] == '\0'))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "planner.executors_listen %s needs "
		    "bus.tls_cert, bus.tls_key and bus.tls_ca (mutual TLS; see `jido certs`)", url);
	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
	snprintf(pl->url, sizeof(pl->url), "%s", url);
	pl->lease_ms = (int)jido_conf_int(c, "planner.executor_lease_ms");
	if (pl->lease_ms < 1000)
		pl->lease_ms = 1000;
	if ((rc = jido_bus_open(JIDO_BUS_REP, url, 1, (int)jido_conf_int(c, "bus.socket_mode"),
	    &tls, &pl->rep)) != 0) {
		free(pl);
		return jido_fail(rc, why, whylen, "cannot listen on %s for executors: %s", url,
		    jido_strerror(rc));
	}
	jido_bus_set_timeouts(pl->rep, 0, 1000);
	pl->losses = json_object();
	p->pool = pl;
	jido_info("planner.pool_listening", "{s:s,s:i}", "url", url, "lease_ms", pl->lease_ms);
	return 0;
}

void
pool_close(struct planner *p)
{
	struct pool *pl = p->pool;

	if (pl == NULL)
		return;
	jido_bus_close(pl->rep);
	for (int i = 0; i < pl->njobs; i++)
		json_decref(pl->jobs[i].data);
	free(pl->jobs);
	json_decref(pl->losses);
	free(pl);
	p->pool = NULL;
}

static struct pool_exec *
pool_exec_find(struct pool *pl, const char *id)
{
	for (int i = 0; i < pl->nex; i++)
		if (strcmp(pl->ex[i].id, id) == 0)
			return &pl->ex[i];
	return NULL;
}

static void
pool_job_remove(struct pool *pl, int i)
{
	json_decref(pl->jobs[i].data);
	pl->jobs[i] = pl->jobs[--pl->njobs];
}

/* Queue a running step's job (data: new reference, taken). A job id already queued is
 * ignored; an older attempt of the same step is replaced. delay_ms holds it back. */
int
pool_enqueue(struct planner *p, const char *run_id, int seq, int attempt, json_t *data,
    int delay_ms)
{
	struct pool *pl = p->pool;
	const char *job_id = json_string_value(json_object_get(data, "job_id"));
	struct pool_job *j;
	char key[JIDO_ID_MAX + 16];

	if (pl == NULL || job_id == NULL) {
		json_decref(data);
		return JIDO_EINTERNAL;
	}
	for (int i = 0; i < pl->njobs; i++) {
		if (strcmp(pl->jobs[i].job_id, job_id) == 0) {
			json_decref(data);
			return 0;
		}
		if (strcmp(pl->jobs[i].run_id, run_id) == 0 && pl->jobs[i].seq == seq)
			pool_job_remove(pl, i--);
	}
	if (pl->njobs == pl->cap) {
		int cap = pl->cap ? pl->cap * 2 : 16;
		struct pool_job *nj = realloc(pl->jobs, (size_t)cap * sizeof(*nj));
		if (nj == NULL) {
			json_decref(data);
			return JIDO_EINTERNAL;
		}
		pl->jobs = nj;
		pl->cap = cap;
	}
	j = &pl->jobs[pl->njobs++];
	memset(j, 0, sizeof(*j));
	snprintf(j->job_id, sizeof(j->job_id), "%s", job_id);
	snprintf(j->run_id, sizeof(j->run_id), "%s", run_id);
	j->seq = seq;
	j->attempt = attempt;
	j->data = data;
	j->not_before_ms = jido_now_ms() + delay_ms;
	snprintf(key, sizeof(key), "%s:%d", run_id, seq);
	j->losses = (int)json_integer_value(json_object_get(pl->losses, key));
	return 0;
}

/* The step (run, seq) ended, was cancelled or dispatched again: drop its job. */
void
pool_forget(struct planner *p, const char *run_id, int seq)
{
	struct pool *pl = p->pool;

	if (pl == NULL)
		return;
	for (int i = 0; i < pl->njobs; i++)
		if (strcmp(pl->jobs[i].run_id, run_id) == 0 && pl->jobs[i].seq == seq)
			pool_job_remove(pl, i--);
}

static int
pool_load(const struct pool *pl, const char *id)
{
	int n = 0;

	for (int i = 0; i < pl->njobs; i++)
		if (strcmp(pl->jobs[i].exec, id) == 0)
			n++;
	return n;
}

/* Is this poller the least loaded live executor with a free slot? */
static int
pool_least_loaded(const struct pool *pl, const struct pool_exec *me, int64_t now)
{
	int mine = pool_load(pl, me->id);

	for (int i = 0; i < pl->nex; i++) {
		const struct pool_exec *e = &pl->ex[i];
		int load;
		if (e == me || now - e->seen_ms > pl->lease_ms)
			continue;
		load = pool_load(pl, e->id);
		if (load < e->slots && load < mine)
			return 0;
	}
	return 1;
}

/* planner.executors.poll {executor, slots, running}: see the file comment. */
static int
pool_poll(struct planner *p, const json_t *d, json_t **out, char *why, size_t whylen)
{
	struct pool *pl = p->pool;
	const char *id = json_string_value(json_object_get(d, "executor"));
	json_t *jslots = json_object_get(d, "slots"), *running = json_object_get(d, "running");
	json_t *jobs, *cancel, *v;
	struct pool_exec *e;
	int64_t now = jido_now_ms();
	size_t k;

	if (pl == NULL)
		return jido_fail(JIDO_EUNAVAIL, why, whylen, "this planner has no executor pool "
		    "(planner.executors_listen is not set)");
	if (!jido_name_ok(id) || !json_is_integer(jslots) || json_integer_value(jslots) < 0 ||
	    json_integer_value(jslots) > POOL_MAX_RUNNING || !json_is_array(running) ||
	    json_array_size(running) > POOL_MAX_RUNNING)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data needs executor (1-63 of "
		    "[A-Za-z0-9._-]), slots (0-%d) and running (an array of at most %d job ids)",
		    POOL_MAX_RUNNING, POOL_MAX_RUNNING);
	json_array_foreach(running, k, v)
		if (!json_is_string(v))
			return jido_fail(JIDO_EVALIDATION, why, whylen, "running[%zu] must be a job id "
			    "string", k);
	if ((e = pool_exec_find(pl, id)) == NULL) {
		if (pl->nex == POOL_MAX_EXEC)
			return jido_fail(JIDO_EUNAVAIL, why, whylen, "%d executors are registered "
			    "already", POOL_MAX_EXEC);
		e = &pl->ex[pl->nex++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
		jido_info("planner.executor_joined", "{s:s}", "executor", id);
	}
	e->seen_ms = now;
	e->slots = (int)json_integer_value(jslots);
	cancel = json_array();
	/* What it runs: renew ours, adopt queued ones (after a restart), stop the rest. */
	json_array_foreach(running, k, v) {
		int found = 0;
		for (int i = 0; i < pl->njobs && !found; i++) {
			struct pool_job *j = &pl->jobs[i];
			if (strcmp(j->job_id, json_string_value(v)) != 0)
				continue;
			found = 1;
			if (j->exec[0] == '\0')
				snprintf(j->exec, sizeof(j->exec), "%s", id);
			else if (strcmp(j->exec, id) != 0)
				found = 0;
		}
		if (!found)
			json_array_append(cancel, v);
	}
	/* Handed to it earlier but not running there (refused, or the reply was lost). */
	for (int i = 0; i < pl->njobs; i++) {
		struct pool_job *j = &pl->jobs[i];
		int there = 0;
		if (strcmp(j->exec, id) != 0)
			continue;
		json_array_foreach(running, k, v)
			there |= strcmp(json_string_value(v), j->job_id) == 0;
		if (!there) {
			jido_info("planner.executor_dropped_job", "{s:s,s:s}", "executor", id, "job",
			    j->job_id);
			j->exec[0] = '\0';
			j->not_before_ms = now + 500;
		}
	}
	jobs = json_array();
	for (int i = 0; i < pl->njobs; i++) {
		struct pool_job *j = &pl->jobs[i];
		if (j->exec[0] != '\0' || j->not_before_ms > now)
			continue;
		if (pool_load(pl, id) >= e->slots || !pool_least_loaded(pl, e, now))
			break;
		snprintf(j->exec, sizeof(j->exec), "%s", id);
		json_array_append_new(jobs, json_pack("{s:s,s:O}", "type", "executor.step.run",
		    "data", j->data));
		jido_info("planner.step_assigned", "{s:s,s:s}", "executor", id, "job", j->job_id);
	}
	*out = json_pack("{s:i,s:o,s:o}", "lease_ms", pl->lease_ms, "jobs", jobs, "cancel",
	    cancel);
	return 0;
}

/* planner.executors.list: the pool as the planner sees it. */
static int
pool_list(struct planner *p, json_t **out)
{
	struct pool *pl = p->pool;
	json_t *ex = json_array(), *queued = json_array();
	int64_t now = jido_now_ms();

	for (int i = 0; pl != NULL && i < pl->nex; i++) {
		json_t *held = json_array();
		for (int k = 0; k < pl->njobs; k++)
			if (strcmp(pl->jobs[k].exec, pl->ex[i].id) == 0)
				json_array_append_new(held, json_string(pl->jobs[k].job_id));
		json_array_append_new(ex, json_pack("{s:s,s:I,s:b,s:i,s:o}", "executor",
		    pl->ex[i].id, "seen_ms_ago", (json_int_t)(now - pl->ex[i].seen_ms), "live",
		    now - pl->ex[i].seen_ms <= pl->lease_ms, "slots", pl->ex[i].slots, "jobs", held));
	}
	for (int k = 0; pl != NULL && k < pl->njobs; k++)
		if (pl->jobs[k].exec[0] == '\0')
			json_array_append_new(queued, json_string(pl->jobs[k].job_id));
	*out = json_pack("{s:b,s:s,s:i,s:o,s:o}", "enabled", pl != NULL, "listen",
	    pl != NULL ? pl->url : "", "lease_ms", pl != NULL ? pl->lease_ms : 0, "executors", ex,
	    "queued", queued);
	return 0;
}

int
pool_handle(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	if (strcmp(req->type, "planner.executors.poll") == 0)
		return pool_poll(p, req->data, out, why, whylen);
	if (strcmp(req->type, "planner.executors.list") == 0)
		return pool_list(p, out);
	return jido_req_unknown(req, why, whylen);
}

/* Steps held by executors that stopped polling: dispatched again, or failed. */
static void
pool_leases(struct planner *p)
{
	struct pool *pl = p->pool;
	int64_t now = jido_now_ms();

	for (int i = 0; i < pl->njobs; i++) {
		struct pool_job *j = &pl->jobs[i];
		struct pool_exec *e;
		char msg[300], key[JIDO_ID_MAX + 16];
		if (j->exec[0] == '\0' || ((e = pool_exec_find(pl, j->exec)) != NULL &&
		    now - e->seen_ms <= pl->lease_ms))
			continue;
		snprintf(msg, sizeof(msg), "executor %s stopped polling while running attempt %d "
		    "(no heartbeat for %d ms)%s", j->exec, j->attempt, pl->lease_ms,
		    j->losses < POOL_LOSS_MAX ? ": dispatched again on another executor" :
		    ": lost on too many executors, not dispatched again");
		jido_warn("planner.executor_lost", "{s:s,s:s,s:i}", "executor", j->exec, "run_id",
		    j->run_id, "seq", j->seq);
		snprintf(key, sizeof(key), "%s:%d", j->run_id, j->seq);
		json_object_set_new(pl->losses, key, json_integer(j->losses + 1));
		char run_id[sizeof(j->run_id)];
		int seq = j->seq, attempt = j->attempt, again = j->losses < POOL_LOSS_MAX;
		memcpy(run_id, j->run_id, sizeof(run_id));
		pool_job_remove(pl, i--);
		run_step_lost(p, run_id, seq, attempt, msg, again);
	}
	/* Forget executors silent for ten leases (they register again when they poll). */
	for (int i = 0; i < pl->nex; i++)
		if (now - pl->ex[i].seen_ms > 10LL * pl->lease_ms && pool_load(pl, pl->ex[i].id) == 0)
			pl->ex[i--] = pl->ex[--pl->nex];
}

/* The refusal (a new reply) of a planner.steps.result that came on the executors'
 * listener for a step the pool does not hold (queued or handed out: after a restart a
 * result may come before its executor's poll claimed the job again), by run_id, seq and
 * attempt; NULL when the pool holds it. Results for any other step (gitops's ship and
 * comment steps, a local executor's) come only on the planner's own socket. Data without
 * those three fields passes, for the handler's typed validation error. */
static json_t *
pool_result_refusal(const struct pool *pl, const struct jido_msg *m)
{
	const char *run_id = json_string_value(json_object_get(m->data, "run_id"));
	json_t *seq = json_object_get(m->data, "seq"), *att = json_object_get(m->data, "attempt");
	char why[256];

	if (run_id == NULL || !json_is_integer(seq) || !json_is_integer(att))
		return NULL;
	for (int i = 0; i < pl->njobs; i++)
		if (strcmp(pl->jobs[i].run_id, run_id) == 0 &&
		    pl->jobs[i].seq == json_integer_value(seq) &&
		    pl->jobs[i].attempt == json_integer_value(att))
			return NULL;
	snprintf(why, sizeof(why), "the executors' listener takes results only for steps in "
	    "the pool; step %lld of run %s (attempt %lld) is not",
	    (long long)json_integer_value(seq), run_id, (long long)json_integer_value(att));
	jido_warn("planner.pool_result_refused", "{s:s,s:O,s:O}", "run_id", run_id, "seq", seq,
	    "attempt", att);
	return jido_reply_err(m->id, JIDO_EAUTHZ, why);
}

/* Serve the executors' listener (what the tick finds waiting), then check leases. */
void
pool_tick(struct planner *p)
{
	struct pool *pl = p->pool;

	if (pl == NULL)
		return;
	for (int n = 0; n < 256; n++) {
		char *buf = NULL, why[256];
		size_t len;
		struct jido_msg m;
		json_t *reply;
		if (jido_bus_recv_flags(pl->rep, &buf, &len, NULL, 1) != 0)
			break;
		if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0)
			reply = jido_reply_err(NULL, JIDO_EVALIDATION, why);
		else {
			if (strcmp(m.type, "planner.steps.result") == 0 &&
			    (reply = pool_result_refusal(pl, &m)) != NULL)
				; /* refused */
			else if (strcmp(m.type, "planner.executors.poll") == 0 ||
			    strcmp(m.type, "planner.steps.result") == 0)
				reply = jido_srv_dispatch(p->srv, buf, len, NULL);
			else {
				snprintf(why, sizeof(why), "the executors' listener takes only "
				    "planner.executors.poll and planner.steps.result, not %s", m.type);
				jido_warn("planner.pool_refused", "{s:s}", "type", m.type);
				reply = jido_reply_err(m.id, JIDO_EAUTHZ, why);
			}
			jido_msg_free(&m);
		}
		free(buf);
		if (jido_bus_send_json(pl->rep, reply) != 0)
			jido_warn("planner.pool_reply_lost", "{}");
		json_decref(reply);
	}
	pool_leases(p);
}
