#!/usr/bin/env bash
# deploy.sh - the deployment files agree with the binaries and with their tools: the
# committed seccomp profiles and systemd units are exactly what deploy/gen.sh makes from
# each process's own allowlist; every unit passes `systemd-analyze verify`; the compose
# file passes `docker-compose config`; the units carry the hardening the deployment
# issue lists; an upgrade migrates a database and a downgrade is refused with a clear
# message (deploy/README.md, "Upgrades").
. "$(dirname "$0")/../lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
t_home
out=$JIDO_HOME/gen

if ldd "$JIDO_BIN/jido-vault" | grep -q libasan; then
	echo "# sanitizer build: its allowlists carry the sanitizer runtime's extra syscalls;"
	echo "# the drift check runs in the release build (make test)"
else
	"$top/deploy/gen.sh" "$JIDO_BIN" "$out" /usr/local
	t_check "committed seccomp profiles match the allowlists" diff -r "$top/deploy/seccomp" "$out/seccomp"
	t_check "committed systemd units match the allowlists" diff -r "$top/deploy/systemd" "$out/systemd"
fi
for p in vault auditor planner gateway gitops executor ingest web; do
	t_check "seccomp profile of $p is valid JSON, kill by default" \
	    sh -c "jq -e '.defaultAction == \"SCMP_ACT_KILL_PROCESS\"' '$top/deploy/seccomp/$p.json' >/dev/null"
done

# systemd-analyze verify needs the ExecStart binaries to exist: verify units generated
# for this build's path (the committed ones differ only in that path).
"$top/deploy/gen.sh" "$JIDO_BIN" "$out/here" "$(dirname "$JIDO_BIN")" >/dev/null
for u in "$out"/here/systemd/*.service "$out"/here/systemd/*.target; do
	msg=$(systemd-analyze verify "$u" 2>&1)
	if [ -z "$msg" ]; then pass "systemd-analyze verify $(basename "$u")"; else fail "systemd-analyze verify $(basename "$u"): $msg"; fi
done
hard() { grep -q "^$2" "$top/deploy/systemd/$1"; }
for u in "$top"/deploy/systemd/jido-*.service; do
	b=$(basename "$u")
	t_check "$b: hardened (ProtectSystem=strict, PrivateTmp, NoNewPrivileges, SystemCallFilter, RestrictAddressFamilies, ReadWritePaths, own user)" sh -c \
	    "for k in ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes SystemCallFilter= RestrictAddressFamilies= ReadWritePaths= User=jido- CapabilityBoundingSet=; do grep -q \"^\$k\" '$u' || exit 1; done"
done
t_check "jidocode.target starts every local process" sh -c "for p in vault auditor planner gateway gitops executor ingest web; do grep -q \"^Wants=.*jido-\$p.service\" '$top/deploy/systemd/jidocode.target' || exit 1; done"
t_check "units are ordered like jido up (executor after planner and gateway; web after planner)" sh -c \
    "grep -q '^After=.*jido-planner.service.*jido-gateway.service' '$top/deploy/systemd/jido-executor.service' && grep -q '^After=.*jido-planner.service' '$top/deploy/systemd/jido-web.service'"
# The executor's spawner needs AF_INET (the relay inside each sandbox's own network
# namespace, fetch_issue), on every host; the planner only for executors_listen; the
# vault and the auditor never.
t_check "the executor units allow AF_INET for the spawner; vault and auditor stay AF_UNIX" sh -c \
    "grep -q '^RestrictAddressFamilies=.*AF_INET' '$top/deploy/systemd/jido-executor.service' && grep -q '^RestrictAddressFamilies=.*AF_INET' '$top/deploy/systemd/jido-executor-remote.service' && grep -q '^RestrictAddressFamilies=AF_UNIX\$' '$top/deploy/systemd/jido-vault.service' && grep -q '^RestrictAddressFamilies=AF_UNIX\$' '$top/deploy/systemd/jido-auditor.service'"

# --- upgrades migrate, downgrades are refused (lib/db.c; every process database)
dg=$JIDO_HOME/dg
mkdir -p "$dg"
t_check "a fresh planner database is created at the current schema" sh -c "jido-planner --home '$dg' filter </dev/null 2>/dev/null"
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma user_version=999'); c.commit()" "$dg/planner.db"
msg=$(jido-planner --home "$dg" serve 2>&1 >/dev/null); rc=$?
t_check "a database from a newer JidoCode is refused (the daemon does not start; code conflict)" sh -c "[ $rc -ne 0 ] && grep -q '\"code\":\"conflict\"' <<'EOF'
$msg
EOF"
t_check "the refusal says why and what to do" grep -q "schema version 999, newer than this binary's .*upgrade JidoCode or restore a backup" <<<"$msg"

# docker-compose reads the seccomp profiles relative to where it runs: from deploy/.
cd "$top/deploy" || exit 111
t_check "docker-compose config accepts deploy/docker-compose.yml" docker-compose config -q
t_check "only ports 4000 and 4001 are published" sh -c \
    "[ \"\$(docker-compose config | grep -E '^\\s+- (published: )?[0-9]+' | grep -oE '[0-9]{4,5}' | sort -u | tr '\n' ' ')\" = '4000 4001 ' ]"
t_check "every service drops every capability and runs read-only" sh -c \
    "[ \"\$(docker-compose config | grep -c 'read_only: true')\" -eq 8 ] && [ \"\$(docker-compose config | grep -A1 'cap_drop:' | grep -c -- '- ALL')\" -eq 8 ] && [ \"\$(docker-compose config | grep -c 'no-new-privileges:true')\" -eq 8 ]"
t_done
