/*
 * conf.c - configuration: every key any process reads is in one table with its type,
 * default and help. Values come from the built-in defaults, then a config file
 * (`key = value` lines), then JIDO_* environment variables, then the command line.
 * Unknown keys and ill-typed values are refused with the key named.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jido.h"

static const struct jido_conf_key conf_keys[] = {
	{ "home", JIDO_CONF_PATH, "./var", 0, "state directory (databases, logs, run/ sockets)" },
	{ "log.level", JIDO_CONF_STR, "info", 0, "debug, info, warn or error" },
	{ "bus.timeout_ms", JIDO_CONF_INT, "5000", 0, "send/receive timeout of bus calls" },
	{ "bus.max_msg", JIDO_CONF_INT, "1048576", 0, "largest request accepted, in bytes" },
	{ "bus.heartbeat_s", JIDO_CONF_INT, "5", 0, "seconds between heartbeats on publish sockets" },
	{ "bus.watchdog_s", JIDO_CONF_INT, "2", 0, "self-probe period of request sockets (0: off)" },
	{ "bus.socket_mode", JIDO_CONF_INT, "0600", 0, "file mode of ipc socket files (octal)" },
	{ "bus.tls_cert", JIDO_CONF_PATH, "", 0, "PEM certificate for tls+tcp:// sockets" },
	{ "bus.tls_key", JIDO_CONF_PATH, "", 1, "PEM private key for tls+tcp:// sockets" },
	{ "bus.tls_ca", JIDO_CONF_PATH, "", 0, "PEM CA that tls+tcp:// peers are verified with" },
	{ "socket.vault", JIDO_CONF_STR, "", 0, "vault request socket URL (default ipc under home/run)" },
	{ "socket.auditor", JIDO_CONF_STR, "", 0, "auditor request socket URL" },
	{ "socket.planner", JIDO_CONF_STR, "", 0, "planner request socket URL" },
	{ "socket.gateway", JIDO_CONF_STR, "", 0, "gateway request socket URL" },
	{ "socket.gitops", JIDO_CONF_STR, "", 0, "gitops request socket URL" },
	{ "socket.executor", JIDO_CONF_STR, "", 0, "executor request socket URL" },
	{ "socket.ingest", JIDO_CONF_STR, "", 0, "ingest request socket URL" },
	{ "socket.web", JIDO_CONF_STR, "", 0, "web request socket URL" },
	{ "socket.supervisor", JIDO_CONF_STR, "", 0, "jido up's status socket URL" },
	{ "socket.events", JIDO_CONF_STR, "", 0, "events publish socket URL (owner: ingest)" },
	{ "socket.runs", JIDO_CONF_STR, "", 0, "runs publish socket URL (owner: planner)" },
	{ "socket.logs", JIDO_CONF_STR, "", 0, "logs publish socket URL (owner: executor)" },
	{ "socket.auditor_push", JIDO_CONF_STR, "", 0, "auditor fire-and-forget PULL socket URL (default ipc run/auditor.push)" },
	{ "auditor.checkpoint_every", JIDO_CONF_INT, "1000", 0, "sign a checkpoint after this many records" },
	{ "auditor.checkpoint_secs", JIDO_CONF_INT, "60", 0, "sign a checkpoint after this many seconds with unsigned records" },
	{ "auditor.signing_key_file", JIDO_CONF_PATH, "", 0, "Ed25519 seed file when the vault has no audit.signing_key (default home/audit/signing.key)" },
	{ "auditor.group_commit", JIDO_CONF_BOOL, "true", 0, "share one fsync among concurrent appends (false: one fsync per record, for benchmarks)" },
	{ "auditor.workers", JIDO_CONF_INT, "96", 0, "request contexts served concurrently (group commit needs one per waiting writer)" },
	{ "web.listen", JIDO_CONF_STR, "127.0.0.1:4000", 0, "owner UI and REST API address" },
	{ "web.allow_remote", JIDO_CONF_BOOL, "false", 0, "let web.listen be a non-loopback address" },
	{ "web.secure_cookies", JIDO_CONF_BOOL, "false", 0, "served behind TLS: Secure cookies, HSTS" },
	{ "web.session_hours", JIDO_CONF_INT, "12", 0, "lifetime of an owner session" },
	{ "web.login_per_min", JIDO_CONF_INT, "5", 0, "login attempts per address per minute (1-8)" },
	{ "web.api_per_min", JIDO_CONF_INT, "120", 0, "API requests per token per minute (refill)" },
	{ "web.api_burst", JIDO_CONF_INT, "60", 0, "API token bucket size" },
	{ "web.metrics_token", JIDO_CONF_STR, "", 1, "bearer token /metrics requires (empty: open)" },
	{ "web.public_url", JIDO_CONF_STR, "http://127.0.0.1:4000", 0, "base URL of the UI, for links" },
	{ "web.guard_requests_per_min", JIDO_CONF_INT, "600", 0, "anomaly guard: requests per minute of one API token or share link before it is frozen (0: off)" },
	{ "web.guard_mbytes_per_min", JIDO_CONF_INT, "4096", 0, "anomaly guard: MiB per minute of one token or link (0: off)" },
	{ "web.guard_addrs_per_min", JIDO_CONF_INT, "8", 0, "anomaly guard: distinct client addresses per minute of one token or link (0: off)" },
	{ "web.notify", JIDO_CONF_STR, "off", 0, "owner notifications: telegram, webhook, ntfy or off" },
	{ "web.notify_url", JIDO_CONF_STR, "", 0, "Telegram API base, webhook URL or ntfy topic URL" },
	{ "web.notify_chat", JIDO_CONF_STR, "", 0, "Telegram chat id" },
	{ "web.notify_secret", JIDO_CONF_STR, "", 1, "bot token, webhook HMAC key or ntfy token" },
	{ "web.notify_debounce_s", JIDO_CONF_INT, "60", 0, "gather notifications for this long" },
	{ "web.notify_breaker_poll_s", JIDO_CONF_INT, "15", 0,
	  "how often the notifier asks the gateway for its breakers (a breaker that opens is announced)" },
	{ "ingest.listen", JIDO_CONF_STR, "127.0.0.1:4001", 0, "GitHub webhook receiver address" },
	{ "mcp.allow_approvals", JIDO_CONF_BOOL, "false", 0, "let MCP clients approve or reject runs (an agent must not approve its own work: off)" },
	{ "mcp.follow_max_s", JIDO_CONF_INT, "300", 0, "longest an MCP runs_follow call may wait (the web caps it at 0: no waiting)" },
	{ "artifacts.log_days", JIDO_CONF_INT, "30", 0, "days a run's logs are kept (0: the run's life)" },
	{ "artifacts.transcript_days", JIDO_CONF_INT, "30", 0, "days a run's transcripts are kept (0: the run's life)" },
	{ "artifacts.other_days", JIDO_CONF_INT, "0", 0, "days other artifacts are kept (0: the run's life)" },
	{ "planner.db", JIDO_CONF_PATH, "", 0, "planner database (default home/planner.db)" },
	{ "planner.workflows_dir", JIDO_CONF_PATH, "", 0, "owner's workflow folder (default home/workflows)" },
	{ "planner.builtin_workflows", JIDO_CONF_PATH, "", 0, "built-in workflow folder (default: next to the binary)" },
	{ "planner.call_timeout_ms", JIDO_CONF_INT, "2000", 0, "planner's timeout for calls to executors, gitops, auditor, ingest" },
	{ "planner.executors_listen", JIDO_CONF_STR, "", 0, "URL executors poll for steps (e.g. tls+tcp://0.0.0.0:4002); set: steps go to polling executors, not socket.executor" },
	{ "planner.executor_lease_ms", JIDO_CONF_INT, "15000", 0, "an executor that has not polled for this long has lost its steps (they are dispatched again)" },
	{ "planner.max_running_agents", JIDO_CONF_INT, "4", 0, "agent steps running at once per runner kind (0: no limit)" },
	{ "planner.guard_pushes_per_hour", JIDO_CONF_INT, "30", 0, "anomaly guard: ship steps (pushes) sent to gitops per project in a rolling hour before the project is frozen (0: off)" },
	{ "planner.guard_comments_per_hour", JIDO_CONF_INT, "60", 0, "anomaly guard: comment steps sent to gitops per project in a rolling hour before the project is frozen (0: off)" },
	{ "github.api_url", JIDO_CONF_STR, "https://api.github.com", 0, "GitHub REST API base URL" },
	/* gitops (issue 9) */
	{ "github.git_url", JIDO_CONF_STR, "https://github.com", 0, "base of clone URLs (<url>/<owner>/<repo>.git)" },
	{ "github.token_file", JIDO_CONF_PATH, "", 0, "tests without the vault: 0600 file holding the GitHub token (else vault.get github.token)" },
	{ "github.app_id", JIDO_CONF_STR, "", 0, "GitHub App id: authenticate as the App's installation instead of with github.token" },
	{ "github.app_installation_id", JIDO_CONF_STR, "", 0, "the App installation whose tokens ingest and gitops use" },
	{ "github.app_private_key_file", JIDO_CONF_PATH, "", 0, "tests without the vault: 0600 PEM file of the App's private key (else vault.get github.app_private_key)" },
	{ "gitops.work_dir", JIDO_CONF_PATH, "", 0, "gitops's own clones (default: home/gitops)" },
	{ "gitops.author_name", JIDO_CONF_STR, "JidoCode", 0, "commit author and committer name" },
	{ "gitops.author_email", JIDO_CONF_STR, "jidocode@users.noreply.github.com", 0, "commit author and committer email" },
	{ "gitops.max_diff_lines", JIDO_CONF_INT, "5000", 0, "default limit of changed lines per ship (per project: max_diff_lines)" },
	{ "gitops.ship_workflows", JIDO_CONF_STR, "fix_issue,fix_failing_tests", 0, "workflows allowed to ship by default (per project: ship_workflows)" },
	{ "gitops.kill_switch", JIDO_CONF_BOOL, "false", 0, "refuse every push, PR and comment (also: the file home/gitops.stop)" },
	{ "gitops.git_timeout_s", JIDO_CONF_INT, "120", 0, "longest one git command may run" },
	{ "gitops.api_retries", JIDO_CONF_INT, "3", 0, "retries of a rate-limited GitHub call" },
	{ "gitops.api_max_wait_s", JIDO_CONF_INT, "60", 0, "longest rate-limit wait honoured before failing" },
	{ "gitops.vault_fingerprints", JIDO_CONF_STR, "auto", 0, "look for the vault's secret values in diffs (vault.fingerprints): on, off, auto = when the token comes from the vault" },
	{ "executor.sandbox_uid", JIDO_CONF_INT, "65534", 0, "host uid/gid the sandbox's agent maps to when the executor runs as root" },
	{ "executor.pull", JIDO_CONF_BOOL, "false", 0, "poll socket.planner for steps (planner.executors.poll) instead of waiting for them" },
	{ "executor.id", JIDO_CONF_STR, "", 0, "this executor's name in the planner's pool (default: the host name)" },
	{ "executor.poll_ms", JIDO_CONF_INT, "1000", 0, "how often a pulling executor polls the planner" },
	{ "executor.timeout_s", JIDO_CONF_INT, "1800", 0, "default wall-clock limit of a step, seconds" },
	{ "executor.memory", JIDO_CONF_STR, "4g", 0, "cgroup memory limit of a step's sandbox" },
	{ "executor.pids", JIDO_CONF_INT, "512", 0, "cgroup pids limit and RLIMIT_NPROC of a step's sandbox" },
	{ "executor.fsize", JIDO_CONF_STR, "1g", 0, "largest file a step may write (RLIMIT_FSIZE)" },
	{ "executor.gateway_port", JIDO_CONF_INT, "8787", 0, "port of the gateway relay on 127.0.0.1 inside the sandbox" },
	{ "executor.gateway_socket", JIDO_CONF_PATH, "", 0, "gateway's HTTP unix socket the relay forwards to (default home/run/gateway-http.sock)" },
	{ "executor.git_url", JIDO_CONF_STR, "https://github.com/", 0, "base URL a project's full name is appended to for the read-only fetch" },
	{ "executor.max_diff", JIDO_CONF_INT, "1048576", 0, "largest diff sent back to the planner, bytes (longer: truncated)" },
	{ "ingest.webhook_secret_file", JIDO_CONF_PATH, "", 0, "0600 file with the webhook secret (line 2: the previous one); empty: from jido-vault" },
	{ "ingest.max_body", JIDO_CONF_INT, "26214400", 0, "largest webhook body accepted, in bytes (413 above)" },
	{ "ingest.redeliver_s", JIDO_CONF_INT, "30", 0, "seconds before an unacknowledged event is published again (doubling)" },
	{ "ingest.retention_days", JIDO_CONF_INT, "30", 0, "days a stored delivery is kept" },
	{ "ingest.auth_fail_burst", JIDO_CONF_INT, "10", 0, "bad signatures a source may send before it gets 429" },
	{ "ingest.auth_fail_per_min", JIDO_CONF_INT, "10", 0, "bad signatures per minute a source regains" },
	{ "ingest.secret_refresh_s", JIDO_CONF_INT, "60", 0, "seconds between reloads of the webhook secret" },
	{ "ingest.sync_interval_s", JIDO_CONF_INT, "300", 0, "seconds between GitHub REST polls (0: off)" },
	{ "github.token_file", JIDO_CONF_PATH, "", 0, "0600 file with a GitHub token for the REST sync; empty: from jido-vault" },
	{ "vault.passphrase_file", JIDO_CONF_PATH, "", 0, "file holding the vault passphrase (Argon2id); empty: use vault.key_file" },
	{ "vault.key_file", JIDO_CONF_PATH, "", 0, "0600 file holding the vault master key (default home/vault.key, created on first start)" },
	{ "vault.db", JIDO_CONF_PATH, "", 0, "vault database (default home/vault.db)" },
	{ "vault.grace_s", JIDO_CONF_INT, "300", 0, "seconds a rotated-out secret version still answers" },
	{ "vault.max_age_s", JIDO_CONF_INT, "7776000", 0, "default age after which a secret is due for rotation (0: never)" },
	{ "vault.uid_map", JIDO_CONF_STR, "", 0, "uid=process pairs identifying callers without a credential (deploy)" },
	{ "vault.audit_timeout_ms", JIDO_CONF_INT, "200", 0, "timeout of the vault's best-effort audit records (0: none)" },
	/* gateway (issue 8) */
	{ "gateway.http_socket", JIDO_CONF_PATH, "", 0, "gateway HTTP unix socket (default home/run/gateway-http.sock)" },
	{ "gateway.listen", JIDO_CONF_STR, "", 0, "optional loopback TCP address of the gateway's HTTP API (127.0.0.1:PORT)" },
	{ "gateway.upstreams", JIDO_CONF_STR,
	  "anthropic,anthropic,https://api.anthropic.com,10,vault:llm.anthropic.api_key;"
	  "openai,openai,https://api.openai.com,20,vault:llm.openai.api_key", 0,
	  "LLM providers: name,style(anthropic|openai),base_url,priority,vault:NAME|file:PATH;..." },
	{ "gateway.pricing", JIDO_CONF_STR,
	  "claude-opus-4-1:15,75,1.5,18.75;claude-opus-4:15,75,1.5,18.75;"
	  "claude-sonnet-4-5:3,15,0.3,3.75;claude-sonnet-4:3,15,0.3,3.75;"
	  "claude-3-7-sonnet:3,15,0.3,3.75;claude-haiku-4-5:1,5,0.1,1.25;"
	  "claude-3-5-haiku:0.8,4,0.08,1;gpt-4o:2.5,10,1.25,0;gpt-4o-mini:0.15,0.6,0.075,0;"
	  "gpt-4.1:2,8,0.5,0;gpt-5:1.25,10,0.125,0", 0,
	  "USD per million tokens: model:input,output,cache_read,cache_write;... (prefix match, * = any)" },
	{ "gateway.max_body", JIDO_CONF_INT, "33554432", 0, "largest request body the gateway accepts, in bytes" },
	{ "gateway.stream_buffer", JIDO_CONF_INT, "1048576", 0, "bytes of a stream waiting for a slow client above which the gateway stops reading the upstream (resumes below a quarter of it)" },
	{ "gateway.connect_timeout_ms", JIDO_CONF_INT, "5000", 0, "upstream connect timeout" },
	{ "gateway.read_timeout_ms", JIDO_CONF_INT, "300000", 0, "upstream silence that counts as a stall (whole seconds)" },
	{ "gateway.breaker_failures", JIDO_CONF_INT, "3", 0, "failures within the window that open an upstream's breaker" },
	{ "gateway.breaker_window_s", JIDO_CONF_INT, "60", 0, "breaker failure window" },
	{ "gateway.breaker_cooldown_s", JIDO_CONF_INT, "300", 0, "seconds a breaker stays open before its trial request" },
	{ "gateway.key_refresh_s", JIDO_CONF_INT, "300", 0, "re-fetch provider keys from the vault this often (0: never)" },
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

struct conf_val {
	char *value;
	char source[96];
};

struct jido_conf {
	struct conf_val vals[CONF_NKEYS];
};

const struct jido_conf_key *
jido_conf_keys(size_t *n)
{
	*n = CONF_NKEYS;
	return conf_keys;
}

static int
conf_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return JIDO_EVALIDATION;
}

static int
conf_index(const char *key)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (strcmp(conf_keys[i].name, key) == 0)
			return (int)i;
	return -1;
}

/* Check value against the key's type. */
static int
conf_check(const struct jido_conf_key *k, const char *value, char *why, size_t whylen)
{
	char *end;

	switch (k->type) {
	case JIDO_CONF_INT:
		errno = 0;
		(void)strtoll(value, &end, 0);
		if (*value == '\0' || *end != '\0' || errno != 0)
			return conf_fail(why, whylen, "key '%s' needs an integer, not '%.64s'",
			    k->name, value);
		break;
	case JIDO_CONF_BOOL:
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0 &&
		    strcmp(value, "1") != 0 && strcmp(value, "0") != 0)
			return conf_fail(why, whylen, "key '%s' needs true or false", k->name);
		break;
	default:
		if (strcmp(k->name, "log.level") == 0 && jido_log_level_parse(value) < 0)
			return conf_fail(why, whylen,
			    "key 'log.level' needs debug, info, warn or error");
		break;
	}
	return 0;
}

/* Store value for key from source. */
static int
conf_put(struct jido_conf *c, const char *key, const char *value, const char *source,
    char *why, size_t whylen)
{
	int i = conf_index(key);
	char *dup;

	if (i < 0)
		return conf_fail(why, whylen, "unknown key '%.64s' (%s)", key, source);
	if (conf_check(&conf_keys[i], value, why, whylen) != 0) {
		size_t n = strlen(why);
		snprintf(why + n, whylen - n, " (%s)", source);
		return JIDO_EVALIDATION;
	}
	if ((dup = strdup(value)) == NULL)
		return JIDO_EINTERNAL;
	free(c->vals[i].value);
	c->vals[i].value = dup;
	snprintf(c->vals[i].source, sizeof(c->vals[i].source), "%s", source);
	return 0;
}

int
jido_conf_set(struct jido_conf *c, const char *key, const char *value, char *why, size_t whylen)
{
	return conf_put(c, key, value, "command line", why, whylen);
}

static char *
conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Read `key = value` lines; '#' starts a comment line; values may be double-quoted. */
static int
conf_read_file(struct jido_conf *c, const char *path, int must_exist, char *why, size_t whylen)
{
	char line[4096], src[96];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (f == NULL) {
		if (!must_exist && errno == ENOENT)
			return 0;
		return conf_fail(why, whylen, "cannot read config file %s: %s", path,
		    strerror(errno));
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *val;
		size_t n;

		lineno++;
		s = conf_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if ((eq = strchr(s, '=')) == NULL) {
			rc = conf_fail(why, whylen, "%s:%d: expected 'key = value'", path, lineno);
			break;
		}
		*eq = '\0';
		key = conf_trim(s);
		val = conf_trim(eq + 1);
		n = strlen(val);
		if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
			val[n - 1] = '\0';
			val++;
		}
		snprintf(src, sizeof(src), "%.80s:%d", path, lineno);
		rc = conf_put(c, key, val, src, why, whylen);
	}
	fclose(f);
	return rc;
}

/* JIDO_WEB_LISTEN for web.listen. */
static void
conf_env_name(const char *key, char *buf, size_t len)
{
	size_t j = snprintf(buf, len, "JIDO_");

	for (size_t i = 0; key[i] != '\0' && j + 1 < len; i++)
		buf[j++] = key[i] == '.' ? '_' : (char)toupper((unsigned char)key[i]);
	buf[j] = '\0';
}

int
jido_conf_load(const char *file, struct jido_conf **out, char *why, size_t whylen)
{
	struct jido_conf *c = calloc(1, sizeof(*c));
	char path[4096], env[96];
	int rc = 0;

	if (c == NULL)
		return JIDO_EINTERNAL;
	for (size_t i = 0; i < CONF_NKEYS && rc == 0; i++)
		rc = conf_put(c, conf_keys[i].name, conf_keys[i].def, "default", why, whylen);
	/* JIDO_HOME is needed first: it locates the default config file. */
	if (rc == 0 && getenv("JIDO_HOME") != NULL)
		rc = conf_put(c, "home", getenv("JIDO_HOME"), "env JIDO_HOME", why, whylen);
	if (rc == 0) {
		if (file == NULL)
			file = getenv("JIDO_CONFIG");
		if (file != NULL)
			rc = conf_read_file(c, file, 1, why, whylen);
		else {
			snprintf(path, sizeof(path), "%s/jido.conf", jido_conf_str(c, "home"));
			rc = conf_read_file(c, path, 0, why, whylen);
		}
	}
	for (size_t i = 0; i < CONF_NKEYS && rc == 0; i++) {
		const char *v;
		char src[100];
		conf_env_name(conf_keys[i].name, env, sizeof(env));
		if ((v = getenv(env)) == NULL)
			continue;
		snprintf(src, sizeof(src), "env %s", env);
		rc = conf_put(c, conf_keys[i].name, v, src, why, whylen);
	}
	if (rc != 0) {
		jido_conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void
jido_conf_free(struct jido_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CONF_NKEYS; i++)
		free(c->vals[i].value);
	free(c);
}

const char *
jido_conf_str(const struct jido_conf *c, const char *key)
{
	int i = conf_index(key);

	return i < 0 ? NULL : c->vals[i].value;
}

long long
jido_conf_int(const struct jido_conf *c, const char *key)
{
	const char *v = jido_conf_str(c, key);

	return v == NULL ? 0 : strtoll(v, NULL, 0);
}

int
jido_conf_bool(const struct jido_conf *c, const char *key)
{
	const char *v = jido_conf_str(c, key);

	return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

int
jido_conf_print(const struct jido_conf *c, FILE *f)
{
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const char *v = c->vals[i].value;
		if (conf_keys[i].secret && v[0] != '\0')
			v = "(set)";
		if (fprintf(f, "%s = %s  # %s\n", conf_keys[i].name, v, c->vals[i].source) < 0)
			return JIDO_EINTERNAL;
	}
	return fflush(f) == 0 ? 0 : JIDO_EINTERNAL;
}
