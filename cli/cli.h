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
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv); /* argv[0] is the command name */
	const char *usage;   /* "status [--json]" */
	const char *summary; /* one line */
};

/* Print `jido: <what> failed: <why>` to stderr; returns code. */
int cli_fail(int code, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* URL of a process's request socket for this instance (config override honoured). */
int cli_url(const struct cli *c, const char *name, char *buf, size_t len);
/* One request to a process; the reply in *r (caller frees). Transport failures are
 * reported with cli_fail under `what` and returned as an exit code (> 0). */
int cli_call(const struct cli *c, const char *proc, const char *type, json_t *data,
    struct jido_reply *r, const char *what);
/* Print j to stdout as one JSON document (pretty), checking the write. */
int cli_print_json(const json_t *j);

int cli_up(struct cli *c, int argc, char **argv);
int cli_status(struct cli *c, int argc, char **argv);
int cli_call_cmd(struct cli *c, int argc, char **argv);
int cli_audit(struct cli *c, int argc, char **argv);
int cli_deliveries(struct cli *c, int argc, char **argv);
int cli_secrets(struct cli *c, int argc, char **argv);
int cli_artifacts(struct cli *c, int argc, char **argv); /* artifacts.c */
int cli_tokens(struct cli *c, int argc, char **argv);    /* artifacts.c */

#endif
