/*
 * mcp_tools.c - the binding of the MCP core to the operations: which request-socket
 * operation each MCP tool is, its typed arguments, scope and hints. Until the one
 * operation table (issue 11) lands, this is a minimal adapter over the planner's
 * existing operations; then mcp_tools() is generated from that table instead.
 */
#include "mcp.h"

static const struct mcp_arg a_none[] = { { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_project[] = {
	{ "project", "id", 1, "project id or owner/name" }, { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_limit[] = {
	{ "limit", "integer", 0, "items per list (most recent activity first)" },
	{ NULL, NULL, 0, NULL } };
static const struct mcp_arg a_runs[] = {
	{ "project", "id", 0, "only runs of this project (id or owner/name)" },
	{ "state", "string", 0, "only runs in this state" },
	{ "limit", "integer", 0, "at most this many (100)" }, { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_run[] = {
	{ "run_id", "string", 1, "the run's id (r_...)" }, { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_kickoff[] = {
	{ "project", "id", 1, "project id or owner/name" },
	{ "workflow", "string", 1, "workflow name" },
	{ "issue", "integer", 0, "the GitHub issue number" },
	{ "dry_run", "boolean", 0, "plan and run without shipping" }, { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_cancel[] = {
	{ "run_id", "string", 1, "the run's id" },
	{ "reason", "string", 0, "why, for the record" }, { NULL, NULL, 0, NULL } };
static const struct mcp_arg a_decide[] = {
	{ "run_id", "string", 1, "the run's id" },
	{ "rationale", "string", 1, "why (at least 10 characters), for the audit log" },
	{ NULL, NULL, 0, NULL } };
static const struct mcp_arg a_follow[] = {
	{ "run_id", "string", 1, "the run's id" },
	{ "timeout_s", "integer", 0, "stop following after this many seconds" },
	{ NULL, NULL, 0, NULL } };

static const struct mcp_tool tools[] = {
	{ "projects_list", "List the imported GitHub repositories with their settings.",
	    "planner", "planner.projects.list", a_none, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL,
	    NULL },
	{ "projects_get", "Show one project: settings, clone status.", "planner",
	    "planner.projects.get", a_project, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL, NULL },
	{ "workbench", "Open issues and pull requests per repository, with their latest run.",
	    "planner", "planner.workbench", a_limit, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL,
	    NULL },
	{ "runs_list", "List runs, newest first, optionally by project or state.", "planner",
	    "planner.runs.list", a_runs, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL, NULL },
	{ "runs_get", "Show one run: state, steps, transitions, approval payload.", "planner",
	    "planner.runs.get", a_run, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL, NULL },
	{ "runs_follow", "Follow a run until it finishes or waits for approval, with progress "
	    "notifications; returns the run.", "planner", "planner.runs.get", a_follow,
	    MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_FOLLOW, NULL },
	{ "runs_kickoff", "Start a run of a workflow on a project (and issue).", "planner",
	    "planner.runs.create", a_kickoff, MCP_SCOPE_RUN, 0, 0, 0, MCP_KIND_CALL, NULL },
	{ "runs_cancel", "Cancel a run that has not finished.", "planner", "planner.runs.cancel",
	    a_cancel, MCP_SCOPE_RUN, 0, 1, 0, MCP_KIND_CALL, NULL },
	{ "runs_retry", "Start a new attempt of a failed or cancelled run.", "planner",
	    "planner.runs.retry", a_run, MCP_SCOPE_RUN, 0, 0, 0, MCP_KIND_CALL, NULL },
	{ "approvals_list", "Runs waiting for the owner's approval, and flagged runs.",
	    "planner", "planner.approvals.list", a_none, MCP_SCOPE_READ, 1, 0, 1, MCP_KIND_CALL,
	    NULL },
	{ "runs_approve", "Approve a run waiting for approval (off over MCP unless the owner "
	    "set mcp.allow_approvals).", "planner", "planner.approvals.decide", a_decide,
	    MCP_SCOPE_APPROVE, 0, 0, 0, MCP_KIND_APPROVAL, "approve" },
	{ "runs_reject", "Reject a run waiting for approval (off over MCP unless the owner set "
	    "mcp.allow_approvals).", "planner", "planner.approvals.decide", a_decide,
	    MCP_SCOPE_APPROVE, 0, 1, 0, MCP_KIND_APPROVAL, "reject" },
};

const struct mcp_tool *
mcp_tools(size_t *n)
{
	*n = sizeof(tools) / sizeof(tools[0]);
	return tools;
}
