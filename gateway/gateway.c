/*
 * gateway.c - jido-gateway: LLM gateway for sandboxed agents: scoped keys, usage, breaker,
 * failover. This file holds the process declaration (allowlist, hooks), the request-socket
 * handler (gateway.keys.create, gateway.keys.revoke, gateway.usage, gateway.breakers,
 * gateway.metrics), and
 * the housekeeping tick: starting the HTTP thread, fetching provider keys from the vault,
 * and sending usage records to the planner and the auditor.
 *
 * The HTTP listeners are bound and the HTTP thread is started on the first tick, that is
 * after the seccomp allowlist is installed: a thread started earlier would run unfiltered
 * (libseccomp does not synchronise filters across threads unless asked), and filter mode
 * (which never ticks) must not take the daemon's sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "gw.h"

#define VAULT_RETRY_MS 5000
#define PEER_RETRY_MS 5000
#define DRAIN_BATCH 64
#define TRIM_MS 2000

/* Syscalls beyond the base allowlist (lib/seccomp.c): locked memory for provider keys
 * (sodium_malloc), the resolver's batched DNS queries. */
static const char *const gateway_allow[] = { "mlock", "munlock", "mlock2", "sendmmsg",
	"recvmmsg", "fstatfs", "statfs", "sysinfo", NULL };

/* ---------------------------------------------------------------- listeners */

/* Bind the HTTP unix socket; refuses when a live gateway answers on it. */
static int
gw_bind_unix(struct gw *g, char *why, size_t whylen)
{
	struct sockaddr_un sa;
	int fd, probe;
	mode_t old;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(g->unix_path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "gateway.http_socket path is too long (%zu bytes, limit %zu)",
		    strlen(g->unix_path), sizeof(sa.sun_path) - 1);
		return JIDO_EVALIDATION;
	}
	memcpy(sa.sun_path, g->unix_path, strlen(g->unix_path) + 1);
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		int live = connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(probe);
		if (live) {
			snprintf(why, whylen, "%s is served by another process", g->unix_path);
			return JIDO_EUNAVAIL;
		}
	}
	unlink(g->unix_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		goto fail;
	old = umask(0177); /* the socket file is 0600: only our uid's executor relays to it */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		close(fd);
		goto fail;
	}
	umask(old);
	if (listen(fd, 512) != 0) {
		close(fd);
		goto fail;
	}
	g->lfd_unix = fd;
	return 0;
fail:
	snprintf(why, whylen, "cannot listen on %s: %s", g->unix_path, strerror(errno));
	return JIDO_EUNAVAIL;
}

/* Bind the optional loopback TCP listener ("127.0.0.1:4100" or "[::1]:4100"). */
static int
gw_bind_tcp(struct gw *g, const char *addr, char *why, size_t whylen)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, port;
	char *end;

	memset(&ss, 0, sizeof(ss));
	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) ||
	    (port = (int)strtol(colon + 1, &end, 10)) <= 0 || port > 65535 || *end != '\0')
		goto bad;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*s4);
	} else if (strcmp(host, "[::1]") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_loopback;
		sl = sizeof(*s6);
	} else
		goto bad;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 512) != 0) {
		close(fd);
		goto fail;
	}
	g->lfd_tcp = fd;
	return 0;
bad:
	snprintf(why, whylen, "gateway.listen must be a loopback address with a port "
	    "(127.0.0.1:PORT, localhost:PORT or [::1]:PORT), not '%.64s'", addr);
	return JIDO_EVALIDATION;
fail:
	snprintf(why, whylen, "cannot listen on %s: %s", addr, strerror(errno));
	return JIDO_EUNAVAIL;
}

/* ---------------------------------------------------------------- the HTTP thread */

static void
gw_on_stop(evutil_socket_t fd, short kind, void *arg)
{
	(void)fd;
	(void)kind;
	event_base_loopbreak(((struct gw *)arg)->base);
}

static void *
gw_http_main(void *arg)
{
	struct gw *g = arg;

	event_base_dispatch(g->base);
	gw_http_stop(g); /* closes client connections; their calls are aborted and recorded */
	gw_proxy_fini(g);
	return NULL;
}

/* Bind, build the event loop, start the thread. */
static int
gw_http_start(struct gw *g, char *why, size_t whylen)
{
	const char *tcp = jido_conf_str(g->conf, "gateway.listen");
	int rc;

	if ((rc = gw_bind_unix(g, why, whylen)) != 0)
		return rc;
	if (tcp != NULL && tcp[0] != '\0' && (rc = gw_bind_tcp(g, tcp, why, whylen)) != 0)
		return rc;
	if (pipe2(g->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(why, whylen, "cannot create the stop pipe: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	if ((g->base = event_base_new()) == NULL ||
	    (g->stop_ev = event_new(g->base, g->stop_pipe[0], EV_READ, gw_on_stop, g)) == NULL ||
	    event_add(g->stop_ev, NULL) != 0) {
		snprintf(why, whylen, "cannot create the event loop");
		return JIDO_EINTERNAL;
	}
	if ((rc = gw_proxy_init(g, why, whylen)) != 0 || (rc = gw_http_listen(g, why, whylen)) != 0)
		return rc;
	if (pthread_create(&g->thr, NULL, gw_http_main, g) != 0) {
		snprintf(why, whylen, "cannot start the HTTP thread");
		return JIDO_EINTERNAL;
	}
	g->thr_started = 1;
	jido_info("gateway.listening", "{s:s,s:s?}", "socket", g->unix_path, "tcp",
	    tcp != NULL && tcp[0] != '\0' ? tcp : NULL);
	return 0;
}

/* ---------------------------------------------------------------- provider keys */

/* Fetch upstream u's key from the vault when missing or due for refresh (main thread). */
static void
gw_vault_refresh(struct jido_srv *s, struct gw *g, struct gw_upstream *u, int64_t now)
{
	char url[4400], why[256] = "";
	const char *cred = jido_cred_self();
	struct jido_reply r;
	long long refresh = jido_conf_int(g->conf, "gateway.key_refresh_s") * 1000;
	int rc;

	if (u->vault_name[0] == '\0' || now < u->retry_at ||
	    (u->secret != NULL && (refresh <= 0 || now - u->secret_at < refresh)))
		return;
	u->retry_at = now + VAULT_RETRY_MS;
	if (cred == NULL) {
		jido_warn("gateway.vault_failed", "{s:s,s:s}", "upstream", u->name, "why",
		    "no process credential (start under jido up)");
		return;
	}
	const char *sv = jido_conf_str(g->conf, "socket.vault");
	if (sv != NULL && sv[0] != '\0')
		snprintf(url, sizeof(url), "%s", sv);
	else if (jido_bus_url_req(jido_srv_home(s), "vault", url, sizeof(url)) != 0)
		return;
	rc = jido_bus_call(url, "vault.get", NULL, json_pack("{s:s,s:s}", "name", u->vault_name,
	    "cred", cred), 1000, &r);
	if (rc != 0) {
		jido_warn("gateway.vault_failed", "{s:s,s:s}", "upstream", u->name, "why",
		    jido_strerror(rc));
		return;
	}
	if (!r.ok) {
		jido_warn("gateway.vault_failed", "{s:s,s:s,s:s}", "upstream", u->name, "code",
		    jido_err_name(r.err), "why", r.message != NULL ? r.message : "");
		jido_reply_free(&r);
		return;
	}
	json_t *v = json_object_get(r.data, "value");
	if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 4096) {
		size_t n = json_string_length(v);
		char *sec = sodium_malloc(n + 1), *old;
		if (sec != NULL) {
			memcpy(sec, json_string_value(v), n + 1);
			pthread_mutex_lock(&g->mu);
			old = u->secret;
			u->secret = sec;
			u->secret_at = now;
			pthread_mutex_unlock(&g->mu);
			if (old != NULL)
				sodium_free(old);
			jido_info("gateway.key_loaded", "{s:s,s:s}", "upstream", u->name, "from", "vault");
		}
		/* the reply's copy of the value: wipe it before jansson frees it */
		sodium_memzero((char *)json_string_value(v), n);
	} else {
		snprintf(why, sizeof(why), "vault value for %s is not a usable key", u->vault_name);
		jido_warn("gateway.vault_failed", "{s:s,s:s}", "upstream", u->name, "why", why);
	}
	jido_reply_free(&r);
}

/* ---------------------------------------------------------------- outbox */

/* Send one message to a process, best-effort, with a short timeout. 0 when answered ok. */
static int
gw_send(struct jido_srv *s, const char *proc, const char *type, const char *corr, json_t *data)
{
	char url[4400], key[64];
	const char *v;
	struct jido_reply r;
	int rc;

	snprintf(key, sizeof(key), "socket.%s", proc);
	v = jido_conf_str(jido_srv_conf(s), key);
	if (v != NULL && v[0] != '\0')
		snprintf(url, sizeof(url), "%s", v);
	else if (jido_bus_url_req(jido_srv_home(s), proc, url, sizeof(url)) != 0) {
		json_decref(data);
		return JIDO_EINTERNAL;
	}
	if ((rc = jido_bus_call(url, type, corr, data, 300, &r)) != 0)
		return rc;
	rc = r.ok ? 0 : r.err;
	if (!r.ok)
		jido_debug("gateway.peer_refused", "{s:s,s:s,s:s}", "to", proc, "code",
		    jido_err_name(r.err), "why", r.message != NULL ? r.message : "");
	jido_reply_free(&r);
	return rc;
}

/* Queue one message (its references move to the ring). Caller holds g->mu. */
static void
gw_outbox_put(struct gw *g, struct gw_record *rec, json_t *audit)
{
	struct gw_outmsg *m;

	if (g->outbox_n == GW_OUTBOX_MAX) {
		m = &g->outbox[g->outbox_head];
		gw_record_unref(m->rec);
		json_decref(m->audit);
		g->outbox_head = (g->outbox_head + 1) % GW_OUTBOX_MAX;
		g->outbox_n--;
		g->outbox_dropped++;
	}
	m = &g->outbox[(g->outbox_head + g->outbox_n++) % GW_OUTBOX_MAX];
	m->rec = rec;
	m->audit = audit;
}

void
gw_outbox_written(struct gw_record *rec, void *g)
{
	gw_outbox_put(g, gw_record_ref(rec), NULL);
}

/* Take the oldest queued message (the caller owns its references); 0, or -1 when empty.
 * Caller holds g->mu. */
static int
gw_outbox_pop(struct gw *g, struct gw_outmsg *out)
{
	if (g->outbox_n == 0)
		return -1;
	*out = g->outbox[g->outbox_head];
	g->outbox_head = (g->outbox_head + 1) % GW_OUTBOX_MAX;
	g->outbox_n--;
	return 0;
}

/* Drain queued usage records: planner.usage.record and audit.append, each best-effort;
 * a peer that does not answer is skipped for a while (the record stays in gateway.db). */
static void
gw_outbox_drain(struct jido_srv *s, struct gw *g, int64_t now)
{
	struct gw_outmsg batch[DRAIN_BATCH];
	size_t n = 0;

	pthread_mutex_lock(&g->mu);
	while (n < DRAIN_BATCH && gw_outbox_pop(g, &batch[n]) == 0)
		n++;
	pthread_mutex_unlock(&g->mu);
	for (size_t i = 0; i < n; i++) {
		json_t *audit = batch[i].audit, *rec;
		if (audit != NULL) {
			if (now >= g->auditor_down_until && gw_send(s, "auditor", "audit.append", NULL,
			    json_incref(audit)) == JIDO_EUNAVAIL)
				g->auditor_down_until = now + PEER_RETRY_MS;
			json_decref(audit);
			continue;
		}
		rec = gw_record_json(batch[i].rec);
		gw_record_unref(batch[i].rec);
		if (rec == NULL)
			continue;
		const char *run = json_string_value(json_object_get(rec, "run_id"));
		if (now >= g->planner_down_until) {
			int rc = gw_send(s, "planner", "planner.usage.record", run, json_incref(rec));
			if (rc == JIDO_EUNAVAIL || rc == JIDO_ETIMEOUT)
				g->planner_down_until = now + PEER_RETRY_MS;
		}
		if (now >= g->auditor_down_until) {
			json_t *ad = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s,s:{s:O?,s:O?,s:O?,s:O?,s:O?,"
			    "s:O?,s:O?,s:O?,s:O?}}", "actor", "gateway", "channel", "api", "action",
			    "llm.request", "subject", json_string_value(json_object_get(rec, "model")) ?
			    json_string_value(json_object_get(rec, "model")) : "unknown",
			    "run_id", run, "result",
			    json_is_true(json_object_get(rec, "complete")) ? "ok" : "error", "details",
			    "key_id", json_object_get(rec, "key_id"), "upstream",
			    json_object_get(rec, "upstream"), "api", json_object_get(rec, "api"),
			    "status", json_object_get(rec, "status"), "input_tokens",
			    json_object_get(rec, "input_tokens"), "output_tokens",
			    json_object_get(rec, "output_tokens"), "cache_read_tokens",
			    json_object_get(rec, "cache_read_tokens"), "cache_write_tokens",
			    json_object_get(rec, "cache_write_tokens"), "cost_usd",
			    json_object_get(rec, "cost_usd"));
			int rc = ad != NULL ? gw_send(s, "auditor", "audit.append", run, ad) : 0;
			if (rc == JIDO_EUNAVAIL || rc == JIDO_ETIMEOUT)
				g->auditor_down_until = now + PEER_RETRY_MS;
		}
		json_decref(rec);
	}
}

/* Queue an audit record about a key (create/revoke). Caller holds g->mu. */
static void
gw_audit_queue(struct gw *g, const char *action, const char *subject, const char *run,
    const char *result)
{
	json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s}", "actor", "gateway", "channel",
	    "system", "action", action, "subject", subject, "run_id", run, "result", result);

	if (a != NULL)
		gw_outbox_put(g, NULL, a);
}

/* ---------------------------------------------------------------- hooks */

static int
gateway_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct gw *g = jido_srv_priv(s);
	const struct jido_conf *c = jido_srv_conf(s);
	const char *sock = jido_conf_str(c, "gateway.http_socket");
	int rc;

	g->conf = c;
	g->lfd_unix = g->lfd_tcp = -1;
	snprintf(g->home, sizeof(g->home), "%s", jido_srv_home(s));
	if (sodium_init() < 0) {
		snprintf(why, whylen, "libsodium failed to initialise");
		return JIDO_EINTERNAL;
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0)
		return JIDO_EINTERNAL;
	g->mu_ok = 1;
	if (sock != NULL && sock[0] != '\0')
		snprintf(g->unix_path, sizeof(g->unix_path), "%s", sock);
	else
		snprintf(g->unix_path, sizeof(g->unix_path), "%s/run/gateway-http.sock", g->home);
	g->max_body = jido_conf_int(c, "gateway.max_body");
	g->connect_ms = jido_conf_int(c, "gateway.connect_timeout_ms");
	g->read_ms = jido_conf_int(c, "gateway.read_timeout_ms");
	g->stream_high = jido_conf_int(c, "gateway.stream_buffer");
	g->stream_low = g->stream_high / 4;
	if (g->max_body < 1 || g->connect_ms < 1 || g->read_ms < 1 || g->stream_high < 4096) {
		snprintf(why, whylen, "gateway.max_body and the gateway timeouts must be above 0, "
		    "gateway.stream_buffer at least 4096");
		return JIDO_EVALIDATION;
	}
	if ((rc = gw_pricing_parse(jido_conf_str(c, "gateway.pricing"), &g->prices, &g->nprices,
	    why, whylen)) != 0)
		return rc;
	if ((rc = gw_upstreams_parse(jido_conf_str(c, "gateway.upstreams"), g->ups, GW_MAX_UP,
	    &g->nups, why, whylen)) != 0)
		return rc;
	for (int i = 0; i < g->nups; i++) {
		struct gw_upstream *u = &g->ups[i];
		gw_breaker_init(&u->brk, (int)jido_conf_int(c, "gateway.breaker_failures"),
		    jido_conf_int(c, "gateway.breaker_window_s") * 1000,
		    jido_conf_int(c, "gateway.breaker_cooldown_s") * 1000);
		if (u->key_file[0] != '\0' &&
		    (rc = gw_keyfile_read(u->key_file, &u->secret, why, whylen)) != 0)
			return rc;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		snprintf(why, whylen, "libcurl failed to initialise");
		return JIDO_EINTERNAL;
	}
	if ((rc = gw_store_open(g->home, &g->db, why, whylen)) != 0)
		return rc;
	return 0;
}

static void
gateway_tick(struct jido_srv *s)
{
	struct gw *g = jido_srv_priv(s);
	int64_t now = jido_now_ms();
	char why[512];

	if (!g->thr_started) {
		int rc = gw_http_start(g, why, sizeof(why));
		if (rc != 0) {
			/* cannot serve at all: say why and let the supervisor restart us */
			jido_error("gateway.listen_failed", "{s:s}", "why", why);
			exit(111);
		}
	}
	for (int i = 0; i < g->nups; i++)
		gw_vault_refresh(s, g, &g->ups[i], now);
	gw_outbox_drain(s, g, now);
	/* hand the memory a burst of calls freed back to the system (glibc keeps it in the
	 * HTTP thread's arena otherwise): the resident size follows the calls in flight */
	if (now - g->trimmed_at >= TRIM_MS) {
		g->trimmed_at = now;
		malloc_trim(0);
	}
}

static void
gateway_close(struct jido_srv *s)
{
	struct gw *g = jido_srv_priv(s);

	if (g->thr_started) {
		/* libevent is not built thread-aware here: wake the loop through its pipe */
		while (write(g->stop_pipe[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_join(g->thr, NULL);
		g->thr_started = 0;
		unlink(g->unix_path);
	}
	if (g->stop_ev != NULL)
		event_free(g->stop_ev);
	if (g->base != NULL)
		event_base_free(g->base);
	for (int i = 0; i < 2; i++)
		if (g->stop_pipe[i] > 0)
			close(g->stop_pipe[i]);
	if (g->lfd_unix >= 0)
		close(g->lfd_unix);
	if (g->lfd_tcp >= 0)
		close(g->lfd_tcp);
	for (int i = 0; i < g->nups; i++)
		if (g->ups[i].secret != NULL) {
			sodium_free(g->ups[i].secret);
			g->ups[i].secret = NULL;
		}
	gw_store_close(g->db); /* the last group commit: usage of calls aborted at stop */
	g->db = NULL;
	free(g->prices);
	for (struct gw_outmsg m; gw_outbox_pop(g, &m) == 0;) {
		gw_record_unref(m.rec);
		json_decref(m.audit);
	}
	if (g->mu_ok)
		pthread_mutex_destroy(&g->mu);
	curl_global_cleanup();
}

/* Readers of the usage table see every call answered so far: write what the HTTP thread's
 * group commit has not yet (a failure is logged; the reader sees the table as it is).
 * Caller holds g->mu. */
static void
gw_store_sync(struct gw *g)
{
	char why[256];

	if (gw_store_flush(g->db, gw_outbox_written, g, why, sizeof(why)) != 0)
		jido_error("gateway.store_failed", "{s:s}", "why", why);
}

/* gateway.breakers: every upstream with its breaker. Caller holds g->mu. */
static json_t *
gw_breakers_json(struct gw *g)
{
	json_t *arr = json_array();
	int64_t now = jido_now_ms();

	for (int i = 0; i < g->nups; i++) {
		struct gw_upstream *u = &g->ups[i];
		json_t *b = gw_breaker_json(&u->brk, now);
		json_t *meta = json_pack("{s:s,s:s,s:s,s:i,s:b}", "name", u->name, "style",
		    u->style == GW_STYLE_ANTHROPIC ? "anthropic" : "openai", "base_url", u->base,
		    "priority", u->priority, "has_key", u->secret != NULL);
		json_object_update(b, meta);
		json_decref(meta);
		json_array_append_new(arr, b);
	}
	return json_pack("{s:o}", "upstreams", arr);
}

/* gateway.backup {path}: a consistent copy of gateway.db (VACUUM INTO, one read
 * transaction) for `jido backup`, which cannot read the database while the gateway holds
 * it with exclusive locking. path: absolute, named gateway.db, not there yet. */
static int
gw_backup(struct gw *g, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *path = json_string_value(json_object_get(data, "path"));
	size_t l = path ? strlen(path) : 0;
	sqlite3_stmt *st = NULL;
	int rc;

	if (path == NULL || path[0] != '/' || l < 11 || l > 4000 || strstr(path, "/../") ||
	    strcmp(path + l - 11, "/gateway.db") != 0) {
		snprintf(why, whylen, "data.path: an absolute path ending in /gateway.db");
		return JIDO_EVALIDATION;
	}
	if (access(path, F_OK) == 0) {
		snprintf(why, whylen, "data.path: %s already exists", path);
		return JIDO_ECONFLICT;
	}
	pthread_mutex_lock(&g->mu);
	gw_store_sync(g);
	if (sqlite3_prepare_v2(g->db, "VACUUM INTO ?", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC) != SQLITE_OK)
		rc = SQLITE_ERROR;
	else
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		snprintf(why, whylen, "cannot copy gateway.db: %s", sqlite3_errmsg(g->db));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&g->mu);
	if (rc != SQLITE_DONE)
		return JIDO_EINTERNAL;
	*out = json_pack("{s:s}", "path", path);
	return 0;
}

/* gateway.metrics: the usage totals of the store, the breakers, what is in flight and
 * the outbox, for the web's /metrics. Caller holds g->mu. */
static int
gw_metrics_json(struct gw *g, json_t **out, char *why, size_t whylen)
{
	json_t *brk;
	int rc;

	if ((rc = gw_usage_totals(g->db, out, why, whylen)) != 0)
		return rc;
	brk = gw_breakers_json(g);
	json_object_set(*out, "upstreams", json_object_get(brk, "upstreams"));
	json_decref(brk);
	json_object_set_new(*out, "calls_in_flight",
	    json_integer(__atomic_load_n(&g->calls, __ATOMIC_RELAXED)));
	json_object_set_new(*out, "outbox_queued", json_integer((json_int_t)g->outbox_n));
	json_object_set_new(*out, "outbox_dropped", json_integer((json_int_t)g->outbox_dropped));
	json_object_set_new(*out, "streams_paused", json_integer((json_int_t)__atomic_load_n(
	    &g->streams_paused, __ATOMIC_RELAXED)));
	json_object_set_new(*out, "stream_buffer_peak", json_integer((json_int_t)__atomic_load_n(
	    &g->stream_peak, __ATOMIC_RELAXED)));
	json_object_set_new(*out, "stream_buffer", json_integer((json_int_t)g->stream_high));
	return 0;
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. */
static int
gateway_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct gw *g = jido_srv_priv(s);
	int rc;

	if (strcmp(req->type, "gateway.keys.create") == 0) {
		pthread_mutex_lock(&g->mu);
		rc = gw_keys_create(g->db, req->data, out, why, whylen);
		if (rc == 0)
			gw_audit_queue(g, "gateway.key.create",
			    json_string_value(json_object_get(*out, "key_id")),
			    json_string_value(json_object_get(*out, "run_id")), "ok");
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	if (strcmp(req->type, "gateway.keys.revoke") == 0) {
		pthread_mutex_lock(&g->mu);
		rc = gw_keys_revoke(g->db, req->data, out, why, whylen);
		if (rc == 0) {
			json_t *r = json_object_get(req->data, "run_id");
			gw_audit_queue(g, "gateway.key.revoke", json_is_string(r) ? json_string_value(r) :
			    json_string_value(json_object_get(req->data, "key_id")),
			    json_is_string(r) ? json_string_value(r) : NULL, "ok");
		}
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	if (strcmp(req->type, "gateway.usage") == 0) {
		pthread_mutex_lock(&g->mu);
		gw_store_sync(g);
		rc = gw_usage_query(g->db, req->data, out, why, whylen);
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	if (strcmp(req->type, "gateway.usage.summary") == 0) {
		pthread_mutex_lock(&g->mu);
		gw_store_sync(g);
		rc = gw_usage_summary(g->db, req->data, out, why, whylen);
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	if (strcmp(req->type, "gateway.backup") == 0)
		return gw_backup(g, req->data, out, why, whylen);
	if (strcmp(req->type, "gateway.breakers") == 0) {
		pthread_mutex_lock(&g->mu);
		*out = gw_breakers_json(g);
		pthread_mutex_unlock(&g->mu);
		return *out != NULL ? 0 : JIDO_EINTERNAL;
	}
	if (strcmp(req->type, "gateway.metrics") == 0) {
		if (json_object_size(req->data) != 0) {
			snprintf(why, whylen, "gateway.metrics takes no data");
			return JIDO_EVALIDATION;
		}
		pthread_mutex_lock(&g->mu);
		gw_store_sync(g);
		rc = gw_metrics_json(g, out, why, whylen);
		pthread_mutex_unlock(&g->mu);
		return rc;
	}
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc gateway_proc = {
	.name = "gateway",
	.summary = "LLM gateway for sandboxed agents: scoped keys, usage, breaker, failover",
	.pub_topic = NULL,
	.allow = { gateway_allow, 1, 0 },
	.open = gateway_open,
	.handle = gateway_handle,
	.tick = gateway_tick,
	.close = gateway_close,
	.priv_size = sizeof(struct gw),
};
