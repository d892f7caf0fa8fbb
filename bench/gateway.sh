#!/usr/bin/env bash
# bench/gateway.sh - the gateway's numbers, side by side in one run: non-streaming
# POST /v1/messages throughput and latency with wrk (64 connections, then 1) against the
# Anthropic double directly (the limit), through jido-gateway's loopback TCP listener, and
# through the peer users would pick instead, Portkey's open-source gateway
# (@portkey-ai/gateway from npm, bench/gateway_peer), pointed at the same double; then the
# RSS of jido-gateway and of Portkey idle and while each holds STREAMS (200) concurrent
# slow streams. The 64-connection runs of the double and of jido-gateway alternate ROUNDS
# times (default 3: the machine's load moves between runs) and the ratio is the median of
# the rounds'; each round also gives the gateway's and the double's CPU time per request
# (/proc/PID/stat), which the load moves less. Prints the numbers and ROW lines
# (bench/lib.sh). Not a test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/${BUILD:-build}/bin
command -v wrk >/dev/null || { echo "bench/gateway.sh: wrk is needed (Debian package wrk)"; exit 1; }
PK=$top/bench/gateway_peer
[ -d "$PK/node_modules/@portkey-ai/gateway" ] || (cd "$PK" && npm ci --no-audit --no-fund --silent) ||
	echo "bench/gateway.sh: cannot install @portkey-ai/gateway (npm); its rows are skipped"
H=$(mktemp -d /tmp/jido-gwbench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
P=$(free_port); C=$(free_port); G=$(free_port); K=$(free_port)
echo sk-bench >"$H/key"; chmod 600 "$H/key"
node "$top/tests/doubles/anthropic/double.js" --port "$P" --control-port "$C" --key sk-bench >/dev/null 2>&1 &
dpid=$!
printf 'gateway.upstreams = a,anthropic,http://127.0.0.1:%s,1,file:%s/key\ngateway.listen = 127.0.0.1:%s\nlog.level = warn\n' "$P" "$H" "$G" >"$H/jido.conf"
JIDO_HOME=$H "$BIN/jido-gateway" serve 2>"$H/gw.log" &
gpid=$!
kpid=""
if [ -f "$PK/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
	NODE_ENV=production node "$PK/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$K" --headless >"$H/portkey.log" 2>&1 &
	kpid=$!
fi
trap 'kill $gpid $dpid $kpid 2>/dev/null; wait 2>/dev/null; rm -rf "$H"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$P/" && break; sleep 0.1; done
for _ in $(seq 100); do [ -z "$kpid" ] && break; curl -s -o /dev/null "http://127.0.0.1:$K/" && break; sleep 0.1; done
sleep 0.5
KEY=$(JIDO_HOME=$H "$BIN/jido" call gateway gateway.keys.create '{"run_id":"bench","expires_s":3600}' | jq -r .key)
cat >"$H/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}'
wrk.headers["content-type"] = "application/json"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-api-key"] = os.getenv("KEY")
if os.getenv("PORTKEY_HOST") ~= nil and os.getenv("PORTKEY_HOST") ~= "" then
	wrk.headers["x-portkey-provider"] = "anthropic"
	wrk.headers["x-portkey-custom-host"] = os.getenv("PORTKEY_HOST")
end
LUA
D=${D:-10}
# bench TARGET CONNS SECS: wrk against one target; prints "rps p50_ms p99_ms non2xx"
bench() {
	local url key host="" out
	case $1 in
	direct) url="http://127.0.0.1:$P/v1/messages"; key=sk-bench ;;
	jido) url="http://127.0.0.1:$G/v1/messages"; key=$KEY ;;
	portkey) url="http://127.0.0.1:$K/v1/messages"; key=sk-bench; host="http://127.0.0.1:$P/v1" ;;
	esac
	out=$(KEY=$key PORTKEY_HOST=$host wrk -t"$([ "$2" -gt 1 ] && echo 2 || echo 1)" -c"$2" -d"${3}s" --latency -s "$H/post.lua" "$url")
	echo "$out" | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec/ {r = $2} / 50%/ {a = ms($2)} / 99%/ {b = ms($2)} /Non-2xx/ {e = $NF}
		END {printf "%s %s %s %s\n", r, a, b, e + 0}'
}
targets="direct jido"
[ -n "$kpid" ] && targets="$targets portkey"
declare -A R L1
for t in $targets; do bench "$t" 8 1 >/dev/null; done # warm-up (Node's JIT)
# cpu_ticks PID: user + system clock ticks the process used so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
ratios=""
for round in $(seq "${ROUNDS:-3}"); do
	for t in direct jido; do
		g0=$(cpu_ticks $gpid) d0=$(cpu_ticks $dpid)
		read -r rps p50 p99 bad < <(bench "$t" 64 "$D")
		g1=$(cpu_ticks $gpid) d1=$(cpu_ticks $dpid)
		R[$t]=$rps
		cpu=""
		[ "$t" = jido ] && cpu=$(awk -v g=$((g1 - g0)) -v d=$((d1 - d0)) -v r="$rps" -v s="$D" \
			-v hz="$(getconf CLK_TCK)" 'BEGIN { n = r * s; if (n > 0) printf ", CPU per request: gateway %.1f us, double %.1f us", g / hz * 1e6 / n, d / hz * 1e6 / n }')
		echo "== round $round, $t: 64 connections, ${D} s: $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $bad$cpu"
	done
	ratios="$ratios $(awk -v a="${R[jido]}" -v b="${R[direct]}" 'BEGIN { if (b > 0) printf "%.4f", a / b }')"
done
# the round with the median ratio stands for the run
med=$(printf '%s\n' $ratios | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
echo "== gateway/direct per round:$ratios (median $med)"
if [ -n "$kpid" ]; then
	read -r rps p50 p99 bad < <(bench portkey 64 "$D")
	R[portkey]=$rps
	echo "== portkey: 64 connections, ${D} s: $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $bad"
fi
for t in $targets; do
	read -r rps p50 p99 bad < <(bench "$t" 1 "$(( D / 2 > 1 ? D / 2 : 1 ))")
	L1[$t]=$p50
	echo "== $t: one connection: p50 $p50 ms, p99 $p99 ms"
done
echo "ROW|gateway req/s, 64 connections (vs a direct call), median of ${ROUNDS:-3} alternating rounds|last round ${R[jido]} req/s|direct to the double, last round ${R[direct]} req/s|$(awk -v m="$med" 'BEGIN { printf "%.2f", m }')"
bench_row "gateway p50 latency, one connection (vs a direct call)" "${L1[jido]}" "direct to the double" "${L1[direct]}" ms
if [ -n "$kpid" ]; then
	bench_row "gateway req/s, 64 connections (vs Portkey)" "${R[jido]}" "@portkey-ai/gateway" "${R[portkey]}" req/s
	bench_row "gateway p50 latency, one connection (vs Portkey)" "${L1[jido]}" "@portkey-ai/gateway" "${L1[portkey]}" ms
fi
gi=$(bench_rss_kb $gpid); ki=""
[ -n "$kpid" ] && ki=$(bench_rss_kb $kpid)
echo "== RSS after the runs: jido-gateway $gi kB${ki:+, portkey $ki kB}"
[ -n "$kpid" ] && bench_row "RSS after the runs: jido-gateway (vs Portkey)" "$gi" "@portkey-ai/gateway" "$ki" kB
curl -s -d '{"mode":"slowstream"}' "http://127.0.0.1:$C/mode" >/dev/null
N=${STREAMS:-200}
body='{"model":"claude-sonnet-4-5","max_tokens":32,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
# streams TARGET: N concurrent slow streams; prints the target's RSS while they run
streams() {
	local pids="" url key pid extra=()
	if [ "$1" = jido ]; then url="http://127.0.0.1:$G/v1/messages"; key=$KEY; pid=$gpid
	else url="http://127.0.0.1:$K/v1/messages"; key=sk-bench; pid=$kpid
		extra=(-H "x-portkey-provider: anthropic" -H "x-portkey-custom-host: http://127.0.0.1:$P/v1"); fi
	for _ in $(seq "$N"); do
		curl -s -N -H "x-api-key: $key" -H "anthropic-version: 2023-06-01" -H "content-type: application/json" \
			"${extra[@]}" -d "$body" "$url" >/dev/null &
		pids="$pids $!"
	done
	sleep 2
	bench_rss_kb "$pid"
	wait $pids
}
gs=$(streams jido)
echo "== RSS with $N concurrent streams: jido-gateway $gs kB"
if [ -n "$kpid" ]; then
	ks=$(streams portkey)
	echo "== RSS with $N concurrent streams: portkey $ks kB"
	bench_row "RSS with $N concurrent streams: jido-gateway (vs Portkey)" "$gs" "@portkey-ai/gateway" "$ks" kB
fi
