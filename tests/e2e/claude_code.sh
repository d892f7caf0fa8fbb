#!/usr/bin/env bash
# claude_code.sh - the real Claude Code CLI (npm @anthropic-ai/claude-code), run by the
# claude-code runner of jido-executor inside the sandbox, against the scripted Anthropic
# double (tests/doubles/anthropic/double.js, from the gateway's issue) reached only
# through the relay: it edits the workspace with its own Write tool, its stream-json
# events are parsed (summary, usage, turns), and the diff comes back to a test planner.
# Skipped (no PASS, no FAIL, a "# SKIP" line) when the CLI or the double is not there.
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=${JIDO_ANTHROPIC_DOUBLE:-$top/tests/doubles/anthropic/double.js}
if ! command -v claude >/dev/null || ! command -v node >/dev/null || [ ! -f "$DOUBLE" ]; then
	echo "# SKIP: needs the claude CLI (npm i -g @anthropic-ai/claude-code), node and $DOUBLE"
	exit 0
fi
case "$(readlink -f "$(command -v claude)")" in
/usr/*) ;;
*) echo "# SKIP: claude must be installed under /usr to be visible in the sandbox"; exit 0 ;;
esac
t_home
jqe() { jq -e "$@" >/dev/null; }
R=$JIDO_HOME/run
mkdir -p "$R"
KEY=jgw_claudee2ekey_0123456789abcdef
cc -o "$JIDO_HOME/fake_planner" "$top/tests/sandbox/fake_planner.c" -ljansson -lnng ||
	{ fail "build fake_planner"; t_done; }
"$JIDO_HOME/fake_planner" "ipc://$R/planner.sock" "$JIDO_HOME/planner.jsonl" &
fp=$!

origin=$JIDO_HOME/origin
git init -q -b main "$origin"
echo "# demo" >"$origin/README.md"
git -C "$origin" add . && git -C "$origin" -c user.name=t -c user.email=t@t commit -qm init

# The double on loopback TCP; a unix-socket front for it where the gateway's would be.
dport=$(t_free_port)
cport=$(t_free_port)
DOUBLE_TOOL=Write DOUBLE_TOOL_INPUT='{"file_path":"/work/hello.txt","content":"hello from claude\n"}' \
	node "$DOUBLE" --port "$dport" --control-port "$cport" --key "$KEY" >"$JIDO_HOME/double.log" 2>&1 &
dbl=$!
python3 - "$R/gateway-http.sock" "$dport" >/dev/null 2>&1 <<'PY' &
import socket, sys, threading
path, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
while True:
    c, _ = s.accept()
    t = socket.create_connection(("127.0.0.1", port))
    threading.Thread(target=pipe, args=(c, t), daemon=True).start()
    threading.Thread(target=pipe, args=(t, c), daemon=True).start()
PY
fwd=$!
t_wait 5 test -S "$R/gateway-http.sock"

jido-executor serve 2>"$JIDO_HOME/executor.log" &
ex=$!
t_wait 5 t_nng executor '{"v":1,"type":"executor.health","id":"h"}' || { fail "executor READY"; t_done; }
timeout 90 nngcat --sub0 --dial "ipc://$R/logs.pub" --subscribe '' --ascii >"$JIDO_HOME/logs.txt" 2>/dev/null &
sub=$!
sleep 0.3
req=$(jq -cn --arg key "$KEY" --arg url "$origin" '{v:1,type:"executor.step.run",id:"c1",corr:"run-cc",
  data:{run_id:"run-cc",step:{id:"code",name:"coding agent"},runner:"claude-code",
  prompt:"--version; create hello.txt saying hello.",model:"claude-sonnet-4-5",max_turns:5,timeout_s:120,
  workspace:{repo:"octo/demo",clone_url:$url,base:"main",branch:"jido/run-cc"},gateway:{key:$key}}}')
out=$(t_nng executor "$req")
t_check "claude-code step accepted" sh -c "echo '$out' | jq -e '.ok and .data.accepted' >/dev/null"
if t_wait 120 grep -q planner.steps.result "$JIDO_HOME/planner.jsonl"; then
	grep planner.steps.result "$JIDO_HOME/planner.jsonl" | head -1 >"$JIDO_HOME/res.json"
	res=$JIDO_HOME/res.json
	echo "# result: $(jq -c '.data | del(.result.diff)' "$res")"
	t_check "claude-code exited 0" jqe '.data.status == "done" and .data.result.exit_status == 0 and .data.result.runner == "claude-code"' "$res"
	t_check "its Write tool edited the workspace; the diff came back" sh -c "jq -r .data.result.diff '$res' | grep -q '^+hello from claude' && jq -e '.data.result.files_changed == 1 and .data.result.files[0].path == \"hello.txt\"' '$res' >/dev/null"
	t_check "summary and usage parsed from stream-json" jqe '(.data.result.summary | type == "string" and length > 0) and .data.usage.turns >= 2 and (.data.usage.output_tokens | type == "number")' "$res"
	t_check "the double (which accepts only the scoped key) completed the requests" sh -c "curl -s http://127.0.0.1:$cport/stats | grep -q '\"completed\"'"
else
	fail "no result from the claude-code step"
	tail -20 "$JIDO_HOME/executor.log"
fi
kill "$sub" 2>/dev/null; wait "$sub" 2>/dev/null
t_check "its events streamed on logs.pub, key redacted" sh -c "grep -q '\"stream\":\"stdout\"' '$JIDO_HOME/logs.txt' && grep -q tool_use '$JIDO_HOME/logs.txt' && ! grep -q '$KEY' '$JIDO_HOME/logs.txt'"
t_check "no seccomp kill in the executor" sh -c "! grep -q SIGSYS '$JIDO_HOME/executor.log' && kill -0 $ex"
kill -TERM "$ex"; wait "$ex"
t_check "executor stops cleanly (no leak under ASan)" test $? -eq 0
kill "$fp" "$dbl" "$fwd" 2>/dev/null
wait 2>/dev/null
t_done
