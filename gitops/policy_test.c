/*
 * policy_test.c - unit tests of gitops's pure policy (policy.c): project settings, the
 * diff parser, globs, and each static check tripped by a diff made to trip it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gitops.h"

static const char diff_ok[] =
    "diff --git a/src/a.c b/src/a.c\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/a.c\n"
    "+++ b/src/a.c\n"
    "@@ -1,3 +1,4 @@\n"
    " int a;\n"
    "-int b;\n"
    "+int b = 2;\n"
    "+int c = 3;\n"
    " int d;\n"
    "diff --git a/docs/new file.md b/docs/new file.md\n"
    "new file mode 100644\n"
    "--- /dev/null\n"
    "+++ b/docs/new file.md\n"
    "@@ -0,0 +1,2 @@\n"
    "+# title\n"
    "++++ not a header inside a hunk\n";

static void
project_default(struct gitops_project *p)
{
	char why[256];
	json_t *j = json_pack("{s:s,s:s}", "repo", "octo/hello", "clone_url",
	    "http://127.0.0.1:1/octo/hello.git");
	struct gitops_defaults d = { 5000, "fix_issue" };

	assert_int_equal(gitops_project_from_json(j, &d, 1, 1, p, why, sizeof(why)), 0);
	json_decref(j);
}

/* Run the static checks on text and return the result of one check ("pass"/"fail"),
 * copying its evidence. */
static const char *
check_one(const char *text, struct gitops_project *p, const char *const *known,
    const char *name, char *ev, size_t evlen)
{
	struct gitops_diff d;
	char why[256];
	json_t *r = gitops_report_new(), *e;
	size_t i;
	static char res[16];

	assert_int_equal(gitops_diff_parse(text, strlen(text), &d, why, sizeof(why)), 0);
	gitops_check_static(&d, p, known, r);
	res[0] = '\0';
	json_array_foreach(r, i, e)
		if (strcmp(json_string_value(json_object_get(e, "check")), name) == 0) {
			snprintf(res, sizeof(res), "%s", json_string_value(json_object_get(e, "result")));
			snprintf(ev, evlen, "%s", json_string_value(json_object_get(e, "evidence")));
		}
	json_decref(r);
	gitops_diff_free(&d);
	return res;
}

static void
test_diff_parse(void **state)
{
	struct gitops_diff d;
	char why[256];

	(void)state;
	assert_int_equal(gitops_diff_parse(diff_ok, strlen(diff_ok), &d, why, sizeof(why)), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.files[0].path, "src/a.c");
	assert_string_equal(d.files[1].path, "docs/new file.md");
	assert_int_equal(d.files[0].added, 2);
	assert_int_equal(d.files[0].removed, 1);
	assert_int_equal(d.files[1].added, 2);
	assert_int_equal(d.added, 4);
	assert_int_equal(d.removed, 1);
	assert_int_equal(d.nadds, 4);
	assert_int_equal(d.adds[0].lineno, 2);
	assert_int_equal(d.adds[3].file, 1);
	assert_int_equal(d.adds[3].lineno, 2);
	gitops_diff_free(&d);
	/* a rename and a quoted path */
	const char *ren = "diff --git a/old.c b/new.c\nsimilarity index 100%\n"
	    "rename from old.c\nrename to new.c\n"
	    "diff --git \"a/t\\303\\251st\" \"b/t\\303\\251st\"\n--- \"a/t\\303\\251st\"\n"
	    "+++ \"b/t\\303\\251st\"\n@@ -1 +1 @@\n-x\n+y\n";
	assert_int_equal(gitops_diff_parse(ren, strlen(ren), &d, why, sizeof(why)), 0);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.files[0].old_path, "old.c");
	assert_string_equal(d.files[0].path, "new.c");
	assert_string_equal(d.files[1].path, "t\xc3\xa9st");
	gitops_diff_free(&d);
	/* bad hunk header and NUL bytes are refused */
	const char *bad = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 x @@\n";
	assert_int_equal(gitops_diff_parse(bad, strlen(bad), &d, why, sizeof(why)),
	    JIDO_EVALIDATION);
	assert_int_equal(gitops_diff_parse("a\0b", 3, &d, why, sizeof(why)), JIDO_EVALIDATION);
}

static void
test_project(void **state)
{
	struct gitops_project p;
	struct gitops_defaults d = { 1234, "fix_issue,fix_failing_tests" };
	char why[256];
	json_t *j;

	(void)state;
	j = json_pack("{s:s,s:s,s:s,s:{s:i,s:b,s:[s]},s:{s:b,s:[s],s:[s]}}", "repo", "o/r",
	    "clone_url", "https://github.com/o/r.git", "default_branch", "trunk", "limits",
	    "max_diff_lines", 10, "allow_binary", 1, "forbidden_paths", "secret/**", "pr",
	    "draft", 1, "labels", "jidocode", "reviewers", "alice");
	assert_int_equal(gitops_project_from_json(j, &d, 1, 1, &p, why, sizeof(why)), 0);
	assert_string_equal(p.base, "trunk");
	assert_int_equal(p.max_diff_lines, 10);
	assert_true(p.allow_binary);
	assert_true(p.pr_draft);
	assert_int_equal(json_array_size(p.ship_workflows), 2);
	gitops_project_free(&p);
	json_decref(j);
	/* defaults */
	j = json_pack("{s:s,s:s}", "repo", "o/r", "clone_url", "file:///x");
	assert_int_equal(gitops_project_from_json(j, &d, 1, 1, &p, why, sizeof(why)), 0);
	assert_int_equal(p.max_diff_lines, 1234);
	assert_string_equal(p.branch_prefix, "jidocode/");
	gitops_project_free(&p);
	json_decref(j);
	/* refusals name the field */
	const char *bad[][2] = {
		{ "{\"repo\":\"o/r\",\"clone_url\":\"https://x:y@github.com/o/r.git\"}", "credentials" },
		{ "{\"repo\":\"o\",\"clone_url\":\"https://github.com/o/r.git\"}", "project.repo" },
		{ "{\"repo\":\"o/r\",\"clone_url\":\"ssh://github.com/o/r.git\"}", "project.clone_url" },
		{ "{\"repo\":\"o/r\",\"clone_url\":\"file:///x\",\"colour\":1}", "project.colour" },
		{ "{\"repo\":\"o/r\",\"clone_url\":\"file:///x\",\"limits\":{\"max_diff_lines\":-1}}",
		  "max_diff_lines" },
		{ "{\"repo\":\"o/r\",\"clone_url\":\"file:///x\",\"pr\":{\"labels\":[1]}}", "labels" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i][0], 0, NULL);
		assert_non_null(j);
		assert_int_equal(gitops_project_from_json(j, &d, 1, 1, &p, why, sizeof(why)),
		    JIDO_EVALIDATION);
		assert_non_null(strstr(why, bad[i][1]));
		json_decref(j);
	}
	/* not strict: the planner's settings carry more than gitops reads */
	j = json_loads("{\"repo\":\"o/r\",\"clone_url\":\"file:///x\",\"setup_command\":\"\"}", 0,
	    NULL);
	assert_int_equal(gitops_project_from_json(j, &d, 1, 0, &p, why, sizeof(why)), 0);
	gitops_project_free(&p);
	json_decref(j);
}

static void
test_glob(void **state)
{
	(void)state;
	assert_true(gitops_glob_match(".github/workflows/**", ".github/workflows/ci.yml"));
	assert_true(gitops_glob_match(".github/workflows/**", ".github/workflows/a/b.yml"));
	assert_false(gitops_glob_match(".github/workflows/**", ".github/dependabot.yml"));
	assert_true(gitops_glob_match("**/*.pem", "a/b/c.pem"));
	assert_true(gitops_glob_match("**/*.pem", "c.pem"));
	assert_false(gitops_glob_match("*.pem", "a/c.pem"));
	assert_true(gitops_glob_match("src/?.c", "src/a.c"));
	assert_false(gitops_glob_match("src/?.c", "src/ab.c"));
	assert_true(gitops_glob_match("Jenkinsfile", "Jenkinsfile"));
}

static void
test_clean_diff_passes(void **state)
{
	struct gitops_project p;
	struct gitops_diff d;
	char why[256];
	json_t *r = gitops_report_new();

	(void)state;
	project_default(&p);
	assert_int_equal(gitops_diff_parse(diff_ok, strlen(diff_ok), &d, why, sizeof(why)), 0);
	gitops_check_static(&d, &p, NULL, r);
	assert_int_equal(json_array_size(r), 5);
	assert_null(gitops_report_first_failure(r));
	json_decref(r);
	gitops_diff_free(&d);
	gitops_project_free(&p);
}

static void
test_non_empty(void **state)
{
	struct gitops_project p;
	char ev[512];

	(void)state;
	project_default(&p);
	assert_string_equal(check_one("", &p, NULL, "non_empty", ev, sizeof(ev)), "fail");
	assert_string_equal(check_one("just some words\n", &p, NULL, "non_empty", ev, sizeof(ev)),
	    "fail");
	assert_string_equal(check_one(diff_ok, &p, NULL, "non_empty", ev, sizeof(ev)), "pass");
	gitops_project_free(&p);
}

static void
test_diff_size(void **state)
{
	struct gitops_project p;
	char ev[512];

	(void)state;
	project_default(&p);
	p.max_diff_lines = 4;
	assert_string_equal(check_one(diff_ok, &p, NULL, "diff_size", ev, sizeof(ev)), "fail");
	assert_non_null(strstr(ev, "5 changed lines, limit 4"));
	p.max_diff_lines = 5;
	assert_string_equal(check_one(diff_ok, &p, NULL, "diff_size", ev, sizeof(ev)), "pass");
	gitops_project_free(&p);
}

static void
test_binary(void **state)
{
	struct gitops_project p;
	char ev[512];
	const char *bin = "diff --git a/logo.png b/logo.png\nnew file mode 100644\n"
	    "index 0000000..1234567\nGIT binary patch\nliteral 4\nLcmZ?wbhEe|00000\n\n"
	    "literal 0\nHcmV?d00001\n\n";

	(void)state;
	project_default(&p);
	assert_string_equal(check_one(bin, &p, NULL, "binary_files", ev, sizeof(ev)), "fail");
	assert_non_null(strstr(ev, "logo.png"));
	p.allow_binary = 1;
	assert_string_equal(check_one(bin, &p, NULL, "binary_files", ev, sizeof(ev)), "pass");
	gitops_project_free(&p);
}

static void
test_forbidden_paths(void **state)
{
	struct gitops_project p;
	char ev[512];
	const char *wf = "diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\n"
	    "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-a\n+b\n";
	const char *gl = "diff --git a/.gitlab-ci.yml b/.gitlab-ci.yml\n--- a/.gitlab-ci.yml\n"
	    "+++ b/.gitlab-ci.yml\n@@ -1 +1 @@\n-a\n+b\n";
	const char *dotgit = "diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\n"
	    "--- a/.git/hooks/pre-commit\n+++ b/.git/hooks/pre-commit\n@@ -1 +1 @@\n-a\n+b\n";
	const char *up = "--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n";
	const char *ren = "diff --git a/.circleci/config.yml b/ci.yml\nsimilarity index 100%\n"
	    "rename from .circleci/config.yml\nrename to ci.yml\n";

	(void)state;
	project_default(&p);
	assert_string_equal(check_one(wf, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	assert_non_null(strstr(ev, ".github/workflows/ci.yml: CI configuration"));
	assert_string_equal(check_one(gl, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	assert_string_equal(check_one(dotgit, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	assert_non_null(strstr(ev, "inside .git"));
	assert_string_equal(check_one(up, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	assert_non_null(strstr(ev, "'..'"));
	/* moving a CI file away is a change to it */
	assert_string_equal(check_one(ren, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	/* the project's own list */
	json_array_append_new(p.forbidden_paths, json_string("docs/**"));
	assert_string_equal(check_one(diff_ok, &p, NULL, "forbidden_paths", ev, sizeof(ev)),
	    "fail");
	assert_non_null(strstr(ev, "forbidden by the project (docs/**)"));
	/* allowed_paths exempts a path */
	json_array_append_new(p.allowed_paths, json_string(".github/workflows/ci.yml"));
	assert_string_equal(check_one(wf, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "pass");
	/* but never an unsafe one */
	json_array_append_new(p.allowed_paths, json_string("**"));
	assert_string_equal(check_one(dotgit, &p, NULL, "forbidden_paths", ev, sizeof(ev)), "fail");
	gitops_project_free(&p);
}

static void
test_secret_scan(void **state)
{
	struct gitops_project p;
	char ev[512], text[1024];
	const char *known[] = { "correct-horse-battery-staple", NULL };
	static const char *const hits[] = {
		"token = \"ghp_0123456789abcdefghijABCDEFGHIJ012345\"",
		"export GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
		"key: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
		"aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
		"-----BEGIN OPENSSH PRIVATE KEY-----",
		"password = \"Xk9#mQ2$vL8pR4tZ\"",
		"DB_URL = \"aG9wZWZ1bGx5IG5vdCBhIHJlYWwgc2VjcmV0IGF0IGFsbA\"",
		"slack: xoxb-1234567890-abcdefghij",
	};
	static const char *const clean[] = {
		"int main(void) { return 0; }",
		"name = \"a perfectly ordinary sentence here\"",
		"sk-learn is a library",
		"token = None",
		"version = \"1.2.3\"",
	};

	(void)state;
	project_default(&p);
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++) {
		snprintf(text, sizeof(text), "--- a/x.py\n+++ b/x.py\n@@ -1 +1,2 @@\n a\n+%s\n",
		    hits[i]);
		assert_string_equal(check_one(text, &p, NULL, "secret_scan", ev, sizeof(ev)), "fail");
		assert_non_null(strstr(ev, "x.py:2: "));
		/* the evidence never carries the value */
		assert_null(strstr(ev, "0123456789abcdefghij"));
		assert_null(strstr(ev, "EXAMPLE"));
	}
	for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
		snprintf(text, sizeof(text), "--- a/x.py\n+++ b/x.py\n@@ -1 +1,2 @@\n a\n+%s\n",
		    clean[i]);
		assert_string_equal(check_one(text, &p, NULL, "secret_scan", ev, sizeof(ev)), "pass");
	}
	/* a removed or context line with a token is not a finding: only added lines are */
	snprintf(text, sizeof(text), "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1 @@\n"
	    " ghp_0123456789abcdefghijABCDEFGHIJ012345\n-ghp_0123456789abcdefghijABCDEFGHIJ012345\n");
	assert_string_equal(check_one(text, &p, NULL, "secret_scan", ev, sizeof(ev)), "pass");
	/* a value the vault holds */
	snprintf(text, sizeof(text), "--- a/x.txt\n+++ b/x.txt\n@@ -0,0 +1 @@\n"
	    "+the words correct-horse-battery-staple here\n");
	assert_string_equal(check_one(text, &p, known, "secret_scan", ev, sizeof(ev)), "fail");
	assert_null(strstr(ev, "horse"));
	assert_string_equal(check_one(text, &p, NULL, "secret_scan", ev, sizeof(ev)), "pass");
	gitops_project_free(&p);
}

static void
test_shipping_and_target(void **state)
{
	struct gitops_project p;
	json_t *r;
	char b[256];

	(void)state;
	project_default(&p);
	r = gitops_report_new();
	gitops_check_shipping(&p, "fix_issue", 0, r);
	gitops_check_shipping(&p, "fix_issue", 1, r);
	gitops_check_shipping(&p, "issue_triage", 0, r);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "result")),
	    "pass");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(r, 1),
	    "evidence")), "kill switch"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 2), "result")),
	    "fail");
	json_decref(r);

	assert_int_equal(gitops_branch_name(&p, "fix_issue", "9f3A-b2c4d5e6f7", b, sizeof(b)), 0);
	assert_string_equal(b, "jidocode/fix_issue/9f3ab2c4");
	r = gitops_report_new();
	gitops_check_target(&p, b, r);
	gitops_check_target(&p, "main", r);
	gitops_check_target(&p, "jidocode/a..b", r);
	gitops_check_target(&p, "feature/x", r);
	json_array_append_new(p.protected_branches, json_string("jidocode/release*"));
	gitops_check_target(&p, "jidocode/release-1", r);
	const char *want[] = { "pass", "fail", "fail", "fail", "fail" };
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(r, i),
		    "result")), want[i]);
	json_decref(r);
	gitops_project_free(&p);
}

static void
test_subject(void **state)
{
	char s[256];

	(void)state;
	gitops_subject("fix", "handle empty input", s, sizeof(s));
	assert_string_equal(s, "fix: handle empty input");
	gitops_subject("fix", "a very long summary that goes on and on and on well past the "
	    "seventy-two character limit of a subject", s, sizeof(s));
	assert_true(strlen(s) <= GITOPS_SUBJECT_MAX);
	assert_int_not_equal(s[strlen(s) - 1], ' ');
	gitops_subject("fix", "first line\nsecond line", s, sizeof(s));
	assert_string_equal(s, "fix: first line");
	/* never cut inside a UTF-8 character */
	gitops_subject("fix", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", s,
	    sizeof(s));
	assert_true(strlen(s) <= GITOPS_SUBJECT_MAX);
	assert_int_equal((strlen(s) - 5) % 2, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_parse),
		cmocka_unit_test(test_project),
		cmocka_unit_test(test_glob),
		cmocka_unit_test(test_clean_diff_passes),
		cmocka_unit_test(test_non_empty),
		cmocka_unit_test(test_diff_size),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_forbidden_paths),
		cmocka_unit_test(test_secret_scan),
		cmocka_unit_test(test_shipping_and_target),
		cmocka_unit_test(test_subject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
