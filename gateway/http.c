/*
 * http.c - a small HTTP/1.1 server on libevent bufferevents for the gateway's unix socket
 * and loopback TCP listener. It reads one request at a time per connection (head up to
 * 64 KiB, a Content-Length body up to gateway.max_body), hands it to proxy.c, and writes
 * whole or chunked (streamed) replies; keep-alive, 100-continue, and a clean 413 that is
 * sent before the oversized body is read. A client that goes away mid-request cancels the
 * call in flight (gw_proxy_abort). Runs on the HTTP thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "gw.h"

#define HTTP_HEAD_MAX (64 * 1024)
#define HTTP_HDRS_MAX 100
#define HTTP_IDLE_S 300

enum { C_HEAD, C_BODY, C_BUSY, C_CLOSING };

struct http_conn {
	struct gw *g;
	struct bufferevent *bev;
	int state;
	char *head;              /* the request head, parsed in place */
	const char *method, *target;
	int http11, keepalive;
	const char **hn, **hv;   /* owned (one allocation, hv inside hn's): into head */
	int nh;
	size_t clen;
	char *body;
	void *call;              /* proxy.c's call in flight, or NULL */
	int streaming, chunked;
	struct http_conn *prev, *next; /* g->conns */
	int held;                /* writes go to hout until gw_http_release (the group commit) */
	struct evbuffer *hout;   /* owned: what waits while held */
	struct http_conn *hprev, *hnext; /* g->held */
};

const char *http_method(const struct http_conn *c) { return c->method; }
const char *http_target(const struct http_conn *c) { return c->target; }
void http_set_call(struct http_conn *c, void *call) { c->call = call; }

const char *
http_header(const struct http_conn *c, const char *name)
{
	for (int i = 0; i < c->nh; i++)
		if (strcasecmp(c->hn[i], name) == 0)
			return c->hv[i];
	return NULL;
}

int
http_header_at(const struct http_conn *c, int i, const char **name, const char **value)
{
	if (i < 0 || i >= c->nh)
		return -1;
	*name = c->hn[i];
	*value = c->hv[i];
	return 0;
}

const char *
http_body(const struct http_conn *c, size_t *len)
{
	*len = c->clen;
	return c->body != NULL ? c->body : "";
}

size_t
http_pending(const struct http_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->hout != NULL ? evbuffer_get_length(c->hout) : 0);
}

/* Where an answer's bytes go: the client's output, or the held buffer. */
static struct evbuffer *
http_out(struct http_conn *c)
{
	return c->held ? c->hout : bufferevent_get_output(c->bev);
}

/* Which error format fits this target (before proxy.c has routed it). */
static int
http_style(const char *target)
{
	return target != NULL && (strncmp(target, "/v1/chat/", 9) == 0 ||
	    strncmp(target, "/v1/responses", 13) == 0) ? GW_STYLE_OPENAI : GW_STYLE_ANTHROPIC;
}

static void http_conn_free(struct http_conn *c);

/* Take c off the held list (its writes may go). */
static void
http_unhold(struct http_conn *c)
{
	if (!c->held)
		return;
	c->held = 0;
	if (c->hprev != NULL)
		c->hprev->hnext = c->hnext;
	else
		c->g->held = c->hnext;
	if (c->hnext != NULL)
		c->hnext->hprev = c->hprev;
	c->hprev = c->hnext = NULL;
}

void
http_hold(struct http_conn *c)
{
	if (c->held || (c->hout == NULL && (c->hout = evbuffer_new()) == NULL))
		return; /* out of memory: the answer goes out unheld */
	c->held = 1;
	c->hprev = NULL;
	c->hnext = c->g->held;
	if (c->g->held != NULL)
		c->g->held->hprev = c;
	c->g->held = c;
}

/* Send what c held: written to the socket at once when nothing is queued before it (no
 * round through the event loop), the rest queued on the bufferevent as usual. */
static void
http_release_one(struct http_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	http_unhold(c);
	if (evbuffer_get_length(out) == 0) {
		while (evbuffer_get_length(c->hout) > 0)
			if (evbuffer_write(c->hout, bufferevent_getfd(c->bev)) <= 0)
				break; /* EAGAIN or an error: the bufferevent takes it from here */
		if (evbuffer_get_length(c->hout) == 0) {
			if (c->state == C_CLOSING)
				http_conn_free(c);
			return;
		}
	}
	evbuffer_add_buffer(out, c->hout);
}

void
gw_http_release(struct gw *g)
{
	while (g->held != NULL)
		http_release_one(g->held);
}

static void
http_conn_free(struct http_conn *c)
{
	if (c->call != NULL) {
		void *call = c->call;
		c->call = NULL;
		gw_proxy_abort(call);
	}
	http_unhold(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->g->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	if (c->hout != NULL)
		evbuffer_free(c->hout);
	free(c->head);
	free(c->hn);
	c->hn = c->hv = NULL;
	free(c->body);
	free(c);
}

static void http_on_read(struct bufferevent *bev, void *arg);

void
http_abort(struct http_conn *c)
{
	c->call = NULL;
	http_conn_free(c);
}

/* The request is answered: reset for the next one, or close once written. */
static void
http_done(struct http_conn *c)
{
	free(c->head);
	free(c->hn);
	c->hn = c->hv = NULL;
	free(c->body);
	c->head = NULL;
	c->body = NULL;
	c->method = c->target = NULL;
	c->nh = 0;
	c->clen = 0;
	c->call = NULL;
	c->streaming = c->chunked = 0;
	if (!c->keepalive) {
		c->state = C_CLOSING;
		bufferevent_disable(c->bev, EV_READ);
		if (http_pending(c) == 0) /* nothing left to write: the write cb will not run */
			bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS |
			    BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	c->state = C_HEAD;
	{
		struct timeval tv = { HTTP_IDLE_S, 0 };
		bufferevent_set_timeouts(c->bev, &tv, NULL);
	}
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* The head of a whole answer of len bytes. */
static void
http_reply_head(struct http_conn *c, int status, const char *ctype, const char *extra,
    size_t len)
{
	evbuffer_add_printf(http_out(c), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n", status, http_reason(status), ctype,
	    len, extra != NULL ? extra : "", c->keepalive ? "keep-alive" : "close");
}

void
http_reply(struct http_conn *c, int status, const char *ctype, const char *extra,
    const char *body, size_t len)
{
	http_reply_head(c, status, ctype, extra, len);
	evbuffer_add(http_out(c), body, len);
	http_done(c);
}

void
http_reply_evbuf(struct http_conn *c, int status, const char *ctype, const char *extra,
    struct evbuffer *body)
{
	http_reply_head(c, status, ctype, extra, evbuffer_get_length(body));
	evbuffer_add_buffer(http_out(c), body);
	http_done(c);
}

void
http_stream_start(struct http_conn *c, int status, const char *extra)
{
	struct evbuffer *out = http_out(c);

	c->streaming = 1;
	c->chunked = c->http11;
	/* The write callback runs whenever the client's buffer is at or under stream_low:
	 * that is when a paused upstream resumes (gw_proxy_drained). */
	bufferevent_setwatermark(c->bev, EV_WRITE, (size_t)c->g->stream_low, 0);
	/* A client that takes nothing for HTTP_IDLE_S is dropped (its call, paused meanwhile,
	 * is cancelled): it cannot hold an upstream forever. */
	struct timeval idle = { HTTP_IDLE_S, 0 };
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	if (!c->http11)
		c->keepalive = 0;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n%s%sConnection: %s\r\n\r\n", status,
	    http_reason(status), extra != NULL ? extra : "",
	    c->chunked ? "Transfer-Encoding: chunked\r\n" : "",
	    c->keepalive ? "keep-alive" : "close");
}

void
http_stream_write(struct http_conn *c, const char *buf, size_t len)
{
	struct evbuffer *out = http_out(c);

	if (len == 0)
		return;
	if (c->chunked) {
		evbuffer_add_printf(out, "%zx\r\n", len);
		evbuffer_add(out, buf, len);
		evbuffer_add(out, "\r\n", 2);
	} else
		evbuffer_add(out, buf, len);
}

void
http_stream_end(struct http_conn *c)
{
	if (c->chunked)
		evbuffer_add(http_out(c), "0\r\n\r\n", 5);
	http_done(c);
}

/* An error before the request reached the proxy; the connection closes after it. */
static void
http_fail(struct http_conn *c, int status, const char *type, const char *msg)
{
	c->keepalive = 0;
	gw_proxy_error(c, http_style(c->target), status, type, msg);
}

/* Parse the head in c->head (NUL-terminated, ends with an empty line). 0 or -1 (answered). */
static int
http_parse_head(struct http_conn *c)
{
	char *line = c->head, *next, *sp1, *sp2, *colon;

	next = strstr(line, "\r\n");
	*next = '\0';
	next += 2;
	if ((sp1 = strchr(line, ' ')) == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] == '\0' || sp2[9] != '\0') {
		http_fail(c, 400, "invalid_request_error", "malformed HTTP request line");
		return -1;
	}
	*sp1 = *sp2 = '\0';
	c->method = line;
	c->target = sp1 + 1;
	c->http11 = sp2[8] == '1';
	c->keepalive = c->http11;
	if (c->target[0] != '/') {
		http_fail(c, 400, "invalid_request_error", "request target must be a path");
		return -1;
	}
	c->nh = 0;
	/* room for as many headers as the head has lines (an idle connection holds none) */
	size_t lines = 0;
	for (const char *q = next; (q = strstr(q, "\r\n")) != NULL && lines <= HTTP_HDRS_MAX; q += 2)
		lines++;
	free(c->hn);
	if ((c->hn = malloc(2 * (lines + 1) * sizeof(*c->hn))) == NULL) {
		http_fail(c, 500, "api_error", "out of memory");
		return -1;
	}
	c->hv = c->hn + lines + 1;
	while ((line = next) != NULL && *line != '\0') {
		char *e, *v;
		if ((next = strstr(line, "\r\n")) == NULL || next == line)
			break; /* the empty line that ends the head */
		*next = '\0';
		next += 2;
		if ((colon = strchr(line, ':')) == NULL || colon == line || line[0] == ' ' ||
		    line[0] == '\t') {
			http_fail(c, 400, "invalid_request_error", "malformed HTTP header line");
			return -1;
		}
		if (c->nh == HTTP_HDRS_MAX || (size_t)c->nh > lines) {
			http_fail(c, 431, "invalid_request_error", "too many HTTP headers");
			return -1;
		}
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		c->hn[c->nh] = line;
		c->hv[c->nh++] = v;
	}
	const char *conn = http_header(c, "connection");
	if (conn != NULL && strcasecmp(conn, "close") == 0)
		c->keepalive = 0;
	else if (conn != NULL && strcasecmp(conn, "keep-alive") == 0)
		c->keepalive = 1;
	if (http_header(c, "transfer-encoding") != NULL) {
		http_fail(c, 411, "invalid_request_error",
		    "chunked request bodies are not supported: send Content-Length");
		return -1;
	}
	const char *cl = http_header(c, "content-length");
	c->clen = 0;
	if (cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (*cl == '\0' || *end != '\0' || errno != 0 || cl[0] == '-') {
			http_fail(c, 400, "invalid_request_error", "malformed Content-Length");
			return -1;
		}
		if (v > (unsigned long long)c->g->max_body) {
			char msg[160];
			snprintf(msg, sizeof(msg), "request body of %llu bytes exceeds the limit of %lld bytes",
			    v, c->g->max_body);
			http_fail(c, 413, "request_too_large", msg);
			return -1;
		}
		c->clen = (size_t)v;
	}
	return 0;
}

static void
http_on_read(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->state == C_HEAD) {
		struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		size_t hl;

		if (p.pos < 0) {
			if (evbuffer_get_length(in) > HTTP_HEAD_MAX) {
				c->target = NULL;
				http_fail(c, 431, "invalid_request_error", "HTTP request head too large");
			}
			return;
		}
		hl = (size_t)p.pos + 4;
		if (hl > HTTP_HEAD_MAX) {
			c->target = NULL;
			http_fail(c, 431, "invalid_request_error", "HTTP request head too large");
			return;
		}
		if ((c->head = malloc(hl + 1)) == NULL) {
			http_conn_free(c);
			return;
		}
		evbuffer_remove(in, c->head, hl);
		c->head[hl] = '\0';
		if (http_parse_head(c) != 0)
			return;
		const char *expect = http_header(c, "expect");
		if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && c->clen > 0 &&
		    evbuffer_get_length(in) == 0)
			evbuffer_add_printf(bufferevent_get_output(bev), "HTTP/1.1 100 Continue\r\n\r\n");
		c->state = C_BODY;
	}
	if (c->state == C_BODY) {
		if (evbuffer_get_length(in) < c->clen)
			return;
		if ((c->body = malloc(c->clen + 1)) == NULL) {
			http_conn_free(c);
			return;
		}
		evbuffer_remove(in, c->body, c->clen);
		c->body[c->clen] = '\0';
		c->state = C_BUSY;
		bufferevent_set_timeouts(bev, NULL, NULL);
		gw_proxy_request(c->g, c);
		return;
	}
	if (c->state == C_BUSY && evbuffer_get_length(in) > HTTP_HEAD_MAX) {
		/* a client that pipelines without end while a call runs: drop it */
		http_conn_free(c);
	}
}

static void
http_on_write(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == C_CLOSING && !c->held &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		http_conn_free(c);
		return;
	}
	if (c->streaming && c->call != NULL)
		gw_proxy_drained(c->call);
}

static void
http_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		http_conn_free(arg);
}

static void
http_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	struct gw *g = arg;
	struct http_conn *c = calloc(1, sizeof(*c));
	struct timeval tv = { HTTP_IDLE_S, 0 };

	(void)l;
	(void)sa;
	(void)salen;
	if (c == NULL || (c->bev = bufferevent_socket_new(g->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->g = g;
	c->state = C_HEAD;
	c->next = g->conns;
	if (g->conns != NULL)
		g->conns->prev = c;
	g->conns = c;
	bufferevent_setcb(c->bev, http_on_read, http_on_write, http_on_event, c);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
gw_http_listen(struct gw *g, char *why, size_t whylen)
{
	if (g->lfd_unix >= 0) {
		g->lst_unix = evconnlistener_new(g->base, http_on_accept, g, LEV_OPT_CLOSE_ON_FREE,
		    -1, g->lfd_unix);
		if (g->lst_unix == NULL) {
			snprintf(why, whylen, "cannot serve the HTTP unix socket");
			return JIDO_EINTERNAL;
		}
		g->lfd_unix = -1;
	}
	if (g->lfd_tcp >= 0) {
		g->lst_tcp = evconnlistener_new(g->base, http_on_accept, g, LEV_OPT_CLOSE_ON_FREE,
		    -1, g->lfd_tcp);
		if (g->lst_tcp == NULL) {
			snprintf(why, whylen, "cannot serve the HTTP TCP listener");
			return JIDO_EINTERNAL;
		}
		g->lfd_tcp = -1;
	}
	return 0;
}

void
gw_http_stop(struct gw *g)
{
	if (g->lst_unix != NULL)
		evconnlistener_free(g->lst_unix);
	if (g->lst_tcp != NULL)
		evconnlistener_free(g->lst_tcp);
	g->lst_unix = g->lst_tcp = NULL;
	while (g->conns != NULL)
		http_conn_free(g->conns);
}
