/* artifacts_test.c - share links: a signed path parses back to its fields; one changed
 * character anywhere (id, run, version, expiry, signature, name), another key, a missing
 * or extra segment are refused; Range headers (first-last, open, suffix, unsatisfiable,
 * several ranges); TTL strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "web.h"

static void
test_share_sign_parse(void **state)
{
	unsigned char key[32], other[32];
	char sig[65], path[512], bad[512];
	struct share_tok t;

	(void)state;
	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	assert_int_equal(share_sign(key, "l_0011223344556677", "r_abc", "plan.md", 2, 1893456000,
	    sig), 0);
	snprintf(path, sizeof(path), "/share/l_0011223344556677/r_abc/2/1893456000/%s/plan.md",
	    sig);
	assert_int_equal(share_parse(key, path, &t), 0);
	assert_string_equal(t.lid, "l_0011223344556677");
	assert_string_equal(t.run, "r_abc");
	assert_string_equal(t.name, "plan.md");
	assert_int_equal(t.version, 2);
	assert_true(t.expires_s == 1893456000);
	/* another key: refused */
	assert_int_equal(share_parse(other, path, &t), JIDO_EINTEGRITY);
	/* every single-character change after "/share/" is refused */
	for (size_t i = 7; i < strlen(path); i++) {
		if (path[i] == '/')
			continue;
		snprintf(bad, sizeof(bad), "%s", path);
		bad[i] = bad[i] == 'a' ? 'b' : bad[i] == '1' ? '2' : 'a';
		assert_int_equal(share_parse(key, bad, &t), JIDO_EINTEGRITY);
	}
	snprintf(bad, sizeof(bad), "%s/extra", path);
	assert_int_equal(share_parse(key, bad, &t), JIDO_EINTEGRITY);
	assert_int_equal(share_parse(key, "/share/l_1/r_abc/2/1893456000/plan.md", &t),
	    JIDO_EINTEGRITY);
	assert_int_equal(share_parse(key, "/share/", &t), JIDO_EINTEGRITY);
	/* a leading zero is another spelling of the same version: refused too */
	snprintf(bad, sizeof(bad), "/share/l_0011223344556677/r_abc/02/1893456000/%s/plan.md",
	    sig);
	assert_int_equal(share_parse(key, bad, &t), JIDO_EINTEGRITY);
}

static void
test_range(void **state)
{
	uint64_t off = 99, len = 99;

	(void)state;
	assert_int_equal(art_range_parse(NULL, 100, &off, &len), 0);
	assert_int_equal(art_range_parse("bytes=0-9", 100, &off, &len), 1);
	assert_true(off == 0 && len == 10);
	assert_int_equal(art_range_parse("bytes=90-", 100, &off, &len), 1);
	assert_true(off == 90 && len == 10);
	assert_int_equal(art_range_parse("bytes=-5", 100, &off, &len), 1);
	assert_true(off == 95 && len == 5);
	assert_int_equal(art_range_parse("bytes=-500", 100, &off, &len), 1);
	assert_true(off == 0 && len == 100);
	assert_int_equal(art_range_parse("bytes=50-500", 100, &off, &len), 1);
	assert_true(off == 50 && len == 50);
	assert_int_equal(art_range_parse("bytes=100-", 100, &off, &len), -1);
	assert_int_equal(art_range_parse("bytes=-0", 100, &off, &len), -1);
	assert_int_equal(art_range_parse("bytes=0-1,5-6", 100, &off, &len), 0);
	assert_int_equal(art_range_parse("bytes=9-3", 100, &off, &len), 0);
	assert_int_equal(art_range_parse("items=0-1", 100, &off, &len), 0);
	assert_int_equal(art_range_parse("bytes=x-1", 100, &off, &len), 0);
	assert_int_equal(art_range_parse("bytes=0-", 0, &off, &len), -1);
}

static void
test_ttl(void **state)
{
	long long s = 0;

	(void)state;
	assert_int_equal(art_ttl_parse("1h", &s), 0);
	assert_true(s == 3600);
	assert_int_equal(art_ttl_parse("90", &s), 0);
	assert_true(s == 90);
	assert_int_equal(art_ttl_parse("15m", &s), 0);
	assert_true(s == 900);
	assert_int_equal(art_ttl_parse("30d", &s), 0);
	assert_int_equal(art_ttl_parse("31d", &s), JIDO_EVALIDATION);
	assert_int_equal(art_ttl_parse("0", &s), JIDO_EVALIDATION);
	assert_int_equal(art_ttl_parse("1hh", &s), JIDO_EVALIDATION);
	assert_int_equal(art_ttl_parse("h", &s), JIDO_EVALIDATION);
	assert_int_equal(art_ttl_parse("-5s", &s), JIDO_EVALIDATION);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_sign_parse),
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_ttl),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
