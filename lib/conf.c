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
	{ "web.listen", JIDO_CONF_STR, "127.0.0.1:4000", 0, "owner UI and REST API address" },
	{ "ingest.listen", JIDO_CONF_STR, "127.0.0.1:4001", 0, "GitHub webhook receiver address" },
	{ "github.api_url", JIDO_CONF_STR, "https://api.github.com", 0, "GitHub REST API base URL" },
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
