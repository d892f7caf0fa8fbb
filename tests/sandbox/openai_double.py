# openai_double.py - a scripted double of the OpenAI Responses API (POST /v1/responses, SSE) on a
# unix socket, for the codex runner test: the first turn calls the shell tool Codex offers
# (exec_command, shell or shell_command) to write codex.txt, the turn after the tool output
# answers with a message; usage on response.completed. Logs each request (path, bearer
# key, tools) to LOGFILE. usage: openai_double.py SOCKET LOGFILE
import json, sys, socket, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn, UnixStreamServer
LOG = open(sys.argv[2], "a")
n = [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        LOG.write("GET %s\n" % self.path); LOG.flush()
        b = b'{"data":[],"object":"list"}'
        self.send_response(200); self.send_header("content-type","application/json"); self.send_header("content-length",str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_POST(self):
        l = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(l) or b"{}")
        LOG.write("POST %s auth=%s tools=%s\n" % (self.path, self.headers.get("authorization"), [t.get("name") or t.get("type") for t in body.get("tools", [])])); LOG.flush()
        inp = body.get("input", [])
        done = any(isinstance(i, dict) and i.get("type") in ("function_call_output","custom_tool_call_output") for i in inp)
        n[0] += 1
        rid = "resp_%d" % n[0]
        if not done:
            names = [t.get("name") for t in body.get("tools", [])]
            if "shell" in names:
                item = {"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell","arguments":json.dumps({"command":["bash","-lc","echo hello from codex > codex.txt"]})}
            elif "exec_command" in names:
                item = {"type":"function_call","id":"fc_1","call_id":"call_1","name":"exec_command","arguments":json.dumps({"cmd":"echo hello from codex > codex.txt"})}
            else:
                item = {"type":"function_call","id":"fc_1","call_id":"call_1","name":"shell_command","arguments":json.dumps({"command":"echo hello from codex > codex.txt"})}
        else:
            item = {"type":"message","role":"assistant","id":"msg_1","content":[{"type":"output_text","text":"Done: wrote codex.txt.","annotations":[]}]}
        evs = [("response.created", {"type":"response.created","response":{"id":rid}}),
               ("response.output_item.done", {"type":"response.output_item.done","output_index":0,"item":item}),
               ("response.completed", {"type":"response.completed","response":{"id":rid,"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":0},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":107}}})]
        out = "".join("event: %s\ndata: %s\n\n" % (e, json.dumps(d)) for e, d in evs).encode()
        self.send_response(200); self.send_header("content-type","text/event-stream"); self.send_header("content-length",str(len(out))); self.end_headers(); self.wfile.write(out)
class S(ThreadingMixIn, UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        r, a = super().get_request(); return r, ("unix", 0)
path = sys.argv[1]
if os.path.exists(path): os.unlink(path)
S(path, H).serve_forever()
