#!/usr/bin/env bash
# bench/web.sh - /workbench served by jido-web (release build) against a stand-in planner
# that answers at once (bench/web_workbench.c): the web's own share of a page for 20 repos,
# 10,000 issues, 2,000 PRs and 1,000 runs, the pages per second, and jido-web's peak RSS.
# Not a test: prints numbers. Run after `make` and `make build/bench/web_workbench`.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
B=${BUILD:-build}
H=$(mktemp -d /tmp/jido-bench.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
JIDO_HOME=$H JIDO_WEB_LISTEN=127.0.0.1:$PORT "$top/$B/bin/jido-web" serve 2>"$H/web.log" &
WEB=$!
trap 'kill $WEB 2>/dev/null; wait $WEB 2>/dev/null; rm -rf "$H"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
J=$H/jar
tok=$(curl -s -c "$J" -b "$J" "http://127.0.0.1:$PORT/setup" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//')
curl -s -o /dev/null -c "$J" -b "$J" --data "csrf=$tok&step=password&password=bench-password-1&password2=bench-password-1" "http://127.0.0.1:$PORT/setup"
tok=$(curl -s -c "$J" -b "$J" "http://127.0.0.1:$PORT/setup" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//')
curl -s -o /dev/null -c "$J" -b "$J" --data "csrf=$tok&step=import&repos=" "http://127.0.0.1:$PORT/setup"
cookie=$(awk '$6 == "jido_session" {print $7}' "$J")
echo "rss before: $(grep VmRSS /proc/$WEB/status | awk '{print $2/1024 " MB"}')"
wb=$("$top/$B/bench/web_workbench" "$H" "$PORT" "$cookie" "${SECONDS_RUN:-5}" "${CONNS:-4}")
echo "$wb"
echo "rss after: $(grep VmRSS /proc/$WEB/status | awk '{print $2/1024 " MB"}'), peak $(grep VmHWM /proc/$WEB/status | awk '{print $2/1024 " MB"}')"
# The peer: the same client and server on /healthz (HTTP, no session, no planner, no HTML).
hz=$(BENCH_PATH=/healthz "$top/$B/bench/web_workbench" "$H" "$PORT" "$cookie" "${SECONDS_RUN:-5}" "${CONNS:-4}")
echo "/healthz: $hz" | tail -1
wmed=$(echo "$wb" | sed -n 's/^median \([0-9.]*\) ms.*/\1/p'); hmed=$(echo "$hz" | sed -n 's/^median \([0-9.]*\) ms.*/\1/p')
wps=$(echo "$wb" | sed -n 's/.* \([0-9]*\) pages\/s.*/\1/p'); hps=$(echo "$hz" | sed -n 's/.* \([0-9]*\) pages\/s.*/\1/p')
bench_row "workbench render by jido-web (10,000 issues), median" "$wmed" "/healthz on the same server" "$hmed" ms
bench_row "workbench pages/s by jido-web" "$wps" "/healthz on the same server" "$hps" pages/s
