/*
 * auditor.c - jido-auditor: append-only, tamper-evident audit log with signed checkpoints and proofs
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const auditor_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
auditor_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc auditor_proc = {
	.name = "auditor",
	.summary = "append-only, tamper-evident audit log with signed checkpoints and proofs",
	.pub_topic = NULL,
	.allow = { auditor_allow, 0, 0 },
	.handle = auditor_handle,
};
