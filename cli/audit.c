/*
 * audit.c - `jido audit`: the owner's view of the audit log through the running auditor.
 *   jido audit verify [--checkpoint FILE]   recheck the whole log (0 intact, 1 not)
 *   jido audit export [--since T] [--until T] [--format csv|jsonl]   all matching records
 *   jido audit tail [-n N]                  the last N records as JSON lines
 *   jido audit checkpoint                   sign the head now and print it: keep it
 *                                           somewhere else to catch a rewrite later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define AUDIT_USAGE "usage: jido audit verify [--checkpoint FILE] | export [--since T] " \
	"[--until T] [--format csv|jsonl] | tail [-n N] | checkpoint"

/* One call; on an error reply print it and return the exit code (>0), else 0 with *r. */
static int
audit_call(struct cli *c, const char *type, json_t *data, struct jido_reply *r, const char *what)
{
	int rc = cli_call(c, "auditor", type, data, r, what);

	if (rc != 0)
		return rc;
	if (!r->ok) {
		rc = cli_fail(jido_err_exit(r->err), what, "%s: %s", jido_err_name(r->err),
		    r->message ? r->message : "");
		jido_reply_free(r);
		return rc;
	}
	return 0;
}

static int
audit_verify(struct cli *c, int argc, char **argv)
{
	struct jido_reply r;
	json_t *data = json_object();
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc) {
			json_error_t jerr;
			json_t *cp = json_load_file(argv[++i], 0, &jerr);
			if (cp == NULL) {
				json_decref(data);
				return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_USAGE,
				    "audit verify", "cannot read checkpoint %s: %s", argv[i], jerr.text);
			}
			if (json_object_get(cp, "checkpoint") != NULL) {
				json_t *in = json_incref(json_object_get(cp, "checkpoint"));
				json_decref(cp);
				cp = in;
			}
			json_object_set_new(data, "checkpoint", cp);
		} else {
			json_decref(data);
			return cli_fail(CLI_USAGE, "audit verify", AUDIT_USAGE);
		}
	}
	if ((rc = audit_call(c, "audit.verify", data, &r, "audit verify")) != 0)
		return rc;
	if (c->json)
		rc = cli_print_json(r.data);
	else if (json_is_true(json_object_get(r.data, "ok")))
		printf("audit log intact: %lld records, %lld signed by %lld checkpoints\n",
		    json_integer_value(json_object_get(r.data, "records")),
		    json_integer_value(json_object_get(r.data, "signed_records")),
		    json_integer_value(json_object_get(r.data, "checkpoints")));
	if (!json_is_true(json_object_get(r.data, "ok")))
		rc = cli_fail(CLI_NEG, "audit verify", "%s %lld (line %lld): %s",
		    json_string_value(json_object_get(r.data, "what")),
		    json_integer_value(json_object_get(r.data, "seq")),
		    json_integer_value(json_object_get(r.data, "line")),
		    json_string_value(json_object_get(r.data, "why")));
	jido_reply_free(&r);
	return rc != 0 ? rc : (fflush(stdout) == 0 ? 0 : CLI_SYS);
}

static int
audit_export(struct cli *c, int argc, char **argv)
{
	const char *since = NULL, *until = NULL, *fmt = "jsonl";
	json_int_t after = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
			since = argv[++i];
		else if (strcmp(argv[i], "--until") == 0 && i + 1 < argc)
			until = argv[++i];
		else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			fmt = argv[++i];
		else
			return cli_fail(CLI_USAGE, "audit export", AUDIT_USAGE);
	}
	if (strcmp(fmt, "csv") != 0 && strcmp(fmt, "jsonl") != 0)
		return cli_fail(CLI_USAGE, "audit export", "--format must be csv or jsonl");
	for (;;) {
		struct jido_reply r;
		json_t *next;
		json_t *data = json_pack("{s:s,s:I,s:i,s:s?,s:s?}", "format", fmt, "after_seq", after,
		    "limit", 5000, "since", since, "until", until);
		if ((rc = audit_call(c, "audit.export", data, &r, "audit export")) != 0)
			return rc;
		if (fputs(json_string_value(json_object_get(r.data, "text")), stdout) == EOF) {
			jido_reply_free(&r);
			return cli_fail(CLI_SYS, "audit export", "cannot write to stdout");
		}
		next = json_object_get(r.data, "next_after_seq");
		after = json_integer_value(next);
		jido_reply_free(&r);
		if (after == 0)
			break;
	}
	return fflush(stdout) == 0 ? 0 : cli_fail(CLI_SYS, "audit export", "cannot write to stdout");
}

static int
audit_tail(struct cli *c, int argc, char **argv)
{
	struct jido_reply r;
	json_t *rec;
	size_t i;
	long n = 20;
	int rc;

	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "-n") == 0 && k + 1 < argc) {
			char *end;
			n = strtol(argv[++k], &end, 10);
			if (*end != '\0' || n < 1 || n > 1000)
				return cli_fail(CLI_USAGE, "audit tail", "-n takes 1..1000");
		} else
			return cli_fail(CLI_USAGE, "audit tail", AUDIT_USAGE);
	}
	if ((rc = audit_call(c, "audit.tail", json_pack("{s:i}", "limit", (int)n), &r,
	    "audit tail")) != 0)
		return rc;
	json_array_foreach(json_object_get(r.data, "records"), i, rec) {
		char *t = jido_json_dump(rec);
		if (t == NULL || printf("%s\n", t) < 0)
			rc = CLI_SYS;
		free(t);
	}
	jido_reply_free(&r);
	if (rc != 0 || fflush(stdout) != 0)
		return cli_fail(CLI_SYS, "audit tail", "cannot write to stdout");
	return 0;
}

static int
audit_checkpoint(struct cli *c, int argc, char **argv)
{
	struct jido_reply r;
	int rc;

	(void)argv;
	if (argc != 1)
		return cli_fail(CLI_USAGE, "audit checkpoint", AUDIT_USAGE);
	if ((rc = audit_call(c, "audit.checkpoint", NULL, &r, "audit checkpoint")) != 0)
		return rc;
	if (printf("%s\n", json_string_value(json_object_get(r.data, "line"))) < 0 ||
	    fflush(stdout) != 0)
		rc = cli_fail(CLI_SYS, "audit checkpoint", "cannot write to stdout");
	jido_reply_free(&r);
	return rc;
}

int
cli_audit(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(CLI_USAGE, "audit", AUDIT_USAGE);
	if (strcmp(argv[1], "verify") == 0)
		return audit_verify(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return audit_export(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "tail") == 0)
		return audit_tail(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "checkpoint") == 0)
		return audit_checkpoint(c, argc - 1, argv + 1);
	return cli_fail(CLI_USAGE, "audit", "unknown subcommand '%s'; %s", argv[1], AUDIT_USAGE);
}
