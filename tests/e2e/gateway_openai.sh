#!/usr/bin/env bash
# gateway_openai.sh - jido-gateway's OpenAI-compatible side against the OpenAI double:
# /v1/chat/completions and /v1/responses, whole and streamed (the gateway asks for the
# final usage chunk itself), /v1/models, the Bearer key swap, usage equal to what the
# double reported, errors in OpenAI's format, failover between two OpenAI upstreams.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { fail "node is needed for the provider doubles"; t_done; }
P1=$(t_free_port); C1=$(t_free_port); P2=$(t_free_port); C2=$(t_free_port)
REAL=sk-oai-real-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$REAL" >"$JIDO_HOME/openai.key"
chmod 600 "$JIDO_HOME/openai.key"
DPIDS=""
for pc in "$P1 $C1" "$P2 $C2"; do
	set -- $pc
	node "$top/tests/doubles/openai/double.js" --port "$1" --control-port "$2" --key "$REAL" >>"$JIDO_HOME/d.log" 2>&1 &
	DPIDS="$DPIDS $!"
done
GPID=""
cleanup_gw() {
	[ -n "$GPID" ] && kill -TERM "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	for p in $DPIDS; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup_gw EXIT
cat >"$JIDO_HOME/jido.conf" <<CONF
gateway.upstreams = o1,openai,http://127.0.0.1:$P1,1,file:$JIDO_HOME/openai.key;o2,openai,http://127.0.0.1:$P2,2,file:$JIDO_HOME/openai.key
gateway.read_timeout_ms = 1000
CONF
d_ready() { curl -sf "http://127.0.0.1:$1/stats" >/dev/null; }
t_wait 10 d_ready "$C1" && t_wait 10 d_ready "$C2" || { fail "doubles start"; t_done; }
jido-gateway serve >"$JIDO_HOME/gw.out" 2>"$JIDO_HOME/gw.log" &
GPID=$!
SOCK=$JIDO_HOME/run/gateway-http.sock
gw_ready() { curl -sf --unix-socket "$SOCK" http://gw/health >/dev/null; }
t_check "gateway up" t_wait 10 gw_ready
dstat() { curl -s "http://127.0.0.1:$1/stats"; }
KEY=$(jido call gateway gateway.keys.create '{"run_id":"run-o","expires_s":600}' | jq -r .key)
# req PATH BODY [curl args]: prints body then status
req() {
	local path=$1 body=$2
	shift 2
	curl -s --unix-socket "$SOCK" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
	    -w '\n%{http_code}' --data-binary "$body" "$@" "http://gw$path"
}
CHAT='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"PROMPT-CANARY hi"}]}'
SCHAT='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"PROMPT-CANARY hi"}]}'
RESP='{"model":"gpt-4o-mini","input":"PROMPT-CANARY hi"}'
SRESP='{"model":"gpt-4o-mini","input":"PROMPT-CANARY hi","stream":true}'

r=$(req /v1/chat/completions "$CHAT")
t_check "chat completion (whole)" sh -c "[ '$(echo "$r" | tail -n1)' = 200 ] && echo '$(echo "$r" | sed '$d')' | jq -e '.object == \"chat.completion\" and .usage.prompt_tokens > 0' >/dev/null"
r=$(req /v1/chat/completions "$SCHAT" -N)
t_check "chat completion (stream) ends with a usage chunk and [DONE] (include_usage added by the gateway)" sh -c "echo '$r' | grep -q '\"choices\":\[\],.*\"usage\":{' && echo '$r' | grep -q 'data: \[DONE\]'"
r=$(req /v1/responses "$RESP")
t_check "responses (whole)" sh -c "[ '$(echo "$r" | tail -n1)' = 200 ] && echo '$(echo "$r" | sed '$d')' | jq -e '.object == \"response\" and .usage.input_tokens > 0' >/dev/null"
r=$(req /v1/responses "$SRESP" -N)
t_check "responses (stream) ends with response.completed" sh -c "echo '$r' | grep -q 'event: response.completed'"
r=$(curl -s --unix-socket "$SOCK" -H "Authorization: Bearer $KEY" -w '\n%{http_code}' http://gw/v1/models)
t_check "GET /v1/models (OpenAI style)" sh -c "[ '$(echo "$r" | tail -n1)' = 200 ] && echo '$(echo "$r" | sed '$d')' | jq -e '.object == \"list\"' >/dev/null"
d=$(dstat "$C1")
u=$(jido call gateway gateway.usage '{"run_id":"run-o"}')
t_check "the double saw only the real key" sh -c "echo '$d' | jq -e '(.keysSeen | keys) == [\"$REAL\"]' >/dev/null"
t_check "usage equals the double's (input = uncached + cached)" sh -c "
	[ \$(echo '$u' | jq '.totals.requests') -eq 4 ] &&
	[ \$(echo '$u' | jq '.totals.input_tokens + .totals.cache_read_tokens') -eq \$(echo '$d' | jq '.usage.input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.cache_read_tokens') -eq \$(echo '$d' | jq '.usage.cache_read_input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.output_tokens') -eq \$(echo '$d' | jq '.usage.output_tokens') ]"
t_check "priced with the gpt-4o-mini entry" sh -c "echo '$u' | jq -e 'all(.records[]; .price.entry == \"gpt-4o-mini\" and .cost_musd > 0)' >/dev/null"
r=$(req /v1/chat/completions '{"model":')
t_check "malformed body -> 400 in OpenAI's format" sh -c "[ '$(echo "$r" | tail -n1)' = 400 ] && echo '$(echo "$r" | sed '$d')' | jq -e '.error.type == \"invalid_request_error\" and has(\"type\") == false' >/dev/null"
r=$(curl -s --unix-socket "$SOCK" -w '\n%{http_code}' --data-binary "$CHAT" http://gw/v1/chat/completions)
t_check "missing key -> 401 invalid_api_key" sh -c "[ '$(echo "$r" | tail -n1)' = 401 ] && echo '$(echo "$r" | sed '$d')' | jq -e '.error.code == \"invalid_api_key\"' >/dev/null"
curl -s -d '{"mode":"500","count":1}' "http://127.0.0.1:$C1/mode" >/dev/null
r=$(req /v1/chat/completions "$SCHAT" -N)
t_check "o1 answers 500 -> o2 streams the answer" sh -c "echo '$r' | grep -q 'data: \[DONE\]' && [ \$(curl -s http://127.0.0.1:$C2/stats | jq .completed) -eq 1 ]"
t_check "no key or prompt in the log" sh -c "! grep -qE 'jgw_|$REAL|PROMPT-CANARY' '$JIDO_HOME/gw.log'"
t_check "the gateway is alive (no seccomp kill)" kill -0 "$GPID"
t_done
