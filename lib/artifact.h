/*
 * artifact.h - the run artifact store (artifact.c): blobs content-addressed by SHA-256
 * under <root>/blobs/<aa>/<hash> (one file per content, written temp + fsync + rename),
 * metadata in <root>/artifacts.db (run, lineage, attempt, step, name, kind, version,
 * hash, size, media type, created, redaction, expiry). Everything is redacted
 * (lib/redact.c) on its way in; what cannot be redacted is never stored.
 *
 * Ownership: the planner opens the store read-write (it is the only writer); readers
 * (the web, the CLI) only need jido_art_blob_path and read access to the blob files.
 */
#ifndef JIDO_ARTIFACT_H
#define JIDO_ARTIFACT_H

#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#define JIDO_ART_NAME_MAX 128
#define JIDO_ART_DAY_MS (24LL * 3600 * 1000)

struct jido_art;  /* opaque: an open store */

/* What an artifact belongs to. Strings borrowed for the call. */
struct jido_art_meta {
	const char *run_id;
	const char *lineage;     /* root run of the retry chain (versions count per lineage) */
	int run_attempt;         /* the run's attempt (1 + number of retries before it) */
	int seq;                 /* step seq (0: the run itself) */
	const char *step;        /* step id, or NULL */
	int step_attempt;
	const char *name;        /* [A-Za-z0-9][A-Za-z0-9._-]{0,127} */
	const char *kind;        /* log transcript diff report cost_summary plan pr_url other */
	const char *media_type;  /* NULL: the kind's default */
};

/* Retention per kind in days (0 = for the run's life). */
struct jido_art_retention {
	int log_days, transcript_days, other_days;
};

/* Open (creating) the store under root (made 0750). On 0 *out is owned by the caller
 * (jido_art_close). */
int jido_art_open(const char *root, struct jido_art **out, char *why, size_t whylen);
/* For a reader (the web): the store's metadata read-only, for jido_art_get/list/history
 * only (it never creates anything). JIDO_ENOTFOUND when the planner has not made it yet. */
int jido_art_open_ro(const char *root, struct jido_art **out, char *why, size_t whylen);
void jido_art_close(struct jido_art *a);
void jido_art_set_retention(struct jido_art *a, const struct jido_art_retention *r);

/* 1 when name/kind are valid. */
int jido_art_name_ok(const char *name);
int jido_art_kind_ok(const char *kind);
/* The kind's default media type. Static. */
const char *jido_art_media_default(const char *kind);

/* The path of a blob: <root>/blobs/<first two hex>/<hash>. EVALIDATION when it does not
 * fit or hash is not 64 lowercase hex. */
int jido_art_blob_path(const char *root, const char *hash, char *buf, size_t len);

/* What a blob write produced. */
struct jido_art_blob {
	char hash[65];
	uint64_t size;
	int redacted;    /* the redactor changed something */
};

/* The blob half of a put, safe to run in another thread than the store's owner (it touches
 * only files under root): redact data (or fd when data is NULL) with known, hash it, and
 * write the blob once (temp + fsync + rename; an existing one is reused). */
int jido_art_blob_write(const char *root, const char *data, size_t len, int fd,
    const char *const *known, struct jido_art_blob *b, char *why, size_t whylen);
/* The metadata half: check m and record b as the next version of (m->lineage, m->name). */
int jido_art_record(struct jido_art *a, const struct jido_art_meta *m,
    const struct jido_art_blob *b, int64_t now_ms, json_t **out, char *why, size_t whylen);
/* Validate m (name, kind, media type): 0 or JIDO_EVALIDATION with why. */
int jido_art_meta_check(const struct jido_art_meta *m, char *why, size_t whylen);
/* The store's root directory. Borrowed. */
const char *jido_art_root(const struct jido_art *a);

/* Store len bytes of data (or the whole of fd read from its current offset, when data is
 * NULL) as the next version of (m->lineage, m->name): redacted with known (may be NULL)
 * and the token patterns, hashed, written once (an existing blob is reused), then the
 * metadata row. On 0 *out (may be NULL) is a new reference to the row (jido_art_row).
 * A redaction failure is JIDO_EINTEGRITY and nothing is stored. now_ms: wall clock. */
int jido_art_put(struct jido_art *a, const struct jido_art_meta *m, const char *data,
    size_t len, int fd, const char *const *known, int64_t now_ms, json_t **out, char *why,
    size_t whylen);

/* The latest version of each name of a lineage, oldest name first, each with
 * "versions" (count). New reference in *out: {"artifacts": [row...]}. */
int jido_art_list(struct jido_art *a, const char *lineage, json_t **out);
/* Every version of (lineage, name), v1 first: {"name", "versions": [row...]}; NOTFOUND. */
int jido_art_history(struct jido_art *a, const char *lineage, const char *name, json_t **out);
/* One version (0 = latest) of (lineage, name): a row; NOTFOUND. */
int jido_art_get(struct jido_art *a, const char *lineage, const char *name, int version,
    json_t **out);

/* For readers: the blob at home/rel (rel as a planner.artifacts.get row's "path": relative,
 * no "..") into a malloc'd *buf of *len bytes (caller frees). JIDO_EVALIDATION for a bad
 * rel, JIDO_ENOTFOUND when the file is gone, JIDO_ECONFLICT when it is larger than max,
 * JIDO_EINTERNAL when it cannot be read. */
int jido_art_read(const char *home, const char *rel, size_t max, char **buf, size_t *len);

/* Totals: rows, blobs, bytes (distinct blobs), logical_bytes (sum of rows). */
int jido_art_usage(struct jido_art *a, json_t **out);

/* The sweeper's question about a run: 0 prunable once expired, 1 protected (pending,
 * running, open approval), 2 gone (prune everything of it). */
typedef int (*jido_art_keep_fn)(const char *run_id, void *arg);

/* Prune rows past their expiry whose run keep() does not protect, and every row of a run
 * that is gone; then the blob files no row references. Counts into *rows and *blobs (may be
 * NULL). */
int jido_art_sweep(struct jido_art *a, int64_t now_ms, jido_art_keep_fn keep, void *arg,
    int *rows, int *blobs);

#endif
