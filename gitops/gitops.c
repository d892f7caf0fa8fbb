/*
 * gitops.c - jido-gitops: policy-checked shipping: branch, commit, push, pull request, comment
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/close.
 */
#include "jido.h"

/* Syscalls beyond the base allowlist (lib/seccomp.c). */
static const char *const gitops_allow[] = {  NULL };

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
gitops_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	(void)s;
	(void)out;
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc gitops_proc = {
	.name = "gitops",
	.summary = "policy-checked shipping: branch, commit, push, pull request, comment",
	.pub_topic = NULL,
	.allow = { gitops_allow, 1, 1 },
	.handle = gitops_handle,
};
