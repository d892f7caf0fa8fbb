/*
 * logs.c - executor.logs: a run's log lines as the executor kept them, from the
 * transcripts it writes while steps run (workdir/transcripts/<run>/<job>.jsonl, one
 * redacted {run_id, step, stream, seq, line} per line). Files in the order they were last
 * written (the order the steps ran), lines in file order; the last `limit` lines.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jido.h"
#include "executor.h"

struct logs_file {
	char name[80];
	struct timespec mtime;
};

static int
logs_cmp(const void *a, const void *b)
{
	const struct logs_file *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Is id a run id (what the planner makes: [A-Za-z0-9_-], 1-64)? */
static int
logs_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z') ||
		    (*id >= '0' && *id <= '9') || *id == '_' || *id == '-'))
			return 0;
	return 1;
}

int
exec_logs(const char *workdir, const json_t *data, json_t **out, char *why, size_t whylen)
{
	const char *run = json_string_value(json_object_get(data, "run_id"));
	json_t *lim = json_object_get(data, "limit"), *lines;
	struct logs_file *files = NULL;
	size_t nfiles = 0, cap = 0, total = 0, limit = 1000;
	char dir[1024], path[1200], buf[70000];
	struct dirent *de;
	DIR *d;

	if (run == NULL || !logs_id_ok(run)) {
		snprintf(why, whylen, "data.run_id: must be a run id");
		return JIDO_EVALIDATION;
	}
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > 10000) {
			snprintf(why, whylen, "data.limit: must be an integer from 1 to 10000");
			return JIDO_EVALIDATION;
		}
		limit = (size_t)json_integer_value(lim);
	}
	lines = json_array();
	snprintf(dir, sizeof(dir), "%s/transcripts/%s", workdir, run);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			size_t n = strlen(de->d_name);
			if (n < 7 || n >= sizeof(files[0].name) || strcmp(de->d_name + n - 6, ".jsonl"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			if (nfiles == cap) {
				struct logs_file *nf = realloc(files, (cap = cap ? cap * 2 : 16) *
				    sizeof(*files));
				if (nf == NULL)
					break;
				files = nf;
			}
			snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", de->d_name);
			files[nfiles++].mtime = st.st_mtim;
		}
		closedir(d);
	}
	if (nfiles > 0)
		qsort(files, nfiles, sizeof(*files), logs_cmp);
	for (size_t i = 0; i < nfiles; i++) {
		FILE *f;
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if ((f = fopen(path, "re")) == NULL)
			continue;
		while (fgets(buf, sizeof(buf), f) != NULL) {
			json_t *l = json_loads(buf, 0, NULL);
			if (!json_is_object(l)) {
				json_decref(l); /* a torn last line while the step writes */
				continue;
			}
			json_array_append_new(lines, l);
			total++;
			if (json_array_size(lines) > limit)
				json_array_remove(lines, 0);
		}
		fclose(f);
	}
	free(files);
	*out = json_pack("{s:s,s:o,s:I,s:b}", "run_id", run, "lines", lines, "total",
	    (json_int_t)total, "truncated", total > limit);
	return *out != NULL ? 0 : JIDO_EINTERNAL;
}
