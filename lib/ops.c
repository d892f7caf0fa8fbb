/*
 * ops.c - the operation table (lib/ops.h) and what every channel needs from it: typed
 * argument parsing from text, validation and mapping of arguments into the bus request's
 * data, and the JSON Schema of an operation's arguments. Adding an operation is one entry
 * in ops_table (plus its argument list when it takes any).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"
#include "ops.h"

#define R JIDO_ARG_REQUIRED
#define P JIDO_ARG_POS
#define RO (JIDO_OP_READONLY | JIDO_OP_IDEMPOTENT)

/* ------------------------------------------------------------ argument lists */

static const struct jido_op_arg a_none[] = { { NULL } };

static const struct jido_op_arg a_project[] = {
	{ "project", JIDO_ARG_REF, R | P, NULL, NULL, NULL, 0, 0,
	  "project id or full name (owner/name)" },
	{ NULL } };

static const struct jido_op_arg a_project_frozen[] = {
	{ "project", JIDO_ARG_REF, R | P, NULL, NULL, NULL, 0, 0,
	  "project the anomaly guard froze, id or full name (from projects frozen)" },
	{ NULL } };

static const struct jido_op_arg a_projects_import[] = {
	{ "repos", JIDO_ARG_LIST, R | P, NULL, NULL, NULL, 0, 0,
	  "repositories to import, owner/name (comma-separated on the CLI)" },
	{ NULL } };

static const struct jido_op_arg a_projects_update[] = {
	{ "project", JIDO_ARG_REF, R | P, NULL, NULL, NULL, 0, 0,
	  "project id or full name (owner/name)" },
	{ "enabled", JIDO_ARG_BOOL, 0, NULL, NULL, NULL, 0, 0,
	  "whether triggers start runs for this project" },
	{ "settings", JIDO_ARG_JSON, 0, NULL, NULL, NULL, 0, 0,
	  "settings to merge (JSON object, e.g. {\"stale_days\":7})" },
	{ NULL } };

static const struct jido_op_arg a_workbench[] = {
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 0, 1000,
	  "open issues and PRs listed per project" },
	{ NULL } };

static const struct jido_op_arg a_issues[] = {
	{ "project", JIDO_ARG_REF, 0, NULL, NULL, NULL, 0, 0,
	  "only this project (id or full name)" },
	{ "state", JIDO_ARG_ENUM, 0, NULL, "open|closed", NULL, 0, 0,
	  "only issues in this state" },
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 10000, "at most this many issues" },
	{ NULL } };

static const struct jido_op_arg a_runs_list[] = {
	{ "project", JIDO_ARG_REF, 0, NULL, NULL, NULL, 0, 0,
	  "only runs of this project (id or full name)" },
	{ "state", JIDO_ARG_ENUM, 0, NULL,
	  "pending|running|awaiting_approval|completed|failed|cancelled", NULL, 0, 0,
	  "only runs in this state" },
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 100000, "at most this many runs" },
	{ NULL } };

static const struct jido_op_arg a_run[] = {
	{ "run", JIDO_ARG_STR, R | P, "run_id", NULL, NULL, 0, 0, "run id" },
	{ NULL } };

static const struct jido_op_arg a_logs[] = {
	{ "run", JIDO_ARG_STR, R | P, "run_id", NULL, NULL, 0, 0, "run id" },
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 10000, "the last this many lines" },
	{ NULL } };

static const struct jido_op_arg a_kickoff[] = {
	{ "project", JIDO_ARG_REF, R | P, NULL, NULL, NULL, 0, 0,
	  "project id or full name (owner/name)" },
	{ "issue", JIDO_ARG_INT, P, NULL, NULL, NULL, 0, 100000000,
	  "issue number the run works on (0 or absent: none)" },
	{ "workflow", JIDO_ARG_STR, R, NULL, NULL, NULL, 0, 0, "workflow name" },
	{ "dry_run", JIDO_ARG_BOOL, 0, NULL, NULL, "dry-run", 0, 0,
	  "plan and run, but ship nothing" },
	{ NULL } };

static const struct jido_op_arg a_cancel[] = {
	{ "run", JIDO_ARG_STR, R | P, "run_id", NULL, NULL, 0, 0, "run id" },
	{ "reason", JIDO_ARG_STR, 0, NULL, NULL, NULL, 0, 0, "why (kept with the run)" },
	{ NULL } };

static const struct jido_op_arg a_decide[] = {
	{ "run", JIDO_ARG_STR, R | P, "run_id", NULL, NULL, 0, 0, "run id awaiting approval" },
	{ "rationale", JIDO_ARG_STR, 0, NULL, NULL, "reason", 0, 0,
	  "why (recorded in the audit log)" },
	{ NULL } };

static const struct jido_op_arg a_shipping_set[] = {
	{ "paused", JIDO_ARG_BOOL, R | P, NULL, NULL, NULL, 0, 0,
	  "true: stop shipping (kill switch), false: resume" },
	{ "rationale", JIDO_ARG_STR, 0, NULL, NULL, "reason", 0, 0,
	  "why (recorded in the audit log)" },
	{ NULL } };

static const struct jido_op_arg a_secrets_list[] = {
	{ "scope", JIDO_ARG_STR, 0, NULL, NULL, NULL, 0, 0,
	  "only secrets of this scope (instance, project:ID)" },
	{ NULL } };

static const struct jido_op_arg a_tokens_create[] = {
	{ "name", JIDO_ARG_STR, R | P, NULL, NULL, NULL, 0, 0, "what the token is for" },
	{ "scopes", JIDO_ARG_STR, R, NULL, NULL, NULL, 0, 0,
	  "comma-separated: read, run, approve, admin" },
	{ "expires_days", JIDO_ARG_INT, 0, NULL, NULL, "expires-days", 0, 3650,
	  "days until it expires (0: never)" },
	{ NULL } };

static const struct jido_op_arg a_token[] = {
	{ "token", JIDO_ARG_INT, R | P, "id", NULL, NULL, 1, 0, "token id (from tokens list)" },
	{ NULL } };

static const struct jido_op_arg a_token_frozen[] = {
	{ "token", JIDO_ARG_STR, R | P, "subject", NULL, NULL, 0, 0,
	  "token id the anomaly guard froze (from tokens frozen)" },
	{ NULL } };

static const struct jido_op_arg a_audit_verify[] = {
	{ "checkpoint", JIDO_ARG_JSON, 0, NULL, NULL, NULL, 0, 0,
	  "a checkpoint kept elsewhere (JSON, or @FILE on the CLI): the log must extend it" },
	{ NULL } };

static const struct jido_op_arg a_audit_export[] = {
	{ "format", JIDO_ARG_ENUM, 0, NULL, "jsonl|csv", NULL, 0, 0, "output format" },
	{ "since", JIDO_ARG_STR, 0, NULL, NULL, NULL, 0, 0, "records from this time (RFC 3339)" },
	{ "until", JIDO_ARG_STR, 0, NULL, NULL, NULL, 0, 0, "records before this time" },
	{ "after_seq", JIDO_ARG_INT, 0, NULL, NULL, "after-seq", 0, 0,
	  "records after this sequence number (paging)" },
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 5000, "at most this many records" },
	{ NULL } };

static const struct jido_op_arg a_audit_tail[] = {
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 1000, "the last this many records" },
	{ NULL } };

static const struct jido_op_arg a_deliveries_list[] = {
	{ "event", JIDO_ARG_STR, 0, NULL, NULL, NULL, 0, 0, "only this GitHub event" },
	{ "status", JIDO_ARG_ENUM, 0, NULL, "pending|acked|rejected", NULL, 0, 0,
	  "only deliveries in this state" },
	{ "limit", JIDO_ARG_INT, 0, NULL, NULL, NULL, 1, 10000, "at most this many" },
	{ NULL } };

static const struct jido_op_arg a_delivery[] = {
	{ "delivery", JIDO_ARG_STR, R | P, "id", NULL, NULL, 0, 0, "GitHub delivery id" },
	{ NULL } };

static const struct jido_op_arg a_replay[] = {
	{ "delivery", JIDO_ARG_STR, R | P, "id", NULL, NULL, 0, 0, "GitHub delivery id" },
	{ "as_new", JIDO_ARG_BOOL, 0, NULL, NULL, "as-new", 0, 0,
	  "with a fresh delivery id (the planner then processes it again)" },
	{ NULL } };

/* ------------------------------------------------------------ the table */

static const struct jido_op ops_table[] = {
	{ "projects.list", "list imported projects", "planner", "planner.projects.list",
	  JIDO_SCOPE_READ, RO, "GET", "/api/v1/projects", 200, "projects", a_none, NULL,
	  "projects", "id,full_name,enabled,clone_status" },
	{ "projects.get", "show one project", "planner", "planner.projects.get",
	  JIDO_SCOPE_READ, RO, "GET", "/api/v1/projects/:project", 200, "projects show",
	  a_project, NULL, NULL, NULL },
	{ "projects.import", "import GitHub repositories as projects", "planner",
	  "planner.projects.import", JIDO_SCOPE_ADMIN, JIDO_OP_IDEMPOTENT, "POST",
	  "/api/v1/projects/import", 200, "projects import", a_projects_import, NULL,
	  "projects", "id,full_name,enabled,clone_status" },
	{ "projects.update", "enable or disable a project, change its settings", "planner",
	  "planner.projects.update", JIDO_SCOPE_ADMIN, JIDO_OP_IDEMPOTENT, "PATCH",
	  "/api/v1/projects/:project", 200, "projects update", a_projects_update, NULL, NULL,
	  NULL },
	{ "projects.frozen", "projects the anomaly guard froze (too many pushes or comments an hour)",
	  "planner", "planner.guard.list", JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/guard/projects",
	  200, "projects frozen", a_none, NULL, "frozen", "project_id,project,kind,reason" },
	{ "projects.unfreeze", "let a project the anomaly guard froze push and comment again",
	  "planner", "planner.guard.unfreeze", JIDO_SCOPE_ADMIN, JIDO_OP_ACTOR | JIDO_OP_CHANNEL |
	  JIDO_OP_IDEMPOTENT, "POST", "/api/v1/projects/:project/unfreeze", 200,
	  "projects unfreeze", a_project_frozen, NULL, NULL, NULL },
	{ "workbench", "per project: open issues and PRs, stale counts, the latest run",
	  "planner", "planner.workbench", JIDO_SCOPE_READ, RO, "GET", "/api/v1/workbench", 200,
	  "workbench", a_workbench, NULL, "repos",
	  "full_name,open_issue_count,stale_issue_count,open_pr_count,stale_pr_count" },
	{ "issues.list", "issues mirrored from GitHub, newest activity first", "planner",
	  "planner.issues.list", JIDO_SCOPE_READ, RO, "GET", "/api/v1/issues", 200, "issues",
	  a_issues, NULL, "issues", "repo,number,state,title" },
	{ "runs.list", "list runs, newest first", "planner", "planner.runs.list",
	  JIDO_SCOPE_READ, RO, "GET", "/api/v1/runs", 200, "runs", a_runs_list, NULL, "runs",
	  "id,state,project,workflow,issue" },
	{ "runs.get", "show one run with its steps", "planner", "planner.runs.get",
	  JIDO_SCOPE_READ, RO, "GET", "/api/v1/runs/:run", 200, "run show", a_run, NULL, NULL,
	  NULL },
	{ "runs.logs", "a run's log lines as its steps wrote them (redacted)", "executor",
	  "executor.logs", JIDO_SCOPE_READ, RO, "GET", "/api/v1/runs/:run/logs", 200, "logs",
	  a_logs, NULL, "lines", "stream,seq,line" },
	{ "runs.kickoff", "start a run of a workflow on a project (and issue)", "planner",
	  "planner.runs.create", JIDO_SCOPE_RUN, JIDO_OP_ACTOR, "POST", "/api/v1/runs", 201,
	  "kickoff", a_kickoff, NULL, NULL, NULL },
	{ "runs.cancel", "cancel a run that has not finished", "planner", "planner.runs.cancel",
	  JIDO_SCOPE_RUN, JIDO_OP_DESTRUCTIVE | JIDO_OP_IDEMPOTENT, "POST",
	  "/api/v1/runs/:run/cancel", 200, "cancel", a_cancel, NULL, NULL, NULL },
	{ "runs.retry", "start a failed or cancelled run again as a new attempt", "planner",
	  "planner.runs.retry", JIDO_SCOPE_RUN, JIDO_OP_ACTOR, "POST", "/api/v1/runs/:run/retry",
	  201, "retry", a_run, NULL, NULL, NULL },
	{ "approvals.list", "runs waiting for the owner's approval", "planner",
	  "planner.approvals.list", JIDO_SCOPE_READ, RO, "GET", "/api/v1/approvals", 200,
	  "approvals", a_none, NULL, "runs", "id,project,workflow,issue,parked" },
	{ "approvals.approve", "approve the step a run waits on", "planner",
	  "planner.approvals.decide", JIDO_SCOPE_APPROVE, JIDO_OP_ACTOR | JIDO_OP_CHANNEL,
	  "POST", "/api/v1/runs/:run/approve", 200, "approve", a_decide,
	  "{\"decision\":\"approve\"}", NULL, NULL },
	{ "approvals.reject", "reject the step a run waits on (the run fails)", "planner",
	  "planner.approvals.decide", JIDO_SCOPE_APPROVE, JIDO_OP_ACTOR | JIDO_OP_CHANNEL |
	  JIDO_OP_DESTRUCTIVE, "POST", "/api/v1/runs/:run/reject", 200, "reject", a_decide,
	  "{\"decision\":\"reject\"}", NULL, NULL },
	{ "settings.shipping.get", "whether shipping (pushes, PRs) is paused", "planner",
	  "planner.approvals.kill_switch", JIDO_SCOPE_READ, RO, "GET", "/api/v1/shipping", 200,
	  "shipping", a_none, NULL, NULL, NULL },
	{ "settings.shipping.set", "pause or resume all shipping (the kill switch)", "planner",
	  "planner.approvals.kill_switch", JIDO_SCOPE_ADMIN, JIDO_OP_ACTOR | JIDO_OP_CHANNEL |
	  JIDO_OP_IDEMPOTENT, "POST", "/api/v1/shipping", 200, "shipping set", a_shipping_set,
	  NULL, NULL, NULL },
	{ "secrets.list", "secrets in the vault: names, versions, rotation (never values)",
	  "vault", "vault.list", JIDO_SCOPE_ADMIN, RO | JIDO_OP_CRED, "GET", "/api/v1/secrets",
	  200, "secrets list", a_secrets_list, NULL, "secrets", "name,scope,version,rotated_at" },
	{ "secrets.status", "the vault's state: sealed or unlocked, counts, key kind", "vault",
	  "vault.status", JIDO_SCOPE_ADMIN, RO | JIDO_OP_CRED, "GET", "/api/v1/secrets/status",
	  200, "secrets status", a_none, NULL, NULL, NULL },
	{ "tokens.list", "API tokens (never their secrets)", "web", "web.tokens.list",
	  JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/tokens", 200, "tokens", a_none, NULL, "tokens",
	  "id,name,prefix,scopes,active" },
	{ "tokens.create", "create an API token (its secret is shown once)", "web",
	  "web.tokens.create", JIDO_SCOPE_ADMIN, JIDO_OP_CHANNEL | JIDO_OP_SECRET, "POST",
	  "/api/v1/tokens", 201, "tokens create", a_tokens_create, NULL, NULL, NULL },
	{ "tokens.revoke", "revoke an API token at once", "web", "web.tokens.revoke",
	  JIDO_SCOPE_ADMIN, JIDO_OP_CHANNEL | JIDO_OP_DESTRUCTIVE | JIDO_OP_IDEMPOTENT, "POST",
	  "/api/v1/tokens/:token/revoke", 200, "tokens revoke", a_token, NULL, NULL, NULL },
	{ "tokens.frozen", "API tokens and share links the anomaly guard froze", "web",
	  "web.guard.list", JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/guard", 200, "tokens frozen",
	  a_none, NULL, "frozen", "kind,subject,reason" },
	{ "tokens.unfreeze", "let a token the anomaly guard froze work again", "web",
	  "web.guard.unfreeze", JIDO_SCOPE_ADMIN, JIDO_OP_CHANNEL | JIDO_OP_IDEMPOTENT, "POST",
	  "/api/v1/tokens/:token/unfreeze", 200, "tokens unfreeze", a_token_frozen,
	  "{\"kind\":\"token\"}", NULL, NULL },
	{ "audit.verify", "recheck the whole audit log (hash chain, signatures)", "auditor",
	  "audit.verify", JIDO_SCOPE_ADMIN, RO, "POST", "/api/v1/audit/verify", 200,
	  "audit verify", a_audit_verify, NULL, NULL, NULL },
	{ "audit.export", "one page of audit records as JSON lines or CSV", "auditor",
	  "audit.export", JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/audit/export", 200,
	  "audit export", a_audit_export, NULL, NULL, NULL },
	{ "audit.tail", "the most recent audit records", "auditor", "audit.tail",
	  JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/audit/tail", 200, "audit tail", a_audit_tail,
	  NULL, "records", "seq,ts,channel,actor,action,subject,result" },
	{ "audit.checkpoint", "sign the log's head now (keep it elsewhere)", "auditor",
	  "audit.checkpoint", JIDO_SCOPE_ADMIN, JIDO_OP_IDEMPOTENT, "POST",
	  "/api/v1/audit/checkpoint", 200, "audit checkpoint", a_none, NULL, NULL, NULL },
	{ "deliveries.list", "GitHub webhook deliveries in ingest's spool", "ingest",
	  "ingest.deliveries.list", JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/deliveries", 200,
	  "deliveries list", a_deliveries_list, NULL, "deliveries",
	  "id,event,action,status,attempts,received_at" },
	{ "deliveries.show", "one delivery with its headers and payload", "ingest",
	  "ingest.deliveries.show", JIDO_SCOPE_ADMIN, RO, "GET", "/api/v1/deliveries/:delivery",
	  200, "deliveries show", a_delivery, NULL, NULL, NULL },
	{ "deliveries.replay", "publish a delivery to the planner again", "ingest",
	  "ingest.deliveries.replay", JIDO_SCOPE_ADMIN, 0, "POST",
	  "/api/v1/deliveries/:delivery/replay", 200, "deliveries replay", a_replay, NULL, NULL,
	  NULL },
};

const struct jido_op *
jido_ops(size_t *n)
{
	*n = sizeof(ops_table) / sizeof(ops_table[0]);
	return ops_table;
}

const struct jido_op *
jido_op_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(ops_table) / sizeof(ops_table[0]); i++)
		if (strcmp(ops_table[i].name, name) == 0)
			return &ops_table[i];
	return NULL;
}

const char *
jido_op_scope_name(int scope)
{
	switch (scope) {
	case JIDO_SCOPE_READ: return "read";
	case JIDO_SCOPE_RUN: return "run";
	case JIDO_SCOPE_APPROVE: return "approve";
	default: return "admin";
	}
}

size_t
jido_op_nargs(const struct jido_op *op)
{
	size_t n = 0;

	while (op->args != NULL && op->args[n].name != NULL)
		n++;
	return n;
}

const struct jido_op_arg *
jido_op_arg_find(const struct jido_op *op, const char *name)
{
	for (size_t i = 0; op->args != NULL && op->args[i].name != NULL; i++)
		if (strcmp(op->args[i].name, name) == 0)
			return &op->args[i];
	return NULL;
}

int
jido_op_allowed(const struct jido_op *op, int scopes)
{
	return (scopes & JIDO_SCOPE_ADMIN) != 0 || (scopes & op->scope) != 0;
}

/* ------------------------------------------------------------ arguments */

static int
ops_fail(char *why, size_t whylen, const char *arg, const char *what)
{
	snprintf(why, whylen, "%s: %s", arg, what);
	return JIDO_EVALIDATION;
}

/* Is word one of the '|'-separated names in list? */
static int
ops_enum_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *bar = strchr(p, '|');
		size_t k = bar ? (size_t)(bar - p) : strlen(p);
		if (k == n && strncmp(p, word, n) == 0)
			return 1;
		p = bar ? bar + 1 : NULL;
	}
	return 0;
}

static int
ops_int_text(const char *text, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(text, &end, 10);
	return text[0] != '\0' && *end == '\0' && errno == 0;
}

int
jido_op_arg_parse(const struct jido_op_arg *a, const char *text, json_t **out, char *why,
    size_t whylen)
{
	long long v;
	json_error_t je;

	*out = NULL;
	switch (a->type) {
	case JIDO_ARG_INT:
		if (!ops_int_text(text, &v))
			return ops_fail(why, whylen, a->name, "must be a whole number");
		*out = json_integer(v);
		return 0;
	case JIDO_ARG_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0)
			*out = json_true();
		else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 ||
		    strcmp(text, "no") == 0)
			*out = json_false();
		else
			return ops_fail(why, whylen, a->name, "must be true or false");
		return 0;
	case JIDO_ARG_REF:
		*out = ops_int_text(text, &v) && v > 0 ? json_integer(v) : json_string(text);
		break;
	case JIDO_ARG_LIST: {
		json_t *l = json_array();
		for (const char *p = text; *p != '\0';) {
			const char *c = strchr(p, ',');
			size_t k = c ? (size_t)(c - p) : strlen(p);
			if (k > 0)
				json_array_append_new(l, json_stringn(p, k));
			p = c ? c + 1 : p + k;
		}
		*out = l;
		break;
	}
	case JIDO_ARG_JSON:
		if (text[0] == '@') {
			FILE *f = fopen(text + 1, "re");
			if (f == NULL) {
				snprintf(why, whylen, "%s: cannot read %s: %s", a->name, text + 1,
				    strerror(errno));
				return JIDO_EVALIDATION;
			}
			*out = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
			fclose(f);
		} else
			*out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(*out)) {
			snprintf(why, whylen, "%s: must be a JSON object (%s)", a->name,
			    *out == NULL ? je.text : "not an object");
			json_decref(*out);
			*out = NULL;
			return JIDO_EVALIDATION;
		}
		return 0;
	default:
		*out = json_string(text);
		break;
	}
	return *out != NULL ? 0 : ops_fail(why, whylen, a->name, "not valid UTF-8 text");
}

/* Check one typed value against its argument. */
static int
ops_check(const struct jido_op_arg *a, const json_t *v, char *why, size_t whylen)
{
	char msg[200];

	switch (a->type) {
	case JIDO_ARG_INT:
		if (!json_is_integer(v))
			return ops_fail(why, whylen, a->name, "must be an integer");
		if ((a->min != 0 || a->max != 0) && (json_integer_value(v) < a->min ||
		    (a->max != 0 && json_integer_value(v) > a->max))) {
			if (a->max != 0)
				snprintf(msg, sizeof(msg), "must be from %lld to %lld", a->min, a->max);
			else
				snprintf(msg, sizeof(msg), "must be at least %lld", a->min);
			return ops_fail(why, whylen, a->name, msg);
		}
		return 0;
	case JIDO_ARG_BOOL:
		return json_is_boolean(v) ? 0 : ops_fail(why, whylen, a->name, "must be true or false");
	case JIDO_ARG_ENUM:
		if (!json_is_string(v) || !ops_enum_has(a->enums, json_string_value(v))) {
			snprintf(msg, sizeof(msg), "must be one of %s", a->enums);
			return ops_fail(why, whylen, a->name, msg);
		}
		return 0;
	case JIDO_ARG_REF:
		if (json_is_integer(v) ? json_integer_value(v) > 0 : json_is_string(v) &&
		    json_string_length(v) > 0 && json_string_length(v) <= 200)
			return 0;
		return ops_fail(why, whylen, a->name, "must be an id or a name");
	case JIDO_ARG_LIST: {
		size_t i;
		json_t *it;
		if (!json_is_array(v) || json_array_size(v) == 0)
			return ops_fail(why, whylen, a->name, "must be a non-empty list of strings");
		json_array_foreach(v, i, it)
			if (!json_is_string(it) || json_string_length(it) == 0)
				return ops_fail(why, whylen, a->name, "must be a list of strings");
		return 0;
	}
	case JIDO_ARG_JSON:
		return json_is_object(v) ? 0 : ops_fail(why, whylen, a->name, "must be an object");
	default:
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4000)
			return ops_fail(why, whylen, a->name, "must be text of 1 to 4000 bytes");
		return 0;
	}
}

int
jido_op_build(const struct jido_op *op, const json_t *args, const struct jido_op_ctx *ctx,
    json_t **data, char *why, size_t whylen)
{
	const char *key;
	json_t *v, *d;
	int rc;

	*data = NULL;
	if (args != NULL && !json_is_object(args)) {
		snprintf(why, whylen, "the arguments must be a JSON object");
		return JIDO_EVALIDATION;
	}
	json_object_foreach((json_t *)args, key, v)
		if (jido_op_arg_find(op, key) == NULL) {
			snprintf(why, whylen, "%s: not an argument of %s", key, op->name);
			return JIDO_EVALIDATION;
		}
	d = json_object();
	for (size_t i = 0; op->args != NULL && op->args[i].name != NULL; i++) {
		const struct jido_op_arg *a = &op->args[i];
		v = args != NULL ? json_object_get(args, a->name) : NULL;
		if (v == NULL || json_is_null(v)) {
			if (a->flags & JIDO_ARG_REQUIRED) {
				json_decref(d);
				return ops_fail(why, whylen, a->name, "required");
			}
			continue;
		}
		if ((rc = ops_check(a, v, why, whylen)) != 0) {
			json_decref(d);
			return rc;
		}
		json_object_set(d, a->key != NULL ? a->key : a->name, v);
	}
	if (op->fixed != NULL) {
		json_t *f = json_loads(op->fixed, 0, NULL);
		json_object_update(d, f);
		json_decref(f);
	}
	if (ctx != NULL && (op->flags & JIDO_OP_ACTOR) && ctx->actor != NULL)
		json_object_set_new(d, "actor", json_string(ctx->actor));
	if (ctx != NULL && (op->flags & JIDO_OP_CHANNEL) && ctx->channel != NULL)
		json_object_set_new(d, "channel", json_string(ctx->channel));
	if (ctx != NULL && (op->flags & JIDO_OP_CRED) && ctx->cred != NULL)
		json_object_set_new(d, "cred", json_string(ctx->cred));
	*data = d;
	return 0;
}

/* ------------------------------------------------------------ schema */

static json_t *
ops_arg_schema(const struct jido_op_arg *a)
{
	json_t *s = json_pack("{s:s}", "description", a->desc);

	switch (a->type) {
	case JIDO_ARG_INT:
		json_object_set_new(s, "type", json_string("integer"));
		if (a->min != 0 || a->max != 0)
			json_object_set_new(s, "minimum", json_integer(a->min));
		if (a->max != 0)
			json_object_set_new(s, "maximum", json_integer(a->max));
		break;
	case JIDO_ARG_BOOL:
		json_object_set_new(s, "type", json_string("boolean"));
		break;
	case JIDO_ARG_ENUM: {
		json_t *e = json_array();
		for (const char *p = a->enums; p != NULL && *p != '\0';) {
			const char *bar = strchr(p, '|');
			size_t k = bar ? (size_t)(bar - p) : strlen(p);
			json_array_append_new(e, json_stringn(p, k));
			p = bar ? bar + 1 : NULL;
		}
		json_object_set_new(s, "type", json_string("string"));
		json_object_set_new(s, "enum", e);
		break;
	}
	case JIDO_ARG_REF:
		json_object_set_new(s, "type", json_pack("[s,s]", "integer", "string"));
		break;
	case JIDO_ARG_LIST:
		json_object_set_new(s, "type", json_string("array"));
		json_object_set_new(s, "items", json_pack("{s:s}", "type", "string"));
		json_object_set_new(s, "minItems", json_integer(1));
		break;
	case JIDO_ARG_JSON:
		json_object_set_new(s, "type", json_string("object"));
		break;
	default:
		json_object_set_new(s, "type", json_string("string"));
		json_object_set_new(s, "minLength", json_integer(1));
		break;
	}
	return s;
}

json_t *
jido_op_schema(const struct jido_op *op)
{
	json_t *props = json_object(), *req = json_array();

	for (size_t i = 0; op->args != NULL && op->args[i].name != NULL; i++) {
		json_object_set_new(props, op->args[i].name, ops_arg_schema(&op->args[i]));
		if (op->args[i].flags & JIDO_ARG_REQUIRED)
			json_array_append_new(req, json_string(op->args[i].name));
	}
	return json_pack("{s:s,s:o,s:o,s:b}", "type", "object", "properties", props, "required",
	    req, "additionalProperties", 0);
}
