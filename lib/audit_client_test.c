/* audit_client_test.c - jido_audit_append against a fake auditor: the synchronous call's
 * envelope and reply handling (ok, error reply, no auditor), concurrent synchronous calls
 * coalesced into audit.append_many (each caller its own answer, bus.max_msg kept), the
 * fire-and-forget batches
 * on the push socket (numbered, in order, every record once) and jido_audit_flush's
 * audit.flush request and its answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "jido.h"

static char home[64];
static struct jido_conf *conf;

/* After a fake auditor closes: give the client's REQ socket time to see its pipe go (nng
 * then fails what is still on its way), so the next test's calls do not start before
 * that and fail with it. */
static void
settle(void)
{
	usleep(300 * 1000);
}

struct fake {
	struct jido_bus *b;
	int reply_err; /* answer with this error code instead of ok */
	char type[64];
	char actor[64];
	json_t *data; /* the request's data (a reference) */
};

/* Answer one request like the auditor would. */
static void *
fake_rep(void *arg)
{
	struct fake *f = arg;
	struct jido_msg m;
	char *buf, why[128];
	size_t len;
	json_t *r;

	if (jido_bus_recv(f->b, &buf, &len, NULL) != 0)
		return NULL;
	if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) == 0) {
		snprintf(f->type, sizeof(f->type), "%s", m.type);
		snprintf(f->actor, sizeof(f->actor), "%s",
		    json_string_value(json_object_get(m.data, "actor")));
		json_decref(f->data);
		f->data = json_incref(m.data);
		r = f->reply_err ? jido_reply_err(m.id, f->reply_err, "nope") :
		    jido_reply_ok(m.id, json_pack("{s:i,s:s}", "seq", 42, "leaf_hash", "00"));
		jido_bus_send_json(f->b, r);
		json_decref(r);
		jido_msg_free(&m);
	}
	free(buf);
	return NULL;
}

static int
setup(void **state)
{
	char why[256], run[96];

	(void)state;
	snprintf(home, sizeof(home), "/tmp/jido-ac.XXXXXX");
	if (mkdtemp(home) == NULL)
		return -1;
	snprintf(run, sizeof(run), "%s/run", home);
	if (jido_mkdirs(run, 0700) != 0 || jido_conf_load("/dev/null", &conf, why, sizeof(why)) != 0)
		return -1;
	return jido_conf_set(conf, "bus.timeout_ms", "2000", why, sizeof(why));
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	jido_audit_close();
	jido_conf_free(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *
record(void)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "actor", "gitops", "channel", "system",
	    "action", "git.push", "subject", "o/r#1", "result", "ok");
}

static void
test_sync(void **state)
{
	struct fake f;
	pthread_t t;
	char url[128];
	uint64_t seq = 0;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(jido_bus_url_req(home, "auditor", url, sizeof(url)), 0);
	/* no auditor: unavailable, and the record is released */
	assert_int_equal(jido_audit_append(conf, home, record(), 1, &seq), JIDO_EUNAVAIL);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f.b), 0);
	pthread_create(&t, NULL, fake_rep, &f);
	assert_int_equal(jido_audit_append(conf, home, record(), 1, &seq), 0);
	pthread_join(t, NULL);
	assert_int_equal(seq, 42);
	assert_string_equal(f.type, "audit.append");
	assert_string_equal(f.actor, "gitops");
	/* an error reply is the caller's error: the side effect must not happen */
	f.reply_err = JIDO_EINTERNAL;
	pthread_create(&t, NULL, fake_rep, &f);
	assert_int_equal(jido_audit_append(conf, home, record(), 1, &seq), JIDO_EINTERNAL);
	pthread_join(t, NULL);
	jido_bus_close(f.b);
	settle();
	json_decref(f.data);
	assert_int_equal(jido_audit_append(conf, home, json_string("x"), 1, NULL),
	    JIDO_EVALIDATION);
}

/* The auditor goes (kill -9) after it received an append and before it answered: the
 * call fails, and the request is not sent again to the auditor that comes up next (with
 * NNG_OPT_REQ_RESENDTIME infinite, nng fails a request whose pipe closed instead of
 * resending it; a resend would write the record twice). */
struct gone_fake {
	struct jido_bus *b;
	int got;
};

static void *
gone_first(void *arg)
{
	struct gone_fake *f = arg;
	char *buf;
	size_t len;

	if (jido_bus_recv(f->b, &buf, &len, NULL) == 0) {
		f->got = 1;
		free(buf);
	}
	jido_bus_close(f->b); /* no answer: gone */
	return NULL;
}

struct gone_call {
	int rc;
};

static void *
gone_call(void *arg)
{
	struct gone_call *c = arg;

	c->rc = jido_audit_append(conf, home, record(), 1, NULL);
	return NULL;
}

static void
test_sync_not_resent(void **state)
{
	struct gone_fake f1 = { NULL, 0 }, f2 = { NULL, 0 };
	struct gone_call c = { -1 };
	pthread_t t, tc;
	char url[128], *buf;
	size_t len;

	(void)state;
	assert_int_equal(jido_bus_url_req(home, "auditor", url, sizeof(url)), 0);
	unlink(url + 6);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f1.b), 0);
	jido_bus_set_timeouts(f1.b, 5000, 5000);
	assert_int_equal(pthread_create(&t, NULL, gone_first, &f1), 0);
	assert_int_equal(pthread_create(&tc, NULL, gone_call, &c), 0);
	pthread_join(t, NULL);
	assert_int_equal(f1.got, 1);
	/* the next auditor listens at once, well within the caller's bus.timeout_ms */
	unlink(url + 6);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f2.b), 0);
	jido_bus_set_timeouts(f2.b, 1500, 1500);
	pthread_join(tc, NULL);
	assert_int_equal(c.rc, JIDO_EUNAVAIL);
	assert_int_not_equal(jido_bus_recv(f2.b, &buf, &len, NULL), 0);
	jido_bus_close(f2.b);
	settle();
}

/* ---- concurrent synchronous appends: coalesced, each caller answered on its own */

#define MANY_CALLERS 8

struct many_fake {
	struct jido_bus *b;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;        /* callers started (the first reply waits for all of them) */
	size_t records;     /* records received so far */
	size_t most;        /* the most records in one request */
	size_t longest;     /* the longest request, bytes */
	int many;           /* audit.append_many requests seen */
};

/* The answer for one record: subject "s<i>" gets seq 100+i, subject "bad" an error. */
static json_t *
many_result(json_t *rec)
{
	const char *subj = json_string_value(json_object_get(rec, "subject"));

	if (subj != NULL && strcmp(subj, "bad") == 0)
		return json_pack("{s:s,s:s}", "error", "validation_error", "why", "bad subject");
	return json_pack("{s:i,s:s}", "seq", 100 + atoi(subj != NULL ? subj + 1 : "0"),
	    "leaf_hash", "00");
}

static void *
many_fake_rep(void *arg)
{
	struct many_fake *f = arg;
	int first = 1;

	while (f->records < MANY_CALLERS) {
		struct jido_msg m;
		char *buf, why[128];
		size_t len, n;
		json_t *r, *res;
		if (jido_bus_recv(f->b, &buf, &len, NULL) != 0)
			return NULL;
		assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
		if (len > f->longest)
			f->longest = len;
		if (first) { /* hold the first answer until every caller is on its way */
			pthread_mutex_lock(&f->mu);
			while (f->started < MANY_CALLERS)
				pthread_cond_wait(&f->cv, &f->mu);
			pthread_mutex_unlock(&f->mu);
			usleep(200 * 1000);
			first = 0;
		}
		if (strcmp(m.type, "audit.append") == 0) {
			n = 1;
			res = many_result(m.data);
			r = json_object_get(res, "error") != NULL ?
			    jido_reply_err(m.id, JIDO_EVALIDATION, "bad subject") :
			    jido_reply_ok(m.id, json_incref(res));
			json_decref(res);
		} else {
			json_t *recs = json_object_get(m.data, "records"), *rec;
			size_t i;
			assert_string_equal(m.type, "audit.append_many");
			f->many++;
			n = json_array_size(recs);
			res = json_array();
			json_array_foreach(recs, i, rec)
				json_array_append_new(res, many_result(rec));
			r = jido_reply_ok(m.id, json_pack("{s:o}", "results", res));
		}
		f->records += n;
		if (n > f->most)
			f->most = n;
		jido_bus_send_json(f->b, r);
		json_decref(r);
		jido_msg_free(&m);
		free(buf);
	}
	return NULL;
}

struct many_caller {
	struct many_fake *f;
	int i, rc;
	uint64_t seq;
};

static void *
many_call(void *arg)
{
	struct many_caller *c = arg;
	json_t *r = record();
	char subj[16];

	snprintf(subj, sizeof(subj), c->i == 3 ? "bad" : "s%d", c->i);
	json_object_set_new(r, "subject", json_string(subj));
	pthread_mutex_lock(&c->f->mu);
	c->f->started++;
	pthread_cond_broadcast(&c->f->cv);
	pthread_mutex_unlock(&c->f->mu);
	c->rc = jido_audit_append(conf, home, r, 1, &c->seq);
	return NULL;
}

/* MANY_CALLERS threads append at once while the first request waits for its answer. */
static void
many_round(struct many_fake *f)
{
	struct many_caller c[MANY_CALLERS];
	pthread_t t, ct[MANY_CALLERS];
	char url[128];

	assert_int_equal(jido_bus_url_req(home, "auditor", url, sizeof(url)), 0);
	unlink(url + 6);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f->b), 0);
	jido_bus_set_timeouts(f->b, 5000, 5000);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, many_fake_rep, f), 0);
	for (int i = 0; i < MANY_CALLERS; i++) {
		c[i] = (struct many_caller){ f, i, -1, 0 };
		assert_int_equal(pthread_create(&ct[i], NULL, many_call, &c[i]), 0);
	}
	for (int i = 0; i < MANY_CALLERS; i++)
		pthread_join(ct[i], NULL);
	pthread_join(t, NULL);
	jido_bus_close(f->b);
	settle();
	for (int i = 0; i < MANY_CALLERS; i++) {
		if (i == 3) {
			assert_int_equal(c[i].rc, JIDO_EVALIDATION);
			continue;
		}
		assert_int_equal(c[i].rc, 0);
		assert_int_equal(c[i].seq, 100 + i);
	}
	assert_int_equal(f->records, MANY_CALLERS);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
}

static void
test_sync_many(void **state)
{
	struct many_fake f;
	char why[128];

	(void)state;
	memset(&f, 0, sizeof(f));
	many_round(&f);
	/* the callers that queued behind the held request went together */
	assert_true(f.many >= 1);
	assert_true(f.most >= 2);
	/* a request never exceeds bus.max_msg: a group too big for it goes in parts */
	assert_int_equal(jido_conf_set(conf, "bus.max_msg", "400", why, sizeof(why)), 0);
	memset(&f, 0, sizeof(f));
	many_round(&f);
	assert_true(f.longest <= 400);
	assert_int_equal(jido_conf_set(conf, "bus.max_msg", "1048576", why, sizeof(why)), 0);
}

/* test_sync_share: SHARE_CALLERS threads each append SHARE_EACH records in a loop against
 * a fake auditor that takes SHARE_MS to answer each request. */
#define SHARE_CALLERS 24
#define SHARE_EACH 12
#define SHARE_MS 15

struct share_fake {
	struct jido_bus *b;
	size_t records, requests, small; /* small: requests of 1-2 records */
};

static void *
share_fake_rep(void *arg)
{
	struct share_fake *f = arg;

	while (f->records < SHARE_CALLERS * SHARE_EACH) {
		struct jido_msg m;
		char *buf, why[128];
		size_t len, n = 1, i;
		json_t *res = json_array(), *rec;
		if (jido_bus_recv(f->b, &buf, &len, NULL) != 0)
			return NULL;
		assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
		usleep(SHARE_MS * 1000);
		if (strcmp(m.type, "audit.append_many") == 0) {
			n = json_array_size(json_object_get(m.data, "records"));
			json_array_foreach(json_object_get(m.data, "records"), i, rec)
				json_array_append_new(res, json_pack("{s:i,s:s}", "seq", 1, "leaf_hash", "00"));
		}
		json_t *r = jido_reply_ok(m.id, n == 1 ? json_pack("{s:i,s:s}", "seq", 1, "leaf_hash",
		    "00") : json_pack("{s:o}", "results", res));
		if (n == 1)
			json_decref(res);
		f->records += n;
		f->requests++;
		if (n <= 2)
			f->small++;
		jido_bus_send_json(f->b, r);
		json_decref(r);
		jido_msg_free(&m);
		free(buf);
	}
	return NULL;
}

static void *
share_call(void *arg)
{
	int *rc = arg;

	for (int k = 0; k < SHARE_EACH && *rc == 0; k++)
		*rc = jido_audit_append(conf, home, record(), 1, NULL);
	return NULL;
}

/* Callers that keep appending while requests are on their way: a request that leaves
 * while another is in flight waits for its share of the callers (active / in flight),
 * so requests of one or two records are rare, not every other one. */
static void
test_sync_share(void **state)
{
	struct share_fake f;
	pthread_t t, ct[SHARE_CALLERS];
	int rc[SHARE_CALLERS];
	char url[128];

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(jido_bus_url_req(home, "auditor", url, sizeof(url)), 0);
	unlink(url + 6);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f.b), 0);
	jido_bus_set_timeouts(f.b, 5000, 5000);
	assert_int_equal(pthread_create(&t, NULL, share_fake_rep, &f), 0);
	for (int i = 0; i < SHARE_CALLERS; i++) {
		rc[i] = 0;
		assert_int_equal(pthread_create(&ct[i], NULL, share_call, &rc[i]), 0);
	}
	for (int i = 0; i < SHARE_CALLERS; i++) {
		pthread_join(ct[i], NULL);
		assert_int_equal(rc[i], 0);
	}
	pthread_join(t, NULL);
	jido_bus_close(f.b);
	settle();
	assert_int_equal(f.records, SHARE_CALLERS * SHARE_EACH);
	print_message("share: %zu requests, %zu of 1-2 records\n", f.requests, f.small);
	assert_true(f.small * 3 <= f.requests);
}

/* Receive pushed batches until `want` records came; check their numbering from *batch+1
 * on and the client id; returns the records' actions joined by ','. */
static void
recv_batches(struct jido_bus *pull, size_t want, uint64_t *batch, char *client, char *acts,
    size_t actlen)
{
	size_t got = 0;

	acts[0] = '\0';
	while (got < want) {
		struct jido_msg m;
		char *buf, why[128];
		size_t len, i;
		json_t *r;
		assert_int_equal(jido_bus_recv(pull, &buf, &len, NULL), 0);
		assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
		assert_string_equal(m.type, "audit.append_batch");
		assert_int_equal(json_integer_value(json_object_get(m.data, "batch")), *batch + 1);
		(*batch)++;
		if (client[0] == '\0')
			snprintf(client, 65, "%s", json_string_value(json_object_get(m.data, "client")));
		assert_string_equal(json_string_value(json_object_get(m.data, "client")), client);
		json_array_foreach(json_object_get(m.data, "records"), i, r) {
			snprintf(acts + strlen(acts), actlen - strlen(acts), "%s%s", got ? "," : "",
			    json_string_value(json_object_get(r, "action")));
			got++;
		}
		jido_msg_free(&m);
		free(buf);
	}
}

static json_t *
record_act(const char *action)
{
	json_t *r = record();

	json_object_set_new(r, "action", json_string(action));
	return r;
}

static void
test_push(void **state)
{
	struct jido_bus *pull;
	struct fake f;
	pthread_t t;
	char url[128], client[65] = "", acts[256];
	uint64_t batch = 0;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/run/auditor.push", home);
	assert_int_equal(jido_bus_open(JIDO_BUS_PULL, url, 1, 0, NULL, &pull), 0);
	jido_bus_set_timeouts(pull, 3000, 3000);
	/* nothing pushed yet: a flush has nothing to confirm and asks nothing */
	assert_int_equal(jido_audit_flush(), 0);
	assert_int_equal(jido_audit_append(conf, home, record_act("a.one"), 0, NULL), 0);
	assert_int_equal(jido_audit_append(conf, home, record_act("a.two"), 0, NULL), 0);
	assert_int_equal(jido_audit_append(conf, home, record_act("a.three"), 0, NULL), 0);
	/* buffered, then pushed by the flusher within a few ms, in order, each once */
	recv_batches(pull, 3, &batch, client, acts, sizeof(acts));
	assert_string_equal(acts, "a.one,a.two,a.three");
	/* 300 records: a full batch goes at once, the rest after the delay */
	for (int i = 0; i < 300; i++)
		assert_int_equal(jido_audit_append(conf, home, record_act("bulk"), 0, NULL), 0);
	uint64_t first = batch;
	recv_batches(pull, 300, &batch, client, acts, sizeof(acts));
	assert_true(batch - first >= 2);

	/* the flush asks the auditor for exactly the batches pushed since the last flush */
	memset(&f, 0, sizeof(f));
	assert_int_equal(jido_bus_url_req(home, "auditor", url, sizeof(url)), 0);
	unlink(url + 6);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0, NULL, &f.b), 0);
	jido_bus_set_timeouts(f.b, 5000, 5000);
	assert_int_equal(pthread_create(&t, NULL, fake_rep, &f), 0);
	assert_int_equal(jido_audit_flush(), 0);
	pthread_join(t, NULL);
	assert_string_equal(f.type, "audit.flush");
	assert_string_equal(json_string_value(json_object_get(f.data, "client")), client);
	assert_int_equal(json_integer_value(json_object_get(f.data, "from")), 1);
	assert_int_equal(json_integer_value(json_object_get(f.data, "to")), batch);
	/* the auditor's refusal is the flush's result; the next range starts after it */
	assert_int_equal(jido_audit_append(conf, home, record_act("a.four"), 0, NULL), 0);
	recv_batches(pull, 1, &batch, client, acts, sizeof(acts));
	f.reply_err = JIDO_EVALIDATION;
	assert_int_equal(pthread_create(&t, NULL, fake_rep, &f), 0);
	assert_int_equal(jido_audit_flush(), JIDO_EVALIDATION);
	pthread_join(t, NULL);
	assert_int_equal(json_integer_value(json_object_get(f.data, "from")), batch);
	assert_int_equal(json_integer_value(json_object_get(f.data, "to")), batch);
	json_decref(f.data);
	assert_int_equal(jido_audit_flush(), 0);
	jido_bus_close(f.b);
	jido_audit_close();
	jido_bus_close(pull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_sync_not_resent),
		cmocka_unit_test(test_sync_many),
		cmocka_unit_test(test_sync_share),
		cmocka_unit_test(test_push),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
