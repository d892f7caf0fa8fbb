/*
 * redact.c - secret redaction shared by every process that stores or shows text written
 * by someone else (audit details, the executor's output lines and transcripts, logs):
 * exact known values and (through a struct jido_redact) their base64, base64url, hex and
 * URL-encoded forms, common token patterns (GitHub ghp_/gho_/ghs_/ghu_/ghr_/github_pat_,
 * Anthropic sk-ant-, OpenAI sk-, JidoCode gateway jgw_, Slack xoxb-, AWS access key ids
 * AKIA/ASIA, "Bearer ..."/"token ...", PEM private-key blocks, also across lines), and
 * whole values of JSON fields whose names say they hold a secret (token, secret, ...).
 * One matcher (redact_match) serves every entry point.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jido.h"

#define REDACT_MARK "[REDACTED]"

/* Token prefixes and the least number of token characters that must follow. */
static const struct {
	const char *prefix;
	size_t min;
} redact_prefixes[] = {
	{ "github_pat_", 20 }, { "ghp_", 20 }, { "gho_", 20 }, { "ghs_", 20 }, { "ghu_", 20 },
	{ "ghr_", 20 }, { "sk-ant-", 16 }, { "sk-", 20 }, { "jgw_", 16 }, { "xoxb-", 16 },
};

static int
redact_tokchar(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-';
}

static int
redact_b64char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~' || c == '+' ||
	    c == '/' || c == '=';
}

/* Length of the longest known secret value starting at s (0 when none). */
static size_t
redact_known(const char *s, const char *const *known)
{
	size_t best = 0;

	for (size_t i = 0; known != NULL && known[i] != NULL; i++) {
		size_t n;
		if (known[i][0] != s[0]) /* the common case, before measuring the value */
			continue;
		n = strlen(known[i]);
		if (n >= 4 && n > best && strncmp(s, known[i], n) == 0)
			best = n;
	}
	return best;
}

/* Whether the keyword kw (lower case, ending in a space) ends just before p and starts at
 * a token boundary of the string that begins at start. */
static int
redact_after_keyword(const char *start, const char *p, const char *kw)
{
	size_t kl = strlen(kw);

	if ((size_t)(p - start) < kl || strncasecmp(p - kl, kw, kl) != 0)
		return 0;
	return p - kl == start || !redact_tokchar((unsigned char)p[-(ptrdiff_t)kl - 1]);
}

/* Length of a secret-looking token starting at s (0 when none starts here); start is the
 * beginning of the string (for the keyword of "Bearer x"). */
static size_t
redact_pattern(const char *start, const char *s)
{
	size_t i, n;

	for (i = 0; i < sizeof(redact_prefixes) / sizeof(redact_prefixes[0]); i++) {
		size_t pl;
		if (s[0] != redact_prefixes[i].prefix[0])
			continue;
		pl = strlen(redact_prefixes[i].prefix);
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
	/* The credential after "Bearer " or "token " (the keyword itself stays). */
	if (redact_after_keyword(start, s, "bearer ") || redact_after_keyword(start, s, "token ")) {
		for (n = 0; redact_b64char((unsigned char)s[n]); n++)
			;
		if (n >= 8)
			return n;
	}
	if (strncmp(s, "-----BEGIN ", 11) == 0) {
		const char *eol = strstr(s, "-----\n");
		const char *hdr_end = strstr(s + 11, "-----");
		if (hdr_end != NULL && (eol == NULL || hdr_end <= eol) &&
		    memmem(s, (size_t)(hdr_end - s), "PRIVATE KEY", 11) != NULL) {
			const char *end = strstr(hdr_end, "-----END ");
			if (end == NULL)
				return strlen(s); /* unterminated: everything after the header */
			end = strstr(end + 9, "-----");
			return end != NULL ? (size_t)(end + 5 - s) : strlen(s);
		}
	}
	return 0;
}

/* The one matcher: length of the secret starting at p in the string start (0: none).
 * Known values anywhere; patterns only at a token boundary ("task-..." is no "sk-" key). */
static size_t
redact_match(const char *start, const char *p, const char *const *known)
{
	size_t m = redact_known(p, known);

	if (m == 0 && (p == start || !redact_tokchar((unsigned char)p[-1])))
		m = redact_pattern(start, p);
	return m;
}

static char *redact_copy(const char *s, const char *const *known, int *changed);

/* Whether jido_redact_str would change s (no allocation: the common case is "no"). */
static int
redact_scan(const char *s, const char *const *known)
{
	for (const char *p = s; *p != '\0'; p++)
		if (redact_match(s, p, known) > 0)
			return 1;
	return 0;
}

char *
jido_redact_str(const char *s, const char *const *known, int *changed)
{
	if (!redact_scan(s, known)) {
		if (changed != NULL)
			*changed = 0;
		return strdup(s);
	}
	return redact_copy(s, known, changed);
}

/* The copy with every match replaced (redact_scan said there is one). */
static char *
redact_copy(const char *s, const char *const *known, int *changed)
{
	struct jido_buf b = { 0 };
	const char *run = s;

	if (changed != NULL)
		*changed = 0;
	jido_buf_put(&b, "", 0);
	for (const char *p = s; *p != '\0';) {
		size_t m = redact_match(s, p, known);
		if (m == 0) {
			p++;
			continue;
		}
		jido_buf_put(&b, run, (size_t)(p - run));
		jido_buf_put(&b, REDACT_MARK, strlen(REDACT_MARK));
		p += m;
		run = p;
		if (changed != NULL)
			*changed = 1;
	}
	jido_buf_put(&b, run, strlen(run));
	if (b.fail) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* ---------------------------------------------------------------- known values, lines */

/* Keep v (malloc'd, taken) among r's known values; values under 8 bytes are dropped. */
static int
redact_keep(struct jido_redact *r, char *v)
{
	if (v == NULL)
		return -1;
	if (r->nknown >= JIDO_REDACT_MAX_KNOWN || strlen(v) < 8) {
		sodium_memzero(v, strlen(v));
		free(v);
		return r->nknown >= JIDO_REDACT_MAX_KNOWN ? -1 : 0;
	}
	r->known[r->nknown++] = v;
	r->known[r->nknown] = NULL;
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
jido_redact_add(struct jido_redact *r, const char *value)
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

const char *const *
jido_redact_known(const struct jido_redact *r)
{
	return r->nknown > 0 ? (const char *const *)r->known : NULL;
}

char *
jido_redact_line(struct jido_redact *r, const char *line, int *changed)
{
	const char *pem;
	char *out;

	if (r->in_pem) {
		if (strstr(line, "-----END") != NULL && strstr(line, "PRIVATE KEY-----") != NULL)
			r->in_pem = 0;
		if (changed != NULL)
			*changed = 1;
		return strdup(REDACT_MARK);
	}
	if ((out = jido_redact_str(line, jido_redact_known(r), changed)) == NULL)
		return NULL;
	/* A private-key block opened on this line and not closed: the next lines are in it. */
	pem = strstr(line, "-----BEGIN ");
	if (pem != NULL && strstr(pem, "PRIVATE KEY-----") != NULL &&
	    strstr(pem + 11, "-----END") == NULL)
		r->in_pem = 1;
	return out;
}

void
jido_redact_free(struct jido_redact *r)
{
	for (size_t i = 0; i < r->nknown; i++) {
		sodium_memzero(r->known[i], strlen(r->known[i]));
		free(r->known[i]);
		r->known[i] = NULL;
	}
	r->nknown = 0;
	r->in_pem = 0;
}

int
jido_redact_key_is_secret(const char *name)
{
	static const char *const words[] = { "token", "secret", "password", "passwd",
		"passphrase", "credential", "apikey", "api_key", "private_key", "privatekey",
		"authorization", "cookie", "session", "signature", "seed", NULL };
	char low[128];
	size_t n = strlen(name), i;

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[n] = '\0';
	for (i = 0; words[i] != NULL; i++)
		if (strstr(low, words[i]) != NULL)
			return 1;
	/* "key", "*_key", "*-key", "auth": the whole name or its last word. */
	if (strcmp(low, "key") == 0 || strcmp(low, "auth") == 0 || strcmp(low, "pass") == 0)
		return 1;
	if (n > 4 && (strcmp(low + n - 4, "_key") == 0 || strcmp(low + n - 4, "-key") == 0))
		return 1;
	return 0;
}

/* The redacted copy of string v as a new JSON string in *out, or *out NULL when nothing
 * in it is secret. -1 when out of memory. */
static int
redact_json_string(const json_t *v, const char *const *known, json_t **out)
{
	int changed = 0;
	char *r;

	*out = NULL;
	if (!redact_scan(json_string_value(v), known))
		return 0;
	if ((r = jido_redact_str(json_string_value(v), known, &changed)) == NULL)
		return -1;
	if (changed && (*out = json_string(r)) == NULL) {
		free(r);
		return -1;
	}
	free(r);
	return 0;
}

int
jido_redact_json(json_t *j, const char *const *known)
{
	int count = 0;

	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			if (json_is_string(v) && json_string_length(v) > 0 &&
			    jido_redact_key_is_secret(k)) {
				json_object_set_new(j, k, json_string(REDACT_MARK));
				count++;
			} else if (json_is_string(v)) {
				json_t *nv = NULL;
				if (redact_json_string(v, known, &nv) != 0)
					return -1;
				if (nv != NULL) {
					json_object_set_new(j, k, nv);
					count++;
				}
			} else {
				int c = jido_redact_json(v, known);
				if (c < 0)
					return -1;
				count += c;
			}
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			if (json_is_string(v)) {
				json_t *nv = NULL;
				if (redact_json_string(v, known, &nv) != 0)
					return -1;
				if (nv != NULL) {
					json_array_set_new(j, i, nv);
					count++;
				}
			} else {
				int c = jido_redact_json(v, known);
				if (c < 0)
					return -1;
				count += c;
			}
		}
	}
	return count;
}

int
jido_redact_json_needed(const json_t *j, const char *const *known)
{
	if (json_is_string(j))
		return redact_scan(json_string_value(j), known);
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v) {
			if ((json_is_string(v) && json_string_length(v) > 0 &&
			    jido_redact_key_is_secret(k)) || jido_redact_json_needed(v, known))
				return 1;
		}
	} else if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			if (jido_redact_json_needed(v, known))
				return 1;
		}
	}
	return 0;
}
