/* redact_test.c - secret redaction: exact known values and (jido_redact_add) their
 * encodings, token patterns at token boundaries only, PEM private keys (in one string and
 * across lines), secret-named JSON fields, nested values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "jido.h"

static void
expect(const char *in, const char *const *known, const char *want)
{
	int changed = -1;
	char *out = jido_redact_str(in, known, &changed);

	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(changed, strcmp(in, want) != 0);
	free(out);
}

static void
test_patterns(void **state)
{
	(void)state;
	expect("push with ghp_0123456789abcdefghijABCDEFGHIJ done", NULL,
	    "push with [REDACTED] done");
	expect("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", NULL, "[REDACTED]");
	expect("key=sk-ant-api03-AAAAAAAAAAAAAAAAAAAA;", NULL, "key=[REDACTED];");
	expect("OPENAI sk-proj-abcdefghijklmnopqrstuvwx", NULL, "OPENAI [REDACTED]");
	expect("jgw_abcdefghijklmnopqrstuv", NULL, "[REDACTED]");
	expect("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.x-y_z", NULL,
	    "Authorization: Bearer [REDACTED]");
	expect("gho_0123456789abcdefghijAB ghs_0123456789abcdefghijAB", NULL,
	    "[REDACTED] [REDACTED]");
	expect("aws AKIAIOSFODNN7EXAMPLE and ASIAIOSFODNN7EXAMPLE.", NULL,
	    "aws [REDACTED] and [REDACTED].");
	expect("AKIAIOSFODNN7EXAMPLEX is no key id", NULL, "AKIAIOSFODNN7EXAMPLEX is no key id");
	expect("a\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\nb", NULL,
	    "a\n[REDACTED]\nb");
	/* not secrets: short, glued to a word, public keys */
	expect("ghp_short", NULL, "ghp_short");
	expect("the task-runner-for-the-repository-x", NULL, "the task-runner-for-the-repository-x");
	expect("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", NULL,
	    "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----");
	expect("", NULL, "");
}

static void
test_known_values(void **state)
{
	const char *known[] = { "hunter2hunter2", "abc", NULL };

	(void)state;
	expect("pw=hunter2hunter2!", known, "pw=[REDACTED]!");
	expect("xhunter2hunter2x and hunter2hunter2", known, "x[REDACTED]x and [REDACTED]");
	expect("abc stays (too short to be a secret)", known, "abc stays (too short to be a secret)");
}

static void
test_json(void **state)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s,s:[s,i]},s:s,s:s,s:i}", "token", "x1",
	    "GitHub-Password", "p", "monkey", "banana", "nested", "api_key", "k",
	    "list", "ghp_0123456789abcdefghijABCDEFGHIJ", 3, "note", "hello", "empty_secret", "",
	    "key", 5);
	const char *known[] = { "banana", NULL };
	char *s;

	(void)state;
	assert_int_equal(jido_redact_json_needed(j, known), 1);
	assert_int_equal(jido_redact_json(j, known), 5);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"GitHub-Password\":\"[REDACTED]\",\"empty_secret\":\"\","
	    "\"key\":5,\"monkey\":\"[REDACTED]\",\"nested\":{\"api_key\":\"[REDACTED]\",\"list\":"
	    "[\"[REDACTED]\",3]},\"note\":\"hello\",\"token\":\"[REDACTED]\"}");
	free(s);
	assert_int_equal(jido_redact_json_needed(j, known), 1); /* names still say secret */
	json_decref(j);
	j = json_pack("{s:s,s:[s]}", "note", "nothing here", "l", "plain");
	assert_int_equal(jido_redact_json_needed(j, NULL), 0);
	assert_int_equal(jido_redact_json(j, NULL), 0);
	json_decref(j);
	assert_true(jido_redact_key_is_secret("client_secret"));
	assert_true(jido_redact_key_is_secret("ssh-key"));
	assert_false(jido_redact_key_is_secret("keyboard"));
	assert_false(jido_redact_key_is_secret("subject"));
}

/* ---- the executor's line redactor (was executor/redact_test.c) */

static char *
red(struct jido_redact *r, const char *s)
{
	return jido_redact_line(r, s, NULL);
}

#define EXPECT(r, in, want) do { char *o_ = red(r, in); assert_non_null(o_); \
	assert_string_equal(o_, want); free(o_); } while (0)

static void
test_line_known_and_encodings(void **state)
{
	struct jido_redact r = { 0 };
	(void)state;
	assert_int_equal(jido_redact_add(&r, "jgw-scoped-key/+42"), 0);
	assert_int_equal(jido_redact_add(&r, "short"), -1);
	EXPECT(&r, "key=jgw-scoped-key/+42 end", "key=[REDACTED] end");
	/* base64 of the value: amd3LXNjb3BlZC1rZXkvKzQy */
	EXPECT(&r, "b64 amd3LXNjb3BlZC1rZXkvKzQy.", "b64 [REDACTED].");
	/* hex */
	EXPECT(&r, "6a67772d73636f7065642d6b65792f2b3432", "[REDACTED]");
	EXPECT(&r, "x 6A67772D73636F7065642D6B65792F2B3432", "x [REDACTED]");
	/* URL-encoded */
	EXPECT(&r, "?k=jgw-scoped-key%2F%2B42&", "?k=[REDACTED]&");
	/* the same values through jido_redact_str and the JSON walk */
	expect("h=6a67772d73636f7065642d6b65792f2b3432", jido_redact_known(&r), "h=[REDACTED]");
	json_t *j = json_pack("{s:[s]}", "lines", "got amd3LXNjb3BlZC1rZXkvKzQy");
	assert_int_equal(jido_redact_json(j, jido_redact_known(&r)), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "lines"), 0)),
	    "got [REDACTED]");
	json_decref(j);
	jido_redact_free(&r);
	assert_null(jido_redact_known(&r));
}

static void
test_line_patterns(void **state)
{
	struct jido_redact r = { 0 };
	(void)state;
	EXPECT(&r, "token ghp_abcdefghijklmnopqrstuvwxyz0123 ok", "token [REDACTED] ok");
	EXPECT(&r, "github_pat_11ABCDEFG0123456789_abcdefghij", "[REDACTED]");
	EXPECT(&r, "k=sk-ant-api03-abcdefghijklmnop", "k=[REDACTED]");
	EXPECT(&r, "sk-proj-abcdefghijklmnopqrstu", "[REDACTED]");
	EXPECT(&r, "aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED] here");
	EXPECT(&r, "gho_short ordinary text, risk-assessment", "gho_short ordinary text, risk-assessment");
	EXPECT(&r, "", "");
	jido_redact_free(&r);
}

static void
test_line_pem(void **state)
{
	struct jido_redact r = { 0 };
	(void)state;
	EXPECT(&r, "before -----BEGIN RSA PRIVATE KEY-----", "before [REDACTED]");
	EXPECT(&r, "MIIEowIBAAKCAQEA", "[REDACTED]");
	EXPECT(&r, "-----END RSA PRIVATE KEY-----", "[REDACTED]");
	EXPECT(&r, "after", "after");
	EXPECT(&r, "-----BEGIN PRIVATE KEY-----abc-----END PRIVATE KEY-----", "[REDACTED]");
	EXPECT(&r, "still out", "still out");
	EXPECT(&r, "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----");
	EXPECT(&r, "MIIC", "MIIC");
	jido_redact_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_known_and_encodings),
		cmocka_unit_test(test_line_patterns),
		cmocka_unit_test(test_line_pem),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_json),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
