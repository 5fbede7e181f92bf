"""Outbound webhooks end to end: webhook.send from a route handler (also a
webhook handler and a GraphQL resolver) stores a delivery, the queue POSTs
it signed (Standard Webhooks) to a receiver on 127.0.0.1 with retries, and
`portico webhooks show` lists every attempt.

The receiver is a Python http.server in a thread whose answers are scripted
per path (500, 500, 429 + Retry-After, then 200; a sleep past the timeout;
4xx). Signatures are checked on the receiver's side per the Standard
Webhooks spec, and once with the official `standardwebhooks` npm package
when tests/integration/node/webhooks has its node_modules.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, BUILDDIR, HERE, free_port

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
KEY = b"portico-outbound-test-key-32-bytes!!"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
NODE_DIR = os.path.join(HERE, "node", "webhooks")

ROUTES = r'''
route.post("/send", function(req)
  local a = req:json()
  local id, second = webhook.send(a.target, a.event, a.opts)
  if not id then return 503, { error = second } end
  return { id = id, duplicate = second }
end)
route.post("/send_raw", function(req)
  -- arguments json cannot express: a function, a boolean target, a table opts.headers value
  local what = req.query.what
  if what == "fn" then return { id = webhook.send("http://127.0.0.1:9/", function() end, {}) } end
  if what == "bool" then return { id = webhook.send(true, {}, {}) } end
  if what == "hdrtable" then
    return { id = webhook.send("http://127.0.0.1:9/", {}, { secret = "%s", headers = { x = {} } }) }
  end
  if what == "cycle" then
    local t = {}; t.self = t
    return { id = webhook.send("http://127.0.0.1:9/", t, { secret = "%s" }) }
  end
  if what == "big" then
    return { id = webhook.send("http://127.0.0.1:9/", { big = string.rep("x", 1 << 20) },
                               { secret = "%s" }) }
  end
  return 404
end)
route.get("/fast", function() return "fast" end)
route.get("/misuse", function(req)
  local what = req.query.what
  if what == "pcall" then
    local ok, err = pcall(webhook.send, 5, {}, {})
    return { ok = ok, err = err }
  end
  if what == "coroutine" then
    local co = coroutine.create(function()
      return webhook.send("http://127.0.0.1:9/", {}, { secret = "%s" })
    end)
    local ok, err = coroutine.resume(co)
    return { ok = ok, err = err }
  end
  if what == "sort" then
    local ok, err = pcall(table.sort, { 1, 2, 3 }, function(a, b)
      webhook.send("http://127.0.0.1:9/", {}, { secret = "%s" })
      return a < b
    end)
    return { ok = ok, err = err }
  end
  return 404
end)
webhook.source("in", { path = "/hooks/in", scheme = "standard", secrets = { "%s" },
                       retry = { max = 3, base = 0.05, cap = 1 } }, function(event)
  local id, err = webhook.send(event.json.forward_to, { got = event.id },
                               { secret = "%s", id = "fwd-" .. event.id })
  if not id then return false, err end
end)
''' % ((SECRET,) * 7)


class Receiver:
    """A scripted HTTP receiver: per path, a list of answers used in order
    (then 200). An answer is (status, headers, sleep_seconds)."""

    def __init__(self):
        self.script = {}
        self.got = []
        self.lock = threading.Lock()
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                if self.path == "/huge":
                    n = int(self.headers.get("content-length", "0"))
                    self.rfile.read(n)
                    with rcv.lock:
                        rcv.got.append({"path": self.path, "headers": {}, "body": b"",
                                        "t": time.monotonic()})
                    big = b"x" * (9 << 20)
                    try:
                        self.send_response(200)
                        self.send_header("content-length", str(len(big)))
                        self.end_headers()
                        self.wfile.write(big)
                    except OSError:
                        pass
                    return
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                with rcv.lock:
                    rcv.got.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                   self.headers.items()},
                                    "body": body, "t": time.monotonic()})
                    plan = rcv.script.get(self.path, [])
                    status, hdrs, sleep = plan.pop(0) if plan else (200, {}, 0)
                if sleep:
                    time.sleep(sleep)
                out = b"busy" if status >= 400 else b"ok"
                try:
                    self.send_response(status)
                    for k, v in hdrs.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path):
        with self.lock:
            return [g for g in self.got if g["path"] == path]

    def wait_hits(self, path, n, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.hits(path)) >= n:
                return self.hits(path)
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.hits(path))} requests, wanted {n}")

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def daemon(portico, tmp_path, extra="", workers=1, start=True):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "send.lua").write_text(ROUTES)
    body = (f'var_dir = "{tmp_path}/var"\nshutdown_timeout = 2\nplugin "webhook" {{}}\n'
            f'routes "{d}"\n{extra}')
    return portico(body, plugins_dir=PLUGINS, workers=workers, start=start)


def send(d, target, event, **opts):
    opts.setdefault("secret", SECRET)
    r = requests.post(d.url + "/send", json={"target": target, "event": event, "opts": opts},
                      timeout=10)
    return r


def cli(d, *args, timeout=10):
    return subprocess.run([BIN, "-c", d.conf_path, "webhooks", *args], capture_output=True,
                          text=True, timeout=timeout)


def job_of(d, event_id):
    """The store's job number of the outbound delivery EVENT_ID."""
    out = cli(d, "list", "--kind", "outbound", "--limit", "1000").stdout
    for line in out.splitlines()[1:]:
        if event_id in line.split():
            return line.split()[0]
    raise AssertionError(f"{event_id} not in the list:\n{out}")


def show(d, event_id):
    r = cli(d, "show", job_of(d, event_id))
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_state(d, event_id, state, timeout=20):
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = show(d, event_id)
        if re.search(r"^state:\s+%s\b" % state, out, re.M):
            return out
        time.sleep(0.1)
    raise AssertionError(f"{event_id} never {state}:\n{out}\n{d.log()[-3000:]}")


def attempts(out):
    """[(outcome, status or None, error text)] from `webhooks show`."""
    rows = []
    for m in re.finditer(r"^\s+#(\d+)\s+\S+\s+(\w+)(?:\s+status (\d+))?\s+\d+ ms\s*(.*)$", out,
                         re.M):
        rows.append((m.group(2), int(m.group(3)) if m.group(3) else None, m.group(4)))
    return rows


def standard_ok(h, body, key=KEY, tolerance=300):
    """Standard Webhooks verification, per the spec."""
    msg_id, ts, sigs = h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"]
    assert abs(int(ts) - time.time()) <= tolerance
    want = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                     hashlib.sha256).digest()).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in sigs.split())


def node_verify(h, body):
    """The official library's verdict, or None when it is not installed."""
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "standardwebhooks")):
        return None
    js = ("const {Webhook}=require('standardwebhooks');"
          "const [s,h,b]=process.argv.slice(1);"
          "try{new Webhook(s).verify(b,JSON.parse(h));console.log('ok')}"
          "catch(e){console.log('bad '+e.message)}")
    r = subprocess.run([node, "-e", js, SECRET, json.dumps(h), body.decode()], cwd=NODE_DIR,
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip()


def test_flaky_receiver_gets_the_event_and_every_attempt_is_recorded(portico, tmp_path,
                                                                    receiver):
    receiver.script["/flaky"] = [(500, {}, 0), (500, {}, 0), (429, {"Retry-After": "1"}, 0)]
    d = daemon(portico, tmp_path)
    event = {"type": "order.paid", "data": {"id": "o_1", "total": 12.5, "tags": ["a"]}}
    r = send(d, receiver.url("/flaky"), event, retry={"max": 6, "base": 0.05, "cap": 3})
    assert r.status_code == 200, r.text
    msg_id = r.json()["id"]
    assert re.fullmatch(r"msg_[a-z2-7]{26}", msg_id)
    got = receiver.wait_hits("/flaky", 4)
    out = wait_state(d, msg_id, "done")
    # the same message each time, signed afresh with the attempt's timestamp
    for g in got:
        h = g["headers"]
        assert h["webhook-id"] == msg_id
        assert h["content-type"] == "application/json"
        assert json.loads(g["body"]) == event
        assert standard_ok(h, g["body"]), h
        assert not standard_ok(h, g["body"] + b" ")
        assert not standard_ok(h, g["body"], key=b"another key")
    assert all(g["body"] == got[0]["body"] for g in got)
    # Retry-After: 1 held the fourth attempt back though the backoff was 50 ms
    assert got[3]["t"] - got[2]["t"] >= 0.9
    assert got[1]["t"] - got[0]["t"] < 0.9
    rows = attempts(out)
    assert [(o, s) for o, s, _ in rows] == [("retry", 500), ("retry", 500), ("retry", 429),
                                            ("done", 200)], out
    assert "HTTP 500: busy" in rows[0][2]
    assert "whsec_" not in out and SECRET not in out           # the CLI hides the secret
    assert re.search(r"attempt 1 of 6 failed \(status 500\)", d.log())
    assert msg_id in d.log()
    verdict = node_verify(got[3]["headers"], got[3]["body"])
    if verdict is not None:
        assert verdict == "ok"


def test_a_4xx_is_dead_at_once_and_410_too(portico, tmp_path, receiver):
    receiver.script["/bad"] = [(400, {}, 0)]
    receiver.script["/gone"] = [(410, {}, 0)]
    d = daemon(portico, tmp_path)
    bad = send(d, receiver.url("/bad"), {"a": 1}, retry={"max": 5, "base": 0.05, "cap": 1})
    gone = send(d, receiver.url("/gone"), {"a": 2}, retry={"max": 5, "base": 0.05, "cap": 1})
    for r, status in ((bad, 400), (gone, 410)):
        out = wait_state(d, r.json()["id"], "dead")
        assert [(o, s) for o, s, _ in attempts(out)] == [("dead", status)], out
    time.sleep(0.5)
    assert len(receiver.hits("/bad")) == 1 and len(receiver.hits("/gone")) == 1


def test_a_timeout_is_retried(portico, tmp_path, receiver):
    receiver.script["/slow"] = [(200, {}, 2.0)]
    d = daemon(portico, tmp_path)
    r = send(d, receiver.url("/slow"), {"a": 1}, timeout=0.5,
             retry={"max": 4, "base": 0.05, "cap": 1})
    out = wait_state(d, r.json()["id"], "done")
    rows = attempts(out)
    assert rows[0][0] == "retry" and "timed out after 0.500 s" in rows[0][2], out
    assert rows[-1][:2] == ("done", 200)


def test_an_unreachable_port_is_retried_then_dead(portico, tmp_path):
    d = daemon(portico, tmp_path)
    port = free_port()
    r = send(d, f"http://127.0.0.1:{port}/x", {"a": 1}, retry={"max": 3, "base": 0.05, "cap": 1})
    msg_id = r.json()["id"]
    out = wait_state(d, msg_id, "dead")
    rows = attempts(out)
    assert [o for o, _, _ in rows] == ["retry", "retry", "dead"], out
    # the core's words (ABI 1.11 pt_upstream_res.error), not "input/output error"
    assert all("connection failed: connection refused" in e for _, _, e in rows), out
    assert "no attempts left" in d.log()


def test_through_a_named_upstream_with_its_path(portico, tmp_path, receiver):
    d = daemon(portico, tmp_path,
               extra=f'upstream "partner" {{ servers = {{ "127.0.0.1:{receiver.port}" }} }}')
    r = send(d, "partner", {"via": "upstream"}, path="/up/hook?x=1", headers={"X-Tenant": "acme"})
    assert r.status_code == 200, r.text
    g = receiver.wait_hits("/up/hook?x=1", 1)[0]
    assert g["headers"]["x-tenant"] == "acme"
    assert standard_ok(g["headers"], g["body"])
    wait_state(d, r.json()["id"], "done")
    # an upstream the config lacks: retried with the reason, then dead
    r = send(d, "nosuch", {"a": 1}, retry={"max": 2, "base": 0.05, "cap": 1})
    out = wait_state(d, r.json()["id"], "dead")
    assert 'no upstream named "nosuch"' in out


def test_an_id_makes_send_idempotent_and_scheme_none_is_unsigned(portico, tmp_path, receiver):
    d = daemon(portico, tmp_path)
    first = send(d, receiver.url("/once"), "raw text body", id="order-7-paid",
                 headers={"Content-Type": "text/plain"}).json()
    again = send(d, receiver.url("/once"), "raw text body", id="order-7-paid").json()
    assert first == {"id": "order-7-paid"}
    assert again == {"id": "order-7-paid", "duplicate": "duplicate"}
    g = receiver.wait_hits("/once", 1)[0]
    assert g["body"] == b"raw text body" and g["headers"]["content-type"] == "text/plain"
    assert g["headers"]["webhook-id"] == "order-7-paid"
    r = requests.post(d.url + "/send", json={"target": receiver.url("/plain"), "event": {"k": 1},
                                             "opts": {"scheme": "none"}}, timeout=10)
    assert r.status_code == 200, r.text
    g = receiver.wait_hits("/plain", 1)[0]
    assert "webhook-signature" not in g["headers"] and g["headers"]["webhook-id"]
    time.sleep(0.3)
    assert len(receiver.hits("/once")) == 1


BAD = [
    ({"target": 5}, "the target (argument 1) must be a URL or an upstream name, not number"),
    ({"target": "ftp://x/y"}, "is neither an http:// or https:// URL nor an upstream name"),
    ({"target": "http:///nohost"}, "has no host"),
    ({"target": "http://a b/"}, "is not a usable URL"),
    ({"event": 5}, "the event (argument 2) must be a table (sent as JSON) or a string"),
    ({"opts": {"secret": SECRET, "timeout": 900}},
     "opts.timeout must be between 0.001 and 300, not 900"),
    ({"opts": {"secret": SECRET, "timeout": "10"}}, "opts.timeout must be a number, not string"),
    ({"opts": {}}, "opts.secret is required"),
    ({"opts": {"secret": "whsec_!!!not base64"}}, "opts.secret"),
    ({"opts": {"scheme": "none", "secret": SECRET}}, "opts.secret is given but opts.scheme"),
    ({"opts": {"secret": SECRET, "scheme": "stripe"}}, 'opts.scheme must be "standard" or'),
    ({"opts": {"secret": SECRET, "secrett": 1}}, 'opts has an unknown key "secrett"'),
    ({"opts": {"secret": SECRET, "id": "has space"}}, "opts.id must be 1 to 255 printable"),
    ({"opts": {"secret": SECRET, "id": "x" * 256}}, "opts.id must be 1 to 255 printable"),
    ({"opts": {"secret": SECRET, "path": "/p"}}, "opts.path is for an upstream target"),
    ({"opts": {"secret": SECRET, "headers": {"webhook-id": "x"}}},
     "opts.headers may not set webhook-id"),
    ({"opts": {"secret": SECRET, "headers": {"Bad Name": "x"}}}, "is not a header name"),
    ({"opts": {"secret": SECRET, "headers": {"x": "a\r\nb"}}}, "without control characters"),
    ({"opts": {"secret": SECRET, "headers": {f"x{i}": "v" for i in range(40)}}},
     "more than 32 headers"),
    ({"opts": {"secret": SECRET, "retry": {"max": 0}}}, "opts.retry.max must be between 1"),
    ({"opts": {"secret": SECRET, "retry": {"base": 10, "cap": 1}}},
     "opts.retry.cap (1) is smaller than retry.base (10)"),
    ({"opts": {"secret": SECRET, "retry": {"tries": 3}}}, 'opts.retry has an unknown key'),
]


def test_bad_arguments_raise_clear_lua_errors(portico, tmp_path):
    d = daemon(portico, tmp_path)
    for over, msg in BAD:
        a = {"target": "http://127.0.0.1:9/x", "event": {"a": 1}, "opts": {"secret": SECRET}}
        a.update(over)
        r = requests.post(d.url + "/send", json=a, timeout=10)
        assert r.status_code == 500, (over, r.text)
        assert d.wait_log(msg, 3), (msg, d.log()[-2000:])
    for what, msg in (("fn", "or a string (sent as it is), not function"),
                      ("bool", "the target (argument 1) must be a URL or an upstream name, "
                               "not boolean"),
                      ("hdrtable", "opts.headers must be a table of name = value strings"),
                      ("cycle", "the event (argument 2) cannot be sent as JSON"),
                      ("big", "the event (argument 2) is 1048586 bytes as JSON: at most "
                              "1048576")):
        r = requests.post(d.url + "/send_raw?what=" + what, timeout=10)
        assert r.status_code == 500, (what, r.text)
        assert d.wait_log(msg, 3), (msg, d.log()[-2000:])
    # nothing of it was stored
    out = cli(d, "list", "--kind", "outbound").stdout
    assert len(out.strip().splitlines()) <= 1, out
    assert requests.get(d.url + "/fast", timeout=5).text == "fast"


def test_a_receiver_that_never_answers_does_not_hold_the_worker(portico, tmp_path, receiver):
    receiver.script["/hang"] = [(200, {}, 4.0)] * 3
    d = daemon(portico, tmp_path, workers=1)
    ids = [send(d, receiver.url("/hang"), {"n": i}, timeout=3,
                retry={"max": 1, "base": 1, "cap": 1}).json()["id"] for i in range(3)]
    receiver.wait_hits("/hang", 3)
    # three deliveries hang on the only worker: it still serves at once
    for _ in range(5):
        t0 = time.monotonic()
        assert requests.get(d.url + "/fast", timeout=5).text == "fast"
        assert time.monotonic() - t0 < 0.5
    for i in ids:
        out = wait_state(d, i, "dead")
        assert "timed out after 3.000 s" in out


def test_a_restart_mid_retry_resumes_the_delivery(portico, tmp_path, receiver):
    receiver.script["/later"] = [(503, {"Retry-After": "4"}, 0)]
    d = daemon(portico, tmp_path)
    r = send(d, receiver.url("/later"), {"durable": True}, retry={"max": 5, "base": 4, "cap": 4})
    msg_id = r.json()["id"]
    receiver.wait_hits("/later", 1)
    assert d.stop() == 0
    assert len(receiver.hits("/later")) == 1         # stopped while it waited to retry
    assert re.search(r"^state:\s+retrying", show(d, msg_id), re.M)
    d.start()
    got = receiver.wait_hits("/later", 2, timeout=20)
    out = wait_state(d, msg_id, "done")
    assert [(o, s) for o, s, _ in attempts(out)] == [("retry", 503), ("done", 200)], out
    assert got[1]["headers"]["webhook-id"] == msg_id
    assert standard_ok(got[1]["headers"], got[1]["body"])


def test_misuse_is_an_error_never_a_hang(portico, tmp_path):
    d = daemon(portico, tmp_path)
    r = requests.get(d.url + "/misuse?what=pcall", timeout=5).json()
    assert r["ok"] is False and "the target (argument 1) must be a URL" in r["err"]
    # waiting is refused where the coroutine cannot be suspended for it
    for what in ("coroutine", "sort"):
        r = requests.get(d.url + "/misuse?what=" + what, timeout=5).json()
        assert r["ok"] is False and "waits" in r["err"], (what, r)
    out = cli(d, "list", "--kind", "outbound").stdout
    assert len(out.strip().splitlines()) <= 1, out
    assert requests.get(d.url + "/fast", timeout=5).text == "fast"


def test_send_from_a_webhook_handler_forwards_the_event(portico, tmp_path, receiver):
    d = daemon(portico, tmp_path, workers=2)
    body = json.dumps({"type": "t", "forward_to": receiver.url("/fwd")}).encode()
    mid, ts = "evt_forward_1", str(int(time.time()))
    sig = base64.b64encode(hmac.new(KEY, f"{mid}.{ts}.".encode() + body,
                                    hashlib.sha256).digest()).decode()
    h = {"webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": "v1," + sig,
         "content-type": "application/json"}
    r = requests.post(d.url + "/hooks/in", data=body, headers=h, timeout=10)
    assert r.status_code == 200, r.text
    g = receiver.wait_hits("/fwd", 1)[0]
    assert json.loads(g["body"]) == {"got": mid}
    assert g["headers"]["webhook-id"] == "fwd-" + mid
    assert standard_ok(g["headers"], g["body"])
    wait_state(d, "fwd-" + mid, "done")


def test_many_concurrent_sends_are_each_delivered_once(portico, tmp_path, receiver):
    d = daemon(portico, tmp_path, workers=2)
    ids, lock = [], threading.Lock()

    def one(i):
        r = send(d, receiver.url("/many"), {"n": i})
        with lock:
            ids.append(r.json()["id"])
    ts = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(set(ids)) == 40
    got = receiver.wait_hits("/many", 40)
    time.sleep(0.5)
    got = receiver.hits("/many")
    assert sorted(g["headers"]["webhook-id"] for g in got) == sorted(ids)
    assert sorted(json.loads(g["body"])["n"] for g in got) == list(range(40))


def test_a_redirect_is_dead_and_a_dropped_connection_retried(portico, tmp_path, receiver):
    receiver.script["/moved"] = [(301, {"Location": "/elsewhere"}, 0)]
    d = daemon(portico, tmp_path)
    r = send(d, receiver.url("/moved"), {"a": 1}, retry={"max": 3, "base": 0.05, "cap": 1})
    out = wait_state(d, r.json()["id"], "dead")
    assert [(o, s) for o, s, _ in attempts(out)] == [("dead", 301)], out
    assert not receiver.hits("/elsewhere")
    # a server that closes without answering: retried
    import socket
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    port = lsn.getsockname()[1]
    closed = []

    def slam():
        lsn.settimeout(10)
        try:
            for _ in range(2):
                c, _ = lsn.accept()
                c.recv(65536)
                c.close()
                closed.append(1)
        except OSError:
            pass
    t = threading.Thread(target=slam, daemon=True)
    t.start()
    r = send(d, f"http://127.0.0.1:{port}/x", {"a": 1}, retry={"max": 2, "base": 0.05, "cap": 1})
    out = wait_state(d, r.json()["id"], "dead")
    lsn.close()
    rows = attempts(out)
    assert [o for o, _, _ in rows] == ["retry", "dead"], out
    assert len(closed) == 2


def test_an_oversized_answer_is_an_error_not_a_crash(portico, tmp_path, receiver):
    d = daemon(portico, tmp_path)
    r = send(d, receiver.url("/huge"), {"a": 1}, retry={"max": 2, "base": 0.05, "cap": 1})
    out = wait_state(d, r.json()["id"], "dead")
    rows = attempts(out)
    assert [o for o, _, _ in rows] == ["retry", "dead"], out
    assert "too large" in rows[0][2], out
    assert requests.get(d.url + "/fast", timeout=5).text == "fast"


def test_send_from_a_graphql_resolver(portico, tmp_path, receiver):
    (tmp_path / "schema.graphql").write_text(
        "type Query { ok: Boolean }\ntype Mutation { notify(order: String!): String }\n")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "gql.lua").write_text('''
local graphql = require "graphql"
graphql.resolvers {
  Mutation = {
    notify = function(_, a)
      local id, err = webhook.send("%s", { order = a.order }, { secret = "%s" })
      return id or err
    end,
  },
}
route.post("/graphql", "graphql")
''' % (receiver.url("/gql"), SECRET))
    d = portico(f'var_dir = "{tmp_path}/var"\nshutdown_timeout = 2\nplugin "webhook" {{}}\n'
                f'plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}\nroutes "{rdir}"',
                plugins_dir=PLUGINS)
    r = requests.post(d.url + "/graphql", json={"query": 'mutation { notify(order: "o9") }'},
                      timeout=10).json()
    msg_id = r["data"]["notify"]
    assert msg_id.startswith("msg_"), r
    g = receiver.wait_hits("/gql", 1)[0]
    assert json.loads(g["body"]) == {"order": "o9"} and g["headers"]["webhook-id"] == msg_id
    assert standard_ok(g["headers"], g["body"])
