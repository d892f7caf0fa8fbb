/*
 * status.c - `jido status [--json]`: a row per process (name, state, pid, uptime,
 * restarts, socket). State and uptime come from each process's own health answer;
 * pid and restarts from the supervisor (`jido up`) when one runs. Exit 0 when every
 * process is READY, 1 otherwise.
 */
#include <string.h>

#include "cli.h"

/* The supervisor's view of one process, or NULL. Borrowed from sup. */
static json_t *
status_sup_row(json_t *sup, const char *name)
{
	size_t i;
	json_t *row;

	json_array_foreach(json_object_get(sup, "processes"), i, row)
		if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
			return row;
	return NULL;
}

int
cli_status(struct cli *c, int argc, char **argv)
{
	struct jido_reply sr, r;
	json_t *sup = NULL, *rows = json_array();
	char url[4200], type[64];
	int all_ready = 1, timeout = 1000;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = 1;
		else {
			json_decref(rows);
			return cli_fail(CLI_USAGE, "status", "unexpected argument '%s'", argv[i]);
		}
	}
	if (cli_url(c, "supervisor", url, sizeof(url)) == 0 &&
	    jido_bus_call(url, "supervisor.status", NULL, NULL, timeout, &sr) == 0) {
		if (sr.ok)
			sup = json_incref(sr.data);
		jido_reply_free(&sr);
	}
	for (int i = 0; jido_procs[i] != NULL; i++) {
		const char *name = jido_procs[i];
		json_t *srow = status_sup_row(sup, name);
		json_int_t pid = 0, uptime = 0;
		const char *state = "DOWN";

		memset(&r, 0, sizeof(r));
		cli_url(c, name, url, sizeof(url));
		snprintf(type, sizeof(type), "%s.health", name);
		if (jido_bus_call(url, type, NULL, NULL, timeout, &r) == 0) {
			if (r.ok) {
				state = json_string_value(json_object_get(r.data, "state"));
				pid = json_integer_value(json_object_get(r.data, "pid"));
				uptime = json_integer_value(json_object_get(r.data, "uptime_s"));
				state = state != NULL ? state : "FAILED";
			} else
				state = "FAILED";
		} else if (srow != NULL && json_integer_value(json_object_get(srow, "pid")) != 0)
			state = "STARTING";
		json_t *row = json_pack("{s:s,s:s,s:I,s:I,s:o,s:s}", "name", name, "state", state,
		    "pid", pid, "uptime_s", uptime, "restarts", srow != NULL ?
		    json_incref(json_object_get(srow, "restarts")) : json_null(), "socket", url);
		if (strcmp(state, "READY") != 0)
			all_ready = 0;
		if (r.root != NULL)
			jido_reply_free(&r);
		json_array_append_new(rows, row);
	}
	json_decref(sup);
	if (c->json) {
		int rc = cli_print_json(rows);
		json_decref(rows);
		return rc != 0 ? rc : all_ready ? 0 : CLI_NEG;
	}
	printf("%-9s %-9s %-8s %-8s %-8s %s\n", "NAME", "STATE", "PID", "UPTIME", "RESTARTS",
	    "SOCKET");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		json_t *rs = json_object_get(row, "restarts");
		char restarts[24], upt[32];
		long long u = (long long)json_integer_value(json_object_get(row, "uptime_s"));
		if (u >= 3600)
			snprintf(upt, sizeof(upt), "%lldh%02lldm", u / 3600, u / 60 % 60);
		else if (u >= 60)
			snprintf(upt, sizeof(upt), "%lldm%02llds", u / 60, u % 60);
		else
			snprintf(upt, sizeof(upt), "%llds", u);
		if (json_is_integer(rs))
			snprintf(restarts, sizeof(restarts), "%lld", (long long)json_integer_value(rs));
		else
			snprintf(restarts, sizeof(restarts), "-");
		printf("%-9s %-9s %-8lld %-8s %-8s %s\n",
		    json_string_value(json_object_get(row, "name")),
		    json_string_value(json_object_get(row, "state")),
		    (long long)json_integer_value(json_object_get(row, "pid")),
		    upt, restarts, json_string_value(json_object_get(row, "socket")));
	}
	json_decref(rows);
	if (fflush(stdout) != 0)
		return cli_fail(CLI_SYS, "status", "cannot write to stdout");
	return all_ready ? 0 : CLI_NEG;
}
