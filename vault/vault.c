/*
 * vault.c - jido-vault: encrypted secret store; hands each secret only to the process allowed it
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, open/tick/close, the caller's identity (credential, owner
 * credential, ipc peer uid), the request types vault.{get,put,list,rotate,delete,rekey,
 * status,fingerprints}, best-effort audit records, and the `check` subcommand.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "vault.h"

#define VAULT_PURGE_EVERY_MS 5000
#define VAULT_MAX_UIDS 16
#define VAULT_GRACE_MAX (7 * 86400)

struct vault_priv {
	struct vault_store vs;
	char *creds;                /* text of run/creds, or NULL */
	char owner_hash[65];        /* SHA-256 hex of the owner credential */
	struct { uint64_t uid; char name[16]; } uids[VAULT_MAX_UIDS];
	int nuids;
	int64_t grace_s, max_age_s, last_purge;
	int audit_ms;
};

/* Syscalls beyond the base allowlist (lib/seccomp.c): sodium_malloc locks its pages. */
static const char *const vault_allow[] = { "mlock", "munlock", NULL };

/* ------------------------------------------------------------------ start-up */

/* Read a whole small file into a malloc'd string (caller frees); NULL when absent. */
static char *
vault_slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (len + 1024 + 1 > cap) {
			char *nb = realloc(buf, cap = len + 4096);
			if (nb == NULL) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		if ((n = read(fd, buf + len, cap - len - 1)) <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

/* The owner credential: read run/owner.cred, creating it (0600, random) when absent. Only
 * its hash stays in memory. */
static int
vault_owner_load(struct vault_priv *vp, const char *home, char *why, size_t whylen)
{
	char path[PATH_MAX + 32], cred[65], buf[80];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/run/owner.cred", home);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno != ENOENT) {
			snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
			return JIDO_EINTERNAL;
		}
		jido_cred_new(cred);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) <
		    0 || write(fd, cred, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
			snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			sodium_memzero(cred, sizeof(cred));
			return JIDO_EINTERNAL;
		}
		close(fd);
		jido_info("vault.owner_cred_created", "{s:s}", "path", path);
	} else {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 64) {
			snprintf(why, whylen, "%s does not hold a credential: remove it and restart",
			    path);
			return JIDO_EINTEGRITY;
		}
		memcpy(cred, buf, 64);
		cred[64] = '\0';
		sodium_memzero(buf, sizeof(buf));
	}
	jido_cred_hash(cred, vp->owner_hash);
	sodium_memzero(cred, sizeof(cred));
	return 0;
}

/* vault.uid_map: "1001=ingest,1002=gitops". */
static int
vault_uids_parse(struct vault_priv *vp, const char *map, char *why, size_t whylen)
{
	const char *p = map;

	while (p != NULL && *p != '\0') {
		char *end;
		unsigned long long uid = strtoull(p, &end, 10);
		const char *name, *stop;
		size_t n;

		if (end == p || *end != '=' || vp->nuids >= VAULT_MAX_UIDS)
			goto bad;
		name = end + 1;
		stop = strchr(name, ',');
		n = stop ? (size_t)(stop - name) : strlen(name);
		if (n == 0 || n >= sizeof(vp->uids[0].name))
			goto bad;
		vp->uids[vp->nuids].uid = uid;
		memcpy(vp->uids[vp->nuids].name, name, n);
		vp->uids[vp->nuids++].name[n] = '\0';
		p = stop ? stop + 1 : NULL;
	}
	return 0;
bad:
	snprintf(why, whylen, "vault.uid_map must be uid=process[,uid=process...]");
	return JIDO_EVALIDATION;
}

/* Path of the vault database. */
static int
vault_db_path(const struct jido_conf *c, const char *home, char *buf, size_t len)
{
	const char *db = jido_conf_str(c, "vault.db");
	int n = db != NULL && db[0] != '\0' ? snprintf(buf, len, "%s", db) :
	    snprintf(buf, len, "%s/vault.db", home);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

/* A passphrase typed at `jido up` in a terminal arrives in JIDO_VAULT_PASSPHRASE (set by
 * jido up for the vault child only, like JIDO_PROC_CRED): copy it into locked memory
 * (caller wipes and sodium_frees), wipe the environment's copy, unset it. NULL if none. */
static char *
vault_typed_passphrase(void)
{
	char *v = getenv("JIDO_VAULT_PASSPHRASE"), *p;
	size_t n;

	if (v == NULL)
		return NULL;
	n = strlen(v);
	if ((p = sodium_malloc(n + 1)) != NULL)
		memcpy(p, v, n + 1);
	sodium_memzero(v, n);
	unsetenv("JIDO_VAULT_PASSPHRASE");
	return n > 0 ? p : (sodium_free(p), NULL);
}

static int
vault_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct vault_priv *vp = jido_srv_priv(s);
	const struct jido_conf *c = jido_srv_conf(s);
	const char *home = jido_srv_home(s);
	struct vault_keycfg kc;
	char path[PATH_MAX + 32];
	int rc;

	jido_vault_json_wipe();
	umask(077); /* the database, its WAL and the key file: owner only */
	vp->grace_s = jido_conf_int(c, "vault.grace_s");
	vp->max_age_s = jido_conf_int(c, "vault.max_age_s");
	vp->audit_ms = (int)jido_conf_int(c, "vault.audit_timeout_ms");
	if (vp->grace_s < 0 || vp->grace_s > VAULT_GRACE_MAX || vp->max_age_s < 0) {
		snprintf(why, whylen, "vault.grace_s must be 0..%d and vault.max_age_s >= 0",
		    VAULT_GRACE_MAX);
		return JIDO_EVALIDATION;
	}
	if ((rc = vault_uids_parse(vp, jido_conf_str(c, "vault.uid_map"), why, whylen)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/run", home);
	if (jido_mkdirs(path, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
		return JIDO_EINTERNAL;
	}
	if ((rc = vault_keycfg_from_conf(c, home, &kc, why, whylen)) != 0 ||
	    (rc = vault_db_path(c, home, path, sizeof(path))) != 0)
		return rc;
	kc.passphrase = vault_typed_passphrase();
	rc = vault_store_open(&vp->vs, path, &kc, 1, 0, why, whylen);
	if (kc.passphrase != NULL) {
		sodium_memzero((void *)kc.passphrase, strlen(kc.passphrase));
		sodium_free((void *)kc.passphrase);
	}
	if (rc != 0)
		return rc;
	if (vp->vs.key_file_created)
		jido_warn("vault.key_file_created", "{s:s,s:s}", "path", kc.key_file, "note",
		    "no passphrase configured: the master key is in this 0600 file; set "
		    "vault.passphrase_file and rekey to seal the vault with a passphrase");
	if (vp->vs.created) {
		if ((rc = vault_store_generate(&vp->vs, "github.webhook_secret", 32, vp->max_age_s,
		    why, whylen)) != 0 ||
		    (rc = vault_store_generate(&vp->vs, "web.session_key", 32, vp->max_age_s, why,
		    whylen)) != 0 ||
		    (rc = vault_store_generate(&vp->vs, "audit.signing_key", 32, 0, why,
		    whylen)) != 0)
			goto fail;
		jido_info("vault.created", "{s:s,s:s,s:[s,s,s]}", "db", path, "key", vp->vs.kind,
		    "generated", "github.webhook_secret", "web.session_key", "audit.signing_key");
	}
	/* web.share_key (artifact share links) came later than the first three: generated at
	 * every start when missing, so older vaults get it too (an existing one is kept). */
	if ((rc = vault_store_generate(&vp->vs, "web.share_key", 32, vp->max_age_s, why,
	    whylen)) != 0)
		goto fail;
	if ((rc = vault_owner_load(vp, home, why, whylen)) != 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/run/creds", home);
	if ((vp->creds = vault_slurp(path)) == NULL)
		jido_warn("vault.no_creds", "{s:s,s:s}", "path", path, "note",
		    "processes can only be identified by vault.uid_map");
	jido_info("vault.unlocked", "{s:s,s:i}", "key", vp->vs.kind, "uid_map", vp->nuids);
	return 0;
fail:
	vault_store_close(&vp->vs);
	return rc;
}

static void
vault_close(struct jido_srv *s)
{
	struct vault_priv *vp = jido_srv_priv(s);

	vault_store_close(&vp->vs);
	free(vp->creds);
	vp->creds = NULL;
}

static void
vault_tick(struct jido_srv *s)
{
	struct vault_priv *vp = jido_srv_priv(s);
	int64_t now = jido_now_ms();
	int n;

	if (now - vp->last_purge < VAULT_PURGE_EVERY_MS)
		return;
	vp->last_purge = now;
	if ((n = vault_store_purge(&vp->vs)) > 0)
		jido_info("vault.revoked", "{s:i}", "versions", n);
}

/* ------------------------------------------------------------------ identity, audit */

/* Who is calling? data.cred (a process credential or the owner credential) wins; without
 * one, the ipc peer uid through vault.uid_map. Fills who; JIDO_EAUTHZ when unknown. */
static int
vault_caller(struct vault_priv *vp, const struct jido_req *req, char *who, size_t len,
    char *why, size_t whylen)
{
	json_t *jc = json_object_get(req->data, "cred");

	/* An empty string is no credential (a caller started without one sends ""). */
	if (jc != NULL && json_is_string(jc) && json_string_length(jc) == 0)
		jc = NULL;
	if (jc != NULL) {
		const char *cred = json_string_value(jc);
		char h[65];
		if (cred == NULL || strlen(cred) != 64) {
			snprintf(why, whylen, "data.cred must be 64 hex characters");
			return JIDO_EAUTHZ;
		}
		jido_cred_hash(cred, h);
		if (sodium_memcmp(h, vp->owner_hash, 64) == 0) {
			snprintf(who, len, "owner");
			return 0;
		}
		if (jido_cred_lookup(vp->creds, cred, who, len) == 0)
			return 0;
		snprintf(why, whylen, "credential not recognised");
		return JIDO_EAUTHZ;
	}
	if (req->peer.known)
		for (int i = 0; i < vp->nuids; i++)
			if (vp->uids[i].uid == req->peer.uid) {
				snprintf(who, len, "%s", vp->uids[i].name);
				return 0;
			}
	snprintf(why, whylen, "caller not identified: send data.cred");
	return JIDO_EAUTHZ;
}

/* Send one audit.append to the auditor, best effort: a short timeout, any failure is
 * ignored (the vault works without an auditor). Never carries a value. Takes details. */
static void
vault_audit(struct jido_srv *s, const char *actor, const char *action, const char *subject,
    const char *result, json_t *details)
{
	struct vault_priv *vp = jido_srv_priv(s);
	const char *conf_url = jido_conf_str(jido_srv_conf(s), "socket.auditor");
	char url[PATH_MAX + 32];
	struct jido_reply r;
	struct stat st;

	if (vp->audit_ms <= 0) {
		json_decref(details);
		return;
	}
	if (conf_url != NULL && conf_url[0] != '\0')
		snprintf(url, sizeof(url), "%s", conf_url);
	else if (jido_bus_url_req(jido_srv_home(s), "auditor", url, sizeof(url)) != 0 ||
	    stat(url + 6, &st) != 0) { /* no auditor socket: nothing to try */
		json_decref(details);
		return;
	}
	if (jido_bus_call(url, "audit.append", NULL, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}",
	    "actor", actor, "channel", "system", "action", action, "subject", subject ? subject : "",
	    "result", result, "details", details ? details : json_object()), vp->audit_ms, &r) == 0)
		jido_reply_free(&r);
}

/* Refuse: log (caller, operation, name; never a value), audit, answer authorization_error. */
static int
vault_refuse(struct jido_srv *s, const struct jido_req *req, const char *who, const char *name,
    const char *scope, char *why, size_t whylen)
{
	char reason[256];

	snprintf(reason, sizeof(reason), "%s", why[0] != '\0' ? why : "not in the ACL");
	jido_warn("vault.refused", "{s:s,s:s,s:s,s:s,s:s,s:I}", "caller", who, "type", req->type,
	    "name", name ? name : "", "scope", scope ? scope : "", "why", reason, "peer_uid",
	    (json_int_t)(req->peer.known ? (int64_t)req->peer.uid : -1));
	vault_audit(s, who, req->type, name, "denied", json_pack("{s:s,s:s}", "scope",
	    scope ? scope : "", "reason", reason));
	if (strcmp(who, "unknown") == 0)
		snprintf(why, whylen, "%s", reason);
	else
		snprintf(why, whylen, "%s may not %s %s", who, req->type + 6,
		    name ? name : "the vault's metadata");
	return JIDO_EAUTHZ;
}

/* ------------------------------------------------------------------ requests */

/* Every field of data must be in allowed (NULL-terminated). */
static int
vault_fields(const json_t *data, const char *const *allowed, char *why, size_t whylen)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)data, k, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a != NULL && !ok; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok) {
			snprintf(why, whylen, "unknown field data.%s", k);
			return JIDO_EVALIDATION;
		}
	}
	return 0;
}

/* data.name (required when need_name) and data.scope (default instance), validated. */
static int
vault_name_scope(const json_t *data, int need_name, const char **name, const char **scope,
    char *why, size_t whylen)
{
	json_t *jn = json_object_get(data, "name"), *js = json_object_get(data, "scope");

	*name = json_string_value(jn);
	*scope = js != NULL ? json_string_value(js) : "instance";
	if (need_name && !vault_name_ok(*name)) {
		snprintf(why, whylen, "data.name must be 1-%d characters of a-z 0-9 . _ - "
		    "(e.g. github.token)", VAULT_NAME_MAX);
		return JIDO_EVALIDATION;
	}
	if (!vault_scope_ok(*scope)) {
		snprintf(why, whylen, "data.scope must be 'instance' or 'project:<id>'");
		return JIDO_EVALIDATION;
	}
	return 0;
}

/* An optional non-negative integer field (def when absent). */
static int
vault_int(const json_t *data, const char *key, int64_t def, int64_t max, int64_t *out,
    char *why, size_t whylen)
{
	json_t *j = json_object_get(data, key);

	*out = def;
	if (j == NULL)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > max) {
		snprintf(why, whylen, "data.%s must be an integer 0..%lld", key, (long long)max);
		return JIDO_EVALIDATION;
	}
	*out = json_integer_value(j);
	return 0;
}

/* data.value: a non-empty string of at most VAULT_VALUE_MAX bytes (borrowed). */
static int
vault_value(const json_t *data, int required, const char **value, size_t *len, char *why,
    size_t whylen)
{
	json_t *j = json_object_get(data, "value");

	*value = NULL;
	*len = 0;
	if (j == NULL && !required)
		return 0;
	if (!json_is_string(j) || json_string_length(j) == 0 ||
	    json_string_length(j) > VAULT_VALUE_MAX) {
		snprintf(why, whylen, "data.value must be a non-empty string of at most %d bytes",
		    VAULT_VALUE_MAX);
		return JIDO_EVALIDATION;
	}
	*value = json_string_value(j);
	*len = json_string_length(j);
	return 0;
}

/* Names the vault can generate a value for on rotate without one: bytes of randomness. */
static size_t
vault_generable(const char *name)
{
	static const char *const gen[] = { "github.webhook_secret", "web.session_key",
		"audit.signing_key", "web.share_key", NULL };

	for (int i = 0; gen[i] != NULL; i++)
		if (strcmp(gen[i], name) == 0)
			return 32;
	return 0;
}

static int
vault_do_get(struct vault_priv *vp, const struct jido_req *req, const char *name,
    const char *scope, json_t **out, char *why, size_t whylen)
{
	static const char *const fields[] = { "cred", "name", "scope", "version", NULL };
	struct vault_secret sec;
	int64_t version;
	int rc;

	if ((rc = vault_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = vault_int(req->data, "version", 0, INT32_MAX, &version, why, whylen)) != 0)
		return rc;
	if ((rc = vault_store_get(&vp->vs, name, scope, version, &sec, why, whylen)) != 0)
		return rc;
	*out = json_pack("{s:s,s:s,s:I,s:s%}", "name", name, "scope", scope, "version",
	    (json_int_t)sec.version, "value", sec.value, sec.len);
	vault_secret_clear(&sec);
	if (*out == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	return 0;
}

static int
vault_do_put(struct vault_priv *vp, const struct jido_req *req, const char *name,
    const char *scope, json_t **out, char *why, size_t whylen)
{
	static const char *const fields[] = { "cred", "name", "scope", "value", "max_age_s",
		"expires_at", NULL };
	const char *value;
	size_t len;
	int64_t max_age, expires;
	int rc;

	if ((rc = vault_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = vault_value(req->data, 1, &value, &len, why, whylen)) != 0 ||
	    (rc = vault_int(req->data, "max_age_s", vp->max_age_s, INT32_MAX, &max_age, why,
	    whylen)) != 0 ||
	    (rc = vault_int(req->data, "expires_at", 0, INT64_MAX / 2, &expires, why,
	    whylen)) != 0)
		return rc;
	if ((rc = vault_store_put(&vp->vs, name, scope, value, len, max_age, expires, why,
	    whylen)) != 0)
		return rc;
	*out = json_pack("{s:s,s:s,s:i}", "name", name, "scope", scope, "version", 1);
	return 0;
}

static int
vault_do_rotate(struct vault_priv *vp, const struct jido_req *req, const char *name,
    const char *scope, json_t **out, char *why, size_t whylen)
{
	static const char *const fields[] = { "cred", "name", "scope", "value", "grace_s", NULL };
	const char *value;
	char *gen = NULL;
	size_t len, nbytes;
	int64_t grace, version = 0, until = 0;
	int rc;

	if ((rc = vault_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = vault_value(req->data, 0, &value, &len, why, whylen)) != 0 ||
	    (rc = vault_int(req->data, "grace_s", vp->grace_s, VAULT_GRACE_MAX, &grace, why,
	    whylen)) != 0)
		return rc;
	if (value == NULL) {
		unsigned char raw[64];
		if ((nbytes = vault_generable(name)) == 0) {
			snprintf(why, whylen, "%s cannot be generated: give the new value "
			    "(--from-file or --from-stdin)", name);
			return JIDO_EVALIDATION;
		}
		if ((gen = sodium_malloc(2 * nbytes + 1)) == NULL) {
			snprintf(why, whylen, "out of locked memory");
			return JIDO_EINTERNAL;
		}
		randombytes_buf(raw, nbytes);
		sodium_bin2hex(gen, 2 * nbytes + 1, raw, nbytes);
		sodium_memzero(raw, sizeof(raw));
		value = gen;
		len = 2 * nbytes;
	}
	rc = vault_store_rotate(&vp->vs, name, scope, value, len, grace, &version, &until, why,
	    whylen);
	if (gen != NULL)
		sodium_free(gen);
	if (rc != 0)
		return rc;
	char buf[32];
	time_t t = (time_t)until;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	*out = json_pack("{s:s,s:s,s:I,s:I,s:s,s:b}", "name", name, "scope", scope, "version",
	    (json_int_t)version, "previous_version", (json_int_t)(version - 1),
	    "previous_valid_until", buf, "generated", gen != NULL);
	return 0;
}

static int
vault_do_delete(struct vault_priv *vp, const struct jido_req *req, const char *name,
    const char *scope, json_t **out, char *why, size_t whylen)
{
	static const char *const fields[] = { "cred", "name", "scope", NULL };
	int rc, n;

	if ((rc = vault_fields(req->data, fields, why, whylen)) != 0 ||
	    (rc = vault_store_delete(&vp->vs, name, scope, &n, why, whylen)) != 0)
		return rc;
	*out = json_pack("{s:s,s:s,s:i}", "name", name, "scope", scope, "deleted_versions", n);
	return 0;
}

static int
vault_do_rekey(struct vault_priv *vp, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	static const char *const fields[] = { "cred", "new_key_file", "new_passphrase_file",
		NULL };
	const char *kf = json_string_value(json_object_get(req->data, "new_key_file"));
	const char *pf = json_string_value(json_object_get(req->data, "new_passphrase_file"));
	struct vault_keycfg kc;
	int rc, n;

	if ((rc = vault_fields(req->data, fields, why, whylen)) != 0)
		return rc;
	if ((kf == NULL) == (pf == NULL) || (kf ? kf : pf)[0] != '/' ||
	    strlen(kf ? kf : pf) >= sizeof(kc.key_file)) {
		snprintf(why, whylen, "give exactly one of data.new_key_file and "
		    "data.new_passphrase_file, as an absolute path");
		return JIDO_EVALIDATION;
	}
	memset(&kc, 0, sizeof(kc));
	snprintf(pf ? kc.passphrase_file : kc.key_file, sizeof(kc.key_file), "%s", kf ? kf : pf);
	if ((rc = vault_store_rekey(&vp->vs, &kc, &n, why, whylen)) != 0)
		return rc == JIDO_ENOTFOUND ? JIDO_EVALIDATION : rc;
	jido_info("vault.rekeyed", "{s:s,s:i}", "key", vp->vs.kind, "data_keys", n);
	*out = json_pack("{s:s,s:i,s:s}", "key", vp->vs.kind, "rewrapped", n, "next",
	    pf ? "configure vault.passphrase_file to this file before the next start" :
	    "configure vault.key_file to this file before the next start");
	return 0;
}

static const struct {
	const char *verb;
	int op;
	int named; /* 1: the request names one secret */
} vault_ops[] = {
	{ "get", VAULT_OP_GET, 1 },
	{ "put", VAULT_OP_PUT, 1 },
	{ "rotate", VAULT_OP_ROTATE, 1 },
	{ "delete", VAULT_OP_DELETE, 1 },
	{ "list", VAULT_OP_LIST, 0 },
	{ "status", VAULT_OP_STATUS, 0 },
	{ "rekey", VAULT_OP_REKEY, 0 },
	{ "fingerprints", VAULT_OP_FINGERPRINTS, 0 },
};

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
vault_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct vault_priv *vp = jido_srv_priv(s);
	const char *verb = req->type + strlen("vault."), *name = NULL, *scope = NULL;
	char who[64] = "unknown";
	int rc, i, n = (int)(sizeof(vault_ops) / sizeof(vault_ops[0]));

	for (i = 0; i < n && strcmp(vault_ops[i].verb, verb) != 0; i++)
		;
	if (i == n)
		return jido_req_unknown(req, why, whylen);
	if ((rc = vault_name_scope(req->data, vault_ops[i].named, &name, &scope, why,
	    whylen)) != 0)
		return rc;
	if (!vault_ops[i].named)
		name = NULL;
	if (vault_ops[i].op == VAULT_OP_LIST && json_object_get(req->data, "scope") == NULL)
		scope = NULL;
	if (vault_caller(vp, req, who, sizeof(who), why, whylen) != 0 ||
	    !vault_acl_allows(who, vault_ops[i].op, name))
		return vault_refuse(s, req, who, name, scope, why, whylen);
	switch (vault_ops[i].op) {
	case VAULT_OP_GET:
		rc = vault_do_get(vp, req, name, scope, out, why, whylen);
		jido_debug("vault.get", "{s:s,s:s,s:s,s:s}", "caller", who, "name", name, "scope",
		    scope, "result", jido_err_name(rc));
		return rc;
	case VAULT_OP_PUT:
		rc = vault_do_put(vp, req, name, scope, out, why, whylen);
		break;
	case VAULT_OP_ROTATE:
		rc = vault_do_rotate(vp, req, name, scope, out, why, whylen);
		break;
	case VAULT_OP_DELETE:
		rc = vault_do_delete(vp, req, name, scope, out, why, whylen);
		break;
	case VAULT_OP_LIST: {
		static const char *const fields[] = { "cred", "scope", NULL };
		json_t *arr = NULL;
		if ((rc = vault_fields(req->data, fields, why, whylen)) == 0 &&
		    (rc = vault_store_list(&vp->vs, scope, &arr, why, whylen)) == 0)
			*out = json_pack("{s:o}", "secrets", arr);
		return rc;
	}
	case VAULT_OP_STATUS: {
		static const char *const fields[] = { "cred", NULL };
		if ((rc = vault_fields(req->data, fields, why, whylen)) == 0 &&
		    (rc = vault_store_status(&vp->vs, out, why, whylen)) == 0)
			json_object_set_new(*out, "grace_s", json_integer(vp->grace_s));
		return rc;
	}
	case VAULT_OP_REKEY:
		rc = vault_do_rekey(vp, req, out, why, whylen);
		break;
	case VAULT_OP_FINGERPRINTS: {
		static const char *const fields[] = { "cred", NULL };
		if ((rc = vault_fields(req->data, fields, why, whylen)) == 0)
			rc = vault_fingerprints(&vp->vs, out, why, whylen);
		jido_debug("vault.fingerprints", "{s:s,s:s}", "caller", who, "result",
		    jido_err_name(rc));
		return rc;
	}
	default:
		return jido_req_unknown(req, why, whylen);
	}
	/* Changes: a log line and a best-effort audit record, never the value. */
	jido_info("vault.changed", "{s:s,s:s,s:s,s:s,s:s}", "caller", who, "type", req->type,
	    "name", name ? name : "", "scope", scope ? scope : "", "result", rc == 0 ? "ok" :
	    jido_err_name(rc));
	vault_audit(s, who, req->type, name, rc == 0 ? "ok" : jido_err_name(rc),
	    json_pack("{s:s}", "scope", scope ? scope : ""));
	return rc;
}

/* ------------------------------------------------------------------ check */

/* jido-vault check --db FILE [--config F] [--home D] [--key-file F | --passphrase-file F]:
 * authenticate every stored version with the configured key; exit 0 all good, 1 any
 * failure (or the key does not open the vault), 2 usage, 111 system. */
static int
vault_check(int argc, char **argv)
{
	const char *db = NULL, *file = NULL, *home = NULL, *kf = NULL, *pf = NULL;
	struct jido_conf *c = NULL;
	struct vault_keycfg kc;
	struct vault_store vs;
	char why[1024], abshome[PATH_MAX];
	int rc, checked = 0, failed = 0, code;

	for (int i = 1; i < argc; i++) {
		const char **dst = strcmp(argv[i], "--db") == 0 ? &db :
		    strcmp(argv[i], "--config") == 0 ? &file :
		    strcmp(argv[i], "--home") == 0 ? &home :
		    strcmp(argv[i], "--key-file") == 0 ? &kf :
		    strcmp(argv[i], "--passphrase-file") == 0 ? &pf : NULL;
		if (dst == NULL || i + 1 >= argc) {
			fprintf(stderr, "jido-vault: check failed: usage: jido-vault check --db FILE "
			    "[--config F] [--home D] [--key-file F | --passphrase-file F]\n");
			return 2;
		}
		*dst = argv[++i];
	}
	if (db == NULL) {
		fprintf(stderr, "jido-vault: check failed: --db FILE is required\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "jido-vault: check failed: libsodium did not initialise\n");
		return 111;
	}
	if (jido_conf_load(file, &c, why, sizeof(why)) != 0 ||
	    (home != NULL && jido_conf_set(c, "home", home, why, sizeof(why)) != 0) ||
	    (kf != NULL && jido_conf_set(c, "vault.key_file", kf, why, sizeof(why)) != 0) ||
	    (pf != NULL && jido_conf_set(c, "vault.passphrase_file", pf, why, sizeof(why)) != 0)) {
		fprintf(stderr, "jido-vault: check failed: %s\n", why);
		jido_conf_free(c);
		return 2;
	}
	if (kf != NULL && pf == NULL)
		jido_conf_set(c, "vault.passphrase_file", "", why, sizeof(why));
	if (jido_abspath(jido_conf_str(c, "home"), abshome, sizeof(abshome)) != 0 ||
	    vault_keycfg_from_conf(c, abshome, &kc, why, sizeof(why)) != 0) {
		fprintf(stderr, "jido-vault: check failed: state directory path too long\n");
		jido_conf_free(c);
		return 2;
	}
	jido_conf_free(c);
	kc.create_key_file = 0;
	if ((rc = vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why))) != 0) {
		fprintf(stderr, "jido-vault: check failed: %s\n", why);
		return rc == JIDO_EAUTHZ || rc == JIDO_ESECRET ? 1 : rc == JIDO_ENOTFOUND ? 3 : 111;
	}
	rc = vault_store_check(&vs, stdout, &checked, &failed);
	vault_store_close(&vs);
	if (rc != 0) {
		fprintf(stderr, "jido-vault: check failed: cannot read %s\n", db);
		return 111;
	}
	printf("checked %d versions, %d failed\n", checked, failed);
	code = failed > 0 ? 1 : 0;
	return fflush(stdout) == 0 ? code : 111;
}

/* The command hook: "check", or -1 for anything else. */
static int
vault_check_cmd(int argc, char **argv)
{
	return strcmp(argv[0], "check") == 0 ? vault_check(argc, argv) : -1;
}

const struct jido_proc vault_proc = {
	.name = "vault",
	.summary = "encrypted secret store; hands each secret only to the process allowed it",
	.pub_topic = NULL,
	.allow = { vault_allow, 0, 0 },
	.open = vault_open,
	.handle = vault_handle,
	.tick = vault_tick,
	.close = vault_close,
	.priv_size = sizeof(struct vault_priv),
	.command = vault_check_cmd,
	.command_usage = "  check --db FILE  authenticate every stored secret version; list "
	    "failures; exit 1 if any\n",
	.workers = 4, /* every process asks the vault: overlap their round trips */
};
