"""ABI 1.7 (issue 13, gRPC) driven from C by the abi17 fixture plugin
(tests/plugins/abi17.c): streaming upstream calls (deadline, cancel from
inside a callback, an upstream reset, pause with a large response,
trailers through), request body flow control on HTTP/1.1 and HTTP/2 (a
flooding client is held back with bounded memory, no body timeout while
paused), abandoned Lua tasks, full duplex HTTP/2 handlers, empty streamed
responses, and the core's errors told to gRPC clients as grpc-status.

Needs python3-h2 and python3-grpcio (Debian)."""
import hashlib
import json
import os
import select
import shutil
import socket
import threading
import time

import pytest
import requests

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.errors  # noqa: E402

from conftest import BUILDDIR, TEST_PLUGIN_DIR  # noqa: E402

REST = os.path.join(BUILDDIR, "plugins", ".libs", "rest.so")


def plugins_dir(tmp_path, rest=False):
    d = tmp_path / "plugins"
    d.mkdir(exist_ok=True)
    shutil.copy(os.path.join(TEST_PLUGIN_DIR, "abi17.so"), d / "abi17.so")
    if rest:
        shutil.copy(REST, d / "rest.so")
    return str(d)


def pattern(n):
    """N deterministic bytes (what the upstream sends for /big)."""
    block = bytes(i % 251 for i in range(251 * 64))
    out = (block * (n // len(block) + 1))[:n]
    return out


# ---- an HTTP/2 (h2c) upstream --------------------------------------------------

class H2Upstream:
    """A threaded h2c server. Paths:
      /big?n=N    N pattern bytes (flow control respected), then trailers
      /echo       each DATA chunk back at once; trailers at the end name the
                  request's trailers
      /slow       the head, then silence
      /silent     nothing at all
      /reset      the head, 1000 bytes, then RST_STREAM(INTERNAL_ERROR)
    It records the streams clients reset (self.resets)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.resets = []
        self.requests = []
        self.stop = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.stop = True
        self.sock.close()

    def accept_loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, s):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        pending = {}      # sid -> bytearray still to send
        trailers = {}     # sid -> trailers after pending
        paths = {}
        req_trailers = {}
        t_end = time.monotonic() + 20
        try:
            while not self.stop and time.monotonic() < t_end:
                for sid in list(pending):
                    buf = pending[sid]
                    try:
                        while buf:
                            w = min(conn.local_flow_control_window(sid),
                                    conn.max_outbound_frame_size)
                            if w <= 0:
                                break
                            conn.send_data(sid, bytes(buf[:w]))
                            del buf[:w]
                        if not buf and sid in trailers:
                            conn.send_headers(sid, trailers.pop(sid), end_stream=True)
                            del pending[sid]
                    except Exception:
                        pending.pop(sid, None)
                out = conn.data_to_send()
                if out:
                    s.sendall(out)
                r, _, _ = select.select([s], [], [], 0.02)
                if not r:
                    continue
                data = s.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        h = dict((k.decode() if isinstance(k, bytes) else k,
                                  v.decode() if isinstance(v, bytes) else v)
                                 for k, v in ev.headers)
                        path = h[":path"]
                        paths[ev.stream_id] = path
                        self.requests.append(h)
                        resp = [(":status", "200"), ("content-type", h.get(
                            "content-type", "application/octet-stream")),
                            ("x-up-path", path.split("?")[0])]
                        if path.startswith("/big"):
                            n = int(path.split("n=")[1])
                            conn.send_headers(ev.stream_id, resp)
                            pending[ev.stream_id] = bytearray(pattern(n))
                            trailers[ev.stream_id] = [("grpc-status", "0"),
                                                      ("x-up-trailer", "big-done")]
                        elif path.startswith("/slow"):
                            conn.send_headers(ev.stream_id, resp)
                        elif path.startswith("/silent"):
                            pass   # not even a head
                        elif path.startswith("/reset"):
                            conn.send_headers(ev.stream_id, resp)
                            conn.send_data(ev.stream_id, b"r" * 1000)
                            s.sendall(conn.data_to_send())
                            time.sleep(0.05)
                            conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                        else:
                            conn.send_headers(ev.stream_id, resp)
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        if paths.get(ev.stream_id, "").startswith("/echo") and ev.data:
                            pending.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                    elif isinstance(ev, h2.events.TrailersReceived):
                        req_trailers[ev.stream_id] = ev.headers
                    elif isinstance(ev, h2.events.StreamEnded):
                        if paths.get(ev.stream_id, "").startswith("/echo"):
                            got = ",".join((k.decode() if isinstance(k, bytes) else k)
                                           for k, _ in req_trailers.get(ev.stream_id, []))
                            pending.setdefault(ev.stream_id, bytearray())
                            trailers[ev.stream_id] = [("grpc-status", "0"),
                                                      ("x-got-trailers", got or "-")]
                    elif isinstance(ev, h2.events.StreamReset):
                        self.resets.append((paths.get(ev.stream_id), ev.error_code))
                        pending.pop(ev.stream_id, None)
                        trailers.pop(ev.stream_id, None)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        return
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            s.close()


@pytest.fixture
def upstream():
    u = H2Upstream()
    yield u
    u.close()


# ---- an HTTP/2 client ------------------------------------------------------------

class H2Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.c.initiate_connection()
        self.flush()
        self.events = []
        self.window_updates = {}

    def flush(self):
        out = self.c.data_to_send()
        if out:
            self.s.sendall(out)

    def request(self, path, method="POST", headers=(), end=False):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                                  (":authority", "127.0.0.1")] + list(headers),
                            end_stream=end)
        self.flush()
        return sid

    def send(self, sid, data, end=False):
        self.c.send_data(sid, data, end_stream=end)
        self.flush()

    def pump(self, timeout=0.2):
        r, _, _ = select.select([self.s], [], [], timeout)
        if not r:
            return []
        data = self.s.recv(1 << 20)
        if not data:
            raise ConnectionError("closed")
        evs = self.c.receive_data(data)
        for ev in evs:
            if isinstance(ev, h2.events.DataReceived):
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if isinstance(ev, h2.events.WindowUpdated):
                self.window_updates[ev.stream_id] = self.window_updates.get(ev.stream_id, 0) + 1
        self.flush()
        self.events.extend(evs)
        return evs

    def wait(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pump(0.05)
            if pred():
                return True
        return False

    def of(self, sid, kind):
        return [e for e in self.events if isinstance(e, kind) and
                getattr(e, "stream_id", None) == sid]

    def body(self, sid):
        return b"".join(e.data for e in self.of(sid, h2.events.DataReceived))

    def ended(self, sid):
        return bool(self.of(sid, h2.events.StreamEnded) or self.of(sid, h2.events.StreamReset))

    def close(self):
        self.s.close()


def hdrs(evs):
    out = {}
    for e in evs:
        for k, v in e.headers:
            out[k.decode() if isinstance(k, bytes) else k] = v.decode() if isinstance(v, bytes) else v
    return out


def routes(tmp_path, text="route.get('/lua', function() return 'lua' end)\n"):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "r.lua").write_text(text)
    return f'routes "{d}"\n'


# ---- streaming upstream calls ------------------------------------------------------

def call_daemon(portico, tmp_path, upstream, extra="", opts=""):
    return portico(
        f'upstream "up" {{ servers = {{ "127.0.0.1:{upstream.port}" }}, http2 = true }}\n'
        f'access_log = {{ file = "{tmp_path}/access.log", format = "json" }}\n'
        f'route {{ path = "/*rest", handler = "abi17.call", stream_body = true, '
        f'upstream = "up", body_limit = 16777216 {opts} }}\n' + extra,
        plugins_dir=plugins_dir(tmp_path))


def test_ucall_streams_a_large_response_with_a_pause_and_the_trailers(portico, tmp_path,
                                                                       upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", pause_ms = 300")
    c = H2Client(d.port)
    n = 6 << 20
    sid = c.request(f"/big?n={n}", end=True)
    assert c.wait(lambda: c.ended(sid), 20)
    body = c.body(sid)
    assert len(body) == n and hashlib.sha256(body).digest() == hashlib.sha256(pattern(n)).digest()
    t = hdrs(c.of(sid, h2.events.TrailersReceived))
    assert t["x-ucall-err"] == "0"
    assert t["x-ucall-early"] == "0"      # nothing came while paused
    assert t["x-ucall-bytes"] == str(n)
    # the upstream's trailers come through (once the outbound client hands
    # them over: http_client_stream.trailers)
    if "x-up-trailer" in t:
        assert t["x-up-trailer"] == "big-done" and t["grpc-status"] == "0"
    c.close()
    line = [json.loads(l) for l in open(tmp_path / "access.log")][-1]
    assert line["upstream_addr"] == f"127.0.0.1:{upstream.port}"


def test_ucall_streams_the_request_body_and_its_trailers(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream)
    c = H2Client(d.port)
    sid = c.request("/echo", headers=[("content-type", "application/grpc")])
    got = b""
    for i in range(5):   # ping-pong through the upstream
        c.send(sid, b"ping%d" % i)
        assert c.wait(lambda: c.body(sid).endswith(b"ping%d" % i), 5), c.body(sid)
    c.send(sid, b"", end=True)
    assert c.wait(lambda: c.ended(sid), 5)
    got = c.body(sid)
    assert got == b"".join(b"ping%d" % i for i in range(5))
    t = hdrs(c.of(sid, h2.events.TrailersReceived))
    assert t["x-ucall-err"] == "0"
    if "x-got-trailers" in t:
        assert t["x-got-trailers"] == "x-client-done"
    c.close()


def test_ucall_request_body_larger_than_the_queue_is_paused_and_complete(portico, tmp_path,
                                                                         upstream):
    d = call_daemon(portico, tmp_path, upstream)
    payload = os.urandom(3 << 20)
    r = requests.post(d.url + "/echo", data=payload, timeout=20,
                      headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200
    assert hashlib.sha256(r.content).digest() == hashlib.sha256(payload).digest()


def test_ucall_deadline_ends_a_silent_call(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", timeout_ms = 400")
    t0 = time.monotonic()
    r = requests.post(d.url + "/slow", data=b"x", timeout=10)
    took = time.monotonic() - t0
    # the head came (200), then the deadline: err in the trailers (chunked)
    assert r.status_code == 200
    assert 0.3 < took < 3, took
    # the upstream stream was reset, not left open
    end = time.monotonic() + 3
    while time.monotonic() < end and not any(p == "/slow" for p, _ in upstream.resets):
        time.sleep(0.05)
    assert any(p == "/slow" for p, _ in upstream.resets)


def test_ucall_deadline_before_the_head(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", timeout_ms = 300")
    t0 = time.monotonic()
    r = requests.post(d.url + "/silent", data=b"x", timeout=10)
    assert (r.status_code, r.text) == (504, "err=-7 deadline exceeded\n")
    assert time.monotonic() - t0 < 3
    end = time.monotonic() + 3
    while time.monotonic() < end and not any(p == "/silent" for p, _ in upstream.resets):
        time.sleep(0.05)
    assert any(p == "/silent" for p, _ in upstream.resets)


def test_ucall_deadline_trailer_says_timed_out(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", timeout_ms = 300")
    c = H2Client(d.port)
    sid = c.request("/slow", end=True)
    assert c.wait(lambda: c.ended(sid), 5)
    t = hdrs(c.of(sid, h2.events.TrailersReceived))
    assert t["x-ucall-err"] == "-7" and t["x-ucall-msg"] == "deadline exceeded"
    c.close()


def test_ucall_cancel_from_inside_data_resets_the_upstream_stream(portico, tmp_path,
                                                                  upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", cancel_after = 100000")
    r = requests.post(d.url + "/big?n=4000000", data=b"", timeout=10)
    assert r.status_code == 200 and "cancelled after" in r.text
    end = time.monotonic() + 3
    while time.monotonic() < end and not any(p and p.startswith("/big")
                                             for p, _ in upstream.resets):
        time.sleep(0.05)
    assert any(p and p.startswith("/big") for p, _ in upstream.resets)
    # the worker goes on serving
    r = requests.post(d.url + "/big?n=10", data=b"", timeout=5)
    assert r.content == pattern(10)


def test_ucall_callback_returning_an_error_is_ecanceled(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream, opts=", stop_after = 50000")
    c = H2Client(d.port)
    sid = c.request("/big?n=2000000", end=True)
    assert c.wait(lambda: c.ended(sid), 10)
    t = hdrs(c.of(sid, h2.events.TrailersReceived))
    assert t["x-ucall-err"] == "-11"
    c.close()


def test_ucall_upstream_reset_is_eio(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream)
    c = H2Client(d.port)
    sid = c.request("/reset", end=True)
    assert c.wait(lambda: c.ended(sid), 10)
    t = hdrs(c.of(sid, h2.events.TrailersReceived))
    assert t["x-ucall-err"] == "-8", t
    c.close()


def test_ucall_client_reset_cancels_the_upstream_stream(portico, tmp_path, upstream):
    d = call_daemon(portico, tmp_path, upstream)
    c = H2Client(d.port)
    sid = c.request("/slow", end=True)
    assert c.wait(lambda: c.of(sid, h2.events.ResponseReceived), 5)
    c.c.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    end = time.monotonic() + 3
    while time.monotonic() < end and not any(p == "/slow" for p, _ in upstream.resets):
        time.sleep(0.05)
    assert any(p == "/slow" for p, _ in upstream.resets)
    c.close()


def test_buffered_upstream_request_carries_the_trailers(portico, tmp_path, upstream):
    d = portico(
        f'upstream "up" {{ servers = {{ "127.0.0.1:{upstream.port}" }}, http2 = true }}\n'
        'route { path = "/fetch", handler = "abi17.fetch", upstream = "up" }\n',
        plugins_dir=plugins_dir(tmp_path))
    r = requests.get(d.url + "/fetch?big?n=1000", timeout=10)
    assert r.status_code == 200
    assert r.text.startswith("status=200 body=1000 trailers="), r.text
    # once the outbound client hands trailers over (http_client_res.trailers)
    if r.text.strip() != "status=200 body=1000 trailers=":
        assert "grpc-status:0;" in r.text and "x-up-trailer:big-done;" in r.text


def h1_upstream():
    import http.server

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.path.split("n=")[1]) if "n=" in self.path else 0
            if self.headers.get("transfer-encoding") == "chunked":
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b""):
                            pass
                        break
                    self.rfile.read(size + 2)
            else:
                self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("X-Up-Proto", "h1")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            data = pattern(n)
            for i in range(0, n, 65536):
                part = data[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Up-Trailer: h1-done\r\n\r\n")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_ucall_over_http11_with_a_pause(portico, tmp_path):
    srv = h1_upstream()
    try:
        d = portico(
            f'upstream "up1" {{ servers = {{ "127.0.0.1:{srv.server_address[1]}" }} }}\n'
            'route { path = "/*rest", handler = "abi17.call", stream_body = true, '
            'upstream = "up1", pause_ms = 200 }\n',
            plugins_dir=plugins_dir(tmp_path))
        c = H2Client(d.port)
        n = 3 << 20
        sid = c.request(f"/big?n={n}")
        c.send(sid, b"hello", end=True)
        assert c.wait(lambda: c.ended(sid), 20)
        assert hdrs(c.of(sid, h2.events.ResponseReceived))["x-up-proto"] == "h1"
        body = c.body(sid)
        assert len(body) == n and body == pattern(n)
        t = hdrs(c.of(sid, h2.events.TrailersReceived))
        assert t["x-ucall-err"] == "0" and t["x-ucall-early"] == "0"
        if "x-up-trailer" in t:   # once the client hands over chunked trailers
            assert t["x-up-trailer"] == "h1-done"
        c.close()
    finally:
        srv.shutdown()
        srv.server_close()


def test_ucall_unknown_upstream_and_refused_server(portico, tmp_path):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    dead = port.getsockname()[1]
    port.close()
    d = portico(
        f'upstream "gone" {{ servers = {{ "127.0.0.1:{dead}" }}, http2 = true }}\n'
        'route { path = "/nope", handler = "abi17.call", stream_body = true, upstream = "nope" }\n'
        'route { path = "/gone", handler = "abi17.call", stream_body = true, upstream = "gone" }\n'
        f'route {{ path = "/url", handler = "abi17.call", stream_body = true, '
        f'url = "http://127.0.0.1:{dead}/x" }}\n',
        plugins_dir=plugins_dir(tmp_path))
    r = requests.post(d.url + "/nope", data=b"x", timeout=5)
    assert (r.status_code, r.text) == (404, "start: -3\n")
    for p in ("/gone", "/url"):
        r = requests.post(d.url + p, data=b"x", timeout=10)
        assert r.status_code == 502 and r.text.startswith("err=-8"), (p, r.text)


# ---- request body flow control -------------------------------------------------------

def sink_daemon(portico, tmp_path, opts="", http=""):
    return portico(
        f'{http}\nroute {{ path = "/sink", handler = "abi17.sink", stream_body = true, '
        f'body_limit = 1073741824 {opts} }}\n',
        plugins_dir=plugins_dir(tmp_path))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_body_pause_holds_an_h2_client_at_its_window(portico, tmp_path):
    d = sink_daemon(portico, tmp_path, opts=", hold_ms = 1500",
                    http="http = { body_timeout = 0.5 }")
    c = H2Client(d.port)
    c.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    c.flush()
    sid = c.request("/sink")
    sent = 0
    chunk = b"z" * 16384
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        w = min(c.c.local_flow_control_window(sid), len(chunk))
        if w > 0:
            c.send(sid, chunk[:w])
            sent += w
        else:
            c.pump(0.05)
    # the stream window (1 MiB) and no more: nothing was given back meanwhile
    assert sent <= (1 << 20) + 65535, sent
    held_at = sent
    # past body_timeout while paused: no 408, and the body goes on after
    while sent < 3 << 20:
        w = min(c.c.local_flow_control_window(sid), len(chunk), (3 << 20) - sent)
        if w > 0:
            c.send(sid, chunk[:w])
            sent += w
        else:
            c.pump(0.05)
    c.send(sid, b"", end=True)
    assert c.wait(lambda: c.ended(sid), 10)
    assert c.body(sid) == b"%d\n" % sent
    assert held_at < sent
    c.close()


def test_body_pause_holds_an_h1_client_back(portico, tmp_path):
    d = sink_daemon(portico, tmp_path, opts=", hold_ms = 1500",
                    http="http = { body_timeout = 0.5 }")
    total = 64 << 20
    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
    s.setblocking(False)
    sent, chunk = 0, b"z" * 65536
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    # the core stopped reading: TCP holds the client at a few MB, not 64
    assert sent < 16 << 20, sent
    s.setblocking(True)
    while sent < total:
        sent += s.send(chunk[:min(len(chunk), total - sent)])
    resp = b""
    while not resp.endswith(b"\n") or b"\r\n\r\n" not in resp:
        b = s.recv(4096)
        if not b:
            break
        resp += b
    s.close()
    # no 408 while paused past body_timeout, every byte counted once
    assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"\r\n\r\n%d\n" % total), resp


def test_answer_while_paused_drops_the_rest_of_the_body(portico, tmp_path):
    # the handler pauses, answers and forgets its body: the core reads the
    # rest and drops it, so neither the connection nor the stream hangs
    d = sink_daemon(portico, tmp_path, opts=", early = true",
                    http="http = { body_timeout = 2 }")
    total = 4 << 20
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
    s.sendall(b"a" * total)
    s.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    resp = b""
    while resp.count(b"HTTP/1.1 ") < 2 or not resp.endswith(b"\n"):
        b = s.recv(65536)
        if not b:
            break
        resp += b
    s.close()
    assert resp.startswith(b"HTTP/1.1 200") and b"early\n" in resp
    assert b"HTTP/1.1 404" in resp   # the same connection serves the next one
    c = H2Client(d.port)
    sid = c.request("/sink")
    sent = 0
    chunk = b"b" * 16384
    while sent < total:
        w = min(c.c.local_flow_control_window(sid), len(chunk), total - sent)
        if w > 0:
            c.send(sid, chunk[:w])
            sent += w
        elif not c.pump(0.05) and c.ended(sid):
            break
    if not c.ended(sid):
        c.send(sid, b"", end=True)
    assert c.wait(lambda: c.ended(sid), 5)
    assert c.body(sid) == b"early\n"
    sid2 = c.request("/nothing", method="GET", end=True)
    assert c.wait(lambda: c.ended(sid2), 5)
    c.close()


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_body_pause_keeps_memory_bounded_under_a_flood(portico, tmp_path, proto):
    d = sink_daemon(portico, tmp_path, opts=", delay_ms = 5")
    time.sleep(0.2)
    base = rss_kb(d.proc.pid)
    total = 24 << 20
    chunk = b"f" * 65536
    peak = 0
    if proto == "h1":
        s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
        s.sendall(b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
        sent = 0
        while sent < total:
            sent += s.send(chunk[:min(len(chunk), total - sent)])
            if sent % (4 << 20) < 65536:
                peak = max(peak, rss_kb(d.proc.pid))
        s.settimeout(30)
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            resp += b
        s.close()
        assert resp.split(b"\r\n\r\n", 1)[1] == b"%d\n" % total
    else:
        c = H2Client(d.port)
        sid = c.request("/sink")
        sent = 0
        chunk = chunk[:16384]
        while sent < total:
            w = min(c.c.local_flow_control_window(sid), len(chunk), total - sent)
            if w > 0:
                c.send(sid, chunk[:w])
                sent += w
            else:
                c.pump(0.05)
            if sent % (4 << 20) < 65536:
                peak = max(peak, rss_kb(d.proc.pid))
        c.send(sid, b"", end=True)
        assert c.wait(lambda: c.ended(sid), 30)
        assert c.body(sid) == b"%d\n" % total
        c.close()
    # a paused body holds at most a window / the input limit, not the flood
    # (ASan's quarantine keeps freed memory: no RSS there)
    if "ASAN_OPTIONS" not in os.environ:
        assert peak - base < 16 * 1024, (base, peak)


# ---- abandoned tasks -------------------------------------------------------------------

def test_abandoned_sleeping_task_never_calls_done(portico, tmp_path):
    d = portico(routes(tmp_path) +
                'route { path = "/ab", handler = "abi17.abandon" }\n'
                'route { path = "/stats", handler = "abi17.stats" }\n',
                plugins_dir=plugins_dir(tmp_path))
    for _ in range(3):
        r = requests.get(d.url + "/ab", timeout=5)
        # the first abandon works, a second one says the task is not waiting
        assert r.text == "abandoned 0 -5\n"
    time.sleep(2.5)   # past the sleep(2) the tasks were in
    r = requests.get(d.url + "/stats", timeout=5)
    assert r.text == "dones=0 abandons=3\n"
    assert requests.get(d.url + "/lua", timeout=5).text == "lua"


def test_abandoned_websocket_task_never_calls_done(portico, tmp_path):
    import asyncio
    websockets = pytest.importorskip("websockets")
    d = portico(routes(tmp_path) +
                'route { path = "/ws", handler = "abi17.ws" }\n'
                'route { path = "/stats", handler = "abi17.stats" }\n',
                plugins_dir=plugins_dir(tmp_path))

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{d.port}/ws") as ws:
            got = []
            for _ in range(2):
                await ws.send("go")
                got.append(await asyncio.wait_for(ws.recv(), 5))
            return got

    assert asyncio.run(go()) == ["abandoned 0 -5"] * 2
    time.sleep(2.5)   # past the sleep(2) the tasks were in
    assert requests.get(d.url + "/stats", timeout=5).text == "dones=0 abandons=2\n"


# ---- full duplex on HTTP/2, empty streamed responses -----------------------------------

def test_h2_handler_answers_while_the_body_still_comes(portico, tmp_path):
    d = portico('route { path = "/duplex", handler = "abi17.duplex", stream_body = true }\n',
                plugins_dir=plugins_dir(tmp_path))
    c = H2Client(d.port)
    sid = c.request("/duplex")
    # the head comes before any body byte was sent
    assert c.wait(lambda: c.of(sid, h2.events.ResponseReceived), 5)
    expect = b""
    for i in range(20):
        c.send(sid, b"m%d;" % i)
        expect += b"echo:m%d;" % i
        assert c.wait(lambda: c.body(sid) == expect, 5), (i, c.body(sid))
    c.send(sid, b"", end=True)
    assert c.wait(lambda: c.ended(sid), 5)
    assert hdrs(c.of(sid, h2.events.TrailersReceived))["x-chunks"] == "20"
    c.close()


def test_h2_handler_ends_its_answer_before_the_body_ends(portico, tmp_path):
    d = portico('route { path = "/early", handler = "abi17.duplex", stream_body = true, '
                'finish_after = 2 }\n'
                'route { path = "/duplex", handler = "abi17.duplex", stream_body = true }\n',
                plugins_dir=plugins_dir(tmp_path))
    c = H2Client(d.port)
    sid = c.request("/early")
    c.send(sid, b"a")
    c.send(sid, b"b")
    # the whole answer, trailers and END_STREAM, while the request goes on
    assert c.wait(lambda: c.of(sid, h2.events.StreamEnded), 5)
    assert c.body(sid) == b"echo:aecho:b"
    assert hdrs(c.of(sid, h2.events.TrailersReceived))["x-chunks"] == "2"
    assert not c.of(sid, h2.events.StreamReset)
    c.send(sid, b"c" * 1000)
    c.send(sid, b"", end=True)
    c.pump(0.3)
    assert not c.of(sid, h2.events.StreamReset)
    # a client reset in the middle of a duplex stream lets the handler go
    sid2 = c.request("/duplex")
    c.send(sid2, b"x")
    assert c.wait(lambda: c.body(sid2) == b"echo:x", 5)
    c.c.reset_stream(sid2, h2.errors.ErrorCodes.CANCEL)
    c.flush()
    # the connection goes on
    sid3 = c.request("/duplex")
    c.send(sid3, b"y", end=True)
    assert c.wait(lambda: c.ended(sid3), 5) and c.body(sid3) == b"echo:y"
    c.close()


def test_h2_duplex_stream_outlives_the_body_timeout(portico, tmp_path):
    # a bidi stream whose client is silent longer than body_timeout once the
    # handler answers: its pace is the handler's, not the body timeout's
    d = portico('http = { body_timeout = 0.5 }\n'
                'route { path = "/duplex", handler = "abi17.duplex", stream_body = true }\n',
                plugins_dir=plugins_dir(tmp_path))
    c = H2Client(d.port)
    sid = c.request("/duplex")
    c.send(sid, b"a")
    assert c.wait(lambda: c.body(sid) == b"echo:a", 5)
    c.wait(lambda: c.ended(sid), 1.5)
    assert not c.ended(sid)
    c.send(sid, b"b", end=True)
    assert c.wait(lambda: c.ended(sid), 5)
    assert c.body(sid) == b"echo:aecho:b"
    c.close()


def frames_of(port, path, timeout=3.0):
    """The raw frames of one GET on h2c: [(type, flags, length)]."""
    from hyperframe.frame import Frame
    c = H2Client(port)
    sid = c.request(path, method="GET", end=True)
    raw = b""
    end = time.monotonic() + timeout
    c.s.settimeout(0.2)
    while time.monotonic() < end:
        try:
            b = c.s.recv(65536)
        except socket.timeout:
            continue
        if not b:
            break
        raw += b
        frames, pos = [], 0
        done = False
        while pos + 9 <= len(raw):
            f, length = Frame.parse_frame_header(memoryview(raw[pos:pos + 9]))
            if pos + 9 + length > len(raw):
                break
            if f.stream_id == sid:
                frames.append((f.type, sorted(f.parse_flags(raw[pos + 4])), length))
                if "END_STREAM" in frames[-1][1]:
                    done = True
            pos += 9 + length
        if done:
            c.close()
            return frames
    c.close()
    return None


def test_h2_empty_streamed_response_with_trailers_is_headers_then_trailers(portico, tmp_path):
    d = portico('route { path = "/t", handler = "abi17.empty", mode = "trailers" }\n'
                'route { path = "/h", handler = "abi17.empty", mode = "headers" }\n',
                plugins_dir=plugins_dir(tmp_path))
    f = frames_of(d.port, "/t")
    assert [t for t, _, _ in f] == [0x1, 0x1], f        # HEADERS, HEADERS: no DATA
    assert "END_STREAM" not in f[0][1] and "END_STREAM" in f[1][1]
    f = frames_of(d.port, "/h")
    assert [t for t, _, _ in f] == [0x1] and "END_STREAM" in f[0][1], f


# ---- the core's errors for gRPC clients ------------------------------------------------

def test_core_errors_reach_grpc_clients_as_grpc_status(portico, tmp_path):
    grpc = pytest.importorskip("grpc")
    if not os.path.exists(REST):
        pytest.skip("plugins/rest is not built")
    alog = tmp_path / "access.log"
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    d = portico(
        'plugin "rest" { jwt = { secret = "0123456789abcdef0123456789abcdef-hs" } }\n'
        f'upstream "down" {{ servers = {{ "127.0.0.1:{dead_port}" }}, http2 = true, '
        'retries = 0 }\n'
        f'access_log = {{ file = "{alog}", format = "json" }}\n' +
        routes(tmp_path, "route.post('/secure.Svc/Call', function() return 'x' end, "
                         "{ jwt = true })\n"
                         "route.post('/small.Svc/Call', function() return 'x' end, "
                         "{ body_limit = 8 })\n"
                         "route.post('/busy.Svc/Call', function() return 'x' end, "
                         "{ rate = '1/h' })\n"
                         "route.get('/get.Svc/Call', function() return 'x' end)\n"
                         "route.post('/down.Svc/*rest', proxy(upstream 'down'))\n"
                         "route.post('/deny.Svc/Call', function() return 403, { error = "
                         "{ status = 403, message = '50% off \\226\\128\\148 \\\"no\\\"\\n' } } end)\n"),
        plugins_dir=plugins_dir(tmp_path, rest=True))
    ch = grpc.insecure_channel(f"127.0.0.1:{d.port}")
    ident = lambda b: b  # noqa: E731

    def call(path, body=b"hi"):
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary(path, request_serializer=ident,
                           response_deserializer=ident)(body, timeout=5)
        return e.value

    e = call("/x.Y/Z")
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED, e
    assert e.details() == "not found"
    e = call("/secure.Svc/Call")
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e
    e = call("/small.Svc/Call", b"x" * 100)
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
    # the first call passes the rate limit (a Lua answer no gRPC client
    # understands), the second is refused
    with pytest.raises(grpc.RpcError):
        ch.unary_unary("/busy.Svc/Call", request_serializer=ident,
                       response_deserializer=ident)(b"1", timeout=5)
    e = call("/busy.Svc/Call")
    assert e.code() == grpc.StatusCode.UNAVAILABLE, e          # 429
    e = call("/get.Svc/Call")
    assert e.code() == grpc.StatusCode.UNKNOWN, e              # 405
    e = call("/down.Svc/Call")
    assert e.code() == grpc.StatusCode.UNAVAILABLE, e          # 502 from the proxy
    e = call("/deny.Svc/Call")   # a handler's 403: the message percent-encoded and back
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e
    assert e.details() == '50% off \u2014 "no"\n', e.details()
    ch.close()
    # the access log keeps the statuses the core gave
    lines = [json.loads(l) for l in open(alog)]
    assert [l["status"] for l in lines][-8:] == [404, 401, 413, 200, 429, 405, 502, 403], lines
    # plain clients are answered as before
    r = requests.get(d.url + "/x.Y/Z", timeout=5)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    # gRPC-Web over HTTP/1.1: plain headers, the request's content-type
    r = requests.post(d.url + "/x.Y/Z", data=b"\0\0\0\0\0", timeout=5,
                      headers={"content-type": "application/grpc-web+proto"})
    assert r.status_code == 200
    assert r.headers["grpc-status"] == "12" and r.headers["grpc-message"] == "not found"
    assert r.headers["content-type"] == "application/grpc-web+proto" and r.content == b""
    r = requests.post(d.url + "/deny.Svc/Call", data=b"", timeout=5,
                      headers={"content-type": "application/grpc-web-text"})
    assert (r.status_code, r.headers["grpc-status"]) == (200, "7")
    assert r.headers["grpc-message"] == '50%25 off %E2%80%94 "no"%0A'
