/*
 * workflow_test.c - workflow definitions: the built-ins load and pin a stable hash; an
 * unknown step kind, a missing field, a cycle, an unknown field and a dangling reference
 * are refused with a message naming the file, the step and the field; an owner's file
 * overrides a built-in of the same name; a refused file is listed, not fatal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "planner.h"

static void
refused(const char *text, const char *want1, const char *want2)
{
	struct workflow *w = NULL;
	char why[1024] = "";

	assert_int_equal(workflow_parse("owner/bad.json", text, strlen(text), &w, why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_null(w);
	if (strstr(why, "owner/bad.json") == NULL || strstr(why, want1) == NULL ||
	    (want2 != NULL && strstr(why, want2) == NULL))
		fail_msg("message '%s' lacks '%s' / '%s'", why, want1, want2 ? want2 : "");
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"teleport\"}]}",
	    "step 'a': field 'kind'", "unknown step kind 'teleport'");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"agent\"}]}",
	    "step 'a': field 'prompt'", "missing");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"kind\":\"ship\"}]}",
	    "step #1: field 'id'", "missing");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\"}]}",
	    "step 'a': field 'kind'", "missing");
	refused("{\"name\":\"x\",\"steps\":[{\"id\":\"a\",\"kind\":\"ship\"}]}",
	    "field 'version'", "missing");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"next\":\"b\"},{\"id\":\"b\",\"kind\":\"ship\",\"next\":\"a\"}]}",
	    "field 'next'", "cycle");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"next\":\"a\"}]}", "step 'a': field 'next'", "cycle");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"next\":\"zz\"}]}", "step 'a': field 'next'", "no step 'zz'");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"on_failure\":\"zz\"}]}", "step 'a': field 'on_failure'", NULL);
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"colour\":\"red\"}]}", "step 'a': field 'colour'", "unknown field");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\","
	    "\"timeout_s\":0}]}", "step 'a': field 'timeout_s'", NULL);
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[{\"id\":\"a\",\"kind\":\"ship\"},"
	    "{\"id\":\"a\",\"kind\":\"ship\"}]}", "step 'a': field 'id'", "duplicate");
	refused("{\"name\":\"x\",\"version\":1,\"steps\":[]}", "field 'steps'", NULL);
	refused("{\"name\":\"x\",\"version\":1,", "malformed JSON", NULL);
}

static void
test_loops_through_on_failure_are_fine(void **state)
{
	const char *text = "{\"name\":\"x\",\"version\":2,\"steps\":[{\"id\":\"code\",\"kind\":"
	    "\"agent\",\"prompt\":\"p\"},{\"id\":\"test\",\"kind\":\"shell\",\"command\":\"make\","
	    "\"on_failure\":\"code\"},{\"id\":\"ship\",\"kind\":\"ship\",\"next\":null}]}";
	struct workflow *w = NULL;
	char why[512];

	(void)state;
	assert_int_equal(workflow_parse("f.json", text, strlen(text), &w, why, sizeof(why)), 0);
	assert_int_equal(w->nsteps, 3);
	assert_int_equal(w->steps[0].next, 1);
	assert_int_equal(w->steps[1].on_failure, 0);
	assert_int_equal(w->steps[2].next, -1);
	assert_int_equal(strlen(w->hash), 64);
	workflow_free(w);
}

static void
test_builtins_and_owner_folder(void **state)
{
	char builtin[PATH_MAX], dir[] = "/tmp/jido-wf.XXXXXX", path[PATH_MAX + 32];
	struct wf_set set;
	FILE *f;

	(void)state;
	wf_builtin_dir(builtin, sizeof(builtin));
	assert_true(builtin[0] != '\0');
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/issue_triage.json", dir);
	f = fopen(path, "w");
	fputs("{\"name\":\"issue_triage\",\"version\":7,\"steps\":[{\"id\":\"f\",\"kind\":"
	    "\"fetch_issue\"}]}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/broken.json", dir);
	f = fopen(path, "w");
	fputs("{\"name\":\"broken\",\"version\":1,\"steps\":[{\"id\":\"s\",\"kind\":\"warp\"}]}", f);
	fclose(f);
	const char *dirs[] = { builtin, dir, NULL };
	assert_int_equal(wf_set_load(&set, dirs), 0);
	assert_int_equal(set.n, 3);
	assert_non_null(wf_set_find(&set, "fix_issue"));
	assert_non_null(wf_set_find(&set, "fix_failing_tests"));
	assert_int_equal(wf_set_find(&set, "issue_triage")->version, 7); /* owner wins */
	assert_int_equal(json_array_size(set.errors), 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(set.errors, 0),
	    "error")), "broken.json: step 's': field 'kind'"));
	/* the built-in fix_issue: approval skipped with auto_ship, ship last */
	const struct workflow *w = wf_set_find(&set, "fix_issue");
	int ship = workflow_step_index(w, "ship"), appr = workflow_step_index(w, "approve");
	assert_true(ship > appr && appr > 0);
	assert_string_equal(w->steps[appr].skip_if, "auto_ship");
	assert_int_equal(w->steps[ship].next, -1);
	wf_set_free(&set);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_loops_through_on_failure_are_fine),
		cmocka_unit_test(test_builtins_and_owner_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
