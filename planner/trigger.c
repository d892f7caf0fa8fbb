/*
 * trigger.c - what ingest's events mean: the pure decision (trigger_decide: an event and a
 * project's settings -> start workflow W, a no-op with its reason, or refused because the
 * actor may not trigger), and its durable processing (trigger_event: deduplicated on the
 * delivery id, mirror updated, run created, delivery recorded, all in one transaction),
 * plus acknowledging processed deliveries back to ingest.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "planner.h"

static void
decide(struct trigger_decision *d, int run, int refused, const char *wf, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
decide(struct trigger_decision *d, int run, int refused, const char *wf, const char *fmt, ...)
{
	va_list ap;

	d->run = run;
	d->refused = refused;
	snprintf(d->workflow, sizeof(d->workflow), "%s", wf ? wf : "");
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

/* Does the comment body start with cmd as a whole word (after leading blanks)? */
static int
comment_matches(const char *body, const char *cmd)
{
	size_t n = strlen(cmd);

	while (*body == ' ' || *body == '\t' || *body == '\r' || *body == '\n')
		body++;
	return strncmp(body, cmd, n) == 0 && (body[n] == '\0' || isspace((unsigned char)body[n]));
}

static int
assoc_allowed(const json_t *triggers, const char *assoc)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(triggers, "allowed_associations"), i, v)
		if (assoc != NULL && strcmp(json_string_value(v), assoc) == 0)
			return 1;
	return 0;
}

static void
assoc_list(const json_t *triggers, char *buf, size_t len)
{
	size_t i, off = 0;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(json_object_get(triggers, "allowed_associations"), i, v) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", json_string_value(v));
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

void
trigger_decide(const char *type, const json_t *data, const json_t *settings, int enabled,
    struct trigger_decision *d)
{
	const char *action = json_string_value(json_object_get(data, "action"));
	const char *repo = json_string_value(json_object_get(data, "repo"));
	const json_t *tr = json_object_get(settings, "triggers");
	const char *k;
	json_t *v;

	memset(d, 0, sizeof(*d));
	if (action == NULL)
		action = "";
	if (strncmp(type, "events.github.", 14) == 0) {
		decide(d, 0, 0, NULL, "%s: sync or unclassified event, mirror only", type);
		return;
	}
	if (settings == NULL) {
		decide(d, 0, 0, NULL, "no project for repo '%s'", repo ? repo : "(none)");
		return;
	}
	if (!enabled) {
		decide(d, 0, 0, NULL, "project '%s' is disabled", repo);
		return;
	}
	if (strcmp(type, "events.issues") == 0 && strcmp(action, "opened") == 0) {
		const char *wf = json_string_value(json_object_get(tr, "issue_opened"));
		if (wf == NULL)
			decide(d, 0, 0, NULL, "the issue_opened trigger is off for '%s'", repo);
		else
			decide(d, 1, 0, wf, "issues.opened");
		return;
	}
	if (strcmp(type, "events.issues") == 0 && strcmp(action, "labeled") == 0) {
		/* Only people with triage access can label on GitHub: no association check. */
		const char *label = json_string_value(json_object_get(data, "label"));
		json_object_foreach((json_t *)json_object_get(tr, "labels"), k, v) {
			int hit = label != NULL ? strcmp(label, k) == 0 : 0;
			if (label == NULL) {
				size_t i;
				json_t *l;
				json_array_foreach(json_object_get(data, "labels"), i, l)
					hit |= json_is_string(l) && strcmp(json_string_value(l), k) == 0;
			}
			if (hit) {
				decide(d, 1, 0, json_string_value(v), "label '%s'", k);
				return;
			}
		}
		decide(d, 0, 0, NULL, "no trigger label on issues.labeled");
		return;
	}
	if (strcmp(type, "events.issue_comment") == 0 && strcmp(action, "created") == 0) {
		const char *body = json_string_value(json_object_get(data, "body"));
		const char *assoc = json_string_value(json_object_get(data, "author_association"));
		json_object_foreach((json_t *)json_object_get(tr, "comments"), k, v) {
			if (body == NULL || !comment_matches(body, k))
				continue;
			if (!assoc_allowed(tr, assoc)) {
				char allowed[160];
				assoc_list(tr, allowed, sizeof(allowed));
				decide(d, 0, 1, NULL, "'%s' from %s (author_association %s) refused: "
				    "only %s may trigger runs", k,
				    json_string_value(json_object_get(data, "actor")) ?
				    json_string_value(json_object_get(data, "actor")) : "unknown",
				    assoc ? assoc : "missing", allowed);
				return;
			}
			decide(d, 1, 0, json_string_value(v), "comment '%s'", k);
			return;
		}
		decide(d, 0, 0, NULL, "comment without a /jido command");
		return;
	}
	decide(d, 0, 0, NULL, "no trigger matches %s%s%s", type, action[0] ? "." : "", action);
}

/* Is a run of this workflow for this issue still active? Fills id. */
static int
trigger_active_run(struct planner *p, int64_t project, int issue, const char *wf, char *id,
    size_t len)
{
	sqlite3_stmt *st = store_query(p, "SELECT id FROM runs WHERE project_id = ? AND issue = ? "
	    "AND workflow = ? AND state IN ('pending','running','awaiting_approval') LIMIT 1", "ids",
	    project, issue, wf);
	int yes = 0;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(id, len, "%s", store_col_text(st, 0));
		yes = 1;
	}
	sqlite3_finalize(st);
	return yes;
}

/* The body of trigger_event, inside the caller's transaction. */
static int
trigger_event_txn(struct planner *p, const char *type, const json_t *data, json_t **out,
    char *why, size_t whylen)
{
	const char *delivery = json_string_value(json_object_get(data, "delivery"));
	const char *repo = json_string_value(json_object_get(data, "repo"));
	const char *action = json_string_value(json_object_get(data, "action"));
	json_t *num = json_object_get(data, "number"), *settings = NULL;
	struct trigger_decision d;
	const char *outcome;
	char run_id[32] = "", other[32];
	int64_t pid = 0;
	int enabled = 0, rc, issue = json_is_integer(num) ? (int)json_integer_value(num) : 0;
	sqlite3_stmt *st;

	if (delivery == NULL || delivery[0] == '\0' || strlen(delivery) > 200)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "data.delivery: missing or not a "
		    "string of 1-200 bytes");
	if (strncmp(type, "events.", 7) != 0)
		return jido_fail(JIDO_EVALIDATION, why, whylen, "type '%s' is not an events.* type",
		    type);
	st = store_query(p, "SELECT outcome, reason, run_id FROM deliveries WHERE delivery = ?", "s",
	    delivery);
	if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		if (out != NULL)
			*out = json_pack("{s:s,s:s,s:s,s:s?,s:b}", "delivery", delivery, "outcome",
			    store_col_text(st, 0), "reason", store_col_text(st, 1), "run_id",
			    sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL : store_col_text(st, 2),
			    "duplicate", 1);
		sqlite3_finalize(st);
		return 0;
	}
	sqlite3_finalize(st);
	if ((rc = mirror_apply(p, type, data)) != 0)
		return jido_fail(rc, why, whylen, "cannot update the mirror");
	if (repo != NULL && project_find(p, repo, &pid, &settings, &enabled) != 0)
		settings = NULL;
	trigger_decide(type, data, settings, enabled, &d);
	json_decref(settings);
	outcome = d.refused ? "refused" : "noop";
	if (d.run && issue > 0 && trigger_active_run(p, pid, issue, d.workflow, other,
	    sizeof(other))) {
		d.run = 0;
		snprintf(d.reason, sizeof(d.reason), "run %s of %s is already active for #%d", other,
		    d.workflow, issue);
	}
	if (d.run) {
		struct run_create rcr = { .project_id = pid, .workflow = d.workflow, .issue = issue,
			.trigger_kind = "event", .delivery = delivery,
			.actor = json_string_value(json_object_get(data, "actor")) };
		char w2[256];
		rc = run_create(p, &rcr, NULL, 1, run_id, sizeof(run_id), w2, sizeof(w2));
		if (rc == JIDO_ENOTFOUND) {
			snprintf(d.reason, sizeof(d.reason), "%s", w2);
			run_id[0] = '\0';
		} else if (rc != 0)
			return jido_fail(rc, why, whylen, "%s", w2);
		else
			outcome = "run";
	}
	if ((rc = store_exec(p, "INSERT INTO deliveries(delivery, type, action, repo, number, "
	    "outcome, reason, run_id, received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", "ssssdsssi",
	    delivery, type, action ? action : "", repo ? repo : "", issue, outcome, d.reason,
	    run_id[0] ? run_id : NULL, store_now_ms())) != 0)
		return jido_fail(rc, why, whylen, "cannot record the delivery");
	if (strcmp(outcome, "run") != 0)
		jido_info("planner.event_noop", "{s:s,s:s,s:s,s:s}", "delivery", delivery, "type",
		    type, "outcome", outcome, "reason", d.reason);
	if (out != NULL)
		*out = json_pack("{s:s,s:s,s:s,s:s?,s:b}", "delivery", delivery, "outcome", outcome,
		    "reason", d.reason, "run_id", run_id[0] ? run_id : NULL, "duplicate", 0);
	return 0;
}

int
trigger_event(struct planner *p, const char *type, const json_t *data, json_t **out,
    char *why, size_t whylen)
{
	int rc;

	if (store_begin(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "database busy");
	if ((rc = trigger_event_txn(p, type, data, out, why, whylen)) != 0) {
		store_rollback(p);
		return rc;
	}
	if (store_commit(p) != 0)
		return jido_fail(JIDO_EINTERNAL, why, whylen, "cannot commit");
	p->events_in++;
	run_publish_pending(p);
	return 0;
}

int
trigger_event_batch(struct planner *p, json_t *events)
{
	size_t i;
	json_t *e;
	int n = 0;

	if (store_begin(p) != 0)
		return -1;
	json_array_foreach(events, i, e) {
		char why[512];
		const char *type = json_string_value(json_object_get(e, "type"));
		/* each event in its own savepoint: a bad one is dropped alone */
		store_exec(p, "SAVEPOINT ev", "");
		if (trigger_event_txn(p, type, json_object_get(e, "data"), NULL, why,
		    sizeof(why)) != 0) {
			jido_warn("planner.event_refused", "{s:s,s:s}", "type", type, "why", why);
			store_exec(p, "ROLLBACK TO ev", "");
		}
		store_exec(p, "RELEASE ev", "");
		n++;
	}
	if (store_commit(p) != 0)
		return -1;
	p->events_in += (uint64_t)n;
	run_publish_pending(p);
	return n;
}

void
trigger_ack_tick(struct planner *p)
{
	sqlite3_stmt *st;
	json_t *ids;
	struct jido_reply r;
	int64_t now = jido_now_ms();

	if (now < p->next_ack_ms)
		return;
	p->next_ack_ms = now + 1000;
	st = store_query(p, "SELECT delivery FROM deliveries WHERE acked = 0 LIMIT 500", "");
	ids = json_array();
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(ids, json_string(store_col_text(st, 0)));
	sqlite3_finalize(st);
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return;
	}
	if (jido_bus_call(p->url_ingest, "ingest.ack", NULL, json_pack("{s:O}", "deliveries", ids),
	    p->call_timeout_ms < 1000 ? p->call_timeout_ms : 1000, &r) == 0) {
		if (r.ok) {
			size_t i;
			json_t *v;
			store_begin(p);
			json_array_foreach(ids, i, v)
				store_exec(p, "UPDATE deliveries SET acked = 1 WHERE delivery = ?", "s",
				    json_string_value(v));
			store_commit(p);
		}
		jido_reply_free(&r);
	} else
		p->next_ack_ms = now + 5000; /* ingest down: try again later */
	json_decref(ids);
}
