#!/usr/bin/env bash
# vault.sh - end-to-end tests of jido-vault and `jido secrets` (issue 3 acceptance):
# first start, canary never on disk, list without values, ACL by credential, audit of a
# refusal, rotation grace, a flipped ciphertext byte, wrong passphrase, kill -9 during
# rekey at random points, and the vault inside `jido up`.
. "$(dirname "$0")/../lib.sh"
t_home

CANARY='canary-7f3a9c2e51b04d68a1e9-QzXw4Pq8Lm2K' # 40 bytes
ING=$(printf 'a%.0s' $(seq 64)) # crafted process credentials
GW=$(printf 'b%.0s' $(seq 64))
GIT=$(printf 'c%.0s' $(seq 64))
WEB=$(printf 'd%.0s' $(seq 64))
BAD=$(printf 'e%.0s' $(seq 64))
V_PID=""

# Write run/creds for the crafted credentials, as `jido up` would.
v_creds() {
	mkdir -p "$JIDO_HOME/run"
	{
		for p in ingest:$ING gateway:$GW gitops:$GIT web:$WEB; do
			printf '%s %s\n' "${p%%:*}" "$(printf '%s' "${p#*:}" | sha256sum | cut -d' ' -f1)"
		done
	} >"$JIDO_HOME/run/creds"
	chmod 600 "$JIDO_HOME/run/creds"
}

v_ready() { t_nng vault '{"v":1,"type":"vault.health","id":"h"}' | grep -q READY; }

# Start jido-vault serve alone (environment as the caller set it); wait for READY.
v_start() {
	jido-vault serve >>"$JIDO_HOME/vault.out" 2>>"$JIDO_HOME/vault.log" &
	V_PID=$!
	t_wait 10 v_ready
}

# Running, not exited (a zombie has exited)?
v_alive() { [ -e "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat")" != Z ]; }

# SIGTERM, then SIGKILL after 3 s: sanitizer builds can hang at exit (LeakSanitizer's
# tracer runs under the process's seccomp filter, without open(2)).
v_stop() {
	[ -n "$V_PID" ] || return 0
	kill -TERM "$V_PID" 2>/dev/null
	for _ in $(seq 60); do v_alive "$V_PID" || break; sleep 0.05; done
	if v_alive "$V_PID"; then
		echo "# jido-vault still running 3 s after SIGTERM: SIGKILL"
		kill -KILL "$V_PID" 2>/dev/null
	fi
	wait "$V_PID" 2>/dev/null
	V_PID=""
}

v_kill9() {
	[ -n "$V_PID" ] || return 0
	kill -KILL "$V_PID" 2>/dev/null
	wait "$V_PID" 2>/dev/null
	V_PID=""
}

# v_req TYPE JSON-DATA : one raw request to the vault, reply on stdout.
v_req() { t_nng vault "{\"v\":1,\"type\":\"$1\",\"id\":\"t$RANDOM\",\"data\":$2}"; }
v_get() { v_req vault.get "{\"cred\":\"$1\",\"name\":\"$2\"${3:-}}"; }

cleanup_all() { v_stop; [ -n "${AUD_PID:-}" ] && kill "$AUD_PID" 2>/dev/null; t_cleanup; }
trap cleanup_all EXIT

# ---------------------------------------------------------------- first start
v_creds
t_check "vault starts on an empty state dir" v_start
t_check "first start creates a 0600 key file" test "$(stat -c %a "$JIDO_HOME/vault.key")" = 600
t_check "first start says it created the key file" grep -q vault.key_file_created "$JIDO_HOME/vault.log"
t_check "owner credential is 0600" test "$(stat -c %a "$JIDO_HOME/run/owner.cred")" = 600
t_check "database is 0600" test "$(stat -c %a "$JIDO_HOME/vault.db")" = 600
list=$(jido secrets list --json)
for n in github.webhook_secret web.session_key audit.signing_key web.share_key; do
	t_check "first start generated $n" grep -q "\"$n\"" <<<"$list"
done

# ---------------------------------------------------------------- canary
printf '%s' "$CANARY" | jido secrets put test.canary --from-stdin >/dev/null
t_check "secrets put --from-stdin exits 0" test $? -eq 0
list=$(jido secrets list --json)
t_check "list --json shows the canary's name" grep -q '"test.canary"' <<<"$list"
t_check "list --json never shows the value" bash -c "! grep -qF '$CANARY' <<<'$list'"
t_check "list has no value field" bash -c "! grep -q '\"value\"' <<<'$list'"
hex=$(printf '%s' "$CANARY" | od -An -tx1 | tr -d ' \n')
HEX=$(tr a-f A-F <<<"$hex")
b64=$(printf '%s' "$CANARY" | base64 -w0)
no_canary_on_disk() {
	! grep -rqaF -e "$CANARY" -e "$hex" -e "$HEX" -e "$b64" -e "${b64%%=*}" "$JIDO_HOME"
}
t_check "canary (plain, hex, base64) not on disk while running" no_canary_on_disk
jido secrets put test.x --value "$CANARY" >/dev/null 2>&1
t_check "a value on the command line is refused with exit 2" test $? -eq 2
jido secrets put test.x >/dev/null 2>&1
t_check "put without --from-file/--from-stdin exits 2" test $? -eq 2
printf '%s' "$CANARY" | jido secrets put test.canary --from-stdin >/dev/null 2>&1
t_check "put of an existing name exits 4 (conflict)" test $? -eq 4
jido secrets rm test.nothing >/dev/null 2>&1
t_check "rm of an unknown name exits 3" test $? -eq 3

# ---------------------------------------------------------------- ACL
printf 'sk-ant-test-value-1' >"$JIDO_HOME/llm.key"
jido secrets put llm.anthropic.api_key --from-file "$JIDO_HOME/llm.key" >/dev/null
printf 'ghp_tokenvalue_v1' | jido secrets put github.token --from-stdin >/dev/null
printf 'rot-v1' | jido secrets put github.rot --from-stdin >/dev/null
rm -f "$JIDO_HOME/llm.key"
r=$(v_get "$GW" llm.anthropic.api_key)
t_check "gateway gets llm.anthropic.api_key" grep -q '"value":"sk-ant-test-value-1"' <<<"$r"
r=$(v_get "$ING" llm.anthropic.api_key)
t_check "ingest asking for an llm key gets authorization_error" grep -q authorization_error <<<"$r"
t_check "the refusal does not carry the value" bash -c "! grep -q sk-ant <<<'$r'"
r=$(v_get "$ING" github.webhook_secret)
t_check "ingest gets github.webhook_secret (64 hex)" grep -qE '"value":"[0-9a-f]{64}"' <<<"$r"
r=$(v_get "$GIT" github.token)
t_check "gitops gets github.token" grep -q '"value":"ghp_tokenvalue_v1"' <<<"$r"
r=$(v_get "$GW" github.token)
t_check "gateway asking for github.token gets authorization_error" grep -q authorization_error <<<"$r"
r=$(v_get "$BAD" github.token)
t_check "an unknown credential gets authorization_error" grep -q authorization_error <<<"$r"
r=$(v_req vault.get '{"name":"github.token"}')
t_check "no credential gets authorization_error" grep -q authorization_error <<<"$r"
r=$(v_req vault.get "{\"cred\":\"$GW\",\"name\":\"github.token\",\"caller\":\"gitops\"}")
t_check "a caller-named field does not help" bash -c "! grep -q ghp_ <<<'$r'"
r=$(v_req vault.get "{\"cred\":\"$(cat "$JIDO_HOME/run/owner.cred")\",\"name\":\"github.token\"}")
t_check "the owner credential cannot read values" grep -q authorization_error <<<"$r"
r=$(v_req vault.list "{\"cred\":\"$WEB\"}")
t_check "web may list metadata" grep -q '"ok":true' <<<"$r"
r=$(v_req vault.list "{\"cred\":\"$GIT\"}")
t_check "gitops may not list" grep -q authorization_error <<<"$r"
r=$(v_req vault.delete "{\"cred\":\"$WEB\",\"name\":\"github.token\"}")
t_check "web may not delete" grep -q authorization_error <<<"$r"
t_check "refusals are logged with caller and name" grep -q '"msg":"vault.refused","caller":"ingest","type":"vault.get","name":"llm.anthropic.api_key"' "$JIDO_HOME/vault.log"
t_check "no log line carries a value" bash -c "! grep -qE 'sk-ant|ghp_|$CANARY' '$JIDO_HOME/vault.log'"

# A refusal is audited, best effort, when an auditor listens (a stand-in here).
nngcat --rep0 --listen "ipc://$JIDO_HOME/run/auditor.sock" --ascii \
	--data '{"v":1,"id":"x","ok":true,"data":{}}' >"$JIDO_HOME/audit.out" 2>/dev/null &
AUD_PID=$!
sleep 0.3
v_get "$ING" web.session_key >/dev/null
sleep 0.3
kill "$AUD_PID" 2>/dev/null; wait "$AUD_PID" 2>/dev/null; AUD_PID=""
rm -f "$JIDO_HOME/run/auditor.sock"
t_check "a refusal sends audit.append (actor, subject, denied)" grep -qE '"type":"audit.append".*"actor":"ingest".*"channel":"system".*"subject":"web.session_key".*"result":"denied"' "$JIDO_HOME/audit.out"
r=$(v_get "$ING" web.session_key)
t_check "without an auditor the vault still answers" grep -q authorization_error <<<"$r"

# ---------------------------------------------------------------- rotation grace
printf 'rot-v2' | jido secrets rotate github.rot --from-stdin --grace-s 2 >/dev/null
t_check "rotate exits 0" test $? -eq 0
r=$(v_get "$GIT" github.rot)
t_check "after rotate the current version is 2" grep -q '"version":2,"value":"rot-v2"' <<<"$r"
r=$(v_get "$GIT" github.rot ',"version":1')
t_check "a reader of version 1 works during the grace period" grep -q '"value":"rot-v1"' <<<"$r"
sleep 3
r=$(v_get "$GIT" github.rot ',"version":1')
t_check "version 1 is refused after the grace period" grep -q secret_unavailable <<<"$r"
r=$(v_get "$GIT" github.rot)
t_check "version 2 still reads" grep -q '"value":"rot-v2"' <<<"$r"
jido secrets rotate web.session_key >/dev/null
r=$(v_get "$WEB" web.session_key)
t_check "rotate without a value generates one for web.session_key" grep -qE '"version":2,"value":"[0-9a-f]{64}"' <<<"$r"
jido secrets rotate github.token >/dev/null 2>&1
t_check "rotate of a non-generable secret without a value exits 2" test $? -eq 2
t_check "status reports counts" bash -c "jido secrets status | grep -q 'unlocked (key_file)'"

# ---------------------------------------------------------------- canary after stop
v_stop
t_check "canary not on disk after a clean stop" no_canary_on_disk
t_check "check passes on an intact vault" jido-vault check --db "$JIDO_HOME/vault.db" --home "$JIDO_HOME"

# ---------------------------------------------------------------- flipped byte
python3 - "$JIDO_HOME/vault.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ct, = db.execute("SELECT ct FROM version WHERE name='github.token' AND version=1").fetchone()
ct = bytearray(ct); ct[3] ^= 0x01
db.execute("UPDATE version SET ct=? WHERE name='github.token' AND version=1", (bytes(ct),))
db.commit()
EOF
out=$(jido-vault check --db "$JIDO_HOME/vault.db" --home "$JIDO_HOME")
t_check "check exits 1 on a flipped byte" test $? -eq 1
t_check "check names the altered secret and version" grep -q 'FAIL github.token scope=instance version=1' <<<"$out"
t_check "check names only it" test "$(grep -c '^FAIL' <<<"$out")" -eq 1
v_start
r=$(v_get "$GIT" github.token)
t_check "the altered secret reads as integrity_error" grep -q integrity_error <<<"$r"
r=$(v_get "$GIT" github.rot)
t_check "the others still read" grep -q '"value":"rot-v2"' <<<"$r"
v_stop
jido secrets list >/dev/null 2>"$JIDO_HOME/down.err"
t_check "secrets with no vault running exits 111" test $? -eq 111
t_check "... and says the vault is not running" grep -q 'jido: secrets list failed: jido-vault is not running' "$JIDO_HOME/down.err"

# ---------------------------------------------------------------- wrong passphrase
HOME1=$JIDO_HOME
export JIDO_HOME=$HOME1/p
mkdir -p "$JIDO_HOME"
v_creds
printf 'correct horse battery staple\n' >"$HOME1/pass.a"
printf 'wrong horse battery staple\n' >"$HOME1/pass.bad"
head -c 32 /dev/urandom >"$HOME1/key.b"
chmod 600 "$HOME1/pass.a" "$HOME1/pass.bad" "$HOME1/key.b"
export JIDO_VAULT_PASSPHRASE_FILE=$HOME1/pass.a
t_check "a passphrase vault starts" v_start
t_check "no key file is created when a passphrase is configured" test ! -e "$JIDO_HOME/vault.key"
for i in 1 2 3 4 5; do
	printf 'value-%s-%s' "$i" "$RANDOM" | jido secrets put "github.s$i" --from-stdin >/dev/null
done
v_stop
sum_before=$(sha256sum "$JIDO_HOME/vault.db" | cut -d' ' -f1)
JIDO_VAULT_PASSPHRASE_FILE=$HOME1/pass.bad timeout 20 jido-vault serve >/dev/null 2>"$HOME1/wrong.err"
rc=$?
t_check "wrong passphrase: non-zero exit" test $rc -ne 0 -a $rc -ne 124
t_check "wrong passphrase: a clear error" grep -q 'wrong passphrase or key file' "$HOME1/wrong.err"
t_check "wrong passphrase: the database is unchanged" test "$(sha256sum "$JIDO_HOME/vault.db" | cut -d' ' -f1)" = "$sum_before"
JIDO_VAULT_PASSPHRASE_FILE=$HOME1/pass.bad jido-vault check --db "$JIDO_HOME/vault.db" >/dev/null 2>&1
t_check "check with the wrong passphrase exits 1" test $? -eq 1
chmod 644 "$HOME1/pass.bad"
JIDO_VAULT_PASSPHRASE_FILE=$HOME1/pass.bad timeout 20 jido-vault serve >/dev/null 2>"$HOME1/mode.err"
t_check "a passphrase file readable by others is refused" grep -q 'chmod 600' "$HOME1/mode.err"
JIDO_VAULT_PASSPHRASE_FILE= JIDO_VAULT_KEY_FILE=$HOME1/key.b timeout 20 jido-vault serve >/dev/null 2>"$HOME1/kind.err"
t_check "a key file on a passphrase vault: a clear error" grep -q 'sealed with a passphrase' "$HOME1/kind.err"

# ---------------------------------------------------------------- kill -9 during rekey
# (9 versions: the 3 generated at creation, web.share_key, github.s1-5.)
# Alternate between passphrase A and key file B; kill the vault at a random moment of
# each rekey; afterwards one of the two keys must open it and every version must read.
cfg_a() { export JIDO_VAULT_PASSPHRASE_FILE=$HOME1/pass.a JIDO_VAULT_KEY_FILE=; }
cfg_b() { export JIDO_VAULT_PASSPHRASE_FILE= JIDO_VAULT_KEY_FILE=$HOME1/key.b; }
check_with() { "cfg_$1"; jido-vault check --db "$JIDO_HOME/vault.db" >"$HOME1/check.out" 2>&1; }
cur=a
ok=1
committed=0
# (fewer rounds in sanitizer builds, where every start and check is several times slower)
case $JIDO_BIN in *asan*) rounds=${VAULT_REKEY_ROUNDS:-6} ;; *) rounds=${VAULT_REKEY_ROUNDS:-12} ;; esac
for i in $(seq "$rounds"); do
	"cfg_$cur"
	if ! v_start; then ok=0; echo "# round $i: the vault did not start with key $cur"; break; fi
	if [ "$cur" = a ]; then arg="--key-file $HOME1/key.b"; else arg="--passphrase-file $HOME1/pass.a"; fi
	jido secrets rekey $arg >/dev/null 2>&1 &
	rk=$!
	sleep "0.$(printf '%03d' $((RANDOM % 200)))"
	v_kill9
	wait "$rk" 2>/dev/null
	rm -f "$JIDO_HOME/run/vault.sock"
	other=$([ "$cur" = a ] && echo b || echo a)
	if check_with "$cur"; then :
	elif check_with "$other"; then cur=$other; committed=$((committed + 1))
	else ok=0; echo "# round $i: neither key opens the vault:"; cat "$HOME1/check.out"; break
	fi
	if ! grep -q 'checked 9 versions, 0 failed' "$HOME1/check.out"; then
		ok=0; echo "# round $i: not every version reads:"; cat "$HOME1/check.out"; break
	fi
done
echo "# rekey rounds: $rounds, committed before the kill: $committed"
t_check "kill -9 during rekey: always opens with one key and every secret reads" test $ok -eq 1
"cfg_$cur"
v_start
r=$(v_get "$GIT" github.s3)
t_check "after the rekey rounds a secret reads over ipc" grep -q '"value":"value-3-' <<<"$r"
v_stop
unset JIDO_VAULT_PASSPHRASE_FILE JIDO_VAULT_KEY_FILE

# ---------------------------------------------------------------- passphrase typed at jido up
# tty_up "LINE1|LINE2" CMD [SECONDS]: run `jido up` in a pseudo-terminal, type the lines
# when asked, wait until every process is READY (SECONDS, default 20), run CMD (its output
# and exit code are ours), then stop jido up. Exit 124 when the stack never became ready.
tty_up() {
	python3 - "$1" "$2" "${3:-20}" <<'PY'
import os, pty, select, signal, subprocess, sys, time
lines = sys.argv[1].split("|")
deadline = time.time() + float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp("jido", ["jido", "up"])
out = b""
def pump(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
for line in lines:
    for _ in range(100):
        pump(0.05)
        if out.rstrip().endswith(b":"):
            break
    os.write(fd, line.encode() + b"\n")
    out += b"<typed>\n"
rc = 124
while time.time() < deadline:
    pump(0.1)
    if subprocess.run(["jido", "status"], capture_output=True).returncode == 0:
        rc = subprocess.run(["bash", "-c", sys.argv[2]]).returncode
        break
os.kill(pid, signal.SIGTERM)
pump(3)
os.waitpid(pid, 0)
sys.stderr.write(out.decode(errors="replace"))
sys.exit(rc)
PY
}
export JIDO_HOME=$HOME1/tty
mkdir -p "$JIDO_HOME"
TTYPASS='typed at the terminal 42'
tty_up "$TTYPASS|$TTYPASS" "printf 'tty-secret' | jido secrets put github.tty --from-stdin >/dev/null && jido secrets status" >"$HOME1/tty1.out" 2>"$HOME1/tty1.err"
t_check "jido up in a terminal seals a new vault with the typed passphrase" grep -q 'unlocked (argon2id)' "$HOME1/tty1.out"
t_check "no key file when a passphrase was typed" test ! -e "$JIDO_HOME/vault.key"
t_check "the typed passphrase is not in any log" bash -c "! grep -rqaF '$TTYPASS' '$JIDO_HOME'"
t_check "the passphrase is not echoed to the terminal" bash -c "grep -q 'new vault passphrase' '$HOME1/tty1.err' && ! grep -qF '$TTYPASS' '$HOME1/tty1.err'"
tty_up "$TTYPASS" "jido secrets list" >"$HOME1/tty2.out" 2>"$HOME1/tty2.err"
t_check "the next jido up asks for it and the vault opens" grep -q github.tty "$HOME1/tty2.out"
tty_up "not the passphrase" "true" 5 >/dev/null 2>"$HOME1/tty3.err"
t_check "a wrong typed passphrase: the stack does not become ready" test $? -eq 124
t_check "... and the vault says why" grep -q 'wrong passphrase or key file' "$HOME1/tty3.err"
timeout 20 jido-vault serve >/dev/null 2>"$HOME1/tty4.err" </dev/null
t_check "without a terminal or file, a passphrase vault refuses to start, saying how" grep -q 'sealed with a passphrase' "$HOME1/tty4.err"

# ---------------------------------------------------------------- inside jido up
export JIDO_HOME=$HOME1/up
mkdir -p "$JIDO_HOME"
if t_start_stack 20; then
	pass "jido up starts the stack with the vault"
	list=$(jido secrets list --json)
	t_check "jido up: first start generated the webhook secret" grep -q github.webhook_secret <<<"$list"
	printf '%s' "$CANARY" | jido secrets put test.canary --from-stdin >/dev/null
	t_check "jido up: canary stored" grep -q test.canary <<<"$(jido secrets list)"
	t_check "jido up: canary not on disk (logs included)" no_canary_on_disk
	t_stop_stack
	t_check "jido up: canary not on disk after stop" no_canary_on_disk
	t_check "jido up: no seccomp kill of the vault" sh -c "! grep -q 'signal 31' '$JIDO_HOME/up.log'"
else
	fail "jido up starts the stack with the vault"
	tail -20 "$JIDO_HOME/up.log"
fi
export JIDO_HOME=$HOME1
t_done
