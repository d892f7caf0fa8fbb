/*
 * job.h - one step run, from request to result, in its own process (forked by the
 * spawner, outside the executor's seccomp allowlist): workspace, sandbox, output lines,
 * diff. It talks to the daemon through one descriptor of JSON lines (see job.c).
 */
#ifndef EXECUTOR_JOB_H
#define EXECUTOR_JOB_H

#include <jansson.h>

/* Run the step described by req (the executor.step.run data plus a "config" object the
 * daemon adds) and write JSON lines to evfd: {"stream":"stdout"|"stderr"|"event",
 * "line":...} while it runs, then one {"result":{...}} line. Returns the process exit
 * code (0 when a result was written). Borrowed req; evfd is closed on return. */
int job_run(const json_t *req, int evfd);

/* The spawner (spawner.c): forked by the daemon's prefork hook, while it has one thread
 * and before its allowlist, it forks one job process per request. spawner_start returns
 * the daemon's end of the request socket, or -1 with why (also when the caller has more
 * than one thread: see spawner.c). spawner_submit sends req (borrowed) and returns the
 * read end of the job's event pipe, or -1 with why. */
int spawner_start(char *why, size_t whylen);
/* The threads of the calling process (/proc/self/task), or -1 when it cannot be read. */
int spawner_threads(void);
/* The spawner's own seccomp allowlist (spawner.c), installed by spawner_start's child. */
struct jido_allow;
extern const struct jido_allow spawner_allow;
int spawner_submit(int spfd, const json_t *req, char *why, size_t whylen);

#endif
