// app_auth.js - GitHub App authentication for the GitHub double (server.js):
// POST /app/installations/{installation_id}/access_tokens with "Authorization: Bearer
// <JWT>" verifies the JWT's RS256 signature against the App's public key and its claims
// (iss = the App id, iat not in the future beyond 60 s of drift, exp in the future and at
// most 10 minutes ahead), then issues an installation token (ghs_...). A token is
// accepted (tokenOk) only until it expires: `ttl` seconds after it was issued; the
// expires_at the double reports is `reported` seconds ahead (default: ttl), so a test can
// make a token die early, as a revoked or clock-skewed one does, and see the retry.
//
//   const app = createAppAuth({ publicKey: PEM, appId: '42', installationId: '7', ttl: 3600 });
//   app.handle(req, res, url, log) -> true when it answered (the access_tokens route)
//   app.tokenOk(token) -> true for a current installation token
//   app.stats() -> { issued, refused_jwt, expired_seen }
'use strict';
const crypto = require('crypto');

function createAppAuth(opts) {
  const ttl = Number(opts.ttl || 3600);
  const reported = Number(opts.reported || ttl);
  const tokens = new Map(); // token -> expiry (ms)
  const st = { issued: 0, refused_jwt: 0, expired_seen: 0, jwt_errors: [] };

  // The reason a JWT is not acceptable, or null.
  function jwtProblem(auth) {
    const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(auth || '');
    if (!m) return 'no JWT in Authorization: Bearer';
    let hdr, claims;
    try {
      hdr = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8'));
    } catch (e) { return 'JWT header or claims are not JSON'; }
    if (hdr.alg !== 'RS256') return `JWT alg ${hdr.alg}, not RS256`;
    const ok = crypto.verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), opts.publicKey, Buffer.from(m[3], 'base64url'));
    if (!ok) return 'JWT signature does not verify with the App public key';
    const now = Math.floor(Date.now() / 1000);
    if (String(claims.iss) !== String(opts.appId)) return `JWT iss ${claims.iss} is not the App id`;
    if (!Number.isInteger(claims.iat) || claims.iat > now + 60) return 'JWT iat is in the future';
    if (!Number.isInteger(claims.exp) || claims.exp <= now) return 'JWT has expired';
    if (claims.exp > now + 600 + 5) return 'JWT exp is more than 10 minutes ahead';
    return null;
  }

  function handle(req, res, url, log) {
    const m = /^\/app\/installations\/([^/]+)\/access_tokens$/.exec(url.pathname);
    if (!m || req.method !== 'POST') return false;
    const problem = jwtProblem(req.headers.authorization);
    const send = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
      if (log) log(status);
    };
    if (problem) {
      st.refused_jwt++;
      st.jwt_errors.push(problem);
      return send(401, { message: `A JSON web token could not be decoded (${problem})` }), true;
    }
    if (m[1] !== String(opts.installationId)) return send(404, { message: 'Not Found' }), true;
    const token = 'ghs_' + crypto.randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36);
    tokens.set(token, Date.now() + ttl * 1000);
    st.issued++;
    const expiresAt = new Date(Date.now() + reported * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    send(201, { token, expires_at: expiresAt, permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' }, repository_selection: 'all' });
    return true;
  }

  function tokenOk(token) {
    const exp = tokens.get(token);
    if (exp === undefined) return false;
    if (exp <= Date.now()) { st.expired_seen++; return false; }
    return true;
  }

  return { handle, tokenOk, stats: () => ({ ...st }) };
}

// The App options from an entry point's command line ({'app-public-key': FILE, 'app-id',
// 'app-installation', 'app-token-ttl', 'app-token-reported'}), or null when no App.
function appFromArgs(o) {
  if (!o['app-public-key']) return null;
  return createAppAuth({
    publicKey: require('fs').readFileSync(o['app-public-key'], 'utf8'),
    appId: o['app-id'] || '1', installationId: o['app-installation'] || '1',
    ttl: o['app-token-ttl'] || 3600, reported: o['app-token-reported'],
  });
}

module.exports = { createAppAuth, appFromArgs };
