/*
 * normalize.c - turns an executor.step.run request into the job the executor runs. Two
 * shapes are accepted: the planner's (issue 6: job_id, run_id, seq, attempt, kind
 * fetch_issue|agent|shell, step = the workflow step's definition, project {id, full_name,
 * settings}, issue, inputs, timeout_s) and the explicit one (runner, command, prompt,
 * model, workspace, gateway), whose fields win when both are given. Templates in a
 * step's command or prompt ({{project.<setting>}}, {{<step>.output}}, {{issue.number}},
 * {{run.id}}) are expanded here; an agent's prompt gets the issue and the earlier steps'
 * outputs appended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"
#include "executor.h"

static const char *
nz_str(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* The value of one template name, or NULL when unknown. */
static const char *
nz_lookup(const json_t *d, const char *name, char *num, size_t numlen)
{
	const json_t *settings = json_object_get(json_object_get(d, "project"), "settings");
	const json_t *inputs = json_object_get(d, "inputs");
	const char *dot = strchr(name, '.');
	json_t *v;

	if (dot == NULL)
		return NULL;
	if (strncmp(name, "project.", 8) == 0) {
		v = json_object_get(settings, name + 8);
		if (json_is_string(v))
			return json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(num, numlen, "%lld", (long long)json_integer_value(v));
			return num;
		}
		return NULL;
	}
	if (strcmp(name, "issue.number") == 0 && json_is_integer(json_object_get(d, "issue"))) {
		snprintf(num, numlen, "%lld", (long long)json_integer_value(json_object_get(d, "issue")));
		return num;
	}
	if (strcmp(name, "run.id") == 0)
		return nz_str(d, "run_id");
	/* <step id>.<field> of an earlier step's result */
	char step[128];
	size_t sl = (size_t)(dot - name);
	if (sl >= sizeof(step))
		return NULL;
	memcpy(step, name, sl);
	step[sl] = '\0';
	v = json_object_get(json_object_get(inputs, step), dot + 1);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

char *
exec_template_expand(const json_t *d, const char *tpl, char *why, size_t whylen)
{
	struct jido_buf b = { 0 };
	const char *p = tpl;

	jido_buf_puts(&b, "");
	while (*p != '\0') {
		const char *open = strstr(p, "{{"), *close;
		if (open == NULL || (close = strstr(open + 2, "}}")) == NULL) {
			jido_buf_puts(&b, p);
			break;
		}
		jido_buf_put(&b, p, (size_t)(open - p));
		char name[256], num[32];
		const char *a = open + 2, *e = close;
		while (*a == ' ')
			a++;
		while (e > a && e[-1] == ' ')
			e--;
		if ((size_t)(e - a) >= sizeof(name)) {
			snprintf(why, whylen, "template name too long");
			free(b.p);
			return NULL;
		}
		memcpy(name, a, (size_t)(e - a));
		name[e - a] = '\0';
		const char *val = nz_lookup(d, name, num, sizeof(num));
		if (val == NULL) {
			snprintf(why, whylen, "unknown template value {{%s}}", name);
			free(b.p);
			return NULL;
		}
		jido_buf_puts(&b, val);
		p = close + 2;
	}
	if (b.fail) {
		free(b.p);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	return b.p;
}

/* The agent's prompt: the step's prompt, then the issue and the earlier steps' outputs. */
static char *
nz_prompt(const json_t *d, const char *base, char *why, size_t whylen)
{
	char *p = exec_template_expand(d, base, why, whylen);
	struct jido_buf b = { 0 };
	const json_t *inputs = json_object_get(d, "inputs");
	const char *k;
	json_t *v;

	if (p == NULL)
		return NULL;
	jido_buf_puts(&b, p);
	free(p);
	if (json_is_integer(json_object_get(d, "issue")) &&
	    json_integer_value(json_object_get(d, "issue")) > 0) {
		char num[64];
		snprintf(num, sizeof(num), "\n\n## Issue #%lld",
		    (long long)json_integer_value(json_object_get(d, "issue")));
		jido_buf_puts(&b, num);
		const char *full = nz_str(json_object_get(d, "project"), "full_name");
		if (full != NULL) {
			jido_buf_puts(&b, " of ");
			jido_buf_puts(&b, full);
		}
	}
	json_object_foreach((json_t *)inputs, k, v) {
		const char *out = nz_str(v, "output");
		if (out == NULL)
			continue;
		jido_buf_puts(&b, "\n\n## Output of the earlier step '");
		jido_buf_puts(&b, k);
		jido_buf_puts(&b, "'\n\n");
		jido_buf_puts(&b, out);
	}
	if (b.fail) {
		free(b.p);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	return b.p;
}

int
exec_normalize(const json_t *d, const char *git_base, json_t **jobp, char *why, size_t whylen)
{
	const json_t *step = json_object_get(d, "step");
	const json_t *proj = json_object_get(d, "project");
	const json_t *settings = json_object_get(proj, "settings");
	const char *kind = nz_str(d, "kind"), *runner = nz_str(d, "runner");
	json_t *job = json_deep_copy(d);
	char *text = NULL;

	*jobp = NULL;
	if (job == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	/* The runner: explicit, or from the step kind and the step/project settings. */
	if (runner == NULL) {
		if (kind == NULL) {
			json_decref(job);
			snprintf(why, whylen, "give runner (shell, claude-code, codex) or kind "
			    "(fetch_issue, agent, shell)");
			return JIDO_EVALIDATION;
		}
		if (strcmp(kind, "shell") == 0)
			runner = "shell";
		else if (strcmp(kind, "fetch_issue") == 0)
			runner = "fetch_issue";
		else if (strcmp(kind, "agent") == 0) {
			runner = nz_str(step, "runner");
			if (runner == NULL)
				runner = nz_str(settings, "runner");
			if (runner == NULL || strcmp(runner, "claude") == 0)
				runner = "claude-code";
		} else {
			json_decref(job);
			snprintf(why, whylen, "kind '%s' is not the executor's (fetch_issue, agent, "
			    "shell)", kind);
			return JIDO_EVALIDATION;
		}
		json_object_set_new(job, "runner", json_string(runner));
	}
	/* The command or prompt: explicit, or the step's with its templates expanded. */
	if (strcmp(runner, "shell") == 0 && nz_str(d, "command") == NULL &&
	    json_is_string(json_object_get(step, "command"))) {
		if ((text = exec_template_expand(d, json_string_value(json_object_get(step, "command")),
		    why, whylen)) == NULL)
			goto bad;
		json_object_set_new(job, "command", json_string(text));
		free(text);
	}
	if ((strcmp(runner, "claude-code") == 0 || strcmp(runner, "codex") == 0) &&
	    nz_str(d, "prompt") == NULL && json_is_string(json_object_get(step, "prompt"))) {
		if ((text = nz_prompt(d, json_string_value(json_object_get(step, "prompt")), why,
		    whylen)) == NULL)
			goto bad;
		json_object_set_new(job, "prompt", json_string(text));
		free(text);
	}
	if (json_object_get(d, "model") == NULL) {
		const char *m = nz_str(step, "model") ? nz_str(step, "model") : nz_str(settings, "model");
		if (m != NULL)
			json_object_set_new(job, "model", json_string(m));
	}
	/* The workspace: explicit, or the project's repository at its default branch. */
	const char *full = nz_str(proj, "full_name");
	if (json_object_get(d, "workspace") == NULL && full != NULL &&
	    strcmp(runner, "fetch_issue") != 0) {
		char url[1200], branch[300];
		const char *prefix = nz_str(settings, "branch_prefix");
		const char *base = nz_str(settings, "default_branch");
		snprintf(url, sizeof(url), "%s%s%s.git", git_base,
		    git_base[0] && git_base[strlen(git_base) - 1] == '/' ? "" : "/", full);
		snprintf(branch, sizeof(branch), "%s%s", prefix ? prefix : "jidocode/",
		    nz_str(d, "run_id") ? nz_str(d, "run_id") : "run");
		json_object_set_new(job, "workspace", json_pack("{s:s,s:s,s:s,s:s}", "repo", full,
		    "clone_url", url, "base", base ? base : "main", "branch", branch));
		/* The run's work so far: the last earlier step holding a diff (the rule gitops
		 * ships by), applied to the fresh checkout so tests see the agent's change. */
		const char *k, *last = NULL;
		json_t *v;
		json_object_foreach((json_t *)json_object_get(d, "inputs"), k, v)
			if (nz_str(v, "diff") != NULL && nz_str(v, "diff")[0] != '\0')
				last = nz_str(v, "diff");
		if (last != NULL && json_object_get(d, "base_diff") == NULL)
			json_object_set_new(job, "base_diff", json_string(last));
	}
	if (json_is_object(step) && !json_is_string(json_object_get(step, "id"))) {
		snprintf(why, whylen, "step.id must be a string");
		goto bad;
	}
	*jobp = job;
	return 0;
bad:
	json_decref(job);
	return JIDO_EVALIDATION;
}
