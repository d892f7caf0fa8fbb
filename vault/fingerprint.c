/*
 * fingerprint.c - vault.fingerprints: what gitops's secret scan needs to find the vault's
 * secret values in a diff without ever seeing them. For every readable secret version
 * (the current one, and the previous one while its rotation grace lasts) the answer holds
 * the value's length and BLAKE2b-256 (crypto_generichash) of the value keyed by a salt
 * that is fresh random bytes for every request, so a fingerprint is useless outside the
 * one scan it was made for and two answers cannot be compared. Never a value.
 */
#include <string.h>

#include <sodium.h>

#include "vault.h"

/* Append one fingerprint of value[0..len) to arr. */
static void
fp_add(json_t *arr, const unsigned char *salt, const char *name, const char *scope,
    int64_t version, const char *part, const char *value, size_t len)
{
	unsigned char h[VAULT_FP_BYTES];
	char hex[2 * VAULT_FP_BYTES + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)value, len, salt,
	    VAULT_FP_SALT_BYTES);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s,s:I,s:s}", "name", name, "scope",
	    scope, "version", (json_int_t)version, "part", part, "len", (json_int_t)len, "hash",
	    hex));
}

/* The fingerprints of one decrypted version: the whole value and, for a value of several
 * lines (a PEM key), each line of at least VAULT_FP_LINE_MIN bytes, since a diff's added
 * line can only hold one line of it. */
static void
fp_value(json_t *arr, const unsigned char *salt, const char *name, const char *scope,
    const struct vault_secret *sec)
{
	const char *p = sec->value, *end = sec->value + sec->len;
	int line = 0;

	fp_add(arr, salt, name, scope, sec->version, "value", sec->value, sec->len);
	if (memchr(sec->value, '\n', sec->len) == NULL)
		return;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char part[32];
		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n >= VAULT_FP_LINE_MIN) {
			snprintf(part, sizeof(part), "line %d", line);
			fp_add(arr, salt, name, scope, sec->version, part, p, n);
		}
		p = nl ? nl + 1 : end;
	}
}

int
vault_fingerprints(struct vault_store *vs, json_t **out, char *why, size_t whylen)
{
	unsigned char salt[VAULT_FP_SALT_BYTES];
	char salt_hex[2 * VAULT_FP_SALT_BYTES + 1];
	json_t *list = NULL, *fps, *bad, *it;
	size_t i;
	int rc;

	if ((rc = vault_store_list(vs, NULL, &list, why, whylen)) != 0)
		return rc;
	randombytes_buf(salt, sizeof(salt));
	fps = json_array();
	bad = json_array();
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *scope = json_string_value(json_object_get(it, "scope"));
		int64_t cur = json_integer_value(json_object_get(it, "version"));
		char w[256];
		struct vault_secret sec;

		if (json_is_true(json_object_get(it, "expired")))
			continue;
		for (int64_t v = cur; v >= 1 && v >= cur - 1; v--) {
			int grc = vault_store_get(vs, name, scope, v, &sec, w, sizeof(w));
			if (grc == 0) {
				fp_value(fps, salt, name, scope, &sec);
				vault_secret_clear(&sec);
			} else if (v == cur || grc == JIDO_EINTEGRITY) {
				/* the previous version is usually just revoked: only its tampering
				 * is worth reporting */
				json_array_append_new(bad, json_pack("{s:s,s:s,s:I,s:s}", "name", name,
				    "scope", scope, "version", (json_int_t)v, "code",
				    jido_err_name(grc)));
			}
		}
	}
	json_decref(list);
	sodium_bin2hex(salt_hex, sizeof(salt_hex), salt, sizeof(salt));
	sodium_memzero(salt, sizeof(salt));
	*out = json_pack("{s:s,s:s,s:o,s:o}", "algorithm", "blake2b-256-keyed", "salt", salt_hex,
	    "fingerprints", fps, "unreadable", bad);
	if (*out == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	return 0;
}
