/* seccomp_test.c - the exported allowlist (Docker profile, systemd names) says exactly
 * what the installed filter enforces: same socket families, same clone rule, kill by
 * default. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "jido.h"

/* The values of arg 0 allowed for name in profile p (conditional entries), as a bitmask
 * over small integers; -1 when name is allowed unconditionally. */
static long
profile_args(json_t *p, const char *name)
{
	json_t *e, *n;
	size_t i, k;
	long mask = 0;

	json_array_foreach(json_object_get(p, "syscalls"), i, e) {
		json_array_foreach(json_object_get(e, "names"), k, n) {
			if (strcmp(json_string_value(n), name) != 0)
				continue;
			if (strcmp(json_string_value(json_object_get(e, "action")),
			    "SCMP_ACT_ALLOW") != 0)
				continue;
			json_t *args = json_object_get(e, "args");
			if (args == NULL)
				return -1;
			json_int_t v = json_integer_value(json_object_get(json_array_get(args, 0),
			    "value"));
			mask |= v >= 0 && v < 62 ? 1L << v : 1L << 62; /* 62: a large value */
		}
	}
	return mask;
}

static void
test_profile_matches_declaration(void **state)
{
	static const char *const extra[] = { "mlock", NULL };
	struct jido_allow quiet = { extra, 0, 0, NULL, NULL }, net = { extra, 1, 0, NULL, NULL },
	    ex = { NULL, 0, 1, NULL, NULL };
	json_t *p;

	(void)state;
	p = jido_seccomp_profile(&quiet);
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "defaultAction")),
	    "SCMP_ACT_KILL_PROCESS");
	assert_int_equal(profile_args(p, "socket"), 1L << AF_UNIX);
	assert_int_equal(profile_args(p, "mlock"), -1);
#ifndef __SANITIZE_ADDRESS__ /* sanitizer builds allow what LeakSanitizer needs */
	assert_int_equal(profile_args(p, "ptrace"), 0);
#endif
	assert_int_equal(profile_args(p, "mount"), 0);
	assert_int_not_equal(profile_args(p, "clone"), -1); /* threads only */
	json_decref(p);

	p = jido_seccomp_profile(&net);
	assert_int_equal(profile_args(p, "socket"),
	    (1L << AF_UNIX) | (1L << AF_INET) | (1L << AF_INET6) | (1L << AF_NETLINK));
	json_decref(p);

	p = jido_seccomp_profile(&ex);
	assert_int_equal(profile_args(p, "clone"), -1);
	assert_int_equal(profile_args(p, "wait4"), -1);
	assert_int_equal(profile_args(p, "mlock"), 0);
	json_decref(p);
}

static void
test_names(void **state)
{
	struct jido_allow quiet = { NULL, 0, 0, NULL, NULL };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_int_equal(jido_seccomp_names(&quiet, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "\nfutex\n"));
	assert_non_null(strstr(text, "\nsocket\n"));
#ifndef __SANITIZE_ADDRESS__
	assert_null(strstr(text, "\nptrace\n"));
#endif
	assert_null(strstr(text, "\nmount\n"));
	free(text);
}

/* A helper's list (child) is in the deploy profile and names, not in the parent's own
 * install; refused names are EPERM entries, never among the allowed names. */
static void
test_child_and_refuse(void **state)
{
	static const char *const child_names[] = { "mount", NULL };
	static const char *const child_refuse[] = { "kexec_load", NULL };
	struct jido_allow child = { child_names, 1, 1, child_refuse, NULL };
	struct jido_allow parent = { NULL, 0, 1, NULL, &child };
	json_t *p, *e;
	size_t i;
	int refused = 0;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	p = jido_seccomp_profile(&parent);
	assert_int_equal(profile_args(p, "mount"), -1);
	assert_int_equal(profile_args(p, "socket"),
	    (1L << AF_UNIX) | (1L << AF_INET) | (1L << AF_INET6) | (1L << AF_NETLINK));
	assert_int_equal(profile_args(p, "kexec_load"), 0);
	json_array_foreach(json_object_get(p, "syscalls"), i, e)
		if (strcmp(json_string_value(json_array_get(json_object_get(e, "names"), 0)),
		    "kexec_load") == 0 && json_integer_value(json_object_get(e, "errnoRet")) == 1)
			refused++;
	assert_int_equal(refused, 1);
	/* the AF_UNIX rule of both lists appears once */
	refused = 0;
	json_array_foreach(json_object_get(p, "syscalls"), i, e) {
		json_t *a = json_array_get(json_object_get(e, "args"), 0);
		if (i > 0 && strcmp(json_string_value(json_array_get(json_object_get(e, "names"),
		    0)), "socket") == 0 && json_integer_value(json_object_get(a, "value")) ==
		    AF_UNIX)
			refused++;
	}
	assert_int_equal(refused, 1);
	json_decref(p);
	f = open_memstream(&text, &len);
	assert_int_equal(jido_seccomp_names(&parent, f), 0);
	fclose(f);
	assert_non_null(strstr(text, "\nmount\n"));
	assert_null(strstr(text, "kexec_load"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_matches_declaration),
		cmocka_unit_test(test_child_and_refuse),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
