/*
 * auditor.c - jido-auditor: append-only, tamper-evident audit log with signed checkpoints
 * and proofs. This file holds the process declaration (allowlist: no network, no exec),
 * the one core handler shared by serve and filter modes, and the group-commit queue:
 * synchronous appends from many request contexts wait here while one committer thread
 * writes everything queued with one write + one fdatasync, then wakes them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define AQ_MAX_BATCH 8192
#define AQ_MAX_QUEUE 200000 /* fire-and-forget backlog before the push reader waits */

/* A queued record: sync ones live on the waiting handler's stack. */
struct aq_item {
	struct as_entry e;
	int sync, done;
	struct aq_item *next;
};

struct auditor {
	struct as_store *st;
	int group_commit;
	/* the queue */
	pthread_mutex_t mu;
	pthread_cond_t work, done, space;
	struct aq_item *head, *tail;
	size_t queued;
	int running, stop;
	pthread_t thr;
};

/* Syscalls beyond the base allowlist (lib/seccomp.c): none. No network, no exec.
 * (Sanitizer builds only: LeakSanitizer's exit-time tracer calls open(2), which lib's
 * sanitizer list lacks; without it the tracer dies and the exit check spins forever.) */
static const char *const auditor_allow[] = {
#if defined(__SANITIZE_ADDRESS__)
	"open",
#endif
	NULL
};

/* The committer: take everything queued (one record when group commit is off), commit it
 * as one batch, wake the waiters; tick checkpoints when idle. */
static void *
auditor_committer(void *arg)
{
	struct auditor *a = arg;
	struct as_entry **batch = malloc(AQ_MAX_BATCH * sizeof(*batch));
	struct aq_item **items = malloc(AQ_MAX_BATCH * sizeof(*items));

	if (batch == NULL || items == NULL) {
		free(batch);
		free(items);
		return NULL;
	}
	pthread_mutex_lock(&a->mu);
	for (;;) {
		size_t n = 0;
		while (a->head == NULL && !a->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&a->work, &a->mu, &ts) == ETIMEDOUT) {
				pthread_mutex_unlock(&a->mu);
				as_commit(a->st, NULL, 0); /* a checkpoint when one is due */
				pthread_mutex_lock(&a->mu);
			}
		}
		if (a->head == NULL && a->stop)
			break;
		while (a->head != NULL && n < AQ_MAX_BATCH && (a->group_commit || n == 0)) {
			items[n] = a->head;
			batch[n] = &a->head->e;
			a->head = a->head->next;
			n++;
		}
		if (a->head == NULL)
			a->tail = NULL;
		a->queued -= n;
		pthread_cond_broadcast(&a->space);
		pthread_mutex_unlock(&a->mu);
		as_commit(a->st, batch, n);
		pthread_mutex_lock(&a->mu);
		for (size_t i = 0; i < n; i++) {
			if (items[i]->sync) {
				items[i]->done = 1;
			} else {
				if (items[i]->e.rc != 0)
					jido_error("auditor.async_lost", "{s:s}", "why",
					    jido_strerror(items[i]->e.rc));
				free(items[i]->e.tail);
				json_decref(items[i]->e.prep);
				free(items[i]);
			}
		}
		pthread_cond_broadcast(&a->done);
	}
	pthread_mutex_unlock(&a->mu);
	free(batch);
	free(items);
	return NULL;
}

int
auditor_committer_start(struct jido_srv *s)
{
	struct auditor *a = jido_srv_priv(s);

	if (pthread_create(&a->thr, NULL, auditor_committer, a) != 0)
		return JIDO_EINTERNAL;
	a->running = 1;
	return 0;
}

/* Put an item on the queue (a->mu held). */
static void
auditor_push_locked(struct auditor *a, struct aq_item *it)
{
	it->next = NULL;
	if (a->tail != NULL)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	a->queued++;
	pthread_cond_signal(&a->work);
}

const char *const *
auditor_known(struct jido_srv *s)
{
	struct auditor *a = jido_srv_priv(s);

	return as_known_secrets(a->st);
}

int
auditor_enqueue_async(struct jido_srv *s, char *tail, json_t *prep)
{
	struct auditor *a = jido_srv_priv(s);
	struct aq_item *it = calloc(1, sizeof(*it));

	if (it == NULL) {
		free(tail);
		json_decref(prep);
		return JIDO_EINTERNAL;
	}
	it->e.tail = tail;
	it->e.prep = prep;
	if (!a->running) { /* filter mode: commit inline */
		struct as_entry *e = &it->e;
		int rc = as_commit(a->st, &e, 1);
		free(tail);
		json_decref(prep);
		free(it);
		return rc;
	}
	pthread_mutex_lock(&a->mu);
	while (a->queued >= AQ_MAX_QUEUE && !a->stop)
		pthread_cond_wait(&a->space, &a->mu);
	auditor_push_locked(a, it);
	pthread_mutex_unlock(&a->mu);
	return 0;
}

/* audit.append: validate, redact, then wait until durable. */
static int
auditor_append(struct auditor *a, json_t *data, json_t **out, char *why, size_t whylen)
{
	struct aq_item it;
	char leaf[65];
	int rc;

	memset(&it, 0, sizeof(it));
	if ((rc = ar_prepare(data, as_known_secrets(a->st), &it.e.tail, &it.e.prep, why,
	    whylen)) != 0)
		return rc;
	it.sync = 1;
	if (a->running) {
		pthread_mutex_lock(&a->mu);
		if (a->stop)
			rc = JIDO_EUNAVAIL;
		else {
			auditor_push_locked(a, &it);
			while (!it.done)
				pthread_cond_wait(&a->done, &a->mu);
			rc = it.e.rc;
		}
		pthread_mutex_unlock(&a->mu);
	} else {
		struct as_entry *e = &it.e;
		rc = as_commit(a->st, &e, 1);
	}
	free(it.e.tail);
	json_decref(it.e.prep);
	if (rc != 0) {
		snprintf(why, whylen, "the record could not be made durable");
		return rc;
	}
	am_hex(it.e.leaf, leaf);
	*out = json_pack("{s:I,s:s}", "seq", (json_int_t)it.e.seq, "leaf_hash", leaf);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

static int
auditor_checkpoint_reply(struct auditor *a, json_t **out, char *why, size_t whylen)
{
	struct ar_checkpoint cp;
	json_t *j;
	char *line;
	int rc = as_checkpoint(a->st, 1, &cp);

	if (rc == JIDO_ENOTFOUND) {
		snprintf(why, whylen, "the audit log is empty: no checkpoint yet");
		return rc;
	}
	if (rc != 0) {
		snprintf(why, whylen, "cannot write a checkpoint");
		return rc;
	}
	j = ar_checkpoint_json(&cp);
	line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	*out = json_pack("{s:o,s:s?}", "checkpoint", j, "line", line);
	free(line);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c.
 * Types arrive as auditor.<verb> (auditor_dispatch maps the wire's audit.<verb>). */
static int
auditor_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct auditor *a = jido_srv_priv(s);
	const char *verb = strchr(req->type, '.') + 1;

	if (strcmp(verb, "append") == 0)
		return auditor_append(a, req->data, out, why, whylen);
	if (strcmp(verb, "query") == 0)
		return as_query(a->st, req->data, 0, out, why, whylen);
	if (strcmp(verb, "tail") == 0)
		return as_query(a->st, req->data, 1, out, why, whylen);
	if (strcmp(verb, "export") == 0)
		return as_export(a->st, req->data, out, why, whylen);
	if (strcmp(verb, "inclusion_proof") == 0)
		return as_inclusion(a->st, req->data, out, why, whylen);
	if (strcmp(verb, "consistency_proof") == 0)
		return as_consistency(a->st, req->data, out, why, whylen);
	if (strcmp(verb, "checkpoint") == 0)
		return auditor_checkpoint_reply(a, out, why, whylen);
	if (strcmp(verb, "verify") == 0)
		return as_verify(a->st, req->data, out, why, whylen);
	if (strcmp(verb, "stats") == 0)
		return as_stats(a->st, out);
	return jido_req_unknown(req, why, whylen);
}

static int
auditor_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct auditor *a = jido_srv_priv(s);
	int rc;

	if ((rc = as_open(jido_srv_conf(s), jido_srv_home(s), &a->st, why, whylen)) != 0)
		return rc;
	a->group_commit = jido_conf_bool(jido_srv_conf(s), "auditor.group_commit");
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	pthread_cond_init(&a->space, NULL);
	return 0;
}

/* Stop the committer after it drained the queue, then the final checkpoint and close. */
static void
auditor_close(struct jido_srv *s)
{
	struct auditor *a = jido_srv_priv(s);

	if (a->running) {
		pthread_mutex_lock(&a->mu);
		a->stop = 1;
		pthread_cond_broadcast(&a->work);
		pthread_cond_broadcast(&a->space);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thr, NULL);
		a->running = 0;
	}
	as_close(a->st);
	a->st = NULL;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->done);
	pthread_cond_destroy(&a->space);
}

json_t *
auditor_dispatch(struct jido_srv *s, const void *buf, size_t len, const struct jido_peer *peer)
{
	json_t *j, *t, *reply;
	char *text;

	/* The wire names audit.<verb>; lib routes <proc>.<verb>: rename before dispatch. */
	if (len < 16 || memmem(buf, len, "\"audit.", 7) == NULL)
		return jido_srv_dispatch(s, buf, len, peer);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	t = json_object_get(j, "type");
	if (!json_is_string(t) || strncmp(json_string_value(t), "audit.", 6) != 0) {
		json_decref(j);
		return jido_srv_dispatch(s, buf, len, peer);
	}
	char type[JIDO_TYPE_MAX + 8];
	snprintf(type, sizeof(type), "auditor.%s", json_string_value(t) + 6);
	json_object_set_new(j, "type", json_string(type));
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL)
		return jido_reply_err(NULL, JIDO_EINTERNAL, "out of memory");
	reply = jido_srv_dispatch(s, text, strlen(text), peer);
	free(text);
	return reply;
}

const struct jido_proc auditor_proc = {
	.name = "auditor",
	.summary = "append-only, tamper-evident audit log with signed checkpoints and proofs",
	.pub_topic = NULL,
	.allow = { auditor_allow, 0, 0 },
	.open = auditor_open,
	.handle = auditor_handle,
	.close = auditor_close,
	.priv_size = sizeof(struct auditor),
	.command = auditor_command,
	.command_usage =
	    "  verify FILE [--checkpoint C]  check every hash, the chain, the tree and every\n"
	    "                   signature of an audit log; exit 0 when intact, 1 naming the\n"
	    "                   first bad record\n"
	    "  load [--writers W] [--records N] [--push] [--acks] [--tag T]  load generator\n",
};
