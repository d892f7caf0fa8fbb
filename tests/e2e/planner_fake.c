/*
 * planner_fake.c - a test peer for tests/e2e/planner.sh, built by that script against
 * libjido: it listens on one REP socket and plays the executor (executor.step.run,
 * executor.step.cancel), gitops (gitops.ship, gitops.comment) and the auditor
 * (audit.append) for the planner. Jobs are accepted at once and their results posted back
 * with planner.steps.result from a second thread after FAKE_DELAY_MS, retrying while the
 * planner is down (so a planner killed mid-run finds its results waiting). Every request
 * is printed as one line "<type> <job_id>" on stdout. While the file FAKE_HOLD_FILE
 * exists, results are held back (so a test can have many runs in flight at once).
 *   planner_fake LISTEN_URL PLANNER_URL
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jido.h"

struct job {
	json_t *result; /* the planner.steps.result data */
	struct job *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct job *head, *tail;
static const char *planner_url;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The poster: one result at a time, retried until the planner answers. */
static void *
poster(void *arg)
{
	int delay = getenv("FAKE_DELAY_MS") ? atoi(getenv("FAKE_DELAY_MS")) : 20;

	(void)arg;
	while (!stop) {
		struct job *j;
		pthread_mutex_lock(&mu);
		while (head == NULL && !stop)
			pthread_cond_wait(&cv, &mu);
		j = head;
		if (j != NULL && (head = j->next) == NULL)
			tail = NULL;
		pthread_mutex_unlock(&mu);
		if (j == NULL)
			break;
		usleep((useconds_t)delay * 1000);
		while (getenv("FAKE_HOLD_FILE") && access(getenv("FAKE_HOLD_FILE"), F_OK) == 0 && !stop)
			usleep(20000);
		for (int tries = 0; tries < 600 && !stop; tries++) {
			struct jido_reply r;
			if (jido_bus_call(planner_url, "planner.steps.result", NULL,
			    json_incref(j->result), 2000, &r) == 0) {
				printf("posted %s %s\n", json_string_value(json_object_get(j->result,
				    "run_id")), r.ok ? "ok" : r.message);
				fflush(stdout);
				jido_reply_free(&r);
				break;
			}
			usleep(100000);
		}
		json_decref(j->result);
		free(j);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct jido_bus *rep;
	pthread_t th;
	int seq = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: planner_fake LISTEN_URL PLANNER_URL\n");
		return 2;
	}
	planner_url = argv[2];
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	jido_log_init("fake");
	if (jido_bus_open(JIDO_BUS_REP, argv[1], 1, 0600, NULL, &rep) != 0) {
		fprintf(stderr, "planner_fake: cannot listen on %s\n", argv[1]);
		return 111;
	}
	jido_bus_set_timeouts(rep, 200, 2000);
	pthread_create(&th, NULL, poster, NULL);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		char *buf = NULL, why[256];
		size_t len;
		struct jido_msg m;
		json_t *reply;
		if (jido_bus_recv(rep, &buf, &len, NULL) != 0)
			continue;
		if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0) {
			free(buf);
			continue;
		}
		free(buf);
		printf("%s %s\n", m.type, json_string_value(json_object_get(m.data, "job_id")) ?
		    json_string_value(json_object_get(m.data, "job_id")) : "-");
		fflush(stdout);
		if (strcmp(m.type, "audit.append") == 0) {
			reply = jido_reply_ok(m.id, json_pack("{s:i}", "seq", ++seq));
		} else if (strcmp(m.type, "executor.step.run") == 0 ||
		    strcmp(m.type, "gitops.ship") == 0 || strcmp(m.type, "gitops.comment") == 0) {
			struct job *j = calloc(1, sizeof(*j));
			j->result = json_pack("{s:O,s:O,s:O,s:s,s:{s:s,s:s},s:{s:f}}", "run_id",
			    json_object_get(m.data, "run_id"), "seq", json_object_get(m.data, "seq"),
			    "attempt", json_object_get(m.data, "attempt"), "status", "done", "result",
			    "output", "fake output", "kind", json_string_value(json_object_get(m.data,
			    "kind")), "usage", "cost_usd", 0.01);
			pthread_mutex_lock(&mu);
			if (tail)
				tail->next = j;
			else
				head = j;
			tail = j;
			pthread_cond_signal(&cv);
			pthread_mutex_unlock(&mu);
			reply = jido_reply_ok(m.id, json_pack("{s:b}", "accepted", 1));
		} else
			reply = jido_reply_ok(m.id, NULL);
		jido_bus_send_json(rep, reply);
		json_decref(reply);
		jido_msg_free(&m);
	}
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
	jido_bus_close(rep);
	return 0;
}
