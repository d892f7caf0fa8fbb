/*
 * main.c - the jido CLI: global options, the command table, shared helpers.
 * Every command prints `jido: <what> failed: <why>` on error and exits with the
 * documented code (cli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "ops.h"

static const struct cli_cmd cli_cmds[] = {
	{ "up", cli_up, "up", "start the whole stack in the foreground and supervise it" },
	{ "status", cli_status, "status [--json]", "one row per process: state, pid, uptime, restarts" },
	{ "audit", cli_audit, "audit verify|export|tail|checkpoint", "check, export and follow the audit log" },
	{ "call", cli_call_cmd, "call PROCESS TYPE [JSON]", "send one raw request to a process" },
	{ "deliveries", cli_deliveries, "deliveries list|show|replay", "GitHub deliveries in ingest's spool" },
	{ "certs", cli_certs, "certs init|executor", "CA and TLS certificates for executors on other hosts (openssl)" },
	{ "backup", cli_backup, "backup DIR [--include-key]", "consistent copy of this instance while it runs (databases, signed audit log, vault)" },
	{ "restore", cli_restore, "restore DIR [--key-file F] [--checkpoint F]", "verify a backup, then put it into this (stopped or new) state directory" },
	{ "mcp", cli_mcp, "mcp", "MCP server for AI agents over stdio (JSON-RPC lines)" },
	{ "artifacts", cli_artifacts, "artifacts list|history|get|put|share|links|revoke", "a run's files: versions, downloads, expiring share links" },
	{ "secrets", cli_secrets, "secrets put|list|rotate|rm|status|rekey", "the owner's secrets in the vault (values only from a file or stdin)" },
	{ "ops", cli_ops_cmd, "ops [--json]", "the operation table: every operation with its channels" },
	{ "completion", cli_completion, "completion bash|zsh", "print a shell completion script" },
};

const struct cli_cmd *
cli_commands(size_t *n)
{
	*n = sizeof(cli_cmds) / sizeof(cli_cmds[0]);
	return cli_cmds;
}

int
cli_fail(int code, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "jido: %s failed: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int
cli_url(const struct cli *c, const char *name, char *buf, size_t len)
{
	char key[64];
	const char *v;

	snprintf(key, sizeof(key), "socket.%s", name);
	v = jido_conf_str(c->conf, key);
	if (v != NULL && v[0] != '\0') {
		int n = snprintf(buf, len, "%s", v);
		return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
	}
	return jido_bus_url_req(c->home, name, buf, len);
}

int
cli_call(const struct cli *c, const char *proc, const char *type, json_t *data,
    struct jido_reply *r, const char *what)
{
	char url[4200];
	int rc;

	if (cli_url(c, proc, url, sizeof(url)) != 0) {
		json_decref(data);
		return cli_fail(CLI_USAGE, what, "socket path too long");
	}
	rc = jido_bus_call(url, type, NULL, data, (int)jido_conf_int(c->conf, "bus.timeout_ms"), r);
	if (rc == JIDO_EUNAVAIL)
		return cli_fail(CLI_SYS, what, "jido-%s is not running (no answer on %s); start "
		    "the stack with 'jido up'", proc, url);
	if (rc != 0)
		return cli_fail(CLI_SYS, what, "jido-%s: %s", proc, jido_strerror(rc));
	return 0;
}

/* Read the owner credential into cred (65 bytes). Returns an exit code, 0 on success. */
int
cli_owner_cred(const struct cli *c, char cred[65], const char *what)
{
	char path[4200], buf[80];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/run/owner.cred", c->home);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_fail(errno == EACCES ? CLI_NEG : CLI_SYS, what,
		    "cannot read the owner credential %s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (start the vault with 'jido up')" : "");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 64)
		return cli_fail(CLI_SYS, what, "%s does not hold a credential", path);
	memcpy(cred, buf, 64);
	cred[64] = '\0';
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

int
cli_print_json(const json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0 || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0)
		return cli_fail(CLI_SYS, "output", "cannot write to stdout");
	return 0;
}

static void
cli_usage(FILE *f)
{
	size_t n;
	const struct jido_op *ops = jido_ops(&n);

	fprintf(f, "usage: jido [--home DIR] [--config FILE] [--json] [--url URL [--token-file F]] "
	    "COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		fprintf(f, "  %-28s %s\n", cli_cmds[i].usage, cli_cmds[i].summary);
	fprintf(f, "\noperations (the same on REST and MCP; jido COMMAND --help for arguments):\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-28s %s\n", ops[i].cli, ops[i].desc);
	fprintf(f, "\nexit: 0 ok, 1 denied/negative, 2 usage, 3 not found, 4 conflict, "
	    "111 system failure\n");
}

int
main(int argc, char **argv)
{
	struct cli c;
	const char *file = NULL, *home = NULL;
	char why[1024];
	int i, rc;

	memset(&c, 0, sizeof(c));
	c.argv0 = argv[0];
	jido_log_init("jido");
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cli_usage(stdout);
			return fflush(stdout) == 0 ? 0 : CLI_SYS;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("jido %s\n", JIDO_VERSION);
			return fflush(stdout) == 0 ? 0 : CLI_SYS;
		} else if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
			c.url = argv[++i];
		else if (strcmp(argv[i], "--token-file") == 0 && i + 1 < argc)
			c.token_file = argv[++i];
		else
			return cli_fail(CLI_USAGE, "usage", "unknown option '%s' (see jido --help)",
			    argv[i]);
	}
	if (i >= argc) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (sodium_init() < 0)
		return cli_fail(CLI_SYS, "start", "libsodium did not initialise");
	if (jido_conf_load(file, &c.conf, why, sizeof(why)) != 0)
		return cli_fail(CLI_USAGE, "config", "%s", why);
	if (home != NULL && jido_conf_set(c.conf, "home", home, why, sizeof(why)) != 0) {
		jido_conf_free(c.conf);
		return cli_fail(CLI_USAGE, "config", "%s", why);
	}
	if (jido_abspath(jido_conf_str(c.conf, "home"), c.home, sizeof(c.home)) != 0) {
		jido_conf_free(c.conf);
		return cli_fail(CLI_USAGE, "config", "state directory path too long");
	}
	jido_log_set_level(jido_log_level_parse(jido_conf_str(c.conf, "log.level")));
	/* A table operation runs through the table; where a command of its own gives a
	 * richer human view (audit, secrets, deliveries), that command answers unless --json
	 * or --url asks for the table's contract. */
	const struct cli_cmd *legacy = NULL;
	const struct jido_op *op;
	int nw, json_any = c.json;
	for (size_t k = 0; k < sizeof(cli_cmds) / sizeof(cli_cmds[0]); k++)
		if (strcmp(cli_cmds[k].name, argv[i]) == 0)
			legacy = &cli_cmds[k];
	for (int k = i; k < argc; k++)
		json_any |= strcmp(argv[k], "--json") == 0;
	op = cli_op_match(argc - i, argv + i, &nw);
	if (op != NULL && (legacy == NULL || json_any || c.url != NULL))
		rc = cli_op_run(&c, op, argc - i - nw, argv + i + nw);
	else if (legacy != NULL)
		rc = legacy->run(&c, argc - i, argv + i);
	else
		rc = -1;
	if (rc >= 0) {
		jido_conf_free(c.conf);
		return rc;
	}
	jido_conf_free(c.conf);
	return cli_fail(CLI_USAGE, "usage", "unknown command '%s' (see jido --help)", argv[i]);
}
