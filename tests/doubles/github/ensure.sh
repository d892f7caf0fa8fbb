#!/bin/sh
# ensure.sh - install the GitHub double's npm packages (npm ci from package-lock.json)
# when node_modules is missing. Exits 0 when they are there.
cd "$(dirname "$0")" || exit 111
[ -d node_modules/@octokit/webhooks-examples ] && [ -d node_modules/@octokit/openapi ] && exit 0
npm ci --no-audit --no-fund --silent >&2 || npm install --no-audit --no-fund --silent >&2
