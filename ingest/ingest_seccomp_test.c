/*
 * ingest_seccomp_test.c - jido-ingest's own allowlist, installed in a child: what the process
 * needs keeps working, a syscall outside the list kills the child with SIGSYS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jido.h"
#include "seccomp_check.h"

extern const struct jido_proc ingest_proc;

static void
test_allowed_survives(void **state)
{
	(void)state;
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_ALLOWED), 0);
}

static void
test_forbidden_kills(void **state)
{
	(void)state;
	/* Nobody may load kernel modules, mount filesystems or trace processes. */
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_MOUNT), SIGSYS);
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_INIT_MODULE), SIGSYS);
}

static void
test_network_and_exec(void **state)
{
	(void)state;
	/* ingest: network 1, exec 0 as declared in ingest.c. */
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_INET), 0);
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_EXEC), SIGSYS);
	assert_int_equal(seccomp_check_run(&ingest_proc.allow, SECCOMP_PROBE_FORK), SIGSYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_survives),
		cmocka_unit_test(test_forbidden_kills),
		cmocka_unit_test(test_network_and_exec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
