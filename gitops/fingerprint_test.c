/* fingerprint_test.c - gitops's side of the vault's fingerprints: an answer made here the
 * way the vault makes it (keyed BLAKE2b under a salt) is parsed, a value is found at any
 * offset of an added line and named by its secret's name, short values and other salts
 * do not match, malformed answers and unreadable secrets are reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "gitops.h"

/* One fingerprint entry of value under salt, as vault.fingerprints answers it. */
static json_t *
fp_entry(const unsigned char *salt, const char *name, const char *value)
{
	unsigned char h[GITOPS_FP_BYTES];
	char hex[2 * GITOPS_FP_BYTES + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)value, strlen(value), salt, 32);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return json_pack("{s:s,s:s,s:i,s:s,s:I,s:s}", "name", name, "scope", "instance",
	    "version", 1, "part", "value", "len", (json_int_t)strlen(value), "hash", hex);
}

/* An answer holding the given (name, value) pairs under a fresh salt. */
static json_t *
fp_answer(unsigned char *salt, const char *const *pairs)
{
	char hex[65];
	json_t *arr = json_array();

	randombytes_buf(salt, 32);
	sodium_bin2hex(hex, sizeof(hex), salt, 32);
	for (; pairs[0] != NULL; pairs += 2)
		json_array_append_new(arr, fp_entry(salt, pairs[0], pairs[1]));
	return json_pack("{s:s,s:s,s:o,s:[]}", "algorithm", "blake2b-256-keyed", "salt", hex,
	    "fingerprints", arr, "unreadable");
}

static void
test_find(void **state)
{
	static const char *const pairs[] = { "llm.staging.key", "zebra-quartz-mellow-9931",
		"notify.short", "abc123", "web.session_key", "0123456789abcdef0123", NULL };
	unsigned char salt[32];
	json_t *a = fp_answer(salt, pairs);
	struct gitops_fps f;
	const struct gitops_fp *hit;
	char why[256];
	const char *line = "The staging passphrase is zebra-quartz-mellow-9931, keep it.";

	(void)state;
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), 0);
	assert_int_equal(f.n, 2); /* the 6-byte value is not looked for */
	assert_non_null(hit = gitops_fps_find(&f, line, strlen(line)));
	assert_string_equal(hit->name, "llm.staging.key");
	/* at the very start and the very end of a line */
	assert_non_null(gitops_fps_find(&f, "zebra-quartz-mellow-9931", 24));
	assert_non_null(gitops_fps_find(&f, "x=0123456789abcdef0123", 22));
	assert_string_equal(gitops_fps_find(&f, "x=0123456789abcdef0123", 22)->name,
	    "web.session_key");
	/* one byte off, or cut short: no match */
	assert_null(gitops_fps_find(&f, "zebra-quartz-mellow-9932", 24));
	assert_null(gitops_fps_find(&f, "zebra-quartz-mellow-9931", 23));
	assert_null(gitops_fps_find(&f, "abc123 abc123", 13));
	gitops_fps_free(&f);
	json_decref(a);
	/* the same value under another salt does not match this answer's fingerprints */
	a = fp_answer(salt, pairs);
	json_t *e = fp_entry((const unsigned char *)"another salt, 32 bytes long.....",
	    "llm.other", "zebra-quartz-mellow-9931");
	json_array_clear(json_object_get(a, "fingerprints"));
	json_array_append_new(json_object_get(a, "fingerprints"), e);
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), 0);
	assert_null(gitops_fps_find(&f, line, strlen(line)));
	gitops_fps_free(&f);
	json_decref(a);
}

static void
test_scan_diff(void **state)
{
	static const char *const pairs[] = { "llm.staging.key", "zebra-quartz-mellow-9931", NULL };
	const char *diff = "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n"
	    "@@ -1,2 +1,3 @@\n # hello\n+staging: zebra-quartz-mellow-9931\n world\n"
	    "diff --git a/b.c b/b.c\n--- a/b.c\n+++ b/b.c\n@@ -1 +1,2 @@\n int x;\n+int y;\n";
	unsigned char salt[32];
	json_t *a = fp_answer(salt, pairs);
	struct gitops_fps f;
	struct gitops_diff d;
	const struct gitops_fp *hit;
	char why[256];
	long li;

	(void)state;
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), 0);
	assert_int_equal(gitops_diff_parse(diff, strlen(diff), &d, why, sizeof(why)), 0);
	li = gitops_fps_scan_diff(&f, &d, &hit);
	assert_true(li >= 0);
	assert_string_equal(hit->name, "llm.staging.key");
	assert_string_equal(d.files[d.adds[li].file].path, "README.md");
	assert_int_equal(d.adds[li].lineno, 2);
	/* the pattern scan alone does not see it: only the fingerprint does */
	assert_null(gitops_secret_in_line(d.text + d.adds[li].off, d.adds[li].len, NULL));
	gitops_diff_free(&d);
	/* a diff without the value */
	diff = "diff --git a/b.c b/b.c\n--- a/b.c\n+++ b/b.c\n@@ -1 +1,2 @@\n int x;\n+int y;\n";
	assert_int_equal(gitops_diff_parse(diff, strlen(diff), &d, why, sizeof(why)), 0);
	assert_int_equal(gitops_fps_scan_diff(&f, &d, &hit), -1);
	assert_null(hit);
	gitops_diff_free(&d);
	gitops_fps_free(&f);
	json_decref(a);
}

static void
test_malformed(void **state)
{
	static const char *const none[] = { NULL };
	unsigned char salt[32];
	struct gitops_fps f;
	char why[256];
	json_t *a;

	(void)state;
	a = json_pack("{s:s,s:[]}", "salt", "00", "fingerprints");
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(a);
	a = fp_answer(salt, none);
	json_array_append_new(json_object_get(a, "fingerprints"), json_pack("{s:s,s:s,s:i,s:s}",
	    "name", "x.y", "scope", "instance", "len", 10, "hash", "zz"));
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(a);
	/* an unreadable secret is reported by name (the ship fails closed on it) */
	a = fp_answer(salt, none);
	json_array_append_new(json_object_get(a, "unreadable"), json_pack("{s:s,s:s,s:i,s:s}",
	    "name", "llm.broken", "scope", "instance", "version", 1, "code", "integrity_error"));
	assert_int_equal(gitops_fps_parse(a, &f, why, sizeof(why)), 0);
	assert_non_null(strstr(f.unreadable, "llm.broken"));
	gitops_fps_free(&f);
	json_decref(a);
}

static void
test_wanted(void **state)
{
	struct jido_conf *c = NULL;
	char why[256];

	(void)state;
	unsetenv("JIDO_GITHUB_TOKEN_FILE");
	unsetenv("JIDO_GITOPS_VAULT_FINGERPRINTS");
	assert_int_equal(jido_conf_load("/dev/null", &c, why, sizeof(why)), 0);
	assert_true(gitops_fps_wanted(c)); /* token from the vault */
	assert_int_equal(jido_conf_set(c, "github.token_file", "/tmp/t", why, sizeof(why)), 0);
	assert_false(gitops_fps_wanted(c));
	assert_int_equal(jido_conf_set(c, "gitops.vault_fingerprints", "on", why, sizeof(why)), 0);
	assert_true(gitops_fps_wanted(c));
	assert_int_equal(jido_conf_set(c, "github.token_file", "", why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(c, "gitops.vault_fingerprints", "off", why, sizeof(why)),
	    0);
	assert_false(gitops_fps_wanted(c));
	jido_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_scan_diff),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_wanted),
	};
	if (sodium_init() < 0)
		return 1;
	jido_log_init("gitops");
	jido_log_set_level(JIDO_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
