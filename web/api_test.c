/* api_test.c - the REST API against the operation table: every table operation has its
 * method and path in the served web/openapi.json (x-operation names it, x-scope is its
 * scope, every path argument is a path parameter), and every OpenAPI operation but the
 * stream and the document itself is a table operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops.h"
#include "web.h"

extern const char web_static_openapi[];
extern const unsigned int web_static_openapi_len;

/* "/api/v1/runs/:run" -> "/api/v1/runs/{}" ; "/api/v1/runs/{run_id}" -> the same. */
static void
norm(const char *p, char *out, size_t len)
{
	size_t n = 0;

	while (*p != '\0' && n + 3 < len) {
		if (*p == ':' || *p == '{') {
			out[n++] = '{';
			out[n++] = '}';
			p += strcspn(p, "/");
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
}

static json_t *
find(json_t *paths, const char *path, const char *method)
{
	char want[256], have[256], m[8];
	const char *key;
	json_t *v;

	norm(path, want, sizeof(want));
	for (size_t i = 0; method[i] != '\0' && i < sizeof(m) - 1; i++)
		m[i] = (char)(method[i] | 0x20), m[i + 1] = '\0';
	json_object_foreach(paths, key, v) {
		norm(key, have, sizeof(have));
		if (strcmp(have, want) == 0)
			return json_object_get(v, m);
	}
	return NULL;
}

static void
test_every_op_in_openapi(void **state)
{
	json_error_t je;
	json_t *spec = json_loadb(web_static_openapi, web_static_openapi_len, 0, &je), *paths;
	size_t n;
	const struct jido_op *ops = jido_ops(&n);

	(void)state;
	assert_non_null(spec);
	paths = json_object_get(spec, "paths");
	for (size_t i = 0; i < n; i++) {
		json_t *e = find(paths, ops[i].path, ops[i].method);
		if (e == NULL)
			fail_msg("%s %s (%s) is not in web/openapi.json: run scripts/openapi_ops.py",
			    ops[i].method, ops[i].path, ops[i].name);
		const char *xo = json_string_value(json_object_get(e, "x-operation"));
		if (xo == NULL || strcmp(xo, ops[i].name) != 0)
			fail_msg("%s %s: x-operation is %s, not %s", ops[i].method, ops[i].path,
			    xo != NULL ? xo : "missing", ops[i].name);
		assert_string_equal(json_string_value(json_object_get(e, "x-scope")),
		    jido_op_scope_name(ops[i].scope));
		char st[8];
		snprintf(st, sizeof(st), "%d", ops[i].status);
		assert_non_null(json_object_get(json_object_get(e, "responses"), st));
	}
	/* and nothing in the file that the table does not drive */
	const char *key, *m;
	json_t *v, *e;
	json_object_foreach(paths, key, v)
		json_object_foreach(v, m, e) {
			if (strstr(key, "/events") != NULL || strstr(key, "openapi.json") != NULL ||
			    strcmp(m, "parameters") == 0)
				continue;
			/* artifact downloads (streamed files) and share links: web/api.c's own
			 * routes, marked so, never silently */
			if (json_is_true(json_object_get(e, "x-outside-table")))
				continue;
			const char *name = json_string_value(json_object_get(e, "x-operation"));
			if (name == NULL || jido_op_find(name) == NULL)
				fail_msg("%s %s in web/openapi.json is not a table operation", m, key);
		}
	json_decref(spec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_op_in_openapi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
