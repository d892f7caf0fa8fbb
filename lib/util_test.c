/* util_test.c - the growable buffer: jido_buf_put/puts, the libcurl body callback
 * jido_buf_curl_write (its cap, NUL termination, and what a refused chunk leaves), and
 * wipe mode (no unwiped copy of a secret body left behind when the buffer grows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jido.h"

/* jido_free_wiped calls this (lib/jido.h, weak) after the wipe, before the free */
static size_t wiped_calls, wiped_dirty;
void
jido_wipe_observe(const void *p, size_t n)
{
	const unsigned char *c = p;

	wiped_calls++;
	for (size_t i = 0; i < n; i++)
		if (c[i] != 0)
			wiped_dirty++;
}

static void
test_buf_put(void **state)
{
	struct jido_buf b = { 0 };

	(void)state;
	jido_buf_puts(&b, "ab");
	jido_buf_put(&b, "cdef", 2);
	assert_false(b.fail);
	assert_int_equal(b.n, 4);
	assert_string_equal(b.p, "abcd");
	for (int i = 0; i < 1000; i++)
		jido_buf_puts(&b, "0123456789");
	assert_int_equal(b.n, 10004);
	assert_int_equal(strlen(b.p), 10004);
	free(b.p);
}

static void
test_curl_write_cap(void **state)
{
	struct jido_buf b = { .max = 10 };
	char chunk[8] = "abcdefgh";

	(void)state;
	/* size * nmemb bytes are taken: 2 x 3 */
	assert_int_equal(jido_buf_curl_write(chunk, 2, 3, &b), 6);
	assert_int_equal(b.n, 6);
	assert_string_equal(b.p, "abcdef");
	/* exactly up to the cap is accepted */
	assert_int_equal(jido_buf_curl_write(chunk, 1, 4, &b), 4);
	assert_int_equal(b.n, 10);
	assert_false(b.too_big);
	/* one byte more is refused (0 makes libcurl abort) and nothing of it is kept */
	assert_int_equal(jido_buf_curl_write(chunk, 1, 1, &b), 0);
	assert_true(b.too_big);
	assert_int_equal(b.n, 10);
	assert_string_equal(b.p, "abcdefabcd");
	free(b.p);
}

static void
test_curl_write_no_cap(void **state)
{
	struct jido_buf b = { 0 };
	char *big = malloc(1 << 20);

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 1 << 20);
	for (int i = 0; i < 9; i++)
		assert_int_equal(jido_buf_curl_write(big, 1, 1 << 20, &b), 1 << 20);
	assert_false(b.too_big);
	assert_int_equal(b.n, 9u << 20);
	assert_int_equal(b.p[b.n], '\0');
	/* a chunk alone larger than the cap: refused without overflow in the check */
	b.max = 16;
	assert_int_equal(jido_buf_curl_write(big, 1, SIZE_MAX / 2, &b), 0);
	assert_true(b.too_big);
	free(big);
	free(b.p);
}

static void
test_buf_wipe(void **state)
{
	struct jido_buf b = { .wipe = 1 }, plain = { 0 };
	const char *secret = "ghs_0123456789abcdefghijklmnopqrstuvwxyz";
	size_t grew = 0, cap = 0;

	(void)state;
	wiped_calls = wiped_dirty = 0;
	for (int i = 0; i < 200; i++) {
		jido_buf_puts(&b, secret);
		if (b.cap != cap) {
			grew += cap != 0; /* the first block replaced nothing */
			cap = b.cap;
		}
	}
	assert_false(b.fail);
	assert_true(grew >= 3);
	/* every block the buffer outgrew went through jido_free_wiped, and was all zeros */
	assert_int_equal(wiped_calls, grew);
	assert_int_equal(wiped_dirty, 0);
	assert_int_equal(b.n, 200 * strlen(secret));
	for (int i = 0; i < 200; i++)
		assert_memory_equal(b.p + i * strlen(secret), secret, strlen(secret));
	jido_free_wiped(b.p, b.cap);
	assert_int_equal(wiped_calls, grew + 1);
	assert_int_equal(wiped_dirty, 0);
	/* without wipe, growing wipes nothing (realloc) */
	wiped_calls = 0;
	for (int i = 0; i < 200; i++)
		jido_buf_puts(&plain, secret);
	assert_int_equal(wiped_calls, 0);
	free(plain.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_put),
		cmocka_unit_test(test_curl_write_cap),
		cmocka_unit_test(test_curl_write_no_cap),
		cmocka_unit_test(test_buf_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
