/*
 * record.c - the audit log's line formats and its verifier. A record line carries its own
 * leaf hash and the previous record's, so a change to any byte names the record that
 * holds it; signed checkpoints pin the tree head so a rewrite or truncation of the whole
 * file is caught. The verifier never needs the daemon: `jido-auditor verify FILE`.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"

const char *const ar_field_names[AR_NFIELDS] = { "actor", "channel", "action", "subject",
	"run_id", "result" };

static const char *const ar_channels[] = { "web", "api", "cli", "mcp", "webhook", "system",
	NULL };

/* A required (or optional) short string field: *val is its text (borrowed from data, or
 * *red, a malloc'd redacted copy the caller frees); NULL when an optional one is absent. */
static int
ar_field(json_t *data, const char *name, int required, const char *const *known,
    const char **val, char **red, char *why, size_t whylen)
{
	json_t *v = json_object_get(data, name);
	int changed;

	*val = NULL;
	*red = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(why, whylen, "data.%s is required", name);
		return JIDO_EVALIDATION;
	}
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(why, whylen, "data.%s must be a non-empty string", name);
		return JIDO_EVALIDATION;
	}
	if (json_string_length(v) > AR_FIELD_MAX || strlen(json_string_value(v)) !=
	    json_string_length(v)) {
		snprintf(why, whylen, "data.%s must be at most %d bytes without NUL", name,
		    AR_FIELD_MAX);
		return JIDO_EVALIDATION;
	}
	*val = json_string_value(v);
	if (jido_redact_json_needed(v, known) &&
	    (*val = *red = jido_redact_str(json_string_value(v), known, &changed)) == NULL)
		return JIDO_EINTERNAL;
	return 0;
}

static int
ar_buf_cb(const char *buf, size_t size, void *data)
{
	jido_buf_put(data, buf, size);
	return ((struct jido_buf *)data)->fail ? -1 : 0;
}

/* Append the compact JSON text of v (jansson's encoding) to b. */
static void
ar_buf_json(struct jido_buf *b, const json_t *v)
{
	if (json_dump_callback(v, ar_buf_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
		b->fail = 1;
}

/* Append "name":<string s> to b, the first member without a comma. */
static void
ar_buf_member(struct jido_buf *b, const char *name, const char *s)
{
	json_t *j = json_string(s);

	jido_buf_puts(b, strcmp(name, "actor") == 0 ? "{\"" : ",\"");
	jido_buf_puts(b, name);
	jido_buf_puts(b, "\":");
	if (j == NULL)
		b->fail = 1;
	else
		ar_buf_json(b, j);
	json_decref(j);
}

int
ar_prepare(json_t *data, const char *const *known, char **tail, char **fields, char *why,
    size_t whylen)
{
	static const char *const allowed[] = { "actor", "channel", "action", "subject",
		"run_id", "result", "details", NULL };
	static const int required[AR_NFIELDS] = { 1, 1, 1, 1, 0, 1 };
	struct jido_buf b = { 0 }, f = { 0 };
	const char *val[AR_NFIELDS];
	char *red[AR_NFIELDS] = { NULL };
	json_t *details, *ch;
	const char *k;
	json_t *v;
	int rc = 0, ok = 0;

	json_object_foreach(data, k, v) {
		int known_key = 0;
		for (int i = 0; allowed[i] != NULL; i++)
			known_key |= strcmp(allowed[i], k) == 0;
		if (!known_key) {
			snprintf(why, whylen, "data.%.64s is not a record field", k);
			return JIDO_EVALIDATION;
		}
	}
	ch = json_object_get(data, "channel");
	for (int i = 0; json_is_string(ch) && ar_channels[i] != NULL; i++)
		ok |= strcmp(ar_channels[i], json_string_value(ch)) == 0;
	if (!ok) {
		snprintf(why, whylen, "data.channel must be web, api, cli, mcp, webhook or system");
		return JIDO_EVALIDATION;
	}
	details = json_object_get(data, "details");
	if (details != NULL && !json_is_object(details) && !json_is_null(details)) {
		snprintf(why, whylen, "data.details must be an object");
		return JIDO_EVALIDATION;
	}
	for (int i = 0; rc == 0 && i < AR_NFIELDS; i++)
		rc = ar_field(data, ar_field_names[i], required[i], known, &val[i], &red[i], why,
		    whylen);
	/* The tail: the object {actor, channel, action, subject, run_id?, result, details?}
	 * in that order, compact, every value encoded by jansson; the index fields alongside
	 * as NUL-terminated strings (run_id empty when absent). */
	for (int i = 0; rc == 0 && i < AR_NFIELDS; i++) {
		if (val[i] != NULL)
			ar_buf_member(&b, ar_field_names[i], val[i]);
		jido_buf_put(&f, val[i] != NULL ? val[i] : "", val[i] != NULL ? strlen(val[i]) + 1 : 1);
	}
	if (rc == 0 && json_is_object(details) && json_object_size(details) > 0) {
		/* copy only when something must change: data is the caller's */
		json_t *d = jido_redact_json_needed(details, known) ? json_deep_copy(details) :
		    json_incref(details);
		static const char key[] = ",\"details\":";
		size_t at = b.n, kl = sizeof(key) - 1;
		if (d == NULL || (d != details && jido_redact_json(d, known) < 0))
			rc = JIDO_EINTERNAL;
		jido_buf_puts(&b, key);
		if (rc == 0)
			ar_buf_json(&b, d);
		json_decref(d);
		if (rc == 0 && !b.fail && b.n - at - kl > AR_DETAILS_MAX) {
			/* Over the cap: keep the fact and the size, not the content. */
			json_t *t = json_pack("{s:b,s:I}", "truncated", 1, "bytes",
			    (json_int_t)(b.n - at - kl));
			b.n = at;
			jido_buf_puts(&b, key);
			if (t == NULL)
				b.fail = 1;
			else
				ar_buf_json(&b, t);
			json_decref(t);
		}
	}
	jido_buf_puts(&b, "}");
	for (int i = 0; i < AR_NFIELDS; i++)
		free(red[i]);
	if (rc == 0 && (b.fail || f.fail))
		rc = JIDO_EINTERNAL;
	if (rc != 0) {
		free(b.p);
		free(f.p);
		return rc;
	}
	*tail = b.p;
	if (fields != NULL)
		*fields = f.p;
	else
		free(f.p);
	return 0;
}

int
ar_line(uint64_t seq, const uint8_t prev[AM_HASH], const char *time, const char *tail,
    char **line, size_t *len, uint8_t leaf[AM_HASH])
{
	char prevhex[65], leafhex[65], head[192];
	size_t hn, tn = strlen(tail), n;
	char *p;

	if (tn < 2 || tail[0] != '{' || tail[tn - 1] != '}')
		return JIDO_EINTERNAL;
	am_hex(prev, prevhex);
	hn = (size_t)snprintf(head, sizeof(head), "{\"seq\":%" PRIu64 ",\"prev\":\"%s\","
	    "\"time\":\"%s\",", seq, prevhex, time);
	/* body = head + tail without its '{'; it is what the leaf hash covers */
	n = hn + tn - 1;
	if ((p = malloc(n + AR_LEAF_SUFFIX + 2)) == NULL)
		return JIDO_EINTERNAL;
	memcpy(p, head, hn);
	memcpy(p + hn, tail + 1, tn - 1);
	am_leaf(p, n, leaf);
	am_hex(leaf, leafhex);
	/* replace the closing '}' by the leaf member */
	n--;
	n += (size_t)sprintf(p + n, ",\"leaf\":\"%s\"}\n", leafhex);
	*line = p;
	*len = n;
	return 0;
}

int
ar_line_leaf(const char *line, size_t len, uint8_t leaf[AM_HASH], char *why, size_t whylen)
{
	crypto_hash_sha256_state st;
	static const uint8_t zero = 0x00, close = '}';
	char hex[65];
	const char *sfx;

	if (len < AR_LEAF_SUFFIX + 2) {
		snprintf(why, whylen, "record line too short");
		return JIDO_EINTEGRITY;
	}
	sfx = line + len - AR_LEAF_SUFFIX;
	if (memcmp(sfx, ",\"leaf\":\"", 9) != 0 || memcmp(line + len - 2, "\"}", 2) != 0) {
		snprintf(why, whylen, "record has no well-formed leaf hash at its end");
		return JIDO_EINTEGRITY;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &zero, 1);
	crypto_hash_sha256_update(&st, (const uint8_t *)line, len - AR_LEAF_SUFFIX);
	crypto_hash_sha256_update(&st, &close, 1);
	crypto_hash_sha256_final(&st, leaf);
	/* Compare as text: the stored form must be exactly the lower-case hex. */
	am_hex(leaf, hex);
	if (memcmp(hex, sfx + 9, 64) != 0) {
		snprintf(why, whylen, "record content does not match its leaf hash");
		return JIDO_EINTEGRITY;
	}
	return 0;
}

/* The bytes a checkpoint signature covers. */
static size_t
ar_checkpoint_msg(const struct ar_checkpoint *cp, char *buf, size_t len)
{
	char root[65];

	am_hex(cp->root, root);
	return (size_t)snprintf(buf, len, "jido-audit-checkpoint/v1\n%" PRIu64 "\n%s\n%s\n",
	    cp->size, root, cp->time);
}

json_t *
ar_checkpoint_json(const struct ar_checkpoint *cp)
{
	char root[65], key[65], sig[129];

	am_hex(cp->root, root);
	sodium_bin2hex(key, sizeof(key), cp->key, 32);
	sodium_bin2hex(sig, sizeof(sig), cp->sig, 64);
	return json_pack("{s:I,s:s,s:s,s:s,s:s}", "tree_size", (json_int_t)cp->size, "root", root,
	    "time", cp->time, "key", key, "sig", sig);
}

int
ar_checkpoint_sign(struct ar_checkpoint *cp, const uint8_t sk[64], char **line, size_t *len)
{
	char msg[256], *text;
	size_t n = ar_checkpoint_msg(cp, msg, sizeof(msg));
	json_t *j;

	crypto_sign_ed25519_sk_to_pk(cp->key, sk);
	crypto_sign_detached(cp->sig, NULL, (const uint8_t *)msg, n, sk);
	j = json_pack("{s:o}", "checkpoint", ar_checkpoint_json(cp));
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL)
		return JIDO_EINTERNAL;
	n = strlen(text);
	if ((*line = realloc(text, n + 2)) == NULL) {
		free(text);
		return JIDO_EINTERNAL;
	}
	(*line)[n] = '\n';
	(*line)[n + 1] = '\0';
	*len = n + 1;
	return 0;
}

/* Strict lower-case hex of exactly n bytes. */
static int
ar_unhex_n(const char *hex, uint8_t *out, size_t n)
{
	char again[257];

	if (hex == NULL || strlen(hex) != 2 * n || 2 * n >= sizeof(again) ||
	    sodium_hex2bin(out, n, hex, 2 * n, NULL, NULL, NULL) != 0)
		return JIDO_EVALIDATION;
	sodium_bin2hex(again, sizeof(again), out, n);
	return strcmp(again, hex) == 0 ? 0 : JIDO_EVALIDATION;
}

int
ar_checkpoint_parse(const char *text, size_t len, struct ar_checkpoint *cp, char *why,
    size_t whylen)
{
	json_error_t jerr;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *o;
	json_int_t size = -1;
	const char *root = NULL, *time = NULL, *key = NULL, *sig = NULL;
	char msg[256];
	size_t n;

	memset(cp, 0, sizeof(*cp));
	o = json_object_get(j, "checkpoint");
	if (o == NULL)
		o = j;
	if (!json_is_object(o) || json_unpack(o, "{s:I,s:s,s:s,s:s,s:s !}", "tree_size", &size,
	    "root", &root, "time", &time, "key", &key, "sig", &sig) != 0 || size < 0 ||
	    (o != j && json_object_size(j) != 1) || strlen(time) >= sizeof(cp->time)) {
		snprintf(why, whylen, "not a well-formed checkpoint");
		json_decref(j);
		return JIDO_EVALIDATION;
	}
	cp->size = (uint64_t)size;
	snprintf(cp->time, sizeof(cp->time), "%s", time);
	if (ar_unhex_n(root, cp->root, 32) != 0 || ar_unhex_n(key, cp->key, 32) != 0 ||
	    ar_unhex_n(sig, cp->sig, 64) != 0) {
		snprintf(why, whylen, "checkpoint has malformed hex fields");
		json_decref(j);
		return JIDO_EVALIDATION;
	}
	json_decref(j);
	n = ar_checkpoint_msg(cp, msg, sizeof(msg));
	if (crypto_sign_verify_detached(cp->sig, (const uint8_t *)msg, n, cp->key) != 0) {
		snprintf(why, whylen, "checkpoint signature does not verify");
		return JIDO_EINTEGRITY;
	}
	return 0;
}

/* Fail the run at the current position. */
static void
ar_bad(struct ar_verify *r, const char *what, uint64_t seq, uint64_t line, const char *why)
{
	r->ok = 0;
	r->what = what;
	r->seq = seq;
	r->line = line;
	snprintf(r->why, sizeof(r->why), "%s", why);
}

/* Parse the decimal seq right after {"seq": ; 0 when malformed. */
static uint64_t
ar_seq_of(const char *line, size_t len)
{
	uint64_t v = 0;
	size_t i = 7;

	if (len < 8 || memcmp(line, "{\"seq\":", 7) != 0)
		return 0;
	for (; i < len && line[i] >= '0' && line[i] <= '9' && i < 27; i++)
		v = v * 10 + (uint64_t)(line[i] - '0');
	return i < len && line[i] == ',' ? v : 0;
}

/* State of one verify run. */
struct ar_vstate {
	struct am_frontier fr;
	char prevhex[65];
	const struct ar_checkpoint *trust;
	int trust_seen;
	uint64_t lineno;
	struct ar_verify *r;
};

/* Check one line (without '\n'). Returns 0 to go on, 1 when the run failed. */
static int
ar_verify_line(struct ar_vstate *v, const char *line, size_t len)
{
	struct ar_verify *r = v->r;
	uint64_t want = r->records + 1;
	uint8_t leaf[AM_HASH];
	char why[200];

	v->lineno++;
	if (len >= 7 && memcmp(line, "{\"seq\":", 7) == 0 && len >= AR_LEAF_SUFFIX) {
		uint64_t seq = ar_seq_of(line, len);
		if (ar_line_leaf(line, len, leaf, why, sizeof(why)) != 0) {
			ar_bad(r, "record", want, v->lineno, why);
			return 1;
		}
		if (seq != want) {
			snprintf(why, sizeof(why), "expected seq %" PRIu64 " here, found %" PRIu64
			    " (record removed, inserted, duplicated or reordered)", want, seq);
			ar_bad(r, "record", want, v->lineno, why);
			return 1;
		}
		const char *pp = memchr(line, ',', len);
		if (pp == NULL || (size_t)(line + len - pp) < 10 + 64 ||
		    memcmp(pp, ",\"prev\":\"", 9) != 0 || memcmp(pp + 9, v->prevhex, 64) != 0 ||
		    pp[9 + 64] != '"') {
			ar_bad(r, "record", want, v->lineno,
			    "previous-record hash does not match (chain broken)");
			return 1;
		}
		am_frontier_append(&v->fr, leaf);
		am_hex(leaf, v->prevhex);
		r->records++;
		if (v->trust != NULL && r->records == v->trust->size) {
			uint8_t root[AM_HASH];
			am_frontier_root(&v->fr, root);
			if (memcmp(root, v->trust->root, AM_HASH) != 0) {
				ar_bad(r, "file", want, v->lineno, "the tree of the first records "
				    "does not match the trusted checkpoint (the file was rewritten)");
				return 1;
			}
			v->trust_seen = 1;
		}
		return 0;
	}
	if (len >= 14 && memcmp(line, "{\"checkpoint\":", 14) == 0) {
		struct ar_checkpoint cp;
		uint8_t root[AM_HASH];
		if (ar_checkpoint_parse(line, len, &cp, why, sizeof(why)) != 0) {
			ar_bad(r, "checkpoint", r->records, v->lineno, why);
			return 1;
		}
		if (cp.size != r->records) {
			snprintf(why, sizeof(why), "checkpoint covers %" PRIu64 " records but %"
			    PRIu64 " precede it", cp.size, r->records);
			ar_bad(r, "checkpoint", r->records, v->lineno, why);
			return 1;
		}
		am_frontier_root(&v->fr, root);
		if (memcmp(root, cp.root, AM_HASH) != 0) {
			ar_bad(r, "checkpoint", r->records, v->lineno,
			    "checkpoint root does not match the records before it");
			return 1;
		}
		if (v->trust != NULL && memcmp(cp.key, v->trust->key, 32) != 0) {
			ar_bad(r, "checkpoint", r->records, v->lineno,
			    "checkpoint signed by a key other than the trusted checkpoint's");
			return 1;
		}
		r->checkpoints++;
		r->signed_size = cp.size;
		return 0;
	}
	/* Neither: a damaged line. Say which kind it most likely was. */
	if (memmem(line, len, "\"tree_size\":", 12) != NULL && memmem(line, len, "\"sig\":\"", 7)
	    != NULL && memmem(line, len, "\"leaf\":\"", 8) == NULL)
		ar_bad(r, "checkpoint", r->records, v->lineno, "damaged checkpoint line");
	else
		ar_bad(r, "record", want, v->lineno, "damaged record line");
	return 1;
}

/* Is line the marker the auditor appends after a torn write: {"torn":{"offset":O,"bytes":B}}
 * naming exactly the fragment at off/len? */
int
ar_torn_matches(const char *line, size_t len, uint64_t off, uint64_t flen)
{
	char want[96];
	int n = snprintf(want, sizeof(want), "{\"torn\":{\"offset\":%" PRIu64 ",\"bytes\":%"
	    PRIu64 "}}", off, flen);

	return n > 0 && (size_t)n == len && memcmp(line, want, len) == 0;
}

int
ar_verify_fd(int fd, uint64_t limit, const struct ar_checkpoint *trust, struct ar_verify *r)
{
	size_t cap = 4u << 20, have = 0;
	uint64_t total = 0, base = 0, pend_off = 0, pend_len = 0;
	char *buf = malloc(cap);
	struct ar_vstate *v = calloc(1, sizeof(*v));
	struct ar_verify pend;
	int rc = 0, pending = 0;

	memset(r, 0, sizeof(*r));
	r->ok = 1;
	if (buf == NULL || v == NULL) {
		free(buf);
		free(v);
		return JIDO_EINTERNAL;
	}
	memset(v->prevhex, '0', 64);
	v->trust = trust;
	v->trust_seen = trust != NULL && trust->size == 0;
	v->r = r;
	for (;;) {
		size_t want = cap - have;
		if (limit > 0 && limit - total < want)
			want = (size_t)(limit - total);
		ssize_t n = want == 0 ? 0 : read(fd, buf + have, want);
		size_t start = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = JIDO_EINTERNAL;
			break;
		}
		if (n == 0) {
			if (pending) {
				*r = pend;
				pending = 0;
			} else if (have > 0 && have >= 14 && memcmp(buf, "{\"checkpoint\":", 14) == 0)
				ar_bad(r, "checkpoint", r->records, v->lineno + 1,
				    "last line is not terminated (torn or truncated write)");
			else if (have > 0)
				ar_bad(r, "record", r->records + 1, v->lineno + 1,
				    "last line is not terminated (torn or truncated write)");
			break;
		}
		have += (size_t)n;
		total += (uint64_t)n;
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			size_t len;
			if (nl == NULL)
				break;
			len = (size_t)(nl - buf - start);
			if (pending) {
				/* a damaged line is forgiven only when the auditor marked it torn */
				if (!ar_torn_matches(buf + start, len, pend_off, pend_len)) {
					*r = pend;
					goto done;
				}
				pending = 0;
				v->lineno++;
				r->torn++;
			} else if (ar_verify_line(v, buf + start, len) != 0) {
				if (strcmp(r->what, "file") == 0)
					goto done;
				pend = *r;
				pend_off = base + start;
				pend_len = len;
				pending = 1;
				r->ok = 1;
			}
			start = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		base += start;
		if (have == cap) {
			ar_bad(r, "record", r->records + 1, v->lineno + 1, "line longer than 4 MiB");
			break;
		}
	}
done:
	if (rc == 0 && r->ok && trust != NULL && !v->trust_seen) {
		char why[200];
		snprintf(why, sizeof(why), "file holds %" PRIu64 " records but the trusted "
		    "checkpoint covers %" PRIu64 " (truncated)", r->records, trust->size);
		ar_bad(r, "file", r->records + 1, v->lineno, why);
	}
	am_frontier_root(&v->fr, r->root);
	free(buf);
	free(v);
	return rc;
}

json_t *
ar_verify_json(const struct ar_verify *r)
{
	char root[65];

	am_hex(r->root, root);
	if (r->ok)
		return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:s}", "ok", 1, "records",
		    (json_int_t)r->records, "torn_writes", (json_int_t)r->torn, "checkpoints", (json_int_t)r->checkpoints,
		    "signed_records", (json_int_t)r->signed_size, "unsigned_records",
		    (json_int_t)(r->records - r->signed_size), "root", root);
	return json_pack("{s:b,s:s,s:I,s:I,s:s}", "ok", 0, "what", r->what, "seq",
	    (json_int_t)r->seq, "line", (json_int_t)r->line, "why", r->why);
}
