#!/usr/bin/env bash
# gitops_vault.sh - jido-gitops with its secrets in a real jido-vault (issue 9's secret
# scan by the vault's fingerprints): the token comes from vault.get github.token, the
# vault's other secrets are looked for by salted fingerprint (vault.fingerprints), and an
# agent-made diff holding a vault secret that matches no token pattern is refused as a
# secret_scan policy_violation naming the secret (never its value), with nothing pushed or
# posted, in the filter and through a planner job in the daemon (the ship worker gets the
# fingerprints from its parent); a clean diff still ships; without the vault's answer the
# scan fails closed. Then as a GitHub App (key in the vault): a JWT exchanged at the
# double for installation tokens that die before their reported expiry, a ship in the
# filter, a ship in the daemon whose cached token died (git refuses it, a new one is
# minted, the fetch retried once), and a planner job whose worker got a dead token from
# its parent and mints its own.
. "$(dirname "$0")/../lib.sh"
JIDO_HOME=$(mktemp -d /tmp/jido-gvault.XXXXXX)
export JIDO_HOME
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE="$top/tests/doubles/github"
W="$JIDO_HOME/w"
mkdir -p "$W/git/octo" "$JIDO_HOME/run"
PIDS=""
cleanup_gv() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	t_cleanup
}
trap cleanup_gv EXIT

if ! command -v node >/dev/null || ! "$DOUBLE/gitops_ensure.sh"; then
	fail "the GitHub double needs node and @octokit/openapi (tests/doubles/github/gitops_ensure.sh)"
	t_done
fi
jqe() { local in; in=$(cat); [ -n "${in//[[:space:]]/}" ] && jq -e "$@" <<<"$in"; }
t_ok() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

TOKEN="ghp_gvTOKEN$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 30)"
printf '%s\n' "$TOKEN" >"$W/token" # the double's copy (it checks what gitops sends)
chmod 600 "$W/token"
# a vault secret no pattern knows: words and digits, unquoted, outside an assignment
STAGING="zebra-quartz-mellow-9931-harbor"

# --- the vault, with gitops's credential in run/creds as `jido up` writes it
GITCRED=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'gitops %s\n' "$(printf '%s' "$GITCRED" | sha256sum | cut -d' ' -f1)" >"$JIDO_HOME/run/creds"
chmod 600 "$JIDO_HOME/run/creds"
jido-vault serve >"$W/vault.out" 2>>"$W/vault.log" &
VPID=$!
PIDS="$PIDS $VPID"
v_ready() { t_nng vault '{"v":1,"type":"vault.health","id":"h"}' | grep -q READY; }
t_wait 10 v_ready || { fail "jido-vault starts"; cat "$W/vault.log"; t_done; }
printf '%s' "$TOKEN" | jido secrets put github.token --from-stdin >/dev/null &&
printf '%s' "$STAGING" | jido secrets put llm.staging.api_key --from-stdin >/dev/null
t_check "the token and a staging key are put into the vault" test $? -eq 0

# --- the project and the double
git init -q -b main "$W/seed"
(cd "$W/seed" && printf '# hello\n' >README.md && git add . &&
	git -c user.name=seed -c user.email=seed@x commit -qm init)
git clone -q --bare "$W/seed" "$W/git/octo/hello.git"
node "$DOUBLE/server.js" --git-root "$W/git" --token-file "$W/token" \
    --port-file "$W/port" >"$W/double.log" 2>&1 &
PIDS="$PIDS $!"
if ! t_wait 20 test -s "$W/port"; then fail "the GitHub double starts"; cat "$W/double.log"; t_done; fi
API="http://127.0.0.1:$(cat "$W/port")"
CLONE="$API/octo/hello.git"
nngcat --rep0 --listen "ipc://$W/aud.sock" --ascii \
    --data '{"v":1,"id":null,"ok":true,"data":{"seq":1}}' >"$W/audit.log" 2>&1 &
PIDS="$PIDS $!"

export JIDO_GITHUB_API_URL="$API" JIDO_GITHUB_GIT_URL="$API"
export JIDO_SOCKET_AUDITOR="ipc://$W/aud.sock" JIDO_BUS_TIMEOUT_MS=2000
unset JIDO_GITHUB_TOKEN_FILE

mkdiff() { # FILE LINE : a diff adding LINE to README.md as its second line
	printf 'diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # hello\n+%s\n' "$1"
}
req() {
	jq -nc --arg r "$1" --arg d "$2" --arg u "$CLONE" '{v:1,type:"gitops.ship",id:"t",
	  data:{run_id:$r,workflow:"fix_issue",project:{repo:"octo/hello",clone_url:$u,
	  default_branch:"main"},issue:3,diff:$d,summary:"document the staging setup"}}'
}
ship() { printf '%s\n' "$1" | JIDO_PROC_CRED="$GITCRED" jido-gitops filter 2>>"$W/gitops.log"; }
branches() { git --git-dir "$W/git/octo/hello.git" for-each-ref --format='%(refname)' refs/heads | sort; }
posts() { curl -s "$API/_double/log" | jq '[.[] | select((.kind=="rest" and .method=="POST") or (.path|test("receive-pack")))] | length'; }

LEAK=$(mkdiff "The staging passphrase is $STAGING, ask ops before using it.")
t_ok "the pattern scan alone does not see the staging key (check filter: clean)" \
    'printf "%s" "$LEAK" | jido-gitops check | jqe .ok >/dev/null'

# --- 1. the leak is refused by fingerprint, naming the secret, nothing pushed or posted
b0=$(branches); p0=$(posts)
out=$(ship "$(req run-gv-0001 "$LEAK")")
echo "$out" >"$W/leak.json"
t_ok "a diff holding a vault secret: policy_violation secret_scan at README.md:2 naming llm.staging.api_key" \
    'jqe "(.ok|not) and .error.code == \"policy_violation\" and (.error.message | startswith(\"policy_violation: secret_scan: README.md:2:\")) and (.error.message | test(\"llm.staging.api_key\"))" <<<"$out" >/dev/null'
t_ok "... and nothing was pushed or posted" '[ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'
t_ok "... and the value is not in the answer" '! grep -qF "$STAGING" <<<"$out"'
out=$(ship "$(req run-gv-0002 "$(mkdiff "see docs")" | jq -c ".data.summary = \"uses $STAGING\"")")
t_ok "the vault secret in the run's summary is refused too" 'jqe ".error.code == \"policy_violation\" and (.error.message | test(\"summary.*llm.staging.api_key\"))" <<<"$out" >/dev/null'
out=$(printf '%s\n' "{\"v\":1,\"type\":\"gitops.comment\",\"id\":\"c\",\"data\":{\"repo\":\"octo/hello\",\"issue\":3,\"body\":\"try $STAGING\"}}" | JIDO_PROC_CRED="$GITCRED" jido-gitops filter 2>>"$W/gitops.log")
t_ok "an issue comment holding a vault secret is refused" 'jqe ".error.code == \"policy_violation\" and (.error.message | test(\"llm.staging.api_key\"))" <<<"$out" >/dev/null'

# --- 2. a clean diff ships with the vault's token
out=$(ship "$(req run-gv-0003 "$(mkdiff "Ask ops for the staging setup.")")")
t_ok "a clean diff ships (token from the vault, fingerprints checked)" 'jqe ".ok and (.data.pr.number|type) == \"number\" and ([.data.checks[] | select(.check == \"secret_scan\" and .result == \"pass\")] | length == 1)" <<<"$out" >/dev/null'

# --- 3. fail closed: no answer from the vault's fingerprints
out=$(printf '%s\n' "$(req run-gv-0004 "$(mkdiff "plain")")" | JIDO_GITHUB_TOKEN_FILE="$W/token" \
    JIDO_GITOPS_VAULT_FINGERPRINTS=on JIDO_SOCKET_VAULT="ipc://$W/no-vault.sock" JIDO_BUS_TIMEOUT_MS=300 \
    jido-gitops filter 2>>"$W/gitops.log")
t_ok "no fingerprints from the vault: secret_scan fails closed" 'jqe ".error.code == \"policy_violation\" and (.error.message | test(\"secret_scan: the vault.s fingerprints are unavailable\"))" <<<"$out" >/dev/null'
out=$(printf '%s\n' "$(req run-gv-0005 "$LEAK")" | JIDO_PROC_CRED="$(printf 'f%.0s' $(seq 64))" \
    JIDO_GITHUB_TOKEN_FILE="$W/token" JIDO_GITOPS_VAULT_FINGERPRINTS=on jido-gitops filter 2>>"$W/gitops.log")
t_ok "a caller the vault does not know gets no fingerprints (fails closed)" 'jqe ".error.code == \"policy_violation\" and (.error.message | test(\"authorization_error\"))" <<<"$out" >/dev/null'

# --- 4. the daemon: a planner job runs in the ship worker, which gets them from its parent
nngcat --rep0 --listen "ipc://$W/planner.sock" --ascii --data '{"v":1,"id":null,"ok":true,"data":{}}' >"$W/planner.log" 2>&1 &
PIDS="$PIDS $!"
JIDO_PROC_CRED="$GITCRED" JIDO_SOCKET_PLANNER="ipc://$W/planner.sock" jido-gitops serve 2>>"$W/gitops-serve.log" &
GPID=$!
PIDS="$PIDS $GPID"
t_wait 5 test -S "$JIDO_HOME/run/gitops.sock"
sleep 0.2
b0=$(branches); p0=$(posts)
jq -nc --arg d "$LEAK" '{v:1,type:"gitops.ship",id:"j",corr:"run-gvj-0001",data:{job_id:"run-gvj-0001:6:0",run_id:"run-gvj-0001",seq:6,attempt:0,kind:"ship",step:{id:"ship",kind:"ship"},workflow:"fix_issue",project:{id:1,full_name:"octo/hello",settings:{default_branch:"main"}},issue:4,dry_run:false,inputs:{code:{diff:$d,summary:"document staging"}},reply_to:"planner.steps.result"}}' >"$W/job.req"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 5 --ascii --file "$W/job.req")
job_refused() { grep -h 'planner.steps.result' "$W/planner.log" | jqe '.data.status == "failed" and .data.seq == 6 and .data.error.kind == "policy_violation" and (.data.error.message | test("llm.staging.api_key"))' >/dev/null; }
t_ok "planner job with the leak: accepted, then failed as policy_violation naming the secret" 'jqe ".ok and .data.accepted" <<<"$out" >/dev/null && t_wait 15 job_refused'
t_ok "... nothing pushed or posted by the worker" '[ "$(branches)" = "$b0" ] && [ "$(posts)" -eq "$p0" ]'

# --- 5. no value anywhere
leaks=""
for f in "$W"/gitops.log "$W"/gitops-serve.log "$W"/vault.log "$W"/planner.log "$W"/audit.log; do
	grep -qF "$STAGING" "$f" 2>/dev/null && leaks="$leaks $(basename "$f")"
done
t_ok "the staging key is in no log, audit record or planner result${leaks}" '[ -z "$leaks" ]'

# --- 6. GitHub App: the key in the vault, tokens living 4 s but reported as 1 h
kill "$GPID" 2>/dev/null; wait "$GPID" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/app.pem" 2>/dev/null
openssl pkey -in "$W/app.pem" -pubout -out "$W/app.pub" 2>/dev/null
jido secrets put github.app_private_key --from-file "$W/app.pem" >/dev/null
t_check "the App's private key is put into the vault" test $? -eq 0
node "$DOUBLE/server.js" --git-root "$W/git" --token-file "$W/token" --port-file "$W/port2" \
    --app-public-key "$W/app.pub" --app-id 4242 --app-installation 77 --app-token-ttl 4 \
    --app-token-reported 3600 >"$W/double2.log" 2>&1 &
PIDS="$PIDS $!"
t_wait 20 test -s "$W/port2" || fail "the App double starts"
API2="http://127.0.0.1:$(cat "$W/port2")"
export JIDO_GITHUB_API_URL="$API2" JIDO_GITHUB_GIT_URL="$API2" JIDO_GITHUB_APP_ID=4242 JIDO_GITHUB_APP_INSTALLATION_ID=77
CLONE="$API2/octo/hello.git"
app() { curl -s "$API2/_double/app"; }
out=$(ship "$(req runapp1-0001 "$(mkdiff "App shipped this.")")")
t_ok "App: a ship in the filter pushes and opens a PR with an installation token" 'jqe ".ok and (.data.pr.number|type) == \"number\"" <<<"$out" >/dev/null && app | jqe ".issued == 1 and .refused_jwt == 0" >/dev/null'
JIDO_PROC_CRED="$GITCRED" JIDO_SOCKET_PLANNER="ipc://$W/planner.sock" jido-gitops serve 2>>"$W/gitops-app.log" &
GPID=$!
PIDS="$PIDS $GPID"
t_wait 5 test -S "$JIDO_HOME/run/gitops.sock"
sleep 0.2
sock_ship() { req "$1" "$2" >"$W/$1.req"; nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 60 --ascii --file "$W/$1.req"; }
out=$(sock_ship runapp2-0001 "$(mkdiff "Second App ship.")")
t_ok "App: the daemon ships with a token it minted and caches" 'jqe ".ok" <<<"$out" >/dev/null && app | jqe ".issued == 2" >/dev/null'
sleep 4.5
out=$(sock_ship runapp3-0001 "$(mkdiff "Third App ship.")")
t_ok "App: the cached token died mid-way: refused, minted again, retried once, shipped" 'jqe ".ok and (.data.pr.number|type) == \"number\"" <<<"$out" >/dev/null && app | jqe ".issued == 3 and .expired_seen >= 1" >/dev/null && grep -q gitops.auth_retry "$W/gitops-app.log"'
sleep 4.5
jq -nc --arg d "$(mkdiff "Worker App ship.")" '{v:1,type:"gitops.ship",id:"j",corr:"run-appj-0001",data:{job_id:"run-appj-0001:6:0",run_id:"run-appj-0001",seq:6,attempt:0,kind:"ship",step:{id:"ship",kind:"ship"},workflow:"fix_issue",project:{id:1,full_name:"octo/hello",settings:{default_branch:"main"}},issue:5,dry_run:false,inputs:{code:{diff:$d,summary:"worker ship"}},reply_to:"planner.steps.result"}}' >"$W/jobapp.req"
out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/gitops.sock" --recv-timeout 5 --ascii --file "$W/jobapp.req")
job_done() { grep -h 'planner.steps.result' "$W/planner.log" | jqe 'select(.data.run_id == "run-appj-0001") | .data.status == "done" and .data.result.pr.number > 0' >/dev/null; }
t_ok "App: a planner job whose worker got a dead token mints its own and ships" 'jqe ".ok" <<<"$out" >/dev/null && t_wait 20 job_done && app | jqe ".issued == 4" >/dev/null'
t_ok "App: every REST request (access_tokens too) validates against GitHub's OpenAPI description" 'curl -s "$API2/_double/log" | jqe "[.[] | select(.kind == \"rest\")] | length > 5 and all(.valid)" >/dev/null'
t_ok "App: the access_tokens calls are in the double's log" 'curl -s "$API2/_double/log" | jqe "[.[] | select(.path | test(\"access_tokens\"))] | length == 4" >/dev/null'
leaks=""
for f in "$W"/gitops.log "$W"/gitops-app.log "$W"/vault.log "$W"/planner.log "$W"/audit.log; do
	grep -qE 'BEGIN PRIVATE|ghs_[A-Za-z0-9]{20}|eyJhbGci' "$f" 2>/dev/null && leaks="$leaks $(basename "$f")"
done
t_ok "App: no key, JWT or installation token in a log, audit record or planner result${leaks}" '[ -z "$leaks" ]'
t_ok "no SIGSYS" '! grep -q "SIGSYS\|signal 31" "$W"/*.log'
t_done
