/*
 * index.c - the auditor's SQLite index: one row per record (the fields queries filter on,
 * the leaf hash, where its line is in the log), the checkpoints, and the persisted Merkle
 * frontier. The log is the truth: the index may lag it and is rebuilt from its tail at
 * start. In the daemon an indexer thread fills it from the jobs each commit leaves, so the
 * committer's path is format, hash, write, fdatasync and answer; a query first waits until
 * the index holds every record acknowledged before it began.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "store.h"

int
as_prepare(struct as_store *st, char *why, size_t whylen)
{
	if (sqlite3_prepare_v2(st->db, "INSERT INTO records(seq,time,actor,channel,action,"
	    "subject,run_id,result,leaf,off,len) VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &st->ins_rec,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO checkpoints(tree_size,root,time,"
	    "key,sig,off) VALUES(?,?,?,?,?,?)", -1, &st->ins_cp, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO state(id,size,off,prev,frontier)"
	    " VALUES(1,?,?,?,?)", -1, &st->put_state, NULL) != SQLITE_OK)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "sqlite: %s%s", sqlite3_errmsg(st->db),
		    "");
	return 0;
}

const char *
as_str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int
as_index_record(struct as_store *st, uint64_t seq, const char *time, const char *const *f,
    const uint8_t leaf[AM_HASH], uint64_t off, size_t len)
{
	sqlite3_stmt *s = st->ins_rec;
	int rc;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
	sqlite3_bind_text(s, 2, time, -1, SQLITE_STATIC);
	for (int i = 0; i < AR_NFIELDS; i++) {
		if (f[i] != NULL && f[i][0] != '\0')
			sqlite3_bind_text(s, 3 + i, f[i], -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 3 + i);
	}
	sqlite3_bind_blob(s, 9, leaf, AM_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, (sqlite3_int64)off);
	sqlite3_bind_int64(s, 11, (sqlite3_int64)len);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
}

void
as_fields_json(json_t *rec, const char *f[AR_NFIELDS])
{
	for (int i = 0; i < AR_NFIELDS; i++)
		f[i] = as_str(rec, ar_field_names[i]);
}

int
as_index_checkpoint(struct as_store *st, const struct ar_checkpoint *cp, uint64_t off)
{
	sqlite3_stmt *s = st->ins_cp;
	char root[65], key[65], sig[129];
	int rc;

	am_hex(cp->root, root);
	sodium_bin2hex(key, sizeof(key), cp->key, 32);
	sodium_bin2hex(sig, sizeof(sig), cp->sig, 64);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)cp->size);
	sqlite3_bind_text(s, 2, root, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 3, cp->time, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, sig, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)off);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
}

int
as_index_state(struct as_store *st, const struct am_frontier *fr, const uint8_t prev[AM_HASH],
    uint64_t off)
{
	sqlite3_stmt *s = st->put_state;
	uint8_t buf[AM_MAXH * AM_HASH];
	size_t n = am_frontier_bytes(fr, buf);
	int rc;

	sqlite3_bind_int64(s, 1, (sqlite3_int64)fr->size);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)off);
	sqlite3_bind_blob(s, 3, prev, AM_HASH, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, 4, buf, (int)n, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : JIDO_EINTERNAL;
}

int
as_index_sync_locked(struct as_store *st)
{
	int rc = 0;

	if (st->in_txn) {
		rc = jido_db_exec(st->db, "COMMIT", NULL, 0);
		if (rc != 0)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->in_txn = 0;
		st->txn_records = 0;
	}
	return rc;
}

/* Commit the open index transaction (takes dbmu); a failure marks the store broken. */
static int
as_index_sync(struct as_store *st)
{
	int rc;

	pthread_mutex_lock(&st->dbmu);
	rc = as_index_sync_locked(st);
	if (rc != 0) {
		st->broken = 1;
		jido_error("auditor.index_failed", "{s:s}", "why", sqlite3_errmsg(st->db));
	}
	pthread_mutex_unlock(&st->dbmu);
	return rc;
}

char *
as_fields_block(const char *tail)
{
	json_t *rec = json_loads(tail, 0, NULL);
	const char *f[AR_NFIELDS];
	size_t len = 0, k;
	char *b = NULL, *p;

	if (rec == NULL)
		return NULL;
	as_fields_json(rec, f);
	for (int i = 0; i < AR_NFIELDS; i++)
		len += (f[i] != NULL ? strlen(f[i]) : 0) + 1;
	if ((b = malloc(len)) != NULL)
		for (int i = 0, p0 = 0; i < AR_NFIELDS; i++) {
			p = b + p0;
			k = f[i] != NULL ? strlen(f[i]) : 0;
			memcpy(p, f[i] != NULL ? f[i] : "", k);
			p[k] = '\0';
			p0 += (int)k + 1;
		}
	json_decref(rec);
	return b;
}

/* Index one job (under dbmu): its records, checkpoint and state in the open transaction.
 * A failure marks the store broken (recovery rebuilds the index from the log at start);
 * `indexed` moves on either way, so no reader waits for what will never come. */
static void
as_index_job(struct as_store *st, struct as_ijob *j)
{
	int irc = st->in_txn ? 0 : jido_db_exec(st->db, "BEGIN", NULL, 0);

	st->in_txn = irc == 0;
	for (size_t i = 0; irc == 0 && i < j->n; i++) {
		const char *f[AR_NFIELDS], *p = j->r[i].fields;
		for (int k = 0; k < AR_NFIELDS; k++, p += strlen(p) + 1)
			f[k] = p;
		irc = as_index_record(st, j->r[i].seq, j->time, f, j->r[i].leaf, j->r[i].off,
		    j->r[i].len);
	}
	if (irc == 0 && j->has_cp)
		irc = as_index_checkpoint(st, &j->cp, j->cp_off);
	if (irc == 0)
		irc = as_index_state(st, &j->fr, j->prev, j->off);
	st->txn_records += j->n;
	if (irc == 0 && (j->has_cp || st->txn_records >= AS_TXN_RECORDS))
		irc = as_index_sync_locked(st);
	if (irc != 0) {
		if (st->in_txn)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		st->in_txn = 0;
		st->txn_records = 0;
		if (!st->broken)
			jido_error("auditor.index_failed", "{s:s}", "why", sqlite3_errmsg(st->db));
		st->broken = 1;
	}
	if (j->fr.size > st->indexed)
		st->indexed = j->fr.size;
	pthread_cond_broadcast(&st->idx_cv);
}

static void
as_ijob_free(struct as_ijob *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->r[i].fields);
	free(j);
}

static void *
as_indexer(void *arg)
{
	struct as_store *st = arg;
	int open = 0; /* rows in the open index transaction, not yet committed */

	pthread_mutex_lock(&st->qmu);
	for (;;) {
		struct as_ijob *j;
		while (st->jobs_head == NULL && !st->idx_stop) {
			struct timespec ts;
			if (!open) {
				pthread_cond_wait(&st->qcv, &st->qmu);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += AS_IDX_IDLE_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			if (pthread_cond_timedwait(&st->qcv, &st->qmu, &ts) == ETIMEDOUT &&
			    st->jobs_head == NULL) { /* idle a while: commit the transaction */
				pthread_mutex_unlock(&st->qmu);
				as_index_sync(st);
				open = 0;
				pthread_mutex_lock(&st->qmu);
			}
		}
		if ((j = st->jobs_head) == NULL)
			break;
		st->jobs_head = st->jobs_tail = NULL;
		st->jobs_records = 0;
		pthread_cond_broadcast(&st->qcv); /* room again */
		pthread_mutex_unlock(&st->qmu);
		pthread_mutex_lock(&st->dbmu);
		while (j != NULL) {
			struct as_ijob *next = j->next;
			as_index_job(st, j);
			as_ijob_free(j);
			j = next;
		}
		open = st->in_txn;
		pthread_mutex_unlock(&st->dbmu);
		pthread_mutex_lock(&st->qmu);
	}
	pthread_mutex_unlock(&st->qmu);
	return NULL;
}

int
as_indexer_start(struct as_store *st)
{
	pthread_mutex_lock(&st->qmu);
	st->idx_stop = 0;
	st->idx_running = pthread_create(&st->idx_thr, NULL, as_indexer, st) == 0;
	pthread_mutex_unlock(&st->qmu);
	return st->idx_running ? 0 : JIDO_EINTERNAL;
}

void
as_indexer_stop(struct as_store *st)
{
	int running;

	pthread_mutex_lock(&st->qmu);
	running = st->idx_running;
	st->idx_stop = 1;
	pthread_cond_broadcast(&st->qcv);
	pthread_mutex_unlock(&st->qmu);
	if (running)
		pthread_join(st->idx_thr, NULL);
	pthread_mutex_lock(&st->qmu);
	st->idx_running = 0;
	pthread_mutex_unlock(&st->qmu);
	pthread_mutex_lock(&st->dbmu);
	pthread_cond_broadcast(&st->idx_cv);
	pthread_mutex_unlock(&st->dbmu);
}

void
as_index_put(struct as_store *st, struct as_ijob *job)
{
	pthread_mutex_lock(&st->qmu);
	if (st->idx_running && !st->idx_stop) {
		while (st->jobs_records >= AS_IDX_BACKLOG && st->idx_running && !st->idx_stop)
			pthread_cond_wait(&st->qcv, &st->qmu);
		job->next = NULL;
		if (st->jobs_tail != NULL)
			st->jobs_tail->next = job;
		else
			st->jobs_head = job;
		st->jobs_tail = job;
		st->jobs_records += job->n;
		pthread_cond_broadcast(&st->qcv);
		pthread_mutex_unlock(&st->qmu);
		return;
	}
	pthread_mutex_unlock(&st->qmu);
	pthread_mutex_lock(&st->dbmu);
	as_index_job(st, job);
	pthread_mutex_unlock(&st->dbmu);
	as_ijob_free(job);
}

void
as_index_lock_at(struct as_store *st, uint64_t size)
{
	pthread_mutex_lock(&st->dbmu);
	while (st->indexed < size && st->idx_running)
		pthread_cond_wait(&st->idx_cv, &st->dbmu);
}
