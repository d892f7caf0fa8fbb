#!/usr/bin/env bash
# ingest_sync.sh - the GitHub REST sync against the GitHub double (tests/doubles/github/
# server.js, every request checked against GitHub's OpenAPI description): the repos the
# token sees (ingest.repos), the open issues and PRs of a watched repo across pages (Link),
# published as events.github.{repo,issue,pull}.synced; the periodic poll sends
# If-None-Match and publishes nothing new on 304; a changed issue is published once; 429
# with Retry-After and a low X-RateLimit-Remaining make it back off.
. "$(dirname "$0")/../lib.sh"
t_home
echo "# home $JIDO_HOME"
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }
ING=""; SRV=""; SUB=""
stop_all() { for p in $ING $SUB $SRV; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; t_cleanup; }
trap stop_all EXIT

# --- the double's state: 3 repos; o/a has 150 open issues, 1 closed, 2 open PRs
node -e '
const iss = [], pulls = [];
for (let n = 1; n <= 150; n++) iss.push({ number: n, title: `Issue ${n}`, body: "b", state: "open",
  html_url: `https://github.com/o/a/issues/${n}`, updated_at: "2026-01-01T00:00:00Z",
  user: { login: "rep" }, author_association: "NONE", labels: n === 7 ? [{ name: "bug" }] : [],
  assignees: n === 7 ? [{ login: "own" }] : [] });
iss.push({ number: 151, title: "closed", state: "closed", updated_at: "2026-01-01T00:00:00Z", labels: [], assignees: [] });
for (const n of [152, 153]) {
  iss.push({ number: n, title: `PR ${n}`, state: "open", updated_at: "2026-01-02T00:00:00Z", labels: [], assignees: [], pull_request: { url: "x" } });
  pulls.push({ number: n, title: `PR ${n}`, state: "open", updated_at: "2026-01-02T00:00:00Z", labels: [{ name: "jido" }], assignees: [],
    head: { ref: `fix-${n}`, sha: "abc" }, base: { ref: "main" }, draft: n === 153, user: { login: "c" }, html_url: `https://github.com/o/a/pull/${n}` });
}
const repos = ["o/a", "o/b", "o/c"].map((f) => ({ full_name: f, private: f === "o/c", default_branch: "main",
  html_url: `https://github.com/${f}`, updated_at: "2026-01-01T00:00:00Z" }));
console.log(JSON.stringify({ repos, issues: { "o/a": iss }, pulls: { "o/a": pulls } }));
' >"$JIDO_HOME/state.json"
node "$DOUBLE/server.js" --port 0 --state "$JIDO_HOME/state.json" >"$JIDO_HOME/double.out" 2>&1 &
SRV=$!
t_wait 10 grep -q listening "$JIDO_HOME/double.out"
GH=http://127.0.0.1:$(awk '/listening/ {print $2}' "$JIDO_HOME/double.out")
t_check "the GitHub double listens ($GH)" curl -sf -o /dev/null "$GH/_double/violations"

printf 'ghp_test_token_123\n' >"$JIDO_HOME/token"; chmod 600 "$JIDO_HOME/token"
printf 'sync-secret\n' >"$JIDO_HOME/secret"; chmod 600 "$JIDO_HOME/secret"
export JIDO_GITHUB_API_URL=$GH JIDO_GITHUB_TOKEN_FILE=$JIDO_HOME/token
export JIDO_INGEST_WEBHOOK_SECRET_FILE=$JIDO_HOME/secret JIDO_INGEST_LISTEN=127.0.0.1:$(t_free_port)
export JIDO_INGEST_SYNC_INTERVAL_S=2
jido-ingest serve 2>"$JIDO_HOME/ingest.log" &
ING=$!
EV=$JIDO_HOME/events.txt
t_wait 10 test -S "$JIDO_HOME/run/events.pub"
nngcat --sub0 --dial "ipc://$JIDO_HOME/run/events.pub" --subscribe '' --ascii >"$EV" 2>/dev/null &
SUB=$!
n_of() { jq -r "select(.type == \"$1\") | .data.delivery" "$EV" 2>/dev/null | sort -u | wc -l; }
export -f n_of; export EV

repos_ok() { jido call ingest ingest.repos | jq -e '.repos | length == 3' >/dev/null; }
t_wait 10 repos_ok
t_check "ingest.repos lists the repos the token sees" sh -c "jido call ingest ingest.repos | jq -e '[.repos[].full_name] == [\"o/a\",\"o/b\",\"o/c\"] and (.repos[] | select(.full_name == \"o/c\") | .private) and .fetched_at != null' >/dev/null"
t_check "requests carry the token" sh -c "curl -s $GH/_double/requests | jq -e 'all(.[]; .auth)' >/dev/null"

t_check "ingest.sync watches o/a" sh -c "jido call ingest ingest.sync '{\"repos\":[\"o/a\"]}' | jq -e '.queued and .watching == [\"o/a\"]' >/dev/null"
t_check "ingest.sync refuses a bad name" sh -c "jido call ingest ingest.sync '{\"repos\":[\"../x\"]}' 2>&1 | grep -q validation_error"
all_in() { [ "$(n_of events.github.issue.synced)" -ge 150 ] && [ "$(n_of events.github.pull.synced)" -ge 2 ]; }
t_wait 15 all_in
t_check "150 open issues across 2 pages -> 150 events.github.issue.synced ($(n_of events.github.issue.synced))" test "$(n_of events.github.issue.synced)" -eq 150
t_check "2 open PRs -> events.github.pull.synced, not as issues ($(n_of events.github.pull.synced))" test "$(n_of events.github.pull.synced)" -eq 2
t_check "one events.github.repo.synced for o/a" test "$(n_of events.github.repo.synced)" -eq 1
t_check "issue fields: labels, assignees, updated_at, delivery sync:o/a#7@..." sh -c "jq -c 'select(.type == \"events.github.issue.synced\" and .data.number == 7) | .data' $EV | head -1 | jq -e '.repo == \"o/a\" and .labels == [\"bug\"] and .assignees == [\"own\"] and .updated_at == \"2026-01-01T00:00:00Z\" and .delivery == \"sync:o/a#7@2026-01-01T00:00:00Z\" and .title == \"Issue 7\"' >/dev/null"
t_check "pull fields: head_ref, base_ref, draft" sh -c "jq -c 'select(.type == \"events.github.pull.synced\" and .data.number == 153) | .data' $EV | head -1 | jq -e '.head_ref == \"fix-153\" and .base_ref == \"main\" and .draft and .labels == [\"jido\"]' >/dev/null"
t_check "pagination followed the Link header (page=2 requested)" sh -c "curl -s $GH/_double/requests | jq -e 'any(.[]; .url | test(\"/repos/o/a/issues.*page=2\"))' >/dev/null"

# --- the periodic poll: conditional requests, nothing new published
before=$(jq -r 'select(.type != "events.heartbeat" and .data.redelivery != true) | .data.delivery' "$EV" | wc -l)
n304() { curl -s "$GH/_double/requests" | jq '[.[] | select(.if_none_match != null and .status == 304)] | length'; }
t_wait 10 sh -c "[ \$(curl -s $GH/_double/requests | jq '[.[] | select(.if_none_match != null and .status == 304)] | length') -ge 3 ]"
t_check "the periodic poll sends If-None-Match and gets 304s ($(n304))" test "$(n304)" -ge 3
after=$(jq -r 'select(.type != "events.heartbeat" and .data.redelivery != true) | .data.delivery' "$EV" | wc -l)
t_check "an unchanged repo publishes nothing new ($before -> $after)" test "$before" -eq "$after"

# --- a changed issue is published once
jq '.issues["o/a"][6].updated_at = "2026-02-02T00:00:00Z" | .issues["o/a"][6].title = "Issue 7 (edited)"' "$JIDO_HOME/state.json" >"$JIDO_HOME/state2.json"
curl -s -X POST --data-binary "@$JIDO_HOME/state2.json" "$GH/_double/state" >/dev/null
jido call ingest ingest.sync >/dev/null
edited() { jq -r 'select(.type == "events.github.issue.synced" and .data.title == "Issue 7 (edited)") | .data.delivery' "$EV" | sort -u | wc -l; }
t_wait 10 sh -c "[ \$(jq -r 'select(.data.title == \"Issue 7 (edited)\") | .data.delivery' $EV | sort -u | wc -l) -ge 1 ]"
sleep 2.5
t_check "a changed issue is published once, as sync:o/a#7@<new updated_at>" sh -c "[ $(edited) -eq 1 ] && jq -s -e 'map(select(.data.title == \"Issue 7 (edited)\")) | length >= 1 and all(.data.delivery == \"sync:o/a#7@2026-02-02T00:00:00Z\")' $EV >/dev/null"

# --- back-off: 429 with Retry-After
curl -s -X POST -d '{"path":"/user/repos","status":429,"retry_after":3,"times":1}' "$GH/_double/fail" >/dev/null
jido call ingest ingest.sync >/dev/null
t_wait 5 sh -c "jido call ingest ingest.repos | jq -e '.last_error != null and (.last_error | contains(\"429\"))' >/dev/null"
t_check "429 with Retry-After is reported" sh -c "jido call ingest ingest.repos | jq -e '.last_error | contains(\"rate-limited\")' >/dev/null"
count_at=$(curl -s "$GH/_double/requests" | jq length)
jido call ingest ingest.sync >/dev/null
sleep 1.5
t_check "no request while Retry-After runs" test "$(curl -s "$GH/_double/requests" | jq length)" -eq "$count_at"
t_wait 8 sh -c "jido call ingest ingest.repos | jq -e '.last_error == null' >/dev/null"
t_check "requests resume after Retry-After" sh -c "jido call ingest ingest.repos | jq -e '.last_error == null' >/dev/null"

# --- back-off: under 10% of the limit left
jq '.rate = {"limit": 5000, "remaining": 200, "reset": (now + 60 | floor)}' "$JIDO_HOME/state2.json" >"$JIDO_HOME/state3.json"
curl -s -X POST --data-binary "@$JIDO_HOME/state3.json" "$GH/_double/state" >/dev/null
jido call ingest ingest.sync >/dev/null
t_wait 5 grep -q ingest.sync_backoff "$JIDO_HOME/ingest.log"
t_check "X-RateLimit-Remaining under 10% -> back off until the reset" sh -c "grep -q ingest.sync_backoff $JIDO_HOME/ingest.log && jido call ingest ingest.repos | jq -e \".blocked_until_ms > $(date +%s)000 + 30000\" >/dev/null"

t_check "every request the sync made is allowed by GitHub's OpenAPI description" sh -c "curl -s $GH/_double/violations | jq -e 'length == 0' >/dev/null"
curl -s "$GH/repos/o/a/issues?state=bogus&per_page=x" -H 'Authorization: Bearer t' >/dev/null
t_check "the double does catch a request the description forbids" sh -c "curl -s $GH/_double/violations | jq -e 'length == 2' >/dev/null"
t_check "the token never appears in the log" sh -c "! grep -q ghp_test_token $JIDO_HOME/ingest.log"
t_check "no seccomp kill" sh -c "kill -0 $ING && ! grep -qiE 'SIGSYS|Bad system call' $JIDO_HOME/ingest.log"
kill "$ING"; wait "$ING" 2>/dev/null; ING=""
t_check "stops cleanly, no sanitizer report (ASan/LSan/UBSan builds)" sh -c "grep -q srv.stopped $JIDO_HOME/ingest.log && ! grep -qE 'LeakSanitizer|AddressSanitizer|runtime error:' $JIDO_HOME/ingest.log"
t_done
