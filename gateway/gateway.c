/*
 * gateway.c - jido-gateway: LLM gateway for sandboxed agents: scoped keys, usage, breaker, failover
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const gateway_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
gateway_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc gateway_proc = {
	.name = "gateway",
	.summary = "LLM gateway for sandboxed agents: scoped keys, usage, breaker, failover",
	.pub_topic = NULL,
	.allow = { gateway_allow, 1, 0 },
	.handle = gateway_handle,
};
