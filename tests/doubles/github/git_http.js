// git_http.js - the GitHub double's git smart-HTTP endpoint: clone, fetch and push of
// bare repositories under a root folder through `git http-backend` (CGI), like
// https://github.com/<owner>/<repo>.git. Every request must carry HTTP Basic credentials
// whose password is the token (any user name, as GitHub accepts x-access-token); anything
// else gets 401 with a Basic challenge, so git asks its credential helper. A public repo
// (opts.isPublic) may be cloned and fetched without credentials, as on GitHub; a push
// always needs the token.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const GIT_PATH = /^\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+\.git)(\/.*)$/;

// opts: { root, token (function returning the current token), log (function),
//   tokenOk (optional function: a GitHub App's current installation tokens, app_auth.js),
// isPublic(full)? }.
// Returns handle(req, res, body) -> true when the request was a git one.
function createGitHttp(opts) {
  function handle(req, res, body) {
    const u = new URL(req.url, 'http://x');
    const m = GIT_PATH.exec(u.pathname);
    if (!m) return false;
    const auth = req.headers.authorization || '';
    let ok = false;
    if (auth.startsWith('Basic ')) {
      const dec = Buffer.from(auth.slice(6), 'base64').toString('utf8');
      const pass = dec.slice(dec.indexOf(':') + 1);
      ok = pass.length > 0 && (opts.tokenOk ? opts.tokenOk(pass) : pass === opts.token());
    }
    const push = /git-receive-pack$/.test(u.pathname) || u.searchParams.get('service') === 'git-receive-pack';
    const anon = !ok && !push && opts.isPublic && opts.isPublic(`${m[1]}/${m[2].replace(/\.git$/, '')}`);
    opts.log({ kind: 'git', method: req.method, path: u.pathname, query: u.search, auth: ok,
      had_credentials: auth !== '', anonymous: !!anon });
    if (!ok && !anon) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="GitHub"', 'Content-Type': 'text/plain' });
      res.end('Authentication required\n');
      return true;
    }
    const repoDir = path.join(opts.root, m[1], m[2]);
    if (!fs.existsSync(repoDir)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('Repository not found\n');
      return true;
    }
    const env = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_NOSYSTEM: '1',
      HOME: opts.root,
      PATH_INFO: u.pathname,
      REQUEST_METHOD: req.method,
      QUERY_STRING: u.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] || '',
      CONTENT_LENGTH: String(body.length),
      REMOTE_USER: 'x-access-token',
      REMOTE_ADDR: req.socket.remoteAddress || '127.0.0.1',
    };
    if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    if (req.headers['git-protocol']) env.GIT_PROTOCOL = req.headers['git-protocol'];
    const cgi = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (chunk) => {
      if (started) { res.write(chunk); return; }
      head = Buffer.concat([head, chunk]);
      let sep = head.indexOf('\r\n\r\n');
      let sl = 4;
      if (sep < 0) { sep = head.indexOf('\n\n'); sl = 2; }
      if (sep < 0) return;
      const lines = head.slice(0, sep).toString('latin1').split(/\r?\n/);
      let status = 200;
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i < 0) continue;
        const k = l.slice(0, i).trim();
        const v = l.slice(i + 1).trim();
        if (k.toLowerCase() === 'status') status = parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      started = true;
      const rest = head.slice(sep + sl);
      if (rest.length) res.write(rest);
    });
    let errText = '';
    cgi.stderr.on('data', (c) => { errText += c; });
    cgi.on('close', (code) => {
      if (!started) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`git http-backend failed (${code}): ${errText}\n`);
      } else res.end();
    });
    cgi.stdin.on('error', () => {});
    cgi.stdin.end(body);
    return true;
  }
  return { handle };
}

module.exports = { createGitHttp };
