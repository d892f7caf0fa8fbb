/*
 * many.c - audit.append_many: one caller's group of synchronous records in one request.
 * lib's jido_audit_append coalesces the synchronous appends that a process's threads make
 * at the same time into one such request (group commit starting in the client), so the
 * transport carries one message per group instead of one per record. Each record stands
 * alone: a bad one gets its own error in the answer and the others are still written; the
 * answer goes only once every written record is durable. The daemon's request contexts
 * (serve.c) answer it from the committer's callback, the filter's handler blocks.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

struct aq_many {
	size_t n;
	struct aq_item *items; /* n; items[i].e.tail NULL when records[i] was refused */
	json_t *results;       /* n slots: the error of a refused record, else filled at the end */
	atomic_size_t left;    /* queued records not yet answered */
	void (*complete)(void *arg, struct aq_many *m);
	void *arg;
};

void
auditor_many_free(struct aq_many *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->items[i].e.tail);
		free(m->items[i].e.fields);
	}
	free(m->items);
	json_decref(m->results);
	free(m);
}

int
auditor_many_new(struct jido_srv *s, json_t *data, struct aq_many **out, char *why,
    size_t whylen)
{
	json_t *recs = json_object_get(data, "records");
	struct aq_many *m;
	size_t n;

	*out = NULL;
	if (!json_is_object(data) || json_object_size(data) != 1 || !json_is_array(recs) ||
	    (n = json_array_size(recs)) < 1 || n > JIDO_AUDIT_BATCH_MAX) {
		snprintf(why, whylen, "data must be {records: [1 to %d records]}",
		    JIDO_AUDIT_BATCH_MAX);
		return JIDO_EVALIDATION;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->items = calloc(n, sizeof(*m->items))) == NULL ||
	    (m->results = json_array()) == NULL) {
		auditor_many_free(m);
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(recs, i), *slot = json_null();
		char w[256] = "";
		int rc = json_is_object(r) ? ar_prepare(r, auditor_known(s), &m->items[i].e.tail,
		    &m->items[i].e.fields, w, sizeof(w)) : JIDO_EVALIDATION;
		if (rc != 0)
			slot = json_pack("{s:s,s:s}", "error", jido_err_name(rc), "why",
			    w[0] != '\0' ? w : "a record must be an object");
		if (slot == NULL || json_array_append_new(m->results, slot) != 0) {
			auditor_many_free(m);
			snprintf(why, whylen, "out of memory");
			return JIDO_EINTERNAL;
		}
	}
	*out = m;
	return 0;
}

/* The committer's answer to one record (on its thread); the last one completes m. */
static void
auditor_many_done(void *arg, const struct as_entry *e)
{
	struct aq_many *m = arg;

	(void)e;
	if (atomic_fetch_sub(&m->left, 1) == 1)
		m->complete(m->arg, m);
}

int
auditor_many_enqueue(struct jido_srv *s, struct aq_many *m,
    void (*complete)(void *arg, struct aq_many *m), void *arg)
{
	struct aq_item **q = malloc(m->n * sizeof(*q));
	size_t nq = 0;
	int rc;

	if (q == NULL)
		return JIDO_EINTERNAL;
	m->complete = complete;
	m->arg = arg;
	for (size_t i = 0; i < m->n; i++)
		if (m->items[i].e.tail != NULL) {
			m->items[i].complete = auditor_many_done;
			m->items[i].arg = m;
			q[nq++] = &m->items[i];
		}
	atomic_store(&m->left, nq);
	rc = nq == 0 ? 0 : auditor_enqueue_sync_n(s, q, nq);
	free(q);
	if (rc == 0 && nq == 0)
		complete(arg, m); /* every record was refused: answer now */
	return rc;
}

void
auditor_many_commit_inline(struct jido_srv *s, struct aq_many *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct as_entry *e = &m->items[i].e;
		if (e->tail == NULL)
			continue;
		e->rc = auditor_commit_inline(s, e);
		free(e->tail);
		free(e->fields);
		e->tail = e->fields = NULL;
	}
}

json_t *
auditor_many_data(struct aq_many *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct as_entry *e = &m->items[i].e;
		char leaf[65];
		json_t *slot;
		if (!json_is_null(json_array_get(m->results, i)))
			continue; /* refused: its error is already there */
		if (e->rc != 0)
			slot = json_pack("{s:s,s:s}", "error", jido_err_name(e->rc), "why",
			    "the record could not be made durable");
		else {
			am_hex(e->leaf, leaf);
			slot = json_pack("{s:I,s:s}", "seq", (json_int_t)e->seq, "leaf_hash", leaf);
		}
		if (slot == NULL || json_array_set_new(m->results, i, slot) != 0)
			return NULL;
	}
	return json_pack("{s:O}", "results", m->results);
}
