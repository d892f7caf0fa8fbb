/*
 * audit_client.c - how any process writes an audit record: jido_audit_append sends the
 * wire's audit.append either synchronously to the auditor's request socket (answered only
 * once the record is durable) or fire-and-forget to its PULL socket run/auditor.push.
 * Both sockets are opened once per process and shared by its threads. Fire-and-forget
 * records are buffered and pushed as numbered audit.append_batch messages (at most
 * AUDIT_BATCH_RECORDS records or AUDIT_BATCH_MS old, by a flusher thread); jido_audit_flush
 * asks the auditor (audit.flush) whether every batch since the last flush is durable.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>

#include "jido.h"

#define AUDIT_PUSH_BUF 64         /* batches queued in this process before a send waits */
#define AUDIT_BATCH_RECORDS 256   /* records per pushed batch (<= JIDO_AUDIT_BATCH_MAX) */
#define AUDIT_BATCH_MS 5          /* the oldest buffered record waits at most this long */

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
static nng_socket audit_push;
static int audit_push_open;
static char audit_push_url[PATH_MAX + 16];

/* Open the fire-and-forget socket (audit_mu held): a PUSH dialer that reconnects in the
 * background, with a send queue so callers do not wait for each record's delivery. */
static int
audit_push_dial(const char *url)
{
	int rv;

	if ((rv = nng_push0_open(&audit_push)) != 0)
		return JIDO_EINTERNAL;
	nng_socket_set_int(audit_push, NNG_OPT_SENDBUF, AUDIT_PUSH_BUF);
	nng_socket_set_ms(audit_push, NNG_OPT_SENDTIMEO, 1000);
	if ((rv = nng_dial(audit_push, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		nng_close(audit_push);
		return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? JIDO_EVALIDATION : JIDO_EUNAVAIL;
	}
	snprintf(audit_push_url, sizeof(audit_push_url), "%s", url);
	audit_push_open = 1;
	return 0;
}

/* URL from config key, else ipc://home/run/<file>. */
static int
audit_url(const struct jido_conf *c, const char *home, const char *key, const char *file,
    char *buf, size_t len)
{
	const char *v = jido_conf_str(c, key);
	int n = v != NULL && v[0] != '\0' ? snprintf(buf, len, "%s", v) :
	    snprintf(buf, len, "ipc://%s/run/%s", home, file);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

/* The synchronous path: one REQ socket per process, dialled once (the auditor's absence
 * is then a fast JIDO_EUNAVAIL), and a context per call so concurrent callers share it and
 * the auditor can commit them together. Requests are never resent: an append whose reply
 * was lost is reported as failed, never written twice by the transport. */
static nng_socket audit_req;
static int audit_req_open;
static char audit_req_url[PATH_MAX + 16];

static int
audit_req_get(const char *url)
{
	int rv;

	if (audit_req_open && strcmp(audit_req_url, url) == 0)
		return 0;
	if (audit_req_open) {
		nng_close(audit_req);
		audit_req_open = 0;
	}
	if ((rv = nng_req0_open(&audit_req)) != 0)
		return JIDO_EINTERNAL;
	nng_socket_set_ms(audit_req, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if ((rv = nng_dial(audit_req, url, NULL, 0)) != 0) {
		nng_close(audit_req);
		return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? JIDO_EVALIDATION : JIDO_EUNAVAIL;
	}
	snprintf(audit_req_url, sizeof(audit_req_url), "%s", url);
	audit_req_open = 1;
	return 0;
}

/* One request/reply on a fresh context of the shared socket; *r on 0. */
static int
audit_req_call(const char *text, const char *id, int timeout_ms, struct jido_reply *r)
{
	nng_ctx ctx;
	nng_aio *aio;
	nng_msg *msg;
	char why[128];
	int rv, rc = 0;

	if (nng_ctx_open(&ctx, audit_req) != 0)
		return JIDO_EINTERNAL;
	if (nng_aio_alloc(&aio, NULL, NULL) != 0) {
		nng_ctx_close(ctx);
		return JIDO_EINTERNAL;
	}
	nng_aio_set_timeout(aio, timeout_ms);
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, text, strlen(text)) != 0) {
		rc = JIDO_EINTERNAL;
		goto out;
	}
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(msg);
		rc = rv == NNG_ETIMEDOUT ? JIDO_ETIMEOUT : JIDO_EUNAVAIL;
		goto out;
	}
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		rc = rv == NNG_ETIMEDOUT ? JIDO_ETIMEOUT : JIDO_EUNAVAIL;
		goto out;
	}
	msg = nng_aio_get_msg(aio);
	rc = jido_reply_parse(nng_msg_body(msg), nng_msg_len(msg), r, why, sizeof(why));
	nng_msg_free(msg);
	if (rc != 0)
		rc = JIDO_EINTERNAL;
	else if (r->id != NULL && strcmp(r->id, id) != 0) {
		jido_reply_free(r);
		rc = JIDO_EINTERNAL;
	}
out:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return rc;
}

/* ---------------------------------------------------------------- synchronous, coalesced */

/* Group commit starts here: the synchronous appends that this process's threads make at
 * the same time travel together. A caller queues its record; the caller at the head of
 * the queue leads: it takes everything queued (at most AUDIT_SYNC_RECORDS records,
 * bus.max_msg bytes), sends it as one audit.append_many (audit.append when alone), and
 * hands each follower its own answer. It may lead at once when nothing is in flight (a
 * caller alone never waits for company); while requests are in flight, once fewer than
 * AUDIT_SYNC_INFLIGHT are and the queue holds its share of the callers (active /
 * AUDIT_SYNC_INFLIGHT): leading the moment a slot frees sent a record or two per
 * request while the rest queued behind it, and the auditor's cost is mostly per request
 * (at 64 writers this raised the rate by a third; bench/README.md). Each caller still
 * returns only once its own record is durable, with its own seq or error. */
#define AUDIT_SYNC_INFLIGHT 3
#define AUDIT_SYNC_RECORDS 256

struct audit_waiter {
	json_t *record;   /* the caller's, borrowed while queued or in flight */
	int rc, done;
	int posted;       /* posts made to sem and not yet taken (audit_sync.mu) */
	uint64_t seq;
	sem_t sem;        /* posted outside audit_sync.mu: "your turn to lead" or "done" */
	struct audit_waiter *next;
};

static struct {
	pthread_mutex_t mu;
	struct audit_waiter *head, *tail; /* queued, not yet taken by a leader */
	int inflight;
	size_t queued;   /* on the queue */
	size_t active;   /* callers inside audit_sync_append */
} audit_sync = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Whether the head of the queue may send now (audit_sync.mu held): when nothing is in
 * flight, at once; else while fewer than AUDIT_SYNC_INFLIGHT are, once the queue holds
 * its share of the callers waiting (active / AUDIT_SYNC_INFLIGHT), so requests carry
 * many records each, not one apiece. */
static int
audit_sync_may_lead(void)
{
	return audit_sync.inflight == 0 || (audit_sync.inflight < AUDIT_SYNC_INFLIGHT &&
	    audit_sync.queued >= audit_sync.active / AUDIT_SYNC_INFLIGHT);
}

/* Send ws[0..n) as one request and note each one's answer (no lock held). Returns how
 * many were answered: fewer than n when the text of all n exceeds max_bytes (the caller
 * queues the rest again). */
static size_t
audit_sync_send(struct audit_waiter **ws, size_t n, size_t max_bytes, int timeout_ms)
{
	struct jido_reply r;
	char id[33], *text = NULL;
	json_t *m, *recs = NULL, *res;
	int rc, have;

	memset(&r, 0, sizeof(r));
	for (;;) {
		jido_id_new(id, sizeof(id));
		if (n == 1)
			m = jido_msg_new("audit.append", id, NULL, json_incref(ws[0]->record));
		else {
			recs = json_array();
			for (size_t i = 0; recs != NULL && i < n; i++)
				if (json_array_append(recs, ws[i]->record) != 0) {
					json_decref(recs);
					recs = NULL;
				}
			m = recs != NULL ? jido_msg_new("audit.append_many", id, NULL,
			    json_pack("{s:o}", "records", recs)) : NULL;
		}
		text = m != NULL ? jido_json_dump(m) : NULL;
		json_decref(m);
		if (text == NULL || n == 1 || max_bytes == 0 || strlen(text) <= max_bytes)
			break;
		free(text); /* too big together: the first half now, the rest after */
		n /= 2;
	}
	rc = text == NULL ? JIDO_EINTERNAL : audit_req_call(text, id, timeout_ms, &r);
	have = rc == 0;
	free(text);
	if (rc == 0 && !r.ok)
		rc = r.err != 0 ? r.err : JIDO_EINTERNAL;
	res = rc == 0 && n > 1 ? json_object_get(r.data, "results") : NULL;
	if (rc == 0 && n > 1 && json_array_size(res) != n)
		rc = JIDO_EINTERNAL; /* not the answer to what we sent */
	for (size_t i = 0; i < n; i++) {
		json_t *one = n == 1 ? r.data : json_array_get(res, i);
		const char *err = json_string_value(json_object_get(one, "error"));
		ws[i]->rc = rc != 0 ? rc : err != NULL ? jido_err_from_name(err) : 0;
		if (ws[i]->rc == 0 && !json_is_integer(json_object_get(one, "seq")))
			ws[i]->rc = JIDO_EINTERNAL;
		ws[i]->seq = ws[i]->rc == 0 ?
		    (uint64_t)json_integer_value(json_object_get(one, "seq")) : 0;
	}
	if (have)
		jido_reply_free(&r);
	return n;
}

/* Queue record (borrowed) and return once it is answered, leading a request when it is
 * this caller's turn. *seq on 0. A waiter sleeps on its own semaphore, posted after the
 * poster released audit_sync.mu (so the woken thread does not fight for the lock the waker
 * holds); `posted` counts the posts not yet taken, and a waiter takes them all before its
 * stack goes, so a post never lands on a waiter that has returned. */
static int
audit_sync_append(json_t *record, size_t max_bytes, int timeout_ms, uint64_t *seq)
{
	struct audit_waiter w = { .record = record };
	struct audit_waiter *batch[AUDIT_SYNC_RECORDS], *lead;

	sem_init(&w.sem, 0, 0);
	pthread_mutex_lock(&audit_sync.mu);
	if (audit_sync.tail != NULL)
		audit_sync.tail->next = &w;
	else
		audit_sync.head = &w;
	audit_sync.tail = &w;
	audit_sync.queued++;
	audit_sync.active++;
	/* this record made the queue the head's share: the head leads now */
	if (audit_sync.head != &w && audit_sync_may_lead() && audit_sync.head->posted == 0) {
		struct audit_waiter *h = audit_sync.head;
		h->posted++;
		pthread_mutex_unlock(&audit_sync.mu);
		sem_post(&h->sem);
		pthread_mutex_lock(&audit_sync.mu);
	}
	while (!w.done || w.posted > 0) {
		size_t n = 0, sent;
		if (w.done || audit_sync.head != &w || !audit_sync_may_lead()) {
			pthread_mutex_unlock(&audit_sync.mu);
			while (sem_wait(&w.sem) != 0 && errno == EINTR)
				;
			pthread_mutex_lock(&audit_sync.mu);
			w.posted--;
			continue;
		}
		for (struct audit_waiter *x = audit_sync.head; x != NULL && n < AUDIT_SYNC_RECORDS;
		    x = x->next)
			batch[n++] = x;
		audit_sync.head = batch[n - 1]->next;
		if (audit_sync.head == NULL)
			audit_sync.tail = NULL;
		audit_sync.queued -= n;
		audit_sync.inflight++;
		pthread_mutex_unlock(&audit_sync.mu);
		sent = audit_sync_send(batch, n, max_bytes, timeout_ms);
		pthread_mutex_lock(&audit_sync.mu);
		if (sent < n) { /* the unsent rest goes back to the head, in order */
			batch[n - 1]->next = audit_sync.head;
			if (audit_sync.head == NULL)
				audit_sync.tail = batch[n - 1];
			audit_sync.head = batch[sent];
			audit_sync.queued += n - sent;
		}
		audit_sync.inflight--;
		lead = audit_sync.head != NULL && audit_sync.head->posted == 0 &&
		    audit_sync_may_lead() ? audit_sync.head : NULL;
		if (lead != NULL)
			lead->posted++;
		for (size_t i = 0; i < sent; i++) {
			batch[i]->done = 1;
			if (batch[i] != &w)
				batch[i]->posted++;
		}
		pthread_mutex_unlock(&audit_sync.mu);
		if (lead != NULL) /* its turn to lead: first, so the next request goes now */
			sem_post(&lead->sem);
		for (size_t i = 0; i < sent; i++)
			if (batch[i] != &w)
				sem_post(&batch[i]->sem);
		pthread_mutex_lock(&audit_sync.mu);
	}
	audit_sync.active--;
	pthread_mutex_unlock(&audit_sync.mu);
	sem_destroy(&w.sem);
	if (w.rc == 0 && seq != NULL)
		*seq = w.seq;
	return w.rc;
}

/* ---------------------------------------------------------------- fire-and-forget */

/* The buffer of records not yet pushed and the numbering of pushed batches (audit_mu),
 * and the flusher thread that pushes the buffer once its oldest record is AUDIT_BATCH_MS
 * old. Batches are pushed in number order under send_mu (the auditor treats a gap as a
 * loss), outside audit_mu so callers keep buffering meanwhile. */
static struct {
	json_t *recs;         /* pending records, NULL when none */
	int64_t first_ms;     /* when the oldest pending record came */
	uint64_t next_batch;  /* batches numbered 1..next_batch were pushed */
	uint64_t flushed;     /* ...and up to this one covered by a flush */
	int err;              /* a push failure not yet reported */
	char client[33];      /* this process's id on the push socket */
	char req_url[PATH_MAX + 16];
	size_t max_bytes;
	int timeout_ms;
	pthread_t thr;
	int thr_running, thr_stop;
	pthread_cond_t cv;
} ap = { .cv = PTHREAD_COND_INITIALIZER };
static pthread_mutex_t send_mu = PTHREAD_MUTEX_INITIALIZER;

/* Push recs[from, to) as one batch, or as halves when its text exceeds bus.max_msg.
 * send_mu held. Failures are kept in ap.err. */
static void
audit_push_range(json_t *recs, size_t from, size_t to)
{
	json_t *part = json_array(), *m;
	char *text = NULL;
	uint64_t batch;
	int rv;

	for (size_t i = from; part != NULL && i < to; i++)
		json_array_append(part, json_array_get(recs, i));
	pthread_mutex_lock(&audit_mu);
	batch = ap.next_batch + 1;
	pthread_mutex_unlock(&audit_mu);
	m = part != NULL ? jido_msg_new("audit.append_batch", NULL, NULL, json_pack("{s:s,s:I,"
	    "s:o}", "client", ap.client, "batch", (json_int_t)batch, "records", part)) : NULL;
	text = m != NULL ? jido_json_dump(m) : NULL;
	json_decref(m);
	if (text != NULL && ap.max_bytes > 0 && strlen(text) > ap.max_bytes && to - from > 1) {
		free(text);
		audit_push_range(recs, from, from + (to - from) / 2);
		audit_push_range(recs, from + (to - from) / 2, to);
		return;
	}
	rv = text == NULL ? NNG_ENOMEM : nng_send(audit_push, text, strlen(text), 0);
	free(text);
	pthread_mutex_lock(&audit_mu);
	ap.next_batch = batch; /* numbered even when lost: the auditor then sees the gap */
	if (rv != 0 && ap.err == 0)
		ap.err = rv == NNG_ETIMEDOUT ? JIDO_ETIMEOUT : rv == NNG_ENOMEM ? JIDO_EINTERNAL :
		    JIDO_EUNAVAIL;
	pthread_mutex_unlock(&audit_mu);
}

/* Push everything buffered now (any thread). */
static void
audit_push_send(void)
{
	json_t *recs;

	pthread_mutex_lock(&send_mu);
	pthread_mutex_lock(&audit_mu);
	recs = ap.recs;
	ap.recs = NULL;
	pthread_mutex_unlock(&audit_mu);
	if (recs != NULL && audit_push_open)
		audit_push_range(recs, 0, json_array_size(recs));
	json_decref(recs);
	pthread_mutex_unlock(&send_mu);
}

static void *
audit_push_flusher(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&audit_mu);
	while (!ap.thr_stop) {
		int64_t due = ap.first_ms + AUDIT_BATCH_MS, now = jido_now_ms();
		if (ap.recs == NULL) {
			pthread_cond_wait(&ap.cv, &audit_mu);
		} else if (now >= due) {
			pthread_mutex_unlock(&audit_mu);
			audit_push_send();
			pthread_mutex_lock(&audit_mu);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(due - now) * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&ap.cv, &audit_mu, &ts);
		}
	}
	pthread_mutex_unlock(&audit_mu);
	return NULL;
}

/* Stop the flusher thread (pushing what is buffered first). */
static void
audit_push_stop(void)
{
	audit_push_send();
	pthread_mutex_lock(&audit_mu);
	int running = ap.thr_running;
	ap.thr_stop = 1;
	ap.thr_running = 0;
	pthread_cond_signal(&ap.cv);
	pthread_mutex_unlock(&audit_mu);
	if (running)
		pthread_join(ap.thr, NULL);
}

int
jido_audit_append(const struct jido_conf *c, const char *home, json_t *record, int sync,
    uint64_t *seq)
{
	char url[PATH_MAX + 16];
	int rc, full = 0;

	if (!json_is_object(record)) {
		json_decref(record);
		return JIDO_EVALIDATION;
	}
	if (sync) {
		if ((rc = audit_url(c, home, "socket.auditor", "auditor.sock", url,
		    sizeof(url))) != 0) {
			json_decref(record);
			return rc;
		}
		pthread_mutex_lock(&audit_mu);
		rc = audit_req_get(url);
		pthread_mutex_unlock(&audit_mu);
		if (rc == 0)
			rc = audit_sync_append(record, (size_t)jido_conf_int(c, "bus.max_msg"),
			    (int)jido_conf_int(c, "bus.timeout_ms"), seq);
		json_decref(record);
		return rc;
	}
	if ((rc = audit_url(c, home, "socket.auditor_push", "auditor.push", url,
	    sizeof(url))) != 0 || (rc = audit_url(c, home, "socket.auditor", "auditor.sock",
	    ap.req_url, sizeof(ap.req_url))) != 0) {
		json_decref(record);
		return rc;
	}
	pthread_mutex_lock(&audit_mu);
	if (audit_push_open && strcmp(audit_push_url, url) != 0) {
		pthread_mutex_unlock(&audit_mu);
		audit_push_stop(); /* another auditor: what is buffered goes to the old one */
		pthread_mutex_lock(&audit_mu);
		if (audit_push_open)
			nng_close(audit_push);
		audit_push_open = 0;
	}
	if (!audit_push_open)
		rc = audit_push_dial(url);
	if (rc == 0 && ap.client[0] == '\0') {
		jido_id_new(ap.client, sizeof(ap.client));
		for (char *p = ap.client; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
				*p = '0';
	}
	if (rc == 0 && !ap.thr_running) {
		ap.thr_stop = 0;
		if (pthread_create(&ap.thr, NULL, audit_push_flusher, NULL) == 0)
			ap.thr_running = 1;
	}
	if (rc == 0) {
		ap.max_bytes = (size_t)jido_conf_int(c, "bus.max_msg");
		ap.timeout_ms = (int)jido_conf_int(c, "bus.timeout_ms");
		if (ap.recs == NULL && (ap.recs = json_array()) != NULL)
			ap.first_ms = jido_now_ms();
		if (ap.recs == NULL || json_array_append_new(ap.recs, record) != 0)
			rc = JIDO_EINTERNAL;
		record = NULL;
		if (rc == 0 && json_array_size(ap.recs) == 1)
			pthread_cond_signal(&ap.cv);
		full = rc == 0 && json_array_size(ap.recs) >= AUDIT_BATCH_RECORDS;
		if (rc == 0 && ap.err != 0) { /* an earlier batch was not sent: say so once */
			rc = ap.err;
			ap.err = 0;
		}
	}
	pthread_mutex_unlock(&audit_mu);
	json_decref(record);
	if (full)
		audit_push_send();
	return rc;
}

int
jido_audit_flush(void)
{
	struct jido_reply r;
	uint64_t from, to;
	char id[33], *text;
	json_t *m;
	int rc, err, timeout, answered;

	audit_push_send();
	pthread_mutex_lock(&audit_mu);
	from = ap.flushed + 1;
	to = ap.next_batch;
	err = ap.err;
	ap.err = 0;
	if (err != 0)
		ap.flushed = to; /* a batch was not sent: reported now, not again */
	timeout = ap.timeout_ms > 0 ? ap.timeout_ms : 5000;
	if (to >= from && err == 0 && (rc = audit_req_get(ap.req_url)) != 0)
		err = rc;
	pthread_mutex_unlock(&audit_mu);
	if (err != 0 || to < from)
		return err;
	jido_id_new(id, sizeof(id));
	m = jido_msg_new("audit.flush", id, NULL, json_pack("{s:s,s:I,s:I}", "client", ap.client,
	    "from", (json_int_t)from, "to", (json_int_t)to));
	text = m != NULL ? jido_json_dump(m) : NULL;
	json_decref(m);
	if (text == NULL)
		return JIDO_EINTERNAL;
	rc = audit_req_call(text, id, timeout + 1000, &r);
	free(text);
	answered = rc == 0;
	if (rc == 0) {
		if (!r.ok)
			rc = r.err != 0 ? r.err : JIDO_EINTERNAL;
		jido_reply_free(&r);
	}
	/* Settled (durable, rejected or lost): the next flush starts after it. Not yet
	 * known (timeout, no answer): the next flush asks about these batches again. */
	if (rc == 0 || (answered && (rc == JIDO_EVALIDATION || rc == JIDO_EUNAVAIL))) {
		pthread_mutex_lock(&audit_mu);
		if (ap.flushed < to)
			ap.flushed = to;
		pthread_mutex_unlock(&audit_mu);
	}
	return rc;
}

void
jido_audit_close(void)
{
	int rc = ap.next_batch > ap.flushed || ap.recs != NULL ? jido_audit_flush() : 0;

	if (rc != 0)
		jido_warn("audit.flush_failed", "{s:s}", "why", jido_strerror(rc));
	audit_push_stop();
	pthread_mutex_lock(&audit_mu);
	if (audit_push_open)
		nng_close(audit_push);
	audit_push_open = 0;
	if (audit_req_open)
		nng_close(audit_req);
	audit_req_open = 0;
	pthread_mutex_unlock(&audit_mu);
}
