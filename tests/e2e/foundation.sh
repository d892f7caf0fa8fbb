#!/usr/bin/env bash
# foundation.sh - the stack as a new user meets it: `jido up` brings all eight processes
# to READY, `jido status` shows them, a killed process comes back and is counted,
# every process answers health over nngcat (a client nobody here wrote), bad input on a
# request socket gets validation_error while the process stays READY, publish sockets
# carry heartbeats, and stopping leaves no process and no socket file behind.
. "$(dirname "$0")/../lib.sh"
t_home
PROCS="vault auditor planner gateway gitops executor ingest web"
# Free ports, not the defaults (4000, 4001): another stack on this machine may hold them.
export JIDO_WEB_LISTEN="127.0.0.1:$(t_free_port)" JIDO_INGEST_LISTEN="127.0.0.1:$(t_free_port)"

# --- config and help, before anything runs
t_check "jido --version" sh -c 'jido --version | grep -q "^jido [0-9]"'
t_check "jido-vault --help names serve" sh -c 'jido-vault --help | grep -q "serve"'
t_check "bad option is a usage error (exit 2)" sh -c 'jido-web --bogus 2>/dev/null; [ $? -eq 2 ]'
t_check "--check-config prints effective config" sh -c 'JIDO_WEB_LISTEN=127.0.0.1:4999 jido-web --check-config | grep -q "^web.listen = 127.0.0.1:4999  # env JIDO_WEB_LISTEN"'
printf 'web.listen = 127.0.0.1:1\nnot.a.key = 1\n' >"$JIDO_HOME/jido.conf"
t_check "--check-config names a bad key (exit 2)" sh -c 'out=$(jido-web --check-config 2>&1); [ $? -eq 2 ] && echo "$out" | grep -q "unknown key .not.a.key.*jido.conf:2"'
printf 'bus.timeout_ms = soon\n' >"$JIDO_HOME/jido.conf"
t_check "--check-config names an ill-typed value" sh -c 'jido-planner --check-config 2>&1 | grep -q "bus.timeout_ms"'
rm -f "$JIDO_HOME/jido.conf"
t_check "status with nothing running says DOWN, exit 1" sh -c 'out=$(jido status); [ $? -eq 1 ] && echo "$out" | grep -q DOWN'

# --- up: all READY within 5 s
start=$(date +%s%N)
if t_start_stack 5; then
	pass "all eight READY within 5 s ($((($(date +%s%N) - start) / 1000000)) ms)"
else
	fail "all eight READY within 5 s"; jido status; cat "$JIDO_HOME/up.log"; t_done
fi
t_check "a second jido up is refused (exit 4)" sh -c 'jido up 2>/dev/null; [ $? -eq 4 ]'
t_check "status --json has every key" sh -c 'jido status --json | jq -e "length == 8 and all(.[]; has(\"name\") and has(\"state\") and has(\"pid\") and has(\"uptime_s\") and has(\"restarts\") and has(\"socket\") and .state == \"READY\")" >/dev/null'

# --- nngcat health on every process socket, as the README shows it
for p in $PROCS; do
	out=$(cd "$JIDO_HOME/.." && nngcat --req0 --dial "ipc://$(basename "$JIDO_HOME")/run/$p.sock" \
	    --recv-timeout 5 --data "{\"v\":1,\"type\":\"$p.health\",\"id\":\"1\"}" --ascii)
	if echo "$out" | jq -e ".ok and .data.state == \"READY\" and .data.name == \"$p\"" >/dev/null; then
		pass "nngcat health $p"
	else
		fail "nngcat health $p: $out"
	fi
done

# --- a publish socket can be read with nngcat
out=$(timeout 10 nngcat --sub0 --dial "ipc://$JIDO_HOME/run/events.pub" --subscribe '' --ascii --count 1 --recv-timeout 8)
t_check "events.pub carries heartbeats" sh -c "echo '$out' | jq -e '.type == \"events.heartbeat\"' >/dev/null"

# --- bad input on a request socket: validation_error, still READY
bad() { # name file-with-bytes expected-substring
	local out
	out=$(nngcat --req0 --dial "ipc://$JIDO_HOME/run/planner.sock" --recv-timeout 5 --ascii --file "$2")
	if echo "$out" | jq -e ".ok == false and .error.code == \"validation_error\" and (.error.message | contains(\"$3\"))" >/dev/null; then
		pass "bad input: $1"
	else
		fail "bad input: $1 -> $out"
	fi
}
d=$JIDO_HOME/bad; mkdir -p "$d"
printf '{"v":1,"type":' >"$d/trunc"; bad "malformed JSON" "$d/trunc" "malformed JSON"
printf '{"v":1,"type":"planner.nope","id":"7"}' >"$d/unknown"; bad "unknown type" "$d/unknown" "unknown type 'planner.nope'"
printf '{"v":1,"type":"vault.get","id":"7"}' >"$d/other"; bad "another process's type" "$d/other" "not for planner"
printf '{"v":1,"id":"7","ok":true,"data":{}}' >"$d/reply"; bad "reply-shaped message" "$d/reply" "reply-shaped"
printf '{"v":1,"type":"planner.health","id":"\xff\xfe"}' >"$d/utf8"; bad "invalid UTF-8" "$d/utf8" "malformed JSON"
printf '{"v":1,"type":"planner.health","id":"7","extra":1}' >"$d/extra"; bad "unknown field" "$d/extra" "unknown field 'extra'"
python3 -c 'import sys; sys.stdout.write("{\"v\":1,\"type\":\"planner.health\",\"id\":\"7\",\"data\":{\"x\":\"" + "a"*(16<<20) + "\"}}")' >"$d/big"
bad "16 MB message" "$d/big" "message too large"
t_check "planner still READY after bad input" sh -c 'jido call planner planner.health | jq -e ".state == \"READY\"" >/dev/null'
t_check "jido call reports a remote error with its exit code" bash -c 'jido call planner planner.nope 2>&1 | grep -q "jido: call failed: validation_error"; [ ${PIPESTATUS[0]} -ne 0 ]'

# --- a client that hangs up mid-handshake must not leave a process deaf for long
python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.connect('$JIDO_HOME/run/gateway.sock'); s.close()"
sleep 0.5
gw_ok() { jido call gateway gateway.health | jq -e '.state == "READY"' >/dev/null; }
if t_wait 15 gw_ok; then pass "a half-open client does not wedge a process (answers again)"; else fail "gateway wedged by a half-open client"; fi
t_wait 5 t_all_ready

# --- kill -9 of each process: READY again within 3 s, restart counted
for p in $PROCS; do
	t_wait 10 t_all_ready
	old=$(jido status --json | jq -r ".[] | select(.name == \"$p\") | .pid")
	if ! [ "${old:-0}" -gt 1 ] 2>/dev/null; then fail "kill -9 $p: no pid to kill ($old)"; continue; fi
	before=$(jido status --json | jq -r ".[] | select(.name == \"$p\") | .restarts")
	ok() { jido status --json | jq -e ".[] | select(.name == \"$p\") | .state == \"READY\" and .pid != $old and .restarts == $before + 1" >/dev/null; }
	kill -9 "$old"
	if t_wait 3 ok; then pass "kill -9 $p: READY again within 3 s, restart counted"; else fail "kill -9 $p"; jido status; fi
done
t_check "the supervisor logged why the process died" grep -q '"msg":"up.died".*killed by signal 9' "$JIDO_HOME/up.log"

# --- log level at run time
t_check "log level can be changed at run time" sh -c 'jido call web web.log_level "{\"level\":\"debug\"}" | jq -e ".level == \"debug\"" >/dev/null'

# --- stop: every process exits, no socket file left
pids=$(jido status --json | jq -r '.[].pid')
t_stop_stack
t_check "jido up exits 0 on SIGTERM" test $? -eq 0
alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
t_check "every process exited" test $alive -eq 0
t_check "no socket file left behind" sh -c "[ -z \"\$(find '$JIDO_HOME/run' -type s)\" ]"
t_check "the credential table is removed at stop" test ! -e "$JIDO_HOME/run/creds"
t_check "no process logged a seccomp kill" sh -c "! grep -q 'SIGSYS\\|signal 31' '$JIDO_HOME/up.log'"
t_done
