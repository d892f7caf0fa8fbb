#!/bin/sh
# deps.sh - install the Debian packages JidoCode builds, tests and runs with, if missing.
# apt-get as root, sudo otherwise; a no-op when everything is there.
set -e
PKGS="build-essential pkg-config libnng-dev nng-utils libsqlite3-dev libcurl4-openssl-dev
libjansson-dev libsodium-dev libevent-dev libseccomp-dev libcmocka-dev git curl jq
openssl python3 python3-cryptography python3-jsonschema bc systemd docker-compose nodejs
bubblewrap prometheus chromium nginx"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi
# Debian's nodejs ships npm separately (NodeSource's includes it: never both).
if ! command -v npm >/dev/null 2>&1; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >&2
fi
# npm packages of the GitHub double (tests/doubles/github), when missing.
"$(dirname "$0")/../tests/doubles/github/ensure.sh"
"$(dirname "$0")/../tests/doubles/github/gitops_ensure.sh"
