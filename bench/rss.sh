#!/usr/bin/env bash
# bench/rss.sh - what the idle memory of each process of a `jido up` stack is made of,
# next to the peer measured in the same run (an idle `nngcat --rep0` listener, the
# smallest nng program). Per process, after IDLE seconds (default 2): RSS (what the
# foundation's target counts), PSS (shared pages divided among the processes that map
# them: what the stack really costs), USS (pages only this process has), anonymous
# memory, the file-backed share (shared library pages, mostly: every process that maps
# a library page counts it in its RSS) and the threads. Not a test.
# usage: bench/rss.sh [BUILD_DIR]   (after `make`)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=$top/${1:-build}/bin
IDLE=${IDLE:-2}
export JIDO_HOME
JIDO_HOME=$(mktemp -d /tmp/jido-rss.XXXXXX)
up="" peer="" floor=""
trap '[ -n "$up" ] && kill $up 2>/dev/null; wait $up 2>/dev/null; [ -n "$peer" ] && kill $peer 2>/dev/null; [ -n "$floor" ] && kill $floor 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
"$BIN/jido" up 2>/dev/null &
up=$!
for _ in $(seq 100); do
	n=$("$BIN/jido" status --json 2>/dev/null | jq '[.[] | select(.state == "READY")] | length' 2>/dev/null)
	[ "${n:-0}" -ge 8 ] && break
	sleep 0.1
done
nngcat --rep0 --listen "ipc://$JIDO_HOME/peer.sock" --data x >/dev/null 2>&1 &
peer=$!
# the libraries' own floor (bench/rss_floor.c): what jido-vault links, each used once, idle
"$top/${1:-build}/bench/rss_floor" "ipc://$JIDO_HOME/floor.sock" "$JIDO_HOME/floor.db" &
floor=$!
sleep "$IDLE"
rows=$("$BIN/jido" status --json | jq -r '.[] | "\(.name):\(.pid)"')
declare -A rss pss uss anon file
for row in "nngcat:$peer" "floor:$floor" $rows; do
	p=${row#*:}
	read -r r s u a f < <(awk '/^Rss:/{r=$2} /^Pss:/{s=$2} /^Private_Clean:/{pc=$2}
	    /^Private_Dirty:/{pd=$2} /^Anonymous:/{a=$2}
	    END{print r, s, pc+pd, a, r-a}' "/proc/$p/smaps_rollup")
	rss[$p]=$r pss[$p]=$s uss[$p]=$u anon[$p]=$a file[$p]=$f
done
echo "idle memory (kB) after ${IDLE} s; peer: nngcat --rep0 idle"
printf '%-9s %7s %7s %7s %7s %7s %4s %9s\n' process RSS PSS USS anon file thr "RSS/peer"
trss=0 tpss=0 tuss=0
for row in "nngcat:$peer" "floor:$floor" $rows; do
	name=${row%%:*} p=${row#*:}
	thr=$(ls "/proc/$p/task" | wc -l)
	printf '%-9s %7d %7d %7d %7d %7d %4d %9.2f\n' "$name" "${rss[$p]}" "${pss[$p]}" \
	    "${uss[$p]}" "${anon[$p]}" "${file[$p]}" "$thr" \
	    "$(echo "${rss[$p]} / ${rss[$peer]}" | bc -l)"
	if [ "$name" != nngcat ]; then
		[ "$name" = floor ] && continue
		trss=$((trss + rss[$p])) tpss=$((tpss + pss[$p])) tuss=$((tuss + uss[$p]))
	fi
done
printf 'whole stack (8 processes, kB): RSS %d (%.1f MB)  PSS %d (%.1f MB)  USS %d (%.1f MB)\n' \
    "$trss" "$(echo "$trss / 1024" | bc -l)" "$tpss" "$(echo "$tpss / 1024" | bc -l)" \
    "$tuss" "$(echo "$tuss / 1024" | bc -l)"
