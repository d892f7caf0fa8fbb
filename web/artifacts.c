/*
 * artifacts.c - jido-web's side of run artifacts. The web never writes the store (the
 * planner does): it asks the planner for metadata (planner.artifacts.*) and opens the
 * blob files read-only to stream them (sendfile, Range, ETag). It owns what concerns HTTP
 * access: share links (HMAC-SHA256 under web.share_key from the vault, rows in web.db),
 * the anomaly guard (per token and per link counters; a crossing freezes the subject,
 * notifies the owner and is audited), and their pages, API routes and web.sock
 * operations (web.share.*, web.guard.*) for the CLI.
 *
 * Threads: everything HTTP runs in the HTTP thread with w->db; the web.sock operations
 * run in the main thread with its connection (w->db_req). The shared state between
 * them is only in web.db (WAL), never in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "web.h"

#define GUARD_SLOTS 256
#define SHARE_TTL_MAX (30LL * 24 * 3600)

struct guard_slot {
	char kind;                 /* 't' token, 'l' link, 0 free */
	char subject[40];
	int64_t minute;
	uint64_t reqs, bytes;
	uint32_t addrs[32];
	int naddr;
	int frozen_seen;           /* it was frozen: an unfreeze (another thread) resets it */
	int64_t used;
};

#define ART_LINEAGE_SLOTS 256

struct web_art {
	unsigned char key[32];     /* web.share_key */
	/* Downloads look their row up here (read-only) instead of asking the planner: the
	 * store's metadata (<home>/artifacts/artifacts.db, committed by the planner before it
	 * acknowledges a put, so a lookup is exact) and each run's lineage (the root of its
	 * retry chain, fixed for the run's life), learnt from the planner's answers. */
	struct jido_art *ro;       /* opened at the first lookup (the planner makes the store) */
	int64_t ro_retry_ms;       /* monotonic ms before which a failed open is not retried */
	struct { char run[72], lineage[72]; } lineage[ART_LINEAGE_SLOTS];
	uint64_t rows_local, rows_planner;
	int key_from_vault;
	struct guard_slot slots[GUARD_SLOTS];
	long long req_per_min, bytes_per_min, addrs_per_min;
	uint64_t share_ok, share_refused, frozen_events, bytes_served;
};

static const char *const art_schema =
	"CREATE TABLE IF NOT EXISTS share_links(id TEXT PRIMARY KEY, run_id TEXT NOT NULL,"
	" name TEXT NOT NULL, version INTEGER NOT NULL, expires_s INTEGER NOT NULL,"
	" once INTEGER NOT NULL, created_ms INTEGER NOT NULL, used_ms INTEGER NOT NULL DEFAULT 0,"
	" revoked_ms INTEGER NOT NULL DEFAULT 0, uses INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS guard_frozen(kind TEXT NOT NULL, subject TEXT NOT NULL,"
	" reason TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (kind, subject));";

static int64_t
art_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ pure helpers (tested) */

int
share_sign(const unsigned char key[32], const char *lid, const char *run, const char *name,
    int version, long long expires_s, char out[65])
{
	char msg[512];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	int n = snprintf(msg, sizeof(msg), "jido-share-v1\n%s\n%s\n%s\n%d\n%lld", lid, run, name,
	    version, expires_s);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return JIDO_EVALIDATION;
	crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (size_t)n, key);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
	return 0;
}

static int
art_seg_ok(const char *s, size_t max, int dots)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || (dots && c == '.')))
			return 0;
	}
	return 1;
}

int
share_parse(const unsigned char key[32], const char *path, struct share_tok *t)
{
	char buf[512], *seg[6], *save = NULL, *p, sig[65], *end;
	int n = 0;

	memset(t, 0, sizeof(*t));
	if (strncmp(path, "/share/", 7) != 0 || strlen(path + 7) >= sizeof(buf))
		return JIDO_EINTEGRITY;
	snprintf(buf, sizeof(buf), "%s", path + 7);
	for (p = strtok_r(buf, "/", &save); p != NULL; p = strtok_r(NULL, "/", &save)) {
		if (n >= 6)
			return JIDO_EINTEGRITY;
		seg[n++] = p;
	}
	if (n != 6 || !art_seg_ok(seg[0], 32, 0) || !art_seg_ok(seg[1], 64, 0) ||
	    !art_seg_ok(seg[2], 8, 0) || !art_seg_ok(seg[3], 12, 0) || strlen(seg[4]) != 64 ||
	    !jido_art_name_ok(seg[5]))
		return JIDO_EINTEGRITY;
	errno = 0;
	long v = strtol(seg[2], &end, 10);
	if (*end != '\0' || v < 1 || v > 1000000 || seg[2][0] == '0')
		return JIDO_EINTEGRITY;
	long long e = strtoll(seg[3], &end, 10);
	if (*end != '\0' || e < 1 || errno != 0 || seg[3][0] == '0')
		return JIDO_EINTEGRITY;
	if (share_sign(key, seg[0], seg[1], seg[5], (int)v, e, sig) != 0 ||
	    sodium_memcmp(sig, seg[4], 64) != 0)
		return JIDO_EINTEGRITY;
	snprintf(t->lid, sizeof(t->lid), "%s", seg[0]);
	snprintf(t->run, sizeof(t->run), "%s", seg[1]);
	snprintf(t->name, sizeof(t->name), "%s", seg[5]);
	t->version = (int)v;
	t->expires_s = e;
	return 0;
}

int
art_range_parse(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	const char *p;
	char *end;

	if (h == NULL || strncasecmp(h, "bytes=", 6) != 0)
		return 0;
	p = h + 6;
	while (*p == ' ')
		p++;
	if (strchr(p, ',') != NULL)
		return 0; /* several ranges: the whole file (allowed by RFC 9110) */
	if (*p == '-') {
		errno = 0;
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (end == p + 1 || *end != '\0' || errno != 0)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		if (n > size)
			n = size;
		*off = size - n;
		*len = n;
		return 1;
	}
	errno = 0;
	unsigned long long a = strtoull(p, &end, 10), b;
	if (end == p || *end != '-' || errno != 0 || *p == '-')
		return 0;
	p = end + 1;
	if (*p == '\0')
		b = size > 0 ? size - 1 : 0;
	else {
		b = strtoull(p, &end, 10);
		if (*end != '\0' || errno != 0 || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

int
art_ttl_parse(const char *s, long long *secs)
{
	char *end;
	long long n, mul = 1;

	if (s == NULL || *s == '\0')
		return JIDO_EVALIDATION;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (end == s || errno != 0 || n <= 0)
		return JIDO_EVALIDATION;
	if (*end == 's' || *end == '\0')
		mul = 1;
	else if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else if (*end == 'd')
		mul = 86400;
	else
		return JIDO_EVALIDATION;
	if (*end != '\0' && end[1] != '\0')
		return JIDO_EVALIDATION;
	if (n > SHARE_TTL_MAX / mul)
		return JIDO_EVALIDATION;
	*secs = n * mul;
	return 0;
}

/* ------------------------------------------------------------ open, close */

/* web.share_key from the vault (the process credential), else random for this run. */
static void
art_key_load(struct web *w, struct web_art *a)
{
	const char *cred = jido_cred_self();
	struct jido_reply r;

	if (cred != NULL && web_call(w, "vault", "vault.get", NULL, json_pack("{s:s,s:s,s:s}",
	    "cred", cred, "name", "web.share_key", "scope", "instance"), &r) == 0) {
		const char *v = r.ok ? json_string_value(json_object_get(r.data, "value")) : NULL;
		if (v != NULL && strlen(v) >= 16) {
			crypto_generichash(a->key, sizeof(a->key), (const unsigned char *)v, strlen(v),
			    (const unsigned char *)"jido-share", 10);
			a->key_from_vault = 1;
		}
		jido_reply_free(&r);
	}
	if (!a->key_from_vault) {
		randombytes_buf(a->key, sizeof(a->key));
		jido_warn("web.share_key_local", "{s:s}", "note", "the vault did not hand out "
		    "web.share_key: share links made now stop working when the web restarts");
	}
}

int
art_web_open(struct web *w, char *why, size_t whylen)
{
	struct web_art *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	w->art = a;
	if (jido_db_exec(w->db, art_schema, why, whylen) != 0)
		return JIDO_EINTERNAL;
	sqlite3_busy_timeout(w->db, 5000);
	a->req_per_min = jido_conf_int(w->conf, "web.guard_requests_per_min");
	a->bytes_per_min = jido_conf_int(w->conf, "web.guard_mbytes_per_min") * 1024 * 1024;
	a->addrs_per_min = jido_conf_int(w->conf, "web.guard_addrs_per_min");
	if (web_serving)
		art_key_load(w, a);
	else
		randombytes_buf(a->key, sizeof(a->key));
	return 0;
}

void
art_web_close(struct web *w)
{
	struct web_art *a = w->art;

	if (a == NULL)
		return;
	sodium_memzero(a->key, sizeof(a->key));
	jido_art_close(a->ro);
	free(a);
	w->art = NULL;
}

/* ------------------------------------------------------------ the anomaly guard */

/* Is (kind, subject) frozen? Fills reason. */
static int
guard_frozen(sqlite3 *db, const char *kind, const char *subject, char *reason, size_t len)
{
	sqlite3_stmt *st;
	int frozen = 0;

	if (sqlite3_prepare_v2(db, "SELECT reason FROM guard_frozen WHERE kind = ? AND subject = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		frozen = 1;
		snprintf(reason, len, "%s", sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	return frozen;
}

/* Freeze: row, audit record, notification, log. */
static void
guard_freeze(struct web *w, const char *kind, const char *subject, const char *reason)
{
	sqlite3_stmt *st;
	char line[400], subj[64];

	if (sqlite3_prepare_v2(w->db, "INSERT OR IGNORE INTO guard_frozen(kind, subject, reason, "
	    "at_ms) VALUES (?,?,?,?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, art_wall_ms());
		sqlite3_step(st);
	}
	sqlite3_finalize(st);
	w->art->frozen_events++;
	snprintf(subj, sizeof(subj), "%s:%s", kind, subject);
	web_audit_as(w, "guard", "system", "guard.freeze", subj, "frozen", json_pack("{s:s}",
	    "reason", reason));
	snprintf(line, sizeof(line), "JidoCode froze %s %s: %s. Unfreeze it on the dashboard "
	    "when this was you.", strcmp(kind, "token") == 0 ? "API token" : "share link", subject,
	    reason);
	notify_event(w, line);
	jido_warn("web.guard_frozen", "{s:s,s:s,s:s}", "kind", kind, "subject", subject, "reason",
	    reason);
}

/* Count one request (and bytes) of (kind, subject) from addr; freeze on a crossing.
 * 0 when the subject may go on. */
static int
guard_count(struct web *w, const char *kind, const char *subject, const char *addr,
    uint64_t bytes, char *reason, size_t len)
{
	struct web_art *a = w->art;
	struct guard_slot *s = NULL, *lru = &a->slots[0];
	int64_t now = jido_now_ms(), minute = now / 60000;
	char k = kind[0];
	int frozen = guard_frozen(w->db, kind, subject, reason, len);

	for (int i = 0; i < GUARD_SLOTS; i++) {
		struct guard_slot *x = &a->slots[i];
		if (x->kind == k && strcmp(x->subject, subject) == 0) {
			s = x;
			break;
		}
		if (x->used < lru->used)
			lru = x;
	}
	if (s == NULL) {
		s = lru;
		memset(s, 0, sizeof(*s));
		s->kind = k;
		snprintf(s->subject, sizeof(s->subject), "%s", subject);
		s->minute = minute;
	}
	s->used = now;
	if (frozen) {
		s->frozen_seen = 1;
		return JIDO_EAUTHZ;
	}
	if (s->frozen_seen) { /* the owner unfroze it: count afresh */
		s->frozen_seen = 0;
		s->minute = -1;
	}
	if (s->minute != minute) {
		s->minute = minute;
		s->reqs = s->bytes = 0;
		s->naddr = 0;
	}
	s->reqs++;
	s->bytes += bytes;
	uint32_t h = 2166136261u;
	for (const char *p = addr; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	int seen = 0;
	for (int i = 0; i < s->naddr; i++)
		seen |= s->addrs[i] == h;
	if (!seen && s->naddr < 32)
		s->addrs[s->naddr++] = h;
	if (a->req_per_min > 0 && s->reqs > (uint64_t)a->req_per_min)
		snprintf(reason, len, "%" PRIu64 " requests in a minute (threshold %lld)", s->reqs,
		    a->req_per_min);
	else if (a->bytes_per_min > 0 && s->bytes > (uint64_t)a->bytes_per_min)
		snprintf(reason, len, "%" PRIu64 " bytes in a minute (threshold %lld)", s->bytes,
		    a->bytes_per_min);
	else if (a->addrs_per_min > 0 && s->naddr > a->addrs_per_min)
		snprintf(reason, len, "%d distinct addresses in a minute (threshold %lld)", s->naddr,
		    a->addrs_per_min);
	else
		return 0;
	guard_freeze(w, kind, subject, reason);
	s->frozen_seen = 1;
	return JIDO_EAUTHZ;
}

int
art_guard_token(struct wreq *q)
{
	char subject[32], reason[200], msg[400];

	snprintf(subject, sizeof(subject), "%lld", (long long)q->token_id);
	if (guard_count(q->w, "token", subject, q->addr, 0, reason, sizeof(reason)) == 0)
		return 0;
	snprintf(msg, sizeof(msg), "this token is frozen by the anomaly guard (%s): the owner "
	    "can unfreeze it on the dashboard or with `jido tokens unfreeze %s`", reason, subject);
	api_error(q, 423, JIDO_EAUTHZ, msg);
	return 1;
}

/* Unfreeze on db (either thread's connection). NOTFOUND when it was not frozen. */
static int
guard_unfreeze(sqlite3 *db, const char *kind, const char *subject)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(db, "DELETE FROM guard_frozen WHERE kind = ? AND subject = ?", -1,
	    &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = sqlite3_changes(db);
	sqlite3_finalize(st);
	return n > 0 ? 0 : JIDO_ENOTFOUND;
}

static json_t *
guard_list(sqlite3 *db)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(db, "SELECT kind, subject, reason, at_ms FROM guard_frozen ORDER BY "
	    "at_ms", -1, &st, NULL) != SQLITE_OK)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I}", "kind",
		    sqlite3_column_text(st, 0), "subject", sqlite3_column_text(st, 1), "reason",
		    sqlite3_column_text(st, 2), "at_ms", (json_int_t)sqlite3_column_int64(st, 3)));
	sqlite3_finalize(st);
	return arr;
}

/* ------------------------------------------------------------ share links */

static void
share_url(struct web *w, const char *lid, const char *run, const char *name, int version,
    long long exp, char *buf, size_t len)
{
	char sig[65];
	const char *base = jido_conf_str(w->conf, "web.public_url");
	size_t bl = strlen(base);

	share_sign(w->art->key, lid, run, name, version, exp, sig);
	snprintf(buf, len, "%.*s/share/%s/%s/%d/%lld/%s/%s", (int)(bl > 0 && base[bl - 1] == '/' ?
	    bl - 1 : bl), base, lid, run, version, exp, sig, name);
}

static json_t *
share_row(struct web *w, sqlite3_stmt *st)
{
	char url[1024];
	const char *lid = (const char *)sqlite3_column_text(st, 0);
	const char *run = (const char *)sqlite3_column_text(st, 1);
	const char *name = (const char *)sqlite3_column_text(st, 2);
	int version = sqlite3_column_int(st, 3);
	long long exp = sqlite3_column_int64(st, 4);
	int64_t used = sqlite3_column_int64(st, 7), revoked = sqlite3_column_int64(st, 8);
	int once = sqlite3_column_int(st, 5);
	const char *state = revoked ? "revoked" : exp * 1000 <= art_wall_ms() ? "expired" :
	    (once && used) ? "used" : "active";

	share_url(w, lid, run, name, version, exp, url, sizeof(url));
	return json_pack("{s:s,s:s,s:s,s:i,s:I,s:b,s:I,s:I,s:I,s:i,s:s,s:s}", "id", lid, "run_id",
	    run, "name", name, "version", version, "expires_s", (json_int_t)exp, "once", once,
	    "created_ms", (json_int_t)sqlite3_column_int64(st, 6), "used_ms", (json_int_t)used,
	    "revoked_ms", (json_int_t)revoked, "uses", sqlite3_column_int(st, 9), "state", state,
	    "url", url);
}

/* Links of a run (NULL: all), newest first; active only when active. */
static json_t *
share_list(struct web *w, sqlite3 *db, const char *run, int active)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(db, "SELECT id, run_id, name, version, expires_s, once, created_ms,"
	    " used_ms, revoked_ms, uses FROM share_links WHERE (?1 IS NULL OR run_id = ?1) ORDER BY"
	    " created_ms DESC LIMIT 200", -1, &st, NULL) != SQLITE_OK)
		return arr;
	if (run != NULL)
		sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = share_row(w, st);
		if (!active || strcmp(json_string_value(json_object_get(r, "state")), "active") == 0)
			json_array_append_new(arr, r);
		else
			json_decref(r);
	}
	sqlite3_finalize(st);
	return arr;
}

/* Make a link (audited first). version 0: the latest now. On 0 *out is the link. */
static int
share_create(struct web *w, sqlite3 *db, const char *channel, const char *run,
    const char *name, int version, long long ttl_s, int once, json_t **out, char *why,
    size_t whylen)
{
	struct jido_reply r;
	char lid[24], subj[64];
	unsigned char raw[8];
	sqlite3_stmt *st;
	int rc;

	if (!art_seg_ok(run, 64, 0) || !jido_art_name_ok(name)) {
		snprintf(why, whylen, "a run id and an artifact name are required");
		return JIDO_EVALIDATION;
	}
	if (ttl_s < 1 || ttl_s > SHARE_TTL_MAX) {
		snprintf(why, whylen, "ttl must be 1 s to 30 days");
		return JIDO_EVALIDATION;
	}
	json_t *d = json_pack("{s:s,s:s}", "run_id", run, "name", name);
	if (version > 0)
		json_object_set_new(d, "version", json_integer(version));
	if ((rc = web_call(w, "planner", "planner.artifacts.get", NULL, d, &r)) != 0) {
		snprintf(why, whylen, "jido-planner does not answer");
		return JIDO_EUNAVAIL;
	}
	if (!r.ok) {
		snprintf(why, whylen, "%s", r.message ? r.message : "refused");
		rc = r.err;
		jido_reply_free(&r);
		return rc;
	}
	version = (int)json_integer_value(json_object_get(r.data, "version"));
	jido_reply_free(&r);
	randombytes_buf(raw, sizeof(raw));
	memcpy(lid, "l_", 2);
	sodium_bin2hex(lid + 2, sizeof(lid) - 2, raw, sizeof(raw));
	long long exp = (art_wall_ms() / 1000) + ttl_s;
	snprintf(subj, sizeof(subj), "link:%s", lid);
	if (web_audit_as(w, "owner", channel, "artifact.share.create", subj, "ok", json_pack(
	    "{s:s,s:s,s:i,s:I,s:b}", "run_id", run, "name", name, "version", version, "expires_s",
	    (json_int_t)exp, "once", once)) != 0) {
		snprintf(why, whylen, "the auditor did not confirm the record: no link was made");
		return JIDO_EUNAVAIL;
	}
	if (sqlite3_prepare_v2(db, "INSERT INTO share_links(id, run_id, name, version, expires_s, "
	    "once, created_ms) VALUES (?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, whylen, "web database: %s", sqlite3_errmsg(db));
		return JIDO_EINTERNAL;
	}
	sqlite3_bind_text(st, 1, lid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, run, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, version);
	sqlite3_bind_int64(st, 5, exp);
	sqlite3_bind_int(st, 6, once);
	sqlite3_bind_int64(st, 7, art_wall_ms());
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
	sqlite3_finalize(st);
	if (rc != 0) {
		snprintf(why, whylen, "web database: %s", sqlite3_errmsg(db));
		return rc;
	}
	char url[1024];
	share_url(w, lid, run, name, version, exp, url, sizeof(url));
	*out = json_pack("{s:s,s:s,s:s,s:i,s:I,s:b,s:s,s:s}", "id", lid, "run_id", run, "name",
	    name, "version", version, "expires_s", (json_int_t)exp, "once", once, "state", "active",
	    "url", url);
	return 0;
}

/* Revoke at once; the audit record follows (a failed record does not keep a link alive). */
static int
share_revoke(struct web *w, sqlite3 *db, const char *channel, const char *lid, char *why,
    size_t whylen)
{
	sqlite3_stmt *st;
	int n = 0;
	char subj[64];

	if (sqlite3_prepare_v2(db, "UPDATE share_links SET revoked_ms = ? WHERE id = ? AND "
	    "revoked_ms = 0", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_int64(st, 1, art_wall_ms());
	sqlite3_bind_text(st, 2, lid, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		n = sqlite3_changes(db);
	sqlite3_finalize(st);
	if (n == 0) {
		snprintf(why, whylen, "no active link '%s'", lid);
		return JIDO_ENOTFOUND;
	}
	snprintf(subj, sizeof(subj), "link:%s", lid);
	if (web_audit_as(w, "owner", channel, "artifact.share.revoke", subj, "ok", NULL) != 0)
		jido_warn("web.audit_failed", "{s:s,s:s}", "action", "artifact.share.revoke", "link",
		    lid);
	return 0;
}

/* ------------------------------------------------------------ streaming */

/* Stream the blob of row (planner.artifacts.get's answer) with Range, ETag and the
 * rest. *sent receives the bytes that will go out. */
static void
art_stream(struct wreq *q, const json_t *row, uint64_t *sent)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
	const char *rel = json_string_value(json_object_get(row, "path"));
	const char *hash = json_string_value(json_object_get(row, "hash"));
	const char *name = json_string_value(json_object_get(row, "name"));
	const char *media = json_string_value(json_object_get(row, "media_type"));
	char path[PATH_MAX + 300], etag[72], v[128];
	struct stat sb;
	uint64_t off = 0, len, size = (uint64_t)json_integer_value(json_object_get(row, "size"));
	int fd, rr, code = 200;

	*sent = 0;
	if (rel == NULL || hash == NULL || name == NULL || strstr(rel, "..") != NULL) {
		art_fail_page(q, 500, JIDO_EINTERNAL, "Artifact unavailable",
		    "the planner's answer names no blob");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", q->w->home, rel);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		art_fail_page(q, 410, JIDO_ENOTFOUND, "Artifact gone",
		    "the file is no longer kept (retention)");
		return;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size) {
		close(fd);
		art_fail_page(q, 500, JIDO_EINTEGRITY, "Artifact damaged",
		    "the stored file does not have the recorded size");
		return;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", hash);
	evhttp_add_header(h, "ETag", etag);
	evhttp_add_header(h, "Accept-Ranges", "bytes");
	snprintf(v, sizeof(v), "attachment; filename=\"%s\"", name);
	evhttp_add_header(h, "Content-Disposition", v);
	snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(json_object_get(row,
	    "version")));
	evhttp_add_header(h, "X-Artifact-Version", v);
	const char *inm = web_header(q, "If-None-Match");
	if (inm != NULL && strcmp(inm, etag) == 0) {
		close(fd);
		web_send(q, 304, NULL, NULL);
		return;
	}
	const char *ifr = web_header(q, "If-Range");
	rr = (ifr == NULL || strcmp(ifr, etag) == 0) ? art_range_parse(web_header(q, "Range"),
	    size, &off, &len) : 0;
	if (rr < 0) {
		close(fd);
		snprintf(v, sizeof(v), "bytes */%" PRIu64, size);
		evhttp_add_header(h, "Content-Range", v);
		web_send(q, 416, "text/plain; charset=utf-8", NULL);
		return;
	}
	if (rr > 0) {
		code = 206;
		snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1,
		    size);
		evhttp_add_header(h, "Content-Range", v);
	} else {
		off = 0;
		len = size;
	}
	*sent = len;
	q->w->art->bytes_served += len;
	web_send_file(q, code, media ? media : "application/octet-stream", fd, (off_t)off,
	    (off_t)len);
}

/* The lineage slot of a run id (a hash of it). */
static unsigned
art_lineage_slot(const char *run)
{
	unsigned h = 2166136261u;

	for (; *run != '\0'; run++)
		h = (h ^ (unsigned char)*run) * 16777619u;
	return h % ART_LINEAGE_SLOTS;
}

/* The row from the read-only store when the run's lineage is known: 0 with *row, else
 * nonzero (then the planner is asked). The store is opened here, at the first lookup
 * (under the allowlist: sqlite's open and reads are in the base list), as the web may
 * start before the planner has made it; a failed open is retried after 5 s. */
static int
art_get_row_local(struct web *w, struct web_art *a, const char *run, const char *name,
    int version, json_t **row)
{
	unsigned k = art_lineage_slot(run);
	char path[PATH_MAX];

	if (a->ro == NULL && jido_now_ms() >= a->ro_retry_ms) {
		char root[PATH_MAX + 16], ewhy[256];
		snprintf(root, sizeof(root), "%s/artifacts", w->home);
		if (jido_art_open_ro(root, &a->ro, ewhy, sizeof(ewhy)) != 0) {
			a->ro_retry_ms = jido_now_ms() + 5000;
			jido_info("web.artifacts_ro", "{s:s}", "why", ewhy);
		}
	}
	if (a->ro == NULL || strcmp(a->lineage[k].run, run) != 0 || !jido_art_name_ok(name) ||
	    jido_art_get(a->ro, a->lineage[k].lineage, name, version, row) != 0)
		return -1;
	if (jido_art_blob_path("artifacts", json_string_value(json_object_get(*row, "hash")),
	    path, sizeof(path)) != 0) {
		json_decref(*row);
		*row = NULL;
		return -1;
	}
	json_object_set_new(*row, "path", json_string(path));
	a->rows_local++;
	return 0;
}

/* The row of (run, name, version; 0 = latest): from the read-only store when the run's
 * lineage is known, else planner.artifacts.get (whose answer teaches the lineage, and whose
 * refusals -- no such run, artifact or version -- are the typed errors). On 0 *row is a new
 * reference. */
static int
art_get_row(struct web *w, const char *run, const char *name, int version, json_t **row,
    char *why, size_t whylen)
{
	struct jido_reply r;
	json_t *d;
	int rc;

	if (art_get_row_local(w, w->art, run, name, version, row) == 0)
		return 0;
	d = json_pack("{s:s,s:s}", "run_id", run, "name", name);
	if (version > 0)
		json_object_set_new(d, "version", json_integer(version));
	if (web_call(w, "planner", "planner.artifacts.get", NULL, d, &r) != 0) {
		snprintf(why, whylen, "jido-planner does not answer");
		return JIDO_EUNAVAIL;
	}
	if (!r.ok) {
		snprintf(why, whylen, "%s", r.message ? r.message : "refused");
		rc = r.err;
	} else {
		const char *lin = json_string_value(json_object_get(r.data, "lineage"));
		unsigned k = art_lineage_slot(run);
		*row = json_incref(r.data);
		w->art->rows_planner++;
		if (lin != NULL && strlen(run) < sizeof(w->art->lineage[k].run) &&
		    strlen(lin) < sizeof(w->art->lineage[k].lineage)) {
			snprintf(w->art->lineage[k].run, sizeof(w->art->lineage[k].run), "%s", run);
			snprintf(w->art->lineage[k].lineage, sizeof(w->art->lineage[k].lineage), "%s",
			    lin);
		}
		rc = 0;
	}
	jido_reply_free(&r);
	return rc;
}

/* ?version=N: 0 when absent, -1 when not a positive integer. */
static int
art_version_param(struct wreq *q)
{
	const char *s = web_query(q, "version");
	char *end;
	long v;

	if (s == NULL)
		return 0;
	v = strtol(s, &end, 10);
	return *end != '\0' || end == s || v < 1 || v > 1000000 ? -1 : (int)v;
}

/* A small HTML page for refusals (share links have no session: no site chrome). */
void
art_fail_page(struct wreq *q, int status, int code, const char *title, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	html_printf(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s"
	    " — JidoCode</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>"
	    "<main><h1>%s</h1><p>%s</p><p class=\"muted\">%s</p></main></body></html>\n", title,
	    title, text, jido_err_name(code));
	web_send(q, status, "text/html; charset=utf-8", b);
}

/* ------------------------------------------------------------ GET /share/... */

void
share_serve(struct wreq *q)
{
	struct web *w = q->w;
	struct share_tok t;
	sqlite3_stmt *st;
	const char *ua = web_header(q, "User-Agent");
	char subj[64], reason[200];
	int found = 0, once = 0, status = 0;
	int64_t used = 0, revoked = 0;
	const char *res = NULL, *title = NULL, *text = NULL;
	json_t *row = NULL;

	if (q->method != EVHTTP_REQ_GET && q->method != EVHTTP_REQ_HEAD) {
		art_fail_page(q, 405, JIDO_EVALIDATION, "Method not allowed", "links are read only");
		return;
	}
	if (share_parse(w->art->key, q->path, &t) != 0) {
		snprintf(subj, sizeof(subj), "link:unknown");
		status = 403;
		res = "tampered";
		title = "This link is not valid";
		text = "The link was changed or was not made by this JidoCode.";
		goto refuse;
	}
	snprintf(subj, sizeof(subj), "link:%s", t.lid);
	if (sqlite3_prepare_v2(w->db, "SELECT once, used_ms, revoked_ms FROM share_links WHERE id "
	    "= ? AND run_id = ? AND name = ? AND version = ? AND expires_s = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, t.lid, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, t.run, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, t.name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, t.version);
		sqlite3_bind_int64(st, 5, t.expires_s);
		if (sqlite3_step(st) == SQLITE_ROW) {
			found = 1;
			once = sqlite3_column_int(st, 0);
			used = sqlite3_column_int64(st, 1);
			revoked = sqlite3_column_int64(st, 2);
		}
		sqlite3_finalize(st);
	}
	if (!found) {
		status = 403, res = "unknown", title = "This link is not valid";
		text = "No such link was made by this JidoCode.";
	} else if (revoked) {
		status = 410, res = "revoked", title = "This link was revoked";
		text = "The owner revoked this link. Ask them for a new one.";
	} else if (t.expires_s * 1000 <= art_wall_ms()) {
		status = 410, res = "expired", title = "This link has expired";
		text = "The link's time is up. Ask the owner for a new one.";
	} else if (once && used) {
		status = 410, res = "used", title = "This link was already used";
		text = "It could be used once only. Ask the owner for a new one.";
	} else if (guard_count(w, "link", t.lid, q->addr, 0, reason, sizeof(reason)) != 0) {
		status = 423, res = "frozen", title = "This link is frozen";
		text = "Unusual use of this link froze it; the owner has been told.";
	} else if (art_get_row(w, t.run, t.name, t.version, &row, reason, sizeof(reason)) != 0) {
		status = 410, res = "gone", title = "This file is no longer kept";
		text = "The artifact was removed by its retention rule.";
	}
	if (status != 0)
		goto refuse;
	if (once) {
		int n = 0;
		if (sqlite3_prepare_v2(w->db, "UPDATE share_links SET used_ms = ? WHERE id = ? AND "
		    "used_ms = 0", -1, &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, art_wall_ms());
			sqlite3_bind_text(st, 2, t.lid, -1, SQLITE_STATIC);
			if (sqlite3_step(st) == SQLITE_DONE)
				n = sqlite3_changes(w->db);
			sqlite3_finalize(st);
		}
		if (n == 0) {
			status = 410, res = "used", title = "This link was already used";
			text = "It could be used once only. Ask the owner for a new one.";
			goto refuse;
		}
	}
	/* the use is audited before a byte goes out */
	if (web_audit_as(w, "anonymous", "web", "artifact.share.use", subj, "ok", json_pack(
	    "{s:s,s:s,s:s,s:i,s:s,s:s}", "link", t.lid, "run_id", t.run, "name", t.name, "version",
	    t.version, "address", q->addr, "user_agent", ua ? ua : "")) != 0) {
		if (once) /* give the single use back: nothing was served */
			if (sqlite3_prepare_v2(w->db, "UPDATE share_links SET used_ms = 0 WHERE id = ?",
			    -1, &st, NULL) == SQLITE_OK) {
				sqlite3_bind_text(st, 1, t.lid, -1, SQLITE_STATIC);
				sqlite3_step(st);
				sqlite3_finalize(st);
			}
		json_decref(row);
		art_fail_page(q, 503, JIDO_EUNAVAIL, "Try again later",
		    "The access could not be recorded, so nothing was sent.");
		return;
	}
	if (sqlite3_prepare_v2(w->db, "UPDATE share_links SET uses = uses + 1 WHERE id = ?", -1, &st,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, t.lid, -1, SQLITE_STATIC);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	w->art->share_ok++;
	uint64_t sent;
	art_stream(q, row, &sent);
	json_decref(row);
	if (sent > 0 && guard_count(w, "link", t.lid, q->addr, sent, reason, sizeof(reason)) != 0)
		jido_info("web.share_frozen_after", "{s:s}", "link", t.lid);
	return;
refuse:
	w->art->share_refused++;
	if (web_audit_as(w, "anonymous", "web", "artifact.share.use", subj, "refused", json_pack(
	    "{s:s,s:s,s:s,s:s}", "reason", res, "path", q->path, "address", q->addr, "user_agent",
	    ua ? ua : "")) != 0)
		jido_warn("web.audit_failed", "{s:s,s:s}", "action", "artifact.share.use", "reason",
		    res);
	json_decref(row);
	art_fail_page(q, status, status == 403 ? JIDO_EAUTHZ : status == 423 ? JIDO_EAUTHZ :
	    JIDO_ENOTFOUND, title, text);
}

/* ------------------------------------------------------------ REST API */

static void
art_api_forward(struct wreq *q, const char *type, json_t *d)
{
	struct jido_reply r;

	if (web_call(q->w, "planner", type, NULL, d, &r) != 0) {
		api_error(q, 503, JIDO_EUNAVAIL, "jido-planner does not answer");
		return;
	}
	if (!r.ok)
		api_error(q, web_err_status(r.err), r.err, r.message);
	else
		api_json(q, 200, json_incref(r.data));
	jido_reply_free(&r);
}

void
api_artifacts_list(struct wreq *q)
{
	art_api_forward(q, "planner.artifacts.list", json_pack("{s:s}", "run_id", q->params[0]));
}

void
api_artifacts_versions(struct wreq *q)
{
	art_api_forward(q, "planner.artifacts.history", json_pack("{s:s,s:s}", "run_id",
	    q->params[0], "name", q->params[1]));
}

void
api_artifacts_get(struct wreq *q)
{
	int version = art_version_param(q);
	json_t *row = NULL;
	char why[256], subject[32], reason[200];
	uint64_t sent;

	if (version < 0) {
		api_error(q, 422, JIDO_EVALIDATION, "version must be a positive integer");
		return;
	}
	int rc = art_get_row(q->w, q->params[0], q->params[1], version, &row, why, sizeof(why));
	if (rc != 0) {
		api_error(q, rc == JIDO_EUNAVAIL ? 503 : web_err_status(rc), rc, why);
		return;
	}
	art_stream(q, row, &sent);
	json_decref(row);
	snprintf(subject, sizeof(subject), "%lld", (long long)q->token_id);
	if (sent > 0)
		guard_count(q->w, "token", subject, q->addr, sent, reason, sizeof(reason));
}

void
api_artifacts_share(struct wreq *q)
{
	json_t *ttl = json_object_get(q->body, "ttl"), *once = json_object_get(q->body, "once");
	json_t *ver = json_object_get(q->body, "version"), *out = NULL;
	long long secs = 3600;
	char why[256];
	int rc;

	if (ttl != NULL && !(json_is_string(ttl) && art_ttl_parse(json_string_value(ttl),
	    &secs) == 0) && !(json_is_integer(ttl) && (secs = json_integer_value(ttl)) > 0)) {
		api_error(q, 422, JIDO_EVALIDATION, "ttl: seconds or 30s/15m/1h/2d, at most 30 days");
		return;
	}
	if ((once != NULL && !json_is_boolean(once)) || (ver != NULL && (!json_is_integer(ver) ||
	    json_integer_value(ver) < 1))) {
		api_error(q, 422, JIDO_EVALIDATION, "once must be a boolean, version a number >= 1");
		return;
	}
	rc = share_create(q->w, q->w->db, "api", q->params[0], q->params[1], ver ?
	    (int)json_integer_value(ver) : 0, secs, json_is_true(once), &out, why, sizeof(why));
	if (rc != 0)
		api_error(q, rc == JIDO_EUNAVAIL ? 503 : web_err_status(rc), rc, why);
	else
		api_json(q, 201, out);
}

void
api_links_list(struct wreq *q)
{
	const char *run = web_query(q, "run");
	int all = web_query(q, "all") != NULL;

	api_json(q, 200, json_pack("{s:o}", "links", share_list(q->w, q->w->db, run, !all)));
}

void
api_links_revoke(struct wreq *q)
{
	char why[256];
	int rc = share_revoke(q->w, q->w->db, "api", q->params[0], why, sizeof(why));

	if (rc != 0)
		api_error(q, web_err_status(rc), rc, why);
	else
		api_json(q, 200, json_pack("{s:s,s:s}", "id", q->params[0], "state", "revoked"));
}

/* ------------------------------------------------------------ web.sock (the CLI) */

int
art_web_handle(struct web *w, sqlite3 *db, const char *t, const json_t *d, json_t **out,
    char *why, size_t whylen)
{
	const char *chan = json_string_value(json_object_get(d, "channel"));

	if (strcmp(t, "web.share.create") == 0) {
		const char *run = json_string_value(json_object_get(d, "run_id"));
		const char *name = json_string_value(json_object_get(d, "name"));
		json_t *ttl = json_object_get(d, "ttl"), *v = json_object_get(d, "version");
		long long secs = 0;
		if (run == NULL || name == NULL || (v != NULL && !json_is_integer(v)) ||
		    !((json_is_integer(ttl) && (secs = json_integer_value(ttl)) > 0) ||
		    (json_is_string(ttl) && art_ttl_parse(json_string_value(ttl), &secs) == 0))) {
			snprintf(why, whylen, "data needs run_id, name, ttl (seconds or 30s/15m/1h/7d, "
			    "at most 30 days) and version? (integer)");
			return JIDO_EVALIDATION;
		}
		return share_create(w, db, "cli", run, name, v ? (int)json_integer_value(v) : 0,
		    secs, json_is_true(json_object_get(d, "once")), out, why, whylen);
	}
	if (strcmp(t, "web.share.list") == 0) {
		*out = json_pack("{s:o}", "links", share_list(w, db, json_string_value(
		    json_object_get(d, "run_id")), !json_is_true(json_object_get(d, "all"))));
		return 0;
	}
	if (strcmp(t, "web.share.revoke") == 0) {
		const char *lid = json_string_value(json_object_get(d, "id"));
		int rc;
		if (lid == NULL || !art_seg_ok(lid, 32, 0)) {
			snprintf(why, whylen, "data.id: a link id (l_...)");
			return JIDO_EVALIDATION;
		}
		if ((rc = share_revoke(w, db, "cli", lid, why, whylen)) != 0)
			return rc;
		*out = json_pack("{s:s,s:s}", "id", lid, "state", "revoked");
		return 0;
	}
	if (strcmp(t, "web.guard.list") == 0) {
		*out = json_pack("{s:o}", "frozen", guard_list(db));
		return 0;
	}
	if (strcmp(t, "web.guard.unfreeze") == 0) {
		const char *kind = json_string_value(json_object_get(d, "kind"));
		const char *subject = json_string_value(json_object_get(d, "subject"));
		if (kind == NULL || (strcmp(kind, "token") != 0 && strcmp(kind, "link") != 0) ||
		    subject == NULL || !art_seg_ok(subject, 32, 0)) {
			snprintf(why, whylen, "data needs kind (token or link) and subject");
			return JIDO_EVALIDATION;
		}
		if (guard_unfreeze(db, kind, subject) != 0) {
			snprintf(why, whylen, "%s %s is not frozen", kind, subject);
			return JIDO_ENOTFOUND;
		}
		char subj[64];
		snprintf(subj, sizeof(subj), "%s:%s", kind, subject);
		web_audit_as(w, "owner", chan != NULL ? chan : "cli", "guard.unfreeze", subj, "ok",
		    NULL);
		*out = json_pack("{s:s,s:s,s:b}", "kind", kind, "subject", subject, "frozen", 0);
		return 0;
	}
	snprintf(why, whylen, "unknown type '%s'", t);
	return JIDO_EVALIDATION;
}

/* ------------------------------------------------------------ pages */

void
art_page_section(struct wreq *q, struct evbuffer *b, long long pid, const char *rid)
{
	struct jido_reply r;
	json_t *a;
	size_t i;
	char csrf[65], t[40];

	auth_csrf_token(q->w, q->sess, csrf);
	html_printf(b, "<h2 id=\"artifacts\">Artifacts</h2>");
	if (web_call(q->w, "planner", "planner.artifacts.list", NULL, json_pack("{s:s}", "run_id",
	    rid), &r) != 0) {
		html_printf(b, "<p class=\"muted\">Not available: jido-planner does not answer.</p>");
		return;
	}
	if (!r.ok || json_array_size(json_object_get(r.data, "artifacts")) == 0) {
		html_printf(b, "<p class=\"muted\">%s</p>", r.ok ? "None yet." : r.message);
		jido_reply_free(&r);
		return;
	}
	html_printf(b, "<div class=\"scroll\"><table><tr><th>name</th><th>kind</th><th>version"
	    "</th><th>size</th><th>sha-256</th><th>redaction</th><th>created</th><th>share</th>"
	    "</tr>");
	json_array_foreach(json_object_get(r.data, "artifacts"), i, a) {
		const char *name = json_string_value(json_object_get(a, "name"));
		long long ver = json_integer_value(json_object_get(a, "version"));
		html_time(json_integer_value(json_object_get(a, "created_ms")), t, sizeof(t));
		html_printf(b, "<tr><td><a href=\"/projects/%lld/runs/%U/artifacts/%U\">%s</a></td>"
		    "<td>%s</td><td>v%lld", pid, rid, name, name, json_string_value(
		    json_object_get(a, "kind")), ver);
		for (long long v = 1; v < ver; v++)
			html_printf(b, " <a href=\"/projects/%lld/runs/%U/artifacts/%U?version=%lld\">"
			    "v%lld</a>", pid, rid, name, v, v);
		char short_hash[13];
		snprintf(short_hash, sizeof(short_hash), "%s", json_string_value(json_object_get(a,
		    "hash")));
		html_printf(b, "</td><td>%lld</td><td><code title=\"%s\">%s</code></td><td>%s</td><td>%s</td>"
		    "<td><form class=\"inline\" method=\"post\" action=\"/projects/%lld/runs/%U/"
		    "artifacts/%U/share\"><input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		    "<select name=\"ttl\"><option>15m</option><option selected>1h</option>"
		    "<option>1d</option><option>7d</option></select> <label><input type=\"checkbox\" "
		    "name=\"once\" value=\"1\"> once</label> <button>Share</button></form></td></tr>",
		    (long long)json_integer_value(json_object_get(a, "size")), json_string_value(
		    json_object_get(a, "hash")), short_hash, json_string_value(json_object_get(a,
		    "redaction")), t,
		    pid, rid, name, csrf);
	}
	html_printf(b, "</table></div>");
	jido_reply_free(&r);
	json_t *links = share_list(q->w, q->w->db, rid, 1), *l;
	html_printf(b, "<h3>Active share links</h3>");
	if (json_array_size(links) == 0)
		html_printf(b, "<p class=\"muted\">None.</p>");
	json_array_foreach(links, i, l) {
		html_time(json_integer_value(json_object_get(l, "expires_s")) * 1000, t, sizeof(t));
		html_printf(b, "<p><code>%s</code> %s v%lld until %s%s: <input readonly size=\"60\" "
		    "value=\"%s\"> <form class=\"inline\" method=\"post\" action=\"/projects/%lld/runs/"
		    "%U/links/%U/revoke\"><input type=\"hidden\" name=\"csrf\" value=\"%s\"><button "
		    "class=\"danger\">Revoke</button></form></p>", json_string_value(json_object_get(l,
		    "id")), json_string_value(json_object_get(l, "name")), (long long)
		    json_integer_value(json_object_get(l, "version")), t, json_is_true(
		    json_object_get(l, "once")) ? " (once)" : "", json_string_value(
		    json_object_get(l, "url")), pid, rid, json_string_value(json_object_get(l, "id")),
		    csrf);
	}
	json_decref(links);
}

void
pg_artifact_download(struct wreq *q)
{
	int version = art_version_param(q);
	json_t *row = NULL;
	char why[256];
	uint64_t sent;

	if (version < 0) {
		art_fail_page(q, 422, JIDO_EVALIDATION, "Bad version", "version must be a number");
		return;
	}
	int rc = art_get_row(q->w, q->params[1], q->params[2], version, &row, why, sizeof(why));
	if (rc != 0) {
		art_fail_page(q, rc == JIDO_EUNAVAIL ? 503 : web_err_status(rc), rc,
		    "Artifact unavailable", why);
		return;
	}
	art_stream(q, row, &sent);
	json_decref(row);
}

void
pg_artifact_share(struct wreq *q)
{
	long long secs;
	json_t *out = NULL;
	char why[256], loc[300];
	int rc;

	if (art_ttl_parse(web_form(q, "ttl"), &secs) != 0) {
		art_fail_page(q, 422, JIDO_EVALIDATION, "Bad duration", "choose how long the link "
		    "works");
		return;
	}
	rc = share_create(q->w, q->w->db, "web", q->params[1], q->params[2], 0, secs,
	    web_form(q, "once") != NULL, &out, why, sizeof(why));
	json_decref(out);
	if (rc != 0) {
		art_fail_page(q, rc == JIDO_EUNAVAIL ? 503 : web_err_status(rc), rc,
		    "No link was made", why);
		return;
	}
	snprintf(loc, sizeof(loc), "/projects/%s/runs/%s#artifacts", q->params[0], q->params[1]);
	web_redirect(q, loc);
}

void
pg_link_revoke(struct wreq *q)
{
	char why[256], loc[300];
	int rc = share_revoke(q->w, q->w->db, "web", q->params[2], why, sizeof(why));

	if (rc != 0) {
		art_fail_page(q, web_err_status(rc), rc, "Not revoked", why);
		return;
	}
	snprintf(loc, sizeof(loc), "/projects/%s/runs/%s#artifacts", q->params[0], q->params[1]);
	web_redirect(q, loc);
}

void
pg_guard_unfreeze(struct wreq *q)
{
	const char *kind = q->params[0], *subject = q->params[1];
	char subj[64];

	if (strcmp(kind, "project") == 0) { /* the planner's per-project guard */
		struct jido_reply r;
		char *end = NULL;
		long long id = strtoll(subject, &end, 10);
		int rc = end == subject || *end != '\0' || id <= 0 ? JIDO_EVALIDATION :
		    web_call(q->w, "planner", "planner.guard.unfreeze", NULL, json_pack(
		    "{s:I,s:s,s:s}", "project", (json_int_t)id, "actor", "owner", "channel", "web"), &r);
		if (rc == 0) {
			rc = r.ok ? 0 : r.err ? r.err : JIDO_EINTERNAL;
			jido_reply_free(&r);
		}
		if (rc != 0) {
			art_fail_page(q, web_err_status(rc), rc, "Not unfrozen", jido_strerror(rc));
			return;
		}
		web_redirect(q, "/dashboard");
		return;
	}
	if ((strcmp(kind, "token") != 0 && strcmp(kind, "link") != 0) ||
	    guard_unfreeze(q->w->db, kind, subject) != 0) {
		art_fail_page(q, 404, JIDO_ENOTFOUND, "Not frozen", "nothing to unfreeze");
		return;
	}
	snprintf(subj, sizeof(subj), "%s:%s", kind, subject);
	web_audit_as(q->w, "owner", "web", "guard.unfreeze", subj, "ok", NULL);
	web_redirect(q, "/dashboard");
}

void
art_guard_section(struct wreq *q, struct evbuffer *b)
{
	json_t *fr = guard_list(q->w->db), *f;
	size_t i;
	char csrf[65], t[40];
	struct jido_reply r;

	/* projects the planner's guard froze (pushes and comments per hour) */
	if (web_call(q->w, "planner", "planner.guard.list", NULL, json_object(), &r) == 0) {
		json_array_foreach(json_object_get(r.ok ? r.data : NULL, "frozen"), i, f) {
			char id[24];
			snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(
			    json_object_get(f, "project_id")));
			json_array_append_new(fr, json_pack("{s:s,s:s,s:s,s:O,s:O}", "kind", "project",
			    "subject", id, "name", json_string_value(json_object_get(f, "project")) ?
			    json_string_value(json_object_get(f, "project")) : id, "reason",
			    json_object_get(f, "reason"), "at_ms", json_object_get(f, "at_ms")));
		}
		jido_reply_free(&r);
	}
	if (json_array_size(fr) == 0) {
		json_decref(fr);
		return;
	}
	auth_csrf_token(q->w, q->sess, csrf);
	html_printf(b, "<h2>Frozen by the anomaly guard</h2><div class=\"card\">");
	json_array_foreach(fr, i, f) {
		html_time(json_integer_value(json_object_get(f, "at_ms")), t, sizeof(t));
		html_printf(b, "<p><strong>%s %s</strong> since %s: %s <form class=\"inline\" "
		    "method=\"post\" action=\"/guard/%U/%U/unfreeze\"><input type=\"hidden\" "
		    "name=\"csrf\" value=\"%s\"><button>Unfreeze</button></form></p>",
		    json_string_value(json_object_get(f, "kind")), json_string_value(
		    json_object_get(f, json_object_get(f, "name") ? "name" : "subject")), t,
		    json_string_value(json_object_get(f, "reason")),
		    json_string_value(json_object_get(f, "kind")), json_string_value(
		    json_object_get(f, "subject")), csrf);
	}
	html_printf(b, "</div>");
	json_decref(fr);
}

void
art_security_section(struct wreq *q, struct evbuffer *b)
{
	struct jido_reply r;

	html_printf(b, "<h2>Artifacts</h2>");
	if (web_call(q->w, "planner", "planner.artifacts.usage", NULL, NULL, &r) != 0 || !r.ok) {
		html_printf(b, "<p class=\"muted\">Disk usage not available from jido-planner.</p>");
		if (r.root != NULL)
			jido_reply_free(&r);
		return;
	}
	html_printf(b, "<p>Stored: <strong>%lld</strong> bytes in %lld blobs for %lld artifact "
	    "versions (%lld bytes before deduplication). Logs and transcripts are kept %lld days; "
	    "diffs, reports, plans and PR links for the run's life.</p>",
	    (long long)json_integer_value(json_object_get(r.data, "bytes")),
	    (long long)json_integer_value(json_object_get(r.data, "blobs")),
	    (long long)json_integer_value(json_object_get(r.data, "rows")),
	    (long long)json_integer_value(json_object_get(r.data, "logical_bytes")),
	    jido_conf_int(q->w->conf, "artifacts.log_days"));
	jido_reply_free(&r);
	html_printf(b, "<p>Share links served %llu times, refused %llu times; the anomaly guard "
	    "froze something %llu times since the web started.</p>",
	    (unsigned long long)q->w->art->share_ok, (unsigned long long)q->w->art->share_refused,
	    (unsigned long long)q->w->art->frozen_events);
}

void
art_metrics(struct web *w, struct evbuffer *b)
{
	struct jido_reply r;
	json_t *fr = guard_list(w->db);

	if (web_call(w, "planner", "planner.artifacts.usage", NULL, NULL, &r) == 0) {
		if (r.ok)
			evbuffer_add_printf(b, "# HELP jido_artifacts_bytes bytes of distinct artifact "
			    "blobs on disk\n# TYPE jido_artifacts_bytes gauge\njido_artifacts_bytes %lld\n"
			    "# HELP jido_artifacts_blobs distinct artifact blobs on disk\n"
			    "# TYPE jido_artifacts_blobs gauge\njido_artifacts_blobs %lld\n"
			    "# HELP jido_artifacts_versions artifact versions recorded\n"
			    "# TYPE jido_artifacts_versions gauge\njido_artifacts_versions %lld\n",
			    (long long)json_integer_value(json_object_get(r.data, "bytes")),
			    (long long)json_integer_value(json_object_get(r.data, "blobs")),
			    (long long)json_integer_value(json_object_get(r.data, "rows")));
		jido_reply_free(&r);
	}
	evbuffer_add_printf(b, "# HELP jido_artifact_bytes_served_total artifact bytes sent\n"
	    "# TYPE jido_artifact_bytes_served_total counter\n"
	    "jido_artifact_bytes_served_total %llu\n"
	    "# HELP jido_share_uses_total share link requests by result\n"
	    "# TYPE jido_share_uses_total counter\n"
	    "jido_share_uses_total{result=\"ok\"} %llu\njido_share_uses_total{result=\"refused\"} "
	    "%llu\n# HELP jido_guard_frozen tokens and links the anomaly guard holds frozen\n"
	    "# TYPE jido_guard_frozen gauge\njido_guard_frozen %zu\n"
	    "# HELP jido_artifact_lookups_total download metadata lookups by where they came from\n"
	    "# TYPE jido_artifact_lookups_total counter\n"
	    "jido_artifact_lookups_total{source=\"store\"} %llu\n"
	    "jido_artifact_lookups_total{source=\"planner\"} %llu\n",
	    (unsigned long long)w->art->bytes_served, (unsigned long long)w->art->share_ok,
	    (unsigned long long)w->art->share_refused, json_array_size(fr),
	    (unsigned long long)w->art->rows_local, (unsigned long long)w->art->rows_planner);
	json_decref(fr);
}
