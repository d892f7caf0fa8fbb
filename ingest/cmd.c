/*
 * cmd.c - jido-ingest's filters beyond serve/filter:
 *   verify --secret-file F   a raw delivery on stdin (optional request line, headers,
 *                            a blank line, the body bytes): "valid" exit 0, "invalid:
 *                            <why>" exit 1; usage 2; unreadable input or secret 111.
 *   normalize                stored deliveries as JSON lines on stdin (as `jido deliveries
 *                            show --json` prints them: id, event, payload as a string or
 *                            object, source optional); one {"type","data"} line each on
 *                            stdout; a bad line gets {"line":N,"error":{code,message}}
 *                            and the exit code is 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ingest.h"

/* Read all of f into a malloc'd buffer (NUL-ended); *len its size. NULL on failure. */
static char *
cmd_slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap + 1), *nb;

	while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= (64u << 20) || (nb = realloc(buf, 2 * cap + 1)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf == NULL || ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_verify(int argc, char **argv)
{
	struct ingest_secrets k;
	const char *file = NULL, *sig = NULL;
	char why[512], *raw, *p, *body;
	size_t len, blen;
	int rc, first = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--secret-file") == 0 && i + 1 < argc)
			file = argv[++i];
		else {
			fprintf(stderr, "jido-ingest: verify failed: usage: jido-ingest verify "
			    "--secret-file F < delivery\n");
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "jido-ingest: verify failed: --secret-file F is required\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 111;
	ingest_secrets_init(&k);
	if ((rc = ingest_secrets_load_file(&k, file, why, sizeof(why))) != 0) {
		fprintf(stderr, "jido-ingest: verify failed: %s\n", why);
		return 111;
	}
	if ((raw = cmd_slurp(stdin, &len)) == NULL) {
		ingest_secrets_clear(&k);
		fprintf(stderr, "jido-ingest: verify failed: cannot read stdin\n");
		return 111;
	}
	/* Header lines up to the first empty line; the body is every byte after it. */
	p = raw;
	body = NULL;
	while (p < raw + len) {
		char *eol = memchr(p, '\n', (size_t)(raw + len - p));
		char *next = eol != NULL ? eol + 1 : raw + len;
		size_t l = (size_t)((eol != NULL ? eol : raw + len) - p);
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == 0) {
			body = next;
			break;
		}
		p[l] = '\0';
		char *colon = strchr(p, ':');
		if (first && colon == NULL && strchr(p, ' ') != NULL) {
			/* a request line: POST /path HTTP/1.1 */
		} else if (colon != NULL) {
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (strcasecmp(p, "X-Hub-Signature-256") == 0)
				sig = v;
		}
		first = 0;
		p = next;
	}
	if (body == NULL) {
		printf("invalid: no blank line between the headers and the body\n");
		rc = JIDO_EVALIDATION;
	} else {
		blen = (size_t)(raw + len - body);
		rc = ingest_secrets_verify(&k, sig, body, blen);
		if (rc == 0)
			printf("valid\n");
		else if (sig == NULL)
			printf("invalid: no X-Hub-Signature-256 header\n");
		else if (rc == JIDO_EVALIDATION)
			printf("invalid: X-Hub-Signature-256 is not sha256=<64 hex digits>\n");
		else
			printf("invalid: signature does not match\n");
	}
	ingest_secrets_clear(&k);
	free(raw);
	if (fflush(stdout) != 0)
		return 111;
	return rc == 0 ? 0 : 1;
}

/* Normalize one line; on failure *err is a new {code,message} object. */
static json_t *
cmd_normalize_line(const char *line, size_t n, json_t **err)
{
	json_error_t jerr;
	json_t *row = json_loadb(line, n, 0, &jerr), *payload, *data = NULL, *out = NULL;
	const char *id, *event;
	char type[JIDO_TYPE_MAX + 1], why[512];
	int rc = JIDO_EVALIDATION;

	*err = NULL;
	if (!json_is_object(row)) {
		snprintf(why, sizeof(why), "%s", row == NULL ? jerr.text : "line is not an object");
		goto fail;
	}
	id = json_string_value(json_object_get(row, "id"));
	if (id == NULL)
		id = json_string_value(json_object_get(row, "delivery"));
	event = json_string_value(json_object_get(row, "event"));
	payload = json_object_get(row, "payload");
	if (id == NULL || event == NULL || payload == NULL) {
		snprintf(why, sizeof(why), "needs id (or delivery), event and payload");
		goto fail;
	}
	if (json_is_string(payload)) {
		/* stored form: the payload text; rows from the sync carry event data */
		json_t *row2 = json_pack("{s:s,s:s,s:s,s:O}", "id", id, "event", event, "source",
		    json_is_string(json_object_get(row, "source")) ?
		    json_string_value(json_object_get(row, "source")) : "webhook", "payload", payload);
		rc = ingest_row_event(row2, &data, type, sizeof(type), why, sizeof(why));
		json_decref(row2);
	} else
		rc = ingest_norm(event, id, payload, &data, type, sizeof(type), why, sizeof(why));
	if (rc != 0)
		goto fail;
	out = json_pack("{s:s,s:o}", "type", type, "data", data);
	json_decref(row);
	return out;
fail:
	json_decref(row);
	*err = json_pack("{s:s,s:s}", "code", jido_err_name(rc), "message", why);
	return NULL;
}

static int
cmd_normalize(int argc, char **argv)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int failed = 0;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "jido-ingest: normalize failed: usage: jido-ingest normalize "
		    "< deliveries.jsonl\n");
		return 2;
	}
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		json_t *out, *err;
		char *text;
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((out = cmd_normalize_line(line, (size_t)n, &err)) == NULL) {
			failed = 1;
			out = json_pack("{s:I,s:o}", "line", (json_int_t)lineno, "error", err);
		}
		text = jido_json_dump(out);
		json_decref(out);
		if (text == NULL || printf("%s\n", text) < 0) {
			free(text);
			free(line);
			return 111;
		}
		free(text);
	}
	free(line);
	if (fflush(stdout) != 0)
		return 111;
	return failed ? 1 : 0;
}

int
ingest_command(int argc, char **argv)
{
	if (strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(argv[0], "normalize") == 0)
		return cmd_normalize(argc, argv);
	return -1;
}
