/*
 * acl.c - the vault's access-control table: which caller may do which operation on which
 * secret names. Callers are process names established by the vault itself (credential or
 * ipc peer uid) or "owner" (the owner credential, run/owner.cred). Anything not listed is
 * refused. docs/ARCHITECTURE.md (section "vault") documents the same table.
 */
#include <string.h>

#include "vault.h"

struct acl_rule {
	const char *who;
	int ops;
	const char *names; /* exact name, "prefix.*", or "*"; NULL for metadata-only ops */
};

#define OWNER_OPS (VAULT_OP_LIST | VAULT_OP_STATUS | VAULT_OP_PUT | VAULT_OP_ROTATE | \
	VAULT_OP_DELETE | VAULT_OP_REKEY)

static const struct acl_rule acl_rules[] = {
	{ "ingest", VAULT_OP_GET, "github.webhook_secret" },
	{ "ingest", VAULT_OP_GET, "github.token" },           /* the REST sync */
	{ "ingest", VAULT_OP_GET, "github.app_private_key" }, /* the sync as a GitHub App */
	{ "gitops", VAULT_OP_GET, "github.*" },
	{ "gitops", VAULT_OP_FINGERPRINTS, NULL }, /* salted hashes of every value, no value */
	{ "gateway", VAULT_OP_GET, "llm.*" },
	{ "auditor", VAULT_OP_GET, "audit.signing_key" },
	{ "web", VAULT_OP_GET, "web.session_key" },
	{ "web", VAULT_OP_GET, "web.share_key" },   /* signs artifact share links */
	{ "web", VAULT_OP_LIST | VAULT_OP_STATUS, NULL },
	{ "web", VAULT_OP_PUT | VAULT_OP_ROTATE, "*" }, /* on behalf of the logged-in owner */
	{ "owner", OWNER_OPS, "*" },
};

/* Does pattern cover name? NULL name (metadata op) matches any rule granting the op. */
static int
acl_match(const char *pattern, const char *name)
{
	size_t n;

	if (name == NULL)
		return 1;
	if (pattern == NULL)
		return 0;
	if (strcmp(pattern, "*") == 0)
		return 1;
	n = strlen(pattern);
	if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
		return strncmp(pattern, name, n - 1) == 0 && name[n - 1] != '\0';
	return strcmp(pattern, name) == 0;
}

int
vault_acl_allows(const char *caller, int op, const char *name)
{
	if (caller == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(acl_rules) / sizeof(acl_rules[0]); i++)
		if (strcmp(acl_rules[i].who, caller) == 0 && (acl_rules[i].ops & op) != 0 &&
		    acl_match(acl_rules[i].names, name))
			return 1;
	return 0;
}
