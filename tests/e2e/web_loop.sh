#!/usr/bin/env bash
# web_loop.sh - the owner's first session in a real browser against the real stack
# (tests/stack.sh: every process, the GitHub double, the Anthropic doubles, Claude Code):
# tests/browser/walkthrough.js (playwright-core driving Debian's chromium) sets the owner
# password, stores the GitHub token, imports octo/demo from the double, kicks off a fix
# run from the workbench, watches its log live, approves with a rationale and sees the PR
# link. Screenshots go to build/artifacts/browser-loop/ (or $JIDO_ARTIFACTS). Without
# chromium or the npm package it says SKIP, not PASS.
. "$(dirname "$0")/../stack.sh"
shots=${JIDO_ARTIFACTS:-$S_TOP/build/artifacts}/browser-loop
mkdir -p "$shots" && rm -f "$shots"/*.png
if ! command -v chromium >/dev/null; then
	echo "SKIP: browser walkthrough: Debian chromium is not installed"
	exit 0
fi
if [ ! -d "$S_TOP/tests/browser/node_modules/playwright-core" ]; then
	(cd "$S_TOP/tests/browser" && npm install --no-audit --no-fund >/dev/null 2>&1) || {
		echo "SKIP: browser walkthrough: npm could not install playwright-core"
		exit 0
	}
fi
S_WEB_SETUP=0
s_start; S_RC=$?
[ $S_RC = 2 ] && { echo "SKIP: the whole loop needs the Claude Code CLI (see above)"; exit 0; }
if [ $S_RC != 0 ]; then fail "stack: start"; t_done; fi
pass "stack: all eight processes READY"
# the model fixes add.sh; an opened issue starts no triage (the walkthrough is the fix)
curl -s -X POST --data '{"tools":[{"name":"Bash","input":{"command":"sed -i \"s/- \\$2/+ \\$2/\" add.sh && sh test.sh","description":"fix"}}],"text":"add.sh now adds."}' "$S_A1C/script" >/dev/null
jido call planner planner.projects.update "$(jq -nc --arg r "$S_REPO" '{project: $r, settings: {triggers: {issue_opened: null}}}')" >/dev/null
s_gh POST /_double/issues "$(jq -nc --arg r "$S_REPO" '{repo: $r, title: "add.sh subtracts instead of adding", body: "2 + 2 is not 0"}')" >/dev/null
WT_PASSWORD=$S_PASSWORD WT_TOKEN=$S_TOKEN WT_REPOS=$S_REPO WT_ISSUE="add.sh subtracts instead of adding" \
WT_LOG="workspace: fetching" WT_PR="pull/" WT_WAIT_MS=180000 \
	timeout 400 node "$S_TOP/tests/browser/walkthrough.js" "$S_WEB" "$shots"
rc=$?
[ $rc -eq 0 ] || T_FAILS=$((T_FAILS + 1))
t_check "screenshots saved for every page" sh -c "[ \$(ls '$shots'/*.png 2>/dev/null | wc -l) -ge 12 ]"
s_gh GET /_double/world >"$S_SECRETS/world.json"
t_check "the PR the browser's approval shipped is open on the double" jq -e --arg r "$S_REPO" '[.gitops[$r].pulls[]] | length == 1' "$S_SECRETS/world.json"
t_check "every request to the GitHub double was valid GitHub API" sh -c "[ \"\$(curl -s $S_GH/_double/violations)\" = '[]' ]"
t_done
