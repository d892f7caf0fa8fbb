/*
 * norm_test.c - the normalizer on hand-made payloads shaped like GitHub's (the real
 * examples of every event are checked in tests/e2e/ingest_normalize.sh): fields land
 * where the wire contract says, comments win over their issue, unhandled events become
 * events.github.other, and ill-typed fields are treated as absent instead of failing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"

/* Normalize text as event; returns data (new reference), type in type. */
static json_t *
norm(const char *event, const char *text, char *type)
{
	json_t *p = json_loads(text, 0, NULL), *d = NULL;
	char why[256];

	assert_non_null(p);
	assert_int_equal(ingest_norm(event, "dlv-1", p, &d, type, JIDO_TYPE_MAX + 1, why,
	    sizeof(why)), 0);
	json_decref(p);
	return d;
}

static const char *
s(const json_t *d, const char *k)
{
	return json_string_value(json_object_get(d, k));
}

static void
test_issue_comment(void **state)
{
	char type[JIDO_TYPE_MAX + 1];
	json_t *d = norm("issue_comment",
	    "{\"action\":\"created\",\"issue\":{\"number\":12,\"title\":\"Crash\",\"body\":\"it "
	    "crashes\",\"html_url\":\"https://g/o/r/issues/12\",\"author_association\":\"NONE\","
	    "\"labels\":[{\"name\":\"bug\"},{\"name\":\"p1\"}],\"user\":{\"login\":\"rep\"}},"
	    "\"comment\":{\"id\":99,\"body\":\"/jido fix\",\"html_url\":\"https://g/c/99\","
	    "\"author_association\":\"OWNER\"},\"repository\":{\"full_name\":\"o/r\"},"
	    "\"sender\":{\"login\":\"own\",\"type\":\"User\"},\"installation\":{\"id\":5}}", type);

	(void)state;
	assert_string_equal(type, "events.issue_comment");
	assert_string_equal(s(d, "delivery"), "dlv-1");
	assert_string_equal(s(d, "event"), "issue_comment");
	assert_string_equal(s(d, "action"), "created");
	assert_string_equal(s(d, "repo"), "o/r");
	assert_int_equal(json_integer_value(json_object_get(d, "number")), 12);
	assert_string_equal(s(d, "actor"), "own");
	assert_string_equal(s(d, "author_association"), "OWNER"); /* the comment's */
	assert_string_equal(s(d, "body"), "/jido fix");
	assert_string_equal(s(d, "title"), "Crash");
	assert_string_equal(s(d, "url"), "https://g/c/99");
	assert_int_equal(json_array_size(json_object_get(d, "labels")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "labels"), 1)), "p1");
	assert_int_equal(json_integer_value(json_object_get(d, "installation_id")), 5);
	assert_true(json_is_null(json_object_get(d, "head_ref")));
	json_decref(d);
}

static void
test_pull_request(void **state)
{
	char type[JIDO_TYPE_MAX + 1];
	json_t *d = norm("pull_request",
	    "{\"action\":\"labeled\",\"number\":4,\"pull_request\":{\"number\":4,\"title\":\"Fix\","
	    "\"body\":null,\"author_association\":\"CONTRIBUTOR\",\"labels\":[],\"merged\":false,"
	    "\"head\":{\"ref\":\"fix-1\",\"sha\":\"abc\"},\"base\":{\"ref\":\"main\"},"
	    "\"html_url\":\"https://g/o/r/pull/4\"},\"label\":{\"name\":\"jido\"},"
	    "\"repository\":{\"full_name\":\"o/r\"},\"sender\":{\"login\":\"c\"}}", type);

	(void)state;
	assert_string_equal(type, "events.pull_request");
	assert_int_equal(json_integer_value(json_object_get(d, "number")), 4);
	assert_string_equal(s(d, "head_ref"), "fix-1");
	assert_string_equal(s(d, "base_ref"), "main");
	assert_string_equal(s(d, "head_sha"), "abc");
	assert_string_equal(s(d, "label"), "jido");
	assert_string_equal(s(d, "author_association"), "CONTRIBUTOR");
	assert_true(json_is_null(json_object_get(d, "body")));
	assert_true(json_is_true(json_object_get(d, "is_pull")));
	json_decref(d);
}

static void
test_push_label_ping(void **state)
{
	char type[JIDO_TYPE_MAX + 1];
	json_t *d = norm("push", "{\"ref\":\"refs/heads/dev\",\"before\":\"a\",\"after\":\"b\","
	    "\"commits\":[{},{}],\"compare\":\"https://g/cmp\",\"repository\":{\"full_name\":"
	    "\"o/r\"},\"pusher\":{\"name\":\"p\"},\"sender\":{\"login\":\"s\"}}", type);

	(void)state;
	assert_string_equal(type, "events.push");
	assert_string_equal(s(d, "head_ref"), "dev");
	assert_string_equal(s(d, "head_sha"), "b");
	assert_int_equal(json_integer_value(json_object_get(d, "commits")), 2);
	assert_string_equal(s(d, "actor"), "s");
	assert_true(json_is_null(json_object_get(d, "action")));
	json_decref(d);
	d = norm("label", "{\"action\":\"created\",\"label\":{\"name\":\"jido\"},\"repository\":"
	    "{\"full_name\":\"o/r\"}}", type);
	assert_string_equal(type, "events.label");
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "labels"), 0)),
	    "jido");
	json_decref(d);
	d = norm("ping", "{\"zen\":\"Keep it simple.\",\"hook_id\":42}", type);
	assert_string_equal(type, "events.ping");
	assert_string_equal(s(d, "zen"), "Keep it simple.");
	assert_true(json_is_null(json_object_get(d, "repo")));
	json_decref(d);
}

static void
test_checks(void **state)
{
	char type[JIDO_TYPE_MAX + 1];
	json_t *d = norm("check_run", "{\"action\":\"completed\",\"check_run\":{\"name\":\"ci\","
	    "\"status\":\"completed\",\"conclusion\":\"failure\",\"head_sha\":\"h\","
	    "\"check_suite\":{\"head_branch\":\"feat\"},\"pull_requests\":[{\"number\":9,"
	    "\"head\":{\"ref\":\"feat\"},\"base\":{\"ref\":\"main\"}}]},\"repository\":"
	    "{\"full_name\":\"o/r\"}}", type);

	(void)state;
	assert_string_equal(type, "events.check_run");
	assert_string_equal(s(d, "conclusion"), "failure");
	assert_int_equal(json_integer_value(json_object_get(d, "number")), 9);
	assert_string_equal(s(d, "head_ref"), "feat");
	assert_string_equal(s(d, "base_ref"), "main");
	json_decref(d);
}

static void
test_other_and_bad_input(void **state)
{
	char type[JIDO_TYPE_MAX + 1], why[256];
	json_t *d = norm("star", "{\"action\":\"created\",\"repository\":{\"full_name\":\"o/r\"}}",
	    type), *p;

	(void)state;
	assert_string_equal(type, "events.github.other");
	assert_string_equal(s(d, "event"), "star");
	assert_string_equal(s(d, "delivery"), "dlv-1");
	assert_true(json_is_true(json_object_get(d, "stored")));
	json_decref(d);
	/* Ill-typed fields are absent, not errors. */
	d = norm("issues", "{\"action\":5,\"issue\":{\"number\":\"7\",\"labels\":{\"name\":1},"
	    "\"title\":[]},\"repository\":\"o/r\",\"sender\":null}", type);
	assert_true(json_is_null(json_object_get(d, "action")));
	assert_true(json_is_null(json_object_get(d, "number")));
	assert_true(json_is_null(json_object_get(d, "repo")));
	assert_int_equal(json_array_size(json_object_get(d, "labels")), 0);
	json_decref(d);
	p = json_loads("[1,2]", 0, NULL);
	assert_int_equal(ingest_norm("issues", "x", p, &d, type, sizeof(type), why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_null(d);
	json_decref(p);
	p = json_object();
	assert_int_equal(ingest_norm("Issues", "x", p, &d, type, sizeof(type), why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_int_equal(ingest_norm("a.b", "x", p, &d, type, sizeof(type), why, sizeof(why)),
	    JIDO_EVALIDATION);
	json_decref(p);
	assert_true(ingest_delivery_id_ok("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
	assert_false(ingest_delivery_id_ok(""));
	assert_false(ingest_delivery_id_ok("a b"));
	assert_false(ingest_delivery_id_ok(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_comment),
		cmocka_unit_test(test_pull_request),
		cmocka_unit_test(test_push_label_ping),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_other_and_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
