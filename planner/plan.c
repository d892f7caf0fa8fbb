/*
 * plan.c - `jido-planner plan [--workflow W] [--dir D] [--dry-run] < event.json`: the
 * planner as a Unix filter without a database. Reads one event (an envelope, or
 * {"type", "data"}) from stdin, decides it as trigger_decide would for an enabled project
 * with default settings, and prints the run plan it would create (the workflow W when
 * given, else the one the trigger names) or why it would create none.
 * Exit: 0 a run would be created, 1 none (reason printed), 2 usage or bad input.
 */
#include <stdlib.h>
#include <string.h>

#include "planner.h"

static int
plan_usage(const char *msg)
{
	fprintf(stderr, "jido-planner: usage failed: %s\n"
	    "usage: jido-planner plan [--workflow W] [--dir D] [--dry-run] < event.json\n", msg);
	return 2;
}

int
planner_plan_command(int argc, char **argv)
{
	const char *wf_name = NULL, *dir = "";
	char builtin[PATH_MAX];
	int dry = 0, code = 1;
	json_error_t jerr;
	json_t *ev, *data, *settings, *plan = NULL;
	const char *type;
	struct trigger_decision d;
	struct wf_set set;

	if (strcmp(argv[0], "plan") != 0)
		return -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--workflow") == 0 && i + 1 < argc)
			wf_name = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--dry-run") == 0)
			dry = 1;
		else
			return plan_usage("unknown argument to plan");
	}
	ev = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	if (ev == NULL) {
		fprintf(stderr, "jido-planner: plan failed: stdin: line %d: %s\n", jerr.line,
		    jerr.text);
		return 2;
	}
	type = json_string_value(json_object_get(ev, "type"));
	data = json_object_get(ev, "data");
	if (type == NULL || !json_is_object(data)) {
		json_decref(ev);
		fprintf(stderr, "jido-planner: plan failed: stdin must hold an event with a type "
		    "and a data object\n");
		return 2;
	}
	wf_builtin_dir(builtin, sizeof(builtin));
	const char *dirs[] = { builtin, dir, NULL };
	wf_set_load(&set, dirs);
	settings = project_default_settings();
	trigger_decide(type, data, settings, 1, &d);
	if (!d.run) {
		plan = json_pack("{s:b,s:s,s:b}", "run", 0, "reason", d.reason, "refused",
		    d.refused);
	} else {
		const char *name = wf_name ? wf_name : d.workflow;
		const struct workflow *w = wf_set_find(&set, name);
		if (w == NULL) {
			plan = json_pack("{s:b,s:s+}", "run", 0, "reason", "workflow not loaded: ",
			    name);
		} else {
			plan = json_pack("{s:b,s:s,s:o}", "run", 1, "trigger", d.reason, "plan",
			    workflow_plan_json(w, settings, dry));
			json_t *num = json_object_get(data, "number");
			json_object_set(plan, "issue", num ? num : json_null());
			code = 0;
		}
	}
	if (json_array_size(set.errors) > 0)
		json_object_set(plan, "workflow_errors", set.errors);
	char *text = jido_json_dump(plan);
	if (text == NULL || printf("%s\n", text) < 0 || fflush(stdout) != 0)
		code = 111;
	free(text);
	json_decref(plan);
	json_decref(settings);
	wf_set_free(&set);
	json_decref(ev);
	return code;
}
