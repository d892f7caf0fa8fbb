/*
 * curl_lazy.h - libcurl for the fetch_issue step, loaded on first use.
 * The executor is started for every `jido-executor sandbox` and every step's job; linking
 * libcurl would map some thirty libraries (TLS stacks, Kerberos, LDAP) into each start
 * for the one step kind that needs HTTP. curl_lazy_get() dlopens libcurl.so.4 once and
 * hands out the few entry points the step uses.
 */
#ifndef JIDO_CURL_LAZY_H
#define JIDO_CURL_LAZY_H

#include <curl/curl.h>

struct curl_lazy {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
};

/*
 * The loaded table, or NULL with why filled (dlerror's text) when libcurl cannot be
 * loaded. The table is static and lives until exit; the library is never unloaded.
 * Not thread-safe on the first call (the job process is single-threaded).
 */
const struct curl_lazy *curl_lazy_get(char *why, size_t whylen);

#endif
