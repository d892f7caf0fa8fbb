/*
 * vault.h - what the vault's files share: the key configuration, the encrypted store
 * (store.c: master key, data keys, values, rekey, check) and the access-control table
 * (acl.c). Internal to jido-vault; other processes use lib/vault_client.c.
 */
#ifndef JIDO_VAULT_H
#define JIDO_VAULT_H

#include <limits.h>
#include <stdint.h>

#include "jido.h"

#define VAULT_KEY_BYTES 32
#define VAULT_MAX_DEKS 16
#define VAULT_VALUE_MAX 65536
#define VAULT_NAME_MAX 128
#define VAULT_SCOPE_MAX 80

/* Where the master key comes from. Exactly one of the two paths is used: a passphrase
 * file (Argon2id) when passphrase_file is set, otherwise the key file. */
struct vault_keycfg {
	char passphrase_file[PATH_MAX];
	char key_file[PATH_MAX];
	int create_key_file; /* 1: create key_file (0600) when a fresh vault needs one */
	const char *passphrase; /* borrowed, sodium_malloc'd: typed at `jido up` (used when
	                         * passphrase_file is empty), or NULL */
};

/* An open store: the database and the unwrapped data keys (sodium_malloc'd). */
struct vault_store {
	struct sqlite3 *db;
	int ndeks;
	int64_t dek_ids[VAULT_MAX_DEKS];
	unsigned char *deks[VAULT_MAX_DEKS]; /* sodium_malloc'd, VAULT_KEY_BYTES each */
	char kind[16];                       /* "argon2id" or "key_file" */
	int created;                         /* 1 when this open created the vault */
	int key_file_created;                /* 1 when this open created the key file */
	struct sqlite3_stmt *st_get;         /* cached for vault.get */
	char *scratch;                       /* sodium_malloc'd, VAULT_VALUE_MAX + 1: where
	                                      * vault_store_get decrypts (no mmap per get) */
};

/* One decrypted version, as vault.get answers it. value (NUL ended) points into the
 * store's locked scratch buffer, valid until the next vault_store_get; the caller wipes
 * it with vault_secret_clear as soon as it has used it. */
struct vault_secret {
	int64_t version;
	int64_t current;
	char *value;
	size_t len;
};

/* Fill kc from the configuration (vault.passphrase_file, vault.key_file) and home. */
int vault_keycfg_from_conf(const struct jido_conf *c, const char *home,
    struct vault_keycfg *kc, char *why, size_t whylen);

/* Open (creating when create and absent) the store at dbpath and unlock it with kc.
 * readonly: open the database read-only, never create, never write (check). A key that
 * does not authenticate the data keys: JIDO_EAUTHZ, nothing written. On 0 the caller owns
 * vs (vault_store_close). */
int vault_store_open(struct vault_store *vs, const char *dbpath, const struct vault_keycfg *kc,
    int create, int readonly, char *why, size_t whylen);
void vault_store_close(struct vault_store *vs);

/* Valid secret name / scope? */
int vault_name_ok(const char *name);
int vault_scope_ok(const char *scope);

/* Create a secret (version 1). value is borrowed (len bytes). JIDO_ECONFLICT when the
 * name already exists in the scope. */
int vault_store_put(struct vault_store *vs, const char *name, const char *scope,
    const char *value, size_t len, int64_t max_age_s, int64_t expires_at, char *why,
    size_t whylen);
/* Make a new version current (value borrowed); the previous stays readable until
 * now + grace_s. *version and *prev_until receive the new version and the end of grace. */
int vault_store_rotate(struct vault_store *vs, const char *name, const char *scope,
    const char *value, size_t len, int64_t grace_s, int64_t *version, int64_t *prev_until,
    char *why, size_t whylen);
/* Read a version (0 = current). On 0, out->value is in the store's scratch buffer: the
 * caller calls vault_secret_clear. Errors: not_found, secret_unavailable (expired, revoked),
 * integrity_error (does not authenticate). */
int vault_store_get(struct vault_store *vs, const char *name, const char *scope,
    int64_t version, struct vault_secret *out, char *why, size_t whylen);
void vault_secret_clear(struct vault_secret *s);
/* Delete every version of a secret. *n receives how many versions went. */
int vault_store_delete(struct vault_store *vs, const char *name, const char *scope, int *n,
    char *why, size_t whylen);
/* Metadata of every secret (scope NULL = all): a new JSON array reference in *out. */
int vault_store_list(struct vault_store *vs, const char *scope, json_t **out, char *why,
    size_t whylen);
/* Counts and the secrets due for rotation: a new JSON object reference in *out. */
int vault_store_status(struct vault_store *vs, json_t **out, char *why, size_t whylen);
/* Rewrap every data key under the master key of newkc, in one transaction: a crash
 * leaves the old or the new wrapping, never a mix. */
int vault_store_rekey(struct vault_store *vs, const struct vault_keycfg *newkc, int *n,
    char *why, size_t whylen);
/* Drop versions whose grace period has ended. Returns how many went, or -1. */
int vault_store_purge(struct vault_store *vs);
/* Authenticate every stored version; print a line per failure to f. *checked and
 * *failed receive the counts. */
int vault_store_check(struct vault_store *vs, FILE *f, int *checked, int *failed);
/* Generate a random secret of nbytes (hex encoded) and store it as version 1 unless the
 * name exists. */
int vault_store_generate(struct vault_store *vs, const char *name, size_t nbytes,
    int64_t max_age_s, char *why, size_t whylen);

/* Operations the ACL knows. */
enum {
	VAULT_OP_GET = 1 << 0,
	VAULT_OP_LIST = 1 << 1,
	VAULT_OP_STATUS = 1 << 2,
	VAULT_OP_PUT = 1 << 3,
	VAULT_OP_ROTATE = 1 << 4,
	VAULT_OP_DELETE = 1 << 5,
	VAULT_OP_REKEY = 1 << 6,
	VAULT_OP_FINGERPRINTS = 1 << 7,
};

/* vault.fingerprints (fingerprint.c): salted fingerprints of every readable secret
 * version, never a value. */
#define VAULT_FP_BYTES 32      /* BLAKE2b-256 */
#define VAULT_FP_SALT_BYTES 32 /* crypto_generichash_KEYBYTES */
#define VAULT_FP_LINE_MIN 16   /* shortest line of a multi-line value fingerprinted alone */
/* A fresh random salt, then for each secret's current version (and the previous one while
 * its grace lasts): {name, scope, version, part ("value" or "line N"), len, hash (hex of
 * BLAKE2b-256 keyed by the salt)}; versions that cannot be read go to "unreadable" with
 * their error code. On 0 *out is a new reference {algorithm, salt, fingerprints,
 * unreadable} the caller releases. */
int vault_fingerprints(struct vault_store *vs, json_t **out, char *why, size_t whylen);

/* May caller (a process name or "owner") do op on name (NULL for metadata ops)? */
int vault_acl_allows(const char *caller, int op, const char *name);

#endif
