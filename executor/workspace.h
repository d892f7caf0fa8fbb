/*
 * workspace.h - per-project git checkouts for step runs: fetched read-only (never with a
 * push token), reset to the base, cleaned, on a new local branch; and the diff of the
 * workspace against the base afterwards. The git directory lives outside the work tree,
 * so nothing the agent writes in the workspace (hooks, config) is ever run by git here.
 */
#ifndef EXECUTOR_WORKSPACE_H
#define EXECUTOR_WORKSPACE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct ws {
	char wt[512];     /* work tree (bound at /work in the sandbox) */
	char gitdir[512]; /* its git directory, outside the work tree */
	char base_sha[64];
};

/* Check a repository full name ("owner/name"), a branch name and a clone URL (no user
 * info, no password; https, http, file or an absolute path). 0 or JIDO_EVALIDATION. */
int ws_check_repo(const char *repo, char *why, size_t whylen);
int ws_check_branch(const char *branch, char *why, size_t whylen);
int ws_check_url(const char *url, char *why, size_t whylen);

/* Fetch repo's base into the cached checkout under root (root/git/<owner>__<name>.git and
 * root/ws/<owner>__<name>), reset --hard to origin/<base>, clean -fdx, check out a new
 * local branch, apply diff (the run's work so far, `git diff` text against the base;
 * NULL or "" for none) to the work tree, and give the work tree to uid:gid (when running
 * as root). Fills *w. A diff that does not apply is JIDO_EEXEC naming git's reason. */
int ws_prepare(const char *root, const char *repo, const char *url, const char *base,
    const char *branch, const char *diff, uid_t uid, gid_t gid, struct ws *w, char *why,
    size_t whylen);

/* The workspace against its base: stage everything (new files included), then return a
 * new object {diff, diff_truncated, files_changed, lines_added, lines_removed,
 * binary_files:[path], files:[{path, added, removed, binary}]}; NULL with why on error.
 * max_diff caps the diff text in bytes. */
json_t *ws_diff(const struct ws *w, size_t max_diff, char *why, size_t whylen);

/* Run git with the hardened environment on w; stdout into *out (malloc'd, NUL-ended, at
 * most cap bytes kept; *trunc set when cut) when out is non-NULL. Returns git's exit
 * status, or -1 when it could not run (why says why). */
int ws_git(const struct ws *w, char **out, size_t cap, int *trunc, char *why, size_t whylen,
    const char *const *args);

#endif
