#!/usr/bin/env bash
# run.sh - ingest vs @octokit/webhooks' Node middleware, side by side in one run: the same
# signed ~9 KB issues.opened delivery (a fresh delivery id per request), wrk with 64
# connections for DURATION (10s) each, with ingest's CPU time per delivery and deliveries
# per SQLite commit; evhttp's own ceiling (GET /healthz, no body, no HMAC, no SQLite) in
# the same run; then jido-ingest at a fixed 1,000 deliveries/s (bench/ingest_paced.c, an
# open-loop client: latency from each delivery's due time) and its peak RSS.
# INGEST_BIN: another jido-ingest to measure (a build/bin/jido-ingest.before). Needs wrk
# and node.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/bench/lib.sh"
DURATION=${DURATION:-10s}
work=$(mktemp -d /tmp/ingest-bench.XXXXXX)
ING=""; OCT=""
trap 'kill $ING $OCT 2>/dev/null; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "bench: wrk is not installed (apt-get install wrk)"; exit 111; }
[ -d "$here/node_modules/@octokit/webhooks" ] || (cd "$here" && npm ci --no-audit --no-fund --silent)
"$top/tests/doubles/github/ensure.sh" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
secret=bench-secret
printf '%s\n' "$secret" >"$work/secret"; chmod 600 "$work/secret"
node -e '
const ex = require(process.argv[1]).find((e) => e.name === "issues").examples.find((e) => e.action === "opened");
const p = JSON.parse(JSON.stringify(ex));
p.issue.body = (p.issue.body || "") + " ".repeat(Math.max(0, 9000 - JSON.stringify(p).length));
process.stdout.write(JSON.stringify(p));' "$top/tests/doubles/github/node_modules/@octokit/webhooks-examples" >"$work/body.json"
export BODY_FILE=$work/body.json
BODY_SIG="sha256=$(openssl dgst -sha256 -hmac "$secret" <"$work/body.json" | awk '{print $NF}')"
export BODY_SIG
echo "payload: $(wc -c <"$work/body.json") bytes issues.opened; wrk -c 64 -t 2 -d $DURATION; $(nproc) cores; load $(cut -d' ' -f1 /proc/loadavg)"

p1=$(free_port)
JIDO_HOME=$work/home JIDO_INGEST_WEBHOOK_SECRET_FILE=$work/secret JIDO_INGEST_LISTEN=127.0.0.1:$p1 \
    JIDO_BUS_WATCHDOG_S=0 "${INGEST_BIN:-$top/build/bin/jido-ingest}" serve 2>"$work/ingest.log" &
ING=$!
p2=$(free_port)
node "$here/octokit_server.mjs" "$p2" "$secret" >/dev/null &
OCT=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p1/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
[ -x "$top/build/bench/ingest_paced" ] || make -C "$top" -s build/bench/ingest_paced >/dev/null
run() { wrk -t 2 -c "$2" -d "$DURATION" -s "$here/post.lua" "http://127.0.0.1:$1/api/github/webhooks" | grep RESULT; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
stats() { JIDO_HOME=$work/home "$top/build/bin/jido" call ingest ingest.stats; }
d_s=${DURATION%s}
oc0=$(cpu_ticks "$OCT")
o=$(run "$p2" 64); echo "octokit middleware (node):   $o"
oc1=$(cpu_ticks "$OCT")
c0=$(cpu_ticks "$ING"); s0=$(stats)
i=$(run "$p1" 64); echo "jido-ingest (durable spool): $i"
c1=$(cpu_ticks "$ING"); s1=$(stats)
n=$(( $(echo "$s1" | jq .http.received) - $(echo "$s0" | jq .http.received) ))
b=$(( $(echo "$s1" | jq .http.batches) - $(echo "$s0" | jq .http.batches) ))
tck=$(getconf CLK_TCK)
on=$(echo "$o" | sed 's/.*rps=\([0-9]*\).*/\1/')
[ "${on:-0}" -gt 0 ] && echo "octokit: $(( (oc1 - oc0) * 1000000 / tck / (on * d_s) )) us CPU per request"
[ "$n" -gt 0 ] && [ "$b" -gt 0 ] && echo "jido-ingest: $(( (c1 - c0) * 1000000 / tck / n )) us CPU per delivery, $(( n / b )) deliveries per commit ($b commits)"
hz=$(wrk -t 2 -c 64 -d "$DURATION" "http://127.0.0.1:$p1/healthz" | awk '/Requests\/sec/ {printf "%.0f", $2}')
echo "evhttp ceiling (GET /healthz, 64 connections): rps=$hz"
i4=$(run "$p1" 4); echo "jido-ingest, 4 connections:  $i4"
pa=$("$top/build/bench/ingest_paced" 127.0.0.1 "$p1" 1000 5 32); echo "jido-ingest paced 1,000/s:   $pa"
po=$("$top/build/bench/ingest_paced" 127.0.0.1 "$p2" 1000 5 32); echo "octokit paced 1,000/s:       $po"
echo "jido-ingest peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$ING/status)"
echo "spooled: $(stats | jq -c .spool)"
ro=$(echo "$o" | sed 's/.*rps=\([0-9]*\).*/\1/'); ri=$(echo "$i" | sed 's/.*rps=\([0-9]*\).*/\1/')
[ -n "$ro" ] && [ "$ro" -gt 0 ] && echo "ratio: $(echo "scale=2; $ri / $ro" | bc)x octokit"
bench_row "ingest deliveries/s, 64 connections (durable spool)" "$ri" "@octokit/webhooks middleware (node)" "$ro" req/s
p99() { echo "$1" | sed 's/.*p99_ms=\([0-9.]*\).*/\1/'; }
bench_row "ingest p99 at 1,000 deliveries/s (paced)" "$(p99 "$pa")" "octokit, same pacing" "$(p99 "$po")" ms
bench_row "ingest deliveries/s vs evhttp's own /healthz ceiling" "$ri" "GET /healthz (same process, same run)" "$hz" req/s
bench_row "RSS peak under that load: jido-ingest" "$(bench_hwm_kb "$ING")" "@octokit/webhooks (node)" "$(bench_hwm_kb "$OCT")" kB
