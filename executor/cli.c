/*
 * cli.c - `jido-executor sandbox [options] -- CMD ...`: runs any command in the same
 * sandbox the daemon runs steps in, so it can be tried and tested at the shell. Exit
 * status: the command's, 124 when the timeout killed it, 125 when the sandbox could not
 * be built, 2 for a usage error.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jido.h"
#include "sandbox.h"
#include "executor.h"
#include "job.h"

static uid_t cli_own_uid;
static gid_t cli_own_gid;

static int
cli_chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (st->st_uid == cli_own_uid && st->st_gid == cli_own_gid)
		return 0;
	return lchown(path, cli_own_uid, cli_own_gid) == 0 ? 0 : -1;
}

int
sandbox_workspace_own(const char *dir, uid_t uid, gid_t gid)
{
	cli_own_uid = uid;
	cli_own_gid = gid;
	return nftw(dir, cli_chown_one, 32, FTW_PHYS) == 0 ? 0 : -1;
}

/* "512", "512m", "2g", "64k" -> bytes (a bare number is MiB). -1 when malformed. */
long long
sandbox_parse_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return -1;
	switch (*end) {
	case '\0': case 'm': case 'M': v <<= 20; break;
	case 'k': case 'K': v <<= 10; break;
	case 'g': case 'G': v <<= 30; break;
	case 'b': case 'B': break;
	default: return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	return v;
}

static int
cli_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
cli_usage(const char *msg, const char *arg)
{
	if (strcmp(msg, "--help") != 0)
		fprintf(stderr, "jido-executor: usage failed: %s%s%s\n", msg, arg ? ": " : "",
		    arg ? arg : "");
	fprintf(strcmp(msg, "--help") == 0 ? stdout : stderr,
	    "usage: jido-executor sandbox [--workspace DIR] [--net none|gateway]\n"
	    "         [--gateway-sock PATH] [--gateway-port N] [--timeout S] [--memory M]\n"
	    "         [--pids N] [--fsize M] [--as M] [--tmp-size M] [--cpu S] [--cpus N]\n"
	    "         [--ro-bind PATH]...\n"
	    "         [--env KEY=VALUE]... [--uid UID] [--no-cgroups] -- CMD ...\n"
	    "exit: the command's status, 124 timed out (tree killed), 125 no sandbox, 2 usage\n");
	return 2;
}

int
executor_cli_sandbox(int argc, char **argv)
{
	struct sandbox_spec spec;
	struct sandbox sb;
	struct sandbox_result res;
	char *env[64];
	char why[512];
	size_t nenv = 0, nbind = 0;
	int i, rc, v;

	sandbox_spec_init(&spec);
	if (geteuid() != 0) {
		spec.host_uid = geteuid();
		spec.host_gid = getegid();
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			cli_usage("--help", NULL);
			return 0;
		}
		if (strcmp(a, "--no-cgroups") == 0) {
			spec.cgroups = 0;
			continue;
		}
		if (val == NULL)
			return cli_usage("missing value for", a);
		i++;
		if (strcmp(a, "--workspace") == 0)
			spec.workspace = val;
		else if (strcmp(a, "--net") == 0) {
			if (strcmp(val, "none") == 0)
				spec.net = SANDBOX_NET_NONE;
			else if (strcmp(val, "gateway") == 0)
				spec.net = SANDBOX_NET_GATEWAY;
			else
				return cli_usage("--net is none or gateway, not", val);
		} else if (strcmp(a, "--gateway-sock") == 0)
			spec.gateway_sock = val;
		else if (strcmp(a, "--gateway-port") == 0) {
			if (cli_int(val, 1024, 65535, &spec.gateway_port) != 0)
				return cli_usage("--gateway-port is 1024-65535, not", val);
		} else if (strcmp(a, "--timeout") == 0) {
			if (cli_int(val, 0, 86400 * 7, &spec.timeout_s) != 0)
				return cli_usage("--timeout is seconds, not", val);
		} else if (strcmp(a, "--cpu") == 0) {
			if (cli_int(val, 0, 86400 * 7, &spec.cpu_s) != 0)
				return cli_usage("--cpu is seconds, not", val);
		} else if (strcmp(a, "--cpus") == 0) {
			if (cli_int(val, 1, 1024, &spec.cpus) != 0)
				return cli_usage("--cpus is a whole number of CPUs, not", val);
		} else if (strcmp(a, "--pids") == 0) {
			if (cli_int(val, 1, 1 << 20, &spec.pids) != 0)
				return cli_usage("--pids is a count, not", val);
		} else if (strcmp(a, "--uid") == 0) {
			if (cli_int(val, 1, 1 << 30, &v) != 0)
				return cli_usage("--uid is a non-root uid, not", val);
			spec.host_uid = (uid_t)v;
			spec.host_gid = (gid_t)v;
		} else if (strcmp(a, "--memory") == 0) {
			if ((spec.memory = sandbox_parse_size(val)) < 0)
				return cli_usage("--memory is a size (512m, 2g), not", val);
		} else if (strcmp(a, "--fsize") == 0) {
			if ((spec.fsize = sandbox_parse_size(val)) < 0)
				return cli_usage("--fsize is a size, not", val);
		} else if (strcmp(a, "--tmp-size") == 0) {
			if ((spec.tmp_size = sandbox_parse_size(val)) <= 0)
				return cli_usage("--tmp-size is a size, not", val);
		} else if (strcmp(a, "--as") == 0) {
			if ((spec.as = sandbox_parse_size(val)) < 0)
				return cli_usage("--as is a size, not", val);
		} else if (strcmp(a, "--ro-bind") == 0) {
			if (val[0] != '/' || nbind >= SANDBOX_MAX_BINDS - 1)
				return cli_usage("--ro-bind takes an absolute path (at most 15)", val);
			spec.ro_binds[nbind++] = val;
		} else if (strcmp(a, "--env") == 0) {
			if (strchr(val, '=') == NULL || val[0] == '=' || nenv >= 63)
				return cli_usage("--env takes KEY=VALUE", val);
			env[nenv++] = (char *)val;
		} else
			return cli_usage("unknown option", a);
	}
	if (i >= argc)
		return cli_usage("no command given after --", NULL);
	env[nenv] = NULL;
	spec.envp = env;
	spec.argv = argv + i;
	if (geteuid() == 0 && spec.host_uid == 0)
		return cli_usage("the sandbox never maps to host root", NULL);
	if (spec.workspace != NULL && geteuid() == 0 &&
	    sandbox_workspace_own(spec.workspace, spec.host_uid, spec.host_gid) != 0) {
		fprintf(stderr, "jido-executor: sandbox failed: cannot give %s to uid %u: %s\n",
		    spec.workspace, (unsigned)spec.host_uid, strerror(errno));
		return 125;
	}
	/* The same stack of filters as a step run by the daemon: the spawner's list here,
	 * the agent policy inside. */
	if (sandbox_spawner_seccomp_install() != 0) {
		fprintf(stderr, "jido-executor: sandbox failed: cannot install the allowlist\n");
		return 125;
	}
	if ((rc = sandbox_start(&spec, &sb, why, sizeof(why))) != 0) {
		fprintf(stderr, "jido-executor: sandbox failed: %s\n", why);
		return rc == JIDO_EVALIDATION ? 2 : 125;
	}
	while (sandbox_wait(&sb, -1, &res) == 0)
		;
	if (res.timed_out) {
		fprintf(stderr, "jido-executor: sandbox: timed out after %d s; the whole process "
		    "tree was killed\n", spec.timeout_s);
		return 124;
	}
	return res.exit_code;
}

int
executor_command(int argc, char **argv)
{
	if (strcmp(argv[0], "sandbox") == 0)
		return executor_cli_sandbox(argc, argv);
	return -1;
}
