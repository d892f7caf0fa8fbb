#!/usr/bin/env bash
# bench/gitops.sh - shipping overhead of jido-gitops for a 50-line diff on a 1,000-file
# repository: apply, checks, commit, push to the local git server (the GitHub double's
# git http-backend), PR and comment calls to the double, with a stand-in auditor. Next to
# it, in the same run, the peer: the same git work done by git alone from a shell
# (fetch, checkout, apply, commit, push over the same HTTP server), no checks, no API.
# Not a test: it prints numbers. N ships (default 20) after one warm-up (the first clone).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/build/bin
N=${N:-20}
D=$(mktemp -d /tmp/jido-bench-gitops.XXXXXX)
export JIDO_HOME="$D/home"
mkdir -p "$JIDO_HOME" "$D/git/octo"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null; [ -n "${GITOPS_BENCH_LOG:-}" ] && cp "$D/gitops.log" "$GITOPS_BENCH_LOG"; rm -rf "$D"' EXIT
"$top/tests/doubles/github/gitops_ensure.sh" || { echo "bench/gitops: the double needs npm @octokit/openapi"; exit 1; }

# a 1,000-file repository
git init -q -b main "$D/seed"
(cd "$D/seed" && for i in $(seq -w 0 999); do
	mkdir -p "src/d${i:0:1}"
	printf '/* file %s */\n#include <stdio.h>\n\nint f%s(int x)\n{\n\treturn x + %s;\n}\n' "$i" "$i" "$((10#$i))" >"src/d${i:0:1}/f$i.c"
done && git add . && git -c user.name=b -c user.email=b@x commit -qm init)
git clone -q --bare "$D/seed" "$D/git/octo/big.git"
# a 50-line diff: 10 added lines in each of 5 files
(cd "$D/seed" && for f in src/d0/f001.c src/d1/f101.c src/d2/f201.c src/d3/f301.c src/d4/f401.c; do
	for k in $(seq 10); do printf 'int added_%s_%d;\n' "$(basename "$f" .c)" "$k" >>"$f"; done
done && git diff >"$D/run.diff" && git checkout -q .)
printf 'ghp_benchTOKEN0123456789abcdefghijklmnopq\n' >"$D/token"
chmod 600 "$D/token"

node "$top/tests/doubles/github/server.js" --git-root "$D/git" --token-file "$D/token" \
    --port-file "$D/port" >"$D/double.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -s "$D/port" ] && break; sleep 0.1; done
PORT=$(cat "$D/port")
nngcat --rep0 --listen "ipc://$D/aud.sock" --data '{"v":1,"id":null,"ok":true,"data":{"seq":1}}' >/dev/null 2>&1 &
pids="$pids $!"
JIDO_GITHUB_API_URL="http://127.0.0.1:$PORT" JIDO_GITHUB_GIT_URL="http://127.0.0.1:$PORT" JIDO_GITHUB_TOKEN_FILE="$D/token" \
    JIDO_SOCKET_AUDITOR="ipc://$D/aud.sock" JIDO_BUS_WATCHDOG_S=0 JIDO_LOG_LEVEL=${GITOPS_LOG_LEVEL:-info} "$BIN/jido-gitops" serve 2>"$D/gitops.log" &
pids="$pids $!"
for _ in $(seq 100); do [ -S "$JIDO_HOME/run/gitops.sock" ] && break; sleep 0.05; done
sleep 0.3

jq -n --rawfile d "$D/run.diff" --arg u "http://127.0.0.1:$PORT/octo/big.git" \
    '{workflow:"fix_issue",project:{repo:"octo/big",clone_url:$u,pr:{draft:true,labels:["jidocode"],reviewers:["alice"]}},
      issue:1,diff:$d,summary:"add fifty declarations",body:{agent:"bench",model:"none"}}' >"$D/tpl.json"
echo "gitops: ship overhead, 50-line diff, 1,000-file repository (ipc, one at a time)"
"$top/build/bench/gitops_ship" "ipc://$JIDO_HOME/run/gitops.sock" "$D/tpl.json" 1 | sed 's/^/  warm-up (first clone): /'
ship=$("$top/build/bench/gitops_ship" "ipc://$JIDO_HOME/run/gitops.sock" "$D/tpl.json" "$N")
echo "$ship" | sed 's/^/  /'

# the peer: git alone doing the same git work over the same server
git clone -q "http://x:$(cat "$D/token")@127.0.0.1:$PORT/octo/big.git" "$D/peer" 2>/dev/null
times=()
for i in $(seq "$N"); do
	t0=$(date +%s%N)
	(cd "$D/peer" && git fetch -q origin main && git checkout -q -f --detach origin/main &&
		git apply --index "$D/run.diff" && git -c user.name=p -c user.email=p@x commit -qm "peer $i" &&
		git push -q origin "HEAD:refs/heads/peer/$i") || { echo "peer failed"; break; }
	times+=($((($(date +%s%N) - t0) / 1000000)))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "  peer, git alone (fetch, checkout, apply, commit, push) x$N: min $(echo "$sorted" | head -1) ms, median $(echo "$sorted" | sed -n "$((N / 2 + 1))p") ms, max $(echo "$sorted" | tail -1) ms"
bench_row "webhook-to-PR overhead: gitops.ship of a 50-line diff, median" \
    "$(echo "$ship" | sed -n 's/.*median \([0-9]*\) ms.*/\1/p')" "git alone (fetch, apply, commit, push)" \
    "$(echo "$sorted" | sed -n "$((N / 2 + 1))p")" ms
