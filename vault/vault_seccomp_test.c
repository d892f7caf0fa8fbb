/*
 * vault_seccomp_test.c - jido-vault's own allowlist, installed in a child: what the process
 * needs keeps working, a syscall outside the list kills the child with SIGSYS. Expected:
 * network no, exec no.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jido.h"
#include "seccomp_check.h"

extern const struct jido_proc vault_proc;

int
main(void)
{
	return seccomp_check_suite(&vault_proc.allow, 0, 0);
}
