/*
 * msg.c - the message envelope of the design brief: building, parsing and strictly
 * validating requests/events ({v,type,id,corr,data}) and replies ({v,id,ok,data|error}).
 * Anything missing, unknown or ill-typed is a validation_error naming the problem.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "jido.h"

void
jido_id_new(char *buf, size_t len)
{
	unsigned char raw[16];

	randombytes_buf(raw, sizeof(raw));
	if (len >= sizeof(raw) * 2 + 1)
		sodium_bin2hex(buf, len, raw, sizeof(raw));
	else if (len > 0)
		buf[0] = '\0';
}

static int
msg_fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return JIDO_EVALIDATION;
}

/* type is "<destination>.<verb>": lowercase letters, digits, '_' and '.', starting with a
 * letter, at least one dot, no empty segment. */
static int
msg_type_valid(const char *t)
{
	size_t n = strlen(t);
	int dots = 0;

	if (n < 3 || n > JIDO_TYPE_MAX || !(t[0] >= 'a' && t[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (c == '.') {
			if (t[i + 1] == '.' || t[i + 1] == '\0')
				return 0;
			dots++;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return dots > 0;
}

/* Printable ASCII without spaces, 1..JIDO_ID_MAX long. */
static int
msg_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > JIDO_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return 0;
	return 1;
}

/* Parse bytes into a JSON object, with a reason on failure. New reference or NULL. */
static json_t *
msg_load(const void *buf, size_t len, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		msg_fail(why, whylen, "empty message");
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		msg_fail(why, whylen, "message contains a NUL byte");
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		msg_fail(why, whylen, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		msg_fail(why, whylen, "message is not a JSON object");
		return NULL;
	}
	return root;
}

int
jido_msg_parse(const void *buf, size_t len, struct jido_msg *m, char *why, size_t whylen,
    char **id_out)
{
	json_t *root, *v, *data;
	const char *k;

	memset(m, 0, sizeof(*m));
	if (id_out != NULL)
		*id_out = NULL;
	if ((root = msg_load(buf, len, why, whylen)) == NULL)
		return JIDO_EVALIDATION;
	v = json_object_get(root, "id");
	if (id_out != NULL && json_is_string(v) && msg_id_valid(json_string_value(v)))
		*id_out = strdup(json_string_value(v));
	if (json_object_get(root, "ok") != NULL || json_object_get(root, "error") != NULL) {
		json_decref(root);
		return msg_fail(why, whylen, "reply-shaped message sent where a request belongs");
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "v") != 0 && strcmp(k, "type") != 0 && strcmp(k, "id") != 0 &&
		    strcmp(k, "corr") != 0 && strcmp(k, "data") != 0) {
			msg_fail(why, whylen, "unknown field '%.64s'", k);
			json_decref(root);
			return JIDO_EVALIDATION;
		}
	}
	v = json_object_get(root, "v");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) != JIDO_MSG_V) {
		json_decref(root);
		return msg_fail(why, whylen, "field 'v' must be the integer %d", JIDO_MSG_V);
	}
	v = json_object_get(root, "type");
	if (!json_is_string(v) || !msg_type_valid(json_string_value(v))) {
		json_decref(root);
		return msg_fail(why, whylen,
		    "field 'type' must be a string '<destination>.<verb>' of [a-z0-9_.]");
	}
	m->type = json_string_value(v);
	v = json_object_get(root, "id");
	if (!json_is_string(v) || !msg_id_valid(json_string_value(v))) {
		json_decref(root);
		return msg_fail(why, whylen,
		    "field 'id' must be a string of 1 to %d printable characters", JIDO_ID_MAX);
	}
	m->id = json_string_value(v);
	v = json_object_get(root, "corr");
	if (v != NULL) {
		if (!json_is_string(v) || !msg_id_valid(json_string_value(v))) {
			json_decref(root);
			return msg_fail(why, whylen, "field 'corr' must be a string id");
		}
		m->corr = json_string_value(v);
	}
	data = json_object_get(root, "data");
	if (data == NULL) {
		data = json_object();
		json_object_set_new(root, "data", data);
	} else if (!json_is_object(data)) {
		json_decref(root);
		return msg_fail(why, whylen, "field 'data' must be an object");
	}
	m->data = data;
	m->root = root;
	return 0;
}

void
jido_msg_free(struct jido_msg *m)
{
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
}

json_t *
jido_msg_new(const char *type, const char *id, const char *corr, json_t *data)
{
	char fresh[33];
	json_t *m;

	if (id == NULL) {
		jido_id_new(fresh, sizeof(fresh));
		id = fresh;
	}
	m = json_pack("{s:i,s:s,s:s}", "v", JIDO_MSG_V, "type", type, "id", id);
	if (m == NULL) {
		json_decref(data);
		return NULL;
	}
	if (corr != NULL)
		json_object_set_new(m, "corr", json_string(corr));
	json_object_set_new(m, "data", data != NULL ? data : json_object());
	return m;
}

json_t *
jido_reply_ok(const char *id, json_t *data)
{
	json_t *r = json_pack("{s:i,s:o,s:b}", "v", JIDO_MSG_V, "id",
	    id != NULL ? json_string(id) : json_null(), "ok", 1);

	if (r == NULL) {
		json_decref(data);
		return NULL;
	}
	json_object_set_new(r, "data", data != NULL ? data : json_object());
	return r;
}

json_t *
jido_reply_err(const char *id, int code, const char *message)
{
	return json_pack("{s:i,s:o,s:b,s:{s:s,s:s}}", "v", JIDO_MSG_V, "id",
	    id != NULL ? json_string(id) : json_null(), "ok", 0, "error", "code",
	    jido_err_name(code), "message", message != NULL ? message : jido_strerror(code));
}

int
jido_reply_parse(const void *buf, size_t len, struct jido_reply *r, char *why, size_t whylen)
{
	json_t *root, *v, *e;
	const char *k;

	memset(r, 0, sizeof(*r));
	if ((root = msg_load(buf, len, why, whylen)) == NULL)
		return JIDO_EVALIDATION;
	json_object_foreach(root, k, v) {
		if (strcmp(k, "v") != 0 && strcmp(k, "id") != 0 && strcmp(k, "ok") != 0 &&
		    strcmp(k, "data") != 0 && strcmp(k, "error") != 0) {
			msg_fail(why, whylen, "unknown reply field '%.64s'", k);
			json_decref(root);
			return JIDO_EVALIDATION;
		}
	}
	v = json_object_get(root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != JIDO_MSG_V)
		goto bad;
	v = json_object_get(root, "id");
	if (!json_is_string(v) && !json_is_null(v))
		goto bad;
	r->id = json_string_value(v);
	v = json_object_get(root, "ok");
	if (!json_is_boolean(v))
		goto bad;
	r->ok = json_is_true(v);
	if (r->ok) {
		r->data = json_object_get(root, "data");
		if (!json_is_object(r->data) || json_object_get(root, "error") != NULL)
			goto bad;
	} else {
		e = json_object_get(root, "error");
		if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message")))
			goto bad;
		r->err = jido_err_from_name(json_string_value(json_object_get(e, "code")));
		if (r->err == JIDO_OK)
			goto bad;
		r->message = json_string_value(json_object_get(e, "message"));
	}
	r->root = root;
	return 0;
bad:
	json_decref(root);
	memset(r, 0, sizeof(*r));
	return msg_fail(why, whylen, "malformed reply envelope");
}

void
jido_reply_free(struct jido_reply *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

char *
jido_json_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}
