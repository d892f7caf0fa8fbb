/*
 * err.c - the shared error-code table: wire names, descriptions, CLI exit codes.
 * One table so every process, channel and the CLI agree on what a failure means.
 */
#include <string.h>

#include "jido.h"

static const struct {
	const char *name;
	const char *text;
	int exit;
} err_table[JIDO_ERR_COUNT] = {
	[JIDO_OK] = { "ok", "success", 0 },
	[JIDO_EVALIDATION] = { "validation_error", "invalid input", 2 },
	[JIDO_EAUTHZ] = { "authorization_error", "not allowed", 1 },
	[JIDO_ENOTFOUND] = { "not_found", "not found", 3 },
	[JIDO_ECONFLICT] = { "conflict", "conflicts with the current state", 4 },
	[JIDO_ESECRET] = { "secret_unavailable", "secret unavailable", 111 },
	[JIDO_EINTEGRITY] = { "integrity_error", "integrity check failed", 111 },
	[JIDO_EPROVIDER] = { "provider_error", "upstream provider failed", 111 },
	[JIDO_EEXEC] = { "execution_error", "execution failed", 111 },
	[JIDO_EPOLICY] = { "policy_violation", "refused by policy", 1 },
	[JIDO_ETIMEOUT] = { "timeout", "timed out", 111 },
	[JIDO_EUNAVAIL] = { "unavailable", "service unavailable", 111 },
	[JIDO_EINTERNAL] = { "internal", "internal error", 111 },
	[JIDO_EFROZEN] = { "frozen", "frozen by the anomaly guard", 1 },
};

const char *
jido_err_name(int code)
{
	if (code < 0 || code >= JIDO_ERR_COUNT)
		return err_table[JIDO_EINTERNAL].name;
	return err_table[code].name;
}

const char *
jido_strerror(int code)
{
	if (code < 0 || code >= JIDO_ERR_COUNT)
		return "unknown error";
	return err_table[code].text;
}

int
jido_err_from_name(const char *name)
{
	for (int i = 0; name != NULL && i < JIDO_ERR_COUNT; i++)
		if (strcmp(err_table[i].name, name) == 0)
			return i;
	return JIDO_EINTERNAL;
}

int
jido_err_exit(int code)
{
	if (code < 0 || code >= JIDO_ERR_COUNT)
		return 111;
	return err_table[code].exit;
}
