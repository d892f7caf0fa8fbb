/*
 * redact.h - the executor's redaction of everything that leaves it (log lines,
 * transcripts, summaries, diffs): exact values it knows (the run's scoped key) and their
 * base64, base64url, hex and URL-encoded forms, plus token patterns (GitHub ghp_/gho_/
 * ghs_/ghu_/ghr_/github_pat_, Anthropic sk-ant-, OpenAI sk-, gateway jgw_, AWS access
 * key ids, PEM private-key blocks across lines). Written so that it can later be unified
 * with lib/redact.c (issue 4): the pattern list is the same.
 */
#ifndef EXECUTOR_REDACT_H
#define EXECUTOR_REDACT_H

#include <stddef.h>

#define REDACT_MARK "[REDACTED]"
#define REDACT_MAX_KNOWN 32

struct exec_redact {
	char *known[REDACT_MAX_KNOWN]; /* owned; wiped with sodium_memzero on free */
	size_t nknown;
	int in_pem; /* inside a PEM private-key block (state across lines) */
};

/* Add a secret value and its encoded forms (values shorter than 8 bytes are refused:
 * -1). The value is copied. */
int exec_redact_add(struct exec_redact *r, const char *value);
/* Redact one line (no newline). Returns a malloc'd string the caller frees, or NULL when
 * redaction failed (the caller drops the line and logs the drop). *changed (may be NULL)
 * is set when something was replaced. */
char *exec_redact_line(struct exec_redact *r, const char *line, int *changed);
/* Wipe and free the known values. */
void exec_redact_free(struct exec_redact *r);

#endif
