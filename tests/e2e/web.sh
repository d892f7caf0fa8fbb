#!/usr/bin/env bash
# web.sh - jido-web end to end, as the owner and a script meet it, against the real binary
# under its seccomp allowlist and tests/e2e/web_fake.py standing in for the planner, the
# auditor and the rest (the real planner is not merged yet): security headers, first-run
# setup, CSRF, sessions (rotated at login, dead after logout), login rate limit, pages with
# escaping, workbench filters and kickoff, a run's live log over SSE with Last-Event-ID,
# approval with rationale, API tokens (scopes, revocation, rate limit, audit first), REST
# responses validated against web/openapi.json, /metrics, /readyz.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
PORT=$(t_free_port)
W="http://127.0.0.1:$PORT"
J="$JIDO_HOME/jar"
OA="$top/web/openapi.json"
python3 "$top/tests/e2e/web_fake.py" "$JIDO_HOME" 2>"$JIDO_HOME/fake.log" &
FAKE=$!
t_wait 5 test -e "$JIDO_HOME/fake-ready" || { fail "fake stack did not start"; t_done; }
export JIDO_WEB_LISTEN="127.0.0.1:$PORT" JIDO_WEB_API_BURST=30 JIDO_WEB_API_PER_MIN=60
JIDO_PROC_CRED=$(openssl rand -hex 32) jido-web serve 2>"$JIDO_HOME/web.log" &
WEB=$!
cleanup_web() { kill "$WEB" "$FAKE" 2>/dev/null; wait "$WEB" "$FAKE" 2>/dev/null; t_cleanup; }
trap cleanup_web EXIT
t_wait 5 curl -sf "$W/healthz" || { fail "jido-web did not answer /healthz"; cat "$JIDO_HOME/web.log"; t_done; }

csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
get() { curl -s -b "$J" -c "$J" "$W$1"; }
status() { curl -s -o "$JIDO_HOME/body" -D "$JIDO_HOME/hdr" -w '%{http_code}' -b "$J" -c "$J" "$@"; }
hdr() { grep -i "^$1:" "$JIDO_HOME/hdr" | head -1 | cut -d' ' -f2- | tr -d '\r'; }
# api METHOD PATH TOKEN [JSON]: status into $code, body in $JIDO_HOME/body
api() {
	local args=(-s -o "$JIDO_HOME/body" -D "$JIDO_HOME/hdr" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3")
	[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data "$4")
	code=$(curl "${args[@]}" "$W$2")
}
# oa METHOD TEMPLATE: the last API answer validates against the OpenAPI file
oa() { python3 "$top/tests/e2e/web_openapi.py" "$OA" "$1" "$2" "$code" "$JIDO_HOME/body"; }

# --- headers, health, static
c=$(status "$W/healthz")
t_check "/healthz 200" test "$c" = 200
csp=$(hdr Content-Security-Policy)
t_check "CSP forbids inline script and framing" sh -c "echo \"$csp\" | grep -q \"script-src 'self'\" && echo \"$csp\" | grep -q \"frame-ancestors 'none'\" && ! echo \"$csp\" | grep -q unsafe"
t_check "nosniff and Referrer-Policy on every response" sh -c '[ "$(grep -ci "^x-content-type-options: nosniff" '"$JIDO_HOME/hdr"')" = 1 ] && grep -qi "^referrer-policy: no-referrer" '"$JIDO_HOME/hdr"
c=$(status "$W/static/app.css")
t_check "app.css served as text/css with a dark theme" sh -c "[ $c = 200 ] && grep -qi 'content-type: text/css' '$JIDO_HOME/hdr' && grep -q 'prefers-color-scheme: dark' '$JIDO_HOME/body'"
c=$(status "$W/static/live.js")
t_check "live.js served as JavaScript" sh -c "[ $c = 200 ] && grep -qi 'content-type: text/javascript' '$JIDO_HOME/hdr' && grep -q EventSource '$JIDO_HOME/body'"
c=$(status "$W/readyz")
t_check "/readyz 200 when every process is READY" sh -c "[ $c = 200 ] && jq -e '.status == \"ready\" and (.processes | length == 8)' '$JIDO_HOME/body' >/dev/null"

# --- first run: everything goes to /setup
c=$(status "$W/dashboard")
t_check "before setup /dashboard redirects to /setup" sh -c "[ $c = 303 ] && [ '$(hdr Location)' = /setup ]"
c=$(status "$W/login")
t_check "before setup /login redirects to /setup" test "$c" = 303
api GET /api/v1/projects jido_000000000000000000000000000000000000000000000000
t_check "API without a valid token is 401" sh -c "[ $code = 401 ] && jq -e '.error.code == \"authorization_error\"' '$JIDO_HOME/body' >/dev/null"
page=$(get /setup)
tok=$(echo "$page" | csrf)
t_check "setup page carries a CSRF token" test ${#tok} -eq 64
c=$(status -X POST --data "step=password&password=correct-horse-1&password2=correct-horse-1" "$W/setup")
t_check "setup POST without the CSRF token is refused (403)" test "$c" = 403
c=$(status "$W/dashboard")
t_check "and changed nothing (still redirected to /setup)" test "$(hdr Location)" = /setup
c=$(status -X POST --data "csrf=$tok&step=password&password=short&password2=short" "$W/setup")
t_check "a short password is a typed validation error (422)" sh -c "[ $c = 422 ] && grep -q validation_error '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&step=password&password=correct-horse-1&password2=correct-horse-1" "$W/setup")
cookie=$(grep -i '^set-cookie: jido_session=' "$JIDO_HOME/hdr" | tr -d '\r')
t_check "setup sets the password and a session cookie" sh -c "[ $c = 303 ] && [ -n '$cookie' ]"
t_check "session cookie is HttpOnly and SameSite=Strict" sh -c "echo '$cookie' | grep -q HttpOnly && echo '$cookie' | grep -q SameSite=Strict"
t_check "the password is not in the web database in clear" sh -c "! grep -a -q correct-horse-1 '$JIDO_HOME'/web.db*"
c=$(status "$W/workbench")
t_check "until setup is finished pages still go to /setup" sh -c "[ $c = 303 ] && [ '$(hdr Location)' = /setup ]"
t_check "the CSRF key came from the vault (web.session_key)" sh -c "jido call web web.stats | jq -e '.session_key_from_vault' >/dev/null"
tok=$(get /setup | csrf)
c=$(status -X POST --data "csrf=$tok&step=github&token=short" "$W/setup")
t_check "setup: a malformed GitHub token is refused (422), nothing stored" sh -c "[ $c = 422 ] && [ ! -e '$JIDO_HOME/fake-vault.json' ]"
c=$(status -X POST --data "csrf=$tok&step=github&token=ghp_bad0000000000000000000000000000" "$W/setup")
t_check "setup: a token GitHub refuses shows the provider error" sh -c "[ $c = 502 ] && grep -q 'Bad credentials' '$JIDO_HOME/body' && ! grep -q ghp_bad '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&step=github&token=ghp_good000000000000000000000000000" "$W/setup")
t_check "setup: a good token goes to the vault, repos are listed (escaped), never echoed" sh -c "[ $c = 200 ] && jq -e '.\"github.token\" == \"ghp_good000000000000000000000000000\"' '$JIDO_HOME/fake-vault.json' >/dev/null && grep -q 'acme/&lt;tools&gt;' '$JIDO_HOME/body' && ! grep -q ghp_good '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&step=webhook" "$W/setup")
wh=$(grep -o 'paste it into GitHub): [0-9a-f]*' "$JIDO_HOME/body" | sed 's/.*: //')
t_check "setup: a webhook secret is generated into the vault and shown once" sh -c "[ $c = 200 ] && [ ${#wh} = 64 ] && jq -e '.\"github.webhook_secret\" == \"$wh\"' '$JIDO_HOME/fake-vault.json' >/dev/null && grep -q '/api/github/webhooks' '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&step=ping" "$W/setup")
t_check "setup: no ping yet is said so" grep -q 'No ping delivery yet' "$JIDO_HOME/body"
touch "$JIDO_HOME/fake-ping"
c=$(status -X POST --data "csrf=$tok&step=ping" "$W/setup")
t_check "setup: the ping delivery is seen" grep -q 'the webhook works' "$JIDO_HOME/body"
c=$(status -X POST --data "csrf=$tok&step=llm&anthropic=not+a+key" "$W/setup")
t_check "setup: a malformed LLM key is refused (422)" sh -c "[ $c = 422 ] && ! jq -e 'has(\"llm.anthropic.api_key\")' '$JIDO_HOME/fake-vault.json' >/dev/null"
c=$(status -X POST --data "csrf=$tok&step=llm&anthropic=sk-ant-0123456789abcdef0123" "$W/setup")
t_check "setup: an LLM key goes to the vault under the gateway's name" sh -c "[ $c = 200 ] && jq -e '.\"llm.anthropic.api_key\" == \"sk-ant-0123456789abcdef0123\"' '$JIDO_HOME/fake-vault.json' >/dev/null && ! grep -q sk-ant-0123 '$JIDO_HOME/body'"
t_check "setup: every secret write was audited" sh -c "[ \$(grep -c 'secret\\.' '$JIDO_HOME/fake-audit.jsonl') -ge 3 ]"
c=$(status -X POST --data "csrf=$tok&step=import&repos=bad%20name" "$W/setup")
t_check "a bad repo name fails the import step, setup stays unfinished" sh -c "[ $c = 422 ] && [ \$(curl -s -o /dev/null -w '%{http_code}' -b '$J' '$W/dashboard') = 303 ]"
c=$(status -X POST --data "csrf=$tok&step=import&repos=acme%2Fgadgets" "$W/setup")
t_check "setup finishes with an import" sh -c "[ $c = 303 ] && [ '$(hdr Location)' = /dashboard ]"
c=$(status "$W/dashboard")
t_check "dashboard renders after setup" sh -c "[ $c = 200 ] && grep -q 'approvals waiting' '$JIDO_HOME/body'"
c=$(status "$W/projects")
t_check "projects lists the imported repo" sh -c "[ $c = 200 ] && grep -q 'acme/gadgets' '$JIDO_HOME/body'"

# --- workbench: escaping, filters in the URL, kickoff
page=$(get /workbench)
t_check "workbench escapes titles from GitHub" sh -c "echo '$(echo "$page" | grep -o 'Crash on [^<]*' | head -1)' | grep -q '&lt;empty&gt; input &amp; &quot;quotes&quot;'"
t_check "no raw markup from data on the page" sh -c "! echo \"\$0\" | grep -q '<empty>'" "$page"
t_check "no inline script on any page" sh -c "! echo \"\$0\" | grep -q '<script>'" "$page"
t_check "a javascript: URL from outside data never becomes a link" sh -c "! echo \"\$0\" | grep -qi 'href=\"javascript:'" "$page"
page=$(get "/workbench?fresh=stale")
t_check "freshness filter in the URL (stale only)" sh -c "echo \"\$0\" | grep -q 'Old stale bug' && ! echo \"\$0\" | grep -q 'Crash on'" "$page"
page=$(get "/workbench?kind=prs&sort=activity")
t_check "kind filter in the URL (PRs only), kept in the form" sh -c "echo \"\$0\" | grep -q 'Add a feature' && ! echo \"\$0\" | grep -q 'Old stale bug' && echo \"\$0\" | grep -q 'value=\"prs\" selected'" "$page"
tok=$(get /workbench | csrf)
c=$(status -X POST --data "project=1&issue=7&workflow=fix_issue" "$W/workbench/kickoff")
t_check "kickoff without the CSRF token is refused and starts nothing" sh -c "[ $c = 403 ] && ! grep -q 'planner.runs.create' '$JIDO_HOME/fake-calls.jsonl'"
c=$(status -X POST --data "csrf=$tok&project=1&issue=7&workflow=nonesuch" "$W/workbench/kickoff?kind=issues")
t_check "kickoff of an unknown workflow shows the typed error inline" sh -c "[ $c = 404 ] && grep -q 'not_found' '$JIDO_HOME/body' && grep -q 'value=\"issues\" selected' '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&project=1&issue=7&workflow=fix_issue" "$W/workbench/kickoff")
run=$(grep -o 'Started run <a href="/projects/1/runs/[A-Za-z0-9]*"' "$JIDO_HOME/body" | sed 's/.*runs\///;s/"//')
t_check "kickoff answers with a link to the new run" sh -c "[ $c = 200 ] && [ -n '$run' ]"

# --- the run page, live log over SSE, resume
c=$(status "$W/projects/1/runs/$run")
t_check "run page renders with the live log box and live.js" sh -c "[ $c = 200 ] && grep -q 'data-src=\"/projects/1/runs/$run/events\"' '$JIDO_HOME/body' && grep -q 'src=\"/static/live.js\"' '$JIDO_HOME/body'"
c=$(status "$W/projects/2/runs/$run")
t_check "a run under the wrong project is 404" test "$c" = 404
sleep 1.5
timeout 2 curl -s -N -b "$J" "$W/projects/1/runs/$run/events" >"$JIDO_HOME/sse1"
t_check "SSE replays the run's log lines" sh -c "[ \$(grep -c '^event: log' '$JIDO_HOME/sse1') = 5 ] && grep -q 'working <line> 5' '$JIDO_HOME/sse1'"
t_check "SSE carries state events" grep -q '^event: state' "$JIDO_HOME/sse1"
second=$(grep '^id: ' "$JIDO_HOME/sse1" | sed -n 2p | cut -d' ' -f2)
total=$(grep -c '^id: ' "$JIDO_HOME/sse1")
timeout 2 curl -s -N -b "$J" -H "Last-Event-ID: $second" "$W/projects/1/runs/$run/events" >"$JIDO_HOME/sse2"
t_check "Last-Event-ID resumes after that event" sh -c "[ \$(grep -c '^id: ' '$JIDO_HOME/sse2') = $((total - 2)) ] && ! grep -q '^event: gap' '$JIDO_HOME/sse2'"
timeout 2 curl -s -N -b "$J" -H "Last-Event-ID: 1-5" "$W/projects/1/runs/$run/events" >"$JIDO_HOME/sse3"
t_check "an id from another web start gets a gap marker, then everything" sh -c "grep -q '^event: gap' '$JIDO_HOME/sse3' && [ \$(grep -c '^event: log' '$JIDO_HOME/sse3') = 5 ]"
c=$(status "$W/projects/1/runs/$run")
t_check "run waits for approval, diff escaped" sh -c "grep -q 'awaiting_approval' '$JIDO_HOME/body' && grep -q 'new &lt;b&gt;' '$JIDO_HOME/body'"

# --- approve with a rationale
tok=$(csrf <"$JIDO_HOME/body")
c=$(status -X POST --data "csrf=$tok&decision=approve&rationale=short" "$W/projects/1/runs/$run/decide")
t_check "approval without a real rationale is refused inline (422)" sh -c "[ $c = 422 ] && grep -q 'rationale' '$JIDO_HOME/body'"
c=$(status -X POST --data "csrf=$tok&decision=approve&rationale=Looks+right%2C+tests+pass" "$W/projects/1/runs/$run/decide")
t_check "approval with a rationale goes through" test "$c" = 303
c=$(status "$W/projects/1/runs/$run")
t_check "the run is completed and shows the PR link" sh -c "grep -q 'class=\"state completed\"' '$JIDO_HOME/body' && grep -q 'pull/99' '$JIDO_HOME/body'"
t_check "the planner heard channel web and the rationale" sh -c "grep 'approvals.decide' '$JIDO_HOME/fake-calls.jsonl' | tail -1 | jq -e '.data.channel == \"web\" and .data.rationale == \"Looks right, tests pass\"' >/dev/null"

# --- sessions: rotated at login, dead after logout
old=$(awk '$6 == "jido_session" {print $7}' "$J")
tok=$(get /dashboard | csrf)
c=$(status -X POST --data "csrf=$tok" "$W/logout")
t_check "logout redirects to /login" sh -c "[ $c = 303 ] && [ '$(hdr Location)' = /login ]"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: jido_session=$old" "$W/dashboard")
t_check "a session cookie from before logout is refused" test "$c" = 303
tok=$(get /login | csrf)
c=$(status -X POST --data "csrf=$tok&password=correct-horse-1" "$W/login")
new=$(awk '$6 == "jido_session" {print $7}' "$J")
t_check "login works and rotates the session" sh -c "[ $c = 303 ] && [ -n '$new' ] && [ '$new' != '$old' ]"

# --- login rate limit: from another loopback address, the sixth attempt in a minute is 429
rl() { curl -s -o /dev/null -D "$JIDO_HOME/rlh" -w '%{http_code}' --interface 127.0.0.2 -b "$JIDO_HOME/rljar" -c "$JIDO_HOME/rljar" "$@"; }
rtok=$(curl -s --interface 127.0.0.2 -b "$JIDO_HOME/rljar" -c "$JIDO_HOME/rljar" "$W/login" | csrf)
codes=""
for i in 1 2 3 4 5 6; do codes="$codes $(rl -X POST --data "csrf=$rtok&password=wrong-$i" "$W/login")"; done
t_check "five wrong passwords are 403, the sixth attempt is 429" test "$codes" = " 403 403 403 403 403 429"
t_check "429 carries Retry-After" grep -qi '^retry-after: [0-9]' "$JIDO_HOME/rlh"
c=$(rl -X POST --data "csrf=$rtok&password=correct-horse-1" "$W/login")
t_check "even the right password waits out the limit" test "$c" = 429

# --- API tokens
mk_token() { # name scopes... -> token text
	local t q="csrf=$(get /settings/api | csrf)&name=$1&expires_days=30"
	shift
	for s in "$@"; do q="$q&scope_$s=1"; done
	curl -s -b "$J" -c "$J" -X POST --data "$q" "$W/settings/api/tokens" | grep -o 'id="new-token">jido_[0-9a-f]*' | sed 's/.*>//'
}
RT=$(mk_token reader read)
t_check "a read token is shown once on creation" test ${#RT} -eq 53
t_check "the token is not stored in clear" sh -c "! grep -a -q '$RT' '$JIDO_HOME/web.db'*"
t_check "token creation was audited first" sh -c "grep -q 'api_token.create' '$JIDO_HOME/fake-audit.jsonl'"
page=$(get /settings/api)
t_check "the token list never shows the secret again" sh -c "! echo \"\$0\" | grep -q '$RT' && echo \"\$0\" | grep -q reader" "$page"
touch "$JIDO_HOME/fake-audit-fail"
X=$(mk_token nope read)
rm -f "$JIDO_HOME/fake-audit-fail"
if [ -z "$X" ] && ! get /settings/api | grep -q '<td>nope</td>'; then pass "no audit record, no token"; else fail "no audit record, no token"; fi
api GET /api/v1/projects "$RT"
t_check "GET /api/v1/projects with a read token" sh -c "[ $code = 200 ] && grep -qi '^x-ratelimit-remaining: [0-9]' '$JIDO_HOME/hdr' && grep -qi '^x-ratelimit-limit: 30' '$JIDO_HOME/hdr'"
t_check "  matches the OpenAPI schema" oa GET /api/v1/projects
api GET /api/v1/projects/1 "$RT"; t_check "GET /api/v1/projects/{id} 200" test "$code" = 200; oa GET /api/v1/projects/{id} || fail "project schema"
api GET /api/v1/workbench "$RT"; t_check "GET /api/v1/workbench 200 + schema" sh -c "[ $code = 200 ]" ; oa GET /api/v1/workbench || fail "workbench schema"
api GET "/api/v1/runs?project=1" "$RT"; t_check "GET /api/v1/runs 200 + schema" test "$code" = 200; oa GET /api/v1/runs || fail "runs schema"
api GET "/api/v1/runs/$run" "$RT"; t_check "GET /api/v1/runs/{run_id} 200 + schema" test "$code" = 200; oa GET /api/v1/runs/{run_id} || fail "run schema"
api GET /api/v1/runs/nonesuch "$RT"
t_check "unknown run is 404 not_found (schema)" sh -c "[ $code = 404 ] && jq -e '.error.code == \"not_found\"' '$JIDO_HOME/body' >/dev/null"; oa GET /api/v1/runs/{run_id} || fail "404 schema"
api GET /api/v1/approvals "$RT"; t_check "GET /api/v1/approvals 200" test "$code" = 200; oa GET /api/v1/approvals || fail "approvals schema"
api GET /api/v1/shipping "$RT"; t_check "GET /api/v1/shipping 200" test "$code" = 200; oa GET /api/v1/shipping || fail "shipping schema"
api POST /api/v1/runs "$RT" '{"project":1,"workflow":"fix_issue","issue":7}'
t_check "a read token cannot kick off (403)" sh -c "[ $code = 403 ] && grep -q run '$JIDO_HOME/body'"; oa POST /api/v1/runs || fail "403 schema"
api GET /api/v1/tokens "$RT"; t_check "a read token cannot list tokens (403)" test "$code" = 403
RUNT=$(mk_token runner run read)
api POST /api/v1/runs "$RUNT" '{"project":1,"workflow":"fix_issue","issue":9}'
run2=$(jq -r .id "$JIDO_HOME/body")
t_check "POST /api/v1/runs with a run token is 201 + schema" test "$code" = 201; oa POST /api/v1/runs || fail "201 schema"
t_check "the kickoff was audited on channel api" sh -c "tail -1 '$JIDO_HOME/fake-audit.jsonl' | jq -e '.channel == \"api\"' >/dev/null"
api POST /api/v1/runs "$RUNT" '{"project":1,'
t_check "malformed JSON body is 400 validation_error" sh -c "[ $code = 400 ] && jq -e '.error.code == \"validation_error\"' '$JIDO_HOME/body' >/dev/null"
api POST /api/v1/runs "$RUNT" '{"project":1}'
t_check "missing workflow is 422 validation_error" sh -c "[ $code = 422 ] && jq -e '.error.code == \"validation_error\"' '$JIDO_HOME/body' >/dev/null"; oa POST /api/v1/runs || fail "422 schema"
sleep 1.5
api POST "/api/v1/runs/$run2/approve" "$RUNT" '{"rationale":"fine by me, ship it"}'
t_check "a token without the approve scope cannot approve (403)" test "$code" = 403
AT=$(mk_token approver approve)
api POST "/api/v1/runs/$run2/approve" "$AT" '{"rationale":"ok"}'
t_check "approve with a short rationale: 422" test "$code" = 422
api POST "/api/v1/runs/$run2/approve" "$AT" '{"rationale":"fine by me, ship it"}'
t_check "an approve token approves (200 + schema)" sh -c "[ $code = 200 ] && jq -e '.state == \"completed\"' '$JIDO_HOME/body' >/dev/null"; oa POST /api/v1/runs/{run_id}/approve || fail "approve schema"
api POST "/api/v1/runs/$run2/approve" "$AT" '{"rationale":"fine by me, ship it"}'
t_check "approving twice is 409 conflict" sh -c "[ $code = 409 ] && jq -e '.error.code == \"conflict\"' '$JIDO_HOME/body' >/dev/null"
api POST "/api/v1/runs/$run2/retry" "$RUNT"
t_check "retrying a completed run is 409" test "$code" = 409
timeout 2 curl -s -N -H "Authorization: Bearer $RUNT" "$W/api/v1/runs/$run2/events" >"$JIDO_HOME/sse4"
t_check "API SSE with a read-scoped token streams the run's log" sh -c "[ \$(grep -c '^event: log' '$JIDO_HOME/sse4') = 5 ]"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$W/api/v1/runs/$run2/events")
t_check "API SSE needs the read scope (403 for an approve-only token)" test "$c" = 403
api POST /api/v1/runs "$RUNT" '{"project":"acme/widgets","workflow":"issue_triage","issue":9}'
run3=$(jq -r .id "$JIDO_HOME/body")
t_check "kickoff by project full name (201)" test "$code" = 201
api POST "/api/v1/runs/$run3/cancel" "$RUNT" '{"reason":"not needed after all"}'
t_check "cancel over the API (200 + schema)" sh -c "[ $code = 200 ] && jq -e '.state == \"cancelled\"' '$JIDO_HOME/body' >/dev/null"; oa POST /api/v1/runs/{run_id}/cancel || fail "cancel schema"
api POST "/api/v1/runs/$run3/retry" "$RUNT"
t_check "retry of a cancelled run is a new run (201 + schema)" sh -c "[ $code = 201 ] && jq -e '.parent_id == \"$run3\" and .attempt == 2' '$JIDO_HOME/body' >/dev/null || { echo \"# $code: \$(cat '$JIDO_HOME/body')\"; false; }"; oa POST /api/v1/runs/{run_id}/retry || fail "retry schema"
ADM=$(mk_token admin admin)
api PATCH /api/v1/projects/1 "$ADM" '{"settings":{"stale_days":7}}'
t_check "PATCH a project with an admin token (200 + schema)" sh -c "[ $code = 200 ] && jq -e '.settings.stale_days == 7' '$JIDO_HOME/body' >/dev/null"; oa PATCH /api/v1/projects/{id} || fail "patch schema"
api PATCH /api/v1/projects/1 "$ADM" '{"settings":{"nonsense":1}}'
t_check "an unknown setting is 422 and changes nothing" sh -c "[ $code = 422 ] && jq -e '.error.code == \"validation_error\"' '$JIDO_HOME/body' >/dev/null"
api PATCH /api/v1/projects/1 "$RUNT" '{"settings":{"stale_days":3}}'
t_check "PATCH needs admin (403)" test "$code" = 403
api POST /api/v1/projects/import "$ADM" '{"repos":["acme/api-made"]}'
t_check "import over the API (200 + schema)" sh -c "[ $code = 200 ] && jq -e '.created == [\"acme/api-made\"]' '$JIDO_HOME/body' >/dev/null"; oa POST /api/v1/projects/import || fail "import schema"
api POST /api/v1/shipping "$ADM" '{"paused":true}'
t_check "kill switch without a rationale is 422" test "$code" = 422
api POST /api/v1/shipping "$ADM" '{"paused":true,"rationale":"release freeze this week"}'
t_check "kill switch over the API (200 + schema)" sh -c "[ $code = 200 ] && jq -e '.paused == true' '$JIDO_HOME/body' >/dev/null"; oa POST /api/v1/shipping || fail "shipping schema"
api POST /api/v1/shipping "$ADM" '{"paused":false,"rationale":"freeze is over now"}'
api GET /api/v1/tokens "$ADM"
t_check "GET /api/v1/tokens lists tokens without secrets (schema)" sh -c "[ $code = 200 ] && ! grep -q '$RUNT' '$JIDO_HOME/body'"; oa GET /api/v1/tokens || fail "tokens schema"
api POST /api/v1/runs "$RUNT" 'not json'
t_check "a body that is not JSON with a JSON content type is 400" test "$code" = 400
code=$(curl -s -o "$JIDO_HOME/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $RUNT" -H 'Content-Type: text/plain' --data 'x' "$W/api/v1/runs")
t_check "a body that is not application/json is 415" test "$code" = 415
# revoke the read token: refused at once
id=$(get /settings/api | grep -o '<td>reader</td>.*' | grep -o 'tokens/[0-9]*/revoke' | head -1 | cut -d/ -f2)
tok=$(get /settings/api | csrf)
curl -s -o /dev/null -b "$J" -X POST --data "csrf=$tok" "$W/settings/api/tokens/$id/revoke"
api GET /api/v1/projects "$RT"
t_check "a revoked token is refused at once (401)" test "$code" = 401
# rate limit: bucket of 30 (stop at the first 429, so the headers checked are its own:
# on a slow machine the bucket refills a token while the 40 requests run)
codes=""
for i in $(seq 1 40); do api GET /api/v1/shipping "$RUNT"; codes="$codes $code"; [ "$code" = 429 ] && break; done
echo "# bucket codes:$codes"
t_check "API token bucket: 429 once the bucket is empty" sh -c "echo '$codes' | grep -q 429 && echo '$codes' | grep -q 200"
t_check "429 has Retry-After and X-RateLimit-Remaining 0" sh -c "grep -qi '^retry-after: [0-9]' '$JIDO_HOME/hdr' && grep -qi '^x-ratelimit-remaining: 0' '$JIDO_HOME/hdr'"
c=$(curl -s -o "$JIDO_HOME/body" -w '%{http_code}' "$W/api/v1/openapi.json")
t_check "openapi.json is served" sh -c "[ $c = 200 ] && jq -e '.openapi == \"3.1.0\"' '$JIDO_HOME/body' >/dev/null"

# --- pages that read other processes
for p in /agents /settings/security /settings/api "/projects/1"; do
	c=$(status "$W$p")
	t_check "page $p renders" test "$c" = 200
done
page=$(get /agents)
t_check "agents page: the usage chart has a bar per day with its cost" sh -c "echo \"\$0\" | grep -q '<svg class=\"chart\"' && [ \$(echo \"\$0\" | grep -o '<rect class=\"bar\"' | wc -l) -eq 2 ] && echo \"\$0\" | grep -q '2026-12-02: \$0.0456'" "$page"
t_check "agents page: usage by project and model, costliest runs linked and escaped" sh -c "echo \"\$0\" | grep -q '<td>acme/widgets</td><td>13</td>' && echo \"\$0\" | grep -q 'claude-sonnet-4-5' && echo \"\$0\" | grep -q 'href=\"/runs/run-%3Cb%3E1\"><code>run-&lt;b&gt;1</code>'" "$page"
page=$(get /settings/security)
t_check "security page lists the vault's secrets with rotate buttons" sh -c "echo \"\$0\" | grep -q 'github.token' && echo \"\$0\" | grep -q 'action=\"/settings/security/rotate\"'" "$page"
tok=$(echo "$page" | csrf)
c=$(status -X POST --data "csrf=$tok&name=github.token&value=ghp_rotated00000000000000000000000" "$W/settings/security/rotate")
t_check "rotate a secret from the security page" sh -c "[ $c = 303 ] && jq -e '.\"github.token\" == \"ghp_rotated00000000000000000000000\"' '$JIDO_HOME/fake-vault.json' >/dev/null"
c=$(status -X POST --data "csrf=$tok&name=nonesuch&value=x" "$W/settings/security/rotate")
t_check "rotating an unknown secret is a typed 404" sh -c "[ $c = 404 ] && grep -q not_found '$JIDO_HOME/body'"
tok=$(get /settings/security | csrf)
c=$(status -X POST --data "csrf=$tok&paused=1&rationale=incident+in+progress" "$W/settings/security/shipping")
t_check "kill switch from the security page" sh -c "[ $c = 303 ] && curl -s -b '$J' '$W/settings/security' | grep -q 'Shipping is <strong>paused'"
tok=$(get /projects/1 | csrf)
before=$(grep -c 'projects.update' "$JIDO_HOME/fake-calls.jsonl")
c=$(status -X POST --data "csrf=$tok&enabled=1&max_diff_lines=lots" "$W/projects/1")
t_check "a bad project setting is a typed error and changes nothing" sh -c "[ $c = 422 ] && [ \$(grep -c 'projects.update' '$JIDO_HOME/fake-calls.jsonl') = $before ]"
c=$(status -X POST --data "csrf=$tok&enabled=1&auto_ship=1&max_diff_lines=300" "$W/projects/1")
t_check "project settings saved" sh -c "[ $c = 200 ] && grep -q 'Settings saved' '$JIDO_HOME/body' && grep 'projects.update' '$JIDO_HOME/fake-calls.jsonl' | tail -1 | jq -e '.data.settings.auto_ship == true and .data.settings.max_diff_lines == 300' >/dev/null"

# --- metrics
c=$(status "$W/metrics")
t_check "/metrics answers in the Prometheus text format" sh -c "[ $c = 200 ] && grep -q '^# TYPE jido_runs gauge' '$JIDO_HOME/body' && grep -q '^jido_process_up{process=\"planner\"} 1' '$JIDO_HOME/body'"
t_check "/metrics gathers ingest's webhook counters" sh -c "grep -q '^jido_ingest_http_bad_signature 1' '$JIDO_HOME/body' && grep -q '^jido_ingest_secret_loaded 1' '$JIDO_HOME/body'"
t_check "/metrics counts approvals waiting and the login limit" sh -c "grep -q '^jido_approvals_waiting ' '$JIDO_HOME/body' && grep -q 'jido_web_logins_total{result=\"rate_limited\"} [1-9]' '$JIDO_HOME/body'"
if command -v promtool >/dev/null; then
	t_check "promtool check metrics accepts /metrics" sh -c "promtool check metrics <'$JIDO_HOME/body'"
else
	echo "# promtool not installed: skipped"
fi

# --- without the other processes
kill "$FAKE"; wait "$FAKE" 2>/dev/null
rm -f "$JIDO_HOME"/run/planner.sock
c=$(status "$W/readyz")
t_check "/readyz 503 when processes are down" sh -c "[ $c = 503 ] && jq -e '.processes.planner == \"DOWN\"' '$JIDO_HOME/body' >/dev/null"
c=$(status "$W/dashboard")
t_check "dashboard says the planner is unavailable (503), no crash" sh -c "[ $c = 503 ] && grep -q unavailable '$JIDO_HOME/body'"
api GET /api/v1/shipping "$RUNT"
t_check "API maps an absent planner to 503 unavailable" sh -c "[ $code = 503 ] || [ $code = 429 ]"

# --- listen address policy
t_check "a non-loopback listen address is refused without web.allow_remote (exit 2)" sh -c "JIDO_HOME='$JIDO_HOME/other' JIDO_WEB_LISTEN=0.0.0.0:$(t_free_port) jido-web serve 2>&1 | grep -q 'web.allow_remote'"

# --- stop
kill -TERM "$WEB"; wait "$WEB"; rc=$?
t_check "jido-web exits 0 on SIGTERM (no seccomp kill)" test "$rc" -eq 0
t_check "no secret in the web's log" sh -c "! grep -q 'correct-horse-1\|$RT\|ghp_good\|ghp_rotated\|sk-ant-\|$wh' '$JIDO_HOME/web.log'"
t_done
