/*
 * store.c - the vault's encrypted store. Key hierarchy:
 *   master key (KEK): Argon2id(passphrase file, salt) or the 32 bytes of a 0600 key file;
 *   data keys (DEK): random, stored wrapped (XChaCha20-Poly1305) under the master key;
 *   values: XChaCha20-Poly1305 under a data key, with "name\0scope\0version" as
 *   associated data, so a ciphertext moved to another row does not authenticate.
 * The master key only lives in this file's functions (wiped after use); data keys and
 * values live in sodium_malloc'd (locked, guarded) memory and are wiped on release.
 * Rekey rewraps every data key and the kek row in one SQLite transaction (WAL,
 * synchronous=FULL): a crash leaves the old or the new wrapping, never a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "vault.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KDF_SALT crypto_pwhash_SALTBYTES
#define PASS_MAX 1024

static const char *const store_migrations[] = {
	/* 1: the whole schema */
	"CREATE TABLE kek(id INTEGER PRIMARY KEY CHECK (id = 1), kind TEXT NOT NULL,"
	" salt BLOB, ops INTEGER, mem INTEGER, changed_at INTEGER NOT NULL);"
	"CREATE TABLE dek(id INTEGER PRIMARY KEY, nonce BLOB NOT NULL, wrapped BLOB NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE secret(name TEXT NOT NULL, scope TEXT NOT NULL, current INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL, rotated_at INTEGER NOT NULL, expires_at INTEGER,"
	" max_age_s INTEGER NOT NULL, PRIMARY KEY (name, scope));"
	"CREATE TABLE version(name TEXT NOT NULL, scope TEXT NOT NULL, version INTEGER NOT NULL,"
	" dek_id INTEGER NOT NULL REFERENCES dek(id), nonce BLOB NOT NULL, ct BLOB NOT NULL,"
	" created_at INTEGER NOT NULL, valid_until INTEGER, PRIMARY KEY (name, scope, version),"
	" FOREIGN KEY (name, scope) REFERENCES secret(name, scope) ON DELETE CASCADE);",
};
#define STORE_NMIG ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

static int
store_sql_fail(struct vault_store *vs, char *why, size_t whylen)
{
	return jido_fail(JIDO_EINTERNAL, why, whylen, "sqlite: %s", sqlite3_errmsg(vs->db));
}

int
vault_keycfg_from_conf(const struct jido_conf *c, const char *home, struct vault_keycfg *kc,
    char *why, size_t whylen)
{
	const char *pf = jido_conf_str(c, "vault.passphrase_file");
	const char *kf = jido_conf_str(c, "vault.key_file");
	int n;

	memset(kc, 0, sizeof(*kc));
	if (pf != NULL && pf[0] != '\0' &&
	    (n = snprintf(kc->passphrase_file, sizeof(kc->passphrase_file), "%s", pf)) >=
	    (int)sizeof(kc->passphrase_file))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "vault.passphrase_file too long");
	if (kf != NULL && kf[0] != '\0')
		n = snprintf(kc->key_file, sizeof(kc->key_file), "%s", kf);
	else {
		n = snprintf(kc->key_file, sizeof(kc->key_file), "%s/vault.key", home);
		kc->create_key_file = 1;
	}
	if (n < 0 || n >= (int)sizeof(kc->key_file))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "vault.key_file too long");
	return 0;
}

/* Read a small secret file (at most cap-1 bytes) into buf (sodium_malloc'd by the
 * caller). The file must not be readable or writable by group or others. */
static int
store_read_secret_file(const char *path, const char *what, char *buf, size_t cap, size_t *len,
    char *why, size_t whylen)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return jido_fail(errno == ENOENT ? JIDO_ENOTFOUND : JIDO_ESECRET, why, whylen,
		    "cannot read %s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return jido_fail(JIDO_ESECRET, why, whylen, "%s %s is not a regular file", what,
		    path);
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return jido_fail(JIDO_ESECRET, why, whylen,
		    "%s %s is readable by others (mode %03o): chmod 600 it", what, path,
		    (unsigned)(st.st_mode & 0777));
	}
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	*len = got;
	return 0;
}

/* The master key from a key file: 32 raw bytes, or 64 hex chars (+ newline). */
static int
store_kek_from_key_file(const char *path, unsigned char *kek, char *why, size_t whylen)
{
	char *buf = sodium_malloc(200);
	size_t len = 0, bin = 0;
	int rc;

	if (buf == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
	if ((rc = store_read_secret_file(path, "key file", buf, 200, &len, why, whylen)) != 0)
		goto out;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == VAULT_KEY_BYTES)
		memcpy(kek, buf, VAULT_KEY_BYTES);
	else if (len != 2 * VAULT_KEY_BYTES || sodium_hex2bin(kek, VAULT_KEY_BYTES, buf, len, NULL,
	    &bin, NULL) != 0 || bin != VAULT_KEY_BYTES)
		rc = jido_fail(JIDO_ESECRET, why, whylen,
		    "key file %s must hold 32 bytes or 64 hex characters", path);
out:
	sodium_free(buf);
	return rc;
}

/* The master key from a passphrase file (path) or a typed passphrase (path NULL, typed)
 * and the stored salt and cost. */
static int
store_kek_from_passphrase(const char *path, const char *typed, const unsigned char *salt,
    unsigned long long ops, size_t mem, unsigned char *kek, char *why, size_t whylen)
{
	char *buf = sodium_malloc(PASS_MAX);
	size_t len = 0;
	int rc;

	if (buf == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
	if (path == NULL) { /* typed: kc->passphrase, handed over by the caller */
		len = strlen(typed);
		if (len >= PASS_MAX) {
			rc = jido_fail(JIDO_EVALIDATION, why, whylen, "passphrase too long");
			goto out;
		}
		memcpy(buf, typed, len + 1);
	} else if ((rc = store_read_secret_file(path, "passphrase file", buf, PASS_MAX, &len,
	    why, whylen)) != 0)
		goto out;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len < 8) {
		rc = jido_fail(JIDO_EVALIDATION, why, whylen,
		    "passphrase in %s is shorter than 8 characters", path);
		goto out;
	}
	if (crypto_pwhash(kek, VAULT_KEY_BYTES, buf, len, salt, ops, mem,
	    crypto_pwhash_ALG_ARGON2ID13) != 0)
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "Argon2id ran out of memory");
out:
	sodium_free(buf);
	return rc;
}

/* Create a fresh key file (0600, 64 hex chars) at path; it must not exist. */
static int
store_key_file_create(const char *path, char *why, size_t whylen)
{
	unsigned char *raw = sodium_malloc(VAULT_KEY_BYTES);
	char *hex = sodium_malloc(2 * VAULT_KEY_BYTES + 2);
	int fd, rc = 0;
	size_t n = 2 * VAULT_KEY_BYTES + 1;

	if (raw == NULL || hex == NULL) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
		goto out;
	}
	randombytes_buf(raw, VAULT_KEY_BYTES);
	sodium_bin2hex(hex, 2 * VAULT_KEY_BYTES + 1, raw, VAULT_KEY_BYTES);
	hex[2 * VAULT_KEY_BYTES] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create key file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (write(fd, hex, n) != (ssize_t)n || fsync(fd) != 0) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot write key file %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		goto out;
	}
	close(fd);
out:
	sodium_free(raw);
	sodium_free(hex);
	return rc;
}

/* Associated data of a wrapped data key: binds it to its id and the kek kind. */
static size_t
store_dek_ad(char *buf, size_t len, int64_t id, const char *kind)
{
	int n = snprintf(buf, len, "jido-vault:dek:%lld:%s", (long long)id, kind);

	return n < 0 ? 0 : (size_t)n;
}

/* Associated data of a value: "jido-vault:v1\0name\0scope\0version". */
static size_t
store_value_ad(unsigned char *buf, size_t len, const char *name, const char *scope,
    int64_t version)
{
	int n = snprintf((char *)buf, len, "jido-vault:v1%c%s%c%s%c%lld", 0, name, 0, scope, 0,
	    (long long)version);

	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

/* The kek row, as stored. */
struct store_kek {
	int present;
	char kind[16];
	unsigned char salt[KDF_SALT];
	long long ops;
	long long mem;
};

static int
store_kek_read(struct vault_store *vs, struct store_kek *k, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	memset(k, 0, sizeof(*k));
	if (sqlite3_prepare_v2(vs->db, "SELECT kind, salt, ops, mem FROM kek WHERE id = 1", -1,
	    &st, NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *kind = (const char *)sqlite3_column_text(st, 0);
		k->present = 1;
		snprintf(k->kind, sizeof(k->kind), "%s", kind ? kind : "");
		if (sqlite3_column_bytes(st, 1) == KDF_SALT)
			memcpy(k->salt, sqlite3_column_blob(st, 1), KDF_SALT);
		k->ops = sqlite3_column_int64(st, 2);
		k->mem = sqlite3_column_int64(st, 3);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_sql_fail(vs, why, whylen);
}

/* Derive the master key for kek k from kc. A kind that does not match the configuration
 * is a clear error naming what to configure. */
static int
store_kek_derive(const struct store_kek *k, const struct vault_keycfg *kc, unsigned char *kek,
    char *why, size_t whylen)
{
	if (strcmp(k->kind, "argon2id") == 0) {
		if (kc->passphrase_file[0] == '\0' && kc->passphrase == NULL)
			return jido_fail(JIDO_ESECRET, why, whylen, "this vault is sealed with a "
			    "passphrase: set vault.passphrase_file (JIDO_VAULT_PASSPHRASE_FILE) or "
			    "start it with 'jido up' in a terminal");
		if (k->ops < 1 || k->mem < 8192 || k->mem > (1LL << 32))
			return jido_fail(JIDO_EINTEGRITY, why, whylen, "stored Argon2id cost is "
			    "out of range");
		return store_kek_from_passphrase(kc->passphrase_file[0] != '\0' ?
		    kc->passphrase_file : NULL, kc->passphrase, k->salt,
		    (unsigned long long)k->ops, (size_t)k->mem, kek, why, whylen);
	}
	if (strcmp(k->kind, "key_file") == 0) {
		if (kc->passphrase_file[0] != '\0' || kc->passphrase != NULL)
			return jido_fail(JIDO_ESECRET, why, whylen, "this vault is sealed with a "
			    "key file, but a passphrase is configured: unset "
			    "vault.passphrase_file and set vault.key_file");
		return store_kek_from_key_file(kc->key_file, kek, why, whylen);
	}
	return jido_fail(JIDO_EINTEGRITY, why, whylen, "unknown master key kind '%s'", k->kind);
}

static void
store_deks_free(struct vault_store *vs)
{
	for (int i = 0; i < vs->ndeks; i++)
		sodium_free(vs->deks[i]);
	vs->ndeks = 0;
}

/* Unwrap every data key with kek into vs->deks. JIDO_EAUTHZ when one does not
 * authenticate (wrong passphrase or key file). */
static int
store_deks_unwrap(struct vault_store *vs, const unsigned char *kek, const char *kind, char *why,
    size_t whylen)
{
	sqlite3_stmt *st;
	char ad[96];
	int rc;

	if (sqlite3_prepare_v2(vs->db, "SELECT id, nonce, wrapped FROM dek ORDER BY id", -1, &st,
	    NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const unsigned char *nonce = sqlite3_column_blob(st, 1);
		const unsigned char *w = sqlite3_column_blob(st, 2);
		int wl = sqlite3_column_bytes(st, 2);
		size_t adl = store_dek_ad(ad, sizeof(ad), id, kind);
		unsigned long long outl;
		unsigned char *dek;

		if (vs->ndeks >= VAULT_MAX_DEKS) {
			sqlite3_finalize(st);
			return jido_fail(JIDO_EINTERNAL, why, whylen, "too many data keys");
		}
		if ((dek = sodium_malloc(VAULT_KEY_BYTES)) == NULL) {
			sqlite3_finalize(st);
			return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
		}
		if (sqlite3_column_bytes(st, 1) != AEAD_NONCE ||
		    wl != VAULT_KEY_BYTES + AEAD_TAG ||
		    crypto_aead_xchacha20poly1305_ietf_decrypt(dek, &outl, NULL, w, (size_t)wl,
		    (const unsigned char *)ad, adl, nonce, kek) != 0) {
			sodium_free(dek);
			sqlite3_finalize(st);
			return jido_fail(JIDO_EAUTHZ, why, whylen, "wrong passphrase or key file: "
			    "the vault's data key does not authenticate under it");
		}
		vs->dek_ids[vs->ndeks] = id;
		vs->deks[vs->ndeks++] = dek;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return store_sql_fail(vs, why, whylen);
	if (vs->ndeks == 0)
		return jido_fail(JIDO_EINTEGRITY, why, whylen, "the vault has no data key");
	return 0;
}

/* Wrap dek (id) under kek and write the row (insert or replace). */
static int
store_dek_write(struct vault_store *vs, int64_t id, const unsigned char *dek,
    const unsigned char *kek, const char *kind, char *why, size_t whylen)
{
	unsigned char nonce[AEAD_NONCE], w[VAULT_KEY_BYTES + AEAD_TAG];
	unsigned long long wl;
	char ad[96];
	size_t adl = store_dek_ad(ad, sizeof(ad), id, kind);
	sqlite3_stmt *st;
	int rc;

	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(w, &wl, dek, VAULT_KEY_BYTES,
	    (const unsigned char *)ad, adl, NULL, nonce, kek);
	if (sqlite3_prepare_v2(vs->db, "INSERT INTO dek(id, nonce, wrapped, created_at) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET nonce = ?2, wrapped = ?3",
	    -1, &st, NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, nonce, sizeof(nonce), SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 3, w, (int)wl, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_sql_fail(vs, why, whylen);
}

static int
store_kek_write(struct vault_store *vs, const struct store_kek *k, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(vs->db, "INSERT OR REPLACE INTO kek(id, kind, salt, ops, mem, "
	    "changed_at) VALUES (1, ?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	sqlite3_bind_text(st, 1, k->kind, -1, SQLITE_TRANSIENT);
	if (strcmp(k->kind, "argon2id") == 0) {
		sqlite3_bind_blob(st, 2, k->salt, KDF_SALT, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, k->ops);
		sqlite3_bind_int64(st, 4, k->mem);
	}
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_sql_fail(vs, why, whylen);
}

/* A new kek row and master key for kc (fresh salt for a passphrase). */
static int
store_kek_new(const struct vault_keycfg *kc, struct store_kek *k, unsigned char *kek,
    char *why, size_t whylen)
{
	memset(k, 0, sizeof(*k));
	k->present = 1;
	if (kc->passphrase_file[0] != '\0' || kc->passphrase != NULL) {
		snprintf(k->kind, sizeof(k->kind), "argon2id");
		randombytes_buf(k->salt, sizeof(k->salt));
		k->ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		k->mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	} else
		snprintf(k->kind, sizeof(k->kind), "key_file");
	return store_kek_derive(k, kc, kek, why, whylen);
}

/* First open: master key (creating the key file when allowed), one data key. */
static int
store_init(struct vault_store *vs, const struct vault_keycfg *kc, unsigned char *kek, char *why,
    size_t whylen)
{
	struct store_kek k;
	unsigned char *dek;
	int rc;

	if (kc->passphrase_file[0] == '\0' && kc->passphrase == NULL &&
	    access(kc->key_file, F_OK) != 0) {
		if (!kc->create_key_file)
			return jido_fail(JIDO_ESECRET, why, whylen, "key file %s does not exist",
			    kc->key_file);
		if ((rc = store_key_file_create(kc->key_file, why, whylen)) != 0)
			return rc;
		vs->key_file_created = 1;
	}
	if ((rc = store_kek_new(kc, &k, kek, why, whylen)) != 0)
		return rc;
	if ((dek = sodium_malloc(VAULT_KEY_BYTES)) == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
	randombytes_buf(dek, VAULT_KEY_BYTES);
	if ((rc = jido_db_exec(vs->db, "BEGIN IMMEDIATE", why, whylen)) != 0 ||
	    (rc = store_kek_write(vs, &k, why, whylen)) != 0 ||
	    (rc = store_dek_write(vs, 1, dek, kek, k.kind, why, whylen)) != 0 ||
	    (rc = jido_db_exec(vs->db, "COMMIT", why, whylen)) != 0) {
		sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
		sodium_free(dek);
		return rc;
	}
	sodium_free(dek);
	snprintf(vs->kind, sizeof(vs->kind), "%s", k.kind);
	vs->created = 1;
	return 0;
}

int
vault_store_open(struct vault_store *vs, const char *dbpath, const struct vault_keycfg *kc,
    int create, int readonly, char *why, size_t whylen)
{
	struct store_kek k;
	unsigned char *kek = NULL;
	int rc;

	memset(vs, 0, sizeof(*vs));
	if (readonly || !create) {
		if (access(dbpath, F_OK) != 0)
			return jido_fail(JIDO_ENOTFOUND, why, whylen, "no vault database at %s",
			    dbpath);
	}
	if (readonly) {
		if (sqlite3_open_v2(dbpath, &vs->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
			rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot open %s: %s", dbpath,
			    vs->db ? sqlite3_errmsg(vs->db) : "out of memory");
			goto fail;
		}
	} else if ((rc = jido_db_open(dbpath, store_migrations, STORE_NMIG, &vs->db, why,
	    whylen)) != 0)
		return rc;
	/* No plaintext in freed pages or temp files. */
	if (!readonly && (rc = jido_db_exec(vs->db, "PRAGMA secure_delete=ON;"
	    "PRAGMA temp_store=MEMORY;", why, whylen)) != 0)
		goto fail;
	if ((kek = sodium_malloc(VAULT_KEY_BYTES)) == NULL) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
		goto fail;
	}
	if ((rc = store_kek_read(vs, &k, why, whylen)) != 0)
		goto fail;
	if (!k.present) {
		if (readonly) {
			rc = jido_fail(JIDO_ENOTFOUND, why, whylen, "%s holds no vault", dbpath);
			goto fail;
		}
		if ((rc = store_init(vs, kc, kek, why, whylen)) != 0)
			goto fail;
	} else {
		if ((rc = store_kek_derive(&k, kc, kek, why, whylen)) != 0)
			goto fail;
		snprintf(vs->kind, sizeof(vs->kind), "%s", k.kind);
	}
	if ((rc = store_deks_unwrap(vs, kek, vs->kind, why, whylen)) != 0)
		goto fail;
	if ((vs->scratch = sodium_malloc(VAULT_VALUE_MAX + 1)) == NULL) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
		goto fail;
	}
	sodium_free(kek);
	return 0;
fail:
	sodium_free(kek);
	vault_store_close(vs);
	return rc;
}

void
vault_store_close(struct vault_store *vs)
{
	store_deks_free(vs);
	if (vs->scratch != NULL) {
		sodium_memzero(vs->scratch, VAULT_VALUE_MAX + 1);
		sodium_free(vs->scratch);
	}
	vs->scratch = NULL;
	if (vs->st_get != NULL)
		sqlite3_finalize(vs->st_get);
	vs->st_get = NULL;
	if (vs->db != NULL)
		sqlite3_close(vs->db);
	vs->db = NULL;
}

int
vault_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > VAULT_NAME_MAX || !((name[0] >= 'a' && name[0] <= 'z') ||
	    (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return 0;
	}
	return name[n - 1] != '.';
}

int
vault_scope_ok(const char *scope)
{
	size_t n;

	if (scope == NULL)
		return 0;
	if (strcmp(scope, "instance") == 0)
		return 1;
	if (strncmp(scope, "project:", 8) != 0)
		return 0;
	n = strlen(scope + 8);
	if (n == 0 || n > 64)
		return 0;
	for (const char *p = scope + 8; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

/* Encrypt value as (name, scope, version) under the newest data key and insert it. */
static int
store_version_insert(struct vault_store *vs, const char *name, const char *scope,
    int64_t version, const char *value, size_t len, int64_t now, char *why, size_t whylen)
{
	unsigned char nonce[AEAD_NONCE], ad[VAULT_NAME_MAX + VAULT_SCOPE_MAX + 64];
	size_t adl = store_value_ad(ad, sizeof(ad), name, scope, version);
	unsigned long long ctl;
	unsigned char *ct = malloc(len + AEAD_TAG);
	sqlite3_stmt *st;
	int rc, di = vs->ndeks - 1;

	if (ct == NULL || adl == 0) {
		free(ct);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
	}
	randombytes_buf(nonce, sizeof(nonce));
	crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctl, (const unsigned char *)value, len,
	    ad, adl, NULL, nonce, vs->deks[di]);
	if (sqlite3_prepare_v2(vs->db, "INSERT INTO version(name, scope, version, dek_id, nonce, "
	    "ct, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK) {
		free(ct);
		return store_sql_fail(vs, why, whylen);
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, version);
	sqlite3_bind_int64(st, 4, vs->dek_ids[di]);
	sqlite3_bind_blob(st, 5, nonce, sizeof(nonce), SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, ct, (int)ctl, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	free(ct); /* ciphertext only */
	return rc == SQLITE_DONE ? 0 : store_sql_fail(vs, why, whylen);
}

int
vault_store_put(struct vault_store *vs, const char *name, const char *scope, const char *value,
    size_t len, int64_t max_age_s, int64_t expires_at, char *why, size_t whylen)
{
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	int rc;

	if ((rc = jido_db_exec(vs->db, "BEGIN IMMEDIATE", why, whylen)) != 0)
		return rc;
	if (sqlite3_prepare_v2(vs->db, "INSERT INTO secret(name, scope, current, created_at, "
	    "rotated_at, expires_at, max_age_s) VALUES (?, ?, 1, ?, ?, ?, ?)", -1, &st, NULL) !=
	    SQLITE_OK) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	if (expires_at > 0)
		sqlite3_bind_int64(st, 5, expires_at);
	sqlite3_bind_int64(st, 6, max_age_s);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT) {
		rc = jido_fail(JIDO_ECONFLICT, why, whylen, "secret %s (%s) already exists: use "
		    "rotate to give it a new value", name, scope);
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	if ((rc = store_version_insert(vs, name, scope, 1, value, len, now, why, whylen)) != 0 ||
	    (rc = jido_db_exec(vs->db, "COMMIT", why, whylen)) != 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Current version of a secret; JIDO_ENOTFOUND when absent. */
static int
store_current(struct vault_store *vs, const char *name, const char *scope, int64_t *current,
    char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(vs->db, "SELECT current FROM secret WHERE name = ? AND scope = ?",
	    -1, &st, NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*current = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no secret %s (%s)", name, scope);
	return store_sql_fail(vs, why, whylen);
}

int
vault_store_rotate(struct vault_store *vs, const char *name, const char *scope,
    const char *value, size_t len, int64_t grace_s, int64_t *version, int64_t *prev_until,
    char *why, size_t whylen)
{
	int64_t now = (int64_t)time(NULL), cur = 0;
	sqlite3_stmt *st;
	int rc;

	if ((rc = jido_db_exec(vs->db, "BEGIN IMMEDIATE", why, whylen)) != 0)
		return rc;
	if ((rc = store_current(vs, name, scope, &cur, why, whylen)) != 0)
		goto fail;
	/* The previous current version answers until now + grace; older ones keep the end
	 * of grace they already had. */
	if (sqlite3_prepare_v2(vs->db, "UPDATE version SET valid_until = ? WHERE name = ? AND "
	    "scope = ? AND version = ? AND valid_until IS NULL", -1, &st, NULL) != SQLITE_OK) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	sqlite3_bind_int64(st, 1, now + grace_s);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, cur);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	if ((rc = store_version_insert(vs, name, scope, cur + 1, value, len, now, why, whylen)) !=
	    0)
		goto fail;
	if (sqlite3_prepare_v2(vs->db, "UPDATE secret SET current = ?, rotated_at = ? WHERE "
	    "name = ? AND scope = ?", -1, &st, NULL) != SQLITE_OK) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	sqlite3_bind_int64(st, 1, cur + 1);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	if ((rc = jido_db_exec(vs->db, "COMMIT", why, whylen)) != 0)
		goto fail;
	*version = cur + 1;
	*prev_until = now + grace_s;
	return 0;
fail:
	sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

void
vault_secret_clear(struct vault_secret *s)
{
	if (s->value != NULL)
		sodium_memzero(s->value, s->len + 1);
	s->value = NULL;
	s->len = 0;
}

/* Decrypt one version row into a sodium_malloc'd, NUL-ended buffer. */
static int
store_decrypt(struct vault_store *vs, const char *name, const char *scope, int64_t version,
    int64_t dek_id, const void *nonce, int nl, const void *ct, int cl, char *dst, char **out,
    size_t *len)
{
	unsigned char ad[VAULT_NAME_MAX + VAULT_SCOPE_MAX + 64];
	size_t adl = store_value_ad(ad, sizeof(ad), name, scope, version);
	const unsigned char *dek = NULL;
	unsigned long long pl;
	char *pt;

	for (int i = 0; i < vs->ndeks; i++)
		if (vs->dek_ids[i] == dek_id)
			dek = vs->deks[i];
	if (dek == NULL || adl == 0 || nl != (int)AEAD_NONCE || cl < (int)AEAD_TAG)
		return JIDO_EINTEGRITY;
	if (dst != NULL && (size_t)cl - AEAD_TAG > VAULT_VALUE_MAX)
		return JIDO_EINTEGRITY;
	if ((pt = dst) == NULL && (pt = sodium_malloc((size_t)cl - AEAD_TAG + 1)) == NULL)
		return JIDO_EINTERNAL;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)pt, &pl, NULL, ct,
	    (size_t)cl, ad, adl, nonce, dek) != 0) {
		if (dst == NULL)
			sodium_free(pt);
		return JIDO_EINTEGRITY;
	}
	pt[pl] = '\0';
	*out = pt;
	*len = (size_t)pl;
	return 0;
}

int
vault_store_get(struct vault_store *vs, const char *name, const char *scope, int64_t version,
    struct vault_secret *out, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	int rc;

	memset(out, 0, sizeof(*out));
	if (vs->st_get == NULL && sqlite3_prepare_v3(vs->db, "SELECT s.current, s.expires_at, "
	    "v.version, v.dek_id, v.nonce, v.ct, v.valid_until FROM secret s LEFT JOIN version v "
	    "ON v.name = s.name AND v.scope = s.scope AND v.version = (CASE WHEN ?3 > 0 THEN ?3 "
	    "ELSE s.current END) WHERE s.name = ?1 AND s.scope = ?2", -1,
	    SQLITE_PREPARE_PERSISTENT, &vs->st_get, NULL) != SQLITE_OK)
		return store_sql_fail(vs, why, whylen);
	st = vs->st_get;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, version);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = jido_fail(JIDO_ENOTFOUND, why, whylen, "no secret %s (%s)", name, scope);
		goto out;
	}
	if (rc != SQLITE_ROW) {
		rc = store_sql_fail(vs, why, whylen);
		goto out;
	}
	out->current = sqlite3_column_int64(st, 0);
	if (sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int64(st, 1) <= now) {
		rc = jido_fail(JIDO_ESECRET, why, whylen, "secret %s (%s) has expired", name,
		    scope);
		goto out;
	}
	if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
		if (version > 0 && version < out->current)
			rc = jido_fail(JIDO_ESECRET, why, whylen, "version %lld of %s (%s) was "
			    "revoked", (long long)version, name, scope);
		else
			rc = jido_fail(version > out->current ? JIDO_ENOTFOUND : JIDO_EINTEGRITY,
			    why, whylen, "no version %lld of %s (%s)", (long long)version, name,
			    scope);
		goto out;
	}
	out->version = sqlite3_column_int64(st, 2);
	if (sqlite3_column_type(st, 6) != SQLITE_NULL && sqlite3_column_int64(st, 6) <= now) {
		rc = jido_fail(JIDO_ESECRET, why, whylen, "version %lld of %s (%s) was revoked "
		    "when its grace period ended", (long long)out->version, name, scope);
		goto out;
	}
	rc = store_decrypt(vs, name, scope, out->version, sqlite3_column_int64(st, 3),
	    sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4), sqlite3_column_blob(st, 5),
	    sqlite3_column_bytes(st, 5), vs->scratch, &out->value, &out->len);
	if (rc == JIDO_EINTEGRITY)
		jido_fail(rc, why, whylen, "version %lld of %s (%s) does not authenticate: the "
		    "stored ciphertext was altered", (long long)out->version, name, scope);
	else if (rc != 0)
		jido_fail(rc, why, whylen, "out of locked memory");
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int
vault_store_delete(struct vault_store *vs, const char *name, const char *scope, int *n,
    char *why, size_t whylen)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((rc = jido_db_exec(vs->db, "BEGIN IMMEDIATE", why, whylen)) != 0)
		return rc;
	if (sqlite3_prepare_v2(vs->db, "DELETE FROM version WHERE name = ? AND scope = ?", -1,
	    &st, NULL) != SQLITE_OK) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	*n = sqlite3_changes(vs->db);
	if (sqlite3_prepare_v2(vs->db, "DELETE FROM secret WHERE name = ? AND scope = ?", -1,
	    &st, NULL) != SQLITE_OK) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(vs, why, whylen);
		goto fail;
	}
	if (sqlite3_changes(vs->db) == 0) {
		rc = jido_fail(JIDO_ENOTFOUND, why, whylen, "no secret %s (%s)", name, scope);
		goto fail;
	}
	return jido_db_exec(vs->db, "COMMIT", why, whylen);
fail:
	sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* RFC 3339 UTC text of a unix time, as a new JSON string (null for 0). */
static json_t *
store_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

int
vault_store_list(struct vault_store *vs, const char *scope, json_t **out, char *why,
    size_t whylen)
{
	sqlite3_stmt *st;
	int64_t now = (int64_t)time(NULL);
	json_t *arr = json_array();
	int rc;

	if (sqlite3_prepare_v2(vs->db, "SELECT s.name, s.scope, s.current, s.created_at, "
	    "s.rotated_at, s.expires_at, s.max_age_s, (SELECT count(*) FROM version v WHERE "
	    "v.name = s.name AND v.scope = s.scope) FROM secret s WHERE ?1 IS NULL OR s.scope = ?1 "
	    "ORDER BY s.scope, s.name", -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return store_sql_fail(vs, why, whylen);
	}
	if (scope != NULL)
		sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rotated = sqlite3_column_int64(st, 4), max_age = sqlite3_column_int64(st, 6);
		int64_t exp = sqlite3_column_int64(st, 5);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:I,s:b,s:b}",
		    "name", (const char *)sqlite3_column_text(st, 0),
		    "scope", (const char *)sqlite3_column_text(st, 1),
		    "version", (json_int_t)sqlite3_column_int64(st, 2),
		    "versions", (json_int_t)sqlite3_column_int64(st, 7),
		    "created_at", store_time(sqlite3_column_int64(st, 3)),
		    "rotated_at", store_time(rotated),
		    "expires_at", store_time(exp),
		    "max_age_s", (json_int_t)max_age,
		    "due", max_age > 0 && rotated + max_age <= now,
		    "expired", exp > 0 && exp <= now));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_sql_fail(vs, why, whylen);
	}
	*out = arr;
	return 0;
}

int
vault_store_status(struct vault_store *vs, json_t **out, char *why, size_t whylen)
{
	json_t *list = NULL, *due = json_array(), *it;
	sqlite3_stmt *st;
	int64_t versions = 0;
	size_t i;
	int rc;

	if ((rc = vault_store_list(vs, NULL, &list, why, whylen)) != 0) {
		json_decref(due);
		return rc;
	}
	json_array_foreach(list, i, it) {
		if (json_is_true(json_object_get(it, "due")))
			json_array_append_new(due, json_pack("{s:O,s:O,s:O,s:O}", "name",
			    json_object_get(it, "name"), "scope", json_object_get(it, "scope"),
			    "rotated_at", json_object_get(it, "rotated_at"), "max_age_s",
			    json_object_get(it, "max_age_s")));
	}
	if (sqlite3_prepare_v2(vs->db, "SELECT count(*) FROM version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			versions = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	*out = json_pack("{s:s,s:s,s:I,s:I,s:i,s:o}", "state", "unlocked", "key", vs->kind,
	    "secrets", (json_int_t)json_array_size(list), "versions", (json_int_t)versions,
	    "data_keys", vs->ndeks, "due", due);
	json_decref(list);
	return *out != NULL ? 0 : jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
}

int
vault_store_rekey(struct vault_store *vs, const struct vault_keycfg *newkc, int *n, char *why,
    size_t whylen)
{
	struct store_kek k;
	unsigned char *kek = sodium_malloc(VAULT_KEY_BYTES);
	int rc;

	*n = 0;
	if (kek == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
	if ((rc = store_kek_new(newkc, &k, kek, why, whylen)) != 0)
		goto out;
	if ((rc = jido_db_exec(vs->db, "BEGIN IMMEDIATE", why, whylen)) != 0)
		goto out;
	if ((rc = store_kek_write(vs, &k, why, whylen)) != 0)
		goto fail;
	for (int i = 0; i < vs->ndeks; i++)
		if ((rc = store_dek_write(vs, vs->dek_ids[i], vs->deks[i], kek, k.kind, why,
		    whylen)) != 0)
			goto fail;
	if ((rc = jido_db_exec(vs->db, "COMMIT", why, whylen)) != 0)
		goto fail;
	snprintf(vs->kind, sizeof(vs->kind), "%s", k.kind);
	*n = vs->ndeks;
	goto out;
fail:
	sqlite3_exec(vs->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sodium_free(kek);
	return rc;
}

int
vault_store_purge(struct vault_store *vs)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(vs->db, "DELETE FROM version WHERE valid_until IS NOT NULL AND "
	    "valid_until <= ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? sqlite3_changes(vs->db) : -1;
}

int
vault_store_check(struct vault_store *vs, FILE *f, int *checked, int *failed)
{
	sqlite3_stmt *st;
	int rc;

	*checked = *failed = 0;
	if (sqlite3_prepare_v2(vs->db, "SELECT name, scope, version, dek_id, nonce, ct FROM "
	    "version ORDER BY name, scope, version", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *scope = (const char *)sqlite3_column_text(st, 1);
		int64_t version = sqlite3_column_int64(st, 2);
		char *pt = NULL;
		size_t len;
		int r = store_decrypt(vs, name, scope, version, sqlite3_column_int64(st, 3),
		    sqlite3_column_blob(st, 4), sqlite3_column_bytes(st, 4),
		    sqlite3_column_blob(st, 5), sqlite3_column_bytes(st, 5), NULL, &pt, &len);

		(*checked)++;
		if (r == 0) {
			sodium_memzero(pt, len);
			sodium_free(pt);
		} else {
			(*failed)++;
			fprintf(f, "FAIL %s scope=%s version=%lld: %s\n", name, scope,
			    (long long)version, r == JIDO_EINTEGRITY ? "does not authenticate" :
			    jido_strerror(r));
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
}

int
vault_store_generate(struct vault_store *vs, const char *name, size_t nbytes, int64_t max_age_s,
    char *why, size_t whylen)
{
	unsigned char *raw = sodium_malloc(nbytes);
	char *hex = sodium_malloc(2 * nbytes + 1);
	int rc;

	if (raw == NULL || hex == NULL) {
		sodium_free(raw);
		sodium_free(hex);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of locked memory");
	}
	randombytes_buf(raw, nbytes);
	sodium_bin2hex(hex, 2 * nbytes + 1, raw, nbytes);
	rc = vault_store_put(vs, name, "instance", hex, 2 * nbytes, max_age_s, 0, why, whylen);
	sodium_free(raw);
	sodium_free(hex);
	return rc == JIDO_ECONFLICT ? 0 : rc;
}
