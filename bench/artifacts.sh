#!/usr/bin/env bash
# bench/artifacts.sh - artifact download throughput: jido-web (GET /api/v1/runs/R/artifacts/N,
# an API token, sendfile from the blob file) against nginx (one worker, sendfile on) serving
# the very same blob file, on loopback, in the same run. Single stream: curl of a BIG_MB
# (1024) MiB artifact, best of ROUNDS (3); parallel: wrk, 4 connections, WRK_S (5) s, a
# MID_MB (64) MiB artifact. Prints MB/s, the ratio (target >= 0.8) and the web's peak RSS as
# ROW lines (bench/lib.sh; `make bench` runs it). BENCH_BIN: another build's bin directory
# (a before/after comparison). Not a test. Needs `make`, nginx and wrk.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=${BENCH_BIN:-$top/${BUILD:-build}/bin}
BIG_MB=${BIG_MB:-1024} MID_MB=${MID_MB:-64} ROUNDS=${ROUNDS:-3} WRK_S=${WRK_S:-5}
export PATH="$BIN:$PATH"
export JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
WP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JIDO_WEB_LISTEN=127.0.0.1:$WP JIDO_INGEST_LISTEN=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export JIDO_WEB_GUARD_REQUESTS_PER_MIN=0 JIDO_WEB_GUARD_MBYTES_PER_MIN=0 JIDO_WEB_API_BURST=100000 JIDO_WEB_API_PER_MIN=1000000
W=http://127.0.0.1:$WP
jido up >"$JIDO_HOME/up.out" 2>"$JIDO_HOME/up.log" &
up=$!
ng=""
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null; [ -n "$ng" ] && kill $ng 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
for _ in $(seq 200); do jido status >/dev/null 2>&1 && break; sleep 0.1; done

J=$JIDO_HOME/jar
csrf() { grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//'; }
tok=$(curl -s -c "$J" -b "$J" "$W/setup" | csrf)
curl -s -o /dev/null -c "$J" -b "$J" --data "csrf=$tok&step=password&password=bench-password-1&password2=bench-password-1" "$W/setup"
tok=$(curl -s -c "$J" -b "$J" "$W/setup" | csrf)
curl -s -o /dev/null -c "$J" -b "$J" --data "csrf=$tok&step=import&repos=acme%2Fwidget" "$W/setup"
tok=$(curl -s -c "$J" -b "$J" "$W/settings/api" | csrf)
T=$(curl -s -c "$J" -b "$J" --data "csrf=$tok&name=bench&expires_days=1&scope_read=1" "$W/settings/api/tokens" | grep -o 'id="new-token">jido_[0-9a-f]*' | sed 's/.*>//')
R=$(jido call planner planner.runs.create '{"project":"acme/widget","workflow":"issue_triage","issue":1}' | jq -r .id)

yes 'artifact benchmark text 0123456789abcdef' | head -c $((BIG_MB * 1048576)) >"$JIDO_HOME/big.txt"
yes 'artifact benchmark text 0123456789abcdef' | head -c $((MID_MB * 1048576)) >"$JIDO_HOME/mid.txt"
jido artifacts put "$R" big.txt --from-file "$JIDO_HOME/big.txt" --kind report --type text/plain >/dev/null
jido artifacts put "$R" mid.txt --from-file "$JIDO_HOME/mid.txt" --kind report --type text/plain >/dev/null
rm -f "$JIDO_HOME/big.txt" "$JIDO_HOME/mid.txt"
bpath=$(jido artifacts list "$R" --json | jq -r '.artifacts[] | select(.name == "big.txt") | .hash')
mpath=$(jido artifacts list "$R" --json | jq -r '.artifacts[] | select(.name == "mid.txt") | .hash')

# nginx: one worker, sendfile, the same blob files
cat >"$JIDO_HOME/nginx.conf" <<EOF
user $(id -un);
worker_processes 1;
daemon off;
pid $JIDO_HOME/nginx.pid;
error_log $JIDO_HOME/nginx.err;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $JIDO_HOME/ngtmp;
  proxy_temp_path $JIDO_HOME/ngtmp;
  fastcgi_temp_path $JIDO_HOME/ngtmp;
  uwsgi_temp_path $JIDO_HOME/ngtmp;
  scgi_temp_path $JIDO_HOME/ngtmp;
  server { listen 127.0.0.1:$NP; root $JIDO_HOME/artifacts/blobs; }
}
EOF
nginx -c "$JIDO_HOME/nginx.conf" -e "$JIDO_HOME/nginx.err" &
ng=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NP/${bpath:0:2}/$bpath" -r 0-0 && break; sleep 0.1; done

speed() { # URL [curl args...] -> one download in MB/s
	local s
	s=$(curl -s -o /dev/null -w '%{speed_download}' "$@")
	echo $(( ${s%.*} / 1000000 ))
}
wpid=$(jido status --json | jq -r '.[] | select(.name == "web") | .pid')
# the web's resident memory while it serves (sampled every 50 ms; its peak since start,
# VmHWM, includes the owner setup's Argon2 hash, so it is not what downloads cost)
( m=0; while kill -0 "$wpid" 2>/dev/null; do r=$(bench_rss_kb "$wpid"); [ "${r:-0}" -gt "$m" ] && m=$r && echo "$m" >"$JIDO_HOME/rss.max"; sleep 0.05; done ) &
sampler=$!
# interleaved: web, nginx, web, nginx (the machine is shared; ratios, not absolutes)
web1=0 ng1=0
for _ in $(seq "$ROUNDS"); do # best of ROUNDS each, the two alternating
	s=$(speed "$W/api/v1/runs/$R/artifacts/big.txt" -H "Authorization: Bearer $T")
	[ "$s" -gt "$web1" ] && web1=$s
	s=$(speed "http://127.0.0.1:$NP/${bpath:0:2}/$bpath")
	[ "$s" -gt "$ng1" ] && ng1=$s
done
echo "single stream, $BIG_MB MiB: jido-web ${web1} MB/s, nginx ${ng1} MB/s"
wrk_mb() { # URL [header] -> MB/s over WRK_S s, 4 connections
	local out
	if [ -n "${2:-}" ]; then out=$(wrk -t2 -c4 -d"${WRK_S}s" -H "$2" "$1"); else out=$(wrk -t2 -c4 -d"${WRK_S}s" "$1"); fi
	echo "$out" | awk '/^Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub("GB","",v); v*=1024} else if (v ~ /MB/) sub("MB","",v); else if (v ~ /KB/) {sub("KB","",v); v/=1024}; printf "%d", v * 1.048576}'
}
web4a=$(wrk_mb "$W/api/v1/runs/$R/artifacts/mid.txt" "Authorization: Bearer $T")
ng4a=$(wrk_mb "http://127.0.0.1:$NP/${mpath:0:2}/$mpath")
web4b=$(wrk_mb "$W/api/v1/runs/$R/artifacts/mid.txt" "Authorization: Bearer $T")
ng4b=$(wrk_mb "http://127.0.0.1:$NP/${mpath:0:2}/$mpath")
web4=$(( (web4a + web4b) / 2 )) ng4=$(( (ng4a + ng4b) / 2 ))
echo "4 connections, $MID_MB MiB: jido-web ${web4a}/${web4b} MB/s, nginx ${ng4a}/${ng4b} MB/s"
kill "$sampler" 2>/dev/null
rss=$(cat "$JIDO_HOME/rss.max" 2>/dev/null)
echo "jido-web RSS while serving at most ${rss} kB (VmHWM since start $(bench_hwm_kb "$wpid") kB); load $(cut -d' ' -f1-3 /proc/loadavg)"
bench_row "artifact download, 1 stream, $BIG_MB MiB (best of $ROUNDS)" "$web1" "nginx" "$ng1" MB/s
bench_row "artifact download, 4 connections, $MID_MB MiB (wrk, 2x${WRK_S} s)" "$web4" "nginx" "$ng4" MB/s
bench_row "jido-web RSS while serving artifacts (max of 50 ms samples)" "$rss" "the 32 MB limit" 32768 kB
