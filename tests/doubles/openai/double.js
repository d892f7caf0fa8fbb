#!/usr/bin/env node
// double.js - a scripted double of an OpenAI-compatible API for the gateway's tests:
// POST /v1/chat/completions (JSON, or SSE chunks ending in data: [DONE], with the final
// usage chunk when stream_options.include_usage is set; tool_calls when tools are offered
// and no tool message came back yet), POST /v1/responses (JSON, or SSE events ending in
// response.completed with usage), GET /v1/models. Only the configured key is accepted
// (Authorization: Bearer). Control port as in ../common.js.
// Usage: double.js --port P --control-port C --key KEY
'use strict';
const { makeDouble, args } = require('../common.js');
const a = args();
let seq = 0;

const error = (type, message) => ({ error: { message, type, param: null, code: null } });
const now = () => Math.floor(Date.now() / 1000);

function usageFor(rawLen, text) {
  const prompt = 20 + Math.floor(rawLen / 40);
  return { prompt, cached: 8, completion: 3 + Math.ceil(text.length / 4) };
}

function account(st, u) {
  st.usage.input_tokens += u.prompt;
  st.usage.cache_read_input_tokens += u.cached;
  st.usage.output_tokens += u.completion;
}

function chat(req, res, body, rawLen, x) {
  const { st, send } = x;
  if (typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    return send(res, 400, error('invalid_request_error', 'double: model and messages are required'));
  }
  const id = 'chatcmpl-double' + (++seq);
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const toolTurn = tools.length > 0 && !body.messages.some((m) => m && m.role === 'tool');
  const text = toolTurn ? '' : 'Hello from the OpenAI double.';
  const u = usageFor(rawLen, toolTurn ? 'xxxxxxxxxxxxxxxxxxxx' : text);
  const usage = { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion,
    prompt_tokens_details: { cached_tokens: u.cached, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
  const call = toolTurn ? [{ id: 'call_double' + seq, type: 'function', function: { name: tools[0].function.name, arguments: '{}' } }] : null;
  if (!body.stream) {
    account(st, u);
    st.completed++;
    return send(res, 200, { id, object: 'chat.completion', created: now(), model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: toolTurn ? null : text, refusal: null, ...(call ? { tool_calls: call } : {}) }, logprobs: null, finish_reason: toolTurn ? 'tool_calls' : 'stop' }],
      usage });
  }
  const withUsage = !!(body.stream_options && body.stream_options.include_usage);
  x.countStatus(200);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  const base = { id, object: 'chat.completion.chunk', created: now(), model: body.model, system_fingerprint: 'fp_double' };
  const out = (o) => res.write('data: ' + JSON.stringify(Object.assign({}, base, o, withUsage ? { usage: o.usage || null } : {})) + '\n\n');
  out({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
  if (call) out({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, ...call[0] }] }, logprobs: null, finish_reason: null }] });
  for (const w of text.match(/\S+\s*/g) || []) out({ choices: [{ index: 0, delta: { content: w }, logprobs: null, finish_reason: null }] });
  out({ choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: toolTurn ? 'tool_calls' : 'stop' }] });
  if (withUsage) out({ choices: [], usage });
  res.write('data: [DONE]\n\n');
  account(st, u);
  st.completed++;
  res.end();
}

function responses(req, res, body, rawLen, x) {
  const { st, send } = x;
  if (typeof body.model !== 'string' || body.input === undefined) {
    return send(res, 400, error('invalid_request_error', 'double: model and input are required'));
  }
  const text = 'Hello from the Responses double.';
  const u = usageFor(rawLen, text);
  const id = 'resp_double' + (++seq);
  const usage = { input_tokens: u.prompt, input_tokens_details: { cached_tokens: u.cached }, output_tokens: u.completion,
    output_tokens_details: { reasoning_tokens: 0 }, total_tokens: u.prompt + u.completion };
  const item = { type: 'message', id: 'msg_double' + seq, status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] };
  const resp = (status, output, us) => ({ id, object: 'response', created_at: now(), status, model: body.model, output, usage: us });
  if (!body.stream) {
    account(st, u);
    st.completed++;
    return send(res, 200, resp('completed', [item], usage));
  }
  x.countStatus(200);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
  let n = 0;
  const ev = (type, o) => res.write('event: ' + type + '\ndata: ' + JSON.stringify(Object.assign({ type, sequence_number: n++ }, o)) + '\n\n');
  ev('response.created', { response: resp('in_progress', [], null) });
  for (const w of text.match(/\S+\s*/g)) ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: w });
  ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text });
  ev('response.completed', { response: resp('completed', [item], usage) });
  account(st, u);
  st.completed++;
  res.end();
}

function route(req, res, path, body, rawLen, x) {
  if (req.method === 'GET' && path === '/v1/models') {
    return x.send(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'double' }] });
  }
  if (req.method === 'POST' && path === '/v1/chat/completions') return chat(req, res, body, rawLen, x);
  if (req.method === 'POST' && path === '/v1/responses') return responses(req, res, body, rawLen, x);
  return x.send(res, 404, error('invalid_request_error', 'double: no such endpoint'));
}

makeDouble({
  port: Number(a.port), controlPort: Number(a['control-port']), key: a.key,
  keyOf: (req) => { const h = req.headers.authorization || ''; return h.startsWith('Bearer ') ? h.slice(7) : null; },
  error, route,
});
