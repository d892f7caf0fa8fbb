#!/usr/bin/env bash
# guard_project.sh - the per-project anomaly guard against the real stack (`jido up`): with
# planner.guard_pushes_per_hour = 2, a workflow whose one step ships: the first two ship
# steps go to gitops, the third is refused (the run parks as frozen, the step never reaches
# gitops); the freeze is audited (guard.freeze in `jido audit export`), raises a
# notification (the web's webhook notifier, to a local receiver), shows on the dashboard,
# in `jido projects frozen` and GET /api/v1/guard/projects; releasing the run is 423
# (`frozen`) over REST and exit 1 on the CLI; the freeze survives a restart of the stack;
# the owner unfreezes it (`jido projects unfreeze`, audited), the run is released and its
# ship goes to gitops, and the count starts afresh; comments count the same way
# (_comments_per_hour = 1: the second comment step freezes the project); no sanitizer
# report, no SIGSYS.
. "$(dirname "$0")/../lib.sh"
t_home
mkdir -p "$JIDO_HOME/workflows"
PORT=$(t_free_port)
NPORT=$(t_free_port)
W="http://127.0.0.1:$PORT"
J="$JIDO_HOME/jar"
export JIDO_WEB_LISTEN="127.0.0.1:$PORT" JIDO_WEB_PUBLIC_URL="$W"
export JIDO_INGEST_LISTEN="127.0.0.1:$(t_free_port)"
export JIDO_PLANNER_GUARD_PUSHES_PER_HOUR=2 JIDO_PLANNER_GUARD_COMMENTS_PER_HOUR=1
# GitHub: a closed port (a ship that reaches gitops fails there at once; the guard counts
# what the planner sends, so that does not matter here)
export JIDO_GITHUB_API_URL="http://127.0.0.1:$(t_free_port)"
export JIDO_WEB_NOTIFY=webhook JIDO_WEB_NOTIFY_URL="http://127.0.0.1:$NPORT/hook"
export JIDO_WEB_NOTIFY_SECRET=guard-e2e-hmac JIDO_WEB_NOTIFY_DEBOUNCE_S=1
export JIDO_WEB_NOTIFY_BREAKER_POLL_S=0

# the notification receiver: every POST body as one line
python3 -c "
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        with open(sys.argv[1], 'ab') as f:
            f.write(self.rfile.read(n).replace(b'\n', b' ') + b'\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', $NPORT), H).serve_forever()
" "$JIDO_HOME/notes" &
N_PID=$!
trap 'kill $N_PID 2>/dev/null; t_cleanup' EXIT

cat >"$JIDO_HOME/workflows/guard_ship.json" <<'EOF'
{"name":"guard_ship","version":1,"description":"one ship step (guard e2e)","steps":[
 {"id":"ship","kind":"ship","timeout_s":60}]}
EOF
cat >"$JIDO_HOME/workflows/guard_comment.json" <<'EOF'
{"name":"guard_comment","version":1,"description":"one comment step (guard e2e)","steps":[
 {"id":"say","kind":"comment","body":"hello from the guard e2e","timeout_s":60}]}
EOF

if t_start_stack 20; then pass "stack READY"; else fail "stack READY"; tail -20 "$JIDO_HOME/up.log"; t_done; fi
t_web_setup "$W" "$J" acme/widget >/dev/null
T=$(t_web_token "$W" "$J" g)
t_check "setup done, an admin token" test ${#T} -eq 53
jido projects import acme/widget >/dev/null 2>&1
jido --json projects update acme/widget --settings '{"auto_ship":true}' >/dev/null
api() { curl -s -o "$JIDO_HOME/body" -w '%{http_code}' -H "Authorization: Bearer $T" "$@"; }

# run_sent RUN: its ship step went to gitops (attempted, not parked)
run_sent() { jido --json run show "$1" | jq -e '.steps[0].attempt >= 1 and .parked == null' >/dev/null; }
run_over() { jido --json run show "$1" | jq -e '.state == "failed" or .state == "completed" or .state == "awaiting_approval"' >/dev/null; }
kick() { jido --json kickoff acme/widget --workflow guard_ship | jq -r .id; }

r1=$(kick); t_wait 20 run_over "$r1"
r2=$(kick); t_wait 20 run_over "$r2"
t_check "the first two ship steps go to gitops" sh -c "jido --json run show $r1 | jq -e '.steps[0].attempt >= 1 and .parked == null' >/dev/null && jido --json run show $r2 | jq -e '.steps[0].attempt >= 1 and .parked == null' >/dev/null"
r3=$(kick)
frozen_run() { jido --json run show "$r3" | jq -e '.state == "awaiting_approval" and .parked == "frozen"' >/dev/null; }
if t_wait 20 frozen_run; then pass "the third push is refused: the run parks as frozen"; else
	fail "the third push is refused"; jido --json run show "$r3"; fi
t_check "  its ship step never reached gitops (attempt 0), the reason names the guard and the limit" sh -c "jido --json run show $r3 | jq -e '.steps[0].attempt == 0 and (.approval.reason | test(\"anomaly guard.*3 pushes in the last hour.*guard_pushes_per_hour = 2\"))' >/dev/null"
t_check "jido projects frozen lists the project with its reason" sh -c "jido --json projects frozen | jq -e '.frozen | length == 1 and .[0].project == \"acme/widget\" and .[0].kind == \"push\" and (.[0].reason | test(\"3 pushes\"))' >/dev/null"
c=$(api "$W/api/v1/guard/projects")
t_check "GET /api/v1/guard/projects lists it" sh -c "[ $c = 200 ] && jq -e '.frozen[0].project == \"acme/widget\"' '$JIDO_HOME/body' >/dev/null"
audited() { jido audit export | grep 'guard.freeze' | grep -q 'project:acme/widget'; }
if t_wait 10 audited; then pass "the freeze is audited (guard.freeze, project:acme/widget)"; else fail "guard.freeze audited"; fi
noted() { grep -q 'froze project acme/widget' "$JIDO_HOME/notes" 2>/dev/null; }
if t_wait 15 noted; then pass "the freeze raised a notification"; else fail "freeze notification"; cat "$JIDO_HOME/notes" 2>/dev/null; fi
t_check "the dashboard shows it with an Unfreeze button" sh -c "curl -s -b '$J' '$W/dashboard' | grep -q 'project acme/widget' && curl -s -b '$J' '$W/dashboard' | grep -q 'action=\"/guard/project/'"
c=$(api -X POST -H 'Content-Type: application/json' --data '{"rationale":"ship it anyway"}' "$W/api/v1/runs/$r3/approve")
t_check "releasing the run over REST is 423 frozen" sh -c "[ $c = 423 ] && jq -e '.error.code == \"frozen\" and (.error.message | test(\"unfreeze\"))' '$JIDO_HOME/body' >/dev/null"
jido approve "$r3" --reason "ship it anyway" >/dev/null 2>"$JIDO_HOME/cli.err"
t_check "  and exit 1 on the CLI with the typed error" sh -c "[ $? -eq 1 ] && grep -q 'frozen' '$JIDO_HOME/cli.err'"
r4=$(kick)
frozen4() { jido --json run show "$r4" | jq -e '.parked == "frozen"' >/dev/null; }
if t_wait 20 frozen4; then pass "while frozen every further ship parks"; else fail "further ship parks"; fi

# --- durable: a restart of the whole stack keeps the freeze
t_stop_stack
if t_start_stack 20; then pass "stack restarted"; else fail "stack restarted"; tail -20 "$JIDO_HOME/up.log"; t_done; fi
t_check "the freeze survives the restart" sh -c "jido --json projects frozen | jq -e '.frozen[0].project == \"acme/widget\"' >/dev/null"

# --- the owner unfreezes it
jido --json projects unfreeze acme/gadget >/dev/null 2>&1
t_check "unfreezing an unknown project: exit 3" test $? -eq 3
jido --json projects unfreeze acme/widget >"$JIDO_HOME/unf.json"
t_check "jido projects unfreeze: the project is no longer frozen" sh -c "jq -e '.frozen == false' '$JIDO_HOME/unf.json' >/dev/null && jido --json projects frozen | jq -e '.frozen == []' >/dev/null"
t_check "  audited (guard.unfreeze)" sh -c "jido audit export | grep 'guard.unfreeze' | grep -q 'project:acme/widget'"
jido --json projects unfreeze acme/widget >/dev/null 2>&1
t_check "  a second unfreeze: not_found (exit 3), nothing changed" test $? -eq 3
c=$(api -X POST -H 'Content-Type: application/json' --data '{"rationale":"owner looked at it"}' "$W/api/v1/runs/$r3/approve")
t_check "the frozen run is released (200)" test "$c" = 200
if t_wait 20 run_sent "$r3"; then pass "  and its ship goes to gitops"; else fail "released ship goes to gitops"; jido --json run show "$r3"; fi
c=$(api -X POST -H 'Content-Type: application/json' --data '{"rationale":"owner looked at it"}' "$W/api/v1/runs/$r4/approve")
if [ "$c" = 200 ] && t_wait 20 run_sent "$r4"; then pass "the count started afresh: a second released ship goes too"; else fail "count afresh"; fi
# --- comments count the same way (limit 1 an hour here)
c1=$(jido --json kickoff acme/widget --workflow guard_comment | jq -r .id); t_wait 20 run_over "$c1"
c2=$(jido --json kickoff acme/widget --workflow guard_comment | jq -r .id)
cfrozen() { jido --json run show "$c2" | jq -e '.parked == "frozen" and (.approval.reason | test("2 comments in the last hour"))' >/dev/null; }
if t_wait 20 cfrozen && jido --json run show "$c1" | jq -e '.steps[0].attempt >= 1 and .parked == null' >/dev/null; then
	pass "comments: the first goes to gitops, the second freezes the project"; else fail "comments frozen"; jido --json run show "$c2" | head -c 600; fi
t_check "  listed as a comment freeze" sh -c "jido --json projects frozen | jq -e '.frozen[0].kind == \"comment\"' >/dev/null"
t_check "no sanitizer report" sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' '$JIDO_HOME/up.log'"
t_check "no process was killed by its allowlist" sh -c "! grep -q SIGSYS '$JIDO_HOME/up.log'"
t_done
