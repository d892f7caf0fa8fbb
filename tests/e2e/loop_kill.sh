#!/usr/bin/env bash
# loop_kill.sh - scenario 6 of the whole loop (see loop.sh): scenario 2 (jido:fix label ->
# fix_issue -> Claude Code -> tests -> approval -> PR and comment) once per process, with
# that process killed with kill -9 at the moment it matters most (ingest right after the
# webhook, gitops/vault/auditor during the ship, the others during the coding step). The
# supervisor restarts it; the run must complete, or fail with a clear reason and then
# complete when retried; nothing may be pushed or posted twice (one PR and one PR comment
# per issue).
. "$(dirname "$0")/../stack.sh"
SC=6
ok() { pass "scenario $SC: $*"; }
ko() { fail "scenario $SC: $*"; }
s_start; S_RC=$?
[ $S_RC = 2 ] && { echo "SKIP: the whole loop needs the Claude Code CLI (see above)"; exit 0; }
if [ $S_RC != 0 ]; then
	fail "stack: start"
	t_done
fi
pass "stack: all eight processes READY"
curl -s -X POST --data '{"tools":[{"name":"Bash","input":{"command":"sed -i \"s/- \\$2/+ \\$2/\" add.sh && sh test.sh","description":"fix"}}],"text":"Fixed add.sh."}' "$S_A1C/script" >/dev/null
jido call planner planner.projects.update "$(jq -nc --arg r "$S_REPO" '{project: $r, settings: {triggers: {issue_opened: null}}}')" >/dev/null

pid_of() { jido status --json | jq -r ".[] | select(.name == \"$1\") | .pid"; }
step_running() { s_run "$1" | jq -e --arg s "$2" '[.steps[] | select(.step == $s)][-1].state == "running"' >/dev/null; }
run_of() {
	jido call planner planner.deliveries.list "{\"delivery\":\"$1\"}" | jq -r '.deliveries[0].run_id // empty' | grep .
}
approve() {
	jido call planner planner.approvals.decide "$(jq -nc --arg r "$1" '{run_id: $r, decision: "approve", rationale: "scenario 6: the fix is right", actor: "owner", channel: "cli"}')" >/dev/null 2>&1
}
# drive RUN: to completion, retrying a failed run (at most twice). Prints the final run id.
drive() {
	local r=$1 tries=0 st
	while :; do
		s_run_wait "$r" "awaiting_approval completed failed cancelled" 240
		st=$(s_run_state "$r")
		if [ "$st" = awaiting_approval ]; then
			approve "$r"
			s_run_wait "$r" "completed failed" 120
			st=$(s_run_state "$r")
		fi
		[ "$st" = completed ] && { echo "$r"; return 0; }
		if [ "$st" != failed ] || [ $tries -ge 2 ]; then echo "$r"; return 1; fi
		local why
		why=$(s_run "$r" | jq -r '.failure.message // empty')
		echo "# $p: run $r failed: ${why:-<no reason>}; retrying" >&2
		[ -n "$why" ] || { echo "$r"; return 1; }
		r=$(jido call planner planner.runs.retry "{\"run_id\":\"$r\",\"actor\":\"owner\"}" | jq -r .id)
		tries=$((tries + 1))
	done
}

for p in ingest planner executor gateway gitops vault auditor web; do
	t_wait 15 t_all_ready
	n=$(s_gh POST /_double/issues "$(jq -nc --arg r "$S_REPO" --arg p "$p" '{repo: $r, title: ("kill " + $p), body: "add.sh subtracts"}')" | jq -r .number)
	d=$(s_gh POST /_double/labels "$(jq -nc --arg r "$S_REPO" --argjson n "$n" '{repo: $r, number: $n, label: "jido:fix"}')" | jq -r .delivery)
	if [ "$p" = ingest ]; then kill -9 "$(pid_of ingest)"; fi
	r=""
	for i in $(seq 1 300); do r=$(run_of "$d" 2>/dev/null) && break; sleep 0.2; done
	if [ -z "$r" ]; then ko "kill $p: the label started a run"; continue; fi
	case $p in
	ingest) ;;
	gitops | vault | auditor)
		s_run_wait "$r" "awaiting_approval failed" 240
		approve "$r"
		t_wait 20 step_running "$r" ship
		kill -9 "$(pid_of "$p")" ;;
	*)
		t_wait 120 step_running "$r" code
		kill -9 "$(pid_of "$p")" ;;
	esac
	if final=$(drive "$r"); then
		ok "kill -9 $p: the run completed ($final)"
	else
		ko "kill -9 $p: the run completed or failed with a clear reason ($(s_run "$final" | jq -c '{state, failure}'))"
	fi
	w=$(s_gh GET /_double/world)
	prs=$(echo "$w" | jq --arg r "$S_REPO" --arg re "#$n([^0-9]|$)" '[.gitops[$r].pulls[] | select(.body | test($re))] | length')
	cms=$(echo "$w" | jq --arg r "$S_REPO" --argjson n "$n" '[.gitops[$r].comments[] | select(.issue_number == $n and (.body | contains("/pull/")))] | length')
	if [ "$prs" -le 1 ] && [ "$cms" -le 1 ]; then
		ok "kill -9 $p: nothing pushed or posted twice ($prs PR, $cms comment)"
	else
		ko "kill -9 $p: nothing pushed or posted twice ($prs PRs, $cms comments)"
	fi
done
t_check "scenario 6: every process came back (all READY)" t_wait 15 t_all_ready
t_check "scenario 6: the audit log still verifies" jido audit verify
t_done
