/*
 * ingest.c - jido-ingest: GitHub webhook receiver and repository sync.
 * This file holds the process's declaration (allowlist, publish socket, hooks), its core
 * handler (shared by serve and filter modes: ingest.ack, ingest.deliveries.*,
 * ingest.stats) and the tick: start the receiver thread once seccomp is in force, reload
 * the webhook secret, re-send unacknowledged events (the sweeper), prune old rows.
 */
#include <limits.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "ingest.h"

/* Set by main.c when the command is "serve": only the daemon binds the receiver. */
int ingest_serving;

/* Syscalls beyond the base allowlist (lib/seccomp.c): libsodium's guarded secret
 * memory (sodium_malloc/sodium_free lock and unlock the pages holding the secret). */
static const char *const ingest_allow[] = { "mlock", "munlock",
#if defined(__SANITIZE_ADDRESS__)
	/* ASan builds only: LeakSanitizer's exit-time tracer reads /proc with open(2), not
	 * openat; without it the tracer is killed and the process spins at exit. */
	"open",
#endif
	NULL };

#define INGEST_SWEEP_MS 1000
#define INGEST_SWEEP_MAX 500
#define INGEST_PRUNE_MS (3600 * 1000LL)

struct ingest_priv {
	struct ingest_spool sp;       /* the main thread's connection */
	int sp_open;
	struct ingest_secrets k;
	struct ingest_http *http;     /* NULL in filter mode */
	struct ingest_sync *sync;     /* NULL in filter mode */
	char spool_path[PATH_MAX];
	int64_t next_sweep, next_prune;
};

/* Load or reload the webhook secret (file or vault). Quiet on repeated failures. */
static void
ingest_secret_refresh(struct jido_srv *s, struct ingest_priv *ip, int force)
{
	const struct jido_conf *c = jido_srv_conf(s);
	const char *file = jido_conf_str(c, "ingest.webhook_secret_file");
	int64_t now = jido_now_ms(), every = jido_conf_int(c, "ingest.secret_refresh_s") * 1000;
	char why[512];
	int rc, had = ip->k.cur != NULL;

	if (!force && had && now - ip->k.loaded_ms < every)
		return;
	if (!force && !had && now - ip->k.tried_ms < 2000)
		return;
	ip->k.tried_ms = now;
	if (file != NULL && file[0] != '\0')
		rc = ingest_secrets_load_file(&ip->k, file, why, sizeof(why));
	else
		rc = ingest_secrets_load_vault(&ip->k, c, jido_srv_home(s), why, sizeof(why));
	if (rc != 0) {
		if (had)
			ip->k.loaded_ms = now; /* keep the one we have; try again next period */
		if (force || had)
			jido_warn("ingest.secret_unavailable", "{s:s,s:s,s:b}", "source",
			    file != NULL && file[0] != '\0' ? "file" : "vault", "why", why,
			    "kept_previous", had);
		return;
	}
	if (!had)
		jido_info("ingest.secret_loaded", "{s:s,s:b}", "source",
		    file != NULL && file[0] != '\0' ? "file" : "vault", "previous", ip->k.prev != NULL);
}

static int
ingest_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct ingest_priv *ip = jido_srv_priv(s);
	const struct jido_conf *c = jido_srv_conf(s);
	long long max_body = jido_conf_int(c, "ingest.max_body");
	int rc;

	if (max_body <= 0 || jido_conf_int(c, "ingest.redeliver_s") <= 0 ||
	    jido_conf_int(c, "ingest.retention_days") <= 0 ||
	    jido_conf_int(c, "ingest.auth_fail_burst") <= 0 ||
	    jido_conf_int(c, "ingest.auth_fail_per_min") < 0) {
		snprintf(why, whylen, "ingest.max_body, ingest.redeliver_s, ingest.retention_days "
		    "and ingest.auth_fail_burst must be > 0");
		return JIDO_EVALIDATION;
	}
	ingest_secrets_init(&ip->k);
	if (jido_mkdirs(jido_srv_home(s), 0700) != 0) {
		snprintf(why, whylen, "cannot create %s", jido_srv_home(s));
		return JIDO_EINTERNAL;
	}
	snprintf(ip->spool_path, sizeof(ip->spool_path), "%s/ingest.db", jido_srv_home(s));
	if ((rc = ingest_spool_open(ip->spool_path, &ip->sp, why, whylen)) != 0)
		return rc;
	ip->sp_open = 1;
	/* ingest.ack resets the back-off of rows a subscriber missed to this interval */
	ip->sp.redeliver_ms = jido_conf_int(c, "ingest.redeliver_s") * 1000;
	if (!ingest_serving)
		return 0;
	/* Before seccomp: read the secret file and bind the listener. */
	ingest_secret_refresh(s, ip, 1);
	if ((rc = ingest_http_new(jido_conf_str(c, "ingest.listen"), (size_t)max_body,
	    ip->spool_path, &ip->k, s, c, &ip->http, why, whylen)) != 0) {
		ingest_spool_close(&ip->sp);
		ip->sp_open = 0;
		ingest_secrets_clear(&ip->k);
		return rc;
	}
	if ((rc = ingest_sync_new(c, jido_srv_home(s), ip->spool_path, s, &ip->sync, why,
	    whylen)) != 0) {
		ingest_http_free(ip->http);
		ip->http = NULL;
		ingest_spool_close(&ip->sp);
		ip->sp_open = 0;
		ingest_secrets_clear(&ip->k);
		return rc;
	}
	jido_info("ingest.listening", "{s:s,s:i}", "listen", jido_conf_str(c, "ingest.listen"),
	    "port", ingest_http_port(ip->http));
	return 0;
}

static void
ingest_close(struct jido_srv *s)
{
	struct ingest_priv *ip = jido_srv_priv(s);

	ingest_sync_free(ip->sync);
	ip->sync = NULL;
	ingest_http_free(ip->http);
	ip->http = NULL;
	if (ip->sp_open)
		ingest_spool_close(&ip->sp);
	ip->sp_open = 0;
	ingest_secrets_clear(&ip->k);
}

/* Publish the event of one stored row (from the sweeper or a replay). */
static int
ingest_publish_row(struct jido_srv *s, const json_t *row, char *why, size_t whylen)
{
	char type[JIDO_TYPE_MAX + 1];
	json_t *data;
	int rc;

	if ((rc = ingest_row_event(row, &data, type, sizeof(type), why, whylen)) != 0)
		return rc;
	json_object_set_new(data, "redelivery", json_true());
	if ((rc = jido_srv_publish(s, type, NULL, data)) != 0)
		snprintf(why, whylen, "publish: %s", jido_strerror(rc));
	return rc;
}

static void
ingest_sweep(struct jido_srv *s, struct ingest_priv *ip)
{
	const struct jido_conf *c = jido_srv_conf(s);
	json_t *rows = NULL, *row;
	char why[512];
	size_t i;

	if (ingest_spool_due(&ip->sp, ingest_wall_ms(), jido_conf_int(c, "ingest.redeliver_s") *
	    1000, INGEST_SWEEP_MAX, &rows, why, sizeof(why)) != 0) {
		jido_error("ingest.sweep_failed", "{s:s}", "why", why);
		return;
	}
	json_array_foreach(rows, i, row) {
		if (ingest_publish_row(s, row, why, sizeof(why)) != 0)
			jido_warn("ingest.resend_failed", "{s:O,s:s}", "delivery",
			    json_object_get(row, "id"), "why", why);
	}
	if (json_array_size(rows) > 0)
		jido_info("ingest.resent", "{s:i}", "events", (int)json_array_size(rows));
	json_decref(rows);
}

static void
ingest_prune(struct jido_srv *s, struct ingest_priv *ip)
{
	long long days = jido_conf_int(jido_srv_conf(s), "ingest.retention_days");
	char why[512];
	int n;

	if (ingest_spool_prune(&ip->sp, ingest_wall_ms() - days * 86400 * 1000, &n, why,
	    sizeof(why)) != 0)
		jido_error("ingest.prune_failed", "{s:s}", "why", why);
	else if (n > 0)
		jido_info("ingest.pruned", "{s:i,s:I}", "deliveries", n, "retention_days",
		    (json_int_t)days);
}

static void
ingest_tick(struct jido_srv *s)
{
	struct ingest_priv *ip = jido_srv_priv(s);
	int64_t now = jido_now_ms();
	char why[256];

	/* The receiver thread starts here, after seccomp, so that it runs under the filter
	 * (a thread started before seccomp_load would not be). */
	if (ip->http != NULL && ingest_http_start(ip->http, why, sizeof(why)) != 0) {
		jido_error("ingest.http_failed", "{s:s}", "why", why);
		return;
	}
	if (ip->sync != NULL && ingest_sync_start(ip->sync, why, sizeof(why)) != 0) {
		jido_error("ingest.sync_failed", "{s:s}", "why", why);
		return;
	}
	ingest_secret_refresh(s, ip, 0);
	if (now >= ip->next_sweep) {
		ip->next_sweep = now + INGEST_SWEEP_MS;
		ingest_sweep(s, ip);
	}
	if (now >= ip->next_prune) {
		ip->next_prune = now + INGEST_PRUNE_MS;
		ingest_prune(s, ip);
	}
}

/* data.<key> as a string, or NULL (absent); JIDO_EVALIDATION when ill-typed. */
static int
ingest_opt_str(const json_t *data, const char *key, const char **out, char *why,
    size_t whylen)
{
	json_t *v = json_object_get(data, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128) {
		snprintf(why, whylen, "data.%s must be a string of 1-128 characters", key);
		return JIDO_EVALIDATION;
	}
	*out = json_string_value(v);
	return 0;
}

/* Refuse fields not in allowed (NULL-terminated). */
static int
ingest_fields(const json_t *data, const char *const *allowed, char *why, size_t whylen)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)data, key, v) {
		int ok = 0;
		for (int i = 0; allowed[i] != NULL; i++)
			ok |= strcmp(allowed[i], key) == 0;
		if (!ok) {
			snprintf(why, whylen, "unknown field 'data.%.64s'", key);
			return JIDO_EVALIDATION;
		}
	}
	return 0;
}

static int
ingest_do_ack(struct ingest_priv *ip, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "deliveries", NULL };
	json_t *ids = json_object_get(req->data, "deliveries"), *v;
	size_t i;
	int rc, n;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0)
		return rc;
	if (!json_is_array(ids) || json_array_size(ids) > 10000) {
		snprintf(why, whylen, "data.deliveries must be an array of at most 10000 ids");
		return JIDO_EVALIDATION;
	}
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) || !ingest_delivery_id_ok(json_string_value(v))) {
			snprintf(why, whylen, "data.deliveries[%zu] is not a delivery id", i);
			return JIDO_EVALIDATION;
		}
	}
	if ((rc = ingest_spool_ack(&ip->sp, ids, ingest_wall_ms(), &n, why, whylen)) != 0)
		return rc;
	*out = json_pack("{s:i,s:i}", "acked", n, "requested", (int)json_array_size(ids));
	return 0;
}

static int
ingest_do_list(struct ingest_priv *ip, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "event", "status", "limit", NULL };
	const char *event, *status;
	json_t *lim = json_object_get(req->data, "limit"), *rows;
	int rc, limit = 50;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = ingest_opt_str(req->data, "event", &event, why, whylen)) != 0 ||
	    (rc = ingest_opt_str(req->data, "status", &status, why, whylen)) != 0)
		return rc;
	if (status != NULL && strcmp(status, "pending") != 0 && strcmp(status, "acked") != 0 &&
	    strcmp(status, "rejected") != 0) {
		snprintf(why, whylen, "data.status must be pending, acked or rejected");
		return JIDO_EVALIDATION;
	}
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > 10000) {
			snprintf(why, whylen, "data.limit must be an integer 1-10000");
			return JIDO_EVALIDATION;
		}
		limit = (int)json_integer_value(lim);
	}
	if ((rc = ingest_spool_list(&ip->sp, event, status, limit, &rows, why, whylen)) != 0)
		return rc;
	*out = json_pack("{s:o}", "deliveries", rows);
	return 0;
}

static int
ingest_do_show(struct ingest_priv *ip, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "id", NULL };
	const char *id;
	int rc;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = ingest_opt_str(req->data, "id", &id, why, whylen)) != 0)
		return rc;
	if (id == NULL) {
		snprintf(why, whylen, "data.id is required");
		return JIDO_EVALIDATION;
	}
	return ingest_spool_show(&ip->sp, id, out, why, whylen);
}

static int
ingest_do_replay(struct jido_srv *s, struct ingest_priv *ip, const struct jido_req *req,
    json_t **out, char *why, size_t whylen)
{
	static const char *const fields[] = { "id", "as_new", NULL };
	json_t *as_new = json_object_get(req->data, "as_new"), *row = NULL;
	char new_id[JIDO_ID_MAX + 1], rnd[33];
	const char *id, *target;
	int rc;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = ingest_opt_str(req->data, "id", &id, why, whylen)) != 0)
		return rc;
	if (id == NULL || (as_new != NULL && !json_is_boolean(as_new))) {
		snprintf(why, whylen, "data.id is required and data.as_new must be a boolean");
		return JIDO_EVALIDATION;
	}
	target = id;
	if (json_is_true(as_new)) {
		jido_id_new(rnd, sizeof(rnd));
		snprintf(new_id, sizeof(new_id), "replay-%.16s-%.100s", rnd, id);
		if ((rc = ingest_spool_copy(&ip->sp, id, new_id, ingest_wall_ms(), why, whylen)) != 0)
			return rc;
		target = new_id;
	} else if ((rc = ingest_spool_requeue(&ip->sp, id, ingest_wall_ms(), why, whylen)) != 0)
		return rc;
	/* Publish now; the row stays pending until acknowledged (the sweeper covers a loss). */
	if ((rc = ingest_spool_show(&ip->sp, target, &row, why, whylen)) != 0)
		return rc;
	rc = ingest_publish_row(s, row, why, whylen);
	json_decref(row);
	if (rc != 0)
		return rc;
	jido_info("ingest.replayed", "{s:s,s:s}", "delivery", id, "published_as", target);
	*out = json_pack("{s:s,s:s,s:b}", "delivery", target, "replay_of", id, "as_new",
	    json_is_true(as_new));
	return 0;
}

static int
ingest_do_stats(struct ingest_priv *ip, json_t **out, char *why, size_t whylen)
{
	struct ingest_stats st;
	json_t *counts;
	int rc;

	if ((rc = ingest_spool_counts(&ip->sp, &counts, why, whylen)) != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	if (ip->http != NULL)
		ingest_http_stats(ip->http, &st);
	*out = json_pack("{s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:b,s:b}", "spool", counts,
	    "http", "received", (json_int_t)st.received, "stored", (json_int_t)st.stored,
	    "duplicates", (json_int_t)st.duplicates, "bad_signature",
	    (json_int_t)st.bad_signature, "rate_limited", (json_int_t)st.rate_limited,
	    "rejected", (json_int_t)st.rejected, "failed", (json_int_t)st.failed,
	    "batches", (json_int_t)st.batches,
	    "secret_loaded", ip->k.cur != NULL, "previous_secret", ip->k.prev != NULL);
	return 0;
}

/* Is s a plausible "owner/name" repository full name? */
static int
ingest_repo_name_ok(const char *s)
{
	int slash = 0;
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		if (ch == '/')
			slash++;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return slash == 1 && n >= 3 && n <= 140 && s[0] != '/' && s[n - 1] != '/' &&
	    s[0] != '.' && strstr(s, "/.") == NULL && strstr(s, "..") == NULL;
}

static int
ingest_do_sync(struct ingest_priv *ip, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "repos", NULL };
	json_t *repos = json_object_get(req->data, "repos"), *v;
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0)
		return rc;
	if (repos != NULL) {
		if (!json_is_array(repos) || json_array_size(repos) > 1000) {
			snprintf(why, whylen, "data.repos must be an array of at most 1000 names");
			return JIDO_EVALIDATION;
		}
		json_array_foreach(repos, i, v) {
			if (!json_is_string(v) || !ingest_repo_name_ok(json_string_value(v))) {
				snprintf(why, whylen, "data.repos[%zu] is not an owner/name", i);
				return JIDO_EVALIDATION;
			}
		}
		if (sqlite3_exec(ip->sp.db, "BEGIN IMMEDIATE; DELETE FROM sync_repos;", NULL, NULL,
		    NULL) != SQLITE_OK ||
		    sqlite3_prepare_v2(ip->sp.db, "INSERT OR IGNORE INTO sync_repos (repo) VALUES (?1)",
		    -1, &st, NULL) != SQLITE_OK) {
			snprintf(why, whylen, "spool: %s", sqlite3_errmsg(ip->sp.db));
			sqlite3_exec(ip->sp.db, "ROLLBACK", NULL, NULL, NULL);
			return JIDO_EINTERNAL;
		}
		json_array_foreach(repos, i, v) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, json_string_value(v), -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE)
				rc = JIDO_EINTERNAL;
		}
		sqlite3_finalize(st);
		if (rc != 0 || sqlite3_exec(ip->sp.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(why, whylen, "spool: %s", sqlite3_errmsg(ip->sp.db));
			sqlite3_exec(ip->sp.db, "ROLLBACK", NULL, NULL, NULL);
			return JIDO_EINTERNAL;
		}
	}
	if (ip->sync != NULL)
		ingest_sync_trigger(ip->sync);
	*out = json_pack("{s:b}", "queued", ip->sync != NULL);
	if (repos != NULL)
		json_object_set(*out, "watching", repos);
	return 0;
}

static int
ingest_do_repos(struct ingest_priv *ip, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "refresh", NULL };
	json_t *refresh = json_object_get(req->data, "refresh");
	int rc;

	if ((rc = ingest_fields(req->data, fields, why, whylen)) != 0)
		return rc;
	if (ip->sync == NULL) {
		snprintf(why, whylen, "the REST sync runs only in jido-ingest serve");
		return JIDO_EUNAVAIL;
	}
	*out = ingest_sync_status(ip->sync);
	if (json_is_true(refresh) || json_is_null(json_object_get(*out, "fetched_at")) ||
	    json_object_get(*out, "fetched_at") == NULL) {
		ingest_sync_trigger(ip->sync);
		json_object_set_new(*out, "refreshing", json_true());
	}
	return 0;
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
ingest_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct ingest_priv *ip = jido_srv_priv(s);

	if (strcmp(req->type, "ingest.ack") == 0)
		return ingest_do_ack(ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.deliveries.list") == 0)
		return ingest_do_list(ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.deliveries.show") == 0)
		return ingest_do_show(ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.deliveries.replay") == 0)
		return ingest_do_replay(s, ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.sync") == 0)
		return ingest_do_sync(ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.repos") == 0)
		return ingest_do_repos(ip, req, out, why, whylen);
	if (strcmp(req->type, "ingest.stats") == 0)
		return ingest_do_stats(ip, out, why, whylen);
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc ingest_proc = {
	.name = "ingest",
	.summary = "GitHub webhook receiver and repository sync",
	.pub_topic = "events",
	.allow = { ingest_allow, 1, 0 },
	.open = ingest_open,
	.handle = ingest_handle,
	.tick = ingest_tick,
	.close = ingest_close,
	.priv_size = sizeof(struct ingest_priv),
	.command = ingest_command,
	.command_usage =
	    "  verify --secret-file F   read a raw delivery (headers, blank line, body) on\n"
	    "                   stdin; print valid or invalid (exit 0/1)\n"
	    "  normalize        stored deliveries as JSON lines on stdin; normalized events\n"
	    "                   ({type, data}) on stdout\n",
};
