#!/usr/bin/env bash
# gateway_claude.sh - acceptance: the real Claude Code CLI (npm @anthropic-ai/claude-code,
# pinned in tests/npm), given only the gateway's URL and a scoped key, completes a
# tool-using session (the Anthropic double asks it to run Bash; it does, and reports back)
# through jido-gateway; the double sees only the real key, and the run's recorded usage
# equals what the double reported. tests/npm/node_modules is installed with `npm ci` when
# missing; when that is impossible (no registry) the test says SKIP, neither PASS nor FAIL.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 0; }
npmdir=$top/tests/npm
if [ ! -d "$npmdir/node_modules/@anthropic-ai" ]; then
	# the platform binary comes as an optional dependency; its postinstall is not needed
	(cd "$npmdir" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
		{ echo "SKIP: cannot install @anthropic-ai/claude-code from the npm registry"; exit 0; }
fi
CLAUDE=$(ls "$npmdir"/node_modules/@anthropic-ai/claude-code-linux-*/claude 2>/dev/null | head -n 1)
[ -x "$CLAUDE" ] || { echo "SKIP: no Claude Code binary for this platform"; exit 0; }

P1=$(t_free_port); C1=$(t_free_port); GP=$(t_free_port)
REAL=sk-ant-real-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$REAL" >"$JIDO_HOME/anthropic.key"
chmod 600 "$JIDO_HOME/anthropic.key"
node "$top/tests/doubles/anthropic/double.js" --port "$P1" --control-port "$C1" --key "$REAL" >"$JIDO_HOME/d.log" 2>&1 &
DPID=$!
GPID=""
cleanup_gw() {
	[ -n "$GPID" ] && kill -TERM "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	kill "$DPID" 2>/dev/null
	t_cleanup
}
trap cleanup_gw EXIT
cat >"$JIDO_HOME/jido.conf" <<CONF
gateway.upstreams = a1,anthropic,http://127.0.0.1:$P1,1,file:$JIDO_HOME/anthropic.key
gateway.listen = 127.0.0.1:$GP
CONF
d_ready() { curl -sf "http://127.0.0.1:$C1/stats" >/dev/null; }
t_wait 10 d_ready || { fail "double start"; t_done; }
jido-gateway serve >"$JIDO_HOME/gw.out" 2>"$JIDO_HOME/gw.log" &
GPID=$!
gw_ready() { curl -sf "http://127.0.0.1:$GP/health" >/dev/null; }
t_wait 10 gw_ready || { fail "gateway start"; t_done; }
KEY=$(jido call gateway gateway.keys.create '{"run_id":"run-cc","project":"acme/app","expires_s":600,"budget_usd":5}' | jq -r .key)

mkdir -p "$JIDO_HOME/work" "$JIDO_HOME/claude-home"
(cd "$JIDO_HOME/work" && HOME=$JIDO_HOME/claude-home ANTHROPIC_BASE_URL=http://127.0.0.1:$GP \
    ANTHROPIC_API_KEY=$KEY DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 timeout 120 "$CLAUDE" -p "Run the command that writes proof.txt" \
    --allowedTools Bash --model claude-sonnet-4-5-20250929 --output-format json \
    >"$JIDO_HOME/cc.out" 2>"$JIDO_HOME/cc.err")
rc=$?
t_check "claude -p exits 0 with a success result" sh -c "[ $rc -eq 0 ] && jq -e '.subtype == \"success\" and .is_error == false and .num_turns >= 2' '$JIDO_HOME/cc.out' >/dev/null"
t_check "the tool ran (Bash wrote proof.txt in the working directory)" grep -q jido-gateway-ok "$JIDO_HOME/work/proof.txt"
d=$(curl -s "http://127.0.0.1:$C1/stats")
t_check "the double saw only the real key" sh -c "echo '$d' | jq -e '(.keysSeen | keys) == [\"$REAL\"] and .badKeys == 0 and .completed >= 2' >/dev/null"
u=$(jido call gateway gateway.usage '{"run_id":"run-cc"}')
t_check "the run's recorded usage equals what the double reported" sh -c "
	[ \$(echo '$u' | jq '.totals.input_tokens') -eq \$(echo '$d' | jq '.usage.input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.output_tokens') -eq \$(echo '$d' | jq '.usage.output_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.cache_read_tokens') -eq \$(echo '$d' | jq '.usage.cache_read_input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.cache_write_tokens') -eq \$(echo '$d' | jq '.usage.cache_creation_input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.requests') -eq \$(echo '$d' | jq '.completed') ]"
t_check "Claude Code's own usage report agrees" sh -c "[ \$(jq '.usage.input_tokens' '$JIDO_HOME/cc.out') -eq \$(echo '$u' | jq '.totals.input_tokens') ]"
t_check "no scoped key, real key or prompt in the gateway's log" sh -c "! grep -qE 'jgw_|$REAL|proof.txt' '$JIDO_HOME/gw.log'"
t_done
