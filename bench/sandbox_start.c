/*
 * sandbox_start.c - start-to-exit of `jido-executor sandbox -- /bin/true` next to its
 * peers in the same run, interleaved round-robin so that machine noise hits all alike:
 * /bin/true alone, bare `unshare` with the same namespaces, and `bwrap --unshare-all`
 * with equivalent read-only binds. Prints median and p90 per command and the ratios.
 * usage: sandbox_start JIDO_EXECUTOR N
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Run argv with stdio on /dev/null; start-to-exit in µs, or -1 when it failed. */
static double
run_once(char *const *argv)
{
	double t0 = now_us();
	pid_t p = fork();
	int st;

	if (p == 0) {
		int nul = open("/dev/null", O_WRONLY);
		if (nul < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return now_us() - t0;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: sandbox_start JIDO_EXECUTOR N [BEFORE]\n");
		return 2;
	}
	char *jido = argv[1];
	int n = atoi(argv[2]);
	char *c_true[] = { "/bin/true", NULL };
	char *c_unshare[] = { "/usr/bin/unshare", "--user", "--map-root-user", "--net", "--pid",
		"--mount", "--ipc", "--uts", "--fork", "/bin/true", NULL };
	char *c_bwrap[] = { "/usr/bin/bwrap", "--unshare-all", "--die-with-parent",
		"--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib",
		"/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/sbin", "/sbin",
		"--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind", "/etc/ssl",
		"/etc/ssl", "--ro-bind", "/etc/nsswitch.conf", "/etc/nsswitch.conf",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home/agent",
		"--dir", "/work", "--chdir", "/work", "--clearenv", "/bin/true", NULL };
	char *c_jido[] = { jido, "sandbox", "--", "/bin/true", NULL };
	char *c_jido_nocg[] = { jido, "sandbox", "--no-cgroups", "--", "/bin/true", NULL };
	char *c_before[] = { argc == 4 ? argv[3] : jido, "sandbox", "--", "/bin/true", NULL };
	struct { const char *name; char **argv; double *t; int ok; } cmds[] = {
		{ "/bin/true alone", c_true, NULL, 0 },
		{ "bare unshare (user,net,pid,mount,ipc,uts)", c_unshare, NULL, 0 },
		{ "bwrap --unshare-all, ro binds", c_bwrap, NULL, 0 },
		{ "jido-executor sandbox (all limits, cgroups)", c_jido, NULL, 0 },
		{ "jido-executor sandbox --no-cgroups", c_jido_nocg, NULL, 0 },
		{ "before: jido-executor sandbox (cgroups)", c_before, NULL, 0 },
	};
	size_t nc = sizeof(cmds) / sizeof(cmds[0]) - (argc == 4 ? 0 : 1);
	double med[8] = { 0 }, p10[8] = { 0 };

	for (size_t c = 0; c < nc; c++)
		cmds[c].t = calloc((size_t)n, sizeof(double));
	for (int i = 0; i < n; i++)
		for (size_t c = 0; c < nc; c++) {
			double t = run_once(cmds[c].argv);
			if (t >= 0)
				cmds[c].t[cmds[c].ok++] = t;
		}
	printf("sandbox start-to-exit, %d interleaved runs each (µs)\n", n);
	for (size_t c = 0; c < nc; c++) {
		if (cmds[c].ok == 0) {
			printf("  %-46s failed\n", cmds[c].name);
			continue;
		}
		qsort(cmds[c].t, (size_t)cmds[c].ok, sizeof(double), cmp);
		med[c] = cmds[c].t[cmds[c].ok / 2];
		p10[c] = cmds[c].t[cmds[c].ok / 10];
		printf("  %-46s median %8.0f  p90 %8.0f  p10 %8.0f  (%d ok)\n", cmds[c].name,
		    med[c], cmds[c].t[cmds[c].ok * 9 / 10], p10[c], cmds[c].ok);
	}
	if (med[2] > 0 && med[3] > 0)
		printf("  ratio jido / bwrap = %.2f (cgroups), %.2f (no cgroups); jido / bare unshare = %.2f\n",
		    med[3] / med[2], med[4] / med[2], med[1] > 0 ? med[3] / med[1] : 0);
	/* On a loaded machine the median is mostly waiting for a CPU; the fastest tenth is
	 * closer to what each start costs by itself. */
	if (p10[2] > 0 && p10[3] > 0)
		printf("  p10 ratio jido / bwrap = %.2f (cgroups), %.2f (no cgroups)\n",
		    p10[3] / p10[2], p10[4] / p10[2]);
	if (nc == 6 && med[5] > 0 && med[2] > 0)
		printf("  ratio before / bwrap = %.2f; after / before = %.2f\n", med[5] / med[2],
		    med[3] / med[5]);
	for (size_t c = 0; c < nc; c++)
		free(cmds[c].t);
	return 0;
}
