/*
 * audit_client.c - how any process writes an audit record: jido_audit_append sends the
 * wire's audit.append either synchronously to the auditor's request socket (answered only
 * once the record is durable) or fire-and-forget to its PULL socket run/auditor.push.
 * Both sockets are opened once per process and shared by its threads.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/req.h>

#include "jido.h"

#define AUDIT_PUSH_BUF 1024 /* messages queued in this process before a send waits */

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

int
jido_audit_append(const struct jido_conf *c, const char *home, json_t *record, int sync,
    uint64_t *seq)
{
	char url[PATH_MAX + 16];
	int rc;

	if (!json_is_object(record)) {
		json_decref(record);
		return JIDO_EVALIDATION;
	}
	if (sync) {
		struct jido_reply r;
		char id[33], *text;
		json_t *m;
		if ((rc = audit_url(c, home, "socket.auditor", "auditor.sock", url,
		    sizeof(url))) != 0) {
			json_decref(record);
			return rc;
		}
		jido_id_new(id, sizeof(id));
		m = jido_msg_new("audit.append", id, NULL, record);
		text = m != NULL ? jido_json_dump(m) : NULL;
		json_decref(m);
		if (text == NULL)
			return JIDO_EINTERNAL;
		pthread_mutex_lock(&audit_mu);
		rc = audit_req_get(url);
		pthread_mutex_unlock(&audit_mu);
		if (rc == 0)
			rc = audit_req_call(text, id, (int)jido_conf_int(c, "bus.timeout_ms"), &r);
		free(text);
		if (rc != 0)
			return rc;
		if (!r.ok)
			rc = r.err != 0 ? r.err : JIDO_EINTERNAL;
		else if (seq != NULL)
			*seq = (uint64_t)json_integer_value(json_object_get(r.data, "seq"));
		jido_reply_free(&r);
		return rc;
	}
	if ((rc = audit_url(c, home, "socket.auditor_push", "auditor.push", url,
	    sizeof(url))) != 0) {
		json_decref(record);
		return rc;
	}
	json_t *m = jido_msg_new("audit.append", NULL, NULL, record);
	char *text = m != NULL ? jido_json_dump(m) : NULL;
	json_decref(m);
	if (text == NULL)
		return JIDO_EINTERNAL;
	pthread_mutex_lock(&audit_mu);
	if (audit_push_open && strcmp(audit_push_url, url) != 0) {
		nng_close(audit_push);
		audit_push_open = 0;
	}
	if (!audit_push_open)
		rc = audit_push_dial(url);
	pthread_mutex_unlock(&audit_mu);
	if (rc == 0) {
		/* nng sockets are thread-safe: send outside the lock */
		int rv = nng_send(audit_push, text, strlen(text), 0);
		rc = rv == 0 ? 0 : rv == NNG_ETIMEDOUT ? JIDO_ETIMEOUT : JIDO_EUNAVAIL;
	}
	free(text);
	return rc;
}

void
jido_audit_close(void)
{
	pthread_mutex_lock(&audit_mu);
	if (audit_push_open) {
		/* let queued records go out before closing (nng_close drops them) */
		usleep(50 * 1000);
		nng_close(audit_push);
	}
	audit_push_open = 0;
	if (audit_req_open)
		nng_close(audit_req);
	audit_req_open = 0;
	pthread_mutex_unlock(&audit_mu);
}
