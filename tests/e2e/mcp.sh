#!/usr/bin/env bash
# mcp.sh - the MCP server end to end with the official MCP TypeScript SDK client
# (tests/mcp/client.mjs, @modelcontextprotocol/sdk pinned in tests/mcp/package-lock.json)
# against the real stack: over stdio (`jido mcp`) and over Streamable HTTP (POST /mcp on
# jido-web with an API token): tools and resources listed, a read-only tool, a resource,
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

# --- stdio, approvals on (the owner's setting; a new jido mcp reads it)
JIDO_MCP_ALLOW_APPROVALS=true node "$CLIENT" stdio "$JIDO_BIN" acme/widget mcp_approve accepted 2>>"$JIDO_HOME/mcp-stdio.err" | tee "$JIDO_HOME/stdio2.out" | grep -E '^(PASS|FAIL):'
t_check "stdio client (approvals on) finished" grep -q '^RUN: r_' "$JIDO_HOME/stdio2.out"
rid=$(sed -n 's/^RUN: //p' "$JIDO_HOME/stdio2.out")
t_check "the planner recorded the approval with channel mcp" sh -c "jido call auditor audit.query '{\"channel\":\"mcp\",\"run_id\":\"$rid\",\"limit\":1000}' | jq -e '[.records[] | select(.action | test(\"approve\"))] | length >= 2' >/dev/null"

t_stop_stack
grep -q 'SIGSYS\|signal 31' "$JIDO_HOME/up.log" && fail "a seccomp kill in the stack's log"
t_done
