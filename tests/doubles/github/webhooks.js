// webhooks.js - the GitHub double's actor side: control routes that do what a person does
// on github.com (add a repository, open an issue, add a label, write a comment) and send
// the webhook GitHub would send for it to the configured URL, signed exactly as GitHub
// signs (send.js githubHeaders), with payloads built from the real examples of
// @octokit/webhooks-examples. Every delivery is kept, so one can be redelivered as is
// (same X-GitHub-Delivery, same bytes), as the "Redeliver" button does.
//
//   POST /_double/webhook   {url, secret}                       where deliveries go
//   POST /_double/repos     {full_name, private?, default_branch?, seed?} a repo; seed: a
//                           git work tree cloned --bare under the git root
//   POST /_double/issues    {repo, title, body?, user?, association?} -> {number, delivery, status}
//   POST /_double/labels    {repo, number, label, user?}         -> {delivery, status}
//   POST /_double/comments  {repo, number, body, user?, association?} -> {delivery, status}
//   POST /_double/redeliver {delivery}                           -> {delivery, status}
//   GET  /_double/deliveries                                     every delivery (no bodies)
//   GET  /_double/world                                          issues, PRs, comments, refs
'use strict';
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { githubHeaders } = require('./send.js');

function example(name, action) {
  const ex = require('@octokit/webhooks-examples').find((e) => e.name === name).examples.find((e) => e.action === action);
  return JSON.parse(JSON.stringify(ex));
}

function post(url, headers, body) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(10000, () => req.destroy());
    req.end(body);
  });
}

// opts: { ingest (ingest_routes model), gitops (gitops_routes), gitRoot, base() }.
// Returns { control(req, res, u, body, send) -> Promise<true> when handled, false otherwise }.
function createWebhooks(opts) {
  const hook = { url: null, secret: null };
  const deliveries = [];
  const st = () => opts.ingest.state;
  let seq = 0;

  function user(login) {
    return { login, id: 1000 + login.length, node_id: 'U_' + login, type: 'User', site_admin: false,
      html_url: `https://github.com/${login}`, url: `${opts.base()}/users/${login}` };
  }
  function repoJson(full) {
    const r = (st().repos || []).find((x) => x.full_name === full);
    if (!r) return null;
    const [owner, name] = full.split('/');
    const ex = example('issues', 'opened').repository;
    return Object.assign(ex, { id: r.id, node_id: 'R_' + r.id, name, full_name: full, owner: user(owner),
      private: !!r.private, default_branch: r.default_branch || 'main', html_url: `https://github.com/${full}`,
      url: `${opts.base()}/repos/${full}`, clone_url: `${opts.base()}/${full}.git` });
  }
  function issueOf(full, n) { return (st().issues[full] || []).find((x) => x.number === n); }

  async function deliver(event, payload) {
    const body = Buffer.from(JSON.stringify(payload));
    const id = crypto.randomUUID();
    const d = { delivery: id, event, action: payload.action || null, status: 0, at: Date.now(), body };
    deliveries.push(d);
    if (hook.url) d.status = await post(hook.url, githubHeaders(hook.secret || '', event, id, body), body);
    return d;
  }

  async function control(req, res, u, body, send) {
    const q = body.length ? JSON.parse(body.toString('utf8')) : {};
    const what = u.pathname.slice('/_double/'.length);
    if (what === 'webhook' && req.method === 'POST') {
      hook.url = q.url; hook.secret = q.secret;
      send(res, 200, { url: hook.url });
      return true;
    }
    if (what === 'deliveries') { send(res, 200, deliveries.map(({ body: _b, ...d }) => d)); return true; }
    if (what === 'world') {
      const g = opts.gitops.state.repos;
      const refs = {};
      for (const full of Object.keys(g).concat((st().repos || []).map((r) => r.full_name))) {
        try {
          refs[full] = execFileSync('git', ['--git-dir', path.join(opts.gitRoot, full + '.git'), 'for-each-ref',
            '--format=%(refname:short) %(objectname)', 'refs/heads'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
        } catch (e) { refs[full] = []; }
      }
      send(res, 200, { repos: st().repos, issues: st().issues, gitops: g, refs });
      return true;
    }
    if (what === 'repos' && req.method === 'POST') {
      const full = q.full_name;
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(full || '')) { send(res, 400, { message: 'full_name' }); return true; }
      const id = 5000 + (st().repos || []).length;
      st().repos = (st().repos || []).filter((r) => r.full_name !== full);
      st().repos.push({ id, full_name: full, name: full.split('/')[1], owner: { login: full.split('/')[0] },
        private: q.private === undefined ? false : !!q.private, default_branch: q.default_branch || 'main',
        html_url: `https://github.com/${full}`, clone_url: `${opts.base()}/${full}.git`,
        updated_at: new Date().toISOString(), open_issues_count: 0 });
      st().issues[full] = st().issues[full] || [];
      if (q.seed) {
        const dir = path.join(opts.gitRoot, full + '.git');
        fs.mkdirSync(path.dirname(dir), { recursive: true });
        execFileSync('git', ['clone', '-q', '--bare', q.seed, dir]);
      }
      send(res, 201, repoJson(full));
      return true;
    }
    if (what === 'issues' && req.method === 'POST') {
      const full = q.repo;
      const repo = repoJson(full);
      if (!repo) { send(res, 404, { message: 'no such repo' }); return true; }
      const number = opts.gitops.repo(full).next++;
      const login = q.user || full.split('/')[0];
      const now = new Date().toISOString();
      const p = example('issues', 'opened');
      const issue = Object.assign(p.issue, { id: 9000 + number + 100 * (++seq), node_id: 'I_' + number, number,
        title: q.title, body: q.body || '', state: 'open', labels: [], assignees: [], assignee: null,
        user: user(login), author_association: q.association || 'OWNER', created_at: now, updated_at: now,
        html_url: `https://github.com/${full}/issues/${number}`, url: `${opts.base()}/repos/${full}/issues/${number}`,
        repository_url: `${opts.base()}/repos/${full}`, comments: 0 });
      delete issue.pull_request;
      st().issues[full].push(issue);
      const d = await deliver('issues', { action: 'opened', issue, repository: repo, sender: user(login) });
      send(res, 201, { number, delivery: d.delivery, status: d.status });
      return true;
    }
    if (what === 'labels' && req.method === 'POST') {
      const full = q.repo;
      const issue = issueOf(full, Number(q.number));
      if (!issue) { send(res, 404, { message: 'no such issue' }); return true; }
      const ex = example('issues', 'labeled');
      const label = Object.assign(ex.label, { name: q.label, default: false,
        url: `${opts.base()}/repos/${full}/labels/${encodeURIComponent(q.label)}` });
      if (!issue.labels.some((l) => l.name === q.label)) issue.labels.push(label);
      issue.updated_at = new Date().toISOString();
      const login = q.user || full.split('/')[0];
      const d = await deliver('issues', { action: 'labeled', issue, label, repository: repoJson(full), sender: user(login) });
      send(res, 200, { delivery: d.delivery, status: d.status });
      return true;
    }
    if (what === 'comments' && req.method === 'POST') {
      const full = q.repo;
      const issue = issueOf(full, Number(q.number));
      if (!issue) { send(res, 404, { message: 'no such issue' }); return true; }
      const login = q.user || full.split('/')[0];
      const ex = example('issue_comment', 'created');
      const comment = Object.assign(ex.comment, { id: 70000 + (++seq), body: q.body, user: user(login),
        author_association: q.association || 'OWNER', created_at: new Date().toISOString(),
        html_url: `https://github.com/${full}/issues/${issue.number}#issuecomment-${70000 + seq}` });
      const d = await deliver('issue_comment', { action: 'created', issue, comment, repository: repoJson(full), sender: user(login) });
      send(res, 201, { delivery: d.delivery, status: d.status });
      return true;
    }
    if (what === 'redeliver' && req.method === 'POST') {
      const d = deliveries.find((x) => x.delivery === q.delivery);
      if (!d) { send(res, 404, { message: 'no such delivery' }); return true; }
      const status = hook.url ? await post(hook.url, githubHeaders(hook.secret || '', d.event, d.delivery, d.body), d.body) : 0;
      send(res, 200, { delivery: d.delivery, status });
      return true;
    }
    return false;
  }
  return { control, deliveries };
}

module.exports = { createWebhooks };
