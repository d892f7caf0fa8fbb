/*
 * redact.c - secret redaction shared by every process that stores or shows text written
 * by someone else (audit details, transcripts, logs): exact known values, common token
 * patterns (GitHub ghp_/gho_/ghs_/ghu_/ghr_/github_pat_, Anthropic sk-ant-, OpenAI sk-,
 * JidoCode gateway jgw_, "Bearer ...", PEM private keys), and whole values of JSON
 * fields whose names say they hold a secret (token, secret, password, key, ...).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"

#define REDACT_MARK "[REDACTED]"

/* Token prefixes and the least number of token characters that must follow. */
static const struct {
	const char *prefix;
	size_t min;
} redact_prefixes[] = {
	{ "github_pat_", 20 }, { "ghp_", 20 }, { "gho_", 20 }, { "ghs_", 20 }, { "ghu_", 20 },
	{ "ghr_", 20 }, { "sk-ant-", 16 }, { "sk-", 20 }, { "jgw_", 16 }, { "xoxb-", 16 },
	{ "AKIA", 16 },
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

/* Growable output buffer. */
struct rbuf {
	char *p;
	size_t n, cap;
	int fail;
};

static void
rbuf_put(struct rbuf *b, const char *s, size_t n)
{
	if (b->fail)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->fail = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Length of a known secret value starting at s (0 when none). */
static size_t
redact_known(const char *s, const char *const *known)
{
	for (size_t i = 0; known != NULL && known[i] != NULL; i++) {
		size_t n = strlen(known[i]);
		if (n >= 4 && strncmp(s, known[i], n) == 0)
			return n;
	}
	return 0;
}

/* Length of a secret-looking token starting at s (0 when none starts here). */
static size_t
redact_pattern(const char *s)
{
	size_t i, n;

	/* fast path: only these characters start a pattern (the prefixes, bearer/token, PEM) */
	switch (s[0]) {
	case 'g': case 's': case 'j': case 'x': case 'A': case 'b': case 'B': case 't': case 'T':
	case '-':
		break;
	default:
		return 0;
	}
	for (i = 0; i < sizeof(redact_prefixes) / sizeof(redact_prefixes[0]); i++) {
		size_t pl = strlen(redact_prefixes[i].prefix);
		if (strncmp(s, redact_prefixes[i].prefix, pl) != 0)
			continue;
		for (n = pl; redact_tokchar((unsigned char)s[n]); n++)
			;
		if (n - pl >= redact_prefixes[i].min)
			return n;
	}
	if (strncasecmp(s, "bearer ", 7) == 0 || strncasecmp(s, "token ", 6) == 0) {
		size_t pl = s[0] == 'b' || s[0] == 'B' ? 7 : 6;
		for (n = pl; redact_b64char((unsigned char)s[n]); n++)
			;
		if (n - pl >= 8)
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

static char *redact_copy(const char *s, const char *const *known, int *changed);

/* Whether jido_redact_str would change s (no allocation: the common case is "no"). */
static int
redact_scan(const char *s, const char *const *known)
{
	int nk = known != NULL && known[0] != NULL;

	for (const char *p = s; *p != '\0'; p++) {
		if (nk && redact_known(p, known) > 0)
			return 1;
		switch (*p) { /* only these start a pattern (see redact_pattern) */
		case 'g': case 's': case 'j': case 'x': case 'A': case 'b': case 'B': case 't':
		case 'T': case '-':
			break;
		default:
			continue;
		}
		if ((p == s || !redact_tokchar((unsigned char)p[-1])) && redact_pattern(p) > 0)
			return 1;
	}
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
	struct rbuf b = { NULL, 0, 0, 0 };
	const char *run = s;

	if (changed != NULL)
		*changed = 0;
	rbuf_put(&b, "", 0);
	for (const char *p = s; *p != '\0';) {
		/* Known values anywhere; patterns only at a token boundary ("task-..." is no
		 * "sk-" key). */
		size_t m = redact_known(p, known);
		if (m == 0 && (p == s || !redact_tokchar((unsigned char)p[-1])))
			m = redact_pattern(p);
		if (m == 0) {
			p++;
			continue;
		}
		rbuf_put(&b, run, (size_t)(p - run));
		rbuf_put(&b, REDACT_MARK, strlen(REDACT_MARK));
		p += m;
		run = p;
		if (changed != NULL)
			*changed = 1;
	}
	rbuf_put(&b, run, strlen(run));
	if (b.fail) {
		free(b.p);
		return NULL;
	}
	return b.p;
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

int
jido_redact_json(json_t *j, const char *const *known)
{
	int count = 0, changed;

	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			if (json_is_string(v) && json_string_length(v) > 0 &&
			    jido_redact_key_is_secret(k)) {
				json_object_set_new(j, k, json_string(REDACT_MARK));
				count++;
			} else if (json_is_string(v)) {
				if (!redact_scan(json_string_value(v), known))
					continue;
				char *r = jido_redact_str(json_string_value(v), known, &changed);
				if (r == NULL)
					return -1;
				if (changed) {
					json_object_set_new(j, k, json_string(r));
					count++;
				}
				free(r);
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
				if (!redact_scan(json_string_value(v), known))
					continue;
				char *r = jido_redact_str(json_string_value(v), known, &changed);
				if (r == NULL)
					return -1;
				if (changed) {
					json_array_set_new(j, i, json_string(r));
					count++;
				}
				free(r);
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
