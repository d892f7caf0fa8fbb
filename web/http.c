/*
 * http.c - jido-web's HTTP server: libevent evhttp in its own thread, bound to web.listen
 * in open (before seccomp), started from the first tick (after it). Every response goes
 * through web_send, which adds the security headers (CSP without inline script,
 * frame-ancestors 'none', nosniff, Referrer-Policy, no-store). The top-level dispatch
 * serves /healthz, /readyz, /metrics and /static/ itself and hands /api/v1/ to api.c and
 * everything else to pages.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>


#include <event2/bufferevent.h>

#include "web.h"

/* Static assets, embedded at build time from web/static/ (see static.c). */
extern const char web_static_css[], web_static_js[];
extern const unsigned int web_static_css_len, web_static_js_len;

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

int
web_err_status(int code)
{
	switch (code) {
	case JIDO_OK: return 200;
	case JIDO_EVALIDATION: return 422;
	case JIDO_EAUTHZ: return 403;
	case JIDO_ENOTFOUND: return 404;
	case JIDO_ECONFLICT: return 409;
	case JIDO_ESECRET: return 503;
	case JIDO_EINTEGRITY: return 500;
	case JIDO_EPROVIDER: return 502;
	case JIDO_EEXEC: return 500;
	case JIDO_EPOLICY: return 403;
	case JIDO_ETIMEOUT: return 504;
	case JIDO_EUNAVAIL: return 503;
	case JIDO_EFROZEN: return 423;
	default: return 500;
	}
}

static const char *
web_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 422: return "Unprocessable Content";
	case 423: return "Locked";
	case 429: return "Too Many Requests";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return code >= 500 ? "Internal Server Error" : "Error";
	}
}

static void
web_headers(struct wreq *q)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);

	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	if (evhttp_find_header(h, "Cache-Control") == NULL)
		evhttp_add_header(h, "Cache-Control", "no-store");
	if (q->w->secure)
		evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
}

void
web_send(struct wreq *q, int code, const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);

	web_headers(q);
	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	if (code >= 100 && code < 600)
		q->w->m.http[code / 100]++;
	evhttp_send_reply(q->r, code, web_reason(code), body);
	if (body != NULL)
		evbuffer_free(body);
}

void
web_send_file(struct wreq *q, int code, const char *ctype, int fd, off_t off, off_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);
	struct evhttp_connection *con = evhttp_request_get_connection(q->r);
	struct bufferevent *bev = con != NULL ? evhttp_connection_get_bufferevent(con) : NULL;
	char cl[32];

	web_headers(q);
	evhttp_add_header(h, "Content-Type", ctype);
	snprintf(cl, sizeof(cl), "%lld", (long long)len);
	evhttp_add_header(h, "Content-Length", cl);
	if (code >= 100 && code < 600)
		q->w->m.http[code / 100]++;
	evhttp_send_reply_start(q->r, code, web_reason(code));
	/* the file segment goes into the socket's own output buffer, which drains to the fd
	 * with sendfile(2) as the peer reads: no copy, memory flat for any size */
	if (bev != NULL && len > 0 && q->method != EVHTTP_REQ_HEAD) {
		if (evbuffer_add_file(bufferevent_get_output(bev), fd, off, len) != 0)
			jido_warn("web.sendfile_failed", "{s:I}", "bytes", (json_int_t)len);
	} else
		close(fd);
	evhttp_send_reply_end(q->r);
}

void
web_redirect(struct wreq *q, const char *location)
{
	evhttp_add_header(evhttp_request_get_output_headers(q->r), "Location", location);
	web_send(q, 303, "text/plain; charset=utf-8", NULL);
}

const char *
web_header(struct wreq *q, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(q->r), name);
}

const char *
web_query(struct wreq *q, const char *key)
{
	return evhttp_find_header(&q->query, key);
}

const char *
web_form(struct wreq *q, const char *key)
{
	if (!q->form_parsed) {
		struct evbuffer *in = evhttp_request_get_input_buffer(q->r);
		size_t n = evbuffer_get_length(in);
		const char *ct = web_header(q, "Content-Type");
		q->form_parsed = 1;
		if (n > 0 && n < 256 * 1024 && ct != NULL &&
		    strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
			char *text = malloc(n + 1);
			if (text != NULL) {
				evbuffer_copyout(in, text, n);
				text[n] = '\0';
				if (evhttp_parse_query_str(text, &q->form) != 0)
					evhttp_clear_headers(&q->form);
				free(text);
			}
		}
	}
	return evhttp_find_header(&q->form, key);
}

int
web_cookie(struct wreq *q, const char *name, char *buf, size_t len)
{
	const char *c = web_header(q, "Cookie");
	size_t nl = strlen(name);

	while (c != NULL && *c != '\0') {
		while (*c == ' ' || *c == ';')
			c++;
		const char *end = strchr(c, ';');
		size_t seg = end ? (size_t)(end - c) : strlen(c);
		if (seg > nl && strncmp(c, name, nl) == 0 && c[nl] == '=') {
			size_t vl = seg - nl - 1;
			if (vl >= len)
				return -1;
			memcpy(buf, c + nl + 1, vl);
			buf[vl] = '\0';
			return 0;
		}
		c = end;
	}
	return -1;
}

void
web_cookie_set(struct wreq *q, const char *name, const char *value, long max_age)
{
	char h[512];

	snprintf(h, sizeof(h), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s; Max-Age=%ld", name,
	    max_age < 0 ? "" : value, q->w->secure ? "; Secure" : "", max_age < 0 ? 0 : max_age);
	evhttp_add_header(evhttp_request_get_output_headers(q->r), "Set-Cookie", h);
}

int
web_call(struct web *w, const char *proc, const char *type, const char *corr, json_t *data,
    struct jido_reply *r)
{
	for (int i = 0; jido_procs[i] != NULL && i < 16; i++)
		if (strcmp(jido_procs[i], proc) == 0)
			return jido_bus_call(w->url[i], type, corr, data, w->call_ms, r);
	json_decref(data);
	return JIDO_EINTERNAL;
}

/* ------------------------------------------------------------ built-in routes */

static void
http_healthz(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "{\"status\":\"ok\",\"version\":\"%s\"}\n", JIDO_VERSION);
	web_send(q, 200, "application/json", b);
}

/* Every process READY according to its own <proc>.health. */
static void
http_readyz(struct wreq *q)
{
	json_t *procs = json_object();
	int ready = 1;

	for (int i = 0; jido_procs[i] != NULL; i++) {
		struct jido_reply r;
		char type[64];
		const char *state = "DOWN";
		if (strcmp(jido_procs[i], "web") == 0) {
			json_object_set_new(procs, "web", json_string(jido_state_name(
			    jido_srv_state(q->w->srv))));
			ready &= jido_srv_state(q->w->srv) == JIDO_READY;
			continue;
		}
		snprintf(type, sizeof(type), "%s.health", jido_procs[i]);
		if (jido_bus_call(q->w->url[i], type, NULL, NULL, 1000, &r) == 0) {
			if (r.ok && json_is_string(json_object_get(r.data, "state")))
				state = json_string_value(json_object_get(r.data, "state"));
			json_object_set_new(procs, jido_procs[i], json_string(state));
			jido_reply_free(&r);
		} else
			json_object_set_new(procs, jido_procs[i], json_string(state));
		ready &= strcmp(json_string_value(json_object_get(procs, jido_procs[i])),
		    "READY") == 0;
	}
	json_t *j = json_pack("{s:s,s:o}", "status", ready ? "ready" : "not_ready", "processes",
	    procs);
	char *text = jido_json_dump(j);
	struct evbuffer *b = evbuffer_new();
	evbuffer_add_printf(b, "%s\n", text ? text : "{}");
	free(text);
	json_decref(j);
	web_send(q, ready ? 200 : 503, "application/json", b);
}

static void
http_static(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(q->r);

	if (strcmp(q->path, "/static/app.css") == 0) {
		evbuffer_add(b, web_static_css, web_static_css_len);
		evhttp_add_header(h, "Cache-Control", "public, max-age=300");
		web_send(q, 200, "text/css; charset=utf-8", b);
	} else if (strcmp(q->path, "/static/live.js") == 0) {
		evbuffer_add(b, web_static_js, web_static_js_len);
		evhttp_add_header(h, "Cache-Control", "public, max-age=300");
		web_send(q, 200, "text/javascript; charset=utf-8", b);
	} else {
		evbuffer_add_printf(b, "not found\n");
		web_send(q, 404, "text/plain; charset=utf-8", b);
	}
}

static void
http_on_request(struct evhttp_request *r, void *arg)
{
	struct web *w = arg;
	struct wreq *q = calloc(1, sizeof(*q));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL, *qs;
	char *dec;
	struct evhttp_connection *con = evhttp_request_get_connection(r);

	if (q == NULL) {
		evhttp_send_error(r, 500, "out of memory");
		return;
	}
	q->w = w;
	q->r = r;
	q->method = (int)evhttp_request_get_command(r);
	TAILQ_INIT(&q->query);
	TAILQ_INIT(&q->form);
	if (con != NULL) {
		/* pages go out as headers and body: without TCP_NODELAY the second write waits
		 * for the client's delayed ACK (40 ms) on a kept-alive connection */
		struct bufferevent *bev = evhttp_connection_get_bufferevent(con);
		int one = 1, fd = bev != NULL ? bufferevent_getfd(bev) : -1;
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (con != NULL) {
		const char *host = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(con, (char **)&host, &port);
		snprintf(q->addr, sizeof(q->addr), "%s", host ? host : "?");
	}
	size_t declen = 0;
	dec = path ? evhttp_uridecode(path, 0, &declen) : NULL;
	if (dec == NULL || declen != strlen(dec) || declen >= sizeof(q->path) || dec[0] != '/') {
		/* undecodable, with a NUL, too long or relative: nothing here can answer it */
		struct evbuffer *b = evbuffer_new();
		free(dec);
		evbuffer_add_printf(b, "bad request path\n");
		web_send(q, 400, "text/plain; charset=utf-8", b);
		free(q);
		return;
	}
	snprintf(q->path, sizeof(q->path), "%s", dec);
	snprintf(q->rawpath, sizeof(q->rawpath), "%s", path);
	free(dec);
	if ((qs = uri ? evhttp_uri_get_query(uri) : NULL) != NULL &&
	    evhttp_parse_query_str(qs, &q->query) != 0)
		evhttp_clear_headers(&q->query);

	if (q->method != EVHTTP_REQ_GET && q->method != EVHTTP_REQ_HEAD)
		w->gen++; /* anything may change: cached planner answers are stale */
	if (strcmp(q->path, "/healthz") == 0)
		http_healthz(q);
	else if (strcmp(q->path, "/readyz") == 0)
		http_readyz(q);
	else if (strncmp(q->path, "/static/", 8) == 0)
		http_static(q);
	else if (strcmp(q->path, "/metrics") == 0)
		metrics_serve(q);
	else if (strcmp(q->path, "/mcp") == 0)
		mcp_http_serve(q);
	else if (strncmp(q->path, "/share/", 7) == 0)
		share_serve(q); /* artifact share links: no login, the signature decides */
	else if (strncmp(q->path, "/api/", 5) == 0) {
		q->api = 1;
		api_route(q);
	} else
		pages_route(q);
	evhttp_clear_headers(&q->query);
	evhttp_clear_headers(&q->form);
	json_decref(q->body);
	free(q);
}

/* Every 50 ms: live updates in, keepalives out, and leave the loop when asked to. */
static void
http_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct web *w = arg;

	(void)fd;
	(void)what;
	if (atomic_load(&w->stop)) {
		event_base_loopbreak(w->base);
		return;
	}
	sse_poll(w);
}

static void *
http_thread(void *arg)
{
	struct web *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

/* Is host a loopback address (or the name localhost)? */
static int
http_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int
web_http_open(struct web *w, char *why, size_t whylen)
{
	const char *addr = jido_conf_str(w->conf, "web.listen"), *colon = strrchr(addr, ':');
	struct timeval tv = { 0, 50 * 1000 };
	char host[256], *end;
	long port;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) ||
	    (port = strtol(colon + 1, &end, 10)) < 0 || port > 65535 || *end != '\0' ||
	    end == colon + 1) {
		snprintf(why, whylen, "web.listen '%s' is not host:port", addr);
		return JIDO_EVALIDATION;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[' && strlen(host) > 2 && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (!http_loopback(host)) {
		if (!jido_conf_bool(w->conf, "web.allow_remote")) {
			snprintf(why, whylen, "web.listen '%s' is not a loopback address: set "
			    "web.allow_remote = true to expose the owner UI (put TLS in front of it)",
			    addr);
			return JIDO_EVALIDATION;
		}
		jido_warn("web.remote_listen", "{s:s,s:s}", "listen", addr, "note",
		    "the owner UI is reachable from other hosts: put it behind TLS");
	}
	if ((w->base = event_base_new()) == NULL || (w->http = evhttp_new(w->base)) == NULL ||
	    (w->tick_ev = event_new(w->base, -1, EV_PERSIST, http_on_tick, w)) == NULL) {
		snprintf(why, whylen, "cannot create the HTTP server");
		return JIDO_EINTERNAL;
	}
	evhttp_set_max_body_size(w->http, 256 * 1024);
	/* read and drop an oversized body before answering 413 (see ingest/http.c) */
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(w->http, 32 * 1024);
	evhttp_set_timeout(w->http, 60);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(w->http, http_on_request, w);
	event_add(w->tick_ev, &tv);
	if ((w->bound = evhttp_bind_socket_with_handle(w->http, host, (ev_uint16_t)port)) == NULL) {
		snprintf(why, whylen, "cannot listen on %s: %s", addr, strerror(errno));
		return JIDO_EUNAVAIL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(evhttp_bound_socket_get_fd(w->bound), (struct sockaddr *)&ss, &sl) == 0)
		w->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
	jido_info("web.listening", "{s:s,s:i}", "listen", addr, "port", w->port);
	return 0;
}

int
web_http_start(struct web *w)
{
	if (w->base == NULL || w->thread_started)
		return 0;
	if (pthread_create(&w->thread, NULL, http_thread, w) != 0)
		return JIDO_EINTERNAL;
	w->thread_started = 1;
	return 0;
}

void
web_http_close(struct web *w)
{
	if (w->thread_started) {
		atomic_store(&w->stop, 1);
		pthread_join(w->thread, NULL);
		w->thread_started = 0;
	}
	sse_close(w);
	mcp_http_close();
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->base != NULL)
		event_base_free(w->base);
	w->tick_ev = NULL;
	w->http = NULL;
	w->base = NULL;
}
