"""Upstreams, the gateway part: active health checks shared by the workers,
hash balancing, the retry budget, the send timeout, HTTP/2 to the servers
(h2c with prior knowledge, h2 over TLS) and the config errors of each key.
Real upstream servers on loopback, started by the tests."""
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, free_port, wait_port


class Upstream:
    """An HTTP/1.1 server that says who it is, with a /health whose status
    the test sets. Counts proxied hits and health probes apart."""

    def __init__(self, name):
        self.name, self.hits, self.probes, self.health_status = name, 0, 0, 200
        self.probe_agents = set()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self):
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                if self.path == "/health":
                    outer.probes += 1
                    outer.probe_agents.add(self.headers.get("user-agent"))
                    status, body = outer.health_status, b"health\n"
                else:
                    outer.hits += 1
                    status = 200
                    body = json.dumps({"server": outer.name, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("x-upstream", outer.name)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = handle_any

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

    def make(name):
        u = Upstream(name)
        made.append(u)
        return u
    yield make
    for u in made:
        u.close()


def dead_ports(n):
    """N distinct loopback ports nothing listens on."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def gateway(portico, tmp_path, servers, extra="", workers=1, body=""):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "gw.lua").write_text('''
route.any("/api/*rest", proxy(upstream "users", { strip_prefix = "/api" }))
''')
    srv = ", ".join('"127.0.0.1:%d"' % p for p in servers)
    return portico(f'upstream "users" {{ servers = {{ {srv} }}, timeout = {{ connect = 1, '
                   f'read = 3 }} {extra} }}\n{body}\nroutes "{routes}"', workers=workers)


def who(d, path="/api/x", **kw):
    r = requests.get(d.url + path, timeout=5, **kw)
    assert r.status_code == 200, r.text
    return r.headers["x-upstream"]


HEALTH = 'health = { path = "/health", interval = 0.2, timeout = 0.5, healthy = 2, unhealthy = 2 }'


# ---- keep-alive pool ---------------------------------------------------------

class CountingUpstream:
    """An HTTP/1.1 keep-alive server that answers after DELAY seconds and
    counts the connections it accepted."""

    def __init__(self, delay):
        self.accepted = 0
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                time.sleep(delay)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

            def process_request(self, request, client_address):
                outer.accepted += 1
                super().process_request(request, client_address)

        self.srv = S(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def rounds_of_concurrent_gets(d, rounds, n):
    from concurrent.futures import ThreadPoolExecutor

    def get(_):
        return requests.get(d.url + "/api/x", timeout=10).status_code
    with ThreadPoolExecutor(n) as ex:
        for _ in range(rounds):
            got = list(ex.map(get, range(n)))
            assert got == [200] * n, got


@pytest.mark.parametrize("keepalive, n, lo, hi", [(None, 80, 80, 80), (4, 16, 48, 80)])
def test_keepalive_pool_keeps_what_it_is_sized_for(portico, tmp_path, keepalive, n, lo, hi):
    """N requests in flight, 5 times. The default pool (256) keeps all 80
    connections for the next round (the client's old cap of 64 closed 16 a
    round); a pool of 4 closes 12 of 16 each time and the next round opens
    12 again: the churn a pool smaller than the load costs."""
    up = CountingUpstream(0.3)
    try:
        extra = f", keepalive = {keepalive}" if keepalive else ""
        d = gateway(portico, tmp_path, [up.port], extra=extra)
        rounds_of_concurrent_gets(d, 5, n)
        assert lo <= up.accepted <= hi, up.accepted
    finally:
        up.close()


# ---- active health ----------------------------------------------------------

def test_active_health_ejects_a_failing_server_and_returns_it(portico, tmp_path, upstreams):
    a, b = upstreams("a"), upstreams("b")
    b.health_status = 500
    t0 = time.monotonic()
    d = gateway(portico, tmp_path, [a.port, b.port], ", " + HEALTH, workers=2)
    # no client traffic: the probes alone take b out, within a few intervals
    assert d.wait_log(f"users: server 127.0.0.1:{b.port} is down: 2 health checks failed "
                      "in a row (last: /health status 500)", timeout=3), d.log()
    assert time.monotonic() - t0 < 2.5
    assert a.hits == 0 and b.hits == 0
    # every worker leaves it out (new connections land on either worker)
    seen = [who(d, headers={"connection": "close"}) for _ in range(12)]
    assert seen == ["a"] * 12
    assert f"127.0.0.1:{a.port} is down" not in d.log()
    b.health_status = 200
    assert d.wait_log(f"users: server 127.0.0.1:{b.port} is up again: 2 health checks "
                      "passed in a row", timeout=3), d.log()
    seen = [who(d, headers={"connection": "close"}) for _ in range(12)]
    assert "a" in seen and "b" in seen


def test_health_probes_run_once_per_interval_not_per_worker(portico, tmp_path, upstreams):
    a = upstreams("a")
    d = gateway(portico, tmp_path, [a.port], ", " + HEALTH, workers=2)
    assert wait_for(lambda: a.probes >= 1, 3)
    before = a.probes
    time.sleep(1.0)
    n = a.probes - before
    # interval 0.2 s: about 5 probes a second from one checker (10 if per worker)
    assert 3 <= n <= 7, n
    assert a.probe_agents == {"portico-health-check"}


def test_all_servers_down_by_health_is_a_quick_503(portico, tmp_path, upstreams):
    a = upstreams("a")
    a.health_status = 503
    d = gateway(portico, tmp_path, [a.port], ", " + HEALTH)
    assert d.wait_log("is down", timeout=3)
    t0 = time.monotonic()
    r = requests.get(d.url + "/api/x", timeout=5)
    assert r.status_code == 503 and time.monotonic() - t0 < 0.5
    assert r.json()["error"]["message"] == "no upstream server is available"
    assert a.hits == 0


def test_health_state_survives_reload_and_old_probes_stop(portico, tmp_path, upstreams):
    import signal
    a, b = upstreams("a"), upstreams("b")
    b.health_status = 500
    d = gateway(portico, tmp_path, [a.port, b.port], ", " + HEALTH)
    assert d.wait_log("is down", timeout=3)
    d.signal(signal.SIGHUP)
    assert d.wait_log("is live", timeout=5)
    # the new generation starts from the old verdict: b stays out at once
    assert [who(d) for _ in range(6)] == ["a"] * 6
    assert d.log().count("is down") == 1
    # one checker after the reload, not two
    before = b.probes
    time.sleep(1.0)
    assert b.probes - before <= 7


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


# ---- hash balancing ---------------------------------------------------------

def test_hash_header_keeps_a_key_on_one_server_and_spreads_keys(portico, tmp_path, upstreams):
    a, b = upstreams("a"), upstreams("b")
    d = gateway(portico, tmp_path, [a.port, b.port], ', balance = "hash(header:X-User)"')
    assert len({who(d, headers={"x-user": "alice"}) for _ in range(8)}) == 1
    keys = ["user%d" % i for i in range(40)]
    first = {k: who(d, headers={"X-User": k}) for k in keys}
    again = {k: who(d, headers={"x-user": k}) for k in keys}
    assert first == again
    n_a = list(first.values()).count("a")
    assert 8 <= n_a <= 32, first          # both servers get a fair share of keys
    # no key: round robin
    assert {who(d) for _ in range(4)} == {"a", "b"}


def test_hash_moves_only_the_keys_of_a_server_that_goes_down(portico, tmp_path, upstreams):
    a, b = upstreams("a"), upstreams("b")
    d = gateway(portico, tmp_path, [a.port, b.port],
                ', balance = "hash(query:user)", ' + HEALTH)
    keys = ["k%d" % i for i in range(30)]
    before = {k: who(d, "/api/x?user=" + k) for k in keys}
    assert set(before.values()) == {"a", "b"}
    b.health_status = 500
    assert d.wait_log(f"127.0.0.1:{b.port} is down", timeout=3)
    during = {k: who(d, "/api/x?user=" + k) for k in keys}
    assert set(during.values()) == {"a"}   # b's keys moved, a's stayed
    b.health_status = 200
    assert d.wait_log("is up again", timeout=3)
    assert {k: who(d, "/api/x?user=" + k) for k in keys} == before


def test_hash_ip_sends_one_client_to_one_server(portico, tmp_path, upstreams):
    a, b = upstreams("a"), upstreams("b")
    d = gateway(portico, tmp_path, [a.port, b.port], ', balance = "hash(ip)"')
    # a client's own X-Forwarded-For does not steer it: the proxy appends the address
    seen = {who(d, headers={"x-forwarded-for": "10.0.0.%d" % i}) for i in range(8)}
    assert len(seen) == 1


# ---- retries: the budget ----------------------------------------------------

def retries_for(portico, tmp_path, budget, n=20):
    d = gateway(portico, tmp_path, dead_ports(2),
                f", retries = 1, max_fails = 1000, {budget}")
    for _ in range(n):
        r = requests.get(d.url + "/api/x", timeout=5)
        assert r.status_code == 502
    d.stop()
    log = d.log()
    os.remove(d.log_path)   # the next daemon of the test appends to the same file
    return log.count("retrying on"), log


def test_retry_budget_caps_retries_across_requests(portico, tmp_path):
    # without a cap worth the name every failed GET is retried once
    n, _ = retries_for(portico, tmp_path, "retry_budget = 1, retry_budget_min = 0")
    assert n == 20
    # 20% of requests (and no per-second floor): about 4 of 20
    n, log = retries_for(portico, tmp_path, "retry_budget = 0.2, retry_budget_min = 0")
    assert 1 <= n <= 5, n
    assert "users: retry budget spent (0/s + 20% of requests over 10s)" in log


def test_retry_budget_floor_allows_a_few_retries_per_second(portico, tmp_path):
    n, _ = retries_for(portico, tmp_path, "retry_budget = 0, retry_budget_min = 0.3")
    assert n == 3   # 0.3/s over the 10 s window


# ---- timeouts: send -----------------------------------------------------------

def test_send_timeout_ends_a_stalled_upload(portico, tmp_path):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    held = []
    stop = threading.Event()

    def accept_and_never_read():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(lsock.accept()[0])
            except OSError:
                continue
    t = threading.Thread(target=accept_and_never_read, daemon=True)
    t.start()
    try:
        d = gateway(portico, tmp_path, [lsock.getsockname()[1]], ", retries = 0",
                    body="http = { max_body_size = 33554432 }")
        cfg = d.text.replace("read = 3 }", "read = 20, send = 0.5 }")
        d.stop()
        d.write(cfg)
        d.start()
        t0 = time.monotonic()
        r = requests.post(d.url + "/api/upload", data=b"x" * (16 << 20), timeout=30)
        assert r.status_code == 504 and time.monotonic() - t0 < 5
        assert d.wait_log("send timed out", timeout=2)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        lsock.close()


# ---- HTTP/2 to the servers ------------------------------------------------------

needs_nghttpd = pytest.mark.skipif(shutil.which("nghttpd") is None,
                                   reason="nghttpd (nghttp2-server) not installed")


@pytest.fixture
def nghttpd(tmp_path):
    """Factory: nghttpd(*tls_args) -> port of an HTTP/2-only server of tmp_path/www."""
    procs = []
    www = tmp_path / "www"
    www.mkdir()
    (www / "hello.txt").write_text("hello over h2\n")
    (www / "health").write_text("ok\n")

    def start(*tls):
        port = free_port()
        args = ["nghttpd", "-a", "127.0.0.1", "-d", str(www), str(port)]
        args += list(tls) if tls else ["--no-tls"]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        assert wait_port(port, proc=p), "nghttpd did not start"
        return port
    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


@needs_nghttpd
def test_h2c_upstream_proxies_status_and_body(portico, tmp_path, nghttpd):
    port = nghttpd()
    d = gateway(portico, tmp_path, [port],
                ', protocol = "h2c", health = { path = "/health", interval = 0.2 }')
    r = requests.get(d.url + "/api/hello.txt", timeout=5)
    assert r.status_code == 200 and r.text == "hello over h2\n"
    r = requests.get(d.url + "/api/missing", timeout=5)
    assert r.status_code == 404
    # the probes speak h2 too (nghttpd answers nothing else): the server stays up
    time.sleep(0.6)
    assert "is down" not in d.log()
    assert requests.get(d.url + "/api/hello.txt", timeout=5).status_code == 200


@needs_nghttpd
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not found")
def test_h2_tls_upstream_trusts_its_ca(portico, tmp_path, nghttpd):
    cert, key = str(tmp_path / "up.crt"), str(tmp_path / "up.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=upstream", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    port = nghttpd(key, cert)
    d = gateway(portico, tmp_path, [port], f', protocol = "h2", tls = {{ ca = "{cert}" }}')
    r = requests.get(d.url + "/api/hello.txt", timeout=5)
    assert r.status_code == 200 and r.text == "hello over h2\n"
    # the system CAs do not know this certificate: verification is really on
    d.stop()
    d.write(d.text.replace(f'tls = {{ ca = "{cert}" }}', ""))
    d.start()
    r = requests.get(d.url + "/api/hello.txt", timeout=5)
    assert r.status_code == 502
    assert d.wait_log("TLS certificate verification failed", timeout=2)


# ---- config errors --------------------------------------------------------------

BAD = [
    ('balance = "round-robin"', 'not "round-robin" (did you mean "round_robin"?)'),
    ('balance = "hash(heder:X-User)"', '(did you mean "hash(header:X-User)"?)'),
    ('balance = "hash(cookie:sid)"', 'balance is "round_robin", "least_conn", "hash(ip)", '
                                    '"hash(header:NAME)" or "hash(query:NAME)"'),
    ('health = { path = "/h", interval = 0 }', "health.'interval' must be between 0.05"),
    ('health = { pathh = "/h" }', "health.'pathh' is not a known setting (did you mean 'path'?)"),
    ('health = { status = { 500, 200 } }', "health.status is { lowest, highest }"),
    ('health = { path = "health" }', "health.path must start with '/'"),
    ('health = { unhealthy = 1.5 }', "health.'unhealthy' must be a whole number"),
    ('protocol = "h3"', 'not "h3" (did you mean "h2"?)'),
    ('tls = { verify = false }', "'tls' needs protocol = \"https\" or \"h2\""),
    ('protocol = "h2", tls = { sni = "api" }', "tls.sni is not supported"),
    ('protocol = "https", tls = { ca = "/nonexistent/ca.pem" }', "tls.ca: cannot read"),
    ('timeout = { send = 0 }', "timeout.'send' must be between 0.001"),
    ('retry_budget = 1.5', "'retry_budget' must be between 0 and 1"),
    ('keepalive = 0', "'keepalive' must be between 1 and 65536"),
]


def test_config_errors_name_file_line_and_fix(portico, tmp_path):
    body = "\n".join('upstream "u%d" { servers = { "127.0.0.1:9" }, %s }' % (i, kv)
                     for i, (kv, _) in enumerate(BAD))
    d = portico(body, start=False)
    first = d.text.splitlines().index(body.splitlines()[0]) + 1
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    for i, (kv, needle) in enumerate(BAD):
        line = f'{d.conf_path}:{first + i}: upstream "u{i}": '
        hits = [ln for ln in out.stderr.splitlines() if ln.startswith(line) and needle in ln]
        assert hits, f"{kv!r}: want {line}...{needle} in:\n{out.stderr}"


def test_config_accepts_every_new_key(portico, tmp_path):
    d = portico('upstream "u" { servers = { "127.0.0.1:9", "127.0.0.1:10" }, '
                'balance = "hash(header:X-User)", timeout = { connect = 1, read = 5, send = 5 }, '
                'retries = 2, retry_budget = 0.2, retry_budget_min = 3, protocol = "h2c", '
                'keepalive = 32, '
                'health = { path = "/health", interval = 2, timeout = 1, healthy = 2, '
                'unhealthy = 2, status = { 200, 399 }, host = "users.internal" } }\n'
                'upstream "v" { servers = { "127.0.0.1:9" }, protocol = "https", '
                'tls = { verify = false }, balance = "hash(query:k)" }\n'
                'upstream "w" { servers = { "127.0.0.1:9" }, balance = "hash(ip)", '
                'health = { status = { 204 } } }', start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, out.stderr


def test_unusable_ca_file_is_a_config_error(portico, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    d = portico(f'upstream "u" {{ servers = {{ "127.0.0.1:9" }}, protocol = "h2", '
                f'tls = {{ ca = "{bad}" }} }}', start=False)
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    assert re.search(r':\d+: upstream "u": tls.ca: cannot load .*bad.pem', out.stderr), out.stderr
