#!/usr/bin/env bash
# runbooks.sh - every command deploy/README.md's runbooks and GitHub setup cite, run
# against a live stack (`jido up` on a temp home): each must exit 0 and do what the
# runbook says (the kill switch parks, a rotated secret has a new version, a cancelled
# run is cancelled, the audit log still verifies).
. "$(dirname "$0")/../lib.sh"
t_home
J="jido --home $JIDO_HOME"
JIDO_WEB_LISTEN=127.0.0.1:$(t_free_port); JIDO_INGEST_LISTEN=127.0.0.1:$(t_free_port)
export JIDO_WEB_LISTEN JIDO_INGEST_LISTEN
if t_start_stack 15; then pass "stack READY"; else fail "stack READY"; cat "$JIDO_HOME/up.log"; t_done; fi
ok() { local name=$1; shift; if "$@" >"$JIDO_HOME/out" 2>&1; then pass "$name"; else fail "$name"; cat "$JIDO_HOME/out"; fi; }

# GitHub setup
openssl rand -hex 32 >"$JIDO_HOME/webhook.secret" && chmod 600 "$JIDO_HOME/webhook.secret"
ok "secrets rotate github.webhook_secret --from-file" $J secrets rotate github.webhook_secret --from-file "$JIDO_HOME/webhook.secret"
echo ghp_runbooktesttoken000000000000000000 | ok "secrets put github.token --from-stdin --max-age-days 90" $J secrets put github.token --from-stdin --max-age-days 90
ok "deliveries list" $J deliveries list

# Secret leak
ok "kill switch on" $J call planner planner.approvals.kill_switch '{"paused":true,"rationale":"secret leak"}'
t_check "shipping is paused" sh -c "$J call planner planner.approvals.kill_switch '{}' | jq -e '.paused == true' >/dev/null"
echo ghp_runbooknewtoken11111111111111111111 >"$JIDO_HOME/new.token"; chmod 600 "$JIDO_HOME/new.token"
ok "secrets rotate github.token --from-file --grace-s 0" $J secrets rotate github.token --from-file "$JIDO_HOME/new.token" --grace-s 0
t_check "secrets list shows version 2" sh -c "$J secrets list --json | jq -e '.secrets[] | select(.name == \"github.token\") | .version == 2' >/dev/null"
ok "audit export --since --format jsonl" $J audit export --since 2026-01-01T00:00:00Z --format jsonl
ok "gateway.usage" $J call gateway gateway.usage '{"limit":100}'
ok "audit verify" $J audit verify
ok "kill switch off" $J call planner planner.approvals.kill_switch '{"paused":false,"rationale":"secret rotated, resuming"}'

# Webhook spoof
ok "deliveries list --limit 50" $J deliveries list --limit 50
ok "planner.runs.list" $J call planner planner.runs.list '{}'
$J call planner planner.projects.import '{"repos":["acme/widget"]}' >/dev/null
run=$($J call planner planner.runs.create '{"project":"acme/widget","workflow":"issue_triage","issue":1}' | jq -r .id)
ok "planner.runs.cancel" $J call planner planner.runs.cancel "{\"run_id\":\"$run\",\"reason\":\"spoofed delivery\"}"
t_check "the run is cancelled" sh -c "$J call planner planner.runs.get '{\"run_id\":\"$run\"}' | jq -e '.state == \"cancelled\"' >/dev/null"

# Token compromise
ok "secrets rotate web.session_key --grace-s 0" $J secrets rotate web.session_key --grace-s 0
ok "gateway.keys.revoke by run" $J call gateway gateway.keys.revoke "{\"run_id\":\"$run\"}"
ok "audit export --format csv" $J audit export --since 2026-01-01T00:00:00Z --format csv

# PR abuse
ok "kill switch on (abuse)" $J call planner planner.approvals.kill_switch '{"paused":true,"rationale":"PR abuse: shipping paused"}'
ok "planner.runs.list running" $J call planner planner.runs.list '{"state":"running"}'
ok "auto_ship off for the project" $J call planner planner.projects.update '{"project":"acme/widget","settings":{"auto_ship":false}}'
ok "audit tail -n 50" $J audit tail -n 50
t_check "the audit log still verifies after all of it" $J audit verify
t_check "no SIGSYS" sh -c "! grep -q 'SIGSYS' '$JIDO_HOME/up.log'"
t_done
