/*
 * planner.c - jido-planner: projects, the issue/PR mirror, workflows, runs and approvals
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const planner_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
planner_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc planner_proc = {
	.name = "planner",
	.summary = "projects, the issue/PR mirror, workflows, runs and approvals",
	.pub_topic = "runs",
	.allow = { planner_allow, 0, 0 },
	.handle = planner_handle,
};
