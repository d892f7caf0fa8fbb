#!/usr/bin/env bash
# demo.sh - `make demo`: the whole loop on one machine with no accounts and no network.
# Starts the stack (tests/stack.sh: all eight processes, the GitHub double with a sample
# repository octo/demo holding an open issue, two Anthropic doubles, the real Claude Code
# CLI as the agent), prints the web URL and the owner login, and waits. Start a fix from
# the workbench (or label the issue, as GitHub would: the command is printed), watch the
# live log, approve with a rationale, and the PR appears on the double.
#   --auto   do the clicks itself (kickoff, approve with `jido call`), check the PR, exit
#            0 when it is there: how tests and newcomers check that the demo works.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export JIDO_BIN=${JIDO_BIN:-$top/build/bin}
. "$top/tests/stack.sh"
auto=0
[ "${1:-}" = --auto ] && auto=1
if ! s_start octo/demo; then
	echo "jido: demo failed: the stack did not start (logs: $JIDO_HOME/up.log)" >&2
	exit 111
fi
# The scripted model: fix add.sh (it subtracts) and run the tests, like a coding agent.
curl -s -X POST --data '{"tools":[{"name":"Bash","input":{"command":"sed -i \"s/- \\$2/+ \\$2/\" add.sh && sh test.sh","description":"Fix the operator in add.sh and run the tests"}}],"text":"add.sh now adds its arguments; the tests pass."}' \
    "$S_A1C/script" >/dev/null
# no triage run for the sample issue: the demo is the fix
jido call planner planner.projects.update '{"project":"octo/demo","settings":{"triggers":{"issue_opened":null}}}' >/dev/null
issue=$(s_gh POST /_double/issues '{"repo":"octo/demo","title":"add.sh subtracts instead of adding","body":"`sh add.sh 2 2` prints 0. It should print 4."}' | jq -r .number)
jido call ingest ingest.sync '{"repos":["octo/demo"]}' >/dev/null 2>&1
cat <<MSG

  JidoCode demo is running.

    Web UI:   $S_WEB/login
    Owner:    password  $S_PASSWORD

  octo/demo (on the local GitHub double) has issue #$issue open. On the workbench, start
  a fix run for it (or label it jido:fix, as on GitHub:
    curl -s -X POST -d '{"repo":"octo/demo","number":$issue,"label":"jido:fix"}' $S_GH/_double/labels )
  then watch the run's live log, approve it with a rationale, and open the PR link.
  CLI: JIDO_HOME=$JIDO_HOME $JIDO_BIN/jido status
  The PRs on the double: curl -s $S_GH/_double/world | jq '.gitops[].pulls'

MSG
if [ $auto = 0 ]; then
	echo "  Ctrl-C stops everything."
	trap 'exit 0' INT TERM
	while kill -0 "$T_UP_PID" 2>/dev/null; do sleep 1; done
	exit 0
fi
run=$(jido call planner planner.runs.create "{\"project\":\"octo/demo\",\"workflow\":\"fix_issue\",\"issue\":$issue,\"actor\":\"owner\"}" | jq -r .id)
echo "demo: run $run started"
s_run_wait "$run" "awaiting_approval failed" 300 && [ "$(s_run_state "$run")" = awaiting_approval ] ||
	{ echo "jido: demo failed: the run did not reach its approval: $(s_run "$run" | jq -c .failure)" >&2; exit 1; }
echo "demo: run $run awaits approval; approving"
jido call planner planner.approvals.decide "{\"run_id\":\"$run\",\"decision\":\"approve\",\"rationale\":\"demo: the fix is right and the tests pass\",\"actor\":\"owner\",\"channel\":\"cli\"}" >/dev/null
s_run_wait "$run" "completed failed" 120 && [ "$(s_run_state "$run")" = completed ] ||
	{ echo "jido: demo failed: the ship did not complete: $(s_run "$run" | jq -c .failure)" >&2; exit 1; }
pr=$(s_gh GET /_double/world | jq -r '.gitops["octo/demo"].pulls[0] | "#\(.number) \(.title) (\(.head.ref))"')
echo "demo: PR $pr is open on the double"
[ "$pr" != "#null null (null)" ]
