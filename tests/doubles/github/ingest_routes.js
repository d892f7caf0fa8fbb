#!/usr/bin/env node
// server.js - the GitHub double's REST side: repos, issues and pulls of a state given as
// JSON, with GitHub's pagination (per_page/page, Link rel="next"/"last"), ETags (W/"..."
// and 304 on If-None-Match, not counted against the limit), rate-limit headers, and
// scripted failures (403/429 with Retry-After). Every request is checked against GitHub's
// official OpenAPI description (npm @octokit/openapi, api.github.com): an undocumented
// path or method, an undeclared query parameter or a value of the wrong type or outside
// its enum is a violation (answered 400 and listed at GET /_double/violations), so a test
// fails on any request the description does not allow.
//
//   node server.js --port P [--state FILE]     prints "listening P" when ready
// Control: POST /_double/state (replace the state), GET /_double/requests,
//          GET /_double/violations, POST /_double/fail {"path","status","retry_after","times"}
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const spec = require('@octokit/openapi/generated/api.github.com.json');

function args(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  return o;
}
const opt = args(process.argv.slice(2));
let state = opt.state ? JSON.parse(fs.readFileSync(opt.state, 'utf8')) : { repos: [], issues: {}, pulls: {} };
const requests = [];
const violations = [];
let failures = [];
let rate = { limit: 5000, remaining: 5000, reset: Math.floor(Date.now() / 1000) + 3600 };

// OpenAPI: path templates compiled to regexes.
const routes = Object.keys(spec.paths).map((p) => ({
  template: p,
  re: new RegExp('^' + p.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+') + '$'),
  item: spec.paths[p],
}));
function resolve(param) {
  if (param.$ref) return param.$ref.split('/').slice(1).reduce((o, k) => o[k], spec);
  return param;
}
function checkValue(name, schema, v) {
  if (!schema) return null;
  if (schema.type === 'integer' && !/^-?\d+$/.test(v)) return `${name}=${v} is not an integer`;
  if (schema.type === 'boolean' && !/^(true|false)$/.test(v)) return `${name}=${v} is not a boolean`;
  if (schema.enum && !schema.enum.includes(v)) return `${name}=${v} is not one of ${schema.enum.join(',')}`;
  return null;
}
// The violations of method + url against the description ([] when allowed).
function validate(method, url) {
  const u = new URL(url, 'http://x');
  const cands = routes.filter((r) => r.re.test(u.pathname));
  if (!cands.length) return [`${method} ${u.pathname}: no such path in the OpenAPI description`];
  // the most specific template (fewest parameters) wins, as GitHub's router does
  cands.sort((a, b) => (a.template.match(/\{/g) || []).length - (b.template.match(/\{/g) || []).length);
  const r = cands[0];
  const op = r.item[method.toLowerCase()];
  if (!op) return [`${method} ${r.template}: method not in the OpenAPI description`];
  const params = [...(r.item.parameters || []), ...(op.parameters || [])].map(resolve);
  const q = params.filter((p) => p.in === 'query');
  const out = [];
  for (const [k, v] of u.searchParams) {
    const p = q.find((x) => x.name === k);
    if (!p) { out.push(`${method} ${r.template}: query parameter ${k} not declared`); continue; }
    const bad = checkValue(k, p.schema, v);
    if (bad) out.push(`${method} ${r.template}: ${bad}`);
  }
  for (const p of q) if (p.required && !u.searchParams.has(p.name)) out.push(`${method} ${r.template}: ${p.name} required`);
  return out;
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

function paginate(req, res, list) {
  const u = new URL(req.url, `http://${req.headers.host}`);
  const per = Math.min(parseInt(u.searchParams.get('per_page') || '30', 10), 100);
  const page = Math.max(parseInt(u.searchParams.get('page') || '1', 10), 1);
  const last = Math.max(1, Math.ceil(list.length / per));
  const items = list.slice((page - 1) * per, page * per);
  const links = [];
  const at = (n) => { const x = new URL(u); x.searchParams.set('page', String(n)); return x.toString(); };
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
  if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`);
  const text = JSON.stringify(items);
  const etag = 'W/"' + crypto.createHash('sha1').update(text).digest('hex') + '"';
  const headers = { ETag: etag };
  if (links.length) headers.Link = links.join(', ');
  const limitHeaders = {
    'X-RateLimit-Limit': String(rate.limit), 'X-RateLimit-Reset': String(rate.reset),
    'X-RateLimit-Resource': 'core',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ...headers, ...limitHeaders, 'X-RateLimit-Remaining': String(rate.remaining) });
    res.end();
    return 304;
  }
  rate.remaining = Math.max(0, rate.remaining - 1);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', ...headers, ...limitHeaders,
    'X-RateLimit-Remaining': String(rate.remaining), 'X-RateLimit-Used': String(rate.limit - rate.remaining) });
  res.end(text);
  return 200;
}

function body(req) {
  return new Promise((resolve) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => resolve(b)); });
}

const server = http.createServer(async (req, res) => {
  const u = new URL(req.url, `http://${req.headers.host}`);
  if (u.pathname.startsWith('/_double/')) {
    const what = u.pathname.slice(9);
    if (what === 'state' && req.method === 'POST') { state = JSON.parse(await body(req)); if (state.rate) rate = { ...rate, ...state.rate }; return send(res, 200, { ok: true }); }
    if (what === 'fail' && req.method === 'POST') { failures.push(JSON.parse(await body(req))); return send(res, 200, { ok: true }); }
    if (what === 'requests') return send(res, 200, requests);
    if (what === 'violations') return send(res, 200, violations);
    return send(res, 404, { message: 'Not Found' });
  }
  const entry = { method: req.method, url: req.url, auth: !!req.headers.authorization,
    if_none_match: req.headers['if-none-match'] || null, status: 0 };
  requests.push(entry);
  const bad = validate(req.method, req.url);
  if (bad.length) { violations.push(...bad); entry.status = 400; return send(res, 400, { message: bad.join('; ') }); }
  if (!req.headers.authorization) { entry.status = 401; return send(res, 401, { message: 'Requires authentication' }); }
  const f = failures.find((x) => u.pathname.startsWith(x.path) && x.times > 0);
  if (f) {
    f.times--;
    entry.status = f.status;
    const h = {};
    if (f.retry_after !== undefined) h['Retry-After'] = String(f.retry_after);
    if (f.status === 403 && f.retry_after === undefined) h['X-RateLimit-Remaining'] = '0';
    h['X-RateLimit-Reset'] = String(Math.floor(Date.now() / 1000) + 2);
    return send(res, f.status, { message: 'You have exceeded a secondary rate limit.' }, h);
  }
  let m;
  if (req.method === 'GET' && u.pathname === '/user/repos') {
    entry.status = paginate(req, res, state.repos || []);
  } else if (req.method === 'GET' && (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\/(issues|pulls)$/))) {
    const full = `${m[1]}/${m[2]}`;
    if (!(state.repos || []).some((r) => r.full_name === full)) { entry.status = 404; return send(res, 404, { message: 'Not Found' }); }
    const st = u.searchParams.get('state') || 'open';
    const all = ((m[3] === 'issues' ? state.issues : state.pulls) || {})[full] || [];
    entry.status = paginate(req, res, all.filter((x) => st === 'all' || x.state === st));
  } else {
    entry.status = 404;
    send(res, 404, { message: 'Not Found (not implemented by the double)' });
  }
});
server.listen(parseInt(opt.port || '0', 10), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
