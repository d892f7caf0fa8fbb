/*
 * executor_seccomp_test.c - jido-executor's own allowlist, installed in a child: what the process
 * needs keeps working, a syscall outside the list kills the child with SIGSYS. Expected:
 * network no, exec yes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jido.h"
#include "seccomp_check.h"

extern const struct jido_proc executor_proc;

int
main(void)
{
	return seccomp_check_suite(&executor_proc.allow, 0, 1);
}
