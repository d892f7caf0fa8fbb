#!/usr/bin/env bash
# bench/cli.sh - the jido CLI against a local stack: `jido status` (8 health calls plus
# the supervisor's) and `jido runs --json` (one planner.runs.list with 20 runs, printed as
# JSON), each run N times (default 200) as a fresh process, median and p90 wall time, next
# to peers in the same run: `nngcat` sending the same planner.runs.list request (a fresh
# process, one round trip, no JSON handling) and `true` (process start alone). Not a test:
# prints numbers. Run after `make`.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-build}
N=${N:-200}
export PATH="$top/$B/bin:$PATH"
JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
export JIDO_HOME JIDO_WEB_LISTEN=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JIDO_INGEST_LISTEN=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JIDO_GITHUB_API_URL=http://127.0.0.1:9 # runs fail fast: no network
jido up >"$JIDO_HOME/up.out" 2>"$JIDO_HOME/up.log" &
UP=$!
trap 'kill $UP 2>/dev/null; wait $UP 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
for _ in $(seq 100); do jido status >/dev/null 2>&1 && break; sleep 0.1; done
jido projects import acme/bench >/dev/null
for i in $(seq 20); do jido kickoff acme/bench "$i" --workflow issue_triage --dry-run >/dev/null; done
req='{"v":1,"type":"planner.runs.list","id":"b","data":{}}'
python3 - "$N" "$JIDO_HOME" "$req" <<'PY'
import statistics, subprocess, sys, time
n, home, req = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cmds = [
    ("jido status", ["jido", "status"]),
    ("jido runs --json", ["jido", "runs", "--json"]),
    ("peer: nngcat planner.runs.list", ["nngcat", "--req0", "--dial", "ipc://%s/run/planner.sock" % home,
                                        "--data", req, "--recv-timeout", "5", "--ascii"]),
    ("peer: true", ["true"]),
]
res = {}
for name, c in cmds:
    subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm up
    t = []
    for _ in range(n):
        s = time.perf_counter()
        subprocess.run(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t.append((time.perf_counter() - s) * 1000)
    t.sort()
    res[name] = (statistics.median(t), t[int(len(t) * 0.9)])
base = res["peer: nngcat planner.runs.list"][0]
print("| command | median | p90 | median / nngcat |")
print("|---|---|---|---|")
for name, (med, p90) in res.items():
    print("| %s | %.2f ms | %.2f ms | %.2f |" % (name, med, p90, med / base))
PY
