#!/usr/bin/env bash
# gateway.sh - jido-gateway end to end against two Anthropic doubles (tests/doubles):
# scoped keys (create, hash-only storage, unknown/revoked/expired -> 401, budgets -> 429
# naming the budget), the key swap (the double sees only the real key), streaming and
# whole answers on the unix socket and loopback TCP, usage equal to what the double
# reported, 4xx in Anthropic's format with nothing forwarded, failover on refused
# connections, 500, 429 and stalls, the breaker opening after 3 failures and its
# half-open trial, no retry once streaming began, a client disconnect cancelling the
# upstream stream, backpressure for a client that does not read, gateway.metrics and the
# web's /metrics from this gateway, no secrets or prompts in the log, no seccomp kill.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v node >/dev/null || { fail "node is needed for the provider doubles"; t_done; }

P1=$(t_free_port); C1=$(t_free_port); P2=$(t_free_port); C2=$(t_free_port); GP=$(t_free_port)
REAL=sk-ant-real-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$REAL" >"$JIDO_HOME/anthropic.key"
chmod 600 "$JIDO_HOME/anthropic.key"
DPIDS=""
node "$top/tests/doubles/anthropic/double.js" --port "$P1" --control-port "$C1" --key "$REAL" >"$JIDO_HOME/d1.log" 2>&1 &
DPIDS="$DPIDS $!"
node "$top/tests/doubles/anthropic/double.js" --port "$P2" --control-port "$C2" --key "$REAL" >"$JIDO_HOME/d2.log" 2>&1 &
DPIDS="$DPIDS $!"
GPID=""
cleanup_gw() {
	[ -n "$GPID" ] && kill -TERM "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	for p in $DPIDS; do kill "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup_gw EXIT

cat >"$JIDO_HOME/jido.conf" <<CONF
gateway.upstreams = a1,anthropic,http://127.0.0.1:$P1,1,file:$JIDO_HOME/anthropic.key;a2,anthropic,http://127.0.0.1:$P2,2,file:$JIDO_HOME/anthropic.key
gateway.listen = 127.0.0.1:$GP
gateway.read_timeout_ms = 1000
gateway.connect_timeout_ms = 1000
gateway.breaker_cooldown_s = 3
gateway.stream_buffer = 262144
CONF
d_ready() { curl -sf "http://127.0.0.1:$1/stats" >/dev/null; }
t_wait 10 d_ready "$C1" && t_wait 10 d_ready "$C2" || { fail "doubles start"; t_done; }

jido-gateway serve >"$JIDO_HOME/gw.out" 2>"$JIDO_HOME/gw.log" &
GPID=$!
SOCK=$JIDO_HOME/run/gateway-http.sock
gw_ready() { curl -sf --unix-socket "$SOCK" http://gw/health >/dev/null; }
t_check "gateway serves HTTP on its unix socket" t_wait 10 gw_ready

call() { jido call gateway "$@"; }
dstat() { curl -s "http://127.0.0.1:$1/stats"; }
dmode() { curl -s -d "$2" "http://127.0.0.1:$1/mode" >/dev/null; }
dreq() { dstat "$1" | jq -r '.requests'; }
MSG='{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"messages":[{"role":"user","content":"PROMPT-CANARY say hi"}]}'
SMSG='{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"PROMPT-CANARY stream"}]}'
# post KEY BODY [curl args...]: POST /v1/messages over the unix socket; prints body, then the status
post() {
	local key=$1 body=$2
	shift 2
	curl -s --unix-socket "$SOCK" -H "x-api-key: $key" -H 'anthropic-version: 2023-06-01' \
	    -H 'content-type: application/json' -w '\n%{http_code}' --data-binary "$body" "$@" http://gw/v1/messages
}
status_of() { tail -n 1; }
body_of() { sed '$d'; }

# --- keys
out=$(call gateway.keys.create '{"run_id":"run-1","project":"acme/app","step":"code","expires_s":600}')
KEY=$(echo "$out" | jq -r .key)
KEY_ID=$(echo "$out" | jq -r .key_id)
t_check "keys.create returns jgw_ + 64 hex, a key_id and expires_at" sh -c "echo '$KEY' | grep -Eq '^jgw_[0-9a-f]{64}$' && echo '$out' | jq -e '.key_id and .expires_at > 0' >/dev/null"
t_check "the key is stored only as a hash" sh -c "! grep -qa '$KEY' '$JIDO_HOME/gateway.db'"
t_check "keys.create refuses a missing run_id (validation_error)" sh -c "jido call gateway gateway.keys.create '{\"expires_s\":5}' 2>&1 | grep -q 'validation_error.*run_id'"
t_check "keys.create refuses an unknown field" sh -c "jido call gateway gateway.keys.create '{\"run_id\":\"r\",\"expires_s\":5,\"x\":1}' 2>&1 | grep -q validation_error"

# --- a whole answer and a stream, key swapped
r=$(post "$KEY" "$MSG")
t_check "POST /v1/messages (whole) answers 200 with the double's message" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && echo '$(echo "$r" | body_of)' | jq -e '.type == \"message\" and .usage.input_tokens > 0' >/dev/null"
r=$(post "$KEY" "$SMSG" -N)
t_check "POST /v1/messages (stream) passes SSE through to message_stop" sh -c "echo '$r' | grep -q 'event: message_delta' && echo '$r' | grep -q 'event: message_stop' && [ '$(echo "$r" | status_of)' = 200 ]"
r=$(curl -s -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -w '\n%{http_code}' -N --data-binary "$SMSG" "http://127.0.0.1:$GP/v1/messages?beta=true")
t_check "loopback TCP with Authorization: Bearer and ?beta=true streams too" sh -c "echo '$r' | grep -q 'event: message_stop' && [ '$(echo "$r" | status_of)' = 200 ]"
r=$(curl -s --unix-socket "$SOCK" -H "x-api-key: $KEY" -w '\n%{http_code}' --data-binary "$MSG" http://gw/v1/messages/count_tokens)
t_check "count_tokens passes through" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && echo '$(echo "$r" | body_of)' | jq -e '.input_tokens > 0' >/dev/null"
r=$(curl -s --unix-socket "$SOCK" -H "x-api-key: $KEY" -w '\n%{http_code}' http://gw/v1/models)
t_check "GET /v1/models passes through" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && echo '$(echo "$r" | body_of)' | jq -e '.data | length > 0' >/dev/null"
t_check "the double saw only the real key, never the scoped one" sh -c "dstat() { curl -s http://127.0.0.1:$C1/stats; }; dstat | jq -e '(.keysSeen | keys) == [\"$REAL\"] and .badKeys == 0' >/dev/null"
u=$(call gateway.usage '{"run_id":"run-1"}')
d=$(dstat "$C1")
t_check "recorded usage equals what the double reported (whole and streamed)" sh -c "
	[ \$(echo '$u' | jq '.totals.requests') -eq 3 ] &&
	[ \$(echo '$u' | jq '.totals.input_tokens') -eq \$(echo '$d' | jq '.usage.input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.output_tokens') -eq \$(echo '$d' | jq '.usage.output_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.cache_read_tokens') -eq \$(echo '$d' | jq '.usage.cache_read_input_tokens') ] &&
	[ \$(echo '$u' | jq '.totals.cache_write_tokens') -eq \$(echo '$d' | jq '.usage.cache_creation_input_tokens') ]"
t_check "usage records carry run, project, step, model, upstream and a price snapshot" sh -c "echo '$u' | jq -e '.records | length == 3 and all(.[]; .run_id == \"run-1\" and .project == \"acme/app\" and .step == \"code\" and .upstream == \"a1\" and .model == \"claude-sonnet-4-5-20250929\" and .price.entry == \"claude-sonnet-4-5\" and .price.input == 3 and .cost_musd > 0 and .complete)' >/dev/null"
t_check "cost is tokens x snapshotted price" sh -c "echo '$u' | jq -e '.records[0] as \$r | ((\$r.input_tokens*3 + \$r.output_tokens*15 + \$r.cache_read_tokens*0.3 + \$r.cache_write_tokens*3.75) | round) == \$r.cost_musd' >/dev/null"

# --- bad input: clear 4xx in Anthropic's format, nothing forwarded
before=$(dreq "$C1")
r=$(post "$KEY" '{"model":"x","messages":[')
t_check "malformed body -> 400 invalid_request_error" sh -c "[ '$(echo "$r" | status_of)' = 400 ] && echo '$(echo "$r" | body_of)' | jq -e '.type == \"error\" and .error.type == \"invalid_request_error\"' >/dev/null"
r=$(curl -s --unix-socket "$SOCK" -w '\n%{http_code}' --data-binary "$MSG" http://gw/v1/messages)
t_check "missing key -> 401 authentication_error" sh -c "[ '$(echo "$r" | status_of)' = 401 ] && echo '$(echo "$r" | body_of)' | jq -e '.error.type == \"authentication_error\" and (.error.message | contains(\"missing\"))' >/dev/null"
head -c $((32 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$JIDO_HOME/big"
r=$(curl -s --unix-socket "$SOCK" -H "x-api-key: $KEY" -w '\n%{http_code}' --data-binary @"$JIDO_HOME/big" http://gw/v1/messages)
rm -f "$JIDO_HOME/big"
t_check "body over 32 MB -> 413 request_too_large" sh -c "[ '$(echo "$r" | status_of)' = 413 ] && echo '$(echo "$r" | body_of)' | jq -e '.error.type == \"request_too_large\"' >/dev/null"
r=$(post "jgw_$(printf '%064d' 0)" "$MSG")
t_check "unknown key -> 401" sh -c "[ '$(echo "$r" | status_of)' = 401 ]"
r=$(post "$KEY" '{"messages":[]}')
t_check "no model -> 400 naming model" sh -c "[ '$(echo "$r" | status_of)' = 400 ] && echo '$(echo "$r" | body_of)' | grep -q model"
t_check "none of the refused requests reached the double" [ "$(dreq "$C1")" = "$before" ]

# --- revocation, expiry, budgets
k2=$(call gateway.keys.create '{"run_id":"run-2","expires_s":600}' | jq -r .key)
t_check "a second run's key works" sh -c "[ \"\$(echo '$(post "$k2" "$MSG")' | tail -n 1)\" = 200 ]"
call gateway.keys.revoke '{"run_id":"run-2"}' >/dev/null
r=$(post "$k2" "$MSG")
t_check "revoked -> 401 at once" sh -c "[ '$(echo "$r" | status_of)' = 401 ] && echo '$(echo "$r" | body_of)' | grep -q revoked"
k3=$(call gateway.keys.create '{"run_id":"run-3","expires_s":1}' | jq -r .key)
sleep 1.2
r=$(post "$k3" "$MSG")
t_check "expired -> 401" sh -c "[ '$(echo "$r" | status_of)' = 401 ] && echo '$(echo "$r" | body_of)' | grep -q expired"
k4=$(call gateway.keys.create '{"run_id":"run-4","expires_s":600,"budget_tokens":20}' | jq -r .key)
post "$k4" "$MSG" >/dev/null
r=$(post "$k4" "$MSG")
t_check "over the token budget -> 429 naming the token budget" sh -c "[ '$(echo "$r" | status_of)' = 429 ] && echo '$(echo "$r" | body_of)' | jq -e '.error.type == \"rate_limit_error\" and (.error.message | contains(\"token budget\"))' >/dev/null"
k5=$(call gateway.keys.create '{"run_id":"run-5","expires_s":600,"budget_usd":0.0001}' | jq -r .key)
post "$k5" "$MSG" >/dev/null
r=$(post "$k5" "$MSG")
t_check "over the USD budget -> 429 naming the USD budget" sh -c "[ '$(echo "$r" | status_of)' = 429 ] && echo '$(echo "$r" | body_of)' | grep -q 'USD budget'"
t_check "keys.revoke needs run_id or key_id" sh -c "jido call gateway gateway.keys.revoke '{}' 2>&1 | grep -q validation_error"

# --- failover: refused, 500, 429 on a1 -> served by a2; then a1's breaker is open
brk() { call gateway.breakers | jq -r ".upstreams[] | select(.name == \"$1\") | .$2"; }
d2before=$(dreq "$C2")
dmode "$C1" '{"mode":"refuse"}'
r=$(post "$KEY" "$MSG")
t_check "a1 refuses connections -> served by a2" sh -c "[ '$(echo "$r" | status_of)' = 200 ]"
dmode "$C1" '{"mode":"500"}'
r=$(post "$KEY" "$SMSG" -N)
t_check "a1 answers 500 -> a2 streams the answer" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && echo '$r' | grep -q message_stop"
t_check "a1 still closed after 2 failures" [ "$(brk a1 state)" = closed ]
dmode "$C1" '{"mode":"429"}'
r=$(post "$KEY" "$MSG")
t_check "a1 answers 429 -> served by a2" sh -c "[ '$(echo "$r" | status_of)' = 200 ]"
t_check "a2 served all three" [ $(($(dreq "$C2") - d2before)) -eq 3 ]
t_check "after 3 failures a1's breaker is open with a next trial time" sh -c "[ '$(brk a1 state)' = open ] && [ '$(brk a1 next_trial_in_ms)' -gt 0 ]"
dmode "$C1" '{"mode":"ok"}'
a1before=$(dreq "$C1")
for i in 1 2 3; do post "$KEY" "$MSG" >/dev/null; done
t_check "while open, a1 gets no traffic" [ "$(dreq "$C1")" = "$a1before" ]
u=$(call gateway.usage '{"run_id":"run-1"}')
t_check "failed-over requests are attributed to a2 in usage" sh -c "echo '$u' | jq -e '[.records[] | select(.upstream == \"a2\")] | length >= 6' >/dev/null"
sleep 3.2
r=$(post "$KEY" "$MSG")
t_check "after the cool-down one trial goes to a1 and closes the breaker" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && [ $(dreq "$C1") -eq $((a1before + 1)) ] && [ '$(brk a1 state)' = closed ]"

# --- a stalled upstream times out and fails over
dmode "$C1" '{"mode":"stall","count":1}'
start=$(date +%s%N)
r=$(post "$KEY" "$MSG" --max-time 10)
ms=$((($(date +%s%N) - start) / 1000000))
t_check "a1 stalls -> read timeout, served by a2 ($ms ms)" sh -c "[ '$(echo "$r" | status_of)' = 200 ] && [ $ms -lt 5000 ]"

# --- once streaming began: no silent retry; a broken stream ends without message_stop
dmode "$C1" '{"mode":"slowstream"}'
d2before=$(dreq "$C2")
( sleep 1; curl -s -d '{"mode":"refuse"}' "http://127.0.0.1:$C1/mode" >/dev/null ) &
killer=$!
r=$(post "$KEY" "$SMSG" -N --max-time 10)
wait "$killer"
t_check "a1 dies mid-stream: the client sees the stream cut, a2 is not asked" sh -c "echo '$r' | grep -q message_start && ! echo '$r' | grep -q message_stop && [ $(dreq "$C2") -eq $d2before ]"
u=$(call gateway.usage '{"run_id":"run-1"}')
t_check "the cut stream is recorded as incomplete with its message_start usage" sh -c "echo '$u' | jq -e '.records[-1] | .streamed and (.complete | not) and .input_tokens > 0' >/dev/null"
dmode "$C1" '{"mode":"ok"}'
sleep 3.2 # let the breaker's trial come round if the cut opened it

# --- a client that goes away cancels the upstream stream
dmode "$C1" '{"mode":"slowstream"}'
ab=$(dstat "$C1" | jq .aborted)
post "$KEY" "$SMSG" -N --max-time 1 >/dev/null
aborted() { [ "$(curl -s "http://127.0.0.1:$C1/stats" | jq .aborted)" -gt "$ab" ]; }
t_check "client disconnect cancels the upstream request" t_wait 5 aborted
dmode "$C1" '{"mode":"ok"}'
u=$(call gateway.usage '{"run_id":"run-1"}')
t_check "the abandoned call is recorded (status 499, incomplete)" sh -c "echo '$u' | jq -e '.records[-1] | .status == 499 and (.complete | not)' >/dev/null"

# --- backpressure: a client that does not read makes the gateway stop reading the
# upstream once 256 KiB wait for it (gateway.stream_buffer), not buffer the 16 MiB stream
gm() { call gateway.metrics | jq -r ".$1"; }
paused0=$(gm streams_paused)
dmode "$C1" '{"mode":"bigstream","count":1}'
BIG='{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"big"}]}'
rm -f "$JIDO_HOME/go"
python3 "$top/tests/e2e/gateway_slow_client.py" "$SOCK" "$KEY" "$BIG" "$JIDO_HOME/go" >"$JIDO_HOME/slow.out" &
SLOW=$!
paused() { [ "$(gm streams_paused)" -gt "$paused0" ]; }
t_check "a client that does not read pauses its stream's upstream" t_wait 20 paused
sleep 1 # were nothing paused, the gateway would now hold most of the 16 MiB
peak=$(gm stream_buffer_peak)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$GPID/status")
t_check "what waits for the slow client stays near the limit (peak $peak bytes, RSS $rss kB)" sh -c "[ $peak -le $((262144 + 65536)) ] && [ $rss -lt 65536 ]"
t_check "while paused the call is still in flight (no read timeout)" [ "$(gm calls_in_flight)" = 1 ]
touch "$JIDO_HOME/go"
wait "$SLOW"
t_check "once the client reads, the whole stream arrives ($(cat "$JIDO_HOME/slow.out"))" sh -c "read n stop <'$JIDO_HOME/slow.out' && [ \$n -gt 16000000 ] && [ \$stop = True ]"
u=$(call gateway.usage '{"run_id":"run-1"}')
t_check "the slow stream is recorded complete" sh -c "echo '$u' | jq -e '.records[-1] | .streamed and .complete and .status == 200' >/dev/null"

# --- gateway.metrics and the web's /metrics, from the real gateway
m=$(call gateway.metrics)
u=$(call gateway.usage '{}')
t_check "gateway.metrics totals equal gateway.usage's" sh -c "[ \$(echo '$m' | jq .requests) -eq \$(echo '$u' | jq .totals.requests) ] && [ \$(echo '$m' | jq .output_tokens) -eq \$(echo '$u' | jq .totals.output_tokens) ] && [ \$(echo '$m' | jq .cost_musd) -eq \$(echo '$u' | jq .totals.cost_musd) ]"
t_check "gateway.metrics: per upstream usage and breakers" sh -c "echo '$m' | jq -e '([.by_upstream[] | select(.upstream == \"a2\") | .requests] | .[0] >= 6) and ([.upstreams[] | select(.name == \"a1\") | .opens] | .[0] >= 1) and (.errors >= 1)' >/dev/null"
t_check "gateway.metrics refuses data" sh -c "jido call gateway gateway.metrics '{\"x\":1}' 2>&1 | grep -q validation_error"
WP=$(t_free_port)
JIDO_WEB_LISTEN="127.0.0.1:$WP" JIDO_PROC_CRED=$(openssl rand -hex 32) jido-web serve 2>"$JIDO_HOME/web.log" &
WEBPID=$!
t_wait 10 curl -sf "http://127.0.0.1:$WP/healthz" >/dev/null
curl -s "http://127.0.0.1:$WP/metrics" >"$JIDO_HOME/metrics"
kill -TERM "$WEBPID"; wait "$WEBPID" 2>/dev/null
a2req=$(echo "$m" | jq '[.by_upstream[] | select(.upstream == "a2") | .requests] | .[0]')
t_check "/metrics: the gateway is up, its requests by upstream" sh -c "grep -q '^jido_process_up{process=\"gateway\"} 1' '$JIDO_HOME/metrics' && grep -q '^jido_gateway_requests_total{upstream=\"a2\"} $a2req\$' '$JIDO_HOME/metrics'"
t_check "/metrics: tokens, cost, breaker state and counts per upstream" sh -c "grep -q '^jido_gateway_tokens_total{upstream=\"a1\",kind=\"output\"} [1-9]' '$JIDO_HOME/metrics' && grep -q '^jido_gateway_cost_usd_total{upstream=\"a1\"} 0\.[0-9]*[1-9]' '$JIDO_HOME/metrics' && grep -q '^jido_gateway_breaker_state{upstream=\"a1\",state=\"closed\"} [01]' '$JIDO_HOME/metrics' && grep -q '^jido_gateway_upstream_opens_total{upstream=\"a1\"} [1-9]' '$JIDO_HOME/metrics' && grep -q '^jido_gateway_streams_paused_total [1-9]' '$JIDO_HOME/metrics'"
if command -v promtool >/dev/null; then
	t_check "promtool check metrics accepts /metrics" sh -c "promtool check metrics <'$JIDO_HOME/metrics'"
fi

# --- hygiene
t_check "the gateway is alive (no seccomp kill)" kill -0 "$GPID"
t_check "no key or prompt in the gateway's log" sh -c "! grep -qE 'jgw_|$REAL|PROMPT-CANARY' '$JIDO_HOME/gw.log'"
kill -TERM "$GPID"
wait "$GPID"
rc=$?
GPID=""
t_check "SIGTERM: exit 0 and the HTTP socket removed" sh -c "[ $rc -eq 0 ] && [ ! -e '$SOCK' ]"
t_check "no SIGSYS in the log" sh -c "! grep -q SIGSYS '$JIDO_HOME/gw.log'"
t_done
