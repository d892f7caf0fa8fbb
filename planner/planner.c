/*
 * planner.c - jido-planner: projects, the issue/PR mirror, workflows, runs and approvals.
 * This file holds the process's declaration (allowlist, publish socket, hooks): open (the
 * database, the workflows, the peers' URLs, the SUB socket on run/events.pub), the tick
 * (drain events in batches, drive runs, time out steps, ack deliveries), and close.
 * The operations are in ops.c; the engine in run.c.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

#define EVENTS_PER_TICK 2000
#define EVENTS_QUEUED_MAX 200000 /* beyond this, drop: ingest re-sends what is not acked */

static void *planner_events_main(void *arg);

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const planner_allow[] = { NULL };

struct planner *
planner_of(struct jido_srv *s)
{
	return jido_srv_priv(s);
}

/* URL of a peer's request socket: socket.<name> from config, else ipc under home/run. */
static int
planner_url(struct jido_srv *s, const char *name, int pub, char *buf, size_t len)
{
	char key[64];
	const char *v;

	snprintf(key, sizeof(key), "socket.%s", name);
	v = jido_conf_str(jido_srv_conf(s), key);
	if (v != NULL && v[0] != '\0') {
		int n = snprintf(buf, len, "%s", v);
		return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
	}
	return pub ? jido_bus_url_pub(jido_srv_home(s), name, buf, len) :
	    jido_bus_url_req(jido_srv_home(s), name, buf, len);
}

static int
planner_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct planner *p = planner_of(s);
	const struct jido_conf *c = jido_srv_conf(s);
	const char *v;
	char path[PATH_MAX + 32], url[PATH_MAX + 16];
	int rc;

	p->srv = s;
	if (jido_mkdirs(jido_srv_home(s), 0700) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create %s", jido_srv_home(s));
	v = jido_conf_str(c, "planner.db");
	if (v != NULL && v[0] != '\0')
		snprintf(path, sizeof(path), "%s", v);
	else
		snprintf(path, sizeof(path), "%s/planner.db", jido_srv_home(s));
	if ((rc = store_open(p, path, why, whylen)) != 0)
		return rc;
	if ((rc = artifacts_open(p, why, whylen)) != 0)
		return rc;
	if ((rc = guard_open(p, why, whylen)) != 0)
		return rc;
	v = jido_conf_str(c, "planner.builtin_workflows");
	if (v != NULL && v[0] != '\0')
		snprintf(p->wf_dirs[0], sizeof(p->wf_dirs[0]), "%s", v);
	else
		wf_builtin_dir(p->wf_dirs[0], sizeof(p->wf_dirs[0]));
	v = jido_conf_str(c, "planner.workflows_dir");
	if (v != NULL && v[0] != '\0')
		snprintf(p->wf_dirs[1], sizeof(p->wf_dirs[1]), "%s", v);
	else
		snprintf(p->wf_dirs[1], sizeof(p->wf_dirs[1]), "%s/workflows", jido_srv_home(s));
	if (planner_workflows_reload(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot load workflows");
	if (planner_url(s, "executor", 0, p->url_executor, sizeof(p->url_executor)) != 0 ||
	    planner_url(s, "gitops", 0, p->url_gitops, sizeof(p->url_gitops)) != 0 ||
	    planner_url(s, "auditor", 0, p->url_auditor, sizeof(p->url_auditor)) != 0 ||
	    planner_url(s, "ingest", 0, p->url_ingest, sizeof(p->url_ingest)) != 0 ||
	    planner_url(s, "events", 1, url, sizeof(url)) != 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "a socket URL is too long");
	if ((rc = pool_open(p, why, whylen)) != 0)
		return rc;
	p->call_timeout_ms = (int)jido_conf_int(c, "planner.call_timeout_ms");
	p->max_running_agents = (int)jido_conf_int(c, "planner.max_running_agents");
	/* The events subscription: dialled now (before seccomp) and read by a thread into
	 * ev_queue as fast as they come (a PUB socket drops what a subscriber does not
	 * take); the tick processes the queue in batches. The thread starts in the first
	 * tick, after the allowlist is installed, so that it runs under it (a filter loaded
	 * without TSYNC does not cover threads started before it). */
	pthread_mutex_init(&p->ev_mu, NULL);
	p->ev_queue = json_array();
	if (jido_bus_open(JIDO_BUS_SUB, url, 0, 0, NULL, &p->events) == 0) {
		jido_bus_subscribe(p->events, "");
		jido_bus_set_timeouts(p->events, 200, 200);
	} else
		p->events = NULL;
	p->dirty = 1;
	jido_info("planner.opened", "{s:s,s:i,s:i}", "db", path, "workflows", p->wf.n,
	    "workflow_errors", (int)json_array_size(p->wf.errors));
	return 0;
}

/* The events reader thread: receive, parse, queue. Owns nothing but what it queues. */
static void *
planner_events_main(void *arg)
{
	struct planner *p = arg;

	while (!p->ev_stop) {
		char *buf = NULL, why[256];
		size_t len;
		struct jido_msg m;
		if (jido_bus_recv(p->events, &buf, &len, NULL) != 0)
			continue;
		if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0) {
			jido_warn("planner.bad_event", "{s:s}", "why", why);
			free(buf);
			continue;
		}
		free(buf);
		if (strncmp(m.type, "events.", 7) == 0 && strcmp(m.type, "events.heartbeat") != 0) {
			json_t *e = json_pack("{s:s,s:O}", "type", m.type, "data", m.data);
			pthread_mutex_lock(&p->ev_mu);
			if (json_array_size(p->ev_queue) < EVENTS_QUEUED_MAX)
				json_array_append_new(p->ev_queue, e);
			else {
				p->ev_dropped++;
				json_decref(e);
			}
			pthread_mutex_unlock(&p->ev_mu);
		}
		jido_msg_free(&m);
	}
	return NULL;
}

/* Process what the reader queued, EVENTS_PER_TICK per transaction. */
static void
planner_drain_events(struct planner *p)
{
	json_t *q, *batch;
	size_t i, n;

	pthread_mutex_lock(&p->ev_mu);
	q = p->ev_queue;
	p->ev_queue = json_array();
	pthread_mutex_unlock(&p->ev_mu);
	n = json_array_size(q);
	for (i = 0; i < n; i += EVENTS_PER_TICK) {
		batch = json_array();
		for (size_t k = i; k < n && k < i + EVENTS_PER_TICK; k++)
			json_array_append(batch, json_array_get(q, k));
		if (trigger_event_batch(p, batch) < 0)
			jido_error("planner.events_failed", "{s:i}", "count",
			    (int)json_array_size(batch));
		json_decref(batch);
	}
	json_decref(q);
}

static void
planner_tick(struct jido_srv *s)
{
	struct planner *p = planner_of(s);

	if (p->events != NULL && !p->ev_started &&
	    pthread_create(&p->ev_thread, NULL, planner_events_main, p) == 0)
		p->ev_started = 1;
	/* Running steps are re-sent (same job id) after a start and then every 10 s: a
	 * receiver that restarted and lost the job starts it again, one that has it answers
	 * duplicate, so a kill -9 of the executor or gitops does not leave a step waiting
	 * for its deadline. */
	if (!p->recovered || jido_now_ms() - p->resent_ms >= 10000)
		run_recover(p);
	planner_drain_events(p);
	pool_tick(p);
	run_timeouts(p);
	run_drive(p);
	trigger_ack_tick(p);
	artifacts_tick(p);
	guard_announce(p);
}

static void
planner_close(struct jido_srv *s)
{
	struct planner *p = planner_of(s);

	if (p->ev_started) {
		p->ev_stop = 1;
		pthread_join(p->ev_thread, NULL);
	}
	jido_bus_close(p->events);
	pool_close(p);
	json_decref(p->ev_queue);
	json_decref(p->wb_cache);
	pthread_mutex_destroy(&p->ev_mu);
	wf_set_free(&p->wf);
	for (int i = 0; i < p->npinned; i++)
		workflow_free(p->pinned[i]);
	free(p->pinned);
	if (p->db != NULL)
		sqlite3_close(p->db);
	p->db = NULL;
	artifacts_close(p);
}

static int
planner_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	return planner_ops_handle(s, req, out, why, whylen);
}

const struct jido_proc planner_proc = {
	.name = "planner",
	.summary = "projects, the issue/PR mirror, workflows, runs and approvals",
	.pub_topic = "runs",
	.allow = { planner_allow, 0, 0 },
	.open = planner_open,
	.handle = planner_handle,
	.tick = planner_tick,
	.close = planner_close,
	.priv_size = sizeof(struct planner),
	.command = planner_plan_command,
	.command_usage = "  plan --workflow W [--dir D] [--dry-run]\n"
	    "                   print the run plan for the event on stdin (or why none)\n",
};
