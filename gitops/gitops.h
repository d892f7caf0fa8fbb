/*
 * gitops.h - jido-gitops's internal interfaces: the project settings of a ship, the
 * unified-diff model and the pure policy checks (policy.c), the git runner with the
 * pipe-fed credential helper (git.c), the GitHub REST client (github.c) and the ship
 * flow (ship.c). Nothing here is part of libjido.
 */
#ifndef GITOPS_H
#define GITOPS_H

#include <stddef.h>

#include "jido.h"

#define GITOPS_SUBJECT_MAX 72

/* ---------------------------------------------------------------- project (policy.c) */

/* What a ship is allowed to do for one project. Strings are owned copies; the json
 * arrays are owned references (arrays of strings). Fill with gitops_project_from_json,
 * release with gitops_project_free. */
struct gitops_project {
	char repo[256];           /* "owner/name" */
	char clone_url[1024];     /* https://... without credentials, or file:// in tests */
	char default_branch[256];
	char base[256];           /* branch the PR targets (default: default_branch) */
	char base_sha[64];        /* commit the diff was made on, "" when unknown */
	char branch_prefix[128];  /* "jidocode/" */
	long max_diff_lines;
	int allow_binary;
	json_t *forbidden_paths;  /* globs */
	json_t *allowed_paths;    /* globs exempted from forbidden_paths */
	json_t *protected_branches;
	json_t *ship_workflows;   /* workflows allowed to ship */
	int pr_draft;
	json_t *pr_labels;
	json_t *pr_reviewers;
};

/* Defaults a project starts from (from the config: gitops.max_diff_lines,
 * gitops.ship_workflows). */
struct gitops_defaults {
	long max_diff_lines;
	const char *ship_workflows; /* comma-separated */
};

/* Fill p from a project object ({repo, clone_url, default_branch, base, base_sha,
 * branch_prefix, max_diff_lines, allow_binary, forbidden_paths, allowed_paths,
 * protected_branches, ship_workflows, pr: {draft, labels, reviewers}}; limits may also
 * sit under "limits"). strict: unknown keys are refused (else ignored). need_remote: repo and clone_url are
 * required. On error p is left freed and why names the field. */
int gitops_project_from_json(const json_t *j, const struct gitops_defaults *d,
    int need_remote, int strict, struct gitops_project *p, char *why, size_t whylen);
void gitops_project_free(struct gitops_project *p);

/* ---------------------------------------------------------------- diff (policy.c) */

struct gitops_diff_file {
	char *path;      /* new path (old path for a deletion); owned */
	char *old_path;  /* owned; equal to path unless renamed */
	int binary;
	long added, removed;
};

/* One added line of a hunk: a view into the diff text. */
struct gitops_diff_line {
	size_t off, len; /* the line without its leading '+' */
	size_t file;     /* index into files */
	long lineno;     /* line number in the new file */
};

struct gitops_diff {
	struct gitops_diff_file *files; /* owned array */
	size_t n;
	struct gitops_diff_line *adds;  /* owned array */
	size_t nadds;
	long added, removed;
	const char *text; /* borrowed: the diff text the views below point into */
	size_t len;
};

/* Parse a unified diff as `git diff --binary` writes it. d borrows text (keep it alive
 * while d is used); free with gitops_diff_free. JIDO_EVALIDATION when it is not a diff. */
int gitops_diff_parse(const char *text, size_t len, struct gitops_diff *d, char *why,
    size_t whylen);
void gitops_diff_free(struct gitops_diff *d);

/* ---------------------------------------------------------------- checks (policy.c) */

/* A policy report: an array of {check, result ("pass"|"fail"), evidence}. */
json_t *gitops_report_new(void);
/* Append one check's outcome (evidence is copied; it must never hold a secret value). */
void gitops_report_add(json_t *report, const char *check, int ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The first failed entry of report (borrowed) or NULL. */
json_t *gitops_report_first_failure(const json_t *report);

/* '*' matches within a path segment, '**' across segments (also zero of them), '?' one
 * character. 1 on a match. */
int gitops_glob_match(const char *pattern, const char *path);

/* The checks that need only the diff and the project, appended to report: non_empty,
 * diff_size, binary_files, forbidden_paths, secret_scan. known: NULL-terminated secret
 * values (may be NULL) whose presence in an added line is a finding (never shown). */
void gitops_check_static(const struct gitops_diff *d, const struct gitops_project *p,
    const char *const *known, json_t *report);
/* Shipping allowed: kill switch off and the workflow in the project's ship list. */
void gitops_check_shipping(const struct gitops_project *p, const char *workflow,
    int kill_switch, json_t *report);
/* Branch name for a run: <prefix><workflow>/<first 8 of run id>, sanitized. */
int gitops_branch_name(const struct gitops_project *p, const char *workflow, const char *run_id,
    char *out, size_t len);
/* The push target is a fresh jidocode branch: not the default, base or a protected
 * branch, under the prefix, and a valid ref name. */
void gitops_check_target(const struct gitops_project *p, const char *branch, json_t *report);
/* Secret scan of one added line. Returns a static pattern name, or NULL when clean. */
const char *gitops_secret_in_line(const char *line, size_t len, const char *const *known);

/* Commit subject "<type>: <summary>" cut to GITOPS_SUBJECT_MAX bytes on a UTF-8
 * boundary (and a word boundary when one is near), one line. */
void gitops_subject(const char *type, const char *summary, char *out, size_t len);

/* ---------------------------------------------------------------- fingerprints
 * (fingerprint.c): the vault's secrets matched in a diff by salted hash, never by value */

#define GITOPS_FP_BYTES 32  /* BLAKE2b-256, as vault/fingerprint.c */
#define GITOPS_FP_MIN_LEN 8 /* shorter values are not looked for (they match ordinary text) */

struct gitops_fp {
	char name[129];
	char scope[81];
	size_t len;
	unsigned char hash[GITOPS_FP_BYTES];
};

/* A vault.fingerprints answer: the request's salt and the fingerprints (owned array). */
struct gitops_fps {
	unsigned char salt[32];
	struct gitops_fp *v;
	size_t n;
	char unreadable[200]; /* "name (code)" of the first version the vault could not read,
	                       * "" when none: its value cannot be looked for */
};

/* Parse the reply data of vault.fingerprints into f (release with gitops_fps_free).
 * JIDO_EVALIDATION when it is not such an answer. */
int gitops_fps_parse(const json_t *data, struct gitops_fps *f, char *why, size_t whylen);
void gitops_fps_free(struct gitops_fps *f);
/* The first fingerprint whose value occurs in text[0..len) (borrowed from f), or NULL. */
const struct gitops_fp *gitops_fps_find(const struct gitops_fps *f, const char *text,
    size_t len);
/* The index of the first added line of d holding a fingerprinted value (*hit names it), or
 * -1 (and *hit NULL). */
long gitops_fps_scan_diff(const struct gitops_fps *f, const struct gitops_diff *d,
    const struct gitops_fp **hit);
/* vault.fingerprints with this process's credential. On 0 *data is a new reference to the
 * reply data; JIDO_ESECRET when the vault refuses or does not answer (why says which). */
int gitops_fps_fetch(const struct jido_conf *c, const char *home, json_t **data, char *why,
    size_t whylen);
/* Must a ship look for the vault's fingerprints? gitops.vault_fingerprints: on, off, or
 * auto (default: when the token comes from the vault, not with github.token_file). */
int gitops_fps_wanted(const struct jido_conf *c);

/* ---------------------------------------------------------------- git (git.c) */

/* A git invocation: argv after "git", in dir; token (may be NULL) is handed to git's
 * credential helper through a pipe on fd 3 only. out (may be NULL) receives stdout as a
 * malloc'd string the caller frees; stdin_text (may be NULL) is written to git's stdin.
 * Returns git's exit status (0 ok), or -1 when it could not run; err (may be NULL)
 * receives the last line of stderr. */
struct gitops_git {
	const char *git;        /* program, "git" */
	const char *home;       /* HOME for git: an empty directory of gitops's own */
	const char *author_name;
	const char *author_email;
	int timeout_s;
};
int gitops_git_run(const struct gitops_git *g, const char *dir, const char *const *argv,
    const char *token, const char *stdin_text, char **out, char *err, size_t errlen);

/* ---------------------------------------------------------------- GitHub (github.c) */

struct gitops_gh {
	const char *api_url;  /* "https://api.github.com" */
	const char *token;    /* borrowed; never logged */
	int retries;          /* rate-limit retries */
	int max_wait_s;       /* longest Retry-After honoured */
	int timeout_s;
};

/* One REST call. body (may be NULL) is sent as JSON. On return *status holds the HTTP
 * status (0 when there was no answer) and *resp (may be NULL on return) the parsed JSON
 * answer, a new reference the caller releases. Rate-limit answers (403/429 with
 * Retry-After or X-RateLimit-Remaining: 0) are retried up to g->retries times with
 * jitter. Returns 0 when an HTTP answer came, JIDO_EPROVIDER when the answer was over
 * 8 MB (not read past that; why says so), JIDO_EUNAVAIL otherwise. */
int gitops_gh_call(const struct gitops_gh *g, const char *method, const char *path,
    const json_t *body, long *status, json_t **resp, char *why, size_t whylen);

/* ---------------------------------------------------------------- ship (ship.c) */

struct gitops_ctx {
	const struct jido_conf *conf;
	const char *home;
	char work[4096]; /* gitops's clones */
	int filter;      /* driven from stdin: no audit socket unless configured */
	const char *preset_token; /* borrowed: a token handed over by the parent (ship
	                           * worker); used for the first fetch of each ship */
	const json_t *preset_fps; /* borrowed: the vault.fingerprints answer the parent got
	                           * for the worker (which holds no credential), or NULL */
	const char *preset_fps_error; /* borrowed: why the parent could not get them, or NULL */
	struct jido_ghapp *app;   /* owned: GitHub App token cache when github.app_id is set
	                           * (kept across ships), NULL until first used */
};

/* A ship worker also gets the App's private key from its parent (it holds no vault
 * credential) so that it can mint a new token after an auth failure. On 0 *pem is a
 * sodium_malloc'd copy the caller wipes and frees. */
int gitops_app_key(struct gitops_ctx *c, char **pem, char *why, size_t whylen);

/* Fetch the GitHub token as a ship would (github.token_file, else vault.get). On 0 *tok
 * is a sodium_malloc'd NUL-ended copy the caller wipes and frees with sodium_free. */
int gitops_token_get(struct gitops_ctx *c, char **tok, char *why, size_t whylen);
/* The ship worker command: reads {conf, token, verb, data} on stdin, runs one ship or
 * comment under gitops's allowlist, writes {rc, code, why, out} on stdout. Exit 0 when it
 * answered. */
int gitops_worker_main(int argc, char **argv);

/* The ship flow for one gitops.ship request (data). On 0, *out is the reply data; on a
 * policy failure JIDO_EPOLICY with why = "<check>: <evidence>" and *out (when not NULL)
 * the report; other errors as usual. */
int gitops_ship(struct gitops_ctx *c, const json_t *data, const char *corr, json_t **out,
    char *why, size_t whylen);
/* gitops.comment {repo, issue, body, run_id?}: posts one issue comment. */
int gitops_comment(struct gitops_ctx *c, const json_t *data, const char *corr, json_t **out,
    char *why, size_t whylen);
/* The `check` filter: a report for diff on project; 0 clean, 1 violation, 2 usage. */
int gitops_check_main(int argc, char **argv);

#endif
