#!/usr/bin/env bash
# artifacts.sh - run artifacts against the real stack (`jido up`: vault, auditor, planner,
# web, ...; the executor's socket is answered by nngcat so the test posts the step results
# the executor would): two runs with the same log store one blob; a retried run's plan has
# v1 and v2 with their hashes and ?version=1 returns the first; downloads with ETag,
# Content-Disposition and Range (206, 416); `jido artifacts list/history/get`; share links
# (work until the TTL then 410, --once once, revoke at once, one changed character 403, each
# attempt in `jido audit export`); a token used at 10x the guard's threshold is frozen (423)
# and unfrozen by the owner; a 1 GiB artifact downloads with the web's RSS under 32 MB and
# resumes with Range; no SIGSYS.
. "$(dirname "$0")/../lib.sh"
t_home
run=$JIDO_HOME/run
mkdir -p "$run" "$JIDO_HOME/workflows"
PORT=$(t_free_port)
W="http://127.0.0.1:$PORT"
J="$JIDO_HOME/jar"
export JIDO_WEB_LISTEN="127.0.0.1:$PORT"
export JIDO_WEB_PUBLIC_URL="$W"
export JIDO_INGEST_LISTEN="127.0.0.1:$(t_free_port)"
export JIDO_WEB_GUARD_REQUESTS_PER_MIN=40
export JIDO_WEB_API_BURST=1000
export JIDO_WEB_API_PER_MIN=6000

# the project's repository (the executor checks it out read-only for every step)
origin=$JIDO_HOME/origin
git init -q -b main "$origin"
printf 'PLAN A: change foo\n' >"$origin/PLAN.txt"
printf 'a\nb\n' >"$origin/f.txt"
git -C "$origin" add . && git -C "$origin" -c user.name=t -c user.email=t@t commit -qm init
mkdir -p "$JIDO_HOME/repos/acme"
git clone -q --bare "$origin" "$JIDO_HOME/repos/acme/widget.git"
export JIDO_EXECUTOR_GIT_URL=$JIDO_HOME/repos/
# plan prints the repository's plan; build changes a file, logs a line with a token in it
# and fails until the repository has an OK file
cat >"$JIDO_HOME/workflows/art_test.json" <<'EOF'
{"name":"art_test","version":1,"description":"plan then build (artifacts e2e)","steps":[
 {"id":"plan","kind":"shell","command":"cat PLAN.txt"},
 {"id":"build","kind":"shell","command":"echo c >> f.txt; echo same build log; echo token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 in the output; test -f OK"}]}
EOF

if t_start_stack 20; then pass "stack READY"; else fail "stack READY"; tail -20 "$JIDO_HOME/up.log"; t_done; fi

get() { curl -s -b "$J" -c "$J" "$W$1"; }
t_web_setup "$W" "$J" acme/widget >/dev/null
mk_token() { t_web_token "$W" "$J" "$1"; }
T=$(mk_token main)
t_check "setup done, an admin token" test ${#T} -eq 53
api() { curl -s -H "Authorization: Bearer $T" "$@"; }
export W J T
export -f api get

call() { jido call planner "$@"; }
wait_state() { t_wait 60 sh -c "jido call planner planner.runs.get '{\"run_id\":\"$1\"}' | jq -e '.state == \"$2\"'"; }
new_run() { call planner.runs.create '{"project":"acme/widget","workflow":"art_test"}' | jq -r .id; }

# --- run 1: plan v1, build fails (its log and diff are kept)
R1=$(new_run)
wait_state "$R1" failed || { fail "run 1 fails at build"; call planner.runs.get "{\"run_id\":\"$R1\"}" | jq -c '.steps[] | {step, state, error, result}' | head -c 3000; }
t_check "run 1 keeps plan.md, build.log, build.diff, cost_summary.json" sh -c "jido artifacts list $R1 --json | jq -e '[.artifacts[].name] | contains([\"build.diff\",\"build.log\",\"cost_summary.json\",\"plan.md\"])' >/dev/null"
t_check "the log was redacted before it was stored" sh -c "jido artifacts get $R1 build.log | grep -q 'token \[REDACTED\]' && ! grep -rq ghp_ABCDEFGHIJ '$JIDO_HOME/artifacts'"
t_check "the executor's transcript is kept" sh -c "jido artifacts list $R1 --json | jq -e '[.artifacts[].name] | index(\"build.transcript.jsonl\") != null' >/dev/null"

# --- the retry: plan v2
printf 'PLAN B: change foo and bar\n' >"$origin/PLAN.txt"
touch "$origin/OK"
git -C "$origin" add . && git -C "$origin" -c user.name=t -c user.email=t@t commit -qm plan-b
git -C "$origin" push -q "$JIDO_HOME/repos/acme/widget.git" main
R2=$(call planner.runs.retry "{\"run_id\":\"$R1\"}" | jq -r .id)
wait_state "$R2" completed || fail "the retry completes"
hist=$(jido artifacts history "$R2" plan.md --json)
t_check "the retried run's plan has v1 and v2 with their hashes and attempts" sh -c "echo '$hist' | jq -e '(.versions | length) == 2 and .versions[0].version == 1 and .versions[1].version == 2 and .versions[0].run_attempt == 1 and .versions[1].run_attempt == 2 and .versions[0].hash != .versions[1].hash and (.versions[0].hash | length) == 64' >/dev/null"
h1=$(echo "$hist" | jq -r '.versions[0].hash')
code=$(api -o "$JIDO_HOME/v1" -D "$JIDO_HOME/h1" -w '%{http_code}' "$W/api/v1/runs/$R2/artifacts/plan.md?version=1")
t_check "?version=1 returns the first plan with its ETag, type and file name" sh -c "[ $code = 200 ] && grep -qx 'PLAN A: change foo' '$JIDO_HOME/v1' && grep -qi '^etag: \"$h1\"' '$JIDO_HOME/h1' && grep -qi '^content-type: text/markdown' '$JIDO_HOME/h1' && grep -qi '^content-disposition: attachment; filename=\"plan.md\"' '$JIDO_HOME/h1' && grep -qi '^content-length: 19' '$JIDO_HOME/h1'"
t_check "without a version: the latest" bash -c "api '$W/api/v1/runs/$R2/artifacts/plan.md' | grep -q 'PLAN B'"
# the web now knows R2's lineage and reads rows from the store itself: a version put a
# moment ago is what "latest" gives at once, and the planner is not asked per download
printf 'notes one\n' >"$JIDO_HOME/n1"; printf 'notes two\n' >"$JIDO_HOME/n2"
jido artifacts put "$R2" notes.md --from-file "$JIDO_HOME/n1" --kind report --type text/markdown >/dev/null
t_check "a fresh artifact downloads at once" bash -c "api '$W/api/v1/runs/$R2/artifacts/notes.md' | grep -qx 'notes one'"
jido artifacts put "$R2" notes.md --from-file "$JIDO_HOME/n2" --kind report --type text/markdown >/dev/null
t_check "  a version put a moment ago is the latest at once, ?version=1 the first" bash -c "api '$W/api/v1/runs/$R2/artifacts/notes.md' | grep -qx 'notes two' && api '$W/api/v1/runs/$R2/artifacts/notes.md?version=1' | grep -qx 'notes one'"
t_check "  downloads looked their rows up in the store (jido_artifact_lookups_total)" bash -c "curl -s '$W/metrics' | grep -q 'jido_artifact_lookups_total{source=\"store\"} [1-9]'"
t_check "jido artifacts get --version 1 -o FILE" sh -c "jido artifacts get $R2 plan.md --version 1 -o '$JIDO_HOME/p1' && cmp '$JIDO_HOME/p1' '$JIDO_HOME/v1'"
code=$(api -o /dev/null -w '%{http_code}' "$W/api/v1/runs/$R2/artifacts/plan.md?version=9")
t_check "an unknown version is 404" test "$code" = 404
code=$(api -o /dev/null -w '%{http_code}' "$W/api/v1/runs/$R2/artifacts/plan.md?version=x")
t_check "a malformed version is 422" test "$code" = 422

# --- one blob for the same content: the retry's log, and a third, unrelated run's
R3=$(new_run)
wait_state "$R3" completed || fail "run 3 completes"
lh1=$(jido artifacts list "$R2" --json | jq -r '.artifacts[] | select(.name == "build.log") | .hash')
lh3=$(jido artifacts list "$R3" --json | jq -r '.artifacts[] | select(.name == "build.log") | .hash')
t_check "two runs with the same log: same hash, one blob file" sh -c "[ '$lh1' = '$lh3' ] && [ \$(find '$JIDO_HOME/artifacts/blobs' -name '$lh1' | wc -l) = 1 ]"

R4=$(new_run)
call planner.runs.cancel "{\"run_id\":\"$R4\",\"reason\":\"not needed\"}" >/dev/null
t_check "a cancelled run gets its cost summary" sh -c "jido artifacts get $R4 cost_summary.json | jq -e '.state == \"cancelled\" and .run_id == \"$R4\"' >/dev/null"

# --- Range
code=$(api -o "$JIDO_HOME/r" -D "$JIDO_HOME/rh" -w '%{http_code}' -H 'Range: bytes=6-9' "$W/api/v1/runs/$R2/artifacts/plan.md")
t_check "Range: 206 with Content-Range and just those bytes" sh -c "[ $code = 206 ] && [ \"\$(cat '$JIDO_HOME/r')\" = ': ch' ] && grep -qi '^content-range: bytes 6-9/27' '$JIDO_HOME/rh'"
code=$(api -o /dev/null -D "$JIDO_HOME/rh" -w '%{http_code}' -H 'Range: bytes=500-' "$W/api/v1/runs/$R2/artifacts/plan.md")
t_check "an unsatisfiable Range is 416 with bytes */size" sh -c "[ $code = 416 ] && grep -qi '^content-range: bytes \*/27' '$JIDO_HOME/rh'"
t_check "the artifacts list over the API" bash -c "api '$W/api/v1/runs/$R2/artifacts' | jq -e '[.artifacts[] | select(.name == \"plan.md\")][0].versions == 2' >/dev/null"
t_check "the run page lists the artifacts with a share button" bash -c "get /projects/1/runs/$R2 | grep -q 'artifacts/plan.md\">plan.md' && get /projects/1/runs/$R2 | grep -q '>Share</button>'"

# --- share links
L=$(jido artifacts share "$R2" plan.md --ttl 3s)
t_check "a share link works without a login" sh -c "curl -s '$L' | grep -q 'PLAN B'"
lid=$(echo "$L" | sed 's|.*/share/\([^/]*\)/.*|\1|')
sleep 3.5
code=$(curl -s -o "$JIDO_HOME/b" -w '%{http_code}' "$L")
t_check "after its TTL: 410 with a clear page" sh -c "[ $code = 410 ] && grep -q 'This link has expired' '$JIDO_HOME/b'"
LO=$(jido artifacts share "$R2" plan.md --ttl 1h --once)
c1=$(curl -s -o /dev/null -w '%{http_code}' "$LO"); c2=$(curl -s -o "$JIDO_HOME/b" -w '%{http_code}' "$LO")
t_check "--once works once, then 410" sh -c "[ $c1 = 200 ] && [ $c2 = 410 ] && grep -q 'already used' '$JIDO_HOME/b'"
LR=$(jido artifacts share "$R2" plan.md --ttl 1h)
lrid=$(echo "$LR" | sed 's|.*/share/\([^/]*\)/.*|\1|')
c1=$(curl -s -o /dev/null -w '%{http_code}' "$LR")
t_check "active links are listed" sh -c "jido artifacts links $R2 | grep -q '$lrid active'"
jido artifacts revoke "$lrid" >/dev/null
c2=$(curl -s -o "$JIDO_HOME/b" -w '%{http_code}' "$LR")
t_check "a revoked link is refused at once (410)" sh -c "[ $c1 = 200 ] && [ $c2 = 410 ] && grep -q 'revoked' '$JIDO_HOME/b'"
LT=$(jido artifacts share "$R2" plan.md --ttl 1h)
# change one character of the signature and one of the expiry
sig=$(echo "$LT" | awk -F/ '{print $(NF-1)}')
first=${sig:0:1}; [ "$first" = a ] && repl=b || repl=a
bad1=$(echo "$LT" | sed "s|/$sig/|/$repl${sig:1}/|")
exp=$(echo "$LT" | awk -F/ '{print $(NF-2)}')
bad2=$(echo "$LT" | sed "s|/$exp/|/$((exp + 1))/|")
c1=$(curl -s -o "$JIDO_HOME/b" -w '%{http_code}' "$bad1"); c2=$(curl -s -o /dev/null -w '%{http_code}' "$bad2")
t_check "one changed character of the link: 403 with a clear page" sh -c "[ $c1 = 403 ] && [ $c2 = 403 ] && grep -q 'not valid' '$JIDO_HOME/b'"
jido audit export --format jsonl >"$JIDO_HOME/audit.jsonl" 2>/dev/null || jido audit export >"$JIDO_HOME/audit.jsonl"
t_check "every use and refusal is in jido audit export (link id, address, user agent, result)" sh -c "
	grep 'artifact.share.use' '$JIDO_HOME/audit.jsonl' | grep '\"link:$lid\"' | grep -q '\"ok\"' &&
	grep 'artifact.share.use' '$JIDO_HOME/audit.jsonl' | grep '\"link:$lid\"' | grep '\"refused\"' | grep -q expired &&
	grep 'artifact.share.use' '$JIDO_HOME/audit.jsonl' | grep '\"link:$lrid\"' | grep -q revoked &&
	grep 'artifact.share.use' '$JIDO_HOME/audit.jsonl' | grep tampered | grep -q 'curl/' &&
	grep 'artifact.share.use' '$JIDO_HOME/audit.jsonl' | grep -q '127.0.0.1' &&
	[ \$(grep -c 'artifact.share.use' '$JIDO_HOME/audit.jsonl') -ge 7 ]"

# --- the anomaly guard: a token at 10x its threshold (40 requests a minute)
H=$(mk_token hammer)
hid=$(api "$W/api/v1/tokens" | jq -r '.tokens[] | select(.name == "hammer") | .id')
n423=0
for i in $(seq 1 400); do
	c=$(curl -s -o "$JIDO_HOME/g" -w '%{http_code}' -H "Authorization: Bearer $H" "$W/api/v1/runs/$R2/artifacts")
	[ "$c" = 423 ] && n423=$((n423 + 1))
done
t_check "a token used at 10x its threshold is frozen within the minute (423 with a message)" sh -c "[ $n423 -ge 300 ] && grep -q 'frozen by the anomaly guard' '$JIDO_HOME/g'"
t_check "the freeze is on the dashboard, in jido tokens frozen, and audited" bash -c "get /dashboard | grep -q 'Frozen by the anomaly guard' && jido --json tokens frozen | jq -e --arg id '$hid' '.frozen | any(.kind == \"token\" and .subject == \$id)' >/dev/null && jido audit export | grep -q 'guard.freeze'"
t_check "the other token still works" bash -c "[ \$(api -o /dev/null -w '%{http_code}' '$W/api/v1/runs/$R2/artifacts') = 200 ]"
jido tokens unfreeze "$hid" >/dev/null
t_check "unfrozen by the owner, it works again" sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $H' '$W/api/v1/runs/$R2/artifacts') = 200 ]"

# --- 1 GiB: flat memory, resume with Range
yes 'one gibibyte of artifact text 0123456789abcdef' | head -c 1073741824 >"$JIDO_HOME/big.txt"
if jido artifacts put "$R2" big.txt --from-file "$JIDO_HOME/big.txt" --kind report --type text/plain >/dev/null; then
	pass "jido artifacts put stores 1 GiB (the planner's worker redacts and hashes it)"
else
	fail "jido artifacts put 1 GiB"
fi
bh=$(sha256sum "$JIDO_HOME/big.txt" | cut -d' ' -f1)
rm -f "$JIDO_HOME/big.txt"
wpid=$(jido status --json | jq -r '.[] | select(.name == "web") | .pid')
rss0=$(awk '/^VmRSS/ {print $2}' /proc/$wpid/status)
curl -s --limit-rate 300M -H "Authorization: Bearer $T" -o "$JIDO_HOME/dl" "$W/api/v1/runs/$R2/artifacts/big.txt" &
C_PID=$!
max=0
while kill -0 $C_PID 2>/dev/null; do
	r=$(awk '/^VmRSS/ {print $2}' /proc/$wpid/status 2>/dev/null || echo 0)
	[ "${r:-0}" -gt "$max" ] && max=$r
	sleep 0.05
done
wait $C_PID
# sanitizer builds carry shadow memory and quarantine: there the download may add at most
# 16 MB to what the web held before it (flat), in release builds the whole RSS stays < 32 MB
case $JIDO_BIN in *asan*) limit=$((rss0 + 16384)) ;; *) limit=32768 ;; esac
t_check "1 GiB downloads intact with the web's RSS under 32 MB (max ${max} kB, before ${rss0} kB)" sh -c "[ $max -gt 0 ] && [ $max -lt $limit ] && [ \$(sha256sum '$JIDO_HOME/dl' | cut -d' ' -f1) = $bh ]"
truncate -s 600000000 "$JIDO_HOME/dl"
code=$(curl -s -C - -w '%{http_code}' -H "Authorization: Bearer $T" -o "$JIDO_HOME/dl" "$W/api/v1/runs/$R2/artifacts/big.txt")
t_check "an interrupted download resumes with Range (206) to the same SHA-256" sh -c "[ $code = 206 ] && [ \$(sha256sum '$JIDO_HOME/dl' | cut -d' ' -f1) = $bh ]"
rm -f "$JIDO_HOME/dl"

t_check "disk usage in /metrics and on /settings/security" bash -c "curl -s '$W/metrics' | grep -q '^jido_artifacts_bytes [1-9]' && get /settings/security | grep -q 'blobs for'"
t_check "no sanitizer report" sh -c "! grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' '$JIDO_HOME/up.log'"
t_check "no process was killed by its allowlist" sh -c "! grep -q SIGSYS '$JIDO_HOME/up.log'"
t_done
