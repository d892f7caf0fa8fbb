/*
 * pages.c - the owner's server-rendered pages: the gate (first-run setup, login, session,
 * CSRF on every POST), /setup, /login, /logout, /dashboard, /workbench, /projects,
 * /projects/:id, /projects/:id/runs/:run_id (with its SSE stream), /agents,
 * /settings/security and /settings/api. Every value is written through html_printf's %s
 * (escaped); data comes only from the planner's operations (and the vault, auditor,
 * ingest and gateway status operations for the settings pages).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "web.h"

#define F_OPEN 1      /* no session needed (setup before an owner exists, login) */
#define F_SETUP 2     /* allowed while setup is not finished */

struct page_route {
	int method;
	const char *pat;
	void (*fn)(struct wreq *q);
	int flags;
};

/* ------------------------------------------------------------ helpers */

/* The value CSRF tokens of this request are bound to: the session, else the pre-session
 * cookie (set on the GET that renders a form). */
static const char *
pg_bound(struct wreq *q, char *buf, size_t len)
{
	if (q->authed)
		return q->sess;
	if (web_cookie(q, "jido_pre", buf, len) == 0 && strlen(buf) == 32)
		return buf;
	return NULL;
}

static void
pg_csrf_field(struct wreq *q, struct evbuffer *b)
{
	char pre[64], tok[65];
	const char *bound;

	if (q->csrf[0] != '\0') { /* one token per request: many forms on a page */
		html_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", q->csrf);
		return;
	}
	if ((bound = pg_bound(q, pre, sizeof(pre))) == NULL) { /* a pre-session cookie for the anonymous forms */
		unsigned char raw[16];
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(pre, sizeof(pre), raw, sizeof(raw));
		web_cookie_set(q, "jido_pre", pre, 3600);
		bound = pre;
	}
	auth_csrf_token(q->w, bound, tok);
	snprintf(q->csrf, sizeof(q->csrf), "%s", tok);
	html_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", tok);
}

static void
pg_begin(struct wreq *q, struct evbuffer *b, const char *title, const char *here)
{
	static const char *const nav[][2] = { { "/dashboard", "Dashboard" },
		{ "/workbench", "Workbench" }, { "/projects", "Projects" }, { "/agents", "Agents" },
		{ "/settings/security", "Security" }, { "/settings/api", "API" } };

	html_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>%s · JidoCode</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/static/app.css\">"
	    "</head><body><header class=\"top\"><a class=\"brand\" href=\"/\">JidoCode</a>", title);
	if (q->authed && auth_setup_done(q->w)) {
		html_printf(b, "<nav>");
		for (size_t i = 0; i < sizeof(nav) / sizeof(nav[0]); i++)
			html_printf(b, "<a href=\"%s\"%S>%s</a>", nav[i][0],
			    here != NULL && strcmp(here, nav[i][0]) == 0 ? " class=\"here\"" : "",
			    nav[i][1]);
		html_printf(b, "</nav>");
	}
	if (q->authed) {
		html_printf(b, "<form class=\"inline\" method=\"post\" action=\"/logout\">");
		pg_csrf_field(q, b);
		html_printf(b, "<button class=\"secondary\">Log out</button></form>");
	}
	html_printf(b, "</header><main><h1>%s</h1>", title);
}

static void
pg_end(struct wreq *q, struct evbuffer *b, int code)
{
	html_printf(b, "</main></body></html>\n");
	web_send(q, code, "text/html; charset=utf-8", b);
}

static void
pg_error_box(struct evbuffer *b, int code, const char *message)
{
	html_printf(b, "<div class=\"error\" role=\"alert\"><strong>%s</strong>: %s</div>",
	    jido_err_name(code), message ? message : jido_strerror(code));
}

/* A whole error page. */
static void
pg_fail(struct wreq *q, int status, int code, const char *message)
{
	struct evbuffer *b = evbuffer_new();

	pg_begin(q, b, status == 404 ? "Not found" : "Something went wrong", NULL);
	pg_error_box(b, code, message);
	html_printf(b, "<p><a href=\"/dashboard\">Back to the dashboard</a></p>");
	pg_end(q, b, status);
}

/* Call proc; on 0 *out is a new reference to the reply data. On an error, msg holds the
 * typed error's message and the shared code is returned. */
static int
pg_call(struct wreq *q, const char *proc, const char *type, json_t *data, json_t **out,
    char *msg, size_t msglen)
{
	struct jido_reply r;
	int rc;

	*out = NULL;
	if ((rc = web_call(q->w, proc, type, NULL, data, &r)) != 0) {
		snprintf(msg, msglen, "jido-%s does not answer (%s)", proc, jido_strerror(rc));
		return rc;
	}
	if (!r.ok) {
		rc = r.err ? r.err : JIDO_EINTERNAL;
		snprintf(msg, msglen, "%s", r.message ? r.message : jido_strerror(rc));
		jido_reply_free(&r);
		return rc;
	}
	*out = json_incref(r.data);
	jido_reply_free(&r);
	return 0;
}

/* Store a secret in the vault on the owner's behalf: vault.put, or vault.rotate when it
 * exists. The value is never logged or echoed. 0 or the typed error (msg filled). */
static int
pg_vault_store(struct wreq *q, const char *name, const char *value, char *msg, size_t len)
{
	const char *cred = jido_cred_self();
	json_t *out;
	int rc;

	if (cred == NULL) {
		snprintf(msg, len, "jido-web has no process credential: start it with jido up");
		return JIDO_ESECRET;
	}
	rc = pg_call(q, "vault", "vault.put", json_pack("{s:s,s:s,s:s}", "cred", cred, "name",
	    name, "value", value), &out, msg, len);
	if (rc == JIDO_ECONFLICT)
		rc = pg_call(q, "vault", "vault.rotate", json_pack("{s:s,s:s,s:s}", "cred", cred,
		    "name", name, "value", value), &out, msg, len);
	json_decref(out);
	return rc;
}

/* A vault read-only operation with this process's credential. */
static int
pg_vault_call(struct wreq *q, const char *type, json_t **out, char *msg, size_t len)
{
	const char *cred = jido_cred_self();

	*out = NULL;
	if (cred == NULL) {
		snprintf(msg, len, "jido-web has no process credential: start it with jido up");
		return JIDO_ESECRET;
	}
	return pg_call(q, "vault", type, json_pack("{s:s}", "cred", cred), out, msg, len);
}

static const char *
js(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static long long
ji(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* A link target from outside data: only http(s) URLs, anything else (javascript:, data:)
 * becomes "#" even though it would be escaped and the CSP forbids running it. */
static const char *
pg_safe_url(const char *u)
{
	return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0 ? u : "#";
}

static void
pg_state(struct evbuffer *b, const char *state)
{
	html_printf(b, "<span class=\"state %s\">%s</span>", state, state);
}

static void
pg_run_link(struct evbuffer *b, const json_t *run)
{
	html_printf(b, "<a href=\"/projects/%lld/runs/%U\">%s</a>", ji(run, "project_id"),
	    js(run, "id"), js(run, "id"));
}

/* ------------------------------------------------------------ setup, login, logout */

static void
pg_setup_form(struct wreq *q, int code, const char *err, const char *notice, const json_t *repos)
{
	struct evbuffer *b = evbuffer_new();

	pg_begin(q, b, "Set up JidoCode", NULL);
	if (err != NULL)
		pg_error_box(b, code, err);
	if (!auth_owner_exists(q->w)) {
		html_printf(b, "<p>Step 1 of 2: choose the owner password. JidoCode has one user, "
		    "you; the password protects this UI and re-confirms risky approvals.</p>"
		    "<form method=\"post\" action=\"/setup\">");
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"password\">"
		    "<label for=\"pw\">Password (at least 10 characters)</label>"
		    "<input type=\"password\" id=\"pw\" name=\"password\" autocomplete=\"new-password\""
		    " required minlength=\"10\">"
		    "<label for=\"pw2\">Repeat it</label>"
		    "<input type=\"password\" id=\"pw2\" name=\"password2\" autocomplete=\"new-password\""
		    " required minlength=\"10\"><p><button>Set the password</button></p></form>");
	} else {
		char ingest_url[300];
		snprintf(ingest_url, sizeof(ingest_url), "http://%s/api/github/webhooks",
		    jido_conf_str(q->w->conf, "ingest.listen"));
		html_printf(b, "<p>The owner password is set. Connect the rest now or later; each "
		    "step stands alone, and a failed step stores nothing beyond itself.</p>");
		if (notice != NULL)
			html_printf(b, "<div class=\"notice\" role=\"status\">%s</div>", notice);
		html_printf(b, "<h2>GitHub</h2><p>A fine-grained token with read access to "
		    "contents, issues, pull requests and metadata, and write access to contents, "
		    "issues and pull requests. It goes to the vault and is checked by listing the "
		    "repositories it sees.</p><form method=\"post\" action=\"/setup\">");
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"github\">"
		    "<label for=\"ght\">GitHub token</label><input type=\"password\" id=\"ght\" "
		    "name=\"token\" autocomplete=\"off\" required><p><button>Store and check"
		    "</button></p></form>");
		if (repos != NULL && json_array_size(repos) > 0) {
			size_t i;
			json_t *r;
			html_printf(b, "<p>The token sees %zu repositories; pick the ones to import.</p>"
			    "<form method=\"post\" action=\"/setup\">", json_array_size(repos));
			pg_csrf_field(q, b);
			html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"import\">"
			    "<textarea name=\"repos\" rows=\"6\">");
			json_array_foreach(repos, i, r)
				html_printf(b, "%s\n", json_is_string(r) ? json_string_value(r) :
				    js(r, "full_name"));
			html_printf(b, "</textarea><p><button>Import these and finish</button></p></form>");
		}
		html_printf(b, "<h2>Webhook</h2><p>In each repository's (or the GitHub App's) webhook "
		    "settings: payload URL <code>%s</code> (as GitHub reaches it), content type "
		    "<code>application/json</code>, and a secret generated here, shown once.</p>"
		    "<form method=\"post\" action=\"/setup\">", ingest_url);
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"webhook\">"
		    "<button class=\"secondary\">Generate a new webhook secret</button></form> "
		    "<form method=\"post\" action=\"/setup\">");
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"ping\">"
		    "<button class=\"secondary\">Check for GitHub's ping delivery</button></form>");
		html_printf(b, "<h2>LLM providers</h2><p>Keys go to the vault; only the gateway reads "
		    "them. Leave a field empty to keep what is stored.</p><form method=\"post\" "
		    "action=\"/setup\">");
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"llm\">"
		    "<label for=\"ak\">Anthropic API key</label><input type=\"password\" id=\"ak\" "
		    "name=\"anthropic\" autocomplete=\"off\"><label for=\"ok\">OpenAI API key"
		    "</label><input type=\"password\" id=\"ok\" name=\"openai\" "
		    "autocomplete=\"off\"><p><button>Store the keys</button></p></form>");
		html_printf(b, "<h2>Projects</h2><form method=\"post\" action=\"/setup\">");
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"step\" value=\"import\">"
		    "<label for=\"repos\">Repositories to import (owner/name, one a line; "
		    "leave empty to skip)</label><textarea id=\"repos\" name=\"repos\"></textarea>"
		    "<p><button>Finish setup</button></p></form>");
	}
	pg_end(q, b, code ? web_err_status(code) : 200);
}

/* Split a textarea of repo names into a JSON array; NULL when there are none. */
static json_t *
pg_repo_list(const char *text)
{
	json_t *a = json_array();
	char *copy = strdup(text ? text : ""), *save = NULL;

	for (char *t = strtok_r(copy, " \t\r\n,", &save); t != NULL;
	    t = strtok_r(NULL, " \t\r\n,", &save))
		json_array_append_new(a, json_string(t));
	free(copy);
	if (json_array_size(a) == 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static void
pg_setup(struct wreq *q)
{
	const char *step;
	char why[256];
	int rc;

	if (q->method == EVHTTP_REQ_GET) {
		if (auth_setup_done(q->w)) {
			web_redirect(q, "/dashboard");
			return;
		}
		pg_setup_form(q, 0, NULL, NULL, NULL);
		return;
	}
	step = web_form(q, "step");
	if (step != NULL && strcmp(step, "password") == 0) {
		const char *pw = web_form(q, "password"), *pw2 = web_form(q, "password2");
		if (pw == NULL || pw2 == NULL || strcmp(pw, pw2) != 0) {
			pg_setup_form(q, JIDO_EVALIDATION, "the two passwords differ", NULL, NULL);
			return;
		}
		if ((rc = auth_owner_create(q->w, pw, why, sizeof(why))) != 0) {
			pg_setup_form(q, rc, why, NULL, NULL);
			return;
		}
		if (auth_session_new(q->w, q->sess) != 0) {
			pg_fail(q, 500, JIDO_EINTERNAL, "cannot create a session");
			return;
		}
		q->authed = 1;
		web_cookie_set(q, "jido_session", q->sess, jido_conf_int(q->w->conf,
		    "web.session_hours") * 3600);
		web_cookie_set(q, "jido_pre", "", -1);
		jido_info("web.owner_created", NULL);
		web_redirect(q, "/setup");
		return;
	}
	if (step != NULL && strcmp(step, "github") == 0 && q->authed) {
		const char *tok = web_form(q, "token");
		char msg[512];
		json_t *out = NULL;
		if (tok == NULL || strlen(tok) < 20 || strlen(tok) > 1000 || strpbrk(tok, " \t\r\n")) {
			pg_setup_form(q, JIDO_EVALIDATION, "token: paste the whole GitHub token (no "
			    "spaces)", NULL, NULL);
			return;
		}
		if (web_audit(q->w, "web", "secret.put", "github.token", "ok", NULL) != 0) {
			pg_setup_form(q, JIDO_EUNAVAIL, "the auditor did not confirm the record: the "
			    "token was not stored", NULL, NULL);
			return;
		}
		if ((rc = pg_vault_store(q, "github.token", tok, msg, sizeof(msg))) != 0) {
			pg_setup_form(q, rc, msg, NULL, NULL);
			return;
		}
		if ((rc = pg_call(q, "ingest", "ingest.repos", NULL, &out, msg, sizeof(msg))) != 0) {
			pg_setup_form(q, rc, msg, "The token is stored, but listing repositories with "
			    "it failed: check its permissions and store it again.", NULL);
			return;
		}
		pg_setup_form(q, 0, NULL, "GitHub is connected.", json_object_get(out, "repos"));
		json_decref(out);
		return;
	}
	if (step != NULL && strcmp(step, "webhook") == 0 && q->authed) {
		unsigned char raw[32];
		char secret[65], msg[512], note[200];
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(secret, sizeof(secret), raw, sizeof(raw));
		sodium_memzero(raw, sizeof(raw));
		if (web_audit(q->w, "web", "secret.rotate", "github.webhook_secret", "ok", NULL) != 0) {
			pg_setup_form(q, JIDO_EUNAVAIL, "the auditor did not confirm the record: no new "
			    "secret", NULL, NULL);
			return;
		}
		if ((rc = pg_vault_store(q, "github.webhook_secret", secret, msg, sizeof(msg))) != 0) {
			sodium_memzero(secret, sizeof(secret));
			pg_setup_form(q, rc, msg, NULL, NULL);
			return;
		}
		snprintf(note, sizeof(note), "New webhook secret (shown only now; paste it into "
		    "GitHub): %s", secret);
		sodium_memzero(secret, sizeof(secret));
		pg_setup_form(q, 0, NULL, note, NULL);
		sodium_memzero(note, sizeof(note));
		return;
	}
	if (step != NULL && strcmp(step, "ping") == 0 && q->authed) {
		char msg[512];
		json_t *out;
		if ((rc = pg_call(q, "ingest", "ingest.deliveries.list", json_pack("{s:s}", "event",
		    "ping"), &out, msg, sizeof(msg))) != 0) {
			pg_setup_form(q, rc, msg, NULL, NULL);
			return;
		}
		pg_setup_form(q, 0, NULL, json_array_size(json_object_get(out, "deliveries")) > 0 ?
		    "GitHub's ping delivery arrived with a valid signature: the webhook works." :
		    "No ping delivery yet: save the webhook in GitHub, then check again.", NULL);
		json_decref(out);
		return;
	}
	if (step != NULL && strcmp(step, "llm") == 0 && q->authed) {
		static const char *const keys[][2] = { { "anthropic", "llm.anthropic.api_key" },
			{ "openai", "llm.openai.api_key" } };
		char msg[512], done[128] = "";
		for (size_t i = 0; i < 2; i++) {
			const char *v = web_form(q, keys[i][0]);
			if (v == NULL || v[0] == '\0')
				continue;
			if (strlen(v) < 20 || strlen(v) > 500 || strpbrk(v, " \t\r\n")) {
				snprintf(msg, sizeof(msg), "%s: this does not look like an API key (20 to "
				    "500 characters, no spaces)", keys[i][0]);
				pg_setup_form(q, JIDO_EVALIDATION, msg, done[0] ? done : NULL, NULL);
				return;
			}
			if (web_audit(q->w, "web", "secret.put", keys[i][1], "ok", NULL) != 0) {
				pg_setup_form(q, JIDO_EUNAVAIL, "the auditor did not confirm the record: "
				    "the key was not stored", NULL, NULL);
				return;
			}
			if ((rc = pg_vault_store(q, keys[i][1], v, msg, sizeof(msg))) != 0) {
				pg_setup_form(q, rc, msg, done[0] ? done : NULL, NULL);
				return;
			}
			snprintf(done + strlen(done), sizeof(done) - strlen(done), "%s%s key stored.",
			    done[0] ? " " : "", keys[i][0]);
		}
		pg_setup_form(q, 0, NULL, done[0] ? done : "Nothing to store.", NULL);
		return;
	}
	if (step != NULL && strcmp(step, "import") == 0 && q->authed) {
		json_t *repos = pg_repo_list(web_form(q, "repos")), *out;
		if (repos != NULL) {
			char msg[512];
			if ((rc = pg_call(q, "planner", "planner.projects.import", json_pack("{s:o}",
			    "repos", repos), &out, msg, sizeof(msg))) != 0) {
				pg_setup_form(q, rc, msg, NULL, NULL); /* nothing imported, setup not finished */
				return;
			}
			json_decref(out);
		}
		if (auth_setup_finish(q->w) != 0) {
			pg_fail(q, 500, JIDO_EINTERNAL, "cannot store the setup state");
			return;
		}
		web_redirect(q, "/dashboard");
		return;
	}
	pg_setup_form(q, JIDO_EVALIDATION, "unknown setup step", NULL, NULL);
}

static void
pg_login_form(struct wreq *q, int status, const char *err)
{
	struct evbuffer *b = evbuffer_new();

	pg_begin(q, b, "Log in", NULL);
	if (err != NULL)
		html_printf(b, "<div class=\"error\" role=\"alert\">%s</div>", err);
	html_printf(b, "<form method=\"post\" action=\"/login\">");
	pg_csrf_field(q, b);
	html_printf(b, "<label for=\"pw\">Owner password</label><input type=\"password\" "
	    "id=\"pw\" name=\"password\" autocomplete=\"current-password\" required autofocus>"
	    "<p><button>Log in</button></p></form>");
	pg_end(q, b, status);
}

static void
pg_login(struct wreq *q)
{
	int wait;

	if (q->method == EVHTTP_REQ_GET) {
		if (q->authed)
			web_redirect(q, "/dashboard");
		else
			pg_login_form(q, 200, NULL);
		return;
	}
	if ((wait = auth_login_limit(q->w, q->addr, jido_now_ms())) > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", wait);
		evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", ra);
		q->w->m.login_limited++;
		jido_warn("web.login_limited", "{s:s}", "addr", q->addr);
		pg_login_form(q, 429, "Too many login attempts from this address: wait a minute.");
		return;
	}
	if (auth_password_check(q->w, web_form(q, "password")) != 0) {
		q->w->m.login_failed++;
		jido_warn("web.login_failed", "{s:s}", "addr", q->addr);
		pg_login_form(q, 403, "Wrong password.");
		return;
	}
	/* a fresh session at every login; any session this browser had ends */
	if (q->authed)
		auth_session_end(q->w, q->sess);
	if (auth_session_new(q->w, q->sess) != 0) {
		pg_fail(q, 500, JIDO_EINTERNAL, "cannot create a session");
		return;
	}
	q->w->m.login_ok++;
	web_cookie_set(q, "jido_session", q->sess, jido_conf_int(q->w->conf, "web.session_hours")
	    * 3600);
	web_cookie_set(q, "jido_pre", "", -1);
	jido_info("web.login", "{s:s}", "addr", q->addr);
	web_redirect(q, auth_setup_done(q->w) ? "/dashboard" : "/setup");
}

static void
pg_logout(struct wreq *q)
{
	auth_session_end(q->w, q->sess);
	web_cookie_set(q, "jido_session", "", -1);
	web_redirect(q, "/login");
}

static void pg_status_block(struct wreq *q, struct evbuffer *b, const char *proc,
    const char *type, const char *title);

/* ------------------------------------------------------------ dashboard */

static void
pg_runs_table(struct evbuffer *b, const json_t *runs)
{
	size_t i;
	json_t *r;
	char t[40];

	if (json_array_size(runs) == 0) {
		html_printf(b, "<p class=\"muted\">None.</p>");
		return;
	}
	html_printf(b, "<div class=\"scroll\"><table><tr><th>run</th><th>project</th>"
	    "<th>workflow</th><th>issue</th><th>state</th><th>cost</th><th>created</th></tr>");
	json_array_foreach(runs, i, r) {
		html_time(ji(r, "created_ms"), t, sizeof(t));
		html_printf(b, "<tr><td>");
		pg_run_link(b, r);
		html_printf(b, "</td><td>%s</td><td>%s</td><td>%lld</td><td>", js(r, "project"),
		    js(r, "workflow"), ji(r, "issue"));
		pg_state(b, js(r, "state"));
		if (json_is_string(json_object_get(r, "parked")))
			html_printf(b, " <span class=\"muted\">(%s)</span>", js(r, "parked"));
		html_printf(b, "</td><td>$%.4f</td><td>%s</td></tr>",
		    json_number_value(json_object_get(r, "cost_usd")), t);
	}
	html_printf(b, "</table></div>");
}

static void
pg_dashboard(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();
	json_t *appr = NULL, *failed = NULL, *recent = NULL, *ks = NULL;
	char msg[512];
	int rc;

	pg_begin(q, b, "Dashboard", "/dashboard");
	art_guard_section(q, b); /* what the anomaly guard froze, with Unfreeze buttons */
	rc = pg_call(q, "planner", "planner.approvals.list", NULL, &appr, msg, sizeof(msg));
	if (rc == 0)
		rc = pg_call(q, "planner", "planner.runs.list", json_pack("{s:s,s:i}", "state",
		    "failed", "limit", 20), &failed, msg, sizeof(msg));
	if (rc == 0)
		rc = pg_call(q, "planner", "planner.runs.list", json_pack("{s:i}", "limit", 20),
		    &recent, msg, sizeof(msg));
	if (rc == 0)
		rc = pg_call(q, "planner", "planner.approvals.kill_switch", NULL, &ks, msg,
		    sizeof(msg));
	if (rc != 0) {
		pg_error_box(b, rc, msg);
	} else {
		html_printf(b, "<div class=\"cards\"><div class=\"card\"><div class=\"num\">%lld"
		    "</div>approvals waiting</div><div class=\"card\"><div class=\"num\">%zu</div>"
		    "failed runs (latest 20)</div><div class=\"card\"><div class=\"num\">%lld</div>"
		    "flagged by the kill switch</div><div class=\"card\"><div class=\"num\">%s</div>"
		    "shipping</div></div>", ji(appr, "awaiting"),
		    json_array_size(json_object_get(failed, "runs")), ji(ks, "flagged"),
		    json_is_true(json_object_get(ks, "paused")) ? "paused" : "on");
		html_printf(b, "<h2>Waiting for you</h2>");
		pg_runs_table(b, json_object_get(appr, "runs"));
		html_printf(b, "<h2>Failed runs</h2>");
		pg_runs_table(b, json_object_get(failed, "runs"));
		html_printf(b, "<h2>Recent runs</h2>");
		pg_runs_table(b, json_object_get(recent, "runs"));
		pg_status_block(q, b, "ingest", "ingest.stats", "Webhook health");
		pg_status_block(q, b, "gateway", "gateway.breakers", "Provider breakers");
	}
	json_decref(appr);
	json_decref(failed);
	json_decref(recent);
	json_decref(ks);
	pg_end(q, b, rc == 0 ? 200 : web_err_status(rc));
}

/* ------------------------------------------------------------ workbench */

struct wb_filter {
	const char *project, *kind, *fresh, *run, *sort;
};

/* Does item pass the freshness and run-state filters? */
static int
wb_item_ok(const struct wb_filter *f, const json_t *it)
{
	int stale = json_is_true(json_object_get(it, "stale"));
	const json_t *lr = json_object_get(it, "latest_run");

	if (strcmp(f->fresh, "stale") == 0 && !stale)
		return 0;
	if (strcmp(f->fresh, "fresh") == 0 && stale)
		return 0;
	if (f->run[0] != '\0') {
		const char *st = json_is_object(lr) ? js(lr, "state") : "none";
		if (strcmp(f->run, st) != 0)
			return 0;
	}
	return 1;
}

static void
wb_select(struct evbuffer *b, const char *name, const char *label, const char *cur,
    const char *const *opts)
{
	html_printf(b, "<label>%s <select name=\"%s\">", label, name);
	for (int i = 0; opts[i] != NULL; i += 2)
		html_printf(b, "<option value=\"%s\"%S>%s</option>", opts[i],
		    strcmp(cur, opts[i]) == 0 ? " selected" : "", opts[i + 1]);
	html_printf(b, "</select></label>");
}

/* One kickoff form per item: a button per workflow; the filters ride in the action's
 * query (fq, already URL-encoded) so the answer renders the same view. */
static void
wb_kick_form(struct wreq *q, struct evbuffer *b, const char *fq, long long pid,
    long long number, int pr)
{
	html_printf(b, "<form class=\"inline\" method=\"post\" action=\"/workbench/kickoff?%S\">",
	    fq);
	pg_csrf_field(q, b);
	html_printf(b, "<input type=\"hidden\" name=\"project\" value=\"%lld\">"
	    "<input type=\"hidden\" name=\"issue\" value=\"%lld\">%S</form>", pid, number, pr ?
	    "<button class=\"secondary\" name=\"workflow\" value=\"fix_failing_tests\">Follow up: "
	    "fix tests</button>" : "<button class=\"secondary\" name=\"workflow\" "
	    "value=\"issue_triage\">Triage</button> <button class=\"secondary\" "
	    "name=\"workflow\" value=\"fix_issue\">Fix</button>");
}

static int
wb_cmp_backlog(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	long long dx = ji(x, "open_issue_count") + ji(x, "open_pr_count");
	long long dy = ji(y, "open_issue_count") + ji(y, "open_pr_count");

	return dx < dy ? 1 : dx > dy ? -1 : strcmp(js(x, "full_name"), js(y, "full_name"));
}

static long long
wb_last_activity(const json_t *repo)
{
	long long m = 0;
	const char *keys[] = { "open_issues", "open_prs" };
	size_t i;
	json_t *it;

	for (int k = 0; k < 2; k++)
		json_array_foreach(json_object_get(repo, keys[k]), i, it)
			if (ji(it, "activity_ms") > m)
				m = ji(it, "activity_ms");
	return m;
}

static int
wb_cmp_activity(const void *a, const void *b)
{
	long long x = wb_last_activity(*(json_t *const *)a), y = wb_last_activity(*(json_t *const *)b);

	return x < y ? 1 : x > y ? -1 : 0;
}

/* planner.workbench for limit, reused while nothing changed: the answer is kept until a
 * run or GitHub event arrives on runs.pub / events.pub, the web handles a state-changing
 * request, or WB_CACHE_MS pass (for changes that reach the planner some other way). */
#define WB_CACHE_MS 5000
static int
wb_fetch(struct wreq *q, int limit, json_t **out, char *msg, size_t len)
{
	struct web *w = q->w;
	int64_t now = jido_now_ms();
	int rc;

	if (w->wb_cache != NULL && w->wb_cache_limit == limit && w->wb_cache_gen == w->gen &&
	    now - w->wb_cache_at < WB_CACHE_MS) {
		*out = json_incref(w->wb_cache);
		return 0;
	}
	uint64_t gen = w->gen;
	if ((rc = pg_call(q, "planner", "planner.workbench", json_pack("{s:i}", "limit", limit),
	    out, msg, len)) != 0)
		return rc;
	json_decref(w->wb_cache);
	w->wb_cache = json_incref(*out);
	w->wb_cache_limit = limit;
	w->wb_cache_at = now;
	w->wb_cache_gen = gen;
	return 0;
}

static void
wb_render(struct wreq *q, const struct wb_filter *f, int code, const char *msg,
    const json_t *started)
{
	static const char *const kinds[] = { "all", "issues and PRs", "issues", "issues only",
		"prs", "PRs only", NULL };
	static const char *const freshness[] = { "all", "any", "stale", "stale", "fresh", "fresh",
		NULL };
	static const char *const runs[] = { "", "any", "none", "no run yet", "pending", "pending",
		"running", "running", "awaiting_approval", "awaiting approval", "failed", "failed",
		"completed", "completed", "cancelled", "cancelled", NULL };
	static const char *const sorts[] = { "backlog", "backlog", "activity", "recent activity",
		NULL };
	struct evbuffer *b = evbuffer_new();
	json_t *wb = NULL, *repos, *repo;
	char emsg[512], t[40];
	int rc, limit = 10;
	const char *lim = web_query(q, "limit");
	size_t i, n;

	if (lim != NULL && atoi(lim) > 0 && atoi(lim) <= 500)
		limit = atoi(lim);
	pg_begin(q, b, "Workbench", "/workbench");
	if (started != NULL) {
		html_printf(b, "<div class=\"notice\" role=\"status\">Started run ");
		pg_run_link(b, started);
		html_printf(b, " (%s on #%lld, %s).</div>", js(started, "workflow"),
		    ji(started, "issue"), js(started, "state"));
	} else if (code != 0)
		pg_error_box(b, code, msg);
	html_printf(b, "<form class=\"filters\" method=\"get\" action=\"/workbench\">"
	    "<label>project <input type=\"text\" name=\"project\" value=\"%s\" "
	    "placeholder=\"owner/name\"></label>", f->project);
	wb_select(b, "kind", "show", f->kind, kinds);
	wb_select(b, "fresh", "freshness", f->fresh, freshness);
	wb_select(b, "run", "latest run", f->run, runs);
	wb_select(b, "sort", "sort by", f->sort, sorts);
	html_printf(b, "<button>Apply</button></form>");
	struct evbuffer *fqb = evbuffer_new();
	html_printf(fqb, "project=%U&amp;kind=%U&amp;fresh=%U&amp;run=%U&amp;sort=%U", f->project, f->kind,
	    f->fresh, f->run, f->sort);
	size_t fql = evbuffer_get_length(fqb);
	char *fq = malloc(fql + 1);
	evbuffer_remove(fqb, fq, fql);
	fq[fql] = '\0';
	evbuffer_free(fqb);
	if ((rc = wb_fetch(q, limit, &wb, emsg, sizeof(emsg))) != 0) {
		pg_error_box(b, rc, emsg);
		free(fq);
		pg_end(q, b, web_err_status(rc));
		return;
	}
	repos = json_object_get(wb, "repos");
	n = json_array_size(repos);
	json_t **order = calloc(n ? n : 1, sizeof(*order));
	for (i = 0; i < n; i++)
		order[i] = json_array_get(repos, i);
	qsort(order, n, sizeof(*order), strcmp(f->sort, "activity") == 0 ? wb_cmp_activity :
	    wb_cmp_backlog);
	html_printf(b, "<div class=\"scroll\"><table><tr><th>repository</th><th>open issues</th>"
	    "<th>open PRs</th><th>stale</th><th>latest run</th></tr>");
	for (i = 0; i < n; i++) {
		repo = order[i];
		if (f->project[0] != '\0' && strcmp(f->project, js(repo, "full_name")) != 0)
			continue;
		const json_t *lr = json_object_get(repo, "latest_run");
		html_printf(b, "<tr><td><a href=\"/projects/%lld\">%s</a>%S</td><td>%lld</td>"
		    "<td>%lld</td><td>%lld</td><td>", ji(repo, "project_id"), js(repo, "full_name"),
		    json_is_true(json_object_get(repo, "enabled")) ? "" :
		    " <span class=\"muted\">(disabled)</span>", ji(repo, "open_issue_count"),
		    ji(repo, "open_pr_count"), ji(repo, "stale_issue_count") +
		    ji(repo, "stale_pr_count"));
		if (json_is_object(lr)) {
			html_printf(b, "<a href=\"/projects/%lld/runs/%U\">%s</a> ", ji(repo,
			    "project_id"), js(lr, "id"), js(lr, "workflow"));
			pg_state(b, js(lr, "state"));
		} else
			html_printf(b, "<span class=\"muted\">none</span>");
		html_printf(b, "</td></tr>");
		if (ji(repo, "open_issue_count") > (long long)json_array_size(json_object_get(repo,
		    "open_issues")) || ji(repo, "open_pr_count") > (long long)json_array_size(
		    json_object_get(repo, "open_prs")))
			html_printf(b, "<tr><td colspan=\"5\" class=\"muted\">newest %d of each shown: "
			    "<a href=\"/workbench?project=%U&amp;kind=%U&amp;fresh=%U&amp;run=%U&amp;"
			    "limit=500\">all open items of %s</a></td></tr>", limit,
			    js(repo, "full_name"), f->kind, f->fresh, f->run, js(repo, "full_name"));
		for (int pr = 0; pr < 2; pr++) {
			if ((pr && strcmp(f->kind, "issues") == 0) || (!pr && strcmp(f->kind, "prs") == 0))
				continue;
			size_t j;
			json_t *it;
			json_array_foreach(json_object_get(repo, pr ? "open_prs" : "open_issues"), j, it) {
				if (!wb_item_ok(f, it))
					continue;
				const json_t *ir = json_object_get(it, "latest_run");
				html_time(ji(it, "activity_ms"), t, sizeof(t));
				html_printf(b, "<tr><td colspan=\"3\">%s <a href=\"%s\">#%lld</a> %s "
				    "<span class=\"muted\">%s%s</span></td><td>", pr ? "PR" : "issue",
				    pg_safe_url(js(it, "url")), ji(it, "number"), js(it, "title"), t,
				    json_is_true(json_object_get(it, "stale")) ? ", stale" : "");
				if (json_is_object(ir)) {
					html_printf(b, "<a href=\"/projects/%lld/runs/%U\">run</a> ", ji(repo,
					    "project_id"), js(ir, "id"));
					pg_state(b, js(ir, "state"));
				}
				html_printf(b, "</td><td>");
				wb_kick_form(q, b, fq, ji(repo, "project_id"), ji(it, "number"), pr);
				html_printf(b, "</td></tr>");
			}
		}
	}
	html_printf(b, "</table></div>");
	if (n == 0)
		html_printf(b, "<p class=\"muted\">No projects yet: <a href=\"/projects\">import "
		    "repositories</a>.</p>");
	free(order);
	free(fq);
	json_decref(wb);
	pg_end(q, b, started != NULL ? 200 : code ? web_err_status(code) : 200);
}

/* One filter value from the query (the page's URL, or the kickoff form's action), checked
 * against the allowed values; anything else is the default. */
static const char *
wb_param(struct wreq *q, const char *name, const char *const *allowed)
{
	const char *v = web_query(q, name);

	if (v == NULL)
		return allowed[0];
	for (int i = 0; allowed[i] != NULL; i++)
		if (strcmp(v, allowed[i]) == 0)
			return allowed[i];
	return allowed[0];
}

static void
wb_filters(struct wreq *q, struct wb_filter *f, char *proj, size_t plen)
{
	static const char *const kinds[] = { "all", "issues", "prs", NULL };
	static const char *const fresh[] = { "all", "stale", "fresh", NULL };
	static const char *const runs[] = { "", "none", "pending", "running", "awaiting_approval",
		"failed", "completed", "cancelled", NULL };
	static const char *const sorts[] = { "backlog", "activity", NULL };
	const char *p = web_query(q, "project");

	snprintf(proj, plen, "%s", p != NULL && strlen(p) < 200 ? p : "");
	f->project = proj;
	f->kind = wb_param(q, "kind", kinds);
	f->fresh = wb_param(q, "fresh", fresh);
	f->run = wb_param(q, "run", runs);
	f->sort = wb_param(q, "sort", sorts);
}

static void
pg_workbench(struct wreq *q)
{
	struct wb_filter f;
	char proj[200];

	wb_filters(q, &f, proj, sizeof(proj));
	wb_render(q, &f, 0, NULL, NULL);
}

static void
pg_kickoff(struct wreq *q)
{
	struct wb_filter f;
	char proj[200], msg[512];
	const char *pid = web_form(q, "project"), *issue = web_form(q, "issue"),
	    *wf = web_form(q, "workflow");
	json_t *out;
	char *end;
	long long p, n;
	int rc;

	wb_filters(q, &f, proj, sizeof(proj));
	p = pid ? strtoll(pid, &end, 10) : 0;
	if (pid == NULL || *end != '\0' || p <= 0) {
		wb_render(q, &f, JIDO_EVALIDATION, "project: must be a project id", NULL);
		return;
	}
	n = issue ? strtoll(issue, &end, 10) : -1;
	if (issue == NULL || *end != '\0' || n < 0) {
		wb_render(q, &f, JIDO_EVALIDATION, "issue: must be an issue number", NULL);
		return;
	}
	if ((rc = pg_call(q, "planner", "planner.runs.create", json_pack("{s:I,s:s,s:I,s:s}",
	    "project", (json_int_t)p, "workflow", wf ? wf : "", "issue", (json_int_t)n, "actor",
	    "owner"), &out, msg, sizeof(msg))) != 0) {
		wb_render(q, &f, rc, msg, NULL);
		return;
	}
	wb_render(q, &f, 0, NULL, out);
	json_decref(out);
}

/* ------------------------------------------------------------ projects */

static void
pg_projects_render(struct wreq *q, int code, const char *msg, const json_t *imported)
{
	struct evbuffer *b = evbuffer_new();
	json_t *out = NULL, *p;
	char emsg[512];
	size_t i;
	int rc;

	pg_begin(q, b, "Projects", "/projects");
	if (code != 0)
		pg_error_box(b, code, msg);
	if (imported != NULL)
		html_printf(b, "<div class=\"notice\" role=\"status\">Imported %zu, already there "
		    "%zu.</div>", json_array_size(json_object_get(imported, "created")),
		    json_array_size(json_object_get(imported, "existing")));
	if ((rc = pg_call(q, "planner", "planner.projects.list", NULL, &out, emsg,
	    sizeof(emsg))) != 0)
		pg_error_box(b, rc, emsg);
	else {
		html_printf(b, "<div class=\"scroll\"><table><tr><th>project</th><th>enabled</th>"
		    "<th>clone</th><th>auto-ship</th></tr>");
		json_array_foreach(json_object_get(out, "projects"), i, p)
			html_printf(b, "<tr><td><a href=\"/projects/%lld\">%s</a></td><td>%s</td><td>"
			    "%s</td><td>%s</td></tr>", ji(p, "id"), js(p, "full_name"),
			    json_is_true(json_object_get(p, "enabled")) ? "yes" : "no",
			    js(p, "clone_status"), json_is_true(json_object_get(json_object_get(p,
			    "settings"), "auto_ship")) ? "on" : "off");
		html_printf(b, "</table></div>");
	}
	json_decref(out);
	html_printf(b, "<h2>Import repositories</h2><form method=\"post\" "
	    "action=\"/projects/import\">");
	pg_csrf_field(q, b);
	html_printf(b, "<label for=\"repos\">owner/name, one a line (empty: every repository "
	    "the GitHub connection sees)</label><textarea id=\"repos\" name=\"repos\"></textarea>"
	    "<p><button>Import</button></p></form>");
	pg_end(q, b, code ? web_err_status(code) : 200);
}

static void
pg_projects(struct wreq *q)
{
	pg_projects_render(q, 0, NULL, NULL);
}

static void
pg_projects_import(struct wreq *q)
{
	json_t *repos = pg_repo_list(web_form(q, "repos")), *out;
	char msg[512];
	int rc;

	rc = pg_call(q, "planner", "planner.projects.import", repos ? json_pack("{s:o}", "repos",
	    repos) : NULL, &out, msg, sizeof(msg));
	pg_projects_render(q, rc, msg, rc == 0 ? out : NULL);
	json_decref(out);
}

static long long
pg_id_param(const char *s)
{
	char *end;
	long long v = s ? strtoll(s, &end, 10) : 0;

	return s != NULL && *end == '\0' && v > 0 ? v : 0;
}

static void
pg_project_render(struct wreq *q, long long id, int code, const char *msg, int saved)
{
	struct evbuffer *b = evbuffer_new();
	json_t *p = NULL, *runs = NULL, *st;
	char emsg[512];
	int rc;

	if ((rc = pg_call(q, "planner", "planner.projects.get", json_pack("{s:I}", "project",
	    (json_int_t)id), &p, emsg, sizeof(emsg))) != 0) {
		evbuffer_free(b);
		pg_fail(q, web_err_status(rc), rc, emsg);
		return;
	}
	st = json_object_get(p, "settings");
	pg_begin(q, b, js(p, "full_name"), "/projects");
	if (code != 0)
		pg_error_box(b, code, msg);
	if (saved)
		html_printf(b, "<div class=\"notice\" role=\"status\">Settings saved.</div>");
	html_printf(b, "<p>Clone: %s%S%s</p>", js(p, "clone_status"),
	    json_is_string(json_object_get(p, "clone_error")) ? " — " : "",
	    js(p, "clone_error"));
	html_printf(b, "<h2>Settings</h2><form method=\"post\" action=\"/projects/%lld\">", id);
	pg_csrf_field(q, b);
	html_printf(b, "<label><input type=\"checkbox\" name=\"enabled\" value=\"1\"%S> enabled"
	    "</label><label><input type=\"checkbox\" name=\"auto_ship\" value=\"1\"%S> auto-ship "
	    "approved work (off: every run waits for your approval)</label>"
	    "<label><input type=\"checkbox\" name=\"auto_post\" value=\"1\"%S> auto-post triage "
	    "replies</label>",
	    json_is_true(json_object_get(p, "enabled")) ? " checked" : "",
	    json_is_true(json_object_get(st, "auto_ship")) ? " checked" : "",
	    json_is_true(json_object_get(st, "auto_post")) ? " checked" : "");
	static const char *const texts[][2] = { { "runner", "runner" }, { "model", "model" },
		{ "test_command", "test command" }, { "build_command", "build command" },
		{ "default_branch", "default branch" }, { "branch_prefix", "branch prefix" } };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		html_printf(b, "<label for=\"%s\">%s</label><input type=\"text\" id=\"%s\" "
		    "name=\"%s\" value=\"%s\">", texts[i][0], texts[i][1], texts[i][0], texts[i][0],
		    js(st, texts[i][0]));
	html_printf(b, "<label for=\"max_diff_lines\">limit: largest diff (lines)</label>"
	    "<input type=\"number\" id=\"max_diff_lines\" name=\"max_diff_lines\" value=\"%lld\">"
	    "<label for=\"stale_days\">stale after (days)</label><input type=\"number\" "
	    "id=\"stale_days\" name=\"stale_days\" value=\"%lld\">", ji(st, "max_diff_lines"),
	    ji(st, "stale_days"));
	char *trig = json_dumps(json_object_get(st, "triggers"), JSON_INDENT(2));
	html_printf(b, "<label for=\"triggers\">triggers (JSON)</label><textarea id=\"triggers\" "
	    "name=\"triggers\" rows=\"8\">%s</textarea><p><button>Save</button></p></form>",
	    trig ? trig : "{}");
	free(trig);
	html_printf(b, "<h2>Runs</h2>");
	if ((rc = pg_call(q, "planner", "planner.runs.list", json_pack("{s:I,s:i}", "project",
	    (json_int_t)id, "limit", 50), &runs, emsg, sizeof(emsg))) != 0)
		pg_error_box(b, rc, emsg);
	else
		pg_runs_table(b, json_object_get(runs, "runs"));
	json_decref(runs);
	json_decref(p);
	pg_end(q, b, code ? web_err_status(code) : 200);
}

static void
pg_project(struct wreq *q)
{
	long long id = pg_id_param(q->params[0]);

	if (id == 0) {
		pg_fail(q, 404, JIDO_ENOTFOUND, "no such project");
		return;
	}
	pg_project_render(q, id, 0, NULL, 0);
}

static int
pg_int_field(struct wreq *q, const char *name, json_t *settings, char *msg, size_t len)
{
	const char *v = web_form(q, name);
	char *end;
	long long n;

	if (v == NULL || v[0] == '\0')
		return 0;
	n = strtoll(v, &end, 10);
	if (*end != '\0') {
		snprintf(msg, len, "%s: must be a whole number", name);
		return JIDO_EVALIDATION;
	}
	json_object_set_new(settings, name, json_integer(n));
	return 0;
}

static void
pg_project_save(struct wreq *q)
{
	long long id = pg_id_param(q->params[0]);
	json_t *settings = json_object(), *out, *trig;
	char msg[512] = "";
	const char *names[] = { "runner", "model", "test_command", "build_command",
		"default_branch", "branch_prefix" };
	int rc;

	if (id == 0) {
		json_decref(settings);
		pg_fail(q, 404, JIDO_ENOTFOUND, "no such project");
		return;
	}
	json_object_set_new(settings, "auto_ship", json_boolean(web_form(q, "auto_ship") != NULL));
	json_object_set_new(settings, "auto_post", json_boolean(web_form(q, "auto_post") != NULL));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (web_form(q, names[i]) != NULL)
			json_object_set_new(settings, names[i], json_string(web_form(q, names[i])));
	rc = pg_int_field(q, "max_diff_lines", settings, msg, sizeof(msg));
	if (rc == 0)
		rc = pg_int_field(q, "stale_days", settings, msg, sizeof(msg));
	if (rc == 0 && web_form(q, "triggers") != NULL) {
		json_error_t je;
		if ((trig = json_loads(web_form(q, "triggers"), JSON_REJECT_DUPLICATES, &je)) == NULL) {
			snprintf(msg, sizeof(msg), "triggers: not JSON (%s, line %d)", je.text, je.line);
			rc = JIDO_EVALIDATION;
		} else
			json_object_set_new(settings, "triggers", trig);
	}
	if (rc != 0) {
		json_decref(settings);
		pg_project_render(q, id, rc, msg, 0);
		return;
	}
	char subject[32];
	snprintf(subject, sizeof(subject), "project %lld", id);
	if ((rc = web_audit(q->w, "web", "project.update", subject, "ok", json_pack("{s:O}",
	    "settings", settings))) != 0) {
		json_decref(settings);
		pg_project_render(q, id, JIDO_EUNAVAIL, "the auditor did not confirm the record: "
		    "nothing was changed", 0);
		return;
	}
	rc = pg_call(q, "planner", "planner.projects.update", json_pack("{s:I,s:b,s:o}", "project",
	    (json_int_t)id, "enabled", web_form(q, "enabled") != NULL, "settings", settings), &out,
	    msg, sizeof(msg));
	json_decref(out);
	pg_project_render(q, id, rc, msg, rc == 0);
}

/* ------------------------------------------------------------ a run */

/* Unified and side-by-side views of a unified diff. */
static void
pg_diff(struct evbuffer *b, const char *diff)
{
	char *copy = strdup(diff), *save = NULL;

	html_printf(b, "<h2>Diff</h2><details open><summary>unified</summary><pre class=\"diff\">");
	for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
		html_printf(b, "<span class=\"%s\">%s</span>\n", l[0] == '+' ? "add" : l[0] == '-' ?
		    "del" : "", l);
	free(copy);
	html_printf(b, "</pre></details><details><summary>side by side</summary>"
	    "<div class=\"sbs diff\"><pre>");
	copy = strdup(diff);
	for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
		if (l[0] != '+')
			html_printf(b, "<span class=\"%s\">%s</span>\n", l[0] == '-' ? "del" : "", l);
	free(copy);
	html_printf(b, "</pre><pre>");
	copy = strdup(diff);
	for (char *l = strtok_r(copy, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
		if (l[0] != '-')
			html_printf(b, "<span class=\"%s\">%s</span>\n", l[0] == '+' ? "add" : "", l);
	free(copy);
	html_printf(b, "</pre></div></details>");
}

/* Duration of step seq from its first to its last transition. */
static long long
pg_step_ms(const json_t *transitions, long long seq)
{
	long long first = 0, last = 0;
	size_t i;
	json_t *t;

	json_array_foreach(transitions, i, t) {
		if (ji(t, "seq") != seq)
			continue;
		if (first == 0)
			first = ji(t, "at_ms");
		last = ji(t, "at_ms");
	}
	return last - first;
}

static void
pg_run_render(struct wreq *q, int code, const char *msg)
{
	long long pid = pg_id_param(q->params[0]);
	const char *rid = q->params[1];
	struct evbuffer *b;
	json_t *run = NULL, *steps, *s, *appr;
	char emsg[512], t[40], title[160];
	const char *diff = NULL;
	size_t i;
	int rc;

	if ((rc = pg_call(q, "planner", "planner.runs.get", json_pack("{s:s}", "run_id", rid),
	    &run, emsg, sizeof(emsg))) != 0) {
		pg_fail(q, web_err_status(rc), rc, emsg);
		return;
	}
	if (ji(run, "project_id") != pid) {
		json_decref(run);
		pg_fail(q, 404, JIDO_ENOTFOUND, "this run belongs to another project");
		return;
	}
	b = evbuffer_new();
	snprintf(title, sizeof(title), "Run %s", rid);
	pg_begin(q, b, title, "/projects");
	if (code != 0)
		pg_error_box(b, code, msg);
	html_time(ji(run, "created_ms"), t, sizeof(t));
	html_printf(b, "<p><a href=\"/projects/%lld\">%s</a> · %s v%lld on #%lld · trigger %s by "
	    "%s · %s · state <span id=\"run-state\" class=\"state %s\">%s</span>%S%s · cost "
	    "$%.4f</p>", pid, js(run, "project"), js(run, "workflow"),
	    ji(run, "workflow_version"), ji(run, "issue"), js(run, "trigger"), js(run, "actor"), t,
	    js(run, "state"), js(run, "state"), json_is_string(json_object_get(run, "outcome")) ?
	    " · outcome " : "", js(run, "outcome"), json_number_value(json_object_get(run,
	    "cost_usd")));
	if (json_is_string(json_object_get(run, "parent_id")))
		html_printf(b, "<p>Retry %lld of <a href=\"/projects/%lld/runs/%U\">%s</a></p>",
		    ji(run, "attempt"), pid, js(run, "parent_id"), js(run, "parent_id"));
	if (json_is_object(json_object_get(run, "failure"))) {
		const json_t *f = json_object_get(run, "failure");
		html_printf(b, "<div class=\"error\"><strong>%s failure</strong>: %s<br>last good "
		    "step: %s<br>hint: %s</div>", js(f, "kind"), js(f, "message"),
		    js(f, "last_good_step"), js(f, "hint"));
	}
	html_printf(b, "<h2>Timeline</h2><div class=\"scroll\"><table><tr><th>#</th><th>step</th>"
	    "<th>kind</th><th>state</th><th>attempt</th><th>duration</th><th>cost</th></tr>");
	steps = json_object_get(run, "steps");
	json_array_foreach(steps, i, s) {
		const json_t *res = json_object_get(s, "result");
		double cost = json_number_value(json_object_get(json_object_get(s, "usage"),
		    "cost_usd"));
		html_printf(b, "<tr><td>%lld</td><td>%s</td><td>%s</td><td>", ji(s, "seq"),
		    js(s, "step"), js(s, "kind"));
		pg_state(b, js(s, "state"));
		html_printf(b, "</td><td>%lld</td><td>%.2f s</td><td>$%.4f</td></tr>",
		    ji(s, "attempt"), (double)pg_step_ms(json_object_get(run, "transitions"),
		    ji(s, "seq")) / 1000.0, cost);
		if (json_is_string(json_object_get(res, "diff")))
			diff = js(res, "diff");
	}
	html_printf(b, "</table></div>");
	/* the approval gate */
	appr = json_object_get(run, "approval");
	if (strcmp(js(run, "state"), "awaiting_approval") == 0) {
		html_printf(b, "<h2>Waiting for your decision</h2><div class=\"card\">");
		if (json_is_object(appr) && json_object_size(appr) > 0) {
			char *text = json_dumps(appr, JSON_INDENT(2) | JSON_SORT_KEYS);
			html_printf(b, "<pre>%s</pre>", text ? text : "");
			free(text);
		}
		html_printf(b, "<form method=\"post\" action=\"/projects/%lld/runs/%U/decide\">", pid,
		    rid);
		pg_csrf_field(q, b);
		html_printf(b, "<label for=\"rationale\">Rationale (required, at least 10 characters)"
		    "</label><textarea id=\"rationale\" name=\"rationale\" required minlength=\"10\">"
		    "</textarea>");
		if (json_is_true(json_object_get(appr, "policy_failed")))
			html_printf(b, "<label for=\"pw\">This run failed a policy check: your "
			    "password again to override</label><input type=\"password\" id=\"pw\" "
			    "name=\"password\" autocomplete=\"current-password\">");
		html_printf(b, "<p><button name=\"decision\" value=\"approve\">Approve</button> "
		    "<button class=\"danger\" name=\"decision\" value=\"reject\">Reject</button></p>"
		    "</form></div>");
	}
	if (diff != NULL)
		pg_diff(b, diff);
	/* artifacts: the store's list, versions, share links (web/artifacts.c) */
	art_page_section(q, b, pid, rid);
	/* what the steps reported (links, names) next to the stored files */
	{
		int any = 0;
		json_array_foreach(steps, i, s) {
			const json_t *a = json_object_get(s, "artifacts");
			if (json_is_array(a) ? json_array_size(a) == 0 : !json_is_object(a) ||
			    json_object_size(a) == 0)
				continue;
			char *text = json_dumps(a, JSON_INDENT(2));
			if (!any)
				html_printf(b, "<h3>Reported by the steps</h3>");
			html_printf(b, "<p>step %lld (%s)</p><pre>%s</pre>", ji(s, "seq"), js(s, "step"),
			    text ? text : "");
			free(text);
			any = 1;
		}
	}
	/* live log */
	html_printf(b, "<h2>Live log <small id=\"live-status\" class=\"muted\">connecting…</small>"
	    "</h2><div id=\"live\" data-src=\"/projects/%lld/runs/%U/events\"><pre id=\"log\" "
	    "class=\"log\" aria-live=\"polite\"></pre></div>", pid, rid);
	html_printf(b, "<h2>Actions</h2>");
	if (strcmp(js(run, "state"), "completed") != 0 && strcmp(js(run, "state"), "failed") != 0 &&
	    strcmp(js(run, "state"), "cancelled") != 0) {
		html_printf(b, "<form class=\"inline\" method=\"post\" action=\"/projects/%lld/runs/%U/"
		    "cancel\">", pid, rid);
		pg_csrf_field(q, b);
		html_printf(b, "<button class=\"danger\">Cancel the run</button></form> ");
	}
	if (strcmp(js(run, "state"), "failed") == 0 || strcmp(js(run, "state"), "cancelled") == 0) {
		html_printf(b, "<form class=\"inline\" method=\"post\" action=\"/projects/%lld/runs/%U/"
		    "retry\">", pid, rid);
		pg_csrf_field(q, b);
		html_printf(b, "<button>Retry</button></form>");
	}
	html_printf(b, "<script src=\"/static/live.js\" defer></script>");
	json_decref(run);
	pg_end(q, b, code ? web_err_status(code) : 200);
}

static void
pg_run(struct wreq *q)
{
	pg_run_render(q, 0, NULL);
}

static void
pg_run_events(struct wreq *q)
{
	sse_serve(q, q->params[1]);
}

static void
pg_run_decide(struct wreq *q)
{
	const char *decision = web_form(q, "decision"), *pw = web_form(q, "password");
	char msg[512], loc[256];
	json_t *out;
	int rc, reauth = 0;

	if (pw != NULL && pw[0] != '\0') {
		int wait = auth_login_limit(q->w, q->addr, jido_now_ms());
		if (wait > 0) { /* re-authentication counts against the login limit */
			char ra[16];
			snprintf(ra, sizeof(ra), "%d", wait);
			evhttp_add_header(evhttp_request_get_output_headers(q->r), "Retry-After", ra);
			q->w->m.login_limited++;
			pg_fail(q, 429, JIDO_EAUTHZ, "too many password attempts from this address: "
			    "wait a minute");
			return;
		}
		if (auth_password_check(q->w, pw) != 0) {
			pg_run_render(q, JIDO_EAUTHZ, "wrong password: nothing was decided");
			return;
		}
		reauth = 1;
	}
	rc = pg_call(q, "planner", "planner.approvals.decide", json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}",
	    "run_id", q->params[1], "decision", decision ? decision : "", "rationale",
	    web_form(q, "rationale") ? web_form(q, "rationale") : "", "actor", "owner", "channel",
	    "web", "reauthenticated", reauth), &out, msg, sizeof(msg));
	if (rc != 0) {
		pg_run_render(q, rc, msg);
		return;
	}
	json_decref(out);
	snprintf(loc, sizeof(loc), "/projects/%lld/runs/%s", pg_id_param(q->params[0]),
	    q->params[1]);
	web_redirect(q, loc);
}

static void
pg_run_cancel(struct wreq *q)
{
	char msg[512], loc[256];
	json_t *out;
	int rc = pg_call(q, "planner", "planner.runs.cancel", json_pack("{s:s,s:s}", "run_id",
	    q->params[1], "reason", "cancelled by the owner from the web"), &out, msg, sizeof(msg));

	if (rc != 0) {
		pg_run_render(q, rc, msg);
		return;
	}
	json_decref(out);
	snprintf(loc, sizeof(loc), "/projects/%lld/runs/%s", pg_id_param(q->params[0]),
	    q->params[1]);
	web_redirect(q, loc);
}

static void
pg_run_retry(struct wreq *q)
{
	char msg[512], loc[256];
	json_t *out;
	int rc = pg_call(q, "planner", "planner.runs.retry", json_pack("{s:s,s:s}", "run_id",
	    q->params[1], "actor", "owner"), &out, msg, sizeof(msg));

	if (rc != 0) {
		pg_run_render(q, rc, msg);
		return;
	}
	snprintf(loc, sizeof(loc), "/projects/%lld/runs/%s", ji(out, "project_id"), js(out, "id"));
	json_decref(out);
	web_redirect(q, loc);
}

/* ------------------------------------------------------------ agents, security */

/* A status call rendered as a table of its top-level fields, or its typed error. */
static void
pg_status_block(struct wreq *q, struct evbuffer *b, const char *proc, const char *type,
    const char *title)
{
	json_t *out = NULL, *v;
	const char *k;
	char msg[512];
	int rc = pg_call(q, proc, type, NULL, &out, msg, sizeof(msg));

	html_printf(b, "<h2>%s</h2>", title);
	if (rc != 0) {
		html_printf(b, "<p class=\"muted\">Not available from jido-%s (%s: %s).</p>", proc,
		    jido_err_name(rc), msg);
		return;
	}
	html_printf(b, "<div class=\"scroll\"><table>");
	json_object_foreach(out, k, v) {
		char *text = json_is_string(v) ? strdup(json_string_value(v)) :
		    json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		html_printf(b, "<tr><th>%s</th><td><code>%s</code></td></tr>", k, text ? text : "");
		free(text);
	}
	html_printf(b, "</table></div>");
	json_decref(out);
}

static void
pg_agents(struct wreq *q)
{
	struct evbuffer *b = evbuffer_new();

	pg_begin(q, b, "Agents", "/agents");
	html_printf(b, "<h2>Processes</h2><div class=\"scroll\"><table><tr><th>process</th>"
	    "<th>state</th><th>uptime</th><th>version</th></tr>");
	for (int i = 0; jido_procs[i] != NULL; i++) {
		struct jido_reply r;
		char type[64];
		snprintf(type, sizeof(type), "%s.health", jido_procs[i]);
		if (strcmp(jido_procs[i], "web") != 0 &&
		    jido_bus_call(q->w->url[i], type, NULL, NULL, 1000, &r) == 0) {
			html_printf(b, "<tr><td>%s</td><td>", jido_procs[i]);
			pg_state(b, r.ok ? js(r.data, "state") : "FAILED");
			html_printf(b, "</td><td>%lld s</td><td>%s</td></tr>", ji(r.data, "uptime_s"),
			    js(r.data, "version"));
			jido_reply_free(&r);
		} else if (strcmp(jido_procs[i], "web") == 0) {
			html_printf(b, "<tr><td>web</td><td>");
			pg_state(b, jido_state_name(jido_srv_state(q->w->srv)));
			html_printf(b, "</td><td>-</td><td>%s</td></tr>", JIDO_VERSION);
		} else {
			html_printf(b, "<tr><td>%s</td><td>", jido_procs[i]);
			pg_state(b, "DOWN");
			html_printf(b, "</td><td>-</td><td>-</td></tr>");
		}
	}
	html_printf(b, "</table></div>");
	pg_status_block(q, b, "gateway", "gateway.upstreams", "Providers and breakers");
	usage_render(q->w, b, 30);
	pg_end(q, b, 200);
}

static void
pg_security_render(struct wreq *q, int code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();
	json_t *ks = NULL;
	char emsg[512];
	int rc;

	pg_begin(q, b, "Security", "/settings/security");
	if (code != 0)
		pg_error_box(b, code, msg);
	html_printf(b, "<h2>Shipping kill switch</h2>");
	if ((rc = pg_call(q, "planner", "planner.approvals.kill_switch", NULL, &ks, emsg,
	    sizeof(emsg))) != 0)
		pg_error_box(b, rc, emsg);
	else {
		int paused = json_is_true(json_object_get(ks, "paused"));
		html_printf(b, "<p>Shipping is <strong>%s</strong>; %lld run(s) flagged and parked."
		    "</p><form method=\"post\" action=\"/settings/security/shipping\">",
		    paused ? "paused" : "on", ji(ks, "flagged"));
		pg_csrf_field(q, b);
		html_printf(b, "<input type=\"hidden\" name=\"paused\" value=\"%s\">"
		    "<label for=\"ks-r\">Rationale (at least 10 characters)</label>"
		    "<input type=\"text\" id=\"ks-r\" name=\"rationale\" required minlength=\"10\">"
		    "<p><button class=\"%s\">%s</button></p></form>", paused ? "0" : "1",
		    paused ? "" : "danger", paused ? "Resume shipping" : "Pause all shipping");
	}
	json_decref(ks);
	html_printf(b, "<h2>Secrets</h2>");
	{
		json_t *sec = NULL, *it;
		size_t i;
		if ((rc = pg_vault_call(q, "vault.list", &sec, emsg, sizeof(emsg))) != 0)
			html_printf(b, "<p class=\"muted\">Not available from jido-vault (%s: %s).</p>",
			    jido_err_name(rc), emsg);
		else {
			html_printf(b, "<div class=\"scroll\"><table><tr><th>secret</th><th>scope</th>"
			    "<th>version</th><th>rotated</th><th>status</th><th>rotate to a new value"
			    "</th></tr>");
			json_array_foreach(json_object_get(sec, "secrets"), i, it) {
				html_printf(b, "<tr><td>%s</td><td>%s</td><td>%lld</td><td>%s</td><td>%s"
				    "</td><td><form class=\"inline\" method=\"post\" "
				    "action=\"/settings/security/rotate\">", js(it, "name"), js(it, "scope"),
				    ji(it, "version"), js(it, "rotated_at"), json_is_true(json_object_get(it,
				    "expired")) ? "expired" : json_is_true(json_object_get(it, "due")) ?
				    "rotation due" : "ok");
				pg_csrf_field(q, b);
				html_printf(b, "<input type=\"hidden\" name=\"name\" value=\"%s\">"
				    "<input type=\"password\" name=\"value\" autocomplete=\"off\" "
				    "aria-label=\"new value\" required> <button class=\"secondary\">Rotate"
				    "</button></form></td></tr>", js(it, "name"));
			}
			html_printf(b, "</table></div>");
		}
		json_decref(sec);
	}
	html_printf(b, "<h2>Notifications</h2><p>Sent to <strong>%s</strong> when a run waits "
	    "for approval or fails (web.notify; gathered over web.notify_debounce_s); %llu sent, "
	    "%llu failed.</p>", notify_kind(q->w), (unsigned long long)q->w->m.notify_sent,
	    (unsigned long long)q->w->m.notify_failed);
	if (strcmp(notify_kind(q->w), "off") != 0) {
		html_printf(b, "<form method=\"post\" action=\"/settings/notify/test\">");
		pg_csrf_field(q, b);
		html_printf(b, "<button class=\"secondary\">Send a test notification</button></form>");
	}
	pg_status_block(q, b, "ingest", "ingest.stats", "Webhooks (signature failures)");
	pg_status_block(q, b, "auditor", "audit.verify", "Audit log (verify, last checkpoint)");
	html_printf(b, "<h2>Runbooks</h2>"
	    "<details><summary>A secret leaked</summary><ol><li>Pause shipping above.</li>"
	    "<li>Rotate the secret at its source (GitHub, the LLM provider) and store the new "
	    "value here; the vault keeps the old version only for its grace period.</li>"
	    "<li>Revoke every API token on the API page and create new ones.</li><li>Read the "
	    "audit log for the secret's accesses since the leak (<code>jido-auditor</code> query)."
	    "</li></ol></details>"
	    "<details><summary>Spoofed webhooks</summary><ol><li>Watch the signature failures "
	    "above: they are refused before parsing.</li><li>Rotate the webhook secret and paste the"
	    " new one into GitHub's webhook settings.</li><li>Check the deliveries list for runs "
	    "started by unexpected deliveries and cancel them.</li></ol></details>"
	    "<details><summary>An API token was compromised</summary><ol><li>Revoke it on the API "
	    "page: it stops working at once.</li><li>Look up its last use there and the audit "
	    "records on channel api.</li><li>Cancel or reject runs it started or approved.</li>"
	    "</ol></details>"
	    "<details><summary>PR abuse (an agent's PR does something it should not)</summary><ol>"
	    "<li>Pause shipping.</li><li>Close the PR and delete its branch on GitHub.</li>"
	    "<li>Turn auto-ship off for the project and tighten its forbidden paths.</li>"
	    "<li>Reject parked runs with a rationale; the audit log keeps the decision.</li></ol>"
	    "</details>");
	art_security_section(q, b); /* artifact disk usage, share links, guard */
	pg_end(q, b, code ? web_err_status(code) : 200);
}

static void
pg_security(struct wreq *q)
{
	pg_security_render(q, 0, NULL);
}

static void
pg_security_shipping(struct wreq *q)
{
	const char *paused = web_form(q, "paused");
	char msg[512];
	json_t *out;
	int rc;

	if (paused == NULL || (strcmp(paused, "0") != 0 && strcmp(paused, "1") != 0)) {
		pg_security_render(q, JIDO_EVALIDATION, "paused: must be 0 or 1");
		return;
	}
	rc = pg_call(q, "planner", "planner.approvals.kill_switch", json_pack("{s:b,s:s,s:s,s:s}",
	    "paused", strcmp(paused, "1") == 0, "rationale", web_form(q, "rationale") ?
	    web_form(q, "rationale") : "", "actor", "owner", "channel", "web"), &out, msg,
	    sizeof(msg));
	if (rc != 0) {
		pg_security_render(q, rc, msg);
		return;
	}
	json_decref(out);
	web_redirect(q, "/settings/security");
}

static void
pg_security_rotate(struct wreq *q)
{
	const char *name = web_form(q, "name"), *value = web_form(q, "value");
	char msg[512];
	json_t *out;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) > 100 || value == NULL ||
	    value[0] == '\0' || strlen(value) > 4000) {
		pg_security_render(q, JIDO_EVALIDATION, "name and a new value are required");
		return;
	}
	if (jido_cred_self() == NULL) {
		pg_security_render(q, JIDO_ESECRET, "jido-web has no process credential: start it "
		    "with jido up");
		return;
	}
	if (web_audit(q->w, "web", "secret.rotate", name, "ok", NULL) != 0) {
		pg_security_render(q, JIDO_EUNAVAIL, "the auditor did not confirm the record: "
		    "nothing was rotated");
		return;
	}
	rc = pg_call(q, "vault", "vault.rotate", json_pack("{s:s,s:s,s:s}", "cred",
	    jido_cred_self(), "name", name, "value", value), &out, msg, sizeof(msg));
	if (rc != 0) {
		pg_security_render(q, rc, msg);
		return;
	}
	json_decref(out);
	web_redirect(q, "/settings/security");
}

/* ------------------------------------------------------------ API tokens */

static void
pg_api_render(struct wreq *q, int code, const char *msg, const char *created)
{
	struct evbuffer *b = evbuffer_new();
	json_t *toks = auth_token_list(q->w->db), *t;
	char c1[40], c2[40], c3[40];
	size_t i;

	pg_begin(q, b, "API tokens", "/settings/api");
	if (code != 0)
		pg_error_box(b, code, msg);
	if (created != NULL)
		html_printf(b, "<div class=\"notice\" role=\"status\">Your new token (shown only "
		    "now, copy it): <code id=\"new-token\">%s</code></div>", created);
	html_printf(b, "<p>REST API: <code>%s/api/v1/</code> with <code>Authorization: Bearer "
	    "jido_…</code>; see <a href=\"/api/v1/openapi.json\">openapi.json</a>. MCP over HTTP "
	    "is not served yet.</p>", jido_conf_str(q->w->conf, "web.public_url"));
	html_printf(b, "<div class=\"scroll\"><table><tr><th>name</th><th>token</th>"
	    "<th>scopes</th><th>created</th><th>expires</th><th>last use</th><th></th></tr>");
	json_array_foreach(toks, i, t) {
		html_time(ji(t, "created_ms"), c1, sizeof(c1));
		html_time(ji(t, "expires_ms"), c2, sizeof(c2));
		html_time(ji(t, "last_used_ms"), c3, sizeof(c3));
		html_printf(b, "<tr><td>%s</td><td><code>%s…</code></td><td>%s</td><td>%s</td>"
		    "<td>%s</td><td>%s</td><td>", js(t, "name"), js(t, "prefix"), js(t, "scopes"), c1,
		    json_is_null(json_object_get(t, "expires_ms")) ? "never" : c2, c3);
		if (json_is_true(json_object_get(t, "active"))) {
			html_printf(b, "<form class=\"inline\" method=\"post\" "
			    "action=\"/settings/api/tokens/%lld/revoke\">", ji(t, "id"));
			pg_csrf_field(q, b);
			html_printf(b, "<button class=\"danger\">Revoke</button></form>");
		} else
			html_printf(b, "%s", json_is_null(json_object_get(t, "revoked_ms")) ?
			    "expired" : "revoked");
		html_printf(b, "</td></tr>");
	}
	html_printf(b, "</table></div>");
	json_decref(toks);
	html_printf(b, "<h2>New token</h2><form method=\"post\" action=\"/settings/api/tokens\">");
	pg_csrf_field(q, b);
	html_printf(b, "<label for=\"tn\">Name</label><input type=\"text\" id=\"tn\" name=\"name\" "
	    "required maxlength=\"100\"><label>Scopes</label>"
	    "<label><input type=\"checkbox\" name=\"scope_read\" value=\"1\" checked> read</label>"
	    "<label><input type=\"checkbox\" name=\"scope_run\" value=\"1\"> run (kick off, cancel,"
	    " retry)</label><label><input type=\"checkbox\" name=\"scope_approve\" value=\"1\"> "
	    "approve (approve and reject runs)</label><label><input type=\"checkbox\" "
	    "name=\"scope_admin\" value=\"1\"> admin (everything, settings)</label>"
	    "<label for=\"te\">Expires after (days, 0 = never)</label><input type=\"number\" "
	    "id=\"te\" name=\"expires_days\" value=\"90\" min=\"0\" max=\"3650\">"
	    "<p><button>Create</button></p></form>");
	pg_end(q, b, code ? web_err_status(code) : 200);
}

static void
pg_api(struct wreq *q)
{
	pg_api_render(q, 0, NULL, NULL);
}

static void
pg_api_create(struct wreq *q)
{
	static const char *const names[] = { "scope_read", "scope_run", "scope_approve",
		"scope_admin" };
	const char *name = web_form(q, "name"), *exp = web_form(q, "expires_days");
	char tok[80], why[256], sc[40];
	int scopes = 0, days = exp ? atoi(exp) : 0, rc;
	int64_t id;
	char *end;

	for (int i = 0; i < 4; i++)
		if (web_form(q, names[i]) != NULL)
			scopes |= 1 << i;
	if (exp != NULL && exp[0] != '\0' && (strtol(exp, &end, 10), *end != '\0')) {
		pg_api_render(q, JIDO_EVALIDATION, "expires_days: must be a whole number", NULL);
		return;
	}
	if (name == NULL || name[0] == '\0' || strlen(name) > 100 || scopes == 0 || days < 0 ||
	    days > 3650) {
		pg_api_render(q, JIDO_EVALIDATION, name == NULL || name[0] == '\0' ||
		    strlen(name) > 100 ? "name: must be 1 to 100 characters" : scopes == 0 ?
		    "scopes: choose at least one" : "expires_days: must be 0 to 3650", NULL);
		return;
	}
	if (web_audit(q->w, "web", "api_token.create", name, "ok", json_pack("{s:s,s:i}",
	    "scopes", auth_scopes_text(scopes, sc, sizeof(sc)), "expires_days", days)) != 0) {
		pg_api_render(q, JIDO_EUNAVAIL, "the auditor did not confirm the record: no token "
		    "was created", NULL);
		return;
	}
	if ((rc = auth_token_create(q->w->db, name, scopes, days, tok, &id, why, sizeof(why))) != 0) {
		pg_api_render(q, rc, why, NULL);
		return;
	}
	pg_api_render(q, 0, NULL, tok);
	sodium_memzero(tok, sizeof(tok));
}

static void
pg_api_revoke(struct wreq *q)
{
	long long id = pg_id_param(q->params[0]);
	char subject[32];

	snprintf(subject, sizeof(subject), "token %lld", id);
	if (id == 0) {
		pg_api_render(q, JIDO_ENOTFOUND, "no such token", NULL);
		return;
	}
	/* Revocation is the safe direction: it happens even when the audit write fails (the
	 * failure is logged), so a compromised token never outlives the owner's click. */
	web_audit(q->w, "web", "api_token.revoke", subject, "ok", NULL);
	if (auth_token_revoke(q->w->db, id) != 0) {
		pg_api_render(q, JIDO_ENOTFOUND, "no active token with that id", NULL);
		return;
	}
	web_redirect(q, "/settings/api");
}

/* /runs/:run (the link in notifications): to the run's page under its project. */
static void
pg_run_short(struct wreq *q)
{
	char msg[512], loc[256];
	json_t *run;
	int rc = pg_call(q, "planner", "planner.runs.get", json_pack("{s:s}", "run_id",
	    q->params[0]), &run, msg, sizeof(msg));

	if (rc != 0) {
		pg_fail(q, web_err_status(rc), rc, msg);
		return;
	}
	snprintf(loc, sizeof(loc), "/projects/%lld/runs/%s", ji(run, "project_id"), js(run, "id"));
	json_decref(run);
	web_redirect(q, loc);
}

static void
pg_notify_test(struct wreq *q)
{
	if (strcmp(notify_kind(q->w), "off") == 0) {
		pg_security_render(q, JIDO_EVALIDATION, "notifications are off: set web.notify");
		return;
	}
	notify_event(q->w, "Test notification from JidoCode: notifications work.");
	web_redirect(q, "/settings/security");
}

static void
pg_root(struct wreq *q)
{
	web_redirect(q, "/dashboard");
}

/* ------------------------------------------------------------ routing and the gate */

static const struct page_route routes[] = {
	{ EVHTTP_REQ_GET, "/", pg_root, 0 },
	{ EVHTTP_REQ_GET, "/setup", pg_setup, F_OPEN | F_SETUP },
	{ EVHTTP_REQ_POST, "/setup", pg_setup, F_OPEN | F_SETUP },
	{ EVHTTP_REQ_GET, "/login", pg_login, F_OPEN | F_SETUP },
	{ EVHTTP_REQ_POST, "/login", pg_login, F_OPEN | F_SETUP },
	{ EVHTTP_REQ_POST, "/logout", pg_logout, F_SETUP },
	{ EVHTTP_REQ_GET, "/dashboard", pg_dashboard, 0 },
	{ EVHTTP_REQ_GET, "/workbench", pg_workbench, 0 },
	{ EVHTTP_REQ_POST, "/workbench/kickoff", pg_kickoff, 0 },
	{ EVHTTP_REQ_GET, "/projects", pg_projects, 0 },
	{ EVHTTP_REQ_POST, "/projects/import", pg_projects_import, 0 },
	{ EVHTTP_REQ_GET, "/projects/:id", pg_project, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id", pg_project_save, 0 },
	{ EVHTTP_REQ_GET, "/projects/:id/runs/:run", pg_run, 0 },
	{ EVHTTP_REQ_GET, "/projects/:id/runs/:run/events", pg_run_events, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id/runs/:run/decide", pg_run_decide, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id/runs/:run/cancel", pg_run_cancel, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id/runs/:run/retry", pg_run_retry, 0 },
	{ EVHTTP_REQ_GET, "/agents", pg_agents, 0 },
	{ EVHTTP_REQ_GET, "/settings/security", pg_security, 0 },
	{ EVHTTP_REQ_POST, "/settings/security/shipping", pg_security_shipping, 0 },
	{ EVHTTP_REQ_POST, "/settings/security/rotate", pg_security_rotate, 0 },
	{ EVHTTP_REQ_POST, "/settings/notify/test", pg_notify_test, 0 },
	{ EVHTTP_REQ_GET, "/runs/:run", pg_run_short, 0 },
	{ EVHTTP_REQ_GET, "/settings/api", pg_api, 0 },
	{ EVHTTP_REQ_POST, "/settings/api/tokens", pg_api_create, 0 },
	{ EVHTTP_REQ_POST, "/settings/api/tokens/:id/revoke", pg_api_revoke, 0 },
	/* artifacts and share links (web/artifacts.c) */
	{ EVHTTP_REQ_GET, "/projects/:id/runs/:run/artifacts/:name", pg_artifact_download, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id/runs/:run/artifacts/:name/share", pg_artifact_share, 0 },
	{ EVHTTP_REQ_POST, "/projects/:id/runs/:run/links/:link/revoke", pg_link_revoke, 0 },
	{ EVHTTP_REQ_POST, "/guard/:kind/:id/unfreeze", pg_guard_unfreeze, 0 },
};

/* Match path against pat ("/projects/:id"); :x segments go to q->params (1-128 bytes of
 * [A-Za-z0-9._-]). */
static int
pg_match(struct wreq *q, const char *pat, const char *path)
{
	char *out = q->pbuf;
	int np = 0;

	while (*pat != '\0' && *path != '\0') {
		if (*pat == ':') {
			const char *s = path;
			while (*pat != '\0' && *pat != '/')
				pat++;
			while (*path != '\0' && *path != '/') {
				char c = *path;
				if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' &&
				    c <= '9') || c == '_' || c == '-' || c == '.'))
					return 0;
				path++;
			}
			if (path == s || path - s > 128 || np >= 4)
				return 0;
			memcpy(out, s, (size_t)(path - s));
			out[path - s] = '\0';
			q->params[np++] = out;
			out += path - s + 1;
			continue;
		}
		if (*pat != *path)
			return 0;
		pat++;
		path++;
	}
	return *pat == '\0' && *path == '\0';
}

void
pages_route(struct wreq *q)
{
	const struct page_route *rt = NULL;
	int path_known = 0, method = q->method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : q->method;
	char cookie[80], pre[64];

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (pg_match(q, routes[i].pat, q->path)) {
			path_known = 1;
			if (routes[i].method == method) {
				rt = &routes[i];
				break;
			}
		}
	if (web_cookie(q, "jido_session", cookie, sizeof(cookie)) == 0 &&
	    auth_session_check(q->w, cookie) == 0) {
		snprintf(q->sess, sizeof(q->sess), "%s", cookie);
		q->authed = 1;
	}
	if (rt == NULL) {
		if (path_known) {
			struct evbuffer *b = evbuffer_new();
			evbuffer_add_printf(b, "method not allowed\n");
			web_send(q, 405, "text/plain; charset=utf-8", b);
		} else
			pg_fail(q, 404, JIDO_ENOTFOUND, "no such page");
		return;
	}
	/* first run: only /setup until the owner password exists */
	if (!auth_owner_exists(q->w) && strcmp(rt->pat, "/setup") != 0) {
		web_redirect(q, "/setup");
		return;
	}
	if (!q->authed && !(rt->flags & F_OPEN)) {
		web_redirect(q, "/login");
		return;
	}
	if (!q->authed && strcmp(rt->pat, "/setup") == 0 && auth_owner_exists(q->w)) {
		web_redirect(q, "/login");
		return;
	}
	if (q->authed && !(rt->flags & F_SETUP) && !auth_setup_done(q->w)) {
		web_redirect(q, "/setup");
		return;
	}
	/* every state-changing request carries the CSRF token of its session */
	if (method == EVHTTP_REQ_POST && auth_csrf_check(q->w, pg_bound(q, pre, sizeof(pre)),
	    web_form(q, "csrf")) != 0) {
		q->w->m.csrf_refused++;
		jido_warn("web.csrf_refused", "{s:s,s:s}", "path", q->path, "addr", q->addr);
		pg_fail(q, 403, JIDO_EAUTHZ, "the form's CSRF token is missing or stale: reload the "
		    "page and try again");
		return;
	}
	rt->fn(q);
}
