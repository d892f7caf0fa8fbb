/*
 * artifact.c - the run artifact store (see artifact.h): redaction on the way in, SHA-256
 * content addressing with atomic blob writes and deduplication, versions per (lineage,
 * name), listing, history, disk usage and the retention sweeper.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "jido.h"
#include "artifact.h"

#define ART_CHUNK (1u << 20)          /* redaction works on line-cut chunks of ~1 MiB */
#define ART_CHUNK_MAX (16u << 20)     /* a line or PEM block longer than this is cut */

struct jido_art {
	char root[4096];
	sqlite3 *db;
	struct jido_art_retention ret;
};

static const char *const art_migrations[] = {
	"CREATE TABLE artifacts ("
	" id INTEGER PRIMARY KEY,"
	" run_id TEXT NOT NULL, lineage TEXT NOT NULL, run_attempt INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, step TEXT, step_attempt INTEGER NOT NULL,"
	" name TEXT NOT NULL, kind TEXT NOT NULL, version INTEGER NOT NULL,"
	" hash TEXT NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL, redaction TEXT NOT NULL, expires_ms INTEGER NOT NULL,"
	" UNIQUE (lineage, name, version));"
	"CREATE INDEX artifacts_hash ON artifacts(hash);"
	"CREATE INDEX artifacts_run ON artifacts(run_id);"
	"CREATE INDEX artifacts_expiry ON artifacts(expires_ms) WHERE expires_ms > 0;",
};

static const struct {
	const char *kind, *media;
} art_kinds[] = {
	{ "log", "text/plain; charset=utf-8" },
	{ "transcript", "application/x-ndjson" },
	{ "diff", "text/x-diff; charset=utf-8" },
	{ "report", "text/plain; charset=utf-8" },
	{ "cost_summary", "application/json" },
	{ "plan", "text/markdown; charset=utf-8" },
	{ "pr_url", "text/plain; charset=utf-8" },
	{ "other", "application/octet-stream" },
};

int
jido_art_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > JIDO_ART_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return strstr(name, "..") == NULL;
}

int
jido_art_kind_ok(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < sizeof(art_kinds) / sizeof(art_kinds[0]); i++)
		if (strcmp(art_kinds[i].kind, kind) == 0)
			return 1;
	return 0;
}

const char *
jido_art_media_default(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < sizeof(art_kinds) / sizeof(art_kinds[0]); i++)
		if (strcmp(art_kinds[i].kind, kind) == 0)
			return art_kinds[i].media;
	return "application/octet-stream";
}

static int
art_hash_ok(const char *h)
{
	if (h == NULL || strlen(h) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
			return 0;
	return 1;
}

int
jido_art_blob_path(const char *root, const char *hash, char *buf, size_t len)
{
	int n;

	if (!art_hash_ok(hash))
		return JIDO_EVALIDATION;
	n = snprintf(buf, len, "%s/blobs/%.2s/%s", root, hash, hash);
	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

/* Owns nothing on failure; on 0 *out is the caller's (jido_art_close). */
int
jido_art_open(const char *root, struct jido_art **out, char *why, size_t whylen)
{
	struct jido_art *a = calloc(1, sizeof(*a));
	char path[4200];
	int rc;

	if (a == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
	if (strlen(root) >= sizeof(a->root) - 80) {
		free(a);
		return jido_fail(JIDO_EVALIDATION, why, whylen, "artifact root path too long");
	}
	snprintf(a->root, sizeof(a->root), "%s", root);
	snprintf(path, sizeof(path), "%s/blobs/tmp", root);
	if (jido_mkdirs(path, 0750) != 0) {
		free(a);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create %s: %s", path,
		    strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/incoming", root);
	if (jido_mkdirs(path, 0700) != 0) {
		free(a);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create %s", path);
	}
	snprintf(path, sizeof(path), "%s/artifacts.db", root);
	if ((rc = jido_db_open(path, art_migrations, 1, &a->db, why, whylen)) != 0) {
		free(a);
		return rc;
	}
	jido_db_exec(a->db, "PRAGMA synchronous=FULL", why, whylen);
	a->ret.log_days = 30;
	a->ret.transcript_days = 30;
	a->ret.other_days = 0;
	*out = a;
	return 0;
}

int
jido_art_open_ro(const char *root, struct jido_art **out, char *why, size_t whylen)
{
	struct jido_art *a;
	char path[4200];
	struct stat sb;

	if (strlen(root) >= sizeof(a->root) - 80)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "artifact root path too long");
	snprintf(path, sizeof(path), "%s/artifacts.db", root);
	if (stat(path, &sb) != 0)
		return jido_fail(JIDO_ENOTFOUND, why, whylen, "no %s yet", path);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
	snprintf(a->root, sizeof(a->root), "%s", root);
	if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		jido_fail(JIDO_EINTERNAL, why, whylen, "cannot open %s: %s", path,
		    a->db ? sqlite3_errmsg(a->db) : "out of memory");
		sqlite3_close(a->db);
		free(a);
		return JIDO_EINTERNAL;
	}
	sqlite3_busy_timeout(a->db, 2000);
	*out = a;
	return 0;
}

void
jido_art_close(struct jido_art *a)
{
	if (a == NULL)
		return;
	if (a->db != NULL)
		sqlite3_close(a->db);
	free(a);
}

void
jido_art_set_retention(struct jido_art *a, const struct jido_art_retention *r)
{
	a->ret = *r;
}

/* ------------------------------------------------------------ writing */

struct art_out {
	int fd;
	crypto_hash_sha256_state sha;
	uint64_t size;
	int changed, fail;
};

static void
art_emit(struct art_out *o, const char *p, size_t n)
{
	if (o->fail)
		return;
	crypto_hash_sha256_update(&o->sha, (const unsigned char *)p, n);
	o->size += n;
	while (n > 0) {
		ssize_t w = write(o->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			o->fail = 1;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Redact buf[0..n) (NUL bytes separate the strings jido_redact_str sees; buf[n] must be
 * writable) into o. 0, or JIDO_EINTEGRITY when a redaction failed. */
static int
art_redact_chunk(struct art_out *o, char *buf, size_t n, const char *const *known)
{
	char saved = buf[n];
	size_t i = 0;

	buf[n] = '\0';
	while (i < n) {
		size_t l = strlen(buf + i);
		int changed = 0;
		char *red = jido_redact_str(buf + i, known, &changed);
		if (red == NULL) {
			buf[n] = saved;
			return JIDO_EINTEGRITY;
		}
		o->changed |= changed;
		art_emit(o, red, strlen(red));
		free(red);
		i += l;
		if (i < n) {
			art_emit(o, "", 1);
			i++;
		}
	}
	buf[n] = saved;
	return 0;
}

/* Where to cut pend[0..n) so that no line and no PEM block is split; n when eof. 0 means
 * "read more first". */
static size_t
art_cut(const char *pend, size_t n, int eof)
{
	size_t cut;

	if (eof || n >= ART_CHUNK_MAX)
		return n;
	cut = n;
	while (cut > 0 && pend[cut - 1] != '\n')
		cut--;
	if (cut == 0)
		return 0;
	/* an open "-----BEGIN ... PRIVATE KEY-----" before the cut: wait for its END */
	const char *b = memmem(pend, cut, "-----BEGIN", 10), *last_b = NULL, *last_e = NULL;
	while (b != NULL) {
		last_b = b;
		b = memmem(b + 1, cut - (size_t)(b + 1 - pend), "-----BEGIN", 10);
	}
	if (last_b != NULL) {
		const char *e = memmem(last_b, cut - (size_t)(last_b - pend), "-----END", 8);
		last_e = e;
		if (last_e == NULL)
			return 0;
	}
	return cut;
}

/* Stream data (or fd) through the redactor into o. */
static int
art_pump(struct art_out *o, const char *data, size_t len, int fd, const char *const *known,
    char *why, size_t whylen)
{
	size_t cap = ART_CHUNK * 2 + 1, n = 0, off = 0;
	char *pend = malloc(cap);
	int eof = 0, rc = 0;

	if (pend == NULL)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
	while (!eof || n > 0) {
		if (!eof) {
			if (cap - n < ART_CHUNK + 1) {
				size_t nc = cap * 2;
				char *p = nc <= ART_CHUNK_MAX * 4 ? realloc(pend, nc) : NULL;
				if (p == NULL) {
					rc = jido_fail(JIDO_EINTERNAL, why, whylen, "out of memory");
					break;
				}
				pend = p;
				cap = nc;
			}
			size_t want = ART_CHUNK;
			if (data != NULL) {
				size_t k = len - off < want ? len - off : want;
				memcpy(pend + n, data + off, k);
				off += k;
				n += k;
				eof = off == len;
			} else {
				ssize_t r = read(fd, pend + n, want);
				if (r < 0 && errno == EINTR)
					continue;
				if (r < 0) {
					rc = jido_fail(JIDO_EINTERNAL, why, whylen, "read: %s",
					    strerror(errno));
					break;
				}
				n += (size_t)r;
				eof = r == 0;
			}
		}
		size_t cut = art_cut(pend, n, eof);
		if (cut == 0 && !eof)
			continue;
		if ((rc = art_redact_chunk(o, pend, cut, known)) != 0) {
			jido_fail(rc, why, whylen, "redaction failed: nothing was stored");
			break;
		}
		memmove(pend, pend + cut, n - cut);
		n -= cut;
		if (o->fail) {
			rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot write the blob: %s",
			    strerror(errno));
			break;
		}
	}
	sodium_memzero(pend, cap);
	free(pend);
	return rc;
}

static int
art_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static json_t *
art_row(sqlite3_stmt *st)
{
	const char *step = (const char *)sqlite3_column_text(st, 5);

	return json_pack("{s:s,s:s,s:i,s:i,s:s?,s:i,s:s,s:s,s:i,s:s,s:I,s:s,s:I,s:s,s:I}",
	    "run_id", sqlite3_column_text(st, 1), "lineage", sqlite3_column_text(st, 2),
	    "run_attempt", sqlite3_column_int(st, 3), "seq", sqlite3_column_int(st, 4),
	    "step", step, "step_attempt", sqlite3_column_int(st, 6),
	    "name", sqlite3_column_text(st, 7), "kind", sqlite3_column_text(st, 8),
	    "version", sqlite3_column_int(st, 9), "hash", sqlite3_column_text(st, 10),
	    "size", (json_int_t)sqlite3_column_int64(st, 11),
	    "media_type", sqlite3_column_text(st, 12),
	    "created_ms", (json_int_t)sqlite3_column_int64(st, 13),
	    "redaction", sqlite3_column_text(st, 14),
	    "expires_ms", (json_int_t)sqlite3_column_int64(st, 15));
}

#define ART_COLS "id, run_id, lineage, run_attempt, seq, step, step_attempt, name, kind, " \
	"version, hash, size, media_type, created_ms, redaction, expires_ms"

static int
art_days(const struct jido_art *a, const char *kind)
{
	if (strcmp(kind, "log") == 0)
		return a->ret.log_days;
	if (strcmp(kind, "transcript") == 0)
		return a->ret.transcript_days;
	if (strcmp(kind, "other") == 0)
		return a->ret.other_days;
	return 0; /* diffs, reports, plans, PR links, cost summaries: the run's life */
}

const char *
jido_art_root(const struct jido_art *a)
{
	return a->root;
}

int
jido_art_meta_check(const struct jido_art_meta *m, char *why, size_t whylen)
{
	if (m->run_id == NULL || m->lineage == NULL || !jido_art_name_ok(m->name))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "an artifact needs a run and a "
		    "name of 1-128 of [A-Za-z0-9._-] (not starting with . or -, no ..)");
	if (!jido_art_kind_ok(m->kind))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "kind must be one of log, "
		    "transcript, diff, report, cost_summary, plan, pr_url, other");
	if (m->media_type != NULL && (strlen(m->media_type) == 0 || strlen(m->media_type) > 100 ||
	    strpbrk(m->media_type, "\r\n") != NULL))
		return jido_fail(JIDO_EVALIDATION, why, whylen, "media_type must be 1-100 "
		    "characters on one line");
	return 0;
}

/* The temp file is ours until renamed or unlinked. */
int
jido_art_blob_write(const char *root, const char *data, size_t len, int fd,
    const char *const *known, struct jido_art_blob *b, char *why, size_t whylen)
{
	struct art_out o;
	char tmp[4200], dir[4200], path[4200];
	unsigned char dg[crypto_hash_sha256_BYTES];
	int rc;

	memset(&o, 0, sizeof(o));
	snprintf(tmp, sizeof(tmp), "%s/blobs/tmp/put-XXXXXX", root);
	if ((o.fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create a temp blob: %s",
		    strerror(errno));
	fchmod(o.fd, 0640);
	crypto_hash_sha256_init(&o.sha);
	rc = art_pump(&o, data, len, data != NULL ? -1 : fd, known, why, whylen);
	if (rc == 0 && fsync(o.fd) != 0)
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "fsync: %s", strerror(errno));
	close(o.fd);
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	crypto_hash_sha256_final(&o.sha, dg);
	sodium_bin2hex(b->hash, sizeof(b->hash), dg, sizeof(dg));
	b->size = o.size;
	b->redacted = o.changed;
	snprintf(dir, sizeof(dir), "%s/blobs/%.2s", root, b->hash);
	jido_art_blob_path(root, b->hash, path, sizeof(path));
	if (jido_mkdirs(dir, 0750) != 0) {
		unlink(tmp);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create %s", dir);
	}
	struct stat sb;
	if (stat(path, &sb) == 0 && (uint64_t)sb.st_size == o.size)
		unlink(tmp); /* the same content is stored already: one blob */
	else if (rename(tmp, path) != 0 || art_fsync_dir(dir) != 0) {
		unlink(tmp);
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot store the blob: %s",
		    strerror(errno));
	}
	return 0;
}

int
jido_art_record(struct jido_art *a, const struct jido_art_meta *m,
    const struct jido_art_blob *b, int64_t now_ms, json_t **out, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	int rc, version = 1;
	int64_t id = 0;

	if ((rc = jido_art_meta_check(m, why, whylen)) != 0)
		return rc;
	int days = art_days(a, m->kind);
	int64_t expires = days > 0 ? now_ms + days * JIDO_ART_DAY_MS : 0;
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "artifact database busy");
	if (sqlite3_prepare_v2(a->db, "SELECT coalesce(max(version), 0) + 1 FROM artifacts "
	    "WHERE lineage = ? AND name = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, m->lineage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	st = NULL;
	rc = JIDO_EINTERNAL;
	if (sqlite3_prepare_v2(a->db, "INSERT INTO artifacts (run_id, lineage, run_attempt, seq,"
	    " step, step_attempt, name, kind, version, hash, size, media_type, created_ms,"
	    " redaction, expires_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, m->run_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->lineage, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 3, m->run_attempt);
		sqlite3_bind_int(st, 4, m->seq);
		if (m->step != NULL)
			sqlite3_bind_text(st, 5, m->step, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, m->step_attempt);
		sqlite3_bind_text(st, 7, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, m->kind, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 9, version);
		sqlite3_bind_text(st, 10, b->hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)b->size);
		sqlite3_bind_text(st, 12, m->media_type ? m->media_type :
		    jido_art_media_default(m->kind), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 13, now_ms);
		sqlite3_bind_text(st, 14, b->redacted ? "redacted" : "clean", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 15, expires);
		if (sqlite3_step(st) == SQLITE_DONE) {
			rc = 0;
			id = sqlite3_last_insert_rowid(a->db);
		}
	}
	sqlite3_finalize(st);
	if (rc != 0 || sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		jido_fail(JIDO_EINTERNAL, why, whylen, "cannot record the artifact: %s",
		    sqlite3_errmsg(a->db));
		sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
		return JIDO_EINTERNAL; /* the blob stays until the sweeper finds it unreferenced */
	}
	if (out != NULL) {
		*out = NULL;
		if (sqlite3_prepare_v2(a->db, "SELECT " ART_COLS " FROM artifacts WHERE id = ?", -1,
		    &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) == SQLITE_ROW)
				*out = art_row(st);
		}
		sqlite3_finalize(st);
	}
	return 0;
}

int
jido_art_put(struct jido_art *a, const struct jido_art_meta *m, const char *data,
    size_t len, int fd, const char *const *known, int64_t now_ms, json_t **out, char *why,
    size_t whylen)
{
	struct jido_art_blob b;
	int rc;

	if ((rc = jido_art_meta_check(m, why, whylen)) != 0 ||
	    (rc = jido_art_blob_write(a->root, data, len, fd, known, &b, why, whylen)) != 0)
		return rc;
	return jido_art_record(a, m, &b, now_ms, out, why, whylen);
}

/* ------------------------------------------------------------ reading */

int
jido_art_list(struct jido_art *a, const char *lineage, json_t **out)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(a->db, "SELECT " ART_COLS ", (SELECT count(*) FROM artifacts b "
	    "WHERE b.lineage = a.lineage AND b.name = a.name) FROM artifacts a WHERE lineage = ? "
	    "AND version = (SELECT max(version) FROM artifacts c WHERE c.lineage = a.lineage AND "
	    "c.name = a.name) ORDER BY (SELECT min(id) FROM artifacts d WHERE d.lineage = "
	    "a.lineage AND d.name = a.name)", -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return JIDO_EINTERNAL;
	}
	sqlite3_bind_text(st, 1, lineage, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *r = art_row(st);
		json_object_set_new(r, "versions", json_integer(sqlite3_column_int(st, 16)));
		json_array_append_new(arr, r);
	}
	sqlite3_finalize(st);
	*out = json_pack("{s:o}", "artifacts", arr);
	return 0;
}

int
jido_art_history(struct jido_art *a, const char *lineage, const char *name, json_t **out)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(a->db, "SELECT " ART_COLS " FROM artifacts WHERE lineage = ? AND "
	    "name = ? ORDER BY version", -1, &st, NULL) != SQLITE_OK) {
		json_decref(arr);
		return JIDO_EINTERNAL;
	}
	sqlite3_bind_text(st, 1, lineage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, art_row(st));
	sqlite3_finalize(st);
	if (json_array_size(arr) == 0) {
		json_decref(arr);
		return JIDO_ENOTFOUND;
	}
	*out = json_pack("{s:s,s:o}", "name", name, "versions", arr);
	return 0;
}

int
jido_art_get(struct jido_art *a, const char *lineage, const char *name, int version,
    json_t **out)
{
	sqlite3_stmt *st;
	int rc = JIDO_ENOTFOUND;

	if (sqlite3_prepare_v2(a->db, version > 0 ?
	    "SELECT " ART_COLS " FROM artifacts WHERE lineage = ? AND name = ? AND version = ?" :
	    "SELECT " ART_COLS " FROM artifacts WHERE lineage = ? AND name = ? ORDER BY version "
	    "DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return JIDO_EINTERNAL;
	sqlite3_bind_text(st, 1, lineage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (version > 0)
		sqlite3_bind_int(st, 3, version);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = art_row(st);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

int
jido_art_usage(struct jido_art *a, json_t **out)
{
	sqlite3_stmt *st;
	json_int_t rows = 0, blobs = 0, bytes = 0, logical = 0;

	if (sqlite3_prepare_v2(a->db, "SELECT (SELECT count(*) FROM artifacts), (SELECT "
	    "coalesce(sum(size), 0) FROM artifacts), count(*), coalesce(sum(size), 0) FROM "
	    "(SELECT hash, max(size) AS size FROM artifacts GROUP BY hash)", -1, &st, NULL) !=
	    SQLITE_OK)
		return JIDO_EINTERNAL;
	if (sqlite3_step(st) == SQLITE_ROW) {
		rows = sqlite3_column_int64(st, 0);
		logical = sqlite3_column_int64(st, 1);
		blobs = sqlite3_column_int64(st, 2);
		bytes = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	*out = json_pack("{s:I,s:I,s:I,s:I}", "rows", rows, "blobs", blobs, "bytes", bytes,
	    "logical_bytes", logical);
	return 0;
}

/* ------------------------------------------------------------ retention */

/* 1 when some row references hash. */
static int
art_referenced(struct jido_art *a, const char *hash)
{
	sqlite3_stmt *st;
	int ref = 1; /* in doubt, keep */

	if (sqlite3_prepare_v2(a->db, "SELECT 1 FROM artifacts WHERE hash = ? LIMIT 1", -1, &st,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		ref = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return ref;
}

int
jido_art_sweep(struct jido_art *a, int64_t now_ms, jido_art_keep_fn keep, void *arg,
    int *rows, int *blobs)
{
	sqlite3_stmt *st;
	json_t *runs = json_array(), *v;
	size_t i;
	int nrows = 0, nblobs = 0;
	char path[4200];

	/* every run with something to consider: expired rows, or any row (gone runs) */
	if (sqlite3_prepare_v2(a->db, "SELECT DISTINCT run_id FROM artifacts", -1, &st, NULL) !=
	    SQLITE_OK) {
		json_decref(runs);
		return JIDO_EINTERNAL;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(runs, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	json_array_foreach(runs, i, v) {
		const char *run = json_string_value(v);
		int k = keep != NULL ? keep(run, arg) : 0;
		if (k == 1)
			continue;
		if (sqlite3_prepare_v2(a->db, k == 2 ? "DELETE FROM artifacts WHERE run_id = ?" :
		    "DELETE FROM artifacts WHERE run_id = ? AND expires_ms > 0 AND expires_ms <= ?",
		    -1, &st, NULL) != SQLITE_OK)
			continue;
		sqlite3_bind_text(st, 1, run, -1, SQLITE_STATIC);
		if (k != 2)
			sqlite3_bind_int64(st, 2, now_ms);
		if (sqlite3_step(st) == SQLITE_DONE)
			nrows += sqlite3_changes(a->db);
		sqlite3_finalize(st);
	}
	json_decref(runs);
	/* blobs no row references (also the leftovers of a crash between blob and row) */
	snprintf(path, sizeof(path), "%s/blobs", a->root);
	DIR *top = opendir(path);
	struct dirent *d;
	while (top != NULL && (d = readdir(top)) != NULL) {
		if (strlen(d->d_name) != 2 || d->d_name[0] == '.')
			continue;
		char sub[4300];
		snprintf(sub, sizeof(sub), "%s/%s", path, d->d_name);
		DIR *dd = opendir(sub);
		struct dirent *e;
		while (dd != NULL && (e = readdir(dd)) != NULL) {
			if (!art_hash_ok(e->d_name) || art_referenced(a, e->d_name))
				continue;
			char f[4400];
			snprintf(f, sizeof(f), "%s/%s", sub, e->d_name);
			if (unlink(f) == 0)
				nblobs++;
		}
		if (dd != NULL)
			closedir(dd);
	}
	if (top != NULL)
		closedir(top);
	if (rows != NULL)
		*rows = nrows;
	if (blobs != NULL)
		*blobs = nblobs;
	return 0;
}

int
jido_art_read(const char *home, const char *rel, size_t max, char **buf, size_t *len)
{
	char path[8192];
	struct stat sb;
	char *b;
	size_t n = 0;
	int fd;

	*buf = NULL;
	*len = 0;
	if (home == NULL || rel == NULL || rel[0] == '\0' || rel[0] == '/' ||
	    strstr(rel, "..") != NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", home, rel) >= sizeof(path))
		return JIDO_EVALIDATION;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? JIDO_ENOTFOUND : JIDO_EINTERNAL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return JIDO_EINTERNAL;
	}
	if ((uint64_t)sb.st_size > max) {
		close(fd);
		return JIDO_ECONFLICT;
	}
	if ((b = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return JIDO_EINTERNAL;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + n, (size_t)sb.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n != (size_t)sb.st_size) {
		free(b);
		return JIDO_EINTERNAL;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}
