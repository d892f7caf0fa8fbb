/*
 * log.c - JSON-lines logging to stderr: one object per event with time, process, pid,
 * level and a stable message id, then the event's own fields. One write(2) per line so
 * lines from concurrent threads and processes never interleave.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jido.h"

static const char *log_proc = "jido";
static atomic_int log_level = JIDO_LOG_INFO;
static const char *const log_names[] = { "debug", "info", "warn", "error" };

void
jido_log_init(const char *proc)
{
	log_proc = proc;
}

void
jido_log_set_level(int level)
{
	if (level >= JIDO_LOG_DEBUG && level <= JIDO_LOG_ERROR)
		atomic_store(&log_level, level);
}

int
jido_log_get_level(void)
{
	return atomic_load(&log_level);
}

int
jido_log_level_parse(const char *name)
{
	for (int i = 0; name != NULL && i <= JIDO_LOG_ERROR; i++)
		if (strcmp(name, log_names[i]) == 0)
			return i;
	return -1;
}

const char *
jido_log_level_name(int level)
{
	if (level < JIDO_LOG_DEBUG || level > JIDO_LOG_ERROR)
		return "info";
	return log_names[level];
}

/* Write all of buf to fd 2, retrying on short writes; errors are dropped (nowhere left
 * to report them). */
static void
log_write(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(2, buf, len);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void
jido_log(int level, const char *msgid, const char *fmt, ...)
{
	char ts[40];
	json_t *line, *fields = NULL;
	json_error_t jerr;
	char *text;
	va_list ap;

	if (level < atomic_load(&log_level))
		return;
	jido_time_rfc3339(ts, sizeof(ts));
	line = json_pack("{s:s,s:s,s:I,s:s,s:s}", "ts", ts, "proc", log_proc, "pid",
	    (json_int_t)getpid(), "level", jido_log_level_name(level), "msg", msgid);
	if (line == NULL)
		return;
	if (fmt != NULL) {
		va_start(ap, fmt);
		fields = json_vpack_ex(&jerr, 0, fmt, ap);
		va_end(ap);
		if (fields == NULL)
			json_object_set_new(line, "log_error", json_string(jerr.text));
		else if (json_is_object(fields)) {
			const char *k;
			json_t *v;
			json_object_foreach(fields, k, v) {
				if (json_object_get(line, k) == NULL)
					json_object_set(line, k, v);
			}
		}
		json_decref(fields);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(line);
	if (text == NULL)
		return;
	size_t n = strlen(text);
	text[n] = '\0';
	char *out = realloc(text, n + 2);
	if (out == NULL) {
		free(text);
		return;
	}
	out[n] = '\n';
	log_write(out, n + 1);
	free(out);
}
