"""/metrics beyond the request families: the Lua states per worker, the
upstreams (a Python http.server on loopback that answers, fails, is down)."""
import http.server
import socket
import threading
import time

import requests

from conftest import free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics, metric

HOLD = r'''
local kept = {}
route.get("/grow", function(req)
  for i = 1, 20000 do kept[#kept + 1] = string.rep("x", 64) .. i end
  return { n = #kept }
end)
route.get("/drop", function(req)
  kept = {}
  collectgarbage("collect")
  return { n = 0 }
end)
route.get("/spin", function(req)
  local s = 0
  for i = 1, 200000 do s = s + i end
  return { s = s }
end)
route.get("/longspin", function(req)
  local s = 0
  for i = 1, 3000000 do s = s + i end
  return { s = s }
end)
'''


def scrape(aport):
    r = requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH, timeout=5)
    assert r.status_code == 200
    return parse_metrics(r.text)


def lua_daemon(portico, tmp_path, workers=1, extra=""):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "hold.lua").write_text(HOLD)
    aport = free_port()
    p = portico(f'routes "{d}"\n' + admin_block(aport) + extra, start=False, workers=workers)
    p.start()
    assert wait_port(aport, proc=p.proc), p.log()
    return p, aport


def test_lua_memory_grows_and_instructions_count(portico, tmp_path):
    # a budget under 5,000,000 is counted from every run's first instruction
    d, aport = lua_daemon(portico, tmp_path, extra="lua = { max_instructions = 2000000 }\n")
    ms = scrape(aport)
    mem0 = metric(ms, "portico_lua_memory_bytes", worker="0")
    ins0 = metric(ms, "portico_lua_instructions_total", worker="0")
    assert mem0 > 0   # the loaded scripts themselves
    assert ("portico_lua_memory_bytes", frozenset({("worker", "1")})) not in ms
    assert requests.get(d.url + "/spin", timeout=10).status_code == 200
    ms = scrape(aport)
    assert metric(ms, "portico_lua_instructions_total", worker="0") >= ins0 + 200000
    for _ in range(3):
        assert requests.get(d.url + "/grow", timeout=10).status_code == 200
    ms = scrape(aport)
    grown = metric(ms, "portico_lua_memory_bytes", worker="0")
    assert grown > mem0 + 3 * 20000 * 64, (mem0, grown)
    assert requests.get(d.url + "/drop", timeout=10).status_code == 200
    ms = scrape(aport)
    assert metric(ms, "portico_lua_memory_bytes", worker="0") < grown / 2


def test_default_budget_counts_a_long_run(portico, tmp_path):
    """Under the default budget a run is counted from its first CPU tick on:
    one of some 6 million instructions (tens of ms) shows in the metric."""
    d, aport = lua_daemon(portico, tmp_path)
    ins0 = metric(scrape(aport), "portico_lua_instructions_total", worker="0")
    r = requests.get(d.url + "/longspin", timeout=10)
    assert r.status_code == 200 and r.json()["s"] == 3000000 * 3000001 // 2
    assert metric(scrape(aport), "portico_lua_instructions_total", worker="0") >= ins0 + 1000000


def test_lua_series_per_worker(portico, tmp_path):
    d, aport = lua_daemon(portico, tmp_path, workers=2)
    ms = scrape(aport)
    for w in ("0", "1"):
        assert metric(ms, "portico_lua_memory_bytes", worker=w) > 0
        assert ("portico_lua_instructions_total", frozenset({("worker", w)})) in ms


# ---- upstreams -----------------------------------------------------------

class Backend:
    """An HTTP/1.1 server on loopback answering STATUS after DELAY seconds;
    /health answers HEALTH."""

    def __init__(self):
        self.status, self.delay, self.health = 200, 0, 200
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if self.path == "/health":
                    st = outer.health
                else:
                    time.sleep(outer.delay)
                    st = outer.status
                self.send_response(st)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def gateway(portico, tmp_path, port, extra=""):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "gw.lua").write_text(
        'route.any("/api/*rest", proxy(upstream "users", { strip_prefix = "/api" }))\n')
    aport = free_port()
    d = portico(f'upstream "users" {{ servers = {{ "127.0.0.1:{port}" }}, timeout = '
                f'{{ connect = 1, read = 0.5 }}, retries = 0 {extra} }}\nroutes "{routes}"\n'
                + admin_block(aport), start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    return d, aport


def test_upstream_requests_failures_and_health(portico, tmp_path):
    b = Backend()
    server = f"127.0.0.1:{b.port}"
    try:
        d, aport = gateway(portico, tmp_path, b.port, ', health = { path = "/health", '
                           'interval = 0.1, timeout = 0.5, healthy = 1, unhealthy = 1 }')
        lab = dict(upstream="users", server=server)
        ms = scrape(aport)
        assert metric(ms, "portico_upstream_up", **lab) == 1
        for _ in range(3):
            assert requests.get(d.url + "/api/x", timeout=5).status_code == 200
        ms = scrape(aport)
        assert metric(ms, "portico_upstream_requests_total", **lab) == 3
        assert metric(ms, "portico_upstream_failures_total", **lab) == 0
        for k in ("connect", "timeout", "error", "5xx"):   # every kind is printed
            assert (("portico_upstream_failures_total",
                     frozenset({*lab.items(), ("kind", k)})) in ms)
        b.status = 503
        for _ in range(2):
            assert requests.get(d.url + "/api/x", timeout=5).status_code == 503
        b.status, b.delay = 200, 1.0
        assert requests.get(d.url + "/api/x", timeout=5).status_code == 504
        b.delay = 0
        ms = scrape(aport)
        assert metric(ms, "portico_upstream_requests_total", **lab) == 6
        assert metric(ms, "portico_upstream_failures_total", kind="5xx", **lab) == 2
        assert metric(ms, "portico_upstream_failures_total", kind="timeout", **lab) == 1
        assert metric(ms, "portico_upstream_failures_total", kind="connect", **lab) == 0
        # the first attempt opened a connection, later ones reused it (keep-alive)
        assert metric(ms, "portico_upstream_connections_total", reused="no", **lab) >= 1
        assert metric(ms, "portico_upstream_connections_total", reused="yes", **lab) >= 1
        assert metric(ms, "portico_upstream_connections_total", **lab) == 6
        assert metric(ms, "portico_upstream_duration_seconds_count", **lab) == 6
        assert metric(ms, "portico_upstream_duration_seconds_bucket", le="0.25", **lab) == 5
        assert metric(ms, "portico_upstream_duration_seconds_bucket", le="+Inf", **lab) == 6
        assert metric(ms, "portico_upstream_duration_seconds_sum", **lab) >= 0.5
        b.health = 500
        deadline = time.monotonic() + 5
        while metric(scrape(aport), "portico_upstream_up", **lab) != 0:
            assert time.monotonic() < deadline, d.log()
            time.sleep(0.1)
        b.health = 200
        deadline = time.monotonic() + 5
        while metric(scrape(aport), "portico_upstream_up", **lab) != 1:
            assert time.monotonic() < deadline, d.log()
            time.sleep(0.1)
    finally:
        b.close()
    # the server is gone: connections are refused
    assert requests.get(d.url + "/api/x", timeout=5).status_code in (502, 503)
    ms = scrape(aport)
    assert metric(ms, "portico_upstream_failures_total", kind="connect", **lab) >= 1 or \
        metric(ms, "portico_upstream_up", **lab) == 0


def test_upstream_refused_is_a_connect_failure(portico, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d, aport = gateway(portico, tmp_path, port)
    for _ in range(2):
        assert requests.get(d.url + "/api/x", timeout=5).status_code == 502
    ms = scrape(aport)
    lab = dict(upstream="users", server=f"127.0.0.1:{port}")
    assert metric(ms, "portico_upstream_requests_total", **lab) == 2
    assert metric(ms, "portico_upstream_failures_total", kind="connect", **lab) == 2
    assert metric(ms, "portico_upstream_up", **lab) == 1   # no health checks declared
    assert metric(ms, "portico_upstream_connections_total", **lab) == 0
