#!/usr/bin/env node
// send.js - the GitHub double's webhook sender: posts deliveries signed exactly as GitHub
// signs them (X-Hub-Signature-256 = sha256 HMAC of the raw body, plus X-Hub-Signature
// sha1, X-GitHub-Event, X-GitHub-Delivery, X-GitHub-Hook-ID, the installation target
// headers, User-Agent GitHub-Hookshot/...). Prints one line per delivery:
// "<http status or 0> <delivery id> <event>".
//
//   node send.js examples --url U --secret-file F [--events a,b]   every real example
//   node send.js load --url U --secret-file F --count N [--concurrency C] [--prefix P]
//                                                   N ~9 KB issues.opened deliveries
//   node send.js one --url U --secret-file F --event E --delivery D [--body-file B]
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

function args(argv) {
  const o = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) o[argv[i].slice(2)] = argv[++i];
    else o._.push(argv[i]);
  }
  return o;
}

function secretOf(file) {
  return fs.readFileSync(file, 'utf8').split(/\r?\n/)[0];
}

// The headers GitHub sends with a delivery of body (a Buffer).
function githubHeaders(secret, event, delivery, body) {
  return {
    'Content-Type': 'application/json',
    'Content-Length': body.length,
    'User-Agent': 'GitHub-Hookshot/044aadd',
    'X-GitHub-Event': event,
    'X-GitHub-Delivery': delivery,
    'X-GitHub-Hook-ID': '292430182',
    'X-GitHub-Hook-Installation-Target-ID': '79929171',
    'X-GitHub-Hook-Installation-Target-Type': 'repository',
    'X-Hub-Signature': 'sha1=' + crypto.createHmac('sha1', secret).update(body).digest('hex'),
    'X-Hub-Signature-256': 'sha256=' + crypto.createHmac('sha256', secret).update(body).digest('hex'),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function post(url, headers, body) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(10000, () => { req.destroy(); });
    req.end(body);
  });
}

function examples() {
  return require('@octokit/webhooks-examples');
}

// A ~9 KB issues.opened payload, as in the benchmark.
function issuesOpened(n) {
  const ex = examples().find((e) => e.name === 'issues').examples.find((e) => e.action === 'opened');
  const p = JSON.parse(JSON.stringify(ex));
  p.issue.number = n;
  p.issue.body = (p.issue.body || '') + ' '.repeat(Math.max(0, 9000 - JSON.stringify(p).length));
  return p;
}

async function main() {
  const o = args(process.argv.slice(2));
  const mode = o._[0];
  const url = o.url || 'http://127.0.0.1:4001/api/github/webhooks';
  const secret = secretOf(o['secret-file']);
  const out = [];
  if (mode === 'examples') {
    const want = o.events ? o.events.split(',') : null;
    for (const group of examples()) {
      if (want && !want.includes(group.name)) continue;
      for (let i = 0; i < group.examples.length; i++) {
        const body = Buffer.from(JSON.stringify(group.examples[i]));
        const id = `ex-${group.name}-${i}`;
        const st = await post(url, githubHeaders(secret, group.name, id, body), body);
        out.push(`${st} ${id} ${group.name}`);
      }
    }
  } else if (mode === 'load') {
    const count = parseInt(o.count || '1000', 10);
    const conc = parseInt(o.concurrency || '16', 10);
    const prefix = o.prefix || 'load';
    const template = issuesOpened(1);
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        template.issue.number = i;
        const body = Buffer.from(JSON.stringify(template));
        const id = `${prefix}-${i}`;
        const st = await post(url, githubHeaders(secret, 'issues', id, body), body);
        process.stdout.write(`${st} ${id} issues\n`);
      }
    };
    await Promise.all(Array.from({ length: conc }, worker));
  } else if (mode === 'one') {
    const body = o['body-file'] ? fs.readFileSync(o['body-file']) : Buffer.from('{}');
    const st = await post(url, githubHeaders(secret, o.event, o.delivery, body), body);
    out.push(`${st} ${o.delivery} ${o.event}`);
  } else {
    process.stderr.write('usage: send.js examples|load|one --url U --secret-file F ...\n');
    process.exit(2);
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  agent.destroy();
}

module.exports = { githubHeaders };
if (require.main === module) main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(111); });
