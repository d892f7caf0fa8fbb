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
python3 "$top/tests/sandbox/openai_double.py" "$R/gateway-http.sock" "$JIDO_HOME/double.log" 2>/dev/null &
dbl=$!
t_wait 5 test -S "$R/gateway-http.sock"

jido-executor serve 2>"$JIDO_HOME/executor.log" &
ex=$!
t_wait 5 t_nng executor '{"v":1,"type":"executor.health","id":"h"}' || { fail "executor READY"; t_done; }
req=$(jq -cn --arg key "$KEY" --arg url "$origin" '{v:1,type:"executor.step.run",id:"x1",corr:"run-cx",
  data:{run_id:"run-cx",step:"code",runner:"codex",prompt:"--help; write codex.txt",
  model:"gpt-5-codex",timeout_s:120,
  workspace:{repo:"octo/demo",clone_url:$url,base:"main",branch:"jido/run-cx"},gateway:{key:$key}}}')
out=$(t_nng executor "$req")
t_check "codex step accepted" sh -c "echo '$out' | jq -e '.ok and .data.accepted' >/dev/null"
if t_wait 120 grep -q planner.steps.result "$JIDO_HOME/planner.jsonl"; then
	grep planner.steps.result "$JIDO_HOME/planner.jsonl" | head -1 >"$JIDO_HOME/res.json"
	res=$JIDO_HOME/res.json
	echo "# result: $(jq -c '.data | del(.diff)' "$res")"
	t_check "codex exited 0" jqe '.data.exit_status == 0 and .data.runner == "codex"' "$res"
	t_check "its shell tool wrote codex.txt; the diff came back" sh -c "jq -r .data.diff '$res' | grep -q '^+hello from codex' && jq -e '.data.files_changed == 1' '$res' >/dev/null"
	t_check "summary and usage parsed from its JSON events" jqe '.data.summary == "Done: wrote codex.txt." and .data.usage.output_tokens > 0' "$res"
	t_check "the double got the scoped key as the bearer, on /v1/responses" grep -q "POST /v1/responses auth=Bearer $KEY" "$JIDO_HOME/double.log"
else
	fail "no result from the codex step"
	tail -20 "$JIDO_HOME/executor.log"
fi
t_check "the key is not in the transcript" sh -c "! grep -rq '$KEY' '$JIDO_HOME/executor/transcripts'"
t_check "no seccomp kill in the executor" sh -c "! grep -q SIGSYS '$JIDO_HOME/executor.log' && kill -0 $ex"
kill -TERM "$ex"; wait "$ex"
kill "$fp" "$dbl" 2>/dev/null
wait 2>/dev/null
t_done
