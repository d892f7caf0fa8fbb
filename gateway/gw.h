/*
 * gw.h - jido-gateway's internal interfaces: scoped keys (keys.c), pricing and usage
 * (usage.c), circuit breakers (breaker.c), upstreams and provider keys (upstream.c), the
 * HTTP/1.1 server (http.c) and the proxy that joins them (proxy.c).
 *
 * Threads: the nng request loop (main thread, gateway.c) and one HTTP thread (libevent +
 * libcurl multi) share struct gw; everything in it that both touch is guarded by gw.mu.
 */
#ifndef GW_H
#define GW_H

#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "jido.h"

struct sqlite3;
struct http_conn;
struct evbuffer;

#define GW_KEY_PREFIX "jgw_"
#define GW_KEY_LEN 68 /* "jgw_" + 64 hex */
#define GW_MAX_UP 8
#define GW_OUTBOX_MAX 1000 /* usage and audit records waiting for their peers */

enum gw_style { GW_STYLE_ANTHROPIC = 0, GW_STYLE_OPENAI = 1 };

/* ---------------------------------------------------------------- breaker.c */

enum gw_breaker_state { GW_BRK_CLOSED = 0, GW_BRK_OPEN, GW_BRK_HALF_OPEN };

/* One upstream's circuit breaker. Times are monotonic milliseconds passed in by the caller,
 * so the state machine is a pure function of its inputs (unit-testable). */
struct gw_breaker {
	int state;
	int threshold;        /* failures within window_ms that open it (3) */
	int64_t window_ms;    /* 60 s */
	int64_t cooldown_ms;  /* 300 s */
	int64_t fail_at[16];  /* recent failure times, newest last (threshold <= 16) */
	int nfail;
	int64_t opened_at;
	int64_t next_trial;   /* when OPEN: when the half-open trial may go */
	int trial_busy;       /* HALF_OPEN: the one trial request is in flight */
	uint64_t requests, successes, failures, opens, rejected;
};

void gw_breaker_init(struct gw_breaker *b, int threshold, int64_t window_ms, int64_t cooldown_ms);
/* May a request go to this upstream now? 1 yes (in HALF_OPEN it becomes the one trial). */
int gw_breaker_allow(struct gw_breaker *b, int64_t now);
void gw_breaker_success(struct gw_breaker *b, int64_t now);
void gw_breaker_failure(struct gw_breaker *b, int64_t now);
/* A request that was let through ended with neither verdict (client gone). */
void gw_breaker_release(struct gw_breaker *b);
const char *gw_breaker_state_name(int state);
/* {state, failures_in_window, requests, successes, failures, opens, rejected,
 *  next_trial_in_ms?}: a new reference. */
json_t *gw_breaker_json(const struct gw_breaker *b, int64_t now);

/* ---------------------------------------------------------------- usage.c: pricing */

/* USD per million tokens; a token costs exactly that many micro-USD. */
struct gw_price {
	char model[96]; /* exact name or prefix ("claude-sonnet-4-5" matches "-20250929") */
	double input, output, cache_read, cache_write;
	char snap[768];  /* gw_price_json as text, made once by gw_pricing_parse */
};

/* Parse "model:in,out,cache_read,cache_write;..." into a malloc'd array (*out, caller frees).
 * JIDO_EVALIDATION with why naming the bad entry. */
int gw_pricing_parse(const char *text, struct gw_price **out, size_t *n, char *why, size_t whylen);
/* The price snapshot a usage record keeps: {entry, input, output, cache_read, cache_write,
 * unit}, a new reference. */
json_t *gw_price_json(const struct gw_price *p);
/* The longest matching entry for model (exact or prefix), or the "*" entry, or NULL. */
const struct gw_price *gw_pricing_find(const struct gw_price *p, size_t n, const char *model);

struct gw_usage {
	long long input, output, cache_read, cache_write;
	int seen; /* the provider reported usage */
	char model[128];
};

/* Cost in micro-USD of u at price p (0 when p is NULL). */
long long gw_usage_cost(const struct gw_usage *u, const struct gw_price *p);
long long gw_usage_tokens(const struct gw_usage *u);
/* Fold the usage found in one provider JSON object (a whole non-streamed answer or one
 * streamed event) into u: Anthropic message / message_start / message_delta, OpenAI chat
 * completion (chunk) and Responses (response.completed) shapes. style picks the field names. */
void gw_usage_absorb(struct gw_usage *u, int style, const json_t *obj);

/* Incremental SSE scanner: feeds `data:` lines that mention usage to gw_usage_absorb. */
struct gw_sse {
	char *line;
	size_t len, cap;
	int skipping; /* the current line outgrew the cap: ignore it */
};
void gw_sse_feed(struct gw_sse *s, struct gw_usage *u, int style, const char *buf, size_t len);
void gw_sse_free(struct gw_sse *s);

/* ---------------------------------------------------------------- keys.c: key info */

/* What an authenticated request is bound to (copied out of the store). */
struct gw_keyinfo {
	char key_id[40];
	char run_id[129];
	char project[129];
	char step[129];
};

/* ---------------------------------------------------------------- usage.c: records */

/* One call's usage record, plain C so the HTTP thread builds no JSON for it: the store's
 * queue and the outbox each hold a reference (atomic: the main thread drops the outbox's). */
struct gw_record {
	int refs;
	char ts[32];
	/* into str (sized to fit: a full outbox is 1000 of these); "" when absent */
	const char *key_id, *run_id, *project, *step, *upstream, *model;
	const char *api;       /* a static name */
	int status, streamed, complete, usage_reported;
	long long input, output, cache_read, cache_write, cost_musd, duration_ms;
	const struct gw_price *price; /* the entry in force (the process's table), or NULL */
	char str[];
};

/* A record of ki's run with upstream (NULL: none) and model copied in, counts zero, one
 * reference (the caller's); NULL when out of memory. */
struct gw_record *gw_record_new(const struct gw_keyinfo *ki, const char *upstream,
    const char *model);
struct gw_record *gw_record_ref(struct gw_record *r);
void gw_record_unref(struct gw_record *r);
/* The record as the planner's planner.usage.record takes it: a new reference. */
json_t *gw_record_json(const struct gw_record *r);

/* ---------------------------------------------------------------- keys.c */

/* Open (creating) $home/gateway.db and clear stale reservations. Caller closes *db. */
int gw_store_open(const char *home, struct sqlite3 **db, char *why, size_t whylen);

/* gateway.keys.create: data {run_id, project?, step?, expires_s, budget_usd?, budget_tokens?}.
 * On 0, *out = {key, key_id, run_id, expires_at}; the key appears only here, the store
 * keeps its SHA-256. Caller holds gw.mu. */
int gw_keys_create(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen);
/* gateway.keys.revoke: data {run_id} or {key_id}; *out = {revoked: n}. */
int gw_keys_revoke(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen);

/* Outcome of gw_keys_admit, mapped to HTTP by the proxy. */
enum gw_admit { GW_ADMIT_OK = 0, GW_ADMIT_UNKNOWN, GW_ADMIT_EXPIRED, GW_ADMIT_REVOKED,
	GW_ADMIT_BUDGET_USD, GW_ADMIT_BUDGET_TOKENS, GW_ADMIT_ERROR };

/* Authenticate key (the client's bearer), check budgets, and reserve est_tokens and
 * est_musd against it. Fills *ki on OK; msg gets a client-safe sentence otherwise.
 * Caller holds gw.mu. */
int gw_keys_admit(struct sqlite3 *db, const char *key, long long est_tokens, long long est_musd,
    struct gw_keyinfo *ki, char *msg, size_t msglen);
/* Authenticate only (no budget, no reservation): for count_tokens and models. */
int gw_keys_check(struct sqlite3 *db, const char *key, struct gw_keyinfo *ki, char *msg,
    size_t msglen);
/* Release a reservation and charge the actual spend. Caller holds gw.mu. */
void gw_keys_reconcile(struct sqlite3 *db, const char *key_id, long long est_tokens,
    long long est_musd, long long tokens, long long musd);

/* One usage record into the store now (gw_store_flush's row writer); rec is borrowed.
 * Caller holds gw.mu. */
int gw_usage_store(struct sqlite3 *db, const struct gw_record *rec);
/* gateway.usage: data {run_id?, limit?} -> {totals, records}. Caller holds gw.mu. */
int gw_usage_query(struct sqlite3 *db, const json_t *data, json_t **out, char *why, size_t whylen);
/* gateway.usage.summary (summary.c): usage by day, project, model and costliest runs. */
int gw_usage_summary(struct sqlite3 *db, const json_t *data, json_t **out, char *why,
    size_t whylen);
/* gateway.metrics' usage part: every record ever stored, summed (requests, errors =
 * status >= 400, tokens by kind, cost), overall and per upstream (by_upstream, "" for
 * calls no upstream took). *out is a new object. Caller holds gw.mu. */
int gw_usage_totals(struct sqlite3 *db, json_t **out, char *why, size_t whylen);

/* ---------------------------------------------------------------- ledger.c */

/* Everything here: caller holds gw.mu (or is the only thread). */
enum { GW_ST_LOOKUP, GW_ST_SPEND, GW_ST_USAGE, GW_ST_BEGIN, GW_ST_COMMIT, GW_ST_ROLLBACK,
	GW_ST_N };
/* A cached prepared statement of db, reset with no bindings; NULL when it cannot be
 * prepared. Borrowed: valid until gw_store_close; reset it after stepping. */
struct sqlite3_stmt *gw_store_stmt(struct sqlite3 *db, int which);
/* What the ledger holds for a key on top of gateway.db: reserved + settled-unflushed. */
void gw_ledger_amounts(const char *key_id, long long *tokens, long long *musd);
/* Reserve an estimate for a call in flight. 0 or JIDO_EINTERNAL (out of memory). */
int gw_ledger_reserve(const char *key_id, long long tokens, long long musd);
/* Release a call's reservation and settle its actual spend (written by the next flush). */
int gw_ledger_settle(const char *key_id, long long est_tokens, long long est_musd,
    long long tokens, long long musd);
/* Queue a usage record for the next flush (takes a reference of its own). */
int gw_usage_queue(struct gw_record *rec);
size_t gw_usage_pending(void);
/* Group commit: the settled spend of every key and every queued record in one transaction;
 * then written(rec, arg) for each record now durable (it takes its own reference if it
 * keeps one; NULL: none). 0 (nothing left waiting), or JIDO_EINTERNAL with why (all kept
 * for the next try). */
int gw_store_flush(struct sqlite3 *db, void (*written)(struct gw_record *rec, void *arg),
    void *arg, char *why, size_t whylen);
/* Flush, drop the cached statements and the ledger, close db. */
void gw_store_close(struct sqlite3 *db);

/* ---------------------------------------------------------------- upstream.c */

struct gw_upstream {
	char name[64];
	int style;
	char base[512];     /* base URL without trailing slash */
	int priority;       /* lower goes first */
	char vault_name[128];   /* "" when the key comes from a file */
	char key_file[512];     /* "" when the key comes from the vault */
	char *secret;       /* sodium_malloc'd provider key, or NULL while unknown */
	int64_t secret_at;  /* when it was fetched (monotonic ms) */
	int64_t retry_at;   /* next vault attempt after a failure */
	struct gw_breaker brk;
};

/* Parse gateway.upstreams ("name,style,url,priority,vault:NAME|file:PATH;...") into ups
 * sorted by priority. */
int gw_upstreams_parse(const char *text, struct gw_upstream *ups, int max, int *n, char *why,
    size_t whylen);
/* Read a 0600 key file into sodium_malloc'd memory (*out, caller sodium_free's). */
int gw_keyfile_read(const char *path, char **out, char *why, size_t whylen);

/* ---------------------------------------------------------------- the process state */

struct gw {
	pthread_mutex_t mu;
	int mu_ok;
	const struct jido_conf *conf;
	char home[4096];
	struct sqlite3 *db;
	struct gw_upstream ups[GW_MAX_UP];
	int nups;
	struct gw_price *prices;
	size_t nprices;
	long long max_body;
	long long connect_ms, read_ms;
	/* HTTP thread (started on the first tick, so it runs under the seccomp filter) */
	int lfd_unix, lfd_tcp;
	char unix_path[4200];
	struct event_base *base;
	struct evconnlistener *lst_unix, *lst_tcp;
	struct event *stop_ev, *curl_timer;
	int stop_pipe[2]; /* main thread writes a byte to stop the HTTP thread */
	CURLM *multi;
	pthread_t thr;
	int thr_started;
	int calls; /* in flight (HTTP thread only) */
	/* Backpressure: a stream with more than stream_high bytes waiting for its client
	 * pauses its upstream transfer until the client's buffer drains to stream_low. */
	long long stream_high, stream_low;
	uint64_t streams_paused;  /* times a stream was paused (atomic: read by metrics) */
	uint64_t stream_peak;     /* most bytes seen waiting for one client (atomic) */
	struct http_conn *conns; /* open client connections (HTTP thread only) */
	struct http_conn *held;  /* connections whose answers wait for the flush (HTTP thread) */
	/* Group commit (HTTP thread): flush_ev, made active by the first record of a loop
	 * pass, runs after the events already active in it (the rest of that epoll batch),
	 * writes what call_account queued and releases the held answers. */
	struct event *flush_ev;
	int flush_armed;
	CURL *easy_pool[16];     /* reset easy handles for the next transfer (HTTP thread) */
	int neasy;
	/* Usage records waiting for the planner and the auditor (tick drains, under mu). */
	struct gw_outmsg { struct gw_record *rec; json_t *audit; } outbox[GW_OUTBOX_MAX];
	                                  /* a ring of one or the other: the oldest at outbox_head */
	size_t outbox_head, outbox_n;
	uint64_t outbox_dropped;
	int64_t planner_down_until, auditor_down_until;
	int64_t trimmed_at;       /* main thread: the last malloc_trim */
};

/* gw_store_flush's written callback (arg: the struct gw): queue a record now in gateway.db
 * (a reference of its own) for the planner and the auditor; when full, the oldest message
 * is dropped (a record stays in gateway.db). Caller holds gw.mu. */
void gw_outbox_written(struct gw_record *rec, void *g);

/* ---------------------------------------------------------------- http.c */

/* Start listening on fds already bound (open hook) and serve on g->base. */
int gw_http_listen(struct gw *g, char *why, size_t whylen);
void gw_http_stop(struct gw *g);

/* Request accessors for proxy.c (borrowed, valid while the request lives). */
const char *http_method(const struct http_conn *c);
const char *http_target(const struct http_conn *c); /* path + query as sent */
const char *http_header(const struct http_conn *c, const char *name);
/* Iterate headers: returns 0 and sets name/value for index i, -1 past the end. */
int http_header_at(const struct http_conn *c, int i, const char **name, const char **value);
const char *http_body(const struct http_conn *c, size_t *len);
void http_set_call(struct http_conn *c, void *call);

/* Replies. extra: "Name: value\r\n" lines (may be NULL). Each finishes the request
 * (stream_end for streams); the connection then serves the next or closes. */
void http_reply(struct http_conn *c, int status, const char *ctype, const char *extra,
    const char *body, size_t len);
/* The same with the body moved out of an evbuffer (left empty; extra is read first). */
void http_reply_evbuf(struct http_conn *c, int status, const char *ctype, const char *extra,
    struct evbuffer *body);
void http_stream_start(struct http_conn *c, int status, const char *extra);
void http_stream_write(struct http_conn *c, const char *buf, size_t len);
void http_stream_end(struct http_conn *c);
/* Drop the connection at once (a stream that broke upstream: the client must see it end
 * without the final chunk). The call must already be detached (http_set_call NULL). */
void http_abort(struct http_conn *c);
/* Hold what is and will be written to c until gw_http_release: an answer goes out only
 * after the group commit that made its usage record durable. */
void http_hold(struct http_conn *c);
/* Let every held connection write again (after the flush). */
void gw_http_release(struct gw *g);
/* Bytes waiting to be written to the client (for backpressure). */
size_t http_pending(const struct http_conn *c);
/* A stream's client buffer drained to gw.stream_low (http.c calls it from the client's
 * write callback while a call is attached): resume a paused upstream transfer. */
void gw_proxy_drained(void *call);

/* ---------------------------------------------------------------- proxy.c */

/* A whole request arrived on c: route, authenticate, forward. */
void gw_proxy_request(struct gw *g, struct http_conn *c);
/* The client went away while call was in flight: cancel upstream, free call. */
void gw_proxy_abort(void *call);
/* An error answer in the style's own format (Anthropic or OpenAI). */
void gw_proxy_error(struct http_conn *c, int style, int status, const char *type,
    const char *msg);
int gw_proxy_init(struct gw *g, char *why, size_t whylen);
void gw_proxy_fini(struct gw *g);

#endif
