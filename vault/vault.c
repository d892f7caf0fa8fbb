/*
 * vault.c - jido-vault: encrypted secret store; hands each secret only to the process allowed it
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const vault_allow[] = { "mlock", "munlock", NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
vault_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc vault_proc = {
	.name = "vault",
	.summary = "encrypted secret store; hands each secret only to the process allowed it",
	.pub_topic = NULL,
	.allow = { vault_allow, 0, 0 },
	.handle = vault_handle,
};
