/*
 * html_test.c - the HTML escaping helper and the escaping printf: every markup character
 * of an untrusted value is escaped, %S alone passes trusted markup, URL values are
 * percent-encoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "web.h"

static char *
take(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void
test_esc(void **state)
{
	char *s;

	(void)state;
	s = html_esc_dup("<script>alert('x')</script> & \"q\"");
	assert_string_equal(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
	free(s);
	s = html_esc_dup("plain text, ünïcode");
	assert_string_equal(s, "plain text, ünïcode");
	free(s);
	s = html_esc_dup("");
	assert_string_equal(s, "");
	free(s);
	s = html_esc_dup("&amp;");
	assert_string_equal(s, "&amp;amp;");
	free(s);
}

static void
test_printf(void **state)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	(void)state;
	html_printf(b, "<a href=\"/x?q=%U\" title=\"%s\">%s</a>%S %d %lld %zu %.2f %%",
	    "a b&c/\"", "\"><img src=x onerror=1>", "<b>", "<br>", -3, 1234567890123LL,
	    (size_t)7, 1.5);
	s = take(b);
	assert_string_equal(s, "<a href=\"/x?q=a%20b%26c%2F%22\" title=\"&quot;&gt;&lt;img "
	    "src=x onerror=1&gt;\">&lt;b&gt;</a><br> -3 1234567890123 7 1.50 %");
	free(s);
	html_printf(b, "%s|%S|%U", NULL, NULL, NULL);
	s = take(b);
	assert_string_equal(s, "||");
	free(s);
	html_printf(b, "trailing %");
	s = take(b);
	assert_string_equal(s, "trailing %");
	free(s);
	evbuffer_free(b);
}

static void
test_time(void **state)
{
	char buf[40];

	(void)state;
	html_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	html_time(1700000000000LL, buf, sizeof(buf));
	assert_string_equal(buf, "2023-11-14 22:13 UTC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_esc),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
