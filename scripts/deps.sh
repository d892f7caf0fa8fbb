#!/bin/sh
# deps.sh - install the Debian packages JidoCode builds, tests and runs with, if missing.
# apt-get as root, sudo otherwise; a no-op when everything is there.
set -e
PKGS="build-essential pkg-config libnng-dev libmbedtls-dev nng-utils libsqlite3-dev libcurl4-openssl-dev
libjansson-dev libsodium-dev libevent-dev libseccomp-dev libcmocka-dev libssl-dev git curl jq
openssl python3 python3-cryptography sqlite3 python3-jsonschema bc systemd docker-compose nodejs
bubblewrap prometheus chromium iproute2 util-linux wrk nginx"
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
# the official MCP TypeScript SDK client for tests/e2e/mcp.sh (tests/mcp), when missing.
"$(dirname "$0")/../tests/mcp/ensure.sh"
# The real agent CLIs for tests/e2e/claude_code.sh and codex.sh, installed under /usr (the
# sandbox binds /usr read-only, so that is where a runner can see them), pinned.
for pkg in @anthropic-ai/claude-code@2.1.197 @openai/codex@0.171.0; do
	name=${pkg%@*}
	[ -e "$(npm root -g 2>/dev/null)/$name/package.json" ] && continue
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO npm install -g --no-audit --no-fund --silent "$pkg" >&2 ||
		echo "deps: could not install $pkg (claude_code.sh / codex.sh will skip)" >&2
done
