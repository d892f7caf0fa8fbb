/* artifact_test.c - the artifact store: one blob per content (dedup across runs),
 * versions per lineage and name, redaction before hashing, streaming from a file with a
 * secret split across chunk boundaries, retention (expired logs pruned, protected runs
 * kept, gone runs pruned, unreferenced blobs removed), bad names refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jido.h"
#include "artifact.h"

static char root[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/jido-art-%d", (int)getpid());
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static int
count_blobs(void)
{
	char cmd[160];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "find %s/blobs -type f | grep -cE '/[0-9a-f]{64}$'",
	    root);
	if ((f = popen(cmd, "r")) != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

static json_t *
put(struct jido_art *a, const char *run, const char *lineage, const char *name,
    const char *kind, const char *text, int64_t now)
{
	struct jido_art_meta m = { run, lineage, 1, 1, "build", 1, name, kind, NULL };
	json_t *row = NULL;
	char why[256];

	assert_int_equal(jido_art_put(a, &m, text, strlen(text), -1, NULL, now, &row, why,
	    sizeof(why)), 0);
	assert_non_null(row);
	return row;
}

static void
test_dedup_versions(void **state)
{
	struct jido_art *a;
	char why[256];
	json_t *r1, *r2, *r3, *j;

	(void)state;
	assert_int_equal(jido_art_open(root, &a, why, sizeof(why)), 0);
	r1 = put(a, "r_a", "r_a", "build.log", "log", "same output\n", 1000);
	r2 = put(a, "r_b", "r_b", "build.log", "log", "same output\n", 1000);
	assert_string_equal(json_string_value(json_object_get(r1, "hash")),
	    json_string_value(json_object_get(r2, "hash")));
	assert_int_equal(count_blobs(), 1);
	assert_int_equal(json_integer_value(json_object_get(r1, "version")), 1);
	assert_int_equal(json_integer_value(json_object_get(r2, "version")), 1);
	/* a retry (same lineage) makes v2 */
	r3 = put(a, "r_c", "r_a", "build.log", "log", "other output\n", 2000);
	assert_int_equal(json_integer_value(json_object_get(r3, "version")), 2);
	assert_int_equal(count_blobs(), 2);
	assert_int_equal(jido_art_get(a, "r_a", "build.log", 1, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "hash")),
	    json_string_value(json_object_get(r1, "hash")));
	assert_string_equal(json_string_value(json_object_get(j, "run_id")), "r_a");
	json_decref(j);
	assert_int_equal(jido_art_get(a, "r_a", "build.log", 0, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
	json_decref(j);
	assert_int_equal(jido_art_get(a, "r_a", "build.log", 3, &j), JIDO_ENOTFOUND);
	assert_int_equal(jido_art_history(a, "r_a", "build.log", &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "versions")), 2);
	json_decref(j);
	assert_int_equal(jido_art_list(a, "r_a", &j), 0);
	json_t *arts = json_object_get(j, "artifacts");
	assert_int_equal(json_array_size(arts), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arts, 0),
	    "versions")), 2);
	json_decref(j);
	assert_int_equal(jido_art_usage(a, &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "rows")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "blobs")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")),
	    strlen("same output\n") + strlen("other output\n"));
	json_decref(j);
	/* the blob holds exactly the bytes, at the documented path */
	char path[256], buf[64];
	assert_int_equal(jido_art_blob_path(root, json_string_value(json_object_get(r3, "hash")),
	    path, sizeof(path)), 0);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, strlen("other output\n"));
	assert_memory_equal(buf, "other output\n", n);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	jido_art_close(a);
}

static void
test_redaction_and_refusals(void **state)
{
	struct jido_art *a;
	char why[256];
	const char *secret = "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	const char *known[] = { "hunter2-known-value", NULL };
	char text[256];
	json_t *row;

	(void)state;
	assert_int_equal(jido_art_open(root, &a, why, sizeof(why)), 0);
	snprintf(text, sizeof(text), "token %s and hunter2-known-value\n", secret);
	struct jido_art_meta m = { "r_x", "r_x", 1, 2, "agent", 1, "agent.log", "log", NULL };
	assert_int_equal(jido_art_put(a, &m, text, strlen(text), -1, known, 5, &row, why,
	    sizeof(why)), 0);
	assert_string_equal(json_string_value(json_object_get(row, "redaction")), "redacted");
	char path[256], buf[256];
	jido_art_blob_path(root, json_string_value(json_object_get(row, "hash")), path,
	    sizeof(path));
	FILE *f = fopen(path, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_null(strstr(buf, "ghp_"));
	assert_null(strstr(buf, "hunter2"));
	assert_non_null(strstr(buf, "[REDACTED]"));
	json_decref(row);

	struct jido_art_meta bad = m;
	bad.name = "../etc/passwd";
	assert_int_equal(jido_art_put(a, &bad, "x", 1, -1, NULL, 5, NULL, why, sizeof(why)),
	    JIDO_EVALIDATION);
	bad.name = "ok.txt";
	bad.kind = "movie";
	assert_int_equal(jido_art_put(a, &bad, "x", 1, -1, NULL, 5, NULL, why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_false(jido_art_name_ok(".hidden"));
	assert_false(jido_art_name_ok("a/b"));
	assert_true(jido_art_name_ok("plan.md"));
	jido_art_close(a);
}

/* A 3 MiB file with a token right at the 1 MiB line cut and a PEM block spanning it. */
static void
test_stream_file(void **state)
{
	struct jido_art *a;
	char why[256], fpath[128];
	json_t *row;

	(void)state;
	assert_int_equal(jido_art_open(root, &a, why, sizeof(why)), 0);
	snprintf(fpath, sizeof(fpath), "%s/incoming/big", root);
	FILE *f = fopen(fpath, "w");
	assert_non_null(f);
	size_t written = 0;
	while (written < (1u << 20) - 30) {
		fputs("0123456789abcdef0123456789abcdef0123456789abcdef012345678\n", f);
		written += 58;
	}
	fputs("-----BEGIN RSA PRIVATE KEY-----\n", f);
	for (int i = 0; i < 40000; i++)
		fputs("MIIEowIBAAKCAQEAsecretsecretsecretsecretsecretsecretsecretsecret\n", f);
	fputs("-----END RSA PRIVATE KEY-----\n", f);
	fputs("the token sk-ant-api03-abcdefghijklmnopqrstuvwxyz ends here\n", f);
	for (int i = 0; i < 20000; i++)
		fputs("tail line\n", f);
	fclose(f);
	int fd = open(fpath, O_RDONLY);
	struct jido_art_meta m = { "r_f", "r_f", 1, 0, NULL, 0, "notes.txt", "other",
		"text/plain" };
	assert_int_equal(jido_art_put(a, &m, NULL, 0, fd, NULL, 5, &row, why, sizeof(why)), 0);
	close(fd);
	char path[256];
	jido_art_blob_path(root, json_string_value(json_object_get(row, "hash")), path,
	    sizeof(path));
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "! grep -q -e secretsecret -e sk-ant- %s && grep -q 'tail line' %s",
	    path, path);
	assert_int_equal(system(cmd), 0);
	assert_string_equal(json_string_value(json_object_get(row, "media_type")), "text/plain");
	json_decref(row);
	jido_art_close(a);
}

static int
keep_cb(const char *run, void *arg)
{
	(void)arg;
	if (strcmp(run, "r_open") == 0)
		return 1;
	if (strcmp(run, "r_gone") == 0)
		return 2;
	return 0;
}

static void
test_retention(void **state)
{
	struct jido_art *a;
	char why[256];
	json_t *j;
	int rows, blobs;
	int64_t day = JIDO_ART_DAY_MS;

	(void)state;
	assert_int_equal(jido_art_open(root, &a, why, sizeof(why)), 0);
	json_decref(put(a, "r_done", "r_done", "build.log", "log", "old log\n", 0));
	json_decref(put(a, "r_done", "r_done", "change.diff", "diff", "diff text\n", 0));
	json_decref(put(a, "r_open", "r_open", "build.log", "log", "open log\n", 0));
	json_decref(put(a, "r_gone", "r_gone", "change.diff", "diff", "gone diff\n", 0));
	/* day 29: nothing expired; the gone run is pruned anyway */
	assert_int_equal(jido_art_sweep(a, 29 * day, keep_cb, NULL, &rows, &blobs), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(blobs, 1);
	/* day 31: the finished run's log goes, its diff stays; the open run keeps its log */
	assert_int_equal(jido_art_sweep(a, 31 * day, keep_cb, NULL, &rows, &blobs), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(blobs, 1);
	assert_int_equal(jido_art_get(a, "r_done", "build.log", 0, &j), JIDO_ENOTFOUND);
	assert_int_equal(jido_art_get(a, "r_done", "change.diff", 0, &j), 0);
	json_decref(j);
	assert_int_equal(jido_art_get(a, "r_open", "build.log", 0, &j), 0);
	json_decref(j);
	assert_int_equal(count_blobs(), 2);
	/* a blob shared by a pruned and a kept row stays */
	json_decref(put(a, "r_done", "r_done", "again.log", "log", "open log\n", 31 * day));
	assert_int_equal(jido_art_sweep(a, 62 * day, keep_cb, NULL, &rows, &blobs), 0);
	assert_int_equal(rows, 1);
	assert_int_equal(blobs, 0);
	assert_int_equal(count_blobs(), 2);
	jido_art_close(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dedup_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redaction_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
