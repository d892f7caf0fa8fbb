/* logs_test.c - executor.logs: transcripts read back in the order they were written, the
 * last `limit` lines, torn lines skipped, bad run ids refused, no transcripts = none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cmocka.h>

#include "jido.h"
#include "executor.h"

static void
put(const char *dir, const char *name, const char *text, time_t mtime)
{
	char p[512];
	FILE *f;
	struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	utimes(p, tv);
}

static void
test_logs(void **state)
{
	char tmp[] = "/tmp/exec-logs-XXXXXX", dir[256], why[256];
	json_t *out, *d;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/transcripts/r_1", tmp);
	assert_int_equal(jido_mkdirs(dir, 0700), 0);
	/* the second step's file sorts first by name but was written later */
	put(dir, "aaa.jsonl", "{\"step\":\"b\",\"seq\":1,\"line\":\"b1\"}\n", 2000);
	put(dir, "zzz.jsonl", "{\"step\":\"a\",\"seq\":1,\"line\":\"a1\"}\n"
	    "{\"step\":\"a\",\"seq\":2,\"line\":\"a2\"}\n{\"torn", 1000);
	put(dir, "notes.txt", "not a transcript\n", 3000);
	d = json_pack("{s:s}", "run_id", "r_1");
	assert_int_equal(exec_logs(tmp, d, &out, why, sizeof(why)), 0);
	json_decref(d);
	assert_int_equal(json_array_size(json_object_get(out, "lines")), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out,
	    "lines"), 0), "line")), "a1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out,
	    "lines"), 2), "line")), "b1");
	json_decref(out);
	d = json_pack("{s:s,s:i}", "run_id", "r_1", "limit", 1);
	assert_int_equal(exec_logs(tmp, d, &out, why, sizeof(why)), 0);
	json_decref(d);
	assert_int_equal(json_array_size(json_object_get(out, "lines")), 1);
	assert_true(json_is_true(json_object_get(out, "truncated")));
	assert_int_equal(json_integer_value(json_object_get(out, "total")), 3);
	json_decref(out);
	d = json_pack("{s:s}", "run_id", "r_none");
	assert_int_equal(exec_logs(tmp, d, &out, why, sizeof(why)), 0);
	assert_int_equal(json_array_size(json_object_get(out, "lines")), 0);
	json_decref(out);
	json_decref(d);
	d = json_pack("{s:s}", "run_id", "../../etc");
	assert_int_equal(exec_logs(tmp, d, &out, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(d);
	d = json_pack("{s:s,s:i}", "run_id", "r_1", "limit", 0);
	assert_int_equal(exec_logs(tmp, d, &out, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(d);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
