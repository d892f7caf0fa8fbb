#!/usr/bin/env bash
# bench/foundation.sh - the foundation's figures on a `jido up` stack: the health round
# trip over ipc (build/bench/health_rtt: jido-planner vs a bare nng echo in the same
# program), the RSS of each process idle (vs an idle nngcat REP listener, the smallest nng
# program) and its peak RSS after N health requests (vs nngcat after the same requests).
# Prints the numbers and one ROW line per figure (bench/lib.sh). Not a test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/${BUILD:-build}/bin
N=${N:-20000}
LOAD=${LOAD_N:-3000}
export JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
export JIDO_WEB_LISTEN=127.0.0.1:0 JIDO_INGEST_LISTEN=127.0.0.1:0
up=""; peer=""
trap 'kill $up $peer 2>/dev/null; wait 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
"$BIN/jido" up 2>/dev/null &
up=$!
for _ in $(seq 100); do "$BIN/jido" status >/dev/null 2>&1 && break; sleep 0.1; done
out=$("$top/${BUILD:-build}/bench/health_rtt" "ipc://$JIDO_HOME/run/planner.sock" planner "$N")
echo "$out"
med() { echo "$out" | awk -v k="$1" '$0 ~ k {for (i = 1; i <= NF; i++) if ($i == "median") print $(i + 1)}'; }
p99() { echo "$out" | awk -v k="$1" '$0 ~ k {for (i = 1; i <= NF; i++) if ($i == "p99") print $(i + 1)}'; }
bench_row "health round trip over ipc, median" "$(med jido-planner)" "bare nng echo" "$(med 'bare nng')" µs
bench_row "health round trip over ipc, p99" "$(p99 jido-planner)" "bare nng echo" "$(p99 'bare nng')" µs

nngcat --rep0 --listen "ipc://$JIDO_HOME/peer.sock" --data x >/dev/null 2>&1 &
peer=$!
sleep 2
peer_kb=$(bench_rss_kb $peer)
total=0
rows=$("$BIN/jido" status --json | jq -r '.[] | "\(.name):\(.pid)"')
echo "idle RSS (kB), after 2 s idle; peer: nngcat --rep0 idle = ${peer_kb} kB"
for row in $rows; do
	kb=$(bench_rss_kb "${row#*:}")
	total=$((total + kb))
	printf '  %-9s %6d kB\n' "${row%%:*}" "$kb"
	bench_row "RSS idle: jido-${row%%:*}" "$kb" "nngcat --rep0 idle" "$peer_kb" kB
done
bench_row "RSS idle: whole stack (8 processes)" "$total" "8 x nngcat --rep0 idle" "$((8 * peer_kb))" kB

# The second peer: the floor of the libraries themselves (bench/rss_floor.c links what
# jido-vault links and uses each once, then idles).
"$top/${BUILD:-build}/bench/rss_floor" "ipc://$JIDO_HOME/floor.sock" "$JIDO_HOME/floor.db" &
floor=$!
sleep 2
floor_kb=$(bench_rss_kb $floor)
kill $floor 2>/dev/null
wait $floor 2>/dev/null
echo "idle RSS of the library floor (bench/rss_floor): ${floor_kb} kB"
for row in $rows; do
	bench_row "RSS idle: jido-${row%%:*} (vs its libraries idling)" "$(bench_rss_kb "${row#*:}")" \
	    "rss_floor: nng+SQLite+sodium+jansson+seccomp, idle" "$floor_kb" kB
done
bench_row "RSS idle: whole stack (vs its libraries idling)" "$total" "8 x rss_floor" \
    "$((8 * floor_kb))" kB

# Under load: LOAD health requests to each process, then its peak RSS; the peer gets the
# same requests.
"$top/${BUILD:-build}/bench/health_rtt" "ipc://$JIDO_HOME/peer.sock" planner "$LOAD" >/dev/null 2>&1
peer_hwm=$(bench_hwm_kb $peer)
for row in $rows; do
	"$top/${BUILD:-build}/bench/health_rtt" "ipc://$JIDO_HOME/run/${row%%:*}.sock" "${row%%:*}" "$LOAD" >/dev/null 2>&1
	bench_row "RSS peak after $LOAD health requests: jido-${row%%:*}" "$(bench_hwm_kb "${row#*:}")" "nngcat --rep0, same load" "$peer_hwm" kB
done
