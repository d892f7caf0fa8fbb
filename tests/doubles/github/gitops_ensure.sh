#!/bin/sh
# gitops_ensure.sh - install the npm package the gitops part of the GitHub double needs
# (@octokit/openapi: GitHub's official OpenAPI description) when it is missing. Exits 0
# when it is there. The lead's merged package.json should list it; this works either way.
cd "$(dirname "$0")" || exit 111
[ -f node_modules/@octokit/openapi/generated/api.github.com.json ] && exit 0
npm install --no-save --no-package-lock --no-audit --no-fund --silent @octokit/openapi@23.0.2 >&2
