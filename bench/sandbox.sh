#!/usr/bin/env bash
# bench/sandbox.sh - the executor's sandbox start-to-exit (build/bench/sandbox_start:
# `jido-executor sandbox -- /bin/true` interleaved with bwrap and a bare unshare, issue 7),
# as numbers and ROW lines (bench/lib.sh). Needs bwrap (Debian bubblewrap). Not a test.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
B=$top/${BUILD:-build}
command -v bwrap >/dev/null || { echo "bench/sandbox.sh: bwrap is needed (apt-get install bubblewrap)"; exit 1; }
# build/bin/jido-executor.before, when there, runs in the same rounds (before/after).
before=""
[ -x "$B/bin/jido-executor.before" ] && before="$B/bin/jido-executor.before"
out=$("$B/bench/sandbox_start" "$B/bin/jido-executor" "${SANDBOX_N:-200}" $before)
echo "$out"
# lines: "  <name>   median <us>  p90 <us>  (<n> ok)"
pick() { echo "$out" | awk -v k="$1" 'index($0, k) && /median/ {for (i = 1; i <= NF; i++) if ($i == "median") {print $(i + 1); exit}}'; }
jido=$(pick "(all limits, cgroups)"); nocg=$(pick "sandbox --no-cgroups")
bw=$(pick "bwrap --unshare-all"); un=$(pick "bare unshare")
bench_row "sandbox start-to-exit, median (all limits, cgroups)" "$jido" "bwrap --unshare-all" "$bw" µs
bench_row "sandbox start-to-exit, median (no cgroups, like bwrap)" "$nocg" "bwrap --unshare-all" "$bw" µs
bench_row "sandbox start-to-exit, median (vs bare unshare)" "$jido" "unshare" "$un" µs
