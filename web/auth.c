/*
 * auth.c - who may use jido-web: the owner password (Argon2id, libsodium's
 * crypto_pwhash_str), sessions (random tokens; only their SHA-256 is stored), CSRF tokens
 * (HMAC-SHA256 of the session, or of a pre-session cookie, under web.session_key), the
 * login rate limit (per address, per minute), API tokens (jido_..., stored hashed, scoped,
 * expiring, revocable) with a token bucket each, and the audit records the web writes.
 * The database is $JIDO_HOME/web.db; only the HTTP thread uses it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <sqlite3.h>

#include "web.h"

#define PW_MIN 10
#define PW_MAX 1024
#define AUTH_LAST_USED_MS 60000 /* a token's last_used_ms is written at most this often */
/* Argon2id at OWASP's minimum (19 MiB, 2 passes): keeps a login well under the web's
 * memory budget while staying memory-hard. */
#define PW_OPS 2
#define PW_MEM (19u << 20)

static const char *const web_migrations[] = {
	"CREATE TABLE owner(id INTEGER PRIMARY KEY CHECK (id = 1), pwhash TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL);"
	"CREATE TABLE sessions(hash TEXT PRIMARY KEY, created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL);"
	"CREATE TABLE tokens(id INTEGER PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
	" prefix TEXT NOT NULL, scopes INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL, last_used_ms INTEGER, revoked_ms INTEGER);"
	"CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
};

static int64_t
auth_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
web_db_connect(struct web *w, struct sqlite3 **out, char *why, size_t whylen)
{
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/web.db", w->home);
	return jido_db_open(path, web_migrations, (int)(sizeof(web_migrations) /
	    sizeof(web_migrations[0])), out, why, whylen);
}

int
web_db_open(struct web *w, char *why, size_t whylen)
{
	return web_db_connect(w, &w->db, why, whylen);
}

/* Run a statement with text/int64 arguments described by fmt ('s', 'i'); 0 on success. */
static int
auth_exec(sqlite3 *db, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	va_start(ap, fmt);
	for (int i = 0; fmt[i] != '\0'; i++) {
		if (fmt[i] == 's')
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc == SQLITE_CONSTRAINT ?
	    JIDO_ECONFLICT : JIDO_EINTERNAL;
}

/* SHA-256 of s as hex into out (65 bytes). */
static void
auth_sha256_hex(const char *s, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

int
auth_owner_exists(struct web *w)
{
	sqlite3_stmt *st;
	int n = 0;

	if (sqlite3_prepare_v2(w->db, "SELECT count(*) FROM owner", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n > 0;
}

int
auth_setup_done(struct web *w)
{
	sqlite3_stmt *st;
	int done = 0;

	if (sqlite3_prepare_v2(w->db, "SELECT value FROM settings WHERE key = 'setup_done'", -1,
	    &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		done = strcmp((const char *)sqlite3_column_text(st, 0), "1") == 0;
	sqlite3_finalize(st);
	return done && auth_owner_exists(w);
}

int
auth_setup_finish(struct web *w)
{
	return auth_exec(w->db, "INSERT INTO settings(key, value) VALUES ('setup_done', '1') "
	    "ON CONFLICT(key) DO UPDATE SET value = '1'", "");
}

int
auth_owner_create(struct web *w, const char *password, char *why, size_t whylen)
{
	char hash[crypto_pwhash_STRBYTES];
	size_t n = password ? strlen(password) : 0;
	int rc;

	if (auth_owner_exists(w)) {
		snprintf(why, whylen, "the owner password is already set");
		return JIDO_ECONFLICT;
	}
	if (n < PW_MIN || n > PW_MAX) {
		snprintf(why, whylen, "the password must be %d to %d characters long", PW_MIN,
		    PW_MAX);
		return JIDO_EVALIDATION;
	}
	if (crypto_pwhash_str(hash, password, n, PW_OPS, PW_MEM) != 0) {
		snprintf(why, whylen, "out of memory hashing the password");
		return JIDO_EINTERNAL;
	}
	rc = auth_exec(w->db, "INSERT INTO owner(id, pwhash, created_ms) VALUES (1, ?, ?)", "si", hash,
	    auth_wall_ms());
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0)
		snprintf(why, whylen, rc == JIDO_ECONFLICT ? "the owner password is already set" :
		    "cannot store the password");
	return rc;
}

int
auth_password_check(struct web *w, const char *password)
{
	sqlite3_stmt *st;
	int rc = JIDO_EAUTHZ;

	if (password == NULL || strlen(password) > PW_MAX)
		return JIDO_EAUTHZ;
	if (sqlite3_prepare_v2(w->db, "SELECT pwhash FROM owner WHERE id = 1", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    crypto_pwhash_str_verify((const char *)sqlite3_column_text(st, 0), password,
	    strlen(password)) == 0)
		rc = 0;
	sqlite3_finalize(st);
	return rc;
}

int
auth_session_new(struct web *w, char tok[65])
{
	unsigned char raw[32];
	char h[65];
	int64_t now = auth_wall_ms();
	int64_t ttl = jido_conf_int(w->conf, "web.session_hours") * 3600000LL;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(tok, 65, raw, sizeof(raw));
	auth_sha256_hex(tok, h);
	auth_exec(w->db, "DELETE FROM sessions WHERE expires_ms < ?", "i", now);
	return auth_exec(w->db, "INSERT INTO sessions(hash, created_ms, expires_ms, last_ms) VALUES "
	    "(?, ?, ?, ?)", "siii", h, now, now + ttl, now);
}

/* A session token is 64 lower-case hex characters. */
static int
auth_tok_ok(const char *tok)
{
	if (tok == NULL || strlen(tok) != 64)
		return 0;
	for (; *tok; tok++)
		if (!((*tok >= '0' && *tok <= '9') || (*tok >= 'a' && *tok <= 'f')))
			return 0;
	return 1;
}

int
auth_session_check(struct web *w, const char *tok)
{
	sqlite3_stmt *st;
	char h[65];
	int ok = 0;

	if (!auth_tok_ok(tok))
		return JIDO_EAUTHZ;
	auth_sha256_hex(tok, h);
	if (sqlite3_prepare_v2(w->db, "SELECT expires_ms FROM sessions WHERE hash = ?", -1, &st,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, h, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > auth_wall_ms())
			ok = 1;
	}
	sqlite3_finalize(st);
	return ok ? 0 : JIDO_EAUTHZ;
}

void
auth_session_end(struct web *w, const char *tok)
{
	char h[65];

	if (!auth_tok_ok(tok))
		return;
	auth_sha256_hex(tok, h);
	auth_exec(w->db, "DELETE FROM sessions WHERE hash = ?", "s", h);
}

void
auth_csrf_token(struct web *w, const char *bound, char out[65])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, w->key, sizeof(w->key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)"csrf:", 5);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)bound, strlen(bound));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2hex(out, 65, mac, sizeof(mac));
}

int
auth_csrf_check(struct web *w, const char *bound, const char *given)
{
	char want[65];

	if (bound == NULL || bound[0] == '\0' || given == NULL || strlen(given) != 64)
		return JIDO_EAUTHZ;
	auth_csrf_token(w, bound, want);
	return sodium_memcmp(want, given, 64) == 0 ? 0 : JIDO_EAUTHZ;
}

int
auth_login_limit(struct web *w, const char *addr, int64_t now)
{
	struct rl_login *e = NULL, *oldest = &w->logins[0];
	int per_min = (int)jido_conf_int(w->conf, "web.login_per_min");

	if (per_min < 1)
		per_min = 1;
	if (per_min > 8)
		per_min = 8;
	for (int i = 0; i < WEB_RL_SLOTS; i++) {
		if (strcmp(w->logins[i].addr, addr) == 0) {
			e = &w->logins[i];
			break;
		}
		if (w->logins[i].used < oldest->used)
			oldest = &w->logins[i];
	}
	if (e == NULL) {
		e = oldest;
		memset(e, 0, sizeof(*e));
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
	}
	e->used = now;
	/* drop attempts older than a minute (the ring holds the newest per_min) */
	while (e->n > 0 && now - e->at[(e->head - e->n + 8) % 8] >= 60000)
		e->n--;
	if (e->n >= per_min) {
		int64_t first = e->at[(e->head - e->n + 8) % 8];
		int wait = (int)((first + 60000 - now + 999) / 1000);
		return wait < 1 ? 1 : wait;
	}
	e->at[e->head] = now;
	e->head = (e->head + 1) % 8;
	e->n++;
	return 0;
}

/* ------------------------------------------------------------ API tokens */

static const char *const scope_names[] = { "read", "run", "approve", "admin" };

int
auth_scopes_parse(const char *s)
{
	int set = 0;

	while (s != NULL && *s != '\0') {
		const char *end = strpbrk(s, ", ");
		size_t n = end ? (size_t)(end - s) : strlen(s);
		int found = n == 0;
		for (int i = 0; i < 4 && !found; i++)
			if (strlen(scope_names[i]) == n && strncmp(scope_names[i], s, n) == 0) {
				set |= 1 << i;
				found = 1;
			}
		if (!found)
			return -1;
		s = end ? end + 1 : s + n;
	}
	return set;
}

const char *
auth_scopes_text(int scopes, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; i < 4; i++)
		if (scopes & (1 << i))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? "," : "",
			    scope_names[i]);
	return buf;
}

int
auth_token_create(sqlite3 *db, const char *name, int scopes, int expires_days, char tok[80],
    int64_t *id, char *why, size_t whylen)
{
	unsigned char raw[24];
	char h[65], hex[49], prefix[16];
	int64_t now = auth_wall_ms();
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) > 100) {
		snprintf(why, whylen, "name: must be 1 to 100 characters");
		return JIDO_EVALIDATION;
	}
	if (scopes <= 0 || scopes > 15) {
		snprintf(why, whylen, "scopes: choose at least one of read, run, approve, admin");
		return JIDO_EVALIDATION;
	}
	if (expires_days < 0 || expires_days > 3650) {
		snprintf(why, whylen, "expires_days: must be 0 (never) to 3650");
		return JIDO_EVALIDATION;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	snprintf(tok, 80, "jido_%s", hex);
	snprintf(prefix, sizeof(prefix), "%.13s", tok);
	auth_sha256_hex(tok, h);
	rc = auth_exec(db, "INSERT INTO tokens(name, hash, prefix, scopes, created_ms, expires_ms) "
	    "VALUES (?, ?, ?, ?, ?, ?)", "sssiii", name, h, prefix, (int64_t)scopes, now,
	    expires_days > 0 ? now + (int64_t)expires_days * 86400000 : (int64_t)0);
	sodium_memzero(hex, sizeof(hex));
	if (rc != 0) {
		snprintf(why, whylen, "cannot store the token");
		return rc;
	}
	*id = sqlite3_last_insert_rowid(db);
	return 0;
}

int
auth_token_check(struct web *w, const char *tok, int64_t *id, int *scopes)
{
	sqlite3_stmt *st;
	char h[65];
	int64_t now = auth_wall_ms(), last = 0;
	int rc = JIDO_EAUTHZ;

	if (tok == NULL || strncmp(tok, "jido_", 5) != 0 || strlen(tok) != 53)
		return JIDO_EAUTHZ;
	auth_sha256_hex(tok, h);
	if (sqlite3_prepare_v2(w->db, "SELECT id, scopes, coalesce(last_used_ms, 0) FROM tokens "
	    "WHERE hash = ? AND revoked_ms IS NULL AND (expires_ms = 0 OR expires_ms > ?)", -1, &st,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, h, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*id = sqlite3_column_int64(st, 0);
			*scopes = sqlite3_column_int(st, 1);
			last = sqlite3_column_int64(st, 2);
			rc = 0;
		}
	}
	sqlite3_finalize(st);
	/* "last used" to the minute: a write (and its fsync) per request would cost every
	 * API call, downloads included, a disk flush */
	if (rc == 0 && (last == 0 || now - last >= AUTH_LAST_USED_MS || now < last))
		auth_exec(w->db, "UPDATE tokens SET last_used_ms = ? WHERE id = ?", "ii", now, *id);
	return rc;
}

int
auth_token_revoke(sqlite3 *db, int64_t id)
{
	if (auth_exec(db, "UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
	    "ii", auth_wall_ms(), id) != 0)
		return JIDO_EINTERNAL;
	return sqlite3_changes(db) == 1 ? 0 : JIDO_ENOTFOUND;
}

json_t *
auth_token_list(sqlite3 *db)
{
	sqlite3_stmt *st;
	json_t *a = json_array();
	char sc[40];

	if (sqlite3_prepare_v2(db, "SELECT id, name, prefix, scopes, created_ms, expires_ms, "
	    "last_used_ms, revoked_ms FROM tokens ORDER BY id DESC", -1, &st, NULL) != SQLITE_OK)
		return a;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *t = json_pack("{s:I,s:s,s:s,s:s,s:I}", "id",
		    (json_int_t)sqlite3_column_int64(st, 0), "name", sqlite3_column_text(st, 1),
		    "prefix", sqlite3_column_text(st, 2), "scopes",
		    auth_scopes_text(sqlite3_column_int(st, 3), sc, sizeof(sc)), "created_ms",
		    (json_int_t)sqlite3_column_int64(st, 4));
		int64_t exp = sqlite3_column_int64(st, 5);
		json_object_set_new(t, "expires_ms", exp ? json_integer(exp) : json_null());
		json_object_set_new(t, "last_used_ms", sqlite3_column_type(st, 6) == SQLITE_NULL ?
		    json_null() : json_integer(sqlite3_column_int64(st, 6)));
		json_object_set_new(t, "revoked_ms", sqlite3_column_type(st, 7) == SQLITE_NULL ?
		    json_null() : json_integer(sqlite3_column_int64(st, 7)));
		json_object_set_new(t, "active", json_boolean(sqlite3_column_type(st, 7) ==
		    SQLITE_NULL && (exp == 0 || exp > auth_wall_ms())));
		json_array_append_new(a, t);
	}
	sqlite3_finalize(st);
	return a;
}

int
auth_api_limit(struct web *w, int64_t id, int64_t now, int *remaining, int *limit, int *reset_s)
{
	struct rl_bucket *b = NULL, *oldest = &w->buckets[0];
	double per_ms = (double)jido_conf_int(w->conf, "web.api_per_min") / 60000.0;
	double cap = (double)jido_conf_int(w->conf, "web.api_burst");

	if (per_ms <= 0)
		per_ms = 1.0 / 60000.0;
	if (cap < 1)
		cap = 1;
	for (int i = 0; i < WEB_RL_SLOTS; i++) {
		if (w->buckets[i].token_id == id && w->buckets[i].at != 0) {
			b = &w->buckets[i];
			break;
		}
		if (w->buckets[i].at < oldest->at)
			oldest = &w->buckets[i];
	}
	if (b == NULL) {
		b = oldest;
		b->token_id = id;
		b->level = cap;
		b->at = now;
	}
	b->level += (double)(now - b->at) * per_ms;
	if (b->level > cap)
		b->level = cap;
	b->at = now;
	*limit = (int)cap;
	if (b->level < 1.0) {
		int wait = (int)((1.0 - b->level) / per_ms / 1000.0) + 1;
		*remaining = 0;
		*reset_s = wait;
		return wait;
	}
	b->level -= 1.0;
	*remaining = (int)b->level;
	*reset_s = (int)((cap - b->level) / per_ms / 1000.0) + 1;
	return 0;
}

int
web_audit(struct web *w, const char *channel, const char *action, const char *subject,
    const char *result, json_t *details)
{
	return web_audit_as(w, "owner", channel, action, subject, result, details);
}

int
web_audit_as(struct web *w, const char *actor, const char *channel, const char *action,
    const char *subject, const char *result, json_t *details)
{
	struct jido_reply r;
	json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "actor", actor, "channel", channel,
	    "action", action, "subject", subject, "result", result, "details",
	    details ? details : json_object());
	int rc;

	if (rec == NULL)
		return JIDO_EINTERNAL;
	if ((rc = web_call(w, "auditor", "audit.append", NULL, rec, &r)) != 0) {
		jido_warn("web.audit_failed", "{s:s,s:s}", "action", action, "why", jido_strerror(rc));
		return JIDO_EUNAVAIL;
	}
	rc = r.ok ? 0 : JIDO_EUNAVAIL;
	if (!r.ok)
		jido_warn("web.audit_failed", "{s:s,s:s}", "action", action, "why",
		    r.message ? r.message : "");
	jido_reply_free(&r);
	return rc;
}
