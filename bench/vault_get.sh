#!/usr/bin/env bash
# vault_get.sh - build and run bench/vault_get.c: vault.get over ipc against the health
# round trip of the same jido-vault, on a throwaway state directory with a crafted gitops
# credential. usage: bench/vault_get.sh [N [CLIENTS...]]   (needs `make` first)
# VAULT=path/to/jido-vault runs another build of the vault (a before/after comparison);
# NO_INPROC=1 skips the in-process measurement. Rows (bench/lib.sh): vault.get ops/s per
# client count and the 1-client median, each against vault.health of the same vault.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
N=${1:-50000}
shift || true
CLIENTS=${*:-1 4}
bin="$top/$BUILD/bench/vault_get"
mkdir -p "$(dirname "$bin")"
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$top/lib" $(pkg-config --cflags jansson libsodium) \
	-o "$bin" "$top/bench/vault_get.c" "$top/$BUILD/libjido.a" \
	$(pkg-config --libs libsodium jansson libevent libseccomp libcurl sqlite3 libcrypto) -lnng -lpthread
# The in-process handler links the vault's objects the way the Makefile links jido-vault
# (dir_objs: every vault/*.c but main.c and the tests), derived from the sources so a new
# vault file cannot leave this link line behind.
vobjs=()
for src in "$top"/vault/*.c; do
	base=$(basename "$src" .c)
	case $base in main | *_test) continue ;; esac
	obj="$top/$BUILD/obj/vault/$base.o"
	[ -f "$obj" ] || { echo "vault_get.sh: $obj missing: run make first" >&2; exit 111; }
	vobjs+=("$obj")
done
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$top/lib" $(pkg-config --cflags jansson libsodium) \
	-o "$bin-handler" "$top/bench/vault/handler.c" "${vobjs[@]}" "$top/$BUILD/libjido.a" \
	$(pkg-config --libs libsodium jansson libevent libseccomp libcurl sqlite3 libcrypto) -lnng -lpthread

export JIDO_HOME
JIDO_HOME=$(mktemp -d /tmp/jido-bench.XXXXXX)
vpid=""
trap '[ -n "$vpid" ] && kill "$vpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$JIDO_HOME"' EXIT
cred=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$JIDO_HOME/run"
printf 'gitops %s\n' "$(printf '%s' "$cred" | sha256sum | cut -d' ' -f1)" >"$JIDO_HOME/run/creds"
chmod 600 "$JIDO_HOME/run/creds"
JIDO_LOG_LEVEL=warn "${VAULT:-$top/$BUILD/bin/jido-vault}" serve 2>"$JIDO_HOME/vault.log" &
vpid=$!
export VAULT_PID=$vpid # the bench reads its CPU time per request
for _ in $(seq 100); do [ -S "$JIDO_HOME/run/vault.sock" ] && [ -f "$JIDO_HOME/run/owner.cred" ] && break; sleep 0.05; done
sleep 0.2
head -c 40 /dev/urandom | base64 | "$top/$BUILD/bin/jido" secrets put github.token --from-stdin >/dev/null
echo "# $(date -u +%FT%TZ) $(nproc) cpus, $(uname -r), N=$N sequential round trips on one REQ socket"
if [ -z "${NO_INPROC:-}" ]; then
	mkdir "$JIDO_HOME/inproc"
	"$bin-handler" "$JIDO_HOME/inproc" "$N" 2>/dev/null
fi
. "$top/bench/lib.sh"
for c in $CLIENTS; do
	out=$("$bin" "$JIDO_HOME" "$cred" github.token "$N" "$c")
	echo "$out"
	# field F (ops/s, median_us, ...) of the last line of measurement K (not the raw one)
	val() { echo "$out" | awk -v k="$1" -v f="$2=" '($1 == k || index($1, k "/") == 1) && $2 !~ /^raw/ {for (i = 1; i <= NF; i++) if (index($i, f) == 1) v = substr($i, length(f) + 1)} END {print v}'; }
	bench_row "vault.get ops/s, $c client(s)" "$(val vault.get ops/s)" "vault.health, same vault" "$(val vault.health ops/s)" ops/s
	if [ "$c" = 1 ]; then
		bench_row "vault.get median, 1 client" "$(val vault.get median_us)" "vault.health, same vault" "$(val vault.health median_us)" µs
	fi
done
