/*
 * outbox.c - a serving loop's calls waiting for their answers: a fixed number of
 * jido_bus_async calls, each named by a key, sent without waiting and collected from the
 * loop's tick, so that a process which answers a peer's calls and also calls that peer
 * (the executor and gitops sending planner.steps.result while the planner sends them
 * work) keeps serving while its own call waits; each answer, failure or timeout goes to
 * the owner's done hook once.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"

struct jido_outbox {
	jido_outbox_done_fn done;
	void *arg;
	size_t n;
	struct {
		struct jido_bus_async *call; /* NULL: free slot */
		char *key;
		int timeout_ms;
	} *slot;
};

/* Contract: an outbox of slots calls (at least 1); done(arg, key, rc, r) is called once
 * per sent call. 0 with *out owned by the caller (jido_outbox_free); JIDO_EINTERNAL when
 * out of memory. */
int
jido_outbox_new(size_t slots, jido_outbox_done_fn done, void *arg, struct jido_outbox **out)
{
	struct jido_outbox *o;

	*out = NULL;
	if (slots == 0 || (o = calloc(1, sizeof(*o))) == NULL)
		return JIDO_EINTERNAL;
	if ((o->slot = calloc(slots, sizeof(*o->slot))) == NULL) {
		free(o);
		return JIDO_EINTERNAL;
	}
	o->done = done;
	o->arg = arg;
	o->n = slots;
	*out = o;
	return 0;
}

/* Hand slot i's outcome to the owner and free the slot. */
static void
outbox_finish(struct jido_outbox *o, size_t i, int rc, struct jido_reply *r)
{
	o->done(o->arg, o->slot[i].key, rc, rc == 0 ? r : NULL);
	jido_bus_async_free(o->slot[i].call);
	free(o->slot[i].key);
	o->slot[i].call = NULL;
	o->slot[i].key = NULL;
}

/* Contract: take the answers that have come, without waiting (wait_ms 0), or waiting for
 * the rest until wait_ms (a jido_now_ms time) and then giving up on what is still
 * unanswered (done gets JIDO_ETIMEOUT): a full outbox, the owner's close. */
void
jido_outbox_poll(struct jido_outbox *o, int64_t wait_ms)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		struct jido_reply r;
		int rc, done = 0;
		if (o->slot[i].call == NULL)
			continue;
		while ((rc = jido_bus_async_poll(o->slot[i].call, &done, &r)) == 0 && !done &&
		    jido_now_ms() < wait_ms)
			poll(NULL, 0, 5);
		if (rc == 0 && !done && wait_ms == 0)
			continue;
		if (rc == 0 && !done)
			rc = JIDO_ETIMEOUT;
		outbox_finish(o, i, rc, &r);
	}
}

/* Contract: send {type, corr, data} to url (takes data) without waiting for the answer,
 * which is due within timeout_ms and goes to done with key (copied). When every slot
 * waits, this waits first (up to timeout_ms) for their answers. A call that cannot start
 * goes to done at once with its error. */
void
jido_outbox_send(struct jido_outbox *o, const char *url, const char *type, const char *corr,
    const char *key, json_t *data, int timeout_ms)
{
	size_t i;
	int rc;

	for (i = 0; i < o->n && o->slot[i].call != NULL; i++)
		;
	if (i == o->n) { /* every slot waits: make room by waiting for the answers */
		jido_outbox_poll(o, jido_now_ms() + timeout_ms);
		i = 0;
	}
	if ((o->slot[i].key = strdup(key != NULL ? key : "")) == NULL) {
		json_decref(data);
		o->done(o->arg, key, JIDO_EINTERNAL, NULL);
		return;
	}
	if ((rc = jido_bus_async_start(url, type, corr, data, timeout_ms,
	    &o->slot[i].call)) != 0) {
		o->done(o->arg, key, rc, NULL);
		free(o->slot[i].key);
		o->slot[i].key = NULL;
	}
}

/* Contract: free o; calls still waiting are dropped without a done call (poll first to
 * give them time). NULL is fine. */
void
jido_outbox_free(struct jido_outbox *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++) {
		jido_bus_async_free(o->slot[i].call);
		free(o->slot[i].key);
	}
	free(o->slot);
	free(o);
}
