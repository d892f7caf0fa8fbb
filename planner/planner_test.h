/*
 * planner_test.h - helpers shared by the planner's cmocka tests (header-only so the
 * binary does not carry them): a planner on a temporary state directory with its real
 * handler, a fake peer thread that plays executor, gitops and auditor on ipc sockets
 * (accepts every job, confirms every audit record unless told to be down), and a
 * request helper that goes through jido_srv_dispatch like serve and filter do.
 */
#ifndef PLANNER_TEST_H
#define PLANNER_TEST_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "planner.h"

extern const struct jido_proc planner_proc;

struct pt {
	char home[64];
	struct jido_conf *conf;
	struct jido_srv *srv;
	struct planner *p;
	pthread_t peer;
	struct jido_bus *rep;
	volatile int stop;
	volatile int audit_down; /* answer audit.append with an error */
	volatile int jobs;       /* jobs accepted */
	volatile int audits;     /* audit records confirmed */
	volatile int exec_silent; /* take executor.step.run without answering (a hung executor) */
	volatile int unanswered;  /* the executor.step.run requests taken so */
};

/* The fake peer: one REP socket that all three URLs point at. */
static void *
pt_peer_main(void *arg)
{
	struct pt *t = arg;

	while (!t->stop) {
		char *buf = NULL;
		size_t len;
		struct jido_msg m;
		char why[128];
		json_t *reply;
		if (jido_bus_recv(t->rep, &buf, &len, NULL) != 0)
			continue;
		if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0) {
			free(buf);
			continue;
		}
		free(buf);
		if (t->exec_silent && strcmp(m.type, "executor.step.run") == 0) {
			t->unanswered++; /* REP: the next receive drops this request's reply */
			jido_msg_free(&m);
			continue;
		}
		if (strcmp(m.type, "audit.append") == 0) {
			if (t->audit_down)
				reply = jido_reply_err(m.id, JIDO_EUNAVAIL, "down");
			else
				reply = jido_reply_ok(m.id, json_pack("{s:i}", "seq", ++t->audits));
		} else {
			t->jobs++;
			reply = jido_reply_ok(m.id, json_pack("{s:b}", "accepted", 1));
		}
		jido_bus_send_json(t->rep, reply);
		json_decref(reply);
		jido_msg_free(&m);
	}
	return NULL;
}

/* Start a planner in a fresh directory with the fake peer. */
static void
pt_start(struct pt *t)
{
	char why[512], url[128], db[96];

	memset(t, 0, sizeof(*t));
	snprintf(t->home, sizeof(t->home), "/tmp/jido-pt.XXXXXX");
	if (mkdtemp(t->home) == NULL)
		abort();
	snprintf(url, sizeof(url), "ipc://%s/peer.sock", t->home);
	if (jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &t->rep) != 0)
		abort();
	jido_bus_set_timeouts(t->rep, 100, 1000);
	setenv("JIDO_HOME", t->home, 1);
	setenv("JIDO_SOCKET_EXECUTOR", url, 1);
	setenv("JIDO_SOCKET_GITOPS", url, 1);
	setenv("JIDO_SOCKET_AUDITOR", url, 1);
	snprintf(db, sizeof(db), "ipc://%s/none.sock", t->home);
	setenv("JIDO_SOCKET_INGEST", db, 1);
	setenv("JIDO_LOG_LEVEL", "error", 1);
	if (jido_conf_load(NULL, &t->conf, why, sizeof(why)) != 0 ||
	    jido_srv_new(&planner_proc, t->conf, &t->srv, why, sizeof(why)) != 0) {
		fprintf(stderr, "pt_start: %s\n", why);
		abort();
	}
	jido_log_set_level(JIDO_LOG_ERROR);
	t->p = planner_of(t->srv);
	sqlite3_exec(t->p->db, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	pthread_create(&t->peer, NULL, pt_peer_main, t);
}

static void
pt_stop(struct pt *t)
{
	char cmd[128];

	t->stop = 1;
	pthread_join(t->peer, NULL);
	jido_bus_close(t->rep);
	jido_srv_free(t->srv);
	jido_conf_free(t->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->home);
	if (system(cmd) != 0)
		fprintf(stderr, "pt_stop: cannot remove %s\n", t->home);
}

/* Send one request; returns the error code (0 ok) and *data (new ref, may be NULL). */
static int
pt_call(struct pt *t, const char *type, json_t *data, json_t **out)
{
	json_t *m = jido_msg_new(type, NULL, NULL, data), *reply;
	char *text = jido_json_dump(m);
	int rc = 0;

	reply = jido_srv_dispatch(t->srv, text, strlen(text), NULL);
	free(text);
	json_decref(m);
	if (json_is_true(json_object_get(reply, "ok"))) {
		if (out)
			*out = json_incref(json_object_get(reply, "data"));
	} else {
		rc = jido_err_from_name(json_string_value(json_object_get(json_object_get(reply,
		    "error"), "code")));
		if (out)
			*out = json_incref(json_object_get(reply, "error"));
	}
	json_decref(reply);
	return rc;
}

/* A run's JSON with steps (new reference) via planner.runs.get. */
static json_t *
pt_run(struct pt *t, const char *id)
{
	json_t *out = NULL;

	if (pt_call(t, "planner.runs.get", json_pack("{s:s}", "run_id", id), &out) != 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static __attribute__((unused)) const char *
pt_state(struct pt *t, const char *id, char *buf, size_t len)
{
	json_t *r = pt_run(t, id);

	snprintf(buf, len, "%s", r ? json_string_value(json_object_get(r, "state")) : "?");
	json_decref(r);
	return buf;
}

/* Report the current step (seq, attempt, state) of a run. */
static __attribute__((unused)) void
pt_cur_step(struct pt *t, const char *id, int *seq, int *attempt, char *state, size_t len)
{
	json_t *r = pt_run(t, id), *steps = json_object_get(r, "steps");
	json_t *last = json_array_get(steps, json_array_size(steps) - 1);

	*seq = (int)json_integer_value(json_object_get(last, "seq"));
	*attempt = (int)json_integer_value(json_object_get(last, "attempt"));
	snprintf(state, len, "%s", last ? json_string_value(json_object_get(last, "state")) : "");
	json_decref(r);
}

#endif
