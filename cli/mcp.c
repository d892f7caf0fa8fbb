/*
 * mcp.c - `jido mcp`: the MCP server over stdio (newline-delimited JSON-RPC on stdin and
 * stdout, logs on stderr only) for an AI agent running on this machine. The protocol is
 * lib/mcp.c's; this file only binds it to the local request sockets, the auditor and the
 * terminal. Whoever can reach the 0600 sockets is the owner's uid, so the caller holds
 * every scope; approving and rejecting still need mcp.allow_approvals.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "artifact.h"
#include "cli.h"
#include "mcp.h"

#define CLI_MCP_MAX_LINE (4u << 20) /* one JSON-RPC message */

struct cli_mcp {
	struct cli *c;
	int timeout_ms;
};

static int
cli_mcp_call(void *ctx, const char *proc, const char *type, json_t *data, struct jido_reply *r)
{
	struct cli_mcp *m = ctx;
	char url[4200];

	if (cli_url(m->c, proc, url, sizeof(url)) != 0) {
		json_decref(data);
		return JIDO_EVALIDATION;
	}
	return jido_bus_call(url, type, NULL, data, m->timeout_ms, r);
}

static int
cli_mcp_audit(void *ctx, json_t *record, int sync)
{
	struct cli_mcp *m = ctx;

	return jido_audit_append(m->c->conf, m->c->home, record, sync, NULL);
}

static int
cli_mcp_read_blob(void *ctx, const char *rel, size_t max, char **buf, size_t *len)
{
	struct cli_mcp *m = ctx;

	return jido_art_read(m->c->home, rel, max, buf, len);
}

/* Write one JSON-RPC message as a line on stdout. 0, or JIDO_EINTERNAL when stdout is
 * gone. */
static int
cli_mcp_write(const json_t *msg)
{
	char *text = jido_json_dump(msg);
	int rc = 0;

	if (text == NULL || fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF ||
	    fflush(stdout) != 0)
		rc = JIDO_EINTERNAL;
	free(text);
	return rc;
}

static int
cli_mcp_notify(void *ctx, const json_t *msg)
{
	return cli_mcp_write(msg);
}

static void
cli_mcp_sleep(void *ctx, int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
cli_mcp(struct cli *c, int argc, char **argv)
{
	struct cli_mcp m = { c, (int)jido_conf_int(c->conf, "bus.timeout_ms") };
	struct mcp_session s;
	char actor[48], cred[65] = "";
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (argc != 1)
		return cli_fail(CLI_USAGE, "mcp", "usage: jido mcp (JSON-RPC on stdin/stdout)");
	memset(&s, 0, sizeof(s));
	snprintf(actor, sizeof(actor), "mcp-stdio:uid-%u", (unsigned)getuid());
	/* The owner credential, for the operations the vault answers (secrets metadata). */
	if (cli_owner_cred(c, cred, "mcp") != 0)
		cred[0] = '\0'; /* said why on stderr; those tools answer authorization_error */
	struct mcp_env e = {
		.ctx = &m, .call = cli_mcp_call, .audit = cli_mcp_audit, .notify = cli_mcp_notify,
		.sleep_ms = cli_mcp_sleep, .read_blob = cli_mcp_read_blob, .actor = actor,
		.scopes = JIDO_SCOPE_READ | JIDO_SCOPE_RUN | JIDO_SCOPE_APPROVE | JIDO_SCOPE_ADMIN,
		.cred = cred[0] != '\0' ? cred : NULL,
		.allow_approvals = jido_conf_bool(c->conf, "mcp.allow_approvals"),
		.follow_max_s = (int)jido_conf_int(c->conf, "mcp.follow_max_s"),
	};
	jido_info("mcp.start", "{s:s,s:b}", "transport", "stdio", "allow_approvals",
	    e.allow_approvals);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		json_t *res = (size_t)n > CLI_MCP_MAX_LINE ? mcp_error(NULL, MCP_EINVALID,
		    "message too large (over 4 MiB)") : mcp_handle(&s, &e, line, (size_t)n);
		if (res != NULL) {
			rc = cli_mcp_write(res);
			json_decref(res);
			if (rc != 0) {
				rc = cli_fail(CLI_SYS, "mcp", "cannot write to stdout");
				break;
			}
		}
	}
	free(line);
	sodium_memzero(cred, sizeof(cred));
	jido_audit_close();
	jido_info("mcp.stop", NULL);
	return rc;
}
