/*
 * mcp.h - the Model Context Protocol server core that both transports share: `jido mcp`
 * (stdio, cli/mcp.c) and POST /mcp on jido-web (Streamable HTTP, web/mcp.c). The core
 * speaks JSON-RPC 2.0 and MCP (initialize and version negotiation, tools, resources,
 * progress); it never touches a socket or a file itself: everything it needs from the
 * outside world comes through struct mcp_env, which each transport fills.
 *
 * Tools are the operations of the one operation table (lib/ops.h): name, description,
 * input schema (the typed arguments), annotations (the flags) and the scope come from it,
 * and a call builds its bus request with jido_op_build; there is no second list.
 */
#ifndef JIDO_MCP_H
#define JIDO_MCP_H

#include "jido.h"
#include "ops.h"

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

/* The MCP tool name of an operation: its table name with '.' as '_' ("runs_list"),
 * into buf. The one tool not in the table is "runs_follow" (runs.get, repeated). */
void mcp_tool_name(const struct jido_op *op, char *buf, size_t len);

/* The largest artifact a resources/read carries (larger: the REST download). */
#define MCP_ART_MAX (8u * 1024 * 1024)
#define MCP_ART_MAX_TEXT "8 MiB"

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
	/* Read an artifact blob: rel is the "path" of a planner.artifacts.get row (relative
	 * to the state directory); at most max bytes into a malloc'd *buf (the core frees).
	 * Returns like jido_art_read. NULL: artifacts are listed but not read. */
	int (*read_blob)(void *ctx, const char *rel, size_t max, char **buf, size_t *len);
	/* Sleep between polls while following a run (ms). NULL: following returns at once. */
	void (*sleep_ms)(void *ctx, int ms);
	int scopes;                 /* JIDO_SCOPE_* bits the caller holds */
	const char *actor;          /* who calls, for audit records and the planner */
	const char *cred;           /* the caller's vault credential (JIDO_OP_CRED), or NULL */
	int allow_approvals;        /* the owner's mcp.allow_approvals setting */
	int follow_max_s;           /* longest a follow may wait (its timeout_s is capped) */
	/* Non-NULL: a runs_follow that has to wait is not answered now; the follow is stored
	 * here (the transport owns it: mcp_follow_step until it answers, mcp_follow_free) and
	 * mcp_handle returns NULL. For transports that cannot sleep (the web's one thread). */
	struct mcp_follow **deferred;
};

struct mcp_follow; /* a runs_follow the transport drives itself (mcp_follow_step) */

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

/* One poll of a deferred follow: sends a progress notification through e->notify when
 * the run changed; returns the final response (new reference) once it is over, else
 * NULL (poll again later). */
json_t *mcp_follow_step(struct mcp_follow *f, const struct mcp_env *e);
void mcp_follow_free(struct mcp_follow *f);

/* A JSON-RPC error response (new reference); id borrowed (NULL = null). */
json_t *mcp_error(const json_t *id, int code, const char *message);
/* 1 when v is a protocol version this server speaks. */
int mcp_version_supported(const char *v);

#endif
