#!/usr/bin/env bash
# sandbox.sh - the sandbox's acceptance: each escape attempt in tests/sandbox/escape.c is
# made from inside `jido-executor sandbox` and must fail, be reported, and leave the host
# unharmed; then the allowed way out (the gateway relay) must work. Prints PASS:/FAIL:.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
ws=$JIDO_HOME/ws
mkdir -p "$ws"
cc -O1 -o "$ws/escape" "$top/tests/sandbox/escape.c" || { fail "build escape.c"; t_done; }
MARKER="jido-marker-$$-$RANDOM"
export JIDO_ESCAPE_MARKER=$MARKER
echo "$MARKER" >"$JIDO_HOME/secret.txt"
SB="jido-executor sandbox --workspace $ws"
out=$JIDO_HOME/out

# run NAME EXPECT_RC SANDBOX_OPTS... -- CMD: the exit status must be EXPECT_RC (a list
# "0|137" allowed) and the output must not say ESCAPED.
run() {
	local name=$1 want=$2
	shift 2
	"$@" >"$out" 2>&1
	local rc=$?
	echo "exit $rc" >>"$out"
	head -n 8 "$out" | while IFS= read -r l; do printf '# %s: %s\n' "$name" "$l"; done
	if grep -q ESCAPED "$out"; then
		fail "$name (escaped, exit $rc)"
	elif [[ "|$want|" == *"|$rc|"* ]]; then
		pass "$name"
	else
		fail "$name (exit $rc, wanted $want)"
	fi
}

# A TCP server on the host's loopback (v4 and v6) that the host itself can reach.
port=$(t_free_port)
python3 - "$port" >/dev/null 2>&1 <<'PY' &
import socket, sys, threading
port = int(sys.argv[1])
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((addr, port))
    except OSError:
        return
    s.listen(8)
    while True:
        c, _ = s.accept(); c.close()
threading.Thread(target=serve, args=(socket.AF_INET6, "::1"), daemon=True).start()
serve(socket.AF_INET, "127.0.0.1")
PY
srv=$!
t_wait 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)"
t_check "host reaches its own loopback server" python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)"
run "no TCP to the host's loopback" 0 $SB -- /work/escape connect 127.0.0.1 "$port"
hostip=$(hostname -I 2>/dev/null | awk '{print $1}')
[ -n "$hostip" ] && run "no TCP to the host's address $hostip" 0 $SB -- /work/escape connect "$hostip" "$port"
run "no DNS" 0 $SB -- /work/escape dns example.com
run "no IPv6 (host ::1)" 0 $SB -- /work/escape connect ::1 "$port"
run "no IPv6 (public)" 0 $SB -- /work/escape connect 2001:4860:4860::8888 53

run "no host files (state dir, /root, /proc/1/environ)" 0 $SB -- /work/escape read "=$MARKER" \
	"$JIDO_HOME/secret.txt" /root/.bashrc /root /proc/1/environ /proc/self/environ /etc/shadow
run "environment built from scratch" 0 $SB -- /bin/sh -c "env | grep -q '$MARKER' && echo ESCAPED env; env | grep -q '^JIDO_HOME=' && echo ESCAPED jido_home; exit 0"

run "no writes outside the workspace and /tmp" 0 $SB -- /work/escape write /etc/x /usr/x /x \
	/home/x /proc/x /dev/x /bin/x
t_check "host /usr untouched" test ! -e /usr/x
run "workspace and /tmp are writable" 0 $SB -- /bin/sh -c 'echo ok >/work/w && echo ok >/tmp/t && echo ok >"$HOME/h"'
t_check "workspace write lands on the host" test -s "$ws/w"
# The root and every system bind under it are read-only (one mount_setattr, or a remount
# per bind where that call is missing): only the devices, /dev/shm, /proc, /tmp, HOME and
# /work may be mounted read-write.
run "read-only root and binds (mountinfo)" 0 $SB --ro-bind /opt -- /bin/sh -c '
	n=0
	while read -r _ _ _ _ mp opts _; do
		n=$((n + 1))
		case "$mp" in /dev/null|/dev/zero|/dev/full|/dev/random|/dev/urandom|/dev/tty|/dev/shm|/proc|/tmp|/home/agent|/work) continue ;; esac
		case "$opts" in ro,*) ;; *) echo "ESCAPED $mp is $opts" ;; esac
	done </proc/self/mountinfo
	[ "$n" -gt 10 ] || echo "ESCAPED only $n mounts"'
# The cgroups are made while the sandbox builds its root and joined before the command
# starts: where the host allows cgroups (no sandbox.cgroup_unavailable), the command is in
# its own (jido-sb-...) for every controller it limits.
$SB --memory 128m -- /bin/cat /proc/self/cgroup >"$out" 2>"$out.err"
if grep -q cgroup_unavailable "$out.err"; then
	pass "cgroups unavailable on this host, said so ($(grep -o '"why":"[^"]*"' "$out.err" | head -n 1))"
elif grep -Eq '(^[0-9]+:pids:|^0::)/jido-sb-' "$out" && { grep -q ':memory:/jido-sb-' "$out" || grep -q '^0::/jido-sb-' "$out"; }; then
	pass "the command runs in its own cgroups"
else
	fail "the command runs in its own cgroups ($(tr '\n' ' ' <"$out"))"
fi

run "no ptrace" 0 $SB -- /work/escape ptrace
run "no mount" 0 $SB -- /work/escape mount
run "no new user namespace" 0 $SB -- /work/escape userns

run "fork bomb stopped by the pids limit" 0 $SB --pids 32 -- /work/escape forkbomb 500
t_check "host can still fork" /bin/true
# Memory: the cgroup limit kills it (137) where the host allows, else RLIMIT_AS stops malloc.
run "memory bomb stopped" "0|137" $SB --memory 64m --as 1g -- /work/escape membomb 2048
run "memory bomb stopped by RLIMIT_AS alone (no cgroups)" 0 $SB --no-cgroups --as 256m -- /work/escape membomb 2048
grep -q "blocked: malloc" "$out" || fail "RLIMIT_AS did not stop malloc"
run "disk fill stopped by the file-size limit" 0 $SB --fsize 8m -- /work/escape fill /work/big 64
size=$(stat -c %s "$ws/big" 2>/dev/null || echo 0)
t_check "host file at most 8 MiB ($size bytes)" test "$size" -le $((8 << 20))
run "/tmp fill stopped by the tmpfs size" 0 $SB --fsize 0 --tmp-size 16m -- /work/escape fill /tmp/big 1024

start=$(date +%s%N)
run "SIGTERM-ignoring tree killed at the timeout" 124 $SB --timeout 1 -- /work/escape hang
ms=$((($(date +%s%N) - start) / 1000000))
t_check "timeout took ${ms} ms (< 5000)" test "$ms" -lt 5000
sleep 0.2
t_check "no process of the tree left on the host" bash -c "! pgrep -f '^/work/escape hang' >/dev/null"

# The allowed way out: 127.0.0.1:<port> inside reaches the gateway's unix socket.
gsock=$JIDO_HOME/gw.sock
python3 - "$gsock" >/dev/null 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o600); s.listen(8)
while True:
    c, _ = s.accept()
    req = c.recv(65536)
    body = b"hello from gateway " + req.split(b"\r\n")[0]
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)); c.close()
PY
gsrv=$!
t_wait 5 test -S "$gsock"
gport=$(t_free_port)
GW="$SB --net gateway --gateway-sock $gsock --gateway-port $gport"
run "gateway relay reaches the gateway" 0 $GW -- /bin/sh -c "/work/escape get $gport | grep -q 'hello from gateway GET /v1/ping' && echo relayed"
grep -q relayed "$out" || fail "relay answer missing"
run "with the relay, the host loopback is still closed" 0 $GW -- /work/escape connect 127.0.0.1 "$port"
run "with the relay, other ports are closed" 0 $GW -- /work/escape connect 127.0.0.1 "$((gport == 65535 ? 1024 : gport + 1))"

run "setup failure is reported (missing workspace)" 125 jido-executor sandbox --workspace /nonexistent -- /bin/true
run "a missing command exits 127" 127 $SB -- /no/such/cmd
run "the command's exit status comes back" 7 $SB -- /bin/sh -c 'exit 7'

kill "$srv" "$gsrv" 2>/dev/null
wait 2>/dev/null
t_done
