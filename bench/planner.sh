#!/usr/bin/env bash
# bench/planner.sh - the planner's numbers (see the "planner" section of bench/README.md):
# a jido-planner daemon on a fresh state directory, driven by build/bench/planner_bench:
# events/s from run/events.pub into the mirror, then planner.workbench latency for
# 20 repos, 10,000 issues, 2,000 PRs and 1,000 runs. Not a test: it prints numbers.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/build/bin
export JIDO_HOME=$(mktemp -d /tmp/jido-bench-pl.XXXXXX)
export JIDO_BUS_WATCHDOG_S=0
"$BIN/jido-planner" serve 2>"$JIDO_HOME/planner.log" &
pl=$!
trap 'kill $pl 2>/dev/null; wait $pl 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
for _ in $(seq 100); do "$BIN/jido" call planner planner.health >/dev/null 2>&1 && break; sleep 0.1; done
out=$("$top/build/bench/planner_bench" "$JIDO_HOME")
echo "$out"
# The peer: planner.health round trips on the same daemon (ipc + envelope, no query).
h=$("$top/build/bench/health_rtt" "ipc://$JIDO_HOME/run/planner.sock" planner 2000)
hms=$(echo "$h" | awk '/jido-planner/ {for (i = 1; i <= NF; i++) if ($i == "median") printf "%.3f", $(i + 1) / 1000}')
for l in 20 0; do
	ms=$(echo "$out" | sed -n "s/.*workbench limit $l round trip over ipc: median \([0-9.]*\) ms.*/\1/p")
	bench_row "planner.workbench (10,000 issues, limit $l), median" "$ms" "planner.health, same daemon" "$hms" ms
done
