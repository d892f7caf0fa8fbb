# lib.sh - shared helpers for the end-to-end scripts in tests/e2e: a temporary state
# directory, free ports, starting and stopping the real stack, and PASS:/FAIL: lines that
# tests/run.sh counts. Source it; JIDO_BIN names the built binaries.
set -u
JIDO_BIN=${JIDO_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/bin}
export PATH="$JIDO_BIN:$PATH"
T_FAILS=0
T_UP_PID=""

# A fresh state directory (short path: ipc socket paths are limited to 107 bytes).
t_home() {
	JIDO_HOME=$(mktemp -d /tmp/jido-e2e.XXXXXX)
	export JIDO_HOME
	trap t_cleanup EXIT
}

t_cleanup() {
	t_stop_stack >/dev/null 2>&1
	[ -n "${JIDO_HOME:-}" ] && [ "${T_KEEP:-0}" != 1 ] && rm -rf "$JIDO_HOME"
}

# A TCP port nobody listens on now.
t_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; T_FAILS=$((T_FAILS + 1)); }

# t_check NAME CMD... : PASS when CMD exits 0.
t_check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# t_wait SECONDS CMD... : retry CMD every 50 ms until it succeeds; 1 on timeout.
t_wait() {
	local deadline=$(($(date +%s%N) / 1000000 + ${1%.*} * 1000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -ge $deadline ] && return 1
		sleep 0.05
	done
}

t_all_ready() { jido status >/dev/null 2>&1; }

# Start `jido up` in the background, logs in $JIDO_HOME/up.log; wait for all READY.
t_start_stack() {
	jido up >"$JIDO_HOME/up.out" 2>"$JIDO_HOME/up.log" &
	T_UP_PID=$!
	t_wait "${1:-10}" t_all_ready
}

t_stop_stack() {
	[ -n "$T_UP_PID" ] || return 0
	kill -TERM "$T_UP_PID" 2>/dev/null
	wait "$T_UP_PID" 2>/dev/null
	local rc=$?
	T_UP_PID=""
	return $rc
}

# The owner's web setup on a fresh stack: t_web_setup URL JAR REPO sets the owner password
# (correct-horse-1) and imports REPO, keeping the session in the cookie jar JAR;
# t_web_token URL JAR NAME then makes an admin API token and prints it.
t_csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
t_web_setup() {
	local tok
	tok=$(curl -s -b "$2" -c "$2" "$1/setup" | t_csrf)
	curl -s -o /dev/null -b "$2" -c "$2" -X POST --data "csrf=$tok&step=password&password=correct-horse-1&password2=correct-horse-1" "$1/setup"
	tok=$(curl -s -b "$2" -c "$2" "$1/setup" | t_csrf)
	curl -s -o /dev/null -w '%{http_code}' -b "$2" -c "$2" -X POST --data "csrf=$tok&step=import&repos=${3/\//%2F}" "$1/setup"
}
t_web_token() {
	local q="csrf=$(curl -s -b "$2" -c "$2" "$1/settings/api" | t_csrf)&name=$3&expires_days=30&scope_admin=1"
	curl -s -b "$2" -c "$2" -X POST --data "$q" "$1/settings/api/tokens" | grep -o 'id="new-token">jido_[0-9a-f]*' | sed 's/.*>//'
}

# Send one raw request with nngcat and print the reply.
t_nng() { nngcat --req0 --dial "ipc://$JIDO_HOME/run/$1.sock" --recv-timeout 5 --ascii --data "$2"; }

t_done() {
	[ "$T_FAILS" -eq 0 ]
	exit $?
}
