/*
 * html.c - HTML output for jido-web: the escaping helper every page goes through and a
 * small printf where %s is escaped by default (trusted markup needs an explicit %S), so a
 * value from the planner, GitHub or the owner can never become markup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web.h"

/* Output is staged in a local buffer and handed to the evbuffer in large pieces: a page
 * is thousands of tiny fragments, and evbuffer_add per fragment dominated the render. */
struct stage {
	struct evbuffer *b;
	size_t n;
	char buf[8192];
};

static void
st_flush(struct stage *st)
{
	if (st->n > 0)
		evbuffer_add(st->b, st->buf, st->n);
	st->n = 0;
}

static void
st_add(struct stage *st, const char *p, size_t n)
{
	if (st->n + n > sizeof(st->buf)) {
		st_flush(st);
		if (n > sizeof(st->buf)) {
			evbuffer_add(st->b, p, n);
			return;
		}
	}
	memcpy(st->buf + st->n, p, n);
	st->n += n;
}

static void
st_esc(struct stage *st, const char *s)
{
	const char *run;

	if (s == NULL)
		return;
	for (run = s; *s != '\0'; s++) {
		const char *rep;
		size_t rl;
		switch (*s) {
		case '&': rep = "&amp;"; rl = 5; break;
		case '<': rep = "&lt;"; rl = 4; break;
		case '>': rep = "&gt;"; rl = 4; break;
		case '"': rep = "&quot;"; rl = 6; break;
		case '\'': rep = "&#39;"; rl = 5; break;
		default: continue;
		}
		if (s > run)
			st_add(st, run, (size_t)(s - run));
		st_add(st, rep, rl);
		run = s + 1;
	}
	if (s > run)
		st_add(st, run, (size_t)(s - run));
}

static void
st_url(struct stage *st, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			st_add(st, s, 1);
		else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			st_add(st, e, 3);
		}
	}
}

void
html_esc(struct evbuffer *b, const char *s)
{
	struct stage st;

	st.b = b;
	st.n = 0;
	st_esc(&st, s);
	st_flush(&st);
}

void
html_url(struct evbuffer *b, const char *s)
{
	struct stage st;

	st.b = b;
	st.n = 0;
	st_url(&st, s);
	st_flush(&st);
}

/* A number through snprintf into the stage. */
#define ST_NUM(st, fmt, v) do { char nb_[64]; int nn_ = snprintf(nb_, sizeof(nb_), fmt, v); \
	if (nn_ > 0) st_add(st, nb_, (size_t)nn_); } while (0)

void
html_vprintf(struct evbuffer *b, const char *fmt, va_list ap)
{
	const char *p = fmt, *run = fmt;
	struct stage st;

	st.b = b;
	st.n = 0;
	while (*p != '\0') {
		if (*p != '%') {
			p++;
			continue;
		}
		if (p > run)
			st_add(&st, run, (size_t)(p - run));
		p++;
		if (strncmp(p, "lld", 3) == 0) {
			ST_NUM(&st, "%lld", va_arg(ap, long long));
			p += 3;
		} else if (strncmp(p, "ld", 2) == 0) {
			ST_NUM(&st, "%ld", va_arg(ap, long));
			p += 2;
		} else if (strncmp(p, "zu", 2) == 0) {
			ST_NUM(&st, "%zu", va_arg(ap, size_t));
			p += 2;
		} else if (strncmp(p, ".2f", 3) == 0) {
			ST_NUM(&st, "%.2f", va_arg(ap, double));
			p += 3;
		} else if (strncmp(p, ".4f", 3) == 0) {
			ST_NUM(&st, "%.4f", va_arg(ap, double));
			p += 3;
		} else {
			switch (*p) {
			case 's': st_esc(&st, va_arg(ap, const char *)); break;
			case 'S': { const char *t = va_arg(ap, const char *);
				if (t != NULL) st_add(&st, t, strlen(t)); } break;
			case 'U': st_url(&st, va_arg(ap, const char *)); break;
			case 'd': ST_NUM(&st, "%d", va_arg(ap, int)); break;
			case 'u': ST_NUM(&st, "%u", va_arg(ap, unsigned)); break;
			case '%': st_add(&st, "%", 1); break;
			case '\0': st_add(&st, "%", 1); p--; break;
			default: st_add(&st, p - 1, 2); break;
			}
			p++;
		}
		run = p;
	}
	if (p > run)
		st_add(&st, run, (size_t)(p - run));
	st_flush(&st);
}

void
html_printf(struct evbuffer *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	html_vprintf(b, fmt, ap);
	va_end(ap);
}

char *
html_esc_dup(const char *s)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *out;

	if (b == NULL)
		return NULL;
	html_esc(b, s);
	n = evbuffer_get_length(b);
	if ((out = malloc(n + 1)) != NULL) {
		evbuffer_remove(b, out, n);
		out[n] = '\0';
	}
	evbuffer_free(b);
	return out;
}

void
html_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm);
}
