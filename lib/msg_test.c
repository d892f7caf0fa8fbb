/* msg_test.c - the envelope: strict parsing of requests and replies, building, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jido.h"

static int
parse(const char *text, char *why, size_t whylen)
{
	struct jido_msg m;
	int rc = jido_msg_parse(text, strlen(text), &m, why, whylen, NULL);

	if (rc == 0)
		jido_msg_free(&m);
	return rc;
}

static void
test_request_ok(void **state)
{
	const char *t = "{\"v\":1,\"type\":\"vault.get\",\"id\":\"abc\",\"corr\":\"run1\","
	    "\"data\":{\"name\":\"x\"}}";
	struct jido_msg m;
	char why[256];
	char *id = NULL;

	(void)state;
	assert_int_equal(jido_msg_parse(t, strlen(t), &m, why, sizeof(why), &id), 0);
	assert_string_equal(m.type, "vault.get");
	assert_string_equal(m.id, "abc");
	assert_string_equal(m.corr, "run1");
	assert_string_equal(json_string_value(json_object_get(m.data, "name")), "x");
	assert_string_equal(id, "abc");
	free(id);
	jido_msg_free(&m);
	/* data is optional and becomes {} */
	t = "{\"v\":1,\"type\":\"a.b\",\"id\":\"1\"}";
	assert_int_equal(jido_msg_parse(t, strlen(t), &m, why, sizeof(why), NULL), 0);
	assert_true(json_is_object(m.data));
	jido_msg_free(&m);
}

static void
test_request_bad(void **state)
{
	static const struct {
		const char *text;
		const char *expect; /* substring of the reason */
	} cases[] = {
		{ "", "empty" },
		{ "{", "malformed JSON" },
		{ "[]", "not a JSON object" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"1\",\"x\":1}", "unknown field 'x'" },
		{ "{\"v\":2,\"type\":\"a.b\",\"id\":\"1\"}", "'v'" },
		{ "{\"v\":\"1\",\"type\":\"a.b\",\"id\":\"1\"}", "'v'" },
		{ "{\"v\":1,\"type\":\"ab\",\"id\":\"1\"}", "'type'" },
		{ "{\"v\":1,\"type\":\"A.b\",\"id\":\"1\"}", "'type'" },
		{ "{\"v\":1,\"type\":\"a..b\",\"id\":\"1\"}", "'type'" },
		{ "{\"v\":1,\"type\":\"a.b\"}", "'id'" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"\"}", "'id'" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"has space\"}", "'id'" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"1\",\"corr\":5}", "'corr'" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"1\",\"data\":[]}", "'data'" },
		{ "{\"v\":1,\"id\":\"1\",\"ok\":true,\"data\":{}}", "reply-shaped" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"1\",\"id\":\"2\"}", "malformed JSON" },
		{ "{\"v\":1,\"type\":\"a.b\",\"id\":\"\xff\xfe\"}", "malformed JSON" },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		assert_int_equal(parse(cases[i].text, why, sizeof(why)), JIDO_EVALIDATION);
		if (strstr(why, cases[i].expect) == NULL)
			fail_msg("case %zu: reason '%s' lacks '%s'", i, why, cases[i].expect);
	}
}

static void
test_reply_roundtrip(void **state)
{
	struct jido_reply r;
	char why[128], *s;
	json_t *j;

	(void)state;
	j = jido_reply_ok("42", json_pack("{s:i}", "n", 7));
	s = jido_json_dump(j);
	json_decref(j);
	assert_int_equal(jido_reply_parse(s, strlen(s), &r, why, sizeof(why)), 0);
	free(s);
	assert_true(r.ok);
	assert_string_equal(r.id, "42");
	assert_int_equal(json_integer_value(json_object_get(r.data, "n")), 7);
	jido_reply_free(&r);

	j = jido_reply_err(NULL, JIDO_ENOTFOUND, "no such secret");
	s = jido_json_dump(j);
	json_decref(j);
	assert_int_equal(jido_reply_parse(s, strlen(s), &r, why, sizeof(why)), 0);
	free(s);
	assert_false(r.ok);
	assert_null(r.id);
	assert_int_equal(r.err, JIDO_ENOTFOUND);
	assert_string_equal(r.message, "no such secret");
	jido_reply_free(&r);

	assert_int_equal(jido_reply_parse("{\"v\":1,\"id\":\"1\",\"ok\":false}", 27, &r, why,
	    sizeof(why)), JIDO_EVALIDATION);
}

static void
test_errors(void **state)
{
	(void)state;
	for (int i = 1; i < JIDO_ERR_COUNT; i++) {
		assert_int_equal(jido_err_from_name(jido_err_name(i)), i);
		assert_non_null(jido_strerror(i));
	}
	assert_string_equal(jido_err_name(JIDO_EVALIDATION), "validation_error");
	assert_string_equal(jido_err_name(999), "internal");
	assert_int_equal(jido_err_exit(JIDO_ENOTFOUND), 3);
	assert_int_equal(jido_err_exit(JIDO_ECONFLICT), 4);
	assert_int_equal(jido_err_exit(JIDO_EAUTHZ), 1);
	assert_int_equal(jido_err_exit(JIDO_EVALIDATION), 2);
	assert_int_equal(jido_err_exit(JIDO_EUNAVAIL), 111);
}

static void
test_ids_unique(void **state)
{
	char a[33], b[33];

	(void)state;
	jido_id_new(a, sizeof(a));
	jido_id_new(b, sizeof(b));
	assert_int_equal(strlen(a), 32);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_ok),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_ids_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
