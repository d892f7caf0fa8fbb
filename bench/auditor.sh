#!/usr/bin/env bash
# auditor.sh - benchmark of jido-auditor (results go in bench/README.md, "auditor"):
#   1. synchronous appends at 1, 8 and 64 concurrent writers (threads of one load process,
#      and 64 as 8 processes x 8) with group commit, and the same with
#      auditor.group_commit=false (one fdatasync per record), in the same run;
#   2. fire-and-forget appends: records/s from the first send until all are durable (the
#      loader pushes batches and ends with jido_audit_flush, which returns once the
#      auditor confirms every record durable; the size is also polled as a cross-check);
#   3. verify throughput against sha256sum over the same file.
# Usage: bench/auditor.sh [BUILD_DIR]   (default build; needs `make` first)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN="$top/${1:-build}/bin"
export JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
trap 'kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
APID=""
SECS=${BENCH_SECS:-3}

start() {
	"$BIN/jido-auditor" serve 2>>"$JIDO_HOME/auditor.log" &
	APID=$!
	for _ in $(seq 100); do "$BIN/jido" call auditor auditor.health >/dev/null 2>&1 && return; sleep 0.05; done
	echo "auditor did not start" >&2; exit 111
}
stop() { kill "$APID"; wait "$APID" 2>/dev/null; APID=""; }
size() { "$BIN/jido" call auditor audit.stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])'; }
# commits: "count records fsync_us" so far (zeros for an auditor without the counters)
commits() { "$BIN/jido" call auditor audit.stats | python3 -c 'import json,sys; c=json.load(sys.stdin).get("commits",{}); print(c.get("count",0), c.get("records",0), c.get("fsync_us",0))'; }

# rate W N: W writers x N records each, synchronous; prints records/s. W = 64p: the same
# 64 writers as 8 processes of 8 threads (group commit across processes, where the
# client's own coalescing only joins each process's 8); records/s = all records / wall.
rate() {
	if [ "$1" = 64p ]; then
		local t0 t1 d=$(mktemp -d "$JIDO_HOME/p.XXXXXX")
		t0=$(date +%s.%N)
		for p in 1 2 3 4 5 6 7 8; do
			"$BIN/jido-auditor" load --writers 8 --records "$2" --tag "q$p$RANDOM-" 2>"$d/$p" >/dev/null &
		done
		wait
		t1=$(date +%s.%N)
		python3 - "$d" "$t0" "$t1" <<'PY'
import json, os, sys
d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
n = sum(json.loads(open(os.path.join(d, f)).read().strip().splitlines()[-1])["records"] for f in os.listdir(d))
print(int(n / (t1 - t0)))
PY
		return
	fi
	"$BIN/jido-auditor" load --writers "$1" --records "$2" --tag "b$RANDOM-" 2>&1 >/dev/null |
		python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["rate"])'
}

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# sync appends (records/s), $(nproc) cores, $(uname -r)"
printf "%-8s %14s %18s %8s\n" writers group_commit one_fsync_each ratio
declare -A G O B
for gc in true false; do
	export JIDO_AUDITOR_GROUP_COMMIT=$gc
	start
	for w in 1 8 64 64p; do
		# calibrate: about SECS seconds per point
		n=150
		r=$(rate "$w" "$n")
		n=$(python3 -c "print(max(20, int($r * $SECS / ${w%p})))")
		c0=$(commits)
		r=$(rate "$w" "$n")
		c1=$(commits)
		B[$gc$w]=$(python3 -c "a='$c0'.split(); b='$c1'.split(); n=int(b[0])-int(a[0])
print('%.1f records, fsync %.0f us' % ((int(b[1])-int(a[1]))/n, (int(b[2])-int(a[2]))/n) if n else '-')")
		if [ "$gc" = true ]; then G[$w]=$r; else O[$w]=$r; fi
	done
	stop
done
unset JIDO_AUDITOR_GROUP_COMMIT
for w in 1 8 64 64p; do
	printf "%-8s %14s %18s %7.1fx   per commit: %s\n" "$w" "${G[$w]}" "${O[$w]}" \
		"$(python3 -c "print(${G[$w]} / max(1, ${O[$w]}))")" "${B[true$w]}"
	label="$w writers"
	[ "$w" = 64p ] && label="64 writers in 8 processes"
	bench_row "audit append, $label, sync (group commit)" "${G[$w]}" "one fdatasync per record" "${O[$w]}" records/s
done

echo
echo "# fire-and-forget"
start
N=${BENCH_PUSH:-100000}
before=$(size)
t0=$(date +%s.%N)
"$BIN/jido-auditor" load --push --records "$N" --tag "p" 2>"$JIDO_HOME/push.json"
sent=$(date +%s.%N)
N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"])' "$JIDO_HOME/push.json")
# until all arrived, or nothing more arrives for 2 s (records queued in a sender that
# exits while the auditor is behind are lost: fire-and-forget)
last=-1; still=0; t1=$(date +%s.%N)
while :; do
	cur=$(size)
	[ "$cur" -ge $((before + N)) ] && { t1=$(date +%s.%N); break; }
	if [ "$cur" -eq "$last" ]; then still=$((still + 1)); [ $still -ge 100 ] && break
	else still=0; last=$cur; t1=$(date +%s.%N); fi
	sleep 0.02
done
got=$(( $(size) - before ))
python3 -c "print('sent %d in %.2fs (%.0f/s); %d durable after %.2fs: %.0f records/s' % ($N, $sent-$t0, $N/($sent-$t0), $got, $t1-$t0, $got/($t1-$t0)))"
echo "loader: $(cat "$JIDO_HOME/push.json")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("end to end (first push to flush confirmed): %d records in %.2fs = %.0f records/s%s" % (d["records"], d["ms"]/1e3, d["rate"], "" if not d["error"] else ", flush failed: " + d["error"]))' "$JIDO_HOME/push.json"
bench_row "audit fire-and-forget, end to end until durable" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rate"])' "$JIDO_HOME/push.json")" "sync appends, 64 writers (group commit), same run" "${G[64]}" records/s
stop

echo
echo "# verify vs sha256sum (best of 3)"
LOG="$JIDO_HOME/audit/audit.log"
cat "$LOG" >/dev/null
best() { local b=999; for _ in 1 2 3; do s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); b=$(python3 -c "print(min($b, $e-$s))"); done; echo "$b"; }
mb=$(python3 -c "import os; print(os.path.getsize('$LOG')/1e6)")
tv=$(best "$BIN/jido-auditor" verify "$LOG")
ts=$(best sha256sum "$LOG")
python3 -c "print('file %.1f MB, %d records: verify %.0f MB/s, sha256sum %.0f MB/s, ratio %.2f' % ($mb, $(grep -c '^{\"seq\"' "$LOG"), $mb/$tv, $mb/$ts, $ts/$tv))"
bench_row "audit verify throughput" "$(python3 -c "print('%.1f' % ($mb / $tv))")" "sha256sum" "$(python3 -c "print('%.1f' % ($mb / $ts))")" MB/s
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
