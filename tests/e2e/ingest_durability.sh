#!/usr/bin/env bash
# ingest_durability.sh - never lose a delivery GitHub was told we received: signed
# deliveries under load from the GitHub double, jido-ingest killed with SIGKILL at a random
# moment, restarted; every delivery that got a 2xx is in the spool and reaches a
# subscriber on events.pub (the sweeper re-sends what was not acknowledged). Then the same
# deliveries posted twice concurrently yield one event each.
# INGEST_KILL_N deliveries per round (default 1000), INGEST_KILL_ROUNDS (default 2);
# bench/ingest_soak.sh runs it with 5,000 x 5.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
DOUBLE=$top/tests/doubles/github
"$DOUBLE/ensure.sh" || { fail "npm packages of the GitHub double"; t_done; }
N=${INGEST_KILL_N:-1000}
ROUNDS=${INGEST_KILL_ROUNDS:-2}
PORT=$(t_free_port)
URL=http://127.0.0.1:$PORT/api/github/webhooks
SECRET=$JIDO_HOME/webhook.secret
printf 'durable-secret\n' >"$SECRET"; chmod 600 "$SECRET"
export JIDO_INGEST_LISTEN=127.0.0.1:$PORT JIDO_INGEST_WEBHOOK_SECRET_FILE=$SECRET
export JIDO_INGEST_REDELIVER_S=1 JIDO_BUS_WATCHDOG_S=0
ING=""
SUB=""
stop_all() { [ -n "$ING" ] && kill -9 "$ING" 2>/dev/null; [ -n "$SUB" ] && kill "$SUB" 2>/dev/null; t_cleanup; }
trap stop_all EXIT

start_ingest() {
	jido-ingest serve 2>>"$JIDO_HOME/ingest.log" &
	ING=$!
	t_wait 10 curl -sf "http://127.0.0.1:$PORT/healthz"
}
EV=$JIDO_HOME/events.txt
start_ingest || { fail "jido-ingest serve starts"; cat "$JIDO_HOME/ingest.log"; t_done; }
# A subscriber standing in for the planner; nng redials after each restart.
nngcat --sub0 --dial "ipc://$JIDO_HOME/run/events.pub" --subscribe '' --ascii >"$EV" 2>/dev/null &
SUB=$!
sleep 0.3

ok_ids=$JIDO_HOME/ok.txt
: >"$ok_ids"
for r in $(seq "$ROUNDS"); do
	node "$DOUBLE/send.js" load --url "$URL" --secret-file "$SECRET" --count "$N" \
	    --concurrency 32 --prefix "r$r" >"$JIDO_HOME/sent$r.txt" &
	snd=$!
	# kill -9 at a random moment while deliveries are in flight: once a random number of
	# answers, between a tenth and a half of N, has come back (a fixed delay would land
	# after the load on a fast machine and before it on a slow one)
	k=$(awk -v s="$RANDOM" -v n="$N" 'BEGIN { srand(s); printf "%d", n / 10 + rand() * n * 0.4 }')
	t_wait 30 sh -c "[ \$(wc -l <'$JIDO_HOME/sent$r.txt') -ge $k ]"
	kill -9 "$ING"
	wait "$ING" 2>/dev/null
	wait "$snd"
	got=$(awk '$1 >= 200 && $1 < 300' "$JIDO_HOME/sent$r.txt" | wc -l)
	echo "# round $r: $got of $N deliveries got a 2xx before the kill"
	awk '$1 >= 200 && $1 < 300 {print $2}' "$JIDO_HOME/sent$r.txt" >>"$ok_ids"
	start_ingest || { fail "restart after kill -9 (round $r)"; t_done; }
	t_check "round $r: killed mid-load ($got of $N answered 2xx), then restarted" test "$got" -lt "$N"
done
total=$(wc -l <"$ok_ids")
jido call ingest ingest.deliveries.list '{"limit":10000}' | jq -r '.deliveries[].id' | sort >"$JIDO_HOME/spool.txt"
missing=$(sort "$ok_ids" | comm -23 - "$JIDO_HOME/spool.txt" | wc -l)
t_check "every delivery that got a 2xx is in the spool after restart ($total, missing $missing)" test "$missing" -eq 0
# The sweeper re-sends what the subscriber has not acknowledged (it never acks here).
seen() { jq -r 'select(.type != "events.heartbeat") | .data.delivery' "$EV" 2>/dev/null | sort -u; }
reached() { [ "$(sort "$ok_ids" | comm -23 - <(seen) | wc -l)" -eq 0 ]; }
t_wait 20 reached
t_check "every 2xx delivery reached the subscriber ($(sort "$ok_ids" | comm -23 - <(seen) | wc -l) missing)" reached

# --- concurrent duplicates: two senders post the same 300 deliveries at once
node "$DOUBLE/send.js" load --url "$URL" --secret-file "$SECRET" --count 300 --concurrency 16 --prefix dup >"$JIDO_HOME/dupA.txt" &
a=$!
node "$DOUBLE/send.js" load --url "$URL" --secret-file "$SECRET" --count 300 --concurrency 16 --prefix dup >"$JIDO_HOME/dupB.txt" &
b=$!
wait $a $b
t_check "both senders got 2xx for every duplicate" test "$(cat "$JIDO_HOME"/dup[AB].txt | awk '$1 >= 200 && $1 < 300' | wc -l)" -eq 600
t_check "each delivery stored once (300 rows)" test "$(jido call ingest ingest.deliveries.list '{"limit":10000}' | jq '[.deliveries[] | select(.id | startswith("dup-"))] | length')" -eq 300
sleep 0.5
dup_firsts() { jq -r 'select(.data.redelivery != true) | .data.delivery // empty' "$EV" 2>/dev/null | grep '^dup-' | sort | uniq -c; }
# PUB/SUB may drop under load (the sweeper re-sends those as redeliveries), so: no id is
# ever published twice as a first send, and every id reaches the subscriber.
more=$(dup_firsts | awk '$1 != 1' | wc -l)
t_check "no duplicated delivery published twice as a new event ($more)" test "$more" -eq 0
dup_seen() { [ "$(jq -r '.data.delivery // empty' "$EV" 2>/dev/null | grep '^dup-' | sort -u | wc -l)" -eq 300 ]; }
t_wait 20 dup_seen
t_check "every duplicated delivery reached the subscriber" dup_seen
t_check "no seccomp kill" sh -c "! grep -qiE 'SIGSYS|Bad system call' $JIDO_HOME/ingest.log"
t_done
