/*
 * planner.h - jido-planner's internal interfaces, shared by its small files:
 * store (schema, transactions), the run/step state machine, workflows, projects and the
 * mirror, triggers, approvals, dispatch to executors/gitops, and the operation table.
 * Nothing here is public: other processes talk to the planner over planner.* requests.
 */
#ifndef PLANNER_H
#define PLANNER_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "jido.h"
struct jido_art;

struct sqlite3;
struct sqlite3_stmt;

/* ------------------------------------------------------------ run and step states */

enum run_state { RUN_PENDING = 0, RUN_RUNNING, RUN_AWAITING, RUN_COMPLETED, RUN_FAILED,
	RUN_CANCELLED, RUN_NSTATES };
enum step_state { STEP_PENDING = 0, STEP_RUNNING, STEP_DONE, STEP_FAILED, STEP_AWAITING,
	STEP_SKIPPED, STEP_NSTATES };

/* Wire names ("awaiting_approval"); -1 from the parsers for an unknown name. */
const char *run_state_name(int s);
int run_state_parse(const char *name);
const char *step_state_name(int s);
int step_state_parse(const char *name);
/* 1 when the state machine allows from -> to. Pure. */
int run_state_allowed(int from, int to);
int step_state_allowed(int from, int to);
int run_state_terminal(int s);

/* ------------------------------------------------------------ workflows (workflow.c) */

enum step_kind { KIND_FETCH_ISSUE = 0, KIND_AGENT, KIND_SHELL, KIND_APPROVAL, KIND_SHIP,
	KIND_COMMENT, KIND_NKINDS };
const char *step_kind_name(int k);
int step_kind_parse(const char *name);

struct wf_step {
	char id[64];
	int kind;
	int timeout_s;
	int retries;
	int next;        /* index of the next step, -1 = end of the workflow */
	int on_failure;  /* index, -1 = fail the run */
	char skip_if[32];  /* "", "auto_post" or "auto_ship": skipped when the project setting is on */
	char runner[32];   /* agent runner kind ("claude", "codex", "shell"...), "" = project's */
	json_t *spec;      /* owned: the step's JSON object as written */
};

struct workflow {
	char name[64];
	int version;
	char hash[65];   /* SHA-256 hex of the file's bytes */
	char source[PATH_MAX];
	char *text;      /* owned: the file's bytes, stored with each pinned run */
	int nsteps;
	int start;
	struct wf_step *steps; /* owned */
};

/* Parse and validate a definition from text (source names it in errors). On success *out
 * is owned by the caller (workflow_free). On failure JIDO_EVALIDATION with why naming
 * the file, the step and the field. */
int workflow_parse(const char *source, const char *text, size_t len, struct workflow **out,
    char *why, size_t whylen);
void workflow_free(struct workflow *w);
/* Index of the step with that id, -1 when none. */
int workflow_step_index(const struct workflow *w, const char *id);

/* The set of loaded workflows: the built-ins and the owner's folder (same name: the
 * owner's wins). */
struct wf_set {
	int n;
	struct workflow **w; /* owned */
	json_t *errors;      /* owned: array of {file, error} for files that were refused */
};
/* Load every *.json in dirs (NULL-terminated; missing dirs are skipped). Never fails as a
 * whole: refused files are listed in set->errors. Caller frees with wf_set_free. */
int wf_set_load(struct wf_set *set, const char *const *dirs);
void wf_set_free(struct wf_set *set);
const struct workflow *wf_set_find(const struct wf_set *set, const char *name);
/* The built-in definitions' folder next to the binary (build/bin -> planner/workflows,
 * or PREFIX/share/jido/workflows), into buf; empty string when none exists. */
void wf_builtin_dir(char *buf, size_t len);
/* A run plan for w as JSON (steps in order with kind, timeout, retries, skip reason given
 * the project settings). New reference. */
json_t *workflow_plan_json(const struct workflow *w, const json_t *settings, int dry_run);

/* ------------------------------------------------------------ the planner */

struct planner {
	struct sqlite3 *db;
	struct jido_srv *srv;
	struct wf_set wf;
	char wf_dirs[2][PATH_MAX];
	struct jido_bus *events; /* SUB to run/events.pub, read by ev_thread */
	pthread_t ev_thread;
	int ev_started;
	volatile int ev_stop;
	pthread_mutex_t ev_mu;
	json_t *ev_queue;        /* [{type, data}] read but not yet processed (ev_mu) */
	uint64_t ev_dropped;     /* events dropped because the queue was full (ev_mu) */
	char url_executor[PATH_MAX + 16];
	char url_gitops[PATH_MAX + 16];
	char url_auditor[PATH_MAX + 16];
	char url_ingest[PATH_MAX + 16];
	int call_timeout_ms;
	int stale_days;
	int max_running_agents;
	int64_t next_ack_ms;
	int64_t next_dispatch_ms;
	int dirty;          /* something may be ready to dispatch */
	uint64_t events_in;
	int recovered;      /* run_recover done since open */
	int64_t resent_ms;  /* when run_recover last re-sent the running steps */
	json_t *wb_cache;   /* the last workbench reply, valid while nothing changed */
	int64_t wb_changes; /* sqlite3_total_changes when it was built */
	int64_t wb_minute;  /* the wall-clock minute it was built in (stale flags) */
	int wb_limit;
	struct workflow **pinned; /* parsed pinned texts, by hash (cache) */
	int npinned;
	struct pool *pool;  /* executors that poll for steps (pool.c), NULL when off */
	int recovering;     /* run_recover is re-sending: pool jobs are held back a lease */
	/* artifacts.c */
	struct jido_art *art;      /* the artifact store (we are its one writer) */
	int64_t art_next_sweep_ms;
	/* guard.c */
	int guard_unannounced;     /* a freeze may wait for its audit record and guard.frozen */
	int64_t guard_retry_ms;    /* monotonic ms before which an unconfirmed one is not retried */
};

/* pool.c: executors polling for steps over planner.executors_listen. */
struct pool;
int pool_open(struct planner *p, char *why, size_t whylen);
void pool_close(struct planner *p);
int pool_enabled(const struct planner *p);
int pool_enqueue(struct planner *p, const char *run_id, int seq, int attempt, json_t *data,
    int delay_ms);
void pool_forget(struct planner *p, const char *run_id, int seq);
int pool_handle(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen);
void pool_tick(struct planner *p);

/* artifacts.c: the store under home/artifacts, captures, planner.artifacts.*, sweeper. */
int artifacts_open(struct planner *p, char *why, size_t whylen);
void artifacts_close(struct planner *p);
/* Store what a step result holds (output as <step>.log or plan.md, diff, transcript, PR
 * link) and, when the run has ended, its cost summary. Failures are logged only. */
void artifacts_capture_step(struct planner *p, const char *run_id, int seq, int attempt,
    const json_t *result);
void artifacts_capture_end(struct planner *p, const char *run_id);
void artifacts_tick(struct planner *p);
int artifacts_handle(struct planner *p, const struct jido_req *req, json_t **out, char *why,
    size_t whylen);

/* planner.c */
struct planner *planner_of(struct jido_srv *s);

/* store.c: schema and helpers. All functions return 0 or a JIDO_E* code. */
int store_open(struct planner *p, const char *path, char *why, size_t whylen);
int store_begin(struct planner *p);
int store_commit(struct planner *p);
void store_rollback(struct planner *p);
/* Wall-clock milliseconds since the epoch (persisted deadlines survive restarts). */
int64_t store_now_ms(void);
/* A run-scoped id: "r_" + 16 hex. buf >= 24 bytes. */
void store_run_id_new(char *buf, size_t len);
/* Run one statement with bound args (types: 's' text or NULL, 'i' int64_t, 'd' int,
 * 'f' double). */
int store_exec(struct planner *p, const char *sql, const char *types, ...);
/* Prepare and bind a query; the caller steps and finalizes it. NULL on failure (logged). */
struct sqlite3_stmt *store_query(struct planner *p, const char *sql, const char *types, ...);
/* Column text ("" for NULL), borrowed until the next step; column parsed as JSON (new
 * reference, json null for NULL or bad JSON). */
const char *store_col_text(struct sqlite3_stmt *st, int i);
json_t *store_col_json(struct sqlite3_stmt *st, int i);
/* Global switches in the settings table ("shipping_paused" = "1"). */
int store_setting_get(struct planner *p, const char *key, char *buf, size_t len);
int store_setting_set(struct planner *p, const char *key, const char *value);

/* projects.c */
/* The default settings object of a new project (new reference). */
json_t *project_default_settings(void);
/* Validate a settings patch against the known keys and types; on success merge it into
 * settings (borrowed, modified). JIDO_EVALIDATION naming the key otherwise. */
int project_settings_merge(json_t *settings, const json_t *patch, char *why, size_t whylen);
/* Load a project's id and settings by full name (case-insensitive); *settings is a new
 * reference. JIDO_ENOTFOUND when none. */
int project_find(struct planner *p, const char *full_name, int64_t *id, json_t **settings,
    int *enabled);
int project_load(struct planner *p, int64_t id, char *full_name, size_t len, json_t **settings);

/* mirror.c: upsert one event's issue/PR into the mirror (inside the caller's txn). */
int mirror_apply(struct planner *p, const char *type, const json_t *data);

/* The workbench (planner.workbench): per project the open issues and PRs with stale flags
 * and latest runs, counts, and the project's latest run. */
int mirror_workbench(struct planner *p, const json_t *data, json_t **out, char *why,
    size_t whylen);

/* trigger.c */
struct trigger_decision {
	int run;            /* 1: start a run */
	int refused;        /* 1: a trigger matched but the actor may not trigger */
	char workflow[64];
	char reason[256];
};
/* Decide what an event means for a project with settings (NULL: no enabled project for
 * the repo; enabled=0: the project is disabled). Pure. */
void trigger_decide(const char *type, const json_t *data, const json_t *settings, int enabled,
    struct trigger_decision *d);
/* Process one event envelope (type, data) durably: delivery dedup, mirror, trigger, run.
 * *out (may be NULL) receives {delivery, outcome, reason, run_id?}. */
int trigger_event(struct planner *p, const char *type, const json_t *data, json_t **out,
    char *why, size_t whylen);
/* Process an array of {type, data} events in one transaction (each in a savepoint).
 * Returns how many were read, -1 when the batch could not be committed. */
int trigger_event_batch(struct planner *p, json_t *events);
/* Ack processed deliveries to ingest (best effort). */
void trigger_ack_tick(struct planner *p);

/* run.c: the engine. */
struct run_create {
	int64_t project_id;
	const char *workflow;
	int issue;          /* 0 = none */
	int dry_run;
	const char *trigger_kind; /* "event", "manual", "retry" */
	const char *delivery;     /* may be NULL */
	const char *actor;
	const char *parent;       /* retried run, may be NULL */
	int attempt;
};
/* Create a pending run pinned to pin (or, when NULL, the loaded workflow named
 * rc->workflow) (inside the caller's transaction when
 * intxn, else in its own). run_id receives the id (>= 24 bytes). */
int run_create(struct planner *p, const struct run_create *rc, const struct workflow *pin,
    int intxn, char *run_id, size_t idlen, char *why, size_t whylen);
/* The workflow a run is pinned to (parsed from its stored text, cached). NULL if none. */
const struct workflow *run_workflow_of(struct planner *p, const char *hash);
/* Move a run to state `to` (checked; JIDO_ECONFLICT otherwise), recording reason, in the
 * caller's transaction. Publishing happens in run_publish_pending after commit. */
int run_set_state(struct planner *p, const char *run_id, int to, const char *reason);
int step_set_state(struct planner *p, const char *run_id, int seq, int to, const char *reason);
/* Publish every recorded transition not yet published (after commit), in order. */
void run_publish_pending(struct planner *p);
/* Advance every runnable run as far as it goes without waiting (start, skip, park,
 * complete) and dispatch ready steps. Called from tick and after each operation. */
void run_drive(struct planner *p);
/* Fail running steps past their deadline. */
void run_timeouts(struct planner *p);
/* On start: re-dispatch steps that were running when the planner stopped. */
void run_recover(struct planner *p);
/* Attempt `attempt` of step seq lost its executor: back to pending with msg (again = 1)
 * or failed with msg (the run's failure rules apply). Own transaction. */
void run_step_lost(struct planner *p, const char *run_id, int seq, int attempt,
    const char *msg, int again);
/* Record an executor/gitops result for a step (planner.steps.result). */
int run_step_result(struct planner *p, const json_t *data, json_t **out, char *why,
    size_t whylen);
int run_cancel(struct planner *p, const char *run_id, const char *reason, char *why,
    size_t whylen);
/* JSON views (new references). */
json_t *run_json(struct planner *p, const char *run_id, int with_steps);

/* approvals.c */
int approval_decide(struct planner *p, const json_t *data, json_t **out, char *why,
    size_t whylen);
/* planner.approvals.kill_switch: read it ({}), or set it ({paused, rationale}) audited. */
int approval_kill_switch(struct planner *p, const json_t *data, json_t **out, char *why,
    size_t whylen);
/* Send audit.append synchronously; 0 only once the auditor acknowledged durability. */
int audit_append_sync(struct planner *p, const char *actor, const char *channel,
    const char *action, const char *subject, const char *run_id, const char *result,
    json_t *details);

/* guard.c: the per-project anomaly guard (pushes and comments per rolling hour). */
/* Create its tables (IF NOT EXISTS) on the open database. */
int guard_open(struct planner *p, char *why, size_t whylen);
/* 1 when the project is frozen (reason filled when not NULL), else 0. */
int guard_project_frozen(struct planner *p, int64_t project_id, char *reason, size_t len);
/* Inside the caller's transaction, before a ship (is_ship) or comment step with job id
 * `job` is sent: 1 when the project is frozen, now or already (reason says why; the step
 * must not be sent), 0 when it may go (counted once per job id), -1 on a database error. */
int guard_step(struct planner *p, int64_t project_id, int is_ship, const char *job,
    char *reason, size_t len);
/* Audit (guard.freeze) and publish guard.frozen for freezes not yet announced; outside a
 * transaction. One that the auditor does not confirm is tried again on a later call. */
void guard_announce(struct planner *p);
/* planner.guard.list {} -> {frozen: [...]}; planner.guard.unfreeze {project, actor?,
 * channel?} (project_id resolved by the caller) audited, the project's counts reset. */
int guard_handle(struct planner *p, const struct jido_req *req, int64_t project_id,
    json_t **out, char *why, size_t whylen);

/* ops.c: the request handler; reload the workflow set from wf_dirs. */
int planner_workflows_reload(struct planner *p);
int planner_ops_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen);

/* plan.c: `jido-planner plan --workflow W < event.json`. */
int planner_plan_command(int argc, char **argv);


#endif
