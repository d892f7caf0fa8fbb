/*
 * auth_test.c - the web's auth core through the real process state (jido_srv_new on a
 * temporary home, the real web.db): owner password (Argon2id, set once, weak ones
 * refused), sessions (end at logout), CSRF tokens bound to their session, the login rate
 * limit (sixth attempt in a minute waits), API tokens (hashed, scoped, revocable,
 * expiring), scope parsing, the API token bucket, SSE resume points, and web.stats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "web.h"

extern const struct jido_proc web_proc;

static struct jido_conf *conf;
static struct jido_srv *srv;
static char home[64];

static int
setup(void **state)
{
	char why[256];

	(void)state;
	assert_true(sodium_init() >= 0);
	snprintf(home, sizeof(home), "/tmp/jido-web-test.XXXXXX");
	assert_non_null(mkdtemp(home));
	unsetenv("JIDO_CONFIG");
	setenv("JIDO_HOME", home, 1);
	setenv("JIDO_WEB_API_BURST", "3", 1);
	setenv("JIDO_WEB_API_PER_MIN", "60", 1);
	assert_int_equal(jido_conf_load(NULL, &conf, why, sizeof(why)), 0);
	assert_int_equal(jido_srv_new(&web_proc, conf, &srv, why, sizeof(why)), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	jido_srv_free(srv);
	jido_conf_free(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct web *
W(void)
{
	return jido_srv_priv(srv);
}

static void
test_owner_password(void **state)
{
	char why[256];

	(void)state;
	assert_false(auth_owner_exists(W()));
	assert_int_equal(auth_owner_create(W(), "short", why, sizeof(why)), JIDO_EVALIDATION);
	assert_false(auth_owner_exists(W()));
	assert_int_equal(auth_owner_create(W(), "a long enough password", why, sizeof(why)), 0);
	assert_true(auth_owner_exists(W()));
	assert_int_equal(auth_owner_create(W(), "another long password", why, sizeof(why)),
	    JIDO_ECONFLICT);
	assert_int_equal(auth_password_check(W(), "a long enough password"), 0);
	assert_int_equal(auth_password_check(W(), "a long enough passwore"), JIDO_EAUTHZ);
	assert_int_equal(auth_password_check(W(), NULL), JIDO_EAUTHZ);
	assert_false(auth_setup_done(W()));
	assert_int_equal(auth_setup_finish(W()), 0);
	assert_true(auth_setup_done(W()));
}

static void
test_sessions_and_csrf(void **state)
{
	char a[65], b[65], ta[65], tb[65];

	(void)state;
	assert_int_equal(auth_session_new(W(), a), 0);
	assert_int_equal(auth_session_new(W(), b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(auth_session_check(W(), a), 0);
	assert_int_equal(auth_session_check(W(), "nope"), JIDO_EAUTHZ);
	auth_csrf_token(W(), a, ta);
	auth_csrf_token(W(), b, tb);
	assert_string_not_equal(ta, tb);
	assert_int_equal(auth_csrf_check(W(), a, ta), 0);
	assert_int_equal(auth_csrf_check(W(), b, ta), JIDO_EAUTHZ);  /* bound to its session */
	assert_int_equal(auth_csrf_check(W(), a, NULL), JIDO_EAUTHZ);
	assert_int_equal(auth_csrf_check(W(), NULL, ta), JIDO_EAUTHZ);
	ta[0] = ta[0] == '0' ? '1' : '0';
	assert_int_equal(auth_csrf_check(W(), a, ta), JIDO_EAUTHZ);
	auth_session_end(W(), a);
	assert_int_equal(auth_session_check(W(), a), JIDO_EAUTHZ);  /* dead after logout */
	assert_int_equal(auth_session_check(W(), b), 0);
}

static void
test_login_limit(void **state)
{
	int64_t t = 1000000;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(auth_login_limit(W(), "10.0.0.1", t + i * 1000), 0);
	int wait = auth_login_limit(W(), "10.0.0.1", t + 5000);
	assert_true(wait > 0 && wait <= 60);
	assert_int_equal(wait, 55);
	/* another address is not affected */
	assert_int_equal(auth_login_limit(W(), "10.0.0.2", t + 5000), 0);
	/* a minute after the first attempt, one more is allowed */
	assert_int_equal(auth_login_limit(W(), "10.0.0.1", t + 60000), 0);
	assert_true(auth_login_limit(W(), "10.0.0.1", t + 60001) > 0);
}

static void
test_scopes(void **state)
{
	char buf[40];

	(void)state;
	assert_int_equal(auth_scopes_parse("read"), SCOPE_READ);
	assert_int_equal(auth_scopes_parse("read,approve"), SCOPE_READ | SCOPE_APPROVE);
	assert_int_equal(auth_scopes_parse("run admin"), SCOPE_RUN | SCOPE_ADMIN);
	assert_int_equal(auth_scopes_parse("read,root"), -1);
	assert_int_equal(auth_scopes_parse(""), 0);
	assert_string_equal(auth_scopes_text(SCOPE_READ | SCOPE_ADMIN, buf, sizeof(buf)),
	    "read,admin");
}

static void
test_tokens(void **state)
{
	char tok[80], why[256];
	int64_t id, got;
	int scopes;
	sqlite3_stmt *st;

	(void)state;
	assert_int_equal(auth_token_create(W()->db, "", SCOPE_READ, 0, tok, &id, why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_int_equal(auth_token_create(W()->db, "ci", 0, 0, tok, &id, why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_int_equal(auth_token_create(W()->db, "ci", SCOPE_READ, 9999, tok, &id, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(auth_token_create(W()->db, "ci", SCOPE_READ | SCOPE_RUN, 30, tok, &id, why,
	    sizeof(why)), 0);
	assert_int_equal(strncmp(tok, "jido_", 5), 0);
	assert_int_equal(strlen(tok), 53);
	assert_int_equal(auth_token_check(W(), tok, &got, &scopes), 0);
	assert_int_equal(got, id);
	assert_int_equal(scopes, SCOPE_READ | SCOPE_RUN);
	/* stored hashed: the text is nowhere in the table */
	assert_int_equal(sqlite3_prepare_v2(W()->db, "SELECT count(*) FROM tokens WHERE hash = ?1 "
	    "OR prefix = ?1 OR name = ?1", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	/* a wrong token, one flipped character */
	tok[10] = tok[10] == 'a' ? 'b' : 'a';
	assert_int_equal(auth_token_check(W(), tok, &got, &scopes), JIDO_EAUTHZ);
	tok[10] = tok[10] == 'a' ? 'b' : 'a';
	/* listed without the secret, with last use */
	json_t *l = auth_token_list(W()->db);
	assert_int_equal(json_array_size(l), 1);
	assert_true(json_is_integer(json_object_get(json_array_get(l, 0), "last_used_ms")));
	assert_true(json_is_true(json_object_get(json_array_get(l, 0), "active")));
	json_decref(l);
	/* revoked at once */
	assert_int_equal(auth_token_revoke(W()->db, id), 0);
	assert_int_equal(auth_token_check(W(), tok, &got, &scopes), JIDO_EAUTHZ);
	assert_int_equal(auth_token_revoke(W()->db, id), JIDO_ENOTFOUND);
	/* expired */
	assert_int_equal(auth_token_create(W()->db, "old", SCOPE_READ, 1, tok, &id, why,
	    sizeof(why)), 0);
	assert_int_equal(sqlite3_exec(W()->db, "UPDATE tokens SET expires_ms = 1 WHERE name = "
	    "'old'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(auth_token_check(W(), tok, &got, &scopes), JIDO_EAUTHZ);
}

static void
test_api_bucket(void **state)
{
	int rem, lim, reset;
	int64_t t = 5000000;

	(void)state;
	/* burst 3, one a second */
	assert_int_equal(auth_api_limit(W(), 42, t, &rem, &lim, &reset), 0);
	assert_int_equal(lim, 3);
	assert_int_equal(rem, 2);
	assert_int_equal(auth_api_limit(W(), 42, t, &rem, &lim, &reset), 0);
	assert_int_equal(auth_api_limit(W(), 42, t, &rem, &lim, &reset), 0);
	assert_int_equal(rem, 0);
	assert_true(auth_api_limit(W(), 42, t, &rem, &lim, &reset) > 0);
	assert_int_equal(auth_api_limit(W(), 43, t, &rem, &lim, &reset), 0); /* own bucket */
	assert_int_equal(auth_api_limit(W(), 42, t + 1000, &rem, &lim, &reset), 0); /* refilled */
}

static void
test_sse_resume(void **state)
{
	struct web *w = W();
	char id[64];
	int gap;

	(void)state;
	assert_int_equal(sse_resume_point(w, NULL, &gap), 0);
	assert_int_equal(gap, 0);
	for (int i = 0; i < 10; i++)
		sse_ring_push(w, "run1", "log", "{}");
	snprintf(id, sizeof(id), "%llu-4", (unsigned long long)w->boot);
	assert_int_equal(sse_resume_point(w, id, &gap), 4);
	assert_int_equal(gap, 0);
	snprintf(id, sizeof(id), "%llu-4", (unsigned long long)w->boot + 1);
	assert_int_equal(sse_resume_point(w, id, &gap), 0);  /* another start of the web */
	assert_int_equal(gap, 1);
	assert_int_equal(sse_resume_point(w, "junk", &gap), 0);
	assert_int_equal(gap, 1);
	snprintf(id, sizeof(id), "%llu-999", (unsigned long long)w->boot);
	sse_resume_point(w, id, &gap);                        /* from the future */
	assert_int_equal(gap, 1);
	/* wrap the ring: an old id has lost events after it */
	for (int i = 0; i < WEB_SSE_RING; i++)
		sse_ring_push(w, "run2", "log", "{}");
	snprintf(id, sizeof(id), "%llu-4", (unsigned long long)w->boot);
	assert_int_equal(sse_resume_point(w, id, &gap), 4);
	assert_int_equal(gap, 1);
}

static void
test_stats(void **state)
{
	json_t *reply;

	(void)state;
	const char *ok = "{\"v\":1,\"type\":\"web.stats\",\"id\":\"1\"}";
	const char *bad = "{\"v\":1,\"type\":\"web.nope\",\"id\":\"1\"}";

	reply = jido_srv_dispatch(srv, ok, strlen(ok), NULL);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	reply = jido_srv_dispatch(srv, bad, strlen(bad), NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "error"),
	    "code")), "validation_error");
	json_decref(reply);
}

static void
test_err_status(void **state)
{
	(void)state;
	assert_int_equal(web_err_status(JIDO_EVALIDATION), 422);
	assert_int_equal(web_err_status(JIDO_EAUTHZ), 403);
	assert_int_equal(web_err_status(JIDO_ENOTFOUND), 404);
	assert_int_equal(web_err_status(JIDO_ECONFLICT), 409);
	assert_int_equal(web_err_status(JIDO_EUNAVAIL), 503);
	assert_int_equal(web_err_status(JIDO_ETIMEOUT), 504);
	assert_int_equal(web_err_status(JIDO_EINTERNAL), 500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_password),
		cmocka_unit_test(test_sessions_and_csrf),
		cmocka_unit_test(test_login_limit),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_api_bucket),
		cmocka_unit_test(test_sse_resume),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_err_status),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
