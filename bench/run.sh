#!/usr/bin/env bash
# bench/run.sh - `make bench`: every figure the issues name, each measured side by side
# with its peer in the same run, ending with ONE table: figure, ours, peer, ratio.
# It runs each bench script (the known ones with short settings, then any other
# bench/*.sh that emits ROW lines, see bench/lib.sh), keeps their full output in
# build/bench/bench.log, and collects their `ROW|figure|ours|peer|ratio` lines. A script
# that fails or emits no row is named at the end. Not a test: it prints numbers.
#   BENCH_TIMEOUT  seconds one script may take (default 240)
#   BENCH_ONLY     run only these scripts (space-separated names, e.g. "gateway.sh")
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 111
out=$top/${BUILD:-build}/bench
mkdir -p "$out"
log=$out/bench.log
rows=$out/rows.txt
: >"$log"; : >"$rows"
t_start=$(date +%s)

# The known scripts and their short settings (seconds each, not minutes).
known=(
	"foundation.sh|N=5000 LOAD_N=2000"
	"sandbox.sh|SANDBOX_N=30"
	"ingest/run.sh|DURATION=3s"
	"gateway.sh|D=3 STREAMS=200"
	"vault_get.sh 20000 1 4 16|"
	"auditor.sh|BENCH_SECS=1 BENCH_PUSH=20000"
	"planner.sh|"
	"web.sh|SECONDS_RUN=3 CONNS=4"
	"gitops.sh|N=5"
	"artifacts.sh|BIG_MB=256 ROUNDS=2 WRK_S=3"
)
list=("${known[@]}")
# Any other bench script that emits rows (e.g. bench/cli.sh, bench/loop.sh).
for f in bench/*.sh; do
	b=${f#bench/}
	case $b in run.sh | lib.sh) continue ;; esac
	grep -q 'bench_row\|ROW|' "$f" || continue
	printf '%s\n' "${known[@]}" | grep -q "^${b}[ |]" || list+=("$b|")
done

failed=""
for entry in "${list[@]}"; do
	cmd=${entry%%|*}
	envs=${entry#*|}
	script=${cmd%% *}
	if [ -n "${BENCH_ONLY:-}" ] && ! grep -qw -- "$script" <<<"$BENCH_ONLY"; then continue; fi
	t0=$(date +%s)
	echo "== bench/$cmd ${envs:+($envs)}" | tee -a "$log" >&2
	# shellcheck disable=SC2086
	env $envs timeout "${BENCH_TIMEOUT:-240}" bash bench/$cmd >"$out/one.log" 2>&1
	rc=$?
	cat "$out/one.log" >>"$log"
	n=$(grep -c '^ROW|' "$out/one.log")
	grep '^ROW|' "$out/one.log" >>"$rows"
	echo "   $n rows in $(($(date +%s) - t0)) s${rc:+ (exit $rc)}" >&2
	if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then failed="$failed bench/$script(exit $rc, $n rows)"; fi
done

total=$(($(date +%s) - t_start))
machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/ {printf "%.1f GB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
{
	echo
	echo "# JidoCode benchmarks, $(date -u +%F\ %H:%M\ UTC), $machine; $total s"
	echo
	echo "| figure | ours | peer | ratio |"
	echo "|---|---|---|---|"
	awk -F'|' '{printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5}' "$rows"
	[ -n "$failed" ] && echo && echo "Failed or without rows:$failed"
	echo
	echo "ratio = ours / peer (for times and memory lower is better, for rates higher). Full output: ${log#"$top"/}"
} | tee "$out/table.md"
