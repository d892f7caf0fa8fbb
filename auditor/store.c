/*
 * store.c - the durable side of jido-auditor: the append-only log file (O_APPEND, one
 * write + fdatasync per group of records, never truncated or rewritten), the SQLite
 * index (records, checkpoints, and the persisted Merkle frontier), the Ed25519 signing
 * key (from the vault, else a 0600 seed file), recovery of the index from the log tail
 * after a crash, and the queries and proofs the handler answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include "store.h"


static int64_t
as_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *const as_migrations[] = {
	"CREATE TABLE records(seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL,"
	" channel TEXT NOT NULL, action TEXT NOT NULL, subject TEXT NOT NULL, run_id TEXT,"
	" result TEXT NOT NULL, leaf BLOB NOT NULL, off INTEGER NOT NULL, len INTEGER NOT NULL);"
	"CREATE INDEX records_time ON records(time);"
	"CREATE INDEX records_actor ON records(actor, seq);"
	"CREATE INDEX records_action ON records(action, seq);"
	"CREATE INDEX records_subject ON records(subject, seq);"
	"CREATE INDEX records_run ON records(run_id, seq);"
	"CREATE TABLE checkpoints(tree_size INTEGER PRIMARY KEY, root TEXT NOT NULL,"
	" time TEXT NOT NULL, key TEXT NOT NULL, sig TEXT NOT NULL, off INTEGER NOT NULL);"
	"CREATE TABLE state(id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL,"
	" off INTEGER NOT NULL, prev BLOB NOT NULL, frontier BLOB NOT NULL);",
};


/* ---------------------------------------------------------------- signing key */

/* The seed from the vault, when a vault answers. 1 = got it, 0 = no vault/refused. */
static int
as_key_vault(const struct jido_conf *c, const char *home, uint8_t seed[32])
{
	char url[PATH_MAX + 16];
	const char *v = jido_conf_str(c, "socket.vault"), *cred = jido_cred_self(), *val;
	struct jido_reply r;
	struct stat sb;
	int rc, got = 0;

	if (v != NULL && v[0] != '\0')
		snprintf(url, sizeof(url), "%s", v);
	else if (jido_bus_url_req(home, "vault", url, sizeof(url)) != 0)
		return 0;
	if (strncmp(url, "ipc://", 6) == 0 && stat(url + 6, &sb) != 0)
		return 0;
	rc = jido_bus_call(url, "vault.get", NULL, json_pack("{s:s,s:s?}", "name",
	    "audit.signing_key", "cred", cred), 2000, &r);
	if (rc != 0) {
		jido_info("auditor.vault_unavailable", "{s:s}", "why", jido_strerror(rc));
		return 0;
	}
	if (!r.ok) {
		jido_warn("auditor.vault_refused", "{s:s}", "code", jido_err_name(r.err));
	} else if ((val = json_string_value(json_object_get(r.data, "value"))) != NULL &&
	    strlen(val) == 64 && sodium_hex2bin(seed, 32, val, 64, NULL, NULL, NULL) == 0) {
		jido_info("auditor.key_from_vault", "{s:O?}", "version",
		    json_object_get(r.data, "version"));
		got = 1;
	} else
		jido_warn("auditor.vault_bad_key", "{s:s}", "why", "value is not 64 hex chars");
	jido_reply_free(&r);
	return got;
}

/* The seed from the key file, generating it (0600) on first start. */
static int
as_key_file(const struct jido_conf *c, const char *home, uint8_t seed[32], char *why,
    size_t whylen)
{
	char path[PATH_MAX], hex[72];
	const char *p = jido_conf_str(c, "auditor.signing_key_file");
	struct stat sb;
	ssize_t n;
	int fd;

	if (p != NULL && p[0] != '\0')
		snprintf(path, sizeof(path), "%s", p);
	else
		snprintf(path, sizeof(path), "%s/audit/signing.key", home);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
		if (fstat(fd, &sb) != 0 || (sb.st_mode & 077) != 0) {
			close(fd);
			return jido_fail(JIDO_ESECRET, why, whylen, "signing key file %s must have "
			    "mode 0600%s", path, "");
		}
		n = read(fd, hex, sizeof(hex) - 1);
		close(fd);
		if (n >= 64)
			n = 64;
		hex[n < 0 ? 0 : n] = '\0';
		if (n != 64 || sodium_hex2bin(seed, 32, hex, 64, NULL, NULL, NULL) != 0) {
			sodium_memzero(hex, sizeof(hex));
			return jido_fail(JIDO_ESECRET, why, whylen, "signing key file %s does not "
			    "hold 64 hex chars%s", path, "");
		}
		sodium_memzero(hex, sizeof(hex));
		return 0;
	}
	if (errno != ENOENT)
		return jido_fail(JIDO_ESECRET, why, whylen, "cannot read signing key file %s: %s",
		    path, strerror(errno));
	randombytes_buf(seed, 32);
	sodium_bin2hex(hex, sizeof(hex), seed, 32);
	hex[64] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
	    write(fd, hex, 65) != 65 || fsync(fd) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		sodium_memzero(hex, sizeof(hex));
		return jido_fail(JIDO_ESECRET, why, whylen, "cannot create signing key file %s: %s",
		    path, strerror(e));
	}
	close(fd);
	sodium_memzero(hex, sizeof(hex));
	jido_info("auditor.key_generated", "{s:s}", "path", path);
	return 0;
}

/* ---------------------------------------------------------------- index */

/* Write all of buf at the end of the log and make it durable. */
static int
as_write_durable(struct as_store *st, const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(st->fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return JIDO_EINTERNAL;
		done += (size_t)n;
	}
	int64_t t0 = as_now_us();
	int rc = fdatasync(st->fd) == 0 ? 0 : JIDO_EINTERNAL;
	st->fsync_us += (uint64_t)(as_now_us() - t0);
	return rc;
}

/* ---------------------------------------------------------------- recovery */

/* Read the persisted state, then index every complete line of the log after it. */
static int
as_recover(struct as_store *st, char *why, size_t whylen)
{
	sqlite3_stmt *s;
	struct stat sb;
	char *buf = NULL;
	size_t have = 0, cap = 1u << 20;
	uint64_t pos, added = 0;
	int rc = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT size, off, prev, frontier FROM state WHERE id=1",
	    -1, &s, NULL) != SQLITE_OK)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "sqlite: %s%s", sqlite3_errmsg(st->db), "");
	if (sqlite3_step(s) == SQLITE_ROW) {
		uint64_t size = (uint64_t)sqlite3_column_int64(s, 0);
		st->off = (uint64_t)sqlite3_column_int64(s, 1);
		if (sqlite3_column_bytes(s, 2) != AM_HASH ||
		    am_frontier_restore(&st->fr, size, sqlite3_column_blob(s, 3),
		    (size_t)sqlite3_column_bytes(s, 3)) != 0) {
			sqlite3_finalize(s);
			return jido_fail(JIDO_EINTEGRITY, why, whylen, "index state is damaged; move "
			    "%s aside to rebuild it%s", "audit/index.db", "");
		}
		memcpy(st->prev, sqlite3_column_blob(s, 2), AM_HASH);
	}
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(st->db, "SELECT tree_size, root, time, key, sig FROM checkpoints"
	    " ORDER BY tree_size DESC LIMIT 1", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW) {
			json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:s}", "tree_size",
			    (json_int_t)sqlite3_column_int64(s, 0), "root", sqlite3_column_text(s, 1),
			    "time", sqlite3_column_text(s, 2), "key", sqlite3_column_text(s, 3), "sig",
			    sqlite3_column_text(s, 4));
			char *t = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL, w[128];
			if (t == NULL || ar_checkpoint_parse(t, strlen(t), &st->cp, w, sizeof(w)) != 0)
				memset(&st->cp, 0, sizeof(st->cp));
			free(t);
			json_decref(j);
		}
		sqlite3_finalize(s);
	}
	if (fstat(st->fd, &sb) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot stat %s: %s", st->logpath,
		    strerror(errno));
	if ((uint64_t)sb.st_size < st->off)
		return jido_fail(JIDO_EINTEGRITY, why, whylen, "%s is shorter than its index says: "
		    "the log was truncated (run jido-auditor verify %s)", st->logpath, st->logpath);
	if ((uint64_t)sb.st_size == st->off)
		return 0;
	if ((buf = malloc(cap)) == NULL)
		return JIDO_EINTERNAL;
	if (jido_db_exec(st->db, "BEGIN", why, whylen) != 0) {
		free(buf);
		return JIDO_EINTERNAL;
	}
	pos = st->off;
	while (rc == 0 && pos + have < (uint64_t)sb.st_size) {
		ssize_t n = pread(st->fd, buf + have, cap - have, (off_t)(pos + have));
		size_t start = 0;
		if (n <= 0) {
			rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot read %s: %s", st->logpath,
			    strerror(errno));
			break;
		}
		have += (size_t)n;
		for (char *nl; rc == 0 && (nl = memchr(buf + start, '\n', have - start)) != NULL;) {
			const char *line = buf + start;
			size_t len = (size_t)(nl - line);
			uint8_t leaf[AM_HASH];
			char w[200];
			if (len > 8 && memcmp(line, "{\"torn\":", 8) == 0) {
				/* after a fragment handled below */
			} else if (len > 14 && memcmp(line, "{\"checkpoint\":", 14) == 0) {
				struct ar_checkpoint cp;
				if (ar_checkpoint_parse(line, len, &cp, w, sizeof(w)) == 0) {
					as_index_checkpoint(st, &cp, pos + start);
					if (cp.size == st->fr.size)
						st->cp = cp;
				}
			} else {
				json_t *rec = json_loadb(line, len, 0, NULL);
				char *nl2 = memchr(nl + 1, '\n', have - (size_t)(nl + 1 - buf));
				if (rec == NULL || ar_line_leaf(line, len, leaf, w, sizeof(w)) != 0 ||
				    (uint64_t)json_integer_value(json_object_get(rec, "seq")) !=
				    st->fr.size + 1) {
					json_decref(rec);
					rec = NULL;
					/* A fragment of an earlier torn write, marked on the next line? */
					if (nl2 == NULL && pos + have < (uint64_t)sb.st_size)
						break; /* read on to see the next line */
					if (nl2 != NULL && ar_torn_matches(nl + 1, (size_t)(nl2 - nl - 1),
					    pos + start, len)) {
						start = (size_t)(nl - buf) + 1;
						continue;
					}
				}
				const char *f[AR_NFIELDS];
				if (rec != NULL)
					as_fields_json(rec, f);
				if (rec == NULL || as_index_record(st, st->fr.size + 1,
				    as_str(rec, "time"), f, leaf, pos + start, len) != 0) {
					char at[32];
					snprintf(at, sizeof(at), "%" PRIu64, pos + start);
					rc = jido_fail(JIDO_EINTEGRITY, why, whylen, "%s: bad record at "
					    "byte %s; run jido-auditor verify on it", st->logpath, at);
				} else {
					am_frontier_append(&st->fr, leaf);
					memcpy(st->prev, leaf, AM_HASH);
					added++;
				}
				json_decref(rec);
			}
			start = (size_t)(nl - buf) + 1;
		}
		pos += start;
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == cap)
			rc = jido_fail(JIDO_EINTEGRITY, why, whylen, "%s: line too long at the end%s",
			    st->logpath, "");
	}
	if (rc == 0 && have > 0) {
		/* A write cut short by a crash: its records were never acknowledged. Never
		 * truncate: end the fragment and mark it, so verify can tell it from tampering. */
		char mark[128];
		int n = snprintf(mark, sizeof(mark), "\n{\"torn\":{\"offset\":%" PRIu64
		    ",\"bytes\":%zu}}\n", pos, have);
		if (as_write_durable(st, mark, (size_t)n) != 0)
			rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot mark the torn end of %s: %s",
			    st->logpath, strerror(errno));
		else {
			jido_warn("auditor.torn_tail", "{s:I,s:I}", "offset", (json_int_t)pos, "bytes",
			    (json_int_t)have);
			pos += have + (size_t)n;
		}
	}
	free(buf);
	st->off = pos;
	if (rc == 0 && (as_index_state(st, &st->fr, st->prev, st->off) != 0 ||
	    jido_db_exec(st->db, "COMMIT", why, whylen) != 0))
		rc = JIDO_EINTERNAL;
	if (rc != 0)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	else if (added > 0)
		jido_info("auditor.recovered", "{s:I,s:I}", "records", (json_int_t)added, "size",
		    (json_int_t)st->fr.size);
	return rc;
}

int
as_open(const struct jido_conf *c, const char *home, struct as_store **out, char *why,
    size_t whylen)
{
	struct as_store *st = calloc(1, sizeof(*st));
	char dir[PATH_MAX], dbpath[PATH_MAX + 16];
	uint8_t seed[32], pk[32];
	int rc;

	if (st == NULL)
		return JIDO_EINTERNAL;
	st->fd = -1;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->dbmu, NULL);
	pthread_mutex_init(&st->qmu, NULL);
	pthread_cond_init(&st->idx_cv, NULL);
	pthread_cond_init(&st->qcv, NULL);
	st->cp_every = jido_conf_int(c, "auditor.checkpoint_every");
	st->cp_secs = jido_conf_int(c, "auditor.checkpoint_secs");
	snprintf(dir, sizeof(dir), "%s/audit", home);
	if (jido_mkdirs(dir, 0700) != 0) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot create %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (!as_key_vault(c, home, seed) && (rc = as_key_file(c, home, seed, why, whylen)) != 0)
		goto fail;
	crypto_sign_seed_keypair(pk, st->sk, seed);
	sodium_bin2hex(st->seed_hex, sizeof(st->seed_hex), seed, 32);
	sodium_memzero(seed, sizeof(seed));
	st->known[0] = st->seed_hex;
	snprintf(st->logpath, sizeof(st->logpath), "%s/audit.log", dir);
	st->fd = open(st->logpath, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->fd < 0) {
		rc = jido_fail(JIDO_EINTERNAL, why, whylen, "cannot open %s: %s", st->logpath,
		    strerror(errno));
		goto fail;
	}
	if (flock(st->fd, LOCK_EX | LOCK_NB) != 0) {
		rc = jido_fail(JIDO_ECONFLICT, why, whylen, "%s is held by another jido-auditor%s",
		    st->logpath, "");
		goto fail;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/index.db", dir);
	if ((rc = jido_db_open(dbpath, as_migrations, 1, &st->db, why, whylen)) != 0)
		goto fail;
	/* The log is the truth and recovery replays its tail: the index needs no fsync. */
	if ((rc = jido_db_exec(st->db, "PRAGMA synchronous=NORMAL", why, whylen)) != 0 ||
	    (rc = as_prepare(st, why, whylen)) != 0 || (rc = as_recover(st, why, whylen)) != 0)
		goto fail;
	st->cp_ms = jido_now_ms();
	st->indexed = st->fr.size;
	*out = st;
	return 0;
fail:
	as_close(st);
	return rc;
}

/* ---------------------------------------------------------------- appends */

/* The commit, under st->mu. force_cp: write a checkpoint if any record is unsigned.
 * durable (may be NULL): called once every entry's rc (and seq, leaf) is final, right
 * after the write + fdatasync and before the index is updated, still under st->mu (a
 * query waits until the index holds every record durable when it began, so an
 * acknowledged record is always found). The index rows go to as_index_put as one job;
 * each entry's fields block moves into it (e[i]->fields is NULL afterwards). */
static int
as_commit_locked(struct as_store *st, struct as_entry **e, size_t n, int force_cp,
    void (*durable)(void *arg), void *arg)
{
	struct as_ijob *job = NULL;
	char *buf = NULL, *line, *cpline = NULL;
	size_t len = 0, cap = 0, ll, cplen = 0;
	int64_t now = jido_now_ms(), t0 = as_now_us();
	int rc = 0, want_cp;

	if (st->broken)
		rc = JIDO_EINTERNAL;
	if (rc == 0 && n == 0 && (st->fr.size == st->cp.size || (!force_cp &&
	    st->fr.size - st->cp.size < (uint64_t)st->cp_every &&
	    now - st->cp_ms < st->cp_secs * 1000)))
		return 0;
	if (rc == 0 && (job = calloc(1, sizeof(*job) + n * sizeof(job->r[0]))) == NULL)
		rc = JIDO_EINTERNAL;
	if (rc == 0) {
		job->fr = st->fr;
		memcpy(job->prev, st->prev, AM_HASH);
		jido_time_rfc3339(job->time, sizeof(job->time));
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct as_irec *r = &job->r[i];
		if ((rc = ar_line(job->fr.size + 1, job->prev, job->time, e[i]->tail, &line, &ll,
		    e[i]->leaf)) != 0)
			break;
		if (len + ll > cap) {
			size_t nc = (len + ll) * 2 + 4096;
			char *nb = realloc(buf, nc);
			if (nb == NULL) {
				free(line);
				rc = JIDO_EINTERNAL;
				break;
			}
			buf = nb;
			cap = nc;
		}
		memcpy(buf + len, line, ll);
		free(line);
		r->fields = e[i]->fields != NULL ? e[i]->fields : as_fields_block(e[i]->tail);
		e[i]->fields = NULL;
		if (r->fields == NULL) {
			rc = JIDO_EINTERNAL;
			break;
		}
		job->n = i + 1;
		r->off = st->off + len;
		r->len = ll - 1;
		r->seq = e[i]->seq = job->fr.size + 1;
		memcpy(r->leaf, e[i]->leaf, AM_HASH);
		len += ll;
		am_frontier_append(&job->fr, e[i]->leaf);
		memcpy(job->prev, e[i]->leaf, AM_HASH);
	}
	want_cp = rc == 0 && job->fr.size > st->cp.size && (force_cp ||
	    job->fr.size - st->cp.size >= (uint64_t)st->cp_every ||
	    now - st->cp_ms >= st->cp_secs * 1000);
	if (want_cp) {
		struct ar_checkpoint *cp = &job->cp;
		cp->size = job->fr.size;
		am_frontier_root(&job->fr, cp->root);
		jido_time_rfc3339(cp->time, sizeof(cp->time));
		if ((rc = ar_checkpoint_sign(cp, st->sk, &cpline, &cplen)) == 0) {
			char *nb = realloc(buf, len + cplen);
			if (nb == NULL)
				rc = JIDO_EINTERNAL;
			else {
				buf = nb;
				memcpy(buf + len, cpline, cplen);
				job->has_cp = 1;
				job->cp_off = st->off + len;
				len += cplen;
			}
		}
	}
	if (rc == 0 && (rc = as_write_durable(st, buf, len)) != 0) {
		/* Bytes may be on disk in part; never rewrite: refuse all further appends. */
		st->broken = 1;
		jido_error("auditor.write_failed", "{s:s,s:s}", "path", st->logpath, "why",
		    strerror(errno));
	}
	for (size_t i = 0; i < n; i++)
		e[i]->rc = rc;
	if (durable != NULL && n > 0)
		durable(arg);
	if (rc == 0) {
		/* Durable: the log state moves on, and the index follows (a failure there is
		 * repaired from the log at next start). */
		st->fr = job->fr;
		memcpy(st->prev, job->prev, AM_HASH);
		st->off += len;
		job->off = st->off;
		if (want_cp) {
			st->cp = job->cp;
			st->cp_ms = now;
		}
		as_index_put(st, job);
		job = NULL;
	}
	if (n > 0) {
		st->n_commits++;
		st->n_committed += n;
		st->commit_us += (uint64_t)(as_now_us() - t0);
	}
	if (job != NULL) {
		for (size_t i = 0; i < job->n; i++)
			free(job->r[i].fields);
		free(job);
	}
	free(cpline);
	free(buf);
	return rc;
}

int
as_commit(struct as_store *st, struct as_entry **e, size_t n)
{
	return as_commit_cb(st, e, n, NULL, NULL);
}

int
as_commit_cb(struct as_store *st, struct as_entry **e, size_t n, void (*durable)(void *arg),
    void *arg)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = as_commit_locked(st, e, n, 0, durable, arg);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

int
as_checkpoint(struct as_store *st, int force, struct ar_checkpoint *cp)
{
	int rc;

	pthread_mutex_lock(&st->mu);
	rc = force ? as_commit_locked(st, NULL, 0, 1, NULL, NULL) : 0;
	if (rc == 0 && st->cp.size == 0)
		rc = JIDO_ENOTFOUND;
	if (rc == 0 && cp != NULL)
		*cp = st->cp;
	pthread_mutex_unlock(&st->mu);
	return rc;
}

void
as_close(struct as_store *st)
{
	if (st == NULL)
		return;
	if (st->db != NULL && st->fd >= 0 && !st->broken) {
		pthread_mutex_lock(&st->mu);
		if (st->fr.size > st->cp.size && as_commit_locked(st, NULL, 0, 1, NULL, NULL) == 0)
			jido_info("auditor.final_checkpoint", "{s:I}", "tree_size",
			    (json_int_t)st->cp.size);
		pthread_mutex_unlock(&st->mu);
	}
	as_indexer_stop(st); /* after it indexed everything, the final checkpoint too */
	if (st->db != NULL)
		as_index_sync_locked(st);
	sqlite3_finalize(st->ins_rec);
	sqlite3_finalize(st->ins_cp);
	sqlite3_finalize(st->put_state);
	if (st->db != NULL)
		sqlite3_close(st->db);
	if (st->fd >= 0)
		close(st->fd);
	sodium_memzero(st->sk, sizeof(st->sk));
	sodium_memzero(st->seed_hex, sizeof(st->seed_hex));
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->dbmu);
	pthread_mutex_destroy(&st->qmu);
	pthread_cond_destroy(&st->idx_cv);
	pthread_cond_destroy(&st->qcv);
	free(st);
}

const char *const *
as_known_secrets(struct as_store *st)
{
	return st->known;
}

/* ---------------------------------------------------------------- queries */

/* Read the record line [off, off+len) of the log into a malloc'd string. */
static char *
as_read_line(struct as_store *st, uint64_t off, size_t len)
{
	char *p = malloc(len + 1);
	size_t done = 0;

	while (p != NULL && done < len) {
		ssize_t n = pread(st->fd, p + done, len - done, (off_t)(off + done));
		if (n <= 0) {
			free(p);
			return NULL;
		}
		done += (size_t)n;
	}
	if (p != NULL)
		p[len] = '\0';
	return p;
}

/* q[key], with JSON null read as absent. */
static json_t *
as_arg(json_t *q, const char *key)
{
	json_t *v = json_object_get(q, key);

	return json_is_null(v) ? NULL : v;
}

typedef int (*as_row_fn)(void *arg, uint64_t seq, const char *line, size_t len);

/* Run a filtered, paged query (q: since, until, actor, channel, action, subject, run_id,
 * after_seq, limit); call fn for each row in seq order. *last = the last seq seen,
 * *count the rows. tail: the last `limit` records instead. Under st->dbmu. */
static int
as_select(struct as_store *st, json_t *q, int tail, long long maxlim, as_row_fn fn, void *arg,
    uint64_t *last, long long *count, char *why, size_t whylen)
{
	static const char *const cols[] = { "actor", "channel", "action", "subject", "run_id",
		NULL };
	char sql[1024];
	const char *binds[8];
	int nb = 0, rc = 0;
	size_t n;
	json_t *v;
	long long limit = 100, after = 0;
	sqlite3_stmt *s;

	if ((v = as_arg(q, "limit")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > maxlim) {
			snprintf(why, whylen, "data.limit must be an integer from 1 to %lld", maxlim);
			return JIDO_EVALIDATION;
		}
		limit = json_integer_value(v);
	}
	if ((v = as_arg(q, "after_seq")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(why, whylen, "data.after_seq must be a non-negative integer");
			return JIDO_EVALIDATION;
		}
		after = json_integer_value(v);
	}
	n = (size_t)snprintf(sql, sizeof(sql), "SELECT seq, off, len FROM records WHERE seq > %lld",
	    after);
	if ((v = as_arg(q, "since")) != NULL) {
		if (!json_is_string(v)) {
			snprintf(why, whylen, "data.since must be an RFC 3339 UTC time");
			return JIDO_EVALIDATION;
		}
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND time >= ?");
		binds[nb++] = json_string_value(v);
	}
	if ((v = as_arg(q, "until")) != NULL) {
		if (!json_is_string(v)) {
			snprintf(why, whylen, "data.until must be an RFC 3339 UTC time");
			return JIDO_EVALIDATION;
		}
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND time < ?");
		binds[nb++] = json_string_value(v);
	}
	for (int i = 0; cols[i] != NULL; i++) {
		if ((v = as_arg(q, cols[i])) == NULL)
			continue;
		if (!json_is_string(v)) {
			snprintf(why, whylen, "data.%s must be a string", cols[i]);
			return JIDO_EVALIDATION;
		}
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND %s = ?", cols[i]);
		binds[nb++] = json_string_value(v);
	}
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY seq %s LIMIT %lld", tail ? "DESC" : "ASC",
	    limit);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		snprintf(why, whylen, "sqlite: %s", sqlite3_errmsg(st->db));
		return JIDO_EINTERNAL;
	}
	for (int i = 0; i < nb; i++)
		sqlite3_bind_text(s, i + 1, binds[i], -1, SQLITE_STATIC);
	*count = 0;
	*last = 0;
	/* tail: collect then replay in ascending order */
	uint64_t (*rows)[3] = tail ? calloc((size_t)limit, sizeof(*rows)) : NULL;
	if (tail && rows == NULL) {
		sqlite3_finalize(s);
		return JIDO_EINTERNAL;
	}
	while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(s, 0);
		uint64_t off = (uint64_t)sqlite3_column_int64(s, 1);
		size_t len = (size_t)sqlite3_column_int64(s, 2);
		if (tail) {
			rows[*count][0] = seq;
			rows[*count][1] = off;
			rows[*count][2] = len;
		} else {
			char *line = as_read_line(st, off, len);
			rc = line == NULL ? JIDO_EINTERNAL : fn(arg, seq, line, len);
			free(line);
		}
		(*count)++;
		*last = seq;
	}
	sqlite3_finalize(s);
	for (long long i = *count - 1; tail && rc == 0 && i >= 0; i--) {
		char *line = as_read_line(st, rows[i][1], (size_t)rows[i][2]);
		rc = line == NULL ? JIDO_EINTERNAL : fn(arg, rows[i][0], line, (size_t)rows[i][2]);
		free(line);
	}
	free(rows);
	if (rc != 0)
		snprintf(why, whylen, "cannot read the log");
	if (tail)
		*count = 0; /* no next page for tail */
	return rc;
}

static int
as_row_json(void *arg, uint64_t seq, const char *line, size_t len)
{
	json_t *rec = json_loadb(line, len, 0, NULL);

	(void)seq;
	if (rec == NULL)
		return JIDO_EINTEGRITY;
	return json_array_append_new((json_t *)arg, rec) == 0 ? 0 : JIDO_EINTERNAL;
}

/* Return holding dbmu once the index holds every record durable now. */
static void
as_index_lock(struct as_store *st)
{
	uint64_t size;

	pthread_mutex_lock(&st->mu);
	size = st->fr.size;
	pthread_mutex_unlock(&st->mu);
	as_index_lock_at(st, size);
}

int
as_query(struct as_store *st, json_t *q, int tail, json_t **out, char *why, size_t whylen)
{
	json_t *recs = json_array();
	uint64_t last;
	long long count, lim = json_integer_value(json_object_get(q, "limit"));
	int rc;

	if (recs == NULL)
		return JIDO_EINTERNAL;
	as_index_lock(st);
	rc = as_select(st, q, tail, 1000, as_row_json, recs, &last, &count, why, whylen);
	pthread_mutex_unlock(&st->dbmu);
	if (rc != 0) {
		json_decref(recs);
		return rc;
	}
	if (lim <= 0)
		lim = 100;
	*out = json_pack("{s:o,s:o}", "records", recs, "next_after_seq", count == lim ?
	    json_integer((json_int_t)last) : json_null());
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

struct as_exp {
	char *buf;
	size_t n, cap;
	int csv;
};

static int
as_exp_put(struct as_exp *x, const char *s, size_t n)
{
	if (x->n + n + 1 > x->cap) {
		size_t cap = (x->n + n + 1) * 2 + 4096;
		char *p = realloc(x->buf, cap);
		if (p == NULL)
			return JIDO_EINTERNAL;
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->n, s, n);
	x->n += n;
	x->buf[x->n] = '\0';
	return 0;
}

/* One CSV field, RFC 4180 quoted when needed; a leading =+-@ is prefixed with ' so a
 * spreadsheet never runs it as a formula. */
static int
as_csv_field(struct as_exp *x, const char *s, int last)
{
	int rc = 0, quote = s != NULL && strpbrk(s, ",\"\r\n") != NULL;

	if (s != NULL && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
		rc = as_exp_put(x, quote ? "\"'" : "'", quote ? 2 : 1), quote = quote ? 2 : 0;
	else if (quote)
		rc = as_exp_put(x, "\"", 1);
	for (const char *p = s; rc == 0 && p != NULL && *p != '\0'; p++)
		rc = *p == '"' ? as_exp_put(x, "\"\"", 2) : as_exp_put(x, p, 1);
	if (rc == 0 && quote)
		rc = as_exp_put(x, "\"", 1);
	if (rc == 0)
		rc = as_exp_put(x, last ? "\n" : ",", 1);
	return rc;
}

static int
as_row_export(void *arg, uint64_t seq, const char *line, size_t len)
{
	static const char *const cols[] = { "time", "actor", "channel", "action", "subject",
		"run_id", "result", NULL };
	struct as_exp *x = arg;
	json_t *rec;
	char num[32], *d;
	int rc = 0;

	if (!x->csv) {
		rc = as_exp_put(x, line, len);
		return rc == 0 ? as_exp_put(x, "\n", 1) : rc;
	}
	if ((rec = json_loadb(line, len, 0, NULL)) == NULL)
		return JIDO_EINTEGRITY;
	snprintf(num, sizeof(num), "%" PRIu64, seq);
	rc = as_csv_field(x, num, 0);
	for (int i = 0; rc == 0 && cols[i] != NULL; i++)
		rc = as_csv_field(x, as_str(rec, cols[i]), 0);
	d = json_object_get(rec, "details") != NULL ?
	    json_dumps(json_object_get(rec, "details"), JSON_COMPACT) : NULL;
	if (rc == 0)
		rc = as_csv_field(x, d, 0);
	free(d);
	if (rc == 0)
		rc = as_csv_field(x, as_str(rec, "leaf"), 1);
	json_decref(rec);
	return rc;
}

int
as_export(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen)
{
	struct as_exp x = { NULL, 0, 0, 0 };
	const char *fmt = as_str(q, "format");
	uint64_t last;
	long long count, lim = json_integer_value(json_object_get(q, "limit"));
	int rc;

	if (fmt == NULL)
		fmt = "jsonl";
	if (strcmp(fmt, "csv") == 0)
		x.csv = 1;
	else if (strcmp(fmt, "jsonl") != 0) {
		snprintf(why, whylen, "data.format must be jsonl or csv");
		return JIDO_EVALIDATION;
	}
	if (as_exp_put(&x, "", 0) != 0)
		return JIDO_EINTERNAL;
	static const char header[] =
	    "seq,time,actor,channel,action,subject,run_id,result,details,leaf\n";
	if (x.csv && json_integer_value(json_object_get(q, "after_seq")) == 0 &&
	    as_exp_put(&x, header, sizeof(header) - 1) != 0) {
		free(x.buf);
		return JIDO_EINTERNAL;
	}
	as_index_lock(st);
	rc = as_select(st, q, 0, 5000, as_row_export, &x, &last, &count, why, whylen);
	pthread_mutex_unlock(&st->dbmu);
	if (rc != 0) {
		free(x.buf);
		return rc;
	}
	if (lim <= 0)
		lim = 100;
	*out = json_pack("{s:s,s:I,s:s,s:o}", "format", fmt, "count", (json_int_t)count, "text",
	    x.buf, "next_after_seq", count == lim ? json_integer((json_int_t)last) : json_null());
	free(x.buf);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

/* ---------------------------------------------------------------- proofs */

/* The first n leaf hashes from the index, malloc'd. Under st->dbmu. */
static uint8_t (*as_leaves(struct as_store *st, uint64_t n))[AM_HASH]
{
	uint8_t (*l)[AM_HASH] = malloc((size_t)(n ? n : 1) * AM_HASH);
	sqlite3_stmt *s;
	uint64_t i = 0;

	if (l == NULL || sqlite3_prepare_v2(st->db, "SELECT leaf FROM records WHERE seq <= ? "
	    "ORDER BY seq", -1, &s, NULL) != SQLITE_OK) {
		free(l);
		return NULL;
	}
	sqlite3_bind_int64(s, 1, (sqlite3_int64)n);
	while (i < n && sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == AM_HASH)
		memcpy(l[i++], sqlite3_column_blob(s, 0), AM_HASH);
	sqlite3_finalize(s);
	if (i != n) {
		free(l);
		return NULL;
	}
	return l;
}

/* The signed checkpoint at exactly size n, as JSON, or JSON null. Under st->dbmu. */
static json_t *
as_checkpoint_at(struct as_store *st, uint64_t n)
{
	sqlite3_stmt *s;
	json_t *j = NULL;

	if (sqlite3_prepare_v2(st->db, "SELECT tree_size, root, time, key, sig FROM checkpoints "
	    "WHERE tree_size = ?", -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, (sqlite3_int64)n);
		if (sqlite3_step(s) == SQLITE_ROW)
			j = json_pack("{s:I,s:s,s:s,s:s,s:s}", "tree_size",
			    (json_int_t)sqlite3_column_int64(s, 0), "root", sqlite3_column_text(s, 1),
			    "time", sqlite3_column_text(s, 2), "key", sqlite3_column_text(s, 3), "sig",
			    sqlite3_column_text(s, 4));
		sqlite3_finalize(s);
	}
	return j != NULL ? j : json_null();
}

static json_t *
as_hex_array(uint8_t (*h)[AM_HASH], size_t n)
{
	json_t *a = json_array();
	char hex[65];

	for (size_t i = 0; a != NULL && i < n; i++) {
		am_hex(h[i], hex);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

/* A tree size from q[key]: default def, must be 1..size. */
static int
as_size_arg(json_t *q, const char *key, uint64_t def, uint64_t size, uint64_t *out, char *why,
    size_t whylen)
{
	json_t *v = as_arg(q, key);

	if (v == NULL) {
		*out = def;
		return def == 0 ? JIDO_ENOTFOUND : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > size) {
		snprintf(why, whylen, "data.%s must be an integer from 1 to %" PRIu64, key, size);
		return (uint64_t)json_integer_value(v) > size ? JIDO_ENOTFOUND : JIDO_EVALIDATION;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int
as_inclusion(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen)
{
	uint8_t (*leaves)[AM_HASH], path[AM_MAXH][AM_HASH], root[AM_HASH];
	uint64_t seq, n, size, cpsize;
	size_t plen;
	char rh[65], lh[65];
	int rc;

	pthread_mutex_lock(&st->mu);
	/* Default tree: the latest checkpoint, made now if records are unsigned. */
	if (json_object_get(q, "tree_size") == NULL && st->fr.size > st->cp.size)
		as_commit_locked(st, NULL, 0, 1, NULL, NULL);
	size = st->fr.size;
	cpsize = st->cp.size;
	pthread_mutex_unlock(&st->mu);
	as_index_lock_at(st, size);
	if ((rc = as_size_arg(q, "seq", 0, size, &seq, why, whylen)) != 0 ||
	    (rc = as_size_arg(q, "tree_size", cpsize, size, &n, why, whylen)) != 0) {
		if (rc == JIDO_ENOTFOUND && why[0] == '\0')
			snprintf(why, whylen, "data.seq is required");
		pthread_mutex_unlock(&st->dbmu);
		return rc == JIDO_ENOTFOUND && json_object_get(q, "seq") == NULL ?
		    JIDO_EVALIDATION : rc;
	}
	if (seq > n) {
		pthread_mutex_unlock(&st->dbmu);
		snprintf(why, whylen, "record %" PRIu64 " is not in a tree of %" PRIu64, seq, n);
		return JIDO_EVALIDATION;
	}
	if ((leaves = as_leaves(st, n)) == NULL) {
		pthread_mutex_unlock(&st->dbmu);
		snprintf(why, whylen, "cannot read leaf hashes");
		return JIDO_EINTERNAL;
	}
	am_inclusion((const uint8_t(*)[AM_HASH])leaves, n, seq - 1, path, &plen);
	am_mth((const uint8_t(*)[AM_HASH])leaves, n, root);
	am_hex(root, rh);
	am_hex(leaves[seq - 1], lh);
	*out = json_pack("{s:I,s:I,s:I,s:s,s:s,s:o,s:o}", "seq", (json_int_t)seq, "leaf_index",
	    (json_int_t)(seq - 1), "tree_size", (json_int_t)n, "leaf_hash", lh, "root", rh, "path",
	    as_hex_array(path, plen), "checkpoint", as_checkpoint_at(st, n));
	pthread_mutex_unlock(&st->dbmu);
	free(leaves);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

int
as_consistency(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen)
{
	uint8_t (*leaves)[AM_HASH], proof[AM_MAXH][AM_HASH], r1[AM_HASH], r2[AM_HASH];
	uint64_t m, n, size, cpsize;
	size_t plen;
	char h1[65], h2[65];
	int rc;

	pthread_mutex_lock(&st->mu);
	if (json_object_get(q, "to") == NULL && st->fr.size > st->cp.size)
		as_commit_locked(st, NULL, 0, 1, NULL, NULL);
	size = st->fr.size;
	cpsize = st->cp.size;
	pthread_mutex_unlock(&st->mu);
	as_index_lock_at(st, size);
	if ((rc = as_size_arg(q, "from", 0, size, &m, why, whylen)) != 0 ||
	    (rc = as_size_arg(q, "to", cpsize, size, &n, why, whylen)) != 0 || m > n) {
		pthread_mutex_unlock(&st->dbmu);
		if (rc == 0 || why[0] == '\0')
			snprintf(why, whylen, "data.from (1..to) and data.to (..%" PRIu64 ") are "
			    "tree sizes", size);
		return rc == JIDO_ENOTFOUND && json_object_get(q, "from") != NULL ? rc :
		    JIDO_EVALIDATION;
	}
	if ((leaves = as_leaves(st, n)) == NULL) {
		pthread_mutex_unlock(&st->dbmu);
		snprintf(why, whylen, "cannot read leaf hashes");
		return JIDO_EINTERNAL;
	}
	am_consistency((const uint8_t(*)[AM_HASH])leaves, n, m, proof, &plen);
	am_mth((const uint8_t(*)[AM_HASH])leaves, m, r1);
	am_mth((const uint8_t(*)[AM_HASH])leaves, n, r2);
	am_hex(r1, h1);
	am_hex(r2, h2);
	*out = json_pack("{s:I,s:I,s:s,s:s,s:o,s:o,s:o}", "from", (json_int_t)m, "to",
	    (json_int_t)n, "from_root", h1, "to_root", h2, "proof", as_hex_array(proof, plen),
	    "from_checkpoint", as_checkpoint_at(st, m), "to_checkpoint", as_checkpoint_at(st, n));
	pthread_mutex_unlock(&st->dbmu);
	free(leaves);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}

int
as_verify(struct as_store *st, json_t *q, json_t **out, char *why, size_t whylen)
{
	struct ar_checkpoint trust;
	struct ar_verify r;
	json_t *c = json_object_get(q, "checkpoint");
	uint64_t limit;
	int fd, rc;

	if (c != NULL) {
		char *t = json_dumps(c, JSON_COMPACT);
		rc = t != NULL ? ar_checkpoint_parse(t, strlen(t), &trust, why, whylen) :
		    JIDO_EINTERNAL;
		free(t);
		if (rc != 0)
			return rc == JIDO_EINTEGRITY ? JIDO_EINTEGRITY : JIDO_EVALIDATION;
	}
	pthread_mutex_lock(&st->mu);
	limit = st->off; /* only whole, durable batches */
	pthread_mutex_unlock(&st->mu);
	if ((fd = open(st->logpath, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(why, whylen, "cannot open the log: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	rc = limit == 0 ? (memset(&r, 0, sizeof(r)), r.ok = 1, 0) :
	    ar_verify_fd(fd, limit, c != NULL ? &trust : NULL, &r);
	close(fd);
	if (rc != 0) {
		snprintf(why, whylen, "cannot read the log");
		return rc;
	}
	*out = ar_verify_json(&r);
	return 0;
}

int
as_stats(struct as_store *st, json_t **out)
{
	char root[65];
	uint8_t r[AM_HASH];

	pthread_mutex_lock(&st->mu);
	am_frontier_root(&st->fr, r);
	am_hex(r, root);
	*out = json_pack("{s:I,s:I,s:s?,s:I,s:s,s:b,s:{s:I,s:I,s:I,s:I}}", "tree_size",
	    (json_int_t)st->fr.size, "checkpoint_size", (json_int_t)st->cp.size, "checkpoint_time",
	    st->cp.size > 0 ? st->cp.time : NULL, "log_bytes", (json_int_t)st->off, "root", root,
	    "broken", st->broken, "commits", "count", (json_int_t)st->n_commits, "records",
	    (json_int_t)st->n_committed, "commit_us", (json_int_t)st->commit_us, "fsync_us",
	    (json_int_t)st->fsync_us);
	pthread_mutex_unlock(&st->mu);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}
