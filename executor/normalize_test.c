/*
 * normalize_test.c - the planner's job shape made into an executor job: a step starts
 * from the run's work so far (base_diff = the diff of the last earlier step holding one),
 * and a first step or an explicit workspace gets none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "executor.h"

/* A planner-shaped shell step with these inputs (new reference). */
static json_t *
job_with(json_t *inputs)
{
	return json_pack("{s:s,s:s,s:i,s:i,s:s,s:{s:s,s:s,s:s},s:{s:s,s:{s:s}},s:i,s:o}",
	    "job_id", "r1:4:1", "run_id", "r1", "seq", 4, "attempt", 1, "kind", "shell",
	    "step", "id", "test", "kind", "shell", "command", "sh test.sh",
	    "project", "full_name", "octo/demo", "settings", "default_branch", "main",
	    "issue", 2, "inputs", inputs);
}

static void
test_base_diff_is_the_last_step_holding_one(void **state)
{
	json_t *in = json_pack("{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}", "fetch", "diff", "",
	    "plan", "diff", "diff --git a/x b/x\n-plan\n", "code", "diff", "diff --git a/x b/x\n-code\n",
	    "lint", "diff", "");
	json_t *d = job_with(in), *job = NULL;
	char why[256];

	(void)state;
	assert_int_equal(exec_normalize(d, "http://127.0.0.1:1/", &job, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(job, "base_diff")),
	    "diff --git a/x b/x\n-code\n");
	assert_string_equal(json_string_value(json_object_get(json_object_get(job, "workspace"),
	    "clone_url")), "http://127.0.0.1:1/octo/demo.git");
	json_decref(job);
	json_decref(d);
}

static void
test_no_earlier_diff_no_base_diff(void **state)
{
	json_t *d = job_with(json_pack("{s:{s:s}}", "fetch", "output", "#2 title")), *job = NULL;
	char why[256];

	(void)state;
	assert_int_equal(exec_normalize(d, "http://127.0.0.1:1/", &job, why, sizeof(why)), 0);
	assert_null(json_object_get(job, "base_diff"));
	json_decref(job);
	json_decref(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_diff_is_the_last_step_holding_one),
		cmocka_unit_test(test_no_earlier_diff_no_base_diff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
