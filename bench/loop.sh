#!/usr/bin/env bash
# bench/loop.sh - scenario 2 of the whole loop (tests/e2e/loop.sh) from webhook to PR
# opened, agent time excluded: the stack of tests/stack.sh, the project's fix_issue
# replaced by a copy whose coding step is a shell command that makes the fix at once
# (so what is timed is JidoCode: ingest, planner, executor sandboxes for fetch/code/test,
# gitops's checks, push and PR), auto_ship on (no human in the loop). Times are the
# double's own clock: the labeled delivery's send time to its POST /pulls. Next to it, in
# the same run, the peer: the bare minimum by hand against the same double (git clone,
# commit, push over smart-HTTP, curl POST /pulls). Not a test: it prints numbers.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export JIDO_BIN=${JIDO_BIN:-$top/build/bin}
N=${N:-5}
. "$top/tests/stack.sh"
s_start >/dev/null || { echo "bench/loop: the stack did not start"; exit 1; }
mkdir -p "$JIDO_HOME/workflows"
cat >"$JIDO_HOME/workflows/fix_issue.json" <<'WF'
{"name": "fix_issue", "version": 2, "description": "bench: the coding step is a shell command",
 "steps": [
  {"id": "fetch", "kind": "fetch_issue", "timeout_s": 60},
  {"id": "code", "kind": "shell", "timeout_s": 60, "command": "sed -i 's/- \\$2/+ \\$2/' add.sh"},
  {"id": "test", "kind": "shell", "timeout_s": 60, "command": "{{project.test_command}}"},
  {"id": "approve", "kind": "approval", "skip_if": "auto_ship"},
  {"id": "ship", "kind": "ship", "timeout_s": 60}]}
WF
jido call planner planner.workflows.reload >/dev/null
jido call planner planner.projects.update "$(jq -nc --arg r "$S_REPO" '{project: $r, settings: {auto_ship: true, triggers: {issue_opened: null}}}')" >/dev/null
ms() { echo "$1" | awk '{printf "%.0f", $1}'; }
loop=()
for i in $(seq 1 "$N"); do
	n=$(s_gh POST /_double/issues "$(jq -nc --arg r "$S_REPO" --arg i "$i" '{repo: $r, title: ("bench " + $i)}')" | jq -r .number)
	d=$(s_gh POST /_double/labels "$(jq -nc --arg r "$S_REPO" --argjson n "$n" '{repo: $r, number: $n, label: "jido:fix"}')" | jq -r .delivery)
	for _ in $(seq 1 600); do
		c=$(s_gh GET /_double/world | jq --arg r "$S_REPO" --argjson n "$n" '[.gitops[$r].comments[]? | select(.issue_number == $n)] | length')
		[ "$c" -ge 1 ] && break
		sleep 0.1
	done
	t0=$(s_gh GET /_double/deliveries | jq --arg d "$d" '.[] | select(.delivery == $d) | .at')
	# the PR of this issue: the first POST /pulls after the delivery
	t1=$(s_gh GET /_double/log | jq --argjson t0 "$t0" '[.[] | select(.method == "POST" and (.path | test("/pulls$")) and .t >= $t0)][0].t')
	loop+=("$((t1 - t0))")
	echo "loop $i: webhook -> PR opened $((t1 - t0)) ms"
done
# the peer: clone, commit, push, POST /pulls by hand, against the same double
peer=()
for i in $(seq 1 "$N"); do
	w=$(mktemp -d "$S_SECRETS/peer.XXXX")
	t0=$(date +%s%3N)
	git -c credential.helper= clone -q "http://x:$S_TOKEN@${S_GH#http://}/$S_REPO.git" "$w/r" &&
	(cd "$w/r" && sed -i 's/- \$2/+ \$2/' add.sh && git checkout -q -b "peer/$i" &&
		git -c user.name=p -c user.email=p@x commit -qam "fix add" && git push -q origin "peer/$i") &&
	curl -sf -o /dev/null -X POST -H "Authorization: Bearer $S_TOKEN" -H 'Content-Type: application/json' \
	    --data "{\"title\":\"peer $i\",\"head\":\"peer/$i\",\"base\":\"main\"}" "$S_GH/repos/$S_REPO/pulls"
	t1=$(date +%s%3N)
	peer+=("$((t1 - t0))")
	echo "peer $i: clone, commit, push, POST /pulls $((t1 - t0)) ms"
	rm -rf "$w"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ml=$(med "${loop[@]}"); mp=$(med "${peer[@]}")
echo "median: loop $ml ms, peer $mp ms, ratio $(awk -v a="$ml" -v b="$mp" 'BEGIN {printf "%.1f", a / b}') (target: loop < 1000 ms)"
