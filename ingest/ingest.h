/*
 * ingest.h - what the files of jido-ingest share: signature checks (sig.c), the
 * normalizer (norm.c), the durable spool (spool.c), the webhook secrets (secret.c), the
 * HTTP receiver (http.c) and the process's private state (ingest.c).
 */
#ifndef JIDO_INGEST_H
#define JIDO_INGEST_H

#include <pthread.h>
#include <stdint.h>

#include "jido.h"

struct sqlite3;
struct sqlite3_stmt;

/* ---------------------------------------------------------------- sig.c */

#define INGEST_SIG_PREFIX "sha256="
#define INGEST_SECRET_MAX 1024

/* Check an X-Hub-Signature-256 header value ("sha256=" + 64 hex digits) against the
 * HMAC-SHA256 of body under secret (slen bytes). Constant time in the digest compare.
 * Returns 0 when it matches, JIDO_EAUTHZ when it does not, JIDO_EVALIDATION when the
 * header is not of that form, JIDO_EINTERNAL when libcrypto cannot compute the HMAC.
 * Nothing is allocated. */
int ingest_sig_check(const void *secret, size_t slen, const char *header, const void *body,
    size_t len);
/* The header value for body under secret into out (at least 72 bytes). For tests, the
 * filters and the benchmark. */
void ingest_sig_make(const void *secret, size_t slen, const void *body, size_t len,
    char *out, size_t outlen);

/* ---------------------------------------------------------------- norm.c */

/* Is event one of the GitHub event names normalized to events.<event>? */
int ingest_norm_handled(const char *event);
/* Normalize one webhook payload (borrowed) of GitHub event `event` with delivery id
 * `delivery` into *data (a new reference the caller owns) and its envelope type into
 * type (at least JIDO_TYPE_MAX + 1 bytes): "events.<event>" for handled events,
 * "events.github.other" otherwise. JIDO_EVALIDATION (why says so) when the payload is not
 * a JSON object or event is not a valid event name. */
int ingest_norm(const char *event, const char *delivery, const json_t *payload, json_t **data,
    char *type, size_t typelen, char *why, size_t whylen);
/* Is s a valid event name ([a-z][a-z0-9_]{0,63})? */
int ingest_event_name_ok(const char *s);
/* Is s a usable delivery id (1..128 printable ASCII, no spaces)? */
int ingest_delivery_id_ok(const char *s);

/* ---------------------------------------------------------------- spool.c */

/* One open spool database (its own connection; one per thread). */
struct ingest_spool {
	struct sqlite3 *db;
	struct sqlite3_stmt *put;
	int64_t redeliver_ms; /* first re-send of a stored row is due this long after */
};

/* A delivery to store. All fields borrowed. */
struct ingest_row {
	const char *id;        /* X-GitHub-Delivery, or sync:<...> */
	const char *source;    /* "webhook" or "sync" */
	const char *event;     /* GitHub event name (or github.issue.synced, ...) */
	const char *hook_id;   /* may be NULL */
	const char *action;    /* may be NULL */
	const char *repo;      /* may be NULL */
	const char *status;    /* "pending" or "rejected" */
	const char *reason;    /* why rejected, or NULL */
	const char *headers;   /* JSON object text */
	const char *payload;   /* the JSON payload text (webhook) or event data (sync) */
	size_t payload_len;
};

/* Open (creating, migrating) the spool at path. On 0, close with ingest_spool_close. */
int ingest_spool_open(const char *path, struct ingest_spool *sp, char *why, size_t whylen);
void ingest_spool_close(struct ingest_spool *sp);
/* Store r in one transaction, marked as sent now (the caller publishes right after).
 * 0: stored; JIDO_ECONFLICT: a row with that id exists (nothing changed); other: failed. */
int ingest_spool_put(struct ingest_spool *sp, const struct ingest_row *r, int64_t now_ms,
    char *why, size_t whylen);
/* Mark ids acknowledged. *acked receives how many pending rows changed. When any did,
 * pending rows last sent before the newest of those sends and backed off beyond
 * sp->redeliver_ms are due again sp->redeliver_ms after their last send (a subscriber
 * is consuming: what it missed is re-sent soon, the longest-unsent first). One
 * transaction. */
int ingest_spool_ack(struct ingest_spool *sp, const json_t *ids, int64_t now_ms, int *acked,
    char *why, size_t whylen);
/* Pending rows due for re-sending (next_at <= now), at most max, as a new array of
 * objects {id, source, event, payload}; marks each as sent again now with the next
 * attempt backed off from redeliver_ms. */
int ingest_spool_due(struct ingest_spool *sp, int64_t now_ms, int64_t redeliver_ms, int max,
    json_t **rows, char *why, size_t whylen);
/* Delete rows received before cutoff_ms; *n receives how many. */
int ingest_spool_prune(struct ingest_spool *sp, int64_t cutoff_ms, int *n, char *why,
    size_t whylen);
/* List rows, newest first, filtered by event and status (NULL: any), at most limit.
 * *out: a new array. */
int ingest_spool_list(struct ingest_spool *sp, const char *event, const char *status,
    int limit, json_t **out, char *why, size_t whylen);
/* One row with headers and payload; JIDO_ENOTFOUND when absent. *out: a new object. */
int ingest_spool_show(struct ingest_spool *sp, const char *id, json_t **out, char *why,
    size_t whylen);
/* Make id pending again and due now (replay). JIDO_ENOTFOUND when absent,
 * JIDO_ECONFLICT when it was rejected. */
int ingest_spool_requeue(struct ingest_spool *sp, const char *id, int64_t now_ms, char *why,
    size_t whylen);
/* Copy id as a new pending row new_id (replay --as-new). */
int ingest_spool_copy(struct ingest_spool *sp, const char *id, const char *new_id,
    int64_t now_ms, char *why, size_t whylen);
/* Count rows by status into a new object {pending, acked, rejected, total}. */
int ingest_spool_counts(struct ingest_spool *sp, json_t **out, char *why, size_t whylen);

/* Wall clock, milliseconds since the epoch. */
int64_t ingest_wall_ms(void);

/* The event (type and data) of a stored row {source, event, id, payload}: webhook rows
 * are normalized from their payload, sync rows carry their data. *data: new reference. */
int ingest_row_event(const json_t *row, json_t **data, char *type, size_t typelen, char *why,
    size_t whylen);

/* ---------------------------------------------------------------- secret.c */

/* The webhook secrets in force: the current one and, during a rotation, the previous. */
struct ingest_secrets {
	pthread_mutex_t mu;
	unsigned char *cur, *prev; /* sodium_malloc'd, or NULL */
	size_t cur_len, prev_len;
	int64_t loaded_ms;         /* monotonic time of the last successful load, 0 never */
	int64_t tried_ms;
	int64_t file_mtime;
};

void ingest_secrets_init(struct ingest_secrets *k);
/* Wipe and free both secrets. */
void ingest_secrets_clear(struct ingest_secrets *k);
/* Load from a file: first line the current secret, optional second line the previous
 * one. The file must be a regular file not readable or writable by group or others.
 * Replaces what k held only on success. why never contains the secret. */
int ingest_secrets_load_file(struct ingest_secrets *k, const char *path, char *why,
    size_t whylen);
/* Load from jido-vault: github.webhook_secret (current version, and version-1 when the
 * vault still serves it during a rotation's grace period). */
int ingest_secrets_load_vault(struct ingest_secrets *k, const struct jido_conf *c,
    const char *home, char *why, size_t whylen);
/* Verify a signature header against the current, then the previous secret.
 * 0 match; JIDO_EAUTHZ no match; JIDO_EVALIDATION bad header; JIDO_ESECRET no secret. */
int ingest_secrets_verify(struct ingest_secrets *k, const char *header, const void *body,
    size_t len);
/* Read a one-line secret-like value (token) from a 0600 file into a sodium_malloc'd
 * NUL-ended buffer (*out; free with sodium_free). */
int ingest_secret_file_read(const char *path, char **out, char *why, size_t whylen);

/* One secret value from jido-vault (current version) into a sodium_malloc'd NUL-ended
 * buffer (*out; sodium_free). */
int ingest_vault_value(const struct jido_conf *c, const char *home, const char *name,
    char **out, char *why, size_t whylen);

/* ---------------------------------------------------------------- sync.c */

struct ingest_sync; /* opaque: the REST sync thread */

/* Prepare the sync (its own spool connection, libcurl) before seccomp; nothing runs yet.
 * On 0, *out is owned by the caller (ingest_sync_free). */
int ingest_sync_new(const struct jido_conf *c, const char *home, const char *spool_path,
    struct jido_srv *s, struct ingest_sync **out, char *why, size_t whylen);
/* Start the thread (after seccomp). */
int ingest_sync_start(struct ingest_sync *y, char *why, size_t whylen);
/* Stop the thread, free. NULL is fine. */
void ingest_sync_free(struct ingest_sync *y);
/* Ask for a round now (on-demand refresh). */
void ingest_sync_trigger(struct ingest_sync *y);
/* What the last round saw: a new object {repos: [...], fetched_at, last_error, rounds,
 * blocked_until}. */
json_t *ingest_sync_status(struct ingest_sync *y);

/* ---------------------------------------------------------------- http.c */

struct ingest_http; /* opaque: the receiver thread */

/* Counters the receiver keeps (atomic). */
struct ingest_stats {
	uint64_t received, stored, duplicates, bad_signature, rate_limited, rejected,
	    too_large, failed, batches;
};

/* Bind the listener on addr ("host:port") before seccomp; nothing runs yet.
 * max_body: the body limit in bytes. spool_path: the database the thread opens itself.
 * On 0, *out is owned by the caller (ingest_http_free). */
int ingest_http_new(const char *addr, size_t max_body, const char *spool_path,
    struct ingest_secrets *k, struct jido_srv *s, const struct jido_conf *c,
    struct ingest_http **out, char *why, size_t whylen);
/* Start serving in a thread (after seccomp, so that the thread inherits the filter). */
int ingest_http_start(struct ingest_http *h, char *why, size_t whylen);
/* Stop the thread (if started), close the listener, free. NULL is fine. */
void ingest_http_free(struct ingest_http *h);
/* Snapshot of the counters. */
void ingest_http_stats(struct ingest_http *h, struct ingest_stats *st);
/* The port actually bound (for ":0"). */
int ingest_http_port(const struct ingest_http *h);

/* ---------------------------------------------------------------- cmd.c */

/* jido-ingest verify / normalize. Returns the exit code, or -1 when argv[0] is neither. */
int ingest_command(int argc, char **argv);

#endif
