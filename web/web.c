/*
 * web.c - jido-web: owner UI, REST API, live updates, metrics and MCP over HTTP
 * This file holds the process's one core handler (shared by serve and filter modes) and
 * its declaration: allowlist, publish socket, open/tick/close. open binds the HTTP port,
 * opens the web database and the SUB sockets and fetches web.session_key from the vault
 * (all before seccomp); the first tick starts the HTTP thread (after seccomp, so the
 * thread runs under the allowlist).
 */
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "web.h"

struct web *web_g;
int web_serving;

/* Syscalls beyond the base allowlist (lib/seccomp.c): sendfile (downloads). The HTTP thread (evhttp on
 * epoll), SQLite, libsodium's Argon2id and the bus calls all live within the base. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
/* Sanitizer builds only: LeakSanitizer's tracer (a clone sharing our memory, under this
 * filter) opens /proc files with open(2) at exit; without it the tracer is killed and the
 * process spins at exit instead of leaving. Belongs in lib/seccomp.c's sanitizer list. */
static const char *const web_allow[] = { "sendfile", "open", NULL };
#else
/* sendfile: artifact downloads go from the blob file to the socket without a copy. */
static const char *const web_allow[] = { "sendfile", NULL };
#endif

/* The HMAC key for CSRF tokens: web.session_key from the vault when it answers, else a
 * random key for this run of the process (forms then need a reload after a restart). */
static void
web_key_load(struct web *w)
{
	const char *cred = jido_cred_self();
	struct jido_reply r;
	int vault = -1;

	for (int i = 0; jido_procs[i] != NULL; i++)
		if (strcmp(jido_procs[i], "vault") == 0)
			vault = i;
	if (cred != NULL && vault >= 0 && jido_bus_call(w->url[vault], "vault.get", NULL,
	    json_pack("{s:s,s:s,s:s}", "cred", cred, "name", "web.session_key", "scope",
	    "instance"), 1000, &r) == 0) {
		const char *v = r.ok ? json_string_value(json_object_get(r.data, "value")) : NULL;
		if (v != NULL && strlen(v) >= 16) {
			crypto_generichash(w->key, sizeof(w->key), (const unsigned char *)v, strlen(v),
			    NULL, 0);
			w->key_from_vault = 1;
		}
		jido_reply_free(&r);
	}
	if (!w->key_from_vault) {
		randombytes_buf(w->key, sizeof(w->key));
		jido_warn("web.session_key_local", "{s:s}", "note", "the vault did not hand out "
		    "web.session_key: CSRF tokens use a key of this process run only");
	}
}

/* Request socket URLs of every process (socket.<proc> overrides the ipc default). */
static int
web_urls(struct web *w, char *why, size_t whylen)
{
	for (int i = 0; jido_procs[i] != NULL && i < 16; i++) {
		char key[64];
		const char *v;
		snprintf(key, sizeof(key), "socket.%s", jido_procs[i]);
		v = jido_conf_str(w->conf, key);
		if (v != NULL && v[0] != '\0')
			snprintf(w->url[i], sizeof(w->url[i]), "%s", v);
		else if (jido_bus_url_req(w->home, jido_procs[i], w->url[i], sizeof(w->url[i])) != 0) {
			snprintf(why, whylen, "state directory path too long");
			return JIDO_EVALIDATION;
		}
	}
	return 0;
}

static int
web_open(struct jido_srv *s, char *why, size_t whylen)
{
	struct web *w = jido_srv_priv(s);
	int rc;

	w->srv = s;
	w->conf = jido_srv_conf(s);
	snprintf(w->home, sizeof(w->home), "%s", jido_srv_home(s));
	w->call_ms = (int)jido_conf_int(w->conf, "bus.timeout_ms");
	w->secure = jido_conf_bool(w->conf, "web.secure_cookies");
	w->boot = (uint64_t)time(NULL);
	web_g = w;
	if ((rc = web_urls(w, why, whylen)) != 0)
		return rc;
	if (jido_mkdirs(w->home, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s", w->home);
		return JIDO_EINTERNAL;
	}
	if ((rc = web_db_open(w, why, whylen)) != 0)
		return rc;
	w->uid = (uint64_t)geteuid();
	if ((rc = notify_open(w, why, whylen)) != 0)
		return rc;
	if ((rc = art_web_open(w, why, whylen)) != 0)
		return rc;
	if (!web_serving) {
		randombytes_buf(w->key, sizeof(w->key));
		return 0;
	}
	web_key_load(w);
	if ((rc = web_db_connect(w, &w->db_req, why, whylen)) != 0)
		return rc;
	if ((rc = web_http_open(w, why, whylen)) != 0)
		return rc;
	return sse_open(w, why, whylen);
}

static void
web_tick(struct jido_srv *s)
{
	struct web *w = jido_srv_priv(s);

	if (web_serving && !w->thread_started) {
		if (web_http_start(w) != 0)
			jido_error("web.thread_failed", NULL);
		if (notify_start(w) != 0)
			jido_error("web.notify_thread_failed", NULL);
	}
}

static void
web_close(struct jido_srv *s)
{
	struct web *w = jido_srv_priv(s);

	web_http_close(w);
	notify_close(w);
	art_web_close(w);
	if (w->db != NULL)
		sqlite3_close(w->db);
	if (w->db_req != NULL)
		sqlite3_close(w->db_req);
	w->db = w->db_req = NULL;
	sodium_memzero(w->key, sizeof(w->key));
	if (web_g == w)
		web_g = NULL;
}

/* The core handler: the common types (health, log_level) are answered by lib/srv.c. The
 * web's operations are HTTP; on its request socket it answers web.stats and, for the
 * owner's uid only, the operation table's web.tokens.* (audited here, channel data.channel). */
static int
web_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	struct web *w = jido_srv_priv(s);

	if (strcmp(req->type, "web.stats") == 0) {
		*out = json_pack("{s:i,s:i,s:b}", "port", w->port, "sse_clients", w->nclients,
		    "session_key_from_vault", w->key_from_vault);
		return 0;
	}
	if (strncmp(req->type, "web.tokens.", 11) == 0) {
		if (!req->filter && !(req->peer.known && req->peer.uid == w->uid)) {
			snprintf(why, whylen, "API tokens are managed by the owner's uid only");
			return JIDO_EAUTHZ;
		}
		return web_tokens_handle(w, w->db_req != NULL ? w->db_req : w->db, req->type,
		    req->data, 1, out, why, whylen);
	}
	if (strncmp(req->type, "web.share.", 10) == 0 || strncmp(req->type, "web.guard.", 10) == 0)
		return art_web_handle(w, w->db_req != NULL ? w->db_req : w->db, req->type,
		    req->data, out, why, whylen);
	return jido_req_unknown(req, why, whylen);
}

const struct jido_proc web_proc = {
	.name = "web",
	.summary = "owner UI, REST API, live updates, metrics and MCP over HTTP",
	.pub_topic = NULL,
	.allow = { web_allow, 1, 0 },
	.open = web_open,
	.handle = web_handle,
	.tick = web_tick,
	.close = web_close,
	.priv_size = sizeof(struct web),
};
