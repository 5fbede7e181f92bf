"""The admin listener: /metrics, the admin API, the bearer token, config
errors, a hostile client on the admin port, POST /reload."""
import os
import re
import shutil
import socket
import subprocess
import time

import requests

from conftest import BIN, TEST_PLUGIN_DIR, free_port, raw_request, wait_port

TOKEN = "s3cret-token-for-tests-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
ROUTES = ('route { method = "GET", path = "/users/:id", handler = "static", body = "u" }\n'
          'route { method = { "GET", "POST" }, path = "/plain", handler = "static", body = "p" }\n')


def admin_block(port, token=TOKEN, address="127.0.0.1"):
    tok = f', token = "{token}"' if token is not None else ""
    return f'admin {{ listen = {{ address = "{address}", port = {port} }}{tok} }}\n'


def start(portico, token=TOKEN, body=ROUTES):
    aport = free_port()
    d = portico(body + admin_block(aport, token), start=False)
    d.admin_port = aport
    d.admin = f"http://127.0.0.1:{aport}"
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    return d


def check_t(portico, text):
    d = portico(text, start=False)
    return subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True,
                          timeout=20)


# ---- a strict reader of the Prometheus text format 0.0.4 -----------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(rf'^({NAME})(\{{(?:{LABEL})(?:,{LABEL})*\}})? (\S+)$')
VALUE = re.compile(r'^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}; asserts every line is well formed,
    each family has one TYPE before its samples and no sample repeats."""
    assert text.endswith("\n")
    types, seen, out = {}, set(), {}
    for line in text.splitlines():
        assert line, "empty line"
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert re.fullmatch(NAME, name) and name not in types, line
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "bad sample line: " + line
        name, labels, value = m.groups()
        assert VALUE.match(value), line
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample before its TYPE: " + line
        key = (name, labels or "")
        assert key not in seen, "repeated sample: " + line
        seen.add(key)
        lab = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
        out[(name, lab)] = float(value)
    return out


def metric(ms, name, **labels):
    want = set(labels.items())
    return sum(v for (n, lab), v in ms.items() if n == name and want <= set(lab))


# ---- tests ---------------------------------------------------------------

def test_token_missing_wrong_right(portico):
    d = start(portico)
    r = requests.get(d.admin + "/status", timeout=5)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("Bearer nope", "Bearer " + TOKEN[:-1], "Bearer " + TOKEN + "x", "Basic " + TOKEN,
                TOKEN, "Bearer"):
        r = requests.get(d.admin + "/metrics", headers={"Authorization": bad}, timeout=5)
        assert r.status_code == 401, bad
    r = requests.get(d.admin + "/status", headers=AUTH, timeout=5)
    assert r.status_code == 200
    # not reachable through the public listener
    assert requests.get(d.url + "/status", headers=AUTH, timeout=5).status_code == 404


def test_status_routes_plugins_upstreams(portico):
    d = start(portico, body=ROUTES + 'upstream "api" { servers = { "127.0.0.1:9", "127.0.0.1:10" } }\n')
    s = requests.get(d.admin + "/status", headers=AUTH, timeout=5).json()
    assert s["version"] and re.fullmatch(r"\d+\.\d+", s["abi"])
    assert s["generation"] >= 1 and s["workers"] == 1 and s["uptime_seconds"] >= 0
    routes = requests.get(d.admin + "/routes", headers=AUTH, timeout=5).json()
    users = [r for r in routes if r["path"] == "/users/:id"][0]
    assert users["methods"] == ["GET"] and users["handler"] == "static"
    assert users["file"].endswith("portico.conf") and users["line"] > 0
    plain = [r for r in routes if r["path"] == "/plain"][0]
    assert plain["methods"] == ["GET", "POST"]
    plugins = requests.get(d.admin + "/plugins", headers=AUTH, timeout=5).json()
    assert isinstance(plugins, list)
    for p in plugins:
        assert p["name"] and re.fullmatch(r"\d+\.\d+", p["abi"])
    ups = requests.get(d.admin + "/upstreams", headers=AUTH, timeout=5).json()
    assert ups == [{"name": "api", "health_checks": False,
                    "servers": [{"address": "127.0.0.1:9", "health": "unchecked"},
                                {"address": "127.0.0.1:10", "health": "unchecked"}]}]


def test_unknown_path_and_wrong_method(portico):
    d = start(portico)
    assert requests.get(d.admin + "/nope", headers=AUTH, timeout=5).status_code == 404
    r = requests.post(d.admin + "/metrics", headers=AUTH, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    r = requests.get(d.admin + "/reload", headers=AUTH, timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    # the token is checked first: an unknown path says nothing without it
    assert requests.get(d.admin + "/nope", timeout=5).status_code == 401


def test_metrics_format_and_registry(portico):
    d = start(portico)
    r = requests.get(d.admin + "/metrics", headers=AUTH, timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    ms = parse_metrics(r.text)
    assert ("portico_worker_stalls_total", frozenset()) in ms


def test_loopback_without_token(portico):
    d = start(portico, token=None)
    assert requests.get(d.admin + "/status", timeout=5).status_code == 200


def test_config_errors(portico):
    out = check_t(portico, 'admin { listen = { address = "0.0.0.0", port = 9181 } }\n')
    assert out.returncode != 0
    assert re.search(r"portico\.conf:7: admin: listening on 0\.0\.0\.0 needs a token", out.stderr)
    out = check_t(portico, 'admin { listen = { port = 9181 }, token = "short" }\n')
    assert out.returncode != 0 and "portico.conf:7: admin.token must be 16" in out.stderr
    out = check_t(portico, 'admin { token = "%s" }\n' % TOKEN)
    assert out.returncode != 0 and "portico.conf:7:" in out.stderr and "listen" in out.stderr
    out = check_t(portico, 'admin { listen = { port = 70000 }, token = "%s" }\n' % TOKEN)
    assert out.returncode != 0 and "portico.conf:7:" in out.stderr
    out = check_t(portico, 'admin { listen = { port = 9181 }, tokn = "%s" }\n' % TOKEN)
    assert out.returncode != 0 and "tokn" in out.stderr
    out = check_t(portico, admin_block(9181) + admin_block(9182))
    assert out.returncode != 0 and "portico.conf:8: admin is already declared at line 7" in out.stderr
    # the same address and port as a public listener
    d = portico("", start=False)
    d.write(d.text + admin_block(d.port))
    out = subprocess.run([BIN, "-t", "-c", d.conf_path], capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "is already a listener" in out.stderr
    # a non-loopback address with a token is fine
    out = check_t(portico, admin_block(9181, address="0.0.0.0"))
    assert out.returncode == 0, out.stderr


def test_hostile_client(portico):
    d = start(portico)
    # a head larger than the limit: 431, then closed
    big = b"GET /status HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
    resp = raw_request(d.admin_port, big)
    assert resp.startswith(b"HTTP/1.1 431")
    # garbage request lines
    for junk in (b"\r\n\r\n", b"GET\r\n\r\n", b"GET status HTTP/1.1\r\n\r\n",
                 b"GET /status SPDY/3\r\n\r\n", b"GET /status HTTP/1.1\r\nnocolon\r\n\r\n",
                 b"GET /status HTTP/1.1\r\nAuthorization: Bearer a\r\n"
                 b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"):
        resp = raw_request(d.admin_port, junk)
        assert resp.startswith(b"HTTP/1.1 400"), (junk, resp)
    # slowloris: a head that never ends is closed after the head timeout
    s = socket.create_connection(("127.0.0.1", d.admin_port), timeout=10)
    s.sendall(b"GET /status HTTP/1.1\r\n")
    t0 = time.monotonic()
    try:
        while True:
            s.sendall(b"X: y\r\n")
            time.sleep(0.5)
            if time.monotonic() - t0 > 9:
                break
    except OSError:
        pass
    s.settimeout(10)
    try:
        rest = s.recv(100)
    except OSError:
        rest = b""
    assert rest == b"" and time.monotonic() - t0 < 9.5
    s.close()
    # many idle connections: the admin port still answers once they are dropped
    socks = [socket.create_connection(("127.0.0.1", d.admin_port)) for _ in range(80)]
    # past 64 the admin port closes new connections at accept, until these go
    for s in socks:
        s.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert requests.get(d.admin + "/status", headers=AUTH, timeout=5).status_code == 200
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_reload_ok_and_refused(portico):
    d = start(portico)
    g0 = requests.get(d.admin + "/status", headers=AUTH, timeout=5).json()["generation"]
    r = requests.post(d.admin + "/reload", headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "generation": g0 + 1}
    d.write(d.text + '\nroute { path = "/y", handler = "missing" }\n')
    r = requests.post(d.admin + "/reload", headers=AUTH, timeout=10)
    assert r.status_code == 422
    err = r.json()["error"]
    assert "portico.conf:" in err and "missing" in err
    assert requests.get(d.admin + "/status", headers=AUTH, timeout=5).json()["generation"] == g0 + 1
    assert requests.get(d.url + "/plain", timeout=5).text == "p"
    # a new token applies on reload
    d.write(d.text.replace(TOKEN, TOKEN + "-2"))
    assert requests.post(d.admin + "/reload", headers=AUTH, timeout=10).status_code == 200
    assert requests.get(d.admin + "/status", headers=AUTH, timeout=5).status_code == 401
    h2 = {"Authorization": "Bearer " + TOKEN + "-2"}
    assert requests.get(d.admin + "/status", headers=h2, timeout=5).status_code == 200


def test_metrics_move_with_requests(portico):
    d = start(portico)
    for i in range(5):
        assert requests.get(f"{d.url}/users/{i}", timeout=5).status_code == 200
    assert requests.post(d.url + "/plain", data=b"x" * 100, timeout=5).status_code == 200
    assert requests.get(d.url + "/nothing-here", timeout=5).status_code == 404
    requests.post(d.url + "/plain", data=b"\0\0\0\0\0", timeout=5,
                  headers={"Content-Type": "application/grpc+proto"})
    ms = parse_metrics(requests.get(d.admin + "/metrics", headers=AUTH, timeout=5).text)
    assert metric(ms, "portico_http_requests_total", route="/users/:id", method="GET",
                  status="2xx", protocol="h1") == 5
    assert metric(ms, "portico_http_requests_total", route="/plain", method="POST",
                  protocol="h1") == 1
    assert metric(ms, "portico_http_requests_total", route="/plain", protocol="grpc") == 1
    assert metric(ms, "portico_http_requests_total", route="(unmatched)", status="4xx") == 1
    # raw paths never become labels
    assert not any("/users/1" in v for (_, lab) in ms for (_, v) in lab)
    assert metric(ms, "portico_http_request_duration_seconds_count", route="/users/:id") == 5
    assert metric(ms, "portico_http_request_duration_seconds_bucket", route="/users/:id",
                  le="+Inf") == 5
    assert metric(ms, "portico_http_request_bytes_total") >= 105
    assert metric(ms, "portico_http_response_bytes_total") >= 5
    # more requests: the counter moves
    requests.get(d.url + "/users/abc", timeout=5)
    ms = parse_metrics(requests.get(d.admin + "/metrics", headers=AUTH, timeout=5).text)
    assert metric(ms, "portico_http_requests_total", route="/users/:id") == 6


def test_metrics_summed_over_two_workers(portico):
    aport = free_port()
    d = portico(ROUTES + admin_block(aport), start=False, workers=2)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    for i in range(20):   # new connections: the kernel spreads them over the workers
        resp = raw_request(d.port, b"GET /users/%d HTTP/1.1\r\nHost: a\r\n"
                           b"Connection: close\r\n\r\n" % i)
        assert resp.startswith(b"HTTP/1.1 200"), resp
    ms = parse_metrics(requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH,
                                    timeout=5).text)
    assert metric(ms, "portico_http_requests_total", route="/users/:id", status="2xx") == 20
    assert metric(ms, "portico_http_request_duration_seconds_count", route="/users/:id") == 20


def test_plugin_metrics_through_the_abi(portico, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    shutil.copy(os.path.join(TEST_PLUGIN_DIR, "good.so"), plugins / "good.so")
    aport = free_port()
    d = portico('plugin "good" {}\nroute { path = "/g", handler = "good.hello" }\n' +
                admin_block(aport), start=False, plugins_dir=str(plugins))
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    for _ in range(3):
        assert requests.get(d.url + "/g", timeout=5).text == "good plugin\n"
    ms = parse_metrics(requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH,
                                    timeout=5).text)
    assert ms[("portico_good_hellos_total", frozenset())] == 3
    # a reload keeps the metric (and the plugin's pointer) alive
    assert requests.post(f"http://127.0.0.1:{aport}/reload", headers=AUTH, timeout=10).ok
    requests.get(d.url + "/g", timeout=5)
    ms = parse_metrics(requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH,
                                    timeout=5).text)
    assert ms[("portico_good_hellos_total", frozenset())] == 4
