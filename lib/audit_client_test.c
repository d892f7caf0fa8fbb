/* audit_client_test.c - jido_audit_append against a fake auditor: the synchronous call's
 * envelope and reply handling (ok, error reply, no auditor), and the fire-and-forget
 * envelope on the push socket. */
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

struct fake {
	struct jido_bus *b;
	int reply_err; /* answer with this error code instead of ok */
	char type[64];
	char actor[64];
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
	assert_int_equal(jido_audit_append(conf, home, json_string("x"), 1, NULL),
	    JIDO_EVALIDATION);
}

static void
test_push(void **state)
{
	struct jido_bus *pull;
	struct jido_msg m;
	char url[128], *buf, why[128];
	size_t len;

	(void)state;
	snprintf(url, sizeof(url), "ipc://%s/run/auditor.push", home);
	assert_int_equal(jido_bus_open(JIDO_BUS_PULL, url, 1, 0, NULL, &pull), 0);
	jido_bus_set_timeouts(pull, 3000, 3000);
	assert_int_equal(jido_audit_append(conf, home, record(), 0, NULL), 0);
	assert_int_equal(jido_bus_recv(pull, &buf, &len, NULL), 0);
	assert_int_equal(jido_msg_parse(buf, len, &m, why, sizeof(why), NULL), 0);
	assert_string_equal(m.type, "audit.append");
	assert_string_equal(json_string_value(json_object_get(m.data, "action")), "git.push");
	jido_msg_free(&m);
	free(buf);
	jido_audit_close();
	jido_bus_close(pull);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_push),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
