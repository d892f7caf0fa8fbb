#!/usr/bin/env bash
# ops.sh - one operation table, every channel: against the real stack (jido up, the web on
# a free port, ingest with a known webhook secret, GitHub's API a black hole so runs stay
# running until cancelled), every operation of `jido ops --json` is called through the
# REST API (curl, built here from the table's method and path), the CLI on the local
# sockets (`jido --json ...`) and the CLI over REST (`jido --url ... --json ...`), and the
# answers must be the same JSON once volatile fields are removed -- errors too (same code,
# same exit status). The script fails when an operation of the table has no case here.
#
# Hook for more channels (MCP): define a function ch_<name> OP ARGS_JSON CLIWORDS... that
# prints the operation's answer as JSON on stdout (or {"error":"<code>"} for an error
# answer) and returns the CLI exit code of the answer (0 ok, 1 authorization, 2
# validation, 3 not_found, 4 conflict, 111 other), then append <name> to OPS_CHANNELS
# (e.g. in a file sourced through OPS_EXTRA_CHANNELS=path). OP is the table name
# ("runs.list"), ARGS_JSON the arguments as the table names them ({"run":"r_..."}).
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
WPORT=$(t_free_port)
IPORT=$(t_free_port)
HOLE=$(t_free_port)
W="http://127.0.0.1:$WPORT"
SECRET=$JIDO_HOME/webhook.secret
printf 'ops-secret\n' >"$SECRET"; chmod 600 "$SECRET"
# GitHub's API: a port that accepts and never answers (fetch steps wait, runs stay running)
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $HOLE)); s.listen(64)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
" &
HOLE_PID=$!
export JIDO_WEB_LISTEN=127.0.0.1:$WPORT JIDO_INGEST_LISTEN=127.0.0.1:$IPORT
# MCP is the third channel (tests/mcp/ops_channel.sh); the owner's setting lets it answer
# approvals as REST and the CLI do (off by default: an agent must not approve by itself).
export JIDO_MCP_ALLOW_APPROVALS=true
export JIDO_INGEST_WEBHOOK_SECRET_FILE=$SECRET JIDO_GITHUB_API_URL=http://127.0.0.1:$HOLE
export JIDO_INGEST_REDELIVER_S=1 JIDO_WEB_API_BURST=100000 JIDO_WEB_API_PER_MIN=1000000
trap 'kill $HOLE_PID 2>/dev/null; t_cleanup' EXIT

if t_start_stack 10; then pass "stack READY (web :$WPORT)"; else
	fail "stack READY"; cat "$JIDO_HOME/up.log"; t_done; fi
t_wait 5 curl -sf "$W/healthz" || { fail "web answers"; t_done; }

jqt() { jq -e "$@" >/dev/null; }
OPS=$JIDO_HOME/ops.json
jido ops --json >"$OPS"
t_check "jido ops --json lists the table" jqt 'length >= 25 and all(.[]; .name and .path and .cli and .description)' "$OPS"

# --- an admin token, made on the local socket, kept in a 0600 file
TF=$JIDO_HOME/token
(umask 077; jido --json tokens create ops-e2e --scopes admin | jq -r .token >"$TF")
t_check "tokens create gives a jido_ token" grep -q '^jido_[0-9a-f]\{48\}$' "$TF"
TOKEN=$(cat "$TF")
chmod 644 "$TF"
jido --url "$W" --token-file "$TF" --json projects >/dev/null 2>"$JIDO_HOME/tf.err"
t_check "a group/world-readable --token-file is refused" sh -c "[ $? -ne 0 ] && grep -q 'readable by others' '$JIDO_HOME/tf.err'"
chmod 600 "$TF"
JIDO_TOKEN=jido_000000000000000000000000000000000000000000000000 jido --url "$W" --json projects >/dev/null 2>&1
t_check "--url with an unknown token: exit 1 (authorization_error)" test $? -eq 1

# --- data: two projects, a webhook delivery (an issue in the mirror)
jido projects import acme/widget acme/gadget >/dev/null
B=$JIDO_HOME/issue.json
cat >"$B" <<'J'
{"action":"opened","issue":{"number":41,"title":"Crash on start","body":"Steps...","html_url":"https://github.com/acme/widget/issues/41","author_association":"OWNER","labels":[{"name":"bug"}],"user":{"login":"alice"}},"repository":{"full_name":"acme/widget","html_url":"https://github.com/acme/widget"},"sender":{"login":"alice","type":"User"}}
J
sig=$(openssl dgst -sha256 -hmac ops-secret <"$B" | awk '{print $NF}')
c=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$IPORT/api/github/webhooks" \
    -H "Content-Type: application/json" -H "X-GitHub-Event: issues" -H "X-GitHub-Delivery: d-ops-1" \
    -H "X-GitHub-Hook-ID: 7" -H "X-Hub-Signature-256: sha256=$sig" --data-binary "@$B")
t_check "a signed webhook is accepted ($c)" test "$c" = 202
t_wait 10 sh -c "jido --json issues | jq -e '.issues | length == 1' >/dev/null" || echo "# issues: $(jido --json issues)"
t_wait 10 sh -c "jido --json deliveries list | jq -e '.deliveries[0].status == \"acked\"' >/dev/null"

# --- the channels
code_exit() { # error code name -> CLI exit code
	case $1 in
	authorization_error|policy_violation|frozen) echo 1 ;; validation_error) echo 2 ;;
	not_found) echo 3 ;; conflict) echo 4 ;; *) echo 111 ;;
	esac
}
# ch_rest OP ARGS: the REST call, made from the table entry with curl
ch_rest() {
	local op=$1 args=$2 e method path url body c k
	e=$(jq -c --arg n "$op" '.[] | select(.name == $n)' "$OPS")
	method=$(jq -r .method <<<"$e")
	path=$(jq -r .path <<<"$e")
	for k in $(grep -o ':[a-z_]*' <<<"$path" | tr -d :); do
		path=${path/:$k/$(jq -r --arg k "$k" '.[$k] | @uri' <<<"$args")}
		args=$(jq -c --arg k "$k" 'del(.[$k])' <<<"$args")
	done
	url=$W$path
	if [ "$method" = GET ]; then
		q=$(jq -r 'to_entries | map("\(.key)=\(.value | if type == "array" then join(",") else tostring end | @uri)") | join("&")' <<<"$args")
		[ -n "$q" ] && url="$url?$q"
		c=$(curl -s -o "$JIDO_HOME/rest.out" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")
	else
		c=$(curl -s -o "$JIDO_HOME/rest.out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TOKEN" \
		    -H 'Content-Type: application/json' --data "$args" "$url")
	fi
	if [ "${c:0:1}" = 2 ]; then cat "$JIDO_HOME/rest.out"; return 0; fi
	k=$(jq -r '.error.code // "internal"' "$JIDO_HOME/rest.out" 2>/dev/null)
	echo "{\"error\":\"$k\"}"
	return "$(code_exit "$k")"
}
# the CLI: answer JSON on stdout; an error's code from `jido: X failed: <code>: ...`
cli_json() {
	local rc
	"$@" >"$JIDO_HOME/cli.out" 2>"$JIDO_HOME/cli.err"
	rc=$?
	if [ $rc -eq 0 ]; then cat "$JIDO_HOME/cli.out"; else
		echo "{\"error\":\"$(sed -n 's/^jido: .* failed: \([a-z_]*\):.*/\1/p' "$JIDO_HOME/cli.err" | head -1)\"}"
	fi
	return $rc
}
ch_cli() { shift 2; cli_json jido --json "$@"; }
ch_cli_url() { shift 2; cli_json jido --url "$W" --token-file "$TF" --json "$@"; }
OPS_CHANNELS="rest cli cli_url"
. "${OPS_EXTRA_CHANNELS:-$top/tests/mcp/ops_channel.sh}"

# Fields that differ by who asked or when: dropped before comparing.
VOLATILE='del(.. | objects | .last_used_ms?, .updated_ms?)'
COVERED=" "
# same OP ARGS FILTER CLIWORDS...: call OP on every channel, compare the filtered answers
# and the exit statuses; prints the first channel's answer into $JIDO_HOME/last.json.
same() {
	local op=$1 args=$2 filter=$3 ch first="" out rc frc="" ok=1
	shift 3
	COVERED="$COVERED$op "
	for ch in $OPS_CHANNELS; do
		out=$("ch_$ch" "$op" "$args" "$@")
		rc=$?
		out=$(jq -S -c "$VOLATILE | $filter" <<<"$out" 2>&1)
		if [ -z "$first" ]; then first=$out; frc=$rc; printf '%s' "$out" >"$JIDO_HOME/last.json"
		elif [ "$out" != "$first" ] || [ "$rc" != "$frc" ]; then
			ok=0
			echo "# $op: $ch gave ($rc) ${out:0:300}"
			echo "#   first gave ($frc) ${first:0:300}"
		fi
	done
	[ "$first" != "" ] && [ "$first" != "null" ] || ok=0
	if [ $ok = 1 ]; then pass "$op: the same on $OPS_CHANNELS (exit $frc)"; else fail "$op: the same on $OPS_CHANNELS"; fi
}
# each OP FILTER MAKE: every channel calls OP on its own target; MAKE prints "ARGS<TAB>WORDS"
each() {
	local op=$1 filter=$2 make=$3 ch first="" out rc frc="" ok=1 line args
	COVERED="$COVERED$op "
	for ch in $OPS_CHANNELS; do
		line=$($make)
		args=${line%%	*}
		# shellcheck disable=SC2086
		out=$("ch_$ch" "$op" "$args" ${line#*	})
		rc=$?
		out=$(jq -S -c "$VOLATILE | $filter" <<<"$out" 2>&1)
		if [ -z "$first" ]; then first=$out; frc=$rc
		elif [ "$out" != "$first" ] || [ "$rc" != "$frc" ]; then
			ok=0; echo "# $op: $ch gave ($rc) ${out:0:300}"; echo "#   first gave ($frc) ${first:0:300}"
		fi
	done
	if [ $ok = 1 ] && [ "$frc" = 0 ]; then pass "$op: the same on $OPS_CHANNELS"; else fail "$op: the same on $OPS_CHANNELS"; fi
}

# --- read-only operations
same projects.list '{}' . projects
same projects.get '{"project":1}' . projects show 1
same projects.get '{"project":"acme/gadget"}' . projects show acme/gadget
same projects.get '{"project":"acme/nothing"}' . projects show acme/nothing
t_check "  an unknown project is not_found, exit 3" jqt '.error == "not_found"' "$JIDO_HOME/last.json"
same workbench '{"limit":5}' . workbench --limit 5
same issues.list '{}' . issues
t_check "  the webhook's issue is listed" jqt '.issues[0].number == 41 and .issues[0].repo == "acme/widget"' "$JIDO_HOME/last.json"
same issues.list '{"project":"acme/gadget","state":"open"}' . issues --project acme/gadget --state open
same issues.list '{"state":"merged"}' . issues --state merged
t_check "  a bad enum is validation_error, exit 2" jqt '.error == "validation_error"' "$JIDO_HOME/last.json"
same runs.list '{}' . runs
same runs.list '{"project":"acme/widget","state":"running","limit":10}' . runs --project acme/widget --state running --limit 10
run0=$(jido --json runs | jq -r '.runs[0].id')
same runs.get "{\"run\":\"$run0\"}" . run show "$run0"
same runs.get '{"run":"r_nonesuch"}' . run show r_nonesuch
same runs.logs "{\"run\":\"$run0\"}" . logs "$run0"
same runs.logs '{"run":"r_nonesuch","limit":5}' . logs r_nonesuch --limit 5
same approvals.list '{}' . approvals
same settings.shipping.get '{}' . shipping
same secrets.list '{}' . secrets list
same secrets.status '{}' . secrets status
same tokens.list '{}' . tokens
# (MCP audits its reads too, so the log grows between the channels' calls: audit reads are
# compared by shape)
same audit.tail '{"limit":5}' '{n: (.records | length), keys: (.records[0] | keys)}' audit tail --limit 5
same audit.verify '{}' '{ok}' audit verify
t_check "  the audit log verifies" jqt '.ok == true' "$JIDO_HOME/last.json"
same audit.export '{"format":"jsonl","limit":50}' '{lines: (.text | split("\n") | map(select(. != "")) | length)}' audit export --format jsonl --limit 50
same deliveries.list '{}' . deliveries list
same deliveries.show '{"delivery":"d-ops-1"}' . deliveries show d-ops-1
same deliveries.show '{"delivery":"d-none"}' . deliveries show d-none

# --- safe writes: idempotent ones answer the same; others act on a target of their own
same projects.import '{"repos":["acme/widget"]}' . projects import acme/widget
same projects.update '{"project":"acme/gadget","settings":{"stale_days":7}}' . projects update acme/gadget --settings '{"stale_days":7}'
same settings.shipping.set '{"paused":true,"rationale":"e2e freeze"}' . shipping set true --reason "e2e freeze"
same settings.shipping.set '{"paused":false,"rationale":"e2e thaw"}' . shipping set false --reason "e2e thaw"
same runs.kickoff '{"project":"acme/nothing","workflow":"issue_triage","issue":1}' . kickoff acme/nothing 1 --workflow issue_triage
same runs.kickoff '{"project":"acme/gadget","workflow":"no_such_flow","issue":1}' . kickoff acme/gadget 1 --workflow no_such_flow
RUNKEYS='{project, workflow, issue, dry_run, trigger, attempt, parent: (.parent_id != null)}'
mk_kickoff_args() { printf '{"project":"acme/gadget","workflow":"issue_triage","issue":5,"dry_run":true}\tkickoff acme/gadget 5 --workflow issue_triage --dry-run\n'; }
each runs.kickoff "$RUNKEYS" mk_kickoff_args
# mk_note WHAT OUT RC: a MAKE helper that made no target says so (stderr: '# ...' in the log),
# with what the call answered, so a failed check tells the channel's call from its setup
mk_note() { echo "# $1 failed (exit $3): $(tr '\n' ' ' <<<"$2" | cut -c1-300)" >&2; }
# new_run: a fresh dry-run run's id on stdout (nothing, and a note, when the kickoff failed)
new_run() {
	local out rc id
	out=$(jido --json kickoff acme/gadget 6 --workflow issue_triage --dry-run 2>"$JIDO_HOME/mk.err")
	rc=$?
	id=$(jq -r '.id // empty' <<<"$out" 2>/dev/null)
	[ $rc -eq 0 ] && [ -n "$id" ] || mk_note "new_run: jido kickoff" "$out$(cat "$JIDO_HOME/mk.err")" $rc
	echo "$id"
}
mk_cancel() { local r; r=$(new_run); printf '{"run":"%s","reason":"e2e"}\tcancel %s --reason e2e\n' "$r" "$r"; }
each runs.cancel '{state, workflow, issue}' mk_cancel
t_check "  cancelled" jqt '.runs[0].state == "cancelled"' <(jido --json runs --limit 1)
mk_retry() {
	local r out
	r=$(new_run)
	out=$(jido cancel "$r" 2>&1) || mk_note "mk_retry: jido cancel $r" "$out" $?
	printf '{"run":"%s"}\tretry %s\n' "$r" "$r"; }
each runs.retry "{attempt, workflow, issue, parent: (.parent_id != null)}" mk_retry
same runs.cancel '{"run":"r_nonesuch"}' . cancel r_nonesuch
cancelled=$(jido --json runs --state cancelled --limit 1 | jq -r '.runs[0].id // empty')
[ -n "$cancelled" ] || mk_note "jido runs --state cancelled: no cancelled run" "" "?"
same runs.cancel "{\"run\":\"$cancelled\"}" . cancel "$cancelled"
t_check "  cancelling a finished run is a conflict, exit 4" jqt '.error == "conflict"' "$JIDO_HOME/last.json"
# approvals: no run waits for one here, so every channel gets the same refusal
same approvals.approve "{\"run\":\"$cancelled\",\"rationale\":\"ok\"}" . approve "$cancelled" --reason ok
same approvals.reject "{\"run\":\"$cancelled\",\"rationale\":\"no\"}" . reject "$cancelled" --reason no
mk_token() { printf '{"name":"e2e","scopes":"read,run","expires_days":3}\ttokens create e2e --scopes read,run --expires-days 3\n'; }
each tokens.create '{name, scopes, expires_days, token: (.token | test("^jido_[0-9a-f]{48}$"))}' mk_token
mk_revoke() {
	local id out rc
	out=$(jido --json tokens create rv --scopes read 2>"$JIDO_HOME/mk.err")
	rc=$?
	id=$(jq -r '.id // empty' <<<"$out" 2>/dev/null)
	[ $rc -eq 0 ] && [ -n "$id" ] || mk_note "mk_revoke: jido tokens create" "$out$(cat "$JIDO_HOME/mk.err")" $rc
	printf '{"token":%s}\ttokens revoke %s\n' "$id" "$id"; }
each tokens.revoke '{revoked}' mk_revoke
same tokens.revoke '{"token":99999}' . tokens revoke 99999
# the anomaly guard froze nothing here: every channel lists nothing and refuses to unfreeze
same tokens.frozen '{}' . tokens frozen
# nor any project (the planner's per-project guard: tests/e2e/guard_project.sh freezes one)
same projects.frozen '{}' . projects frozen
same projects.unfreeze '{"project":"acme/gadget"}' . projects unfreeze acme/gadget
t_check "  unfreezing a project that is not frozen is not_found, exit 3" jqt '.error == "not_found"' "$JIDO_HOME/last.json"
same tokens.unfreeze '{"token":"4242"}' . tokens unfreeze 4242
t_check "  unfreezing a token that is not frozen is not_found, exit 3" jqt '.error == "not_found"' "$JIDO_HOME/last.json"
mk_none() { printf '{}\taudit checkpoint\n'; }
each audit.checkpoint '{checkpoint: (.checkpoint | keys)}' mk_none
mk_replay() { printf '{"delivery":"d-ops-1"}\tdeliveries replay d-ops-1\n'; }
each deliveries.replay . mk_replay
t_check "every state-changing call was audited first (channels api and cli)" sh -c "jido --json audit export --format jsonl --limit 5000 | jq -r .text | jq -s -e '[.[] | select(.action == \"runs.cancel\")] | (map(.channel) | unique) == [\"api\", \"cli\"]' >/dev/null"

# --- jido logs --follow: until the run ends (cancelled: exit 1), locally and over --url
r=$(new_run)
timeout 30 jido logs "$r" --follow >"$JIDO_HOME/follow1.out" 2>&1 &
F1=$!
timeout 30 jido --url "$W" --token-file "$TF" logs "$r" --follow >"$JIDO_HOME/follow2.out" 2>&1 &
F2=$!
sleep 1
jido cancel "$r" >/dev/null
wait $F1; rc1=$?
wait $F2; rc2=$?
t_check "logs --follow ends with the run (exit 1 for cancelled), local and --url ($rc1 $rc2)" test "$rc1:$rc2" = "1:1"

# --- every operation of the table has a case here
missing=$(jq -r '.[].name' "$OPS" | while read -r n; do case $COVERED in *" $n "*) ;; *) echo "$n" ;; esac; done)
t_check "every table operation is compared on every channel${missing:+ (missing: $(echo $missing))}" test -z "$missing"

# --- the CLI's human output and exit codes
t_check "jido runs prints a table" sh -c "jido runs | head -1 | grep -q '^ID  *STATE'"
jido run show r_nonesuch >/dev/null 2>"$JIDO_HOME/e"
t_check "jido run show of an unknown run: exit 3, jido: ... failed: not_found" sh -c "[ $? -eq 3 ] && grep -q '^jido: run show failed: not_found' '$JIDO_HOME/e'"
jido kickoff acme/gadget >/dev/null 2>&1
t_check "kickoff without --workflow: exit 2" test $? -eq 2
jido runs --bogus >/dev/null 2>&1
t_check "an unknown option: exit 2" test $? -eq 2
t_check "jido completion bash is valid bash naming the commands" sh -c "jido completion bash | bash -n && jido completion bash | grep -q 'kickoff'"
t_check "jido --help lists every operation's words" bash -c "out=\$(jido --help); for w in \$(jq -r '.[].cli | gsub(\" \"; \"_\")' '$OPS'); do echo \"\$out\" | grep -q \"  \${w//_/ }\" || exit 1; done"
t_check "docs/jido.1 and the completions match the table (make docs)" sh -c "jido ops --man | cmp -s - '$top/docs/jido.1' && jido completion bash | cmp -s - '$top/docs/jido.bash' && jido completion zsh | cmp -s - '$top/docs/_jido'"
man_lists() {
	local w
	for w in $(jq -r '.[].cli' "$OPS" | tr ' ' '_'); do
		grep -qF "fBjido ${w//_/ }\\fR" "$top/docs/jido.1" || { echo "# man page lacks jido ${w//_/ }"; return 1; }
	done
	grep -q '^.SH EXIT STATUS' "$top/docs/jido.1"
}
t_check "the man page lists every operation and the exit codes" man_lists
t_check "no process died of SIGSYS" sh -c "! grep -q SIGSYS '$JIDO_HOME/up.log'"
t_check "no sanitizer report (ASan/UBSan builds)" sh -c "! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' '$JIDO_HOME/up.log' '$JIDO_HOME/cli.err'"
t_done
