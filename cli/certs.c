/*
 * certs.c - `jido certs`: the certificates for executors on other hosts (mutual TLS on
 * the planner's tls+tcp:// executor listener). Made with the openssl program (EC P-256,
 * PEM, what nng's TLS reads):
 *   jido certs init DIR --host H [--host H...]  a CA (ca.pem, ca.key) and the planner's
 *                                               server certificate (planner.pem/.key)
 *                                               for the names or addresses H
 *   jido certs executor DIR NAME                a client certificate NAME.pem/.key for
 *                                               one executor, signed by DIR's CA
 * Keys are written 0600; an existing file is never overwritten (conflict, exit 4).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define CERTS_MAX_HOSTS 16

/* Run argv (openssl ...) with its output to /dev/null; 0 when it exited 0. */
static int
certs_run(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
certs_exists(const char *dir, const char *name, const char *ext)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s%s", dir, name, ext);
	return access(p, F_OK) == 0;
}

/* Key + CSR for CN=name, signed by DIR/ca.pem with the extensions ext. */
static int
certs_leaf(const char *dir, const char *name, const char *ext)
{
	char key[4200], csr[4200], pem[4200], extf[4200], ca[4200], cakey[4200], subj[128];
	FILE *f;
	int rc;

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(csr, sizeof(csr), "%s/%s.csr", dir, name);
	snprintf(pem, sizeof(pem), "%s/%s.pem", dir, name);
	snprintf(extf, sizeof(extf), "%s/%s.ext", dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(subj, sizeof(subj), "/CN=%s", name);
	if ((f = fopen(extf, "we")) == NULL)
		return -1;
	fputs(ext, f);
	if (fclose(f) != 0)
		return -1;
	char *req[] = { "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj",
		subj, NULL };
	char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
		"-CAcreateserial", "-days", "825", "-sha256", "-extfile", extf, "-out", pem, NULL };
	rc = certs_run(req) == 0 && certs_run(sign) == 0 ? 0 : -1;
	unlink(csr);
	unlink(extf);
	if (rc == 0)
		chmod(key, 0600);
	return rc;
}

static int
certs_init(int argc, char **argv)
{
	const char *dir = NULL, *hosts[CERTS_MAX_HOSTS];
	int nh = 0;
	char ext[2048], ca[4200], cakey[4200];
	size_t off;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc && nh < CERTS_MAX_HOSTS)
			hosts[nh++] = argv[++i];
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			return cli_fail(CLI_USAGE, "usage", "jido certs init DIR --host NAME|ADDRESS "
			    "[--host ...] (at most %d)", CERTS_MAX_HOSTS);
	}
	if (dir == NULL || nh == 0)
		return cli_fail(CLI_USAGE, "usage", "jido certs init DIR --host NAME|ADDRESS "
		    "[--host ...]: the planner's names as executors dial it");
	for (int i = 0; i < nh; i++)
		if (strlen(hosts[i]) == 0 || strlen(hosts[i]) > 253 ||
		    strpbrk(hosts[i], ",= \t\n/") != NULL)
			return cli_fail(CLI_USAGE, "usage", "--host '%s' is not a host name or address",
			    hosts[i]);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(CLI_SYS, "certs", "cannot create %s: %s", dir, strerror(errno));
	if (certs_exists(dir, "ca", ".pem") || certs_exists(dir, "ca", ".key") ||
	    certs_exists(dir, "planner", ".pem"))
		return cli_fail(CLI_CONFLICT, "certs", "%s already holds a CA or a planner "
		    "certificate; remove them first to make new ones", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	char *mk[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", cakey, "-out", ca, "-days",
		"3650", "-sha256", "-subj", "/CN=JidoCode executors CA", "-addext",
		"basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		NULL };
	if (certs_run(mk) != 0)
		return cli_fail(CLI_SYS, "certs", "openssl could not make the CA in %s (is the "
		    "openssl program installed?)", dir);
	chmod(cakey, 0600);
	/* mbedtls 2 (nng's TLS) matches the dialled host against DNS names only: an address
	 * is listed as both IP and DNS. */
	off = (size_t)snprintf(ext, sizeof(ext), "basicConstraints=critical,CA:FALSE\n"
	    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
	    "subjectAltName=");
	for (int i = 0; i < nh && off < sizeof(ext); i++) {
		unsigned char a[16];
		int ip = inet_pton(AF_INET, hosts[i], a) == 1 || inet_pton(AF_INET6, hosts[i], a) == 1;
		off += (size_t)snprintf(ext + off, sizeof(ext) - off, "%sDNS:%s%s%s", i ? "," : "",
		    hosts[i], ip ? ",IP:" : "", ip ? hosts[i] : "");
	}
	if (off < sizeof(ext))
		snprintf(ext + off, sizeof(ext) - off, "\n");
	if (certs_leaf(dir, "planner", ext) != 0)
		return cli_fail(CLI_SYS, "certs", "openssl could not make the planner certificate");
	printf("CA         %s/ca.pem (key %s/ca.key: keep it offline)\n", dir, dir);
	printf("planner    %s/planner.pem, %s/planner.key\n", dir, dir);
	printf("next       jido certs executor %s NAME   (one per executor host)\n", dir);
	return 0;
}

static int
certs_executor(int argc, char **argv)
{
	const char *dir, *name;
	char ca[4200];

	if (argc != 4)
		return cli_fail(CLI_USAGE, "usage", "jido certs executor DIR NAME");
	dir = argv[2];
	name = argv[3];
	if (!jido_name_ok(name) || strcmp(name, "ca") == 0 || strcmp(name, "planner") == 0)
		return cli_fail(CLI_USAGE, "usage", "NAME must be 1-63 of [A-Za-z0-9._-] and not "
		    "ca or planner");
	snprintf(ca, sizeof(ca), "%s/ca.key", dir);
	if (access(ca, R_OK) != 0)
		return cli_fail(CLI_NOTFOUND, "certs", "no CA key in %s (run jido certs init "
		    "first)", dir);
	if (certs_exists(dir, name, ".pem") || certs_exists(dir, name, ".key"))
		return cli_fail(CLI_CONFLICT, "certs", "%s/%s.pem exists already", dir, name);
	if (certs_leaf(dir, name, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,"
	    "digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n") != 0)
		return cli_fail(CLI_SYS, "certs", "openssl could not make the certificate for %s",
		    name);
	printf("executor   %s/%s.pem, %s/%s.key (with %s/ca.pem, copy to the executor host)\n",
	    dir, name, dir, name, dir);
	return 0;
}

int
cli_certs(struct cli *c, int argc, char **argv)
{
	(void)c;
	umask(077);
	if (argc >= 2 && strcmp(argv[1], "init") == 0)
		return certs_init(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "executor") == 0)
		return certs_executor(argc, argv);
	return cli_fail(CLI_USAGE, "usage", "jido certs init DIR --host H [--host H...] | "
	    "jido certs executor DIR NAME");
}
