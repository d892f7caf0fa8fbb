/*
 * executor.h - what the executor's files share: the sandbox command, workspace helpers,
 * size parsing. The sandbox itself is declared in sandbox.h.
 */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <sys/types.h>

/* `jido-executor sandbox ...` (cli.c); -1 when argv[0] is not an executor command. */
int executor_command(int argc, char **argv);
int executor_cli_sandbox(int argc, char **argv);
/* chown -R dir (not following symlinks) to uid:gid, so the sandbox's agent owns it. */
int sandbox_workspace_own(const char *dir, uid_t uid, gid_t gid);
/* "512" (MiB), "512m", "2g", "64k", "100b" -> bytes; -1 when malformed. */
long long sandbox_parse_size(const char *s);

#endif
