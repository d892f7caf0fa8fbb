/*
 * ship_test.c - unit tests of the ship flow's front half (ship.c), which needs no network:
 * bad requests get a typed error naming the field, the kill switch and the workflow list
 * stop a ship before anything is read, an unsafe token file is refused, and a diff that
 * fails a static check is refused with the report before any clone exists. The planner's
 * job form is mapped onto the same checks. (The networked half is tests/e2e/gitops.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "gitops.h"

static char dir[256];
static struct jido_conf *conf;
static struct gitops_ctx ctx;

static const char diff_ok[] = "diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n"
    "@@ -1 +1 @@\n-int a;\n+int a = 1;\n";
static const char diff_wf[] = "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n"
    "new file mode 100644\n--- /dev/null\n+++ b/.github/workflows/ci.yml\n@@ -0,0 +1 @@\n"
    "+on: push\n";
#define TOKEN "ghp_unitTESTtoken0123456789abcdefghijklmn"

static int
setup(void **state)
{
	char why[256], path[300];
	FILE *f;

	(void)state;
	if (sodium_init() < 0) /* as jido_main does: the token lives in sodium memory */
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/gitops-ship-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/token", dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", TOKEN);
	fclose(f);
	chmod(path, 0600);
	if (jido_conf_load("/dev/null", &conf, why, sizeof(why)) != 0 ||
	    jido_conf_set(conf, "home", dir, why, sizeof(why)) != 0 ||
	    jido_conf_set(conf, "github.token_file", path, why, sizeof(why)) != 0 ||
	    jido_conf_set(conf, "github.api_url", "http://127.0.0.1:9", why, sizeof(why)) != 0 ||
	    jido_conf_set(conf, "github.git_url", "http://127.0.0.1:9", why, sizeof(why)) != 0)
		return -1;
	ctx.conf = conf;
	ctx.home = dir;
	snprintf(ctx.work, sizeof(ctx.work), "%s/gitops", dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[400];

	(void)state;
	jido_conf_free(conf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A valid request to start from (new reference). */
static json_t *
req_ok(const char *diff)
{
	return json_pack("{s:s,s:s,s:{s:s,s:s},s:i,s:s,s:s}", "run_id", "run-unit-0001",
	    "workflow", "fix_issue", "project", "repo", "octo/hello", "clone_url",
	    "http://127.0.0.1:9/octo/hello.git", "issue", 3, "diff", diff, "summary", "a fix");
}

/* Nothing on disk: no clone was made. */
static int
no_clone(void)
{
	char p[400];
	struct stat st;

	snprintf(p, sizeof(p), "%s/clones", ctx.work);
	return stat(p, &st) != 0;
}

static int
ship(json_t *data, json_t **out, char *why, size_t whylen)
{
	int rc = gitops_ship(&ctx, data, NULL, out, why, whylen);

	json_decref(data);
	return rc;
}

static void
test_bad_requests(void **state)
{
	static const struct { const char *set; const char *field; } bad[] = {
		{ "{\"run_id\":null}", "data.run_id" },
		{ "{\"run_id\":\"\"}", "must not be empty" },
		{ "{\"colour\":\"red\"}", "data.colour" },
		{ "{\"issue\":-1}", "data.issue" },
		{ "{\"issue\":\"7\"}", "data.issue" },
		{ "{\"type\":\"Fix it\"}", "data.type" },
		{ "{\"dry_run\":\"yes\"}", "data.dry_run" },
		{ "{\"body\":[1]}", "data.body" },
		{ "{\"diff\":7}", "data.diff" },
		{ "{\"project\":{\"repo\":\"octo\",\"clone_url\":\"file:///x\"}}", "project.repo" },
		{ "{\"project\":{\"repo\":\"o/r\",\"clone_url\":\"https://u:p@x/o/r.git\"}}",
		  "credentials" },
		{ "{\"project\":{\"repo\":\"o/r\",\"clone_url\":\"https://evil.example/o/r.git\"}}",
		  "under github.git_url" },
		{ "{\"project\":{\"repo\":\"o/r\",\"clone_url\":\"http://127.0.0.1:99/o/r.git\"}}",
		  "under github.git_url" },
	};
	char why[512];
	json_t *out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *d = req_ok(diff_ok), *patch = json_loads(bad[i].set, 0, NULL);
		const char *k;
		json_t *v;
		assert_non_null(patch);
		json_object_foreach(patch, k, v) {
			if (json_is_null(v))
				json_object_del(d, k);
			else
				json_object_set(d, k, v);
		}
		json_decref(patch);
		out = NULL;
		assert_int_equal(ship(d, &out, why, sizeof(why)), JIDO_EVALIDATION);
		assert_non_null(strstr(why, bad[i].field));
		assert_null(out);
	}
	assert_true(no_clone());
}

static void
test_shipping_allowed(void **state)
{
	char why[512], path[400];
	json_t *out = NULL, *d;
	FILE *f;

	(void)state;
	d = req_ok(diff_ok);
	json_object_set_new(d, "workflow", json_string("issue_triage"));
	assert_int_equal(ship(d, &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "policy_violation: shipping_allowed: workflow 'issue_triage'"));
	assert_true(json_is_array(json_object_get(out, "checks")));
	json_decref(out);
	/* the kill switch file */
	snprintf(path, sizeof(path), "%s/gitops.stop", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	out = NULL;
	assert_int_equal(ship(req_ok(diff_ok), &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "kill switch"));
	json_decref(out);
	unlink(path);
	assert_true(no_clone());
}

static void
test_static_violation_before_clone(void **state)
{
	char why[512], diff[512];
	json_t *out = NULL;

	(void)state;
	assert_int_equal(ship(req_ok(diff_wf), &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "policy_violation: forbidden_paths: .github/workflows/ci.yml"));
	json_t *f = gitops_report_first_failure(json_object_get(out, "checks"));
	assert_string_equal(json_string_value(json_object_get(f, "check")), "forbidden_paths");
	json_decref(out);
	/* the token's own value in an added line; the evidence does not repeat it */
	snprintf(diff, sizeof(diff), "--- a/x\n+++ b/x\n@@ -0,0 +1 @@\n+t=x%s\n", TOKEN);
	out = NULL;
	assert_int_equal(ship(req_ok(diff), &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "secret_scan"));
	assert_null(strstr(why, TOKEN));
	char *dump = jido_json_dump(out);
	assert_null(strstr(dump, TOKEN));
	free(dump);
	json_decref(out);
	/* a secret in what gitops would post itself: the summary or a fact */
	json_t *d0 = req_ok(diff_ok);
	json_object_set_new(d0, "summary", json_string("use key AKIAIOSFODNN7EXAMPLE"));
	out = NULL;
	assert_int_equal(ship(d0, &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "secret_scan: the run's summary: AWS access key id"));
	json_decref(out);
	d0 = req_ok(diff_ok);
	json_object_set_new(d0, "body", json_pack("{s:s}", "tests", "ok " TOKEN));
	out = NULL;
	assert_int_equal(ship(d0, &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "secret_scan: the run's tests"));
	json_decref(out);
	/* a protected target */
	json_t *d = req_ok(diff_ok);
	json_object_set_new(json_object_get(d, "project"), "protected_branches",
	    json_pack("[s]", "jidocode/**"));
	out = NULL;
	assert_int_equal(ship(d, &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "target_branch"));
	json_decref(out);
	assert_true(no_clone());
}

static void
test_token_file_refused(void **state)
{
	char why[512], path[400];
	json_t *out = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/token", dir);
	chmod(path, 0644);
	assert_int_equal(ship(req_ok(diff_ok), &out, why, sizeof(why)), JIDO_ESECRET);
	assert_non_null(strstr(why, "0600"));
	assert_null(strstr(why, TOKEN));
	chmod(path, 0600);
	assert_true(no_clone());
}

static void
test_planner_job(void **state)
{
	char why[512];
	json_t *out = NULL, *job;

	(void)state;
	job = json_pack("{s:s,s:s,s:i,s:i,s:s,s:{s:i,s:s,s:{s:s,s:s,s:[s]}},s:i,s:b,"
	    "s:{s:{s:s},s:{s:s,s:s}},s:s}", "job_id", "r:6:0", "run_id", "run-job-0001", "seq",
	    6, "attempt", 0, "workflow", "fix_issue", "project", "id", 1, "full_name",
	    "octo/hello", "settings", "default_branch", "main", "setup_command", "make",
	    "forbidden_paths", "*.c", "issue", 4, "dry_run", 0, "inputs", "fetch", "title",
	    "A title", "code", "diff", diff_ok, "summary", "the fix", "reply_to",
	    "planner.steps.result");
	/* settings the planner has but gitops does not read are ignored; the project's
	 * forbidden_paths are applied to the diff found in the inputs */
	assert_int_equal(ship(job, &out, why, sizeof(why)), JIDO_EPOLICY);
	assert_non_null(strstr(why, "forbidden_paths: a.c"));
	json_decref(out);
	assert_true(no_clone());
}

static void
test_comment_validation(void **state)
{
	char why[512];
	json_t *out = NULL, *d;

	(void)state;
	d = json_pack("{s:s,s:i,s:s}", "repo", "octo/hello", "issue", 0, "body", "hi");
	assert_int_equal(gitops_comment(&ctx, d, NULL, &out, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "data.issue"));
	json_decref(d);
	d = json_pack("{s:s,s:i,s:s}", "repo", "octo/hello", "issue", 2, "body", "");
	assert_int_equal(gitops_comment(&ctx, d, NULL, &out, why, sizeof(why)), JIDO_EVALIDATION);
	json_decref(d);
	d = json_pack("{s:s,s:i,s:s,s:s}", "repo", "octo/hello", "issue", 2, "body", "x",
	    "extra", "y");
	assert_int_equal(gitops_comment(&ctx, d, NULL, &out, why, sizeof(why)), JIDO_EVALIDATION);
	assert_non_null(strstr(why, "data.extra"));
	json_decref(d);
	d = json_pack("{s:s,s:i,s:s}", "repo", "octo/hello", "issue", 2, "body",
	    "see ghp_abcdefghijklmnopqrstuvwxyz0123456789AB");
	assert_int_equal(gitops_comment(&ctx, d, NULL, &out, why, sizeof(why)), JIDO_EPOLICY);
	json_decref(d);
	assert_null(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_shipping_allowed),
		cmocka_unit_test(test_static_violation_before_clone),
		cmocka_unit_test(test_token_file_refused),
		cmocka_unit_test(test_planner_job),
		cmocka_unit_test(test_comment_validation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
