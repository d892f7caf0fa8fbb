#!/usr/bin/env node
// examples.js - the real GitHub payloads of @octokit/webhooks-examples for the test of
// ingest's normalizer.
//   node examples.js lines [--events a,b]   one stored-delivery line per example:
//                                           {"id","event","payload"} (payload an object)
//   node examples.js check < normalized     compare `jido-ingest normalize` output (same
//                                           order) with the payloads, field by field;
//                                           prints "ok N" or the mismatches, exit 0/1
'use strict';
const readline = require('readline');
const EVENTS = ['issues', 'issue_comment', 'pull_request', 'pull_request_review',
  'pull_request_review_comment', 'push', 'installation', 'installation_repositories',
  'repository', 'label', 'ping', 'check_run', 'check_suite', 'workflow_run'];

function all(want) {
  const out = [];
  for (const g of require('@octokit/webhooks-examples')) {
    if (want && !want.includes(g.name)) continue;
    g.examples.forEach((p, i) => out.push({ id: `ex-${g.name}-${i}`, event: g.name, payload: p }));
  }
  return out;
}

const str = (v) => (typeof v === 'string' ? v : null);
const int = (v) => (Number.isInteger(v) ? v : null);
const names = (arr) => (Array.isArray(arr) ? arr.filter((l) => l && typeof l.name === 'string').map((l) => l.name) : []);

// What the wire contract says the normalized data must hold for payload p of event e.
function expected(e, p) {
  const subj = { issues: p.issue, issue_comment: p.issue, pull_request: p.pull_request,
    pull_request_review: p.pull_request, pull_request_review_comment: p.pull_request }[e];
  const said = { issue_comment: p.comment, pull_request_review: p.review,
    pull_request_review_comment: p.comment }[e];
  const x = {
    event: e,
    action: str(p.action),
    repo: p.repository ? str(p.repository.full_name) : null,
    actor: p.sender ? str(p.sender.login) : null,
  };
  if (subj) {
    x.number = int(subj.number);
    x.title = str(subj.title);
    x.labels = names(subj.labels);
    x.author_association = str((said || subj).author_association);
    x.body = str((said || subj).body);
    x.url = str((said || subj).html_url) || str(subj.html_url);
  }
  if (subj && e.startsWith('pull_request')) {
    x.head_ref = subj.head ? str(subj.head.ref) : null;
    x.base_ref = subj.base ? str(subj.base.ref) : null;
  }
  if (e === 'push') {
    x.head_sha = str(p.after);
    x.head_ref = typeof p.ref === 'string' && p.ref.startsWith('refs/heads/') ? p.ref.slice(11) : null;
  }
  if (e === 'label') x.labels = p.label ? [p.label.name] : [];
  if (e === 'check_run' || e === 'check_suite' || e === 'workflow_run') {
    const c = p[e];
    x.conclusion = str(c.conclusion);
    x.head_sha = str(c.head_sha);
    const pr = Array.isArray(c.pull_requests) ? c.pull_requests[0] : null;
    x.number = pr ? int(pr.number) : null;
  }
  if (e === 'installation_repositories')
    x.repos_added = (p.repositories_added || []).map((r) => r.full_name);
  return x;
}

async function check() {
  const ex = all(EVENTS);
  const rl = readline.createInterface({ input: process.stdin });
  let i = 0; const bad = [];
  for await (const line of rl) {
    if (!line.trim()) continue;
    const got = JSON.parse(line);
    const want = ex[i++];
    if (!want) { bad.push(`extra line ${i}`); continue; }
    if (got.error) { bad.push(`${want.id}: error ${JSON.stringify(got.error)}`); continue; }
    if (got.type !== `events.${want.event}`) bad.push(`${want.id}: type ${got.type}`);
    if (got.data.delivery !== want.id) bad.push(`${want.id}: delivery ${got.data.delivery}`);
    const x = expected(want.event, want.payload);
    for (const [k, v] of Object.entries(x)) {
      if (JSON.stringify(got.data[k] === undefined ? null : got.data[k]) !== JSON.stringify(v))
        bad.push(`${want.id}: ${k} = ${JSON.stringify(got.data[k])}, payload says ${JSON.stringify(v)}`);
    }
  }
  if (i !== ex.length) bad.push(`got ${i} lines for ${ex.length} examples`);
  if (bad.length) { console.log(bad.slice(0, 40).join('\n')); process.exit(1); }
  console.log(`ok ${i}`);
}

const mode = process.argv[2];
if (mode === 'lines') {
  const k = process.argv.indexOf('--events');
  for (const r of all(k > 0 ? process.argv[k + 1].split(',') : EVENTS)) process.stdout.write(JSON.stringify(r) + '\n');
} else if (mode === 'check') {
  check().catch((e) => { console.error(e); process.exit(111); });
} else {
  console.error('usage: examples.js lines|check'); process.exit(2);
}
