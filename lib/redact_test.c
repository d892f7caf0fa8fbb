/* redact_test.c - secret redaction: exact known values, token patterns at token
 * boundaries only, PEM private keys, secret-named JSON fields, nested values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
	    "Authorization: [REDACTED]");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
