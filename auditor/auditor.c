/*
 * auditor.c - jido-auditor: append-only, tamper-evident audit log with signed checkpoints
 * and proofs. This file holds the process declaration (allowlist: no network, no exec),
 * the one core handler shared by serve and filter modes, and the group-commit queue:
 * synchronous appends from many request contexts wait here while one committer thread
 * writes everything queued with one write + one fdatasync, then wakes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"

#define AQ_MAX_BATCH 8192
#define AQ_MAX_QUEUE 32768 /* fire-and-forget backlog (records) before the push reader waits */

int
auditor_client_valid(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;

	if (n == 0 || n > AQ_CLIENT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '_' || id[i] == '-'))
			return 0;
	return 1;
}

/* Where one pushing process's numbered batches stand (audit.flush answers from it):
 * every batch from `base` to `seen` arrived in order, those up to `durable` are on disk,
 * `bad` is the last one that was rejected or could not be written. */
#define AQ_CLIENTS 256
struct aq_client {
	char id[AQ_CLIENT_MAX + 1];
	uint64_t base, seen, durable, bad;
	int64_t used;
};

struct aq_mark {
	char client[AQ_CLIENT_MAX + 1];
	uint64_t batch;
	int rejected;
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
	struct aq_client clients[AQ_CLIENTS]; /* under mu */
	int64_t ticks;
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

/* The client slot for id (a->mu held); NULL when absent and !create. Creating evicts the
 * least recently used slot. */
static struct aq_client *
auditor_client_locked(struct auditor *a, const char *id, int create)
{
	struct aq_client *c = NULL, *old = &a->clients[0];

	for (int i = 0; i < AQ_CLIENTS; i++) {
		if (a->clients[i].id[0] != '\0' && strcmp(a->clients[i].id, id) == 0) {
			c = &a->clients[i];
			break;
		}
		if (a->clients[i].used < old->used)
			old = &a->clients[i];
	}
	if (c == NULL && create) {
		c = old;
		memset(c, 0, sizeof(*c));
		snprintf(c->id, sizeof(c->id), "%s", id);
	}
	if (c != NULL)
		c->used = ++a->ticks;
	return c;
}

/* A pushed batch's progress after its commit (a->mu held). */
static void
auditor_mark_locked(struct auditor *a, const struct aq_mark *m, int rc)
{
	struct aq_client *c = auditor_client_locked(a, m->client, 0);

	if (c == NULL)
		return;
	if (m->batch > c->durable)
		c->durable = m->batch;
	if (m->rejected || rc != 0)
		c->bad = m->batch;
}

/* One group on its way: the items taken from the queue, and the committer's own copies
 * of their entries (tail/fields moved there, so an answered item can be reused while its
 * record is still being indexed). */
struct aq_group {
	struct auditor *a;
	struct aq_item **items;
	size_t n;
	struct as_entry *ents;
	struct as_entry **eptr;
	size_t *owner; /* ents[k] belongs to items[owner[k]] */
	size_t ne;
};

/* Answer a group whose entries are final: flags for blocked waiters, progress marks for
 * pushed batches, complete() for request contexts (outside a->mu); frees pushed items.
 * Runs under the store's lock when called from as_commit_cb (before indexing). */
static void
auditor_answer(void *arg)
{
	struct aq_group *g = arg;
	struct auditor *a = g->a;
	size_t nc = 0;

	for (size_t k = 0; k < g->ne; k++) {
		struct aq_item *it = g->items[g->owner[k]];
		it->e.rc = g->ents[k].rc;
		it->e.seq = g->ents[k].seq;
		memcpy(it->e.leaf, g->ents[k].leaf, AM_HASH);
	}
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < g->n; i++) {
		struct aq_item *it = g->items[i];
		if (it->mark != NULL) {
			auditor_mark_locked(a, it->mark, it->e.rc);
			free(it->mark);
			it->mark = NULL;
		}
		if (it->sync && it->complete == NULL)
			it->done = 1;
		else if (it->complete != NULL)
			g->items[nc++] = it; /* answered below, outside the lock */
		else {
			if (it->e.rc != 0)
				jido_error("auditor.async_lost", "{s:s}", "why", jido_strerror(it->e.rc));
			free(it);
		}
	}
	pthread_cond_broadcast(&a->done);
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < nc; i++)
		g->items[i]->complete(g->items[i]->arg, &g->items[i]->e);
	g->n = 0;
}

/* The committer: take everything queued (one record when group commit is off), commit it
 * as one write + fdatasync and answer it as soon as it is durable (the indexer thread
 * indexes it); ticks checkpoints when idle. */
static void *
auditor_committer(void *arg)
{
	struct auditor *a = arg;
	struct aq_group g = { .a = a, .items = malloc(AQ_MAX_BATCH * sizeof(*g.items)),
		.ents = malloc(AQ_MAX_BATCH * sizeof(*g.ents)),
		.eptr = malloc(AQ_MAX_BATCH * sizeof(*g.eptr)),
		.owner = malloc(AQ_MAX_BATCH * sizeof(*g.owner)) };

	if (g.items == NULL || g.ents == NULL || g.eptr == NULL || g.owner == NULL) {
		free(g.items);
		free(g.ents);
		free(g.eptr);
		free(g.owner);
		return NULL;
	}
	pthread_mutex_lock(&a->mu);
	for (;;) {
		g.n = g.ne = 0;
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
		while (a->head != NULL && g.n < AQ_MAX_BATCH && (a->group_commit || g.ne == 0)) {
			struct aq_item *it = a->head;
			if (it->e.tail != NULL) {
				g.ents[g.ne] = it->e;
				g.eptr[g.ne] = &g.ents[g.ne];
				g.owner[g.ne++] = g.n;
				it->e.tail = NULL;
				it->e.fields = NULL;
			}
			g.items[g.n++] = it;
			a->head = it->next;
		}
		if (a->head == NULL)
			a->tail = NULL;
		a->queued -= g.n;
		pthread_cond_broadcast(&a->space);
		pthread_mutex_unlock(&a->mu);
		if (g.ne > 0)
			as_commit_cb(a->st, g.eptr, g.ne, auditor_answer, &g);
		if (g.n > 0) /* only markers, or the store answered nothing */
			auditor_answer(&g);
		for (size_t k = 0; k < g.ne; k++) {
			free(g.ents[k].tail);
			free(g.ents[k].fields);
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	free(g.items);
	free(g.ents);
	free(g.eptr);
	free(g.owner);
	return NULL;
}

int
auditor_committer_start(struct jido_srv *s)
{
	struct auditor *a = jido_srv_priv(s);

	if (as_indexer_start(a->st) != 0 ||
	    pthread_create(&a->thr, NULL, auditor_committer, a) != 0)
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
auditor_enqueue_push(struct jido_srv *s, const char *client, uint64_t batch, char **tails,
    char **fields, size_t n, int rejected)
{
	struct auditor *a = jido_srv_priv(s);
	struct aq_item **its = calloc(n + 1, sizeof(*its));
	struct aq_mark *mark = client != NULL ? calloc(1, sizeof(*mark)) : NULL;
	size_t nit = n > 0 ? n : client != NULL ? 1 : 0;
	int rc = 0;

	for (size_t i = 0; its != NULL && i < nit; i++)
		if ((its[i] = calloc(1, sizeof(**its))) == NULL)
			rc = JIDO_EINTERNAL;
	if (its == NULL || (client != NULL && mark == NULL))
		rc = JIDO_EINTERNAL;
	if (rc != 0 || !a->running) {
		/* filter mode (no committer): commit inline; no progress to keep */
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct as_entry e = { tails[i], fields[i], 0, 0, { 0 } }, *ep = &e;
			rc = as_commit(a->st, &ep, 1);
		}
		for (size_t i = 0; i < n; i++) {
			free(tails[i]);
			free(fields[i]);
		}
		for (size_t i = 0; its != NULL && i < nit; i++)
			free(its[i]);
		free(its);
		free(mark);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		its[i]->e.tail = tails[i];
		its[i]->e.fields = fields[i];
	}
	pthread_mutex_lock(&a->mu);
	while (a->queued >= AQ_MAX_QUEUE && !a->stop)
		pthread_cond_wait(&a->space, &a->mu);
	if (client != NULL) {
		/* arrival order is queue order: a gap (a lost batch) restarts the run */
		struct aq_client *c = auditor_client_locked(a, client, 1);
		if (c->seen == 0 || batch != c->seen + 1)
			c->base = batch;
		c->seen = batch;
		snprintf(mark->client, sizeof(mark->client), "%s", client);
		mark->batch = batch;
		mark->rejected = rejected;
		its[nit - 1]->mark = mark;
	}
	for (size_t i = 0; i < nit; i++)
		auditor_push_locked(a, its[i]);
	pthread_mutex_unlock(&a->mu);
	free(its);
	return 0;
}

int
auditor_enqueue_async(struct jido_srv *s, char *tail, char *fields)
{
	return auditor_enqueue_push(s, NULL, 0, &tail, &fields, 1, 0);
}

int
auditor_enqueue_sync(struct jido_srv *s, struct aq_item *it)
{
	return auditor_enqueue_sync_n(s, &it, 1);
}

int
auditor_enqueue_sync_n(struct jido_srv *s, struct aq_item **its, size_t n)
{
	struct auditor *a = jido_srv_priv(s);
	int rc = 0;

	pthread_mutex_lock(&a->mu);
	if (!a->running || a->stop)
		rc = JIDO_EUNAVAIL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		its[i]->sync = 1;
		its[i]->done = 0;
		its[i]->mark = NULL;
		auditor_push_locked(a, its[i]);
	}
	pthread_mutex_unlock(&a->mu);
	return rc;
}

int
auditor_commit_inline(struct jido_srv *s, struct as_entry *e)
{
	struct auditor *a = jido_srv_priv(s);

	return as_commit(a->st, &e, 1);
}

/*
 * When the request being handled on this thread arrived (auditor_dispatch_at): an
 * audit.flush waits until three quarters of bus.timeout_ms after it, the timeout its
 * callers (`jido call`, jido_audit_flush) give the whole call, whether it waited in the
 * pool's queue first or not. So the answer (`timeout`, "did not all arrive in time")
 * reaches the caller while it still waits. With the flush waiting bus.timeout_ms from
 * when a pool thread took it, the reply landed the very moment the caller's equal
 * timeout ran out and it closed its REQ socket, and nng 1.5.2 (Debian bookworm's) loses
 * a message that is half read when its connection closes: the pipe's receive is never
 * finished, nng_close waits for it forever and nng's one reaper thread with it (nng
 * issue #1813, fixed in nng 1.8.0; see jido_bus_close).
 */
static _Thread_local int64_t auditor_arrived_ms;

static int64_t
auditor_flush_deadline(const struct jido_conf *conf)
{
	int64_t t = jido_conf_int(conf, "bus.timeout_ms");

	return auditor_arrived_ms + (t > 0 ? t - t / 4 : 0);
}

/* audit.flush {client, from, to}: wait (at most until auditor_flush_deadline) until the
 * pushed batches from..to of that client are durable; fail when one was rejected or
 * lost. Blocks (a pool thread). */
static int
auditor_flush(struct auditor *a, const struct jido_conf *conf, json_t *data, json_t **out,
    char *why, size_t whylen)
{
	const char *id = json_string_value(json_object_get(data, "client"));
	json_t *jf = json_object_get(data, "from"), *jt = json_object_get(data, "to");
	int64_t deadline = auditor_flush_deadline(conf);
	struct aq_client *c = NULL;
	uint64_t from, to;
	int rc = 0;

	if (json_object_size(data) != 3 || !auditor_client_valid(id) || !json_is_integer(jf) ||
	    !json_is_integer(jt) || json_integer_value(jf) < 1 ||
	    json_integer_value(jt) < json_integer_value(jf)) {
		snprintf(why, whylen, "data must be {client: id of 1 to %d of [A-Za-z0-9_-], from, "
		    "to: batch numbers with 1 <= from <= to}", AQ_CLIENT_MAX);
		return JIDO_EVALIDATION;
	}
	if (!a->running) {
		snprintf(why, whylen, "audit.flush needs the daemon (pushed batches)");
		return JIDO_EVALIDATION;
	}
	from = (uint64_t)json_integer_value(jf);
	to = (uint64_t)json_integer_value(jt);
	pthread_mutex_lock(&a->mu);
	for (;;) {
		c = auditor_client_locked(a, id, 0);
		if (c != NULL && c->durable >= to)
			break;
		int64_t left = deadline - jido_now_ms();
		if (left <= 0 || a->stop) {
			rc = JIDO_ETIMEOUT;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		left = left > 100 ? 100 : left;
		ts.tv_nsec += left * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&a->done, &a->mu, &ts);
	}
	if (rc == 0 && c->base > from)
		rc = JIDO_EUNAVAIL;
	else if (rc == 0 && c->bad >= from)
		rc = JIDO_EVALIDATION;
	pthread_mutex_unlock(&a->mu);
	if (rc == JIDO_ETIMEOUT)
		snprintf(why, whylen, "pushed batches up to %" PRIu64 " did not all arrive in time",
		    to);
	else if (rc == JIDO_EUNAVAIL)
		snprintf(why, whylen, "pushed batches before %" PRIu64 " were lost in transit", to);
	else if (rc == JIDO_EVALIDATION)
		snprintf(why, whylen, "a pushed batch was rejected or not written (see the "
		    "auditor's log)");
	else
		*out = json_pack("{s:I}", "durable", (json_int_t)to);
	return rc == 0 && *out == NULL ? JIDO_EINTERNAL : rc;
}

/* audit.append_many in the handler (filter mode, or a daemon caller of auditor_dispatch):
 * prepare, then wait until every written record is durable. */
struct aq_many_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

static void
auditor_many_woken(void *arg, struct aq_many *m)
{
	struct aq_many_wait *w = arg;

	(void)m;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int
auditor_append_many(struct jido_srv *s, json_t *data, json_t **out, char *why, size_t whylen)
{
	struct auditor *a = jido_srv_priv(s);
	struct aq_many_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	struct aq_many *m;
	int rc;

	if ((rc = auditor_many_new(s, data, &m, why, whylen)) != 0)
		return rc;
	if (!a->running)
		auditor_many_commit_inline(s, m);
	else if ((rc = auditor_many_enqueue(s, m, auditor_many_woken, &w)) == 0) {
		pthread_mutex_lock(&w.mu);
		while (!w.done)
			pthread_cond_wait(&w.cv, &w.mu);
		pthread_mutex_unlock(&w.mu);
	}
	if (rc == 0 && (*out = auditor_many_data(m)) == NULL)
		rc = JIDO_EINTERNAL;
	auditor_many_free(m);
	if (rc != 0)
		snprintf(why, whylen, rc == JIDO_EUNAVAIL ? "the auditor is stopping" :
		    "out of memory");
	return rc;
}

/* audit.append: validate, redact, then wait until durable. */
static int
auditor_append(struct auditor *a, json_t *data, json_t **out, char *why, size_t whylen)
{
	struct aq_item it;
	char leaf[65];
	int rc;

	memset(&it, 0, sizeof(it));
	if ((rc = ar_prepare(data, as_known_secrets(a->st), &it.e.tail, &it.e.fields, why,
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
	free(it.e.fields);
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
	if (strcmp(verb, "append_many") == 0)
		return auditor_append_many(s, req->data, out, why, whylen);
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
	if (strcmp(verb, "flush") == 0)
		return auditor_flush(a, jido_srv_conf(s), req->data, out, why, whylen);
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
	return auditor_dispatch_at(s, buf, len, peer, jido_now_ms());
}

json_t *
auditor_dispatch_at(struct jido_srv *s, const void *buf, size_t len, const struct jido_peer *peer,
    int64_t arrived_ms)
{
	json_t *j, *t, *reply;
	char *text;

	auditor_arrived_ms = arrived_ms; /* for auditor_flush, which runs on this thread */
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
