#!/usr/bin/env bash
# web_browser.sh - the owner's first session in a real browser: tests/browser/walkthrough.js
# (npm playwright-core driving Debian's chromium) against jido-web and the fake stack
# (tests/e2e/web_fake.py standing in for the planner, vault, ingest and auditor until they
# are merged). Screenshots of every page go to build/artifacts/browser/ (or
# $JIDO_ARTIFACTS). Without chromium or the npm package it says SKIP, not PASS.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
shots=${JIDO_ARTIFACTS:-$top/build/artifacts}/browser
mkdir -p "$shots" && rm -f "$shots"/*.png
if ! command -v chromium >/dev/null; then
	echo "SKIP: browser walkthrough: Debian chromium is not installed"
	t_done
fi
if [ ! -d "$top/tests/browser/node_modules/playwright-core" ]; then
	(cd "$top/tests/browser" && npm install --no-audit --no-fund >/dev/null 2>&1) || {
		echo "SKIP: browser walkthrough: npm could not install playwright-core"
		t_done
	}
fi
PORT=$(t_free_port)
python3 "$top/tests/e2e/web_fake.py" "$JIDO_HOME" 2>"$JIDO_HOME/fake.log" &
FAKE=$!
t_wait 5 test -e "$JIDO_HOME/fake-ready" || { fail "fake stack did not start"; t_done; }
JIDO_PROC_CRED=$(openssl rand -hex 32) JIDO_WEB_LISTEN="127.0.0.1:$PORT" jido-web serve 2>"$JIDO_HOME/web.log" &
WEB=$!
cleanup_b() { kill "$WEB" "$FAKE" 2>/dev/null; wait "$WEB" "$FAKE" 2>/dev/null; t_cleanup; }
trap cleanup_b EXIT
t_wait 5 curl -sf "http://127.0.0.1:$PORT/healthz" || { fail "jido-web did not start"; t_done; }
timeout 120 node "$top/tests/browser/walkthrough.js" "http://127.0.0.1:$PORT" "$shots"
rc=$?
[ $rc -eq 0 ] || T_FAILS=$((T_FAILS + 1))
t_check "screenshots saved for every page" sh -c "[ \$(ls '$shots'/*.png 2>/dev/null | wc -l) -ge 12 ]"
kill -TERM "$WEB"; wait "$WEB"
t_check "jido-web exits 0 after the walkthrough" test $? -eq 0
t_done
