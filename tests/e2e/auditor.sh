#!/usr/bin/env bash
# auditor.sh - end-to-end tests of jido-auditor on its own (no stack): the append wire
# contract and redaction, a 10,000-record log whose every kind of tampering (random single
# byte flips, deleted, duplicated, swapped lines, truncation against a kept checkpoint) is
# caught naming the right record, proofs checked by the independent tests/verify_rfc9162.py,
# kill -9 under 8 synchronous writers (every acknowledged record present exactly once),
# pushed batches (all or nothing, strictly validated) and audit.flush, and the jido audit
# CLI with its exit codes.
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
VERIFIER="$top/tests/verify_rfc9162.py"
# The independent verifier needs Python's cryptography (Ed25519): the first python3 that has it.
for PY in python3 /usr/bin/python3; do "$PY" -c 'import cryptography' 2>/dev/null && break; done
# Our own prefix: other suites on a shared machine sweep /tmp/jido-e2e.* (short: ipc paths).
JIDO_HOME=$(mktemp -d /tmp/jido-audit.XXXXXX)
export JIDO_HOME
APID=""

a_start() {
	jido-auditor serve 2>>"$JIDO_HOME/auditor.log" &
	APID=$!
	t_wait 10 jido call auditor auditor.health
}
a_stop() {
	[ -n "$APID" ] || return 0
	kill -TERM "$APID" 2>/dev/null
	wait "$APID" 2>/dev/null
	APID=""
}
a_kill9() {
	kill -KILL "$APID" 2>/dev/null
	wait "$APID" 2>/dev/null
	APID=""
}
trap 'a_kill9; t_cleanup' EXIT
LOG="$JIDO_HOME/audit/audit.log"
W="$JIDO_HOME/work"
mkdir -p "$W"
export JIDO_AUDITOR_CHECKPOINT_EVERY=1000

t_check "auditor starts alone and answers health" a_start
t_check "signing key file generated with mode 0600" \
	test "$(stat -c %a "$JIDO_HOME/audit/signing.key")" = 600

# --- the append contract and redaction
rep=$(jido call auditor audit.append '{"actor":"owner","channel":"cli","action":"secret.set",
 "subject":"redaction","result":"ok","details":{"note":"pushed with ghp_SECRETvalue1234567890abcdef ok",
 "api_key":"plainvalue-not-a-pattern","nested":{"hdr":"Authorization: Bearer abc.def.ghi123456"},
 "pem":"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----"}}')
t_check "append answers seq and leaf_hash" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); assert d["seq"]==1 and len(d["leaf_hash"])==64' "$rep"
t_check "no secret value reaches the log" bash -c "! grep -qE 'SECRETvalue|plainvalue|abc.def.ghi|b3BlbnNzaC1rZXk' '$LOG'"
t_check "redacted values are marked" test "$(grep -o 'REDACTED' "$LOG" | wc -l)" -eq 4
t_check "the signing seed is never in the log" bash -c "! grep -qF \"\$(head -c 64 '$JIDO_HOME/audit/signing.key')\" '$LOG'"
jido call auditor audit.append '{"actor":"x","channel":"carrier-pigeon","action":"a","subject":"s","result":"ok"}' >/dev/null 2>&1
t_check "a bad channel is refused (exit 2)" test $? -eq 2
jido call auditor audit.append '{"channel":"cli","action":"a","subject":"s","result":"ok"}' >/dev/null 2>&1
t_check "a missing actor is refused" test $? -eq 2
t_check "refused appends write nothing" test "$(grep -c '"seq"' "$LOG")" -eq 1

# --- 10,000 records: 8 synchronous writers and the fire-and-forget socket
jido-auditor load --writers 8 --records 125 --tag s 2>"$W/load1.json"
t_check "8 synchronous writers: 1000 acknowledged" grep -q '"records":1000' "$W/load1.json"
jido-auditor load --push --records 8999 --tag p 2>"$W/load2.json"
t_check "8999 pushed in batches and confirmed durable by a flush" grep -q '"records":8999.*"error":""' "$W/load2.json"
size_is() { jido call auditor audit.stats | grep -q "\"tree_size\": $1"; }
t_check "fire-and-forget records all land (10,000 in all)" t_wait 30 size_is 10000
jido audit checkpoint >"$W/cp_10000.json"
t_check "jido audit checkpoint prints a signed head of 10000" grep -q '"tree_size":10000' "$W/cp_10000.json"

# --- proofs, checked by the independent verifier
for s in 1 2 3 999 1024 4097 9999 10000; do
	jido call auditor audit.inclusion_proof "{\"seq\":$s}" >"$W/inc_$s.json"
	t_check "inclusion proof for record $s verifies independently" \
		"$PY" "$VERIFIER" inclusion "$W/inc_$s.json" "$LOG"
done
python3 - "$W/inc_4097.json" "$W/inc_bad.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); h = p["path"][3]
p["path"][3] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(p, open(sys.argv[2], "w"))
PY
t_check "a tampered inclusion proof is rejected" bash -c "! '$PY' '$VERIFIER' inclusion '$W/inc_bad.json' '$LOG' >/dev/null"
jido-auditor load --writers 2 --records 50 --tag c 2>/dev/null
jido audit checkpoint >"$W/cp_10100.json"
jido call auditor audit.consistency_proof '{"from":10000}' >"$W/con_cp.json"
t_check "consistency proof between two signed checkpoints (10000 -> 10100) verifies" \
	"$PY" "$VERIFIER" consistency "$W/con_cp.json"
for from in 1 2 3 1000 4096 7000 10099; do
	jido call auditor audit.consistency_proof "{\"from\":$from}" >"$W/con_$from.json"
	t_check "consistency proof $from -> 10100 verifies independently" \
		"$PY" "$VERIFIER" consistency "$W/con_$from.json" "$LOG"
done
python3 - "$W/con_7000.json" "$W/con_bad.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); h = p["proof"][0]
p["proof"][0] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(p, open(sys.argv[2], "w"))
PY
t_check "a tampered consistency proof is rejected" bash -c "! '$PY' '$VERIFIER' consistency '$W/con_bad.json' '$LOG' >/dev/null"
root=$("$PY" "$VERIFIER" root "$LOG")
t_check "independent tree head equals the service's" bash -c "jido call auditor audit.stats | grep -q '$root'"

# --- queries and export
q=$(jido call auditor audit.query '{"subject":"redaction"}')
t_check "query by subject finds the record" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); assert [r["seq"] for r in d["records"]]==[1]' "$q"
q=$(jido call auditor audit.query '{"action":"load.append","limit":7,"after_seq":100}')
t_check "query pages" python3 -c '
import json,sys; d=json.loads(sys.argv[1]); s=[r["seq"] for r in d["records"]]
assert s==list(range(101,108)) and d["next_after_seq"]==107, s' "$q"
jido audit export --format csv >"$W/all.csv"
t_check "CSV export has a header and every record" test "$(python3 -c '
import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1]))))' "$W/all.csv")" -eq 10100
jido audit export --format jsonl --since 2000-01-01T00:00:00Z >"$W/all.jsonl"
t_check "JSONL export equals the log's record lines" cmp "$W/all.jsonl" <(grep '^{"seq"' "$LOG")
jido audit export --since 2999-01-01T00:00:00Z >"$W/none.jsonl"
t_check "export --since in the future is empty" test ! -s "$W/none.jsonl"
t_check "jido audit tail -n 3 prints 3 records" test "$(jido audit tail -n 3 | wc -l)" -eq 3
t_check "jido audit verify against the running auditor" jido audit verify --checkpoint "$W/cp_10000.json"

a_stop
t_check "shutdown wrote a final checkpoint" bash -c "tail -n 1 '$LOG' | grep -q '^{\"checkpoint\"'"
cp "$LOG" "$W/good.log"
t_check "untouched log verifies" jido-auditor verify "$W/good.log"
t_check "untouched log verifies against the kept checkpoint" \
	jido-auditor verify "$W/good.log" --checkpoint "$W/cp_10000.json"

# --- tampering: every change is caught and names the record that holds it
python3 - "$W" "$(command -v jido-auditor)" "${TAMPER_FLIPS:-300}" <<'PY'
import json, random, subprocess, sys
w, bin_, flips = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(w + "/good.log", "rb").read()
lines = data.split(b"\n")[:-1]
# who holds each byte: (kind, seq of a record | records before a checkpoint)
owners, pos, seen = [], 0, 0
for l in lines:
    if l.startswith(b'{"checkpoint":'):
        owners.append((pos, pos + len(l) + 1, "checkpoint", seen))
    else:
        seen += 1
        owners.append((pos, pos + len(l) + 1, "record", json.loads(l)["seq"]))
    pos += len(l) + 1
def who(off):
    for a, b, k, s in owners:
        if a <= off < b:
            return k, s
def run(blob, *extra):
    open(w + "/t.log", "wb").write(blob)
    p = subprocess.run([bin_, "verify", w + "/t.log", *extra], capture_output=True)
    return p.returncode, json.loads(p.stdout)
def check(name, ok):
    print(("PASS: " if ok else "FAIL: ") + name)
rng = random.Random(4242)
bad = 0
for i in range(flips):
    off = rng.randrange(len(data))
    b = bytearray(data)
    b[off] ^= rng.randrange(1, 256)
    rc, out = run(bytes(b))
    kind, seq = who(off)
    if rc != 1 or out.get("what") != kind or out.get("seq") != seq:
        bad += 1
        print("# flip at %d (%s %d): got rc %d %s" % (off, kind, seq, rc, out))
check("%d random single-byte flips all fail naming the holder" % flips, bad == 0)
rec = [i for i, l in enumerate(lines) if l.startswith(b'{"seq"')]
def blob(ls):
    return b"".join(l + b"\n" for l in ls)
k = rec[5000]; s = json.loads(lines[k])["seq"]
rc, out = run(blob(lines[:k] + lines[k + 1:]))
check("deleting record %d fails naming it" % s, rc == 1 and out["seq"] == s)
rc, out = run(blob(lines[:k + 1] + [lines[k]] + lines[k + 1:]))
check("duplicating record %d fails naming the copy's place" % s, rc == 1 and out["seq"] == s + 1)
k2 = k + 1 if lines[k + 1].startswith(b'{"seq"') else k + 2
sw = lines[:k] + [lines[k2]] + lines[k + 1:k2] + [lines[k]] + lines[k2 + 1:]
rc, out = run(blob(sw))
check("swapping records %d and %d fails naming the first" % (s, s + 1), rc == 1 and out["seq"] == s)
rc, out = run(blob(lines[:rec[0]] + [lines[rec[1]]] + lines[rec[0] + 1:]))
check("replacing record 1 by record 2 fails", rc == 1 and out["seq"] == 1)
cut = rec[9500]
rc, out = run(blob(lines[:cut]))
check("a truncated log is consistent on its own (prefix)", rc == 0)
rc, out = run(blob(lines[:cut]), "--checkpoint", w + "/cp_10000.json")
check("truncation fails against the kept checkpoint", rc == 1 and out["what"] == "file")
rc, out = run(data[:len(data) - 100], "--checkpoint", w + "/cp_10000.json")
check("a cut in the middle of a line fails", rc == 1)
rc, out = run(data, "--checkpoint", w + "/cp_10000.json")
check("untouched log still passes", rc == 0 and out["records"] == 10100)
PY

# --- kill -9 under 8 synchronous writers, repeated; acknowledged records survive once
for i in 1 2 3; do
	a_start || fail "restart $i"
	jido-auditor load --writers 8 --records 100000 --acks --tag "k$i-" >"$W/acks.$i" 2>/dev/null &
	LPID=$!
	sleep "0.$((3 + RANDOM % 6))"
	a_kill9
	wait "$LPID" 2>/dev/null
	echo "# kill $i: $(wc -l <"$W/acks.$i") acknowledged"
done
t_check "the auditor recovers after kill -9" a_start
cat "$W"/acks.* >"$W/acks.all"
t_check "writers were acknowledged before the kills" test "$(wc -l <"$W/acks.all")" -gt 100
t_check "every acknowledged record is present exactly once, at its seq" python3 - "$W/acks.all" "$LOG" <<'PY'
import json, sys, collections
acks = [l.split() for l in open(sys.argv[1]) if l.strip()]
recs = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{"seq"')]
by_subject = collections.defaultdict(list)
for r in recs:
    by_subject[r["subject"]].append(r["seq"])
bad = [(s, subj) for s, subj in acks if by_subject.get(subj) != [int(s)]]
print("# %d acks, %d records, %d bad" % (len(acks), len(recs), len(bad)))
sys.exit(1 if bad else 0)
PY
t_check "after the kills the log verifies" jido-auditor verify "$LOG" --checkpoint "$W/cp_10000.json"
t_check "and the restarted auditor agrees" jido audit verify
# --- pushed batches (audit.append_batch, all or nothing) and audit.flush
PUSH="ipc://$JIDO_HOME/run/auditor.push"
rec() { printf '{"actor":"e2e","channel":"%s","action":"batch.%s","subject":"%s","result":"ok"}' "${3:-system}" "$1" "$2"; }
push() { nngcat --push0 --dial "$PUSH" --data "{\"v\":1,\"type\":\"audit.append_batch\",\"id\":\"b$RANDOM\",\"data\":$1}"; }
flush() { jido call auditor audit.flush "{\"client\":\"e2e-client\",\"from\":$1,\"to\":$2}" 2>&1; }
has() { grep -q "$1" <<<"$2"; }
push "{\"client\":\"e2e-client\",\"batch\":1,\"records\":[$(rec ok a),$(rec ok b),$(rec ok c)]}"
t_check "audit.flush confirms a pushed batch durable" bash -c "jido call auditor audit.flush '{\"client\":\"e2e-client\",\"from\":1,\"to\":1}' | grep -q '\"durable\": 1'"
t_check "the batch's records are in the log once, in order" test "$(grep -o '"action":"batch.ok","subject":"[abc]"' "$LOG" | cut -d'"' -f8 | tr -d '\n')" = abc
push "{\"client\":\"e2e-client\",\"batch\":2,\"records\":[$(rec bad x),$(rec bad y carrier-pigeon),$(rec bad z)]}"
out=$(flush 2 2)
t_check "a batch with one bad record: its flush fails as a validation error" has validation_error "$out"
t_check "and none of its records is written" bash -c "! grep -q 'batch.bad' '$LOG'"
t_check "the rejection is logged naming the bad record" grep -q 'auditor.push_rejected.*records\[1\]: data.channel' "$JIDO_HOME/auditor.log"
for bad in "{\"client\":\"e2e-client\",\"batch\":3,\"records\":[]}" \
    "{\"client\":\"e2e-client\",\"batch\":4,\"records\":[$(rec shape s)],\"extra\":1}" \
    "{\"client\":\"e2e-client\",\"batch\":5,\"records\":[$(rec shape s),7]}"; do
	push "$bad"
done
out=$(flush 3 5)
t_check "malformed batches (empty, an extra key, a non-object record) are refused" has validation_error "$out"
for bad in "{\"client\":\"e2e client\",\"batch\":6,\"records\":[$(rec shape s)]}" \
    "{\"client\":\"e2e-client\",\"batch\":0,\"records\":[$(rec shape s)]}" \
    "{\"client\":\"e2e-client\",\"batch\":7,\"records\":{\"a\":$(rec shape s)}}"; do
	push "$bad"
done
python3 - "$W/many.json" <<'PY'
import json, sys
r = {"actor": "e2e", "channel": "system", "action": "batch.shape", "subject": "s", "result": "ok"}
json.dump({"client": "e2e-client", "batch": 8, "records": [r] * 1025}, open(sys.argv[1], "w"))
PY
push "$(cat "$W/many.json")"
out=$(flush 7 8)
t_check "and so are records that are no array and 1025 records (after a bad client id and batch 0)" has validation_error "$out"
t_check "none of them wrote anything" bash -c "! grep -q 'batch.shape' '$LOG'"
t_check "each was logged" test "$(grep -c 'auditor.push_rejected' "$JIDO_HOME/auditor.log")" -ge 8
push "{\"client\":\"e2e-client\",\"batch\":11,\"records\":[$(rec gap g)]}"
out=$(flush 9 11)
t_check "a gap in a client's batch numbers is reported as lost (unavailable)" has unavailable "$out"
t_check "while the batch after the gap is durable" bash -c "jido call auditor audit.flush '{\"client\":\"e2e-client\",\"from\":11,\"to\":11}' >/dev/null"
jido call auditor audit.flush '{"client":"e2e-client","from":3,"to":2}' >/dev/null 2>&1
t_check "audit.flush with to < from is a usage error (2)" test $? -eq 2
jido call auditor audit.flush '{"client":"e2e-client","from":1,"to":1,"x":1}' >/dev/null 2>&1
t_check "audit.flush with an unknown key is a usage error (2)" test $? -eq 2
FP=""
for i in 1 2 3; do # flushes of batches never pushed wait (3/4 of bus.timeout_ms)
	jido call auditor audit.flush "{\"client\":\"e2e-wait$i\",\"from\":1,\"to\":1}" >/dev/null 2>"$W/wait$i.err" &
	FP="$FP $!"
done
sleep 0.5
t_check "health answers while flushes wait (they have threads of their own)" jido call auditor auditor.health
t_check "and the flushes were still waiting then" bash -c "for p in $FP; do kill -0 \$p || exit 1; done"
for p in $FP; do wait "$p"; done
# The auditor's own answer reaches a caller that waits bus.timeout_ms, also the third
# flush's, queued behind the two flush threads: never a reply that lands just as the
# caller gives up and closes, which nng 1.5.2 cannot survive (see auditor_flush_deadline).
t_check "flushes that cannot complete are answered by the auditor (timeout) before their callers give up" \
	bash -c "for i in 1 2 3; do grep -q 'timeout: pushed batches up to 1 did not all arrive in time' '$W'/wait\$i.err || exit 1; done"
jido-auditor load --push --records 3000 --tag f 2>"$W/load3.json"
t_check "jido-auditor load --push ends with a successful flush" grep -q '"error":""' "$W/load3.json"
t_check "and every pushed record is durable when it returns" test "$(grep -c '"subject":"f0-' "$LOG")" -eq 3000

# --- audit.append_many: one caller's records in one request, each answered on its own
before=$(grep -c '^{"seq"' "$LOG")
rep=$(jido call auditor audit.append_many '{"records":[
 {"actor":"owner","channel":"cli","action":"many.one","subject":"many","result":"ok"},
 {"actor":"owner","channel":"carrier-pigeon","action":"many.bad","subject":"many","result":"ok"},
 {"actor":"owner","channel":"cli","action":"many.two","subject":"many","result":"ok",
  "details":{"token":"ghp_MANYsecret1234567890abcdefABCDEF"}}]}')
t_check "append_many answers each record: seq, error, seq" python3 -c '
import json,sys; r=json.loads(sys.argv[1])["results"]; b=int(sys.argv[2])
assert r[0]["seq"]==b+1 and len(r[0]["leaf_hash"])==64, r
assert r[1]["error"]=="validation_error" and "channel" in r[1]["why"], r
assert r[2]["seq"]==b+2, r' "$rep" "$before"
t_check "the good ones are written, the bad one is not" test "$(grep -c '"action":"many\.' "$LOG")" -eq 2
t_check "a secret in an append_many record is redacted" bash -c "! grep -q MANYsecret '$LOG'"
q=$(jido call auditor audit.query '{"subject":"many"}')
t_check "acknowledged records are found by a query at once" python3 -c '
import json,sys; r=json.loads(sys.argv[1])["records"]; assert [x["action"] for x in r]==["many.one","many.two"], r' "$q"
for bad in '{"records":[]}' '{"records":{}}' '{"records":[1],"x":1}' "$(python3 -c 'import json; print(json.dumps({"records":[{"actor":"o"}]*1025}))')"; do
	jido call auditor audit.append_many "$bad" >/dev/null 2>&1
	t_check "append_many with a bad shape is a usage error (2): ${bad:0:24}" test $? -eq 2
done
t_check "and writes nothing" test "$(grep -c '^{"seq"' "$LOG")" -eq $((before + 2))
echo '{"v":1,"type":"audit.append_many","id":"m1","data":{"records":[{"actor":"owner","channel":"cli","action":"f.one","subject":"f","result":"ok"},{"actor":"owner"}]}}' |
	jido-auditor --home "$W/filterhome" filter >"$W/many_filter.json" 2>/dev/null
t_check "the filter answers append_many the same way" python3 -c '
import json,sys; d=json.loads(open(sys.argv[1]).read()); r=d["data"]["results"]
assert d["ok"] and r[0]["seq"]==1 and r[1]["error"]=="validation_error", d' "$W/many_filter.json"
jido-auditor load --writers 64 --records 20 --tag m 2>"$W/load64.json"
t_check "64 concurrent synchronous writers (coalesced in the client): all 1280 acknowledged" grep -q '"records":1280,.*"error":""' "$W/load64.json"
t_check "and each is in the log once" test "$(grep -c '"subject":"m[0-9]*-' "$LOG")" -eq 1280

sz=$(grep -c '^{"seq"' "$LOG")
t_check "the index recovered every record" size_is "$sz"

# --- a torn write (crash inside write(2)): marked, never truncated, still verifiable
a_stop
printf '{"seq":%d,"prev":"0123' "$((sz + 1))" >>"$LOG"
t_check "the auditor starts after a torn write" a_start
t_check "and marks the fragment" bash -c "tail -n 1 '$LOG' | grep -q '^{\"torn\":{\"offset\":'"
rep=$(jido call auditor audit.append '{"actor":"owner","channel":"cli","action":"after.torn","subject":"t","result":"ok"}')
t_check "appends go on at the next seq" python3 -c '
import json,sys; assert json.loads(sys.argv[1])["seq"]==int(sys.argv[2])' "$rep" "$((sz + 1))"
a_stop
t_check "the log with a marked torn write verifies" bash -c "jido-auditor verify '$LOG' | grep -q '\"torn_writes\":1'"
t_check "the independent tree head still matches" bash -c "jido-auditor verify '$LOG' | grep -q \"\$('$PY' '$VERIFIER' root '$LOG')\""
cp "$LOG" "$W/forged.log"
python3 - "$W/forged.log" <<'PY'
import sys
p = sys.argv[1]; lines = open(p, "rb").read().split(b"\n")
i = len(lines) // 2  # blank a record and call it a torn write
while not lines[i].startswith(b'{"seq"'):
    i += 1
off = sum(len(l) + 1 for l in lines[:i])
lines[i] = b"x" * len(lines[i])
lines.insert(i + 1, b'{"torn":{"offset":%d,"bytes":%d}}' % (off, len(lines[i])))
open(p, "wb").write(b"\n".join(lines))
PY
t_check "a forged torn marker does not hide a record" bash -c "! jido-auditor verify '$W/forged.log' >/dev/null 2>&1"

# --- the CLI's errors and exit codes
python3 - "$LOG" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
i = b.index(b'"subject":"s3-')  # a record in the middle
b[i + 12] ^= 0x01
open(p, "wb").write(b)
PY
a_start
jido audit verify >/dev/null 2>"$W/verify.err"
t_check "jido audit verify on a tampered log exits 1" test $? -eq 1
t_check "and names the record" grep -q 'jido: audit verify failed: record [0-9]' "$W/verify.err"
jido audit export --format xml >/dev/null 2>&1
t_check "jido audit export --format xml is a usage error (2)" test $? -eq 2
a_stop
jido audit tail >/dev/null 2>"$W/tail.err"
t_check "jido audit without an auditor exits 111" test $? -eq 111
t_check "with the error format" grep -q '^jido: audit tail failed: ' "$W/tail.err"
t_check "no sanitizer report from the auditor" bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$JIDO_HOME/auditor.log'"
t_done
