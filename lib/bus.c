/*
 * bus.c - the nng bus: request/reply, publish/subscribe and push/pull sockets on ipc://
 * (socket files with a fixed mode under $JIDO_HOME/run), tcp:// and tls+tcp://, with
 * timeouts, message size caps and, on ipc, the peer's uid and pid; calls whose answer a
 * serving loop collects later (jido_bus_async_*).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <sodium.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "jido.h"

#define BUS_MAXMSG_DEFAULT (64u << 20)

static void bus_msg_free_wiped(nng_msg *msg);

struct jido_bus_ctx {
	nng_ctx ctx;
	nng_aio *aio;
	int recv_ms, send_ms;
};

struct jido_bus {
	nng_socket sock;
	int proto;
	char *ipc_path; /* set for an ipc listener: removed on close */
	nng_tls_config *tls;
};

int
jido_bus_url_req(const char *home, const char *proc, char *buf, size_t len)
{
	int n = snprintf(buf, len, "ipc://%s/run/%s.sock", home, proc);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

int
jido_bus_url_pub(const char *home, const char *topic, char *buf, size_t len)
{
	int n = snprintf(buf, len, "ipc://%s/run/%s.pub", home, topic);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

static int
bus_err(int nrv)
{
	switch (nrv) {
	case 0:
		return 0;
	case NNG_ETIMEDOUT:
		return JIDO_ETIMEOUT;
	case NNG_ECONNREFUSED:
	case NNG_ECLOSED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ENOENT:
	case NNG_EADDRINUSE:
	case NNG_EPEERAUTH:
	case NNG_ECRYPTO:
		return JIDO_EUNAVAIL;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
	case NNG_EMSGSIZE:
		return JIDO_EVALIDATION;
	default:
		return JIDO_EINTERNAL;
	}
}

static int bus_msg_take(nng_msg *msg, char **buf, size_t *len, struct jido_peer *peer);

static int
bus_proto_open(int proto, nng_socket *s)
{
	switch (proto) {
	case JIDO_BUS_REQ: return nng_req0_open(s);
	case JIDO_BUS_REP: return nng_rep0_open(s);
	case JIDO_BUS_PUB: return nng_pub0_open(s);
	case JIDO_BUS_SUB: return nng_sub0_open(s);
	case JIDO_BUS_PUSH: return nng_push0_open(s);
	case JIDO_BUS_PULL: return nng_pull0_open(s);
	default: return NNG_EINVAL;
	}
}

/* Read a whole PEM file into a malloc'd NUL-terminated string (caller frees). */
static char *
bus_pem_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else
			buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Build a TLS config for a listener (server) or dialer (client). */
static int
bus_tls_config(const struct jido_bus_tls *tls, int listen, nng_tls_config **out)
{
	nng_tls_config *cfg;
	int rv;

	rv = nng_tls_config_alloc(&cfg, listen ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0)
		return rv;
	if (tls->cert != NULL && tls->cert[0] != '\0' && tls->key != NULL) {
		char *cert = bus_pem_read(tls->cert), *key = bus_pem_read(tls->key);
		rv = cert != NULL && key != NULL ? nng_tls_config_own_cert(cfg, cert, key, NULL) :
		    NNG_ENOENT;
		free(cert);
		if (key != NULL) {
			sodium_memzero(key, strlen(key));
			free(key);
		}
	} else if (listen)
		rv = NNG_EINVAL; /* a server needs its own certificate */
	if (rv == 0 && tls->ca != NULL && tls->ca[0] != '\0') {
		rv = nng_tls_config_ca_file(cfg, tls->ca);
		if (rv == 0)
			rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	} else if (rv == 0 && !listen)
		rv = NNG_EINVAL; /* a client without a CA would trust anyone */
	if (rv != 0) {
		nng_tls_config_free(cfg);
		return rv;
	}
	*out = cfg;
	return 0;
}

/* The protocol that talks to proto: what a liveness probe of a listener dials with. */
static int
bus_proto_peer(int proto)
{
	switch (proto) {
	case JIDO_BUS_REP: return JIDO_BUS_REQ;
	case JIDO_BUS_REQ: return JIDO_BUS_REP;
	case JIDO_BUS_PUB: return JIDO_BUS_SUB;
	case JIDO_BUS_SUB: return JIDO_BUS_PUB;
	case JIDO_BUS_PULL: return JIDO_BUS_PUSH;
	default: return JIDO_BUS_PULL;
	}
}

/*
 * Before listening on an ipc path that already exists, find out whether someone serves
 * it, by dialing with the matching nng protocol (a full SP handshake). A live listener:
 * JIDO_EUNAVAIL, and we never touch it. A stale file: removed, so nng's own stale check
 * never runs. That check connects and hangs up before the SP handshake, which wedges a
 * live nng 1.5.2 listener (Debian bookworm's): it stops accepting requests.
 */
static int
bus_ipc_claim(int proto, const char *path)
{
	nng_socket probe;
	nng_dialer d;
	char url[4200];
	int rv;

	if (access(path, F_OK) != 0)
		return 0;
	snprintf(url, sizeof(url), "ipc://%s", path);
	if (bus_proto_open(bus_proto_peer(proto), &probe) != 0)
		return JIDO_EINTERNAL;
	rv = nng_dialer_create(&d, probe, url);
	if (rv == 0)
		rv = nng_dialer_start(d, 0);
	nng_close(probe);
	if (rv == 0)
		return JIDO_EUNAVAIL; /* someone answers: in use */
	if (unlink(path) != 0)
		return JIDO_EUNAVAIL;
	return 0;
}

/* The process's own TLS material, used for tls+tcp:// when a caller passes none. */
static struct jido_bus_tls bus_tls_own;

void
jido_bus_tls_default(const struct jido_bus_tls *tls)
{
	bus_tls_own = *tls;
}

int
jido_bus_open(int proto, const char *url, int listen, int perm, const struct jido_bus_tls *tls,
    struct jido_bus **out)
{
	struct jido_bus *b = calloc(1, sizeof(*b));
	int is_ipc = strncmp(url, "ipc://", 6) == 0;
	int is_tls = strncmp(url, "tls+tcp://", 10) == 0;
	int rv;

	if (b == NULL)
		return JIDO_EINTERNAL;
	if (!is_ipc && !is_tls && strncmp(url, "tcp://", 6) != 0 &&
	    strncmp(url, "inproc://", 9) != 0) {
		free(b);
		return JIDO_EVALIDATION;
	}
	b->proto = proto;
	if ((rv = bus_proto_open(proto, &b->sock)) != 0) {
		free(b);
		return bus_err(rv);
	}
	nng_socket_set_size(b->sock, NNG_OPT_RECVMAXSZ, BUS_MAXMSG_DEFAULT);
	if (is_tls) {
		if (tls == NULL && bus_tls_own.ca != NULL && bus_tls_own.ca[0] != '\0')
			tls = &bus_tls_own;
		if (tls == NULL) {
			rv = NNG_EINVAL;
			goto fail;
		}
		if ((rv = bus_tls_config(tls, listen, &b->tls)) != 0)
			goto fail;
	}
	if (listen) {
		nng_listener l;
		if (is_ipc && (rv = bus_ipc_claim(proto, url + 6)) != 0) {
			nng_close(b->sock);
			if (b->tls != NULL)
				nng_tls_config_free(b->tls);
			free(b);
			return rv;
		}
		if ((rv = nng_listener_create(&l, b->sock, url)) != 0)
			goto fail;
		if (is_ipc)
			nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, perm != 0 ? perm : 0600);
		if (b->tls != NULL)
			nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, b->tls);
		if ((rv = nng_listener_start(l, 0)) != 0)
			goto fail;
		if (is_ipc)
			b->ipc_path = strdup(url + 6);
	} else {
		nng_dialer d;
		if ((rv = nng_dialer_create(&d, b->sock, url)) != 0)
			goto fail;
		if (b->tls != NULL)
			nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, b->tls);
		/* Subscribers and pushers reconnect in the background, soon (a publisher that
		 * starts after us drops what it sends before we are connected); a request fails
		 * fast. */
		if (proto == JIDO_BUS_SUB || proto == JIDO_BUS_PUSH) {
			nng_dialer_set_ms(d, NNG_OPT_RECONNMINT, 20);
			nng_dialer_set_ms(d, NNG_OPT_RECONNMAXT, 200);
		}
		rv = nng_dialer_start(d, proto == JIDO_BUS_SUB || proto == JIDO_BUS_PUSH ||
		    perm == JIDO_BUS_DIAL_BG ? NNG_FLAG_NONBLOCK : 0);
		if (rv != 0)
			goto fail;
	}
	*out = b;
	return 0;
fail:
	nng_close(b->sock);
	if (b->tls != NULL)
		nng_tls_config_free(b->tls);
	free(b);
	return bus_err(rv);
}

/*
 * Close b (taken). Beware of nng 1.5.2 (Debian bookworm's) here: when a connection closes
 * while a message on it is half read (its header in, its body not yet asked for), the
 * transport asks for the body on a receive that the close already stopped, nng drops
 * that request without a callback, and the protocol's receive on that pipe is never
 * finished. nng_close then waits forever for the pipe, and so does nng's one reaper
 * thread, which wedges every later close in the process (nng issue #1813, fixed in nng
 * 1.8.0 by aborting such a receive in nni_aio_stop). We cannot reach that receive from
 * here; what we avoid is the pattern that lands a reply exactly on a close: a server
 * that waits on a caller's behalf answers well within bus.timeout_ms (auditor_flush),
 * never at the moment a caller's equal timeout runs out and it closes its REQ socket.
 */
void
jido_bus_close(struct jido_bus *b)
{
	if (b == NULL)
		return;
	nng_close(b->sock);
	if (b->ipc_path != NULL) {
		unlink(b->ipc_path);
		free(b->ipc_path);
	}
	if (b->tls != NULL)
		nng_tls_config_free(b->tls);
	free(b);
}

int
jido_bus_set_timeouts(struct jido_bus *b, int recv_ms, int send_ms)
{
	int rv = nng_socket_set_ms(b->sock, NNG_OPT_RECVTIMEO, recv_ms);

	if (rv == 0 && b->proto != JIDO_BUS_SUB && b->proto != JIDO_BUS_PULL)
		rv = nng_socket_set_ms(b->sock, NNG_OPT_SENDTIMEO, send_ms);
	return bus_err(rv);
}

int
jido_bus_subscribe(struct jido_bus *b, const char *prefix)
{
	return bus_err(nng_socket_set(b->sock, NNG_OPT_SUB_SUBSCRIBE, prefix, strlen(prefix)));
}

int
jido_bus_send(struct jido_bus *b, const void *buf, size_t len)
{
	return bus_err(nng_send(b->sock, (void *)buf, len, 0));
}

int
jido_bus_send_json(struct jido_bus *b, const json_t *j)
{
	char *s = jido_json_dump(j);
	int rc;

	if (s == NULL)
		return JIDO_EINTERNAL;
	rc = jido_bus_send(b, s, strlen(s));
	jido_free_wiped(s, strlen(s)); /* the serialized text may hold a secret */
	return rc;
}

int
jido_bus_recv(struct jido_bus *b, char **buf, size_t *len, struct jido_peer *peer)
{
	return jido_bus_recv_flags(b, buf, len, peer, 0);
}

/* Free a received message after wiping its body: any message may carry a secret (a
 * vault.get answer, a vault.put request), and nng does not wipe what it frees. */
static void
bus_msg_free_wiped(nng_msg *msg)
{
	sodium_memzero(nng_msg_body(msg), nng_msg_len(msg));
	if (jido_wipe_observe != NULL)
		jido_wipe_observe(nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
}

int
jido_bus_recv_flags(struct jido_bus *b, char **buf, size_t *len, struct jido_peer *peer,
    int nonblock)
{
	nng_msg *msg;
	int rv = nng_recvmsg(b->sock, &msg, nonblock ? NNG_FLAG_NONBLOCK : 0);

	if (rv == NNG_EAGAIN)
		return JIDO_ETIMEOUT;
	if (rv != 0)
		return bus_err(rv);
	return bus_msg_take(msg, buf, len, peer);
}

int
jido_bus_ctx_open(struct jido_bus *b, int recv_ms, int send_ms, struct jido_bus_ctx **out)
{
	struct jido_bus_ctx *c;
	int rv;

	if (b->proto != JIDO_BUS_REP)
		return JIDO_EVALIDATION;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return JIDO_EINTERNAL;
	if ((rv = nng_ctx_open(&c->ctx, b->sock)) != 0) {
		free(c);
		return bus_err(rv);
	}
	if ((rv = nng_aio_alloc(&c->aio, NULL, NULL)) != 0) {
		nng_ctx_close(c->ctx);
		free(c);
		return bus_err(rv);
	}
	c->recv_ms = recv_ms;
	c->send_ms = send_ms;
	*out = c;
	return 0;
}

int
jido_bus_ctx_recv(struct jido_bus_ctx *c, char **buf, size_t *len, struct jido_peer *peer)
{
	int rv;

	nng_aio_set_timeout(c->aio, c->recv_ms);
	nng_ctx_recv(c->ctx, c->aio);
	nng_aio_wait(c->aio);
	if ((rv = nng_aio_result(c->aio)) != 0)
		return bus_err(rv);
	return bus_msg_take(nng_aio_get_msg(c->aio), buf, len, peer);
}

int
jido_bus_ctx_send(struct jido_bus_ctx *c, const void *buf, size_t len)
{
	nng_msg *m;
	int rv = nng_msg_alloc(&m, 0);

	if (rv == 0 && (rv = nng_msg_append(m, buf, len)) != 0)
		nng_msg_free(m);
	if (rv != 0)
		return bus_err(rv);
	nng_aio_set_msg(c->aio, m);
	nng_aio_set_timeout(c->aio, c->send_ms);
	nng_ctx_send(c->ctx, c->aio);
	nng_aio_wait(c->aio);
	if ((rv = nng_aio_result(c->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(c->aio)); /* not sent: still ours */
		return bus_err(rv);
	}
	return 0;
}

int
jido_bus_ctx_send_json(struct jido_bus_ctx *c, const json_t *j)
{
	char *s = jido_json_dump(j);
	int rc;

	if (s == NULL)
		return JIDO_EINTERNAL;
	rc = jido_bus_ctx_send(c, s, strlen(s));
	free(s);
	return rc;
}

void
jido_bus_ctx_close(struct jido_bus_ctx *c)
{
	if (c == NULL)
		return;
	nng_aio_stop(c->aio);
	nng_ctx_close(c->ctx);
	nng_aio_free(c->aio);
	free(c);
}

/*
 * The ipc peer's uid and pid of pipe p. A connection's peer does not change, so they are
 * asked of the kernel (two getsockopt calls through nng) once per pipe and kept in a small
 * table indexed by the pipe's id (nng gives every pipe a fresh id), not once per message.
 */
#define BUS_PEER_SLOTS 64
static struct {
	uint32_t pipe;
	int known;
	uint64_t uid, pid;
} bus_peers[BUS_PEER_SLOTS];
static pthread_mutex_t bus_peers_mu = PTHREAD_MUTEX_INITIALIZER;

static void
bus_peer_of(nng_pipe p, struct jido_peer *peer)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);
	unsigned slot = id % BUS_PEER_SLOTS;

	memset(peer, 0, sizeof(*peer));
	pthread_mutex_lock(&bus_peers_mu);
	if (id != 0 && bus_peers[slot].pipe == id) {
		peer->known = bus_peers[slot].known;
		peer->uid = bus_peers[slot].uid;
		peer->pid = bus_peers[slot].pid;
		pthread_mutex_unlock(&bus_peers_mu);
		return;
	}
	pthread_mutex_unlock(&bus_peers_mu);
	if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &peer->uid) == 0 &&
	    nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &peer->pid) == 0)
		peer->known = 1;
	else
		peer->uid = peer->pid = 0;
	if (id == 0 || id == (uint32_t)-1)
		return;
	pthread_mutex_lock(&bus_peers_mu);
	bus_peers[slot].pipe = id;
	bus_peers[slot].known = peer->known;
	bus_peers[slot].uid = peer->uid;
	bus_peers[slot].pid = peer->pid;
	pthread_mutex_unlock(&bus_peers_mu);
}

/* Copy msg's body into a malloc'd NUL-terminated *buf, note its ipc peer, free msg. */
static int
bus_msg_take(nng_msg *msg, char **buf, size_t *len, struct jido_peer *peer)
{
	*len = nng_msg_len(msg);
	if ((*buf = malloc(*len + 1)) == NULL) {
		bus_msg_free_wiped(msg);
		return JIDO_EINTERNAL;
	}
	memcpy(*buf, nng_msg_body(msg), *len);
	(*buf)[*len] = '\0';
	if (peer != NULL)
		bus_peer_of(nng_msg_get_pipe(msg), peer);
	bus_msg_free_wiped(msg);
	return 0;
}

int
jido_bus_call_on(struct jido_bus *b, const char *type, const char *corr, json_t *data,
    struct jido_reply *r)
{
	char id[33], why[256], *buf = NULL;
	json_t *req;
	size_t len;
	int rc;

	jido_id_new(id, sizeof(id));
	if ((req = jido_msg_new(type, id, corr, data)) == NULL)
		return JIDO_EINTERNAL;
	rc = jido_bus_send_json(b, req);
	json_decref(req);
	if (rc != 0)
		return rc;
	if ((rc = jido_bus_recv(b, &buf, &len, NULL)) != 0)
		return rc;
	rc = jido_reply_parse(buf, len, r, why, sizeof(why));
	jido_free_wiped(buf, len); /* a vault.get answer holds the value */
	if (rc != 0)
		return JIDO_EINTERNAL;
	if (r->id != NULL && strcmp(r->id, id) != 0) {
		jido_reply_free(r);
		return JIDO_EINTERNAL;
	}
	return 0;
}

/* One call on a fresh REQ socket; bg: dial in the background (see jido_bus_call_bounded). */
static int
bus_call(const char *url, const char *type, const char *corr, json_t *data, int timeout_ms,
    int bg, struct jido_reply *r)
{
	struct jido_bus *b;
	int rc;

	if ((rc = jido_bus_open(JIDO_BUS_REQ, url, 0, bg ? JIDO_BUS_DIAL_BG : 0, NULL, &b)) != 0) {
		json_decref(data);
		return rc;
	}
	jido_bus_set_timeouts(b, timeout_ms, timeout_ms);
	rc = jido_bus_call_on(b, type, corr, data, r);
	jido_bus_close(b);
	return rc;
}

int
jido_bus_call(const char *url, const char *type, const char *corr, json_t *data, int timeout_ms,
    struct jido_reply *r)
{
	return bus_call(url, type, corr, data, timeout_ms, 0, r);
}

int
jido_bus_call_bounded(const char *url, const char *type, const char *corr, json_t *data,
    int timeout_ms, struct jido_reply *r)
{
	return bus_call(url, type, corr, data, timeout_ms, 1, r);
}

/* ------------------------------------------------------------ calls answered later */

/*
 * A call whose answer is collected later: the connection is made in the background, the
 * request goes out on an nng aio, and the caller's serving loop polls for the answer,
 * serving its own requests meanwhile. Two single-threaded processes that call each other
 * synchronously deadlock until a timeout when their calls cross (the executor sending a
 * step's result to the planner while the planner sends it the next step: both wait,
 * nobody serves), so the side that answers the other's calls sends its own this way.
 */
struct jido_bus_async {
	struct jido_bus *b;
	nng_aio *aio;
	int receiving;       /* 0: the request is being sent, 1: the answer is awaited */
	volatile int fired;  /* set by the aio callback (an nng thread), read by poll */
	char id[33];
	int64_t deadline_ms;
};

static void
bus_async_cb(void *arg)
{
	struct jido_bus_async *a = arg;

	__atomic_store_n(&a->fired, 1, __ATOMIC_RELEASE);
}

/* Contract: dial url in the background (a busy or stopped peer does not hold the caller in
 * the handshake), send {type, corr, data} (takes data) on an aio and return at once; the
 * answer is due within timeout_ms, sending included. On 0 *out is owned by the caller
 * (jido_bus_async_free); on an error nothing is left open. */
int
jido_bus_async_start(const char *url, const char *type, const char *corr, json_t *data,
    int timeout_ms, struct jido_bus_async **out)
{
	struct jido_bus_async *a;
	nng_msg *msg = NULL;
	json_t *req;
	char *text;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		json_decref(data);
		return JIDO_EINTERNAL;
	}
	if ((rc = jido_bus_open(JIDO_BUS_REQ, url, 0, JIDO_BUS_DIAL_BG, NULL, &a->b)) != 0) {
		json_decref(data);
		free(a);
		return rc;
	}
	jido_id_new(a->id, sizeof(a->id));
	req = jido_msg_new(type, a->id, corr, data);
	text = req != NULL ? jido_json_dump(req) : NULL;
	json_decref(req);
	if (text == NULL || nng_aio_alloc(&a->aio, bus_async_cb, a) != 0 ||
	    nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, text, strlen(text)) != 0) {
		if (text != NULL)
			jido_free_wiped(text, strlen(text));
		if (msg != NULL)
			bus_msg_free_wiped(msg);
		jido_bus_async_free(a);
		return JIDO_EINTERNAL;
	}
	jido_free_wiped(text, strlen(text)); /* the request may hold a secret */
	a->deadline_ms = jido_now_ms() + timeout_ms;
	nng_aio_set_timeout(a->aio, timeout_ms);
	nng_aio_set_msg(a->aio, msg);
	nng_send_aio(a->b->sock, a->aio);
	*out = a;
	return 0;
}

/* Contract: take a's answer if it has come, without waiting. 0 with *done = 1: *r holds
 * the ok or error reply (caller frees with jido_reply_free); 0 with *done = 0: not yet;
 * JIDO_ETIMEOUT: not sent or not answered within the timeout; JIDO_EINTERNAL: the answer
 * is not a reply to this request. a stays owned by the caller either way. */
int
jido_bus_async_poll(struct jido_bus_async *a, int *done, struct jido_reply *r)
{
	char why[256], *buf = NULL;
	size_t len;
	int rv, rc;

	*done = 0;
	if (!__atomic_load_n(&a->fired, __ATOMIC_ACQUIRE))
		return 0;
	a->fired = 0;
	if ((rv = nng_aio_result(a->aio)) != 0) {
		if (!a->receiving && nng_aio_get_msg(a->aio) != NULL) /* not sent: still ours */
			bus_msg_free_wiped(nng_aio_get_msg(a->aio));
		nng_aio_set_msg(a->aio, NULL);
		return bus_err(rv);
	}
	if (!a->receiving) { /* sent: now the answer, within what is left of the timeout */
		int64_t left = a->deadline_ms - jido_now_ms();
		a->receiving = 1;
		nng_aio_set_timeout(a->aio, left > 0 ? (nng_duration)left : 1);
		nng_recv_aio(a->b->sock, a->aio);
		return 0;
	}
	if ((rc = bus_msg_take(nng_aio_get_msg(a->aio), &buf, &len, NULL)) != 0)
		return rc;
	nng_aio_set_msg(a->aio, NULL);
	rc = jido_reply_parse(buf, len, r, why, sizeof(why));
	jido_free_wiped(buf, len); /* an answer may hold a secret */
	if (rc != 0)
		return JIDO_EINTERNAL;
	if (r->id != NULL && strcmp(r->id, a->id) != 0) {
		jido_reply_free(r);
		return JIDO_EINTERNAL;
	}
	*done = 1;
	return 0;
}

/* Stop a's aio (an answer still to come is dropped), close its socket, free a. NULL is
 * fine. */
void
jido_bus_async_free(struct jido_bus_async *a)
{
	if (a == NULL)
		return;
	if (a->aio != NULL) {
		nng_aio_stop(a->aio);
		/* ours still: a request not sent (stopped, timed out; a sent one is nng's), or an
		 * answer that came but was never taken by a poll */
		nng_msg *m = nng_aio_get_msg(a->aio);
		int rv = nng_aio_result(a->aio);
		if (m != NULL && (a->receiving ? rv == 0 : rv != 0))
			bus_msg_free_wiped(m);
		nng_aio_free(a->aio);
	}
	jido_bus_close(a->b);
	free(a);
}
