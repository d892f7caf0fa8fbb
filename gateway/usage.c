/*
 * usage.c - what a request cost: the pricing table from config, the provider's own usage
 * fields (Anthropic Messages, OpenAI Chat Completions and Responses; whole answers and
 * streamed events), and an incremental SSE scanner that finds usage in a stream as it
 * passes through without holding the stream.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"

#define SSE_LINE_MAX (1u << 20)

int
gw_pricing_parse(const char *text, struct gw_price **out, size_t *n, char *why, size_t whylen)
{
	struct gw_price *p = NULL;
	size_t cnt = 0;
	char *copy = strdup(text != NULL ? text : ""), *save = NULL, *ent;

	if (copy == NULL)
		return JIDO_EINTERNAL;
	for (ent = strtok_r(copy, ";", &save); ent != NULL; ent = strtok_r(NULL, ";", &save)) {
		struct gw_price pr;
		char *colon, *end;
		double v[4];

		while (isspace((unsigned char)*ent))
			ent++;
		if (*ent == '\0')
			continue;
		memset(&pr, 0, sizeof(pr));
		if ((colon = strchr(ent, ':')) == NULL || colon == ent ||
		    (size_t)(colon - ent) >= sizeof(pr.model))
			goto bad;
		memcpy(pr.model, ent, (size_t)(colon - ent));
		end = colon + 1;
		for (int i = 0; i < 4; i++) {
			char *e;
			v[i] = strtod(end, &e);
			if (e == end || !isfinite(v[i]) || v[i] < 0 || v[i] > 1e6)
				goto bad;
			end = e;
			if (i < 3) {
				if (*end != ',')
					goto bad;
				end++;
			}
		}
		while (isspace((unsigned char)*end))
			end++;
		if (*end != '\0')
			goto bad;
		pr.input = v[0];
		pr.output = v[1];
		pr.cache_read = v[2];
		pr.cache_write = v[3];
		/* the snapshot every usage record of this entry stores, made once */
		json_t *pj = gw_price_json(&pr);
		size_t sl = pj != NULL ? json_dumpb(pj, pr.snap, sizeof(pr.snap) - 1, JSON_COMPACT) :
		    sizeof(pr.snap);
		json_decref(pj);
		if (sl >= sizeof(pr.snap) - 1)
			goto bad;
		pr.snap[sl] = '\0';
		struct gw_price *np = realloc(p, (cnt + 1) * sizeof(*p));
		if (np == NULL) {
			free(p);
			free(copy);
			return JIDO_EINTERNAL;
		}
		p = np;
		p[cnt++] = pr;
		continue;
bad:
		snprintf(why, whylen, "gateway.pricing: entry '%.80s' is not "
		    "model:input,output,cache_read,cache_write (USD per million tokens)", ent);
		free(p);
		free(copy);
		return JIDO_EVALIDATION;
	}
	free(copy);
	*out = p;
	*n = cnt;
	return 0;
}

const struct gw_price *
gw_pricing_find(const struct gw_price *p, size_t n, const char *model)
{
	const struct gw_price *best = NULL, *star = NULL;
	size_t best_len = 0;

	if (model == NULL)
		model = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(p[i].model);
		if (strcmp(p[i].model, "*") == 0) {
			star = &p[i];
			continue;
		}
		if (strncmp(model, p[i].model, l) == 0 && (model[l] == '\0' || model[l] == '-' ||
		    model[l] == '@' || model[l] == ':') && l > best_len) {
			best = &p[i];
			best_len = l;
		}
	}
	return best != NULL ? best : star;
}

long long
gw_usage_cost(const struct gw_usage *u, const struct gw_price *p)
{
	if (p == NULL)
		return 0;
	/* every term is >= 0: round half up without libm */
	return (long long)((double)u->input * p->input + (double)u->output * p->output +
	    (double)u->cache_read * p->cache_read + (double)u->cache_write * p->cache_write + 0.5);
}

long long
gw_usage_tokens(const struct gw_usage *u)
{
	return u->input + u->output + u->cache_read + u->cache_write;
}

/* An integer field of o, or -1 when absent. */
static long long
usage_int(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) >= 0 ? (long long)json_integer_value(v) :
	    -1;
}

static void
usage_model(struct gw_usage *u, const json_t *o)
{
	json_t *m = json_object_get(o, "model");

	if (json_is_string(m) && u->model[0] == '\0')
		snprintf(u->model, sizeof(u->model), "%s", json_string_value(m));
}

/* Anthropic usage object: fields present override (message_delta counts are cumulative). */
static void
usage_anthropic(struct gw_usage *u, const json_t *us)
{
	long long v;

	if (!json_is_object(us))
		return;
	u->seen = 1;
	if ((v = usage_int(us, "input_tokens")) >= 0)
		u->input = v;
	if ((v = usage_int(us, "output_tokens")) >= 0)
		u->output = v;
	if ((v = usage_int(us, "cache_read_input_tokens")) >= 0)
		u->cache_read = v;
	if ((v = usage_int(us, "cache_creation_input_tokens")) >= 0)
		u->cache_write = v;
}

/* OpenAI usage (chat: prompt/completion; responses: input/output). Cached prompt tokens
 * are counted as cache_read and taken out of input so one price formula fits both. */
static void
usage_openai(struct gw_usage *u, const json_t *us)
{
	long long in, out, cached = 0;
	json_t *det;

	if (!json_is_object(us))
		return;
	in = usage_int(us, "prompt_tokens");
	if (in < 0)
		in = usage_int(us, "input_tokens");
	out = usage_int(us, "completion_tokens");
	if (out < 0)
		out = usage_int(us, "output_tokens");
	det = json_object_get(us, "prompt_tokens_details");
	if (!json_is_object(det))
		det = json_object_get(us, "input_tokens_details");
	if (json_is_object(det) && usage_int(det, "cached_tokens") > 0)
		cached = usage_int(det, "cached_tokens");
	if (in < 0 && out < 0)
		return;
	u->seen = 1;
	if (in >= 0)
		u->input = in > cached ? in - cached : 0;
	u->cache_read = cached;
	if (out >= 0)
		u->output = out;
}

void
gw_usage_absorb(struct gw_usage *u, int style, const json_t *obj)
{
	const char *type;
	json_t *t;

	if (!json_is_object(obj))
		return;
	t = json_object_get(obj, "type");
	type = json_is_string(t) ? json_string_value(t) : "";
	if (style == GW_STYLE_ANTHROPIC) {
		if (strcmp(type, "message_start") == 0) {
			json_t *m = json_object_get(obj, "message");
			usage_model(u, m);
			usage_anthropic(u, json_object_get(m, "usage"));
		} else if (strcmp(type, "message_delta") == 0 || strcmp(type, "message") == 0) {
			usage_model(u, obj);
			usage_anthropic(u, json_object_get(obj, "usage"));
		}
		return;
	}
	if (strcmp(type, "response.completed") == 0 || strcmp(type, "response.incomplete") == 0 ||
	    strcmp(type, "response.failed") == 0) {
		json_t *r = json_object_get(obj, "response");
		usage_model(u, r);
		usage_openai(u, json_object_get(r, "usage"));
		return;
	}
	usage_model(u, obj);
	usage_openai(u, json_object_get(obj, "usage"));
}

/* One complete SSE line (without the newline). */
static void
sse_line(struct gw_usage *u, int style, char *line, size_t len)
{
	json_t *j;
	const char *p;

	if (len < 5 || strncmp(line, "data:", 5) != 0)
		return;
	line[len] = '\0';
	if (strstr(line, "usage") == NULL)
		return;
	p = line + 5;
	while (*p == ' ')
		p++;
	if ((j = json_loads(p, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return;
	gw_usage_absorb(u, style, j);
	json_decref(j);
}

void
gw_sse_feed(struct gw_sse *s, struct gw_usage *u, int style, const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '\n') {
			if (!s->skipping) {
				size_t l = s->len;
				if (l > 0 && s->line[l - 1] == '\r')
					l--;
				if (s->line != NULL)
					sse_line(u, style, s->line, l);
			}
			s->len = 0;
			s->skipping = 0;
			continue;
		}
		if (s->skipping)
			continue;
		if (s->len + 2 > s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 512; /* most event lines fit */
			char *nl;
			if (nc > SSE_LINE_MAX || (nl = realloc(s->line, nc)) == NULL) {
				s->skipping = 1;
				s->len = 0;
				continue;
			}
			s->line = nl;
			s->cap = nc;
		}
		s->line[s->len++] = ch;
	}
}

void
gw_sse_free(struct gw_sse *s)
{
	free(s->line);
	memset(s, 0, sizeof(*s));
}

json_t *
gw_price_json(const struct gw_price *p)
{
	return json_pack("{s:s,s:f,s:f,s:f,s:f,s:s}", "entry", p->model, "input", p->input,
	    "output", p->output, "cache_read", p->cache_read, "cache_write", p->cache_write,
	    "unit", "usd_per_million_tokens");
}

struct gw_record *
gw_record_new(const struct gw_keyinfo *ki, const char *upstream, const char *model)
{
	const char *src[6] = { ki->key_id, ki->run_id, ki->project, ki->step,
		upstream != NULL ? upstream : "", model };
	const char **dst[6];
	size_t len[6], total = 0;
	struct gw_record *r;
	char *p;

	for (int i = 0; i < 6; i++)
		total += (len[i] = strlen(src[i])) + 1;
	if ((r = calloc(1, sizeof(*r) + total)) == NULL)
		return NULL;
	dst[0] = &r->key_id;
	dst[1] = &r->run_id;
	dst[2] = &r->project;
	dst[3] = &r->step;
	dst[4] = &r->upstream;
	dst[5] = &r->model;
	p = r->str;
	for (int i = 0; i < 6; i++) {
		memcpy(p, src[i], len[i] + 1);
		*dst[i] = p;
		p += len[i] + 1;
	}
	r->refs = 1;
	return r;
}

struct gw_record *
gw_record_ref(struct gw_record *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

void
gw_record_unref(struct gw_record *r)
{
	if (r != NULL && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(r);
}

json_t *
gw_record_json(const struct gw_record *r)
{
	return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s,s:s,s:i,s:b,s:b,s:I,s:I,s:I,s:I,s:I,"
	    "s:f,s:o,s:I,s:b}",
	    "ts", r->ts, "key_id", r->key_id, "run_id", r->run_id,
	    "project", r->project[0] ? r->project : NULL, "step", r->step[0] ? r->step : NULL,
	    "upstream", r->upstream[0] ? r->upstream : NULL, "api", r->api, "model", r->model,
	    "status", r->status, "streamed", r->streamed, "complete", r->complete,
	    "input_tokens", (json_int_t)r->input, "output_tokens", (json_int_t)r->output,
	    "cache_read_tokens", (json_int_t)r->cache_read,
	    "cache_write_tokens", (json_int_t)r->cache_write, "cost_musd", (json_int_t)r->cost_musd,
	    "cost_usd", (double)r->cost_musd / 1e6,
	    "price", r->price != NULL ? gw_price_json(r->price) : json_null(),
	    "duration_ms", (json_int_t)r->duration_ms, "usage_reported", r->usage_reported);
}
