#!/usr/bin/env python3
"""web_fake.py HOME - stand-ins for the processes jido-web talks to, for tests/e2e/web*.sh
while the real planner (issue 6) and friends are not merged: it speaks nng's SP protocol
over ipc itself (REP0 on run/<proc>.sock, PUB0 on run/runs.pub and run/logs.pub) and
answers like the real ones do (shapes copied from the planner's run_json / workbench and
the executor's logs.line). Every process answers <proc>.health READY. The planner keeps
runs in memory; a created run publishes its transitions and five log lines, then waits
for approval. audit.append records go to HOME/fake-audit.jsonl; while HOME/fake-audit-fail
exists the auditor refuses (unavailable). Every request is appended to HOME/fake-calls.jsonl.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

HOME = sys.argv[1]
RUN = os.path.join(HOME, "run")
REP0, PUB0 = 0x31, 0x20
LOCK = threading.RLock()
START = time.time()


def header(proto):
    return b"\x00SP\x00" + struct.pack(">H", proto) + b"\x00\x00"


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        got = c.recv(n - len(buf))
        if not got:
            raise EOFError
        buf += got
    return buf


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(64)
    return s


def log_call(msg):
    """Log a request; secret values are replaced by their length (a real vault never logs
    them either), so the test can check the web did not leak them elsewhere."""
    m = json.loads(json.dumps(msg))
    if isinstance(m.get("data"), dict) and "value" in m["data"]:
        m["data"]["value"] = "(%d bytes)" % len(str(m["data"]["value"]))
    with LOCK, open(os.path.join(HOME, "fake-calls.jsonl"), "a") as f:
        f.write(json.dumps(m) + "\n")


# ------------------------------------------------------------------ publishers
class Pub:
    def __init__(self, topic):
        self.conns = []
        self.sock = listen(os.path.join(RUN, topic + ".pub"))
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.sock.accept()
            try:
                c.sendall(header(PUB0))
                recv_exact(c, 8)
            except (OSError, EOFError):
                c.close()
                continue
            with LOCK:
                self.conns.append(c)

    def send(self, type_, corr, data):
        body = json.dumps({"v": 1, "type": type_, "id": os.urandom(8).hex(), "corr": corr,
                           "data": data}).encode()
        frame = b"\x01" + struct.pack(">Q", len(body)) + body
        with LOCK:
            for c in list(self.conns):
                try:
                    c.sendall(frame)
                except OSError:
                    self.conns.remove(c)


# ------------------------------------------------------------------ the planner
def now_ms():
    return int(time.time() * 1000)


SETTINGS = {"default_branch": "main", "branch_prefix": "jidocode/", "setup_command": "",
            "build_command": "", "test_command": "", "runner": "claude", "model": "",
            "triggers": {"issue_opened": "issue_triage"}, "auto_ship": False,
            "auto_post": False, "max_diff_lines": 500, "forbidden_paths": [],
            "allowed_paths": [], "pr": {"draft": True}, "stale_days": 14}
PROJECTS = {1: {"id": 1, "full_name": "acme/widgets", "enabled": True,
                "settings": dict(SETTINGS), "clone_status": "ready", "clone_error": None,
                "created_ms": now_ms()}}
ITEMS = {"acme/widgets": [
    {"number": 7, "pr": False, "title": "Crash on <empty> input & \"quotes\"",
     "activity_ms": now_ms() - 3600_000},
    {"number": 9, "pr": False, "title": "Old stale bug", "activity_ms": now_ms() - 40 * 86400_000,
     "url": "javascript:alert(1)"},
    {"number": 12, "pr": True, "title": "Add a feature", "activity_ms": now_ms() - 7200_000}]}
RUNS = {}
SECRETS = {"web.session_key": ("k" * 32, 1)}
STATE = {"paused": False, "seq": 0}
WORKFLOWS = {"issue_triage", "fix_issue", "fix_failing_tests"}


class Fail(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def project_of(d):
    v = d.get("project", d.get("id"))
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise Fail("validation_error", "data.project: must be a project id or full name")
    for p in PROJECTS.values():
        if p["id"] == v or p["full_name"] == v:
            return p
    raise Fail("not_found", "no project '%s'" % v)


def run_view(r, steps=False):
    out = {k: v for k, v in r.items() if k not in ("steps", "transitions")}
    if steps:
        out["steps"] = r["steps"]
        out["transitions"] = r["transitions"]
    return out


def transition(r, seq, frm, to, reason):
    t = {"from": frm, "to": to, "reason": reason, "at_ms": now_ms()}
    if seq:
        t["seq"] = seq
    r["transitions"].append(t)
    d = {"run_id": r["id"], "from": frm, "to": to, "reason": reason, "at_ms": t["at_ms"]}
    if seq:
        d["seq"] = seq
    PUBS["runs"].send("runs.step" if seq else "runs.state", r["id"], d)


def drive(run_id):
    """What the real stack does after a kickoff: run, log, then wait for approval."""
    time.sleep(0.3)
    with LOCK:
        r = RUNS[run_id]
        if r["state"] != "pending":   # cancelled meanwhile: the real planner stops too
            return
        r["state"] = "running"
    transition(r, 0, "pending", "running", "started")
    r["steps"][0]["state"] = "running"
    transition(r, 1, "pending", "running", "dispatched")
    for i in range(1, 6):
        PUBS["logs"].send("logs.line", run_id, {"run_id": run_id, "step": "code",
                                                 "stream": "stdout", "seq": i,
                                                 "line": "working <line> %d" % i})
        time.sleep(0.1)
    with LOCK:
        if r["state"] != "running":
            return
    r["steps"][0]["state"] = "done"
    r["steps"][0]["result"] = {"diff": "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-old <b>\n+new <b>\n"}
    r["steps"][0]["usage"] = {"cost_usd": 0.0123}
    transition(r, 1, "running", "done", "step finished")
    r["steps"].append({"seq": 2, "step": "approve", "kind": "approval",
                       "state": "awaiting_approval", "attempt": 1, "queued": None,
                       "result": {}, "usage": {}, "artifacts": [], "error": None})
    r["state"] = "awaiting_approval"
    r["approval"] = {"diff_summary": "1 file, +1 -1", "tests": "passed", "risk": "low",
                     "cost_usd": 0.0123}
    r["cost_usd"] = 0.0123
    transition(r, 0, "running", "awaiting_approval", "approval gate")


def new_run(p, workflow, issue, actor, parent=None, attempt=1):
    if workflow not in WORKFLOWS:
        raise Fail("not_found", "workflow '%s' is not loaded" % workflow)
    STATE["seq"] += 1
    rid = "r%04d%s" % (STATE["seq"], os.urandom(3).hex())
    r = {"id": rid, "project_id": p["id"], "project": p["full_name"], "workflow": workflow,
         "workflow_version": 1, "workflow_hash": "0" * 64, "state": "pending",
         "outcome": None, "parked": None, "issue": issue, "dry_run": False,
         "trigger": "manual" if parent is None else "retry", "delivery": None, "actor": actor,
         "parent_id": parent, "attempt": attempt, "failure": None, "approval": {},
         "cost_usd": 0.0, "created_ms": now_ms(), "updated_ms": now_ms(),
         "steps": [{"seq": 1, "step": "code", "kind": "agent", "state": "pending",
                    "attempt": 1, "queued": None, "result": {}, "usage": {},
                    "artifacts": [], "error": None}], "transitions": []}
    RUNS[rid] = r
    transition(r, 0, None, "pending", "created")
    threading.Thread(target=drive, args=(rid,), daemon=True).start()
    return r


def rationale_ok(d):
    ra = d.get("rationale")
    if not isinstance(ra, str) or len(ra.strip()) < 10:
        raise Fail("validation_error",
                   "data.rationale: a written rationale of at least 10 characters is required")


def planner(verb, d):
    if verb == "projects.list":
        return {"projects": sorted(PROJECTS.values(), key=lambda p: p["full_name"])}
    if verb == "projects.get":
        return project_of(d)
    if verb == "projects.update":
        p = project_of(d)
        if "enabled" in d and not isinstance(d["enabled"], bool):
            raise Fail("validation_error", "data.enabled: must be true or false")
        s = d.get("settings", {})
        if not isinstance(s, dict):
            raise Fail("validation_error", "settings must be an object")
        for k in s:
            if k not in SETTINGS:
                raise Fail("validation_error", "settings.%s: unknown setting" % k)
        p["settings"].update(s)
        if "enabled" in d:
            p["enabled"] = d["enabled"]
        return p
    if verb == "projects.import":
        repos = d.get("repos")
        if repos is None:
            raise Fail("unavailable", "ingest did not answer ingest.repos: pass data.repos explicitly")
        if not isinstance(repos, list) or not repos:
            raise Fail("validation_error", "data.repos: must be an array of 1 to 1000 repos (owner/name)")
        created, existing = [], []
        for i, n in enumerate(repos):
            if not isinstance(n, str) or n.count("/") != 1 or n.startswith("/") or n.endswith("/"):
                raise Fail("validation_error", "data.repos[%d]: must be a repo full name (owner/name)" % i)
        for n in repos:
            if any(p["full_name"] == n for p in PROJECTS.values()):
                existing.append(n)
                continue
            pid = max(PROJECTS) + 1
            PROJECTS[pid] = {"id": pid, "full_name": n, "enabled": True,
                             "settings": dict(SETTINGS), "clone_status": "pending",
                             "clone_error": None, "created_ms": now_ms()}
            created.append(n)
        return {"created": created, "existing": existing}
    if verb == "workbench":
        repos = []
        for p in sorted(PROJECTS.values(), key=lambda p: p["full_name"]):
            items = ITEMS.get(p["full_name"], [])
            repo = {"project_id": p["id"], "full_name": p["full_name"], "enabled": p["enabled"],
                    "clone_status": p["clone_status"]}
            stale_before = now_ms() - 14 * 86400_000
            for pr in (False, True):
                lst = []
                for it in sorted(items, key=lambda i: -i["activity_ms"]):
                    if it["pr"] != pr:
                        continue
                    runs = [r for r in RUNS.values() if r["project_id"] == p["id"]
                            and r["issue"] == it["number"]]
                    latest = max(runs, key=lambda r: r["created_ms"]) if runs else None
                    lst.append({"number": it["number"], "title": it["title"], "labels": [],
                                "assignees": [], "activity_ms": it["activity_ms"],
                                "url": it.get("url", "https://github.com/%s/issues/%d" % (p["full_name"], it["number"])),
                                "stale": it["activity_ms"] < stale_before,
                                "latest_run": {"id": latest["id"], "state": latest["state"]} if latest else None})
                key = "open_prs" if pr else "open_issues"
                repo[key] = lst
                repo["open_pr_count" if pr else "open_issue_count"] = len(lst)
                repo["stale_pr_count" if pr else "stale_issue_count"] = sum(1 for i in lst if i["stale"])
            runs = [r for r in RUNS.values() if r["project_id"] == p["id"]]
            latest = max(runs, key=lambda r: r["created_ms"]) if runs else None
            repo["latest_run"] = {"id": latest["id"], "state": latest["state"],
                                  "workflow": latest["workflow"]} if latest else None
            repos.append(repo)
        return {"repos": repos}
    if verb == "runs.create":
        p = project_of(d)
        wf = d.get("workflow")
        if not isinstance(wf, str) or not wf:
            raise Fail("validation_error", "data.workflow: missing")
        issue = d.get("issue", 0)
        if isinstance(issue, bool) or not isinstance(issue, int) or issue < 0:
            raise Fail("validation_error", "data.issue: must be an issue number")
        return run_view(new_run(p, wf, issue, d.get("actor", "owner")))
    if verb == "runs.get":
        r = RUNS.get(d.get("run_id"))
        if r is None:
            raise Fail("not_found", "no run '%s'" % d.get("run_id"))
        return run_view(r, True)
    if verb == "runs.list":
        runs = sorted(RUNS.values(), key=lambda r: -r["created_ms"])
        if "state" in d:
            runs = [r for r in runs if r["state"] == d["state"]]
        if "project" in d:
            pid = project_of(d)["id"]
            runs = [r for r in runs if r["project_id"] == pid]
        return {"runs": [run_view(r) for r in runs[:d.get("limit", 100)]]}
    if verb == "runs.cancel":
        r = RUNS.get(d.get("run_id"))
        if r is None:
            raise Fail("not_found", "no run '%s'" % d.get("run_id"))
        if r["state"] in ("completed", "failed", "cancelled"):
            raise Fail("conflict", "run %s is %s" % (r["id"], r["state"]))
        old, r["state"] = r["state"], "cancelled"
        transition(r, 0, old, "cancelled", d.get("reason", "cancelled"))
        return run_view(r)
    if verb == "runs.retry":
        r = RUNS.get(d.get("run_id"))
        if r is None:
            raise Fail("not_found", "no run '%s'" % d.get("run_id"))
        if r["state"] not in ("failed", "cancelled"):
            raise Fail("conflict", "run %s is %s: only failed or cancelled runs can be retried"
                       % (r["id"], r["state"]))
        return run_view(new_run(PROJECTS[r["project_id"]], r["workflow"], r["issue"],
                                d.get("actor", "owner"), r["id"], r["attempt"] + 1))
    if verb == "approvals.list":
        runs = [run_view(r) for r in RUNS.values() if r["state"] == "awaiting_approval"]
        return {"runs": runs, "awaiting": len(runs), "flagged": 0}
    if verb == "approvals.decide":
        if d.get("decision") not in ("approve", "reject", "release"):
            raise Fail("validation_error", "data.decision: must be approve, reject or release")
        rationale_ok(d)
        r = RUNS.get(d.get("run_id"))
        if r is None:
            raise Fail("not_found", "no run '%s'" % d.get("run_id"))
        if r["state"] != "awaiting_approval":
            raise Fail("conflict", "run %s is %s, not awaiting_approval" % (r["id"], r["state"]))
        r["steps"][-1]["state"] = "done" if d["decision"] == "approve" else "failed"
        if d["decision"] == "approve":
            r["state"], r["outcome"] = "completed", "done"
            r["steps"][-1]["artifacts"] = [{"pr_url": "https://github.com/%s/pull/99" % r["project"]}]
        else:
            r["state"], r["outcome"] = "cancelled", "rejected"
        transition(r, 0, "awaiting_approval", r["state"], "%s by the owner" % d["decision"])
        return run_view(r)
    if verb == "approvals.kill_switch":
        if "paused" in d:
            if not isinstance(d["paused"], bool):
                raise Fail("validation_error", "data.paused: must be true or false")
            rationale_ok(d)
            STATE["paused"] = d["paused"]
        return {"paused": STATE["paused"], "flagged": 0}
    if verb == "deliveries.list":
        return {"deliveries": []}
    raise Fail("validation_error", "unknown type 'planner.%s'" % verb)


def handle(proc, msg):
    t, d = msg.get("type", ""), msg.get("data", {})
    if t == proc + ".health":
        return {"name": proc, "state": "READY", "pid": os.getpid(),
                "uptime_s": int(time.time() - START), "version": "fake"}
    if proc == "planner" and t.startswith("planner."):
        with LOCK:
            return planner(t[len("planner."):], d)
    if proc == "auditor" and t == "audit.append":
        if os.path.exists(os.path.join(HOME, "fake-audit-fail")):
            raise Fail("unavailable", "the audit log is not writable")
        with LOCK, open(os.path.join(HOME, "fake-audit.jsonl"), "a") as f:
            f.write(json.dumps(d) + "\n")
        return {"seq": 1}
    if proc == "vault":
        cred = d.get("cred")
        if not isinstance(cred, str) or len(cred) != 64:
            raise Fail("authorization_error", "caller not recognised")
        if t == "vault.get":
            if d.get("name") != "web.session_key":
                raise Fail("authorization_error", "web may not read %s" % d.get("name"))
            return {"name": "web.session_key", "scope": "instance", "version": 1,
                    "value": SECRETS["web.session_key"][0]}
        if t == "vault.status":
            return {"secrets": len(SECRETS), "due": []}
        if t == "vault.list":
            return {"secrets": [{"name": n, "scope": "instance", "version": v[1], "versions": v[1],
                                 "created_at": "2026-11-01T00:00:00Z", "rotated_at": "2026-11-20T00:00:00Z",
                                 "expires_at": None, "max_age_s": 0, "due": False, "expired": False}
                                for n, v in sorted(SECRETS.items())]}
        if t in ("vault.put", "vault.rotate"):
            n, v = d.get("name"), d.get("value")
            if not isinstance(n, str) or not isinstance(v, str) or not v:
                raise Fail("validation_error", "data.name and data.value are required")
            if t == "vault.put" and n in SECRETS:
                raise Fail("conflict", "secret %s (instance) already exists: use rotate" % n)
            if t == "vault.rotate" and n not in SECRETS:
                raise Fail("not_found", "no secret %s" % n)
            SECRETS[n] = (v, SECRETS.get(n, (None, 0))[1] + 1)
            with open(os.path.join(HOME, "fake-vault.json"), "w") as f:
                json.dump({k: x[0] for k, x in SECRETS.items()}, f)
            return {"name": n, "scope": "instance", "version": SECRETS[n][1]}
    if proc == "ingest" and t == "ingest.repos":
        if "github.token" not in SECRETS:
            raise Fail("secret_unavailable", "no GitHub token in the vault")
        if SECRETS["github.token"][0].startswith("ghp_bad"):
            raise Fail("provider_error", "GitHub answered 401 Bad credentials")
        return {"repos": [{"full_name": "acme/widgets"}, {"full_name": "acme/<tools>"}]}
    if proc == "gateway" and t == "gateway.usage.summary":
        row = lambda k, v, req, i, o, c: {k: v, "requests": req, "input_tokens": i, "output_tokens": o, "cost_usd": c}
        return {"days": d.get("days", 30),
                "by_day": [row("day", "2026-12-01", 4, 1200, 300, 0.0123), row("day", "2026-12-02", 9, 5000, 900, 0.0456)],
                "by_project": [row("project", "acme/widgets", 13, 6200, 1200, 0.0579)],
                "by_model": [row("model", "claude-sonnet-4-5", 13, 6200, 1200, 0.0579)],
                "top_runs": [row("run_id", "run-<b>1", 13, 6200, 1200, 0.0579)]}
    if proc == "gateway" and t == "gateway.breakers":
        # the primary's breaker is open while the file fake-breaker-open exists
        opened = os.path.exists(os.path.join(HOME, "fake-breaker-open"))
        return {"upstreams": [
            {"name": "primary", "state": "open" if opened else "closed", "failures": 3 if opened else 0,
             "requests": 10, "successes": 7, "opens": 1 if opened else 0, "rejected": 0,
             "style": "anthropic", "base_url": "http://127.0.0.1:1", "priority": 1, "has_key": True},
            {"name": "secondary", "state": "closed", "failures": 0, "requests": 3, "successes": 3,
             "opens": 0, "rejected": 0, "style": "anthropic", "base_url": "http://127.0.0.1:2",
             "priority": 2, "has_key": True}]}
    if proc == "ingest" and t == "ingest.stats":
        return {"spool": {"pending": 0, "acked": 3}, "http": {"received": 5, "stored": 3,
                "duplicates": 1, "bad_signature": 1, "rate_limited": 0, "rejected": 0,
                "failed": 0}, "secret_loaded": True, "previous_secret": False}
    if proc == "ingest" and t == "ingest.deliveries.list":
        ping = os.path.exists(os.path.join(HOME, "fake-ping"))
        return {"deliveries": [{"delivery": "d1", "event": "ping", "status": "acked"}] if ping else []}
    raise Fail("validation_error", "unknown type '%s'" % t)


def serve_conn(proc, c):
    try:
        c.sendall(header(REP0))
        recv_exact(c, 8)
        while True:
            kind, n = struct.unpack(">BQ", recv_exact(c, 9))
            raw = recv_exact(c, n)
            hdr, body = raw[:4], raw[4:]
            try:
                msg = json.loads(body)
                log_call(msg)
                reply = {"v": 1, "id": msg.get("id"), "ok": True, "data": handle(proc, msg)}
            except Fail as e:
                reply = {"v": 1, "id": msg.get("id"), "ok": False,
                         "error": {"code": e.code, "message": e.message}}
            out = hdr + json.dumps(reply).encode()
            c.sendall(b"\x01" + struct.pack(">Q", len(out)) + out)
    except (OSError, EOFError, ValueError):
        pass
    finally:
        c.close()


def serve(proc):
    s = listen(os.path.join(RUN, proc + ".sock"))
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_conn, args=(proc, c), daemon=True).start()


os.makedirs(RUN, mode=0o700, exist_ok=True)
PUBS = {"runs": Pub("runs"), "logs": Pub("logs")}
for name in ("vault", "auditor", "planner", "gateway", "gitops", "executor", "ingest"):
    threading.Thread(target=serve, args=(name,), daemon=True).start()
with open(os.path.join(HOME, "fake-ready"), "w") as f:
    f.write("ok\n")
while True:
    time.sleep(3600)
