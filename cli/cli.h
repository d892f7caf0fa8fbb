/*
 * cli.h - what the jido CLI's command files share: the parsed global options, the
 * command table entry, and the one error format `jido: <what> failed: <why>`.
 */
#ifndef JIDO_CLI_H
#define JIDO_CLI_H

#include "jido.h"

/* CLI exit codes (DEVELOPERS.md): 0 ok, 1 denied/negative, 2 usage, 3 not found,
 * 4 conflict, 111 system failure. */
enum { CLI_OK = 0, CLI_NEG = 1, CLI_USAGE = 2, CLI_NOTFOUND = 3, CLI_CONFLICT = 4,
	CLI_SYS = 111 };

struct cli {
	struct jido_conf *conf; /* owned by main */
	char home[4096];        /* absolute state directory */
	int json;               /* --json */
	const char *argv0;
	const char *url;        /* --url: a remote instance's base URL (REST), or NULL */
	const char *token_file; /* --token-file, or NULL (then $JIDO_TOKEN) */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv); /* argv[0] is the command name */
	const char *usage;   /* "status [--json]" */
	const char *summary; /* one line */
};

/* The commands of their own (up, status, secrets, ...); static. */
const struct cli_cmd *cli_commands(size_t *n);
/* Print `jido: <what> failed: <why>` to stderr; returns code. */
int cli_fail(int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* URL of a process's request socket for this instance (config override honoured). */
int cli_url(const struct cli *c, const char *name, char *buf, size_t len);
/* One request to a process; the reply in *r (caller frees). Transport failures are
 * reported with cli_fail under `what` and returned as an exit code (> 0). */
int cli_call(const struct cli *c, const char *proc, const char *type, json_t *data,
    struct jido_reply *r, const char *what);
/* Read the owner credential (run/owner.cred) into cred (65 bytes). Returns an exit code,
 * 0 on success; the caller wipes cred. */
int cli_owner_cred(const struct cli *c, char cred[65], const char *what);
/* Print j to stdout as one JSON document (pretty), checking the write. */
int cli_print_json(const json_t *j);

/* ops.c: the operation table on the command line. cli_op_match: the table operation
 * whose CLI words start argv (the longest), with *nwords set; NULL when none. cli_op_run
 * parses the rest of argv (positional arguments, --flags, --json) into the operation's
 * arguments and runs it locally or (c->url) over REST; returns the exit code. */
struct jido_op;
const struct jido_op *cli_op_match(int argc, char **argv, int *nwords);
int cli_op_run(struct cli *c, const struct jido_op *op, int argc, char **argv);
/* Run op with args (borrowed, the table's names) locally or over --url; on 0 *out holds
 * the answer (caller frees); an error answer is printed and its exit code returned. */
int cli_op_call(struct cli *c, const struct jido_op *op, const json_t *args, json_t **out);
/* Set up h for a request to url with the bearer token and accept; fn/arg receive the body.
 * *hdr is the header list the caller frees after the transfer. Returns an exit code. */
int cli_remote_setup(struct cli *c, void *h, const char *url, const char *accept,
    void **hdr, size_t (*fn)(char *, size_t, size_t, void *), void *arg, const char *what);
/* remote.c: one REST call for op with args (borrowed) to c->url, bearer token from
 * --token-file (must not be group/world-readable) or $JIDO_TOKEN. On 0 *out holds the
 * answer (caller frees); an error answer sets *err (JIDO_E*) and *msg (caller frees). */
int cli_remote_call(struct cli *c, const struct jido_op *op, const json_t *args, json_t **out,
    int *err, char **msg);
/* The bearer token for --url into tok (128 bytes; the caller wipes it): --token-file
 * (refused when group/world-readable) or $JIDO_TOKEN. Returns an exit code. */
int cli_remote_token(const struct cli *c, char tok[128], const char *what);
/* logs.c: `jido logs RUN --follow`: the kept lines, then new ones as they come, until the
 * run ends (exit 0 completed, 1 failed or cancelled); local (logs.pub) or --url (SSE). */
int cli_logs_follow(struct cli *c, const char *run, int json);
/* complete.c: `jido ops [--json]`, `jido completion bash|zsh`. */
int cli_ops_cmd(struct cli *c, int argc, char **argv);
int cli_completion(struct cli *c, int argc, char **argv);

int cli_up(struct cli *c, int argc, char **argv);
int cli_status(struct cli *c, int argc, char **argv);
int cli_call_cmd(struct cli *c, int argc, char **argv);
int cli_audit(struct cli *c, int argc, char **argv);
int cli_deliveries(struct cli *c, int argc, char **argv);
int cli_secrets(struct cli *c, int argc, char **argv);
int cli_certs(struct cli *c, int argc, char **argv);
int cli_mcp(struct cli *c, int argc, char **argv);
int cli_backup(struct cli *c, int argc, char **argv);
int cli_restore(struct cli *c, int argc, char **argv);

/* backup.c, shared with restore.c: the instance's databases (NULL-terminated table). */
struct cli_db {
	const char *file; /* under the state directory: "planner.db" */
	const char *proc; /* the process that owns it */
	const char *key;  /* config key that may move it, or NULL */
};
extern const struct cli_db cli_dbs[];
/* Path of d for this instance (config override honoured). */
int cli_db_path(const struct cli *c, const struct cli_db *d, char *buf, size_t len);
/* SHA-256 (hex) and size of a file; JIDO_ENOTFOUND when missing. */
int cli_file_sha256(const char *path, char hex[65], uint64_t *bytes);
/* Copy from into a new file to (mode), at most limit bytes (0: all; else exactly limit),
 * fsynced. JIDO_ENOTFOUND when from is missing. */
int cli_file_copy(const char *from, const char *to, uint64_t limit, int mode);
/* PRAGMA user_version of the database at path (opened read-only). */
int cli_db_user_version(const char *path, int *version);
int cli_artifacts(struct cli *c, int argc, char **argv); /* artifacts.c */

#endif
