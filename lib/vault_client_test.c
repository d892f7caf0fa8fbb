/* vault_client_test.c - jido_vault_get against a stand-in vault on an ipc socket: it
 * sends this process's credential as data.cred, returns the value in sodium_malloc'd
 * memory, passes the vault's error code through, and reports an absent vault; every bus
 * buffer that carried the answer (nng's message body, the copy, the serialized text) is
 * zero when it is freed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "jido.h"

#define TEST_CRED "abababababababababababababababababababababababababababababababab"

static char home[64];

/* Every buffer the bus wipes passes here (lib/util.c, lib/bus.c call it when a test
 * defines it): count them, and count any that is not all zero when freed. */
static int wiped_seen, wiped_dirty;
static size_t wiped_largest;

void
jido_wipe_observe(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n && b[i] == 0; i++)
		;
	__atomic_add_fetch(&wiped_seen, 1, __ATOMIC_SEQ_CST);
	if (i < n)
		__atomic_add_fetch(&wiped_dirty, 1, __ATOMIC_SEQ_CST);
	if (n > __atomic_load_n(&wiped_largest, __ATOMIC_SEQ_CST))
		__atomic_store_n(&wiped_largest, n, __ATOMIC_SEQ_CST);
}

/* The stand-in: answer one request; record what it saw. */
struct fake {
	struct jido_bus *rep;
	int fail;            /* answer authorization_error */
	char seen_cred[80];
	char seen_name[80];
	char seen_type[40];
};

static void *
fake_serve(void *arg)
{
	struct fake *f = arg;
	struct jido_msg m;
	char *buf, why[128];
	size_t len;
	json_t *reply;

	if (jido_bus_recv(f->rep, &buf, &len, NULL) != 0)
		return NULL;
	if (jido_msg_parse(buf, len, &m, why, sizeof(why), NULL) == 0) {
		snprintf(f->seen_type, sizeof(f->seen_type), "%s", m.type);
		snprintf(f->seen_cred, sizeof(f->seen_cred), "%s",
		    json_string_value(json_object_get(m.data, "cred")) ?: "");
		snprintf(f->seen_name, sizeof(f->seen_name), "%s",
		    json_string_value(json_object_get(m.data, "name")) ?: "");
		reply = f->fail ? jido_reply_err(m.id, JIDO_EAUTHZ, "ingest may not get x") :
		    jido_reply_ok(m.id, json_pack("{s:s,s:s,s:i,s:s}", "name", "x", "scope",
		    "instance", "version", 1, "value", "s3cret"));
		jido_bus_send_json(f->rep, reply);
		json_decref(reply);
		jido_msg_free(&m);
	}
	free(buf);
	return NULL;
}

static int
call(int fail, struct fake *f, char **value, char *why, size_t whylen)
{
	struct jido_conf *c;
	char url[128];
	pthread_t t;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fail = fail;
	assert_int_equal(jido_bus_url_req(home, "vault", url, sizeof(url)), 0);
	assert_int_equal(jido_bus_open(JIDO_BUS_REP, url, 1, 0600, NULL, &f->rep), 0);
	jido_bus_set_timeouts(f->rep, 3000, 3000);
	assert_int_equal(jido_conf_load(NULL, &c, why, whylen), 0);
	pthread_create(&t, NULL, fake_serve, f);
	rc = jido_vault_get(c, home, "x", NULL, value, why, whylen);
	pthread_join(t, NULL);
	jido_bus_close(f->rep);
	jido_conf_free(c);
	return rc;
}

static void
test_get_ok(void **state)
{
	struct fake f;
	char *value = NULL, why[256];

	(void)state;
	assert_int_equal(call(0, &f, &value, why, sizeof(why)), 0);
	assert_string_equal(f.seen_type, "vault.get");
	assert_string_equal(f.seen_cred, TEST_CRED);
	assert_string_equal(f.seen_name, "x");
	assert_non_null(value);
	assert_string_equal(value, "s3cret");
	sodium_free(value);
}

/* The answer (holding the value) crosses the bus as: the vault's serialized reply, nng's
 * message on our side, our copy of its body; the request as the same three. Each is
 * wiped before it is freed. */
static void
test_get_wipes_buffers(void **state)
{
	struct fake f;
	char *value = NULL, why[256];

	(void)state;
	wiped_seen = wiped_dirty = 0;
	wiped_largest = 0;
	assert_int_equal(call(0, &f, &value, why, sizeof(why)), 0);
	assert_string_equal(value, "s3cret");
	sodium_free(value);
	assert_int_equal(wiped_dirty, 0);
	assert_true(wiped_seen >= 5);
	/* the reply: {"v":1,"id":"<32 hex>","ok":true,"data":{...,"value":"s3cret"}} */
	assert_true(wiped_largest >= 80);
}

static void
test_get_refused(void **state)
{
	struct fake f;
	char *value = NULL, why[256];

	(void)state;
	assert_int_equal(call(1, &f, &value, why, sizeof(why)), JIDO_EAUTHZ);
	assert_null(value);
	assert_non_null(strstr(why, "may not"));
}

static void
test_no_vault(void **state)
{
	struct jido_conf *c;
	char *value = NULL, why[256];

	(void)state;
	assert_int_equal(jido_conf_load(NULL, &c, why, sizeof(why)), 0);
	assert_int_equal(jido_vault_get(c, home, "x", NULL, &value, why, sizeof(why)),
	    JIDO_EUNAVAIL);
	assert_null(value);
	jido_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_ok),
		cmocka_unit_test(test_get_wipes_buffers),
		cmocka_unit_test(test_get_refused),
		cmocka_unit_test(test_no_vault),
	};
	char run[80];
	int rc;

	if (sodium_init() < 0)
		return 1;
	snprintf(home, sizeof(home), "/tmp/jido-vc.XXXXXX");
	if (mkdtemp(home) == NULL)
		return 1;
	snprintf(run, sizeof(run), "%s/run", home);
	jido_mkdirs(run, 0700);
	unsetenv("JIDO_SOCKET_VAULT");
	setenv("JIDO_PROC_CRED", TEST_CRED, 1);
	jido_cred_load_self();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(run);
	rmdir(home);
	return rc;
}
