#!/usr/bin/env bash
# ingest_examples.sh - real GitHub payloads (npm @octokit/webhooks-examples) for every
# event type ingest handles: `jido-ingest normalize` turns each into events.<event> whose
# fields match the payload (checked field by field by tests/doubles/github/examples.js),
# and the live receiver, fed by the GitHub double's signed sender, accepts every one (2xx)
# and publishes one event per delivery.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }

# --- the filter, no daemon
node "$DOUBLE/examples.js" lines >"$JIDO_HOME/ex.jsonl"
n=$(wc -l <"$JIDO_HOME/ex.jsonl")
t_check "examples of all 14 handled event types ($n payloads)" sh -c "[ \$(jq -r .event $JIDO_HOME/ex.jsonl | sort -u | wc -l) -eq 14 ]"
out=$(jido-ingest normalize <"$JIDO_HOME/ex.jsonl" | node "$DOUBLE/examples.js" check)
t_check "normalize: every real payload normalized, fields match ($out)" test "$out" = "ok $n"
t_check "normalize: a bad line is reported with its number, exit 1" sh -c 'printf "{\"id\":\"a\",\"event\":\"issues\",\"payload\":{}}\nnope\n" | jido-ingest normalize | grep -q "\"line\":2"; printf "nope\n" | jido-ingest normalize >/dev/null; [ $? -eq 1 ]'

# --- the live receiver
PORT=$(t_free_port)
SECRET=$JIDO_HOME/webhook.secret
printf 'examples-secret\n' >"$SECRET"; chmod 600 "$SECRET"
export JIDO_INGEST_LISTEN=127.0.0.1:$PORT JIDO_INGEST_WEBHOOK_SECRET_FILE=$SECRET
if ! t_start_stack 10; then fail "stack READY"; cat "$JIDO_HOME/up.log"; t_done; fi
t_wait 5 curl -sf "http://127.0.0.1:$PORT/healthz"
EV=$JIDO_HOME/events.txt
nngcat --sub0 --dial "ipc://$JIDO_HOME/run/events.pub" --subscribe '' --ascii >"$EV" 2>/dev/null &
SUB=$!
trap 'kill $SUB 2>/dev/null; t_cleanup' EXIT
sleep 0.5
node "$DOUBLE/send.js" examples --url "http://127.0.0.1:$PORT/api/github/webhooks" \
    --secret-file "$SECRET" --events "$(jq -r .event "$JIDO_HOME/ex.jsonl" | sort -u | paste -sd,)" >"$JIDO_HOME/sent.txt"
t_check "receiver: every real delivery answered 202 ($(awk '$1 == 202' "$JIDO_HOME/sent.txt" | wc -l)/$n)" \
    test "$(awk '$1 == 202' "$JIDO_HOME/sent.txt" | wc -l)" -eq "$n"
pubs() { jq -r 'select(.type != "events.heartbeat") | .data.delivery' "$EV" 2>/dev/null | sort -u | wc -l; }
t_wait 5 sh -c "[ \$(jq -r 'select(.type != \"events.heartbeat\") | .data.delivery' $EV 2>/dev/null | sort -u | wc -l) -ge $n ]"
t_check "receiver: one event per delivery on events.pub ($(pubs)/$n)" test "$(pubs)" -eq "$n"
t_check "receiver: every type is events.<event>" sh -c "jq -r 'select(.type != \"events.heartbeat\") | (.type == \"events.\" + .data.event)' $EV | sort -u | grep -qx true && ! jq -r 'select(.type != \"events.heartbeat\") | (.type == \"events.\" + .data.event)' $EV | grep -q false"
t_check "receiver: all stored (pending or already acknowledged by the planner)" sh -c "jido call ingest ingest.stats | jq -e '.spool.pending + .spool.acked == $n' >/dev/null"
t_check "no seccomp kill" sh -c "! grep -qiE 'SIGSYS|signal 31' $JIDO_HOME/up.log"
kill $SUB 2>/dev/null
t_stop_stack
t_check "no sanitizer report (ASan/LSan/UBSan builds)" sh -c "! grep -qE 'LeakSanitizer|AddressSanitizer|runtime error:' $JIDO_HOME/up.log"
t_done
