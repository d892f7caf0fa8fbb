/*
 * ops.c - the operation table (lib/ops.c) on the command line: `jido runs`, `jido run
 * show ID`, `jido kickoff PROJECT ISSUE --workflow W`, ... Each operation's CLI words,
 * positional arguments and --flags come from its table entry; the answer is printed as
 * the same JSON the REST API returns (--json) or as a human table. Locally the request
 * goes to the process's socket (state-changing ones audited first, channel cli); with
 * --url it goes to a remote instance's REST API (remote.c).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli.h"
#include "ops.h"

/* Does argv start with the words of op->cli? Returns the number of words, or 0. */
static int
op_words(const struct jido_op *op, int argc, char **argv)
{
	const char *w = op->cli;
	int n = 0;

	while (*w != '\0') {
		size_t k = strcspn(w, " ");
		if (n >= argc || strlen(argv[n]) != k || strncmp(argv[n], w, k) != 0)
			return 0;
		n++;
		w += k;
		while (*w == ' ')
			w++;
	}
	return n;
}

const struct jido_op *
cli_op_match(int argc, char **argv, int *nwords)
{
	size_t n;
	const struct jido_op *ops = jido_ops(&n), *best = NULL;
	int bestn = 0;

	for (size_t i = 0; i < n; i++) {
		int k = op_words(&ops[i], argc, argv);
		if (k > bestn) {
			best = &ops[i];
			bestn = k;
		}
	}
	*nwords = bestn;
	return best;
}

/* The argument a --flag names (its cli name, or its name with - or _). */
static const struct jido_op_arg *
op_flag(const struct jido_op *op, const char *flag, size_t len)
{
	for (size_t i = 0; op->args != NULL && op->args[i].name != NULL; i++) {
		const struct jido_op_arg *a = &op->args[i];
		const char *cn = a->cli != NULL ? a->cli : a->name;
		if (strlen(cn) == len && strncmp(cn, flag, len) == 0)
			return a;
		if (strlen(a->name) == len) {
			size_t j;
			for (j = 0; j < len && (flag[j] == a->name[j] || (flag[j] == '-' &&
			    a->name[j] == '_')); j++)
				;
			if (j == len)
				return a;
		}
	}
	return NULL;
}

/* Parse one CLI value: a JSON argument that is neither {...} nor @FILE is a file name; a
 * file holding {"<name>": {...}} (as `jido audit checkpoint` writes) gives the inner object. */
static int
op_value(const struct jido_op_arg *a, const char *text, json_t **v, char *why, size_t whylen)
{
	char buf[4200];
	int rc;

	if (a->type == JIDO_ARG_JSON && text[0] != '{' && text[0] != '@') {
		snprintf(buf, sizeof(buf), "@%s", text);
		text = buf;
	}
	if ((rc = jido_op_arg_parse(a, text, v, why, whylen)) != 0)
		return rc;
	if (a->type == JIDO_ARG_JSON && json_object_size(*v) <= 2 &&
	    json_is_object(json_object_get(*v, a->name))) {
		json_t *in = json_incref(json_object_get(*v, a->name));
		json_decref(*v);
		*v = in;
	}
	return 0;
}

/* argv (after the words) into an arguments object. Returns an exit code. */
static int
op_parse(const struct jido_op *op, int argc, char **argv, int *json, json_t **args)
{
	char why[512];
	size_t pos = 0;
	json_t *a = json_object(), *v;

	for (int k = 0; k < argc; k++) {
		const char *s = argv[k];
		const struct jido_op_arg *arg = NULL;
		const char *val = NULL;
		if (strcmp(s, "--json") == 0) {
			*json = 1;
			continue;
		}
		if (strcmp(s, "-n") == 0)
			s = "--limit";
		if (strncmp(s, "--", 2) == 0) {
			const char *eq = strchr(s + 2, '=');
			size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
			if ((arg = op_flag(op, s + 2, len)) == NULL) {
				json_decref(a);
				return cli_fail(CLI_USAGE, op->cli, "unknown option '%s' (see jido %s "
				    "--help)", argv[k], op->cli);
			}
			if (eq != NULL)
				val = eq + 1;
			else if (arg->type == JIDO_ARG_BOOL && (k + 1 >= argc || (strcmp(argv[k + 1],
			    "true") != 0 && strcmp(argv[k + 1], "false") != 0)))
				val = "true";
			else if (k + 1 < argc)
				val = argv[++k];
			else {
				json_decref(a);
				return cli_fail(CLI_USAGE, op->cli, "%s needs a value", argv[k]);
			}
		} else {
			while (op->args[pos].name != NULL && !(op->args[pos].flags & JIDO_ARG_POS))
				pos++;
			if (op->args[pos].name == NULL) {
				json_decref(a);
				return cli_fail(CLI_USAGE, op->cli, "unexpected argument '%s'", s);
			}
			arg = &op->args[pos];
			val = s;
			if (arg->type != JIDO_ARG_LIST)
				pos++;
		}
		if (op_value(arg, val, &v, why, sizeof(why)) != 0) {
			json_decref(a);
			return cli_fail(CLI_USAGE, op->cli, "validation_error: %s", why);
		}
		if (arg->type == JIDO_ARG_LIST && json_is_array(json_object_get(a, arg->name))) {
			json_array_extend(json_object_get(a, arg->name), v);
			json_decref(v);
		} else
			json_object_set_new(a, arg->name, v);
	}
	*args = a;
	return 0;
}

/* Text of a value for a table cell. Writes into buf. */
static const char *
op_cell(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.4g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else if (v == NULL || json_is_null(v))
		snprintf(buf, len, "-");
	else {
		char *t = jido_json_dump(v);
		snprintf(buf, len, "%s", t != NULL ? t : "?");
		free(t);
	}
	return buf;
}

/* A human table of rows with the comma-separated columns. */
static void
op_print_table(const json_t *rows, const char *columns)
{
	char cols[16][32], cell[256];
	int ncol = 0, width[16];
	size_t i;
	json_t *row;

	for (const char *p = columns; *p != '\0' && ncol < 16;) {
		size_t k = strcspn(p, ",");
		snprintf(cols[ncol], sizeof(cols[ncol]), "%.*s", (int)k, p);
		width[ncol] = (int)k;
		ncol++;
		p += k + (p[k] == ',');
	}
	json_array_foreach(rows, i, row)
		for (int c = 0; c < ncol; c++) {
			int n = (int)strlen(op_cell(json_object_get(row, cols[c]), cell, sizeof(cell)));
			width[c] = n > width[c] ? (n > 48 ? 48 : n) : width[c];
		}
	for (int c = 0; c < ncol; c++) {
		for (char *u = cols[c]; *u; u++)
			*u = *u >= 'a' && *u <= 'z' ? (char)(*u - 32) : *u;
		printf("%-*s%s", width[c], cols[c], c + 1 < ncol ? "  " : "\n");
		for (char *u = cols[c]; *u; u++)
			*u = *u >= 'A' && *u <= 'Z' ? (char)(*u + 32) : *u;
	}
	json_array_foreach(rows, i, row)
		for (int c = 0; c < ncol; c++)
			printf("%-*.48s%s", c + 1 < ncol ? width[c] : 0,
			    op_cell(json_object_get(row, cols[c]), cell, sizeof(cell)),
			    c + 1 < ncol ? "  " : "\n");
}

/* Human output of an answer: the table for list operations, else key: value lines. */
static void
op_print_human(const struct jido_op *op, const json_t *data)
{
	const char *key;
	json_t *v;
	char cell[512];

	if (op->list != NULL && json_is_array(json_object_get(data, op->list))) {
		op_print_table(json_object_get(data, op->list), op->columns);
		return;
	}
	json_object_foreach((json_t *)data, key, v) {
		if (json_is_array(v) && json_array_size(v) > 0 && json_is_object(json_array_get(v, 0)))
			printf("%s: %zu entries (see --json)\n", key, json_array_size(v));
		else
			printf("%s: %s\n", key, op_cell(v, cell, sizeof(cell)));
	}
	if (op->flags & JIDO_OP_SECRET)
		fprintf(stderr, "jido: the token is shown only now: store it (e.g. in a 0600 file "
		    "for --token-file)\n");
}

/* Write the audit record of a state-changing local call; 0 once it is durable. */
static int
op_audit(struct cli *c, const struct jido_op *op, const json_t *args)
{
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:O}", "actor", "owner", "channel", "cli",
	    "action", op->name, "subject", op->cli, "result", "ok", "details", args);

	return jido_audit_append(c->conf, c->home, rec, 1, NULL);
}

/* Run op locally: on 0 *out holds the answer; an error answer sets *err and *msg. */
static int
op_local(struct cli *c, const struct jido_op *op, const json_t *args, json_t **out, int *err,
    char **msg)
{
	struct jido_op_ctx ctx = { "cli", "owner", NULL };
	struct jido_reply r;
	char cred[65] = "", why[512];
	json_t *data;
	int rc;

	*out = NULL;
	if ((op->flags & JIDO_OP_CRED) && (rc = cli_owner_cred(c, cred, op->cli)) != 0)
		return rc;
	ctx.cred = cred[0] != '\0' ? cred : NULL;
	rc = jido_op_build(op, args, &ctx, &data, why, sizeof(why));
	sodium_memzero(cred, sizeof(cred));
	if (rc != 0)
		return cli_fail(CLI_USAGE, op->cli, "validation_error: %s", why);
	/* the web audits its token operations itself; everything else state-changing is
	 * recorded here first: no record, no effect */
	if (!(op->flags & JIDO_OP_READONLY) && strcmp(op->proc, "web") != 0 &&
	    (rc = op_audit(c, op, args)) != 0) {
		json_decref(data);
		return cli_fail(CLI_SYS, op->cli, "the auditor did not confirm the record (%s): "
		    "nothing was done", jido_strerror(rc));
	}
	if ((rc = cli_call(c, op->proc, op->type, data, &r, op->cli)) != 0)
		return rc;
	if (r.ok)
		*out = json_incref(r.data);
	else {
		*err = r.err;
		*msg = strdup(r.message != NULL ? r.message : jido_strerror(r.err));
	}
	jido_reply_free(&r);
	return 0;
}

int
cli_op_call(struct cli *c, const struct jido_op *op, const json_t *args, json_t **out)
{
	char *msg = NULL;
	int err = 0, rc;

	rc = c->url != NULL ? cli_remote_call(c, op, args, out, &err, &msg) :
	    op_local(c, op, args, out, &err, &msg);
	if (rc != 0)
		return rc;
	if (*out == NULL) {
		rc = cli_fail(jido_err_exit(err), op->cli, "%s: %s", jido_err_name(err),
		    msg != NULL ? msg : jido_strerror(err));
		free(msg);
		return rc;
	}
	return 0;
}

int
cli_op_run(struct cli *c, const struct jido_op *op, int argc, char **argv)
{
	json_t *args = NULL, *out = NULL;
	int json = c->json, rc;

	if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
		printf("usage: jido %s", op->cli);
		for (size_t i = 0; op->args[i].name != NULL; i++) {
			const struct jido_op_arg *a = &op->args[i];
			if (a->flags & JIDO_ARG_POS)
				printf((a->flags & JIDO_ARG_REQUIRED) ? " %s" : " [%s]", a->name);
			else
				printf((a->flags & JIDO_ARG_REQUIRED) ? " --%s V" : " [--%s V]",
				    a->cli != NULL ? a->cli : a->name);
		}
		printf(" [--json]\n  %s\n", op->desc);
		for (size_t i = 0; op->args[i].name != NULL; i++)
			printf("  %-14s %s\n", op->args[i].cli != NULL ? op->args[i].cli :
			    op->args[i].name, op->args[i].desc);
		return fflush(stdout) == 0 ? 0 : CLI_SYS;
	}
	/* jido logs RUN --follow: the one streaming form (logs.c) */
	if (strcmp(op->name, "runs.logs") == 0)
		for (int k = 0; k < argc; k++)
			if (strcmp(argv[k], "--follow") == 0 || strcmp(argv[k], "-f") == 0) {
				const char *run = NULL;
				for (int i = 0; i < argc; i++)
					if (strcmp(argv[i], "--json") == 0)
						json = 1;
					else if (argv[i][0] != '-' && run == NULL)
						run = argv[i];
					else if (i != k)
						return cli_fail(CLI_USAGE, "logs", "usage: jido logs RUN "
						    "--follow [--json]");
				if (run == NULL)
					return cli_fail(CLI_USAGE, "logs", "usage: jido logs RUN --follow");
				return cli_logs_follow(c, run, json);
			}
	if ((rc = op_parse(op, argc, argv, &json, &args)) != 0)
		return rc;
	rc = cli_op_call(c, op, args, &out);
	json_decref(args);
	if (rc != 0)
		return rc;
	if (json)
		rc = cli_print_json(out);
	else {
		op_print_human(op, out);
		rc = fflush(stdout) == 0 ? 0 : cli_fail(CLI_SYS, "output", "cannot write to stdout");
	}
	/* a negative answer (audit.verify finding a broken log) is exit 1 */
	if (rc == 0 && json_is_false(json_object_get(out, "ok")))
		rc = CLI_NEG;
	json_decref(out);
	return rc;
}
