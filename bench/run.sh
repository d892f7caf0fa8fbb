#!/usr/bin/env bash
# bench/run.sh - the foundation's numbers: health round trip over ipc (vs a bare nng echo
# in the same run) and idle RSS of each process (vs an idle nngcat REP listener, the
# smallest nng program, in the same run). Not a test: it prints numbers.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=$top/build/bin
export JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; kill $peer 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
"$BIN/jido" up 2>/dev/null &
up=$!
for _ in $(seq 100); do "$BIN/jido" status >/dev/null 2>&1 && break; sleep 0.1; done
"$top/build/bench/health_rtt" "ipc://$JIDO_HOME/run/planner.sock" planner "${N:-20000}"
echo
nngcat --rep0 --listen "ipc://$JIDO_HOME/peer.sock" --data x >/dev/null 2>&1 &
peer=$!
sleep 2
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
peer_kb=$(rss $peer)
total=0
echo "idle RSS (kB), after 2 s idle; peer: nngcat --rep0 idle = ${peer_kb} kB"
for row in $("$BIN/jido" status --json | jq -r '.[] | "\(.name):\(.pid)"'); do
	kb=$(rss "${row#*:}")
	total=$((total + kb))
	printf '  %-9s %6d kB  (%.2fx peer)\n' "${row%%:*}" "$kb" "$(echo "$kb / $peer_kb" | bc -l)"
done
printf '  whole stack %d kB (%.1f MB)\n' "$total" "$(echo "$total / 1024" | bc -l)"

echo
"$top/bench/gitops.sh"
echo
# executor: sandbox start-to-exit next to bwrap and bare unshare (issue 7).
if command -v bwrap >/dev/null; then
	"$top/build/bench/sandbox_start" "$BIN/jido-executor" "${SANDBOX_N:-200}"
else
	echo "sandbox start-to-exit: skipped (bwrap not installed: apt-get install bubblewrap)"
fi
echo
"$top/bench/planner.sh"
