/*
 * util.c - small helpers every process needs: directories, paths, clocks, the list of
 * the stack's processes, a growable string, wiping frees.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"

const char *const jido_procs[] = { "vault", "auditor", "planner", "gateway", "gitops",
	"executor", "ingest", "web", NULL };

int
jido_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return JIDO_EVALIDATION;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return JIDO_EINTERNAL;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return JIDO_EINTERNAL;
	return 0;
}

int
jido_abspath(const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/')
		n = snprintf(buf, len, "%s", path);
	else {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return JIDO_EINTERNAL;
		if (strcmp(path, ".") == 0)
			n = snprintf(buf, len, "%s", cwd);
		else
			n = snprintf(buf, len, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ?
			    path + 2 : path);
	}
	if (n < 0 || (size_t)n >= len)
		return JIDO_EVALIDATION;
	/* drop a trailing slash */
	if (n > 1 && buf[n - 1] == '/')
		buf[n - 1] = '\0';
	return 0;
}

int64_t
jido_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
jido_time_rfc3339(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

int
jido_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i]) != NULL))
			return 0;
	return 1;
}

void
jido_free_wiped(void *p, size_t n)
{
	if (p == NULL)
		return;
	sodium_memzero(p, n);
	if (jido_wipe_observe != NULL)
		jido_wipe_observe(p, n);
	free(p);
}

void
jido_buf_put(struct jido_buf *b, const char *s, size_t n)
{
	if (b->fail)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = b->wipe ? malloc(cap) : realloc(b->p, cap);
		if (p == NULL) {
			b->fail = 1;
			return;
		}
		if (b->wipe && b->p != NULL) {
			memcpy(p, b->p, b->n);
			jido_free_wiped(b->p, b->cap);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void
jido_buf_puts(struct jido_buf *b, const char *s)
{
	jido_buf_put(b, s, strlen(s));
}

size_t
jido_buf_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct jido_buf *b = arg;
	size_t n = size * nmemb;

	if (b->max > 0 && (n > b->max || b->n > b->max - n)) {
		b->too_big = 1;
		return 0;
	}
	jido_buf_put(b, data, n);
	return b->fail ? 0 : n;
}

int
jido_fail(int code, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return code;
}
