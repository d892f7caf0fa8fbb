#!/usr/bin/env bash
# executor.sh - jido-executor as the planner meets it, over the real sockets: a shell step
# via executor.step.run is accepted at once; its output streams on logs.pub redacted, in
# order; the result (exit status, diff with new and binary files, stats) reaches a test
# planner as planner.steps.result; the workspace is a fresh checkout of the base on a new
# branch; a gateway step reaches a stand-in gateway on a unix socket through the relay;
# bad requests get typed errors; the daemon never trips its own seccomp allowlist.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
R=$JIDO_HOME/run
mkdir -p "$R"
cc -o "$JIDO_HOME/fake_planner" "$top/tests/sandbox/fake_planner.c" -ljansson -lnng ||
	{ fail "build fake_planner"; t_done; }
"$JIDO_HOME/fake_planner" "ipc://$R/planner.sock" "$JIDO_HOME/planner.jsonl" &
fp=$!

# An origin repository with a main branch.
origin=$JIDO_HOME/origin
git init -q -b main "$origin"
printf 'a\nb\n' >"$origin/f.txt"
echo readme >"$origin/README"
git -C "$origin" add . && git -C "$origin" -c user.name=t -c user.email=t@t commit -qm init

# A stand-in gateway: HTTP on a unix socket, echoing the request line and the key header.
python3 - "$R/gateway-http.sock" >/dev/null 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
while True:
    c, _ = s.accept()
    req = c.recv(65536).decode(errors="replace").split("\r\n")
    key = [h for h in req if h.lower().startswith("x-api-key:")]
    body = ("gateway saw " + req[0] + " key-ok=" + str(bool(key) and key[0].split(":", 1)[1].strip() == "jgw_e2escopedkey0123456789")).encode()
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)); c.close()
PY
gw=$!

# The project's repository where executor.git_url points, and a GitHub API double.
mkdir -p "$JIDO_HOME/repos/octo"
git clone -q --bare "$origin" "$JIDO_HOME/repos/octo/demo.git"
export JIDO_EXECUTOR_GIT_URL=$JIDO_HOME/repos/
ghport=$(t_free_port)
python3 - "$ghport" >/dev/null 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/repos/octo/demo/issues/42":
            b = json.dumps({"number": 42, "title": "Crash on start", "body": "It crashes.", "state": "open",
                            "html_url": "https://github.com/octo/demo/issues/42", "labels": [{"name": "bug"}],
                            "user": {"login": "alice"}}).encode(); code = 200
        else:
            b = b'{"message":"Not Found"}'; code = 404
        self.send_response(code); self.send_header("content-length", str(len(b))); self.end_headers(); self.wfile.write(b)
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
ghsrv=$!
export JIDO_GITHUB_API_URL=http://127.0.0.1:$ghport
t_wait 5 curl -sf "http://127.0.0.1:$ghport/repos/octo/demo/issues/42"
jido-executor serve 2>"$JIDO_HOME/executor.log" &
ex=$!
t_wait 5 t_nng executor '{"v":1,"type":"executor.health","id":"h"}' || { fail "executor READY"; cat "$JIDO_HOME/executor.log"; t_done; }
pass "executor READY"

timeout 30 nngcat --sub0 --dial "ipc://$R/logs.pub" --subscribe '' --ascii >"$JIDO_HOME/logs.txt" 2>/dev/null &
sub=$!
sleep 0.3

KEY=jgw_e2escopedkey0123456789
cmd='echo first; echo "the key is $ANTHROPIC_API_KEY" >&2; echo new >new.txt; printf "a\nc\nd\n" >f.txt; printf "\0\1\2\377" >bin.dat; curl -s -H "x-api-key: $ANTHROPIC_API_KEY" "$ANTHROPIC_BASE_URL/v1/ping"; echo; echo last'
req=$(jq -cn --arg cmd "$cmd" --arg key "$KEY" --arg url "$origin" '{v:1,type:"executor.step.run",id:"s1",corr:"run-e2e",
  data:{run_id:"run-e2e",step:{id:"st1",name:"code"},runner:"shell",command:$cmd,timeout_s:60,
  workspace:{repo:"octo/demo",clone_url:$url,base:"main",branch:"jido/run-e2e"},gateway:{key:$key}}}')
start=$(date +%s%N)
out=$(t_nng executor "$req")
ms=$((($(date +%s%N) - start) / 1000000))
t_check "step.run accepted at once (${ms} ms)" sh -c "echo '$out' | jq -e '.ok and .data.accepted == true and (.data.job | length) == 32' >/dev/null && [ $ms -lt 2000 ]"

t_wait 30 grep -q planner.steps.result "$JIDO_HOME/planner.jsonl" || fail "no result reached the planner"
grep planner.steps.result "$JIDO_HOME/planner.jsonl" | head -1 >"$JIDO_HOME/res1.json"
res=$JIDO_HOME/res1.json
echo "# result: $(jq -c '.data | del(.diff)' "$res")"
t_check "result: run, step, exit status 0" sh -c "jq -e '.corr == \"run-e2e\" and .data.run_id == \"run-e2e\" and .data.status == \"done\" and .data.result.step.id == \"st1\" and .data.result.exit_status == 0 and .data.result.duration_ms >= 0' '$res' >/dev/null"
t_check "result: stats (3 files, binary listed)" sh -c "jq -e '.data.result.files_changed == 3 and .data.result.lines_added == 3 and .data.result.lines_removed == 1 and .data.result.binary_files == [\"bin.dat\"]' '$res' >/dev/null"
t_check "result: diff has the new file and the change" sh -c "jq -r .data.result.diff '$res' | grep -q '^+++ b/new.txt' && jq -r .data.result.diff '$res' | grep -q '^+c'"
t_check "result: transcript kept" sh -c "test -s \"\$(jq -r .data.result.transcript '$res')\""
kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
lines=$(jq -c 'select(.type == "logs.line")' "$JIDO_HOME/logs.txt" 2>/dev/null)
t_check "logs.line streamed in order" sh -c "echo '$lines' | jq -s -e 'length >= 5 and ([.[].data.seq] == ([.[].data.seq] | sort)) and all(.[]; .corr == \"run-e2e\" and .data.run_id == \"run-e2e\" and (.data.stream | test(\"^(stdout|stderr|event)$\")))' >/dev/null"
t_check "stdout lines first..last" sh -c "echo '$lines' | jq -r 'select(.data.stream == \"stdout\") | .data.line' | sed -n '1p' | grep -qx first"
t_check "the scoped key is redacted on logs.pub" sh -c "grep -q 'the key is \[REDACTED\]' '$JIDO_HOME/logs.txt' && ! grep -q '$KEY' '$JIDO_HOME/logs.txt'"
t_check "the scoped key is not in the transcript or the result" sh -c "! grep -rq '$KEY' '$JIDO_HOME/executor/transcripts' '$JIDO_HOME/planner.jsonl'"
t_check "the gateway was reached through the relay with the key" sh -c "grep -q 'gateway saw GET /v1/ping HTTP/1.1 key-ok=True' '$JIDO_HOME/logs.txt'"
t_check "workspace on the new branch" sh -c "git --git-dir='$JIDO_HOME/executor/git/octo_demo_.git' rev-parse --abbrev-ref HEAD | grep -qx jido/run-e2e"

# A second run on the same project: reset and cleaned, not re-cloned.
req2=$(echo "$req" | jq -c '.id = "s2" | .data.run_id = "run-2" | .data.command = "ls" | .data.workspace.branch = "jido/run-2"')
t_nng executor "$req2" >/dev/null
t_wait 30 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 2"
grep planner.steps.result "$JIDO_HOME/planner.jsonl" | tail -1 >"$JIDO_HOME/res2.json"
t_check "second run starts clean (no changes, new files gone)" jq -e '.data.result.files_changed == 0 and .data.result.diff == ""' "$JIDO_HOME/res2.json"

# One step per project at a time: a second step of the same project while one runs.
slow=$(echo "$req" | jq -c '.id = "s3" | .data.run_id = "run-3" | .data.command = "sleep 2" | .data.workspace.branch = "jido/run-3"')
t_nng executor "$slow" >/dev/null
busy=$(t_nng executor "$(echo "$slow" | jq -c '.id = "s4" | .data.run_id = "run-4"')")
t_check "a second step of a busy project is a conflict" sh -c "echo '$busy' | jq -e '.ok == false and .error.code == \"conflict\"' >/dev/null"
t_wait 30 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 3"

# The timeout: a step that ignores SIGTERM is killed with its whole tree, and says so.
to=$(echo "$req" | jq -c '.id = "s5" | .data.run_id = "run-5" | .data.timeout_s = 1 | .data.workspace.branch = "jido/run-5" | .data.command = "trap \"\" TERM; (trap \"\" TERM; sleep 3011) & sleep 3012"')
t_nng executor "$to" >/dev/null
t_wait 20 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 4"
grep planner.steps.result "$JIDO_HOME/planner.jsonl" | tail -1 >"$JIDO_HOME/res5.json"
t_check "a step past its timeout: timed_out, error timeout" jq -e '.data.run_id == "run-5" and .data.status == "failed" and .data.result.timed_out == true and .data.error.kind == "timeout" and .data.result.exit_status != 0' "$JIDO_HOME/res5.json"
t_check "nothing of the timed-out tree is left" sh -c "! pgrep -f '^sleep 301[12]' >/dev/null"

# Cancel: the sandbox tree is killed at once, no result is sent.
cn=$(echo "$req" | jq -c '.id = "s6" | .data.run_id = "run-6" | .data.workspace.branch = "jido/run-6" | .data.command = "sleep 299"')
t_nng executor "$cn" >/dev/null
t_wait 10 pgrep -f '^sleep 299'
co=$(t_nng executor '{"v":1,"type":"executor.step.cancel","id":"c","data":{"run_id":"run-6"}}')
t_check "cancel answers with the job" sh -c "echo '$co' | jq -e '.ok and (.data.cancelled | length) == 1' >/dev/null"
t_check "the cancelled step's tree is gone" t_wait 5 sh -c "! pgrep -f '^sleep 299'"
t_check "cancel of nothing is not_found" sh -c "t_nng() { nngcat --req0 --dial 'ipc://$R/executor.sock' --recv-timeout 5 --ascii --data \"\$1\"; }; t_nng '{\"v\":1,\"type\":\"executor.step.cancel\",\"id\":\"c\",\"data\":{\"job\":\"nope\"}}' | jq -e '.error.code == \"not_found\"' >/dev/null"

# The planner's shape (issue 6): kind, step definition, project settings, seq/attempt,
# job_id; the workspace comes from executor.git_url + full name, the command's templates
# are expanded, the result carries seq, attempt and job_id; a re-sent job id never runs
# twice (its result is sent again).
preq=$(jq -cn '{v:1,type:"executor.step.run",id:"p1",corr:"run-p",data:{job_id:"run-p:3:1",run_id:"run-p",seq:3,attempt:1,
  kind:"shell",step:{id:"test",kind:"shell",command:"{{project.test_command}} > t.txt; echo issue {{issue.number}} plan {{plan.output}}"},
  workflow:"fix_issue",project:{id:1,full_name:"octo/demo",settings:{default_branch:"main",branch_prefix:"jidocode/",test_command:"echo tests-ran"}},
  issue:7,dry_run:false,timeout_s:60,deadline_ms:0,inputs:{plan:{output:"the-plan"}},reply_to:"planner.steps.result"}}')
t_check "planner-shaped step accepted" sh -c "t_nng() { nngcat --req0 --dial 'ipc://$R/executor.sock' --recv-timeout 5 --ascii --data \"\$1\"; }; t_nng '$preq' | jq -e '.ok and .data.accepted' >/dev/null"
t_wait 30 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 5"
grep planner.steps.result "$JIDO_HOME/planner.jsonl" | tail -1 >"$JIDO_HOME/resp.json"
echo "# planner-shaped result: $(jq -c '.data | del(.result.diff)' "$JIDO_HOME/resp.json")"
t_check "planner shape: run_id, seq, attempt, job_id, status done" jq -e '.data.run_id == "run-p" and .data.seq == 3 and .data.attempt == 1 and .data.job_id == "run-p:3:1" and .data.status == "done"' "$JIDO_HOME/resp.json"
t_check "templates expanded, output is the stdout" jq -e '(.data.result.output | contains("issue 7 plan the-plan")) and (.data.result.diff | contains("+tests-ran"))' "$JIDO_HOME/resp.json"
t_check "workspace from executor.git_url: branch jidocode/run-p" sh -c "git --git-dir='$JIDO_HOME/executor/git/octo_demo_.git' rev-parse --abbrev-ref HEAD | grep -qx jidocode/run-p"
dup=$(t_nng executor "$(echo "$preq" | jq -c '.id = "p2"')")
t_check "a re-sent job id is not run again" sh -c "echo '$dup' | jq -e '.ok and .data.duplicate == true' >/dev/null"
t_wait 10 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 6"
t_check "its result is sent again, the same" sh -c "[ \"\$(grep planner.steps.result '$JIDO_HOME/planner.jsonl' | tail -1 | jq -c .data)\" = \"\$(jq -c .data '$JIDO_HOME/resp.json')\" ]"
fresp=$(t_nng executor '{"v":1,"type":"executor.step.run","id":"f1","data":{"job_id":"run-f:1:1","run_id":"run-f","seq":1,"attempt":1,"kind":"fetch_issue","step":{"id":"fetch","kind":"fetch_issue"},"project":{"id":1,"full_name":"octo/demo","settings":{}},"issue":42,"timeout_s":60}}')
t_check "fetch_issue accepted" sh -c "echo '$fresp' | jq -e '.ok' >/dev/null"
t_wait 20 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx 7"
grep planner.steps.result "$JIDO_HOME/planner.jsonl" | tail -1 >"$JIDO_HOME/resf.json"
t_check "fetch_issue: the issue from the GitHub API double" jq -e '.data.status == "done" and .data.result.issue.number == 42 and .data.result.issue.title == "Crash on start" and .data.result.issue.labels == ["bug"] and (.data.result.output | startswith("#42 Crash on start"))' "$JIDO_HOME/resf.json"

# Typed errors for bad requests; still READY.
chk_err() { # name code data
	local o
	o=$(t_nng executor "{\"v\":1,\"type\":\"executor.step.run\",\"id\":\"e\",\"data\":$3}")
	if echo "$o" | jq -e ".ok == false and .error.code == \"$2\"" >/dev/null; then pass "$1"; else fail "$1: $o"; fi
}
chk_err "run_id '..' is a validation_error" validation_error '{"run_id":"..","step":"s","runner":"shell","command":"true"}'
chk_err "unknown runner is a validation_error" validation_error '{"run_id":"r","step":"s","runner":"bash","command":"true"}'
chk_err "agent without a prompt is a validation_error" validation_error '{"run_id":"r","step":"s","runner":"claude-code"}'
chk_err "agent step, no key given, gateway down: unavailable (planner retries)" unavailable '{"run_id":"r","step":"s","runner":"claude-code","prompt":"x"}'
chk_err "an unknown template value is a validation_error" validation_error '{"run_id":"r","step":{"id":"t","command":"{{nope.output}}"},"kind":"shell"}'
chk_err "a kind that is not the executor's is a validation_error" validation_error '{"run_id":"r","step":{"id":"t"},"kind":"ship"}'
chk_err "credentials in clone_url are a policy_violation" policy_violation '{"run_id":"r","step":"s","runner":"shell","command":"true","workspace":{"repo":"o/r","clone_url":"https://x:ghp_abc@github.com/o/r","base":"main","branch":"b"}}'
chk_err "a bad branch name is a validation_error" validation_error '{"run_id":"r","step":"s","runner":"shell","command":"true","workspace":{"repo":"o/r","clone_url":"https://github.com/o/r","base":"main","branch":"--upload-pack=x"}}'
t_check "executor.jobs answers" sh -c "t_nng() { nngcat --req0 --dial 'ipc://$R/executor.sock' --recv-timeout 5 --ascii --data \"\$1\"; }; t_nng '{\"v\":1,\"type\":\"executor.jobs\",\"id\":\"j\"}' | jq -e '.ok and (.data.jobs | type == \"array\")' >/dev/null"
t_check "no seccomp kill, no line dropped" sh -c "! grep -Eq 'SIGSYS|line_dropped' '$JIDO_HOME/executor.log' && kill -0 $ex"

# A result waits for a planner that has not answered yet (stopped here) while the executor
# keeps answering its own socket: the planner sends the next step while the executor sends
# a result, and both used to wait out a bus timeout (a deadlock seen in ops.sh as CLI calls
# to the planner timing out). The client waits 2 s, less than the executor's call would.
n=$(grep -c planner.steps.result "$JIDO_HOME/planner.jsonl")
kill -STOP "$fp"
t_nng executor '{"v":1,"type":"executor.step.run","id":"x1","data":{"run_id":"run-x","step":"s","runner":"shell","command":"true","timeout_s":30}}' >/dev/null
t_wait 20 grep -q 'executor.step_done.*"run_id":"run-x"' "$JIDO_HOME/executor.log" || fail "the step run-x did not finish"
o=$(nngcat --req0 --dial "ipc://$R/executor.sock" --recv-timeout 2 --ascii --data '{"v":1,"type":"executor.health","id":"h2"}' 2>&1)
t_check "the executor answers while its result waits for the planner's answer" test "$(jq -r .ok <<<"$o" 2>/dev/null)" = true
kill -CONT "$fp"
t_wait 10 sh -c "grep -c planner.steps.result '$JIDO_HOME/planner.jsonl' | grep -qx $((n + 1))"
t_check "  and the result reaches the planner once it answers" sh -c "grep planner.steps.result '$JIDO_HOME/planner.jsonl' | tail -1 | jq -e '.corr == \"run-x\" or .data.run_id == \"run-x\"' >/dev/null"
t_check "  with nothing logged undelivered" sh -c "! grep -q 'result_undelivered.*run-x' '$JIDO_HOME/executor.log'"

kill -TERM "$ex"; wait "$ex"
t_check "executor stops cleanly" test $? -eq 0
kill "$fp" "$gw" "$ghsrv" 2>/dev/null
wait 2>/dev/null
t_done
