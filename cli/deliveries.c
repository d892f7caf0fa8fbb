/*
 * deliveries.c - `jido deliveries list|show|replay`: the operator's view of ingest's
 * spool of GitHub deliveries (ingest.deliveries.* on run/ingest.sock).
 *   list [--event E] [--status pending|acked|rejected] [--limit N] [--json]
 *   show ID [--json]          headers and payload
 *   replay ID [--as-new]      publish again; the planner dedupes on the delivery id
 *                             unless --as-new gives it a fresh one
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char deliveries_usage[] =
    "usage: jido deliveries list [--event E] [--status S] [--limit N] [--json] | "
    "show ID [--json] | replay ID [--as-new]";

/* Call type with data; on success *r holds an ok reply. Returns the exit code. */
static int
deliveries_call(struct cli *c, const char *type, json_t *data, struct jido_reply *r,
    const char *what)
{
	int rc;

	if ((rc = cli_call(c, "ingest", type, data, r, what)) != 0)
		return rc;
	if (!r->ok) {
		rc = cli_fail(jido_err_exit(r->err), what, "%s: %s", jido_err_name(r->err),
		    r->message != NULL ? r->message : jido_strerror(r->err));
		jido_reply_free(r);
		return rc;
	}
	return 0;
}

static const char *
deliveries_str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v != NULL ? v : "-";
}

static int
deliveries_list(struct cli *c, int argc, char **argv, int json)
{
	struct jido_reply r;
	json_t *data = json_object(), *row;
	size_t i;
	int rc;

	for (int k = 2; k < argc; k++) {
		if ((strcmp(argv[k], "--event") == 0 || strcmp(argv[k], "--status") == 0) &&
		    k + 1 < argc) {
			json_object_set_new(data, argv[k] + 2, json_string(argv[k + 1]));
			k++;
		} else if (strcmp(argv[k], "--limit") == 0 && k + 1 < argc) {
			char *end;
			long n = strtol(argv[++k], &end, 10);
			if (*end != '\0' || n < 1 || n > 10000) {
				json_decref(data);
				return cli_fail(CLI_USAGE, "deliveries", "--limit needs 1-10000");
			}
			json_object_set_new(data, "limit", json_integer(n));
		} else if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else {
			json_decref(data);
			return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
		}
	}
	if ((rc = deliveries_call(c, "ingest.deliveries.list", data, &r, "deliveries")) != 0)
		return rc;
	json_t *rows = json_object_get(r.data, "deliveries");
	if (json)
		rc = cli_print_json(rows);
	else {
		printf("%-40s %-28s %-16s %-9s %-8s %s\n", "DELIVERY", "EVENT", "ACTION", "STATUS",
		    "ATTEMPTS", "RECEIVED");
		json_array_foreach(rows, i, row)
			printf("%-40s %-28s %-16s %-9s %-8lld %s\n", deliveries_str(row, "id"),
			    deliveries_str(row, "event"), deliveries_str(row, "action"),
			    deliveries_str(row, "status"),
			    (long long)json_integer_value(json_object_get(row, "attempts")),
			    deliveries_str(row, "received_at"));
		rc = fflush(stdout) == 0 ? 0 : cli_fail(CLI_SYS, "output", "cannot write to stdout");
	}
	jido_reply_free(&r);
	return rc;
}

static int
deliveries_show(struct cli *c, int argc, char **argv, int json)
{
	struct jido_reply r;
	const char *key;
	json_t *v;
	int rc;

	for (int k = 3; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else
			return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
	}
	if (argc < 3)
		return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
	if ((rc = deliveries_call(c, "ingest.deliveries.show", json_pack("{s:s}", "id", argv[2]),
	    &r, "deliveries show")) != 0)
		return rc;
	if (json)
		rc = cli_print_json(r.data);
	else {
		printf("delivery:  %s\nevent:     %s\naction:    %s\nrepo:      %s\nstatus:    %s\n",
		    deliveries_str(r.data, "id"), deliveries_str(r.data, "event"),
		    deliveries_str(r.data, "action"), deliveries_str(r.data, "repo"),
		    deliveries_str(r.data, "status"));
		if (json_is_string(json_object_get(r.data, "reason")))
			printf("reason:    %s\n", deliveries_str(r.data, "reason"));
		printf("received:  %s\nattempts:  %lld\n\n", deliveries_str(r.data, "received_at"),
		    (long long)json_integer_value(json_object_get(r.data, "attempts")));
		json_object_foreach(json_object_get(r.data, "headers"), key, v)
			printf("%s: %s\n", key, json_string_value(v) ? json_string_value(v) : "");
		printf("\n%s\n", deliveries_str(r.data, "payload"));
		rc = fflush(stdout) == 0 ? 0 : cli_fail(CLI_SYS, "output", "cannot write to stdout");
	}
	jido_reply_free(&r);
	return rc;
}

static int
deliveries_replay(struct cli *c, int argc, char **argv, int json)
{
	struct jido_reply r;
	int as_new = 0, rc;

	for (int k = 3; k < argc; k++) {
		if (strcmp(argv[k], "--as-new") == 0)
			as_new = 1;
		else if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else
			return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
	}
	if (argc < 3)
		return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
	if ((rc = deliveries_call(c, "ingest.deliveries.replay", json_pack("{s:s,s:b}", "id",
	    argv[2], "as_new", as_new), &r, "deliveries replay")) != 0)
		return rc;
	if (json)
		rc = cli_print_json(r.data);
	else {
		printf("replayed %s as %s\n", argv[2], deliveries_str(r.data, "delivery"));
		rc = fflush(stdout) == 0 ? 0 : cli_fail(CLI_SYS, "output", "cannot write to stdout");
	}
	jido_reply_free(&r);
	return rc;
}

int
cli_deliveries(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(CLI_USAGE, "deliveries", "%s", deliveries_usage);
	if (strcmp(argv[1], "list") == 0)
		return deliveries_list(c, argc, argv, c->json);
	if (strcmp(argv[1], "show") == 0)
		return deliveries_show(c, argc, argv, c->json);
	if (strcmp(argv[1], "replay") == 0)
		return deliveries_replay(c, argc, argv, c->json);
	return cli_fail(CLI_USAGE, "deliveries", "unknown subcommand '%s'; %s", argv[1],
	    deliveries_usage);
}
