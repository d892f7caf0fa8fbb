/*
 * remote.c - `jido --url URL ...`: a table operation sent to a remote instance's REST API
 * (libcurl): the operation's method and path with its path arguments filled in, the other
 * arguments as the query (GET) or a JSON body, and a bearer token from --token-file (a
 * file only its owner can read) or $JIDO_TOKEN. The answer is the same JSON as locally.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "cli.h"
#include "ops.h"

#define REMOTE_MAX (64u << 20) /* largest answer read */

int
cli_remote_token(const struct cli *c, char tok[128], const char *what)
{
	const char *env = getenv("JIDO_TOKEN");
	struct stat st;
	ssize_t n;
	int fd;

	if (c->token_file == NULL) {
		if (env == NULL || env[0] == '\0')
			return cli_fail(CLI_USAGE, what, "--url needs an API token: set JIDO_TOKEN or "
			    "pass --token-file FILE");
		if (strlen(env) >= 128)
			return cli_fail(CLI_USAGE, what, "JIDO_TOKEN is too long");
		snprintf(tok, 128, "%s", env);
		return 0;
	}
	if ((fd = open(c->token_file, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_NEG, what, "cannot read %s: %s",
		    c->token_file, strerror(errno));
	if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
		close(fd);
		return cli_fail(CLI_NEG, what, "%s is readable by others (mode %03o): chmod 600 it",
		    c->token_file, (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, tok, 127);
	close(fd);
	if (n <= 0)
		return cli_fail(CLI_USAGE, what, "%s holds no token", c->token_file);
	tok[n] = '\0';
	tok[strcspn(tok, " \t\r\n")] = '\0';
	return 0;
}

/* Text of a typed argument for a URL: new malloc'd string. */
static char *
remote_text(const json_t *v)
{
	char buf[64];

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	if (json_is_array(v)) {
		size_t i, len = 1;
		json_t *it;
		char *s;
		json_array_foreach(v, i, it)
			len += json_string_length(it) + 1;
		if ((s = calloc(1, len)) == NULL)
			return NULL;
		json_array_foreach(v, i, it) {
			if (i > 0)
				strcat(s, ",");
			strcat(s, json_string_value(it));
		}
		return s;
	}
	return jido_json_dump(v);
}

static size_t
remote_write(char *p, size_t size, size_t n, void *arg)
{
	struct { char *buf; size_t len; } *b = arg;
	size_t k = size * n;
	char *nb;

	if (b->len + k > REMOTE_MAX || (nb = realloc(b->buf, b->len + k + 1)) == NULL)
		return 0;
	memcpy(nb + b->len, p, k);
	b->buf = nb;
	b->len += k;
	b->buf[b->len] = '\0';
	return k;
}

int
cli_remote_setup(struct cli *c, void *h, const char *url, const char *accept, void **hdr,
    size_t (*fn)(char *, size_t, size_t, void *), void *arg, const char *what)
{
	char tok[128], line[160];
	struct curl_slist *l = *hdr;
	int rc;

	if ((rc = cli_remote_token(c, tok, what)) != 0)
		return rc;
	snprintf(line, sizeof(line), "Authorization: Bearer %s", tok);
	sodium_memzero(tok, sizeof(tok));
	l = curl_slist_append(l, line);
	sodium_memzero(line, sizeof(line));
	snprintf(line, sizeof(line), "Accept: %s", accept);
	l = curl_slist_append(l, line);
	*hdr = l;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fn);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	return 0;
}

int
cli_remote_call(struct cli *c, const struct jido_op *op, const json_t *args, json_t **out,
    int *err, char **msg)
{
	struct { char *buf; size_t len; } body = { NULL, 0 };
	struct curl_slist *hdr = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	json_t *rest = json_deep_copy(args != NULL ? args : json_object()), *ans;
	char *url, *text = NULL;
	size_t ulen;
	long status = 0;
	int rc, first = 1;
	CURL *h;
	CURLcode cc;

	*out = NULL;
	if ((h = curl_easy_init()) == NULL) {
		json_decref(rest);
		return cli_fail(CLI_SYS, op->cli, "libcurl did not initialise");
	}
	ulen = strlen(c->url) + strlen(op->path) + 8192;
	url = calloc(1, ulen);
	snprintf(url, ulen, "%.*s", (int)(strlen(c->url) - (c->url[0] && c->url[strlen(c->url) -
	    1] == '/')), c->url);
	for (const char *p = op->path; *p != '\0';) {
		if (*p == ':') {
			char name[64], *t, *e;
			size_t k = strcspn(p + 1, "/");
			snprintf(name, sizeof(name), "%.*s", (int)k, p + 1);
			t = remote_text(json_object_get(rest, name));
			e = t != NULL ? curl_easy_escape(h, t, 0) : NULL;
			if (e != NULL && strlen(url) + strlen(e) + 1 < ulen)
				strcat(url, e);
			curl_free(e);
			free(t);
			json_object_del(rest, name);
			p += k + 1;
		} else {
			size_t n = strlen(url);
			if (n + 2 < ulen) {
				url[n] = *p;
				url[n + 1] = '\0';
			}
			p++;
		}
	}
	if (strcmp(op->method, "GET") == 0) {
		const char *key;
		json_t *v;
		json_object_foreach(rest, key, v) {
			char *t = remote_text(v), *e = t != NULL ? curl_easy_escape(h, t, 0) : NULL;
			if (e != NULL && strlen(url) + strlen(key) + strlen(e) + 3 < ulen)
				snprintf(url + strlen(url), ulen - strlen(url), "%c%s=%s", first ? '?' :
				    '&', key, e);
			first = 0;
			curl_free(e);
			free(t);
		}
	} else {
		text = jido_json_dump(rest);
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, op->method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	}
	if ((rc = cli_remote_setup(c, h, url, "application/json", (void **)&hdr, remote_write,
	    &body, op->cli)) != 0) {
		curl_slist_free_all(hdr);
		curl_easy_cleanup(h);
		json_decref(rest);
		free(text);
		free(url);
		return rc;
	}
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)jido_conf_int(c->conf, "bus.timeout_ms") + 5000);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	json_decref(rest);
	free(text);
	if (cc != CURLE_OK) {
		rc = cli_fail(CLI_SYS, op->cli, "%s: %s", url, ebuf[0] ? ebuf :
		    curl_easy_strerror(cc));
		free(url);
		free(body.buf);
		return rc;
	}
	ans = body.buf != NULL ? json_loadb(body.buf, body.len, 0, NULL) : NULL;
	free(body.buf);
	if (status >= 200 && status < 300 && json_is_object(ans)) {
		free(url);
		*out = ans;
		return 0;
	}
	json_t *e = json_object_get(ans, "error");
	if (!json_is_string(json_object_get(e, "code"))) {
		rc = cli_fail(CLI_SYS, op->cli, "%s answered HTTP %ld without an error object", url,
		    status);
		free(url);
		json_decref(ans);
		return rc;
	}
	free(url);
	*err = jido_err_from_name(json_string_value(json_object_get(e, "code")));
	*msg = strdup(json_string_value(json_object_get(e, "message")) ?
	    json_string_value(json_object_get(e, "message")) : "");
	json_decref(ans);
	return 0;
}
