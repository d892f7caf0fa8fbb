/*
 * redact_test.c - the executor's redaction: exact values and their encodings, token
 * patterns, PEM blocks across lines, no false positives on ordinary text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "redact.h"

static char *
red(struct exec_redact *r, const char *s)
{
	return exec_redact_line(r, s, NULL);
}

#define EXPECT(r, in, want) do { char *o_ = red(r, in); assert_non_null(o_); \
	assert_string_equal(o_, want); free(o_); } while (0)

static void
test_known_and_encodings(void **state)
{
	struct exec_redact r = { 0 };
	(void)state;
	assert_int_equal(exec_redact_add(&r, "jgw-scoped-key/+42"), 0);
	assert_int_equal(exec_redact_add(&r, "short"), -1);
	EXPECT(&r, "key=jgw-scoped-key/+42 end", "key=[REDACTED] end");
	/* base64 of the value: amd3LXNjb3BlZC1rZXkvKzQy */
	EXPECT(&r, "b64 amd3LXNjb3BlZC1rZXkvKzQy.", "b64 [REDACTED].");
	/* hex */
	EXPECT(&r, "6a67772d73636f7065642d6b65792f2b3432", "[REDACTED]");
	EXPECT(&r, "x 6A67772D73636F7065642D6B65792F2B3432", "x [REDACTED]");
	/* URL-encoded */
	EXPECT(&r, "?k=jgw-scoped-key%2F%2B42&", "?k=[REDACTED]&");
	exec_redact_free(&r);
}

static void
test_patterns(void **state)
{
	struct exec_redact r = { 0 };
	(void)state;
	EXPECT(&r, "token ghp_abcdefghijklmnopqrstuvwxyz0123 ok", "token [REDACTED] ok");
	EXPECT(&r, "github_pat_11ABCDEFG0123456789_abcdefghij", "[REDACTED]");
	EXPECT(&r, "k=sk-ant-api03-abcdefghijklmnop", "k=[REDACTED]");
	EXPECT(&r, "sk-proj-abcdefghijklmnopqrstu", "[REDACTED]");
	EXPECT(&r, "aws AKIAIOSFODNN7EXAMPLE here", "aws [REDACTED] here");
	EXPECT(&r, "gho_short ordinary text, risk-assessment", "gho_short ordinary text, risk-assessment");
	EXPECT(&r, "", "");
	exec_redact_free(&r);
}

static void
test_pem(void **state)
{
	struct exec_redact r = { 0 };
	(void)state;
	EXPECT(&r, "before -----BEGIN RSA PRIVATE KEY-----", "before [REDACTED]");
	EXPECT(&r, "MIIEowIBAAKCAQEA", "[REDACTED]");
	EXPECT(&r, "-----END RSA PRIVATE KEY-----", "[REDACTED]");
	EXPECT(&r, "after", "after");
	EXPECT(&r, "-----BEGIN PRIVATE KEY-----abc-----END PRIVATE KEY-----", "[REDACTED]");
	EXPECT(&r, "-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----");
	exec_redact_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_and_encodings),
		cmocka_unit_test(test_patterns),
		cmocka_unit_test(test_pem),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
