/*
 * secret.c - the webhook secrets ingest verifies signatures with: the current one and,
 * during a rotation, the previous one. They come from jido-vault (github.webhook_secret;
 * version N-1 is served during the rotation's grace period) or, for tests and small
 * installs, from a 0600 file (ingest.webhook_secret_file: line 1 current, line 2 the
 * previous). Held in sodium_malloc'd memory, wiped when replaced; never logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ingest.h"

void
ingest_secrets_init(struct ingest_secrets *k)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
}

/* Replace both secrets (taking ownership of cur/prev) under the lock. */
static void
secrets_swap(struct ingest_secrets *k, unsigned char *cur, size_t cur_len,
    unsigned char *prev, size_t prev_len)
{
	unsigned char *oc, *op;

	pthread_mutex_lock(&k->mu);
	oc = k->cur;
	op = k->prev;
	k->cur = cur;
	k->cur_len = cur_len;
	k->prev = prev;
	k->prev_len = prev_len;
	k->loaded_ms = jido_now_ms();
	pthread_mutex_unlock(&k->mu);
	sodium_free(oc);
	sodium_free(op);
}

void
ingest_secrets_clear(struct ingest_secrets *k)
{
	pthread_mutex_lock(&k->mu);
	sodium_free(k->cur);
	sodium_free(k->prev);
	k->cur = k->prev = NULL;
	k->cur_len = k->prev_len = 0;
	pthread_mutex_unlock(&k->mu);
}

int
ingest_secrets_verify(struct ingest_secrets *k, const char *header, const void *body,
    size_t len)
{
	int rc;

	pthread_mutex_lock(&k->mu);
	if (k->cur == NULL)
		rc = JIDO_ESECRET;
	else {
		rc = ingest_sig_check(k->cur, k->cur_len, header, body, len);
		if (rc == JIDO_EAUTHZ && k->prev != NULL)
			rc = ingest_sig_check(k->prev, k->prev_len, header, body, len);
	}
	pthread_mutex_unlock(&k->mu);
	return rc;
}

/* Read a whole small private file into a sodium_malloc'd NUL-ended buffer. */
static int
secret_slurp(const char *path, unsigned char **out, size_t *len, int64_t *mtime, char *why,
    size_t whylen)
{
	struct stat st;
	unsigned char *buf;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
		return JIDO_ESECRET;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whylen, "%s is not a regular file", path);
		return JIDO_ESECRET;
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		snprintf(why, whylen, "%s is readable or writable by others (mode %03o); "
		    "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		return JIDO_ESECRET;
	}
	if (st.st_size > 2 * INGEST_SECRET_MAX + 2) {
		close(fd);
		snprintf(why, whylen, "%s is too large for a secret", path);
		return JIDO_ESECRET;
	}
	if ((buf = sodium_malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	if (mtime != NULL)
		*mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	return 0;
}

/* A sodium_malloc'd copy of n bytes of s. */
static unsigned char *
secret_dup(const void *s, size_t n)
{
	unsigned char *p = sodium_malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int
ingest_secrets_load_file(struct ingest_secrets *k, const char *path, char *why, size_t whylen)
{
	unsigned char *buf, *cur = NULL, *prev = NULL;
	size_t len, l1, l2 = 0;
	int64_t mtime = 0;
	char *nl;
	int rc;

	if ((rc = secret_slurp(path, &buf, &len, &mtime, why, whylen)) != 0)
		return rc;
	nl = memchr(buf, '\n', len);
	l1 = nl != NULL ? (size_t)(nl - (char *)buf) : len;
	if (l1 > 0 && buf[l1 - 1] == '\r')
		l1--;
	if (nl != NULL) {
		char *p2 = nl + 1, *nl2;
		size_t rest = len - (size_t)(p2 - (char *)buf);
		nl2 = memchr(p2, '\n', rest);
		l2 = nl2 != NULL ? (size_t)(nl2 - p2) : rest;
		if (l2 > 0 && p2[l2 - 1] == '\r')
			l2--;
		if (l2 > 0 && (prev = secret_dup(p2, l2)) == NULL)
			rc = JIDO_EINTERNAL;
	}
	if (rc == 0 && (l1 == 0 || l1 > INGEST_SECRET_MAX || l2 > INGEST_SECRET_MAX)) {
		snprintf(why, whylen, "%s: the first line must hold the secret (1-%d bytes)", path,
		    INGEST_SECRET_MAX);
		rc = JIDO_ESECRET;
	}
	if (rc == 0 && (cur = secret_dup(buf, l1)) == NULL)
		rc = JIDO_EINTERNAL;
	sodium_free(buf);
	if (rc != 0) {
		sodium_free(prev);
		if (rc == JIDO_EINTERNAL)
			snprintf(why, whylen, "out of memory");
		return rc;
	}
	secrets_swap(k, cur, l1, prev, l2);
	k->file_mtime = mtime;
	return 0;
}

int
ingest_secret_file_read(const char *path, char **out, char *why, size_t whylen)
{
	unsigned char *buf;
	size_t len;
	int rc;

	if ((rc = secret_slurp(path, &buf, &len, NULL, why, whylen)) != 0)
		return rc;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) != NULL) {
		sodium_free(buf);
		snprintf(why, whylen, "%s must hold one non-empty line", path);
		return JIDO_ESECRET;
	}
	*out = (char *)buf;
	return 0;
}

/* One vault.get of name at version (0: current) through lib's vault client. On 0, *value
 * and *len are sodium_malloc'd (the caller wipes and frees) and *got the version served;
 * an empty or oversized value is JIDO_ESECRET. */
static int
secret_vault_get(const struct jido_conf *c, const char *home, const char *name,
    int64_t version, unsigned char **value, size_t *len, int64_t *got, char *why, size_t whylen)
{
	char *v = NULL;
	int rc;

	if ((rc = jido_vault_get_version(c, home, name, "instance", version, &v, len, got, why,
	    whylen)) != 0)
		return rc;
	if (*len == 0 || *len > INGEST_SECRET_MAX) {
		sodium_memzero(v, *len);
		sodium_free(v);
		snprintf(why, whylen, "jido-vault answered without a usable value for %s", name);
		return JIDO_ESECRET;
	}
	*value = (unsigned char *)v;
	return 0;
}

int
ingest_vault_value(const struct jido_conf *c, const char *home, const char *name, char **out,
    char *why, size_t whylen)
{
	unsigned char *v = NULL;
	size_t len = 0;
	int64_t version = 0;
	int rc;

	if ((rc = secret_vault_get(c, home, name, 0, &v, &len, &version, why, whylen)) != 0)
		return rc;
	*out = (char *)v;
	return 0;
}

int
ingest_secrets_load_vault(struct ingest_secrets *k, const struct jido_conf *c, const char *home,
    char *why, size_t whylen)
{
	char pwhy[256];
	unsigned char *cur = NULL, *prev = NULL;
	size_t cur_len = 0, prev_len = 0;
	int64_t version = 0, pv = 0;
	int rc;

	if ((rc = secret_vault_get(c, home, "github.webhook_secret", 0, &cur, &cur_len, &version,
	    why, whylen)) != 0)
		return rc;
	/* The previous version answers only while its grace period lasts. */
	if (version > 1 && secret_vault_get(c, home, "github.webhook_secret", version - 1, &prev,
	    &prev_len, &pv, pwhy, sizeof(pwhy)) != 0) {
		prev = NULL;
		prev_len = 0;
	}
	secrets_swap(k, cur, cur_len, prev, prev_len);
	return 0;
}
