/*
 * mcp.h - the Model Context Protocol server core that both transports share: `jido mcp`
 * (stdio, cli/mcp.c) and POST /mcp on jido-web (Streamable HTTP, web/mcp.c). The core
 * speaks JSON-RPC 2.0 and MCP (initialize and version negotiation, tools, resources,
 * progress); it never touches a socket or a file itself: everything it needs from the
 * outside world comes through struct mcp_env, which each transport fills.
 *
 * Tools are the operations of the one operation table (struct mcp_tool is the view the
 * core needs of an operation); mcp_tools() is the binding to that table.
 */
#ifndef JIDO_MCP_H
#define JIDO_MCP_H

#include "jido.h"

#define MCP_VERSION_LATEST "2025-06-18"

/* JSON-RPC 2.0 error codes and MCP's resource-not-found. */
enum {
	MCP_EPARSE = -32700,
	MCP_EINVALID = -32600,
	MCP_ENOMETHOD = -32601,
	MCP_EPARAMS = -32602,
	MCP_EINTERNAL = -32603,
	MCP_ENORESOURCE = -32002,
};

/* Scope bits a caller holds (the API token scopes; the same values as the web's). */
enum { MCP_SCOPE_READ = 1, MCP_SCOPE_RUN = 2, MCP_SCOPE_APPROVE = 4, MCP_SCOPE_ADMIN = 8 };

/* One typed argument of a tool: JSON Schema type "string", "integer", "boolean". */
struct mcp_arg {
	const char *name;
	const char *type;
	int required;
	const char *desc;
};

/* Special behaviours of a tool beyond "send the bus request with the arguments". */
enum { MCP_KIND_CALL = 0, MCP_KIND_APPROVAL, MCP_KIND_FOLLOW };

/* The core's view of one operation. */
struct mcp_tool {
	const char *name;        /* "runs_list" */
	const char *description; /* one line */
	const char *proc;        /* "planner" */
	const char *type;        /* the bus request, "planner.runs.list" */
	const struct mcp_arg *args; /* terminated by a NULL name */
	int scope;               /* MCP_SCOPE_* the caller needs */
	int read_only, destructive, idempotent;
	int kind;                /* MCP_KIND_* */
	const char *decision;    /* MCP_KIND_APPROVAL: "approve" or "reject" */
};

/* The tool table (static) and its length. */
const struct mcp_tool *mcp_tools(size_t *n);

/* What a transport gives the core. All callbacks are called in the transport's thread. */
struct mcp_env {
	void *ctx;
	/* One request to a process. Takes data. On 0, *r holds the reply (the core frees
	 * it); JIDO_EUNAVAIL/JIDO_ETIMEOUT when the process does not answer. */
	int (*call)(void *ctx, const char *proc, const char *type, json_t *data,
	    struct jido_reply *r);
	/* Write one audit record (taken). sync=1 returns 0 only once it is durable. */
	int (*audit)(void *ctx, json_t *record, int sync);
	/* Send a notification to the client now (borrowed); NULL when the transport cannot
	 * (then no progress is sent). */
	int (*notify)(void *ctx, const json_t *msg);
	/* Sleep between polls while following a run (ms). NULL: following returns at once. */
	void (*sleep_ms)(void *ctx, int ms);
	int scopes;                 /* MCP_SCOPE_* bits the caller holds */
	const char *actor;          /* who calls, for audit records and the planner */
	int allow_approvals;        /* the owner's mcp.allow_approvals setting */
	int follow_max_s;           /* longest a follow may wait (its timeout_s is capped) */
};

/* Per-connection state (one per stdio process, one per HTTP session). */
struct mcp_session {
	int initialized;            /* initialize answered */
	char version[16];           /* negotiated protocol version */
	char client[64];            /* clientInfo.name, for audit details */
};

/* Handle one JSON-RPC message (raw bytes). Returns the response as a new reference, or
 * NULL when the message was a notification (or a response) and needs no answer. A parse
 * error or an invalid request gets an error response with id null. */
json_t *mcp_handle(struct mcp_session *s, const struct mcp_env *e, const char *buf, size_t len);
/* The same for an already parsed message (borrowed). */
json_t *mcp_handle_json(struct mcp_session *s, const struct mcp_env *e, const json_t *msg);

/* A JSON-RPC error response (new reference); id borrowed (NULL = null). */
json_t *mcp_error(const json_t *id, int code, const char *message);
/* 1 when v is a protocol version this server speaks. */
int mcp_version_supported(const char *v);

#endif
