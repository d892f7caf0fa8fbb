// gitops_routes.js - the REST routes of the GitHub double that jido-gitops uses: pull
// requests (list, create, get), issue comments (create, list), labels and requested
// reviewers. Behaves like GitHub where gitops depends on it: numbers shared by issues and
// PRs, 422 "A pull request already exists" for a second open PR on a head, 422 when the
// head branch is not in the git repository, 422 for drafts when a repository does not
// support them (set with the control route), 401 for a wrong token. Every request is
// validated against GitHub's OpenAPI description (gitops_openapi.js) and logged with the
// result; an invalid request is answered 422 "Invalid request" as GitHub does.
'use strict';
const { execFileSync } = require('child_process');
const path = require('path');

// opts: { gitRoot, token (function), validator, log (function), base ("http://host:port"),
//   tokenOk (optional function: a GitHub App's current installation tokens, app_auth.js),
// firstNumber(full)? (the next free issue/PR number of a repo seeded elsewhere),
// violation(errors)? (called for every request the description does not allow) }.
// Returns { handle(req, res, body) -> true when handled, state, repo(full), prJson }.
function createGitopsRoutes(opts) {
  const state = { repos: {}, injects: [], draftUnsupported: false };

  function repo(full) {
    if (!state.repos[full]) {
      state.repos[full] = { next: opts.firstNumber ? opts.firstNumber(full) : 1, pulls: [], comments: [], labels: {} };
    }
    return state.repos[full];
  }

  function send(res, status, obj, headers) {
    const text = obj === undefined ? '' : JSON.stringify(obj);
    res.writeHead(status, Object.assign({ 'Content-Type': 'application/json; charset=utf-8',
      'X-GitHub-Api-Version-Selected': '2022-11-28', 'X-RateLimit-Limit': '5000',
      'X-RateLimit-Remaining': '4999' }, headers || {}));
    res.end(text);
  }

  function branchSha(full, branch) {
    try {
      return execFileSync('git', ['--git-dir', path.join(opts.gitRoot, full + '.git'),
        'rev-parse', '--verify', '-q', 'refs/heads/' + branch], { encoding: 'utf8' }).trim();
    } catch (e) { return null; }
  }

  function user(login) {
    return { login, id: 1, type: 'User', html_url: `https://github.com/${login}` };
  }

  function prJson(full, p) {
    return Object.assign({}, p, {
      url: `${opts.base()}/repos/${full}/pulls/${p.number}`,
      html_url: `https://github.com/${full}/pull/${p.number}`,
    });
  }

  // Test control: POST /_double/gitops/{config,inject,seed_pr,reset}, GET /_double/gitops/state.
  function control(req, res, u, body) {
    const q = body ? JSON.parse(body.toString('utf8') || '{}') : {};
    if (u.pathname === '/_double/gitops/state') return send(res, 200, state);
    if (u.pathname === '/_double/gitops/config') {
      if ('draft_unsupported' in q) state.draftUnsupported = !!q.draft_unsupported;
      return send(res, 200, { draft_unsupported: state.draftUnsupported });
    }
    if (u.pathname === '/_double/gitops/inject') {
      // { method, path (regexp), status, headers, body, count }
      state.injects.push({ method: q.method, path: q.path, status: q.status, headers: q.headers || {},
        body: q.body || { message: 'injected' }, count: q.count || 1 });
      return send(res, 200, { injects: state.injects.length });
    }
    if (u.pathname === '/_double/gitops/seed_pr') {
      const r = repo(q.repo);
      const p = { number: r.next++, state: 'open', title: q.title || 'seeded', body: '', draft: false,
        head: { ref: q.head, label: `${q.repo.split('/')[0]}:${q.head}`, sha: '0'.repeat(40) },
        base: { ref: q.base || 'main' }, user: user('someone'), labels: [], requested_reviewers: [] };
      r.pulls.push(p);
      return send(res, 201, prJson(q.repo, p));
    }
    if (u.pathname === '/_double/gitops/reset') {
      state.repos = {};
      state.injects = [];
      state.draftUnsupported = false;
      return send(res, 200, {});
    }
    return send(res, 404, { message: 'Not Found' });
  }

  function handle(req, res, body) {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/_double/gitops/')) { control(req, res, u, body); return true; }
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(u.pathname);
    if (!m) return false;
    const full = `${m[1]}/${m[2]}`;
    const rest = m[3];
    // Only the routes below are ours; anything else is left, untouched, to other modules.
    const mine = [['GET', /^\/pulls$/], ['POST', /^\/pulls$/], ['GET', /^\/pulls\/\d+$/],
      ['POST', /^\/pulls\/\d+\/requested_reviewers$/], ['POST', /^\/issues\/\d+\/labels$/],
      ['POST', /^\/issues\/\d+\/comments$/], ['GET', /^\/issues\/\d+\/comments$/]];
    if (!mine.some(([meth, re]) => meth === req.method && re.test(rest))) return false;
    let json;
    if (body.length) {
      try { json = JSON.parse(body.toString('utf8')); } catch (e) {
        opts.log({ kind: 'rest', method: req.method, path: u.pathname + u.search, valid: false, errors: ['body: not JSON'] });
        send(res, 400, { message: 'Problems parsing JSON' });
        return true;
      }
    }
    const v = opts.validator.validate(req.method, u.pathname + u.search, json);
    const auth = req.headers.authorization || '';
    const tok = auth.replace(/^(Bearer|token) /, '');
    const authOk = auth !== tok && (opts.tokenOk ? opts.tokenOk(tok) : tok === opts.token());
    opts.log({ kind: 'rest', method: req.method, path: u.pathname + u.search, operation: v.operationId,
      valid: v.ok, errors: v.errors, auth: authOk, body: json,
      api_version: req.headers['x-github-api-version'] || null });
    if (!authOk) { send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' }); return true; }
    const inj = state.injects.find((i) => i.count > 0 && (!i.method || i.method === req.method) && new RegExp(i.path).test(u.pathname));
    if (inj) { inj.count--; send(res, inj.status, inj.body, inj.headers); return true; }
    if (!v.ok && opts.violation) opts.violation(v.errors.map((e) => `${req.method} ${u.pathname}: ${e}`));
    if (!v.ok) { send(res, 422, { message: 'Invalid request.', errors: v.errors }); return true; }
    const r = repo(full);
    let mm;
    if (req.method === 'GET' && rest === '/pulls') {
      const st = u.searchParams.get('state') || 'open';
      const head = u.searchParams.get('head');
      const list = r.pulls.filter((p) => (st === 'all' || p.state === st) && (!head || p.head.label === head));
      send(res, 200, list.map((p) => prJson(full, p)));
    } else if (req.method === 'POST' && rest === '/pulls') {
      const sha = branchSha(full, json.head);
      if (!sha) {
        send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }] });
      } else if (!branchSha(full, json.base)) {
        send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }] });
      } else if (r.pulls.some((p) => p.state === 'open' && p.head.ref === json.head)) {
        send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom',
          message: `A pull request already exists for ${m[1]}:${json.head}.` }] });
      } else if (json.draft && state.draftUnsupported) {
        send(res, 422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom',
          message: 'Draft pull requests are not supported in this repository.' }] });
      } else {
        const p = { number: r.next++, state: 'open', title: json.title, body: json.body || '', draft: !!json.draft,
          head: { ref: json.head, label: `${m[1]}:${json.head}`, sha }, base: { ref: json.base },
          user: user('jidocode[bot]'), labels: [], requested_reviewers: [] };
        r.pulls.push(p);
        send(res, 201, prJson(full, p));
      }
    } else if (req.method === 'GET' && (mm = /^\/pulls\/(\d+)$/.exec(rest))) {
      const p = r.pulls.find((x) => x.number === Number(mm[1]));
      if (p) send(res, 200, prJson(full, p)); else send(res, 404, { message: 'Not Found' });
    } else if (req.method === 'POST' && (mm = /^\/pulls\/(\d+)\/requested_reviewers$/.exec(rest))) {
      const p = r.pulls.find((x) => x.number === Number(mm[1]));
      if (!p) send(res, 404, { message: 'Not Found' });
      else { p.requested_reviewers.push(...(json.reviewers || []).map(user)); send(res, 201, prJson(full, p)); }
    } else if (req.method === 'POST' && (mm = /^\/issues\/(\d+)\/labels$/.exec(rest))) {
      const n = Number(mm[1]);
      const labels = Array.isArray(json) ? json : (json.labels || []);
      r.labels[n] = [...new Set([...(r.labels[n] || []), ...labels.map((l) => (typeof l === 'string' ? l : l.name))])];
      const p = r.pulls.find((x) => x.number === n);
      if (p) p.labels = r.labels[n].map((name) => ({ name }));
      send(res, 200, r.labels[n].map((name, i) => ({ id: i + 1, name, color: 'ededed', default: false })));
    } else if (req.method === 'POST' && (mm = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      const n = Number(mm[1]);
      const id = 1000 + r.comments.length;
      const c = { id, issue_number: n, body: json.body, user: user('jidocode[bot]'),
        html_url: `https://github.com/${full}/issues/${n}#issuecomment-${id}`,
        url: `${opts.base()}/repos/${full}/issues/comments/${id}`, created_at: new Date().toISOString() };
      r.comments.push(c);
      send(res, 201, c);
    } else if (req.method === 'GET' && (mm = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      send(res, 200, r.comments.filter((c) => c.issue_number === Number(mm[1])));
    }
    return true;
  }

  return { handle, state, repo, prJson };
}

module.exports = { createGitopsRoutes };
