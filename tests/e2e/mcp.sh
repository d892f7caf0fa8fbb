#!/usr/bin/env bash
# mcp.sh - the MCP server end to end with the official MCP TypeScript SDK client
# (tests/mcp/client.mjs, @modelcontextprotocol/sdk pinned in tests/mcp/package-lock.json)
# against the real stack: over stdio (`jido mcp`) and over Streamable HTTP (POST /mcp on
# jido-web with an API token): tools and resources listed, a read-only tool, a resource,
# a run's artifacts as resources (tests/mcp/artifacts.mjs: text, base64 blob, versions),
# a run kicked off and followed with progress, an approve call refused while
# mcp.allow_approvals is off and accepted once the owner turned it on; every call audited
# with channel mcp; the HTTP transport's session, version, Accept and Origin checks.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
sh "$top/tests/mcp/ensure.sh" || { fail "npm packages for tests/mcp"; t_done; }
CLIENT="$top/tests/mcp/client.mjs"
PORT=$(t_free_port)
W="http://127.0.0.1:$PORT"
export JIDO_WEB_LISTEN="127.0.0.1:$PORT" JIDO_INGEST_LISTEN="127.0.0.1:$(t_free_port)"
mkdir -p "$JIDO_HOME/workflows"
# A workflow that parks for approval at once: no agent, no GitHub needed.
cat >"$JIDO_HOME/workflows/mcp_approve.json" <<'EOF'
{"name": "mcp_approve", "version": 1, "steps": [
 {"id": "approve", "kind": "approval", "timeout_s": 3600}]}
EOF
stack() { if t_start_stack 20; then pass "stack up ($1)"; else fail "stack up ($1)"; tail -20 "$JIDO_HOME/up.log"; t_done; fi; }
stack "approvals off"
jido call planner planner.projects.import '{"repos":["acme/widget"]}' >/dev/null || fail "import a project"

# --- stdio, approvals off
node "$CLIENT" stdio "$JIDO_BIN" acme/widget mcp_approve refused 2>"$JIDO_HOME/mcp-stdio.err" | tee "$JIDO_HOME/stdio1.out" | grep -E '^(PASS|FAIL):'
t_check "stdio client finished" grep -q '^RUN: r_' "$JIDO_HOME/stdio1.out"
t_check "jido mcp wrote only JSON log lines to stderr" sh -c "grep -v '^{' '$JIDO_HOME/mcp-stdio.err' | grep -v '^\$' | wc -l | grep -qx 0"
audit_has() { jido call auditor audit.query "{\"channel\":\"mcp\",\"action\":\"$1\",\"limit\":1000}" | jq -e "[.records[] | select(.result == \"$2\")] | length > 0" >/dev/null; }
t_check "MCP calls are audited with channel mcp (kickoff ok)" audit_has mcp.tool.runs_kickoff ok
t_check "the refused approve is audited as refused" audit_has mcp.tool.approvals_approve refused

# --- the owner sets up the web and makes API tokens
J="$JIDO_HOME/jar"
csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
get() { curl -s -b "$J" -c "$J" "$W$1"; }
tok=$(get /setup | csrf)
curl -s -o /dev/null -b "$J" -c "$J" -X POST --data "csrf=$tok&step=password&password=correct-horse-1&password2=correct-horse-1" "$W/setup"
tok=$(get /setup | csrf)
c=$(curl -s -o /dev/null -w '%{http_code}' -b "$J" -c "$J" -X POST --data "csrf=$tok&step=import&repos=acme%2Fwidget" "$W/setup")
t_check "owner setup finished" test "$c" = 303
mk_token() { # name scopes... -> token text
	local q="csrf=$(get /settings/api | csrf)&name=$1&expires_days=30"
	shift
	for s in "$@"; do q="$q&scope_$s=1"; done
	curl -s -b "$J" -c "$J" -X POST --data "$q" "$W/settings/api/tokens" | grep -o 'id="new-token">jido_[0-9a-f]*' | sed 's/.*>//'
}
AGENT=$(mk_token agent read run approve)
READER=$(mk_token reader read)
t_check "API tokens for an agent (read, run, approve) and a reader" sh -c "[ ${#AGENT} -eq 53 ] && [ ${#READER} -eq 53 ]"

# --- Streamable HTTP, approvals off
node "$CLIENT" http "$W/mcp" "$AGENT" acme/widget mcp_approve refused 2>"$JIDO_HOME/mcp-http.err" | tee "$JIDO_HOME/http1.out" | grep -E '^(PASS|FAIL):'
t_check "HTTP client finished" grep -q '^RUN: r_' "$JIDO_HOME/http1.out"
grep -v '^\s*$' "$JIDO_HOME/mcp-http.err" | head -5

# --- the same operation gives the same result over the CLI, REST and MCP (stdio and HTTP)
rid1=$(sed -n 's/^RUN: //p' "$JIDO_HOME/http1.out")
pid=$(jido --json projects | jq '.projects[] | select(.full_name == "acme/widget") | .id')
# --- the run's artifacts as resources: text (two versions), binary, one too large
A_DIR=$JIDO_HOME/art
mkdir -p "$A_DIR"
printf '# notes v1\n' >"$A_DIR/n1"; printf '# notes v2: caf\xc3\xa9\n' >"$A_DIR/n2"
head -c 3000 /dev/urandom >"$A_DIR/pic"; head -c $((9 * 1024 * 1024)) /dev/zero >"$A_DIR/big"
jido artifacts put "$rid1" notes.md --from-file "$A_DIR/n1" --kind report --type text/markdown >/dev/null &&
    jido artifacts put "$rid1" notes.md --from-file "$A_DIR/n2" --kind report --type text/markdown >/dev/null &&
    jido artifacts put "$rid1" pic.png --from-file "$A_DIR/pic" --kind other --type image/png >/dev/null &&
    jido artifacts put "$rid1" big.bin --from-file "$A_DIR/big" --kind other >/dev/null || fail "put the test artifacts"
sha() { sha256sum "$1" | cut -d' ' -f1; }
EXPECT=$(jq -nc --arg n1 "$(sha "$A_DIR/n1")" --arg n2 "$(sha "$A_DIR/n2")" --arg p "$(sha "$A_DIR/pic")" \
    '{items: [{name: "notes.md", sha256: $n2, as: "text", mimeType: "text/markdown"},
              {name: "notes.md", version: 1, sha256: $n1, as: "text", mimeType: "text/markdown"},
              {name: "pic.png", sha256: $p, as: "blob", mimeType: "image/png"}], too_large: "big.bin"}')
node "$top/tests/mcp/artifacts.mjs" stdio "$JIDO_BIN" "$rid1" "$EXPECT" | tee "$JIDO_HOME/art-stdio.out" | grep -E '^(PASS|FAIL):'
node "$top/tests/mcp/artifacts.mjs" http "$W/mcp" "$READER" "$rid1" "$EXPECT" | tee "$JIDO_HOME/art-http.out" | grep -E '^(PASS|FAIL):'
t_check "artifact resources read over stdio and HTTP (a read-only token)" sh -c "[ \$(grep -c '^PASS' '$JIDO_HOME/art-stdio.out') -ge 11 ] && [ \$(grep -c '^PASS' '$JIDO_HOME/art-http.out') -ge 11 ] && ! grep -q '^FAIL' '$JIDO_HOME/art-stdio.out' '$JIDO_HOME/art-http.out'"
t_check "artifact reads are audited with channel mcp" sh -c "jido call auditor audit.query '{\"channel\":\"mcp\",\"action\":\"mcp.resource.read\",\"limit\":1000}' | jq -e '[.records[] | select(.subject | test(\"artifacts/pic.png\"))] | length >= 2' >/dev/null"
CALL="$top/tests/mcp/call.mjs"
same() { # TOOL ARGS_JSON REST_PATH CLI_WORDS...
	local tool=$1 args=$2 path=$3
	shift 3
	jido --json "$@" | jq -S . >"$JIDO_HOME/p.cli" 2>/dev/null
	curl -s -H "Authorization: Bearer $AGENT" "$W$path" | jq -S . >"$JIDO_HOME/p.rest"
	node "$CALL" stdio "$JIDO_BIN" "$tool" "$args" | jq -S . >"$JIDO_HOME/p.stdio"
	node "$CALL" http "$W/mcp" "$AGENT" "$tool" "$args" | jq -S . >"$JIDO_HOME/p.http"
	[ -s "$JIDO_HOME/p.cli" ] && cmp -s "$JIDO_HOME/p.cli" "$JIDO_HOME/p.rest" &&
	    cmp -s "$JIDO_HOME/p.cli" "$JIDO_HOME/p.stdio" && cmp -s "$JIDO_HOME/p.cli" "$JIDO_HOME/p.http"
}
t_check "projects.list: CLI = REST = MCP stdio = MCP HTTP" same projects_list '{}' /api/v1/projects projects
t_check "projects.get: the same on every channel" same projects_get "{\"project\":$pid}" "/api/v1/projects/$pid" projects show "$pid"
t_check "runs.get: the same on every channel" same runs_get "{\"run\":\"$rid1\"}" "/api/v1/runs/$rid1" run show "$rid1"
t_check "approvals.list: the same on every channel" same approvals_list '{}' /api/v1/approvals approvals
t_check "settings.shipping.get: the same on every channel" same settings_shipping_get '{}' /api/v1/shipping shipping

# --- the HTTP transport's own checks (raw requests)
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
# mcp TOKEN [curl args...]: status into $code, body and headers in files
mcp() {
	local t=$1; shift
	code=$(curl -s -o "$JIDO_HOME/body" -D "$JIDO_HOME/hdr" -w '%{http_code}' -H "Authorization: Bearer $t" "$@" "$W/mcp")
}
A=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
code=$(curl -s -o /dev/null -w '%{http_code}' "${A[@]}" --data "$INIT" "$W/mcp")
t_check "no bearer token: 401" test "$code" = 401
mcp "$READER" "${A[@]}" --data "$INIT"
SID=$(grep -i '^mcp-session-id:' "$JIDO_HOME/hdr" | cut -d' ' -f2 | tr -d '\r')
t_check "initialize: 200, Mcp-Session-Id issued, 2025-03-26 accepted" sh -c "[ $code = 200 ] && [ ${#SID} -eq 64 ] && jq -e '.result.protocolVersion == \"2025-03-26\"' '$JIDO_HOME/body' >/dev/null"
mcp "$READER" -H 'Content-Type: application/json' -H 'Accept: application/json' --data "$INIT"
t_check "Accept without text/event-stream: 406" test "$code" = 406
mcp "$READER" "${A[@]}" -H 'Origin: http://evil.example' --data "$INIT"
t_check "a foreign Origin: 403" test "$code" = 403
mcp "$READER" "${A[@]}" --data '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
t_check "no Mcp-Session-Id after initialize: 400" test "$code" = 400
mcp "$READER" "${A[@]}" -H "Mcp-Session-Id: $(printf '0%.0s' $(seq 64))" --data '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
t_check "unknown session: 404" test "$code" = 404
mcp "$AGENT" "${A[@]}" -H "Mcp-Session-Id: $SID" --data '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'
t_check "another token's session: 404" test "$code" = 404
S=(-H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-03-26')
mcp "$READER" "${A[@]}" "${S[@]}" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
t_check "a notification: 202" test "$code" = 202
mcp "$READER" "${A[@]}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 1999-01-01' --data '{"jsonrpc":"2.0","id":3,"method":"tools/list"}'
t_check "unsupported MCP-Protocol-Version: 400" test "$code" = 400
mcp "$READER" "${A[@]}" "${S[@]}" --data '{"jsonrpc":"2.0","id":3,"method":"no/such"}'
t_check "unknown method: -32601" sh -c "[ $code = 200 ] && jq -e '.error.code == -32601 and .id == 3' '$JIDO_HOME/body' >/dev/null"
mcp "$READER" "${A[@]}" "${S[@]}" --data '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"runs_kickoff","arguments":{"project":"acme/widget","workflow":"mcp_approve"}}}'
t_check "a read token cannot kick off a run (tool error authorization_error)" sh -c "jq -e '.result.isError == true and .result.structuredContent.error.code == \"authorization_error\"' '$JIDO_HOME/body' >/dev/null"
mcp "$READER" "${A[@]}" "${S[@]}" --data '{not json'
t_check "malformed JSON: 400 with -32700" sh -c "[ $code = 400 ] && jq -e '.error.code == -32700' '$JIDO_HOME/body' >/dev/null"
mcp "$READER" "${A[@]}" "${S[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"runs_follow\",\"arguments\":{\"run\":\"$rid1\",\"timeout_s\":1,\"until\":\"finished\"},\"_meta\":{\"progressToken\":\"t1\"}}}"
t_check "runs_follow with a progress token: an SSE answer, progress first, then the result" sh -c "grep -qi '^content-type: text/event-stream' '$JIDO_HOME/hdr' && grep '^data: ' '$JIDO_HOME/body' | head -1 | grep -q 'notifications/progress' && grep '^data: ' '$JIDO_HOME/body' | tail -1 | sed 's/^data: //' | jq -e '.id == 6 and .result.structuredContent.state == \"awaiting_approval\"' >/dev/null"
mcp "$READER" -X GET -H 'Accept: text/event-stream' "${S[@]}"
t_check "GET /mcp: 405 (no server stream)" test "$code" = 405
mcp "$READER" -X DELETE "${S[@]}"
t_check "DELETE ends the session (204)" test "$code" = 204
mcp "$READER" "${A[@]}" "${S[@]}" --data '{"jsonrpc":"2.0","id":5,"method":"ping"}'
t_check "  and it is gone (404)" test "$code" = 404
t_check "HTTP MCP calls are audited with channel mcp and the token as actor" sh -c "jido call auditor audit.query '{\"channel\":\"mcp\",\"action\":\"mcp.tool.runs_kickoff\",\"limit\":1000}' | jq -e '[.records[] | select(.actor | startswith(\"api-token:\"))] | length >= 2' >/dev/null"

# --- a follow still streaming when the web stops: the stream is closed, nothing leaks
mcp "$AGENT" "${A[@]}" --data "$INIT"
SID2=$(grep -i '^mcp-session-id:' "$JIDO_HOME/hdr" | cut -d' ' -f2 | tr -d '\r')
curl -s -N -o "$JIDO_HOME/long.sse" -H "Authorization: Bearer $AGENT" "${A[@]}" -H "Mcp-Session-Id: $SID2" \
    --data "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":\"runs_follow\",\"arguments\":{\"run\":\"$rid1\",\"until\":\"finished\"},\"_meta\":{\"progressToken\":9}}}" "$W/mcp" &
LONG=$!
t_wait 5 grep -q 'notifications/progress' "$JIDO_HOME/long.sse" || fail "the long follow streams"

# --- the owner turns approvals over MCP on (jido.conf), restarts the stack
t_stop_stack
wait $LONG 2>/dev/null
t_check "the web stopped with a follow streaming: exit 0, no sanitizer report" sh -c "grep 'up.exited' '$JIDO_HOME/up.log' | grep '\"name\":\"web\"' | grep -q 'status 0' && ! grep -q 'Sanitizer' '$JIDO_HOME/up.log'"
echo "mcp.allow_approvals = true" >>"$JIDO_HOME/jido.conf"
stack "approvals on"

# --- stdio and HTTP, approvals on
node "$CLIENT" stdio "$JIDO_BIN" acme/widget mcp_approve accepted 2>>"$JIDO_HOME/mcp-stdio.err" | tee "$JIDO_HOME/stdio2.out" | grep -E '^(PASS|FAIL):'
t_check "stdio client (approvals on) finished" grep -q '^RUN: r_' "$JIDO_HOME/stdio2.out"
rid=$(sed -n 's/^RUN: //p' "$JIDO_HOME/stdio2.out")
t_check "the planner recorded the approval with channel mcp" sh -c "jido call auditor audit.query '{\"channel\":\"mcp\",\"run_id\":\"$rid\",\"limit\":1000}' | jq -e '[.records[] | select(.action | test(\"approve\"))] | length >= 2' >/dev/null"

node "$CLIENT" http "$W/mcp" "$AGENT" acme/widget mcp_approve accepted 2>>"$JIDO_HOME/mcp-http.err" | tee "$JIDO_HOME/http2.out" | grep -E '^(PASS|FAIL):'
t_check "HTTP client (approvals on) finished" grep -q '^RUN: r_' "$JIDO_HOME/http2.out"

t_stop_stack
grep -q 'SIGSYS\|signal 31' "$JIDO_HOME/up.log" && fail "a seccomp kill in the stack's log"
t_done
