#!/usr/bin/env bash
# ingest_vault.sh - jido-ingest with its secrets in a real jido-vault (issue 5): the
# webhook secret is github.webhook_secret (no secret file), and during a rotation both the
# current and the previous version verify; once the grace period is over a delivery
# signed with the old secret is refused with 401. The REST sync's token is the vault's
# github.token (no token file), under the vault's ACL for ingest. Then as a GitHub App:
# the App's private key in the vault (github.app_private_key), a JWT exchanged for an
# installation token at the double (which verifies the RS256 signature with the App's
# public key), repos listed by GET /installation/repositories, and a token that dies
# before its reported expiry is refused, minted again and the request retried once.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }
PIDS=""
stop_all() { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; t_cleanup; }
trap stop_all EXIT
unset JIDO_GITHUB_TOKEN_FILE JIDO_INGEST_WEBHOOK_SECRET_FILE

# --- the vault, with ingest's credential in run/creds as `jido up` writes it
mkdir -p "$JIDO_HOME/run"
ICRED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'ingest %s\n' "$(printf '%s' "$ICRED" | sha256sum | cut -d' ' -f1)" >"$JIDO_HOME/run/creds"
chmod 600 "$JIDO_HOME/run/creds"
jido-vault serve >"$JIDO_HOME/vault.out" 2>>"$JIDO_HOME/vault.log" &
PIDS="$PIDS $!"
v_ready() { t_nng vault '{"v":1,"type":"vault.health","id":"h"}' | grep -q READY; }
t_wait 10 v_ready || { fail "jido-vault starts"; t_done; }
# a known current secret: rotate the generated one away (grace 0), then put the token
printf 'sekrit-one' | jido secrets rotate github.webhook_secret --from-stdin --grace-s 0 >/dev/null &&
printf 'ghp_vaulttoken0123456789' | jido secrets put github.token --from-stdin >/dev/null
t_check "the webhook secret and the token are in the vault" test $? -eq 0

# --- the double (REST sync) and ingest, with no secret or token file
echo '{"repos":[{"full_name":"o/v","private":false,"default_branch":"main","html_url":"https://github.com/o/v","updated_at":"2026-01-01T00:00:00Z"}]}' >"$JIDO_HOME/state.json"
node "$DOUBLE/server.js" --port 0 --state "$JIDO_HOME/state.json" >"$JIDO_HOME/double.out" 2>&1 &
PIDS="$PIDS $!"
t_wait 10 grep -q listening "$JIDO_HOME/double.out"
GH=http://127.0.0.1:$(awk '/listening/ {print $2}' "$JIDO_HOME/double.out")
PORT=$(t_free_port)
URL="http://127.0.0.1:$PORT/api/github/webhooks"
JIDO_PROC_CRED="$ICRED" JIDO_GITHUB_API_URL=$GH JIDO_INGEST_LISTEN=127.0.0.1:$PORT \
    JIDO_INGEST_SECRET_REFRESH_S=1 JIDO_INGEST_SYNC_INTERVAL_S=0 \
    jido-ingest serve 2>"$JIDO_HOME/ingest.log" &
ING=$!
PIDS="$PIDS $ING"
healthy() { curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; }
t_check "ingest loads the webhook secret from the vault" t_wait 10 healthy

echo '{"action":"opened","issue":{"number":1,"title":"t"},"repository":{"full_name":"o/v"},"sender":{"login":"u"}}' >"$JIDO_HOME/b.json"
post() { # ID KEY
	local sig
	sig=$(openssl dgst -sha256 -hmac "$2" <"$JIDO_HOME/b.json" | awk '{print $NF}')
	curl -s -o /dev/null -w '%{http_code}' -X POST "$URL" -H "Content-Type: application/json" \
	    -H "X-GitHub-Event: issues" -H "X-GitHub-Delivery: $1" -H "X-GitHub-Hook-ID: 7" \
	    -H "X-Hub-Signature-256: sha256=$sig" --data-binary "@$JIDO_HOME/b.json"
}
t_check "a delivery signed with the vault's secret is stored (202)" test "$(post d-v-1 sekrit-one)" = 202
t_check "a delivery signed with another secret is refused (401)" test "$(post d-v-2 wrong)" = 401

# --- rotation: sekrit-two current, sekrit-one still valid for the grace period
printf 'sekrit-two' | jido secrets rotate github.webhook_secret --from-stdin --grace-s 6 >/dev/null
has_prev() { jido call ingest ingest.stats | jq -e '.previous_secret == true' >/dev/null; }
t_check "ingest picks up the rotation (current and previous loaded)" t_wait 10 has_prev
t_check "during the grace period the new secret verifies" test "$(post d-v-3 sekrit-two)" = 202
t_check "during the grace period the previous secret still verifies" test "$(post d-v-4 sekrit-one)" = 202
no_prev() { jido call ingest ingest.stats | jq -e '.previous_secret == false' >/dev/null; }
t_check "after the grace period ingest drops the previous secret" t_wait 20 no_prev
t_check "after the grace period the previous secret is refused (401)" test "$(post d-v-5 sekrit-one)" = 401
t_check "... and the new one still verifies" test "$(post d-v-6 sekrit-two)" = 202
t_check "nothing was stored for the refused deliveries" sh -c "! jido deliveries list --json | jq -e '.[] | select(.id == \"d-v-5\" or .id == \"d-v-2\")' >/dev/null 2>&1"

# --- the REST sync with the vault's token
repos_ok() { jido call ingest ingest.repos '{"refresh":true}' >/dev/null; jido call ingest ingest.repos | jq -e '[.repos[].full_name] == ["o/v"]' >/dev/null; }
t_check "the REST sync lists repos with the vault's github.token" t_wait 10 repos_ok
t_check "requests carry the token" sh -c "curl -s $GH/_double/requests | jq -e 'length > 0 and all(.[]; .auth)' >/dev/null"
t_check "the vault let ingest read only what its ACL names" sh -c "! grep -q vault.refused '$JIDO_HOME/vault.log'"
t_check "no secret value in the logs" sh -c "! grep -qE 'sekrit-|ghp_vaulttoken' '$JIDO_HOME/ingest.log' '$JIDO_HOME/vault.log'"

# --- the same sync as a GitHub App: key in the vault, tokens that die after 3 s although
# the double says they last an hour (a revoked or skewed token)
kill "$ING" 2>/dev/null; wait "$ING" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$JIDO_HOME/app.pem" 2>/dev/null
openssl pkey -in "$JIDO_HOME/app.pem" -pubout -out "$JIDO_HOME/app.pub" 2>/dev/null
jido secrets put github.app_private_key --from-file "$JIDO_HOME/app.pem" >/dev/null
t_check "the App's private key is put into the vault" test $? -eq 0
node "$DOUBLE/server.js" --port 0 --state "$JIDO_HOME/state.json" --app-public-key "$JIDO_HOME/app.pub" \
    --app-id 4242 --app-installation 77 --app-token-ttl 3 --app-token-reported 3600 >"$JIDO_HOME/double2.out" 2>&1 &
PIDS="$PIDS $!"
t_wait 10 grep -q listening "$JIDO_HOME/double2.out"
GH2=http://127.0.0.1:$(awk '/listening/ {print $2}' "$JIDO_HOME/double2.out")
JIDO_PROC_CRED="$ICRED" JIDO_GITHUB_API_URL=$GH2 JIDO_INGEST_LISTEN=127.0.0.1:$PORT \
    JIDO_GITHUB_APP_ID=4242 JIDO_GITHUB_APP_INSTALLATION_ID=77 JIDO_INGEST_SYNC_INTERVAL_S=0 \
    jido-ingest serve 2>"$JIDO_HOME/ingest-app.log" &
ING=$!
PIDS="$PIDS $ING"
app() { curl -s "$GH2/_double/app"; }
app_repos() { jido call ingest ingest.repos '{"refresh":true}' >/dev/null; sleep 0.3; jido call ingest ingest.repos | jq -e '[.repos[].full_name] == ["o/v"] and .rounds >= 1' >/dev/null; }
t_check "App: the sync lists the installation's repositories" t_wait 10 app_repos
t_check "App: one installation token was minted with a JWT the double verified" sh -c "curl -s $GH2/_double/app | jq -e '.issued == 1 and .refused_jwt == 0' >/dev/null"
t_check "App: repos came from GET /installation/repositories with the token" sh -c "curl -s $GH2/_double/requests | jq -e '[.[] | select(.url | startswith(\"/installation/repositories\"))] | length >= 1 and all(.status == 200 or .status == 304)' >/dev/null"
sleep 3.5
rounds0=$(jido call ingest ingest.repos | jq .rounds)
jido call ingest ingest.repos '{"refresh":true}' >/dev/null
later() { [ "$(jido call ingest ingest.repos | jq .rounds)" -gt "$rounds0" ]; }
t_wait 10 later
t_check "App: a token that died early is refused (401), minted again, and the request retried once" sh -c "curl -s $GH2/_double/app | jq -e '.issued == 2 and .expired_seen >= 1' >/dev/null && grep -q ingest.sync_auth_retry '$JIDO_HOME/ingest-app.log' && jido call ingest ingest.repos | jq -e '.last_error == \"\" or .last_error == null' >/dev/null"
t_check "App: every request to the double is allowed by GitHub's OpenAPI description" sh -c "curl -s $GH2/_double/violations | jq -e 'length == 0' >/dev/null"
t_check "App: no key, JWT or token in the logs" sh -c "! grep -qE 'BEGIN|ghs_|eyJ' '$JIDO_HOME/ingest-app.log' '$JIDO_HOME/vault.log'"
t_check "no SIGSYS" sh -c "! grep -q 'SIGSYS' '$JIDO_HOME/ingest.log' '$JIDO_HOME/ingest-app.log'"
t_done
