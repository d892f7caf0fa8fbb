/*
 * vault_client.c - what other processes call to fetch their secrets from jido-vault:
 * one vault.get round trip carrying this process's credential (data.cred), the value
 * copied into sodium_malloc'd memory, every intermediate copy wiped. Also the jansson
 * allocator that wipes freed blocks, used by the vault and by secret holders.
 */
#include <limits.h>
#include <malloc.h>
#include <string.h>

#include <sodium.h>

#include "jido.h"

#define VAULT_CLIENT_TIMEOUT_MS 2000

static void *
vault_json_malloc(size_t n)
{
	return malloc(n);
}

/* Wipe the whole usable block before freeing: jansson does not say how big it was. */
static void
vault_json_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void
jido_vault_json_wipe(void)
{
	json_set_alloc_funcs(vault_json_malloc, vault_json_free);
}

int
jido_vault_url(const struct jido_conf *c, const char *home, char *url, size_t len)
{
	const char *conf_url = c != NULL ? jido_conf_str(c, "socket.vault") : NULL;

	if (conf_url != NULL && conf_url[0] != '\0') {
		int n = snprintf(url, len, "%s", conf_url);
		return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
	}
	return jido_bus_url_req(home, "vault", url, len) != 0 ? JIDO_EVALIDATION : 0;
}

int
jido_vault_get_version(const struct jido_conf *c, const char *home, const char *name,
    const char *scope, int64_t version, char **value, size_t *len, int64_t *got, char *why,
    size_t whylen)
{
	const char *cred = jido_cred_self();
	char url[PATH_MAX + 32];
	struct jido_reply r;
	json_t *jv, *data;
	int rc;

	*value = NULL;
	if (cred == NULL) {
		snprintf(why, whylen, "this process has no credential (JIDO_PROC_CRED)");
		return JIDO_EAUTHZ;
	}
	if (jido_vault_url(c, home, url, sizeof(url)) != 0) {
		snprintf(why, whylen, "state directory path too long");
		return JIDO_EVALIDATION;
	}
	jido_vault_json_wipe();
	data = json_pack("{s:s,s:s,s:s}", "cred", cred, "name", name, "scope",
	    scope != NULL ? scope : "instance");
	if (version > 0)
		json_object_set_new(data, "version", json_integer(version));
	rc = jido_bus_call(url, "vault.get", NULL, data,
	    (int)(c != NULL && jido_conf_int(c, "bus.timeout_ms") > 0 ?
	    jido_conf_int(c, "bus.timeout_ms") : VAULT_CLIENT_TIMEOUT_MS), &r);
	if (rc != 0) {
		snprintf(why, whylen, "jido-vault does not answer on %s: %s", url,
		    jido_strerror(rc));
		return rc;
	}
	if (!r.ok) {
		rc = r.err;
		snprintf(why, whylen, "%s", r.message != NULL ? r.message : jido_strerror(rc));
		jido_reply_free(&r);
		return rc;
	}
	jv = json_object_get(r.data, "value");
	if (!json_is_string(jv)) {
		jido_reply_free(&r);
		snprintf(why, whylen, "jido-vault answered without a value");
		return JIDO_EINTERNAL;
	}
	if ((*value = sodium_malloc(json_string_length(jv) + 1)) == NULL) {
		jido_reply_free(&r);
		snprintf(why, whylen, "out of locked memory");
		return JIDO_EINTERNAL;
	}
	memcpy(*value, json_string_value(jv), json_string_length(jv) + 1);
	if (len != NULL)
		*len = json_string_length(jv);
	if (got != NULL)
		*got = json_integer_value(json_object_get(r.data, "version"));
	jido_reply_free(&r); /* wiped by the allocator above */
	return 0;
}

int
jido_vault_get(const struct jido_conf *c, const char *home, const char *name, const char *scope,
    char **value, char *why, size_t whylen)
{
	return jido_vault_get_version(c, home, name, scope, 0, value, NULL, NULL, why, whylen);
}
