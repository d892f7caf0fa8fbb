// ingest_routes.js - the GitHub double's read side for jido-ingest's sync and the
// executor's fetch_issue: repos, issues and pulls of a state given as JSON, with GitHub's
// pagination (per_page/page, Link rel="next"/"last"), ETags (W/"..." and 304 on
// If-None-Match, not counted against the limit), rate-limit headers, and scripted
// failures (403/429 with Retry-After). Every request is checked against GitHub's official
// OpenAPI description (npm @octokit/openapi, api.github.com): an undocumented path or
// method, an undeclared query parameter or a value of the wrong type or outside its enum
// is a violation (answered 400 and listed at GET /_double/violations). A public repo
// (private: false) may be read without a token, as on GitHub; anything else needs one.
// Control: POST /_double/state (replace the state), GET /_double/requests,
//          GET /_double/violations, POST /_double/fail {"path","status","retry_after","times"}
'use strict';
const crypto = require('crypto');

const spec = require('@octokit/openapi/generated/api.github.com.json');

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

function paginate(req, res, list, rate, wrap) {
  const u = new URL(req.url, `http://${req.headers.host}`);
  const per = Math.min(parseInt(u.searchParams.get('per_page') || '30', 10), 100);
  const page = Math.max(parseInt(u.searchParams.get('page') || '1', 10), 1);
  const last = Math.max(1, Math.ceil(list.length / per));
  const items = list.slice((page - 1) * per, page * per);
  const links = [];
  const at = (n) => { const x = new URL(u); x.searchParams.set('page', String(n)); return x.toString(); };
  if (page < last) links.push(`<${at(page + 1)}>; rel="next"`, `<${at(last)}>; rel="last"`);
  if (page > 1) links.push(`<${at(1)}>; rel="first"`, `<${at(page - 1)}>; rel="prev"`);
  const text = JSON.stringify(wrap ? wrap(items, list.length) : items);
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


// opts: { app (optional, app_auth.js: installation tokens only), state: initial state
//   {repos, issues, pulls}, extraPulls(full) -> pulls opened
// through the write routes, record(entry) }. Returns { handle(req, res, body) -> true when
// the request was one of ours, control(req, res, u, body) -> true when handled, model }.
// The model (state, requests, violations) is owned here; callers read it, never replace it.
function createIngestRoutes(opts) {
  const model = { state: opts.state || { repos: [], issues: {}, pulls: {} }, requests: [], violations: [],
    failures: [], rate: { limit: 5000, remaining: 5000, reset: Math.floor(Date.now() / 1000) + 3600 } };
  const extra = opts.extraPulls || (() => []);
  const isPublic = (full) => (model.state.repos || []).some((r) => r.full_name === full && r.private === false);

  function control(req, res, u, body) {
    const what = u.pathname.slice(9);
    if (what === 'state' && req.method === 'POST') {
      model.state = JSON.parse(body.toString('utf8'));
      for (const k of ['repos']) model.state[k] = model.state[k] || [];
      for (const k of ['issues', 'pulls']) model.state[k] = model.state[k] || {};
      if (model.state.rate) model.rate = { ...model.rate, ...model.state.rate };
      send(res, 200, { ok: true });
      return true;
    }
    if (what === 'fail' && req.method === 'POST') { model.failures.push(JSON.parse(body.toString('utf8'))); send(res, 200, { ok: true }); return true; }
    if (what === 'requests') { send(res, 200, model.requests); return true; }
    if (what === 'violations') { send(res, 200, model.violations); return true; }
    return false;
  }

  function handle(req, res) {
    const u = new URL(req.url, `http://${req.headers.host}`);
    let m;
    const listRe = /^\/repos\/([^/]+)\/([^/]+)\/(issues|pulls)$/;
    const oneRe = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)$/;
    const app = opts.app || null;
    const ours = (req.method === 'GET' && (u.pathname === '/user/repos' || listRe.test(u.pathname) || oneRe.test(u.pathname) ||
      (app && u.pathname === '/installation/repositories')));
    if (!ours) return false;
    const entry = { method: req.method, url: req.url, auth: !!req.headers.authorization,
      if_none_match: req.headers['if-none-match'] || null, status: 0 };
    model.requests.push(entry);
    const bad = validate(req.method, req.url);
    if (opts.record) opts.record({ kind: 'rest', method: req.method, path: req.url, valid: bad.length === 0, errors: bad, auth: entry.auth });
    if (bad.length) { model.violations.push(...bad); entry.status = 400; send(res, 400, { message: bad.join('; ') }); return true; }
    const target = (m = u.pathname.match(/^\/repos\/([^/]+)\/([^/]+)\//)) ? `${m[1]}/${m[2]}` : null;
    if (!req.headers.authorization && !(target && isPublic(target))) {
      entry.status = 401; send(res, 401, { message: 'Requires authentication' }); return true;
    }
    // With a GitHub App (app_auth.js), only its current installation tokens are accepted.
    if (app && req.headers.authorization && !app.tokenOk(req.headers.authorization.replace(/^(Bearer|token) /, ''))) {
      entry.status = 401; send(res, 401, { message: 'Bad credentials' }); return true;
    }
    const f = model.failures.find((x) => u.pathname.startsWith(x.path) && x.times > 0);
    if (f) {
      f.times--;
      entry.status = f.status;
      const h = {};
      if (f.retry_after !== undefined) h['Retry-After'] = String(f.retry_after);
      if (f.status === 403 && f.retry_after === undefined) h['X-RateLimit-Remaining'] = '0';
      h['X-RateLimit-Reset'] = String(Math.floor(Date.now() / 1000) + 2);
      send(res, f.status, { message: 'You have exceeded a secondary rate limit.' }, h);
      return true;
    }
    const st = model.state;
    if (u.pathname === '/user/repos') {
      entry.status = paginate(req, res, st.repos || [], model.rate);
    } else if (u.pathname === '/installation/repositories') {
      entry.status = paginate(req, res, st.repos || [], model.rate, (items, n) => ({ total_count: n, repositories: items }));
    } else if ((m = u.pathname.match(oneRe))) {
      const full = `${m[1]}/${m[2]}`;
      const it = (st.issues[full] || []).find((x) => x.number === Number(m[3]));
      entry.status = it ? 200 : 404;
      if (it) send(res, 200, it); else send(res, 404, { message: 'Not Found' });
    } else {
      m = u.pathname.match(listRe);
      const full = `${m[1]}/${m[2]}`;
      if (!(st.repos || []).some((r) => r.full_name === full)) { entry.status = 404; send(res, 404, { message: 'Not Found' }); return true; }
      const want = u.searchParams.get('state') || 'open';
      const all = m[3] === 'issues' ? (st.issues[full] || []) : [...(st.pulls[full] || []), ...extra(full)];
      entry.status = paginate(req, res, all.filter((x) => want === 'all' || x.state === want), model.rate);
    }
    return true;
  }

  return { handle, control, model };
}

module.exports = { createIngestRoutes };
