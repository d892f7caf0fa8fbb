/*
 * web.h - jido-web's internal interfaces: the process state (struct web), HTML output
 * with escaping (html.c), the HTTP server, router and responses (http.c), owner auth,
 * sessions, CSRF, API tokens and rate limits (auth.c), the pages (pages.c), the REST API
 * (api.c), live updates over SSE (sse.c) and /metrics (metrics.c).
 *
 * Threads: the lib's serve loop answers web.* on run/web.sock in the main thread; all HTTP
 * work (pages, API, SSE, calls to the planner) runs in the one HTTP thread, which alone
 * touches the web database, the rate limiters and the SSE ring. No locks are needed.
 */
#ifndef WEB_H
#define WEB_H

#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <pthread.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "jido.h"

struct sqlite3;

#define WEB_URL_MAX (PATH_MAX + 32)
#define WEB_SSE_RING 4096     /* recent run and log events kept for Last-Event-ID resume */
#define WEB_RL_SLOTS 256      /* addresses / tokens tracked by the rate limiters */

/* API token scopes (bit flags); admin implies every other scope. */
enum { SCOPE_READ = 1, SCOPE_RUN = 2, SCOPE_APPROVE = 4, SCOPE_ADMIN = 8 };

struct rl_login {            /* login attempts of one address in the last minute */
	char addr[64];
	int64_t at[8];       /* ring of attempt times (ms) */
	int n, head;
	int64_t used;        /* last touched, for eviction */
};

struct rl_bucket {           /* an API token's token bucket */
	int64_t token_id;
	double level;
	int64_t at;
};

struct sse_event {
	uint64_t seq;
	char run_id[64];
	char kind[8];        /* "state", "step", "log" */
	char *data;          /* JSON text, owned */
};

struct sse_client;

struct web_metrics {
	uint64_t http[6];            /* responses by class: 1xx..5xx (index 1..5) */
	uint64_t login_ok, login_failed, login_limited, api_limited, csrf_refused;
	uint64_t api_calls, sse_events;
	uint64_t notify_sent, notify_failed;    /* written by the notifier thread */
};

struct notify;
struct web_art;

struct web {
	struct jido_srv *srv;
	const struct jido_conf *conf;
	char home[PATH_MAX];
	struct sqlite3 *db;          /* the HTTP thread's connection */
	struct sqlite3 *db_req;      /* the main thread's (web.tokens.* on run/web.sock) */
	uint64_t uid;                /* our uid: only it may call web.tokens.* */
	unsigned char key[32];       /* HMAC key for CSRF tokens (web.session_key) */
	int key_from_vault;
	char url[16][WEB_URL_MAX];   /* request socket URL per jido_procs index */
	int call_ms;                 /* timeout of a call to another process */
	int secure;                  /* behind TLS: Secure cookies, HSTS */
	uint64_t boot;               /* start time, part of every SSE event id */

	/* HTTP thread */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *tick_ev;
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	int port;

	/* live updates */
	struct jido_bus *sub_runs, *sub_logs, *sub_events;
	struct sse_event ring[WEB_SSE_RING];
	uint64_t seq;                /* last event seq given out */
	struct sse_client *clients;
	int nclients;
	int64_t last_keepalive;

	struct notify *notify;
	struct web_art *art;         /* artifacts.c: share key, links db, guard counters */

	/* planner.workbench answers, reused while nothing changed (see pages.c) */
	json_t *wb_cache;
	int wb_cache_limit;
	int64_t wb_cache_at;
	uint64_t wb_cache_gen;
	uint64_t gen;                /* bumped by every run/event message and every change */

	struct rl_login logins[WEB_RL_SLOTS];
	struct rl_bucket buckets[WEB_RL_SLOTS];
	struct web_metrics m;
};

/* The process's state (one per process). */
extern struct web *web_g;
/* Set by main.c when the command is serve: only the daemon binds the HTTP port. */
extern int web_serving;

/* ---------------------------------------------------------------- html.c */

/* Append s HTML-escaped (& < > " ' and NUL-free) to b. NULL appends nothing. */
void html_esc(struct evbuffer *b, const char *s);
/* Append s percent-encoded for a URL query value, then HTML-escaped. */
void html_url(struct evbuffer *b, const char *s);
/* Formatted output where every %s is HTML-escaped; %S inserts trusted markup as is,
 * %U a URL-encoded value; %d %ld %lld %u %zu %.2f and %% as in printf. Unknown
 * conversions are written literally. */
void html_printf(struct evbuffer *b, const char *fmt, ...);
void html_vprintf(struct evbuffer *b, const char *fmt, va_list ap);
/* The escaped text of s as a new malloc'd string (tests, small uses). Caller frees. */
char *html_esc_dup(const char *s);
/* Milliseconds since the epoch as "YYYY-MM-DD HH:MM UTC" into buf. */
void html_time(int64_t ms, char *buf, size_t len);

/* ---------------------------------------------------------------- http.c */

/* One HTTP request as the handlers see it. */
struct wreq {
	struct web *w;
	struct evhttp_request *r;
	int method;                  /* EVHTTP_REQ_* */
	char path[512];              /* decoded path, no query */
	char rawpath[512];           /* the path as sent (API routes match it, then decode
	                              * each :x segment, so "acme%2Fwidget" is one segment) */
	struct evkeyvalq query;
	struct evkeyvalq form;       /* application/x-www-form-urlencoded body */
	int form_parsed;
	json_t *body;                /* API: parsed JSON body, or NULL */
	const char *params[4];       /* :id segments of the route, borrowed from pbuf */
	char pbuf[512];
	char addr[64];               /* client address */
	char sess[65];               /* session token when logged in, else "" */
	char csrf[65];               /* this response's CSRF token once computed, else "" */
	int authed;
	int64_t token_id;            /* API: the bearer token's id */
	int scopes;                  /* API: the bearer token's scopes */
	int api;                     /* 1 under /api/v1/ */
};

/* Create the server and bind web.listen (in open, before seccomp). */
int web_http_open(struct web *w, char *why, size_t whylen);
/* Start the HTTP thread (from the first tick, once seccomp is installed). */
int web_http_start(struct web *w);
/* Stop the thread and free the server. */
void web_http_close(struct web *w);

/* Add the security headers and send a complete response; takes body (may be NULL). */
void web_send(struct wreq *q, int code, const char *ctype, struct evbuffer *body);
/* The same with len bytes of fd from off as the body, streamed with sendfile straight into
 * the connection's output (no copy in memory); takes fd (closed when sent). */
void web_send_file(struct wreq *q, int code, const char *ctype, int fd, off_t off, off_t len);
/* 303 See Other to location (a path of this site). */
void web_redirect(struct wreq *q, const char *location);
/* A form field (body) or query value, borrowed; NULL when absent. */
const char *web_form(struct wreq *q, const char *key);
const char *web_query(struct wreq *q, const char *key);
/* A request header, borrowed. */
const char *web_header(struct wreq *q, const char *name);
/* Value of cookie name into buf; 0 when present. */
int web_cookie(struct wreq *q, const char *name, char *buf, size_t len);
/* Set-Cookie with HttpOnly, SameSite=Strict, Path=/ (and Secure behind TLS); max_age < 0
 * deletes the cookie. */
void web_cookie_set(struct wreq *q, const char *name, const char *value, long max_age);

/* HTTP status for a shared error code (validation 422, authorization 403, ...). */
int web_err_status(int code);

/* One call to another process: type to proc's request socket. Takes data. On 0 *r holds
 * the reply (caller frees with jido_reply_free). */
int web_call(struct web *w, const char *proc, const char *type, const char *corr, json_t *data,
    struct jido_reply *r);

/* ---------------------------------------------------------------- auth.c */

int web_db_open(struct web *w, char *why, size_t whylen);
/* Open another connection to the web database into *out (caller closes). */
int web_db_connect(struct web *w, struct sqlite3 **out, char *why, size_t whylen);
/* Is the owner password set / is setup finished? */
int auth_owner_exists(struct web *w);
int auth_setup_done(struct web *w);
int auth_setup_finish(struct web *w);
/* Set the owner password (first run only): JIDO_ECONFLICT when one exists,
 * JIDO_EVALIDATION for a weak password (why says so). */
int auth_owner_create(struct web *w, const char *password, char *why, size_t whylen);
/* Check the owner password (constant time via libsodium); 0 when it matches. */
int auth_password_check(struct web *w, const char *password);
/* New session: a fresh random token into tok (65 bytes), its hash stored. */
int auth_session_new(struct web *w, char tok[65]);
/* 0 when tok names a live session (refreshes it). */
int auth_session_check(struct web *w, const char *tok);
void auth_session_end(struct web *w, const char *tok);
/* The CSRF token for a session or pre-session value into out (65 bytes). */
void auth_csrf_token(struct web *w, const char *bound, char out[65]);
/* 0 when given matches the CSRF token for bound (constant time). */
int auth_csrf_check(struct web *w, const char *bound, const char *given);
/* Login attempt by addr now: 0 allowed, else the seconds to wait (Retry-After). */
int auth_login_limit(struct web *w, const char *addr, int64_t now_ms);
/* API tokens. create: new token text (shown once) into tok (80 bytes); scopes bit set;
 * expires_days 0 = never. The token functions take the connection of the calling thread
 * (w->db in the HTTP thread, w->db_req in the main thread). */
int auth_token_create(struct sqlite3 *db, const char *name, int scopes, int expires_days,
    char tok[80], int64_t *id, char *why, size_t whylen);
/* Look a bearer token up: 0 with its id and scopes, JIDO_EAUTHZ when unknown, expired or
 * revoked. Records the use. */
int auth_token_check(struct web *w, const char *tok, int64_t *id, int *scopes);
int auth_token_revoke(struct sqlite3 *db, int64_t id);
/* All tokens (never their secrets), newest first. New reference. */
json_t *auth_token_list(struct sqlite3 *db);
/* Parse "read,run" / an array into a scope set; -1 on an unknown name. */
int auth_scopes_parse(const char *s);
const char *auth_scopes_text(int scopes, char *buf, size_t len);
/* API token bucket for token id: 0 allowed (remaining/limit/reset filled), else seconds
 * to wait. */
int auth_api_limit(struct web *w, int64_t id, int64_t now_ms, int *remaining, int *limit,
    int *reset_s);
/* Write an audit record synchronously; 0 when the auditor confirmed it. Takes details. */
int web_audit(struct web *w, const char *channel, const char *action, const char *subject,
    const char *result, json_t *details);
/* The same with another actor than "owner" ("anonymous" for a share link, "guard"). */
int web_audit_as(struct web *w, const char *actor, const char *channel, const char *action,
    const char *subject, const char *result, json_t *details);
/* api.c: a JSON answer (takes j) and a typed error. */
void api_json(struct wreq *q, int status, json_t *j);
void api_error(struct wreq *q, int status, int code, const char *message);

/* ---------------------------------------------------------------- tokens.c */

/* web.tokens.list|create|revoke (the operation table's tokens.*) on connection db. audit=1:
 * write the audit record (channel data.channel, default "cli") first and do nothing
 * unless the auditor confirmed it (the bus path; REST audits before calling). On 0 *out is
 * a new reference; create's answer holds the token's secret (shown once). */
int web_tokens_handle(struct web *w, struct sqlite3 *db, const char *type, const json_t *data,
    int audit, json_t **out, char *why, size_t whylen);

/* ---------------------------------------------------------------- pages.c, api.c */

void pages_route(struct wreq *q);  /* everything outside /api/, /static/, /healthz ... */
void api_route(struct wreq *q);    /* /api/v1/... */

/* ---------------------------------------------------------------- sse.c */

int sse_open(struct web *w, char *why, size_t whylen);
void sse_close(struct web *w);
/* Drain the SUB sockets into the ring and out to clients (HTTP thread timer). */
void sse_poll(struct web *w);
/* Start a 200 text/event-stream answer with the security headers (chunks follow). */
void sse_reply_start(struct wreq *q);
/* Serve GET .../events for run_id (the request is kept open). */
void sse_serve(struct wreq *q, const char *run_id);
/* Parse "boot-seq" Last-Event-ID: the seq when boot matches, 0 when absent, and
 * *gap = 1 when it names another boot or something no longer in the ring. For tests. */
uint64_t sse_resume_point(struct web *w, const char *last_id, int *gap);
/* Append an event to the ring (takes a copy of data). Returns its seq. */
uint64_t sse_ring_push(struct web *w, const char *run_id, const char *kind, const char *data);

/* ---------------------------------------------------------------- notify.c */

/* Read web.notify* (a bad combination is a config error); no thread yet. */
int notify_open(struct web *w, char *why, size_t whylen);
/* Start the notifier thread (after seccomp); a no-op when notifications are off. */
int notify_start(struct web *w);
void notify_close(struct web *w);
/* Queue one line for the owner (copied); sent at once or gathered under the debounce. */
void notify_event(struct web *w, const char *line);
/* "telegram", "webhook", "ntfy" or "off". Static. */
const char *notify_kind(struct web *w);

/* ---------------------------------------------------------------- metrics.c */

void metrics_serve(struct wreq *q);
/* usage.c: the usage dashboard (chart by day, tables by project, model, run) for the
 * last `days` days, from gateway.usage.summary, appended to b. */
void usage_render(struct web *w, struct evbuffer *b, int days);

/* ---------------------------------------------------------------- mcp.c */

/* /mcp: the MCP server over Streamable HTTP (bearer token, sessions). */
void mcp_http_serve(struct wreq *q);
/* Stop the open runs_follow streams (before the HTTP server is freed). */
void mcp_http_close(void);

/* ---------------------------------------------------------------- artifacts.c */

#include "artifact.h"

/* A parsed, authenticated share link path. */
struct share_tok {
	char lid[40], run[72], name[JIDO_ART_NAME_MAX + 1];
	int version;
	long long expires_s;
};
/* HMAC-SHA256 under key of the link's fields, hex, into out. */
int share_sign(const unsigned char key[32], const char *lid, const char *run, const char *name,
    int version, long long expires_s, char out[65]);
/* Parse "/share/" lid "/" run "/" version "/" expiry "/" sig "/" name and check its signature:
 * 0, or JIDO_EINTEGRITY for anything malformed or tampered. */
int share_parse(const unsigned char key[32], const char *path, struct share_tok *t);
/* A Range header against size: 0 no (usable) range, 1 off and len set, -1 unsatisfiable. */
int art_range_parse(const char *h, uint64_t size, uint64_t *off, uint64_t *len);
/* "90", "30s", "15m", "1h", "7d" (at most 30 days) into seconds. */
int art_ttl_parse(const char *s, long long *secs);
/* Open (tables in web.db, a second connection for the main thread, web.share_key). */
int art_web_open(struct web *w, char *why, size_t whylen);
void art_web_close(struct web *w);
/* web.share.create|list|revoke, web.guard.list|unfreeze on db (the serve thread's second
 * connection for the web's socket, the HTTP thread's own for REST); data.channel, when
 * there, is the audit channel (default cli). */
int art_web_handle(struct web *w, struct sqlite3 *db, const char *type, const json_t *data,
    json_t **out, char *why, size_t whylen);
/* The anomaly guard for an API token (after auth): 0 go on, 1 answered 423. */
int art_guard_token(struct wreq *q);
void share_serve(struct wreq *q);  /* GET /share/... (no login) */
void art_fail_page(struct wreq *q, int status, int code, const char *title, const char *text);
void api_artifacts_list(struct wreq *q);
void api_artifacts_get(struct wreq *q);
void api_artifacts_versions(struct wreq *q);
void api_artifacts_share(struct wreq *q);
void api_links_list(struct wreq *q);
void api_links_revoke(struct wreq *q);
void art_page_section(struct wreq *q, struct evbuffer *b, long long pid, const char *rid);
void art_guard_section(struct wreq *q, struct evbuffer *b);
void art_security_section(struct wreq *q, struct evbuffer *b);
void art_metrics(struct web *w, struct evbuffer *b);
void pg_artifact_download(struct wreq *q);
void pg_artifact_share(struct wreq *q);
void pg_link_revoke(struct wreq *q);
void pg_guard_unfreeze(struct wreq *q);

#endif
