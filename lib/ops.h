/*
 * ops.h - the operation table: every operation an owner or an agent can invoke on
 * JidoCode (projects, workbench, issues, runs, approvals, settings, secrets metadata, API
 * tokens, audit, deliveries), defined once with its typed arguments, the bus request it
 * sends, the API-token scope it needs, its REST route, its CLI words and a one-line
 * description. The web's REST routes, the jido CLI and the MCP tools are driven by this
 * table (lib/ops.c), so an operation added here exists on every channel.
 *
 * Stable C API: other channels (MCP) rely on these names and fields.
 */
#ifndef JIDO_OPS_H
#define JIDO_OPS_H

#include <stddef.h>

#include <jansson.h>

/* Argument types. JIDO_ARG_REF: an id (integer) or a name (string), e.g. a project. */
enum jido_arg_type { JIDO_ARG_STR, JIDO_ARG_INT, JIDO_ARG_BOOL, JIDO_ARG_ENUM, JIDO_ARG_REF,
	JIDO_ARG_LIST, /* array of strings */
	JIDO_ARG_JSON  /* a JSON object */
};

/* Argument flags. */
enum {
	JIDO_ARG_REQUIRED = 1,
	JIDO_ARG_POS = 2, /* CLI: positional (in table order) instead of --flag */
};

struct jido_op_arg {
	const char *name;  /* REST/MCP key and (unless cli) the CLI --flag: "run" */
	int type;          /* JIDO_ARG_* */
	int flags;         /* JIDO_ARG_REQUIRED | JIDO_ARG_POS */
	const char *key;   /* key in the bus request's data; NULL = name */
	const char *enums; /* JIDO_ARG_ENUM: "approve|reject" */
	const char *cli;   /* CLI flag name when it differs from name ("reason"), or NULL */
	long long min, max;/* JIDO_ARG_INT bounds (both 0 = unbounded) */
	const char *desc;  /* one line */
};

/* API-token scopes (bit flags, the same values as the web's SCOPE_*); admin implies all. */
enum { JIDO_SCOPE_READ = 1, JIDO_SCOPE_RUN = 2, JIDO_SCOPE_APPROVE = 4, JIDO_SCOPE_ADMIN = 8 };

/* Operation flags. */
enum {
	JIDO_OP_READONLY = 1,    /* changes nothing (MCP readOnlyHint) */
	JIDO_OP_DESTRUCTIVE = 2, /* may destroy or revoke something (MCP destructiveHint) */
	JIDO_OP_IDEMPOTENT = 4,  /* repeating it changes nothing more (MCP idempotentHint) */
	JIDO_OP_ACTOR = 8,       /* the channel adds data.actor (who asked) */
	JIDO_OP_CHANNEL = 16,    /* the channel adds data.channel (web|api|cli|mcp) */
	JIDO_OP_CRED = 32,       /* the channel adds data.cred (the vault's caller proof) */
	JIDO_OP_SECRET = 64,     /* the answer holds a secret shown once (a new token) */
};

struct jido_op {
	const char *name;    /* "runs.list": the MCP tool name (dots become _ there) */
	const char *desc;    /* one line */
	const char *proc;    /* process whose request socket answers: "planner" */
	const char *type;    /* bus message type: "planner.runs.list" */
	int scope;           /* JIDO_SCOPE_* an API token needs */
	int flags;           /* JIDO_OP_* */
	const char *method;  /* REST: "GET", "POST", "PATCH" */
	const char *path;    /* REST: "/api/v1/runs/:run" (:x names an argument) */
	int status;          /* REST success status: 200 or 201 */
	const char *cli;     /* CLI words: "run show" */
	const struct jido_op_arg *args; /* terminated by an entry with name NULL */
	const char *fixed;   /* JSON object text merged into the data ("{\"decision\":...}") */
	const char *list;    /* key of the answer's array for a human table ("runs"), or NULL */
	const char *columns; /* its columns for the human table: "id,state,workflow" */
};

/* The whole table (static); *n receives its length. */
const struct jido_op *jido_ops(size_t *n);
/* The operation named name ("runs.list"), or NULL. */
const struct jido_op *jido_op_find(const char *name);
/* Scope name ("read", "run", "approve", "admin") for one JIDO_SCOPE_* bit. Static. */
const char *jido_op_scope_name(int scope);
/* Number of arguments of op. */
size_t jido_op_nargs(const struct jido_op *op);
/* The argument of op named name, or NULL. */
const struct jido_op_arg *jido_op_arg_find(const struct jido_op *op, const char *name);

/* Turn the text of one argument (a CLI word, a URL query or path value) into its typed
 * JSON value: "42" -> 42 for int, "true"/"false" for bool, a ref as an integer when all
 * digits, a list split on commas, JSON parsed (or read from @FILE). On 0 *out is a new
 * reference owned by the caller; JIDO_EVALIDATION with why naming the argument otherwise. */
int jido_op_arg_parse(const struct jido_op_arg *a, const char *text, json_t **out, char *why,
    size_t whylen);

/* Who is asking, for JIDO_OP_ACTOR / _CHANNEL / _CRED (each may be NULL = not added). */
struct jido_op_ctx {
	const char *channel; /* "api", "cli", "mcp", "web" */
	const char *actor;   /* "api-token:3", "owner" */
	const char *cred;    /* the vault credential of the caller; a secret */
};

/* Validate args (an object of argument name -> typed value; borrowed; NULL = {}) against
 * op: unknown names, wrong types, values outside an enum or bounds and missing required
 * arguments are JIDO_EVALIDATION with why naming the argument; nothing is sent. On 0
 * *data is a new object (caller owns; it may hold ctx->cred: wipe before freeing when
 * JIDO_OP_CRED) with each argument under its key, op->fixed merged and the ctx fields. */
int jido_op_build(const struct jido_op *op, const json_t *args, const struct jido_op_ctx *ctx,
    json_t **data, char *why, size_t whylen);

/* The JSON Schema (draft 2020-12 subset) of op's arguments: {type: object, properties,
 * required, additionalProperties: false}. New reference. */
json_t *jido_op_schema(const struct jido_op *op);

/* Does a token with the scope set `scopes` allow op? (admin allows everything.) */
int jido_op_allowed(const struct jido_op *op, int scopes);

#endif
