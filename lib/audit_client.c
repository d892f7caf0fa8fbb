/*
 * audit_client.c - how any process writes an audit record: jido_audit_append sends the
 * wire's audit.append either synchronously to the auditor's request socket (answered only
 * once the record is durable) or fire-and-forget to its PULL socket run/auditor.push.
 * The push socket is opened once per process and shared by its threads.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"

static pthread_mutex_t audit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct jido_bus *audit_push;
static char audit_push_url[PATH_MAX + 16];

/* URL from config key, else ipc://home/run/<file>. */
static int
audit_url(const struct jido_conf *c, const char *home, const char *key, const char *file,
    char *buf, size_t len)
{
	const char *v = jido_conf_str(c, key);
	int n = v != NULL && v[0] != '\0' ? snprintf(buf, len, "%s", v) :
	    snprintf(buf, len, "ipc://%s/run/%s", home, file);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

int
jido_audit_append(const struct jido_conf *c, const char *home, json_t *record, int sync,
    uint64_t *seq)
{
	char url[PATH_MAX + 16];
	int rc;

	if (!json_is_object(record)) {
		json_decref(record);
		return JIDO_EVALIDATION;
	}
	if (sync) {
		struct jido_reply r;
		if ((rc = audit_url(c, home, "socket.auditor", "auditor.sock", url,
		    sizeof(url))) != 0) {
			json_decref(record);
			return rc;
		}
		rc = jido_bus_call(url, "audit.append", NULL, record,
		    (int)jido_conf_int(c, "bus.timeout_ms"), &r);
		if (rc != 0)
			return rc;
		if (!r.ok)
			rc = r.err != 0 ? r.err : JIDO_EINTERNAL;
		else if (seq != NULL)
			*seq = (uint64_t)json_integer_value(json_object_get(r.data, "seq"));
		jido_reply_free(&r);
		return rc;
	}
	if ((rc = audit_url(c, home, "socket.auditor_push", "auditor.push", url,
	    sizeof(url))) != 0) {
		json_decref(record);
		return rc;
	}
	json_t *m = jido_msg_new("audit.append", NULL, NULL, record);
	if (m == NULL)
		return JIDO_EINTERNAL;
	pthread_mutex_lock(&audit_mu);
	if (audit_push != NULL && strcmp(audit_push_url, url) != 0) {
		jido_bus_close(audit_push);
		audit_push = NULL;
	}
	if (audit_push == NULL) {
		rc = jido_bus_open(JIDO_BUS_PUSH, url, 0, 0, NULL, &audit_push);
		if (rc == 0) {
			snprintf(audit_push_url, sizeof(audit_push_url), "%s", url);
			/* never hold a caller long: a missing auditor is a failed send */
			jido_bus_set_timeouts(audit_push, 1000, 1000);
		}
	}
	if (rc == 0)
		rc = jido_bus_send_json(audit_push, m);
	pthread_mutex_unlock(&audit_mu);
	json_decref(m);
	return rc;
}

void
jido_audit_close(void)
{
	pthread_mutex_lock(&audit_mu);
	jido_bus_close(audit_push);
	audit_push = NULL;
	pthread_mutex_unlock(&audit_mu);
}
