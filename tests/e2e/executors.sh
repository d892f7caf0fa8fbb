#!/usr/bin/env bash
# executors.sh - executors on other hosts: the planner listens for executors on
# tls+tcp:// (mutual TLS, certificates from `jido certs`); two executors, each in its own
# network namespace joined to the host by a veth pair, dial out and poll for steps. Steps
# are spread over both; one executor is killed mid-step and the step completes on the
# other (a new attempt, the reason in the transitions); clients without a certificate of
# the planner's CA are refused; the listener takes only the executors' two types, and
# results only for steps in the pool (not a gitops step's); no SIGSYS anywhere. Needs root (ip netns); the namespaces are removed even on failure.
. "$(dirname "$0")/../lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # see executor.sh
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
	echo "SKIP: executors.sh needs root and iproute2 (ip netns)"; exit 0
fi
t_home
D=$JIDO_HOME
C=$D/certs
n=$(($$ % 200 + 20))
NS1=jxe1_$$; NS2=jxe2_$$
V1=vj1_$$; V2=vj2_$$
H1=10.$n.1.1; H2=10.$n.2.1
PIDS=""
cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$NS1" 2>/dev/null; ip netns del "$NS2" 2>/dev/null
	ip link del "$V1" 2>/dev/null; ip link del "$V2" 2>/dev/null
	t_cleanup
}
trap cleanup EXIT

# --- two namespaces, each with a veth pair to the host: host .1, executor .2
for i in 1 2; do
	ns=$(eval echo \$NS$i); v=$(eval echo \$V$i)
	ip netns add "$ns" && ip link add "$v" type veth peer name "${v}p" &&
	ip link set "${v}p" netns "$ns" && ip addr add "10.$n.$i.1/24" dev "$v" &&
	ip link set "$v" up && ip -n "$ns" addr add "10.$n.$i.2/24" dev "${v}p" &&
	ip -n "$ns" link set "${v}p" up && ip -n "$ns" link set lo up ||
		{ fail "network namespace $ns"; t_done; }
done
t_check "each namespace has only its own link to the host" sh -c "ip -n $NS1 -4 addr | grep -q 10.$n.1.2 && ! ip -n $NS1 -4 addr | grep -q 10.$n.2. && ip -n $NS2 -4 addr | grep -q 10.$n.2.2"

# --- certificates
t_check "jido certs init: CA and planner certificate for both addresses" \
	jido certs init "$C" --host "$H1" --host "$H2"
t_check "jido certs executor: one client certificate per executor" sh -c \
	"jido certs executor '$C' e1 >/dev/null && jido certs executor '$C' e2 >/dev/null"
t_check "key files are 0600" sh -c "[ \$(stat -c %a '$C/planner.key') = 600 ] && [ \$(stat -c %a '$C/e1.key') = 600 ]"
jido certs init "$C" --host x >/dev/null 2>&1; rc=$?
t_check "jido certs init never overwrites (exit 4)" [ "$rc" = 4 ]
jido certs init "$D/rogue" --host "$H1" >/dev/null && jido certs executor "$D/rogue" e1 >/dev/null

# --- the origin repository executors fetch from
origin=$D/origin
git init -q -b main "$origin" && echo hi >"$origin/README" && git -C "$origin" add . &&
	git -C "$origin" -c user.name=t -c user.email=t@t commit -qm init
mkdir -p "$D/repos/acme" && git clone -q --bare "$origin" "$D/repos/acme/widget.git"

# --- the planner: no executor of its own, a listener for executors
PORT=$(t_free_port)
P=$D/planner
mkdir -p "$P/run" "$P/workflows"
cat >"$P/workflows/long.json" <<'EOF'
{"name": "long", "version": 1, "description": "one shell step that takes a while",
 "steps": [{"id": "work", "kind": "shell", "timeout_s": 120, "command": "echo started; sleep 4; echo finished"}]}
EOF
cat >"$P/workflows/say.json" <<'EOF'
{"name": "say", "version": 1, "description": "one comment step (gitops's)",
 "steps": [{"id": "say", "kind": "comment", "body": "hello"}]}
EOF
nngcat --rep0 --listen "ipc://$P/run/auditor.sock" --data '{"v":1,"id":null,"ok":true,"data":{}}' >/dev/null 2>&1 &
PIDS="$PIDS $!"
# gitops: takes every job and never reports (its results would come on the planner's socket)
nngcat --rep0 --listen "ipc://$P/run/gitops.sock" --data '{"v":1,"id":null,"ok":true,"data":{}}' >/dev/null 2>&1 &
PIDS="$PIDS $!"
start_planner() {
	(
		export JIDO_HOME=$P JIDO_BUS_WATCHDOG_S=0
		export JIDO_PLANNER_EXECUTORS_LISTEN="tls+tcp://0.0.0.0:$PORT" JIDO_PLANNER_EXECUTOR_LEASE_MS=3000
		export JIDO_BUS_TLS_CERT=$C/planner.pem JIDO_BUS_TLS_KEY=$C/planner.key JIDO_BUS_TLS_CA=$C/ca.pem
		exec jido-planner serve 2>>"$D/planner.log"
	) &
	PP=$!
	PIDS="$PIDS $PP"
	t_wait 10 sh -c "JIDO_HOME=$P jido call planner planner.health | jq -e '.state == \"READY\"'"
}
start_planner
pcall() { JIDO_HOME=$P jido call planner "$@"; }
if t_wait 10 sh -c "JIDO_HOME=$P jido call planner planner.health | jq -e '.state == \"READY\"'"; then
	pass "planner READY, listening for executors on tls+tcp://0.0.0.0:$PORT"
else
	fail "planner READY"; cat "$D/planner.log"; t_done
fi

# start_exec NAME NETNS HOST CERTDIR: an executor in NETNS dialling the planner at HOST.
start_exec() {
	local name=$1 ns=$2 host=$3 cd=$4 h=$D/$1
	mkdir -p "$h/run"
	(
		export JIDO_HOME=$h JIDO_BUS_WATCHDOG_S=0 JIDO_EXECUTOR_PULL=true JIDO_EXECUTOR_ID=$name
		export JIDO_EXECUTOR_POLL_MS=300 JIDO_EXECUTOR_GIT_URL=$D/repos/
		export JIDO_SOCKET_PLANNER="tls+tcp://$host:$PORT"
		export JIDO_BUS_TLS_CERT=$cd/$5.pem JIDO_BUS_TLS_KEY=$cd/$5.key JIDO_BUS_TLS_CA=$C/ca.pem
		[ -n "$ns" ] && exec nsenter --net=/run/netns/"$ns" jido-executor serve 2>>"$h.log"
		exec jido-executor serve 2>>"$h.log"
	) &
	LAST=$!
	PIDS="$PIDS $LAST"
}
live() { pcall planner.executors.list | jq -e "[.executors[] | select(.live) | .executor] | sort == $1" >/dev/null; }
start_exec e1 "$NS1" "$H1" "$C" e1; E1=$LAST
start_exec e2 "$NS2" "$H2" "$C" e2; E2=$LAST
if t_wait 10 live '["e1","e2"]'; then pass "both executors poll over mutual TLS from their namespaces"; else
	fail "both executors registered"; pcall planner.executors.list; tail -5 "$D/e1.log" "$D/e2.log"; fi

# --- refused: a certificate from another CA, and no certificate at all
start_exec rogue "" "$H1" "$D/rogue" e1; R1=$LAST
mkdir -p "$D/nocert"; : >"$D/nocert/none.pem"
(
	export JIDO_HOME=$D/nocert JIDO_BUS_WATCHDOG_S=0 JIDO_EXECUTOR_PULL=true JIDO_EXECUTOR_ID=nocert
	export JIDO_EXECUTOR_POLL_MS=300 JIDO_SOCKET_PLANNER="tls+tcp://$H1:$PORT" JIDO_BUS_TLS_CA=$C/ca.pem
	exec jido-executor serve 2>>"$D/nocert.log"
) &
R2=$!; PIDS="$PIDS $R2"
known() { pcall planner.executors.list | jq -e ".executors[] | select(.executor == \"$1\")" >/dev/null; }
refused() { grep -q executor.poll_failed "$D/$1.log" && ! known "$1"; }
# (a poll that cannot connect waits out its timeout, bus.timeout_ms, before it fails)
t_check "an executor with a certificate of another CA is refused" t_wait 25 refused rogue
t_check "an executor without a certificate is refused" t_wait 25 refused nocert
kill "$R1" "$R2" 2>/dev/null
out=$(nngcat --req0 --dial "tls+tcp://$H1:$PORT" --cert "$C/e1.pem" --key "$C/e1.key" --cacert "$C/ca.pem" \
	--recv-timeout 5 --ascii --data '{"v":1,"type":"planner.projects.list","id":"x"}' 2>&1)
t_check "the executors' listener answers other types with authorization_error" grep -q authorization_error <<<"$out"

# --- spread: two runs of two projects run at once, one on each executor
pcall planner.projects.import '{"repos":["acme/widget"]}' >/dev/null
mkdir -p "$D/repos/acme" && git clone -q --bare "$origin" "$D/repos/acme/gadget.git"
pcall planner.projects.import '{"repos":["acme/gadget"]}' >/dev/null
r1=$(pcall planner.runs.create '{"project":"acme/widget","workflow":"long"}' | jq -r .id)
r2=$(pcall planner.runs.create '{"project":"acme/gadget","workflow":"long"}' | jq -r .id)
both_held() { pcall planner.executors.list | jq -e '[.executors[] | select((.jobs | length) == 1)] | length == 2' >/dev/null; }
if t_wait 10 both_held; then pass "two steps spread over the two executors"; else fail "steps spread"; pcall planner.executors.list; fi
state() { pcall planner.runs.get "{\"run_id\":\"$1\"}" | jq -r .state; }
t_wait 30 sh -c "[ \"\$(JIDO_HOME=$P jido call planner planner.runs.get '{\"run_id\":\"$r1\"}' | jq -r .state)\" = completed ] && [ \"\$(JIDO_HOME=$P jido call planner planner.runs.get '{\"run_id\":\"$r2\"}' | jq -r .state)\" = completed ]"
t_check "both runs completed" sh -c "[ '$(state "$r1")' = completed ] && [ '$(state "$r2")' = completed ]"

# --- an executor cannot report another component's step: a gitops comment step is running,
# a result for it on the executors' listener is refused and changes nothing; the same
# result on the planner's own socket (where gitops sends it) completes the run
r0=$(pcall planner.runs.create '{"project":"acme/widget","workflow":"say"}' | jq -r .id)
say_running() { pcall planner.runs.get "{\"run_id\":\"$r0\"}" | jq -e '.state == "running" and .steps[0].state == "running"' >/dev/null; }
t_check "a gitops comment step is running" t_wait 10 say_running
res='"run_id":"'$r0'","seq":1,"attempt":1,"status":"done","result":{"comment_url":"https://example.invalid/forged"}'
out=$(nngcat --req0 --dial "tls+tcp://$H1:$PORT" --cert "$C/e1.pem" --key "$C/e1.key" --cacert "$C/ca.pem" \
	--recv-timeout 5 --ascii --data '{"v":1,"type":"planner.steps.result","id":"f1","data":{'"$res"'}}' 2>&1)
t_check "a result on the executors' listener for a step not in the pool: authorization_error" grep -q authorization_error <<<"$out"
say_untouched() { pcall planner.runs.get "{\"run_id\":\"$r0\"}" | jq -e '.state == "running" and .steps[0].state == "running" and .steps[0].result == null' >/dev/null; }
t_check "... and the step is still running, no result kept" say_untouched
t_check "the planner logged planner.pool_result_refused" grep -q planner.pool_result_refused "$D/planner.log"
pcall planner.steps.result "{$res}" >/dev/null
say_done() { pcall planner.runs.get "{\"run_id\":\"$r0\"}" | jq -e '.state == "completed"' >/dev/null; }
t_check "the same result on the planner's own socket completes the run" t_wait 10 say_done

# --- kill the executor holding a step mid-step: the step completes on the other one
r3=$(pcall planner.runs.create '{"project":"acme/widget","workflow":"long"}' | jq -r .id)
holder() { pcall planner.executors.list | jq -er '.executors[] | select((.jobs | length) == 1) | .executor'; }
t_wait 10 holder
h=$(holder)
sleep 1 # mid-step: the command sleeps 4 s
if [ "$h" = e1 ]; then victim=$E1; other=e2; else victim=$E2; other=e1; fi
t_check "a step is running on $h" [ -n "$h" ]
kill -9 "$victim"
t_wait 40 sh -c "JIDO_HOME=$P jido call planner planner.runs.get '{\"run_id\":\"$r3\"}' | jq -e '.state == \"completed\"'"
pcall planner.runs.get "{\"run_id\":\"$r3\"}" >"$D/r3.json"
rq() { jq -e "$1" "$D/r3.json" >/dev/null; }
t_check "after killing $h mid-step the run completes" rq '.state == "completed"'
t_check "the step ran again as attempt 2, on $other" rq ".steps[0].attempt == 2 and (.steps[0].result.transcript | contains(\"/$other/\"))"
t_check "the transitions name the lost executor" rq "[.transitions[].reason] | any(contains(\"executor $h stopped polling\"))"
t_check "the step's output is its own (finished)" rq '.steps[0].result.output | contains("finished")'

t_check "the planner logged planner.executor_lost" grep -q planner.executor_lost "$D/planner.log"

# --- a partition: the executor holding a step loses the planner; it stops the step itself
# (executor.fenced, half a lease) before the planner gives it to another (a full lease)
start_exec "$h" "$([ "$h" = e1 ] && echo "$NS1" || echo "$NS2")" "$([ "$h" = e1 ] && echo "$H1" || echo "$H2")" "$C" "$h"
[ "$h" = e1 ] && E1=$LAST || E2=$LAST
t_wait 10 live '["e1","e2"]'
r4=$(pcall planner.runs.create '{"project":"acme/widget","workflow":"long"}' | jq -r .id)
t_wait 10 holder
h4=$(holder)
if [ "$h4" = e1 ]; then cut=$NS1; cutv=${V1}p; o4=e2; else cut=$NS2; cutv=${V2}p; o4=e1; fi
sleep 1
ip -n "$cut" link set "$cutv" down
t_wait 40 sh -c "JIDO_HOME=$P jido call planner planner.runs.get '{\"run_id\":\"$r4\"}' | jq -e '.state == \"completed\"'"
pcall planner.runs.get "{\"run_id\":\"$r4\"}" >"$D/r4.json"
t_check "partitioned $h4 fenced its own step" grep -q "executor.fenced.*$r4" "$D/$h4.log"
t_check "the step completed on $o4 after the partition" jq -e ".state == \"completed\" and (.steps[0].result.transcript | contains(\"/$o4/\"))" "$D/r4.json"
fence_ms=$(grep "executor.fenced.*$r4" "$D/$h4.log" | head -1 | jq -r .ts)
lost_ms=$(grep "planner.executor_lost.*$r4" "$D/planner.log" | head -1 | jq -r .ts)
fenced_first() { [ -n "$fence_ms" ] && [ -n "$lost_ms" ] && [[ "$fence_ms" < "$lost_ms" ]]; }
t_check "it was fenced before the planner dispatched it again (${fence_ms:-never} < ${lost_ms:-never})" fenced_first
ip -n "$cut" link set "$cutv" up
t_check "the partitioned executor comes back" t_wait 15 live '["e1","e2"]'

# --- the planner restarts mid-step: the executor running the step keeps it (claims it
# by job id within a lease), the run completes, the step ran once (attempt 1)
r5=$(pcall planner.runs.create '{"project":"acme/gadget","workflow":"long"}' | jq -r .id)
t_wait 10 holder
h5=$(holder)
kill -9 "$PP"
sleep 0.5
start_planner
t_wait 40 sh -c "JIDO_HOME=$P jido call planner planner.runs.get '{\"run_id\":\"$r5\"}' | jq -e '.state == \"completed\"'"
pcall planner.runs.get "{\"run_id\":\"$r5\"}" >"$D/r5.json"
t_check "after a planner restart mid-step the run completes on $h5, attempt 1" jq -e ".state == \"completed\" and .steps[0].attempt == 1 and (.steps[0].result.transcript | contains(\"/$h5/\"))" "$D/r5.json"
t_check "no SIGSYS: planner and executors alive" sh -c "JIDO_HOME=$P jido call planner planner.health >/dev/null && ! grep -q 'SIGSYS\\|signal 31' '$D/planner.log' '$D/$other.log'"
t_done
