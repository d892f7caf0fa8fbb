# ops_channel.sh - the MCP channels for tests/e2e/ops.sh (OPS_EXTRA_CHANNELS=this file):
# every table operation is also called as its MCP tool with the official SDK client
# (tests/mcp/call.mjs), over stdio (`jido mcp`, with mcp.allow_approvals on: the owner's
# setting, so approvals answer as on the other channels) and over Streamable HTTP
# (POST /mcp with the same admin token). Sourced by ops.sh: uses its $top, $W, $TOKEN,
# $JIDO_BIN, $JIDO_HOME and code_exit. For mcp_http's approvals to answer as on REST the
# stack must run with JIDO_MCP_ALLOW_APPROVALS=true (off, they are policy_violation by
# design). audit.tail/verify/export differ on MCP by design: every MCP call is audited,
# reads too, so the log grows between the channels' calls.
sh "$top/tests/mcp/ensure.sh" || fail "npm packages for tests/mcp"
# mcp_answer: call.mjs's result -> the answer JSON, or {"error":"<code>"} and its exit code
mcp_answer() {
	local rc=$1 k
	if [ "$rc" -eq 0 ]; then cat "$JIDO_HOME/mcp.out"; return 0; fi
	k=$(jq -r '.error.code // "internal"' "$JIDO_HOME/mcp.out" 2>/dev/null)
	[ -n "$k" ] || k=internal
	echo "{\"error\":\"$k\"}"
	return "$(code_exit "$k")"
}
ch_mcp() {
	JIDO_MCP_ALLOW_APPROVALS=true node "$top/tests/mcp/call.mjs" stdio "$JIDO_BIN" "${1//./_}" "$2" >"$JIDO_HOME/mcp.out" 2>>"$JIDO_HOME/mcp.err"
	mcp_answer $?
}
ch_mcp_http() {
	node "$top/tests/mcp/call.mjs" http "$W/mcp" "$TOKEN" "${1//./_}" "$2" >"$JIDO_HOME/mcp.out" 2>>"$JIDO_HOME/mcp.err"
	mcp_answer $?
}
OPS_CHANNELS="$OPS_CHANNELS mcp mcp_http"
