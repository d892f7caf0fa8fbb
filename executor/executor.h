/*
 * executor.h - what the executor's files share: the sandbox command, workspace helpers,
 * size parsing. The sandbox itself is declared in sandbox.h.
 */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <sys/types.h>

#include <jansson.h>

/* `jido-executor sandbox ...` (cli.c); -1 when argv[0] is not an executor command. */
int executor_command(int argc, char **argv);
int executor_cli_sandbox(int argc, char **argv);
/* chown -R dir (not following symlinks) to uid:gid, so the sandbox's agent owns it. */
int sandbox_workspace_own(const char *dir, uid_t uid, gid_t gid);
/* "512" (MiB), "512m", "2g", "64k", "100b" -> bytes; -1 when malformed. */
long long sandbox_parse_size(const char *s);

/* normalize.c: the job to run from an executor.step.run request of either shape (the
 * planner's or the explicit one); git_base prefixes project full names into clone URLs.
 * On 0 *job is a new object owned by the caller; else why says what is wrong. */
int exec_normalize(const json_t *data, const char *git_base, json_t **job, char *why,
    size_t whylen);
/* Expand {{project.X}}, {{<step>.output}}, {{issue.number}}, {{run.id}} in tpl with the
 * request data d. New string (caller frees), or NULL with why (unknown name). */
char *exec_template_expand(const json_t *d, const char *tpl, char *why, size_t whylen);

/* logs.c: executor.logs {run_id, limit? 1-10000 (1000)}: the run's kept log lines under
 * workdir/transcripts (none yet: an empty list). On 0 *out is a new object
 * {run_id, lines, total, truncated}. */
int exec_logs(const char *workdir, const json_t *data, json_t **out, char *why,
    size_t whylen);

#endif
