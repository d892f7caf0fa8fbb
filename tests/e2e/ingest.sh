#!/usr/bin/env bash
# ingest.sh - jido-ingest as GitHub and an operator meet it, in the whole stack (jido up,
# seccomp on): signed deliveries are stored, answered 2xx and published on events.pub;
# a redelivery changes nothing; bad signatures get 401 then 429; missing headers 400;
# malformed JSON is stored as rejected (400); unknown events are stored and acknowledged;
# a body over the limit gets 413; the previous secret works during a rotation; unacked
# events are re-sent and acked ones are not; an ack brings back a row backed off for an
# hour (the subscriber was away); jido deliveries list/show/replay; the
# verify filter; no seccomp kill.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT/api/github/webhooks
SECRET=$JIDO_HOME/webhook.secret
printf 'sekrit-one\n' >"$SECRET"; chmod 600 "$SECRET"
export JIDO_INGEST_LISTEN=127.0.0.1:$PORT JIDO_INGEST_WEBHOOK_SECRET_FILE=$SECRET
export JIDO_INGEST_REDELIVER_S=1 JIDO_INGEST_SECRET_REFRESH_S=1 JIDO_INGEST_MAX_BODY=200000
export JIDO_INGEST_AUTH_FAIL_BURST=5 JIDO_INGEST_AUTH_FAIL_PER_MIN=1

if t_start_stack 10; then pass "stack READY with ingest on :$PORT"; else
	fail "stack READY"; cat "$JIDO_HOME/up.log"; t_done; fi
t_wait 5 curl -sf "http://127.0.0.1:$PORT/healthz" || true
t_check "GET /healthz is 200" sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/healthz | grep -q 200"

# Everything published, for the whole test.
EV=$JIDO_HOME/events.txt
stdbuf -o0 stdbuf -o0 nngcat --sub0 --dial "ipc://$JIDO_HOME/run/events.pub" --subscribe '' --ascii >"$EV" 2>/dev/null &
SUB=$!
sleep 0.5
trap 'kill $SUB 2>/dev/null; t_cleanup' EXIT

# post DELIVERY EVENT BODYFILE [SECRET] [extra curl args] -> prints the HTTP status
post() {
	local id=$1 ev=$2 file=$3 key=${4:-sekrit-one}
	shift 4 2>/dev/null || shift $#
	local sig
	sig=$(openssl dgst -sha256 -hmac "$key" <"$file" | awk '{print $NF}')
	curl -s -o "$JIDO_HOME/resp.json" -w '%{http_code}' -X POST "$URL" \
	    -H "Content-Type: application/json" -H "X-GitHub-Event: $ev" \
	    -H "X-GitHub-Delivery: $id" -H "X-GitHub-Hook-ID: 77" \
	    -H "X-Hub-Signature-256: sha256=$sig" "$@" --data-binary "@$file"
}
# nngcat writes messages back to back: jq splits them, one per line.
evs() { jq -c . "$EV" 2>/dev/null; }
ev_of() { evs | grep -F "\"delivery\":\"$1\"" | head -1; }
published() { evs | grep -c "\"delivery\":\"$1\""; }
first_sends() { evs | grep "\"delivery\":\"$1\"" | grep -vc '"redelivery":true'; }
resent() { evs | grep "\"delivery\":\"$1\"" | grep -c '"redelivery":true'; }
export -f evs ev_of published first_sends resent
export EV

B=$JIDO_HOME/issue.json
cat >"$B" <<'J'
{"action":"opened","issue":{"number":41,"title":"Crash on start","body":"Steps...","html_url":"https://github.com/o/r/issues/41","author_association":"OWNER","labels":[{"name":"bug"}],"user":{"login":"alice"}},"repository":{"full_name":"o/r","html_url":"https://github.com/o/r"},"sender":{"login":"alice","type":"User"}}
J

# --- the happy path and redelivery
t_check "signed delivery -> 202" test "$(post d-1 issues "$B")" = 202
t_wait 3 bash -c '[ "$(published d-1)" -ge 1 ]' 
t_check "published as events.issues with the contract's fields" bash -c "ev_of d-1 | jq -e '.type == \"events.issues\" and .data.event == \"issues\" and .data.action == \"opened\" and .data.repo == \"o/r\" and .data.number == 41 and .data.actor == \"alice\" and .data.author_association == \"OWNER\" and .data.labels == [\"bug\"] and .data.title == \"Crash on start\" and .data.url == \"https://github.com/o/r/issues/41\"' >/dev/null"
code=$(post d-1 issues "$B")
t_check "redelivery answered 200 duplicate ($code)" sh -c "test $code = 200 && jq -e '.status == \"duplicate\"' $JIDO_HOME/resp.json >/dev/null"
t_check "redelivery stored nothing new" test "$(jido deliveries list --json | jq '[.deliveries[] | select(.id == "d-1")] | length')" = 1

# --- concurrent duplicates: one first send
pids=""
for i in 1 2 3 4; do post d-conc issues "$B" >/dev/null & pids="$pids $!"; done
# shellcheck disable=SC2086
wait $pids
sleep 0.5
t_check "the same delivery posted 4x concurrently -> one event" test "$(first_sends d-conc)" = 1

# --- form-encoded payload (GitHub's other content type)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "Content-Type: application/x-www-form-urlencoded" \
    -H "X-GitHub-Event: ping" -H "X-GitHub-Delivery: d-form" -H "X-GitHub-Hook-ID: 77" \
    -H "X-Hub-Signature-256: sha256=$(printf 'payload=%%7B%%22zen%%22%%3A%%22hi%%22%%7D' | openssl dgst -sha256 -hmac sekrit-one | awk '{print $NF}')" \
    --data-binary 'payload=%7B%22zen%22%3A%22hi%22%7D')
t_check "form-encoded delivery -> 202 ($code)" test "$code" = 202
t_wait 3 bash -c '[ "$(published d-form)" -ge 1 ]' 
t_check "form payload normalized (events.ping, zen)" bash -c "ev_of d-form | jq -e '.type == \"events.ping\" and .data.zen == \"hi\"' >/dev/null"

# --- unknown event: stored, acknowledged, github.other
printf '{"action":"created","repository":{"full_name":"o/r"},"sender":{"login":"b"}}' >"$JIDO_HOME/star.json"
t_check "unknown event -> 202" test "$(post d-star star "$JIDO_HOME/star.json")" = 202
t_wait 3 bash -c '[ "$(published d-star)" -ge 1 ]' 
t_check "unknown event published as events.github.other" bash -c "ev_of d-star | jq -e '.type == \"events.github.other\" and .data.event == \"star\" and .data.stored' >/dev/null"

# --- malformed JSON with a valid signature: 400, stored as rejected, not published
printf '{"action": "opened", ' >"$JIDO_HOME/bad.json"
t_check "malformed JSON -> 400" test "$(post d-bad issues "$JIDO_HOME/bad.json")" = 400
t_check "malformed JSON stored as rejected with the reason" sh -c "jido deliveries show d-bad --json | jq -e '.status == \"rejected\" and (.reason | contains(\"malformed JSON\"))' >/dev/null"
t_check "rejected delivery not published" test "$(published d-bad)" = 0

# --- missing headers: 400, nothing stored
sig=$(openssl dgst -sha256 -hmac sekrit-one <"$B" | awk '{print $NF}')
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "X-GitHub-Event: issues" \
    -H "X-GitHub-Hook-ID: 77" -H "X-Hub-Signature-256: sha256=$sig" --data-binary "@$B")
t_check "no X-GitHub-Delivery -> 400" test "$code" = 400
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "X-GitHub-Event: issues" \
    -H "X-GitHub-Delivery: d-nohook" -H "X-Hub-Signature-256: sha256=$sig" --data-binary "@$B")
t_check "no X-GitHub-Hook-ID -> 400, not stored" sh -c "test $code = 400 && ! jido deliveries show d-nohook >/dev/null 2>&1"

# --- size limit: 413 before anything else
head -c 300000 /dev/zero | tr '\0' 'a' >"$JIDO_HOME/big.bin"
code=$(post d-big issues "$JIDO_HOME/big.bin")
t_check "body over ingest.max_body -> 413 ($code)" test "$code" = 413
t_check "oversized delivery not stored" sh -c "! jido deliveries show d-big >/dev/null 2>&1"

# --- ack and the sweeper. In the stack the real planner acknowledges what it processed.
t_wait 10 sh -c "jido deliveries show d-1 --json | jq -e '.status == \"acked\"' >/dev/null"
t_check "the planner acknowledges a processed event (ingest.ack)" sh -c "jido deliveries show d-1 --json | jq -e '.status == \"acked\"' >/dev/null"
# A second ingest alone, with no planner: nobody acknowledges, so its sweeper re-sends.
H2=$(mktemp -d /tmp/jido-e2e.XXXXXX)
P2=$(t_free_port)
JIDO_HOME=$H2 JIDO_INGEST_LISTEN=127.0.0.1:$P2 jido-ingest serve 2>"$H2/ingest.log" &
I2=$!
t_wait 10 test -S "$H2/run/events.pub"
stdbuf -o0 nngcat --sub0 --dial "ipc://$H2/run/events.pub" --subscribe '' --ascii >"$H2/ev.txt" 2>/dev/null &
SUB2=$!
sleep 0.5
URL_STACK=$URL
URL=http://127.0.0.1:$P2/api/github/webhooks
t_check "standalone ingest stores a delivery" test "$(post d-solo issues "$B")" = 202
URL=$URL_STACK
resent2() { jq -c . "$H2/ev.txt" 2>/dev/null | grep '"delivery":"d-solo"' | grep -c '"redelivery":true'; }
export -f resent2
export H2
t_wait 8 bash -c '[ "$(resent2)" -ge 1 ]'
t_check "an unacknowledged event is re-published" bash -c '[ "$(resent2)" -ge 1 ]'
# d-old stands for a delivery re-sent a dozen times while nobody listened: its back-off
# is an hour (set in the spool, as the sweeper would have after ~1 h of silence), and
# it was last sent before d-solo's last send.
URL=http://127.0.0.1:$P2/api/github/webhooks
t_check "standalone ingest stores a second delivery" test "$(post d-old issues "$B")" = 202
URL=$URL_STACK
python3 -c "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], timeout=10); c.execute(\"UPDATE deliveries SET attempts = 12, sent_at = (SELECT sent_at FROM deliveries WHERE id = 'd-solo') - 1000, next_at = ? WHERE id = 'd-old'\", (int(time.time() * 1000) + 3600000,)); c.commit()" "$H2/ingest.db"
resent_old() { jq -c . "$H2/ev.txt" 2>/dev/null | grep '"delivery":"d-old"' | grep -c '"redelivery":true'; }
export -f resent_old
n_old=$(resent_old)
t_check "ingest.ack marks it acknowledged" sh -c "jido --home '$H2' call ingest ingest.ack '{\"deliveries\":[\"d-solo\"]}' | jq -e '.acked == 1' >/dev/null && jido --home '$H2' deliveries show d-solo --json | jq -e '.status == \"acked\"' >/dev/null"
# The ack shows a subscriber is consuming: what it missed is due again ingest.redeliver_s
# after its last send, not after the hour of back-off (docs/ARCHITECTURE.md, ingest).
t_wait 10 bash -c "[ \$(resent_old) -gt $n_old ]"
t_check "after an ack, a row backed off for an hour is re-sent at the next sweep ($n_old -> $(resent_old))" bash -c "[ \$(resent_old) -gt $n_old ]"
kill $SUB2 $I2 2>/dev/null
wait $I2 2>/dev/null
rm -rf "$H2"
sleep 0.3
n1=$(published d-1); sleep 2.5; n2=$(published d-1)
t_check "an acknowledged event is not re-sent ($n1 -> $n2)" test "$n1" = "$n2"
t_check "ack with a bad id is validation_error" sh -c "jido call ingest ingest.ack '{\"deliveries\":[1]}' 2>&1 | grep -q validation_error"

# --- rotation: new secret first, previous still accepted
printf 'sekrit-two\nsekrit-one\n' >"$SECRET"
sleep 1.5
t_check "during a rotation the new secret verifies" test "$(post d-rot-new issues "$B" sekrit-two)" = 202
t_check "during a rotation the previous secret still verifies" test "$(post d-rot-old issues "$B" sekrit-one)" = 202
printf 'sekrit-two\n' >"$SECRET"
sleep 1.5
t_check "after the rotation the previous secret is refused" test "$(post d-rot-late issues "$B" sekrit-one)" = 401

# --- operator tools
t_check "jido deliveries list shows deliveries" sh -c "jido deliveries list | grep -q '^d-star '"
t_check "jido deliveries list --status rejected" sh -c "jido deliveries list --status rejected --json | jq -e '.deliveries | length == 1 and .[0].id == \"d-bad\"' >/dev/null"
t_check "jido deliveries list --event ping" sh -c "jido deliveries list --event ping --json | jq -e '.deliveries | all(.[]; .event == \"ping\") and length >= 1' >/dev/null"
t_check "jido deliveries show prints headers and payload" sh -c "jido deliveries show d-1 | grep -q '^X-GitHub-Event: issues' && jido deliveries show d-1 | grep -q 'Crash on start'"
t_check "jido deliveries show of an unknown id: exit 3" sh -c "jido deliveries show nope 2>/dev/null; [ \$? -eq 3 ]"
t_check "jido deliveries show error format" sh -c "jido deliveries show nope 2>&1 | grep -q '^jido: deliveries show failed: not_found'"
t_check "jido deliveries bogus: exit 2" sh -c "jido deliveries bogus 2>/dev/null; [ \$? -eq 2 ]"
before=$(first_sends d-1)
t_check "jido deliveries replay re-publishes under the same id" sh -c "jido deliveries replay d-1 | grep -q 'replayed d-1 as d-1'"
t_wait 3 bash -c "[ \$(published d-1) -gt $n2 ]"
t_check "replayed event reached events.pub" test "$(published d-1)" -gt "$n2"
t_check "jido deliveries replay --as-new gives a fresh delivery id" sh -c "jido deliveries replay d-1 --as-new --json | jq -e '.delivery != \"d-1\" and .replay_of == \"d-1\"' >/dev/null"
t_check "replaying a rejected delivery: exit 4" sh -c "jido deliveries replay d-bad 2>/dev/null; [ \$? -eq 4 ]"

# --- the verify filter
{ printf 'POST /api/github/webhooks HTTP/1.1\r\nX-GitHub-Event: issues\r\nX-Hub-Signature-256: sha256=%s\r\n\r\n' \
    "$(openssl dgst -sha256 -hmac sekrit-two <"$B" | awk '{print $NF}')"; cat "$B"; } >"$JIDO_HOME/raw"
t_check "jido-ingest verify: valid (exit 0)" sh -c "jido-ingest verify --secret-file $SECRET <$JIDO_HOME/raw | grep -qx valid"
sed 's/Crash/Crush/' "$JIDO_HOME/raw" >"$JIDO_HOME/raw2"
t_check "jido-ingest verify: one changed byte is invalid (exit 1)" sh -c "jido-ingest verify --secret-file $SECRET <$JIDO_HOME/raw2 | grep -q '^invalid'; [ \${PIPESTATUS:-0} ] ; jido-ingest verify --secret-file $SECRET <$JIDO_HOME/raw2 >/dev/null; [ \$? -eq 1 ]"
t_check "jido-ingest verify without --secret-file: exit 2" sh -c "jido-ingest verify </dev/null 2>/dev/null; [ \$? -eq 2 ]"

# --- bad signatures: 401, logged, nothing stored; then 429 for that source
code=$(post d-forged issues "$B" wrong-secret)
t_check "bad signature -> 401" test "$code" = 401
t_check "forged delivery not stored" sh -c "! jido deliveries show d-forged >/dev/null 2>&1"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "X-GitHub-Event: issues" \
    -H "X-GitHub-Delivery: d-nosig" -H "X-GitHub-Hook-ID: 77" --data-binary "@$B")
t_check "no signature -> 401" test "$code" = 401
for i in 1 2 3 4 5 6; do post "d-forged-$i" issues "$B" wrong-secret >/dev/null; done
code=$(post d-after issues "$B")
t_check "after the burst of bad signatures the source gets 429 ($code)" test "$code" = 429
t_check "bad signatures are logged and counted" sh -c "grep -q ingest.bad_signature $JIDO_HOME/up.log && jido call ingest ingest.stats | jq -e '.http.bad_signature >= 5 and .http.rate_limited >= 1' >/dev/null"
t_check "the secret never appears in the logs" sh -c "! grep -q sekrit $JIDO_HOME/up.log"

t_check "ingest still READY" sh -c "jido call ingest ingest.health | jq -e '.state == \"READY\"' >/dev/null"
t_check "no seccomp kill in the supervisor log" sh -c "! grep -qiE 'SIGSYS|signal 31' $JIDO_HOME/up.log"
kill $SUB 2>/dev/null
t_check "stack stops cleanly" t_stop_stack
t_check "no sanitizer report (ASan/LSan/UBSan builds)" sh -c "! grep -qE 'LeakSanitizer|AddressSanitizer|runtime error:' $JIDO_HOME/up.log"
t_done
