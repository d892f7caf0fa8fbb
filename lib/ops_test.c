/* ops_test.c - the operation table: every entry complete (name, description, bus request,
 * REST route with its path arguments, CLI words, argument descriptions), unique names,
 * routes and CLI words; argument parsing, validation, mapping and the JSON Schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jido.h"
#include "ops.h"

static void
test_table_complete(void **state)
{
	size_t n;
	const struct jido_op *ops = jido_ops(&n);

	(void)state;
	assert_true(n >= 25);
	for (size_t i = 0; i < n; i++) {
		const struct jido_op *o = &ops[i];
		char msg[256];
		snprintf(msg, sizeof(msg), "op %s", o->name);
		assert_non_null(o->name);
		assert_true(o->desc != NULL && o->desc[0] != '\0');
		assert_true(o->proc != NULL && o->type != NULL);
		/* the type names its process (the auditor's wire types are audit.*) */
		assert_true(strncmp(o->type, o->proc, strlen(o->proc)) == 0 ||
		    (strcmp(o->proc, "auditor") == 0 && strncmp(o->type, "audit.", 6) == 0));
		assert_true(o->cli != NULL && o->cli[0] != '\0');
		assert_true(o->method != NULL && (strcmp(o->method, "GET") == 0 ||
		    strcmp(o->method, "POST") == 0 || strcmp(o->method, "PATCH") == 0));
		assert_true(o->path != NULL && strncmp(o->path, "/api/v1/", 8) == 0);
		assert_true(o->status == 200 || o->status == 201);
		assert_true(o->scope == JIDO_SCOPE_READ || o->scope == JIDO_SCOPE_RUN ||
		    o->scope == JIDO_SCOPE_APPROVE || o->scope == JIDO_SCOPE_ADMIN);
		/* a GET changes nothing; read-only ops need only read or admin */
		if (strcmp(o->method, "GET") == 0)
			assert_true(o->flags & JIDO_OP_READONLY);
		assert_false((o->flags & JIDO_OP_READONLY) && (o->flags & JIDO_OP_DESTRUCTIVE));
		assert_ptr_equal(jido_op_find(o->name), o);
		/* every :x in the path is a required argument */
		for (const char *p = strchr(o->path, ':'); p != NULL; p = strchr(p + 1, ':')) {
			char arg[64];
			size_t k = strcspn(p + 1, "/");
			snprintf(arg, sizeof(arg), "%.*s", (int)k, p + 1);
			const struct jido_op_arg *a = jido_op_arg_find(o, arg);
			assert_non_null(a);
			assert_true(a->flags & JIDO_ARG_REQUIRED);
		}
		for (size_t k = 0; k < jido_op_nargs(o); k++) {
			assert_true(o->args[k].desc != NULL && o->args[k].desc[0] != '\0');
			if (o->args[k].type == JIDO_ARG_ENUM)
				assert_non_null(o->args[k].enums);
		}
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(ops[j].name, o->name);
			assert_string_not_equal(ops[j].cli, o->cli);
			assert_false(strcmp(ops[j].method, o->method) == 0 &&
			    strcmp(ops[j].path, o->path) == 0);
		}
		json_t *s = jido_op_schema(o);
		assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
		assert_int_equal(json_object_size(json_object_get(s, "properties")), jido_op_nargs(o));
		json_decref(s);
		(void)msg;
	}
	assert_null(jido_op_find("no.such"));
}

static void
test_build(void **state)
{
	const struct jido_op *op = jido_op_find("approvals.approve");
	struct jido_op_ctx ctx = { "cli", "owner", NULL };
	json_t *data, *args;
	char why[256];

	(void)state;
	args = json_pack("{s:s,s:s}", "run", "r1", "rationale", "looks good");
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(data, "run_id")), "r1");
	assert_string_equal(json_string_value(json_object_get(data, "decision")), "approve");
	assert_string_equal(json_string_value(json_object_get(data, "channel")), "cli");
	assert_string_equal(json_string_value(json_object_get(data, "actor")), "owner");
	assert_null(json_object_get(data, "run"));
	json_decref(data);
	json_decref(args);
	/* missing required, unknown argument, wrong type, enum, bounds */
	assert_int_equal(jido_op_build(op, NULL, &ctx, &data, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "run: required"));
	assert_null(data);
	args = json_pack("{s:s,s:s}", "run", "r1", "bogus", "x");
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "bogus"));
	json_decref(args);
	op = jido_op_find("runs.list");
	args = json_pack("{s:s}", "state", "sleeping");
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(args);
	args = json_pack("{s:i}", "limit", 0);
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(args);
	args = json_pack("{s:s}", "limit", "5");
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(args);
	/* runs.list adds no actor (not flagged) */
	args = json_pack("{s:i,s:s}", "project", 2, "state", "running");
	assert_int_equal(jido_op_build(op, args, &ctx, &data, why, sizeof(why)), 0);
	assert_null(json_object_get(data, "actor"));
	assert_int_equal(json_integer_value(json_object_get(data, "project")), 2);
	json_decref(data);
	json_decref(args);
}

static void
test_parse(void **state)
{
	const struct jido_op *op = jido_op_find("runs.kickoff");
	json_t *v;
	char why[256];

	(void)state;
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "issue"), "42", &v, why,
	    sizeof(why)), 0);
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "issue"), "4x", &v, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "project"), "7", &v, why,
	    sizeof(why)), 0);
	assert_true(json_is_integer(v));
	json_decref(v);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "project"), "acme/w", &v, why,
	    sizeof(why)), 0);
	assert_string_equal(json_string_value(v), "acme/w");
	json_decref(v);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "dry_run"), "true", &v, why,
	    sizeof(why)), 0);
	assert_true(json_is_true(v));
	json_decref(v);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "dry_run"), "maybe", &v, why,
	    sizeof(why)), JIDO_EVALIDATION);
	op = jido_op_find("projects.import");
	assert_int_equal(jido_op_arg_parse(&op->args[0], "a/b,c/d", &v, why, sizeof(why)), 0);
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);
	op = jido_op_find("projects.update");
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "settings"), "[1]", &v, why,
	    sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(jido_op_arg_parse(jido_op_arg_find(op, "settings"), "{\"a\":1}", &v, why,
	    sizeof(why)), 0);
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
