/*
 * serve.c - how jido-auditor runs. serve: lib's loop answers one request at a time, which
 * would give every synchronous append its own fsync; so the auditor serves its request
 * socket with many nng REP contexts (one thread each, auditor.workers) feeding the
 * group-commit queue, plus a PULL socket (run/auditor.push) for fire-and-forget records.
 * Every request still goes through jido_srv_dispatch, so health and log_level behave as
 * in every process. filter: the same dispatch over stdin lines. Also the subcommands
 * `verify FILE [--checkpoint C]` and `load` (the load generator of tests and benches).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/reqrep0/rep.h>
#include <sodium.h>

#include "audit.h"

static volatile sig_atomic_t serve_stop;

struct serve {
	struct jido_srv *s;
	nng_socket rep, pull;
	nng_aio *pull_aio;
	char rep_url[PATH_MAX + 16], pull_url[PATH_MAX + 16];
};

static void
serve_on_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

/* The request side: auditor.workers nng REP contexts, each a small state machine driven
 * by its aio callback on nng's threads (no thread of its own): receive; an append is
 * validated and redacted right there and queued, and the committer answers it through
 * serve_append_done once it is durable; any other request goes to a pool of
 * SERVE_POOL threads that run jido_srv_dispatch (queries, verify and export may take a
 * while), audit.flush (which waits) to SERVE_POOL threads of its own. Then send the reply
 * and receive again. */
#define SERVE_POOL 2
#define AR_BATCH_MAX JIDO_AUDIT_BATCH_MAX

struct serve_ctx {
	struct serve *sv;
	nng_ctx ctx;
	nng_aio *aio;
	int open, sending;
	nng_msg *req;           /* for the pool */
	int64_t arrived;        /* when req came (jido_now_ms): a flush's wait counts from it */
	struct jido_peer peer;
	struct aq_item it;      /* an append in flight */
	char id[JIDO_ID_MAX + 1];
	struct serve_ctx *next; /* pool queue */
};

/* Two queues for the pool: [0] every other request, [1] audit.flush (which waits for the
 * committer), each with its own threads, so a flush that waits never delays health or a
 * query. */
#define SERVE_QUEUES 2
static struct serve_jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct serve_ctx *head, *tail;
	int closed;
} serve_jobs[SERVE_QUEUES] = {
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0 },
	{ PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0 },
};

struct serve_worker {
	struct serve *sv;
	struct serve_jobs *q;
	pthread_t th;
};

static void
serve_recv(struct serve_ctx *c)
{
	c->sending = 0;
	nng_aio_set_timeout(c->aio, NNG_DURATION_INFINITE);
	nng_ctx_recv(c->ctx, c->aio);
}

/* Send reply (taken) on c; on failure go back to receiving. */
static void
serve_reply(struct serve_ctx *c, json_t *reply)
{
	char *text = reply != NULL ? jido_json_dump(reply) : NULL;
	nng_msg *out = NULL;

	json_decref(reply);
	if (text == NULL || nng_msg_alloc(&out, 0) != 0 ||
	    nng_msg_append(out, text, strlen(text)) != 0) {
		free(text);
		nng_msg_free(out);
		jido_warn("auditor.reply_lost", "{s:s}", "why", "out of memory");
		serve_recv(c);
		return;
	}
	free(text);
	c->sending = 1;
	nng_aio_set_msg(c->aio, out);
	nng_aio_set_timeout(c->aio, 5000);
	nng_ctx_send(c->ctx, c->aio);
}

/* The committer's answer to an append (on its thread): the record is durable or failed. */
static void
serve_append_done(void *arg, const struct as_entry *e)
{
	struct serve_ctx *c = arg;
	char leaf[65];

	if (e->rc != 0) {
		serve_reply(c, jido_reply_err(c->id, e->rc, "the record could not be made durable"));
		return;
	}
	am_hex(e->leaf, leaf);
	serve_reply(c, jido_reply_ok(c->id, json_pack("{s:I,s:s}", "seq", (json_int_t)e->seq,
	    "leaf_hash", leaf)));
}

/* The committer's answer to an append_many (on its thread): every record is answered. */
static void
serve_many_done(void *arg, struct aq_many *m)
{
	struct serve_ctx *c = arg;
	json_t *data = auditor_many_data(m);

	auditor_many_free(m);
	serve_reply(c, data != NULL ? jido_reply_ok(c->id, data) :
	    jido_reply_err(c->id, JIDO_EINTERNAL, "out of memory"));
}

/* An audit.append_many: prepare and queue its records (answered by serve_many_done), or
 * answer its error. */
static void
serve_many_start(struct serve_ctx *c, json_t *data)
{
	struct aq_many *m;
	char why[256] = "";
	int rc;

	/* once queued, m is the committer's until serve_many_done frees it */
	if ((rc = auditor_many_new(c->sv->s, data, &m, why, sizeof(why))) == 0 &&
	    (rc = auditor_many_enqueue(c->sv->s, m, serve_many_done, c)) != 0) {
		auditor_many_free(m);
		snprintf(why, sizeof(why), "the auditor is stopping");
	}
	if (rc != 0) {
		jido_debug("srv.request_failed", "{s:s,s:s,s:s}", "type", "auditor.append_many",
		    "code", jido_err_name(rc), "why", why);
		serve_reply(c, jido_reply_err(c->id, rc, why));
	}
}

/* An audit.append or audit.append_many (or auditor.*) request: prepare and queue it, or
 * answer its error. 0 = not an append (the pool answers it); 1 = handled. Takes msg only
 * when handled. */
static int
serve_append_try(struct serve_ctx *c, nng_msg *msg)
{
	long long max = jido_conf_int(jido_srv_conf(c->sv->s), "bus.max_msg");
	const char *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	struct jido_msg m;
	char why[256] = "";
	int rc;

	if ((memmem(body, len, "append\"", 7) == NULL &&
	    memmem(body, len, "append_many\"", 12) == NULL) || (max > 0 && len > (size_t)max) ||
	    jido_msg_parse(body, len, &m, why, sizeof(why), NULL) != 0)
		return 0; /* the generic path rejects what is malformed, with the same words */
	if (strcmp(m.type, "audit.append_many") == 0 || strcmp(m.type, "auditor.append_many") == 0) {
		nng_msg_free(msg);
		snprintf(c->id, sizeof(c->id), "%s", m.id);
		serve_many_start(c, m.data);
		jido_msg_free(&m);
		return 1;
	}
	if (strcmp(m.type, "audit.append") != 0 && strcmp(m.type, "auditor.append") != 0) {
		jido_msg_free(&m);
		return 0;
	}
	nng_msg_free(msg);
	snprintf(c->id, sizeof(c->id), "%s", m.id);
	memset(&c->it, 0, sizeof(c->it));
	c->it.complete = serve_append_done;
	c->it.arg = c;
	rc = ar_prepare(m.data, auditor_known(c->sv->s), &c->it.e.tail, &c->it.e.fields, why,
	    sizeof(why));
	jido_msg_free(&m);
	if (rc == 0 && (rc = auditor_enqueue_sync(c->sv->s, &c->it)) != 0) {
		free(c->it.e.tail);
		free(c->it.e.fields);
		snprintf(why, sizeof(why), "the auditor is stopping");
	}
	if (rc != 0) {
		jido_debug("srv.request_failed", "{s:s,s:s,s:s}", "type", "auditor.append", "code",
		    jido_err_name(rc), "why", why);
		serve_reply(c, jido_reply_err(c->id, rc, why));
	}
	return 1;
}

static void
serve_ctx_cb(void *arg)
{
	struct serve_ctx *c = arg;
	int rv = nng_aio_result(c->aio);
	nng_msg *msg;

	if (c->sending) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			nng_aio_set_msg(c->aio, NULL);
			if (rv != NNG_ECLOSED && rv != NNG_ECANCELED)
				jido_warn("auditor.reply_lost", "{s:s}", "why", nng_strerror(rv));
		}
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		serve_recv(c);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return;
	if (rv != 0) {
		serve_recv(c);
		return;
	}
	msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL); /* ours now: the aio holds only unsent replies */
	memset(&c->peer, 0, sizeof(c->peer));
	if (nng_pipe_get_uint64(nng_msg_get_pipe(msg), NNG_OPT_IPC_PEER_UID, &c->peer.uid) == 0 &&
	    nng_pipe_get_uint64(nng_msg_get_pipe(msg), NNG_OPT_IPC_PEER_PID, &c->peer.pid) == 0)
		c->peer.known = 1;
	if (serve_append_try(c, msg))
		return;
	c->req = msg;
	c->arrived = jido_now_ms();
	c->next = NULL;
	struct serve_jobs *q = &serve_jobs[memmem(nng_msg_body(msg), nng_msg_len(msg), ".flush\"",
	    7) != NULL ? 1 : 0];
	pthread_mutex_lock(&q->mu);
	if (q->tail != NULL)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* A pool thread: every request that is not an append, through the common dispatch. */
static void *
serve_pool(void *arg)
{
	struct serve_worker *w = arg;
	struct serve *sv = w->sv;
	struct serve_jobs *q = w->q;

	for (;;) {
		struct serve_ctx *c;
		json_t *reply;
		pthread_mutex_lock(&q->mu);
		while (q->head == NULL && !q->closed)
			pthread_cond_wait(&q->cv, &q->mu);
		if ((c = q->head) == NULL) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		if ((q->head = c->next) == NULL)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		reply = auditor_dispatch_at(sv->s, nng_msg_body(c->req), nng_msg_len(c->req),
		    &c->peer, c->arrived);
		nng_msg_free(c->req);
		c->req = NULL;
		serve_reply(c, reply);
	}
	return NULL;
}

/* The fire-and-forget path. nng's own threads (started before the allowlist) only move
 * each message onto pq by callback; the reader thread, under the allowlist, parses and
 * queues them for the committer in bursts, so a record costs no thread handoff of its own. */
struct serve_pq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	nng_msg **m;
	size_t n, cap, bytes;
	int closed;
};

/* At most this many messages / bytes wait for the reader (a batch is up to 1 MB). */
#define SERVE_PQ_MAX 65536
#define SERVE_PQ_BYTES (8u << 20)

static struct serve_pq serve_pq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	NULL, 0, 0, 0, 0 };

static void
serve_pull_cb(void *arg)
{
	struct serve *sv = arg;
	int rv = nng_aio_result(sv->pull_aio);

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		pthread_mutex_lock(&serve_pq.mu);
		serve_pq.closed = 1;
		pthread_cond_signal(&serve_pq.cv);
		pthread_mutex_unlock(&serve_pq.mu);
		return;
	}
	if (rv == 0) {
		nng_msg *msg = nng_aio_get_msg(sv->pull_aio);
		pthread_mutex_lock(&serve_pq.mu);
		/* bounded: when the reader is behind, wait here (the PULL socket then pushes
		 * back on the senders) */
		while ((serve_pq.n >= SERVE_PQ_MAX || serve_pq.bytes >= SERVE_PQ_BYTES) &&
		    !serve_pq.closed)
			pthread_cond_wait(&serve_pq.cv, &serve_pq.mu);
		if (serve_pq.n == serve_pq.cap) {
			size_t cap = serve_pq.cap ? serve_pq.cap * 2 : 1024;
			nng_msg **m = realloc(serve_pq.m, cap * sizeof(*m));
			if (m == NULL) {
				nng_msg_free(msg);
				msg = NULL;
			} else {
				serve_pq.m = m;
				serve_pq.cap = cap;
			}
		}
		if (msg != NULL) {
			serve_pq.m[serve_pq.n++] = msg;
			serve_pq.bytes += nng_msg_len(msg);
		}
		pthread_cond_signal(&serve_pq.cv);
		pthread_mutex_unlock(&serve_pq.mu);
	}
	nng_recv_aio(sv->pull, sv->pull_aio);
}

/* audit.append_batch: data {client, batch, records: [1..AR_BATCH_MAX records]}, all or
 * nothing: one bad record (or a bad shape) rejects the whole message, logged; a rejected
 * batch whose client and number are readable still counts as arrived, so that client's
 * audit.flush reports it instead of waiting. */
static void
serve_pull_batch(struct serve *sv, json_t *data)
{
	json_t *recs = json_object_get(data, "records"), *jb = json_object_get(data, "batch");
	const char *client = json_string_value(json_object_get(data, "client"));
	int idok = auditor_client_valid(client) && json_is_integer(jb) &&
	    json_integer_value(jb) >= 1;
	char why[300] = "", w[256], **tails = NULL;
	char **fields = NULL;
	size_t n = 0, i = 0;

	if (!idok || json_object_size(data) != 3 || !json_is_array(recs) ||
	    json_array_size(recs) < 1 || json_array_size(recs) > AR_BATCH_MAX)
		snprintf(why, sizeof(why), "data must be {client, batch, records: [1 to %d "
		    "records]}", AR_BATCH_MAX);
	else if ((n = json_array_size(recs)), (tails = calloc(n, sizeof(*tails))) == NULL ||
	    (fields = calloc(n, sizeof(*fields))) == NULL)
		snprintf(why, sizeof(why), "out of memory");
	for (; why[0] == '\0' && i < n; i++) {
		json_t *r = json_array_get(recs, i);
		if (!json_is_object(r))
			snprintf(why, sizeof(why), "records[%zu] must be an object", i);
		else if (ar_prepare(r, auditor_known(sv->s), &tails[i], &fields[i], w, sizeof(w)) != 0)
			snprintf(why, sizeof(why), "records[%zu]: %s", i, w);
	}
	if (why[0] == '\0') {
		auditor_enqueue_push(sv->s, client, (uint64_t)json_integer_value(jb), tails, fields,
		    n, 0);
	} else {
		for (size_t k = 0; k < i && tails != NULL && fields != NULL; k++) {
			free(tails[k]);
			free(fields[k]);
		}
		jido_warn("auditor.push_rejected", "{s:s,s:s?,s:I}", "why", why, "client",
		    idok ? client : NULL, "batch", idok ? (json_int_t)json_integer_value(jb) : 0);
		if (idok)
			auditor_enqueue_push(sv->s, client, (uint64_t)json_integer_value(jb), NULL,
			    NULL, 0, 1);
	}
	free(tails);
	free(fields);
}

/* One pushed envelope: audit.append (one record) or audit.append_batch; no reply.
 * Takes msg. */
static void
serve_pull_one(struct serve *sv, nng_msg *msg, long long max)
{
	struct jido_msg m;
	char why[256], *tail;
	char *fields;

	if ((max > 0 && nng_msg_len(msg) > (size_t)max) ||
	    jido_msg_parse(nng_msg_body(msg), nng_msg_len(msg), &m, why, sizeof(why),
	    NULL) != 0) {
		nng_msg_free(msg);
		jido_warn("auditor.push_rejected", "{s:s}", "why", "malformed envelope");
		return;
	}
	nng_msg_free(msg);
	if (strcmp(m.type, "audit.append_batch") == 0 || strcmp(m.type, "auditor.append_batch") == 0)
		serve_pull_batch(sv, m.data);
	else if (strcmp(m.type, "audit.append") != 0 && strcmp(m.type, "auditor.append") != 0)
		jido_warn("auditor.push_rejected", "{s:s}", "why",
		    "type is not audit.append or audit.append_batch");
	else if (ar_prepare(m.data, auditor_known(sv->s), &tail, &fields, why, sizeof(why)) != 0)
		jido_warn("auditor.push_rejected", "{s:s}", "why", why);
	else
		auditor_enqueue_async(sv->s, tail, fields);
	jido_msg_free(&m);
}

static void *
serve_pull(void *arg)
{
	struct serve *sv = arg;
	long long max = jido_conf_int(jido_srv_conf(sv->s), "bus.max_msg");
	nng_msg **batch = NULL;
	size_t cap = 0;

	for (;;) {
		size_t n;
		pthread_mutex_lock(&serve_pq.mu);
		while (serve_pq.n == 0 && !serve_pq.closed)
			pthread_cond_wait(&serve_pq.cv, &serve_pq.mu);
		if (serve_pq.n == 0) {
			pthread_mutex_unlock(&serve_pq.mu);
			break;
		}
		/* swap the arrays: the callback keeps filling while we work */
		nng_msg **m = serve_pq.m;
		size_t mcap = serve_pq.cap;
		n = serve_pq.n;
		serve_pq.m = batch;
		serve_pq.cap = cap;
		serve_pq.n = 0;
		serve_pq.bytes = 0;
		batch = m;
		cap = mcap;
		pthread_cond_broadcast(&serve_pq.cv);
		pthread_mutex_unlock(&serve_pq.mu);
		for (size_t i = 0; i < n; i++)
			serve_pull_one(sv, batch[i], max);
	}
	free(batch);
	return NULL;
}

/* URL for name from config key, else ipc under home/run with the given file name. */
static int
serve_url(struct jido_srv *s, const char *key, const char *file, char *buf, size_t len)
{
	const char *v = jido_conf_str(jido_srv_conf(s), key);
	int n = v != NULL && v[0] != '\0' ? snprintf(buf, len, "%s", v) :
	    snprintf(buf, len, "ipc://%s/run/%s", jido_srv_home(s), file);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

static int
serve_listen(nng_socket sock, const char *url, int perm)
{
	nng_listener l;
	int rv;

	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 4u << 20);
	if ((rv = nng_listener_create(&l, sock, url)) != 0)
		return rv;
	if (strncmp(url, "ipc://", 6) == 0)
		nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, perm != 0 ? perm : 0600);
	return nng_listener_start(l, 0);
}

/* Load config and apply the global options, as jido_main does. */
static int
serve_conf(const char *file, const char *home, const char *level, struct jido_conf **conf)
{
	char why[1024];

	if (jido_conf_load(file, conf, why, sizeof(why)) != 0 ||
	    (home != NULL && jido_conf_set(*conf, "home", home, why, sizeof(why)) != 0) ||
	    (level != NULL && jido_conf_set(*conf, "log.level", level, why, sizeof(why)) != 0)) {
		fprintf(stderr, "jido-auditor: config failed: %s\n", why);
		return 2;
	}
	jido_log_set_level(jido_log_level_parse(jido_conf_str(*conf, "log.level")));
	return 0;
}

static int
serve_filter(struct jido_conf *conf)
{
	struct jido_srv *s;
	char why[1024], *line = NULL, *text;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int rc, failed = 0;

	if ((rc = jido_srv_new(&auditor_proc, conf, &s, why, sizeof(why))) != 0) {
		fprintf(stderr, "jido-auditor: filter failed: %s\n", why);
		return jido_err_exit(rc) == 0 ? 111 : jido_err_exit(rc);
	}
	if (jido_seccomp_install(&auditor_proc.allow) != 0) {
		fprintf(stderr, "jido-auditor: filter failed: cannot install seccomp\n");
		jido_srv_free(s);
		return 111;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		json_t *reply;
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		reply = auditor_dispatch(s, line, (size_t)n, NULL);
		if (!json_is_true(json_object_get(reply, "ok"))) {
			failed = 1;
			json_object_set_new(reply, "line", json_integer(lineno));
		}
		text = jido_json_dump(reply);
		json_decref(reply);
		if (text == NULL || printf("%s\n", text) < 0 || fflush(stdout) != 0) {
			free(text);
			failed = 2;
			break;
		}
		free(text);
	}
	free(line);
	jido_srv_free(s);
	return failed == 2 ? 111 : failed;
}

static int
serve_daemon(struct jido_conf *conf)
{
	struct serve sv;
	struct sigaction sa;
	struct rlimit rl = { 0, 0 };
	pthread_attr_t attr;
	struct serve_worker pool[SERVE_POOL * SERVE_QUEUES];
	pthread_t pull_thr;
	struct serve_ctx *ctxs = NULL;
	char why[1024] = "", url[PATH_MAX + 16], run[PATH_MAX + 8];
	long long nworkers = jido_conf_int(conf, "auditor.workers");
	int perm = (int)jido_conf_int(conf, "bus.socket_mode"), rc, started = 0, pulling = 0;
	int npool = 0;

	memset(&sv, 0, sizeof(sv));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = serve_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	if (nworkers < 1 || nworkers > 1024)
		nworkers = 96;
	jido_info("srv.starting", "{s:s}", "version", JIDO_VERSION);
	if ((rc = jido_srv_new(&auditor_proc, conf, &sv.s, why, sizeof(why))) != 0)
		goto fail;
	snprintf(run, sizeof(run), "%s/run", jido_srv_home(sv.s));
	if (jido_mkdirs(run, 0700) != 0) {
		snprintf(why, sizeof(why), "cannot create %s", run);
		rc = JIDO_EINTERNAL;
		goto fail;
	}
	if ((rc = serve_url(sv.s, "socket.auditor", "auditor.sock", url, sizeof(url))) != 0 ||
	    nng_rep0_open(&sv.rep) != 0 || serve_listen(sv.rep, url, perm) != 0) {
		nng_close(sv.rep);
		snprintf(why, sizeof(why), "cannot listen on %s (is another one running?)", url);
		rc = JIDO_EUNAVAIL;
		goto fail;
	}
	snprintf(sv.rep_url, sizeof(sv.rep_url), "%s", url);
	if ((rc = serve_url(sv.s, "socket.auditor_push", "auditor.push", url, sizeof(url))) != 0 ||
	    nng_pull0_open(&sv.pull) != 0 || serve_listen(sv.pull, url, perm) != 0) {
		nng_close(sv.rep);
		nng_close(sv.pull);
		snprintf(why, sizeof(why), "cannot listen on %s", url);
		rc = JIDO_EUNAVAIL;
		goto fail;
	}
	snprintf(sv.pull_url, sizeof(sv.pull_url), "%s", url);
	nng_socket_set_int(sv.pull, NNG_OPT_RECVBUF, 8192);
	/* Drop: stdin, core dumps, then the allowlist; threads started after inherit it. */
	int fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		if (fd != 0)
			close(fd);
	}
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (jido_seccomp_install(&auditor_proc.allow) != 0) {
		snprintf(why, sizeof(why), "cannot install the seccomp allowlist");
		rc = JIDO_EINTERNAL;
		goto fail;
	}
	if ((rc = auditor_committer_start(sv.s)) != 0) {
		snprintf(why, sizeof(why), "cannot start the committer");
		goto fail;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if ((ctxs = calloc((size_t)nworkers, sizeof(*ctxs))) == NULL) {
		pthread_attr_destroy(&attr);
		rc = JIDO_EINTERNAL;
		snprintf(why, sizeof(why), "out of memory");
		goto fail;
	}
	for (; npool < SERVE_POOL * SERVE_QUEUES; npool++) {
		pool[npool].sv = &sv;
		pool[npool].q = &serve_jobs[npool % SERVE_QUEUES];
		if (pthread_create(&pool[npool].th, &attr, serve_pool, &pool[npool]) != 0)
			break;
	}
	for (int i = 0; npool >= SERVE_QUEUES && i < nworkers; i++) {
		struct serve_ctx *c = &ctxs[i];
		c->sv = &sv;
		if (nng_aio_alloc(&c->aio, serve_ctx_cb, c) != 0)
			break;
		if (nng_ctx_open(&c->ctx, sv.rep) != 0) {
			nng_aio_free(c->aio);
			c->aio = NULL;
			break;
		}
		c->open = 1;
		started++;
	}
	for (int i = 0; i < started; i++)
		serve_recv(&ctxs[i]);
	pulling = pthread_create(&pull_thr, &attr, serve_pull, &sv) == 0;
	if (pulling && nng_aio_alloc(&sv.pull_aio, serve_pull_cb, &sv) == 0)
		nng_recv_aio(sv.pull, sv.pull_aio);
	else
		jido_error("auditor.push_disabled", "{s:s}", "why", "cannot start the push reader");
	pthread_attr_destroy(&attr);
	if (started == 0) {
		snprintf(why, sizeof(why), "cannot start request contexts");
		rc = JIDO_EINTERNAL;
		goto fail;
	}
	jido_info("srv.ready", "{s:i}", "workers", started);
	while (!serve_stop)
		usleep(50 * 1000);
	jido_info("srv.draining", NULL);
	/* Stop taking requests and pushes, drain the push reader, stop the committer (it
	 * answers what it holds; those replies go nowhere now), then release the contexts. */
	nng_close(sv.rep);
	nng_close(sv.pull);
	for (int i = 0; i < started; i++)
		nng_aio_stop(ctxs[i].aio);
	if (sv.pull_aio != NULL) {
		nng_aio_stop(sv.pull_aio);
		pthread_mutex_lock(&serve_pq.mu);
		serve_pq.closed = 1;
		pthread_cond_broadcast(&serve_pq.cv);
		pthread_mutex_unlock(&serve_pq.mu);
	}
	if (pulling)
		pthread_join(pull_thr, NULL);
	for (int k = 0; k < SERVE_QUEUES; k++) {
		pthread_mutex_lock(&serve_jobs[k].mu);
		serve_jobs[k].closed = 1;
		pthread_cond_broadcast(&serve_jobs[k].cv);
		pthread_mutex_unlock(&serve_jobs[k].mu);
	}
	for (int i = 0; i < npool; i++)
		pthread_join(pool[i].th, NULL);
	for (int k = 0; k < SERVE_QUEUES; k++) {
		for (struct serve_ctx *c = serve_jobs[k].head; c != NULL; c = c->next)
			nng_msg_free(c->req);
		serve_jobs[k].head = serve_jobs[k].tail = NULL;
	}
	nng_aio_free(sv.pull_aio);
	for (size_t i = 0; i < serve_pq.n; i++)
		nng_msg_free(serve_pq.m[i]);
	free(serve_pq.m);
	jido_srv_free(sv.s); /* joins the committer, which may still answer contexts */
	for (int i = 0; i < started; i++) {
		nng_aio_stop(ctxs[i].aio);
		/* a reply sent after the stop never started: it is still in the aio */
		nng_msg_free(nng_aio_get_msg(ctxs[i].aio));
		nng_aio_free(ctxs[i].aio);
	}
	free(ctxs);
	/* nng leaves ipc socket files behind: remove ours. */
	if (strncmp(sv.rep_url, "ipc://", 6) == 0)
		unlink(sv.rep_url + 6);
	if (strncmp(sv.pull_url, "ipc://", 6) == 0)
		unlink(sv.pull_url + 6);
	jido_info("srv.stopped", NULL);
	return 0;
fail:
	jido_error("srv.start_failed", "{s:s,s:s}", "code", jido_err_name(rc), "why", why);
	fprintf(stderr, "jido-auditor: start failed: %s\n", why);
	jido_srv_free(sv.s);
	for (int i = 0; ctxs != NULL && i < started; i++)
		nng_aio_free(ctxs[i].aio);
	free(ctxs);
	return rc == JIDO_EVALIDATION ? 2 : 111;
}

int
auditor_run(const char *cmd, const char *file, const char *home, const char *level)
{
	struct jido_conf *conf = NULL;
	int rc;

	jido_log_init("auditor");
	if (jido_cred_load_self() != 0) {
		fprintf(stderr, "jido-auditor: start failed: cannot read JIDO_PROC_CRED_FILE\n");
		return 111;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "jido-auditor: start failed: libsodium did not initialise\n");
		return 111;
	}
	if ((rc = serve_conf(file, home, level, &conf)) != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	rc = strcmp(cmd, "filter") == 0 ? serve_filter(conf) : serve_daemon(conf);
	jido_conf_free(conf);
	return rc;
}
