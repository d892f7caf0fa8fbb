/*
 * fingerprint.c - the vault-fingerprint part of gitops's secret scan. The vault answers
 * vault.fingerprints with a fresh salt and, per secret, the length of the value and its
 * BLAKE2b-256 keyed by that salt (vault/fingerprint.c); gitops hashes every substring of
 * an added line of each listed length under the same salt and compares. A match names
 * the secret (name, scope), never the value, which gitops never holds.
 */
#include <string.h>

#include <sodium.h>

#include "gitops.h"

void
gitops_fps_free(struct gitops_fps *f)
{
	free(f->v);
	f->v = NULL;
	f->n = 0;
	sodium_memzero(f->salt, sizeof(f->salt));
}

int
gitops_fps_parse(const json_t *data, struct gitops_fps *f, char *why, size_t whylen)
{
	const char *salt = json_string_value(json_object_get(data, "salt"));
	json_t *arr = json_object_get(data, "fingerprints"), *e;
	size_t i;

	memset(f, 0, sizeof(*f));
	if (salt == NULL || strlen(salt) != 2 * sizeof(f->salt) ||
	    sodium_hex2bin(f->salt, sizeof(f->salt), salt, strlen(salt), NULL, NULL, NULL) != 0 ||
	    !json_is_array(arr)) {
		snprintf(why, whylen, "vault.fingerprints: answer without a salt or a list");
		return JIDO_EVALIDATION;
	}
	if (json_array_size(arr) > 0 &&
	    (f->v = calloc(json_array_size(arr), sizeof(*f->v))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	json_array_foreach(arr, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *scope = json_string_value(json_object_get(e, "scope"));
		const char *hash = json_string_value(json_object_get(e, "hash"));
		json_int_t len = json_integer_value(json_object_get(e, "len"));
		struct gitops_fp *fp = &f->v[f->n];
		if (name == NULL || scope == NULL || hash == NULL || len <= 0 ||
		    strlen(hash) != 2 * sizeof(fp->hash) || sodium_hex2bin(fp->hash,
		    sizeof(fp->hash), hash, strlen(hash), NULL, NULL, NULL) != 0) {
			gitops_fps_free(f);
			snprintf(why, whylen, "vault.fingerprints: entry %zu is malformed", i);
			return JIDO_EVALIDATION;
		}
		if (len < GITOPS_FP_MIN_LEN)
			continue; /* a value this short would match ordinary text */
		snprintf(fp->name, sizeof(fp->name), "%s", name);
		snprintf(fp->scope, sizeof(fp->scope), "%s", scope);
		fp->len = (size_t)len;
		f->n++;
	}
	json_array_foreach(json_object_get(data, "unreadable"), i, e)
		if (f->unreadable[0] == '\0')
			snprintf(f->unreadable, sizeof(f->unreadable), "%.128s (%.40s)",
			    json_string_value(json_object_get(e, "name")) ?: "?",
			    json_string_value(json_object_get(e, "code")) ?: "?");
	return 0;
}

const struct gitops_fp *
gitops_fps_find(const struct gitops_fps *f, const char *text, size_t len)
{
	unsigned char h[GITOPS_FP_BYTES];

	for (size_t i = 0; i < f->n; i++) {
		size_t l = f->v[i].len;
		int seen = 0;
		if (l > len)
			continue;
		/* one pass per distinct length: the first entry of that length does it */
		for (size_t k = 0; k < i && !seen; k++)
			seen = f->v[k].len == l;
		if (seen)
			continue;
		for (size_t off = 0; off + l <= len; off++) {
			crypto_generichash(h, sizeof(h), (const unsigned char *)text + off, l, f->salt,
			    sizeof(f->salt));
			for (size_t k = i; k < f->n; k++)
				if (f->v[k].len == l && sodium_memcmp(h, f->v[k].hash, sizeof(h)) == 0)
					return &f->v[k];
		}
	}
	return NULL;
}

long
gitops_fps_scan_diff(const struct gitops_fps *f, const struct gitops_diff *d,
    const struct gitops_fp **hit)
{
	for (size_t i = 0; i < d->nadds; i++)
		if ((*hit = gitops_fps_find(f, d->text + d->adds[i].off, d->adds[i].len)) != NULL)
			return (long)i;
	*hit = NULL;
	return -1;
}

int
gitops_fps_fetch(const struct jido_conf *c, const char *home, json_t **data, char *why,
    size_t whylen)
{
	const char *cred = jido_cred_self();
	char url[4200];
	struct jido_reply r;
	int rc;

	*data = NULL;
	if (jido_vault_url(c, home, url, sizeof(url)) != 0) {
		snprintf(why, whylen, "vault socket path too long");
		return JIDO_EINTERNAL;
	}
	if ((rc = jido_bus_call(url, "vault.fingerprints", NULL, json_pack("{s:s}", "cred",
	    cred ? cred : ""), (int)jido_conf_int(c, "bus.timeout_ms"), &r)) != 0) {
		snprintf(why, whylen, "vault.fingerprints: %s", jido_strerror(rc));
		return JIDO_ESECRET;
	}
	if (!r.ok) {
		snprintf(why, whylen, "vault.fingerprints: %s: %s", jido_err_name(r.err),
		    r.message ? r.message : "");
		jido_reply_free(&r);
		return JIDO_ESECRET;
	}
	*data = json_incref(r.data);
	jido_reply_free(&r);
	return 0;
}

int
gitops_fps_wanted(const struct jido_conf *c)
{
	const char *mode = jido_conf_str(c, "gitops.vault_fingerprints");
	const char *file = jido_conf_str(c, "github.token_file");

	if (mode != NULL && strcmp(mode, "on") == 0)
		return 1;
	if (mode != NULL && strcmp(mode, "off") == 0)
		return 0;
	/* auto: whenever the token comes from the vault (production); a token file means a
	 * test without a vault */
	return file == NULL || file[0] == '\0';
}
