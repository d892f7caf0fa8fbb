#!/bin/sh
# ensure.sh - install the MCP test client's npm packages (the official MCP TypeScript SDK,
# pinned in package-lock.json) when node_modules is missing. Exits 0 when they are there.
cd "$(dirname "$0")" || exit 111
[ -d node_modules/@modelcontextprotocol/sdk ] && exit 0
npm ci --no-audit --no-fund --silent >&2
