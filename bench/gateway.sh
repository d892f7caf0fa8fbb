#!/usr/bin/env bash
# bench/gateway.sh - the gateway's numbers, side by side in one run: non-streaming
# POST /v1/messages throughput and latency with wrk (64 connections) against the Anthropic
# double directly (the limit) and through jido-gateway's loopback TCP listener; then the
# gateway's RSS idle and while holding STREAMS (200) concurrent slow streams. Not a test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=$top/build/bin
command -v wrk >/dev/null || { echo "bench/gateway.sh: wrk is needed (Debian package wrk)"; exit 1; }
H=$(mktemp -d /tmp/jido-gwbench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P=$(free_port); C=$(free_port); G=$(free_port)
echo sk-bench >"$H/key"; chmod 600 "$H/key"
node "$top/tests/doubles/anthropic/double.js" --port "$P" --control-port "$C" --key sk-bench >/dev/null 2>&1 &
dpid=$!
printf 'gateway.upstreams = a,anthropic,http://127.0.0.1:%s,1,file:%s/key\ngateway.listen = 127.0.0.1:%s\nlog.level = warn\n' "$P" "$H" "$G" >"$H/jido.conf"
JIDO_HOME=$H "$BIN/jido-gateway" serve 2>"$H/gw.log" &
gpid=$!
trap 'kill $gpid $dpid 2>/dev/null; wait $gpid 2>/dev/null; rm -rf "$H"' EXIT
sleep 1
KEY=$(JIDO_HOME=$H "$BIN/jido" call gateway gateway.keys.create '{"run_id":"bench","expires_s":3600}' | jq -r .key)
cat >"$H/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = os.getenv("KEY")
LUA
D=${D:-10}
echo "== direct to the double (64 connections, ${D} s)"
KEY=sk-bench wrk -t2 -c64 -d"${D}s" --latency -s "$H/post.lua" "http://127.0.0.1:$P/v1/messages" | grep -E 'Requests/sec|50%|99%|Non-2xx'
echo "== through jido-gateway (64 connections, ${D} s)"
KEY=$KEY wrk -t2 -c64 -d"${D}s" --latency -s "$H/post.lua" "http://127.0.0.1:$G/v1/messages" | grep -E 'Requests/sec|50%|99%|Non-2xx'
echo "== one connection (added latency)"
KEY=sk-bench wrk -t1 -c1 -d5s --latency -s "$H/post.lua" "http://127.0.0.1:$P/v1/messages" | grep -E '50%|99%'
KEY=$KEY wrk -t1 -c1 -d5s --latency -s "$H/post.lua" "http://127.0.0.1:$G/v1/messages" | grep -E '50%|99%'
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
echo "== RSS: idle after the runs $(rss $gpid) kB"
curl -s -d '{"mode":"slowstream"}' "http://127.0.0.1:$C/mode" >/dev/null
N=${STREAMS:-200}
body='{"model":"claude-sonnet-4-5","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
pids=""
for _ in $(seq "$N"); do
	curl -s -N -H "x-api-key: $KEY" -d "$body" "http://127.0.0.1:$G/v1/messages" >/dev/null &
	pids="$pids $!"
done
sleep 2
echo "== RSS with $N concurrent streams: $(rss $gpid) kB"
wait $pids
