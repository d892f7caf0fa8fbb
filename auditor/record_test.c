/* record_test.c - the auditor's record and checkpoint formats, the verifier, and the core
 * handler driven as in filter mode (no daemon): append, query, proofs, checkpoint,
 * restart with recovery of the index, redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit.h"

static char home[64];

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	snprintf(home, sizeof(home), "/tmp/jido-rt.XXXXXX");
	return mkdtemp(home) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static int
prep(const char *json, char **tail)
{
	json_t *d = json_loads(json, 0, NULL);
	char why[256];
	int rc;

	assert_non_null(d);
	*tail = NULL;
	rc = ar_prepare(d, NULL, tail, NULL, why, sizeof(why));
	json_decref(d);
	return rc;
}

static void
test_prepare_contract(void **state)
{
	char *t;

	(void)state;
	assert_int_equal(prep("{\"result\":\"ok\",\"subject\":\"s\",\"action\":\"a\",\"channel\":"
	    "\"api\",\"actor\":\"tok:1\",\"run_id\":\"r1\"}", &t), 0);
	assert_string_equal(t, "{\"actor\":\"tok:1\",\"channel\":\"api\",\"action\":\"a\","
	    "\"subject\":\"s\",\"run_id\":\"r1\",\"result\":\"ok\"}");
	free(t);
	assert_int_equal(prep("{\"channel\":\"api\",\"action\":\"a\",\"subject\":\"s\",\"result\":"
	    "\"ok\"}", &t), JIDO_EVALIDATION);
	assert_int_equal(prep("{\"actor\":\"x\",\"channel\":\"fax\",\"action\":\"a\",\"subject\":"
	    "\"s\",\"result\":\"ok\"}", &t), JIDO_EVALIDATION);
	assert_int_equal(prep("{\"actor\":\"x\",\"channel\":\"cli\",\"action\":\"a\",\"subject\":"
	    "\"s\",\"result\":\"ok\",\"seq\":5}", &t), JIDO_EVALIDATION);
	assert_int_equal(prep("{\"actor\":\"x\",\"channel\":\"cli\",\"action\":\"a\",\"subject\":"
	    "\"s\",\"result\":\"ok\",\"details\":[1]}", &t), JIDO_EVALIDATION);
	assert_int_equal(prep("{\"actor\":\"\",\"channel\":\"cli\",\"action\":\"a\",\"subject\":"
	    "\"s\",\"result\":\"ok\"}", &t), JIDO_EVALIDATION);
}

static void
test_prepare_redacts_and_caps(void **state)
{
	json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:[s]}}", "actor", "owner",
	    "channel", "web", "action", "settings.change", "subject", "token sk-ant-api03-abcdefghijklmnopqrstu",
	    "result", "ok", "details", "password", "hunter2", "note", "value is topsecretvalue!",
	    "list", "Bearer abcdefghijklmnopqrstuvwxyz");
	const char *known[] = { "topsecretvalue", NULL };
	char why[256], *t = NULL;

	(void)state;
	assert_int_equal(ar_prepare(d, known, &t, NULL, why, sizeof(why)), 0);
	assert_null(strstr(t, "hunter2"));
	assert_null(strstr(t, "topsecretvalue"));
	assert_null(strstr(t, "abcdefghijklmnopqrstu"));
	assert_non_null(strstr(t, "\"note\":\"value is [REDACTED]!\""));
	/* the caller's data is untouched */
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "details"),
	    "password")), "hunter2");
	free(t);
	/* over 16 KB of details: replaced by a marker with the size */
	char *big = malloc(20000);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	json_object_set_new(json_object_get(d, "details"), "blob", json_string(big));
	free(big);
	assert_int_equal(ar_prepare(d, known, &t, NULL, why, sizeof(why)), 0);
	assert_true(strlen(t) < 1024);
	assert_non_null(strstr(t, "\"truncated\":true"));
	free(t);
	json_decref(d);
}

/* The tail ar_prepare writes member by member is byte for byte what jansson makes of the
 * whole object built field by field (how records were written before), for plain,
 * escaped, non-ASCII, redacted, truncated and field-less details; fields are the values. */
static void
test_prepare_same_bytes(void **state)
{
	static const char *const cases[] = {
		"{\"actor\":\"a\",\"channel\":\"cli\",\"action\":\"x\",\"subject\":\"s\",\"result\":\"ok\"}",
		"{\"result\":\"r\\\"q\\n\",\"details\":{\"z\":[1,2.5,null,true],\"a\":{\"b\":\"\\u00e9\\u2603/\\t\"}},"
		    "\"run_id\":\"run-1\",\"subject\":\"o/r#1\",\"action\":\"git.push\",\"channel\":\"system\",\"actor\":\"gitops\"}",
		"{\"actor\":\"owner\",\"channel\":\"web\",\"action\":\"a\",\"subject\":\"token ghp_abcdefghijklmnopqrstuvwxyz\",\"result\":\"ok\","
		    "\"details\":{\"password\":\"hunter2\",\"n\":\"has topsecretvalue in it\"}}",
		"{\"actor\":\"a\",\"channel\":\"api\",\"action\":\"x\",\"subject\":\"s\",\"result\":\"ok\",\"details\":{}}",
		"{\"actor\":\"a\",\"channel\":\"api\",\"action\":\"x\",\"subject\":\"s\",\"result\":\"ok\",\"details\":null,\"run_id\":null}",
		NULL
	};
	const char *known[] = { "topsecretvalue", NULL };
	char why[256];

	(void)state;
	for (int c = 0; cases[c] != NULL; c++) {
		json_t *d = json_loads(cases[c], 0, NULL), *ref = json_object(), *dd;
		char *t, *f, *want;
		assert_non_null(d);
		if (c == 1) { /* details over the cap */
			char *big = malloc(17000);
			memset(big, 'b', 16999);
			big[16999] = '\0';
			json_object_set_new(json_object_get(d, "details"), "blob", json_string(big));
			free(big);
		}
		assert_int_equal(ar_prepare(d, known, &t, &f, why, sizeof(why)), 0);
		const char *p = f;
		for (int i = 0; i < AR_NFIELDS; i++, p += strlen(p) + 1) {
			json_t *v = json_object_get(d, ar_field_names[i]);
			if (!json_is_string(v)) {
				assert_string_equal(p, "");
				continue;
			}
			char *r = jido_redact_str(json_string_value(v), known, NULL);
			json_object_set_new(ref, ar_field_names[i], json_string(r));
			assert_string_equal(p, r);
			free(r);
		}
		dd = json_object_get(d, "details");
		if (json_is_object(dd) && json_object_size(dd) > 0) {
			json_t *cp = json_deep_copy(dd);
			char *text;
			jido_redact_json(cp, known);
			text = json_dumps(cp, JSON_COMPACT);
			if (strlen(text) > AR_DETAILS_MAX) {
				json_decref(cp);
				cp = json_pack("{s:b,s:I}", "truncated", 1, "bytes", (json_int_t)strlen(text));
			}
			free(text);
			json_object_set_new(ref, "details", cp);
		}
		want = json_dumps(ref, JSON_COMPACT);
		assert_string_equal(t, want);
		if (c == 2) {
			assert_null(strstr(t, "hunter2"));
			assert_null(strstr(t, "topsecretvalue"));
			assert_null(strstr(t, "abcdefghijklmnopqrstuvwxyz"));
		}
		free(want);
		free(t);
		free(f);
		json_decref(ref);
		json_decref(d);
	}
}

static void
test_line_and_checkpoint(void **state)
{
	uint8_t prev[AM_HASH] = { 0 }, leaf[AM_HASH], again[AM_HASH], pk[32], sk[64];
	char *line, *t, why[200];
	size_t len;
	struct ar_checkpoint cp, back;

	(void)state;
	assert_int_equal(prep("{\"actor\":\"a\",\"channel\":\"cli\",\"action\":\"x\",\"subject\":"
	    "\"s\",\"result\":\"ok\"}", &t), 0);
	assert_int_equal(ar_line(7, prev, "2026-01-01T00:00:00.000Z", t, &line, &len, leaf), 0);
	assert_int_equal(line[len - 1], '\n');
	assert_int_equal(ar_line_leaf(line, len - 1, again, why, sizeof(why)), 0);
	assert_memory_equal(leaf, again, AM_HASH);
	line[10] ^= 1;
	assert_int_equal(ar_line_leaf(line, len - 1, again, why, sizeof(why)), JIDO_EINTEGRITY);
	free(line);
	free(t);

	crypto_sign_keypair(pk, sk);
	memset(&cp, 0, sizeof(cp));
	cp.size = 7;
	memcpy(cp.root, leaf, AM_HASH);
	snprintf(cp.time, sizeof(cp.time), "2026-01-01T00:00:00.000Z");
	assert_int_equal(ar_checkpoint_sign(&cp, sk, &line, &len), 0);
	assert_int_equal(ar_checkpoint_parse(line, len - 1, &back, why, sizeof(why)), 0);
	assert_int_equal(back.size, 7);
	assert_memory_equal(back.key, pk, 32);
	char *p = strstr(line, "\"tree_size\":7");
	p[12] = '8'; /* claim a different size: the signature no longer holds */
	assert_int_equal(ar_checkpoint_parse(line, len - 1, &back, why, sizeof(why)),
	    JIDO_EINTEGRITY);
	free(line);
}

static struct jido_conf *
conf_for(const char *h)
{
	struct jido_conf *c;
	char why[256];

	assert_int_equal(jido_conf_load("/dev/null", &c, why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(c, "home", h, why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(c, "auditor.checkpoint_every", "4", why, sizeof(why)), 0);
	return c;
}

/* Send one request through the dispatcher; returns the reply (caller frees). */
static json_t *
call(struct jido_srv *s, const char *type, const char *data)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "{\"v\":1,\"type\":\"%s\",\"id\":\"t1\",\"data\":%s}", type,
	    data);
	return auditor_dispatch(s, buf, strlen(buf), NULL);
}

static json_int_t
append(struct jido_srv *s, const char *subject)
{
	char d[512];
	json_t *r;
	json_int_t seq;

	snprintf(d, sizeof(d), "{\"actor\":\"gitops\",\"channel\":\"system\",\"action\":"
	    "\"git.push\",\"subject\":\"%s\",\"run_id\":\"run-1\",\"result\":\"ok\","
	    "\"details\":{\"token\":\"ghp_abcdefghijklmnopqrstuvwxyz0123\"}}", subject);
	r = call(s, "audit.append", d);
	assert_true(json_is_true(json_object_get(r, "ok")));
	seq = json_integer_value(json_object_get(json_object_get(r, "data"), "seq"));
	assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(r, "data"),
	    "leaf_hash"))), 64);
	json_decref(r);
	return seq;
}

static void
test_handler_filter_mode(void **state)
{
	struct jido_conf *c = conf_for(home);
	struct jido_srv *s;
	struct ar_verify v;
	char why[512], path[128];
	json_t *r;
	int fd;

	(void)state;
	assert_int_equal(jido_srv_new(&auditor_proc, c, &s, why, sizeof(why)), 0);
	for (int i = 1; i <= 10; i++) {
		char subj[32];
		snprintf(subj, sizeof(subj), "repo#%d", i);
		assert_int_equal(append(s, subj), i);
	}
	r = call(s, "audit.query", "{\"subject\":\"repo#7\"}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "data"), "records")), 1);
	json_decref(r);
	r = call(s, "audit.bogus", "{}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = call(s, "audit.inclusion_proof", "{\"seq\":99}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	    "not_found");
	json_decref(r);
	r = call(s, "auditor.health", "{}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	jido_srv_free(s); /* final checkpoint */

	/* the log verifies, and never holds the token */
	snprintf(path, sizeof(path), "%s/audit/audit.log", home);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ar_verify_fd(fd, 0, NULL, &v), 0);
	close(fd);
	assert_true(v.ok);
	assert_int_equal(v.records, 10);
	assert_int_equal(v.signed_size, 10);
	assert_int_equal(v.checkpoints, 3); /* at 4, 8 and at close */

	/* restart: the index is recovered, seqs go on */
	assert_int_equal(jido_srv_new(&auditor_proc, c, &s, why, sizeof(why)), 0);
	assert_int_equal(append(s, "after-restart"), 11);
	r = call(s, "audit.verify", "{}");
	assert_true(json_is_true(json_object_get(json_object_get(r, "data"), "ok")));
	json_decref(r);
	jido_srv_free(s);

	/* an index lost entirely is rebuilt from the log */
	snprintf(path, sizeof(path), "%s/audit/index.db", home);
	unlink(path);
	snprintf(path, sizeof(path), "%s/audit/index.db-wal", home);
	unlink(path);
	snprintf(path, sizeof(path), "%s/audit/index.db-shm", home);
	unlink(path);
	assert_int_equal(jido_srv_new(&auditor_proc, c, &s, why, sizeof(why)), 0);
	assert_int_equal(append(s, "after-rebuild"), 12);
	r = call(s, "audit.query", "{\"subject\":\"repo#3\"}");
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "data"), "records")), 1);
	json_decref(r);
	/* a second auditor on the same log is refused */
	struct jido_srv *s2 = NULL;
	assert_int_equal(jido_srv_new(&auditor_proc, c, &s2, why, sizeof(why)), JIDO_ECONFLICT);
	jido_srv_free(s);

	char cmd[256];
	snprintf(cmd, sizeof(cmd), "grep -q abcdefghijklmnopqrstuvwxyz0123 '%s/audit/audit.log'",
	    home);
	assert_int_not_equal(system(cmd), 0);
	jido_conf_free(c);
}

static void
test_verify_detects(void **state)
{
	char path[128], *buf;
	struct ar_verify v;
	FILE *f;
	long n;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/audit/audit.log", home);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	/* flip a byte inside record 5's subject */
	char *p = strstr(buf, "repo#5");
	assert_non_null(p);
	p[2] ^= 0x20;
	snprintf(path, sizeof(path), "%s/t.log", home);
	f = fopen(path, "wb");
	fwrite(buf, 1, (size_t)n, f);
	fclose(f);
	fd = open(path, O_RDONLY);
	assert_int_equal(ar_verify_fd(fd, 0, NULL, &v), 0);
	close(fd);
	assert_false(v.ok);
	assert_string_equal(v.what, "record");
	assert_int_equal(v.seq, 5);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prepare_contract),
		cmocka_unit_test(test_prepare_redacts_and_caps),
		cmocka_unit_test(test_prepare_same_bytes),
		cmocka_unit_test(test_line_and_checkpoint),
		cmocka_unit_test(test_handler_filter_mode),
		cmocka_unit_test(test_verify_detects),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
