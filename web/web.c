/*
 * web.c - jido-web: owner UI, REST API, live updates, metrics and MCP over HTTP
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const web_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
web_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc web_proc = {
	.name = "web",
	.summary = "owner UI, REST API, live updates, metrics and MCP over HTTP",
	.pub_topic = NULL,
	.allow = { web_allow, 1, 0 },
	.handle = web_handle,
};
