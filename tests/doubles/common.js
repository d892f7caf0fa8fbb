// common.js - shared plumbing of the scripted provider doubles (anthropic/, openai/): the
// control port (POST /mode, GET /stats, POST /reset), failure modes (refuse connections,
// answer 500 or 429, stall), and the record of what the double saw (keys, usage it reported).
'use strict';
const http = require('http');

function makeDouble(opts) {
  const st = {
    mode: 'ok', count: -1, requests: 0, byStatus: {}, keysSeen: {}, badKeys: 0,
    usage: { input_tokens: 0, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
    aborted: 0, completed: 0, paths: {},
  };
  const stalled = new Set();
  let api = null;
  let listening = false;

  function countStatus(s) { st.byStatus[s] = (st.byStatus[s] || 0) + 1; }
  // The mode for this request; a counted mode reverts to ok after `count` requests.
  function takeMode() {
    const m = st.mode;
    if (m !== 'ok' && st.count > 0 && --st.count === 0) st.mode = 'ok';
    return m;
  }
  function send(res, status, obj) {
    countStatus(status);
    const b = JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_double_' + st.requests });
    res.end(b);
  }
  function handler(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      st.requests++;
      const path = req.url.split('?')[0];
      st.paths[req.method + ' ' + path] = (st.paths[req.method + ' ' + path] || 0) + 1;
      const mode = takeMode();
      if (mode === 'stall') { stalled.add(res); countStatus('stall'); return; }
      if (mode === '500') return send(res, 500, opts.error('api_error', 'double: scripted internal error'));
      if (mode === '429') { res.setHeader('retry-after', '1'); return send(res, 429, opts.error('rate_limit_error', 'double: scripted rate limit')); }
      const key = opts.keyOf(req);
      st.keysSeen[key || '(none)'] = (st.keysSeen[key || '(none)'] || 0) + 1;
      if (key !== opts.key) { st.badKeys++; return send(res, 401, opts.error('authentication_error', 'invalid x-api-key')); }
      let body = {};
      const raw = Buffer.concat(chunks);
      if (req.method === 'POST') {
        try { body = JSON.parse(raw.toString('utf8')); } catch (e) {
          return send(res, 400, opts.error('invalid_request_error', 'double: body is not JSON'));
        }
      }
      opts.route(req, res, path, body, raw.length, { st, send, countStatus, mode });
    });
  }
  function listen(cb) {
    api = http.createServer(handler);
    api.keepAliveTimeout = 60000;
    api.listen(opts.port, '127.0.0.1', () => { listening = true; if (cb) cb(); });
  }
  function refuse(cb) {
    if (!listening) return cb && cb();
    listening = false;
    for (const r of stalled) r.destroy();
    stalled.clear();
    api.close(() => cb && cb());
    api.closeAllConnections();
  }
  const ctl = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const reply = (o) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(o)); };
      if (req.url === '/stats') return reply(st);
      if (req.url === '/reset') {
        Object.assign(st, { requests: 0, byStatus: {}, keysSeen: {}, badKeys: 0, aborted: 0, completed: 0, paths: {} });
        for (const k of Object.keys(st.usage)) st.usage[k] = 0;
        return reply(st);
      }
      if (req.url === '/script') {
        // {tools: [{name, input}], text}: the tool calls to make, one per turn, then text
        const m = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        st.script = { tools: m.tools || [], text: m.text || null };
        return reply(st);
      }
      if (req.url === '/mode') {
        const m = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        st.mode = m.mode || 'ok';
        st.count = m.count || -1;
        for (const r of stalled) r.destroy();
        stalled.clear();
        if (st.mode === 'refuse' && listening) return refuse(() => reply(st));
        if (st.mode !== 'refuse' && !listening) return listen(() => reply(st));
        return reply(st);
      }
      res.writeHead(404); res.end();
    });
  });
  ctl.listen(opts.controlPort, '127.0.0.1', () => listen(() => {
    process.stdout.write('ready\n');
  }));
  return st;
}

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) a[v[i].replace(/^--/, '')] = v[i + 1];
  return a;
}

module.exports = { makeDouble, args };
