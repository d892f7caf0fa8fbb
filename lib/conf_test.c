/* conf_test.c - configuration precedence (default < file < env < command line), typed
 * values, unknown keys named with file:line, secrets never printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jido.h"

static char file[64];

static void
write_conf(const char *text)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(file, sizeof(file), "/tmp/jido-conf-XXXXXX");
	fd = mkstemp(file);
	if (fd < 0)
		return -1;
	close(fd);
	unsetenv("JIDO_WEB_LISTEN");
	unsetenv("JIDO_HOME");
	unsetenv("JIDO_CONFIG");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(file);
	return 0;
}

static void
test_precedence(void **state)
{
	struct jido_conf *c;
	char why[256];

	(void)state;
	write_conf("# a comment\n\nweb.listen = 127.0.0.1:5000\nlog.level = \"debug\"\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), 0);
	assert_string_equal(jido_conf_str(c, "web.listen"), "127.0.0.1:5000");
	assert_string_equal(jido_conf_str(c, "log.level"), "debug");
	assert_string_equal(jido_conf_str(c, "ingest.listen"), "127.0.0.1:4001"); /* default */
	assert_int_equal(jido_conf_int(c, "bus.socket_mode"), 0600);
	jido_conf_free(c);

	setenv("JIDO_WEB_LISTEN", "127.0.0.1:6000", 1);
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), 0);
	assert_string_equal(jido_conf_str(c, "web.listen"), "127.0.0.1:6000");
	assert_int_equal(jido_conf_set(c, "web.listen", "127.0.0.1:7000", why, sizeof(why)), 0);
	assert_string_equal(jido_conf_str(c, "web.listen"), "127.0.0.1:7000");
	assert_null(jido_conf_str(c, "no.such.key"));
	jido_conf_free(c);
	unsetenv("JIDO_WEB_LISTEN");
}

static void
test_errors(void **state)
{
	struct jido_conf *c = NULL;
	char why[256];

	(void)state;
	write_conf("web.listen = x\nbogus.key = 1\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "unknown key 'bogus.key'"));
	assert_non_null(strstr(why, ":2"));
	write_conf("bus.timeout_ms = soon\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "bus.timeout_ms"));
	write_conf("log.level = loud\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), JIDO_EVALIDATION);
	write_conf("just words\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "key = value"));
	assert_int_equal(jido_conf_load("/nonexistent/jido.conf", &c, why, sizeof(why)),
	    JIDO_EVALIDATION);
	setenv("JIDO_BUS_MAX_MSG", "lots", 1);
	write_conf("");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "env JIDO_BUS_MAX_MSG"));
	unsetenv("JIDO_BUS_MAX_MSG");
}

static void
test_print_hides_secrets(void **state)
{
	struct jido_conf *c;
	char why[256], *text = NULL;
	size_t len = 0;
	FILE *m;

	(void)state;
	write_conf("bus.tls_key = /etc/very-secret-key.pem\n");
	assert_int_equal(jido_conf_load(file, &c, why, sizeof(why)), 0);
	m = open_memstream(&text, &len);
	assert_int_equal(jido_conf_print(c, m), 0);
	fclose(m);
	assert_null(strstr(text, "very-secret"));
	assert_non_null(strstr(text, "bus.tls_key = (set)"));
	assert_non_null(strstr(text, "web.listen = 127.0.0.1:4000  # default"));
	free(text);
	jido_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_print_hides_secrets),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
