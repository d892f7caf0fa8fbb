/* vault_test.c - the vault's handler and store: ACL table, names, put/get/rotate/delete
 * through the real dispatch, associated data binding (a moved ciphertext does not
 * authenticate), grace and purge, expiry, rekey, wrong key, request validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "vault.h"

extern const struct jido_proc vault_proc;

#define CRED_GITOPS "1111111111111111111111111111111111111111111111111111111111111111"
#define CRED_INGEST "2222222222222222222222222222222222222222222222222222222222222222"
#define CRED_WEB "3333333333333333333333333333333333333333333333333333333333333333"

struct fx {
	char home[64];
	struct jido_conf *conf;
	struct jido_srv *srv;
	char owner[65];
};

static void
fx_write(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char why[512], path[128], h[65], table[512];
	FILE *f;

	unsetenv("JIDO_VAULT_PASSPHRASE_FILE");
	unsetenv("JIDO_VAULT_KEY_FILE");
	snprintf(fx->home, sizeof(fx->home), "/tmp/jido-vt.XXXXXX");
	assert_non_null(mkdtemp(fx->home));
	snprintf(path, sizeof(path), "%s/run", fx->home);
	mkdir(path, 0700);
	table[0] = '\0';
	jido_cred_hash(CRED_GITOPS, h);
	snprintf(table + strlen(table), sizeof(table) - strlen(table), "gitops %s\n", h);
	jido_cred_hash(CRED_INGEST, h);
	snprintf(table + strlen(table), sizeof(table) - strlen(table), "ingest %s\n", h);
	jido_cred_hash(CRED_WEB, h);
	snprintf(table + strlen(table), sizeof(table) - strlen(table), "web %s\n", h);
	snprintf(path, sizeof(path), "%s/run/creds", fx->home);
	fx_write(path, table, 0600);
	assert_int_equal(jido_conf_load(NULL, &fx->conf, why, sizeof(why)), 0);
	assert_int_equal(jido_conf_set(fx->conf, "home", fx->home, why, sizeof(why)), 0);
	assert_int_equal(jido_srv_new(&vault_proc, fx->conf, &fx->srv, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/run/owner.cred", fx->home);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(fx->owner, sizeof(fx->owner), f));
	fclose(f);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	jido_srv_free(fx->srv);
	jido_conf_free(fx->conf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->home);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* One request through the real dispatch; returns the reply (caller decrefs). data is a
 * JSON object text; "CRED" fields are given by the caller. */
static json_t *
fx_req(struct fx *fx, const char *type, json_t *data)
{
	json_t *m = jido_msg_new(type, NULL, NULL, data);
	char *text = jido_json_dump(m);
	json_t *r = jido_srv_dispatch(fx->srv, text, strlen(text), NULL);

	free(text);
	json_decref(m);
	return r;
}

static const char *
fx_code(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void
fx_put(struct fx *fx, const char *name, const char *value)
{
	json_t *r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s}", "cred", fx->owner, "name",
	    name, "value", value));

	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
}

static void
test_acl_table(void **state)
{
	(void)state;
	assert_true(vault_acl_allows("ingest", VAULT_OP_GET, "github.webhook_secret"));
	assert_true(vault_acl_allows("ingest", VAULT_OP_GET, "github.token"));
	assert_true(vault_acl_allows("ingest", VAULT_OP_GET, "github.app_private_key"));
	assert_false(vault_acl_allows("ingest", VAULT_OP_GET, "github.other"));
	assert_true(vault_acl_allows("gitops", VAULT_OP_GET, "github.token"));
	assert_true(vault_acl_allows("gitops", VAULT_OP_GET, "github.app.key"));
	assert_false(vault_acl_allows("gitops", VAULT_OP_GET, "githubx.token"));
	assert_false(vault_acl_allows("gitops", VAULT_OP_GET, "github."));
	assert_false(vault_acl_allows("gitops", VAULT_OP_PUT, "github.token"));
	assert_true(vault_acl_allows("gateway", VAULT_OP_GET, "llm.anthropic.api_key"));
	assert_false(vault_acl_allows("gateway", VAULT_OP_GET, "github.token"));
	assert_true(vault_acl_allows("auditor", VAULT_OP_GET, "audit.signing_key"));
	assert_false(vault_acl_allows("auditor", VAULT_OP_GET, "web.session_key"));
	assert_true(vault_acl_allows("web", VAULT_OP_GET, "web.session_key"));
	assert_true(vault_acl_allows("web", VAULT_OP_GET, "web.share_key"));
	assert_false(vault_acl_allows("planner", VAULT_OP_GET, "web.share_key"));
	assert_true(vault_acl_allows("web", VAULT_OP_LIST, NULL));
	assert_true(vault_acl_allows("web", VAULT_OP_PUT, "github.token"));
	assert_true(vault_acl_allows("web", VAULT_OP_ROTATE, "github.token"));
	assert_false(vault_acl_allows("web", VAULT_OP_DELETE, "github.token"));
	assert_false(vault_acl_allows("web", VAULT_OP_REKEY, NULL));
	assert_false(vault_acl_allows("web", VAULT_OP_GET, "github.token"));
	assert_true(vault_acl_allows("owner", VAULT_OP_DELETE, "github.token"));
	assert_true(vault_acl_allows("owner", VAULT_OP_REKEY, NULL));
	assert_false(vault_acl_allows("owner", VAULT_OP_GET, "github.token"));
	assert_false(vault_acl_allows("planner", VAULT_OP_GET, "github.token"));
	assert_false(vault_acl_allows("planner", VAULT_OP_LIST, NULL));
	assert_false(vault_acl_allows(NULL, VAULT_OP_LIST, NULL));
	assert_true(vault_acl_allows("gitops", VAULT_OP_FINGERPRINTS, NULL));
	assert_false(vault_acl_allows("ingest", VAULT_OP_FINGERPRINTS, NULL));
	assert_false(vault_acl_allows("web", VAULT_OP_FINGERPRINTS, NULL));
	assert_false(vault_acl_allows("owner", VAULT_OP_FINGERPRINTS, NULL));
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(vault_name_ok("github.token"));
	assert_true(vault_name_ok("llm.anthropic.api_key"));
	assert_false(vault_name_ok(""));
	assert_false(vault_name_ok(NULL));
	assert_false(vault_name_ok("GitHub.token"));
	assert_false(vault_name_ok(".x"));
	assert_false(vault_name_ok("x."));
	assert_false(vault_name_ok("a b"));
	assert_true(vault_scope_ok("instance"));
	assert_true(vault_scope_ok("project:42"));
	assert_false(vault_scope_ok("project:"));
	assert_false(vault_scope_ok("project:a b"));
	assert_false(vault_scope_ok("global"));
}

static void
test_put_get(void **state)
{
	struct fx *fx = *state;
	json_t *r;

	fx_put(fx, "github.token", "tok\n\"quoted\" \xc3\xa9");
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.token"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "value")), "tok\n\"quoted\" \xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "scope")), "instance");
	json_decref(r);
	/* ingest may not; an unknown credential may not; the owner may not read values. */
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_INGEST, "name",
	    "github.other"));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS + 1, "name",
	    "github.token"));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", fx->owner, "name",
	    "github.token"));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	/* scopes are separate */
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.token", "scope", "project:7"));
	assert_string_equal(fx_code(r), "not_found");
	json_decref(r);
	/* delete, then it is gone */
	r = fx_req(fx, "vault.delete", json_pack("{s:s,s:s}", "cred", fx->owner, "name",
	    "github.token"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.token"));
	assert_string_equal(fx_code(r), "not_found");
	json_decref(r);
}

static void
test_validation(void **state)
{
	struct fx *fx = *state;
	char *big = malloc(VAULT_VALUE_MAX + 2);
	json_t *r;

	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s,s:s}", "cred", fx->owner, "name",
	    "a.b", "value", "v", "caller", "gitops"));
	assert_string_equal(fx_code(r), "validation_error");
	json_decref(r);
	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s}", "cred", fx->owner, "name",
	    "A B", "value", "v"));
	assert_string_equal(fx_code(r), "validation_error");
	json_decref(r);
	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s}", "cred", fx->owner, "name", "a.b"));
	assert_string_equal(fx_code(r), "validation_error");
	json_decref(r);
	memset(big, 'x', VAULT_VALUE_MAX + 1);
	big[VAULT_VALUE_MAX + 1] = '\0';
	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s}", "cred", fx->owner, "name", "a.b",
	    "value", big));
	assert_string_equal(fx_code(r), "validation_error");
	/* the error message never echoes the value */
	char *text = json_dumps(r, 0);
	assert_null(strstr(text, "xxxxxxxx"));
	free(text);
	json_decref(r);
	free(big);
	r = fx_req(fx, "vault.nope", json_pack("{s:s}", "cred", fx->owner));
	assert_string_equal(fx_code(r), "validation_error");
	json_decref(r);
}

/* Swap two rows' ciphertexts: the associated data (name, scope, version) no longer
 * matches, so both read as integrity_error; check counts two failures. */
static void
test_moved_ciphertext(void **state)
{
	struct fx *fx = *state;
	char path[128], why[256];
	sqlite3 *db;
	json_t *r;
	struct vault_store vs;
	struct vault_keycfg kc;
	int checked, failed;
	FILE *devnull = fopen("/dev/null", "w");

	fx_put(fx, "github.a", "value-a");
	fx_put(fx, "github.b", "value-b");
	snprintf(path, sizeof(path), "%s/vault.db", fx->home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TEMP TABLE t AS SELECT name, nonce, ct FROM "
	    "version WHERE name IN ('github.a','github.b');"
	    "UPDATE version SET nonce = (SELECT nonce FROM t WHERE t.name != version.name),"
	    " ct = (SELECT ct FROM t WHERE t.name != version.name)"
	    " WHERE name IN ('github.a','github.b');", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.a"));
	assert_string_equal(fx_code(r), "integrity_error");
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_INGEST, "name",
	    "github.webhook_secret"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_int_equal(vault_keycfg_from_conf(fx->conf, fx->home, &kc, why, sizeof(why)), 0);
	assert_int_equal(vault_store_open(&vs, path, &kc, 0, 1, why, sizeof(why)), 0);
	assert_int_equal(vault_store_check(&vs, devnull, &checked, &failed), 0);
	assert_int_equal(failed, 2);
	assert_int_equal(checked, 6); /* 3 + web.share_key + github.a, github.b */
	vault_store_close(&vs);
	fclose(devnull);
}

static void
test_rotate_grace(void **state)
{
	struct fx *fx = *state;
	/* the vault's private state starts with its store (vault.c, struct vault_priv) */
	struct vault_priv_view { struct vault_store vs; } *vp = jido_srv_priv(fx->srv);
	json_t *r;

	fx_put(fx, "github.r", "v1");
	r = fx_req(fx, "vault.rotate", json_pack("{s:s,s:s,s:s,s:i}", "cred", fx->owner, "name",
	    "github.r", "value", "v2", "grace_s", 100));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"),
	    "version")), 2);
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s,s:i}", "cred", CRED_GITOPS, "name",
	    "github.r", "version", 1));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "value")), "v1");
	json_decref(r);
	/* grace 0: version 2 is refused at once, and purge removes its row */
	r = fx_req(fx, "vault.rotate", json_pack("{s:s,s:s,s:s,s:i}", "cred", fx->owner, "name",
	    "github.r", "value", "v3", "grace_s", 0));
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s,s:i}", "cred", CRED_GITOPS, "name",
	    "github.r", "version", 2));
	assert_string_equal(fx_code(r), "secret_unavailable");
	json_decref(r);
	assert_int_equal(vault_store_purge(&vp->vs), 1);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s,s:i}", "cred", CRED_GITOPS, "name",
	    "github.r", "version", 2));
	assert_string_equal(fx_code(r), "secret_unavailable");
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s,s:i}", "cred", CRED_GITOPS, "name",
	    "github.r", "version", 1));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "value")), "v1");
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.r"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "value")), "v3");
	json_decref(r);
	/* web may rotate (for the owner) but not delete */
	r = fx_req(fx, "vault.rotate", json_pack("{s:s,s:s,s:s}", "cred", CRED_WEB, "name",
	    "github.r", "value", "v4"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = fx_req(fx, "vault.delete", json_pack("{s:s,s:s}", "cred", CRED_WEB, "name",
	    "github.r"));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
}

static void
test_expiry_and_status(void **state)
{
	struct fx *fx = *state;
	json_t *r, *d;

	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s,s:i}", "cred", fx->owner, "name",
	    "github.old", "value", "v", "expires_at", 1000));
	json_decref(r);
	r = fx_req(fx, "vault.put", json_pack("{s:s,s:s,s:s,s:i}", "cred", fx->owner, "name",
	    "github.due", "value", "v", "max_age_s", 0));
	json_decref(r);
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.old"));
	assert_string_equal(fx_code(r), "secret_unavailable");
	json_decref(r);
	r = fx_req(fx, "vault.status", json_pack("{s:s}", "cred", CRED_WEB));
	d = json_object_get(r, "data");
	assert_string_equal(json_string_value(json_object_get(d, "state")), "unlocked");
	assert_int_equal(json_integer_value(json_object_get(d, "secrets")), 6); /* with web.share_key */
	json_decref(r);
	r = fx_req(fx, "vault.status", json_pack("{s:s}", "cred", CRED_GITOPS));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
}

/* Rekey to a passphrase: the old key file no longer opens the vault, the passphrase does,
 * and every value still reads. */
static void
test_rekey(void **state)
{
	struct fx *fx = *state;
	char pass[128], db[128], why[512];
	struct vault_keycfg kc;
	struct vault_store vs;
	struct vault_secret sec;
	json_t *r;

	fx_put(fx, "github.k", "keep-me");
	snprintf(pass, sizeof(pass), "%s/pass", fx->home);
	snprintf(db, sizeof(db), "%s/vault.db", fx->home);
	fx_write(pass, "a long enough passphrase\n", 0644);
	r = fx_req(fx, "vault.rekey", json_pack("{s:s,s:s}", "cred", fx->owner,
	    "new_passphrase_file", pass));
	assert_string_equal(fx_code(r), "secret_unavailable"); /* mode 0644 refused */
	json_decref(r);
	chmod(pass, 0600);
	r = fx_req(fx, "vault.rekey", json_pack("{s:s,s:s}", "cred", CRED_WEB,
	    "new_passphrase_file", pass));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = fx_req(fx, "vault.rekey", json_pack("{s:s,s:s}", "cred", fx->owner,
	    "new_passphrase_file", pass));
	assert_true(json_is_true(json_object_get(r, "ok")));
	/* every data key row was rewrapped (there is one per vault today) */
	{
		sqlite3 *sq;
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_open_v2(db, &sq, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(sq, "SELECT count(*) FROM dek", -1, &st,
		    NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"),
		    "rewrapped")), sqlite3_column_int(st, 0));
		assert_int_equal(sqlite3_column_int(st, 0), 1);
		sqlite3_finalize(st);
		sqlite3_close(sq);
	}
	json_decref(r);
	/* the running vault still serves */
	r = fx_req(fx, "vault.get", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "name",
	    "github.k"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	memset(&kc, 0, sizeof(kc));
	snprintf(kc.key_file, sizeof(kc.key_file), "%s/vault.key", fx->home);
	assert_int_not_equal(vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why)), 0);
	memset(&kc, 0, sizeof(kc));
	snprintf(kc.passphrase_file, sizeof(kc.passphrase_file), "%s/wrong", fx->home);
	fx_write(kc.passphrase_file, "not the passphrase\n", 0600);
	assert_int_equal(vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why)), JIDO_EAUTHZ);
	assert_non_null(strstr(why, "wrong passphrase"));
	snprintf(kc.passphrase_file, sizeof(kc.passphrase_file), "%s", pass);
	assert_int_equal(vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why)), 0);
	assert_int_equal(vault_store_get(&vs, "github.k", "instance", 0, &sec, why, sizeof(why)), 0);
	assert_string_equal(sec.value, "keep-me");
	vault_secret_clear(&sec);
	vault_store_close(&vs);
	/* the same passphrase typed (jido up in a terminal) instead of read from a file */
	memset(&kc, 0, sizeof(kc));
	kc.passphrase = "a long enough passphrase";
	assert_int_equal(vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why)), 0);
	vault_store_close(&vs);
	kc.passphrase = "a long enough passphras";
	assert_int_equal(vault_store_open(&vs, db, &kc, 0, 1, why, sizeof(why)), JIDO_EAUTHZ);
}

/* Deploy mode: no credential, the ipc peer uid through vault.uid_map; a credential,
 * when present, wins; an unknown uid or no peer is refused. */
static void
test_uid_map(void **state)
{
	struct fx *fx = *state;
	struct jido_srv *s2;
	struct jido_peer peer = { 1, 1001, 42 };
	char why[512], *text;
	json_t *m, *r;

	fx_put(fx, "github.u", "uid-value");
	assert_int_equal(jido_conf_set(fx->conf, "vault.uid_map", "1001=gitops,1002=ingest", why,
	    sizeof(why)), 0);
	assert_int_equal(jido_srv_new(&vault_proc, fx->conf, &s2, why, sizeof(why)), 0);
	m = jido_msg_new("vault.get", NULL, NULL, json_pack("{s:s}", "name", "github.u"));
	text = jido_json_dump(m);
	r = jido_srv_dispatch(s2, text, strlen(text), &peer);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"),
	    "value")), "uid-value");
	json_decref(r);
	peer.uid = 1002; /* ingest may not */
	r = jido_srv_dispatch(s2, text, strlen(text), &peer);
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	peer.uid = 1003; /* unknown uid */
	r = jido_srv_dispatch(s2, text, strlen(text), &peer);
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = jido_srv_dispatch(s2, text, strlen(text), NULL); /* no peer (filter) */
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	free(text);
	json_decref(m);
	/* an empty credential is no credential: the uid decides */
	peer.uid = 1001;
	m = jido_msg_new("vault.get", NULL, NULL, json_pack("{s:s,s:s}", "cred", "", "name",
	    "github.u"));
	text = jido_json_dump(m);
	r = jido_srv_dispatch(s2, text, strlen(text), &peer);
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	free(text);
	json_decref(m);
	/* gitops's uid, but ingest's credential: the credential wins */
	peer.uid = 1001;
	m = jido_msg_new("vault.get", NULL, NULL, json_pack("{s:s,s:s}", "cred", CRED_INGEST,
	    "name", "github.u"));
	text = jido_json_dump(m);
	r = jido_srv_dispatch(s2, text, strlen(text), &peer);
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	free(text);
	json_decref(m);
	jido_srv_free(s2);
	assert_int_equal(jido_conf_set(fx->conf, "vault.uid_map", "1001", why, sizeof(why)), 0);
	assert_int_equal(jido_srv_new(&vault_proc, fx->conf, &s2, why, sizeof(why)),
	    JIDO_EVALIDATION);
}

/* The fingerprint of name/part in a vault.fingerprints reply, or NULL. */
static json_t *
fx_fp_find(json_t *data, const char *name, int64_t version, const char *part)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(data, "fingerprints"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0 &&
		    json_integer_value(json_object_get(e, "version")) == version &&
		    strcmp(json_string_value(json_object_get(e, "part")), part) == 0)
			return e;
	return NULL;
}

/* Is e the keyed BLAKE2b of value under the reply's salt, with value's length? */
static int
fx_fp_is(json_t *data, json_t *e, const char *value)
{
	unsigned char salt[VAULT_FP_SALT_BYTES], h[VAULT_FP_BYTES];
	char hex[2 * VAULT_FP_BYTES + 1];

	assert_int_equal(sodium_hex2bin(salt, sizeof(salt), json_string_value(json_object_get(
	    data, "salt")), 2 * VAULT_FP_SALT_BYTES, NULL, NULL, NULL), 0);
	crypto_generichash(h, sizeof(h), (const unsigned char *)value, strlen(value), salt,
	    sizeof(salt));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return e != NULL && (size_t)json_integer_value(json_object_get(e, "len")) == strlen(value) &&
	    strcmp(json_string_value(json_object_get(e, "hash")), hex) == 0;
}

static void
test_fingerprints(void **state)
{
	struct fx *fx = *state;
	const char *pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n"
	    "-----END PRIVATE KEY-----";
	json_t *r, *r2, *d;
	char *text;

	fx_put(fx, "llm.fp.api_key", "canary-zq8-value-of-the-vault");
	fx_put(fx, "github.app_private_key", pem);
	r = fx_req(fx, "vault.fingerprints", json_pack("{s:s}", "cred", CRED_GITOPS));
	assert_true(json_is_true(json_object_get(r, "ok")));
	d = json_object_get(r, "data");
	assert_int_equal(json_string_length(json_object_get(d, "salt")), 2 * VAULT_FP_SALT_BYTES);
	assert_true(fx_fp_is(d, fx_fp_find(d, "llm.fp.api_key", 1, "value"),
	    "canary-zq8-value-of-the-vault"));
	assert_true(fx_fp_is(d, fx_fp_find(d, "github.app_private_key", 1, "value"), pem));
	/* each line of a multi-line value of 16 bytes or more, on its own */
	assert_true(fx_fp_is(d, fx_fp_find(d, "github.app_private_key", 1, "line 2"),
	    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"));
	assert_null(fx_fp_find(d, "github.app_private_key", 1, "line 3"));
	/* the generated secrets are there too, and no value is anywhere in the answer */
	assert_non_null(fx_fp_find(d, "github.webhook_secret", 1, "value"));
	text = jido_json_dump(r);
	assert_null(strstr(text, "canary-zq8"));
	assert_null(strstr(text, "MIIEvQIBADANBgkq"));
	free(text);
	/* a fresh salt per request */
	r2 = fx_req(fx, "vault.fingerprints", json_pack("{s:s}", "cred", CRED_GITOPS));
	assert_string_not_equal(json_string_value(json_object_get(d, "salt")),
	    json_string_value(json_object_get(json_object_get(r2, "data"), "salt")));
	json_decref(r2);
	json_decref(r);
	/* during a rotation's grace both versions are fingerprinted */
	r = fx_req(fx, "vault.rotate", json_pack("{s:s,s:s,s:s,s:i}", "cred", fx->owner, "name",
	    "llm.fp.api_key", "value", "canary-zq8-second-value", "grace_s", 100));
	json_decref(r);
	r = fx_req(fx, "vault.fingerprints", json_pack("{s:s}", "cred", CRED_GITOPS));
	d = json_object_get(r, "data");
	assert_true(fx_fp_is(d, fx_fp_find(d, "llm.fp.api_key", 2, "value"),
	    "canary-zq8-second-value"));
	assert_true(fx_fp_is(d, fx_fp_find(d, "llm.fp.api_key", 1, "value"),
	    "canary-zq8-value-of-the-vault"));
	assert_int_equal(json_array_size(json_object_get(d, "unreadable")), 0);
	json_decref(r);
	/* gitops only; no extra fields */
	r = fx_req(fx, "vault.fingerprints", json_pack("{s:s}", "cred", CRED_INGEST));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = fx_req(fx, "vault.fingerprints", json_pack("{s:s}", "cred", fx->owner));
	assert_string_equal(fx_code(r), "authorization_error");
	json_decref(r);
	r = fx_req(fx, "vault.fingerprints", json_pack("{s:s,s:s}", "cred", CRED_GITOPS, "salt",
	    "00"));
	assert_string_equal(fx_code(r), "validation_error");
	json_decref(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acl_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_put_get, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_validation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_moved_ciphertext, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rotate_grace, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_status, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rekey, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_uid_map, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fingerprints, fx_setup, fx_teardown),
	};
	if (sodium_init() < 0)
		return 1;
	jido_log_init("vault");
	jido_log_set_level(JIDO_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
