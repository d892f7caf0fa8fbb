#!/usr/bin/env bash
# codex.sh - the real Codex CLI (npm @openai/codex), run by the codex runner of
# jido-executor inside the sandbox, against a scripted double of the OpenAI Responses API
# (tests/sandbox/openai_double.py) on the gateway's unix socket, reached only through the
# relay: its shell tool writes codex.txt in the workspace, its JSON events give summary
# and usage, and the diff comes back to a test planner. Skipped ("# SKIP", no PASS/FAIL)
# when the codex CLI is not installed under /usr.
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v codex >/dev/null || ! command -v node >/dev/null; then
	echo "# SKIP: needs the codex CLI (npm i -g @openai/codex) and node"
	exit 0
fi
case "$(readlink -f "$(command -v codex)")" in
/usr/*) ;;
*) echo "# SKIP: codex must be installed under /usr to be visible in the sandbox"; exit 0 ;;
esac
t_home
jqe() { jq -e "$@" >/dev/null; }
R=$JIDO_HOME/run
mkdir -p "$R"
KEY=jgw_codexe2ekey_0123456789abcdef
cc -o "$JIDO_HOME/fake_planner" "$top/tests/sandbox/fake_planner.c" -ljansson -lnng ||
	{ fail "build fake_planner"; t_done; }
"$JIDO_HOME/fake_planner" "ipc://$R/planner.sock" "$JIDO_HOME/planner.jsonl" &
fp=$!
origin=$JIDO_HOME/origin
git init -q -b main "$origin"
echo "# demo" >"$origin/README.md"
git -C "$origin" add . && git -C "$origin" -c user.name=t -c user.email=t@t commit -qm init
# The gateway's key operations: a minted scoped key (the request carries none).
"$JIDO_HOME/fake_planner" "ipc://$R/gateway.sock" "$JIDO_HOME/gateway.jsonl" "$KEY" &
fg=$!
python3 "$top/tests/sandbox/openai_double.py" "$R/gateway-http.sock" "$JIDO_HOME/double.log" 2>/dev/null &
dbl=$!
t_wait 5 test -S "$R/gateway-http.sock"

JIDO_EXECUTOR_GIT_URL=$JIDO_HOME/repos/ jido-executor serve 2>"$JIDO_HOME/executor.log" &
ex=$!
t_wait 5 t_nng executor '{"v":1,"type":"executor.health","id":"h"}' || { fail "executor READY"; t_done; }
# The planner's shape: an agent step of a project whose runner is codex, no key given.
mkdir -p "$JIDO_HOME/repos/octo"
git clone -q --bare "$origin" "$JIDO_HOME/repos/octo/demo.git"
req=$(jq -cn '{v:1,type:"executor.step.run",id:"x1",corr:"run-cx",
  data:{job_id:"run-cx:2:1",run_id:"run-cx",seq:2,attempt:1,kind:"agent",
  step:{id:"code",kind:"agent",prompt:"--help; write codex.txt",model:"gpt-5-codex"},
  project:{id:1,full_name:"octo/demo",settings:{runner:"codex",default_branch:"main",branch_prefix:"jidocode/"}},
  issue:5,timeout_s:120,inputs:{}}}')
out=$(t_nng executor "$req")
t_check "codex step accepted" sh -c "echo '$out' | jq -e '.ok and .data.accepted' >/dev/null"
if t_wait 120 grep -q planner.steps.result "$JIDO_HOME/planner.jsonl"; then
	grep planner.steps.result "$JIDO_HOME/planner.jsonl" | head -1 >"$JIDO_HOME/res.json"
	res=$JIDO_HOME/res.json
	echo "# result: $(jq -c '.data | del(.result.diff)' "$res")"
	t_check "codex exited 0" jqe '.data.status == "done" and .data.result.exit_status == 0 and .data.result.runner == "codex"' "$res"
	t_check "its shell tool wrote codex.txt; the diff came back" sh -c "jq -r .data.result.diff '$res' | grep -q '^+hello from codex' && jq -e '.data.result.files_changed == 1' '$res' >/dev/null"
	t_check "summary and usage parsed from its JSON events" jqe '.data.result.summary == "Done: wrote codex.txt." and .data.usage.output_tokens > 0' "$res"
	t_check "the double got the scoped key as the bearer, on /v1/responses" grep -q "POST /v1/responses auth=Bearer $KEY" "$JIDO_HOME/double.log"
else
	fail "no result from the codex step"
	tail -20 "$JIDO_HOME/executor.log"
fi
t_check "the key was minted for the run and revoked after" sh -c "grep -q '\"type\":\"gateway.keys.create\".*\"run_id\":\"run-cx\"' '$JIDO_HOME/gateway.jsonl' && grep -q '\"type\":\"gateway.keys.revoke\".*kid-1' '$JIDO_HOME/gateway.jsonl'"
t_check "seq, attempt, job_id echoed" jqe '.data.seq == 2 and .data.attempt == 1 and .data.job_id == "run-cx:2:1"' "$JIDO_HOME/res.json"
t_check "the key is not in the transcript" sh -c "! grep -rq '$KEY' '$JIDO_HOME/executor/transcripts'"
t_check "no seccomp kill in the executor" sh -c "! grep -q SIGSYS '$JIDO_HOME/executor.log' && kill -0 $ex"
kill -TERM "$ex"; wait "$ex"
t_check "executor stops cleanly (no leak under ASan)" test $? -eq 0
kill "$fp" "$fg" "$dbl" 2>/dev/null
wait 2>/dev/null
t_done
