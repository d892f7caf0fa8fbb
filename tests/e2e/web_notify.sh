#!/usr/bin/env bash
# web_notify.sh - owner notifications against doubles of their three receivers (a Telegram
# Bot API, a JSON webhook that checks the HMAC signature, an ntfy server: one small HTTP
# server recording what it gets): a run that waits for approval is announced at once with
# a link, more events within the debounce window arrive together in one message, the
# webhook's signature verifies, the bot token never reaches the log, and a bad
# configuration is refused at start. Runs come from tests/e2e/web_fake.py.
. "$(dirname "$0")/../lib.sh"
t_home
top=$(cd "$(dirname "$0")/../.." && pwd)
python3 "$top/tests/e2e/web_fake.py" "$JIDO_HOME" 2>"$JIDO_HOME/fake.log" &
FAKE=$!
DPORT=$(t_free_port)
cat >"$JIDO_HOME/double.py" <<'EOF'
import http.server, json, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body}) + "\n")
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
        self.wfile.write(b'{"ok":true}')
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$JIDO_HOME/double.py" "$DPORT" "$JIDO_HOME/got.jsonl" &
DOUBLE=$!
WEB=""
cleanup_n() { kill $WEB "$FAKE" "$DOUBLE" 2>/dev/null; wait $WEB "$FAKE" "$DOUBLE" 2>/dev/null; t_cleanup; }
trap cleanup_n EXIT
t_wait 5 test -e "$JIDO_HOME/fake-ready" || { fail "fake stack did not start"; t_done; }

# start_web KIND URL [extra env...]: a web with notifications of KIND to URL
start_web() {
	local kind=$1 url=$2
	shift 2
	PORT=$(t_free_port)
	env JIDO_WEB_LISTEN="127.0.0.1:$PORT" JIDO_WEB_NOTIFY="$kind" JIDO_WEB_NOTIFY_URL="$url" \
	    JIDO_WEB_NOTIFY_DEBOUNCE_S=${DEBOUNCE:-2} JIDO_WEB_PUBLIC_URL=https://jido.example "$@" \
	    jido-web serve 2>>"$JIDO_HOME/web.log" &
	WEB=$!
	t_wait 5 curl -sf "http://127.0.0.1:$PORT/healthz"
	sleep 0.3 # the SUB sockets connect in the background
}
stop_web() { kill -TERM "$WEB"; wait "$WEB"; local rc=$?; WEB=""; return $rc; }
kick() { jido call planner planner.runs.create "{\"project\":1,\"workflow\":\"fix_issue\",\"issue\":$1}" | jq -r .id; }
got() { [ -f "$JIDO_HOME/got.jsonl" ] && wc -l <"$JIDO_HOME/got.jsonl" || echo 0; }

t_check "a bad notification setting is refused at start (exit 2)" sh -c "JIDO_HOME='$JIDO_HOME/x' JIDO_WEB_NOTIFY=pager JIDO_WEB_LISTEN=127.0.0.1:$(t_free_port) jido-web serve 2>&1 | grep -q 'web.notify must be'"
t_check "telegram without a chat is refused at start" sh -c "JIDO_HOME='$JIDO_HOME/x' JIDO_WEB_NOTIFY=telegram JIDO_WEB_NOTIFY_URL=http://127.0.0.1:1 JIDO_WEB_LISTEN=127.0.0.1:$(t_free_port) jido-web serve 2>&1 | grep -q 'web.notify_chat'"

# --- Telegram
DEBOUNCE=4 start_web telegram "http://127.0.0.1:$DPORT" JIDO_WEB_NOTIFY_CHAT=4242 JIDO_WEB_NOTIFY_SECRET=123456:bot-secret-token
r1=$(kick 7)
t_wait 5 sh -c "[ \$(wc -l <'$JIDO_HOME/got.jsonl' 2>/dev/null || echo 0) -ge 1 ]"
t_check "telegram: sendMessage to the bot's path with the chat and a link" sh -c "head -1 '$JIDO_HOME/got.jsonl' | jq -e '.path == \"/bot123456:bot-secret-token/sendMessage\" and (.body | fromjson | .chat_id == \"4242\" and (.text | contains(\"$r1 waits for your approval: https://jido.example/runs/$r1\")))' >/dev/null"
r2=$(kick 9); r3=$(kick 12)
sleep 1.2
t_check "debounce: nothing more inside the window" test "$(got)" -eq 1
t_wait 8 sh -c "[ \$(wc -l <'$JIDO_HOME/got.jsonl') -ge 2 ]"
t_check "debounce: the next two events arrive together in one message" sh -c "[ \$(wc -l <'$JIDO_HOME/got.jsonl') -eq 2 ] && sed -n 2p '$JIDO_HOME/got.jsonl' | jq -e '.body | fromjson | .text | contains(\"$r2\") and contains(\"$r3\")' >/dev/null"
stop_web
t_check "telegram: the bot token is not in the log" sh -c "! grep -q bot-secret-token '$JIDO_HOME/web.log'"
rm -f "$JIDO_HOME/got.jsonl"

# --- signed webhook
start_web webhook "http://127.0.0.1:$DPORT/hook" JIDO_WEB_NOTIFY_SECRET=hmac-key-1
r4=$(kick 7)
t_wait 5 test -s "$JIDO_HOME/got.jsonl"
t_check "webhook: JSON event with the link" sh -c "head -1 '$JIDO_HOME/got.jsonl' | jq -e '.path == \"/hook\" and (.body | fromjson | .event == \"jidocode.notification\" and (.text | contains(\"$r4\")))' >/dev/null"
t_check "webhook: X-Jido-Signature is HMAC-SHA256 of the raw body" python3 -c "
import hmac, hashlib, json
r = json.loads(open('$JIDO_HOME/got.jsonl').readline())
sig = r['headers'].get('X-Jido-Signature', '')
want = 'sha256=' + hmac.new(b'hmac-key-1', r['body'].encode(), hashlib.sha256).hexdigest()
raise SystemExit(0 if hmac.compare_digest(sig, want) else 1)"
stop_web
rm -f "$JIDO_HOME/got.jsonl"

# --- ntfy
start_web ntfy "http://127.0.0.1:$DPORT/jido-topic" JIDO_WEB_NOTIFY_SECRET=tk_ntfy
r5=$(kick 7)
t_wait 5 test -s "$JIDO_HOME/got.jsonl"
t_check "ntfy: the text posted to the topic with a title and the token" sh -c "head -1 '$JIDO_HOME/got.jsonl' | jq -e '.path == \"/jido-topic\" and .headers.Title == \"JidoCode\" and .headers.Authorization == \"Bearer tk_ntfy\" and (.body | contains(\"$r5 waits for your approval\"))' >/dev/null"
stop_web
t_check "jido-web exits 0 (notifier thread under seccomp)" test $? -eq 0
rm -f "$JIDO_HOME/got.jsonl"

# --- a provider breaker that opens is announced once, with a link to /agents
DEBOUNCE=1 start_web ntfy "http://127.0.0.1:$DPORT/jido-topic" JIDO_WEB_NOTIFY_BREAKER_POLL_S=1
sleep 1.5
t_check "breaker: nothing while every breaker is closed" test "$(got)" -eq 0
touch "$JIDO_HOME/fake-breaker-open"
t_wait 5 test -s "$JIDO_HOME/got.jsonl"
t_check "breaker: an opened breaker is announced with the upstream and a link" sh -c "head -1 '$JIDO_HOME/got.jsonl' | jq -e '.body | contains(\"breaker open: primary\") and contains(\"https://jido.example/agents\")' >/dev/null"
sleep 2.5
t_check "breaker: announced once while it stays open" test "$(got)" -eq 1
rm -f "$JIDO_HOME/fake-breaker-open"
sleep 1.5
touch "$JIDO_HOME/fake-breaker-open"
t_wait 5 sh -c "[ \$(wc -l <'$JIDO_HOME/got.jsonl') -ge 2 ]"
t_check "breaker: announced again when it opens again" test "$(got)" -eq 2
rm -f "$JIDO_HOME/fake-breaker-open"
stop_web
rm -f "$JIDO_HOME/got.jsonl"

# --- a receiver that is down: counted as failed, the web carries on
start_web ntfy "http://127.0.0.1:$(t_free_port)/down"
kick 7 >/dev/null
sleep 1.5
t_check "an unreachable receiver is counted as a failure in /metrics" sh -c "curl -s http://127.0.0.1:$PORT/metrics | grep -q 'jido_web_notifications_total{result=\"failed\"} 1'"
t_check "and the web still answers" curl -sf "http://127.0.0.1:$PORT/healthz" -o /dev/null
stop_web
t_done
