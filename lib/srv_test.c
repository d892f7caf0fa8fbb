/* srv_test.c - the one dispatch core shared by serve and filter modes: common types,
 * routing by destination, handler errors, size limits; the filter driver's per-line
 * errors and its checked writes; per-process credentials; serve's prefork hook runs
 * while the process has one thread, before any socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jido.h"

static int
echo_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	if (strcmp(req->type, "echo.say") == 0) {
		*out = json_pack("{s:O,s:b}", "got", req->data, "filter", req->filter);
		return 0;
	}
	if (strcmp(req->type, "echo.missing") == 0) {
		snprintf(why, whylen, "no such thing");
		return JIDO_ENOTFOUND;
	}
	if (strcmp(req->type, "echo.weird") == 0)
		return 999;
	return jido_req_unknown(req, why, whylen);
}

static const char *const echo_allow[] = { NULL };
static const struct jido_proc echo_proc = {
	.name = "echo",
	.summary = "test process",
	.allow = { echo_allow, 0, 0 },
	.handle = echo_handle,
};

static struct jido_conf *conf;
static struct jido_srv *srv;

static int
setup(void **state)
{
	char why[256];

	(void)state;
	unsetenv("JIDO_CONFIG");
	setenv("JIDO_HOME", "/tmp/jido-srv-test", 1);
	if (jido_conf_load(NULL, &conf, why, sizeof(why)) != 0)
		return -1;
	jido_log_set_level(JIDO_LOG_ERROR);
	return jido_srv_new(&echo_proc, conf, &srv, why, sizeof(why));
}

static int
teardown(void **state)
{
	(void)state;
	jido_srv_free(srv);
	jido_conf_free(conf);
	return 0;
}

/* Dispatch text; return the reply (caller decrefs). */
static json_t *
call(const char *text)
{
	return jido_srv_dispatch(srv, text, strlen(text), NULL);
}

/* r[a][b], borrowed. */
static json_t *
json_object_at(json_t *r, const char *a, const char *b)
{
	return json_object_get(json_object_get(r, a), b);
}

static const char *
err_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void
test_dispatch(void **state)
{
	json_t *r;

	(void)state;
	r = call("{\"v\":1,\"type\":\"echo.health\",\"id\":\"h\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "id")), "h");
	assert_string_equal(json_string_value(json_object_at(r, "data", "state")), "READY");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.say\",\"id\":\"s\",\"data\":{\"a\":1}}");
	assert_int_equal(json_integer_value(json_object_get(json_object_at(r, "data", "got"),
	    "a")), 1);
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.missing\",\"id\":\"m\"}");
	assert_string_equal(err_code(r), "not_found");
	assert_string_equal(json_string_value(json_object_at(r, "error", "message")),
	    "no such thing");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.weird\",\"id\":\"w\"}");
	assert_string_equal(err_code(r), "internal");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.nope\",\"id\":\"n\"}");
	assert_string_equal(err_code(r), "validation_error");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"other.say\",\"id\":\"o\"}");
	assert_string_equal(err_code(r), "validation_error");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echoo.say\",\"id\":\"o\"}");
	assert_string_equal(err_code(r), "validation_error");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.log_level\",\"id\":\"l\",\"data\":{\"level\":\"loud\"}}");
	assert_string_equal(err_code(r), "validation_error");
	json_decref(r);
	r = call("{\"v\":1,\"type\":\"echo.log_level\",\"id\":\"l\",\"data\":{\"level\":\"warn\"}}");
	assert_string_equal(json_string_value(json_object_at(r, "data", "level")), "warn");
	assert_int_equal(jido_log_get_level(), JIDO_LOG_WARN);
	json_decref(r);
	jido_log_set_level(JIDO_LOG_ERROR);
}

static void
test_too_large(void **state)
{
	size_t n = (1u << 20) + 100;
	char *big = malloc(n + 1);
	json_t *r;

	(void)state;
	memset(big, 'a', n);
	big[n] = '\0';
	r = jido_srv_dispatch(srv, big, n, NULL);
	assert_string_equal(err_code(r), "validation_error");
	assert_non_null(strstr(json_string_value(json_object_at(r, "error", "message")),
	    "too large"));
	json_decref(r);
	free(big);
}

static void
test_filter(void **state)
{
	const char *input = "{\"v\":1,\"type\":\"echo.say\",\"id\":\"1\"}\n"
	    "not json\n"
	    "\n"
	    "{\"v\":1,\"type\":\"echo.health\",\"id\":\"3\"}\n";
	FILE *in = fmemopen((void *)input, strlen(input), "r"), *out;
	char *text = NULL;
	size_t len = 0;
	json_t *l1, *l2, *l3;

	(void)state;
	out = open_memstream(&text, &len);
	assert_int_equal(jido_filter_run(srv, in, out), 1); /* a line failed */
	fclose(out);
	fclose(in);
	char *a = strtok(text, "\n"), *b = strtok(NULL, "\n"), *c = strtok(NULL, "\n");
	assert_non_null(c);
	assert_null(strtok(NULL, "\n"));
	l1 = json_loads(a, 0, NULL);
	l2 = json_loads(b, 0, NULL);
	l3 = json_loads(c, 0, NULL);
	assert_true(json_is_true(json_object_at(l1, "data", "filter")));
	assert_string_equal(err_code(l2), "validation_error");
	assert_int_equal(json_integer_value(json_object_get(l2, "line")), 2);
	assert_true(json_is_true(json_object_get(l3, "ok")));
	json_decref(l1);
	json_decref(l2);
	json_decref(l3);
	free(text);

	/* all good: 0; a failed write: 111 */
	const char *good = "{\"v\":1,\"type\":\"echo.health\",\"id\":\"3\"}\n";
	in = fmemopen((void *)good, strlen(good), "r");
	out = fopen("/dev/null", "w");
	assert_int_equal(jido_filter_run(srv, in, out), 0);
	fclose(out);
	fclose(in);
	in = fmemopen((void *)good, strlen(good), "r");
	out = fopen("/dev/full", "w");
	assert_non_null(out);
	assert_int_equal(jido_filter_run(srv, in, out), 111);
	fclose(out);
	fclose(in);
}

static void
test_creds(void **state)
{
	static const char *const names[] = { "vault", "gitops", NULL };
	char creds[2][65], name[32], table[512], path[128];
	FILE *f;
	size_t n;

	(void)state;
	jido_mkdirs("/tmp/jido-srv-test/run", 0700);
	jido_cred_new(creds[0]);
	jido_cred_new(creds[1]);
	assert_int_equal(strlen(creds[0]), 64);
	assert_string_not_equal(creds[0], creds[1]);
	assert_int_equal(jido_cred_table_write("/tmp/jido-srv-test", names, creds), 0);
	snprintf(path, sizeof(path), "/tmp/jido-srv-test/run/creds");
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(table, 1, sizeof(table) - 1, f);
	fclose(f);
	table[n] = '\0';
	assert_null(strstr(table, creds[0])); /* only hashes are written */
	assert_int_equal(jido_cred_lookup(table, creds[1], name, sizeof(name)), 0);
	assert_string_equal(name, "gitops");
	assert_int_equal(jido_cred_lookup(table, creds[0], name, sizeof(name)), 0);
	assert_string_equal(name, "vault");
	creds[0][10] ^= 1;
	assert_int_equal(jido_cred_lookup(table, creds[0], name, sizeof(name)), JIDO_EAUTHZ);
	assert_int_equal(jido_cred_lookup(table, "short", name, sizeof(name)), JIDO_EAUTHZ);
	assert_int_equal(jido_cred_lookup(NULL, creds[1], name, sizeof(name)), JIDO_EAUTHZ);
	unlink(path);

	setenv("JIDO_PROC_CRED", creds[1], 1);
	assert_int_equal(jido_cred_load_self(), 0);
	assert_string_equal(jido_cred_self(), creds[1]);
	assert_null(getenv("JIDO_PROC_CRED"));
}

/* The prefork hook of pre_proc, in a child running jido_main serve: exit with 10 + the
 * process's thread count, + 100 when the request socket exists already. */
static int
pre_prefork(struct jido_srv *s, char *why, size_t whylen)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char sock[600];
	struct stat st;
	int n = 0;

	(void)why;
	(void)whylen;
	while (d != NULL && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	if (d != NULL)
		closedir(d);
	snprintf(sock, sizeof(sock), "%s/run/pre.sock", jido_srv_home(s));
	_exit(10 + n + (stat(sock, &st) == 0 ? 100 : 0));
}

static const struct jido_proc pre_proc = {
	.name = "pre",
	.summary = "test process with a prefork hook",
	.allow = { echo_allow, 0, 0 },
	.prefork = pre_prefork,
	.handle = echo_handle,
};

static void
test_prefork_single_threaded(void **state)
{
	char home[] = "/tmp/jido-srv-pre.XXXXXX";
	char *argv[] = { (char *)"jido-pre", (char *)"serve", NULL };
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(home));
	pid = fork();
	if (pid == 0) {
		setenv("JIDO_HOME", home, 1);
		setenv("JIDO_LOG_LEVEL", "error", 1);
		_exit(jido_main(&pre_proc, 2, argv) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 11); /* one thread, no socket yet */
	char run[64];
	snprintf(run, sizeof(run), "%s/run", home);
	rmdir(run);
	rmdir(home);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_creds),
		cmocka_unit_test(test_prefork_single_threaded),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
