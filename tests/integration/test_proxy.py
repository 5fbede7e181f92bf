"""Named upstreams and proxy(): balancing, failover, passive health, retries,
timeouts, forwarded headers, clear JSON errors. Real upstream servers on
loopback, started by the tests."""
import http.server
import json
import re
import socket
import threading
import time

import pytest
import requests


class Upstream:
    """A small HTTP/1.1 server that echoes what it got and counts hits."""

    def __init__(self, name, delay=0.0, status=200):
        self.name, self.delay, self.status, self.hits = name, delay, status, 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                outer.hits += 1
                n = int(self.headers.get("content-length") or 0)
                body_in = self.rfile.read(n) if n else b""
                if outer.delay:
                    time.sleep(outer.delay)
                body = json.dumps({"server": outer.name, "path": self.path,
                                   "method": self.command, "body": body_in.decode(),
                                   "headers": {k.lower(): v for k, v in self.headers.items()},
                                   "request_ids": self.headers.get_all("x-request-id") or []
                                   }).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("x-upstream", outer.name)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def upstreams():
    made = []

    def make(*a, **kw):
        u = Upstream(*a, **kw)
        made.append(u)
        return u
    yield make
    for u in made:
        u.close()


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gateway(portico, tmp_path, servers, extra="", route_opts="{ strip_prefix = \"/api\" }",
            workers=1, body=""):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "gw.lua").write_text(f'''
local users = upstream "users"
route.any("/api/*rest", proxy(users, {route_opts}))
''')
    srv = ", ".join('"127.0.0.1:%d"' % p for p in servers)
    return portico(f'upstream "users" {{ servers = {{ {srv} }}, timeout = {{ connect = 1, '
                   f'read = 2 }}, retries = 1, max_fails = 2, fail_timeout = 1 {extra} }}\n'
                   f'{body}\nroutes "{routes}"', workers=workers)


def test_proxies_with_forwarded_headers_and_body(portico, tmp_path, upstreams):
    a = upstreams("a")
    d = gateway(portico, tmp_path, [a.port])
    r = requests.post(d.url + "/api/users/7?x=1", data=b'{"n":1}',
                      headers={"x-custom": "yes", "x-forwarded-for": "10.1.2.3"}, timeout=5)
    assert r.status_code == 200 and r.headers["x-upstream"] == "a"
    got = r.json()
    assert got["path"] == "/users/7?x=1" and got["method"] == "POST" and got["body"] == '{"n":1}'
    h = got["headers"]
    assert h["x-custom"] == "yes"
    assert h["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert h["x-forwarded-proto"] == "http" and h["x-forwarded-host"].startswith("127.0.0.1")
    assert h["x-request-id"] and h["traceparent"].startswith("00-")


def test_request_id_is_the_clients_or_unique(portico, tmp_path, upstreams):
    """A usable X-Request-Id of the client goes on once, unchanged, and is the
    one the access log writes; without one (or with a bad one) the proxy makes
    one, different for every request and for every start of the daemon."""
    a = upstreams("a")
    log = tmp_path / "access.log"
    ids = set()
    for _ in range(2):
        d = gateway(portico, tmp_path, [a.port],
                    body=f'access_log = {{ file = "{log}", format = "json" }}')
        got = requests.get(d.url + "/api/x", headers={"X-Request-Id": "trace-42"}, timeout=5).json()
        assert got["request_ids"] == ["trace-42"]
        for bad in ("x" * 41, "a b"):
            got = requests.get(d.url + "/api/x", headers={"X-Request-Id": bad}, timeout=5).json()
            assert len(got["request_ids"]) == 1 and got["request_ids"][0] != bad
            ids.add(got["request_ids"][0])
        for _ in range(3):
            got = requests.get(d.url + "/api/x", timeout=5).json()
            assert len(got["request_ids"]) == 1
            assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+-[0-9a-f]+", got["request_ids"][0])
            ids.add(got["request_ids"][0])
        d.stop()
    assert len(ids) == 10   # 5 per start, none repeated, none shared between starts
    lines = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert "trace-42" in [ln["request_id"] for ln in lines]


@pytest.mark.parametrize("via_lua", [False, True])
def test_prefix_rewrite_and_removed_headers(portico, tmp_path, upstreams, via_lua):
    """strip_prefix then prefix rewrites /api/users/7 to /v2/users/7; remove_headers
    keeps the client's cookie from the service; both for a pure proxy route (no
    Lua) and for a Lua function that calls the proxy."""
    a = upstreams("a")
    opts = ('{ strip_prefix = "/api", prefix = "/v2", remove_headers = { "Cookie", "x-debug" }, '
            'headers = { ["x-gateway"] = "portico" } }')
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    handler = (f'function(req, res) return fwd(req, res) end' if via_lua else "fwd")
    (routes / "gw.lua").write_text(f'local fwd = proxy(upstream "users", {opts})\n'
                                   f'route.any("/api/*rest", {handler})\n')
    d = portico(f'upstream "users" {{ servers = {{ "127.0.0.1:{a.port}" }} }}\n'
                f'routes "{routes}"')
    r = requests.get(d.url + "/api/users/7?q=1", timeout=5,
                     headers={"cookie": "session=secret", "x-debug": "1", "x-keep": "yes"})
    got = r.json()
    assert r.status_code == 200 and got["path"] == "/v2/users/7?q=1"
    h = got["headers"]
    assert "cookie" not in h and "x-debug" not in h
    assert h["x-keep"] == "yes" and h["x-gateway"] == "portico"


def test_round_robin_spreads(portico, tmp_path, upstreams):
    a, b = upstreams("a"), upstreams("b")
    d = gateway(portico, tmp_path, [a.port, b.port])
    seen = [requests.get(d.url + "/api/x", timeout=5).headers["x-upstream"] for _ in range(10)]
    assert seen.count("a") == 5 and seen.count("b") == 5


def test_failover_and_ejection_then_return(portico, tmp_path, upstreams):
    a = upstreams("a")
    down = dead_port()
    d = gateway(portico, tmp_path, [down, a.port])
    for _ in range(6):
        r = requests.get(d.url + "/api/x", timeout=5)
        assert r.status_code == 200 and r.headers["x-upstream"] == "a"
    assert d.wait_log("left out for 1s")
    hits = a.hits
    # while the dead server is ejected, every request goes straight to "a"
    for _ in range(4):
        requests.get(d.url + "/api/x", timeout=5)
    assert a.hits == hits + 4


def test_all_down_is_502_json(portico, tmp_path):
    d = gateway(portico, tmp_path, [dead_port()])
    r = requests.get(d.url + "/api/x", timeout=5)
    assert r.status_code in (502, 503)
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["upstream"] == "users"


def test_timeout_is_504(portico, tmp_path, upstreams):
    slow = upstreams("slow", delay=3)
    d = gateway(portico, tmp_path, [slow.port], route_opts='{ strip_prefix = "/api", timeout = 0.5 }')
    t0 = time.monotonic()
    r = requests.post(d.url + "/api/x", data=b"x", timeout=10)   # POST: no retry
    assert r.status_code == 504 and time.monotonic() - t0 < 2.5
    assert r.json()["error"]["message"] == "upstream timed out"


def test_upstream_status_passes_through(portico, tmp_path, upstreams):
    a = upstreams("a", status=404)
    d = gateway(portico, tmp_path, [a.port])
    r = requests.get(d.url + "/api/missing", timeout=5)
    assert r.status_code == 404 and r.json()["server"] == "a"


def test_garbage_upstream_is_502(portico, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    port = s.getsockname()[1]
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
            except OSError:
                continue
            c.recv(65536)
            c.sendall(b"this is not http\r\n\r\n")
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        d = gateway(portico, tmp_path, [port])
        r = requests.get(d.url + "/api/x", timeout=5)
        assert r.status_code == 502
    finally:
        stop.set()
        t.join()
        s.close()


def test_unknown_upstream_is_refused_at_load(portico, tmp_path):
    import subprocess
    from conftest import BIN
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "x.lua").write_text('route.get("/x", proxy(upstream "nope"))\n')
    d = portico(f'routes "{routes}"', start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1 and "upstream 'nope' is not declared" in out.stderr


def test_bad_upstream_config_reports_line(portico, tmp_path):
    import subprocess
    from conftest import BIN
    d = portico('upstream "u" { servers = { "nohost" }, balanse = "x" }', start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    assert "did you mean 'balance'" in out.stderr and '"host:port"' in out.stderr
