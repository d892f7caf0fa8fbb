// gitops_openapi.js - checks a REST request against GitHub's official OpenAPI description
// (npm @octokit/openapi, generated/api.github.com.json): the operation must exist for the
// method and path, path and query parameters must match their schemas (unknown query
// parameters are refused), and a JSON body must validate against the operation's
// requestBody schema. Small self-contained JSON-schema subset: $ref, type, nullable, enum,
// properties, required, additionalProperties, items, oneOf/anyOf/allOf, lengths, bounds.
'use strict';
const fs = require('fs');
const path = require('path');

function loadSpec() {
  const file = process.env.JIDO_GITHUB_OPENAPI ||
    require.resolve('@octokit/openapi/generated/api.github.com.json', { paths: [__dirname] });
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function createValidator(spec) {
  spec = spec || loadSpec();
  const routes = [];
  for (const [tpl, item] of Object.entries(spec.paths)) {
    const names = [];
    const re = new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
      .replace(/\{([^}]+)\}/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '$');
    const literal = tpl.split('/').filter((s) => s && !s.startsWith('{')).length;
    for (const m of ['get', 'post', 'put', 'patch', 'delete']) {
      if (item[m]) routes.push({ method: m.toUpperCase(), tpl, re, names, literal, op: item[m],
        common: item.parameters || [] });
    }
  }
  routes.sort((a, b) => b.literal - a.literal);

  function deref(s) {
    let guard = 0;
    while (s && s.$ref && guard++ < 32) {
      const parts = s.$ref.replace(/^#\//, '').split('/');
      s = parts.reduce((o, k) => (o ? o[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), spec);
    }
    return s;
  }

  function typeOf(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
    return typeof v;
  }

  // Validate v against schema s; push messages onto errs with the JSON path at.
  function check(s, v, at, errs, depth) {
    s = deref(s);
    if (!s || depth > 40) return;
    if (s.allOf) for (const sub of s.allOf) check(sub, v, at, errs, depth + 1);
    if (s.oneOf || s.anyOf) {
      const alts = s.oneOf || s.anyOf;
      const ok = alts.filter((sub) => { const e = []; check(sub, v, at, e, depth + 1); return e.length === 0; });
      if (ok.length === 0 || (s.oneOf && ok.length > 1 && !alts.every((a) => deref(a).type === deref(alts[0]).type)))
        errs.push(`${at}: matches ${ok.length} of the ${s.oneOf ? 'oneOf' : 'anyOf'} alternatives`);
    }
    if (v === null && (s.nullable || (Array.isArray(s.type) && s.type.includes('null')))) return;
    if (s.type) {
      const want = Array.isArray(s.type) ? s.type : [s.type];
      const t = typeOf(v);
      if (!want.includes(t) && !(t === 'integer' && want.includes('number'))) {
        errs.push(`${at}: expected ${want.join('|')}, got ${t}`);
        return;
      }
    }
    if (s.enum && !s.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in enum`);
    if (typeof v === 'string') {
      if (s.minLength !== undefined && v.length < s.minLength) errs.push(`${at}: shorter than ${s.minLength}`);
      if (s.maxLength !== undefined && v.length > s.maxLength) errs.push(`${at}: longer than ${s.maxLength}`);
      if (s.pattern) { try { if (!new RegExp(s.pattern, 'u').test(v)) errs.push(`${at}: does not match ${s.pattern}`); } catch (e) { /* non-JS pattern */ } }
    }
    if (typeof v === 'number') {
      if (s.minimum !== undefined && v < s.minimum) errs.push(`${at}: below ${s.minimum}`);
      if (s.maximum !== undefined && v > s.maximum) errs.push(`${at}: above ${s.maximum}`);
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < s.minItems) errs.push(`${at}: fewer than ${s.minItems} items`);
      if (s.maxItems !== undefined && v.length > s.maxItems) errs.push(`${at}: more than ${s.maxItems} items`);
      if (s.items) v.forEach((x, i) => check(s.items, x, `${at}[${i}]`, errs, depth + 1));
    } else if (v && typeof v === 'object') {
      const props = s.properties || {};
      for (const r of s.required || []) if (!(r in v)) errs.push(`${at}: missing required ${r}`);
      for (const [k, x] of Object.entries(v)) {
        if (props[k]) check(props[k], x, `${at}.${k}`, errs, depth + 1);
        else if (s.additionalProperties === false) errs.push(`${at}: unknown property ${k}`);
        else if (s.additionalProperties && typeof s.additionalProperties === 'object')
          check(s.additionalProperties, x, `${at}.${k}`, errs, depth + 1);
      }
    }
  }

  // Parameter values arrive as text: coerce to the schema's type before checking.
  function coerce(schema, text) {
    const s = deref(schema) || {};
    const t = Array.isArray(s.type) ? s.type[0] : s.type;
    if (t === 'integer' || t === 'number') return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    if (t === 'boolean') return text === 'true' ? true : text === 'false' ? false : text;
    if (t === 'array') return text.split(',');
    return text;
  }

  // { ok, operationId, errors } for one request. body: parsed JSON or undefined.
  function validate(method, url, body) {
    const u = new URL(url, 'http://x');
    const route = routes.find((r) => r.method === method && r.re.test(u.pathname));
    if (!route) return { ok: false, operationId: null, errors: [`no operation ${method} ${u.pathname}`] };
    const errs = [];
    const m = route.re.exec(u.pathname);
    const params = [...route.common, ...(route.op.parameters || [])].map(deref);
    route.names.forEach((n, i) => {
      const p = params.find((x) => x.in === 'path' && x.name === n);
      if (p) check(p.schema, coerce(p.schema, decodeURIComponent(m[i + 1])), `path.${n}`, errs, 0);
    });
    const seen = new Set();
    for (const [k, val] of u.searchParams) {
      seen.add(k);
      const p = params.find((x) => x.in === 'query' && x.name === k);
      if (!p) { errs.push(`query.${k}: not a parameter of ${route.op.operationId}`); continue; }
      check(p.schema, coerce(p.schema, val), `query.${k}`, errs, 0);
    }
    for (const p of params) if (p.in === 'query' && p.required && !seen.has(p.name)) errs.push(`query.${p.name}: required`);
    const rb = deref(route.op.requestBody);
    if (body !== undefined) {
      const schema = rb && rb.content && rb.content['application/json'] && rb.content['application/json'].schema;
      if (!schema) errs.push(`body: ${route.op.operationId} takes no JSON body`);
      else check(schema, body, 'body', errs, 0);
    } else if (rb && rb.required) errs.push('body: required');
    return { ok: errs.length === 0, operationId: route.op.operationId, errors: errs };
  }

  return { validate };
}

module.exports = { createValidator, loadSpec };
