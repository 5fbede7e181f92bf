"""Issue 11 hardening of the plugin boundary: upstream calls a plugin makes
for an exchange reach the access log (pt_api.exchange_upstream_request, ABI
1.4), while the 1.0 call keeps working as before."""
import http.server
import json
import os
import shutil
import threading
import time

import requests

from conftest import TEST_PLUGIN_DIR


def fixture_plugins(tmp_path, *names):
    d = tmp_path / "plugins"
    d.mkdir(exist_ok=True)
    for n in names:
        shutil.copy(os.path.join(TEST_PLUGIN_DIR, n + ".so"), d / (n + ".so"))
    return str(d)


def upstream_server():
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            time.sleep(0.02)   # a measurable wait
            body = b"from upstream " + self.path.encode()
            self.send_response(203)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def log_lines(path, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = [json.loads(l) for l in f if l.strip()]
            if len(lines) >= n:
                break
        time.sleep(0.05)
    return lines


def test_plugin_upstream_call_for_an_exchange_fills_the_access_log(portico, tmp_path):
    srv = upstream_server()
    log = tmp_path / "access.log"
    try:
        plugins = fixture_plugins(tmp_path, "good")
        d = portico(f'access_log = {{ file = "{log}", format = "json" }}\n'
                    'route { path = "/f", handler = "good.fetch" }\n'
                    'route { path = "/fx", handler = "good.fetch_x" }\n',
                    plugins_dir=plugins)
        port = srv.server_address[1]
        up = "http://127.0.0.1:%d/x" % port
        r = requests.get(d.url + "/fx", params={"url": up}, timeout=5)
        assert (r.status_code, r.text) == (203, "from upstream /x")
        # the 1.0 member still works, and still belongs to no exchange
        r = requests.get(d.url + "/f", params={"url": up}, timeout=5)
        assert (r.status_code, r.text) == (203, "from upstream /x")
        # a refused connection: answered, logged, nothing kept alive
        r = requests.get(d.url + "/fx", params={"url": "http://127.0.0.1:1/"}, timeout=5)
        assert r.status_code == 502
        lines = log_lines(str(log), 3)
        assert len(lines) == 3, lines
        fx, f, refused = lines
        assert fx["path"] == "/fx" and fx["status"] == 203
        assert fx["upstream_addr"] == "127.0.0.1:%d" % port
        assert fx["upstream_latency_ms"] is not None and fx["upstream_latency_ms"] >= 15
        assert f["path"] == "/f" and f["upstream_addr"] is None
        assert refused["status"] == 502
    finally:
        srv.shutdown()
        srv.server_close()


def test_named_upstream_call_for_an_exchange_names_the_server(portico, tmp_path):
    srv = upstream_server()
    log = tmp_path / "access.log"
    try:
        plugins = fixture_plugins(tmp_path, "good")
        port = srv.server_address[1]
        d = portico(f'access_log = {{ file = "{log}", format = "json" }}\n'
                    f'upstream "users" {{ servers = {{ "127.0.0.1:{port}" }} }}\n'
                    'route { path = "/fx", handler = "good.fetch_x" }\n',
                    plugins_dir=plugins)
        r = requests.get(d.url + "/fx", params={"upstream": "users"}, timeout=5)
        assert (r.status_code, r.text) == (203, "from upstream /x")
        # no such upstream: refused at once, nothing logged as upstream
        r = requests.get(d.url + "/fx", params={"upstream": "nope"}, timeout=5)
        assert r.status_code == 500
        lines = log_lines(str(log), 2)
        assert len(lines) == 2, lines
        assert lines[0]["upstream_addr"] == "127.0.0.1:%d" % port
        assert lines[0]["upstream_latency_ms"] >= 15
        assert lines[1]["upstream_addr"] is None
    finally:
        srv.shutdown()
        srv.server_close()
