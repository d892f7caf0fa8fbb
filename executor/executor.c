/*
 * executor.c - jido-executor: runs steps in a sandbox and streams their redacted output
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"
#include "executor.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const executor_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
executor_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc executor_proc = {
	.name = "executor",
	.summary = "runs steps in a sandbox and streams their redacted output",
	.pub_topic = "logs",
	.allow = { executor_allow, 0, 1 },
	.handle = executor_handle,
	.command = executor_command,
	.command_usage = "  sandbox [opts] -- CMD  run CMD in the step sandbox (see sandbox --help)\n",
};
