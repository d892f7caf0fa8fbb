#!/usr/bin/env node
// gitops_server.js - a stand-alone entry point of the GitHub double with what jido-gitops
// needs: git smart-HTTP (git_http.js) and the REST routes (gitops_routes.js), every REST
// request checked against GitHub's OpenAPI description (gitops_openapi.js), and a request
// log. Meant to be folded into the ingest double's server: both route modules export a
// handle(req, res, body) that returns false for requests that are not theirs.
//
//   node gitops_server.js --git-root DIR --token-file F [--port 0] [--port-file P]
//     GET /_double/log           every request so far (REST: operation, valid, errors)
//     /_double/gitops/...        control routes (gitops_routes.js)
//   The token file is re-read on each request (tests rotate it).
//   GitHub App (app_auth.js): --app-public-key PEM --app-id ID --app-installation ID
//   [--app-token-ttl S] [--app-token-reported S]: access_tokens issues expiring
//   installation tokens; git and REST then accept only current ones. GET /_double/app.
'use strict';
const fs = require('fs');
const http = require('http');
const { createValidator } = require('./gitops_openapi.js');
const { createGitopsRoutes } = require('./gitops_routes.js');
const { createGitHttp } = require('./git_http.js');
const { appFromArgs } = require('./app_auth.js');

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
  return o;
}

const o = args(process.argv.slice(2));
if (!o['git-root'] || !o['token-file']) {
  process.stderr.write('usage: gitops_server.js --git-root DIR --token-file F [--port N] [--port-file P]\n');
  process.exit(2);
}
const token = () => fs.readFileSync(o['token-file'], 'utf8').split(/\r?\n/)[0];
const log = [];
let port = 0;
const base = () => `http://127.0.0.1:${port}`;
const validator = createValidator();
const record = (e) => log.push(Object.assign({ t: Date.now() }, e));
const app = appFromArgs(o);
const tokenOk = app ? app.tokenOk : null;
const git = createGitHttp({ root: o['git-root'], token, tokenOk, log: record });
const rest = createGitopsRoutes({ gitRoot: o['git-root'], token, tokenOk, validator, log: record, base });
// The App's access_tokens route, validated and logged like every REST request.
function appHandle(req, res) {
  const u = new URL(req.url, 'http://x');
  return app.handle(req, res, u, (status) => {
    const v = validator.validate(req.method, u.pathname + u.search, undefined);
    record({ kind: 'rest', method: req.method, path: u.pathname, operation: v.operationId, valid: v.ok,
      errors: v.errors, auth: status === 201, status, api_version: req.headers['x-github-api-version'] || null });
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    try {
      if (req.url === '/_double/log') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(log));
        return;
      }
      if (app && req.url === '/_double/app') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(app.stats()));
        return;
      }
      if ((app && appHandle(req, res)) || git.handle(req, res, body) || rest.handle(req, res, body)) return;
      record({ kind: 'unknown', method: req.method, path: req.url, valid: false, errors: ['no route in the double'] });
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'Not Found' }));
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e && e.stack || e));
    }
  });
});
server.listen(Number(o.port || 0), '127.0.0.1', () => {
  port = server.address().port;
  if (o['port-file']) fs.writeFileSync(o['port-file'] + '.tmp', String(port));
  if (o['port-file']) fs.renameSync(o['port-file'] + '.tmp', o['port-file']);
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
