/*
 * store.h - the auditor store's private parts, shared by store.c (the log, recovery,
 * queries and proofs) and index.c (the SQLite index and the indexer thread that fills it
 * off the committer's path). Nothing outside those two files includes it.
 */
#ifndef JIDO_AUDITOR_STORE_H
#define JIDO_AUDITOR_STORE_H

#include <limits.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "audit.h"

/* Records indexed in one open SQLite transaction before it is committed. */
#define AS_TXN_RECORDS 4096
/* The indexer commits the index transaction once no job came for this long (and every
 * AS_TXN_RECORDS records, and with each checkpoint): not after every job, which under a
 * steady stream of small commits rewrote the same SQLite pages each time. */
#define AS_IDX_IDLE_MS 20
/* Records waiting for the indexer before the committer waits for it. */
#define AS_IDX_BACKLOG 65536

/* What one commit leaves for the index: its records, its checkpoint if it made one, and
 * the log state after it (persisted with it, so recovery replays only what follows). */
struct as_irec {
	uint64_t seq, off;
	size_t len;
	uint8_t leaf[AM_HASH];
	char *fields; /* AR_NFIELDS NUL-terminated values, owned */
};
struct as_ijob {
	struct as_ijob *next;
	char time[40];
	struct am_frontier fr;
	uint8_t prev[AM_HASH];
	uint64_t off;
	int has_cp;
	struct ar_checkpoint cp;
	uint64_t cp_off;
	size_t n;
	struct as_irec r[];
};

struct as_store {
	/* mu: the log side, everything up to the counters */
	pthread_mutex_t mu;
	int fd;
	char logpath[PATH_MAX];
	struct am_frontier fr;
	uint8_t prev[AM_HASH];
	uint64_t off;
	struct ar_checkpoint cp; /* latest; cp.size 0 = none */
	int64_t cp_ms;
	long long cp_every, cp_secs;
	uint8_t sk[64];
	char seed_hex[65];
	const char *known[2];
	atomic_int broken; /* set by either side: appends are refused from then on */
	/* since start: group commits that wrote records, their records, and the time spent
	 * in them and in their fdatasync (audit.stats "commits") */
	uint64_t n_commits, n_committed, commit_us, fsync_us;

	/* dbmu: the index side. The SQLite connection and its statements; the index
	 * transaction left open across commits (queries on this connection see it),
	 * committed once the indexer has been idle AS_IDX_IDLE_MS, every AS_TXN_RECORDS
	 * records and with every checkpoint; `indexed`, the tree size the index holds
	 * (idx_cv is broadcast when it moves). Lock order: mu before dbmu, never the other
	 * way round. */
	pthread_mutex_t dbmu;
	pthread_cond_t idx_cv;
	sqlite3 *db;
	sqlite3_stmt *ins_rec, *ins_cp, *put_state;
	int in_txn;
	uint64_t txn_records;
	uint64_t indexed;

	/* qmu: the indexer's queue of jobs (qcv: a job came, there is room, or stop) */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	struct as_ijob *jobs_head, *jobs_tail;
	size_t jobs_records;
	pthread_t idx_thr;
	int idx_running, idx_stop;
};

/* index.c */
const char *as_str(json_t *o, const char *k); /* a string member, or NULL */
int as_prepare(struct as_store *st, char *why, size_t whylen);
/* Index one record: f holds its AR_NFIELDS field values (run_id NULL or "" when absent).
 * Under dbmu (or before any thread starts). */
int as_index_record(struct as_store *st, uint64_t seq, const char *time, const char *const *f,
    const uint8_t leaf[AM_HASH], uint64_t off, size_t len);
/* The field values of a parsed record line (borrowed from rec). */
void as_fields_json(json_t *rec, const char *f[AR_NFIELDS]);
/* A malloc'd fields block (as ar_prepare makes) from a record's tail text, or NULL. */
char *as_fields_block(const char *tail);
int as_index_checkpoint(struct as_store *st, const struct ar_checkpoint *cp, uint64_t off);
int as_index_state(struct as_store *st, const struct am_frontier *fr,
    const uint8_t prev[AM_HASH], uint64_t off);
/* Commit the open index transaction, if any (under dbmu). */
int as_index_sync_locked(struct as_store *st);
/* Hand job (taken) to the index: to the indexer thread when it runs (waiting while its
 * backlog is full), else indexed now. Called under mu by the commit, in seq order. */
void as_index_put(struct as_store *st, struct as_ijob *job);
/* Return holding dbmu once the index holds at least `size` records (or the indexer
 * stopped). */
void as_index_lock_at(struct as_store *st, uint64_t size);
/* Stop the indexer after it has indexed every job queued (as_close). */
void as_indexer_stop(struct as_store *st);

#endif
