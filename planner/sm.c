/*
 * sm.c - the run and step state machines of the design brief as pure tables:
 *   run:  pending -> running <-> awaiting_approval -> completed | failed | cancelled
 *   step: pending -> running | awaiting_approval | skipped; running -> done | failed |
 *         pending (retry, or re-queued); awaiting_approval -> done | failed | skipped |
 *         pending (a parked ship step approved or released)
 * Everything that changes a state asks run_state_allowed/step_state_allowed first.
 */
#include <string.h>

#include "planner.h"

static const char *const run_names[RUN_NSTATES] = { "pending", "running", "awaiting_approval",
	"completed", "failed", "cancelled" };
static const char *const step_names[STEP_NSTATES] = { "pending", "running", "done", "failed",
	"awaiting_approval", "skipped" };

/* run_allowed[from][to] */
static const unsigned char run_allowed[RUN_NSTATES][RUN_NSTATES] = {
	/*                pend run await comp fail canc */
	[RUN_PENDING] =  { 0,   1,   0,    0,   1,   1 },
	[RUN_RUNNING] =  { 0,   0,   1,    1,   1,   1 },
	[RUN_AWAITING] = { 0,   1,   0,    0,   1,   1 },
};

static const unsigned char step_allowed[STEP_NSTATES][STEP_NSTATES] = {
	/*                  pend run done fail await skip */
	[STEP_PENDING] =  { 0,   1,  0,   1,   1,    1 },
	[STEP_RUNNING] =  { 1,   0,  1,   1,   0,    0 },
	[STEP_AWAITING] = { 1,   0,  1,   1,   0,    1 },
};

const char *
run_state_name(int s)
{
	return s >= 0 && s < RUN_NSTATES ? run_names[s] : "unknown";
}

int
run_state_parse(const char *name)
{
	for (int i = 0; name != NULL && i < RUN_NSTATES; i++)
		if (strcmp(run_names[i], name) == 0)
			return i;
	return -1;
}

const char *
step_state_name(int s)
{
	return s >= 0 && s < STEP_NSTATES ? step_names[s] : "unknown";
}

int
step_state_parse(const char *name)
{
	for (int i = 0; name != NULL && i < STEP_NSTATES; i++)
		if (strcmp(step_names[i], name) == 0)
			return i;
	return -1;
}

int
run_state_allowed(int from, int to)
{
	if (from < 0 || from >= RUN_NSTATES || to < 0 || to >= RUN_NSTATES)
		return 0;
	return run_allowed[from][to];
}

int
step_state_allowed(int from, int to)
{
	if (from < 0 || from >= STEP_NSTATES || to < 0 || to >= STEP_NSTATES)
		return 0;
	return step_allowed[from][to];
}

int
run_state_terminal(int s)
{
	return s == RUN_COMPLETED || s == RUN_FAILED || s == RUN_CANCELLED;
}
