/*
 * breaker.c - the per-upstream circuit breaker: `threshold` failures within `window_ms`
 * open it; after `cooldown_ms` one half-open trial request goes through; its success
 * closes the breaker, its failure opens it for another cool-down. A pure state machine:
 * the caller passes the time and holds the lock.
 */
#include <string.h>

#include "gw.h"

void
gw_breaker_init(struct gw_breaker *b, int threshold, int64_t window_ms, int64_t cooldown_ms)
{
	memset(b, 0, sizeof(*b));
	b->threshold = threshold < 1 ? 1 : threshold > 16 ? 16 : threshold;
	b->window_ms = window_ms;
	b->cooldown_ms = cooldown_ms;
}

const char *
gw_breaker_state_name(int state)
{
	return state == GW_BRK_OPEN ? "open" : state == GW_BRK_HALF_OPEN ? "half_open" : "closed";
}

/* Failures still inside the window at now. */
static int
breaker_recent(const struct gw_breaker *b, int64_t now)
{
	int n = 0;

	for (int i = 0; i < b->nfail; i++)
		n += now - b->fail_at[i] <= b->window_ms;
	return n;
}

int
gw_breaker_allow(struct gw_breaker *b, int64_t now)
{
	switch (b->state) {
	case GW_BRK_OPEN:
		if (now < b->next_trial) {
			b->rejected++;
			return 0;
		}
		b->state = GW_BRK_HALF_OPEN;
		b->trial_busy = 1;
		b->requests++;
		return 1;
	case GW_BRK_HALF_OPEN:
		if (b->trial_busy) {
			b->rejected++;
			return 0;
		}
		b->trial_busy = 1;
		b->requests++;
		return 1;
	default:
		b->requests++;
		return 1;
	}
}

void
gw_breaker_success(struct gw_breaker *b, int64_t now)
{
	(void)now;
	b->successes++;
	if (b->state == GW_BRK_HALF_OPEN) {
		b->state = GW_BRK_CLOSED;
		b->trial_busy = 0;
		b->nfail = 0;
	}
}

static void
breaker_open(struct gw_breaker *b, int64_t now)
{
	b->state = GW_BRK_OPEN;
	b->opened_at = now;
	b->next_trial = now + b->cooldown_ms;
	b->trial_busy = 0;
	b->nfail = 0;
	b->opens++;
}

void
gw_breaker_failure(struct gw_breaker *b, int64_t now)
{
	b->failures++;
	if (b->state == GW_BRK_HALF_OPEN) {
		breaker_open(b, now);
		return;
	}
	if (b->state == GW_BRK_OPEN)
		return;
	/* keep only failures inside the window, then add this one */
	int k = 0;
	for (int i = 0; i < b->nfail; i++)
		if (now - b->fail_at[i] <= b->window_ms)
			b->fail_at[k++] = b->fail_at[i];
	b->nfail = k;
	if (b->nfail == 16) {
		memmove(b->fail_at, b->fail_at + 1, sizeof(b->fail_at[0]) * 15);
		b->nfail--;
	}
	b->fail_at[b->nfail++] = now;
	if (breaker_recent(b, now) >= b->threshold)
		breaker_open(b, now);
}

void
gw_breaker_release(struct gw_breaker *b)
{
	if (b->state == GW_BRK_HALF_OPEN)
		b->trial_busy = 0;
}

json_t *
gw_breaker_json(const struct gw_breaker *b, int64_t now)
{
	json_t *j = json_pack("{s:s,s:i,s:I,s:I,s:I,s:I,s:I}", "state",
	    gw_breaker_state_name(b->state), "failures_in_window",
	    b->state == GW_BRK_CLOSED ? breaker_recent(b, now) : 0, "requests",
	    (json_int_t)b->requests, "successes", (json_int_t)b->successes, "failures",
	    (json_int_t)b->failures, "opens", (json_int_t)b->opens, "rejected",
	    (json_int_t)b->rejected);

	if (j != NULL && b->state == GW_BRK_OPEN)
		json_object_set_new(j, "next_trial_in_ms",
		    json_integer(b->next_trial > now ? b->next_trial - now : 0));
	return j;
}
