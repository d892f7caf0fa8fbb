/*
 * curl_shim.c - libcurl's entry points, with libcurl itself loaded on first use.
 *
 * Debian's libcurl pulls in some thirty libraries (OpenSSL, GnuTLS via librtmp, Kerberos,
 * LDAP, ssh2, nghttp2, ...). Linked normally, every process that might make an HTTP call
 * maps and relocates all of them at start, which costs 6-7 MB of resident memory per
 * process and a few milliseconds of start-up, although most of them are idle most of the
 * time (ingest polls GitHub every few minutes, web only calls out for notifications,
 * gitops's daemon never: its ship worker does). These definitions stand in for libcurl's
 * own at link time: the binaries do not link -lcurl; the first call that needs libcurl
 * dlopens libcurl.so.4 (once, thread-safe), runs the real curl_global_init with the flags
 * the program asked for, and forwards. The code calling curl stays plain libcurl code.
 *
 * Failure to load (no libcurl on the machine, or a dlsym miss) is sticky: constructors
 * (curl_easy_init, curl_multi_init, curl_slist_append, curl_easy_escape) return NULL,
 * calls taking a handle cannot happen (there is none), and curl_easy_strerror/
 * curl_multi_strerror answer with the loader's reason. jido_curl_error() returns it.
 *
 * The load happens after a process installed its seccomp allowlist: dlopen needs only
 * openat, read, pread64, newfstatat, mmap, mprotect, munmap and close, which every
 * allowlist has (lib/seccomp.c's base list); each process's e2e test exercises the path.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "jido.h"

typedef void (*curl_shim_fn)(void);

static struct {
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURL *(*easy_duphandle)(CURL *);
	CURLcode (*easy_pause)(CURL *, int);
	char *(*easy_escape)(CURL *, const char *, int);
	char *(*easy_unescape)(CURL *, const char *, int, int *);
	void (*free)(void *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMcode (*multi_wakeup)(CURLM *);
	CURLMcode (*multi_cleanup)(CURLM *);
	const char *(*multi_strerror)(CURLMcode);
	curl_version_info_data *(*version_info)(CURLversion);
} curl_shim;

static pthread_once_t curl_shim_once = PTHREAD_ONCE_INIT;
static long curl_shim_flags = CURL_GLOBAL_DEFAULT;
static int curl_shim_state; /* 0 not tried, 1 loaded, -1 failed */
static char curl_shim_why[256];

/* Runs once: dlopen, resolve every entry point, run the real global init. */
static void
curl_shim_load(void)
{
	void *h;

	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(curl_shim_why, sizeof(curl_shim_why), "cannot load libcurl: %s", dlerror());
		curl_shim_state = -1;
		return;
	}
#define SHIM_SYM(field, name) \
	if ((*(void **)&curl_shim.field = dlsym(h, name)) == NULL) { \
		snprintf(curl_shim_why, sizeof(curl_shim_why), "libcurl has no %s", name); \
		curl_shim_state = -1; \
		return; \
	}
	SHIM_SYM(global_init, "curl_global_init")
	SHIM_SYM(global_cleanup, "curl_global_cleanup")
	SHIM_SYM(easy_init, "curl_easy_init")
	SHIM_SYM(easy_setopt, "curl_easy_setopt")
	SHIM_SYM(easy_perform, "curl_easy_perform")
	SHIM_SYM(easy_getinfo, "curl_easy_getinfo")
	SHIM_SYM(easy_strerror, "curl_easy_strerror")
	SHIM_SYM(easy_cleanup, "curl_easy_cleanup")
	SHIM_SYM(easy_reset, "curl_easy_reset")
	SHIM_SYM(easy_duphandle, "curl_easy_duphandle")
	SHIM_SYM(easy_pause, "curl_easy_pause")
	SHIM_SYM(easy_escape, "curl_easy_escape")
	SHIM_SYM(easy_unescape, "curl_easy_unescape")
	SHIM_SYM(free, "curl_free")
	SHIM_SYM(slist_append, "curl_slist_append")
	SHIM_SYM(slist_free_all, "curl_slist_free_all")
	SHIM_SYM(multi_init, "curl_multi_init")
	SHIM_SYM(multi_setopt, "curl_multi_setopt")
	SHIM_SYM(multi_add_handle, "curl_multi_add_handle")
	SHIM_SYM(multi_remove_handle, "curl_multi_remove_handle")
	SHIM_SYM(multi_socket_action, "curl_multi_socket_action")
	SHIM_SYM(multi_assign, "curl_multi_assign")
	SHIM_SYM(multi_info_read, "curl_multi_info_read")
	SHIM_SYM(multi_perform, "curl_multi_perform")
	SHIM_SYM(multi_poll, "curl_multi_poll")
	SHIM_SYM(multi_wakeup, "curl_multi_wakeup")
	SHIM_SYM(multi_cleanup, "curl_multi_cleanup")
	SHIM_SYM(multi_strerror, "curl_multi_strerror")
	SHIM_SYM(version_info, "curl_version_info")
#undef SHIM_SYM
	if (curl_shim.global_init(curl_shim_flags) != CURLE_OK) {
		snprintf(curl_shim_why, sizeof(curl_shim_why), "curl_global_init failed");
		curl_shim_state = -1;
		return;
	}
	curl_shim_state = 1;
}

/* 1 when libcurl is usable (loading it now if needed), 0 when it cannot be. */
static int
curl_shim_ready(void)
{
	pthread_once(&curl_shim_once, curl_shim_load);
	return curl_shim_state == 1;
}

int
jido_curl_loaded(void)
{
	return curl_shim_state == 1;
}

const char *
jido_curl_error(void)
{
	return curl_shim_state == -1 ? curl_shim_why : NULL;
}

/* Deferred: remembers the flags for the load; the real init runs with the first use. */
CURLcode
curl_global_init(long flags)
{
	if (curl_shim_state == 0)
		curl_shim_flags = flags;
	return CURLE_OK;
}

void
curl_global_cleanup(void)
{
	if (curl_shim_state == 1)
		curl_shim.global_cleanup();
}

CURL *
curl_easy_init(void)
{
	return curl_shim_ready() ? curl_shim.easy_init() : NULL;
}

/* The one argument after the option, by the option's type range (as libcurl reads it). */
CURLcode
curl_easy_setopt(CURL *c, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (!curl_shim_ready())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = curl_shim.easy_setopt(c, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = curl_shim.easy_setopt(c, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = curl_shim.easy_setopt(c, opt, va_arg(ap, curl_shim_fn));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = curl_shim.easy_setopt(c, opt, va_arg(ap, curl_off_t));
	else
		rc = curl_shim.easy_setopt(c, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode
curl_easy_perform(CURL *c)
{
	return curl_shim_ready() ? curl_shim.easy_perform(c) : CURLE_FAILED_INIT;
}

/* Every CURLINFO takes one pointer. */
CURLcode
curl_easy_getinfo(CURL *c, CURLINFO info, ...)
{
	va_list ap;
	CURLcode rc;

	if (!curl_shim_ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = curl_shim.easy_getinfo(c, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *
curl_easy_strerror(CURLcode cc)
{
	return curl_shim_ready() ? curl_shim.easy_strerror(cc) : curl_shim_why;
}

void
curl_easy_cleanup(CURL *c)
{
	if (c != NULL && curl_shim_state == 1)
		curl_shim.easy_cleanup(c);
}

void
curl_easy_reset(CURL *c)
{
	if (c != NULL && curl_shim_state == 1)
		curl_shim.easy_reset(c);
}

CURL *
curl_easy_duphandle(CURL *c)
{
	return curl_shim_ready() ? curl_shim.easy_duphandle(c) : NULL;
}

CURLcode
curl_easy_pause(CURL *c, int bitmask)
{
	return curl_shim_ready() ? curl_shim.easy_pause(c, bitmask) : CURLE_FAILED_INIT;
}

char *
curl_easy_escape(CURL *c, const char *s, int len)
{
	return curl_shim_ready() ? curl_shim.easy_escape(c, s, len) : NULL;
}

char *
curl_easy_unescape(CURL *c, const char *s, int len, int *outlen)
{
	return curl_shim_ready() ? curl_shim.easy_unescape(c, s, len, outlen) : NULL;
}

void
curl_free(void *p)
{
	if (p != NULL && curl_shim_state == 1)
		curl_shim.free(p);
}

struct curl_slist *
curl_slist_append(struct curl_slist *l, const char *s)
{
	return curl_shim_ready() ? curl_shim.slist_append(l, s) : NULL;
}

void
curl_slist_free_all(struct curl_slist *l)
{
	if (l != NULL && curl_shim_state == 1)
		curl_shim.slist_free_all(l);
}

CURLM *
curl_multi_init(void)
{
	return curl_shim_ready() ? curl_shim.multi_init() : NULL;
}

/* As for easy options: the argument's type follows the option's range. */
CURLMcode
curl_multi_setopt(CURLM *m, CURLMoption opt, ...)
{
	va_list ap;
	CURLMcode rc;

	if (!curl_shim_ready())
		return CURLM_INTERNAL_ERROR;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = curl_shim.multi_setopt(m, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = curl_shim.multi_setopt(m, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = curl_shim.multi_setopt(m, opt, va_arg(ap, curl_shim_fn));
	else
		rc = curl_shim.multi_setopt(m, opt, va_arg(ap, curl_off_t));
	va_end(ap);
	return rc;
}

CURLMcode
curl_multi_add_handle(CURLM *m, CURL *c)
{
	return curl_shim_ready() ? curl_shim.multi_add_handle(m, c) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_remove_handle(CURLM *m, CURL *c)
{
	return curl_shim_ready() ? curl_shim.multi_remove_handle(m, c) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	return curl_shim_ready() ? curl_shim.multi_socket_action(m, s, ev, running) :
	    CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_assign(CURLM *m, curl_socket_t s, void *p)
{
	return curl_shim_ready() ? curl_shim.multi_assign(m, s, p) : CURLM_INTERNAL_ERROR;
}

CURLMsg *
curl_multi_info_read(CURLM *m, int *left)
{
	return curl_shim_ready() ? curl_shim.multi_info_read(m, left) : NULL;
}

CURLMcode
curl_multi_perform(CURLM *m, int *running)
{
	return curl_shim_ready() ? curl_shim.multi_perform(m, running) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_poll(CURLM *m, struct curl_waitfd *fds, unsigned int n, int ms, int *ret)
{
	return curl_shim_ready() ? curl_shim.multi_poll(m, fds, n, ms, ret) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_wakeup(CURLM *m)
{
	return curl_shim_ready() ? curl_shim.multi_wakeup(m) : CURLM_INTERNAL_ERROR;
}

CURLMcode
curl_multi_cleanup(CURLM *m)
{
	return m != NULL && curl_shim_state == 1 ? curl_shim.multi_cleanup(m) : CURLM_OK;
}

const char *
curl_multi_strerror(CURLMcode mc)
{
	return curl_shim_ready() ? curl_shim.multi_strerror(mc) : curl_shim_why;
}

curl_version_info_data *
curl_version_info(CURLversion v)
{
	return curl_shim_ready() ? curl_shim.version_info(v) : NULL;
}
