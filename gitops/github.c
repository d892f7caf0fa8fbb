/*
 * github.c - gitops's GitHub REST client (libcurl): one JSON call at a time with the
 * token as a bearer header, GitHub's API version header, and bounded retries on the
 * primary and secondary rate limits (403/429 with Retry-After, or X-RateLimit-Remaining
 * 0 with X-RateLimit-Reset), with jitter. The token is never logged; the header copies
 * gitops makes are wiped.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "gitops.h"

#define GH_BODY_MAX (8 << 20)

struct gh_hdrs {
	long retry_after;     /* -1 when absent */
	long remaining;       /* -1 when absent */
	long long reset;      /* epoch seconds, 0 when absent */
};

/* libcurl header callback: keep the rate-limit headers. */
static size_t
gh_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct gh_hdrs *h = arg;
	size_t n = size * nmemb;
	char line[256];

	snprintf(line, sizeof(line), "%.*s", (int)(n < 255 ? n : 255), data);
	if (strncasecmp(line, "retry-after:", 12) == 0)
		h->retry_after = strtol(line + 12, NULL, 10);
	else if (strncasecmp(line, "x-ratelimit-remaining:", 22) == 0)
		h->remaining = strtol(line + 22, NULL, 10);
	else if (strncasecmp(line, "x-ratelimit-reset:", 18) == 0)
		h->reset = strtoll(line + 18, NULL, 10);
	return n;
}

/* One attempt. */
static int
gh_once(const struct gitops_gh *g, const char *method, const char *url, const char *body,
    long *status, struct jido_buf *resp, struct gh_hdrs *h, char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char auth[1100];
	CURLcode cc;

	if (c == NULL) {
		snprintf(why, whylen, "cannot start libcurl");
		return JIDO_EINTERNAL;
	}
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g->token ? g->token : "");
	hl = curl_slist_append(hl, "Accept: application/vnd.github+json");
	hl = curl_slist_append(hl, "X-GitHub-Api-Version: 2022-11-28");
	hl = curl_slist_append(hl, "Content-Type: application/json");
	if (g->token != NULL)
		hl = curl_slist_append(hl, auth);
	sodium_memzero(auth, sizeof(auth));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "JidoCode-gitops/" JIDO_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jido_buf_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, gh_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)(g->timeout_s > 0 ? g->timeout_s : 30));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	cc = curl_easy_perform(c);
	*status = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	else
		snprintf(why, whylen, "%s %s: %s", method, url, curl_easy_strerror(cc));
	curl_easy_cleanup(c);
	jido_curl_slist_free_wiped(hl);
	return cc == CURLE_OK ? 0 : JIDO_EUNAVAIL;
}

int
gitops_gh_call(const struct gitops_gh *g, const char *method, const char *path,
    const json_t *body, long *status, json_t **resp, char *why, size_t whylen)
{
	char url[2048];
	char *text = body ? jido_json_dump(body) : NULL;
	int rc = JIDO_EUNAVAIL;

	*status = 0;
	if (resp != NULL)
		*resp = NULL;
	if (body != NULL && text == NULL)
		return JIDO_EINTERNAL;
	snprintf(url, sizeof(url), "%s%s", g->api_url, path);
	for (int attempt = 0;; attempt++) {
		struct jido_buf b = { .max = GH_BODY_MAX }; /* more fails the call */
		struct gh_hdrs h = { -1, -1, 0 };
		long wait_s = -1;

		rc = gh_once(g, method, url, text, status, &b, &h, why, whylen);
		if (rc != 0 && b.too_big) { /* libcurl stopped at our cap: say so (no retry) */
			rc = JIDO_EPROVIDER;
			snprintf(why, whylen, "%s %s: GitHub's answer is over %d MB", method, path,
			    GH_BODY_MAX >> 20);
		}
		if (rc == 0 && (*status == 429 || (*status == 403 && (h.retry_after >= 0 ||
		    h.remaining == 0)))) {
			if (h.retry_after >= 0)
				wait_s = h.retry_after;
			else if (h.reset > 0)
				wait_s = (long)(h.reset - (long long)time(NULL));
			else
				wait_s = 1L << attempt;
			if (wait_s < 0)
				wait_s = 0;
			jido_warn("gitops.rate_limited", "{s:s,s:s,s:i,s:I,s:i}", "method", method, "path",
			    path, "status", (int)*status, "wait_s", (json_int_t)wait_s, "attempt",
			    attempt + 1);
		}
		if (wait_s < 0 || attempt >= g->retries || wait_s > g->max_wait_s) {
			if (rc == 0 && resp != NULL && b.n > 0)
				*resp = json_loadb(b.p, b.n, 0, NULL);
			if (rc == 0 && wait_s >= 0)
				snprintf(why, whylen, "GitHub rate limit: %s %s answered %ld, retry after "
				    "%ld s", method, path, *status, wait_s);
			free(b.p);
			break;
		}
		free(b.p);
		/* wait, plus up to a second of jitter so retries do not stampede */
		struct timespec ts = { wait_s, (long)randombytes_uniform(1000) * 1000000L };
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	free(text);
	return rc;
}
