#!/usr/bin/env bash
# backup.sh - `jido backup` while signed webhooks stream into ingest (the GitHub double's
# send.js) and runs are created from them; `jido restore` refuses a changed backup, a newer
# schema, a wrong vault key and a running instance without changing anything, then
# restores onto a new state directory; that stack starts and shows the same runs, and its
# audit log verifies.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }
SRC=$JIDO_HOME
NEW=$(mktemp -d /tmp/jido-e2e.XXXXXX)
BK=$(mktemp -d /tmp/jido-bk.XXXXXX)/b
cleanup_all() { t_cleanup; rm -rf "$NEW" "$(dirname "$BK")"; }
trap cleanup_all EXIT
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT/api/github/webhooks
SECRET=$SRC/webhook.secret
printf 'backup-secret\n' >"$SECRET"; chmod 600 "$SECRET"
export JIDO_INGEST_LISTEN=127.0.0.1:$PORT JIDO_INGEST_WEBHOOK_SECRET_FILE=$SECRET
export JIDO_WEB_LISTEN=127.0.0.1:$(t_free_port)
if t_start_stack 20; then pass "stack up"; else fail "stack up"; tail "$SRC/up.log"; t_done; fi
jido call planner planner.projects.import '{"repos":["Codertocat/Hello-World"]}' >/dev/null || fail "import the double's repository"
printf 'canary-value-1' | jido secrets put test.canary --from-stdin >/dev/null || fail "a secret in the vault"

# --- a stream of signed deliveries; the backup is taken in the middle of it
# batches of 200 deliveries until the backup is done (stop file), so the stream runs
# for the whole backup whatever the machine's speed
: >"$SRC/sent.txt"
( b=0; while [ ! -e "$SRC/stop-sending" ]; do b=$((b + 1))
	node "$DOUBLE/send.js" load --url "$URL" --secret-file "$SECRET" --count 200 --concurrency 8 --prefix "bk$b" >>"$SRC/sent.txt" 2>>"$SRC/send.err"
done ) &
SND=$!
some_runs() { [ "$(jido call planner planner.runs.list '{"limit":100000}' | jq '.runs | length')" -ge 5 ]; }
t_wait 30 some_runs || fail "runs from the webhooks before the backup"
jido call auditor audit.checkpoint | jq -r .line >"$SRC/cp-before"   # kept elsewhere by the owner
before=$(kill -0 $SND 2>/dev/null && echo yes || echo no)
jido backup "$BK" >"$SRC/backup.out" 2>"$SRC/backup.err"
st=$?
after=$(kill -0 $SND 2>/dev/null && echo yes || echo no)
t_check "jido backup exits 0" test "$st" -eq 0
t_check "  while webhooks stream in (sending when it started: $before, when it ended: $after)" test "$before$after" = yesyes
touch "$SRC/stop-sending"
wait $SND
n=$(wc -l <"$SRC/sent.txt")
t_check "every delivery was accepted (202): $n" sh -c "[ $n -ge 200 ] && [ \$(grep -c '^202 ' '$SRC/sent.txt') -eq $n ]"
printf 'later' | jido secrets put test.later --from-stdin >/dev/null   # audited after the backup
jido call auditor audit.checkpoint | jq -r .line >"$SRC/cp-after"
t_check "the backup directory is private (0700)" test "$(stat -c %a "$BK")" = 700
t_check "manifest: databases with schema versions and hashes" jq -e '([.files[] | select(.kind == "sqlite") | .name] | contains(["planner.db","ingest.db","web.db","vault.db","gateway.db"])) and ([.files[] | select(.kind == "sqlite") | .user_version >= 1] | all) and ([.files[] | .sha256 | length == 64] | all)' "$BK/manifest.json" >/dev/null
t_check "manifest: the audit log up to a signed checkpoint" sh -c "jq -e '.audit.tree_size > 0' '$BK/manifest.json' >/dev/null && tail -1 '$BK/audit/audit.log' | grep -q '^{\"checkpoint\"'"
t_check "the vault database stays encrypted (no canary in the backup)" sh -c "! grep -r -a -q canary-value-1 '$BK'"
t_check "the vault key is not in the backup by default" test ! -e "$BK/vault.key"
t_check "the copied databases pass integrity_check (gateway.db copied by the gateway)" sh -c "for d in planner ingest web vault gateway; do [ \"\$(sqlite3 '$BK/'\$d.db 'pragma integrity_check')\" = ok ] || exit 1; done"
bk_runs=$(sqlite3 "$BK/planner.db" "select id from runs order by id" | tr '\n' ' ')
t_check "the backup holds runs ($(echo $bk_runs | wc -w))" test -n "$bk_runs"

# --- restore refuses before changing anything
t_check "restore into the running instance: refused (exit 4)" sh -c "jido restore '$BK' --key-file '$SRC/vault.key' 2>/dev/null; [ \$? -eq 4 ]"
cp -r "$BK" "$BK.bad"
printf 'x' >>"$BK.bad/planner.db"
t_check "a changed database file: refused (exit 1), nothing written" sh -c "jido --home '$NEW' restore '$BK.bad' --key-file '$SRC/vault.key' 2>/dev/null; [ \$? -eq 1 ] && [ ! -e '$NEW/planner.db' ]"
rm -rf "$BK.bad"; cp -r "$BK" "$BK.bad"
sed -i '0,/"seq":1,/s/"seq":1,/"seq":1 ,/' "$BK.bad/audit/audit.log"
h=$(sha256sum "$BK.bad/audit/audit.log" | cut -d' ' -f1); n=$(stat -c %s "$BK.bad/audit/audit.log")
jq --arg h "$h" --argjson n "$n" '(.files[] | select(.name == "audit/audit.log")) |= (.sha256 = $h | .bytes = $n)' "$BK.bad/manifest.json" >"$BK.bad/m" && mv "$BK.bad/m" "$BK.bad/manifest.json"
t_check "a tampered audit log with a matching manifest: jido-auditor verify refuses it (exit 1)" sh -c "jido --home '$NEW' restore '$BK.bad' --key-file '$SRC/vault.key' 2>'$NEW.err'; [ \$? -eq 1 ] && grep -q 'audit log does not verify' '$NEW.err' && [ ! -e '$NEW/planner.db' ]"
rm -rf "$BK.bad" "$NEW.err"; cp -r "$BK" "$BK.bad"
head -c 32 /dev/urandom >"$NEW.wrongkey"; chmod 600 "$NEW.wrongkey"
t_check "a wrong vault key: jido-vault check refuses (exit 1)" sh -c "jido --home '$NEW' restore '$BK.bad' --key-file '$NEW.wrongkey' 2>/dev/null; [ \$? -eq 1 ] && [ ! -e '$NEW/vault.db' ]"
rm -f "$NEW.wrongkey"
sqlite3 "$BK.bad/planner.db" "pragma user_version = 99"
h=$(sha256sum "$BK.bad/planner.db" | cut -d' ' -f1); n=$(stat -c %s "$BK.bad/planner.db")
jq --arg h "$h" --argjson n "$n" '(.files[] | select(.name == "planner.db")) |= (.sha256 = $h | .bytes = $n | .user_version = 99)' "$BK.bad/manifest.json" >"$BK.bad/m" && mv "$BK.bad/m" "$BK.bad/manifest.json"
t_check "a backup from a newer schema: refused (exit 4), nothing written" sh -c "jido --home '$NEW' restore '$BK.bad' --key-file '$SRC/vault.key' 2>'$NEW.err'; [ \$? -eq 4 ] && grep -q 'newer' '$NEW.err' && [ ! -e '$NEW/planner.db' ]"
rm -rf "$BK.bad" "$NEW.err"

t_check "a checkpoint kept from after the backup (a longer log): refused (exit 1)" sh -c "jido --home '$NEW' restore '$BK' --key-file '$SRC/vault.key' --checkpoint '$SRC/cp-after' 2>/dev/null; [ \$? -eq 1 ] && [ ! -e '$NEW/planner.db' ]"

# --- restore on a new state directory, start it
jido audit verify >/dev/null 2>&1 || true
t_stop_stack
jido backup "$BK.stopped" >/dev/null 2>"$SRC/backup2.err"
st=$?
t_check "jido backup of a stopped instance: every database, the log to its last checkpoint" sh -c "[ $st -eq 0 ] && jq -e '([.files[].name] | index(\"gateway.db\")) and .audit.tree_size > 0' '$BK.stopped/manifest.json' >/dev/null && tail -1 '$BK.stopped/audit/audit.log' | grep -q '^{\"checkpoint\"'"
rm -rf "$BK.stopped"
t_check "restore onto a new state directory (the log extends the checkpoint kept before)" sh -c "jido --home '$NEW' restore '$BK' --key-file '$SRC/vault.key' --checkpoint '$SRC/cp-before' >/dev/null"
cp "$SRC/vault.key" "$NEW/vault.key"; chmod 600 "$NEW/vault.key"
export JIDO_HOME=$NEW
if t_start_stack 20; then pass "the restored stack starts"; else fail "the restored stack starts"; tail "$NEW/up.log"; fi
new_runs=$(jido call planner planner.runs.list '{"limit":100000}' | jq -r '.runs[].id' | LC_ALL=C sort | tr '\n' ' ')
t_check "the restored instance shows the same runs" test "$new_runs" = "$bk_runs"
t_check "its audit log verifies (jido audit verify)" sh -c "jido audit verify >/dev/null"
t_check "its vault holds the secret (value readable by the owner)" sh -c "jido secrets list | grep -q test.canary"
t_stop_stack
grep -q 'SIGSYS\|signal 31' "$SRC/up.log" "$NEW/up.log" && fail "a seccomp kill in a stack's log"
export JIDO_HOME=$SRC
t_done
