/*
 * cred.c - per-process credentials: how a process proves to the vault (and any other
 * peer that must know who is calling) which JidoCode process it is, when all processes
 * run as one uid. `jido up` (or the deploy files) makes a random credential per process,
 * hands each process its own (env JIDO_PROC_CRED or a file named by JIDO_PROC_CRED_FILE),
 * and writes the table of SHA-256 hashes to $JIDO_HOME/run/creds (0600) for verifiers.
 * A process reads its credential once at start and scrubs it from its environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"

#define CRED_HEX 65 /* 32 bytes as hex + NUL */

static char cred_self[CRED_HEX];

const char *
jido_cred_self(void)
{
	return cred_self[0] != '\0' ? cred_self : NULL;
}

/* Read this process's credential (env or file), then remove it from the environment so
 * programs this process runs never inherit it. */
int
jido_cred_load_self(void)
{
	const char *v = getenv("JIDO_PROC_CRED"), *file = getenv("JIDO_PROC_CRED_FILE");
	char buf[CRED_HEX + 2];

	if (v != NULL) {
		snprintf(cred_self, sizeof(cred_self), "%s", v);
		sodium_memzero((void *)v, strlen(v));
		unsetenv("JIDO_PROC_CRED");
	} else if (file != NULL) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		ssize_t n;
		if (fd < 0)
			return JIDO_ESECRET;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return JIDO_ESECRET;
		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		snprintf(cred_self, sizeof(cred_self), "%s", buf);
		sodium_memzero(buf, sizeof(buf));
	}
	return 0;
}

void
jido_cred_hash(const char *cred, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)cred, strlen(cred));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

int
jido_cred_new(char out[65])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, 65, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

int
jido_cred_table_write(const char *home, const char *const *names, char (*creds)[65])
{
	char path[4200], tmp[4210], hash[65];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/run/creds", home);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return JIDO_EINTERNAL;
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return JIDO_EINTERNAL;
	}
	for (int i = 0; names[i] != NULL; i++) {
		jido_cred_hash(creds[i], hash);
		fprintf(f, "%s %s\n", names[i], hash);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return JIDO_EINTERNAL;
	}
	fclose(f);
	return rename(tmp, path) == 0 ? 0 : JIDO_EINTERNAL;
}

int
jido_cred_lookup(const char *table, const char *cred, char *name, size_t len)
{
	char hash[65];
	const char *line = table;

	if (table == NULL || cred == NULL || strlen(cred) != 64)
		return JIDO_EAUTHZ;
	jido_cred_hash(cred, hash);
	while (line != NULL && *line != '\0') {
		const char *sp = strchr(line, ' '), *nl = strchr(line, '\n');
		if (sp != NULL && (nl == NULL || sp < nl) &&
		    strlen(sp + 1) >= 64 && sodium_memcmp(sp + 1, hash, 64) == 0) {
			size_t n = (size_t)(sp - line);
			if (n >= len)
				return JIDO_EAUTHZ;
			memcpy(name, line, n);
			name[n] = '\0';
			return 0;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return JIDO_EAUTHZ;
}
