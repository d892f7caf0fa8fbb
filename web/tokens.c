/*
 * tokens.c - the API-token operations of the operation table (web.tokens.list, .create,
 * .revoke): answered on run/web.sock for the local CLI and called directly by the REST
 * API. The tokens live in the web database; each thread passes its own connection.
 */
#include <string.h>

#include <sodium.h>

#include "web.h"

int
web_tokens_handle(struct web *w, struct sqlite3 *db, const char *type, const json_t *data,
    int audit, json_t **out, char *why, size_t whylen)
{
	const char *verb = type + strlen("web.tokens."), *channel;
	int rc;

	channel = json_string_value(json_object_get(data, "channel"));
	channel = channel != NULL ? channel : "cli";
	if (strcmp(verb, "list") == 0) {
		*out = json_pack("{s:o}", "tokens", auth_token_list(db));
		return 0;
	}
	if (strcmp(verb, "create") == 0) {
		const char *name = json_string_value(json_object_get(data, "name")),
		    *sc = json_string_value(json_object_get(data, "scopes"));
		json_t *days = json_object_get(data, "expires_days");
		int scopes = sc != NULL ? auth_scopes_parse(sc) : 0;
		char tok[80], text[40];
		int64_t id;

		if (scopes < 0) {
			snprintf(why, whylen, "scopes: unknown scope in '%s' (read, run, approve, "
			    "admin)", sc);
			return JIDO_EVALIDATION;
		}
		if (days != NULL && !json_is_integer(days)) {
			snprintf(why, whylen, "expires_days: must be a whole number");
			return JIDO_EVALIDATION;
		}
		if (audit && web_audit(w, channel, "api_token.create", name != NULL ? name : "",
		    "ok", json_pack("{s:s}", "scopes", sc != NULL ? sc : "")) != 0) {
			snprintf(why, whylen, "the auditor did not confirm the record: no token made");
			return JIDO_EUNAVAIL;
		}
		if ((rc = auth_token_create(db, name, scopes, days != NULL ?
		    (int)json_integer_value(days) : 0, tok, &id, why, whylen)) != 0)
			return rc;
		*out = json_pack("{s:I,s:s,s:s,s:I,s:s}", "id", (json_int_t)id, "name", name,
		    "scopes", auth_scopes_text(scopes, text, sizeof(text)), "expires_days",
		    days != NULL ? json_integer_value(days) : 0, "token", tok);
		sodium_memzero(tok, sizeof(tok));
		return *out != NULL ? 0 : JIDO_EINTERNAL;
	}
	if (strcmp(verb, "revoke") == 0) {
		json_t *id = json_object_get(data, "id");
		char subject[48];

		if (!json_is_integer(id) || json_integer_value(id) < 1) {
			snprintf(why, whylen, "id: must be a token id");
			return JIDO_EVALIDATION;
		}
		snprintf(subject, sizeof(subject), "token %lld", (long long)json_integer_value(id));
		if (audit && web_audit(w, channel, "api_token.revoke", subject, "ok", NULL) != 0) {
			snprintf(why, whylen, "the auditor did not confirm the record: nothing revoked");
			return JIDO_EUNAVAIL;
		}
		if ((rc = auth_token_revoke(db, json_integer_value(id))) != 0) {
			snprintf(why, whylen, "no active token %lld", (long long)json_integer_value(id));
			return rc;
		}
		*out = json_pack("{s:I,s:b}", "id", json_integer_value(id), "revoked", 1);
		return 0;
	}
	snprintf(why, whylen, "unknown type '%s'", type);
	return JIDO_EVALIDATION;
}
