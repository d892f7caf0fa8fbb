/*
 * redact.c - the executor's redaction (see redact.h): known values and their encodings,
 * token patterns, PEM private-key blocks. Pure string code, unit-tested in redact_test.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "redact.h"

static int
redact_keep(struct exec_redact *r, char *v)
{
	if (v == NULL)
		return -1;
	if (r->nknown >= REDACT_MAX_KNOWN || strlen(v) < 8) {
		sodium_memzero(v, strlen(v));
		free(v);
		return r->nknown >= REDACT_MAX_KNOWN ? -1 : 0;
	}
	r->known[r->nknown++] = v;
	return 0;
}

static char *
redact_b64(const char *v, int variant)
{
	size_t n = strlen(v), len = sodium_base64_encoded_len(n, variant);
	char *out = malloc(len);

	if (out != NULL)
		sodium_bin2base64(out, len, (const unsigned char *)v, n, variant);
	return out;
}

static char *
redact_hex(const char *v, int upper)
{
	size_t n = strlen(v), i;
	char *out = malloc(n * 2 + 1);

	if (out == NULL)
		return NULL;
	sodium_bin2hex(out, n * 2 + 1, (const unsigned char *)v, n);
	if (upper)
		for (i = 0; out[i] != '\0'; i++)
			out[i] = (char)toupper((unsigned char)out[i]);
	return out;
}

static char *
redact_urlenc(const char *v)
{
	size_t n = strlen(v), o = 0, i;
	char *out = malloc(n * 3 + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 4, "%%%02X", c);
	}
	out[o] = '\0';
	return out;
}

int
exec_redact_add(struct exec_redact *r, const char *value)
{
	char *url;

	if (value == NULL || strlen(value) < 8)
		return -1;
	if (redact_keep(r, strdup(value)) != 0)
		return -1;
	/* Base64 of the value alone; the three alignments inside a longer encoded string are
	 * not covered (documented limitation). */
	redact_keep(r, redact_b64(value, sodium_base64_VARIANT_ORIGINAL_NO_PADDING));
	redact_keep(r, redact_b64(value, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	redact_keep(r, redact_hex(value, 0));
	redact_keep(r, redact_hex(value, 1));
	url = redact_urlenc(value);
	if (url != NULL && strcmp(url, value) == 0) {
		free(url);
		url = NULL;
	}
	if (url != NULL)
		redact_keep(r, url);
	return 0;
}

void
exec_redact_free(struct exec_redact *r)
{
	size_t i;

	for (i = 0; i < r->nknown; i++) {
		sodium_memzero(r->known[i], strlen(r->known[i]));
		free(r->known[i]);
		r->known[i] = NULL;
	}
	r->nknown = 0;
	r->in_pem = 0;
}

static const struct {
	const char *prefix;
	size_t min;
} redact_prefixes[] = {
	{ "github_pat_", 20 }, { "ghp_", 20 }, { "gho_", 20 }, { "ghs_", 20 }, { "ghu_", 20 },
	{ "ghr_", 20 }, { "sk-ant-", 16 }, { "sk-", 20 }, { "jgw_", 16 },
};

static int
redact_tokchar(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* Length of a token pattern starting at s, or 0. */
static size_t
redact_pattern(const char *s)
{
	size_t i, n;

	for (i = 0; i < sizeof(redact_prefixes) / sizeof(redact_prefixes[0]); i++) {
		size_t pl = strlen(redact_prefixes[i].prefix);
		if (strncmp(s, redact_prefixes[i].prefix, pl) != 0)
			continue;
		for (n = pl; redact_tokchar((unsigned char)s[n]); n++)
			;
		if (n - pl >= redact_prefixes[i].min)
			return n;
	}
	/* AWS access key ids: AKIA/ASIA + 16 upper-case letters or digits. */
	if (strncmp(s, "AKIA", 4) == 0 || strncmp(s, "ASIA", 4) == 0) {
		for (n = 4; n < 20 && (isupper((unsigned char)s[n]) || isdigit((unsigned char)s[n]));
		    n++)
			;
		if (n == 20 && !isalnum((unsigned char)s[20]))
			return 20;
	}
	return 0;
}

char *
exec_redact_line(struct exec_redact *r, const char *line, int *changed)
{
	size_t len = strlen(line), o = 0, i;
	/* Worst case: every byte starts a match replaced by the mark. */
	char *out;
	int ch = 0;

	if (changed != NULL)
		*changed = 0;
	if (r->in_pem) {
		if (strstr(line, "-----END") != NULL && strstr(line, "PRIVATE KEY-----") != NULL)
			r->in_pem = 0;
		if (changed != NULL)
			*changed = 1;
		return strdup(REDACT_MARK);
	}
	const char *pem = strstr(line, "-----BEGIN");
	if (pem != NULL && strstr(pem, "PRIVATE KEY-----") != NULL) {
		const char *end = strstr(pem + 10, "-----END");
		if (end == NULL)
			r->in_pem = 1;
		len = (size_t)(pem - line);
		ch = 1;
	}
	if (len > (size_t)-1 / 16)
		return NULL;
	out = malloc((len + 1) * sizeof(REDACT_MARK) + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len;) {
		size_t m = 0, k;
		for (k = 0; k < r->nknown; k++) {
			size_t kl = strlen(r->known[k]);
			if (kl <= len - i && memcmp(line + i, r->known[k], kl) == 0 && kl > m)
				m = kl;
		}
		if (m == 0 && (i == 0 || !redact_tokchar((unsigned char)line[i - 1])))
			m = redact_pattern(line + i);
		if (m > len - i)
			m = len - i;
		if (m > 0) {
			memcpy(out + o, REDACT_MARK, sizeof(REDACT_MARK) - 1);
			o += sizeof(REDACT_MARK) - 1;
			i += m;
			ch = 1;
		} else
			out[o++] = line[i++];
	}
	if (pem != NULL && ch && len < strlen(line)) {
		memcpy(out + o, REDACT_MARK, sizeof(REDACT_MARK) - 1);
		o += sizeof(REDACT_MARK) - 1;
	}
	out[o] = '\0';
	if (changed != NULL)
		*changed = ch;
	return out;
}
