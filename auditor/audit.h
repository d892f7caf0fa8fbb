/*
 * audit.h - what the files of jido-auditor share: the Merkle tree (merkle.c), the record
 * and checkpoint line formats and the verifier (record.c), the durable store (store.c),
 * the commit queue and handler (auditor.c) and the daemon/filter drivers (serve.c).
 *
 * The log file ($home/audit/audit.log) is JSON lines, opened O_APPEND, never rewritten:
 *   record:     {"seq":N,"prev":"<leaf of N-1>","time":..,"actor":..,...,"leaf":"<hex>"}
 *   checkpoint: {"checkpoint":{"tree_size":N,"root":..,"time":..,"key":..,"sig":..}}
 * leaf = SHA-256(0x00 || the record line without its ,"leaf":"..." member), the RFC 9162
 * leaf hash; the Merkle tree over the leaves uses 0x01 || left || right for nodes.
 */
#ifndef AUDIT_H
#define AUDIT_H

#include <pthread.h>
#include <stdint.h>

#include "jido.h"

#define AM_HASH 32
#define AM_MAXH 64            /* frontier / proof length bound (2^64 leaves) */
#define AR_DETAILS_MAX 16384  /* details cap after redaction, in bytes of JSON */
#define AR_FIELD_MAX 512      /* actor, action, subject, run_id, result */
#define AR_LINE_MAX (64 * 1024)
#define AR_LEAF_SUFFIX 75     /* strlen(",\"leaf\":\"") + 64 + strlen("\"}") */

/* ------------------------------------------------------------ merkle.c */

/* SHA-256(0x00 || data) and SHA-256(0x01 || l || r) (RFC 9162 section 2.1.1). */
void am_leaf(const void *data, size_t len, uint8_t out[AM_HASH]);
void am_node(const uint8_t l[AM_HASH], const uint8_t r[AM_HASH], uint8_t out[AM_HASH]);

/* The right edge of a Merkle tree: roots of its perfect subtrees, largest first.
 * Appending a leaf costs O(log n); it is what the store persists. */
struct am_frontier {
	uint64_t size;
	int n;
	uint8_t h[AM_MAXH][AM_HASH];
};
void am_frontier_append(struct am_frontier *f, const uint8_t leaf[AM_HASH]);
/* The tree head MTH of the leaves appended so far (SHA-256("") when empty). */
void am_frontier_root(const struct am_frontier *f, uint8_t out[AM_HASH]);
/* Serialize as n*32 bytes (size kept separately) / restore; restore checks the count of
 * subtrees against popcount(size). */
size_t am_frontier_bytes(const struct am_frontier *f, uint8_t *buf);
int am_frontier_restore(struct am_frontier *f, uint64_t size, const uint8_t *buf, size_t len);

/* MTH(D[0:n]) over an array of leaf hashes. */
void am_mth(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint8_t out[AM_HASH]);
/* Inclusion proof PATH(m, D[0:n]) and consistency proof PROOF(m, D[0:n]) (RFC 6962
 * 2.1.1/2.1.2, RFC 9162 2.1.3/2.1.4). out holds up to AM_MAXH hashes; *len is set.
 * JIDO_EVALIDATION when m is out of range. */
int am_inclusion(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint64_t m,
    uint8_t (*out)[AM_HASH], size_t *len);
int am_consistency(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint64_t m,
    uint8_t (*out)[AM_HASH], size_t *len);

/* Lower-case hex of 32 bytes into out[65]; parse back (0 or JIDO_EVALIDATION). */
void am_hex(const uint8_t h[AM_HASH], char out[65]);
int am_unhex(const char *hex, uint8_t h[AM_HASH]);

/* ------------------------------------------------------------ record.c */

/* The indexed record fields, in record order: actor, channel, action, subject, run_id,
 * result. */
#define AR_NFIELDS 6
extern const char *const ar_field_names[AR_NFIELDS];
/* Check an audit.append payload against the wire contract, redact every string (known
 * secret values in `known`, NULL-terminated, may be NULL), cap details at 16 KB. On
 * success *tail is a malloc'd compact JSON object text (actor, channel, action, subject,
 * run_id, result, details in that order: what json_dumps(JSON_COMPACT) makes of that
 * object), owned by the caller; *fields (may be NULL) a malloc'd block of the AR_NFIELDS
 * redacted field values, each NUL-terminated (run_id empty when absent), for the index.
 * data is borrowed. */
int ar_prepare(json_t *data, const char *const *known, char **tail, char **fields, char *why,
    size_t whylen);
/* Build the record line for seq from a prepared tail: into *line (malloc'd, caller
 * frees, ends with '\n'), its length and leaf hash. prev is the previous leaf. */
int ar_line(uint64_t seq, const uint8_t prev[AM_HASH], const char *time, const char *tail,
    char **line, size_t *len, uint8_t leaf[AM_HASH]);
/* The leaf hash of a record line (without its '\n'), checking its "leaf" member: 0, or
 * JIDO_EINTEGRITY with why. */
int ar_line_leaf(const char *line, size_t len, uint8_t leaf[AM_HASH], char *why,
    size_t whylen);

/* A signed tree head. */
struct ar_checkpoint {
	uint64_t size;
	uint8_t root[AM_HASH];
	char time[40];
	uint8_t key[32];
	uint8_t sig[64];
};
/* Sign (sk: libsodium 64-byte secret key) and format as one line with '\n' into *line
 * (malloc'd, caller frees). */
int ar_checkpoint_sign(struct ar_checkpoint *cp, const uint8_t sk[64], char **line,
    size_t *len);
/* Parse a checkpoint line or a bare checkpoint object and check its signature against
 * its own key. 0, JIDO_EVALIDATION (not a checkpoint) or JIDO_EINTEGRITY (bad sig). */
int ar_checkpoint_parse(const char *text, size_t len, struct ar_checkpoint *cp, char *why,
    size_t whylen);
json_t *ar_checkpoint_json(const struct ar_checkpoint *cp);

/* The verifier: recomputes every leaf, the chain, the tree and every checkpoint. */
struct ar_verify {
	int ok;
	const char *what;   /* "record", "checkpoint", "file" when !ok */
	uint64_t seq;       /* the bad record's seq (position), or records before a checkpoint */
	uint64_t line;      /* 1-based line number of the problem */
	uint64_t records;
	uint64_t checkpoints;
	uint64_t signed_size; /* records covered by the last good checkpoint */
	uint64_t torn;        /* torn fragments the auditor marked at restart */
	uint8_t root[AM_HASH];
	char why[256];
};
/* Verify the log read from fd (its first limit bytes; 0 = to the end). trust (may be NULL): a checkpoint kept elsewhere; the file
 * must contain at least its records with the same root at its size, and every inline
 * checkpoint must carry its key. Returns 0 when the run completed (see r->ok), or
 * JIDO_EINTERNAL when reading failed. */
int ar_verify_fd(int fd, uint64_t limit, const struct ar_checkpoint *trust, struct ar_verify *r);
json_t *ar_verify_json(const struct ar_verify *r);
/* 1 when line is the marker {"torn":{"offset":off,"bytes":len}} that the auditor appends
 * after terminating a fragment left by a torn write (a crash inside write(2)). */
int ar_torn_matches(const char *line, size_t len, uint64_t off, uint64_t flen);

/* ------------------------------------------------------------ store.c */

struct as_store;

/* One record on its way to the log. tail/fields (ar_prepare) are owned by the entry's
 * creator. */
struct as_entry {
	char *tail;
	char *fields;
	/* results, filled by as_commit */
	int rc;
	uint64_t seq;
	uint8_t leaf[AM_HASH];
};

/* Open (creating) the log, the index and the signing key under home; recover the index
 * and frontier from the log tail. On success *out is owned by the caller (as_close). */
int as_open(const struct jido_conf *c, const char *home, struct as_store **out, char *why,
    size_t whylen);
/* Write a final checkpoint when records are unsigned, then release everything. */
void as_close(struct as_store *st);
/* Append entries as one write + fdatasync (+ a checkpoint when due), then index them.
 * n may be 0 (a timer tick: writes a checkpoint when one is due). Thread-safe. Returns 0
 * or the error also stored in every entry's rc. */
int as_commit(struct as_store *st, struct as_entry **e, size_t n);
/* The same, calling durable(arg) as soon as every entry's rc/seq/leaf is final (after the
 * fdatasync, before indexing; under the store's lock, so it must not call back into the
 * store). The entries must stay valid until as_commit_cb returns. */
int as_commit_cb(struct as_store *st, struct as_entry **e, size_t n,
    void (*durable)(void *arg), void *arg);
/* Start the indexer thread (the daemon): from then on commits leave their index rows to
 * it. as_close stops it once it has indexed everything. */
int as_indexer_start(struct as_store *st);
/* Make a checkpoint now if any record is unsigned; the latest into *cp (0 or
 * JIDO_ENOTFOUND when the log is empty). */
int as_checkpoint(struct as_store *st, int force, struct ar_checkpoint *cp);
/* Queries and proofs, answering the handler's verbs; *out is a new reference. */
int as_query(struct as_store *st, json_t *q, int tail, json_t **out, char *why, size_t whylen);
int as_export(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen);
int as_inclusion(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen);
int as_consistency(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen);
int as_verify(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen);
int as_stats(struct as_store *st, json_t **out);
const char *const *as_known_secrets(struct as_store *st);

/* ------------------------------------------------------------ auditor.c / serve.c */

extern const struct jido_proc auditor_proc;
/* Start/stop the group-commit thread (serve mode); without it appends commit inline. */
int auditor_committer_start(struct jido_srv *s);
/* The exact secret values every record is redacted against (borrowed). */
const char *const *auditor_known(struct jido_srv *s);
/* Queue a fire-and-forget record (tail/fields taken). */
int auditor_enqueue_async(struct jido_srv *s, char *tail, char *fields);
/* Queue the n prepared records of one pushed batch (tails/fields taken, always released)
 * numbered `batch` by the pushing process `client`, and note its arrival for audit.flush;
 * rejected with n = 0: only its progress (as refused). Waits while the backlog is full. */
#define AQ_CLIENT_MAX 64
int auditor_enqueue_push(struct jido_srv *s, const char *client, uint64_t batch, char **tails,
    char **fields, size_t n, int rejected);
/* 1 when id is a pushing client's id: 1..AQ_CLIENT_MAX of [A-Za-z0-9_-]. */
int auditor_client_valid(const char *id);

/* A queued record. Synchronous ones belong to their caller: either it blocks until done,
 * or complete(arg, e) is called on the committer's thread once e is durable (e->rc 0) or
 * failed, after which the item is the caller's again (its tail/fields already released).
 * An item without a tail is a marker carrying a rejected batch's progress. */
struct aq_mark;
struct aq_item {
	struct as_entry e;
	int sync, done;
	void (*complete)(void *arg, const struct as_entry *e);
	void *arg;
	struct aq_mark *mark; /* on the last item of a pushed batch; freed by the committer */
	struct aq_item *next;
};
/* Queue a prepared synchronous record (it->e.tail/fields set, taken) answered through
 * it->complete. JIDO_EUNAVAIL when the committer is not running or stopping: nothing was
 * queued and it->e is still the caller's. */
int auditor_enqueue_sync(struct jido_srv *s, struct aq_item *it);
/* Queue n prepared synchronous items at once (consecutive in the queue, so normally one
 * commit), each answered through its complete(); JIDO_EUNAVAIL as auditor_enqueue_sync. */
int auditor_enqueue_sync_n(struct jido_srv *s, struct aq_item **its, size_t n);
/* Commit one prepared entry now, without the committer (filter mode): 0 or its error. */
int auditor_commit_inline(struct jido_srv *s, struct as_entry *e);

/* many.c: audit.append_many {records: [1..JIDO_AUDIT_BATCH_MAX]}, each record on its own.
 * auditor_many_new validates the shape (else JIDO_EVALIDATION, nothing kept) and prepares
 * every record, noting the error of each refused one; *m is the caller's (data borrowed),
 * released with auditor_many_free. auditor_many_enqueue queues the prepared records and
 * calls complete(arg, m) once every one is answered (on the committer's thread, or at once
 * when none was queued); JIDO_EUNAVAIL: nothing queued, complete is not called.
 * auditor_many_commit_inline writes them without the committer (filter mode).
 * auditor_many_data makes the answer {results: [{seq, leaf_hash} | {error, why}]} in
 * record order (new reference, NULL when out of memory). */
struct aq_many;
int auditor_many_new(struct jido_srv *s, json_t *data, struct aq_many **m, char *why,
    size_t whylen);
int auditor_many_enqueue(struct jido_srv *s, struct aq_many *m,
    void (*complete)(void *arg, struct aq_many *m), void *arg);
void auditor_many_commit_inline(struct jido_srv *s, struct aq_many *m);
json_t *auditor_many_data(struct aq_many *m);
void auditor_many_free(struct aq_many *m);
/* Dispatch one raw request: accepts the wire names audit.* as well as auditor.*. The
 * reply is the caller's. _at: the request arrived at arrived_ms (jido_now_ms), earlier
 * than now when it waited in a queue; an audit.flush answers by 3/4 of bus.timeout_ms
 * after it. */
json_t *auditor_dispatch(struct jido_srv *s, const void *buf, size_t len,
    const struct jido_peer *peer);
json_t *auditor_dispatch_at(struct jido_srv *s, const void *buf, size_t len,
    const struct jido_peer *peer, int64_t arrived_ms);
/* serve/filter drivers (serve.c) and subcommands verify/load. */
int auditor_run(const char *cmd, const char *file, const char *home, const char *level);
int auditor_command(int argc, char **argv);

#endif
