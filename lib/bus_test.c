/* bus_test.c - the nng bus over ipc (file mode, peer uid/pid), tcp and tls+tcp, with
 * request/reply (also on REP contexts), publish/subscribe and push/pull, timeouts and
 * unavailable peers; calls answered later (jido_bus_async_*): start returns before the
 * peer answers, poll takes the answer, an unanswered call times out, and two serving loops
 * whose calls cross (the executor's result to the planner while the planner calls the
 * executor) both get their answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "jido.h"

static char dir[64];

/* A loopback TCP port that is free now. */
static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &alen);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/jido-bus-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Serve one request on rep: echo the type back in data. */
static void
serve_one(struct jido_bus *rep, struct jido_peer *peer)
{
	char *buf, why[128];
	size_t len;
	struct jido_msg m;
	json_t *r;

	assert_int_equal(jido_bus_recv(rep, &buf, &len, peer), 0);
	assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
	free(buf);
	r = jido_reply_ok(m.id, json_pack("{s:s}", "echo", m.type));
	assert_int_equal(jido_bus_send_json(rep, r), 0);
	json_decref(r);
	jido_msg_free(&m);
}

static void
roundtrip(const char *url, const struct jido_bus_tls *stls, const struct jido_bus_tls *ctls,
    int expect_peer)
{
	struct jido_bus *rep, *req;
	struct jido_reply r;
	struct jido_peer peer;

	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, stls, &rep), 0);
	jido_bus_set_timeouts(rep, 2000, 2000);
	assert_int_equal(jido_bus_open(JIDO_BUS_REQ, url, 0, 0, ctls, &req), 0);
	jido_bus_set_timeouts(req, 2000, 2000);
	/* send first (queued), then serve, then read the reply */
	char id[33];
	jido_id_new(id, sizeof(id));
	json_t *m = jido_msg_new("x.ping", id, NULL, NULL);
	assert_int_equal(jido_bus_send_json(req, m), 0);
	json_decref(m);
	serve_one(rep, &peer);
	char *buf, why[64];
	size_t len;
	assert_int_equal(jido_bus_recv(req, &buf, &len, NULL), 0);
	assert_int_equal(jido_reply_parse(buf, len, &r, why, sizeof(why)), 0);
	free(buf);
	assert_true(r.ok);
	assert_string_equal(r.id, id);
	assert_string_equal(json_string_value(json_object_get(r.data, "echo")), "x.ping");
	jido_reply_free(&r);
	assert_int_equal(peer.known, expect_peer);
	if (expect_peer) {
		assert_int_equal(peer.uid, (uint64_t)getuid());
		assert_int_equal(peer.pid, (uint64_t)getpid());
	}
	jido_bus_close(req);
	jido_bus_close(rep);
}

/* Two REP contexts hold two requests at once and answer them in the other order; each
 * reply reaches its own requester; an idle context times out; only REP has contexts. */
static void
test_ctx(void **state)
{
	struct jido_bus *rep, *req[2], *pub;
	struct jido_bus_ctx *ctx[2], *none;
	struct jido_peer peer;
	char url[128], id[2][33], *buf, why[64];
	size_t len;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/ctx.sock", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jido_bus_ctx_open(rep, 2000, 2000, &ctx[i]), 0);
		assert_int_equal(jido_bus_open(JIDO_BUS_REQ, url, 0, 0, NULL, &req[i]), 0);
		jido_bus_set_timeouts(req[i], 2000, 2000);
		jido_id_new(id[i], sizeof(id[i]));
		json_t *m = jido_msg_new("x.ping", id[i], NULL, NULL);
		assert_int_equal(jido_bus_send_json(req[i], m), 0);
		json_decref(m);
	}
	struct jido_msg m[2];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jido_bus_ctx_recv(ctx[i], &buf, &len, &peer), 0);
		assert_int_equal(jido_msg_parse(buf, len, &m[i], why, sizeof(why), NULL), 0);
		free(buf);
		assert_int_equal(peer.known, 1);
		assert_int_equal(peer.pid, (uint64_t)getpid());
	}
	for (int i = 1; i >= 0; i--) { /* the later request is answered first */
		json_t *r = jido_reply_ok(m[i].id, json_pack("{s:i}", "ctx", i));
		assert_int_equal(jido_bus_ctx_send_json(ctx[i], r), 0);
		json_decref(r);
	}
	for (int i = 0; i < 2; i++) {
		struct jido_reply r;
		int k;
		assert_int_equal(jido_bus_recv(req[i], &buf, &len, NULL), 0);
		assert_int_equal(jido_reply_parse(buf, len, &r, why, sizeof(why)), 0);
		free(buf);
		/* each requester gets the answer to its own request */
		k = strcmp(m[0].id, id[i]) == 0 ? 0 : 1;
		assert_string_equal(r.id, id[i]);
		assert_int_equal(json_integer_value(json_object_get(r.data, "ctx")), k);
		jido_reply_free(&r);
	}
	jido_msg_free(&m[0]);
	jido_msg_free(&m[1]);
	jido_bus_ctx_close(ctx[1]);
	assert_int_equal(jido_bus_ctx_open(rep, 50, 2000, &ctx[1]), 0);
	assert_int_equal(jido_bus_ctx_recv(ctx[1], &buf, &len, NULL), JIDO_ETIMEOUT);
	for (int i = 0; i < 2; i++) {
		jido_bus_ctx_close(ctx[i]);
		jido_bus_close(req[i]);
	}
	jido_bus_close(rep);
	jido_bus_ctx_close(NULL);
	snprintf(url, sizeof(url), "ipc://%s/ctx.pub", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_PUB, url, 1, 0600, NULL, &pub), 0);
	assert_int_equal(jido_bus_ctx_open(pub, 50, 50, &none), JIDO_EVALIDATION);
	jido_bus_close(pub);
}

static void
test_ipc(void **state)
{
	char url[128], path[128];
	struct stat st;
	struct jido_bus *rep;

	(void)state;
	snprintf(path, sizeof(path), "%s/a.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	roundtrip(url, NULL, NULL, 1);
	assert_int_not_equal(stat(path, &st), 0); /* closed listener removes its file */
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second listener on a live path is refused and leaves the first serving */
	struct jido_bus *again;
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &again), JIDO_EUNAVAIL);
	jido_bus_close(rep);
}

static void
test_ipc_stale_file(void **state)
{
	char url[128], path[128];
	FILE *f;
	struct jido_bus *rep;

	(void)state;
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", path);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	jido_bus_close(rep);
}

static void
test_tcp(void **state)
{
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", free_port());
	roundtrip(url, NULL, NULL, 0);
}

static void
test_unavailable_and_timeout(void **state)
{
	char url[128];
	struct jido_reply r;
	struct jido_bus *rep;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/none.sock", dir);
	assert_int_equal(jido_bus_call(url, "x.ping", NULL, NULL, 200, &r), JIDO_EUNAVAIL);
	/* a listener that never answers: timeout */
	snprintf(url, sizeof(url), "ipc://%s/mute.sock", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	assert_int_equal(jido_bus_call(url, "x.ping", NULL, NULL, 200, &r), JIDO_ETIMEOUT);
	jido_bus_close(rep);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, "http://x", 1, 0, NULL, &rep),
	    JIDO_EVALIDATION);
}

static void
test_pubsub_pushpull(void **state)
{
	char url[128], *buf;
	size_t len;
	struct jido_bus *pub, *sub, *push, *pull;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/t.pub", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_PUB, url, 1, 0600, NULL, &pub), 0);
	assert_int_equal(jido_bus_open(JIDO_BUS_SUB, url, 0, 0, NULL, &sub), 0);
	assert_int_equal(jido_bus_subscribe(sub, ""), 0);
	jido_bus_set_timeouts(sub, 100, 100);
	/* pub/sub drops messages until the subscriber is connected: retry */
	int got = 0;
	for (int i = 0; i < 50 && !got; i++) {
		jido_bus_send(pub, "hello", 5);
		if (jido_bus_recv(sub, &buf, &len, NULL) == 0) {
			assert_memory_equal(buf, "hello", 5);
			free(buf);
			got = 1;
		}
	}
	assert_true(got);
	jido_bus_close(sub);
	jido_bus_close(pub);

	snprintf(url, sizeof(url), "ipc://%s/q.push", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_PULL, url, 1, 0600, NULL, &pull), 0);
	assert_int_equal(jido_bus_open(JIDO_BUS_PUSH, url, 0, 0, NULL, &push), 0);
	jido_bus_set_timeouts(pull, 2000, 2000);
	jido_bus_set_timeouts(push, 2000, 2000);
	assert_int_equal(jido_bus_send(push, "item", 4), 0);
	assert_int_equal(jido_bus_recv(pull, &buf, &len, NULL), 0);
	assert_int_equal(len, 4);
	free(buf);
	jido_bus_close(push);
	jido_bus_close(pull);
}

static void
test_tls(void **state)
{
	char cmd[1024], cert[128], key[128], url[64];
	struct jido_bus_tls stls, ctls, bad;
	struct jido_bus *rep, *req;

	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 "
	    "-nodes -keyout %s -out %s -days 1 -subj /CN=localhost "
	    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1", key, cert);
	if (system(cmd) != 0)
		fail_msg("openssl could not make a test certificate");
	/* mutual TLS with one self-signed certificate serving as both ends and the CA */
	stls = (struct jido_bus_tls){ cert, key, cert };
	ctls = (struct jido_bus_tls){ cert, key, cert };
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", free_port());
	roundtrip(url, &stls, &ctls, 0);
	/* a client without a CA is refused before dialling */
	bad = (struct jido_bus_tls){ NULL, NULL, NULL };
	assert_int_equal(jido_bus_open(JIDO_BUS_REQ, url, 0, 0, &bad, &req), JIDO_EVALIDATION);
	/* tls+tcp without TLS material at all */
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &rep), JIDO_EVALIDATION);
}

/* ---- calls answered later (jido_bus_async_*) */

/* Poll a until it is answered or fails; returns poll's code. */
static int
wait_answer(struct jido_bus_async *a, struct jido_reply *r)
{
	int rc, done = 0;

	while ((rc = jido_bus_async_poll(a, &done, r)) == 0 && !done)
		poll(NULL, 0, 2);
	return rc;
}

static void
test_start_then_poll(void **state)
{
	char url[128];
	struct jido_bus *rep;
	struct jido_bus_async *a;
	struct jido_reply r;
	int done = 1;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/a.sock", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	assert_int_equal(jido_bus_async_start(url, "t.result", "r_1", json_pack("{s:i}", "x", 1),
	    5000, &a), 0);
	/* the peer has not answered (it has not even read the request): not done, no wait */
	assert_int_equal(jido_bus_async_poll(a, &done, &r), 0);
	assert_int_equal(done, 0);
	serve_one(rep, NULL);
	assert_int_equal(wait_answer(a, &r), 0);
	assert_true(r.ok);
	assert_string_equal(json_string_value(json_object_get(r.data, "echo")), "t.result");
	jido_reply_free(&r);
	jido_bus_async_free(a);
	jido_bus_close(rep);
}

static void
test_unanswered_and_unavailable(void **state)
{
	char url[128];
	struct jido_bus *rep;
	struct jido_bus_async *a = NULL;
	struct jido_reply r;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/b.sock", dir);
	/* nobody listens: the start does not wait for a connection, the answer never comes */
	assert_int_equal(jido_bus_async_start(url, "t.x", NULL, NULL, 100, &a), 0);
	assert_int_equal(wait_answer(a, &r), JIDO_ETIMEOUT);
	jido_bus_async_free(a);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &rep), 0);
	assert_int_equal(jido_bus_async_start(url, "t.x", NULL, NULL, 100, &a), 0);
	assert_int_equal(wait_answer(a, &r), JIDO_ETIMEOUT); /* the peer never answers */
	jido_bus_async_free(a);
	jido_bus_close(rep);
	jido_bus_async_free(NULL);
}

/* The "planner": takes the "executor"'s result and, before answering it, calls the
 * executor (as the planner's tick sends the next step), then answers the result with
 * what that call gave. */
struct crossing {
	char exec_url[128], planner_url[128];
	struct jido_bus *rep;
	int nested_rc;
};

static void *
planner_main(void *arg)
{
	struct crossing *c = arg;
	char *buf, why[128];
	size_t len;
	struct jido_msg m;
	struct jido_reply r;
	json_t *ans;

	if (jido_bus_recv(c->rep, &buf, &len, NULL) != 0 ||
	    jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) != 0)
		return NULL;
	free(buf);
	c->nested_rc = jido_bus_call(c->exec_url, "executor.step.run", NULL, NULL, 3000, &r);
	if (c->nested_rc == 0)
		jido_reply_free(&r);
	ans = jido_reply_ok(m.id, json_pack("{s:i}", "nested_rc", c->nested_rc));
	jido_bus_send_json(c->rep, ans);
	json_decref(ans);
	jido_msg_free(&m);
	return NULL;
}

static void
test_crossing_calls_are_answered(void **state)
{
	struct crossing c = { .nested_rc = -1 };
	struct jido_bus *exec_rep;
	struct jido_bus_async *a;
	struct jido_reply r;
	pthread_t t;
	int rc, done = 0, served = 0;

	(void)state;
	snprintf(c.exec_url, sizeof(c.exec_url), "ipc://%s/exec.sock", dir);
	snprintf(c.planner_url, sizeof(c.planner_url), "ipc://%s/planner.sock", dir);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, c.exec_url, 1, 0600, NULL, &exec_rep), 0);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, c.planner_url, 1, 0600, NULL, &c.rep), 0);
	assert_int_equal(pthread_create(&t, NULL, planner_main, &c), 0);
	/* the "executor": sends its result, and serves its own socket while it waits */
	assert_int_equal(jido_bus_async_start(c.planner_url, "planner.steps.result", "r_1",
	    json_pack("{s:s}", "status", "done"), 5000, &a), 0);
	while ((rc = jido_bus_async_poll(a, &done, &r)) == 0 && !done) {
		char *buf, why[128];
		size_t len;
		struct jido_msg m;
		if (jido_bus_recv_flags(exec_rep, &buf, &len, NULL, 1) == 0) {
			assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
			free(buf);
			json_t *ans = jido_reply_ok(m.id, NULL);
			assert_int_equal(jido_bus_send_json(exec_rep, ans), 0);
			json_decref(ans);
			jido_msg_free(&m);
			served++;
		} else
			poll(NULL, 0, 2);
	}
	pthread_join(t, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(served, 1);
	assert_int_equal(c.nested_rc, 0); /* the planner's call was answered, not timed out */
	assert_true(r.ok);
	assert_int_equal(json_integer_value(json_object_get(r.data, "nested_rc")), 0);
	jido_reply_free(&r);
	jido_bus_async_free(a);
	jido_bus_close(exec_rep);
	jido_bus_close(c.rep);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipc),
		cmocka_unit_test(test_ctx),
		cmocka_unit_test(test_ipc_stale_file),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_unavailable_and_timeout),
		cmocka_unit_test(test_pubsub_pushpull),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_start_then_poll),
		cmocka_unit_test(test_unanswered_and_unavailable),
		cmocka_unit_test(test_crossing_calls_are_answered),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
