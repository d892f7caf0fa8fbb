#!/usr/bin/env node
// double.js - a scripted double of the Anthropic Messages API for the gateway's tests:
// POST /v1/messages (JSON or SSE stream with message_start / content_block_* /
// message_delta usage / message_stop), tool use (a tool_use turn when tools are offered and
// no tool_result came back yet, then a text turn), POST /v1/messages/count_tokens,
// GET /v1/models. Only the configured key is accepted (x-api-key). Control port: POST /mode
// {"mode":"ok|500|429|stall|refuse|slowstream|bigstream","count":N}, GET /stats, POST /reset,
// POST /script {"tools":[{"name","input"}],"text"}: the scripted tool calls, made one per
// turn in order (the number of tool_results so far picks the next), then the text.
// bigstream: a streamed answer of about 16 MiB of text deltas, written as fast as the
// socket takes it (for the gateway's backpressure test).
// Usage: double.js --port P --control-port C --key KEY
'use strict';
const { makeDouble, args } = require('../common.js');
const a = args();
let msgSeq = 0;

const error = (type, message) => ({ type: 'error', error: { type, message } });

function lastUserHasToolResult(body) {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  const last = msgs[msgs.length - 1];
  return !!(last && Array.isArray(last.content) && last.content.some((c) => c && c.type === 'tool_result'));
}

function toolResults(body) {
  const msgs = Array.isArray(body.messages) ? body.messages : [];
  let n = 0;
  for (const m of msgs) if (m && Array.isArray(m.content)) n += m.content.filter((c) => c && c.type === 'tool_result').length;
  return n;
}

// What the double answers: a tool call when a tool is offered and none has run yet (or
// the script's next call), else text.
function plan(body, st) {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  if (st && st.script) {
    const n = toolResults(body);
    const next = st.script.tools[n];
    if (next && tools.some((t) => t.name === next.name)) return { kind: 'tool', name: next.name, input: next.input };
    return { kind: 'text', text: st.script.text || (n ? 'Done: the change is made.' : 'Hello from the Anthropic double.') };
  }
  const want = process.env.DOUBLE_TOOL || 'Bash';
  const tool = tools.find((t) => t.name === want);
  if (tool && !lastUserHasToolResult(body)) {
    const input = process.env.DOUBLE_TOOL_INPUT ? JSON.parse(process.env.DOUBLE_TOOL_INPUT)
      : { command: 'echo jido-gateway-ok > proof.txt', description: 'Write the proof file' };
    return { kind: 'tool', name: tool.name, input };
  }
  return { kind: 'text', text: lastUserHasToolResult(body) ? 'Done: the command ran.' : 'Hello from the Anthropic double.' };
}

function usageFor(rawLen, p) {
  return {
    input_tokens: 10 + Math.floor(rawLen / 50),
    cache_creation_input_tokens: 2,
    cache_read_input_tokens: 4,
    output_tokens: p.kind === 'tool' ? 25 : 5 + Math.ceil(p.text.length / 4),
  };
}

function account(st, u) {
  for (const k of Object.keys(st.usage)) st.usage[k] += u[k] || 0;
}

function sse(res, event, data) {
  return res.write('event: ' + event + '\ndata: ' + JSON.stringify(data) + '\n\n');
}

function route(req, res, path, body, rawLen, x) {
  const { st, send } = x;
  if (req.method === 'GET' && path === '/v1/models') {
    return send(res, 200, { data: [{ type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' }], has_more: false, first_id: 'claude-sonnet-4-5-20250929', last_id: 'claude-sonnet-4-5-20250929' });
  }
  if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
    return send(res, 200, { input_tokens: 10 + Math.floor(rawLen / 50) });
  }
  if (req.method !== 'POST' || path !== '/v1/messages') return send(res, 404, error('not_found_error', 'double: no such endpoint'));
  if (typeof body.model !== 'string' || !Array.isArray(body.messages) || typeof body.max_tokens !== 'number') {
    return send(res, 400, error('invalid_request_error', 'double: model, messages and max_tokens are required'));
  }
  const p = plan(body, st);
  const u = usageFor(rawLen, p);
  const id = 'msg_double_' + (++msgSeq);
  const content = p.kind === 'tool'
    ? [{ type: 'tool_use', id: 'toolu_double_' + msgSeq, name: p.name, input: p.input }]
    : [{ type: 'text', text: p.text }];
  const stop = p.kind === 'tool' ? 'tool_use' : 'end_turn';
  if (!body.stream) {
    account(st, u);
    st.completed++;
    return send(res, 200, { id, type: 'message', role: 'assistant', model: body.model, content, stop_reason: stop, stop_sequence: null, usage: u });
  }
  x.countStatus(200);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_double_' + st.requests });
  sse(res, 'message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: u.input_tokens, cache_creation_input_tokens: u.cache_creation_input_tokens, cache_read_input_tokens: u.cache_read_input_tokens, output_tokens: 1 } } });
  // message_start's input usage is billed even when the stream is cut short
  const inputOnly = { input_tokens: u.input_tokens, cache_creation_input_tokens: u.cache_creation_input_tokens, cache_read_input_tokens: u.cache_read_input_tokens };
  const pieces = [];
  if (p.kind === 'tool') {
    pieces.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: content[0].id, name: p.name, input: {} } }]);
    const js = JSON.stringify(p.input);
    for (let i = 0; i < js.length; i += 16) pieces.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: js.slice(i, i + 16) } }]);
  } else {
    pieces.push(['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }]);
    pieces.push(['ping', { type: 'ping' }]);
    const words = p.text.match(/\S+\s*/g) || [p.text];
    for (const w of words) pieces.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: w } }]);
  }
  if (x.mode === 'slowstream') {
    for (let i = 0; i < 40; i++) pieces.splice(2, 0, ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '.' } }]);
  }
  if (x.mode === 'bigstream') {
    const chunk = 'x'.repeat(16384);
    for (let i = 0; i < 1024; i++) pieces.splice(2, 0, ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: chunk } }]);
  }
  pieces.push(['content_block_stop', { type: 'content_block_stop', index: 0 }]);
  pieces.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: u.output_tokens } }]);
  pieces.push(['message_stop', { type: 'message_stop' }]);
  let i = 0, done = false;
  res.on('close', () => {
    if (!done) { st.aborted++; account(st, inputOnly); }
  });
  const delay = x.mode === 'slowstream' ? 100 : 0;
  const step = () => {
    if (res.destroyed) return;
    if (i === pieces.length) { done = true; account(st, u); st.completed++; return res.end(); }
    const more = sse(res, pieces[i][0], pieces[i][1]);
    i++;
    if (delay) setTimeout(step, delay);
    else if (x.mode === 'bigstream' && !more) res.once('drain', step); // node's own buffer stays small
    else setImmediate(step);
  };
  step();
}

makeDouble({
  port: Number(a.port), controlPort: Number(a['control-port']), key: a.key,
  keyOf: (req) => req.headers['x-api-key'] || null,
  error, route,
});
