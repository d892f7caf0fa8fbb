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

void
html_esc(struct evbuffer *b, const char *s)
{
	const char *run;

	if (s == NULL)
		return;
	for (run = s; *s != '\0'; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if (s > run)
			evbuffer_add(b, run, (size_t)(s - run));
		evbuffer_add(b, rep, strlen(rep));
		run = s + 1;
	}
	if (s > run)
		evbuffer_add(b, run, (size_t)(s - run));
}

void
html_url(struct evbuffer *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	if (s == NULL)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			evbuffer_add(b, s, 1);
		else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			evbuffer_add(b, e, 3);
		}
	}
}

void
html_vprintf(struct evbuffer *b, const char *fmt, va_list ap)
{
	const char *p = fmt, *run = fmt;

	while (*p != '\0') {
		if (*p != '%') {
			p++;
			continue;
		}
		if (p > run)
			evbuffer_add(b, run, (size_t)(p - run));
		p++;
		if (strncmp(p, "lld", 3) == 0) {
			evbuffer_add_printf(b, "%lld", va_arg(ap, long long));
			p += 3;
		} else if (strncmp(p, "ld", 2) == 0) {
			evbuffer_add_printf(b, "%ld", va_arg(ap, long));
			p += 2;
		} else if (strncmp(p, "zu", 2) == 0) {
			evbuffer_add_printf(b, "%zu", va_arg(ap, size_t));
			p += 2;
		} else if (strncmp(p, ".2f", 3) == 0) {
			evbuffer_add_printf(b, "%.2f", va_arg(ap, double));
			p += 3;
		} else if (strncmp(p, ".4f", 3) == 0) {
			evbuffer_add_printf(b, "%.4f", va_arg(ap, double));
			p += 3;
		} else {
			switch (*p) {
			case 's': html_esc(b, va_arg(ap, const char *)); break;
			case 'S': { const char *t = va_arg(ap, const char *);
				if (t != NULL) evbuffer_add(b, t, strlen(t)); } break;
			case 'U': html_url(b, va_arg(ap, const char *)); break;
			case 'd': evbuffer_add_printf(b, "%d", va_arg(ap, int)); break;
			case 'u': evbuffer_add_printf(b, "%u", va_arg(ap, unsigned)); break;
			case '%': evbuffer_add(b, "%", 1); break;
			case '\0': evbuffer_add(b, "%", 1); p--; break;
			default: evbuffer_add(b, p - 1, 2); break;
			}
			p++;
		}
		run = p;
	}
	if (p > run)
		evbuffer_add(b, run, (size_t)(p - run));
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
