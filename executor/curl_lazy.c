/*
 * curl_lazy.c - dlopen libcurl on first use (see curl_lazy.h).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "curl_lazy.h"

const struct curl_lazy *
curl_lazy_get(char *why, size_t whylen)
{
	static struct curl_lazy t;
	static int loaded;
	void *h;

	if (loaded)
		return &t;
	if ((h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, whylen, "cannot load libcurl: %s", dlerror());
		return NULL;
	}
#define CURL_LAZY_SYM(field, name) \
	if ((*(void **)&t.field = dlsym(h, name)) == NULL) { \
		snprintf(why, whylen, "libcurl has no %s", name); \
		return NULL; \
	}
	CURL_LAZY_SYM(easy_init, "curl_easy_init")
	CURL_LAZY_SYM(easy_setopt, "curl_easy_setopt")
	CURL_LAZY_SYM(easy_perform, "curl_easy_perform")
	CURL_LAZY_SYM(easy_getinfo, "curl_easy_getinfo")
	CURL_LAZY_SYM(easy_strerror, "curl_easy_strerror")
	CURL_LAZY_SYM(easy_cleanup, "curl_easy_cleanup")
	CURL_LAZY_SYM(slist_append, "curl_slist_append")
	CURL_LAZY_SYM(slist_free_all, "curl_slist_free_all")
#undef CURL_LAZY_SYM
	loaded = 1;
	return &t;
}
