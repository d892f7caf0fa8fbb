# bench/lib.sh - what the bench scripts share: one machine-readable result row per figure,
# which bench/run.sh collects into the one table `make bench` ends with. Source it.
#   bench_row FIGURE OURS PEER_NAME PEER UNIT
# prints `ROW|FIGURE|OURS UNIT|PEER_NAME PEER UNIT|OURS/PEER` (ratio "-" when either is
# missing or the peer is 0). OURS and PEER are plain numbers.
bench_row() {
	awk -v f="$1" -v o="$2" -v pn="$3" -v p="$4" -v u="$5" 'BEGIN {
		num = "^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$"
		r = (o ~ num && p ~ num && p + 0 != 0) ? sprintf("%.2f", o / p) : "-"
		printf "ROW|%s|%s %s|%s %s %s|%s\n", f, o, u, pn, p, u, r
	}'
}
# bench_rss_kb PID / bench_hwm_kb PID: resident / peak resident memory of a process, kB.
bench_rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
bench_hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }
