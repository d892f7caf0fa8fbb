/*
 * sync.c - the GitHub REST sync, in its own thread: the repos the token can see
 * (GET /user/repos), and for each watched repo (table sync_repos, set by ingest.sync)
 * its open issues and open pull requests. Conditional requests (If-None-Match with the
 * cached ETag: a 304 reuses the cached body), pagination by Link rel="next", back-off
 * when X-RateLimit-Remaining falls under 10% of the limit (until X-RateLimit-Reset) and
 * on 403/429 (Retry-After). Results go through the spool like webhooks (rows
 * sync:<repo>#<n>@<updated_at>, published as events.github.{repo,issue,pull}.synced), so
 * an unchanged item is never published twice and a new one is re-sent until acked.
 * A periodic round every ingest.sync_interval_s plus on-demand ones (ingest.sync).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ingest.h"

#define SYNC_MAX_PAGES 50
#define SYNC_MAX_BODY (32u << 20)

struct ingest_sync {
	const struct jido_conf *c;
	char home[4096];
	char api[512];
	struct jido_srv *s;
	struct ingest_spool sp; /* the sync thread's own connection */
	CURL *curl;
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int trigger, stop;
	int64_t interval_ms;
	/* what the last round saw (under mu) */
	json_t *repos;
	char fetched_at[40];
	char last_error[256];
	int64_t rounds;
	int64_t blocked_until; /* wall ms; no requests before */
	struct jido_ghapp *app; /* GitHub App token cache (sync thread only), or NULL */
};

/* One HTTP response. */
struct sync_resp {
	long status;
	struct jido_buf body; /* at most SYNC_MAX_BODY */
	char etag[256];
	char next[1024];
	long rl_limit, rl_remaining, rl_reset, retry_after;
};

/* The URL of rel="next" in a Link header value, into out. */
static void
sync_link_next(const char *v, char *out, size_t outlen)
{
	const char *p = v;

	out[0] = '\0';
	while ((p = strchr(p, '<')) != NULL) {
		const char *end = strchr(p, '>');
		if (end == NULL)
			return;
		const char *sep = strchr(end, ',');
		const char *rel = strstr(end, "rel=\"next\"");
		if (rel != NULL && (sep == NULL || rel < sep)) {
			snprintf(out, outlen, "%.*s", (int)(end - p - 1), p + 1);
			return;
		}
		p = end;
	}
}

static size_t
sync_on_header(char *p, size_t size, size_t n, void *arg)
{
	struct sync_resp *r = arg;
	size_t len = size * n;
	char line[2048], *v;

	if (len >= sizeof(line))
		return len;
	memcpy(line, p, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	if ((v = strchr(line, ':')) == NULL)
		return size * n;
	*v++ = '\0';
	while (*v == ' ')
		v++;
	if (strcasecmp(line, "ETag") == 0)
		snprintf(r->etag, sizeof(r->etag), "%s", v);
	else if (strcasecmp(line, "Link") == 0)
		sync_link_next(v, r->next, sizeof(r->next));
	else if (strcasecmp(line, "X-RateLimit-Limit") == 0)
		r->rl_limit = atol(v);
	else if (strcasecmp(line, "X-RateLimit-Remaining") == 0)
		r->rl_remaining = atol(v);
	else if (strcasecmp(line, "X-RateLimit-Reset") == 0)
		r->rl_reset = atol(v);
	else if (strcasecmp(line, "Retry-After") == 0)
		r->retry_after = atol(v);
	return size * n;
}

/* Record and log why a round stopped: prefix + why. */
static void
sync_error(struct ingest_sync *y, const char *prefix, const char *why)
{
	pthread_mutex_lock(&y->mu);
	snprintf(y->last_error, sizeof(y->last_error), "%s%s", prefix, why);
	pthread_mutex_unlock(&y->mu);
	jido_warn("ingest.sync_failed", "{s:s}", "why", y->last_error);
}

/* Cached ETag/body for url (sync thread's connection). */
static void
sync_cache_get(struct ingest_sync *y, const char *url, char *etag, size_t elen, char **body,
    size_t *blen, char *link, size_t llen)
{
	sqlite3_stmt *st;

	etag[0] = '\0';
	link[0] = '\0';
	*body = NULL;
	if (sqlite3_prepare_v2(y->sp.db, "SELECT etag, body, link FROM etags WHERE url = ?1", -1,
	    &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(etag, elen, "%s", (const char *)sqlite3_column_text(st, 0));
		*blen = (size_t)sqlite3_column_bytes(st, 1);
		if ((*body = malloc(*blen + 1)) != NULL) {
			memcpy(*body, sqlite3_column_blob(st, 1), *blen);
			(*body)[*blen] = '\0';
		}
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			snprintf(link, llen, "%s", (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
}

static void
sync_cache_put(struct ingest_sync *y, const char *url, const struct sync_resp *r)
{
	sqlite3_stmt *st;

	if (r->etag[0] == '\0' || sqlite3_prepare_v2(y->sp.db, "INSERT OR REPLACE INTO etags"
	    " (url, etag, link, body) VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->etag, -1, SQLITE_STATIC);
	if (r->next[0] != '\0')
		sqlite3_bind_text(st, 3, r->next, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, r->body.p != NULL ? r->body.p : "", (int)r->body.n,
	    SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/*
 * GET url with the token; fills r (body owned by r: free(r->body.p)). A 304 is turned into
 * the cached 200. Returns 0 on a 2xx/304, JIDO_EUNAVAIL when rate-limited (blocked_until
 * set), JIDO_EPROVIDER on another status or a transport failure (why says which).
 */
static int
sync_get(struct ingest_sync *y, const char *token, const char *url, struct sync_resp *r,
    char *why, size_t whylen)
{
	struct curl_slist *h = NULL;
	char auth[1200], inm[300], cached_etag[256], cached_link[1024];
	char *cached = NULL;
	size_t cached_len = 0;
	CURLcode cc;
	int64_t now = ingest_wall_ms();

	memset(r, 0, sizeof(*r));
	r->body.max = SYNC_MAX_BODY;
	r->rl_limit = r->rl_remaining = r->rl_reset = r->retry_after = -1;
	sync_cache_get(y, url, cached_etag, sizeof(cached_etag), &cached, &cached_len,
	    cached_link, sizeof(cached_link));
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/vnd.github+json");
	h = curl_slist_append(h, "X-GitHub-Api-Version: 2022-11-28");
	if (cached != NULL && cached_etag[0] != '\0') {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", cached_etag);
		h = curl_slist_append(h, inm);
	}
	if (y->curl == NULL && (y->curl = curl_easy_init()) == NULL) {
		curl_slist_free_all(h);
		sodium_memzero(auth, sizeof(auth));
		free(cached);
		snprintf(why, whylen, "GET %.200s: %s", url,
		    jido_curl_error() ? jido_curl_error() : "libcurl did not initialise");
		return JIDO_EPROVIDER;
	}
	curl_easy_setopt(y->curl, CURLOPT_URL, url);
	curl_easy_setopt(y->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(y->curl, CURLOPT_USERAGENT, "jido-ingest/" JIDO_VERSION);
	curl_easy_setopt(y->curl, CURLOPT_WRITEFUNCTION, jido_buf_curl_write);
	curl_easy_setopt(y->curl, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(y->curl, CURLOPT_HEADERFUNCTION, sync_on_header);
	curl_easy_setopt(y->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(y->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(y->curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(y->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(y->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(y->curl);
	curl_slist_free_all(h);
	sodium_memzero(auth, sizeof(auth));
	if (cc != CURLE_OK) {
		free(cached);
		free(r->body.p);
		r->body.p = NULL;
		r->body.n = 0;
		snprintf(why, whylen, "GET %.200s: %s", url, curl_easy_strerror(cc));
		return JIDO_EPROVIDER;
	}
	curl_easy_getinfo(y->curl, CURLINFO_RESPONSE_CODE, &r->status);
	/* Back off: 403/429 with Retry-After, or the limit spent, or under 10% left. */
	if (r->status == 429 || (r->status == 403 && (r->retry_after >= 0 || r->rl_remaining == 0))) {
		int64_t until = r->retry_after >= 0 ? now + r->retry_after * 1000 :
		    r->rl_reset > 0 ? r->rl_reset * 1000 : now + 60000;
		pthread_mutex_lock(&y->mu);
		y->blocked_until = until;
		pthread_mutex_unlock(&y->mu);
		free(cached);
		free(r->body.p);
		r->body.p = NULL;
		r->body.n = 0;
		snprintf(why, whylen, "GET %.200s: %ld, rate-limited for %lld s", url, r->status,
		    (long long)((until - now) / 1000));
		return JIDO_EUNAVAIL;
	}
	if (r->rl_limit > 0 && r->rl_remaining >= 0 && r->rl_remaining * 10 < r->rl_limit &&
	    r->rl_reset > 0) {
		pthread_mutex_lock(&y->mu);
		y->blocked_until = r->rl_reset * 1000;
		pthread_mutex_unlock(&y->mu);
		jido_warn("ingest.sync_backoff", "{s:I,s:I,s:I}", "remaining",
		    (json_int_t)r->rl_remaining, "limit", (json_int_t)r->rl_limit, "reset",
		    (json_int_t)r->rl_reset);
	}
	if (r->status == 304 && cached != NULL) {
		free(r->body.p);
		r->body = (struct jido_buf){ .p = cached, .n = cached_len }; /* cap 0: owned, whole */
		r->status = 200;
		snprintf(r->next, sizeof(r->next), "%s", cached_link);
		return 0;
	}
	free(cached);
	if (r->status < 200 || r->status >= 300) {
		snprintf(why, whylen, "GET %.200s: HTTP %ld", url, r->status);
		free(r->body.p);
		r->body.p = NULL;
		r->body.n = 0;
		return JIDO_EPROVIDER;
	}
	sync_cache_put(y, url, r);
	return 0;
}

static int sync_token(struct ingest_sync *y, int force, char **token, char *why,
    size_t whylen);

/* GET every page of url; the items of all pages appended to *items (a new array). A page
 * answering {repositories: [...]} (GET /installation/repositories) counts as that array.
 * With a GitHub App, a 401 mints a new installation token (*token replaced) and retries
 * the page once. */
static int
sync_get_all(struct ingest_sync *y, char **token, const char *first, json_t **items,
    char *why, size_t whylen)
{
	int retried = 0;
	char url[1024];
	int rc = 0;

	*items = json_array();
	snprintf(url, sizeof(url), "%s", first);
	for (int page = 0; page < SYNC_MAX_PAGES && url[0] != '\0'; page++) {
		struct sync_resp r;
		json_t *arr;
		if ((rc = sync_get(y, *token, url, &r, why, whylen)) != 0) {
			char *fresh = NULL;
			if (rc != JIDO_EPROVIDER || r.status != 401 || y->app == NULL || retried)
				break;
			retried = 1;
			jido_warn("ingest.sync_auth_retry", "{s:s}", "note",
			    "installation token refused: minting a new one");
			if ((rc = sync_token(y, 1, &fresh, why, whylen)) != 0)
				break;
			sodium_memzero(*token, strlen(*token));
			sodium_free(*token);
			*token = fresh;
			page--;
			continue;
		}
		arr = json_loadb(r.body.p != NULL ? r.body.p : "", r.body.n, 0, NULL);
		free(r.body.p);
		if (json_is_object(arr) && json_is_array(json_object_get(arr, "repositories"))) {
			json_t *list = json_incref(json_object_get(arr, "repositories"));
			json_decref(arr);
			arr = list;
		}
		if (!json_is_array(arr)) {
			json_decref(arr);
			snprintf(why, whylen, "GET %.200s: not a JSON array", url);
			rc = JIDO_EPROVIDER;
			break;
		}
		json_array_extend(*items, arr);
		json_decref(arr);
		snprintf(url, sizeof(url), "%s", r.next);
	}
	if (rc != 0) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}

static json_t *
sync_str(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_incref(v) : json_null();
}

static json_t *
sync_names(const json_t *arr, const char *key)
{
	json_t *out = json_array(), *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		json_t *n = json_object_get(v, key);
		if (json_is_string(n))
			json_array_append(out, n);
	}
	return out;
}

/* Store and publish one sync result (event: github.issue.synced, ...). Takes data. */
static void
sync_emit(struct ingest_sync *y, const char *event, const char *id, json_t *data)
{
	struct ingest_row row;
	char why[256], type[JIDO_TYPE_MAX + 1];
	char *text;
	int rc;

	json_object_set_new(data, "delivery", json_string(id));
	json_object_set_new(data, "event", json_string(event));
	if ((text = jido_json_dump(data)) == NULL) {
		json_decref(data);
		return;
	}
	memset(&row, 0, sizeof(row));
	row.id = id;
	row.source = "sync";
	row.event = event;
	row.repo = json_string_value(json_object_get(data, "repo"));
	row.status = "pending";
	row.headers = "{}";
	row.payload = text;
	row.payload_len = strlen(text);
	rc = ingest_spool_put(&y->sp, &row, ingest_wall_ms(), why, sizeof(why));
	free(text);
	if (rc == 0) {
		snprintf(type, sizeof(type), "events.%s", event);
		jido_srv_publish(y->s, type, NULL, data);
		return;
	}
	if (rc != JIDO_ECONFLICT)
		jido_error("ingest.spool_failed", "{s:s,s:s}", "delivery", id, "why", why);
	json_decref(data);
}

/* One issue or PR item of repo. */
static void
sync_item(struct ingest_sync *y, const char *repo, const json_t *it, int pull)
{
	json_t *num = json_object_get(it, "number"), *d;
	const char *updated = json_string_value(json_object_get(it, "updated_at"));
	char id[JIDO_ID_MAX + 1];

	if (!json_is_integer(num))
		return;
	/* The issues list also holds PRs; the pulls list gives their refs. */
	if (!pull && json_object_get(it, "pull_request") != NULL)
		return;
	snprintf(id, sizeof(id), "sync:%.80s#%lld@%.30s", repo,
	    (long long)json_integer_value(num), updated != NULL ? updated : "?");
	if (!ingest_delivery_id_ok(id))
		return;
	d = json_pack("{s:s,s:s,s:O,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "repo", repo,
	    "action", "synced", "number", num, "title", sync_str(it, "title"),
	    "body", sync_str(it, "body"), "state", sync_str(it, "state"),
	    "url", sync_str(it, "html_url"), "updated_at", sync_str(it, "updated_at"),
	    "author", sync_str(json_object_get(it, "user"), "login"),
	    "author_association", sync_str(it, "author_association"),
	    "labels", sync_names(json_object_get(it, "labels"), "name"),
	    "assignees", sync_names(json_object_get(it, "assignees"), "login"));
	if (d == NULL)
		return;
	if (pull) {
		json_object_set_new(d, "head_ref", sync_str(json_object_get(it, "head"), "ref"));
		json_object_set_new(d, "base_ref", sync_str(json_object_get(it, "base"), "ref"));
		json_object_set_new(d, "head_sha", sync_str(json_object_get(it, "head"), "sha"));
		json_object_set_new(d, "draft", json_boolean(json_is_true(json_object_get(it,
		    "draft"))));
	}
	sync_emit(y, pull ? "github.pull.synced" : "github.issue.synced", id, d);
}

/* The watched repos (new array of strings). */
static json_t *
sync_watched(struct ingest_sync *y)
{
	sqlite3_stmt *st;
	json_t *out = json_array();

	if (sqlite3_prepare_v2(y->sp.db, "SELECT repo FROM sync_repos ORDER BY repo", -1, &st,
	    NULL) != SQLITE_OK)
		return out;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(out, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return out;
}

/* The token: a GitHub App installation token when github.app_id is set (cached; force:
 * mint a new one), else github.token_file, else the vault's github.token.
 * sodium_malloc'd. */
static int
sync_token(struct ingest_sync *y, int force, char **token, char *why, size_t whylen)
{
	const char *file = jido_conf_str(y->c, "github.token_file");
	int rc;

	if (jido_ghapp_configured(y->c)) {
		if (y->app == NULL && (rc = jido_ghapp_new(y->c, y->home, &y->app, why, whylen)) != 0)
			return rc;
		return jido_ghapp_token(y->app, force, token, why, whylen);
	}
	if (file != NULL && file[0] != '\0')
		return ingest_secret_file_read(file, token, why, whylen);
	return ingest_vault_value(y->c, y->home, "github.token", token, why, whylen);
}

static void
sync_round(struct ingest_sync *y)
{
	char url[1024], why[512], stamp[40];
	char *token = NULL;
	json_t *repos = NULL, *watched, *r, *names;
	size_t i;
	int rc;

	if ((rc = sync_token(y, 0, &token, why, sizeof(why))) != 0) {
		sync_error(y, "no GitHub token: ", why);
		return;
	}
	/* an App installation lists its repositories; a user token the user's */
	snprintf(url, sizeof(url), y->app != NULL ? "%s/installation/repositories?per_page=100" :
	    "%s/user/repos?per_page=100", y->api);
	if ((rc = sync_get_all(y, &token, url, &repos, why, sizeof(why))) != 0) {
		sodium_free(token);
		sync_error(y, "", why);
		return;
	}
	names = json_array();
	json_array_foreach(repos, i, r) {
		json_t *fn = json_object_get(r, "full_name");
		if (!json_is_string(fn))
			continue;
		json_array_append_new(names, json_pack("{s:O,s:b,s:o,s:o,s:o,s:o}", "full_name", fn,
		    "private", json_is_true(json_object_get(r, "private")),
		    "default_branch", sync_str(r, "default_branch"),
		    "url", sync_str(r, "html_url"), "description", sync_str(r, "description"),
		    "updated_at", sync_str(r, "updated_at")));
	}
	jido_time_rfc3339(stamp, sizeof(stamp));
	pthread_mutex_lock(&y->mu);
	json_decref(y->repos);
	y->repos = names;
	snprintf(y->fetched_at, sizeof(y->fetched_at), "%s", stamp);
	y->last_error[0] = '\0';
	pthread_mutex_unlock(&y->mu);

	watched = sync_watched(y);
	json_t *w;
	size_t k;
	json_array_foreach(watched, k, w) {
		const char *repo = json_string_value(w);
		json_t *items = NULL, *it;
		size_t j;
		/* the repo itself, when the token sees it */
		json_array_foreach(repos, i, r) {
			const char *fn = json_string_value(json_object_get(r, "full_name"));
			const char *up = json_string_value(json_object_get(r, "updated_at"));
			char id[JIDO_ID_MAX + 1];
			if (fn == NULL || strcmp(fn, repo) != 0)
				continue;
			snprintf(id, sizeof(id), "sync:%.80s@%.30s", repo, up != NULL ? up : "?");
			if (ingest_delivery_id_ok(id))
				sync_emit(y, "github.repo.synced", id, json_pack("{s:s,s:s,s:b,s:o,s:o,s:o}",
				    "repo", repo, "action", "synced", "private",
				    json_is_true(json_object_get(r, "private")), "default_branch",
				    sync_str(r, "default_branch"), "url", sync_str(r, "html_url"),
				    "updated_at", sync_str(r, "updated_at")));
		}
		snprintf(url, sizeof(url), "%s/repos/%s/issues?state=open&per_page=100", y->api, repo);
		if ((rc = sync_get_all(y, &token, url, &items, why, sizeof(why))) == 0) {
			json_array_foreach(items, j, it)
				sync_item(y, repo, it, 0);
			json_decref(items);
			snprintf(url, sizeof(url), "%s/repos/%s/pulls?state=open&per_page=100", y->api,
			    repo);
			rc = sync_get_all(y, &token, url, &items, why, sizeof(why));
		}
		if (rc != 0) {
			/* One repo failing (gone, no access) does not stop the others; a rate
			 * limit stops the round. */
			sync_error(y, "", why);
			if (rc == JIDO_EUNAVAIL)
				break;
			continue;
		}
		json_array_foreach(items, j, it)
			sync_item(y, repo, it, 1);
		json_decref(items);
	}
	json_decref(watched);
	json_decref(repos);
	sodium_free(token);
	jido_info("ingest.synced", "{s:s}", "api", y->api);
}

static void *
sync_thread(void *arg)
{
	struct ingest_sync *y = arg;

	pthread_mutex_lock(&y->mu);
	for (;;) {
		int64_t now = ingest_wall_ms(), wait_ms;
		if (y->stop)
			break;
		if (now < y->blocked_until)
			wait_ms = y->blocked_until - now;
		else if (y->trigger || (y->interval_ms > 0 && y->rounds == 0))
			wait_ms = 0;
		else
			wait_ms = y->interval_ms > 0 ? y->interval_ms : 3600000;
		if (wait_ms > 0) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			int woke = pthread_cond_timedwait(&y->cv, &y->mu, &ts) == 0;
			if (y->stop)
				break;
			if (ingest_wall_ms() < y->blocked_until)
				continue;
			if (woke && !y->trigger)
				continue;
			if (!woke && !y->trigger && y->interval_ms <= 0)
				continue;
		}
		y->trigger = 0;
		pthread_mutex_unlock(&y->mu);
		sync_round(y);
		pthread_mutex_lock(&y->mu);
		y->rounds++; /* attempted, whatever the outcome: the next waits a period */
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

int
ingest_sync_new(const struct jido_conf *c, const char *home, const char *spool_path,
    struct jido_srv *s, struct ingest_sync **out, char *why, size_t whylen)
{
	struct ingest_sync *y = calloc(1, sizeof(*y));
	const char *api = jido_conf_str(c, "github.api_url");
	int rc;

	if (y == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	if (api == NULL || (strncmp(api, "https://", 8) != 0 && strncmp(api, "http://", 7) != 0) ||
	    strlen(api) >= sizeof(y->api)) {
		free(y);
		snprintf(why, whylen, "github.api_url must be an http(s) URL");
		return JIDO_EVALIDATION;
	}
	snprintf(y->api, sizeof(y->api), "%s", api);
	while (strlen(y->api) > 0 && y->api[strlen(y->api) - 1] == '/')
		y->api[strlen(y->api) - 1] = '\0';
	snprintf(y->home, sizeof(y->home), "%s", home);
	y->c = c;
	y->s = s;
	y->interval_ms = jido_conf_int(c, "ingest.sync_interval_s") * 1000;
	pthread_mutex_init(&y->mu, NULL);
	pthread_cond_init(&y->cv, NULL);
	if ((rc = ingest_spool_open(spool_path, &y->sp, why, whylen)) != 0) {
		free(y);
		return rc;
	}
	y->sp.redeliver_ms = jido_conf_int(c, "ingest.redeliver_s") * 1000;
	/* libcurl itself is loaded with the first request (lib/curl_shim.c): the handle too. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		ingest_spool_close(&y->sp);
		free(y);
		snprintf(why, whylen, "cannot initialise libcurl");
		return JIDO_EINTERNAL;
	}
	*out = y;
	return 0;
}

int
ingest_sync_start(struct ingest_sync *y, char *why, size_t whylen)
{
	int rc;

	if (y->started)
		return 0;
	if ((rc = pthread_create(&y->th, NULL, sync_thread, y)) != 0) {
		snprintf(why, whylen, "cannot start the sync thread: %s", strerror(rc));
		return JIDO_EINTERNAL;
	}
	y->started = 1;
	return 0;
}

void
ingest_sync_trigger(struct ingest_sync *y)
{
	pthread_mutex_lock(&y->mu);
	y->trigger = 1;
	pthread_cond_signal(&y->cv);
	pthread_mutex_unlock(&y->mu);
}

json_t *
ingest_sync_status(struct ingest_sync *y)
{
	json_t *o;

	pthread_mutex_lock(&y->mu);
	o = json_pack("{s:o,s:s?,s:s?,s:I,s:I}", "repos", y->repos != NULL ?
	    json_incref(y->repos) : json_array(), "fetched_at", y->fetched_at[0] ? y->fetched_at : NULL,
	    "last_error", y->last_error[0] ? y->last_error : NULL, "rounds",
	    (json_int_t)y->rounds, "blocked_until_ms", (json_int_t)y->blocked_until);
	pthread_mutex_unlock(&y->mu);
	return o;
}

void
ingest_sync_free(struct ingest_sync *y)
{
	if (y == NULL)
		return;
	if (y->started) {
		pthread_mutex_lock(&y->mu);
		y->stop = 1;
		pthread_cond_signal(&y->cv);
		pthread_mutex_unlock(&y->mu);
		pthread_join(y->th, NULL);
	}
	curl_easy_cleanup(y->curl);
	jido_ghapp_free(y->app);
	json_decref(y->repos);
	ingest_spool_close(&y->sp);
	pthread_cond_destroy(&y->cv);
	pthread_mutex_destroy(&y->mu);
	free(y);
}
