#!/usr/bin/env bash
# gitops.sh - jido-gitops against the GitHub double (tests/doubles/github/server.js:
# git smart-HTTP that demands the token, REST routes checked against GitHub's OpenAPI
# description) and a stand-in auditor (nngcat): a run's diff becomes one commit on a fresh
# branch, a push, a PR with the right title and body, labels, reviewers and an issue
# comment; a second ship opens nothing new; every policy check is tripped and shows that
# nothing was pushed or posted; audit intent precedes every side effect and a refused
# intent stops it; draft fallback, rate limits, 422s, planner jobs, dry runs, the check
# filter; and the token appears in no log, .git/config, git command line or environment.
. "$(dirname "$0")/../lib.sh"
# Our own prefix: other suites on a shared machine sweep /tmp/jido-e2e.* (short: ipc paths).
JIDO_HOME=$(mktemp -d /tmp/jido-gitops.XXXXXX)
export JIDO_HOME
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE="$top/tests/doubles/github"
W="$JIDO_HOME/w"
mkdir -p "$W/git/octo" "$W/shim"
PIDS=""
cleanup_gitops() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup_gitops EXIT

if ! command -v node >/dev/null || ! "$DOUBLE/gitops_ensure.sh"; then
	fail "the GitHub double needs node and @octokit/openapi (tests/doubles/github/gitops_ensure.sh)"
	t_done
fi

TOKEN="ghp_e2eTOKEN$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 30)"
printf '%s\n' "$TOKEN" >"$W/token"
chmod 600 "$W/token"

# --- the project: a bare repository served by the double
git init -q -b main "$W/seed"
(cd "$W/seed" && printf 'int a;\nint b;\nint d;\n' >a.c && printf '# hello\n' >README.md &&
	git add . && git -c user.name=seed -c user.email=seed@x commit -qm init)
git clone -q --bare "$W/seed" "$W/git/octo/hello.git"
BASE_SHA=$(git --git-dir "$W/git/octo/hello.git" rev-parse main)

node "$DOUBLE/server.js" --git-root "$W/git" --token-file "$W/token" \
    --port-file "$W/port" >"$W/double.log" 2>&1 &
PIDS="$PIDS $!"
if ! t_wait 20 test -s "$W/port"; then fail "the GitHub double starts"; cat "$W/double.log"; t_done; fi
PORT=$(cat "$W/port")
API="http://127.0.0.1:$PORT"
CLONE="$API/octo/hello.git"

# --- the stand-in auditor: answers every audit.append ok, keeps what it got
nngcat --rep0 --listen "ipc://$W/aud.sock" --ascii \
    --data '{"v":1,"id":null,"ok":true,"data":{"seq":1}}' >"$W/audit.log" 2>&1 &
PIDS="$PIDS $!"
# and one that refuses
nngcat --rep0 --listen "ipc://$W/aud-no.sock" --ascii \
    --data '{"v":1,"id":null,"ok":false,"error":{"code":"unavailable","message":"audit log full"}}' \
    >"$W/audit-no.log" 2>&1 &
PIDS="$PIDS $!"

# --- a git shim that records every git command line and environment gitops makes
REALGIT=$(command -v git)
cat >"$W/shim/git" <<EOF
#!/bin/sh
{ printf 'ARGV:'; for a in "\$@"; do printf ' %s' "\$a"; done; printf '\n'; env | sed 's/^/ENV: /'; } >>"$W/git-calls.log"
exec "$REALGIT" "\$@"
EOF
chmod +x "$W/shim/git"

export JIDO_GITHUB_API_URL="$API"
export JIDO_GITHUB_GIT_URL="$API"
export JIDO_GITHUB_TOKEN_FILE="$W/token"
export JIDO_SOCKET_AUDITOR="ipc://$W/aud.sock"
export JIDO_BUS_TIMEOUT_MS=2000
GITOPS_PATH="$W/shim:$PATH"
# jqe ARGS... : jq -e on stdin, failing on empty input too (jq -e alone passes it).
jqe() { local in; in=$(cat); [ -n "${in//[[:space:]]/}" ] && jq -e "$@" <<<"$in"; }
# t_ok NAME EXPR : PASS when the bash expression EXPR (evaluated here) succeeds.
t_ok() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

DIFF_OK='diff --git a/a.c b/a.c
--- a/a.c
+++ b/a.c
@@ -1,3 +1,4 @@
 int a;
-int b;
+int b = 2;
+int c = 3;
 int d;
'

# req RUN_ID DIFF [jq-filter on .data] : a gitops.ship request line
req() {
	jq -nc --arg r "$1" --arg d "$2" --arg u "$CLONE" '{v:1,type:"gitops.ship",id:"t",
	  data:{run_id:$r,workflow:"fix_issue",project:{repo:"octo/hello",clone_url:$u,
	  default_branch:"main",pr:{draft:true,labels:["jidocode"],reviewers:["alice"]}},
	  issue:7,diff:$d,summary:"initialise b and add c",title:"Initialise b, add c",
	  body:{agent:"claude-code",model:"claude-sonnet",duration_s:42,cost_usd:0.31,tests:"12 passed"}}}' |
	    jq -c "${3:-.}"
}
# ship LINE : run it through the filter (seccomp on), reply on stdout
ship() { printf '%s\n' "$1" | PATH="$GITOPS_PATH" jido-gitops filter 2>>"$W/gitops.log"; }
branches() { git --git-dir "$W/git/octo/hello.git" for-each-ref --format='%(refname)' refs/heads | sort; }
dlog() { curl -s "$API/_double/log"; }
posts() { dlog | jq '[.[] | select((.kind=="rest" and .method=="POST") or (.path|test("receive-pack")))] | length'; }
state() { curl -s "$API/_double/gitops/state"; }

# --- 1. the check filter
WF_DIFF='diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml
new file mode 100644
--- /dev/null
+++ b/.github/workflows/ci.yml
@@ -0,0 +1 @@
+on: push
'
t_ok "check: a clean diff exits 0" 'printf "%s" "$DIFF_OK" | jido-gitops check | jqe .ok >/dev/null'
printf '%s' "$WF_DIFF" | jido-gitops check >"$W/c.json"
rc=$?
t_ok "check: a workflow change exits 1 naming forbidden_paths" '[ $rc -eq 1 ] && jqe ".violation.check == \"forbidden_paths\"" <"$W/c.json" >/dev/null'
echo '{"max_diff_lines":2}' >"$W/proj.json"
t_ok "check: --project limits apply (diff_size)" 'printf "%s" "$DIFF_OK" | jido-gitops check --project "$W/proj.json" | jqe ".violation.check == \"diff_size\"" >/dev/null'
jido-gitops check --bogus x </dev/null 2>/dev/null
rc=$?
t_ok "check: a bad option is a usage error (exit 2)" '[ $rc -eq 2 ]'

# --- 2. the ship, in the daemon (seccomp on), through its socket
PATH="$GITOPS_PATH" jido-gitops serve 2>>"$W/gitops-serve.log" &
GPID=$!
PIDS="$PIDS $GPID"
t_wait 5 test -S "$JIDO_HOME/run/gitops.sock" || fail "gitops serve starts"
sleep 0.2
start=$(date +%s%N)
req run-e2e-0001 "$DIFF_OK" >"$W/r1.req"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 30 --ascii --file "$W/r1.req")
ms=$((($(date +%s%N) - start) / 1000000))
echo "$out" >"$W/r1.json"
if jqe '.ok and .data.branch == "jidocode/fix_issue/rune2e00" and (.data.pr.number|type) == "number" and (.data.comment_url|test("issuecomment"))' <<<"$out" >/dev/null; then
	pass "ship: branch, push, PR and comment in ${ms} ms"
else
	fail "ship: $out"; tail -5 "$W/gitops-serve.log"
fi
B=jidocode/fix_issue/rune2e00
BARE="$W/git/octo/hello.git"
t_ok "ship: one new branch on the server" '[ "$(branches | grep -c "$B")" -eq 1 ]'
t_ok "ship: the branch holds exactly one commit on top of main" '[ "$(git --git-dir "$BARE" rev-list --count "main..$B")" -eq 1 ]'
t_ok "commit: subject <type>: <summary>" '[ "$(git --git-dir "$BARE" log -1 --format=%s "$B")" = "fix: initialise b and add c" ]'
t_ok "commit: trailers JidoCode-Workflow and JidoCode-Run" '[ "$(git --git-dir "$BARE" log -1 --format="%(trailers:key=JidoCode-Workflow,valueonly)|%(trailers:key=JidoCode-Run,valueonly)" "$B" | tr -d "\n")" = "fix_issue|run-e2e-0001" ]'
t_ok "commit: the configured identity" '[ "$(git --git-dir "$BARE" log -1 --format="%an <%ae>|%cn <%ce>" "$B")" = "JidoCode <jidocode@users.noreply.github.com>|JidoCode <jidocode@users.noreply.github.com>" ]'
t_ok "commit: the diff is what was applied" 'git --git-dir "$BARE" show "$B:a.c" | grep -q "int c = 3;"'
pr=$(state | jq '.repos["octo/hello"].pulls[0]')
prbody=$(jq -r .body <<<"$pr")
t_ok "PR: title, head, base, draft" 'jqe --arg b "$B" ".title == \"Initialise b, add c\" and .head.ref == \$b and .base.ref == \"main\" and .draft == true" <<<"$pr" >/dev/null'
t_ok "PR: body has summary, changes and the run's facts" 'for w in "initialise b and add c" "a.c" claude-code claude-sonnet 0.31 "12 passed" run-e2e-0001 fix_issue "Refs #7"; do grep -qF "$w" <<<"$prbody" || exit_w=$w; done; [ -z "${exit_w:-}" ]'
t_ok "PR: label and reviewer" 'jqe ".labels[0].name == \"jidocode\" and .requested_reviewers[0].login == \"alice\"" <<<"$pr" >/dev/null'
t_ok "comment: on issue 7 with the PR link" 'state | jqe ".repos[\"octo/hello\"].comments | length == 1 and (.[0].issue_number == 7) and (.[0].body | test(\"pull/1\"))" >/dev/null'
seq_audit=$(jq -r 'select(.data.run_id == "run-e2e-0001") | .data.action + ":" + .data.result' <"$W/audit.log" 2>/dev/null | tr '\n' ' ')
t_ok "audit: intent before and result after push, PR and comment" '[ "$seq_audit" = "git.push:intent git.push:ok github.pr.create:intent github.pr.create:ok github.comment.create:intent github.comment.create:ok " ]'

# --- 3. the same run again: nothing new
p0=$(posts)
out=$(ship "$(cat "$W/r1.req")")
t_ok "second ship: finds the open PR, already_shipped" 'jqe ".ok and .data.already_shipped and .data.pr.number == 1" <<<"$out" >/dev/null'
t_ok "second ship: no second PR, no second comment, no push" '[ "$(state | jq ".repos[\"octo/hello\"].pulls | length")" -eq 1 ] && [ "$(state | jq ".repos[\"octo/hello\"].comments | length")" -eq 1 ] && [ "$(posts)" -eq "$p0" ]'

# --- 4. every policy check trips, and nothing is pushed or posted
# expect_violation NAME CHECK REQUEST
expect_violation() {
	local b0 p0 out
	b0=$(branches)
	p0=$(posts)
	out=$(ship "$3")
	if jqe --arg c "$2" '(.ok|not) and .error.code == "policy_violation" and (.error.message | startswith("policy_violation: " + $c + ":"))' <<<"$out" >/dev/null &&
	    [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]; then
		pass "policy $2 ($1): refused, nothing pushed or posted"
	else
		fail "policy $2 ($1): $out"
	fi
}
expect_violation "empty diff" non_empty "$(req run-pol-01 '')"
expect_violation "context does not match" clean_apply "$(req run-pol-02 "$(echo "$DIFF_OK" | sed 's/^-int b;/-int x;/')")"
SECRET_DIFF='diff --git a/cfg.py b/cfg.py
new file mode 100644
--- /dev/null
+++ b/cfg.py
@@ -0,0 +1 @@
+GITHUB = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"
'
expect_violation "token pattern" secret_scan "$(req run-pol-03 "$SECRET_DIFF")"
expect_violation "the real token value" secret_scan "$(req run-pol-04 "$(printf 'diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+note x%s\n' "$TOKEN")")"
expect_violation "over the limit" diff_size "$(req run-pol-05 "$DIFF_OK" '.data.project.limits={max_diff_lines:2}')"
BIN_DIFF='diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..d00491f
GIT binary patch
literal 1
IcmZPo000310RR91

literal 0
HcmV?d00001

'
expect_violation "binary file" binary_files "$(req run-pol-06 "$BIN_DIFF")"
expect_violation "workflow file" forbidden_paths "$(req run-pol-07 "$WF_DIFF")"
expect_violation "project glob" forbidden_paths "$(req run-pol-08 "$DIFF_OK" '.data.project.forbidden_paths=["*.c"]')"
expect_violation "workflow may not ship" shipping_allowed "$(req run-pol-09 "$DIFF_OK" '.data.workflow="issue_triage"')"
touch "$JIDO_HOME/gitops.stop"
expect_violation "kill switch" shipping_allowed "$(req run-pol-10 "$DIFF_OK")"
rm -f "$JIDO_HOME/gitops.stop"
expect_violation "protected branch" target_branch "$(req run-pol-11 "$DIFF_OK" '.data.project.protected_branches=["jidocode/**"]')"
curl -s -X POST "$API/_double/gitops/seed_pr" -d '{"repo":"octo/hello","head":"jidocode/fix_issue/runpol12"}' >/dev/null
expect_violation "a PR is open for the branch" no_open_pr "$(req run-pol-12 "$DIFF_OK")"
# both the branch and its -2 twin hold other work
(cd "$W/seed" && git checkout -q -b other && echo x >other.txt && git add other.txt &&
	git -c user.name=o -c user.email=o@x commit -qm other &&
	git push -q "$BARE" other:jidocode/fix_issue/runpol13 other:jidocode/fix_issue/runpol13-2 other:jidocode/fix_issue/runpol14 && git checkout -q main)
OTHER=$(git -C "$W/seed" rev-parse other)
expect_violation "branch and twin taken" branch_collision "$(req run-pol-13 "$DIFF_OK")"
out=$(ship "$(req run-pol-14 "$DIFF_OK")")
t_ok "branch_collision: a taken name gets the deterministic -2 suffix, never overwritten" 'jqe ".ok and .data.branch == \"jidocode/fix_issue/runpol14-2\"" <<<"$out" >/dev/null && [ "$(git --git-dir "$BARE" rev-parse jidocode/fix_issue/runpol14)" = "$OTHER" ]'
# the base moved under the diff
(cd "$W/seed" && sed -i 's/^int b;/int bb;/' a.c && git -c user.name=o -c user.email=o@x commit -qam moved &&
	git push -q "$BARE" main)
expect_violation "base moved, diff no longer applies" base_current "$(req run-pol-15 "$DIFF_OK" ".data.project.base_sha=\"$BASE_SHA\"")"
NEWDIFF='diff --git a/README.md b/README.md
--- a/README.md
+++ b/README.md
@@ -1 +1,2 @@
 # hello
+More words.
'
out=$(ship "$(req run-pol-16 "$NEWDIFF" ".data.project.base_sha=\"$BASE_SHA\"")")
t_ok "base_current: a moved base that still applies is rebased onto" 'jqe ".ok and ([.data.checks[] | select(.check == \"base_current\") | .evidence | test(\"rebased\")] | any)" <<<"$out" >/dev/null'

# --- 5. audit first: a refused or missing auditor means nothing is pushed
b0=$(branches); p0=$(posts)
out=$(printf '%s\n' "$(req run-aud-01 "$NEWDIFF")" | JIDO_SOCKET_AUDITOR="ipc://$W/aud-no.sock" PATH="$GITOPS_PATH" jido-gitops filter 2>>"$W/gitops.log")
t_ok "audit refused: unavailable, nothing pushed or posted" 'jqe ".error.code == \"unavailable\"" <<<"$out" >/dev/null && [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'
out=$(printf '%s\n' "$(req run-aud-02 "$NEWDIFF")" | JIDO_BUS_TIMEOUT_MS=300 JIDO_SOCKET_AUDITOR="ipc://$W/nobody.sock" PATH="$GITOPS_PATH" jido-gitops filter 2>>"$W/gitops.log")
t_ok "auditor absent: unavailable, nothing pushed or posted" 'jqe ".error.code == \"unavailable\"" <<<"$out" >/dev/null && [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'

# --- 6. GitHub's answers: draft fallback, rate limits, 422, a wrong token
curl -s -X POST "$API/_double/gitops/config" -d '{"draft_unsupported":true}' >/dev/null
out=$(ship "$(req run-gh-01 "$NEWDIFF")")
t_ok "draft refused (422): retried as a normal PR, with a warning" 'jqe ".ok and (.data.warnings[0] | test(\"draft\"))" <<<"$out" >/dev/null && state | jqe "[.repos[\"octo/hello\"].pulls[] | select(.head.ref == \"jidocode/fix_issue/rungh01\")][0].draft == false" >/dev/null'
curl -s -X POST "$API/_double/gitops/config" -d '{"draft_unsupported":false}' >/dev/null
curl -s -X POST "$API/_double/gitops/inject" -d '{"method":"POST","path":"/pulls$","status":429,"headers":{"Retry-After":"1"},"body":{"message":"You have exceeded a secondary rate limit."},"count":1}' >/dev/null
curl -s -X POST "$API/_double/gitops/inject" -d '{"method":"POST","path":"/comments$","status":403,"headers":{"X-RateLimit-Remaining":"0","X-RateLimit-Reset":"'"$(($(date +%s) + 1))"'"},"body":{"message":"API rate limit exceeded"},"count":1}' >/dev/null
out=$(ship "$(req run-gh-02 "$NEWDIFF")")
t_ok "rate limits (429 Retry-After, 403 X-RateLimit-Reset): waited and retried" 'jqe ".ok and .data.pr.number > 0 and (.data.comment_url|type) == \"string\"" <<<"$out" >/dev/null && [ "$(dlog | jq "[.[] | select(.method == \"POST\" and (.path | endswith(\"/pulls\")) and .body.head == \"jidocode/fix_issue/rungh02\")] | length")" -eq 2 ]'
curl -s -X POST "$API/_double/gitops/inject" -d '{"method":"POST","path":"/pulls$","status":422,"body":{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"No commits between main and the head"}]},"count":1}' >/dev/null
c0=$(state | jq '.repos["octo/hello"].comments | length')
out=$(ship "$(req run-gh-03 "$NEWDIFF")")
t_ok "PR 422: provider_error with GitHub's message, the pushed branch kept, no comment" 'jqe ".error.code == \"provider_error\" and (.error.message | test(\"No commits between\")) and (.error.message | test(\"kept\"))" <<<"$out" >/dev/null && branches | grep -q rungh03 && [ "$(state | jq ".repos[\"octo/hello\"].comments | length")" -eq "$c0" ]'
pushes() { dlog | jq '[.[] | select(.kind == "git" and .auth and (.path | test("git-receive-pack$")))] | length'; }
k0=$(pushes)
out=$(ship "$(req run-gh-03 "$NEWDIFF")")
t_ok "PR 422 then a retried ship: the kept branch gets its PR and comment, no second push" 'jqe ".ok and .data.already_shipped and .data.pr.number > 0 and (.data.comment_url|type) == \"string\"" <<<"$out" >/dev/null && [ "$(pushes)" -eq "$k0" ]'
printf 'ghp_wrongwrongwrongwrongwrongwrongwrong12\n' >"$W/bad-token"
chmod 600 "$W/bad-token"
b0=$(branches); p0=$(posts)
out=$(printf '%s\n' "$(req run-gh-04 "$NEWDIFF")" | JIDO_GITHUB_TOKEN_FILE="$W/bad-token" PATH="$GITOPS_PATH" jido-gitops filter 2>>"$W/gitops.log")
t_ok "a refused token: execution_error naming the failed fetch, nothing pushed or posted" 'jqe ".error.code == \"execution_error\" and (.error.message | test(\"cannot fetch\"))" <<<"$out" >/dev/null && [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'
chmod 644 "$W/bad-token"
out=$(printf '%s\n' "$(req run-gh-05 "$NEWDIFF")" | JIDO_GITHUB_TOKEN_FILE="$W/bad-token" jido-gitops filter 2>/dev/null)
t_ok "a token file readable by others is refused (secret_unavailable)" 'jqe ".error.code == \"secret_unavailable\"" <<<"$out" >/dev/null'

# --- 7. dry run, comment, bad input
b0=$(branches); p0=$(posts)
out=$(ship "$(req run-dry-01 "$NEWDIFF" '.data.dry_run=true')")
t_ok "dry_run: branch and commit reported, would_open_pr, nothing pushed or posted" 'jqe ".ok and .data.dry_run and (.data.commit|length) == 40 and .data.would_open_pr.head == \"jidocode/fix_issue/rundry01\"" <<<"$out" >/dev/null && [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'
out=$(ship '{"v":1,"type":"gitops.comment","id":"c","data":{"repo":"octo/hello","issue":9,"body":"Thanks, triaged as a bug."}}')
t_ok "gitops.comment posts an issue comment" 'jqe ".ok and (.data.comment_url | test(\"issues/9#\"))" <<<"$out" >/dev/null'
out=$(ship '{"v":1,"type":"gitops.comment","id":"c","data":{"repo":"octo/hello","issue":9,"body":"key ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"}}')
t_ok "gitops.comment refuses a secret" 'jqe ".error.code == \"policy_violation\"" <<<"$out" >/dev/null'
out=$(ship "$(req run-bad-01 "$NEWDIFF" '.data.colour="red"')")
t_ok "unknown field: validation_error naming it" 'jqe ".error.code == \"validation_error\" and (.error.message | test(\"colour\"))" <<<"$out" >/dev/null'
out=$(ship "$(req run-bad-02 "$NEWDIFF" '.data.project.clone_url="https://x:'"$TOKEN"'@127.0.0.1/octo/hello.git"')")
t_ok "credentials in clone_url: refused, and not echoed" 'jqe ".error.code == \"validation_error\"" <<<"$out" >/dev/null && ! grep -qF "$TOKEN" <<<"$out"'

b0=$(branches); p0=$(posts)
out=$(ship "$(req run-bad-03 "$NEWDIFF" '.data.project.clone_url="http://127.0.0.2:'"$PORT"'/octo/hello.git"')")
t_ok "clone_url outside github.git_url: refused before the token goes anywhere" 'jqe ".error.code == \"validation_error\" and (.error.message | test(\"github.git_url\"))" <<<"$out" >/dev/null && [ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'

# --- 8. a planner job in the daemon: accepted at once, result sent as planner.steps.result
nngcat --rep0 --listen "ipc://$W/planner.sock" --ascii --data '{"v":1,"id":null,"ok":true,"data":{}}' >"$W/planner.log" 2>&1 &
PLPID=$!
PIDS="$PIDS $PLPID"
kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null
JIDO_SOCKET_PLANNER="ipc://$W/planner.sock" PATH="$GITOPS_PATH" jido-gitops serve 2>>"$W/gitops-serve.log" &
GPID=$!
PIDS="$PIDS $GPID"
t_wait 5 test -S "$JIDO_HOME/run/gitops.sock"
sleep 0.2
jq -nc --arg d "$(printf 'diff --git a/NEW.md b/NEW.md\nnew file mode 100644\n--- /dev/null\n+++ b/NEW.md\n@@ -0,0 +1 @@\n+new\n')" \
    '{v:1,type:"gitops.ship",id:"j",corr:"run-job-0001",data:{job_id:"run-job-0001:6:0",run_id:"run-job-0001",seq:6,attempt:0,kind:"ship",step:{id:"ship",kind:"ship"},workflow:"fix_issue",project:{id:1,full_name:"octo/hello",settings:{default_branch:"main",branch_prefix:"jidocode/",max_diff_lines:500,forbidden_paths:[".github/workflows/**"],allowed_paths:[],pr:{draft:true,labels:["jidocode"],reviewers:[]},auto_ship:false}},issue:11,dry_run:false,timeout_s:600,deadline_ms:0,inputs:{fetch:{title:"Add NEW.md"},code:{diff:$d,summary:"add NEW.md"}},reply_to:"planner.steps.result"}}' >"$W/job.req"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 5 --ascii --file "$W/job.req")
t_ok "planner job: accepted at once" 'jqe ".ok and .data.accepted" <<<"$out" >/dev/null'
planner_done() { grep -h 'planner.steps.result' "$W/planner.log" | jqe '.data.status == "done" and .data.seq == 6 and .data.result.pr.number > 0' >/dev/null; }
t_ok "planner job: planner.steps.result done with the PR" 't_wait 15 planner_done'
jq -nc '{v:1,type:"gitops.comment",id:"k",data:{job_id:"run-job-0002:5:0",run_id:"run-job-0002",seq:5,attempt:0,kind:"comment",step:{id:"reply",kind:"comment",body:"{{compose.output}}"},workflow:"issue_triage",project:{id:1,full_name:"octo/hello",settings:{}},issue:12,dry_run:false,inputs:{compose:{output:"Looks like a duplicate of #3."}},reply_to:"planner.steps.result"}}' >"$W/job2.req"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 5 --ascii --file "$W/job2.req")
comment_done() { grep -h '"seq":5' "$W/planner.log" | jqe '.data.status == "done" and (.data.result.comment_url | test("issues/12#"))' >/dev/null; }
t_ok "planner comment job (issue_triage reply): accepted, comment posted, result reported" 'jqe ".ok and .data.accepted" <<<"$out" >/dev/null && t_wait 15 comment_done && state | jqe "[.repos[\"octo/hello\"].comments[] | select(.issue_number == 12)][0].body == \"Looks like a duplicate of #3.\"" >/dev/null'

# A result waits for a planner that has not answered yet (stopped here) while gitops keeps
# answering its own socket: the planner sends gitops the next job while gitops sends it a
# result, and both used to wait out a bus timeout (bus.timeout_ms, 5 s; the client here
# waits 2 s, less than gitops's call would).
jq -nc '{v:1,type:"gitops.comment",id:"m",data:{job_id:"run-job-0003:7:0",run_id:"run-job-0003",seq:7,attempt:0,kind:"comment",step:{id:"reply",kind:"comment",body:"Paused planner check."},workflow:"issue_triage",project:{id:1,full_name:"octo/hello",settings:{}},issue:13,dry_run:false,inputs:{},reply_to:"planner.steps.result"}}' >"$W/job3.req"
kill -STOP "$PLPID"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 5 --ascii --file "$W/job3.req")
t_wait 20 grep -q 'gitops.job_done.*run-job-0003:7:0' "$W/gitops-serve.log" || fail "the comment job run-job-0003 did not finish"
o=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 2 --ascii --data '{"v":1,"type":"gitops.health","id":"h3"}' 2>&1)
kill -CONT "$PLPID"
t_ok "gitops answers while a job's result waits for the planner's answer" 'jqe ".ok and .data.accepted" <<<"$out" >/dev/null && jqe .ok <<<"$o" >/dev/null'
job3_done() { grep -h '"seq":7' "$W/planner.log" | jqe '.type == "planner.steps.result" and .data.status == "done" and .data.run_id == "run-job-0003"' >/dev/null; }
t_ok "  and the result reaches the planner once it answers" 't_wait 10 job3_done'
t_ok "  with nothing logged lost" '! grep -q "gitops.result_lost.*run-job-0003" "$W/gitops-serve.log"'

# --- 9. the whole conversation was valid GitHub API, and the token leaked nowhere
t_ok "every REST request validates against GitHub's OpenAPI description" 'dlog | jqe "[.[] | select(.kind == \"rest\")] | length > 10 and all(.valid)" >/dev/null'
t_ok "every REST request carried the API version header" 'dlog | jqe "[.[] | select(.kind == \"rest\" and .auth)] | all(.api_version == \"2022-11-28\")" >/dev/null'
t_ok "git over HTTP asked for the token (401 first) and got it from the helper" 'dlog | jqe "[.[] | select(.kind == \"git\")] | any(.auth == false and .had_credentials == false) and any(.auth and (.path | test(\"receive-pack\")))" >/dev/null'
leaks=""
for f in "$W/gitops.log" "$W/gitops-serve.log" "$W/audit.log" "$W/planner.log" "$W/double.log" "$W/git-calls.log" "$W/r1.json"; do
	grep -qF "$TOKEN" "$f" 2>/dev/null && leaks="$leaks $f"
done
for cfg in $(find "$JIDO_HOME/gitops" -name config -path '*.git/*') "$BARE/config"; do
	grep -qF "$TOKEN" "$cfg" && leaks="$leaks $cfg"
done
grep -rqF "$TOKEN" "$JIDO_HOME/gitops" && leaks="$leaks (a file under the clones)"
dlog | grep -qF "$TOKEN" && leaks="$leaks (the double's log)"
tr '\0' ' ' <"/proc/$GPID/cmdline" | grep -qF "$TOKEN" && leaks="$leaks (gitops's command line)"
tr '\0' '\n' <"/proc/$GPID/environ" 2>/dev/null | grep -qF "$TOKEN" && leaks="$leaks (gitops's environment)"
t_ok "the token is in no log, git command line or environment, .git/config or file${leaks}" '[ -z "$leaks" ]'
t_ok "the git shim saw gitops's commands (the leak check looked at something)" 'grep -q "^ARGV: .*push" "$W/git-calls.log" && grep -q "^ENV: HOME=" "$W/git-calls.log"'
t_ok "no SIGSYS: gitops's allowlist covers git over HTTP" '! grep -qi "bad system call\|SIGSYS" "$W/gitops.log" "$W/gitops-serve.log"'
kill "$GPID" 2>/dev/null
wait "$GPID" 2>/dev/null
t_ok "no sanitizer report in gitops's logs (make asan)" '! grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$W/gitops.log" "$W/gitops-serve.log"'
t_done
