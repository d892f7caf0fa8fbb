#!/usr/bin/env bash
# bench/planner.sh - the planner's numbers (see the "planner" section of bench/README.md):
# a jido-planner daemon on a fresh state directory, driven by build/bench/planner_bench:
# events/s from run/events.pub into the mirror, then planner.workbench latency for
# 20 repos, 10,000 issues, 2,000 PRs and 1,000 runs. Not a test: it prints numbers.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=$top/build/bin
export JIDO_HOME=$(mktemp -d /tmp/jido-bench-pl.XXXXXX)
export JIDO_BUS_WATCHDOG_S=0
"$BIN/jido-planner" serve 2>"$JIDO_HOME/planner.log" &
pl=$!
trap 'kill $pl 2>/dev/null; wait $pl 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
for _ in $(seq 100); do "$BIN/jido" call planner planner.health >/dev/null 2>&1 && break; sleep 0.1; done
"$top/build/bench/planner_bench" "$JIDO_HOME"
