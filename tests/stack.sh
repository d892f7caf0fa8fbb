# stack.sh - source it: starts the whole JidoCode stack from the built binaries (jido up,
# all eight processes) on a temporary JIDO_HOME with free ports, plus the doubles it talks
# to: the GitHub double (tests/doubles/github/server.js: REST, git smart-HTTP, signed
# webhooks to our ingest), two Anthropic doubles (upstreams a1 and a2 of the gateway) and
# the real Claude Code CLI as the agent. Every secret (GitHub token, webhook secret, LLM
# keys, owner password) is generated here, kept in $S_SECRETS (outside the state
# directory) and handed to the processes through the vault; only the GitHub token also
# sits in a 0600 file there for ingest (the vault's ACL gives ingest only the webhook
# secret). Used by tests/e2e/loop.sh, tests/e2e/web_loop.sh, bench/loop.sh and make demo.
#
#   . tests/stack.sh; s_start [REPO]   (0 ok, 2 Claude Code unavailable, 111 failed; REPO defaults to octo/demo: a small C project
#                                       with a test command, imported as a project)
#   s_gh METHOD PATH [JSON]            call the double's control/REST side
#   s_run_wait RUN STATE... [SECONDS]  wait until the run is in one of the states
#   s_stop                             stop everything (also on EXIT)
# Variables after s_start: JIDO_HOME, S_GH (double URL), S_WEB (web URL), S_REPO,
# S_SECRETS, S_A1C/S_A2C (Anthropic doubles' control URLs), S_PASSWORD, S_TOKEN.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
S_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
S_PIDS=""

# The Claude Code CLI where the sandbox sees it (/usr/local/bin): the binary from the
# pinned npm package (tests/npm). 0 when it is there.
s_claude() {
	command -v claude >/dev/null 2>&1 && case "$(readlink -f "$(command -v claude)")" in /usr/*) return 0 ;; esac
	local npmdir=$S_TOP/tests/npm bin
	if [ ! -d "$npmdir/node_modules/@anthropic-ai" ]; then
		(cd "$npmdir" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) || return 1
	fi
	bin=$(ls "$npmdir"/node_modules/@anthropic-ai/claude-code-linux-*/claude 2>/dev/null | head -n 1)
	[ -x "$bin" ] || return 1
	install -m 0755 "$bin" /usr/local/bin/claude 2>/dev/null
}

s_rand() { head -c "${1:-24}" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

s_gh() { # METHOD PATH [JSON]
	if [ $# -ge 3 ]; then curl -s -X "$1" -H 'Content-Type: application/json' --data "$3" "$S_GH$2"
	else curl -s -X "$1" "$S_GH$2"; fi
}

s_run() { jido call planner planner.runs.get "{\"run_id\":\"$1\"}"; }
s_run_state() { s_run "$1" | jq -r .state; }
s_run_wait() { # RUN "STATE STATE" [SECONDS]
	local run=$1 want=$2 secs=${3:-120} st
	local deadline=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		st=$(s_run_state "$run" 2>/dev/null)
		case " $want " in *" $st "*) return 0 ;; esac
		sleep 0.2
	done
	return 1
}

# A sample project: C, one function with a bug, a test command that runs in the sandbox.
s_seed_repo() { # DIR
	mkdir -p "$1" && git -C "$1" init -q -b main
	cat >"$1/add.sh" <<'EOF'
#!/bin/sh
# add.sh A B - prints A + B
echo $(($1 - $2))
EOF
	cat >"$1/test.sh" <<'EOF'
#!/bin/sh
# the project's tests
out=$(sh ./add.sh 2 2)
[ "$out" = 4 ] && echo "1 passed" && exit 0
echo "add.sh 2 2 printed $out, not 4"; exit 1
EOF
	mkdir -p "$1/.github/workflows"
	printf 'name: ci\non: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: sh test.sh\n' >"$1/.github/workflows/ci.yml"
	printf '# demo\n\nAdds numbers. `sh test.sh` runs the tests.\n' >"$1/README.md"
	git -C "$1" add . && git -C "$1" -c user.name=seed -c user.email=seed@example.com commit -qm "initial import"
}

s_start() {
	S_REPO=${1:-octo/demo}
	JIDO_HOME=$(mktemp -d /tmp/jido-loop.XXXXXX)
	export JIDO_HOME
	S_SECRETS=$(mktemp -d /tmp/jido-loop-secrets.XXXXXX)
	chmod 700 "$S_SECRETS"
	trap s_stop EXIT
	command -v node >/dev/null || { echo "stack: node is not installed" >&2; return 111; }
	"$S_TOP/tests/doubles/github/ensure.sh" || return 111
	# 2: the agent cannot be had here (no npm registry, not root): callers say SKIP
	s_claude || { echo "stack: no Claude Code CLI under /usr (npm @anthropic-ai/claude-code in tests/npm, installed as root)" >&2; return 2; }
	local W=$S_SECRETS gp ip wp a1 a1c a2 a2c
	S_TOKEN="ghs_$(s_rand 18)"
	S_HOOK=$(s_rand 32)
	S_K1="sk-ant-a1-$(s_rand 20)"
	S_K2="sk-ant-a2-$(s_rand 20)"
	S_PASSWORD="owner-$(s_rand 10)"
	printf '%s\n' "$S_TOKEN" >"$W/token" && chmod 600 "$W/token"
	gp=$(t_free_port); ip=$(t_free_port); wp=$(t_free_port)
	a1=$(t_free_port); a1c=$(t_free_port); a2=$(t_free_port); a2c=$(t_free_port)
	S_GH=http://127.0.0.1:$gp
	S_WEB=http://127.0.0.1:$wp
	S_INGEST=http://127.0.0.1:$ip/api/github/webhooks
	S_A1C=http://127.0.0.1:$a1c
	S_A2C=http://127.0.0.1:$a2c
	mkdir -p "$W/git" "$W/logs"
	node "$S_TOP/tests/doubles/github/server.js" --port "$gp" --git-root "$W/git" \
	    --token-file "$W/token" >"$W/logs/github.log" 2>&1 &
	S_PIDS="$S_PIDS $!"
	node "$S_TOP/tests/doubles/anthropic/double.js" --port "$a1" --control-port "$a1c" --key "$S_K1" \
	    >"$W/logs/a1.log" 2>&1 &
	S_PIDS="$S_PIDS $!"
	node "$S_TOP/tests/doubles/anthropic/double.js" --port "$a2" --control-port "$a2c" --key "$S_K2" \
	    >"$W/logs/a2.log" 2>&1 &
	S_PIDS="$S_PIDS $!"
	t_wait 15 curl -sf "$S_GH/_double/violations" || { echo "stack: the GitHub double did not start" >&2; return 111; }
	t_wait 15 curl -sf "$S_A1C/stats" && t_wait 15 curl -sf "$S_A2C/stats" ||
		{ echo "stack: the Anthropic doubles did not start" >&2; return 111; }
	s_gh POST /_double/webhook "$(jq -nc --arg u "$S_INGEST" --arg s "$S_HOOK" '{url:$u,secret:$s}')" >/dev/null
	s_seed_repo "$W/seed"
	s_gh POST /_double/repos "$(jq -nc --arg r "$S_REPO" --arg s "$W/seed" '{full_name:$r,seed:$s}')" >/dev/null

	cat >"$JIDO_HOME/jido.conf" <<CONF
github.api_url = $S_GH
github.git_url = $S_GH
github.token_file = $W/token
executor.git_url = $S_GH/
ingest.listen = 127.0.0.1:$ip
web.listen = 127.0.0.1:$wp
gateway.upstreams = a1,anthropic,http://127.0.0.1:$a1,1,vault:llm.anthropic.a1;a2,anthropic,http://127.0.0.1:$a2,2,vault:llm.anthropic.a2
CONF
	# The secrets go into the vault before anything else starts.
	jido-vault serve >"$JIDO_HOME/vault-first.out" 2>"$JIDO_HOME/vault-first.log" &
	local vp=$!
	t_wait 10 test -S "$JIDO_HOME/run/vault.sock" || { echo "stack: the vault did not start" >&2; return 111; }
	t_wait 10 jido secrets status || { echo "stack: the vault does not answer" >&2; return 111; }
	printf '%s' "$S_TOKEN" | jido secrets put github.token --from-stdin >/dev/null &&
	printf '%s' "$S_HOOK" | jido secrets rotate github.webhook_secret --from-stdin --grace-s 0 >/dev/null &&
	printf '%s' "$S_K1" | jido secrets put llm.anthropic.a1 --from-stdin >/dev/null &&
	printf '%s' "$S_K2" | jido secrets put llm.anthropic.a2 --from-stdin >/dev/null ||
		{ echo "stack: storing the secrets failed" >&2; return 111; }
	kill -TERM "$vp"; wait "$vp"
	t_start_stack 15 || { echo "stack: jido up did not bring every process to READY" >&2; jido status >&2; return 111; }
	# the owner: setup's password step, then the import step (S_WEB_SETUP=0: left to the
	# caller, e.g. a browser; the project is then imported through the planner)
	if [ "${S_WEB_SETUP:-1}" = 1 ]; then
		local jar=$S_SECRETS/cookies tok
		tok=$(curl -s -c "$jar" -b "$jar" "$S_WEB/setup" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//')
		curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf=$tok" --data "step=password" \
		    --data-urlencode "password=$S_PASSWORD" --data-urlencode "password2=$S_PASSWORD" "$S_WEB/setup"
		tok=$(curl -s -c "$jar" -b "$jar" "$S_WEB/setup" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -1 | sed 's/.*value="//;s/"$//')
		curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf=$tok" --data "step=import" \
		    --data-urlencode "repos=$S_REPO" "$S_WEB/setup"
	else
		jido call planner planner.projects.import "{\"repos\":[\"$S_REPO\"]}" >/dev/null
	fi
	jido call planner planner.projects.get "{\"project\":\"$S_REPO\"}" >/dev/null 2>&1 ||
		{ echo "stack: importing $S_REPO failed" >&2; return 111; }
	jido call planner planner.projects.update "$(jq -nc --arg r "$S_REPO" \
	    '{project:$r,settings:{test_command:"sh test.sh",runner:"claude"}}')" >/dev/null ||
		{ echo "stack: project settings failed" >&2; return 111; }
	return 0
}

s_stop() {
	t_stop_stack >/dev/null 2>&1
	local p
	for p in $S_PIDS; do kill "$p" 2>/dev/null; done
	for p in $S_PIDS; do wait "$p" 2>/dev/null; done
	S_PIDS=""
	if [ "${T_KEEP:-0}" != 1 ]; then
		[ -n "${JIDO_HOME:-}" ] && rm -rf "$JIDO_HOME"
		[ -n "${S_SECRETS:-}" ] && rm -rf "$S_SECRETS"
	fi
}
