/*
 * call.c - `jido call PROCESS TYPE [JSON]`: send one raw request to a process and print
 * the reply's data (or the error, with the error code's exit status). For scripts and
 * operators; the same envelope nngcat would send.
 */
#include <string.h>

#include "cli.h"

int
cli_call_cmd(struct cli *c, int argc, char **argv)
{
	struct jido_reply r;
	json_error_t jerr;
	json_t *data = NULL;
	int rc;

	if (argc < 3 || argc > 4)
		return cli_fail(CLI_USAGE, "call", "usage: jido call PROCESS TYPE [JSON]");
	int known = strcmp(argv[1], "supervisor") == 0;
	for (int i = 0; jido_procs[i] != NULL; i++)
		known |= strcmp(jido_procs[i], argv[1]) == 0;
	if (!known)
		return cli_fail(CLI_USAGE, "call", "unknown process '%s'", argv[1]);
	if (argc == 4) {
		data = json_loads(argv[3], JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(data)) {
			json_decref(data);
			return cli_fail(CLI_USAGE, "call", "JSON data must be an object: %s",
			    data == NULL ? jerr.text : "not an object");
		}
	}
	if ((rc = cli_call(c, argv[1], argv[2], data, &r, "call")) != 0)
		return rc;
	if (!r.ok) {
		rc = cli_fail(jido_err_exit(r.err), "call", "%s: %s", jido_err_name(r.err),
		    r.message);
		jido_reply_free(&r);
		return rc;
	}
	rc = cli_print_json(r.data);
	jido_reply_free(&r);
	return rc;
}
