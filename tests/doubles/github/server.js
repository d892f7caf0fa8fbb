#!/usr/bin/env node
// server.js - the GitHub double, one server for the whole loop: REST reads for ingest's
// sync and the executor (ingest_routes.js), the write routes gitops uses (pulls, comments,
// labels, reviewers: gitops_routes.js), git smart-HTTP over bare repositories that demands
// the token for pushes (git_http.js), and the actor side that opens issues, adds labels and
// sends GitHub's signed webhooks (webhooks.js). Every REST request is checked against
// GitHub's official OpenAPI description (npm @octokit/openapi); any request it does not
// allow is listed at GET /_double/violations, so a test fails on it.
//
//   node server.js [--port P] [--port-file F] [--state FILE] [--git-root DIR]
//                  [--token-file F] [--webhook-url U --webhook-secret-file F]
//   prints "listening P" when ready. Without --token-file any token is accepted (ingest's
//   tests); with it, the file is re-read on each request (tests rotate it).
// Control: /_double/{state,fail,requests,violations} (ingest_routes.js), /_double/log,
//   /_double/gitops/* (gitops_routes.js), /_double/{webhook,repos,issues,labels,comments,
//   redeliver,deliveries,world} (webhooks.js).
// GitHub App (app_auth.js): --app-public-key PEM --app-id ID --app-installation ID
//   [--app-token-ttl S] [--app-token-reported S]: POST /app/installations/{id}/access_tokens
//   issues expiring installation tokens, REST and git then accept only current ones, and
//   GET /installation/repositories lists the repos; GET /_double/app: counters.
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const { createValidator } = require('./gitops_openapi.js');
const { createGitopsRoutes } = require('./gitops_routes.js');
const { createGitHttp } = require('./git_http.js');
const { createIngestRoutes } = require('./ingest_routes.js');
const { createWebhooks } = require('./webhooks.js');
const { appFromArgs } = require('./app_auth.js');

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
  return o;
}
const o = args(process.argv.slice(2));
const gitRoot = o['git-root'] || fs.mkdtempSync(path.join(os.tmpdir(), 'jido-ghd-'));
// The current token, or null: any token goes.
const token = () => (o['token-file'] ? fs.readFileSync(o['token-file'], 'utf8').split(/\r?\n/)[0] : null);
const log = [];
let port = 0;
const base = () => `http://127.0.0.1:${port}`;
const record = (e) => log.push(Object.assign({ t: Date.now() }, e));

const app = appFromArgs(o);
const tokenOk = app ? app.tokenOk : null;
const ingest = createIngestRoutes({
  app,
  state: o.state ? JSON.parse(fs.readFileSync(o.state, 'utf8')) : undefined,
  extraPulls: (full) => ((gitops.state.repos[full] || {}).pulls || []).map((p) => gitops.prJson(full, p)),
  record,
});
const isPublic = (full) => (ingest.model.state.repos || []).some((r) => r.full_name === full && r.private === false);
const anyToken = () => { const t = token(); return t; };
const validator = createValidator();
const gitops = createGitopsRoutes({
  gitRoot, validator, log: record, base, tokenOk,
  token: () => { const t = anyToken(); return t === null ? currentAuth : t; },
  violation: (errs) => ingest.model.violations.push(...errs),
  firstNumber: (full) => 1 + Math.max(0, ...(ingest.model.state.issues[full] || []).map((x) => x.number),
    ...(ingest.model.state.pulls[full] || []).map((x) => x.number)),
});
let currentAuth = '';
const git = createGitHttp({ root: gitRoot, log: record, isPublic, tokenOk,
  token: () => { const t = anyToken(); return t === null ? currentPass : t; } });
let currentPass = '';
const hooks = createWebhooks({ ingest: ingest.model, gitops, gitRoot, base });
if (o['webhook-url']) hooks.control({ method: 'POST' }, { writeHead() {}, end() {} }, new URL('http://x/_double/webhook'),
  Buffer.from(JSON.stringify({ url: o['webhook-url'],
    secret: fs.readFileSync(o['webhook-secret-file'], 'utf8').split(/\r?\n/)[0] })), () => {});

// The App's access_tokens route, validated and logged like every REST request.
function appHandle(req, res, u) {
  return app.handle(req, res, u, (status) => {
    const v = validator.validate(req.method, u.pathname + u.search, undefined);
    if (!v.ok) ingest.model.violations.push(...v.errors);
    record({ kind: 'rest', method: req.method, path: u.pathname, operation: v.operationId, valid: v.ok,
      errors: v.errors, auth: status === 201, status, api_version: req.headers['x-github-api-version'] || null });
  });
}

function send(res, status, obj, headers) {
  res.writeHead(status, Object.assign({ 'Content-Type': 'application/json; charset=utf-8' }, headers || {}));
  res.end(obj === undefined ? '' : JSON.stringify(obj));
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    const u = new URL(req.url, 'http://x');
    // Without a token file, whatever credential arrives is "the" token.
    const auth = req.headers.authorization || '';
    currentAuth = auth.replace(/^(Bearer|token) /, '');
    currentPass = auth.startsWith('Basic ') ? (() => { const d = Buffer.from(auth.slice(6), 'base64').toString('utf8'); return d.slice(d.indexOf(':') + 1); })() : '';
    try {
      if (u.pathname === '/_double/log') return send(res, 200, log);
      if (u.pathname === '/_double/app' && app) return send(res, 200, app.stats());
      if (u.pathname.startsWith('/_double/')) {
        if (ingest.control(req, res, u, body)) return;
        if (await hooks.control(req, res, u, body, send)) return;
        if (u.pathname.startsWith('/_double/gitops/') && gitops.handle(req, res, body)) return;
        return send(res, 404, { message: 'Not Found' });
      }
      if (app && appHandle(req, res, u)) return;
      if (git.handle(req, res, body)) return;
      // the pulls listing without ?head= is the sync's (paginated, seeded + opened here)
      if (!(req.method === 'GET' && /\/pulls$/.test(u.pathname) && u.searchParams.has('head')) && ingest.handle(req, res, body)) return;
      if (gitops.handle(req, res, body)) return;
      record({ kind: 'unknown', method: req.method, path: req.url, valid: false, errors: ['no route in the double'] });
      ingest.model.violations.push(`${req.method} ${u.pathname}: not served by the double`);
      send(res, 404, { message: 'Not Found (not implemented by the double)' });
    } catch (e) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(e && e.stack || e));
    }
  });
});
server.listen(Number(o.port || 0), '127.0.0.1', () => {
  port = server.address().port;
  if (o['port-file']) { fs.writeFileSync(o['port-file'] + '.tmp', String(port)); fs.renameSync(o['port-file'] + '.tmp', o['port-file']); }
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
